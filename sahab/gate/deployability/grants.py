"""Grants before their consumers: every resource that uses a customer-managed key, a disk encryption
set or a KMS key is created only after the grant that lets its identity use the key.

Azure: the consumer names a Key Vault key and the identity that unwraps it (storage account,
container registry, PostgreSQL flexible server, Azure Managed Redis, the AKS cluster's KMS); a
disk encryption set's consumers (the cluster's OS disks, a disk) use the key through the set's own
identity. The grant is a role assignment of a key role (Key Vault Crypto Service Encryption User,
Crypto User, Crypto Officer, Administrator: the data actions wrap/unwrap) to that identity on the
key, its vault or above, or the vault's own access policy; the consumer must wait for it, or Azure
refuses the key on the first `up` and accepts it on the second. Azure RBAC takes up to 10 minutes to
apply a new assignment (MicrosoftDocs/azure-docs articles/key-vault/general/rbac-guide.md, "Known
limits and performance"): without a wait (pulumiverse-time Sleep) between grant and consumer the
finding `grants-rbac-propagation` (advisory) says so.

AWS: a key policy must name principals that exist when it is written ("The principals in the key
policy must exist and be visible to KMS", CreateKey/PutKeyPolicy `Policy`; checked: AWS KMS API
reference via docs.aws.amazon.com sdk-for-kotlin CreateKeyRequest.policy): a key waits for the
roles its policy names; a consumer waits for the key, any separate key policy or grant of it, and
the identity policies of the role it acts as that allow KMS on the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sahab.gate.deployability import azure_arm as arm
from sahab.gate.deployability.context import Context, finding
from sahab.gate.deployability.plan_graph import label, plan_graph
from sahab.gate.model import ADVISORY, Finding

DESCRIPTION = "Every resource that uses a customer-managed key is created after the grant that lets its identity use it."
SLEEP = "time:index/sleep:Sleep"
VAULT = "azure-native:keyvault:Vault"


@dataclass(frozen=True)
class Use:
    """`consumer` uses `key` through `identity` (a resource of the plan, or None when unknown)."""

    consumer: Any
    key: arm.KeyRef
    identity: Any
    how: str  # the input that names the key, for the message
    via: Any = None  # the disk encryption set a consumer uses the key through


def _registry_identity(ctx: Context, r: Any) -> Any:
    client = arm.get(r.inputs, "encryption.keyVaultProperties.identity")
    for ref in arm.user_identities(r):
        ident = arm.resolve(ctx, ref)
        if ident is not None and (ident.outputs or {}).get("clientId") in (client, None):
            return ident
    return None


def azure_uses(ctx: Context) -> list[Use]:
    """Every (consumer, key, identity) of the plan's customer-managed keys."""
    uses: list[Use] = []
    for r in ctx.resources("azure-native:storage:StorageAccount"):
        enc = r.inputs.get("encryption") or {}
        if str(enc.get("keySource", "")).lower() == "microsoft.keyvault":
            kv = enc.get("keyVaultProperties") or {}
            key = arm.vault_of(ctx, kv.get("keyVaultUri"), kv.get("keyName"))
            ident = arm.resolve(ctx, arm.get(enc, "encryptionIdentity.encryptionUserAssignedIdentity")) or arm.identity_of(ctx, r)
            if key:
                uses.append(Use(r, key, ident, "encryption.keyVaultProperties"))
    for r in ctx.resources("azure-native:containerregistry:Registry"):
        if str(arm.get(r.inputs, "encryption.status") or "").lower() == "enabled":
            key = arm.key_ref(ctx, arm.get(r.inputs, "encryption.keyVaultProperties.keyIdentifier"))
            if key:
                uses.append(Use(r, key, _registry_identity(ctx, r), "encryption.keyVaultProperties.keyIdentifier"))
    for r in ctx.resources("azure-native:dbforpostgresql:Server"):
        enc = r.inputs.get("dataEncryption") or {}
        if enc.get("type") == "AzureKeyVault":
            for uri, ident in (("primaryKeyURI", "primaryUserAssignedIdentityId"), ("geoBackupKeyURI", "geoBackupUserAssignedIdentityId")):
                key = arm.key_ref(ctx, enc.get(uri))
                if key:
                    uses.append(Use(r, key, arm.resolve(ctx, enc.get(ident)), f"dataEncryption.{uri}"))
    for r in ctx.resources("azure-native:redisenterprise:RedisEnterprise"):
        cmk = arm.get(r.inputs, "encryption.customerManagedKeyEncryption") or {}
        key = arm.key_ref(ctx, cmk.get("keyEncryptionKeyUrl"))
        if key:
            ident = arm.resolve(ctx, arm.get(cmk, "keyEncryptionKeyIdentity.userAssignedIdentityResourceId"))
            uses.append(Use(r, key, ident, "encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl"))
    for r in ctx.resources("azure-native:containerservice:ManagedCluster"):
        kms = arm.get(r.inputs, "securityProfile.azureKeyVaultKms") or {}
        key = arm.key_ref(ctx, kms.get("keyId")) if kms.get("enabled") else None
        if key:
            uses.append(Use(r, key, arm.identity_of(ctx, r), "securityProfile.azureKeyVaultKms.keyId"))
    # Through a disk encryption set: its identity unwraps the key for the disks of its consumers.
    consumers = [(r, r.inputs.get("diskEncryptionSetID"), "diskEncryptionSetID") for r in ctx.resources("azure-native:containerservice:ManagedCluster")]
    consumers += [
        (r, arm.get(r.inputs, "encryption.diskEncryptionSetId"), "encryption.diskEncryptionSetId") for r in ctx.resources("azure-native:compute:Disk")
    ]
    for r, ref, how in consumers:
        des = arm.resolve(ctx, ref)
        key = arm.key_ref(ctx, arm.get(des.inputs, "activeKey.keyUrl")) if des is not None else None
        if key:
            uses.append(Use(r, key, arm.identity_of(ctx, des), how, via=des))
    return uses


