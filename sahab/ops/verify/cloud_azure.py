"""Cloud part of `sahab verify` on Azure: read-only checks through Azure Resource Manager.

One generic client (azure-mgmt-resource's ResourceManagementClient: `resources.get_by_id`,
`resources.list_by_resource_group`, `resources.list`) reads each resource's ARM JSON, so no
per-service SDK is needed: the checks read `properties` by their ARM (wire) names. The promises
come from the plan's pulumi-azure-native resources (their inputs); the ids are rebuilt in the live
subscription. Credentials: azure-identity's DefaultAzureCredential (environment, workload
identity, managed identity, `az login`...), with a role that may read the stack's resource groups
(Reader). `SAHAB_AZURE_ARM_ENDPOINT` points the client at another ARM endpoint (tests use a fake).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from sahab.ops.verify.base import Check, problem
from stacks.azure_offerings import AZURE_REGIONS
from stacks.spec import load_spec
from workloads.errors import SahabError

ARM_ENDPOINT = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"
# api-versions: the ones pulumi-azure-native 3.29.0 deploys with (each module's "Uses Azure REST
# API version" note), so ARM answers with the shapes the stack wrote. Property names are ARM's wire
# names (checked: azure-mgmt-storage 25.3.0, -keyvault 14.1.0, -containerservice 41.8.0,
# -containerregistry 15.0.0, -postgresqlflexibleservers 3.0.0, -redisenterprise 3.1.0 models'
# rest_field / _attribute_map names; Azure/bicep-types-az generated/keyvault/.../2024-11-01/types.md and
# generated/monitor/microsoft.insights/2021-05-01-preview/types.md (diagnosticSettings), fetched 2026-12): e.g. storage's `networkAcls`, `supportsHttpsTrafficOnly`, `encryption.keyvaultproperties.keyname`.
API = {
    "Microsoft.Storage/storageAccounts": "2024-01-01",
    "Microsoft.Storage/storageAccounts/blobServices/containers": "2024-01-01",
    "Microsoft.KeyVault/vaults": "2024-11-01",
    "Microsoft.KeyVault/vaults/keys": "2024-11-01",  # KeyProperties.rotationPolicy is in ARM's answer (bicep-types-az 2024-11-01)
    "Microsoft.ContainerService/managedClusters": "2025-09-01",
    "Microsoft.ContainerRegistry/registries": "2023-01-01-preview",
    "Microsoft.ContainerRegistry/registries/replications": "2024-11-01-preview",
    "Microsoft.DBforPostgreSQL/flexibleServers": "2025-08-01",
    "Microsoft.Cache/redisEnterprise": "2025-07-01",
    "Microsoft.Cache/redisEnterprise/databases": "2025-07-01",
    "Microsoft.OperationalInsights/workspaces": "2023-09-01",
    "Microsoft.Insights/diagnosticSettings": "2021-05-01-preview",
}
# Resources ARM places in `global` by design: DNS metadata (the policy pack's GLOBAL_METADATA).
GLOBAL_TYPES = frozenset({"microsoft.network/privatednszones", "microsoft.network/privatednszones/virtualnetworklinks", "microsoft.network/dnszones"})
GEO_REDUNDANCY = ("GRS", "RAGRS", "GZRS", "RAGZRS")
# Judged by their own check (as in the residency policy pack): a registry's replicas, the workspace.
JUDGED_ELSEWHERE = frozenset({"microsoft.containerregistry/registries/replications", "microsoft.operationalinsights/workspaces"})


class AzureUnavailable(SahabError, RuntimeError):
    """The Azure part cannot run here (no credentials, no subscription); the message says why. `sahab verify`
    reports it as the reason the part was skipped; exit 2 where it escapes."""

    exit_code = 2


# --- promises ------------------------------------------------------------------------------------


class StorageAccountPromise(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    group: str
    vault: str | None
    key: str | None
    immutability_days: int | None = None
    """Version-level WORM policy the plan gave the account (the audit store), None when none."""
    immutability_state: str = "Locked"
    """Its state in the plan: Unlocked until an `up` with storage.lock_audit_immutability (Azure creates none Locked)."""
    worm_containers: tuple[str, ...] = ()


class NamedPromise(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    group: str


class ClusterPromise(NamedPromise):
    node_group: str | None = None
    disk_encryption_set: str | None = None
    """Relative id (`resourceGroups/.../diskEncryptionSets/<name>`) of the planned set."""


class DiagnosticPromise(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    resource: str
    """Relative id of the resource it audits."""
    name: str
    storage_account: str | None
    workspace: str | None


class AzurePromises(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str
    allowed_regions: tuple[str, ...]
    tags: dict[str, str]
    data_class: str
    groups: tuple[str, ...]
    storage_accounts: tuple[StorageAccountPromise, ...] = ()
    vaults: tuple[NamedPromise, ...] = ()
    keys: tuple[NamedPromise, ...] = ()
    """Keys by `<vault>/<key>`, group of the vault."""
    clusters: tuple[ClusterPromise, ...] = ()
    registries: tuple[NamedPromise, ...] = ()
    postgres: tuple[NamedPromise, ...] = ()
    redis: tuple[NamedPromise, ...] = ()
    workspaces: tuple[NamedPromise, ...] = ()
    diagnostics: tuple[DiagnosticPromise, ...] = ()


def relative(resource_id: str) -> str:
    """`resourceGroups/...` of an ARM id (the subscription left out: the plan's is the offline one)."""
    parts = resource_id.strip("/").split("/")
    return "/".join(parts[2:]) if len(parts) > 2 and parts[0].lower() == "subscriptions" else resource_id.strip("/")


def _vault_of(uri: str | None) -> str | None:
    """The vault name of a Key Vault URI (`https://<vault>.vault.azure.net/...`), lower-cased."""
    host = urlsplit(uri).hostname if uri else None
    return host.split(".")[0] if host else None


def azure_promises(plan: dict[str, Any]) -> AzurePromises:
    """What the plan's pulumi-azure-native resources promise (their inputs)."""
    spec = load_spec(plan["config"]["sahab:platform"])
    resources = plan.get("resources") or []

    def inputs(token: str) -> list[dict[str, Any]]:
        return [r.get("inputs") or {} for r in resources if r.get("type") == f"azure-native:{token}"]

    containers: dict[str, list[str]] = {}
    for c in inputs("storage:BlobContainer"):
        if (c.get("immutableStorageWithVersioning") or {}).get("enabled"):
            containers.setdefault(c["accountName"], []).append(c["containerName"])
    accounts = []
    for a in inputs("storage:StorageAccount"):
        enc = a.get("encryption") or {}
        kv = enc.get("keyVaultProperties") or {}
        worm = (a.get("immutableStorageWithVersioning") or {}).get("immutabilityPolicy") or {}
        accounts.append(
            StorageAccountPromise(
                name=a["accountName"],
                group=a["resourceGroupName"],
                vault=_vault_of(kv.get("keyVaultUri")),
                key=kv.get("keyName"),
                immutability_days=worm.get("immutabilityPeriodSinceCreationInDays"),
                immutability_state=worm.get("state") or "Locked",
                worm_containers=tuple(sorted(containers.get(a["accountName"], ()))),
            )
        )
    vault_group = {v["vaultName"]: v["resourceGroupName"] for v in inputs("keyvault:Vault")}
    clusters = tuple(
        ClusterPromise(
            name=c["resourceName"],
            group=c["resourceGroupName"],
            node_group=c.get("nodeResourceGroup"),
            disk_encryption_set=relative(c["diskEncryptionSetID"]) if c.get("diskEncryptionSetID") else None,
        )
        for c in inputs("containerservice:ManagedCluster")
    )
    groups = [g["resourceGroupName"] for g in inputs("resources:ResourceGroup")] + [c.node_group for c in clusters if c.node_group]
    return AzurePromises(
        region=spec.region,
        allowed_regions=tuple(spec.allowed_regions),
        tags=spec.tags.resource_tags(),
        data_class=str(spec.tags.data_classification),
        groups=tuple(dict.fromkeys(groups)),
        storage_accounts=tuple(sorted(accounts, key=lambda a: a.name)),
        vaults=tuple(NamedPromise(name=n, group=g) for n, g in sorted(vault_group.items())),
        keys=tuple(NamedPromise(name=f"{k['vaultName']}/{k['keyName']}", group=k["resourceGroupName"]) for k in inputs("keyvault:Key")),
        clusters=clusters,
        registries=tuple(NamedPromise(name=r["registryName"], group=r["resourceGroupName"]) for r in inputs("containerregistry:Registry")),
        postgres=tuple(NamedPromise(name=s["serverName"], group=s["resourceGroupName"]) for s in inputs("dbforpostgresql:Server")),
        redis=tuple(NamedPromise(name=s["clusterName"], group=s["resourceGroupName"]) for s in inputs("redisenterprise:RedisEnterprise")),
        workspaces=tuple(NamedPromise(name=w["workspaceName"], group=w["resourceGroupName"]) for w in inputs("operationalinsights:Workspace")),
        diagnostics=tuple(
            DiagnosticPromise(
                resource=relative(d["resourceUri"]),
                name=d["name"],
                storage_account=relative(d["storageAccountId"]) if d.get("storageAccountId") else None,
                workspace=relative(d["workspaceId"]) if d.get("workspaceId") else None,
            )
            for d in inputs("monitor:DiagnosticSetting")
        ),
    )


# --- ARM -----------------------------------------------------------------------------------------


def _error(exc: Exception) -> str:
    code = getattr(getattr(exc, "error", None), "code", None)
    status = getattr(exc, "status_code", None)
    return f"{status} {code}" if code and status else f"{code or status or type(exc).__name__}"


@dataclass
class Arm:
    """The generic ARM client for one subscription, with a per-run cache of what it read."""

    subscription: str
    credential: Any
    endpoint: str = ARM_ENDPOINT
    client_options: dict[str, Any] = field(default_factory=dict)
    _client: Any = None
    _cache: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def client(self) -> Any:
        if self._client is None:
            from azure.mgmt.resource.resources import ResourceManagementClient  # azure-mgmt-resource 26: the resources subpackage

            self._client = ResourceManagementClient(
                self.credential, self.subscription, base_url=self.endpoint, credential_scopes=[ARM_SCOPE], **self.client_options
            )
        return self._client

    def rid(self, rel: str) -> str:
        return f"/subscriptions/{self.subscription}/{rel}"

    def get(self, rel: str, arm_type: str) -> dict[str, Any]:
        """The resource at `rel` as ARM answers it (wire names); raises when it cannot be read."""
        key = (rel.lower(), arm_type)
        if key not in self._cache:
            self._cache[key] = self.client.resources.get_by_id(self.rid(rel), api_version=API[arm_type]).as_dict()
        return self._cache[key]

    def group(self, name: str) -> dict[str, Any]:
        key = (f"resourcegroups/{name.lower()}", "group")
        if key not in self._cache:
            self._cache[key] = self.client.resource_groups.get(name).as_dict()
        return self._cache[key]

    def group_resources(self, name: str) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.client.resources.list_by_resource_group(name)]

    def tagged(self, tag: str, value: str) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.client.resources.list(filter=f"tagName eq '{tag}' and tagValue eq '{value}'")]

    def children(self, rel: str, child: str, arm_type: str) -> list[dict[str, Any]]:
        """A child collection (`<rel>/<child>`), paged through `nextLink`."""
        from azure.core.rest import HttpRequest

        url: str | None = f"{self.endpoint.rstrip('/')}{self.rid(rel)}/{child}?api-version={API[arm_type]}"
        out: list[dict[str, Any]] = []
        while url:
            response = self.client.send_request(HttpRequest("GET", url))
            response.raise_for_status()
            body = response.json()
            out += body.get("value") or []
            url = body.get("nextLink")
        return out


