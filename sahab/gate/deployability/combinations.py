"""Documented feature combinations: a setting that works only together with others.

- KMS etcd encryption with a private key vault (`azureKeyVaultKms.keyVaultNetworkAccess: Private`)
  works only through API Server VNet Integration: `enableVnetIntegration` with a `subnetId` of at
  least a /28 delegated to Microsoft.ContainerService/managedClusters, whose NSG admits the nodes on
  443 and 4443 and Azure Load Balancer on 9988; the cluster identity needs Network Contributor on
  the API server and node subnets, Key Vault Crypto User on the key and Key Vault Contributor on the
  vault (AKS creates the private link), granted before the cluster. (Checked: MicrosoftDocs/azure-aks-docs
  articles/aks/use-kms-etcd-encryption.md "Limitations", "Assign permissions to create a private
  link"; articles/aks/api-server-vnet-integration.md "bring-your-own VNet", "NSG security rules".)
- PostgreSQL flexible server with high availability in a delegated subnet: it "requires the ability
  to send and receive traffic to destination ports 5432 and 6432 within the virtual network [...]
  and to Azure Storage for log archiving. If you configure network security groups (NSGs) to
  restrict traffic to or from your flexible server within its deployed subnet, be sure to allow
  traffic to destination ports 5432 and 6432 within the subnet" (checked: learn.microsoft.com
  azure/postgresql/flexible-server concepts-major-version-upgrade, Limitations, and
  concepts-networking-private): the subnet's NSG must allow both ports inside the subnet, and the
  subnet needs a way out to Storage (a Microsoft.Storage service endpoint, a NAT gateway, a route
  table, or default outbound access; absent `defaultOutboundAccess` counts as Azure's default, on).
- A disk encryption set used by AKS: "the AKS cluster identity has read access to the
  DiskEncryptionSet" for OS disks, and Contributor for data disks a storage class encrypts with it
  (MicrosoftDocs/azure-aks-docs articles/aks/azure-disk-customer-managed-keys.md).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sahab.gate.deployability import azure_arm as arm
from sahab.gate.deployability import azure_nsg as nsg
from sahab.gate.deployability.context import Context, finding
from sahab.gate.deployability.plan_graph import label, plan_graph
from sahab.gate.model import Finding

CLUSTER = "azure-native:containerservice:ManagedCluster"
AKS_DELEGATION = "Microsoft.ContainerService/managedClusters"


def _f(policy: str, r: Any, wrong: str, fix: str, description: str) -> Finding:
    return finding(policy, f"{label(r)}: {wrong}. Fix: {fix}.", urn=r.urn, resource=label(r), description=description)


def _subnet(ctx: Context, ref: Any) -> Any:
    return arm.resolve(ctx, ref)


def _node_subnets(ctx: Context, cluster: Any) -> list[Any]:
    refs = [p.get("vnetSubnetID") for p in cluster.inputs.get("agentPoolProfiles") or []]
    refs += [
        p.inputs.get("vnetSubnetID")
        for p in ctx.resources("azure-native:containerservice:AgentPool")
        if p.inputs.get("resourceName") == cluster.inputs.get("resourceName")
    ]
    found: dict[str, Any] = {}
    for ref in refs:
        s = _subnet(ctx, ref)
        if s is not None:
            found[s.urn] = s
    return list(found.values())


def _granted(ctx: Context, cluster: Any, identity: Any, roles: tuple[str, ...], target: str, what: str, policy: str, desc: str) -> list[Finding]:
    found = arm.grants(ctx, identity, roles, target)
    if not found:
        return [
            _f(
                policy,
                cluster,
                f"its identity {label(identity)} has no {' / '.join(roles[:1])} on {what}",
                f"assign {roles[0]} to {identity.name} on {target}, and make {cluster.name} depend on it",
                desc,
            )
        ]
    graph = plan_graph(ctx)
    if not any(graph.waits(cluster.urn, g.assignment.urn) for g in found):
        names = ", ".join(g.assignment.name for g in found)
        return [_f(policy, cluster, f"is created in parallel with {names} ({found[0].role} on {what})", f"make {cluster.name} depend on {names}", desc)]
    return []


PRIVATE_KMS = "A private-vault KMS cluster has API Server VNet Integration, its subnet and its roles."


def private_vault_kms(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    policy = "combinations-private-vault-kms"
    for c in ctx.resources(CLUSTER):
        kms = arm.get(c.inputs, "securityProfile.azureKeyVaultKms") or {}
        if not (kms.get("enabled") and kms.get("keyVaultNetworkAccess") == "Private"):
            continue
        access = c.inputs.get("apiServerAccessProfile") or {}
        if not access.get("enableVnetIntegration") or not access.get("subnetId"):
            out.append(
                _f(
                    policy,
                    c,
                    "encrypts etcd with a key in a private vault (KMS keyVaultNetworkAccess Private) without API Server VNet Integration, "
                    "the only tunnel AKS supports for a private key vault",
                    "set apiServerAccessProfile.enableVnetIntegration=true and subnetId to a /28 (or larger) subnet delegated to "
                    "Microsoft.ContainerService/managedClusters",
                    PRIVATE_KMS,
                )
            )
            continue
        api = _subnet(ctx, access.get("subnetId"))
        if api is None:
            continue  # a subnet outside the plan: its delegation and NSG are outside it too
        delegations = [d.get("serviceName") for d in api.inputs.get("delegations") or []]
        if AKS_DELEGATION not in delegations:
            out.append(
                _f(policy, c, f"its API server subnet {api.name} is not delegated to {AKS_DELEGATION}", f"delegate {api.name} to {AKS_DELEGATION}", PRIVATE_KMS)
            )
        prefix = nsg.subnet_prefix(api)
        try:
            size = ipaddress.ip_network(prefix, strict=False).prefixlen
        except ValueError:
            size = 0
        if size > 28:
            out.append(
                _f(
                    policy,
                    c,
                    f"its API server subnet {api.name} is {prefix}, smaller than the /28 AKS requires",
                    f"give {api.name} a /28 or larger",
                    PRIVATE_KMS,
                )
            )
        identity = arm.identity_of(ctx, c)
        if identity is None or identity is c:
            continue  # create_time's azure-aks-kms-user-assigned-identity says so
        for s in [api, *_node_subnets(ctx, c)]:
            out += _granted(ctx, c, identity, arm.NETWORK_CONTRIBUTORS, arm.arm_id(ctx, s), f"subnet {s.name}", policy, PRIVATE_KMS)
        key = arm.key_ref(ctx, kms.get("keyId"))
        if key is not None and key.vault is not None:
            # KMS encrypts and decrypts (Key Vault Crypto User in the docs): wrap/unwrap-only roles are not enough.
            out += _granted(ctx, c, identity, arm.KEY_USERS[1:], key.key_id, f"key {key.key_name}", policy, PRIVATE_KMS)
            out += _granted(
                ctx, c, identity, arm.VAULT_CONTRIBUTORS, arm.arm_id(ctx, key.vault), f"vault {key.vault_name} (the private link)", policy, PRIVATE_KMS
            )
        for node in _node_subnets(ctx, c):
            for port in (443, 4443):
                flow = nsg.Flow(nsg.subnet_prefix(node), prefix, port)
                for subnet, direction in ((api, "Inbound"), (node, "Outbound")):
                    ok, why = nsg.through(ctx, subnet, direction, flow)
                    if not ok:
                        out.append(
                            _f(
                                policy,
                                c,
                                f"the nodes cannot reach the API server: {flow} is denied ({direction.lower()}, {why})",
                                f"allow {flow} in that NSG",
                                PRIVATE_KMS,
                            )
                        )
        lb = nsg.Flow("AzureLoadBalancer", prefix, 9988)
        ok, why = nsg.through(ctx, api, "Inbound", lb)
        if not ok:
            out.append(_f(policy, c, f"Azure Load Balancer cannot probe the API server: {lb} is denied ({why})", f"allow {lb} in that NSG", PRIVATE_KMS))
    return out


HA_POSTGRES = "A highly available PostgreSQL flexible server can replicate within its subnet and archive to Storage."


def _way_out(subnet: Any) -> str:
    """How the subnet reaches Azure Storage ('' when it has no way)."""
    endpoints = [str(e.get("service", "")) for e in subnet.inputs.get("serviceEndpoints") or []]
    if any(e.startswith("Microsoft.Storage") for e in endpoints):
        return "a Microsoft.Storage service endpoint"
    if subnet.inputs.get("natGateway"):
        return "a NAT gateway"
    if subnet.inputs.get("routeTable"):
        return "a route table"
    if subnet.inputs.get("defaultOutboundAccess", True) is not False:
        return "default outbound access"
    return ""


def zone_redundant_postgres(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    policy = "combinations-ha-postgres"
    for server in ctx.resources("azure-native:dbforpostgresql:Server"):
        mode = arm.get(server.inputs, "highAvailability.mode")
        subnet = _subnet(ctx, arm.get(server.inputs, "network.delegatedSubnetResourceId"))
        if mode in (None, "Disabled") or subnet is None:
            continue
        prefix = nsg.subnet_prefix(subnet)
        for port in (5432, 6432):
            flow = nsg.Flow(prefix, prefix, port)
            for direction in ("Outbound", "Inbound"):
                ok, why = nsg.through(ctx, subnet, direction, flow)
                if not ok:
                    out.append(
                        _f(
                            policy,
                            server,
                            f"high availability ({mode}) replicates on TCP {port} within subnet {subnet.name}, and its NSG denies {flow} ({direction.lower()}, {why})",
                            f"allow TCP 5432 and 6432 from {prefix} to {prefix} in both directions, before any deny",
                            HA_POSTGRES,
                        )
                    )
        storage = nsg.Flow(prefix, "Storage", 443)
        ok, why = nsg.through(ctx, subnet, "Outbound", storage)
        if not ok:
            out.append(
                _f(
                    policy,
                    server,
                    f"high availability ({mode}) archives WAL to Azure Storage, and subnet {subnet.name}'s NSG denies {storage} ({why})",
                    "allow TCP 443 outbound to the Storage service tag",
                    HA_POSTGRES,
                )
            )
        if not _way_out(subnet):
            out.append(
                _f(
                    policy,
                    server,
                    f"high availability ({mode}) archives WAL to Azure Storage, and subnet {subnet.name} has no way out to it "
                    "(no default outbound access, no NAT gateway, no route table, no Microsoft.Storage service endpoint)",
                    f"add a Microsoft.Storage service endpoint to {subnet.name} (or a NAT gateway)",
                    HA_POSTGRES,
                )
            )
    return out


DISK_SET = "The cluster identity may read the disk encryption set its disks use."


def encrypted_disks(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    policy = "combinations-encrypted-disk-class"
    clusters = ctx.resources(CLUSTER)
    for c in clusters:
        identity = arm.identity_of(ctx, c)
        des = arm.resolve(ctx, c.inputs.get("diskEncryptionSetID"))
        if des is not None and identity is not None:
            out += _granted(ctx, c, identity, arm.READERS, arm.arm_id(ctx, des), f"disk encryption set {des.name} (its OS disks)", policy, DISK_SET)
    for rel, doc in ctx.objects("StorageClass"):
        params = {str(k).lower(): v for k, v in (doc.get("parameters") or {}).items()}
        des = arm.resolve(ctx, params.get("diskencryptionsetid"))
        if des is None or len(clusters) != 1:
            continue
        c = clusters[0]
        identity = arm.identity_of(ctx, c)
        if identity is None:
            continue
        if not arm.grants(ctx, identity, arm.CONTRIBUTORS, arm.arm_id(ctx, des)):
            name = (doc.get("metadata") or {}).get("name", rel)
            out.append(
                finding(
                    policy,
                    f"StorageClass {name} ({rel}): encrypts data disks with {des.name}, and the cluster identity {label(identity)} has no Contributor on it: "
                    "AKS cannot create the volumes. Fix: assign Contributor to the cluster identity on the disk encryption set "
                    "(azure-disk-customer-managed-keys.md, 'Encrypt your AKS cluster data disk').",
                    urn=ctx.urns.get(rel, ""),
                    resource=f"{name} (StorageClass)",
                    file=rel,
                    description=DISK_SET,
                )
            )
    return out


def check(ctx: Context) -> list[Finding]:
    if ctx.spec.get("cloud") != "azure":
        return []
    return private_vault_kms(ctx) + zone_redundant_postgres(ctx) + encrypted_disks(ctx)
