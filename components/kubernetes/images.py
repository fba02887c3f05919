"""Every image the platform layer runs, pinned, and where it comes from in the in-region registry.

Nothing is pulled from outside the region at run time: third-party images are copied once into
the ECR mirror repositories (`<registry>/sahab/mirror/<upstream path>`, see IMAGES.md for the copy
recipe) and workload images are built from `workloads/` into `<registry>/sahab/<workload>`. ECR
repositories are IMMUTABLE, so a tag is as fixed as a digest.
"""

from __future__ import annotations

import pulumi

# upstream image (as published) -> pinned tag. The mirror path is the upstream path without its
# registry host. Bump a pin here and in IMAGES.md together, then re-run the copy recipe.
MIRRORS: dict[str, tuple[str, str]] = {
    # key: (upstream repository, tag)
    "device-plugin": ("nvcr.io/nvidia/k8s-device-plugin", "v0.17.4"),
    "dcgm-exporter": ("nvcr.io/nvidia/k8s/dcgm-exporter", "4.2.3-4.1.3-ubuntu22.04"),
    "karpenter": ("public.ecr.aws/karpenter/controller", "1.6.3"),
    "cluster-autoscaler": ("registry.k8s.io/autoscaling/cluster-autoscaler", "v1.33.0"),
    "prometheus": ("quay.io/prometheus/prometheus", "v3.5.0"),
    "alertmanager": ("quay.io/prometheus/alertmanager", "v0.28.1"),
    "prometheus-operator": ("quay.io/prometheus-operator/prometheus-operator", "v0.84.0"),
    "config-reloader": ("quay.io/prometheus-operator/prometheus-config-reloader", "v0.84.0"),
    "kube-state-metrics": ("registry.k8s.io/kube-state-metrics/kube-state-metrics", "v2.16.0"),
    "grafana": ("docker.io/grafana/grafana", "12.1.0"),
    "grafana-sidecar": ("quay.io/kiwigrid/k8s-sidecar", "1.30.7"),
    "pushgateway": ("quay.io/prometheus/pushgateway", "v1.11.1"),
}

# Mirror repository names as components/aws/registry.py creates them (`sahab/` + this).
def mirror_repository(key: str) -> str:
    """`mirror/<upstream path without host>`, e.g. `mirror/prometheus/prometheus`."""
    upstream, _ = MIRRORS[key]
    return "mirror/" + upstream.split("/", 1)[1]


def mirror(registry_host: pulumi.Input[str], key: str) -> dict[str, pulumi.Output[str] | str]:
    """Helm-style image parts (registry, repository, tag) of a mirrored image."""
    _, tag = MIRRORS[key]
    return {"registry": registry_host, "repository": f"sahab/{mirror_repository(key)}", "tag": tag}


def helm_image(registry_host: pulumi.Input[str], key: str, **extra: str) -> dict[str, pulumi.Output[str] | str]:
    """The `image:` block most charts take (`repository` with the registry host, `tag`), plus `extra`."""
    parts = mirror(registry_host, key)
    return {"repository": pulumi.Output.format("{0}/{1}", parts["registry"], parts["repository"]), "tag": parts["tag"], **extra}


def mirror_ref(registry_host: pulumi.Input[str], key: str) -> pulumi.Output[str]:
    """The full reference `<host>/sahab/mirror/...:<tag>` of a mirrored image."""
    _, tag = MIRRORS[key]
    return pulumi.Output.format("{0}/sahab/{1}:{2}", registry_host, mirror_repository(key), tag)


def workload_ref(registry_host: pulumi.Input[str], repository: str, release: str) -> pulumi.Output[str]:
    """A workload image built from workloads/: `<host>/sahab/<repository>:<release>`."""
    if not release or release == "latest":
        raise ValueError(f"release: {release!r} is not an immutable tag")
    return pulumi.Output.format("{0}/sahab/{1}:{2}", registry_host, repository, release)


def required_mirror_repositories() -> list[str]:
    """The ECR mirror repositories this layer pulls from (for the registry component)."""
    return sorted(mirror_repository(k) for k in MIRRORS)
