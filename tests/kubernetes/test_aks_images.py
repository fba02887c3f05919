"""The workload images on both clouds: one image per workload installs `azure` beside `aws`, and every
image whose workload reaches MLflow's artifacts installs what MLflow's wasbs:// store needs on AKS."""

from __future__ import annotations

import re
from importlib.metadata import requires
from pathlib import Path

from test_k8s_defects import _installed

from components.kubernetes.images import WORKLOAD_IMAGES, build_args

REPO = Path(__file__).resolve().parents[2]


def _mlflow_azure_requirements() -> set[str]:
    """What MLflow itself declares for Azure Blob (its `azure` extra: the imports of
    mlflow/store/artifact/azure_blob_artifact_repo.py)."""
    reqs = [r for r in requires("mlflow") or [] if re.search(r"""extra\s*==\s*["']azure["']""", r)]
    return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower() for r in reqs}


def test_every_workload_image_installs_azure_beside_aws():
    for repo, image in WORKLOAD_IMAGES.items():
        assert {"aws", "azure"} <= set(image.extras), f"sahab/{repo}: extras {image.extras} (one image per workload for every cloud)"
        assert {"aws", "azure"} <= set(build_args(repo)["EXTRAS"].split(",")), f"sahab/{repo}: build args {build_args(repo)}"


def test_images_that_reach_mlflow_artifacts_have_its_azure_store():
    """The MLflow server writes wasbs:// (its artifacts destination); training and export log to it, drift
    reads the champion's reference from it: each needs MLflow's Azure requirements, pinned exactly."""
    wanted = _mlflow_azure_requirements()
    assert {"azure-storage-blob", "azure-identity"} <= wanted, f"mlflow's azure extra changed: {sorted(wanted)}"
    pins = {line.split("==")[0].lower() for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line and not line.startswith("#")}
    assert wanted <= pins, f"constraints.txt: no exact pin for {sorted(wanted - pins)}"
    for repo in ("mlflow", "training", "export", "drift"):
        missing = wanted - _installed(WORKLOAD_IMAGES[repo])
        assert not missing, f"sahab/{repo}: the recipe installs no {sorted(missing)} (MLflow's wasbs:// artifact store)"


def test_the_serving_bento_reaches_mlflow_artifacts_on_azure_with_the_pinned_packages():
    """Serving loads the champion and challenger from the registry's artifacts (wasbs:// on AKS) with
    mlflow-skinny: its bento installs MLflow's Azure requirements, and every `==` pin of the bento
    equals constraints.txt (the versions the tests ran with)."""
    import yaml

    bento = yaml.safe_load((REPO / "workloads/serving/bentofile.yaml").read_text())
    packages = bento["python"]["packages"]
    names = {re.split(r"[\[<>=!~ ;]", p, maxsplit=1)[0].lower() for p in packages}
    missing = _mlflow_azure_requirements() - names
    assert not missing, f"workloads/serving/bentofile.yaml: no {sorted(missing)} (mlflow-skinny's wasbs:// store)"

    def norm(name: str) -> str:  # PEP 503: prometheus_client and prometheus-client are one project
        return re.sub(r"[-_.]+", "-", name.strip().lower())

    pins = {
        norm(n): v
        for n, v in (line.split("==", 1) for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line and not line.startswith("#"))
    }
    for p in packages:
        if "==" in p:
            name, version = p.split("==", 1)
            assert pins.get(norm(name)) == version, f"workloads/serving/bentofile.yaml: {p} but constraints.txt pins {name}=={pins.get(name)}"
