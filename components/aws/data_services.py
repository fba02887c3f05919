"""The platform's managed data services, private and in-region:
PostgreSQL (RDS) for the MLflow registry and Redis (ElastiCache) for the Feast online store."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random


@dataclass(frozen=True)
class RegistryDatabaseArgs:
    vpc_id: pulumi.Input[str]
    """VPC of the database."""
    subnet_ids: pulumi.Input[list[str]]
    """Private data subnets (no internet route)."""
    client_cidrs: list[str]
    """Node subnets allowed to connect on 5432."""
    key_arn: pulumi.Input[str]
    """KMS key for storage, the master secret and Performance Insights."""
    instance_class: str = "db.r6g.large"
    """RDS instance class."""
    allocated_storage_gib: int = 100
    """Storage size."""
    engine_version: str = "16"
    """PostgreSQL version."""
    multi_az: bool = True
    """Synchronous standby in another zone."""
    backup_retention_days: int = 14
    """Automated backup retention."""


class RegistryDatabase(pulumi.ComponentResource):
    """PostgreSQL for MLflow: Multi-AZ, CMK-encrypted, private, TLS forced, master password in
    Secrets Manager (managed by RDS, encrypted with the data key), IAM auth on."""

    endpoint: pulumi.Output[str]
    address: pulumi.Output[str]
    master_secret_arn: pulumi.Output[str]

    def __init__(self, name: str, args: RegistryDatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:RegistryDatabase", name, None, opts)
        if not 1 <= args.backup_retention_days <= 35:
            raise ValueError(f"backup_retention_days: {args.backup_retention_days} is outside 1-35")
        child = pulumi.ResourceOptions(parent=self)
        major = args.engine_version.split(".")[0]
        subnets = aws.rds.SubnetGroup(f"{name}-subnets", subnet_ids=args.subnet_ids, opts=child)
        sg = _nodes_only_sg(f"{name}-sg", args.vpc_id, "PostgreSQL", 5432, args.client_cidrs, child)
        params = aws.rds.ParameterGroup(
            f"{name}-params",
            family=f"postgres{major}",
            parameters=[
                {"name": "rds.force_ssl", "value": "1"},
                {"name": "log_connections", "value": "1"},
                {"name": "log_disconnections", "value": "1"},
            ],
            opts=child,
        )
        db = aws.rds.Instance(
            f"{name}-postgres",
            engine="postgres",
            engine_version=args.engine_version,
            instance_class=args.instance_class,
            allocated_storage=args.allocated_storage_gib,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.key_arn,
            multi_az=args.multi_az,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[sg.id],
            parameter_group_name=params.name,
            publicly_accessible=False,
            db_name="mlflow",
            username="mlflow",
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.key_arn,
            iam_database_authentication_enabled=True,
            backup_retention_period=args.backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=True,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{name}-final",
            auto_minor_version_upgrade=True,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=args.key_arn,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            opts=child,
        )
        self.endpoint = db.endpoint
        self.address = db.address
        self.master_secret_arn = db.master_user_secrets.apply(lambda s: (s[0]["secret_arn"] if isinstance(s[0], dict) else s[0].secret_arn) if s else "")
        self.register_outputs({"endpoint": self.endpoint, "master_secret_arn": self.master_secret_arn})


@dataclass(frozen=True)
class OnlineStoreCacheArgs:
    vpc_id: pulumi.Input[str]
    """VPC of the cache."""
    subnet_ids: pulumi.Input[list[str]]
    """Private data subnets."""
    client_cidrs: list[str]
    """Node subnets allowed to connect on 6379."""
    key_arn: pulumi.Input[str]
    """KMS key for data at rest and the auth-token secret."""
    node_type: str = "cache.r6g.large"
    """ElastiCache node type."""
    replicas: int = 1
    """Read replicas; at least 1 turns on Multi-AZ automatic failover."""
    engine_version: str = "7.1"
    """Redis version."""


class OnlineStoreCache(pulumi.ComponentResource):
    """Redis for the Feast online store: encrypted at rest (CMK) and in transit, AUTH token
    generated here and kept in Secrets Manager under the data key."""

    primary_endpoint: pulumi.Output[str]
    auth_secret_arn: pulumi.Output[str]

    def __init__(self, name: str, args: OnlineStoreCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:OnlineStoreCache", name, None, opts)
        if not 0 <= args.replicas <= 5:
            raise ValueError(f"replicas: {args.replicas} is outside 0-5")
        child = pulumi.ResourceOptions(parent=self)
        token = random.RandomPassword(f"{name}-auth-token", length=64, special=False, opts=child)
        secret = aws.secretsmanager.Secret(f"{name}-auth", description="AUTH token of the Feast online store (Redis)", kms_key_id=args.key_arn, opts=child)
        aws.secretsmanager.SecretVersion(f"{name}-auth-value", secret_id=secret.id, secret_string=token.result, opts=child)
        subnets = aws.elasticache.SubnetGroup(f"{name}-subnets", subnet_ids=args.subnet_ids, opts=child)
        sg = _nodes_only_sg(f"{name}-sg", args.vpc_id, "Redis", 6379, args.client_cidrs, child)
        failover = args.replicas >= 1
        group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            description="Sahab Feast online store",
            engine="redis",
            engine_version=args.engine_version,
            node_type=args.node_type,
            num_cache_clusters=1 + args.replicas,
            automatic_failover_enabled=failover,
            multi_az_enabled=failover,
            at_rest_encryption_enabled=True,
            kms_key_id=args.key_arn,
            transit_encryption_enabled=True,
            auth_token=token.result,
            port=6379,
            subnet_group_name=subnets.name,
            security_group_ids=[sg.id],
            snapshot_retention_limit=7,
            auto_minor_version_upgrade=True,
            opts=child,
        )
        self.primary_endpoint = group.primary_endpoint_address
        self.auth_secret_arn = secret.arn
        self.register_outputs({"primary_endpoint": self.primary_endpoint, "auth_secret_arn": self.auth_secret_arn})


def _nodes_only_sg(name: str, vpc_id: pulumi.Input[str], service: str, port: int, cidrs: list[str], opts: pulumi.ResourceOptions) -> aws.ec2.SecurityGroup:
    """A data service's security group: its one port from the node subnets, nothing else in or out."""
    return aws.ec2.SecurityGroup(
        name,
        vpc_id=vpc_id,
        description=f"{service} from the cluster's node subnets only",
        ingress=[{"protocol": "tcp", "from_port": port, "to_port": port, "cidr_blocks": cidrs, "description": f"{service} from nodes"}],
        egress=[],
        opts=opts,
    )
