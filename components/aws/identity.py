"""Least-privilege IAM roles for the workloads, bound to their Kubernetes service accounts through
EKS Pod Identity, each scoped to its own buckets, the data key and its own secrets."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import pulumi

from components.aws._pod_identity import pod_identity_role
from components.aws._policy import allow
from components.workloads import Workload, split_grant

_READ_OBJECTS = ["s3:GetObject", "s3:GetObjectVersion"]
_WRITE_OBJECTS = _READ_OBJECTS + ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
_BUCKET = ["s3:ListBucket", "s3:GetBucketLocation"]
_READ = _READ_OBJECTS + _BUCKET
_WRITE = _WRITE_OBJECTS + _BUCKET


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    cluster_name: pulumi.Input[str]
    """EKS cluster whose Pod Identity agent hands out the credentials."""
    workloads: tuple[Workload, ...]
    """The workloads to create roles for."""
    bucket_arns: pulumi.Input[dict[str, str]]
    """Bucket purpose -> ARN."""
    data_key_arn: pulumi.Input[str]
    """KMS key the buckets and secrets are encrypted with."""
    secret_arns: pulumi.Input[dict[str, str]]
    """Secret name (`registry-db`, `online-store`) -> ARN."""


class WorkloadIdentity(pulumi.ComponentResource):
    role_arns: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:WorkloadIdentity", name, None, opts)
        names = [w.name for w in args.workloads]
        if len(set(names)) != len(names):
            raise ValueError(f"workloads: names must be unique, got {names}")
        arns = {}
        for w in args.workloads:
            role = pod_identity_role(
                f"{name}-{w.name}",
                parent=self,
                cluster_name=args.cluster_name,
                namespace=w.namespace,
                service_account=w.service_account,
                policy=pulumi.Output.all(args.bucket_arns, args.secret_arns, args.data_key_arn).apply(functools.partial(_resolved_policy, w)),
                description=f"Sahab {w.name} workload ({w.namespace}/{w.service_account})",
            )
            arns[w.name] = role.arn
        self.role_arns = pulumi.Output.all(**arns)
        self.register_outputs({"role_arns": self.role_arns})


def _resolved_policy(w: Workload, resolved: list[Any]) -> str:
    """`_access_policy` over what `Output.all(bucket_arns, secret_arns, data_key_arn)` resolved to."""
    return _access_policy(w, *resolved)


def _access_policy(w: Workload, buckets: dict[str, str], secrets: dict[str, str], key_arn: str) -> str:
    grants = {"Read": [split_grant(g) for g in w.read_buckets], "ReadWrite": [split_grant(g) for g in w.write_buckets]}
    for purpose, _ in (*grants["Read"], *grants["ReadWrite"]):
        if purpose not in buckets:
            raise ValueError(f"workloads[{w.name}]: unknown bucket {purpose!r}; known: {sorted(buckets)}")
    statements = []
    for sid, actions, objects in (("Read", _READ, _READ_OBJECTS), ("ReadWrite", _WRITE, _WRITE_OBJECTS)):
        whole = [p for p, prefix in grants[sid] if not prefix]
        if whole:
            statements.append(allow(f"{sid}Buckets", actions, [r for p in whole for r in (buckets[p], f"{buckets[p]}/*")]))
        prefixed = [(p, prefix) for p, prefix in grants[sid] if prefix]
        if prefixed:
            statements.append(allow(f"{sid}Prefixes", objects, [f"{buckets[p]}/{prefix}*" for p, prefix in prefixed]))
    # Listing under a granted prefix only (one statement per bucket: s3:prefix is per request).
    for purpose in sorted({p for sid in grants for p, prefix in grants[sid] if prefix} - {p for sid in grants for p, prefix in grants[sid] if not prefix}):
        prefixes = sorted({f"{prefix}*" for sid in grants for p, prefix in grants[sid] if p == purpose and prefix})
        slug = "".join(x.capitalize() for x in purpose.split("-"))
        statements.append(allow(f"List{slug}Prefixes", ["s3:ListBucket"], buckets[purpose], Condition={"StringLike": {"s3:prefix": prefixes}}))
        statements.append(allow(f"Locate{slug}", ["s3:GetBucketLocation"], buckets[purpose]))
    statements.append(allow("UseDataKey", ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"], key_arn))
    if w.secrets:
        missing = [s for s in w.secrets if not secrets.get(s)]
        if missing:
            raise ValueError(f"workloads[{w.name}]: no ARN for secrets {missing}")
        statements.append(allow("ReadOwnSecrets", ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], [secrets[s] for s in w.secrets]))
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
