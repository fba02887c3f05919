"""Pulumi mocks that answer the way the providers would, with no credentials and no network.

`new_resource` returns `{**inputs, computed...}` like a provider's Create: deterministic physical
names and ids, ARNs in the resource's effective region (its own `region`, else its provider's, else
the stack's `aws:region`), and the computed attributes downstream code reads (endpoints, URLs,
certificate data, latest versions). `call` answers the invokes the program uses.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import pulumi

ACCOUNT_ID = "123456789012"


def _digest(*parts: str, n: int = 7) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def _pem(kind: str, name: str) -> str:
    return f"-----BEGIN {kind}-----\noffline-{_digest(name, kind, n=32)}\n-----END {kind}-----\n"


def _service_and_kind(type_token: str) -> tuple[str, str]:
    """`aws:s3/bucket:Bucket` -> (`s3`, `bucket`)."""
    module = type_token.split(":")[1]
    service, _, kind = module.partition("/")
    return service, kind or service


# Per type: computed state from (physical name, inputs, region, account). Only what code reads.
Computed = Callable[[str, dict[str, Any], str, str], dict[str, Any]]


def _eks_cluster(phys: str, inputs: dict, region: str, account: str) -> dict:
    host = _digest(phys, n=32).upper()
    return {
        "endpoint": f"https://{host}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm9mZmxpbmUKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{host}"}]}],
        "vpcConfig": {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{_digest(phys, 'cluster', n=17)}", "vpcId": "vpc-offline"},
        "status": "ACTIVE",
        "platformVersion": "eks.1",
    }


COMPUTED: dict[str, Computed] = {
    "aws:s3/bucket:Bucket": lambda p, i, r, a: {"bucket": p, "arn": f"arn:aws:s3:::{p}", "bucketDomainName": f"{p}.s3.amazonaws.com", "bucketRegionalDomainName": f"{p}.s3.{r}.amazonaws.com", "region": i.get("region") or r},
    "aws:kms/key:Key": lambda p, i, r, a: {"keyId": _uuid(p), "arn": f"arn:aws:kms:{r}:{a}:key/{_uuid(p)}"},
    "aws:kms/alias:Alias": lambda p, i, r, a: {"arn": f"arn:aws:kms:{r}:{a}:{i.get('name', p)}", "targetKeyArn": f"arn:aws:kms:{r}:{a}:key/{i.get('targetKeyId', '')}"},
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": lambda p, i, r, a: {"nodeGroupName": i.get("nodeGroupName") or p, "status": "ACTIVE"},
    "aws:ec2/launchTemplate:LaunchTemplate": lambda p, i, r, a: {"latestVersion": 1, "defaultVersion": 1},
    "aws:ecr/repository:Repository": lambda p, i, r, a: {"repositoryUrl": f"{a}.dkr.ecr.{r}.amazonaws.com/{i.get('name', p)}", "registryId": a},
    "aws:rds/instance:Instance": lambda p, i, r, a: {
        "address": f"{p}.{_digest(p, n=12)}.{r}.rds.amazonaws.com",
        "endpoint": f"{p}.{_digest(p, n=12)}.{r}.rds.amazonaws.com:5432",
        "port": 5432,
        "masterUserSecrets": [{"secretArn": f"arn:aws:secretsmanager:{r}:{a}:secret:rds!db-{_uuid(p)}", "kmsKeyId": i.get("masterUserSecretKmsKeyId"), "secretStatus": "active"}],
    },
    "aws:elasticache/replicationGroup:ReplicationGroup": lambda p, i, r, a: {
        "primaryEndpointAddress": f"master.{p}.{_digest(p, n=6)}.{r}.cache.amazonaws.com",
        "readerEndpointAddress": f"replica.{p}.{_digest(p, n=6)}.{r}.cache.amazonaws.com",
    },
    "aws:cloudwatch/logGroup:LogGroup": lambda p, i, r, a: {"arn": f"arn:aws:logs:{r}:{a}:log-group:{i.get('name', p)}"},
    "aws:iam/role:Role": lambda p, i, r, a: {"arn": f"arn:aws:iam::{a}:role/{i.get('name', p)}", "name": i.get("name", p), "uniqueId": f"AROA{_digest(p, n=16).upper()}"},
    # IAM names service-linked roles itself (AWSServiceRoleFor<Service>) under aws-service-role/<service>/.
    "aws:iam/serviceLinkedRole:ServiceLinkedRole": lambda p, i, r, a: {
        "name": (n := {"autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling", "spot.amazonaws.com": "AWSServiceRoleForEC2Spot"}.get(i.get("awsServiceName", ""), p)),
        "arn": f"arn:aws:iam::{a}:role/aws-service-role/{i.get('awsServiceName', '')}/{n}",
        "path": f"/aws-service-role/{i.get('awsServiceName', '')}/",
    },
    "aws:cloudtrail/trail:Trail": lambda p, i, r, a: {"arn": f"arn:aws:cloudtrail:{r}:{a}:trail/{i.get('name', p)}"},
    "aws:secretsmanager/secret:Secret": lambda p, i, r, a: {"arn": f"arn:aws:secretsmanager:{r}:{a}:secret:{p}-{_digest(p, n=6)}"},
    "random:index/randomPassword:RandomPassword": lambda p, i, r, a: {"result": "offline-" + _digest(p, n=32), "bcryptHash": "offline"},
    # pulumi-tls (the in-cluster services' CA of cloud: kubernetes): PEM-shaped placeholders, never real keys.
    "tls:index/privateKey:PrivateKey": lambda p, i, r, a: {"privateKeyPem": _pem("PRIVATE KEY", p), "publicKeyPem": _pem("PUBLIC KEY", p), "privateKeyPemPkcs8": _pem("PRIVATE KEY", p)},
    "tls:index/selfSignedCert:SelfSignedCert": lambda p, i, r, a: {"certPem": _pem("CERTIFICATE", p), "readyForRenewal": False},
    "tls:index/certRequest:CertRequest": lambda p, i, r, a: {"certRequestPem": _pem("CERTIFICATE REQUEST", p)},
    "tls:index/locallySignedCert:LocallySignedCert": lambda p, i, r, a: {"certPem": _pem("CERTIFICATE", p), "readyForRenewal": False},
}

# The attribute that holds a resource's physical name, when the provider auto-names it.
NAME_ATTRIBUTE = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:iam/role:Role": "name",
    "aws:rds/instance:Instance": "identifier",
    "aws:rds/subnetGroup:SubnetGroup": "name",
    "aws:rds/parameterGroup:ParameterGroup": "name",
    "aws:elasticache/subnetGroup:SubnetGroup": "name",
    "aws:elasticache/replicationGroup:ReplicationGroup": "replicationGroupId",
    "aws:ec2/securityGroup:SecurityGroup": "name",
    "aws:ec2/launchTemplate:LaunchTemplate": "name",
    "aws:eks/nodeGroup:NodeGroup": "nodeGroupName",
    "aws:secretsmanager/secret:Secret": "name",
    "aws:cloudwatch/logGroup:LogGroup": "name",
}

# EC2 ids look like `vpc-0abc...`: keep that shape so code that parses them keeps working.
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:ec2/flowLog:FlowLog": "fl",
}


def _uuid(seed: str) -> str:
    h = _digest(seed, n=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class ProviderMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and invokes like the AWS, Azure, Kubernetes and random providers."""

    def __init__(self, stack: str, default_region: str | None, account_id: str = ACCOUNT_ID, provider_region: Callable[[str], str | None] | None = None):
        self.stack = stack
        self.default_region = default_region or "me-central-1"
        self.account_id = account_id
        # Resolves a provider reference (`urn::id`) to that provider's region, if it set one.
        self.provider_region = provider_region or (lambda ref: None)

    def effective_region(self, args: pulumi.runtime.MockResourceArgs) -> str:
        return args.inputs.get("region") or self.provider_region(args.provider) or self.default_region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        typ, inputs = args.typ, dict(args.inputs)
        if typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider-id", inputs
        if typ.startswith("kubernetes:"):
            return self._kubernetes(args.name, inputs)
        region = self.effective_region(args)
        name_attr = NAME_ATTRIBUTE.get(typ)
        phys = inputs.get(name_attr) if name_attr else None
        if not phys:
            # Pulumi auto-naming: logical name plus a random suffix (deterministic here).
            phys = f"{args.name}-{_digest(self.stack, args.name)}"
            if typ == "aws:s3/bucket:Bucket":
                phys = phys.lower()
        state = {**inputs}
        if name_attr:
            state[name_attr] = phys
        if typ.startswith("aws:"):
            service, kind = _service_and_kind(typ)
            state.setdefault("arn", f"arn:aws:{service}:{region}:{self.account_id}:{kind.lower()}/{phys}")
            state["tagsAll"] = dict(inputs.get("tags") or {})
        computed = COMPUTED.get(typ)
        if computed:
            state.update(computed(phys, inputs, region, self.account_id))
        prefix = _ID_PREFIX.get(typ)
        rid = f"{prefix}-{_digest(self.stack, args.name, n=17)}" if prefix else phys
        return rid, state

    def _kubernetes(self, name: str, inputs: dict) -> tuple[str, dict]:
        meta = dict(inputs.get("metadata") or {})
        if not meta.get("name") and "metadata" in inputs:
            meta["name"] = f"{name}-{_digest(self.stack, name, n=8)}"
        state = {**inputs, "metadata": meta} if "metadata" in inputs else {**inputs}
        ns = meta.get("namespace")
        rid = f"{ns}/{meta.get('name', name)}" if ns else meta.get("name", name)
        if inputs.get("kind") == "Service":
            state.setdefault("status", {"loadBalancer": {}})
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        token = args.token
        region = args.args.get("region") or self.provider_region(args.provider) or self.default_region
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": self.account_id, "arn": f"arn:aws:iam::{self.account_id}:user/offline", "userId": "AIDAOFFLINE", "id": self.account_id}
        if token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com", "description": region}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{z}" for z in "abc"]
            return {"names": names, "zoneIds": [f"mec1-az{i + 1}" for i in range(3)], "id": region}
        return {}
