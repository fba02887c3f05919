"""Deployer reachability (sahab/gate/deployability/deployer.py): from the network the spec names for
`pulumi up`, the private API server and the registry's push endpoint are reachable and resolvable.
Broken variants of uae-central (EKS) and uae-north (AKS)."""

from __future__ import annotations

import pytest
from deploy_helpers import messages, one, remove

from sahab.gate.deployability import azure_arm, deployer
from sahab.gate.model import MANDATORY

INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
CLUSTER = "azure-native:containerservice:ManagedCluster"
LINK = "azure-native:privatedns:VirtualNetworkLink"
PEERING = "azure-native:network:VirtualNetworkPeering"
NSG = "azure-native:network:NetworkSecurityGroup"
API, REGISTRY, NAMED = deployer.API, deployer.REGISTRY, deployer.NAMED


def _deployer_vnet(ctx):
    return ctx.spec["azure"]["deployer"]["vnet_id"]


def _nsg_of(ctx, subnet_ref):
    subnet = one(ctx, "azure-native:network:Subnet", lambda r: azure_arm.arm_id(ctx, r).lower() == str(subnet_ref).lower())
    return one(ctx, NSG, lambda r: azure_arm.arm_id(ctx, r).lower() == subnet.inputs["networkSecurityGroup"]["id"].lower())


def _drop_deployer_rules(nsg):
    before = len(nsg.inputs["securityRules"])
    nsg.inputs["securityRules"] = [r for r in nsg.inputs["securityRules"] if "deployer" not in r["name"]]
    assert len(nsg.inputs["securityRules"]) < before, f"{nsg.name}: the shipped NSG admits the deployer by a rule named allow-deployer-*"


@pytest.mark.parametrize("ctx_name", ["uae_ctx", "smb_ctx", "onprem_ctx", "north_ctx"])
def test_shipped_environments_pass(ctx_name, request):
    ctx = request.getfixturevalue(ctx_name)
    found = [f.message for f in deployer.check(ctx) if f.enforcement == MANDATORY]
    assert found == [], f"{ctx_name}: " + "\n".join(found)


# --- AWS: uae-central ------------------------------------------------------------------------------


def test_aws_private_cluster_without_a_deployer_fails(uae_ctx):
    uae_ctx.spec["cluster"].pop("deployer")
    found = messages(deployer.check(uae_ctx), NAMED)
    assert len(found) == 1 and "names no deployer network" in found[0] and "Fix: set cluster.deployer" in found[0], found


def test_aws_deployer_not_admitted_on_443_fails(uae_ctx):
    rule = one(uae_ctx, INGRESS, lambda r: r.inputs.get("fromPort") == 443)
    rule.inputs["cidrIpv4"] = "10.98.0.0/24"
    found = messages(deployer.check(uae_ctx), API)
    cidr = uae_ctx.spec["cluster"]["deployer"]["cidrs"][0]
    assert len(found) == 1 and f"the deployer ({cidr}) is not admitted on TCP 443" in found[0] and "cluster security group" in found[0], found


def test_aws_deployer_rule_on_another_port_fails(uae_ctx):
    rule = one(uae_ctx, INGRESS, lambda r: r.inputs.get("fromPort") == 443)
    rule.inputs["fromPort"] = rule.inputs["toPort"] = 22
    assert messages(deployer.check(uae_ctx), API), "a rule on 22 does not admit the deployer on 443"


def test_aws_vpc_without_dns_hostnames_fails(uae_ctx):
    vpc = one(uae_ctx, "aws:ec2/vpc:Vpc")
    vpc.inputs["enableDnsHostnames"] = False
    found = messages(deployer.check(uae_ctx), API)
    assert len(found) == 1 and vpc.name in found[0] and "DNS hostnames" in found[0], found


def test_aws_deployer_inside_the_vpc_needs_the_ecr_endpoints(uae_ctx):
    runner = "sg-0123456789abcdef0"
    uae_ctx.spec["cluster"]["deployer"] = {"role_arn": uae_ctx.spec["cluster"]["deployer"]["role_arn"], "security_group_id": runner}
    rule = one(uae_ctx, INGRESS, lambda r: r.inputs.get("fromPort") == 443)
    rule.inputs.pop("cidrIpv4")
    rule.inputs["referencedSecurityGroupId"] = runner
    found = messages(deployer.check(uae_ctx), REGISTRY)
    assert messages(deployer.check(uae_ctx), API) == [], "the cluster security group admits the runner's group"
    assert {m.split(" (")[0] for m in found} >= {"uae-central-net-ecr-api", "uae-central-net-ecr-dkr"}, found
    assert all(runner in m and "does not admit it on 443" in m for m in found), found