def _vault_policy_allows(key: arm.KeyRef, identity: Any) -> bool:
    """An access policy of a vault without RBAC authorization that lets `identity` wrap and unwrap."""
    props = key.vault.inputs.get("properties") or {}
    if props.get("enableRbacAuthorization"):
        return False
    pid = arm.principal_id(identity)
    for p in props.get("accessPolicies") or []:
        keys = {str(k).lower() for k in ((p.get("permissions") or {}).get("keys") or [])}
        if p.get("objectId") == pid and {"wrapkey", "unwrapkey"} <= (keys | ({"wrapkey", "unwrapkey"} if "all" in keys else set())):
            return True
    return False


def _azure(ctx: Context) -> list[Finding]:
    graph = plan_graph(ctx)
    out = []
    for use in azure_uses(ctx):
        c, key = use.consumer, use.key
        where = f"key {key.key_name} of vault {key.vault_name} ({use.how}{f', through {label(use.via)}' if use.via is not None else ''})"
        if key.vault is None:
            continue  # a vault outside the plan: its grants are outside it too
        if use.identity is None or use.identity is c:  # a system-assigned identity exists only with the resource
            out.append(
                _finding(
                    c,
                    f"uses {where} through a system-assigned or unnamed identity, which cannot be granted the key before the resource exists",
                    "give it a user-assigned identity, grant that identity Key Vault Crypto Service Encryption User on the key, and depend on the grant",
                )
            )
            continue
        if _vault_policy_allows(key, use.identity):
            continue
        found = arm.grants(ctx, use.identity, arm.KEY_USERS, key.key_id)
        who = label(use.identity)
        if not found:
            out.append(
                _finding(
                    c,
                    f"uses {where}, and no role assignment lets its identity {who} wrap/unwrap with it",
                    f"assign Key Vault Crypto Service Encryption User to {who} on the vault (or the key), and make {c.name} depend on that assignment",
                )
            )
            continue
        waited = [g for g in found if graph.waits(c.urn, g.assignment.urn)]
        if not waited:
            names = ", ".join(g.assignment.name for g in found)
            out.append(
                _finding(
                    c,
                    f"uses {where}, but is created in parallel with the grant that lets {who} use it ({names}): Azure refuses the key until the grant exists",
                    f"make {c.name} depend on {names} (and on a wait for RBAC propagation after it)",
                )
            )
            continue
        if not any(graph.between(c.urn, g.assignment.urn, SLEEP) for g in waited):
            out.append(
                finding(
                    "grants-rbac-propagation",
                    f"{label(c)}: waits for {waited[0].assignment.name} (the grant on {where}) but not for Azure RBAC to apply it (up to 10 minutes; "
                    "articles/key-vault/general/rbac-guide.md): the first `up` can still be refused. Fix: put a pulumiverse-time Sleep after the grant "
                    f"and make {c.name} depend on it.",
                    urn=c.urn,
                    resource=label(c),
                    enforcement=ADVISORY,
                    description="A consumer of a key grant waits for Azure RBAC to propagate it.",
                )
            )
    return out


def _finding(r: Any, wrong: str, fix: str, policy: str = "grants-before-consumers") -> Finding:
    return finding(policy, f"{label(r)}: {wrong}. Fix: {fix}.", urn=r.urn, resource=label(r), description=DESCRIPTION)


# --- AWS --------------------------------------------------------------------------------------------

_NOT_CONSUMERS = ("aws:kms/", "aws:iam/")


