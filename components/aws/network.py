"""The VPC: private subnets for nodes and data services, public ones only for NAT and load
balancers, VPC endpoints so AWS API traffic stays private and in-region, and flow logs."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.aws._policy import allow, document, service_trust

# Interface endpoints nodes need to pull images, get credentials and ship logs without the internet.
# eks-auth serves EKS Pod Identity, which the workload roles use.
INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts", "kms", "logs", "eks-auth")


@dataclass(frozen=True)
class NetworkArgs:
    cidr: str
    """VPC CIDR, private, /16 to /20."""
    availability_zones: tuple[str, ...]
    """Zones to spread over (2 or 3)."""
    region: str
    """Region of the VPC (for endpoint service names)."""
    logs_key_arn: pulumi.Input[str]
    """KMS key for the flow-log group."""
    nat: str = "per-az"
    """`per-az` (a zone failure keeps egress) or `single` (cheaper)."""
    flow_log_retention_days: int = 365
    """Flow-log retention."""
    cluster_name: str | None = None
    """EKS cluster name, for the subnet discovery tags of the load balancer controller."""
    endpoint_services: tuple[str, ...] = field(default=INTERFACE_ENDPOINTS)
    """Interface endpoints to create."""


def plan_subnets(cidr: str, zones: int) -> dict[str, list[str]]:
    """Split the VPC into per-zone `nodes` (1/8 each), `data` (1/64) and `public` (1/256) subnets.

    Deterministic, non-overlapping, and leaves 5/8 of the space free for later tiers.
    """
    net = ipaddress.ip_network(cidr)
    if not isinstance(net, ipaddress.IPv4Network):
        raise ValueError(f"cidr: {cidr} is not an IPv4 range; a VPC's primary range is IPv4 (e.g. 10.40.0.0/16)")
    eighths = list(net.subnets(new_prefix=net.prefixlen + 3))
    data_block, public_block = eighths[zones], eighths[zones + 1]
    return {
        "nodes": [str(s) for s in eighths[:zones]],
        "data": [str(s) for s in list(data_block.subnets(new_prefix=net.prefixlen + 6))[:zones]],
        "public": [str(s) for s in list(public_block.subnets(new_prefix=net.prefixlen + 8))[:zones]],
    }


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    node_subnet_ids: pulumi.Output[list[str]]
    data_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    node_cidrs: list[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:Network", name, None, opts)
        if args.nat not in ("per-az", "single"):
            raise ValueError(f"nat: {args.nat!r} must be 'per-az' or 'single'")
        if not 2 <= len(args.availability_zones) <= 3:
            raise ValueError(f"availability_zones: need 2 or 3, got {len(args.availability_zones)}")
        child = pulumi.ResourceOptions(parent=self)
        zones = args.availability_zones
        plan = plan_subnets(args.cidr, len(zones))
        self.node_cidrs = plan["nodes"]

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.cidr, enable_dns_hostnames=True, enable_dns_support=True, tags={"Name": name}, opts=child)
        # The default security group allows all traffic between its members: strip it of every rule.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], opts=child)

        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"} if args.cluster_name else {}
        subnets: dict[str, list[aws.ec2.Subnet]] = {"nodes": [], "data": [], "public": []}
        for tier, cidrs in plan.items():
            for zone, cidr in zip(zones, cidrs, strict=False):
                role_tag = {"public": {"kubernetes.io/role/elb": "1"}, "nodes": {"kubernetes.io/role/internal-elb": "1"}}.get(tier, {})
                subnets[tier].append(
                    aws.ec2.Subnet(
                        f"{name}-{tier}-{zone[-1]}",
                        vpc_id=vpc.id,
                        cidr_block=cidr,
                        availability_zone=zone,
                        map_public_ip_on_launch=False,
                        tags={"Name": f"{name}-{tier}-{zone}", "sahab.ae/tier": tier, **role_tag, **(cluster_tag if tier != "data" else {})},
                        opts=child,
                    )
                )

        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, opts=child)
        aws.ec2.Route(f"{name}-public-default", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0", gateway_id=igw.id, opts=child)
        for zone, subnet in zip(zones, subnets["public"], strict=False):
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone[-1]}-rta", subnet_id=subnet.id, route_table_id=public_rt.id, opts=child)

        nat_zones = zones if args.nat == "per-az" else zones[:1]
        nats = []
        for zone, subnet in zip(nat_zones, subnets["public"], strict=False):
            eip = aws.ec2.Eip(f"{name}-nat-{zone[-1]}-eip", domain="vpc", opts=child)
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{zone[-1]}", allocation_id=eip.id, subnet_id=subnet.id, opts=pulumi.ResourceOptions(parent=self, depends_on=[igw])
                )
            )

        private_rts = []
        for i, (zone, subnet) in enumerate(zip(zones, subnets["nodes"], strict=False)):
            rt = aws.ec2.RouteTable(f"{name}-nodes-{zone[-1]}-rt", vpc_id=vpc.id, opts=child)
            aws.ec2.Route(
                f"{name}-nodes-{zone[-1]}-default",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[min(i, len(nats) - 1)].id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-nodes-{zone[-1]}-rta", subnet_id=subnet.id, route_table_id=rt.id, opts=child)
            private_rts.append(rt)
        # Data services need no egress at all: their route table has only the local route.
        data_rt = aws.ec2.RouteTable(f"{name}-data-rt", vpc_id=vpc.id, opts=child)
        for zone, subnet in zip(zones, subnets["data"], strict=False):
            aws.ec2.RouteTableAssociation(f"{name}-data-{zone[-1]}-rta", subnet_id=subnet.id, route_table_id=data_rt.id, opts=child)

        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_rts],
            opts=child,
        )
        endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=vpc.id,
            description="HTTPS from inside the VPC to interface endpoints",
            ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": [args.cidr], "description": "HTTPS from the VPC"}],
            egress=[],
            opts=child,
        )
        for service in args.endpoint_services:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in subnets["nodes"]],
                security_group_ids=[endpoint_sg.id],
                opts=child,
            )

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/sahab/{name}/vpc-flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=args.logs_key_arn,
            opts=child,
        )
        flow_role = aws.iam.Role(f"{name}-flow-logs-role", assume_role_policy=service_trust("vpc-flow-logs.amazonaws.com"), opts=child)
        aws.iam.RolePolicy(
            f"{name}-flow-logs-write",
            role=flow_role.id,
            policy=document(
                allow(
                    "WriteFlowLogs",
                    ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    [log_group.arn, pulumi.Output.concat(log_group.arn, ":*")],
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=flow_role.arn,
            max_aggregation_interval=60,
            opts=child,
        )

        self.vpc_id = vpc.id
        self.node_subnet_ids = pulumi.Output.all(*[s.id for s in subnets["nodes"]])
        self.data_subnet_ids = pulumi.Output.all(*[s.id for s in subnets["data"]])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in subnets["public"]])
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "node_subnet_ids": self.node_subnet_ids,
                "data_subnet_ids": self.data_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
            }
        )
