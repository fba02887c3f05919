"""The AWS cloud layer: the spec's cloud half turned into components, in dependency order, and
the EKS adapter the Kubernetes layer asks for what is AWS-specific (stacks/cloud.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pulumi
import pulumi_aws as aws

from components import aws as c
from components import kubernetes as kc
from components.aws.autoscaling import ClusterAutoscalerIdentity, ClusterAutoscalerIdentityArgs, KarpenterIdentity, KarpenterIdentityArgs
from components.aws.cluster_access import ClusterAccess, ClusterAccessArgs
from components.aws.registry import WORKLOAD_REPOSITORIES
from components.aws.service_roles import ServiceLinkedRoles, ServiceLinkedRolesArgs
from components.kubernetes.autoscaling import SERVICE_ACCOUNT, CpuPoolSpec
from components.kubernetes.cloud import EKS, ClusterCloud
from components.kubernetes.images import required_mirror_repositories
from components.kubernetes.tenancy import GROUPS
from components.workloads import NAMESPACES, platform_workloads
from stacks.capacity import Allocatable
from stacks.cloud import CloudPlatform
from stacks.offerings import CAPACITY, allocatable
from stacks.spec import AwsPlatformSpec, EksGpuPoolSpec, EksTierSpec


def build_aws(spec: AwsPlatformSpec) -> CloudPlatform[AwsPlatformSpec]:
    env = spec.name
    tags = spec.tags.resource_tags()
    # One explicit provider pinned to the spec's region; every component inherits it through its
    # parent chain, and its default tags reach every taggable resource.
    provider = aws.Provider(f"{env}-aws", region=spec.region, default_tags={"tags": tags}, skip_region_validation=False)
    opts = pulumi.ResourceOptions(providers=[provider])
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id
    cluster_name = f"sahab-{env}"
    trail_name = f"sahab-{env}-audit"

    # A fresh account has no Auto Scaling / EC2 Spot service-linked role; the data key's policy names
    # the first (a key policy naming a missing principal is refused), so the keys wait for them.
    asg_role = None
    if spec.cluster.create_service_linked_roles:
        asg_role = ServiceLinkedRoles(f"{env}-service-roles", ServiceLinkedRolesArgs(), opts).role_arns.apply(lambda r: r["autoscaling.amazonaws.com"])
    keys = c.Encryption(
        f"{env}-keys",
        c.EncryptionArgs(
            account_id=account_id,
            region=spec.region,
            rotation_days=spec.encryption.rotation_days,
            deletion_window_days=spec.encryption.deletion_window_days,
            autoscaling_role_arn=asg_role,
        ),
        opts,
    )
    net = c.Network(
        f"{env}-net",
        c.NetworkArgs(
            cidr=spec.network.cidr,
            availability_zones=spec.availability_zones,
            region=spec.region,
            logs_key_arn=keys.logs_key_arn,
            nat=spec.network.nat,
            cluster_name=cluster_name,
        ),
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
            deployer_role_arn=spec.cluster.deployer.role_arn if spec.cluster.deployer else None,
            deployer_cidrs=spec.cluster.deployer.cidrs if spec.cluster.deployer else (),
            deployer_security_group_id=spec.cluster.deployer.security_group_id if spec.cluster.deployer else None,
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
            # One role per shared workload and per project role, each scoped to its own prefixes.
            workloads=platform_workloads((b.name, b.team or b.load().spec.team) for b in spec.kubernetes.projects),
            bucket_arns=storage.bucket_arns,
            data_key_arn=keys.data_key_arn,
            secret_arns=pulumi.Output.all(**{"registry-db": db.master_secret_arn, "online-store": cache.auth_secret_arn}),
        ),
        opts,
    )
    registry_host = pulumi.Output.format("{0}.dkr.ecr.{1}.amazonaws.com", account_id, spec.region)
    adapter = EksAdapter(
        bucket_names=storage.bucket_names,
        cluster_name=cluster.name,
        account_id=account_id,
        data_key_arn=keys.data_key_arn,
        registry_host=registry_host,
        provider=provider,
        # The project pods wrap the tokenisation key with the data key: their roles hold kms:GenerateDataKey and
        # kms:Decrypt on it already (components/aws/identity.py UseDataKey), its policy delegates to IAM.
        cluster=replace(EKS, privacy_wrapping={"SAHAB_PRIVACY_KMS_KEY": keys.data_key_arn}),
    )
    return CloudPlatform(
        cluster_name=cluster.name,
        kubeconfig=cluster.kubeconfig,
        bucket_names=storage.bucket_names,
        keys=keys.key_arns,
        registry_urls=registry.repository_urls,
        registry_host=registry_host,
        database_endpoint=db.endpoint,
        database_secret=db.master_secret_arn,
        cache_endpoint=cache.primary_endpoint,
        cache_secret=cache.auth_secret_arn,
        identities=identity.role_arns,
        region=spec.region,
        account_id=account_id,
        provider=provider,
        adapter=adapter,
    )


def _pool_args(
    pool: EksGpuPoolSpec | EksTierSpec, cluster: c.Cluster, net: c.Network, keys: c.Encryption, tags: dict[str, str], capacity: str
) -> c.NodePoolArgs:
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


@dataclass(frozen=True)
class EksAdapter:
    """The EKS answers of `stacks.cloud.CloudAdapter`: S3 URIs, EBS storage, access entries for IAM
    roles, Karpenter (or the Cluster Autoscaler), EC2 capacities with the EKS AMI's reservations."""

    bucket_names: pulumi.Output[dict[str, str]]
    cluster_name: pulumi.Output[str]
    account_id: pulumi.Output[str]
    data_key_arn: pulumi.Output[str]
    registry_host: pulumi.Output[str]
    provider: pulumi.ProviderResource
    cluster: ClusterCloud

    def _aws_opts(self) -> pulumi.ResourceOptions:
        # The AWS half of the Kubernetes layer (autoscaling IAM, access entries) inherits the cloud
        # layer's provider: same region pin and default tags as everything else.
        return pulumi.ResourceOptions(providers=[self.provider])

    def object_uri(self, purpose: str, prefix: str) -> pulumi.Output[str]:
        return self.bucket_names.apply(lambda b: f"s3://{b[purpose]}/{prefix}")

    def cluster_access(self, spec: AwsPlatformSpec) -> None:
        # IAM roles -> the platform's Kubernetes groups, through EKS access entries.
        role_groups = {arn: (GROUPS[role],) for arn, role in spec.kubernetes.access.role_groups().items()}
        # The deployer's role already has its access entry (cluster admin, components/aws/cluster.py): a
        # second entry for the same principal fails the `up` ("409 ResourceInUseException: The specified
        # access entry resource is already in use on this cluster": checked terraform-aws-modules/terraform-aws-eks
        # issues 2977 and 3293). Cluster admin covers every group's rights: the mapping is dropped, with a warning.
        deployer = spec.cluster.deployer.role_arn if spec.cluster.deployer else None
        if deployer in role_groups:
            pulumi.log.warn(
                f"kubernetes.access: {deployer} is also cluster.deployer.role_arn, which has a cluster-admin access entry already; "
                "it is not mapped to a group a second time. Fix: list it in one place"
            )
            del role_groups[deployer]
        if role_groups:
            ClusterAccess(
                f"{spec.name}-cluster-access",
                ClusterAccessArgs(cluster_name=self.cluster_name, role_groups=role_groups, tags=spec.tags.resource_tags()),
                self._aws_opts(),
            )

    def interruption_metrics(self, spec: AwsPlatformSpec) -> bool:
        # karpenter_interruption_received_messages_total (the spot alert's metric) comes from Karpenter alone.
        return spec.kubernetes.autoscaler == "karpenter"

    def node_allocatable(self, machine_type: str | None) -> Allocatable | None:
        if machine_type is None or machine_type not in CAPACITY:
            return None
        return allocatable(machine_type)

    def node_autoscaling(self, spec: AwsPlatformSpec, k8s_opts: pulumi.ResourceOptions) -> None:
        layer, env, ns = spec.kubernetes, spec.name, NAMESPACES["autoscaling"]
        kind, data_key, tags = layer.autoscaler, self.data_key_arn, spec.tags.resource_tags()
        extra: dict = {}
        if kind == "karpenter":
            identity = KarpenterIdentity(
                f"{env}-karpenter",
                KarpenterIdentityArgs(
                    cluster_name=self.cluster_name,
                    region=spec.region,
                    account_id=self.account_id,
                    namespace=ns,
                    service_account=SERVICE_ACCOUNT[kind],
                    volume_key_arn=data_key,
                    key_rotation_days=spec.encryption.rotation_days,
                    tags=tags,
                ),
                self._aws_opts(),
            )
            extra = {
                "node_role_name": identity.node_role_name,
                "interruption_queue": identity.queue_name,
                "volume_key_arn": data_key,
                "tags": tags,
                "cpu_pools": _karpenter_cpu_pools(spec),
            }
        else:
            ClusterAutoscalerIdentity(
                f"{env}-cluster-autoscaler",
                ClusterAutoscalerIdentityArgs(cluster_name=self.cluster_name, namespace=ns, service_account=SERVICE_ACCOUNT[kind], tags=tags),
                self._aws_opts(),
            )
        kc.NodeAutoscaling(
            f"{env}-autoscaling",
            kc.AutoscalingArgs(
                kind=kind,
                namespace=ns,
                cluster_name=self.cluster_name,
                region=spec.region,
                registry_host=self.registry_host,
                gpu_pools=tuple(
                    kc.GpuPoolSpec(
                        name=f"{env}-{p.name}",
                        instance_types=p.instance_types,
                        capacity=p.capacity,
                        max_nodes=p.max_size,
                        disk_gib=p.disk_gib,
                        labels=dict(p.labels),
                    )
                    for p in spec.gpu_pools
                ),
                zones=spec.availability_zones,
                **extra,
            ),
            k8s_opts,
        )


def _karpenter_cpu_pools(spec: AwsPlatformSpec) -> tuple[CpuPoolSpec, ...]:
    """Karpenter capacity for each inference tier: up to its `max_size` nodes in all, the managed
    node group holding `min_size` of them (so the serving HPA's maximum can schedule)."""
    return tuple(
        CpuPoolSpec(
            name=f"{spec.name}-{t.name}",
            instance_types=t.instance_types,
            max_cpu=(t.max_size - t.min_size) * max(CAPACITY[i].vcpus for i in t.instance_types),
            disk_gib=t.disk_gib,
            labels=dict(t.labels),
        )
        for t in spec.inference_tiers
    )
