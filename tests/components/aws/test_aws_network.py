"""Network on its own: a VPC over the zones with per-zone node, data and public subnets (no public IPs
on launch), the default security group emptied, the internet reachable only from public subnets
(IGW) and node subnets (through a NAT in their zone), data subnets with no route out at all, S3 and
interface endpoints (ecr.api, ecr.dkr, sts, kms, logs, eks-auth) with private DNS in the node
subnets behind a 443-from-the-VPC group, and flow logs of all traffic to a KMS-encrypted group."""

from __future__ import annotations

import pytest

from components.aws.network import INTERFACE_ENDPOINTS, Network, NetworkArgs, plan_subnets
from sahab.engine.offline import PlannedResource
from tests.components.component_helpers import ACCOUNT_ID, REGION, Built, build, expect, policy, prop, refused, statements

LOGS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/logs"
ZONES = (f"{REGION}a", f"{REGION}b", f"{REGION}c")
CIDR = "10.40.0.0/16"
ROUTE, RTA = "aws:ec2/route:Route", "aws:ec2/routeTableAssociation:RouteTableAssociation"


def _args(**over) -> NetworkArgs:
    return NetworkArgs(**{**dict(cidr=CIDR, availability_zones=ZONES, region=REGION, logs_key_arn=LOGS_KEY, cluster_name="sahab-eks"), **over})


@pytest.fixture(scope="module")
def net() -> Built:
    return build(lambda: Network("n", _args()))


def _subnet_ids(net: Built, tier: str) -> list[str]:
    return [net.id_of(net.child(f"n-{tier}-{z[-1]}", "aws:ec2/subnet:Subnet")) for z in ZONES]


def _routes_of(net: Built, table: PlannedResource) -> list[PlannedResource]:
    return [r for r in net.of_type(ROUTE) if prop(r, "routeTableId") == net.id_of(table)]


def _table_of(net: Built, subnet_id: str) -> PlannedResource:
    (rta,) = [a for a in net.of_type(RTA) if prop(a, "subnetId") == subnet_id]
    (table,) = [t for t in net.of_type("aws:ec2/routeTable:RouteTable") if net.id_of(t) == prop(rta, "routeTableId")]
    return table