def test_aws_public_endpoint_open_to_all_needs_no_deployer(uae_ctx):
    uae_ctx.spec["cluster"].pop("deployer")
    one(uae_ctx, "aws:eks/cluster:Cluster").inputs["vpcConfig"]["endpointPublicAccess"] = True
    assert messages(deployer.check(uae_ctx), NAMED) == [], "a public endpoint open to all is reachable from anywhere"


# --- Azure: uae-north ------------------------------------------------------------------------------


def test_azure_private_cluster_without_a_deployer_fails(north_ctx):
    north_ctx.spec["azure"].pop("deployer")
    found = messages(deployer.check(north_ctx), NAMED)
    assert len(found) == 1 and "azure.deployer" in found[0] and "push images to the registry" in found[0], found


def test_azure_one_way_peering_fails(north_ctx):
    vnet = _deployer_vnet(north_ctx)
    remove(north_ctx, one(north_ctx, PEERING, lambda r: str(r.inputs.get("remoteVirtualNetwork", {}).get("id", "")).lower() != vnet.lower()))
    found = messages(deployer.check(north_ctx), API)
    assert len(found) == 1 and "is not peered" in found[0] and "both ways" in found[0], found


def test_azure_peering_not_required_when_connected_already(north_ctx):
    for p in north_ctx.resources(PEERING):
        remove(north_ctx, p)
    north_ctx.spec["azure"]["deployer"]["peer"] = False
    assert messages(deployer.check(north_ctx), API) == [], "peer: false says the VNets are connected already (a hub)"


def test_azure_api_server_zone_not_linked_to_the_deployer_fails(north_ctx):
    vnet = _deployer_vnet(north_ctx)
    remove(north_ctx, one(north_ctx, LINK, lambda r: "azmk8s.io" in str(r.inputs.get("privateZoneName")) and r.inputs["virtualNetwork"]["id"] == vnet))
    found = messages(deployer.check(north_ctx), API)
    assert len(found) == 1 and "not linked to the API server's private DNS zone" in found[0] and "privatelink.uaenorth.azmk8s.io" in found[0], found


def test_azure_public_fqdn_resolves_without_a_link(north_ctx):
    vnet = _deployer_vnet(north_ctx)
    remove(north_ctx, one(north_ctx, LINK, lambda r: "azmk8s.io" in str(r.inputs.get("privateZoneName")) and r.inputs["virtualNetwork"]["id"] == vnet))
    one(north_ctx, CLUSTER).inputs["apiServerAccessProfile"]["enablePrivateClusterPublicFQDN"] = True
    assert messages(deployer.check(north_ctx), API) == [], "the public FQDN of a private cluster resolves to its private address"


def test_azure_api_server_nsg_without_the_deployer_fails(north_ctx):
    cluster = one(north_ctx, CLUSTER)
    _drop_deployer_rules(_nsg_of(north_ctx, cluster.inputs["apiServerAccessProfile"]["subnetId"]))
    found = messages(deployer.check(north_ctx), API)
    cidr = north_ctx.spec["azure"]["deployer"]["cidrs"][0]
    assert len(found) == 1 and f"TCP 443 from {cidr}" in found[0] and "the deployer cannot reach the API server" in found[0], found


def test_azure_registry_endpoint_nsg_without_the_deployer_fails(north_ctx):
    registry = one(north_ctx, "azure-native:containerregistry:Registry")
    endpoint = one(
        north_ctx,
        "azure-native:network:PrivateEndpoint",
        lambda r: any(azure_arm.arm_id(north_ctx, registry).lower() == c["privateLinkServiceId"].lower() for c in r.inputs["privateLinkServiceConnections"]),
    )
    _drop_deployer_rules(_nsg_of(north_ctx, endpoint.inputs["subnet"]["id"]))
    found = messages(deployer.check(north_ctx), REGISTRY)
    assert len(found) == 1 and registry.name in found[0] and "the deployer cannot push" in found[0] and endpoint.name in found[0], found


def test_azure_registry_zone_not_linked_to_the_deployer_fails(north_ctx):
    vnet = _deployer_vnet(north_ctx)
    remove(north_ctx, one(north_ctx, LINK, lambda r: r.inputs.get("privateZoneName") == "privatelink.azurecr.io" and r.inputs["virtualNetwork"]["id"] == vnet))
    found = messages(deployer.check(north_ctx), REGISTRY)
    assert len(found) == 1 and "privatelink.azurecr.io" in found[0] and "public address, where access is off" in found[0], found
