"""Deployer reachability: from the network the spec names for `pulumi up` (and the image builds that
push), the cluster's API server and the registry's push endpoint are reachable and resolvable.

The API server of every cloud cluster here is private, and so is the Azure registry: a deployer the
spec does not name, or one its security rules or DNS leave out, stops the first `up` at the first
Kubernetes resource (or the first image push).

AWS (`cluster.deployer`: `cidrs` or the runner's `security_group_id`): the EKS private endpoint
admits what the cluster security group admits on 443 ("your Amazon EKS control plane security
group contains rules to allow ingress traffic on port 443 from your connected network"), and "the
cluster's API server endpoint is resolved by public DNS servers to a private IP address from the
VPC" (checked: docs.aws.amazon.com eks/latest/userguide/cluster-endpoint.html), which needs the
VPC's DNS support and hostnames. ECR is pushed to over its regional endpoint; a deployer inside the
VPC uses the ecr.api / ecr.dkr interface endpoints when their private DNS is on, so their security
groups must admit it on 443.

Azure (`azure.deployer`: `vnet_id`, `cidrs`, `peer`): the deployer's VNet is peered with the
platform's both ways (or connected already: `peer: false`); the API server (API Server VNet
Integration: an internal load balancer in its delegated subnet; else a private endpoint in the node
subnet) and the registry's private endpoint admit the deployer's CIDRs on 443 through the NSGs that
filter them (azure_nsg.py); and the private DNS zones resolving them (the cluster's
`<…>.privatelink.<region>.azmk8s.io`, `privatelink.azurecr.io`) are linked to the deployer's VNet
(AKS: "If public network access is disabled, you should follow the same private DNS setup
methodology as standard private clusters", MicrosoftDocs/azure-aks-docs articles/aks/api-server-vnet-integration.md).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sahab.gate.deployability import azure_arm as arm
from sahab.gate.deployability import azure_nsg as nsg
from sahab.gate.deployability.context import Context, finding
from sahab.gate.deployability.plan_graph import label
from sahab.gate.model import Finding

API, REGISTRY, NAMED = "deployer-api-server", "deployer-registry-push", "deployer-named"
DESCRIPTION = {
    API: "The deployer's network reaches and resolves the private API server.",
    REGISTRY: "The deployer's network reaches and resolves the registry's push endpoint.",
    NAMED: "A private cluster's spec names where `pulumi up` runs.",
}


def _f(policy: str, r: Any, wrong: str, fix: str) -> Finding:
    return finding(policy, f"{label(r)}: {wrong}. Fix: {fix}.", urn=r.urn, resource=label(r), description=DESCRIPTION[policy])


# --- AWS ----------------------------------------------------------------------------------------------


def _port_ok(rule: dict[str, Any], port: int) -> bool:
    proto = str(rule.get("ipProtocol") or rule.get("protocol") or "")
    if proto in ("-1", "all"):
        return True
    return proto.lower() in ("tcp", "6") and int(rule.get("fromPort", -1)) <= port <= int(rule.get("toPort", -1))


def _cidr_in(cidr: str, blocks: list[str]) -> bool:
    net = ipaddress.ip_network(cidr, strict=False)
    for b in blocks:
        try:
            if net.subnet_of(ipaddress.ip_network(b, strict=False)):  # type: ignore[arg-type]  # both IPv4 here
                return True
        except (ValueError, TypeError):
            continue
    return False


def _sg_admits(ctx: Context, sg_ids: set[str], sg_resources: list[Any], source: str, port: int) -> bool:
    """Whether the security groups (by id, and the plan's SecurityGroup resources among them) admit
    `source` (a CIDR, or `sg-…`) on TCP `port`."""
    rules: list[tuple[list[str], list[str]]] = []  # (cidrs, source groups) of each ingress rule on `port`
    for r in ctx.resources("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        if r.inputs.get("securityGroupId") in sg_ids and _port_ok(r.inputs, port):
            rules.append(
                (
                    [r.inputs["cidrIpv4"]] if r.inputs.get("cidrIpv4") else [],
                    [r.inputs["referencedSecurityGroupId"]] if r.inputs.get("referencedSecurityGroupId") else [],
                )
            )
    for r in ctx.resources("aws:ec2/securityGroupRule:SecurityGroupRule"):
        if r.inputs.get("type") == "ingress" and r.inputs.get("securityGroupId") in sg_ids and _port_ok(r.inputs, port):
            rules.append((list(r.inputs.get("cidrBlocks") or []), [r.inputs["sourceSecurityGroupId"]] if r.inputs.get("sourceSecurityGroupId") else []))
    for sg in sg_resources:
        for rule in sg.inputs.get("ingress") or []:
            if _port_ok(rule, port):
                rules.append((list(rule.get("cidrBlocks") or []), list(rule.get("securityGroups") or [])))
    if source.startswith("sg-"):
        return any(source in groups for _, groups in rules)
    return any(_cidr_in(source, cidrs) for cidrs, _ in rules)


def _aws(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    deployer = (ctx.spec.get("cluster") or {}).get("deployer") or {}
    sources = [str(c) for c in deployer.get("cidrs") or []] + ([str(deployer["security_group_id"])] if deployer.get("security_group_id") else [])
    for cluster in ctx.resources("aws:eks/cluster:Cluster"):
        vpc_config = cluster.inputs.get("vpcConfig") or {}
        if vpc_config.get("endpointPublicAccess", True) and not vpc_config.get("publicAccessCidrs"):
            continue  # a public endpoint open to all: reachable from anywhere
        if not sources:
            out.append(
                _f(
                    NAMED,
                    cluster,
                    "the API server is private and the spec names no deployer network, so nothing shows `pulumi up` can reach it",
                    "set cluster.deployer (role_arn, and cidrs or security_group_id of where `pulumi up` runs)",
                )
            )
            continue
        sg_ids = {str(s) for s in vpc_config.get("securityGroupIds") or []}
        sg_ids.add(str(arm.get(cluster.outputs or {}, "vpcConfig.clusterSecurityGroupId") or ""))
        deps = set(cluster.options.get("dependsOn") or [])
        own = [r for r in ctx.resources("aws:ec2/securityGroup:SecurityGroup") if r.urn in deps]
        for source in sources:
            if not _sg_admits(ctx, sg_ids, own, source, 443):
                out.append(
                    _f(
                        API,
                        cluster,
                        f"the deployer ({source}) is not admitted on TCP 443 by the cluster security group ({', '.join(sorted(s for s in sg_ids if s))})",
                        "add an ingress rule for the deployer on 443 to the cluster security group (cluster.deployer feeds it)",
                    )
                )
        for vpc in ctx.resources("aws:ec2/vpc:Vpc"):
            if vpc.inputs.get("enableDnsSupport") is False or not vpc.inputs.get("enableDnsHostnames"):
                out.append(
                    _f(
                        API,
                        vpc,
                        "the private API endpoint resolves only in a VPC with DNS support and DNS hostnames on",
                        "set enableDnsSupport and enableDnsHostnames",
                    )
                )
    # Inside the VPC, ECR's private-DNS interface endpoints carry the push: they must admit the deployer.
    vpcs = [str(v.inputs.get("cidrBlock")) for v in ctx.resources("aws:ec2/vpc:Vpc") if v.inputs.get("cidrBlock")]
    inside = [s for s in sources if s.startswith("sg-") or _cidr_in(s, vpcs)]
    if ctx.resources("aws:ecr/repository:Repository"):
        for ep in ctx.resources("aws:ec2/vpcEndpoint:VpcEndpoint"):
            service = str(ep.inputs.get("serviceName", ""))
            if not service.endswith((".ecr.api", ".ecr.dkr")) or not ep.inputs.get("privateDnsEnabled"):
                continue
            deps = set(ep.options.get("dependsOn") or [])
            groups = [r for r in ctx.resources("aws:ec2/securityGroup:SecurityGroup") if r.urn in deps]
            for source in inside:
                if not _sg_admits(ctx, set(ep.inputs.get("securityGroupIds") or []), groups, source, 443):
                    out.append(
                        _f(
                            REGISTRY,
                            ep,
                            f"the deployer ({source}) runs inside the VPC, where {service} resolves to this endpoint, and its security group does not admit it on 443",
                            "admit the deployer's CIDR or security group on 443 in the endpoints' security group",
                        )
                    )
    return out


# --- Azure --------------------------------------------------------------------------------------------


def _linked(ctx: Context, zone_suffix: str, vnet_id: str) -> bool:
    """Whether a private DNS zone ending in `zone_suffix` is linked to the VNet `vnet_id`."""
    for link in ctx.resources("azure-native:privatedns:VirtualNetworkLink"):
        zone = str(link.inputs.get("privateZoneName") or "").lower()
        target = str(arm.get(link.inputs, "virtualNetwork.id") or "")
        if zone and zone_suffix.lower().endswith(zone) and target.lower() == vnet_id.lower():
            return True
    return False


def _peered(ctx: Context, platform_vnet: Any, vnet_id: str) -> bool:
    """Both directions of a peering between the platform's VNet and `vnet_id` are in the plan."""
    mine = arm.arm_id(ctx, platform_vnet).lower()
    peerings = ctx.resources("azure-native:network:VirtualNetworkPeering")
    there = any(
        p.inputs.get("virtualNetworkName") == platform_vnet.inputs.get("virtualNetworkName")
        and str(arm.get(p.inputs, "remoteVirtualNetwork.id") or "").lower() == vnet_id.lower()
        for p in peerings
    )
    back = any(
        str(arm.get(p.inputs, "remoteVirtualNetwork.id") or "").lower() == mine
        and vnet_id.lower().endswith(f"/virtualnetworks/{str(p.inputs.get('virtualNetworkName', '')).lower()}")
        for p in peerings
    )
    return there and back


def _azure(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    deployer = (ctx.spec.get("azure") or {}).get("deployer") or {}
    vnet_id, cidrs = str(deployer.get("vnet_id") or ""), [str(c) for c in deployer.get("cidrs") or []]
    clusters = [c for c in ctx.resources("azure-native:containerservice:ManagedCluster") if arm.get(c.inputs, "apiServerAccessProfile.enablePrivateCluster")]
    registries = [r for r in ctx.resources("azure-native:containerregistry:Registry") if r.inputs.get("publicNetworkAccess") == "Disabled"]
    if not (vnet_id and cidrs):
        for r in (clusters or registries)[:1]:
            out.append(
                _f(
                    NAMED,
                    r,
                    "the API server and the registry are private and the spec names no deployer network (azure.deployer), so nothing shows "
                    "`pulumi up` can reach the API server or push images to the registry",
                    "set azure.deployer (vnet_id and cidrs of where `pulumi up` and the image builds run; peer: false where the VNets are connected already)",
                )
            )
        return out
    vnets = {arm.arm_id(ctx, v).lower(): v for v in ctx.resources("azure-native:network:VirtualNetwork")}
    inside = vnet_id.lower() in vnets
    for cluster in clusters:
        access = cluster.inputs.get("apiServerAccessProfile") or {}
        node = next((s for s in (arm.resolve(ctx, p.get("vnetSubnetID")) for p in cluster.inputs.get("agentPoolProfiles") or []) if s is not None), None)
        platform_vnet = next(
            (v for v in vnets.values() if node is not None and v.inputs.get("virtualNetworkName") == node.inputs.get("virtualNetworkName")), None
        )
        if not inside and deployer.get("peer", True) and platform_vnet is not None and not _peered(ctx, platform_vnet, vnet_id):
            out.append(
                _f(
                    API,
                    cluster,
                    f"the deployer's VNet {vnet_id} is not peered with {platform_vnet.name} both ways, so no packet reaches the private API server",
                    "peer the two VNets in both directions (azure.deployer.peer)",
                )
            )
        # Reach: the API server's subnet filters it (VNet Integration), or the node subnet filters its private endpoint.
        if access.get("enableVnetIntegration"):
            subnet, filtered = arm.resolve(ctx, access.get("subnetId")), True
        else:
            subnet = node
            filtered = node is not None and nsg.filters_private_endpoints(node)
        if subnet is not None and filtered:
            for cidr in cidrs:
                flow = nsg.Flow(cidr, nsg.subnet_prefix(subnet), 443)
                ok, why = nsg.through(ctx, subnet, "Inbound", flow, tuple(cidrs))
                if not ok:
                    out.append(
                        _f(API, cluster, f"the deployer cannot reach the API server: {flow} is denied ({why})", f"allow {flow} in that NSG, before any deny")
                    )
        # Resolve: a public FQDN, the deployer inside the VNet, or the cluster's zone linked to its VNet.
        zone = str((cluster.outputs or {}).get("privateFQDN") or "").split(".", 1)[-1]
        public = access.get("enablePrivateClusterPublicFQDN") or access.get("privateDNSZone") == "none"
        if not (public or inside or (zone and _linked(ctx, zone, vnet_id))):
            out.append(
                _f(
                    API,
                    cluster,
                    f"the deployer's VNet is not linked to the API server's private DNS zone ({zone or 'privatelink.<region>.azmk8s.io'}), "
                    "so `pulumi up` cannot resolve the private API server",
                    "link the deployer's VNet to that zone (a privatedns VirtualNetworkLink in the node resource group)",
                )
            )
    return out + _azure_registry(ctx, registries, vnet_id, cidrs, inside)


def _azure_registry(ctx: Context, registries: list[Any], vnet_id: str, cidrs: list[str], inside: bool) -> list[Finding]:
    """A registry with public access off is pushed to through its private endpoint only."""
    out: list[Finding] = []
    for reg in registries:
        reg_id = arm.arm_id(ctx, reg).lower()
        pes = [
            p
            for p in ctx.resources("azure-native:network:PrivateEndpoint")
            if any(str(c.get("privateLinkServiceId", "")).lower() == reg_id for c in p.inputs.get("privateLinkServiceConnections") or [])
        ]
        if not pes:
            out.append(
                _f(
                    REGISTRY,
                    reg,
                    "public network access is off and the registry has no private endpoint: nothing can push to it",
                    "give it a private endpoint reachable from the deployer",
                )
            )
            continue
        for pe in pes:
            subnet = arm.resolve(ctx, arm.get(pe.inputs, "subnet.id"))
            if subnet is not None and nsg.filters_private_endpoints(subnet):
                for cidr in cidrs:
                    flow = nsg.Flow(cidr, nsg.subnet_prefix(subnet), 443)
                    ok, why = nsg.through(ctx, subnet, "Inbound", flow, tuple(cidrs))
                    if not ok:
                        out.append(
                            _f(
                                REGISTRY,
                                reg,
                                f"the deployer cannot push: {flow} to its private endpoint {pe.name} is denied ({why})",
                                f"allow {flow} in that NSG, before any deny",
                            )
                        )
        if not inside and not _linked(ctx, "privatelink.azurecr.io", vnet_id):
            out.append(
                _f(
                    REGISTRY,
                    reg,
                    "the deployer's VNet is not linked to the private DNS zone privatelink.azurecr.io, so the registry resolves to its public address, where access is off",
                    "link the deployer's VNet to privatelink.azurecr.io",
                )
            )
    return out


def check(ctx: Context) -> list[Finding]:
    cloud = ctx.spec.get("cloud")
    if cloud == "aws":
        return _aws(ctx)
    if cloud == "azure":
        return _azure(ctx)
    return []
