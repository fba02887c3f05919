"""Kubernetes workloads and Helm releases pull images only from the in-region registries:
images from elsewhere move code in and pull telemetry out at run time (UAE.md)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import schema
from policy_packs.common.kube import HELM_CHART_TYPES, containers, helm_images, kind_of, pod_spec, registry_allowed, registry_host
from policy_packs.common.policy import say, subject
from policy_packs.common.values import as_map

ALLOWED_REGISTRIES = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "default": ["*.dkr.ecr.me-central-1.amazonaws.com"],
    "description": "Registry hosts (or host/path prefixes), fnmatch globs: ECR in me-central-1, ACR names in uaenorth.",
}
CONFIG = schema(allowedRegistries=ALLOWED_REGISTRIES)


def kubernetes_images_in_region(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    kind = kind_of(args.resource_type)
    if kind is None:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    patterns = s.config["allowedRegistries"]
    for fieldname, c in containers(pod_spec(kind, s.props)):
        image = str(c.get("image") or "")
        if image and not registry_allowed(image, patterns):
            report_violation(
                say(
                    s,
                    f"{fieldname} `{c.get('name')}` pulls {image} from {registry_host(image)}, not an in-region registry ({', '.join(patterns)})",
                    "mirror the image into the platform's ECR (the Registry component's `mirror/...` repositories) and reference it there",
                ),
                None,
            )


def kubernetes_helm_images_in_region(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in HELM_CHART_TYPES:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    patterns = s.config["allowedRegistries"]
    values = as_map(s.props.get("values"))
    images = helm_images(values)
    if not images:
        report_violation(
            say(
                s,
                f"chart {s.props.get('chart')} sets no image in its values, so it pulls the chart's default images from their upstream registries",
                "override the chart's image repositories in `values` to the in-region mirror (ECR `mirror/...`)",
            ),
            None,
        )
    for path, image in images:
        if not registry_allowed(image, patterns):
            report_violation(
                say(
                    s,
                    f"values `{path}` pulls {image} from {registry_host(image)}, not an in-region registry ({', '.join(patterns)})",
                    "point the value at the in-region mirror (ECR `mirror/...`)",
                ),
                None,
            )
