"""Every image the platform layer runs, pinned, and where it comes from in the in-region registry.

Nothing is pulled from outside the region at run time: third-party images are copied once into
the ECR mirror repositories (`<registry>/sahab/mirror/<upstream path>`, see IMAGES.md for the copy
recipe) and workload images are built from `workloads/` into `<registry>/sahab/<workload>`. ECR
repositories are IMMUTABLE, so a tag is as fixed as a digest.

`PINS` is the one table of every Helm chart version and third-party image tag, each with where it
was checked; the gate compares the plan against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi


@dataclass(frozen=True)
class Pin:
    kind: Literal["chart", "image"]
    """A Helm chart version or an image tag."""
    name: str
    """Chart: as Helm fetches it (`chart` of the release); image: the upstream repository."""
    version: str
    """Chart version or image tag."""
    checked: str
    """Where the pin was verified (upstream file at the tag, fetched when)."""


@dataclass(frozen=True)
class Chart:
    chart: str
    """Chart name in `repo`, or a full `oci://` reference (then `repo` is None)."""
    version: str
    """Exact chart version."""
    repo: str | None
    """Helm repository URL."""
    checked: str
    """Where the version (and the default image tags we mirror) was verified."""


# Every chart the platform installs. Image tags overridden in values (below) equal the defaults of
# exactly these versions (IMAGES.md rule).
CHARTS: dict[str, Chart] = {
    "nvidia-device-plugin": Chart(
        "nvidia-device-plugin",
        "0.17.4",
        "https://nvidia.github.io/k8s-device-plugin",
        "NVIDIA/k8s-device-plugin tag v0.17.4 deployments/helm/nvidia-device-plugin/Chart.yaml version/appVersion 0.17.4 (fetched 2026-12)",
    ),
    # 4.2.3 never existed: the chart index has 4.1.3, 4.2.0, 4.4.0; 4.1.3's default image is our pin.
    "dcgm-exporter": Chart(
        "dcgm-exporter",
        "4.1.3",
        "https://nvidia.github.io/dcgm-exporter/helm-charts",
        "NVIDIA/dcgm-exporter gh-pages helm-charts/index.yaml lists 4.1.3; tag 4.2.3-4.1.3 deployment/values.yaml image.tag 4.2.3-4.1.3-ubuntu22.04 (fetched 2026-12)",
    ),
    "karpenter": Chart(
        "oci://public.ecr.aws/karpenter/karpenter",
        "1.6.3",
        None,
        "aws/karpenter-provider-aws release commit of v1.6.3 charts/karpenter/Chart.yaml 1.6.3, values.yaml controller.image.tag 1.6.3 (fetched 2026-12)",
    ),
    "cluster-autoscaler": Chart(
        "cluster-autoscaler",
        "9.50.1",
        "https://kubernetes.github.io/autoscaler",
        "kubernetes/autoscaler tag cluster-autoscaler-chart-9.50.1 charts/cluster-autoscaler/values.yaml image.tag v1.33.0 (fetched 2026-12)",
    ),
    "kube-prometheus-stack": Chart(
        "kube-prometheus-stack",
        "77.6.2",
        "https://prometheus-community.github.io/helm-charts",
        "prometheus-community/helm-charts tag kube-prometheus-stack-77.6.2 Chart.yaml appVersion v0.85.0, deps kube-state-metrics 6.3.0, grafana 9.4.5 (fetched 2026-12)",
    ),
    "prometheus-pushgateway": Chart(
        "prometheus-pushgateway",
        "3.4.1",
        "https://prometheus-community.github.io/helm-charts",
        "prometheus-community/helm-charts tag prometheus-pushgateway-3.4.1 Chart.yaml appVersion v1.11.1 (fetched 2026-12)",
    ),
}


def chart(key: str) -> tuple[str, str, str | None]:
    """(chart, version, repo) of a pinned chart, as `_helm.release` takes them."""
    c = CHARTS[key]
    return c.chart, c.version, c.repo


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
    "prometheus-operator": ("quay.io/prometheus-operator/prometheus-operator", "v0.85.0"),
    "config-reloader": ("quay.io/prometheus-operator/prometheus-config-reloader", "v0.85.0"),
    "kube-state-metrics": ("registry.k8s.io/kube-state-metrics/kube-state-metrics", "v2.17.0"),
    "grafana": ("docker.io/grafana/grafana", "12.1.1"),
    "grafana-sidecar": ("quay.io/kiwigrid/k8s-sidecar", "1.30.10"),
    "pushgateway": ("quay.io/prometheus/pushgateway", "v1.11.1"),
    # Build bases of the workload images (IMAGES.md recipe): mirrored too, never pulled from outside.
    "python-base": ("docker.io/library/python", "3.11-slim"),
    "cuda-base": ("nvcr.io/nvidia/cuda", "12.4.1-cudnn-runtime-ubuntu22.04"),
}

# Where each tag was checked: the pinned chart's default it must equal, or the base's registry.
_IMAGE_CHECKED: dict[str, str] = {
    "device-plugin": "nvidia-device-plugin 0.17.4 default (image.tag empty -> appVersion 0.17.4, v-prefixed upstream tag)",
    "dcgm-exporter": "dcgm-exporter chart 4.1.3 values.yaml image.tag",
    "karpenter": "karpenter chart 1.6.3 values.yaml controller.image.tag",
    "cluster-autoscaler": "cluster-autoscaler chart 9.50.1 values.yaml image.tag",
    "prometheus": "kube-prometheus-stack 77.6.2 values.yaml prometheus.prometheusSpec.image.tag",
    "alertmanager": "kube-prometheus-stack 77.6.2 values.yaml alertmanager.alertmanagerSpec.image.tag",
    "prometheus-operator": "kube-prometheus-stack 77.6.2 prometheusOperator.image.tag empty -> appVersion v0.85.0",
    "config-reloader": "kube-prometheus-stack 77.6.2 prometheusConfigReloader.image.tag empty -> appVersion v0.85.0",
    "kube-state-metrics": "kube-state-metrics chart 6.3.0 (dependency of kube-prometheus-stack 77.6.2) image.tag empty -> v + appVersion 2.17.0",
    "grafana": "grafana chart 9.4.5 (dependency of kube-prometheus-stack 77.6.2) image.tag empty -> appVersion 12.1.1",
    "grafana-sidecar": "grafana chart 9.4.5 values.yaml sidecar.image.tag 1.30.10",
    "pushgateway": "prometheus-pushgateway 3.4.1 image.tag empty -> appVersion v1.11.1",
    "python-base": "Docker Official Image python, tag 3.11-slim (build base, IMAGES.md)",
    "cuda-base": "nvcr.io nvidia/cuda, tag 12.4.1-cudnn-runtime-ubuntu22.04 (training build base, IMAGES.md)",
}

# The in-cluster data services of `cloud: kubernetes` (components/kubernetes/data_services.py): pinned
# like the mirrors and copied the same way into the customer's registry, never into ECR/ACR (the clouds
# run RDS/ElastiCache/S3 and their Azure peers instead). key: (upstream repository, tag, where checked).
DATA_SERVICE_IMAGES: dict[str, tuple[str, str, str]] = {
    "postgres": (
        "docker.io/library/postgres",
        "17.11-trixie",
        "docker-library/official-images library/postgres lists 17.11-trixie (fetched 2026-12); Debian variant runs as postgres uid 999",
    ),
    "redis": (
        "docker.io/library/redis",
        "8.10.1-trixie",
        "docker-library/official-images library/redis lists 8.10.1-trixie (fetched 2026-12); Debian variant runs as redis uid 999",
    ),
    "seaweedfs": (
        "docker.io/chrislusf/seaweedfs",
        "4.44",
        "seaweedfs/seaweedfs tag 4.44 (weed/util/version 4.44), k8s/charts/seaweedfs/values.yaml image chrislusf/seaweedfs, "
        "docker/Dockerfile.go_build user seaweed uid 1000 and /usr/bin/weed (fetched 2026-12)",
    ),
}

PINS: tuple[Pin, ...] = (
    *(Pin("chart", c.chart, c.version, c.checked) for c in CHARTS.values()),
    *(Pin("image", upstream, tag, _IMAGE_CHECKED[key]) for key, (upstream, tag) in MIRRORS.items()),
    *(Pin("image", upstream, tag, checked) for upstream, tag, checked in DATA_SERVICE_IMAGES.values()),
)


@dataclass(frozen=True)
class WorkloadImage:
    base: str
    """MIRRORS key of the build base."""
    extras: tuple[str, ...]
    """pyproject extras installed (`pip install -c constraints.txt ".[extras]"`)."""
    packages: tuple[str, ...] = ()
    """Further packages (versions from constraints.txt)."""


# The Dockerfile recipe of IMAGES.md builds each `sahab/<repo>` image from this table. One image per
# workload for every cloud: `aws` brings boto3 and s3fs (S3 checkpoints, Feast's S3 offline store),
# `azure` adlfs, azure-storage-blob and azure-identity (abfss:// through workloads/storage.py, and
# MLflow's wasbs:// artifact store, whose client and server import azure.storage.blob and
# azure.identity: mlflow 3.17.2's own `azure` extra, checked in its METADATA and
# mlflow/store/artifact/azure_blob_artifact_repo.py); MLflow needs a PostgreSQL driver for its
# backend store. `serving` is built by `bentoml containerize` from its bentofile instead.
WORKLOAD_IMAGES: dict[str, WorkloadImage] = {
    "training": WorkloadImage("cuda-base", ("ml", "gpu", "aws", "azure")),
    "export": WorkloadImage("python-base", ("ml", "aws", "azure")),
    "features": WorkloadImage("python-base", ("ml", "aws", "azure")),
    "drift": WorkloadImage("python-base", ("ml", "aws", "azure")),
    "mlflow": WorkloadImage("python-base", ("ml", "aws", "azure"), ("psycopg2-binary",)),
}


def build_args(repository: str, registry: str = "$REG") -> dict[str, str]:
    """`docker build --build-arg` values of one workload image (IMAGES.md recipe)."""
    w = WORKLOAD_IMAGES[repository]
    _, tag = MIRRORS[w.base]
    return {"BASE": f"{registry}/sahab/{mirror_repository(w.base)}:{tag}", "EXTRAS": ",".join(w.extras), "PACKAGES": " ".join(w.packages)}


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