def test_vpc_and_default_security_group(net: Built):
    vpc = net.child("n-vpc", "aws:ec2/vpc:Vpc")
    expect(vpc, "cidrBlock", CIDR)
    expect(vpc, "enableDnsSupport", True)
    expect(vpc, "enableDnsHostnames", True)
    default = net.child("n-default-sg", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    expect(default, "vpcId", net.id_of(vpc))
    expect(default, "ingress", [])
    expect(default, "egress", [])


def test_subnets_follow_the_plan_and_never_map_public_ips(net: Built):
    plan = plan_subnets(CIDR, len(ZONES))
    for tier, cidrs in plan.items():
        for zone, cidr in zip(ZONES, cidrs, strict=True):
            subnet = net.child(f"n-{tier}-{zone[-1]}", "aws:ec2/subnet:Subnet")
            expect(subnet, "cidrBlock", cidr)
            expect(subnet, "availabilityZone", zone)
            expect(subnet, "mapPublicIpOnLaunch", False)
            tags = prop(subnet, "tags")
            assert tags["sahab.ae/tier"] == tier, f"{subnet.urn}: tags sahab.ae/tier {tags}"
            assert ("kubernetes.io/cluster/sahab-eks" in tags) == (tier != "data"), f"{subnet.urn}: tags {tags} (data subnets are not the cluster's)"
            elb = {"public": "kubernetes.io/role/elb", "nodes": "kubernetes.io/role/internal-elb"}.get(tier)
            assert [k for k in tags if k.startswith("kubernetes.io/role/")] == ([elb] if elb else []), f"{subnet.urn}: tags load balancer role {tags}"
    assert len(net.of_type("aws:ec2/subnet:Subnet")) == 9, f"{net.urn}: subnets {[s.name for s in net.of_type('aws:ec2/subnet:Subnet')]}"


def test_only_the_public_route_table_reaches_the_internet_gateway(net: Built):
    igw = net.id_of(net.child("n-igw", "aws:ec2/internetGateway:InternetGateway"))
    to_igw = [r for r in net.of_type(ROUTE) if prop(r, "gatewayId", None) == igw]
    assert [r.name for r in to_igw] == ["n-public-default"], f"{net.urn}: routes to the internet gateway {[r.name for r in to_igw]}"
    public_rt = net.child("n-public-rt", "aws:ec2/routeTable:RouteTable")
    expect(to_igw[0], "routeTableId", net.id_of(public_rt))
    expect(to_igw[0], "destinationCidrBlock", "0.0.0.0/0")
    for subnet_id in _subnet_ids(net, "public"):
        assert _table_of(net, subnet_id).name == "n-public-rt", f"{net.urn}: public subnet {subnet_id} is not on n-public-rt"


def test_node_subnets_leave_through_the_nat_of_their_zone(net: Built):
    public = dict(zip(ZONES, _subnet_ids(net, "public"), strict=True))
    for zone, subnet_id in zip(ZONES, _subnet_ids(net, "nodes"), strict=True):
        table = _table_of(net, subnet_id)
        (route,) = _routes_of(net, table)
        nat = next(n for n in net.of_type("aws:ec2/natGateway:NatGateway") if net.id_of(n) == prop(route, "natGatewayId", None))
        expect(route, "destinationCidrBlock", "0.0.0.0/0")
        expect(nat, "subnetId", public[zone])


def test_data_subnets_have_no_route_out(net: Built):
    data_rt = net.child("n-data-rt", "aws:ec2/routeTable:RouteTable")
    assert _routes_of(net, data_rt) == [], f"{data_rt.urn}: routes {[r.name for r in _routes_of(net, data_rt)]} (data subnets need none)"
    for subnet_id in _subnet_ids(net, "data"):
        assert _table_of(net, subnet_id).name == "n-data-rt", f"{net.urn}: data subnet {subnet_id} is not on n-data-rt"


def test_aws_apis_are_reached_through_private_endpoints(net: Built):
    s3 = net.child("n-s3", "aws:ec2/vpcEndpoint:VpcEndpoint")
    expect(s3, "serviceName", f"com.amazonaws.{REGION}.s3")
    expect(s3, "vpcEndpointType", "Gateway")
    node_tables = sorted(net.id_of(_table_of(net, s)) for s in _subnet_ids(net, "nodes"))
    assert sorted(prop(s3, "routeTableIds")) == node_tables, f"{s3.urn}: routeTableIds {prop(s3, 'routeTableIds')}, expected the node route tables"
    sg = net.child("n-endpoints-sg", "aws:ec2/securityGroup:SecurityGroup")
    ingress = prop(sg, "ingress")
    assert [(r["protocol"], r["fromPort"], r["toPort"], r["cidrBlocks"]) for r in ingress] == [("tcp", 443, 443, [CIDR])], f"{sg.urn}: ingress {ingress}"
    expect(sg, "egress", [])
    interface = [e for e in net.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if prop(e, "vpcEndpointType") == "Interface"]
    assert sorted(prop(e, "serviceName") for e in interface) == sorted(f"com.amazonaws.{REGION}.{s}" for s in INTERFACE_ENDPOINTS), (
        f"{net.urn}: interface endpoints {[prop(e, 'serviceName') for e in interface]}"
    )
    for endpoint in interface:
        expect(endpoint, "privateDnsEnabled", True)
        expect(endpoint, "subnetIds", _subnet_ids(net, "nodes"))
        expect(endpoint, "securityGroupIds", [net.id_of(sg)])


def test_flow_logs_record_all_traffic_to_a_kms_group(net: Built):
    group = net.child("n-flow-logs", "aws:cloudwatch/logGroup:LogGroup")
    expect(group, "kmsKeyId", LOGS_KEY)
    expect(group, "retentionInDays", 365)
    flow = net.child("n-flow-log", "aws:ec2/flowLog:FlowLog")
    expect(flow, "vpcId", net.id_of(net.child("n-vpc")))
    expect(flow, "trafficType", "ALL")
    expect(flow, "logDestinationType", "cloud-watch-logs")
    expect(flow, "logDestination", group.outputs["arn"])
    role = net.child("n-flow-logs-role", "aws:iam/role:Role")
    expect(flow, "iamRoleArn", role.outputs["arn"])
    principals = [s["Principal"] for s in policy(role, "assumeRolePolicy")["Statement"]]
    assert principals == [{"Service": ["vpc-flow-logs.amazonaws.com"]}], f"{role.urn}: assumeRolePolicy trusts {principals}"
    write = statements(net.child("n-flow-logs-write"))["WriteFlowLogs"]
    assert write["Resource"] == [group.outputs["arn"], group.outputs["arn"] + ":*"], f"n-flow-logs-write: policy WriteFlowLogs reaches {write['Resource']}"


def test_nat_per_zone_or_single(net: Built):
    assert len(net.of_type("aws:ec2/natGateway:NatGateway")) == len(ZONES), (
        f"{net.urn}: NAT gateways {[n.name for n in net.of_type('aws:ec2/natGateway:NatGateway')]}"
    )
    single = build(lambda: Network("s", _args(nat="single")))
    (nat,) = single.of_type("aws:ec2/natGateway:NatGateway")
    routes = [r for r in single.of_type(ROUTE) if prop(r, "natGatewayId", None) is not None]
    assert len(routes) == len(ZONES) and all(prop(r, "natGatewayId") == single.id_of(nat) for r in routes), (
        f"{single.urn}: node routes {[(r.name, prop(r, 'natGatewayId')) for r in routes]} do not all use {nat.urn}"
    )


def test_four_zones_are_refused_before_any_resource():
    refusal = refused(lambda: Network("n", _args(availability_zones=(*ZONES, f"{REGION}d"))))
    assert refusal.message.startswith("availability_zones:"), f"Network: message {refusal.message!r} does not name availability_zones"
    assert not refusal.children, f"Network registered {[r.urn for r in refusal.children]} before refusing availability_zones"
