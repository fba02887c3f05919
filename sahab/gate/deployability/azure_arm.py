"""What the Azure checks read off a plan: ARM ids of its resources, Key Vault key URLs, identities
and the role assignments that grant them something on a scope.

ARM ids are built from each resource's own name inputs (pulumi-azure-native's ids are exactly
these paths), so a reference such as `primaryUserAssignedIdentityId` or a role assignment's `scope`
finds the resource of the plan it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sahab.gate.deployability.context import Context

# Built-in role definition GUIDs (the same values as components/azure/_common.py ROLES, which the
# gate may not import; tests/gate/test_gate_grants.py proves the copies agree). Checked:
# learn.microsoft.com "Azure built-in roles" (Key Vault Crypto Officer 14b46e9e, Key Vault
# Administrator 00482a5a, Owner 8e3af657 added here for what they grant).
ROLES = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Key Vault Contributor": "f25e0fa2-a7c8-4377-a976-54943a77a395",
    "Key Vault Crypto Officer": "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
}
# Who may wrap/unwrap with a key: data actions, which Owner and Contributor do not carry.
KEY_USERS = ("Key Vault Crypto Service Encryption User", "Key Vault Crypto User", "Key Vault Crypto Officer", "Key Vault Administrator")
READERS = ("Reader", "Contributor", "Owner")
CONTRIBUTORS = ("Contributor", "Owner")
NETWORK_CONTRIBUTORS = ("Network Contributor", "Contributor", "Owner")
VAULT_CONTRIBUTORS = ("Key Vault Contributor", "Contributor", "Owner")

# type -> (ARM provider path with {input} placeholders) for the resources the checks resolve.
_PATHS = {
    "azure-native:managedidentity:UserAssignedIdentity": "Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}",
    "azure-native:keyvault:Vault": "Microsoft.KeyVault/vaults/{vaultName}",
    "azure-native:keyvault:Key": "Microsoft.KeyVault/vaults/{vaultName}/keys/{keyName}",
    "azure-native:compute:DiskEncryptionSet": "Microsoft.Compute/diskEncryptionSets/{diskEncryptionSetName}",
    "azure-native:network:VirtualNetwork": "Microsoft.Network/virtualNetworks/{virtualNetworkName}",
    "azure-native:network:Subnet": "Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}",
    "azure-native:network:NetworkSecurityGroup": "Microsoft.Network/networkSecurityGroups/{networkSecurityGroupName}",
    "azure-native:containerregistry:Registry": "Microsoft.ContainerRegistry/registries/{registryName}",
    "azure-native:containerservice:ManagedCluster": "Microsoft.ContainerService/managedClusters/{resourceName}",
    "azure-native:storage:StorageAccount": "Microsoft.Storage/storageAccounts/{accountName}",
    "azure-native:dbforpostgresql:Server": "Microsoft.DBforPostgreSQL/flexibleServers/{serverName}",
    "azure-native:privatedns:PrivateZone": "Microsoft.Network/privateDnsZones/{privateZoneName}",
}
_SUBSCRIPTION = re.compile(r"/subscriptions/([0-9a-fA-F-]{36})/", re.I)
KEY_URL = re.compile(r"^https://(?P<vault>[^./]+)\.vault\.azure\.net(?::443)?/keys/(?P<key>[^/]+)(?:/(?P<version>[^/]*))?/?$", re.I)


def subscription(ctx: Context) -> str:
    """The subscription the plan's ARM ids name (the first one found)."""
    found = ctx.cache.get("azure-subscription")
    if found is None:
        found = ""
        for r in ctx.plan.resources:
            if r.type.startswith("azure-native:"):
                m = _SUBSCRIPTION.search(str(r.inputs))
                if m:
                    found = m.group(1)
                    break
        ctx.cache["azure-subscription"] = found
    return found


def arm_id(ctx: Context, r: Any) -> str:
    """The ARM id of `r` ('' when its type is not one the checks resolve)."""
    path = _PATHS.get(r.type)
    if path is None:
        return ""
    try:
        tail = path.format(**{k: r.inputs[k] for k in re.findall(r"{(\w+)}", path)})
    except KeyError:
        return ""
    return f"/subscriptions/{subscription(ctx)}/resourceGroups/{r.inputs.get('resourceGroupName', '')}/providers/{tail}"


