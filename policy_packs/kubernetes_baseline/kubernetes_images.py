"""Images are pinned: by digest, or by a tag of an in-stack ECR repository whose tags are immutable."""

from __future__ import annotations

from pulumi_policy import ReportViolation, StackValidationArgs

from policy_packs.common.config import schema, settings
from policy_packs.common.kube import containers, is_digest_pinned, kind_of, pod_spec, registry_host, split_image
from policy_packs.common.policy import report, stack_subjects

IMMUTABLE_PREFIXES = {
    "type": "array",
    "items": {"type": "string"},
    "default": [],
    "description": "Repository prefixes (host/path) known to have immutable tags, outside this stack.",
}
CONFIG = schema(immutableRepositories=IMMUTABLE_PREFIXES)
ECR_REPOSITORY = "aws:ecr/repository:Repository"


def kubernetes_images_pinned(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    config = settings(args, CONFIG)
    immutable_names = {
        str(r.props.get("name") or r.name)
        for r in stack_subjects(args, (ECR_REPOSITORY,))
        if str(r.props.get("imageTagMutability") or "MUTABLE").startswith("IMMUTABLE")
    }
    prefixes = [p.rstrip("/") for p in config["immutableRepositories"]]
    for s in stack_subjects(args, prefix="kubernetes:"):
        kind = kind_of(s.type)
        if kind is None:
            continue
        for _field, c in containers(pod_spec(kind, s.props)):
            image = str(c.get("image") or "")
            if not image or is_digest_pinned(image):
                continue
            repo, tag, _ = split_image(image)
            if tag in (None, "", "latest"):
                report(
                    report_violation,
                    s,
                    f"container `{c.get('name')}` uses {image} with {'no tag' if not tag else 'the `latest` tag'}: what runs changes whenever the tag moves",
                    "pin a digest (`image@sha256:...`) or an immutable release tag",
                    config,
                )
                continue
            host = registry_host(image)
            path = repo[len(host) + 1 :] if repo.startswith(host + "/") else repo
            ecr = host.endswith(".amazonaws.com") and ".dkr.ecr." in host
            if (ecr and path in immutable_names) or any(repo == p or repo.startswith(p + "/") for p in prefixes):
                continue
            report(
                report_violation,
                s,
                f"container `{c.get('name')}` uses tag `{tag}` of {repo}, a repository whose tags can be moved (not an IMMUTABLE ECR repository of this stack)",
                "pin the digest (`@sha256:...`), or push to an ECR repository with `image_tag_mutability: IMMUTABLE` (or list it under `immutableRepositories`)",
                config,
            )