def arm_from_environment(outputs_subscription: str | None) -> Arm:
    """The client `sahab verify` uses: DefaultAzureCredential, the subscription of the stack (its
    outputs' ARM ids) unless AZURE_SUBSCRIPTION_ID says otherwise; raises AzureUnavailable when
    no credential answers."""
    subscription = os.environ.get("AZURE_SUBSCRIPTION_ID") or outputs_subscription
    if not subscription:
        raise AzureUnavailable(
            "no Azure subscription: the stack outputs carry no ARM id and AZURE_SUBSCRIPTION_ID is not set. Fix: export AZURE_SUBSCRIPTION_ID"
        )
    try:
        from azure.identity import DefaultAzureCredential
        from azure.mgmt.resource.resources import ResourceManagementClient  # noqa: F401 the client the checks use
    except ImportError as e:
        raise AzureUnavailable(f"the Azure SDK is not installed ({e.name}). Fix: pip install 'sahab[verify]' (azure-mgmt-resource, azure-identity)") from None
    credential = DefaultAzureCredential()
    try:
        credential.get_token(ARM_SCOPE)
    except Exception as e:  # noqa: BLE001 azure-identity's message lists what each credential said
        raise AzureUnavailable(
            f"no Azure credentials for Resource Manager ({_credentials_said(e)}). Fix: `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID with a secret or a federated token, with Reader on the stack's resource groups"
        ) from None
    return Arm(subscription=subscription, credential=credential, endpoint=os.environ.get("SAHAB_AZURE_ARM_ENDPOINT") or ARM_ENDPOINT)


