"""Every image the platform layer runs and where it comes from in the in-region registry.

Nothing is pulled from outside the region at run time: third-party images are copied once into
the mirror repositories (`<registry>/sahab/mirror/<upstream path>`, see IMAGES.md for the copy
recipe) and workload images are built from `workloads/` into `<registry>/sahab/<workload>`. The
repositories are IMMUTABLE, so a tag is as fixed as a digest.

The tags come from the one pin table, components/kubernetes/pins.py; this module derives what the
registry and the charts' values need from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.kubernetes import pins


@dataclass(frozen=True)
class WorkloadImage:
    base: str
    """Key of the build base's pin (kind `build-base`)."""
    extras: tuple[str, ...]
    """pyproject extras installed (`pip install -c constraints.txt ".[extras]"`)."""
    packages: tuple[str, ...] = ()
    """Further packages (versions from constraints.txt)."""

    def __post_init__(self) -> None:
        if pins.image(self.base).kind != "build-base":
            raise ValueError(f"base: {self.base!r} is a {pins.image(self.base).kind} pin, not a build base (components/kubernetes/pins.py)")


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
    # The teams' notebook servers (components/kubernetes/notebooks.py): the workloads' stack with CUDA for
    # the GPU profiles, JupyterLab and `jupyterhub-singleuser` (the `notebooks` extra).
    "notebook": WorkloadImage("cuda-base", ("ml", "gpu", "aws", "azure", "notebooks")),
}


def build_args(repository: str, registry: str = "$REG") -> dict[str, str]:
    """`docker build --build-arg` values of one workload image (IMAGES.md recipe)."""
    w = WORKLOAD_IMAGES[repository]
    base = pins.image(w.base)
    return {"BASE": f"{registry}/sahab/{mirror_repository(w.base)}:{base.version}", "EXTRAS": ",".join(w.extras), "PACKAGES": " ".join(w.packages)}


def mirror_repository(key: str) -> str:
    """Repository of a pinned image under `sahab/`: `mirror/<upstream path without host>`, e.g. `mirror/prometheus/prometheus`."""
    return "mirror/" + pins.image(key).name.split("/", 1)[1]


def mirror(registry_host: pulumi.Input[str], key: str) -> dict[str, pulumi.Input[str]]:
    """Helm-style image parts (registry, repository, tag) of a mirrored image."""
    return {"registry": registry_host, "repository": f"sahab/{mirror_repository(key)}", "tag": pins.image(key).version}


def helm_image(registry_host: pulumi.Input[str], key: str, **extra: str) -> dict[str, pulumi.Output[str] | str]:
    """The `image:` block most charts take (`repository` with the registry host, `tag`), plus `extra`."""
    repository = pulumi.Output.format("{0}/sahab/{1}", registry_host, mirror_repository(key))
    return {"repository": repository, "tag": pins.image(key).version, **extra}


def mirror_ref(registry_host: pulumi.Input[str], key: str) -> pulumi.Output[str]:
    """The full reference `<host>/sahab/mirror/...:<tag>` of a mirrored image (a container's `image`)."""
    return pulumi.Output.format("{0}/sahab/{1}:{2}", registry_host, mirror_repository(key), pins.image(key).version)


def workload_ref(registry_host: pulumi.Input[str], repository: str, release: str) -> pulumi.Output[str]:
    """A workload image built from workloads/: `<host>/sahab/<repository>:<release>`."""
    if not release or release == "latest":
        raise ValueError(f"release: {release!r} is not an immutable tag")
    return pulumi.Output.format("{0}/sahab/{1}:{2}", registry_host, repository, release)


def required_mirror_repositories() -> list[str]:
    """The mirror repositories the clouds' registries create (the charts' images and the build bases;
    the data services run only on `cloud: kubernetes`, in the customer's registry)."""
    return sorted(mirror_repository(p.key) for p in pins.of_kind("chart-image", "build-base"))


def mirror_copies(*, data_services: bool = False) -> list[tuple[str, str]]:
    """(upstream reference, mirror reference under the registry) of every image to copy (IMAGES.md recipe)."""
    kinds: tuple[pins.Kind, ...] = ("chart-image", "build-base", "data-service") if data_services else ("chart-image", "build-base")
    return [(f"{p.name}:{p.version}", f"sahab/{mirror_repository(p.key)}:{p.version}") for p in pins.of_kind(*kinds)]