def _walk(value: Any, path: str = "") -> Any:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, path)
    else:
        yield path, value


def _statements(policy: Any) -> list[dict[str, Any]]:
    try:
        doc = json.loads(policy) if isinstance(policy, str) else policy
    except json.JSONDecodeError:
        return []
    st = (doc or {}).get("Statement") or []
    return [st] if isinstance(st, dict) else list(st)


def _principals(statement: dict[str, Any]) -> list[str]:
    p = statement.get("Principal")
    aws = p.get("AWS") if isinstance(p, dict) else None
    return [aws] if isinstance(aws, str) else list(aws or [])


def _allows_kms_on(statement: dict[str, Any], arn: str) -> bool:
    actions = statement.get("Action") or []
    actions = [actions] if isinstance(actions, str) else actions
    resources = statement.get("Resource") or []
    resources = [resources] if isinstance(resources, str) else resources
    return (
        statement.get("Effect") == "Allow"
        and any(str(a).lower().startswith(("kms:", "*")) for a in actions)
        and any(res in ("*", arn) or (res.endswith("*") and arn.startswith(res[:-1])) for res in resources)
    )


def _aws(ctx: Context) -> list[Finding]:
    graph = plan_graph(ctx)
    keys = {}
    for k in ctx.resources("aws:kms/key:Key"):
        for ref in ((k.outputs or {}).get("arn"), (k.outputs or {}).get("keyId")):
            if ref:
                keys[ref] = k
    roles = {(r.outputs or {}).get("arn"): r for r in ctx.resources("aws:iam/role:Role") if (r.outputs or {}).get("arn")}
    linked = {str(r.inputs.get("awsServiceName")): r for r in ctx.resources("aws:iam/serviceLinkedRole:ServiceLinkedRole")}
    out: list[Finding] = []
    # A key policy names principals that must exist when it is written.
    policy_holders = [(k, k.inputs.get("policy")) for k in ctx.resources("aws:kms/key:Key")]
    policy_holders += [(p, p.inputs.get("policy")) for p in ctx.resources("aws:kms/keyPolicy:KeyPolicy")]
    for holder, policy in policy_holders:
        named: dict[str, tuple[Any, list[str]]] = {}
        for st in _statements(policy):
            for arn in _principals(st):
                role = roles.get(arn) or next((r for svc, r in linked.items() if f"/aws-service-role/{svc}/" in str(arn)), None)
                if role is not None and not graph.waits(holder.urn, role.urn):
                    named.setdefault(str(arn), (role, []))[1].append(str(st.get("Sid", "?")))
        for arn, (role, sids) in named.items():
            out.append(
                _finding(
                    holder,
                    f"its key policy names {arn} (statements {', '.join(sids)}), and the key is written in parallel with {label(role)}: "
                    "KMS refuses a policy whose principals do not exist yet (MalformedPolicyDocumentException)",
                    f"make {holder.name} depend on {role.name}",
                    "grants-key-policy-principals",
                )
            )
    separate = [(p, p.inputs.get("keyId")) for p in ctx.resources("aws:kms/keyPolicy:KeyPolicy")]
    separate += [(g, g.inputs.get("keyId")) for g in ctx.resources("aws:kms/grant:Grant")]
    role_policies = ctx.resources("aws:iam/rolePolicy:RolePolicy")
    for r in ctx.plan.resources:
        if not r.type.startswith("aws:") or r.type.startswith(_NOT_CONSUMERS):
            continue
        used = {keys[v].urn: keys[v] for p, v in _walk(r.inputs) if isinstance(v, str) and v in keys and ("kms" in p.lower() or "key" in p.lower())}
        acting = {roles[v].urn: roles[v] for _, v in _walk(r.inputs) if isinstance(v, str) and v in roles}
        for k in used.values():
            arn = (k.outputs or {}).get("arn", "")
            needed = [k] + [g for g, ref in separate if ref in (arn, (k.outputs or {}).get("keyId"))]
            for role in acting.values():
                rname = (role.outputs or {}).get("name") or role.inputs.get("name")
                needed += [
                    p
                    for p in role_policies
                    if p.inputs.get("role") in (rname, (role.outputs or {}).get("id"))
                    and any(_allows_kms_on(s, arn) for s in _statements(p.inputs.get("policy")))
                ]
            for g in needed:
                if not graph.waits(r.urn, g.urn):
                    out.append(
                        _finding(
                            r,
                            f"uses KMS key {k.name} and is created in parallel with {label(g)}, which lets it use the key",
                            f"make {r.name} depend on {g.name}",
                        )
                    )
    return out


def check(ctx: Context) -> list[Finding]:
    cloud = ctx.spec.get("cloud")
    if cloud == "azure":
        return _azure(ctx)
    if cloud == "aws":
        return _aws(ctx)
    return []
