"""The one table of pins: every Helm chart the platform installs, every third-party image it mirrors
(the charts' images and the workload images' build bases) and every in-cluster data service's image,
each a `Pin` saying where it was checked upstream.

Everything else is derived from `PINS`: the Helm releases' chart, version and repository (`chart(key)`),
the mirror repositories and image blocks (components/kubernetes/images.py), the gate's pin check
(sahab/gate/deployability/pins.py) and the pin tables of IMAGES.md, which `scripts/pins_markdown.py`
regenerates (tests/kubernetes/test_pins.py fails while they differ).

Bumping a pin: check upstream, change `version` and `checked` here (a chart's images in the same change:
their tags must equal the new chart version's defaults), regenerate IMAGES.md, copy the images (IMAGES.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Kind = Literal["chart", "chart-image", "build-base", "data-service"]
IMAGE_KINDS: tuple[Kind, ...] = ("chart-image", "build-base", "data-service")


@dataclass(frozen=True, kw_only=True)
class Pin:
    kind: Kind
    """`chart`: a Helm chart; `chart-image`: an image a chart runs (its tag is that chart's default);
    `build-base`: the base of the workload images; `data-service`: an in-cluster data service (`cloud: kubernetes`)."""
    key: str
    """What callers look it up by (`chart("karpenter")`, `image("grafana")`): unique among charts, and among images."""
    name: str
    """Chart: as Helm fetches it (name in `repo`, or a full `oci://` reference); image: upstream repository, registry host first."""
    version: str
    """Exact chart version, or image tag."""
    checked: str
    """Where the version was verified upstream (the file at the tag, and when)."""
    repo: str | None = None
    """Chart only: Helm repository URL (None for an `oci://` chart, whose registry is in `name`)."""
    default_of: str | None = None
    """Chart image only: key of the chart whose default tag this must equal."""
    values_path: str | None = None
    """Chart image only: where that chart's values take this image block (`controller.image`)."""

    def __post_init__(self) -> None:
        where = f"pin {self.key!r} ({self.kind})"
        if self.kind not in get_args(Kind):
            raise ValueError(f"{where}: kind must be one of {', '.join(get_args(Kind))}")
        for field in ("key", "name", "version", "checked"):
            if not getattr(self, field).strip():
                raise ValueError(f"{where}: {field} is empty. Fix: fill it in (checked: the upstream file at the tag, and when)")
        if self.kind == "chart":
            if self.default_of or self.values_path:
                raise ValueError(f"{where}: default_of/values_path belong to chart images. Fix: remove them")
            if bool(self.repo) == self.name.startswith("oci://"):
                raise ValueError(f"{where}: repo must be set for a chart from a Helm repository and None for an oci:// chart")
            return
        if self.repo:
            raise ValueError(f"{where}: repo belongs to charts. Fix: remove it")
        if "." not in self.name.split("/", 1)[0] or "/" not in self.name:
            raise ValueError(f"{where}: name {self.name!r} must start with its registry host (docker.io/library/python)")
        if (self.kind == "chart-image") != bool(self.default_of and self.values_path):
            raise ValueError(f"{where}: default_of and values_path are required for a chart image, and only for one")


# Every pin re-read on 2026-12-06 against upstream snapshots of 2026-08 (issue 18): chart indexes and tags of
# NVIDIA/k8s-device-plugin (gh-pages index.yaml), NVIDIA/dcgm-exporter (gh-pages helm-charts/index.yaml),
# aws/karpenter-provider-aws (branch release-v1.6.3), kubernetes/autoscaler, prometheus-community/helm-charts
# and grafana/helm-charts; the image pins against the charts' values.yaml and templates at those tags, and
# docker-library/official-images library/* at 37079fb (2026-08-21).
PINS: tuple[Pin, ...] = (
    # Helm charts, as the releases install them.
    Pin(
        kind="chart",
        key="nvidia-device-plugin",
        name="nvidia-device-plugin",
        version="0.17.4",
        repo="https://nvidia.github.io/k8s-device-plugin",
        checked="NVIDIA/k8s-device-plugin gh-pages index.yaml lists nvidia-device-plugin 0.17.4; tag v0.17.4 deployments/helm/nvidia-device-plugin/Chart.yaml version/appVersion 0.17.4",
    ),
    # 4.2.3 never existed: the chart index has 4.1.3, 4.2.0, 4.4.0, ...; 4.1.3's default image is our pin.
    Pin(
        kind="chart",
        key="dcgm-exporter",
        name="dcgm-exporter",
        version="4.1.3",
        repo="https://nvidia.github.io/dcgm-exporter/helm-charts",
        checked="NVIDIA/dcgm-exporter gh-pages helm-charts/index.yaml lists 4.1.3; tag 4.2.3-4.1.3 deployment/Chart.yaml version/appVersion 4.1.3",
    ),
    Pin(
        kind="chart",
        key="karpenter",
        name="oci://public.ecr.aws/karpenter/karpenter",
        version="1.6.3",
        repo=None,
        checked="aws/karpenter-provider-aws release commit cea12b08 (branch release-v1.6.3, 'Stable Release updates Release v1.6.3') charts/karpenter/Chart.yaml 1.6.3 (the tag v1.6.3 itself still says 1.5.0)",
    ),
    Pin(
        kind="chart",
        key="cluster-autoscaler",
        name="cluster-autoscaler",
        version="9.50.1",
        repo="https://kubernetes.github.io/autoscaler",
        checked="kubernetes/autoscaler tag cluster-autoscaler-chart-9.50.1 charts/cluster-autoscaler/Chart.yaml version 9.50.1, appVersion 1.33.0",
    ),
    Pin(
        kind="chart",
        key="kube-prometheus-stack",
        name="kube-prometheus-stack",
        version="77.6.2",
        repo="https://prometheus-community.github.io/helm-charts",
        checked="prometheus-community/helm-charts tag kube-prometheus-stack-77.6.2 Chart.yaml appVersion v0.85.0, dependencies kube-state-metrics 6.3.0, grafana 9.4.5",
    ),
    Pin(
        kind="chart",
        key="prometheus-pushgateway",
        name="prometheus-pushgateway",
        version="3.4.1",
        repo="https://prometheus-community.github.io/helm-charts",
        checked="prometheus-community/helm-charts tag prometheus-pushgateway-3.4.1 Chart.yaml version 3.4.1, appVersion v1.11.1",
    ),
    # Pipelines (components/kubernetes/workflows.py) and notebooks (notebooks.py), re-read on 2026-12-06.
    Pin(
        kind="chart",
        key="argo-workflows",
        name="argo-workflows",
        version="1.0.18",
        repo="https://argoproj.github.io/argo-helm",
        checked="argoproj/argo-helm tag argo-workflows-1.0.18 (4f4cc4f9, 2026-06-25) charts/argo-workflows/Chart.yaml version 1.0.18, appVersion v4.0.6",
    ),
    Pin(
        kind="chart",
        key="jupyterhub",
        name="jupyterhub",
        version="4.4.0",
        repo="https://hub.jupyter.org/helm-chart/",
        checked="jupyterhub/zero-to-jupyterhub-k8s tag 4.4.0 (5c5f5df7, 2026-06-10): chartpress.yaml baseVersion 4.4.0, Chart.yaml appVersion 5.5.0 "
        "(JupyterHub 5.5.0); docs/source/jupyterhub/installation.md `helm repo add jupyterhub https://hub.jupyter.org/helm-chart/`",
    ),
    # Images the charts run, mirrored; each tag equals its chart's default at the pinned version.
    Pin(
        kind="chart-image",
        key="device-plugin",
        name="nvcr.io/nvidia/k8s-device-plugin",
        version="v0.17.4",
        default_of="nvidia-device-plugin",
        values_path="image",
        checked="nvidia-device-plugin 0.17.4 values.yaml image.tag empty -> templates/_helpers.tpl fullimage 'v' + appVersion 0.17.4",
    ),
    Pin(
        kind="chart-image",
        key="dcgm-exporter",
        name="nvcr.io/nvidia/k8s/dcgm-exporter",
        version="4.2.3-4.1.3-ubuntu22.04",
        default_of="dcgm-exporter",
        values_path="image",
        checked="dcgm-exporter tag 4.2.3-4.1.3 deployment/values.yaml image.tag",
    ),
    Pin(
        kind="chart-image",
        key="karpenter",
        name="public.ecr.aws/karpenter/controller",
        version="1.6.3",
        default_of="karpenter",
        values_path="controller.image",
        checked="karpenter release commit of v1.6.3 charts/karpenter/values.yaml controller.image.tag",
    ),
    Pin(
        kind="chart-image",
        key="cluster-autoscaler",
        name="registry.k8s.io/autoscaling/cluster-autoscaler",
        version="v1.33.0",
        default_of="cluster-autoscaler",
        values_path="image",
        checked="cluster-autoscaler-chart-9.50.1 charts/cluster-autoscaler/values.yaml image.tag",
    ),
    Pin(
        kind="chart-image",
        key="prometheus",
        name="quay.io/prometheus/prometheus",
        version="v3.5.0",
        default_of="kube-prometheus-stack",
        values_path="prometheus.prometheusSpec.image",
        checked="kube-prometheus-stack-77.6.2 values.yaml prometheus.prometheusSpec.image.tag",
    ),
    Pin(
        kind="chart-image",
        key="alertmanager",
        name="quay.io/prometheus/alertmanager",
        version="v0.28.1",
        default_of="kube-prometheus-stack",
        values_path="alertmanager.alertmanagerSpec.image",
        checked="kube-prometheus-stack-77.6.2 values.yaml alertmanager.alertmanagerSpec.image.tag",
    ),
    Pin(
        kind="chart-image",
        key="prometheus-operator",
        name="quay.io/prometheus-operator/prometheus-operator",
        version="v0.85.0",
        default_of="kube-prometheus-stack",
        values_path="prometheusOperator.image",
        checked="kube-prometheus-stack-77.6.2 values.yaml prometheusOperator.image.tag empty -> templates/prometheus-operator/deployment.yaml default .Chart.AppVersion v0.85.0",
    ),
    Pin(
        kind="chart-image",
        key="config-reloader",
        name="quay.io/prometheus-operator/prometheus-config-reloader",
        version="v0.85.0",
        default_of="kube-prometheus-stack",
        values_path="prometheusOperator.prometheusConfigReloader.image",
        checked="kube-prometheus-stack-77.6.2 values.yaml prometheusOperator.prometheusConfigReloader.image.tag empty -> deployment.yaml default .Chart.AppVersion v0.85.0",
    ),
    Pin(
        kind="chart-image",
        key="kube-state-metrics",
        name="registry.k8s.io/kube-state-metrics/kube-state-metrics",
        version="v2.17.0",
        default_of="kube-prometheus-stack",
        values_path="kube-state-metrics.image",
        checked="kube-state-metrics-6.3.0 (dependency of kube-prometheus-stack 77.6.2) values.yaml image.tag empty -> _helpers.tpl 'v' + appVersion 2.17.0",
    ),
    Pin(
        kind="chart-image",
        key="grafana",
        name="docker.io/grafana/grafana",
        version="12.1.1",
        default_of="kube-prometheus-stack",
        values_path="grafana.image",
        checked="grafana/helm-charts tag grafana-9.4.5 (dependency of kube-prometheus-stack 77.6.2) values.yaml image.tag empty -> appVersion 12.1.1",
    ),
    Pin(
        kind="chart-image",
        key="grafana-sidecar",
        name="quay.io/kiwigrid/k8s-sidecar",
        version="1.30.10",
        default_of="kube-prometheus-stack",
        values_path="grafana.sidecar.image",
        checked="grafana/helm-charts tag grafana-9.4.5 values.yaml sidecar.image.tag 1.30.10",
    ),
    Pin(
        kind="chart-image",
        key="pushgateway",
        name="quay.io/prometheus/pushgateway",
        version="v1.11.1",
        default_of="prometheus-pushgateway",
        values_path="image",
        checked="prometheus-pushgateway-3.4.1 values.yaml image.tag empty -> _helpers.tpl default .Chart.AppVersion v1.11.1",
    ),
    Pin(
        kind="chart-image",
        key="argo-workflow-controller",
        name="quay.io/argoproj/workflow-controller",
        version="v4.0.6",
        default_of="argo-workflows",
        values_path="controller.image",
        checked="argo-workflows-1.0.18 values.yaml controller.image (registry quay.io, repository argoproj/workflow-controller, tag empty) "
        "-> _helpers.tpl argo-workflows.defaultTag .Chart.AppVersion v4.0.6",
    ),
    Pin(
        kind="chart-image",
        key="argo-exec",
        name="quay.io/argoproj/argoexec",
        version="v4.0.6",
        default_of="argo-workflows",
        values_path="executor.image",
        checked="argo-workflows-1.0.18 values.yaml executor.image (quay.io argoproj/argoexec, tag empty) -> defaultTag v4.0.6 (the controller's --executor-image)",
    ),
    Pin(
        kind="chart-image",
        key="argo-server",
        name="quay.io/argoproj/argocli",
        version="v4.0.6",
        default_of="argo-workflows",
        values_path="server.image",
        checked="argo-workflows-1.0.18 values.yaml server.image (quay.io argoproj/argocli, tag empty) -> defaultTag v4.0.6",
    ),
    Pin(
        kind="chart-image",
        key="jupyterhub-hub",
        name="quay.io/jupyterhub/k8s-hub",
        version="4.4.0",
        default_of="jupyterhub",
        values_path="hub.image",
        checked="zero-to-jupyterhub-k8s 4.4.0 values.yaml hub.image.name quay.io/jupyterhub/k8s-hub, tag set by chartpress to the chart version 4.4.0 "
        "(chartpress.yaml images.hub valuesPath hub.image)",
    ),
    Pin(
        kind="chart-image",
        key="jupyterhub-proxy",
        name="quay.io/jupyterhub/configurable-http-proxy",
        version="5.2.0",
        default_of="jupyterhub",
        values_path="proxy.chp.image",
        checked="zero-to-jupyterhub-k8s 4.4.0 values.yaml proxy.chp.image name quay.io/jupyterhub/configurable-http-proxy tag 5.2.0",
    ),
    # Build bases of the workload images (IMAGES.md recipe): mirrored too, never pulled from outside.
    Pin(
        kind="build-base",
        key="python-base",
        name="docker.io/library/python",
        version="3.11.16-slim-bookworm",
        checked="docker-library/official-images library/python at 37079fb (2026-08-21): the exact patch and Debian release, not the moving "
        "3.11-slim alias (now 3.11.16-slim-trixie, Debian 13); bookworm (Debian 12, glibc 2.36) is the Debian release of the machines the wheels were resolved on; "
        "the mirror keeps what it copied first (IMMUTABLE); a rebuild of the tag changes its digest, so the recipe records the digest it built from",
    ),
    Pin(
        kind="build-base",
        key="cuda-base",
        name="nvcr.io/nvidia/cuda",
        version="12.4.1-cudnn-runtime-ubuntu22.04",
        checked="gitlab.com/nvidia/container-images/cuda doc/supported-tags.md at 53a6a109 ('CUDA 12.4.1 Update', 2024-04-09) "
        "lists the 12.4.1 cudnn-runtime ubuntu22.04 tag (fixed, cuDNN 9)",
    ),
    # In-cluster data services of `cloud: kubernetes` (components/kubernetes/data_services.py), copied the
    # same way into the customer's registry, never into ECR/ACR (the clouds run managed services instead).
    Pin(
        kind="data-service",
        key="postgres",
        name="docker.io/library/postgres",
        version="17.11-trixie",
        checked="docker-library/official-images library/postgres at 37079fb (2026-08-21) lists 17.11-trixie (17/trixie); "
        "its Dockerfile adds user postgres uid 999",
    ),
    Pin(
        kind="data-service",
        key="redis",
        name="docker.io/library/redis",
        version="8.10.1-trixie",
        checked="docker-library/official-images library/redis at 37079fb (2026-08-21) lists 8.10.1-trixie (redis/docker-library-redis v8.10.1, debian); "
        "Debian variant runs as redis uid 999",
    ),
    Pin(
        kind="data-service",
        key="seaweedfs",
        name="docker.io/chrislusf/seaweedfs",
        version="4.44",
        checked="seaweedfs/seaweedfs tag 4.44 (weed/util/version/constants.go 4.44), k8s/charts/seaweedfs/values.yaml image chrislusf/seaweedfs, "
        "docker/Dockerfile.go_build user seaweed uid 1000 and /usr/bin/weed",
    ),
)


def _index(pins: tuple[Pin, ...]) -> tuple[dict[str, Pin], dict[str, Pin]]:
    """(charts by key, images by key), refusing a table whose keys or chart references do not hold."""
    charts: dict[str, Pin] = {}
    images: dict[str, Pin] = {}
    for p in pins:
        table = charts if p.kind == "chart" else images
        if p.key in table:
            raise ValueError(
                f"pin {p.key!r} ({p.kind}): key used twice among the {'charts' if p.kind == 'chart' else 'images'}. Fix: give one of them another key"
            )
        table[p.key] = p
    for p in images.values():
        if p.default_of is not None and p.default_of not in charts:
            raise ValueError(f"pin {p.key!r} (chart-image): default_of {p.default_of!r} is not a chart key; charts: {', '.join(charts)}")
    return charts, images


_CHARTS, _IMAGES = _index(PINS)


def chart(key: str) -> Pin:
    """The chart pinned under `key`: `chart("karpenter").version`."""
    if key not in _CHARTS:
        raise KeyError(f"chart {key!r} is not pinned; charts: {', '.join(_CHARTS)}. Fix: add it to PINS in components/kubernetes/pins.py")
    return _CHARTS[key]


def image(key: str) -> Pin:
    """The image pinned under `key` (chart image, build base or data service)."""
    if key not in _IMAGES:
        raise KeyError(f"image {key!r} is not pinned; images: {', '.join(_IMAGES)}. Fix: add it to PINS in components/kubernetes/pins.py")
    return _IMAGES[key]


def of_kind(*kinds: Kind) -> tuple[Pin, ...]:
    """The pins of these kinds, in table order."""
    return tuple(p for p in PINS if p.kind in kinds)
