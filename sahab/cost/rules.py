"""What each planned resource is billed for, as charges against the snapshot's price keys.

A rule reads one resource's inputs (engine camelCase, as in plan.json) and returns its charges:
`Charge(item, key, count_min, count_max)` where the count is instances running all month for an
hourly price, GiB for a GiB price, units for a monthly one; `key` may list alternatives (a node
pool of several instance types: the cheapest prices the minimum, the dearest the maximum). A rule
returns `NotPriced(reason)` when the resource is billable but cannot be priced from the plan, and
`COVERED` when another resource's line already holds its cost (a launch template, in its node
group's line). Types in `FREE_TYPES` / `FREE_PREFIXES` are not billed at all; anything else
without a rule is listed as unpriced, never counted as 0.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sahab.cost.snapshot import PriceSnapshot


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    parent: str
    inputs: dict[str, Any]
    custom: bool = True


@dataclass(frozen=True)
class Charge:
    item: str
    key: str | tuple[str, ...]
    count_min: float
    count_max: float
    factor: float = 1.0
    assumption: str | None = None


@dataclass(frozen=True)
class NotPriced:
    reason: str


COVERED: Final = "covered"


@dataclass
class Context:
    cloud: str
    snapshot: PriceSnapshot | None
    children: dict[str, list[Resource]] = field(default_factory=dict)

    def assume(self, name: str) -> float:
        if self.snapshot is None:
            return 0.0
        return self.snapshot.assumption(name)

    def note(self, name: str, text: str) -> str:
        return f"{text} ({name} = {self.assume(name):g})"

    def siblings(self, r: Resource) -> list[Resource]:
        return [s for s in self.children.get(r.parent, []) if s.urn != r.urn]


Rule = Callable[[Resource, Context], "list[Charge] | NotPriced | Literal['covered'] | None"]

# Not billed: identity, routing, configuration of billed resources, in-cluster objects.
FREE_PREFIXES = ("pulumi:providers:", "random:", "tls:", "time:", "aws:iam/", "aws:s3/bucket", "command:")
FREE_TYPES = frozenset(
    {
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/route:Route",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/flowLog:FlowLog",
        "aws:kms/alias:Alias",
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "aws:eks/addon:Addon",
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        "aws:rds/subnetGroup:SubnetGroup",
        "aws:rds/parameterGroup:ParameterGroup",
        "aws:elasticache/subnetGroup:SubnetGroup",
        "aws:elasticache/parameterGroup:ParameterGroup",
        "aws:secretsmanager/secretVersion:SecretVersion",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/eventTarget:EventTarget",
        "aws:sqs/queuePolicy:QueuePolicy",
        "aws:kms/keyPolicy:KeyPolicy",
        # Azure: grouping, identity, wiring and configuration of billed resources.
        "azure-native:resources:ResourceGroup",
        "azure-native:authorization:RoleAssignment",
        "azure-native:compute:DiskEncryptionSet",
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:managedidentity:FederatedIdentityCredential",
        "azure-native:monitor:DiagnosticSetting",
        "azure-native:network:NetworkSecurityGroup",
        "azure-native:network:Subnet",
        "azure-native:network:VirtualNetwork",
        "azure-native:network:PrivateDnsZoneGroup",
        "azure-native:privatedns:VirtualNetworkLink",
        "azure-native:redisenterprise:Database",
        "azure-native:storage:BlobContainer",
        "azure-native:storage:BlobServiceProperties",
        "azure-native:storage:ManagementPolicy",
        "azure-native:dbforpostgresql:Configuration",
        "azure-native:dbforpostgresql:Database",
        "azure-native:dbforpostgresql:FirewallRule",
        # Container Insights' rule and its association: ingestion is billed on the workspace's line.
        "azure-native:monitor:DataCollectionRule",
        "azure-native:monitor:DataCollectionRuleAssociation",
    }
)


def is_free(type_token: str) -> bool:
    """Not billed (asked only for types without a rule)."""
    # In-cluster objects cost nothing themselves; the volumes and load balancers they ask for have rules.
    return type_token in FREE_TYPES or type_token.startswith(FREE_PREFIXES) or type_token.startswith("kubernetes:")


# --- helpers ----------------------------------------------------------------------------------------
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$")
_TO_GIB = {
    "Ki": 2**-20,
    "Mi": 2**-10,
    "Gi": 1,
    "Ti": 2**10,
    "Pi": 2**20,
    "K": 1e3 / 2**30,
    "M": 1e6 / 2**30,
    "G": 1e9 / 2**30,
    "T": 1e12 / 2**30,
    "P": 1e15 / 2**30,
}


def gib(quantity: Any) -> float | None:
    """A Kubernetes storage quantity ('20Gi', '1Ti', '500M') in GiB; None when it is not one."""
    m = _QUANTITY.match(str(quantity).strip())
    if not m:
        return None
    number, suffix = float(m.group(1)), m.group(2)
    return number * _TO_GIB[suffix] if suffix else number / 2**30


def _num(value: Any, default: float = 0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def volume_claims(values: Any, replicas: float = 1) -> Iterator[tuple[str, float, float]]:
    """(path, GiB, copies) of every volume a workload or chart asks for: volumeClaimTemplates,
    `storageSpec`/`storage` claim templates and `persistence: {enabled, size}` blocks; a sibling
    `replicas` multiplies the claims under it."""

    def walk(node: Any, path: str, copies: float) -> Iterator[tuple[str, float, float]]:
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from walk(item, f"{path}[{i}]", copies)
            return
        if not isinstance(node, dict):
            return
        if isinstance(node.get("replicas"), (int, float)) and not isinstance(node.get("replicas"), bool):
            copies = float(node["replicas"])
        size = node.get("size")
        if "enabled" in node and size is not None and node.get("enabled") and gib(size) is not None:
            yield path or "persistence", gib(size) or 0.0, copies
        requests = ((node.get("spec") or {}).get("resources") or {}).get("requests") or {} if isinstance(node.get("spec"), dict) else {}
        if (
            "storage" in requests
            and gib(requests["storage"]) is not None
            and ("accessModes" in node.get("spec", {}) or "storageClassName" in node.get("spec", {}))
        ):
            yield path or "claim", gib(requests["storage"]) or 0.0, copies
            return
        for key, child in node.items():
            yield from walk(child, f"{path}.{key}" if path else key, copies)

    yield from walk(values, "", replicas)


def _volume_charges(claims: Iterable[tuple[str, float, float]], ctx: Context, what: str) -> list[Charge] | NotPriced | None:
    claims = list(claims)
    if not claims:
        return None
    if ctx.cloud == "kubernetes":
        return NotPriced(f"{what}: {sum(g * c for _, g, c in claims):g} GiB on the cluster's own storage class (the customer's disks, not a cloud bill)")
    key = {"aws": "ebs:gp3", "azure": "disk:premium-ssd-gib"}.get(ctx.cloud, "")
    return [Charge(f"volume {path} ({g:g} GiB x {c:g})", key, g * c, g * c) for path, g, c in claims]


# --- AWS -----------------------------------------------------------------------------------------------
def _node_group(r: Resource, ctx: Context) -> list[Charge]:
    scaling = r.inputs.get("scalingConfig") or {}
    lo, hi = _num(scaling.get("minSize")), _num(scaling.get("maxSize"))
    types = tuple(f"ec2:{t}" for t in r.inputs.get("instanceTypes") or ())
    spot = str(r.inputs.get("capacityType", "ON_DEMAND")).upper() == "SPOT"
    factor = 1 - ctx.assume("spot_discount") if spot else 1.0
    label = f"{'spot' if spot else 'on-demand'} nodes {'/'.join(t.split(':', 1)[1] for t in types)} x {lo:g}..{hi:g}"
    charges = [Charge(label, types, lo, hi, factor, ctx.note("spot_discount", "spot price assumed") if spot else None)]
    disk, vtype = _num(r.inputs.get("diskSize")), "gp3"
    for lt in ctx.siblings(r):
        if lt.type == "aws:ec2/launchTemplate:LaunchTemplate":
            for mapping in lt.inputs.get("blockDeviceMappings") or ():
                ebs = mapping.get("ebs") or {}
                disk += _num(ebs.get("volumeSize"))
                vtype = ebs.get("volumeType", vtype)
    if disk:
        charges.append(Charge(f"root volumes {disk:g} GiB per node", f"ebs:{vtype}", disk * lo, disk * hi))
    return charges


def _rds(r: Resource, ctx: Context) -> list[Charge]:
    copies = 2 if r.inputs.get("multiAz") else 1
    cls, storage = r.inputs.get("instanceClass", "?"), _num(r.inputs.get("allocatedStorage"))
    engine = r.inputs.get("engine", "postgres")
    charges = [
        Charge(f"{cls} x {copies} ({'Multi-AZ' if copies == 2 else 'Single-AZ'})", f"rds-{engine}:{cls}", copies, copies),
        Charge(f"storage {storage:g} GiB x {copies}", f"rds-storage:{r.inputs.get('storageType', 'gp2')}", storage * copies, storage * copies),
    ]
    if r.inputs.get("manageMasterUserPassword"):
        charges.append(Charge("RDS-managed master secret", "secretsmanager:secret", 1, 1))
    return charges


def _elasticache(r: Resource, ctx: Context) -> list[Charge]:
    if "numNodeGroups" in r.inputs:
        nodes = _num(r.inputs["numNodeGroups"], 1) * (1 + _num(r.inputs.get("replicasPerNodeGroup")))
    else:
        nodes = _num(r.inputs.get("numCacheClusters"), 1)
    node_type = r.inputs.get("nodeType", "?")
    return [Charge(f"{node_type} x {nodes:g}", f"elasticache:{node_type}", nodes, nodes)]


def _nat(r: Resource, ctx: Context) -> list[Charge]:
    gib_ = ctx.assume("nat_processed_gib")
    return [
        Charge("NAT gateway", "vpc:nat-hour", 1, 1),
        Charge(f"data processed {gib_:g} GiB", "vpc:nat-gib", gib_, gib_, assumption=ctx.note("nat_processed_gib", "GiB per month")),
    ]


def _endpoint(r: Resource, ctx: Context) -> list[Charge] | None:
    if str(r.inputs.get("vpcEndpointType", "Gateway")) != "Interface":
        return None  # gateway endpoints (S3, DynamoDB) are free
    azs = len(r.inputs.get("subnetIds") or ()) or 1
    gib_ = ctx.assume("endpoint_processed_gib")
    service = str(r.inputs.get("serviceName", "")).rsplit(".", 1)[-1]
    return [
        Charge(f"interface endpoint {service} x {azs} AZ", "vpc:endpoint-az-hour", azs, azs),
        Charge(f"data processed {gib_:g} GiB", "vpc:endpoint-gib", gib_, gib_, assumption=ctx.note("endpoint_processed_gib", "GiB per month")),
    ]


def _log_group(r: Resource, ctx: Context) -> list[Charge]:
    g = ctx.assume("log_ingest_gib_per_group")
    note = ctx.note("log_ingest_gib_per_group", "GiB ingested per month, kept a month")
    return [
        Charge(f"ingestion {g:g} GiB", "cloudwatch:logs-ingest-gib", g, g, assumption=note),
        Charge(f"storage {g:g} GiB", "cloudwatch:logs-store-gib", g, g, assumption=note),
    ]


def _trail(r: Resource, ctx: Context) -> list[Charge] | None:
    selectors = r.inputs.get("eventSelectors") or ()
    if not any(s.get("dataResources") for s in selectors if isinstance(s, dict)):
        return None  # the first copy of management events is free
    events = ctx.assume("cloudtrail_data_events")
    return [
        Charge(
            f"S3 data events {events:,.0f}",
            "cloudtrail:data-events-100k",
            events / 1e5,
            events / 1e5,
            assumption=ctx.note("cloudtrail_data_events", "events per month"),
        )
    ]


def _bucket(r: Resource, ctx: Context) -> list[Charge]:
    g = ctx.assume("s3_stored_gib_per_bucket")
    return [Charge(f"S3 Standard {g:g} GiB", "s3:standard-gib", g, g, assumption=ctx.note("s3_stored_gib_per_bucket", "GiB stored"))]


def _repository(r: Resource, ctx: Context) -> list[Charge]:
    g = ctx.assume("ecr_stored_gib_per_repository")
    return [Charge(f"image storage {g:g} GiB", "ecr:gib", g, g, assumption=ctx.note("ecr_stored_gib_per_repository", "GiB stored"))]


def _load_balancer(r: Resource, ctx: Context) -> list[Charge]:
    lcu = ctx.assume("load_balancer_lcu")
    kind = "nlb" if r.inputs.get("loadBalancerType") == "network" else "alb"
    return [
        Charge(f"{kind.upper()}", f"elb:{kind}-hour", 1, 1),
        Charge(f"{lcu:g} LCU", f"elb:{kind}-lcu-hour", lcu, lcu, assumption=ctx.note("load_balancer_lcu", "LCU per hour")),
    ]


def _ebs_volume(r: Resource, ctx: Context) -> list[Charge]:
    size = _num(r.inputs.get("size"))
    return [Charge(f"volume {size:g} GiB", f"ebs:{r.inputs.get('type', 'gp3')}", size, size)]


def _flat(item: str, key: str) -> Rule:
    return lambda r, ctx: [Charge(item, key, 1, 1)]


def _request_priced(what: str) -> Rule:
    return lambda r, ctx: NotPriced(f"{what} is billed per request; the plan cannot know the request volume")


# --- Azure (azure-native) --------------------------------------------------------------------------------
def _vm_pool(item: str, vm: str, lo: float, hi: float, spot: bool, disk: float, ctx: Context) -> list[Charge]:
    factor = 1 - ctx.assume("spot_discount") if spot else 1.0
    charges = [
        Charge(
            f"{'spot' if spot else 'pay-as-you-go'} nodes {vm} x {lo:g}..{hi:g}{item}",
            f"vm:{vm}",
            lo,
            hi,
            factor,
            ctx.note("spot_discount", "spot price assumed") if spot else None,
        )
    ]
    if disk:
        charges.append(Charge(f"OS disks {disk:g} GiB per node", "disk:premium-ssd-gib", disk * lo, disk * hi))
    return charges


def _agent_pool_counts(p: dict[str, Any]) -> tuple[float, float]:
    if p.get("enableAutoScaling"):
        return _num(p.get("minCount")), _num(p.get("maxCount"), _num(p.get("count")))
    return _num(p.get("count"), 1), _num(p.get("count"), 1)


def _aks(r: Resource, ctx: Context) -> list[Charge]:
    tier = str((r.inputs.get("sku") or {}).get("tier", "Free"))
    charges = [Charge(f"AKS {tier} tier control plane", "aks:standard-tier", 1, 1)] if tier in ("Standard", "Premium") else []
    for p in r.inputs.get("agentPoolProfiles") or ():
        lo, hi = _agent_pool_counts(p)
        disk = _num(p.get("osDiskSizeGB"), 128) if p.get("osDiskType", "Managed") == "Managed" else 0
        charges += _vm_pool(f" (pool {p.get('name')})", str(p.get("vmSize")), lo, hi, p.get("scaleSetPriority") == "Spot", disk, ctx)
    return charges


def _agent_pool(r: Resource, ctx: Context) -> list[Charge]:
    i = r.inputs
    lo, hi = _agent_pool_counts(i)
    disk = _num(i.get("osDiskSizeGB"), 128) if i.get("osDiskType", "Managed") == "Managed" else 0
    return _vm_pool("", str(i.get("vmSize")), lo, hi, i.get("scaleSetPriority") == "Spot", disk, ctx)


def _pg_flexible(r: Resource, ctx: Context) -> list[Charge]:
    sku = str((r.inputs.get("sku") or {}).get("name", "?"))
    ha = str((r.inputs.get("highAvailability") or {}).get("mode", "Disabled")) in ("ZoneRedundant", "SameZone")
    copies = 2 if ha else 1
    gib_ = _num((r.inputs.get("storage") or {}).get("storageSizeGB"), 32)
    return [
        Charge(f"{sku} x {copies}{' (HA standby)' if ha else ''}", f"pgflex:{sku}", copies, copies),
        Charge(f"storage {gib_:g} GiB x {copies}", "pgflex-storage:gib", gib_ * copies, gib_ * copies),
    ]


def _storage_account(r: Resource, ctx: Context) -> list[Charge]:
    sku = str((r.inputs.get("sku") or {}).get("name", "Standard_LRS"))
    g = ctx.assume("blob_stored_gib_per_account")
    return [Charge(f"blob {sku} {g:g} GiB", f"blob:{sku}-gib", g, g, assumption=ctx.note("blob_stored_gib_per_account", "GiB stored"))]


def _workspace(r: Resource, ctx: Context) -> list[Charge]:
    g = ctx.assume("log_ingest_gib_per_workspace")
    return [Charge(f"ingestion {g:g} GiB", "loganalytics:ingest-gib", g, g, assumption=ctx.note("log_ingest_gib_per_workspace", "GiB per month"))]


def _private_endpoint(r: Resource, ctx: Context) -> list[Charge]:
    g = ctx.assume("endpoint_processed_gib")
    return [
        Charge("private endpoint", "privatelink:endpoint-hour", 1, 1),
        Charge(f"data processed {g:g} GiB", "privatelink:endpoint-gib", g, g, assumption=ctx.note("endpoint_processed_gib", "GiB per month")),
    ]


def _vault_key(r: Resource, ctx: Context) -> list[Charge] | NotPriced:
    props = r.inputs.get("properties") or {}
    kty, size = str(props.get("kty", "RSA")), _num(props.get("keySize"), 2048)
    if not kty.endswith("-HSM"):
        return NotPriced("software-protected Key Vault keys are billed per operation; the plan cannot know the operation count")
    advanced = kty.startswith("EC") or size > 2048
    return [Charge(f"HSM key {kty} {size:g}", "keyvault:hsm-key-advanced" if advanced else "keyvault:hsm-key", 1, 1)]


def _registry(r: Resource, ctx: Context) -> list[Charge]:
    sku = str((r.inputs.get("sku") or {}).get("name", "Basic"))
    return [Charge(f"ACR {sku}", f"acr:{sku}", 1, 1)]


def _redis_enterprise(r: Resource, ctx: Context) -> list[Charge]:
    sku = str((r.inputs.get("sku") or {}).get("name", "?"))
    return [Charge(f"Azure Managed Redis {sku}{' (high availability)' if r.inputs.get('highAvailability') == 'Enabled' else ''}", f"redis:{sku}", 1, 1)]


# --- Kubernetes objects that buy cloud resources ------------------------------------------------------
def _service(r: Resource, ctx: Context) -> list[Charge] | NotPriced | None:
    spec = r.inputs.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return None
    if ctx.cloud == "kubernetes":
        return NotPriced("LoadBalancer Service on the customer's cluster (its own load balancer, e.g. k3s ServiceLB or MetalLB; no cloud bill)")
    if ctx.cloud == "azure":
        return [Charge("Standard load balancer rule", "lb:standard-rule-hour", 1, 1)]
    annotations = (r.inputs.get("metadata") or {}).get("annotations") or {}
    lb_type = annotations.get("service.beta.kubernetes.io/aws-load-balancer-type", "")
    if lb_type in ("nlb", "external", "nlb-ip") or "service.beta.kubernetes.io/aws-load-balancer-scheme" in annotations:
        lcu = ctx.assume("load_balancer_lcu")
        return [
            Charge("NLB", "elb:nlb-hour", 1, 1),
            Charge(f"{lcu:g} NLCU", "elb:nlb-lcu-hour", lcu, lcu, assumption=ctx.note("load_balancer_lcu", "capacity units per hour")),
        ]
    return [Charge("Classic load balancer (in-tree controller)", "elb:clb-hour", 1, 1)]


def _helm_release(r: Resource, ctx: Context):
    return _volume_charges(volume_claims(r.inputs.get("values") or {}), ctx, "chart volumes")


def _stateful_set(r: Resource, ctx: Context):
    spec = r.inputs.get("spec") or {}
    templates = spec.get("volumeClaimTemplates") or ()
    replicas = _num(spec.get("replicas"), 1)
    claims = (
        (f"volumeClaimTemplates[{i}]", gib(((t.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")) or 0.0, replicas)
        for i, t in enumerate(templates)
    )
    return _volume_charges(claims, ctx, "StatefulSet volumes")


def _pvc(r: Resource, ctx: Context):
    size = gib((((r.inputs.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage"))
    return _volume_charges([("claim", size or 0.0, 1)], ctx, "PersistentVolumeClaim")


RULES: dict[str, Rule] = {
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:ec2/launchTemplate:LaunchTemplate": lambda r, ctx: COVERED,
    "aws:eks/cluster:Cluster": _flat("EKS control plane", "eks:cluster"),
    "aws:rds/instance:Instance": _rds,
    "aws:elasticache/replicationGroup:ReplicationGroup": _elasticache,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/eip:Eip": _flat("public IPv4 address", "vpc:public-ipv4-hour"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _endpoint,
    "aws:kms/key:Key": _flat("customer managed key", "kms:key"),
    "aws:secretsmanager/secret:Secret": _flat("secret", "secretsmanager:secret"),
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    "aws:ecr/repository:Repository": _repository,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudtrail/trail:Trail": _trail,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:ebs/volume:Volume": _ebs_volume,
    "aws:sqs/queue:Queue": _request_priced("SQS (first 1M requests a month free)"),
    "azure-native:containerservice:ManagedCluster": _aks,
    "azure-native:containerservice:AgentPool": _agent_pool,
    "azure-native:dbforpostgresql:Server": _pg_flexible,
    "azure-native:storage:StorageAccount": _storage_account,
    "azure-native:operationalinsights:Workspace": _workspace,
    "azure-native:network:PrivateEndpoint": _private_endpoint,
    "azure-native:keyvault:Key": _vault_key,
    "azure-native:keyvault:Vault": _request_priced("Key Vault (per operation)"),
    "azure-native:keyvault:Secret": _request_priced("Key Vault secrets (per operation)"),
    "azure-native:containerregistry:Registry": _registry,
    "azure-native:redisenterprise:RedisEnterprise": _redis_enterprise,
    "azure-native:privatedns:PrivateZone": _flat("private DNS zone", "dns:private-zone"),
    "kubernetes:core/v1:Service": _service,
    "kubernetes:helm.sh/v3:Release": _helm_release,
    "kubernetes:apps/v1:StatefulSet": _stateful_set,
    "kubernetes:core/v1:PersistentVolumeClaim": _pvc,
    # Karpenter launches the nodes of pools that also have a managed node group: priced on that line.
    "kubernetes:karpenter.sh/v1:NodePool": lambda r, ctx: COVERED,
}