def _credentials_said(exc: Exception) -> str:
    """DefaultAzureCredential's failure in one line: the credentials it tried, and what `az` said."""
    tried = [line.strip() for line in str(exc).splitlines() if line.startswith(("\t", " ")) and "Credential:" in line]
    if not tried:
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    names = [t.split(":", 1)[0] for t in tried]
    cli = next((t for t in tried if t.startswith("AzureCliCredential:")), "")
    return f"DefaultAzureCredential tried {', '.join(names)}; none answered" + (f"; {cli}" if cli else "")


def subscription_of(values: dict[str, str]) -> str | None:
    """The subscription of the first ARM id among the stack outputs' values."""
    for value in values.values():
        parts = str(value).strip("/").split("/")
        if len(parts) > 1 and parts[0].lower() == "subscriptions":
            return parts[1]
    return None


# --- checks --------------------------------------------------------------------------------------


class Unreadable(list):
    """The findings standing in for a resource that could not be read."""


def _read(read: Callable[[], Any], resource: str, kind: str) -> Any:
    """`read()`, or the finding that ARM refused it (missing, or not visible to the verifier); other
    failures (no network, bad credentials) propagate: the suite reports the check could not run."""
    from azure.core.exceptions import HttpResponseError

    try:
        return read()
    except HttpResponseError as e:
        return Unreadable(
            [
                problem(
                    resource,
                    kind,
                    f"it cannot be read ({_error(e)}): it is missing or the verifier may not see it",
                    "deploy it with `sahab up`, or grant the verifying identity Reader on its resource group",
                )
            ]
        )


