"""Small pure helpers for IAM/KMS/S3 policy documents (JSON built in Python, no invokes)."""

from __future__ import annotations

from typing import Any

import pulumi


def document(*statements: dict[str, Any]) -> pulumi.Output[str]:
    """A policy document; statements may hold Outputs (ARNs) anywhere."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(sid: str, actions: list[str], resources: Any, **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def service_trust(*services: str, actions: tuple[str, ...] = ("sts:AssumeRole",)) -> pulumi.Output[str]:
    """Trust policy letting AWS services assume a role."""
    return document({"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": list(actions)})


def managed_policy(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"
