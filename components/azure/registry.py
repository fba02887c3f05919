"""Azure Container Registry, Premium: admin user off, anonymous pull off, no public network access
(a private endpoint only), exports off, zone-redundant where the region has zones, images
encrypted with the customer-managed key, and no geo-replication (a replica outside the UAE moves
code and images out; the residency pack checks `containerregistry:Replication`). The kubelet
identity may pull, nothing else."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerregistry as acr

from components.azure._common import assign, compact_name, private_endpoint


@dataclass(frozen=True, kw_only=True)
class AcrRegistryArgs:
    environment: str
    """Environment name (the registry name derives from it)."""
    resource_group: pulumi.Input[str]
    """Platform resource group."""
    location: str
    """UAE location."""
    zone_redundant: bool
    """Zone-redundant (regions with zones)."""
    subscription_id: pulumi.Input[str]
    """Subscription (role definition ids)."""
    key_id: pulumi.Input[str]
    """Customer-managed key (versionless: the registry follows rotations)."""
    cmk_identity_id: pulumi.Input[str]
    """User-assigned identity allowed to unwrap with the key."""
    cmk_identity_client_id: pulumi.Input[str]
    """Its client id (what ACR's key settings name)."""
    kubelet_object_id: pulumi.Input[str]
    """The cluster's kubelet identity: given AcrPull."""
    endpoint_subnet_id: pulumi.Input[str]
    """Private-endpoint subnet."""
    dns_zone_id: pulumi.Input[str]
    """`privatelink.azurecr.io` zone."""
    tags: dict[str, str]
    """Tags of every taggable child."""


class AcrRegistry(pulumi.ComponentResource):
    login_server: pulumi.Output[str]
    registry_id: pulumi.Output[str]

    def __init__(self, name: str, args: AcrRegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:azure:AcrRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        registry = acr.Registry(
            f"{name}-acr",
            registry_name=compact_name("sahab", args.environment, "acr", limit=50),
            resource_group_name=args.resource_group,
            location=args.location,
            sku=acr.SkuArgs(name="Premium"),
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            public_network_access="Disabled",
            network_rule_bypass_options="None",
            data_endpoint_enabled=True,
            zone_redundancy="Enabled" if args.zone_redundant else "Disabled",
            identity=acr.IdentityPropertiesArgs(
                type=acr.ResourceIdentityType.USER_ASSIGNED,
                # ARM's {"<identity id>": {}}: the identity's client and principal ids are ARM's to fill in.
                user_assigned_identities=pulumi.Output.from_input(args.cmk_identity_id).apply(lambda i: {i: acr.UserIdentityPropertiesArgs()}),
            ),
            encryption=acr.EncryptionPropertyArgs(
                status="enabled", key_vault_properties=acr.KeyVaultPropertiesArgs(key_identifier=args.key_id, identity=args.cmk_identity_client_id)
            ),
            policies=acr.PoliciesArgs(
                export_policy=acr.ExportPolicyArgs(status="disabled"),
                retention_policy=acr.RetentionPolicyArgs(status="enabled", days=30),  # untagged manifests
                azure_ad_authentication_as_arm_policy=acr.AzureADAuthenticationAsArmPolicyArgs(status="disabled"),
            ),
            tags=args.tags,
            opts=child,
        )
        private_endpoint(
            f"{name}-pe",
            resource_group=args.resource_group,
            location=args.location,
            subnet_id=args.endpoint_subnet_id,
            target_id=registry.id,
            group="registry",
            zone_id=args.dns_zone_id,
            tags=args.tags,
            opts=child,
        )
        assign(f"{name}-kubelet-pull", subscription_id=args.subscription_id, role="AcrPull", principal_id=args.kubelet_object_id, scope=registry.id, opts=child)
        self.login_server = registry.login_server
        self.registry_id = registry.id
        self.register_outputs({"login_server": self.login_server, "registry_id": self.registry_id})