def _props(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.get("properties") or {}


def _dig(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip("/").lower() == (b or "").strip("/").lower()


def _need(
    rid: str, kind: str, ok: Callable[[dict[str, Any]], bool], wrong: str | Callable[[dict[str, Any]], str], fix: str
) -> Callable[[dict[str, Any]], list[str]]:
    """A rule on a resource's ARM properties: nothing when `ok(properties)`, else one problem naming the
    resource (`wrong` a text, or made from the properties to show what ARM answered)."""

    def rule(doc: dict[str, Any]) -> list[str]:
        pr = _props(doc)
        return [] if ok(pr) else [problem(rid, kind, wrong(pr) if callable(wrong) else wrong, fix)]

    return rule


@dataclass(frozen=True)
class _Resource:
    """One ARM resource the checks read: its relative id, ARM type and a label for messages."""

    rel: str
    arm_type: str
    kind: str

    def checks(self, arm: Arm, prefix: str, subject: str, rules: Mapping[str, Callable[[dict[str, Any]], list[str]]]) -> list[Check]:
        def run(rule: Callable[[dict[str, Any]], list[str]]) -> list[str]:
            doc = _read(lambda: arm.get(self.rel, self.arm_type), arm.rid(self.rel), self.kind)
            return doc if isinstance(doc, Unreadable) else rule(doc)

        return [Check(id=f"{prefix}-{what}", subject=subject, run=partial(run, rule)) for what, rule in rules.items()]


def azure_cloud_checks(p: AzurePromises, arm: Arm) -> list[Check]:
    """Every Azure cloud check for this stack (no calls until they run)."""
    checks = [Check(id="cloud-azure-resources-in-region", subject=g, run=partial(group_in_region, g, p, arm)) for g in p.groups]
    checks.append(
        Check(
            id="cloud-azure-tagged-resources-in-region", subject=",".join(f"{k}={v}" for k, v in sorted(p.tags.items())), run=lambda: tagged_in_region(p, arm)
        )
    )
    for a in p.storage_accounts:
        checks += _storage_checks(a, p, arm)
    for v in p.vaults:
        checks += _vault_checks(v, arm)
    for k in p.keys:
        checks.append(Check(id="cloud-azure-keyvault-key-rotation", subject=k.name, run=partial(key_rotation, k, arm)))
    for c in p.clusters:
        checks += _aks_checks(c, arm)
    for r in p.registries:
        checks += _acr_checks(r, p, arm)
    for s in p.postgres:
        checks += _postgres_checks(s, p, arm)
    for r in p.redis:
        checks += _redis_checks(r, arm)
    for w in p.workspaces:
        rel = f"resourceGroups/{w.group}/providers/Microsoft.OperationalInsights/workspaces/{w.name}"
        res = _Resource(rel, "Microsoft.OperationalInsights/workspaces", "log analytics workspace")
        checks += res.checks(arm, "cloud-azure-log-analytics", w.name, {"in-region": partial(_located, rid=arm.rid(rel), kind="log analytics workspace", p=p)})
    for d in p.diagnostics:
        checks.append(
            Check(
                id="cloud-azure-diagnostics-to-audit",
                subject=d.resource.split("/providers/", 1)[-1].split("/", 1)[-1],
                run=partial(diagnostics_to_audit, d, arm),
            )
        )
    return checks


# residency


def _located(doc: dict[str, Any], rid: str, kind: str, p: AzurePromises) -> list[str]:
    where = str(doc.get("location") or "").replace(" ", "").lower()
    if where in p.allowed_regions:
        return []
    return [
        problem(
            rid,
            kind,
            f"it lives in {where or 'no location'}, outside the allowed regions {list(p.allowed_regions)}",
            f"recreate it in {p.region} and delete the copy in {where}",
        )
    ]


def _misplaced(resources: list[dict[str, Any]], p: AzurePromises, skip: frozenset[str] = frozenset()) -> list[str]:
    found = []
    for r in sorted(resources, key=lambda r: str(r.get("id"))):
        where = str(r.get("location") or "").replace(" ", "").lower()
        kind = str(r.get("type", "")).lower()
        if where in p.allowed_regions or (where == "global" and kind in GLOBAL_TYPES) or kind in skip:
            continue
        found += _located(r, str(r.get("id")), str(r.get("type")), p)
    return found


def group_in_region(group: str, p: AzurePromises, arm: Arm) -> list[str]:
    """The resource group and every resource in it are in an allowed region."""
    rid = arm.rid(f"resourceGroups/{group}")
    doc = _read(lambda: arm.group(group), rid, "resource group")
    if isinstance(doc, Unreadable):
        return doc
    listed = _read(lambda: arm.group_resources(group), rid, "resource group")
    if isinstance(listed, Unreadable):
        return listed
    return _located(doc, rid, "resource group", p) + _misplaced(listed, p, JUDGED_ELSEWHERE)


def tagged_in_region(p: AzurePromises, arm: Arm) -> list[str]:
    """Nothing carrying all the stack's tags lives outside the allowed regions, in any resource group
    of the subscription (the stack's own groups are judged resource by resource above)."""
    if not p.tags:
        return []
    tag, value = sorted(p.tags.items())[0]
    sub = arm.rid("").rstrip("/")
    listed = _read(lambda: arm.tagged(tag, value), sub, "subscription")
    if isinstance(listed, Unreadable):
        return listed
    ours = {g.lower() for g in p.groups}
    stray = [
        r for r in listed if all((r.get("tags") or {}).get(k) == v for k, v in p.tags.items()) and relative(str(r.get("id"))).split("/")[1].lower() not in ours
    ]
    return _misplaced(stray, p)


# storage


def _storage_checks(a: StorageAccountPromise, p: AzurePromises, arm: Arm) -> list[Check]:
    rel = f"resourceGroups/{a.group}/providers/Microsoft.Storage/storageAccounts/{a.name}"
    res = _Resource(rel, "Microsoft.Storage/storageAccounts", "storage account")
    rid = arm.rid(rel)
    kind = "storage account"

    def cmk(doc: dict[str, Any]) -> list[str]:
        enc = _props(doc).get("encryption") or {}
        kv = enc.get("keyvaultproperties") or {}
        fix = f"set encryption.keySource Microsoft.Keyvault with key {a.key} of vault {a.vault}"
        if str(enc.get("keySource", "")).lower() != "microsoft.keyvault":
            return [problem(rid, kind, f"it is encrypted with {enc.get('keySource') or 'no'} keys, not the stack's Key Vault key", fix)]
        if _vault_of(kv.get("keyvaulturi")) != (a.vault or "").lower() or (kv.get("keyname") or "").lower() != (a.key or "").lower():
            return [problem(rid, kind, f"its key is {kv.get('keyname')} in {kv.get('keyvaulturi')}, not the stack's {a.key} in vault {a.vault}", fix)]
        return []

    def public(doc: dict[str, Any]) -> list[str]:
        pr = _props(doc)
        found = []
        if pr.get("allowBlobPublicAccess") is not False:
            found.append(problem(rid, kind, "anonymous blob access is allowed (allowBlobPublicAccess is not false)", "set allowBlobPublicAccess false"))
        if pr.get("publicNetworkAccess") != "Disabled" and _dig(pr, "networkAcls.defaultAction") != "Deny":
            found.append(
                problem(
                    rid,
                    kind,
                    f"it is reachable from any network (publicNetworkAccess {pr.get('publicNetworkAccess')}, network rules default {_dig(pr, 'networkAcls.defaultAction')})",
                    "set publicNetworkAccess Disabled (private endpoints) or networkAcls.defaultAction Deny",
                )
            )
        return found

    shared_key = _need(
        rid,
        kind,
        lambda pr: pr.get("allowSharedKeyAccess") is False,
        "account keys (Shared Key and SAS) are accepted: allowSharedKeyAccess is not false",
        "set allowSharedKeyAccess false; clients use Entra ID (workload identity)",
    )

    def tls(doc: dict[str, Any]) -> list[str]:
        pr = _props(doc)
        found = (
            []
            if pr.get("minimumTlsVersion") == "TLS1_2"
            else [problem(rid, kind, f"it accepts TLS below 1.2 (minimumTlsVersion {pr.get('minimumTlsVersion')})", "set minimumTlsVersion TLS1_2")]
        )
        if pr.get("supportsHttpsTrafficOnly") is False:
            found.append(problem(rid, kind, "it accepts plain HTTP (supportsHttpsTrafficOnly false)", "set supportsHttpsTrafficOnly true"))
        return found

    def replication(doc: dict[str, Any]) -> list[str]:
        sku = str((doc.get("sku") or {}).get("name") or "")
        redundancy = sku.split("_")[-1].upper()
        if redundancy not in GEO_REDUNDANCY:
            return []
        where = str(doc.get("location") or "").lower()
        pair = AZURE_REGIONS[where].pair if where in AZURE_REGIONS else None
        secondary = str(_props(doc).get("secondaryLocation") or pair or "").lower()
        if p.data_class == "health":
            return [
                problem(
                    rid,
                    kind,
                    f"{sku} copies health data to {secondary or 'the pair region'}; health data may not be replicated (ICT Health Law Art. 13)",
                    "change the SKU to Standard_ZRS or Standard_LRS",
                )
            ]
        if secondary not in p.allowed_regions or pair not in p.allowed_regions:
            return [
                problem(
                    rid,
                    kind,
                    f"{sku} copies every blob to {secondary or 'an unknown pair'}, outside the allowed regions {list(p.allowed_regions)}",
                    "use Standard_ZRS, or GRS only on a uaenorth account with uaecentral allowed",
                )
            ]
        return []

    def immutable(doc: dict[str, Any]) -> list[str]:
        worm = _props(doc).get("immutableStorageWithVersioning") or {}
        policy = worm.get("immutabilityPolicy") or {}
        days = int(policy.get("immutabilityPeriodSinceCreationInDays") or 0)
        # A plan that says Unlocked (the first `up`) accepts Locked too: locking only ever tightens it.
        states = ("Locked",) if a.immutability_state == "Locked" else ("Unlocked", "Locked")
        if not worm.get("enabled") or policy.get("state") not in states or days < (a.immutability_days or 0):
            return [
                problem(
                    rid,
                    kind,
                    f"its version-level immutability policy is {'on' if worm.get('enabled') else 'off'}, {policy.get('state') or 'no'} state, {days} days; the plan promised {a.immutability_state} for {a.immutability_days} days",
                    f"enable immutableStorageWithVersioning with a {a.immutability_state} policy of {a.immutability_days} days (a Locked policy cannot be shortened)",
                )
            ]
        return []

    rules = {"cmk": cmk, "public-access": public, "shared-key-disabled": shared_key, "tls": tls, "replication": replication}
    if a.immutability_days:
        rules["audit-immutable"] = immutable
    checks = res.checks(arm, "cloud-azure-storage", a.name, rules)
    for container in a.worm_containers:
        crel = f"{rel}/blobServices/default/containers/{container}"
        cres = _Resource(crel, "Microsoft.Storage/storageAccounts/blobServices/containers", "blob container")

        def worm(doc: dict[str, Any], crid: str = arm.rid(crel)) -> list[str]:
            pr = _props(doc)
            found = (
                []
                if _dig(pr, "immutableStorageWithVersioning.enabled")
                else [
                    problem(
                        crid,
                        "blob container",
                        "version-level immutability is off: audit records can be changed or deleted",
                        "recreate the container with immutableStorageWithVersioning enabled",
                    )
                ]
            )
            if (pr.get("publicAccess") or "None") != "None":
                found.append(problem(crid, "blob container", f"anonymous read access is {pr.get('publicAccess')}", "set publicAccess None"))
            return found

        checks += cres.checks(arm, "cloud-azure-storage-container", f"{a.name}/{container}", {"worm": worm})
    return checks


# key vault


def _vault_checks(v: NamedPromise, arm: Arm) -> list[Check]:
    rel = f"resourceGroups/{v.group}/providers/Microsoft.KeyVault/vaults/{v.name}"
    rid, kind = arm.rid(rel), "key vault"

    def flag(prop: str, wrong: str, fix: str) -> Callable[[dict[str, Any]], list[str]]:
        return _need(rid, kind, lambda pr: pr.get(prop) is True, wrong, fix)

    def private(doc: dict[str, Any]) -> list[str]:
        pr = _props(doc)
        if pr.get("publicNetworkAccess") == "Disabled":
            return []
        return [
            problem(
                rid,
                kind,
                f"public network access is {pr.get('publicNetworkAccess') or 'Enabled'} (network rules default {_dig(pr, 'networkAcls.defaultAction')})",
                "set publicNetworkAccess Disabled; the stack reaches it through its private endpoint",
            )
        ]

    return _Resource(rel, "Microsoft.KeyVault/vaults", kind).checks(
        arm,
        "cloud-azure-keyvault",
        v.name,
        {
            "rbac": flag(
                "enableRbacAuthorization",
                "access policies, not Azure RBAC, authorize data access (enableRbacAuthorization is not true)",
                "set enableRbacAuthorization true",
            ),
            "purge-protection": flag(
                "enablePurgeProtection",
                "purge protection is off: a deleted key can be purged, and what it encrypts lost",
                "set enablePurgeProtection true (it cannot be turned off again)",
            ),
            "soft-delete": flag("enableSoftDelete", "soft delete is off", "set enableSoftDelete true"),
            "private": private,
        },
    )


def key_rotation(k: NamedPromise, arm: Arm) -> list[str]:
    """The key's rotation policy rotates it. ARM answers KeyProperties.rotationPolicy (api 2024-11-01),
    so this needs no data-plane call (checked: bicep-types-az keyvault 2024-11-01 types.md)."""
    vault, key = k.name.split("/", 1)
    rel = f"resourceGroups/{k.group}/providers/Microsoft.KeyVault/vaults/{vault}/keys/{key}"
    doc = _read(lambda: arm.get(rel, "Microsoft.KeyVault/vaults/keys"), arm.rid(rel), "key vault key")
    if isinstance(doc, Unreadable):
        return doc
    actions = _dig(_props(doc), "rotationPolicy.lifetimeActions") or []
    rotate = [
        a
        for a in actions
        if str(_dig(a, "action.type") or "").lower() == "rotate" and (_dig(a, "trigger.timeAfterCreate") or _dig(a, "trigger.timeBeforeExpiry"))
    ]
    return (
        []
        if rotate
        else [
            problem(
                arm.rid(rel),
                "key vault key",
                "it has no rotation policy that rotates it",
                "set a rotation policy with a `rotate` lifetime action (timeAfterCreate P365D)",
            )
        ]
    )


# AKS, ACR, PostgreSQL, Redis


def _aks_checks(c: ClusterPromise, arm: Arm) -> list[Check]:
    rel = f"resourceGroups/{c.group}/providers/Microsoft.ContainerService/managedClusters/{c.name}"
    rid, kind = arm.rid(rel), "aks cluster"

    need = partial(_need, rid, kind)

    return _Resource(rel, "Microsoft.ContainerService/managedClusters", kind).checks(
        arm,
        "cloud-azure-aks",
        c.name,
        {
            "private": need(
                lambda pr: _dig(pr, "apiServerAccessProfile.enablePrivateCluster") is True,
                "the API server is public (apiServerAccessProfile.enablePrivateCluster is not true)",
                "recreate the cluster private (enablePrivateCluster true)",
            ),
            "local-accounts-disabled": need(
                lambda pr: pr.get("disableLocalAccounts") is True,
                "local accounts are enabled: the static cluster-admin kubeconfig bypasses Entra ID",
                "set disableLocalAccounts true",
            ),
            "entra-rbac": need(
                lambda pr: pr.get("enableRBAC") is True and _dig(pr, "aadProfile.managed") is True,
                "Kubernetes RBAC with Entra ID is not on (enableRBAC / aadProfile.managed)",
                "enable the AKS-managed Entra ID integration with Kubernetes RBAC",
            ),
            "workload-identity": need(
                lambda pr: _dig(pr, "oidcIssuerProfile.enabled") is True and _dig(pr, "securityProfile.workloadIdentity.enabled") is True,
                "the OIDC issuer or workload identity is off: pods cannot get Entra ID tokens",
                "enable oidcIssuerProfile and securityProfile.workloadIdentity",
            ),
            "network-policy": need(
                lambda pr: str(_dig(pr, "networkProfile.networkPolicy") or "none").lower() != "none",
                "no network policy engine: NetworkPolicies (default-deny) are not enforced",
                "set networkProfile.networkPolicy (cilium)",
            ),
            "kms": need(
                lambda pr: _dig(pr, "securityProfile.azureKeyVaultKms.enabled") is True,
                "Kubernetes secrets are not envelope-encrypted with Key Vault (azureKeyVaultKms off)",
                "enable securityProfile.azureKeyVaultKms with the stack's cluster key",
            ),
            "disk-encryption-set": need(
                lambda pr: bool(c.disk_encryption_set) and _same(relative(str(pr.get("diskEncryptionSetID") or "")), c.disk_encryption_set),
                f"node disks are not encrypted with the stack's disk encryption set {c.disk_encryption_set}",
                "recreate the cluster with diskEncryptionSetID of the stack's set",
            ),
        },
    )


def _acr_checks(r: NamedPromise, p: AzurePromises, arm: Arm) -> list[Check]:
    rel = f"resourceGroups/{r.group}/providers/Microsoft.ContainerRegistry/registries/{r.name}"
    rid, kind = arm.rid(rel), "container registry"
    res = _Resource(rel, "Microsoft.ContainerRegistry/registries", kind)

    def replications() -> list[str]:
        listed = _read(lambda: arm.children(rel, "replications", "Microsoft.ContainerRegistry/registries/replications"), rid, kind)
        return listed if isinstance(listed, Unreadable) else _misplaced(listed, p)

    return res.checks(
        arm,
        "cloud-azure-acr",
        r.name,
        {
            "admin-disabled": _need(
                rid,
                kind,
                lambda pr: pr.get("adminUserEnabled") is False,
                "the admin user is enabled (a shared password for push and pull)",
                "set adminUserEnabled false",
            ),
            "private": _need(
                rid,
                kind,
                lambda pr: pr.get("publicNetworkAccess") == "Disabled",
                lambda pr: f"public network access is {pr.get('publicNetworkAccess')}",
                "set publicNetworkAccess Disabled (private endpoint only)",
            ),
        },
    ) + [Check(id="cloud-azure-acr-replications-in-region", subject=r.name, run=replications)]


def _postgres_checks(s: NamedPromise, p: AzurePromises, arm: Arm) -> list[Check]:
    rel = f"resourceGroups/{s.group}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{s.name}"
    rid, kind = arm.rid(rel), "postgresql flexible server"

    def cmk(doc: dict[str, Any]) -> list[str]:
        enc = _props(doc).get("dataEncryption") or {}
        if enc.get("type") == "AzureKeyVault" and _vault_of(enc.get("primaryKeyURI")) in {v.name.lower() for v in p.vaults}:
            return []
        return [
            problem(
                rid,
                kind,
                f"data is encrypted with {enc.get('type') or 'service-managed'} keys ({enc.get('primaryKeyURI') or 'no key'}), not the stack's Key Vault key",
                "set dataEncryption type AzureKeyVault with the stack's database key",
            )
        ]

    return _Resource(rel, "Microsoft.DBforPostgreSQL/flexibleServers", kind).checks(
        arm,
        "cloud-azure-postgres",
        s.name,
        {
            "private": _need(
                rid,
                kind,
                lambda pr: _dig(pr, "network.publicNetworkAccess") == "Disabled",
                lambda pr: f"public network access is {_dig(pr, 'network.publicNetworkAccess')}",
                "deploy it into the delegated subnet (network.publicNetworkAccess Disabled)",
            ),
            "cmk": cmk,
        },
    )


def _redis_checks(r: NamedPromise, arm: Arm) -> list[Check]:
    rel = f"resourceGroups/{r.group}/providers/Microsoft.Cache/redisEnterprise/{r.name}"
    rid, kind = arm.rid(rel), "managed redis"

    def tls() -> list[str]:
        doc = _read(lambda: arm.get(rel, "Microsoft.Cache/redisEnterprise"), rid, kind)
        if isinstance(doc, Unreadable):
            return doc
        found = (
            []
            if _props(doc).get("minimumTlsVersion") == "1.2"
            else [problem(rid, kind, f"it accepts TLS below 1.2 (minimumTlsVersion {_props(doc).get('minimumTlsVersion')})", "set minimumTlsVersion 1.2")]
        )
        dbs = _read(lambda: arm.children(rel, "databases", "Microsoft.Cache/redisEnterprise/databases"), rid, kind)
        if isinstance(dbs, Unreadable):
            return found + dbs
        for db in dbs:
            if _props(db).get("clientProtocol") != "Encrypted":
                found.append(
                    problem(
                        str(db.get("id")),
                        "managed redis database",
                        f"clients may connect in plain text (clientProtocol {_props(db).get('clientProtocol')})",
                        "set clientProtocol Encrypted",
                    )
                )
        return found

    return [Check(id="cloud-azure-redis-tls", subject=r.name, run=tls)] + _Resource(rel, "Microsoft.Cache/redisEnterprise", kind).checks(
        arm,
        "cloud-azure-redis",
        r.name,
        {
            "private": _need(
                rid,
                kind,
                lambda pr: pr.get("publicNetworkAccess") == "Disabled",
                lambda pr: f"public network access is {pr.get('publicNetworkAccess') or 'not disabled'}",
                "set publicNetworkAccess Disabled (private endpoint only)",
            ),
        },
    )


# diagnostic settings


def diagnostics_to_audit(d: DiagnosticPromise, arm: Arm) -> list[str]:
    """The audited resource has its diagnostic setting, sending the audit category group to the
    stack's audit storage account and Log Analytics workspace."""
    rel = f"{d.resource}/providers/Microsoft.Insights/diagnosticSettings/{d.name}"
    rid, kind = arm.rid(rel), "diagnostic setting"
    doc = _read(lambda: arm.get(rel, "Microsoft.Insights/diagnosticSettings"), rid, kind)
    if isinstance(doc, Unreadable):
        return doc
    pr = _props(doc)
    found = []
    if d.storage_account and not _same(relative(str(pr.get("storageAccountId") or "")), d.storage_account):
        found.append(
            problem(
                rid,
                kind,
                f"it sends to {pr.get('storageAccountId') or 'no storage account'}, not the audit account {d.storage_account.split('/')[-1]}",
                "point storageAccountId at the stack's audit account",
            )
        )
    if d.workspace and not _same(relative(str(pr.get("workspaceId") or "")), d.workspace):
        found.append(
            problem(
                rid,
                kind,
                f"it sends to {pr.get('workspaceId') or 'no workspace'}, not the stack's workspace {d.workspace.split('/')[-1]}",
                "point workspaceId at the stack's Log Analytics workspace",
            )
        )
    if not any(log.get("enabled") and (str(log.get("categoryGroup") or "").lower() in ("audit", "alllogs")) for log in pr.get("logs") or []):
        found.append(problem(rid, kind, "the audit log category group is not enabled", "enable categoryGroup audit"))
    return found
