"""What the Azure components share: built-in role ids, deterministic role-assignment names, private
endpoints with their DNS zone group, and the names Azure insists on (lower-case, length-limited)."""

from __future__ import annotations

import hashlib
import re
import uuid

import pulumi
import pulumiverse_time as time
from pulumi_azure_native import authorization, network

# Built-in role definition GUIDs (checked: learn.microsoft.com "Azure built-in roles", and Bicep
# samples quoting them, fetched 2026-12). The ids are the same in every subscription.
ROLES = {
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Private DNS Zone Contributor": "b12aa53e-6015-4669-85d0-8515ebb3ae7f",
    "Key Vault Contributor": "f25e0fa2-a7c8-4377-a976-54943a77a395",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
}
# Azure RBAC: "it will take up to 10 minutes (600 seconds) after role assignments is changed for role
# to be applied" (checked: MicrosoftDocs/azure-docs articles/key-vault/general/rbac-guide.md, "Known
# limits and performance", fetched 2026-12). A resource that uses a grant while it is created (a
# customer-managed key, the disk encryption set, KMS) waits that long after the grant, so the first
# `pulumi up` succeeds instead of the second.
RBAC_PROPAGATION_SECONDS = 600
# Private DNS zones of the private endpoints (checked: learn.microsoft.com "Azure Private Endpoint
# private DNS zone values", fetched 2026-12).
DNS_ZONES = {
    "vault": "privatelink.vaultcore.azure.net",
    "blob": "privatelink.blob.core.windows.net",
    "dfs": "privatelink.dfs.core.windows.net",
    "registry": "privatelink.azurecr.io",
    "redisEnterprise": "privatelink.redis.azure.net",
}


def role_id(subscription_id: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    if role not in ROLES:
        raise ValueError(f"role: {role!r} is not one of the built-in roles Sahab uses ({sorted(ROLES)})")
    return pulumi.Output.format("/subscriptions/{0}/providers/Microsoft.Authorization/roleDefinitions/{1}", subscription_id, ROLES[role])


def assign(
    name: str,
    *,
    subscription_id: pulumi.Input[str],
    role: str,
    principal_id: pulumi.Input[str],
    scope: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    condition: str | None = None,
) -> authorization.RoleAssignment:
    """One role assignment to a service principal (managed identity), with a stable GUID name;
    `condition` (ABAC, version 2.0) narrows it further."""
    return authorization.RoleAssignment(
        name,
        role_assignment_name=str(uuid.uuid5(uuid.NAMESPACE_URL, f"sahab/{name}")),
        role_definition_id=role_id(subscription_id, role),
        principal_id=principal_id,
        principal_type="ServicePrincipal",
        scope=scope,
        condition=condition,
        condition_version="2.0" if condition else None,
        opts=opts,
    )


def propagated(name: str, grants: list[authorization.RoleAssignment], seconds: int, opts: pulumi.ResourceOptions) -> time.Sleep:
    """A wait of `seconds` after `grants` exist (pulumiverse-time Sleep; it waits on create only, and
    again when a grant is replaced: its triggers are the grants' ids)."""
    if seconds < 0:
        raise ValueError(f"rbac_propagation_seconds: {seconds} is negative")
    return time.Sleep(
        name,
        create_duration=f"{seconds}s",
        triggers={f"grant-{i}": g.id for i, g in enumerate(grants)},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(grants))),
    )


def after(value: pulumi.Input[str], ready: pulumi.CustomResource) -> pulumi.Output[str]:
    """`value`, available only once `ready` is created: whatever takes it as an input depends on `ready`."""
    return pulumi.Output.all(value, ready.id).apply(lambda v: v[0])


def private_endpoint(
    name: str,
    *,
    resource_group: pulumi.Input[str],
    location: str,
    subnet_id: pulumi.Input[str],
    target_id: pulumi.Input[str],
    group: str,
    zone_id: pulumi.Input[str],
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> network.PrivateEndpoint:
    """A private endpoint to `target_id`'s `group` (vault, blob, dfs, registry, ...) with its DNS record."""
    endpoint = network.PrivateEndpoint(
        name,
        private_endpoint_name=name,
        resource_group_name=resource_group,
        location=location,
        subnet=network.SubnetArgs(id=subnet_id),
        private_link_service_connections=[network.PrivateLinkServiceConnectionArgs(name=name, private_link_service_id=target_id, group_ids=[group])],
        tags=tags,
        opts=opts,
    )
    network.PrivateDnsZoneGroup(
        f"{name}-dns",
        private_dns_zone_group_name="default",
        private_endpoint_name=endpoint.name,
        resource_group_name=resource_group,
        private_dns_zone_configs=[network.PrivateDnsZoneConfigArgs(name=group, private_dns_zone_id=zone_id)],
        opts=opts,
    )
    return endpoint


def compact_name(*parts: str, limit: int = 24) -> str:
    """A globally unique-looking, lower-case alphanumeric name (storage accounts, registries, vaults)."""
    base = re.sub(r"[^a-z0-9]", "", "".join(parts).lower())
    suffix = hashlib.sha256("/".join(parts).encode()).hexdigest()[:6]
    return base[: limit - len(suffix)] + suffix
