"""What `sahab verify` checks against: the stack's outputs (what was deployed) and the offline plan
(what was promised), reduced to the few facts the checks need.

Outputs come from `pulumi stack output --json --show-secrets` or from a JSON file of the same shape
(`--outputs FILE`), so an auditor can drive the suite without the Pulumi CLI. The plan is the
offline engine's (`sahab plan`), or a plan.json given with `--plan FILE`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stacks.spec import load_spec
from workloads.errors import SahabError


class VerifyError(SahabError, RuntimeError):
    """Verification could not start (missing outputs, bad file, no CLI); the message says how to fix it. Exit 2."""

    exit_code = 2


class StackOutputs(BaseModel):
    """The outputs `stacks/platform.py` exports. Unknown outputs are ignored (a newer stack may add
    some); the ones verify reads must be there."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    environment: str
    region: str
    cluster_name: str | None = None
    kubeconfig: Any = None
    bucket_names: dict[str, str] = Field(default_factory=dict)
    keys: dict[str, str] = Field(default_factory=dict)
    registry_urls: dict[str, str] = Field(default_factory=dict)
    registry_database_endpoint: str | None = None
    online_store_endpoint: str | None = None
    registry_database_secret: str | None = None
    online_store_secret: str | None = None


class BucketPromise(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    purpose: str
    key: str | None = Field(description="Purpose of the KMS key the plan encrypts it with (a `keys` output key).")
    versioning: bool
    object_lock_mode: str | None = None
    object_lock_days: int | None = None


class RepositoryPromise(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    key: str | None
    immutable: bool
    scan_on_push: bool


class TrailPromise(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    bucket: str | None = Field(description="Purpose of the bucket it delivers to.")
    key: str | None
    log_file_validation: bool


class LogGroupPromise(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    key: str | None


class ClusterPromise(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    key: str | None = Field(description="Purpose of the key envelope-encrypting its secrets.")
    public_endpoint: bool


class DatabasePromise(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str | None
    publicly_accessible: bool
    multi_az: bool


class CachePromise(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str | None
    at_rest: bool
    in_transit: bool


class PoolPromise(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Value of the node label sahab.ae/pool.")
    labels: dict[str, str]
    taints: tuple[tuple[str, str, str], ...] = Field(description="(key, value, effect) in Kubernetes spelling.")
    min_size: int
    gpu: bool


class Promises(BaseModel):
    """What the plan promised, keyed by the purposes the stack outputs use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: str
    stack: str
    cloud: str = Field(description="spec.cloud: aws, azure or kubernetes (a cluster of your own).")
    region: str
    allowed_regions: tuple[str, ...]
    tags: dict[str, str]
    buckets: tuple[BucketPromise, ...] = ()
    repositories: tuple[RepositoryPromise, ...] = ()
    trails: tuple[TrailPromise, ...] = ()
    keys: tuple[str, ...] = ()
    log_groups: tuple[LogGroupPromise, ...] = ()
    clusters: tuple[ClusterPromise, ...] = ()
    databases: tuple[DatabasePromise, ...] = ()
    caches: tuple[CachePromise, ...] = ()
    pools: tuple[PoolPromise, ...] = ()
    namespaces: tuple[str, ...] = ()
    deployments: tuple[str, ...] = Field(default=(), description="namespace/name of every planned Deployment.")
    cronjobs: tuple[str, ...] = ()
    services: dict[str, str] = Field(default_factory=dict, description="Service name -> namespace/name:port (first port).")
    monitoring_namespace: str | None = Field(default=None, description="Namespace of the kube-prometheus-stack release.")
    drift_cronjob: str | None = Field(default=None, description="namespace/name of the drift CronJob.")


_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


def promises_from_plan(plan: dict[str, Any]) -> Promises:
    """Read the promises out of a plan.json document (the `sahab plan` contract)."""
    try:
        spec = load_spec(plan["config"]["sahab:platform"])
    except KeyError:
        raise VerifyError("the plan has no `sahab:platform` config; pass a plan.json written by `sahab plan <env>`") from None
    outputs = plan.get("outputs") or {}
    key_of = {arn: purpose for purpose, arn in (outputs.get("keys") or {}).items()}
    bucket_of = {name: purpose for purpose, name in (outputs.get("bucket_names") or {}).items()}
    resources = plan.get("resources") or []

    def inputs(type_token: str) -> list[dict[str, Any]]:
        return [r.get("inputs") or {} for r in resources if r.get("type") == type_token]

    versioned = {
        i.get("bucket") for i in inputs("aws:s3/bucketVersioning:BucketVersioning") if (i.get("versioningConfiguration") or {}).get("status") == "Enabled"
    }
    sse = {
        i.get("bucket"): (i.get("rules") or [{}])[0].get("applyServerSideEncryptionByDefault", {}).get("kmsMasterKeyId")
        for i in inputs("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    }
    locks = {
        i.get("bucket"): (i.get("rule") or {}).get("defaultRetention") or {}
        for i in inputs("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    }
    buckets = tuple(
        BucketPromise(
            purpose=purpose,
            key=key_of.get(sse.get(name) or ""),
            versioning=name in versioned,
            object_lock_mode=locks[name].get("mode") if name in locks else None,
            object_lock_days=locks[name].get("days") if name in locks else None,
        )
        for name, purpose in sorted(bucket_of.items(), key=lambda kv: kv[1])
    )
    repositories = tuple(
        RepositoryPromise(
            name=i["name"],
            key=key_of.get(((i.get("encryptionConfigurations") or [{}])[0]).get("kmsKey") or ""),
            immutable=i.get("imageTagMutability") == "IMMUTABLE",
            scan_on_push=bool((i.get("imageScanningConfiguration") or {}).get("scanOnPush")),
        )
        for i in inputs("aws:ecr/repository:Repository")
    )
    trails = tuple(
        TrailPromise(
            name=i["name"],
            bucket=bucket_of.get(i.get("s3BucketName") or ""),
            key=key_of.get(i.get("kmsKeyId") or ""),
            log_file_validation=bool(i.get("enableLogFileValidation")),
        )
        for i in inputs("aws:cloudtrail/trail:Trail")
    )
    log_groups = tuple(
        LogGroupPromise(name=i["name"], key=key_of.get(i.get("kmsKeyId") or "")) for i in inputs("aws:cloudwatch/logGroup:LogGroup") if i.get("name")
    )
    clusters = tuple(
        ClusterPromise(
            name=i["name"],
            key=key_of.get((((i.get("encryptionConfig") or {}).get("provider")) or {}).get("keyArn") or ""),
            public_endpoint=bool((i.get("vpcConfig") or {}).get("endpointPublicAccess")),
        )
        for i in inputs("aws:eks/cluster:Cluster")
        if i.get("name")
    )
    databases = tuple(
        DatabasePromise(key=key_of.get(i.get("kmsKeyId") or ""), publicly_accessible=bool(i.get("publiclyAccessible")), multi_az=bool(i.get("multiAz")))
        for i in inputs("aws:rds/instance:Instance")
    )
    caches = tuple(
        CachePromise(
            key=key_of.get(i.get("kmsKeyId") or ""), at_rest=bool(i.get("atRestEncryptionEnabled")), in_transit=bool(i.get("transitEncryptionEnabled"))
        )
        for i in inputs("aws:elasticache/replicationGroup:ReplicationGroup")
    )
    pools = [
        PoolPromise(
            name=(i.get("labels") or {}).get("sahab.ae/pool", i.get("nodeGroupName") or ""),
            labels=i.get("labels") or {},
            taints=tuple((t["key"], t.get("value") or "", _EFFECTS.get(t["effect"], t["effect"])) for t in i.get("taints") or []),
            min_size=int((i.get("scalingConfig") or {}).get("minSize") or 0),
            gpu=(i.get("labels") or {}).get("sahab.ae/accelerator") == "nvidia",
        )
        for i in inputs("aws:eks/nodeGroup:NodeGroup")
    ]
    manifests = [(r.get("inputs") or {}) for r in resources if r.get("type", "").startswith("kubernetes:")]

    def objects(kind: str) -> list[str]:
        return sorted(
            f"{(m.get('metadata') or {}).get('namespace', '')}/{(m.get('metadata') or {}).get('name', '')}".lstrip("/")
            for m in manifests
            if m.get("kind") == kind
        )

    services = {
        m["metadata"]["name"]: f"{m['metadata'].get('namespace', 'default')}/{m['metadata']['name']}:{m['spec']['ports'][0]['port']}"
        for m in manifests
        if m.get("kind") == "Service" and (m.get("spec") or {}).get("ports")
    }
    monitoring = next(
        (
            i.get("namespace")
            for r in resources
            if r.get("type") == "kubernetes:helm.sh/v3:Release" and (i := r.get("inputs") or {}).get("chart") == "kube-prometheus-stack"
        ),
        None,
    )
    return Promises(
        environment=spec.name,
        stack=str(plan.get("stack") or spec.name),
        cloud=spec.cloud,
        region=spec.region,
        allowed_regions=tuple(spec.allowed_regions),
        tags=spec.tags.resource_tags(),
        buckets=buckets,
        repositories=repositories,
        trails=trails,
        keys=tuple(sorted(key_of.values())),
        log_groups=log_groups,
        clusters=clusters,
        databases=databases,
        caches=caches,
        pools=tuple(sorted(pools, key=lambda p: p.name)),
        namespaces=tuple(objects("Namespace")),
        deployments=tuple(objects("Deployment")),
        cronjobs=tuple(objects("CronJob")),
        services=services,
        monitoring_namespace=monitoring,
        drift_cronjob=next(
            (
                f"{m['metadata']['namespace']}/{m['metadata']['name']}"
                for m in manifests
                if m.get("kind") == "CronJob" and ((m.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component") == "drift-monitor"
            ),
            None,
        ),
    )


def read_outputs_file(path: Path) -> StackOutputs:
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as e:
        raise VerifyError(
            f"{path}: cannot read the outputs file ({e.strerror}). Fix: pass the file written by `pulumi stack output --json --show-secrets > FILE`."
        ) from None
    except json.JSONDecodeError as e:
        raise VerifyError(f"{path}: not JSON ({e}). Fix: write it with `pulumi stack output --json --show-secrets`.") from None
    return parse_outputs(raw, str(path))


def parse_outputs(raw: Any, source: str) -> StackOutputs:
    try:
        return StackOutputs.model_validate(raw)
    except ValidationError as e:
        fields = "; ".join(f"{'.'.join(map(str, err['loc'])) or '(root)'}: {err['msg']}" for err in e.errors())
        raise VerifyError(f"{source}: stack outputs are not the ones stacks/platform.py exports ({fields}). Fix: pass the outputs of a Sahab stack.") from None


def pulumi_outputs_command(stack: str, cwd: Path) -> list[str]:
    """`pulumi stack output` for `stack`, secrets shown (the kubeconfig is one)."""
    return ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack, "--cwd", str(cwd)]


def read_pulumi_outputs(stack: str, cwd: Path) -> StackOutputs:
    """The live stack's outputs through the Pulumi CLI (it must be logged in to the state backend)."""
    if shutil.which("pulumi") is None:
        raise VerifyError(
            "the Pulumi CLI is not on PATH, so the stack outputs cannot be read. "
            "Fix: install it (https://www.pulumi.com/docs/install/) and `pulumi login` to the stack's backend, "
            "or pass --outputs FILE (written by `pulumi stack output --json --show-secrets`)."
        )
    cmd = pulumi_outputs_command(stack, cwd)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise VerifyError(
            f"`{' '.join(cmd)}` failed: {done.stderr.strip() or done.stdout.strip()}. Fix: `pulumi login` to the stack's backend, or pass --outputs FILE."
        )
    return parse_outputs(json.loads(done.stdout or "{}"), f"pulumi stack output ({stack})")
