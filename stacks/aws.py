"""The AWS cloud layer: the spec's cloud half turned into components, in dependency order."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import aws as c
from components.aws.registry import WORKLOAD_REPOSITORIES
from components.kubernetes.images import required_mirror_repositories
from components.workloads import WORKLOADS
from stacks.spec import PlatformSpec


@dataclass(frozen=True)
class CloudPlatform:
    """What the platform layer and the stack outputs need from a cloud layer (AWS or Azure)."""

    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    bucket_names: pulumi.Output[dict[str, str]]
    key_arns: pulumi.Output[dict[str, str]]
    registry_urls: pulumi.Output[dict[str, str]]
    registry_host: pulumi.Output[str]
    database_endpoint: pulumi.Output[str]
    database_secret_arn: pulumi.Output[str]
    cache_endpoint: pulumi.Output[str]
    cache_secret_arn: pulumi.Output[str]
    role_arns: pulumi.Output[dict[str, str]]
    region: str
    account_id: pulumi.Output[str]
    provider: pulumi.ProviderResource
    """The cloud layer's provider (region-pinned, default tags): later layers reuse it."""


def build_aws(spec: PlatformSpec) -> CloudPlatform:
    env = spec.name
    tags = spec.tags.as_aws()
    # One explicit provider pinned to the spec's region; every component inherits it through its
    # parent chain, and its default tags reach every taggable resource.
    provider = aws.Provider(f"{env}-aws", region=spec.region, default_tags={"tags": tags}, skip_region_validation=False)
    opts = pulumi.ResourceOptions(providers=[provider])
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id
    cluster_name = f"sahab-{env}"
    trail_name = f"sahab-{env}-audit"

    keys = c.Encryption(
        f"{env}-keys",
        c.EncryptionArgs(account_id=account_id, region=spec.region, rotation_days=spec.encryption.rotation_days, deletion_window_days=spec.encryption.deletion_window_days),
        opts,
    )
    net = c.Network(
        f"{env}-net",
        c.NetworkArgs(cidr=spec.network.cidr, availability_zones=spec.availability_zones, region=spec.region, logs_key_arn=keys.logs_key_arn, nat=spec.network.nat, cluster_name=cluster_name),
        opts,
    )
    storage = c.Storage(
        f"{env}-storage",
        c.StorageArgs(
            account_id=account_id,
            region=spec.region,
            data_key_arn=keys.data_key_arn,
            logs_key_arn=keys.logs_key_arn,
            trail_name=trail_name,
            audit_retention_days=spec.storage.audit_retention_days,
            noncurrent_version_days=spec.storage.noncurrent_version_days,
            infrequent_access_days=spec.storage.infrequent_access_days,
            force_destroy=spec.storage.force_destroy,
        ),
        opts,
    )
    c.AuditTrail(
        f"{env}-audit",
        c.AuditTrailArgs(
            trail_name=trail_name,
            bucket_name=storage.audit_bucket_name,
            key_arn=keys.logs_key_arn,
            data_bucket_arns=storage.bucket_arns.apply(lambda arns: [a for p, a in sorted(arns.items()) if p != "audit"]),
            bucket_policy=storage.audit_bucket_policy,
        ),
        opts,
    )
    cluster = c.Cluster(
        f"{env}-cluster",
        c.ClusterArgs(
            cluster_name=cluster_name,
            kubernetes_version=spec.cluster.kubernetes_version,
            region=spec.region,
            subnet_ids=net.node_subnet_ids,
            cluster_key_arn=keys.cluster_key_arn,
            logs_key_arn=keys.logs_key_arn,
            data_key_arn=keys.data_key_arn,
            private_endpoint=spec.cluster.private_endpoint,
            public_endpoint=spec.cluster.public_endpoint,
            public_access_cidrs=spec.cluster.public_access_cidrs,
            admin_role_arns=spec.cluster.admin_role_arns,
            log_retention_days=spec.cluster.log_retention_days,
        ),
        opts,
    )
    for pool in spec.gpu_pools:
        c.GpuNodePool(f"{env}-{pool.name}", _pool_args(pool, cluster, net, keys, tags, pool.capacity), opts)
    for tier in spec.inference_tiers:
        c.InferenceNodePool(f"{env}-{tier.name}", _pool_args(tier, cluster, net, keys, tags, "on-demand"), opts)

    # One repository per workload image, and one per third-party image the platform layer runs, so
    # the cluster pulls nothing from outside the region at run time.
    repositories = WORKLOAD_REPOSITORIES + tuple(required_mirror_repositories())
    registry = c.Registry(f"{env}-registry", c.RegistryArgs(key_arn=keys.data_key_arn, repositories=repositories), opts)
    db_spec, cache_spec = spec.databases.registry, spec.databases.online_store
    db = c.RegistryDatabase(
        f"{env}-registry-db",
        c.RegistryDatabaseArgs(
            vpc_id=net.vpc_id,
            subnet_ids=net.data_subnet_ids,
            client_cidrs=net.node_cidrs,
            key_arn=keys.data_key_arn,
            instance_class=db_spec.instance_class,
            allocated_storage_gib=db_spec.allocated_storage_gib,
            engine_version=db_spec.engine_version,
            multi_az=db_spec.multi_az,
            backup_retention_days=db_spec.backup_retention_days,
        ),
        opts,
    )
    cache = c.OnlineStoreCache(
        f"{env}-online-store",
        c.OnlineStoreCacheArgs(
            vpc_id=net.vpc_id,
            subnet_ids=net.data_subnet_ids,
            client_cidrs=net.node_cidrs,
            key_arn=keys.data_key_arn,
            node_type=cache_spec.node_type,
            replicas=cache_spec.replicas,
            engine_version=cache_spec.engine_version,
        ),
        opts,
    )
    identity = c.WorkloadIdentity(
        f"{env}-identity",
        c.WorkloadIdentityArgs(
            cluster_name=cluster.name,
            workloads=WORKLOADS,
            bucket_arns=storage.bucket_arns,
            data_key_arn=keys.data_key_arn,
            secret_arns=pulumi.Output.all(**{"registry-db": db.master_secret_arn, "online-store": cache.auth_secret_arn}),
        ),
        opts,
    )
    return CloudPlatform(
        cluster_name=cluster.name,
        kubeconfig=cluster.kubeconfig,
        bucket_names=storage.bucket_names,
        key_arns=keys.key_arns,
        registry_urls=registry.repository_urls,
        registry_host=pulumi.Output.format("{0}.dkr.ecr.{1}.amazonaws.com", account_id, spec.region),
        database_endpoint=db.endpoint,
        database_secret_arn=db.master_secret_arn,
        cache_endpoint=cache.primary_endpoint,
        cache_secret_arn=cache.auth_secret_arn,
        role_arns=identity.role_arns,
        region=spec.region,
        account_id=account_id,
        provider=provider,
    )


def _pool_args(pool, cluster: c.Cluster, net: c.Network, keys: c.Encryption, tags: dict[str, str], capacity: str) -> c.NodePoolArgs:
    return c.NodePoolArgs(
        cluster_name=cluster.name,
        node_role_arn=cluster.node_role_arn,
        subnet_ids=net.node_subnet_ids,
        instance_types=pool.instance_types,
        min_size=pool.min_size,
        max_size=pool.max_size,
        volume_key_arn=keys.data_key_arn,
        disk_gib=pool.disk_gib,
        capacity=capacity,
        labels=dict(pool.labels),
        taints=tuple(t.model_dump() for t in pool.taints),
        tags=tags,
    )
