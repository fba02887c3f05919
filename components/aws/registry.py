"""ECR repositories for the workload and platform images: immutable tags, scan on push, KMS,
and no replication (images stay in-region)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# Workload images built from workloads/. Mirrors of third-party images are named by the platform
# layer that runs them (components/kubernetes/images.py) and passed in by the stack.
WORKLOAD_REPOSITORIES = ("training", "export", "serving", "drift", "features", "mlflow", "notebook")


@dataclass(frozen=True)
class RegistryArgs:
    key_arn: pulumi.Input[str]
    """KMS key encrypting image layers."""
    repositories: tuple[str, ...] = WORKLOAD_REPOSITORIES
    """Repository names, created under `<prefix>/` (workload images, `mirror/...` copies)."""
    prefix: str = "sahab"
    """Namespace of the repositories."""
    untagged_expiry_days: int = 14
    """Untagged images (failed pushes, superseded layers) expire after this many days."""


class Registry(pulumi.ComponentResource):
    repository_urls: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:Registry", name, None, opts)
        if len(set(args.repositories)) != len(args.repositories):
            raise ValueError("repositories: names must be unique")
        child = pulumi.ResourceOptions(parent=self)
        urls = {}
        for repo in args.repositories:
            slug = repo.replace("/", "-")
            r = aws.ecr.Repository(
                f"{name}-{slug}",
                name=f"{args.prefix}/{repo}",
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration={"scan_on_push": True},
                encryption_configurations=[{"encryption_type": "KMS", "kms_key": args.key_arn}],
                opts=child,
            )
            aws.ecr.LifecyclePolicy(f"{name}-{slug}-lifecycle", repository=r.name, policy=_lifecycle(args.untagged_expiry_days), opts=child)
            urls[repo] = r.repository_url
        self.repository_urls = pulumi.Output.all(**urls)
        self.register_outputs({"repository_urls": self.repository_urls})


def _lifecycle(days: int) -> str:
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"expire untagged images after {days} days",
                    "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": days},
                    "action": {"type": "expire"},
                }
            ]
        }
    )