def by_id(ctx: Context) -> dict[str, Any]:
    """Lower-cased ARM id -> resource, for every resolvable resource of the plan."""
    found = ctx.cache.get("azure-by-id")
    if found is None:
        found = {}
        for r in ctx.plan.resources:
            rid = arm_id(ctx, r)
            if rid:
                found[rid.lower()] = r
        ctx.cache["azure-by-id"] = found
    return found


def resolve(ctx: Context, ref: Any) -> Any:
    """The plan's resource an ARM id names, or None."""
    return by_id(ctx).get(str(ref or "").lower().rstrip("/")) if ref else None


def get(d: Any, path: str) -> Any:
    """`a.b.c` of nested dicts (None where absent)."""
    for part in path.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d


def covers(scope: str, target: str) -> bool:
    """Whether an assignment at `scope` applies to the resource `target` (the same id or above it)."""
    s, t = scope.lower().rstrip("/"), target.lower().rstrip("/")
    return bool(s) and (t == s or t.startswith(s + "/"))


@dataclass(frozen=True)
class KeyRef:
    """A Key Vault key a resource names by URL: the vault and key of the plan, when they are in it."""

    url: str
    vault_name: str
    key_name: str
    version: str
    vault: Any
    key_id: str  # ARM id of the key (vault id + /keys/<name>); '' when the vault is not in the plan


def key_ref(ctx: Context, url: Any) -> KeyRef | None:
    m = KEY_URL.match(str(url or ""))
    if not m:
        return None
    vault = next((r for r in ctx.resources("azure-native:keyvault:Vault") if str(r.inputs.get("vaultName", "")).lower() == m["vault"].lower()), None)
    key_id = f"{arm_id(ctx, vault)}/keys/{m['key']}" if vault is not None else ""
    return KeyRef(str(url), m["vault"], m["key"], m["version"] or "", vault, key_id)


def vault_of(ctx: Context, vault_uri: Any, key_name: Any) -> KeyRef | None:
    """The key a storage account names as (keyVaultUri, keyName)."""
    host = re.match(r"^https://([^./]+)\.vault\.azure\.net", str(vault_uri or ""), re.I)
    return key_ref(ctx, f"https://{host.group(1)}.vault.azure.net/keys/{key_name}") if host and key_name else None


def principal_id(r: Any) -> str:
    """The object id a role assignment names for `r` (a user-assigned identity, or a resource's
    system-assigned identity); '' when the plan does not know it."""
    out = r.outputs or {}
    value = out.get("principalId") or get(out, "identity.principalId") or ""
    return value if isinstance(value, str) and not value.startswith("[") else ""


@dataclass(frozen=True)
class Grant:
    assignment: Any
    role: str
    scope: str


def role_name(definition_id: Any) -> str:
    guid = str(definition_id or "").rsplit("/", 1)[-1].lower()
    return next((name for name, g in ROLES.items() if g == guid), guid)


def grants(ctx: Context, principal: Any, roles: tuple[str, ...], target: str) -> list[Grant]:
    """Role assignments of the plan that give `principal` (an identity resource, or a resource with a
    system-assigned identity) one of `roles` on `target` (an ARM id) or above it."""
    pid = principal_id(principal)
    out = []
    for a in ctx.resources("azure-native:authorization:RoleAssignment"):
        named = a.inputs.get("principalId")
        same = (pid and named == pid) or ((not pid or not isinstance(named, str) or named.startswith("[")) and principal.urn in a.options.get("dependsOn", []))
        role = role_name(a.inputs.get("roleDefinitionId"))
        if same and role in roles and covers(str(a.inputs.get("scope", "")), target):
            out.append(Grant(a, role, str(a.inputs.get("scope"))))
    return out


def user_identities(r: Any) -> list[str]:
    """ARM ids of the user-assigned identities a resource's `identity` lists (a map or a list)."""
    found = get(r.inputs, "identity.userAssignedIdentities") or {}
    return list(found) if isinstance(found, (dict, list)) else []


def identity_of(ctx: Context, r: Any) -> Any:
    """The identity acting for `r`: its one user-assigned identity (a plan resource), else `r` itself
    when it has a system-assigned one; None when it has neither or several."""
    ids = user_identities(r)
    if len(ids) == 1:
        return resolve(ctx, ids[0])
    kind = str(get(r.inputs, "identity.type") or "")
    return r if "SystemAssigned" in kind and not ids else None
