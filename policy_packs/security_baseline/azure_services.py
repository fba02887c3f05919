"""Azure: customer-managed keys for storage and disks, TLS 1.2+ and HTTPS-only storage, no public
blob access, private AKS API servers, Key Vault key rotation."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import schema
from policy_packs.common.policy import say, subject
from policy_packs.common.values import as_list, as_map, truthy

CONFIG = schema()
STORAGE = "azure-native:storage:StorageAccount"
CONTAINER = "azure-native:storage:BlobContainer"
DISK = "azure-native:compute:Disk"
VM = "azure-native:compute:VirtualMachine"
AKS = "azure-native:containerservice:ManagedCluster"
KV_KEY = "azure-native:keyvault:Key"


def azure_storage_cmk_encryption(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != STORAGE:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    enc = as_map(s.props.get("encryption"))
    if str(enc.get("keySource") or "Microsoft.Storage") != "Microsoft.Keyvault" or not as_map(enc.get("keyVaultProperties")).get("keyName"):
        report_violation(
            say(
                s,
                "data is encrypted with Microsoft-managed keys, not a customer-managed Key Vault key",
                "set `encryption={key_source: Microsoft.Keyvault, key_vault_properties: {key_name, key_vault_uri}}` with a user-assigned identity",
            ),
            None,
        )


def azure_storage_tls(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != STORAGE:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    tls = str(s.props.get("minimumTlsVersion") or "TLS1_0")
    if tls not in ("TLS1_2", "TLS1_3"):
        report_violation(say(s, f"accepts {tls} clients (the default is TLS 1.0)", "set `minimum_tls_version: TLS1_2`"), None)
    if s.props.get("enableHttpsTrafficOnly") is False:
        report_violation(say(s, "accepts plain HTTP", "set `enable_https_traffic_only: true`"), None)


def azure_storage_no_public_access(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (STORAGE, CONTAINER):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    if s.type == STORAGE and s.props.get("allowBlobPublicAccess") is not False:
        report_violation(say(s, "blob public access is not disabled, so any container can later be made public", "set `allow_blob_public_access: false`"), None)
    if s.type == CONTAINER and str(s.props.get("publicAccess") or "None") != "None":
        report_violation(say(s, f"public access `{s.props['publicAccess']}` lets anyone read its blobs", "set `public_access: None`"), None)


def azure_compute_disk_cmk(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (DISK, VM):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    if s.type == DISK:
        enc = as_map(s.props.get("encryption"))
        ok = enc.get("diskEncryptionSetId") and str(enc.get("type") or "") in ("EncryptionAtRestWithCustomerKey", "EncryptionAtRestWithPlatformAndCustomerKeys")
        if not ok:
            report_violation(
                say(
                    s,
                    "the disk is encrypted with platform-managed keys",
                    "set `encryption={type: EncryptionAtRestWithCustomerKey, disk_encryption_set_id: <set>}`",
                ),
                None,
            )
        return
    storage = as_map(s.props.get("storageProfile"))
    disks = [("OS disk", as_map(storage.get("osDisk")))] + [(f"data disk {as_map(d).get('lun')}", as_map(d)) for d in as_list(storage.get("dataDisks"))]
    for where, d in disks:
        if not as_map(as_map(as_map(d.get("managedDisk")).get("diskEncryptionSet"))).get("id"):
            report_violation(
                say(
                    s,
                    f"its {where} has no disk encryption set (platform-managed keys)",
                    "set `managed_disk.disk_encryption_set.id` to the platform's disk encryption set",
                ),
                None,
            )


def azure_aks_private_cluster(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != AKS:
        return
    s = subject(args, CONFIG)
    if s is not None and not truthy(as_map(s.props.get("apiServerAccessProfile")).get("enablePrivateCluster")):
        report_violation(say(s, "the AKS API server has a public endpoint", "set `api_server_access_profile={enable_private_cluster: true}`"), None)


def azure_keyvault_key_rotation(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != KV_KEY:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    actions = as_list(as_map(as_map(s.props.get("properties")).get("rotationPolicy")).get("lifetimeActions"))
    if not any(str(as_map(as_map(a).get("action")).get("type") or "").lower() == "rotate" for a in actions):
        report_violation(say(s, "the key has no rotation policy", "add `properties.rotation_policy.lifetime_actions` with a `Rotate` action"), None)
