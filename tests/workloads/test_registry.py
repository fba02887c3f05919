"""The registry, generic over projects: a version's tags (artifacts, int8, lineage, holdout metrics,
the gate), resolve / verify with an optional int8 graph, and promotion judged with the project's
gate on the versions' holdout tags (never across holdouts), by version with compare-and-set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from project_fixtures import write_project

from workloads.registry import tracking
from workloads.registry.client import (
    FEATURE_SPEC,
    FP32_ONNX,
    INT8_ONNX,
    PROJECT_JSON,
    ArtifactIntegrityError,
    PromotionConflict,
    PromotionRefused,
    VersionRecord,
    alias_versions,
    mlflow_client,
    promote,
    promote_tested,
    register_version,
    resolve,
    verify,
)
from workloads.settings import SahabSettings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One MLflow store for the module (each test has a project, so a registered model, of its own)."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture()
def registry(tmp_path, home):
    """(project: a binary one whose gate is auc >= 0.8, guardrail ece <= 0.05, max_regression 0.01; settings; register(...))."""
    project = write_project(tmp_path / "projects", framework="lightgbm", task="binary")
    raw = json.loads(project.spec.model_dump_json())
    raw["evaluation"]["gate"] = {"primary": {"metric": "auc", "min": 0.8}, "guardrails": [{"metric": "ece", "max": 0.05}], "max_regression": 0.01}
    (project.folder / "project.yaml").write_text(json.dumps(raw))
    from workloads.project import load_project

    project = load_project(project.folder)
    settings = SahabSettings(home=home, mlflow_tracking_uri=None, mlflow_artifact_location=None)
    count = iter(range(1, 100))

    def register(
        holdout: dict, *, champion: dict | None = None, champion_version: str | None = None, holdout_sha: str = "h1", int8: bool = False, alias="challenger"
    ):
        n = next(count)
        folder = tmp_path / f"onnx-{n}"
        folder.mkdir()
        for name in (FP32_ONNX, FEATURE_SPEC, PROJECT_JSON) + ((INT8_ONNX,) if int8 else ()):
            (folder / name).write_bytes(f"{name} of version {n}".encode())
        run_id = tracking.start_run({"n": n}, data_sha256=f"data-{n}", experiment=project.name, settings=settings)
        tracking.log_artifacts(run_id, folder, "onnx", settings=settings)
        record = VersionRecord(
            data_sha256=f"data-{n}",
            training_window="2026-11-01T00:00:00+00:00/2026-11-09T00:00:00+00:00",
            holdout_window="2026-11-09T00:00:00+00:00/2026-11-10T00:00:00+00:00",
            holdout_sha256=holdout_sha,
            holdout_metrics=holdout,
            champion_metrics=champion,
            champion_version=champion_version,
        )
        return register_version(run_id, folder, name=project, record=record, alias=alias, settings=settings)

    return project, settings, register


def test_a_version_carries_its_artifacts_lineage_holdout_and_gate(registry):
    project, settings, register = registry
    version = register({"auc": 0.86, "ece": 0.02}, champion={"auc": 0.85, "ece": 0.03}, champion_version="7", int8=True)
    tags = mlflow_client(settings).get_model_version(project.name, version).tags
    for tag, want in {
        "sahab.data.sha256": "data-1",
        "sahab.training.window": "2026-11-01T00:00:00+00:00/2026-11-09T00:00:00+00:00",
        "sahab.holdout.window": "2026-11-09T00:00:00+00:00/2026-11-10T00:00:00+00:00",
        "sahab.holdout.sha256": "h1",
        "sahab.holdout.auc": "0.86",
        "sahab.holdout.champion.auc": "0.85",
        "sahab.holdout.champion.version": "7",
        "sahab.int8": "true",
    }.items():
        assert tags.get(tag) == want, f"{project.name} v{version}: tag {tag} is {tags.get(tag)!r}, expected {want!r}"
    assert {f"sahab.sha256.{f}" for f in (FP32_ONNX, INT8_ONNX, FEATURE_SPEC, PROJECT_JSON)} <= tags.keys(), sorted(tags)
    assert json.loads(tags["sahab.gate"])["primary"] == {"metric": "auc", "min": 0.8, "max": None}, tags["sahab.gate"]


def test_resolve_and_verify_with_and_without_int8(registry, tmp_path):
    project, settings, register = registry
    register({"auc": 0.86, "ece": 0.02}, int8=False)
    resolved = resolve("challenger", name=project, dst=tmp_path / "dl", settings=settings)
    assert not resolved.has_int8 and INT8_ONNX not in resolved.paths(), "no int8 graph: nothing to download or verify"
    verify(resolved)
    assert resolved.holdout_metrics() == {"auc": 0.86, "ece": 0.02}, resolved.holdout_metrics()
    resolved.feature_spec.write_text("tampered")
    with pytest.raises(ArtifactIntegrityError, match=f"{FEATURE_SPEC}: sha256"):
        verify(resolved)
    register({"auc": 0.86, "ece": 0.02}, int8=True, alias="with-int8")
    with_int8 = resolve("with-int8", name=project.name, dst=tmp_path / "dl2", settings=settings)
    assert with_int8.has_int8 and with_int8.int8_onnx.read_bytes() == b"model.int8.onnx of version 2", with_int8.int8_onnx
    verify(with_int8)


def test_promotion_is_judged_on_the_common_holdout(registry):
    project, settings, register = registry
    v1 = register({"auc": 0.85, "ece": 0.02})
    assert promote(project, settings=settings) == v1, "the first version passes the absolute bounds and becomes champion"

    v2 = register({"auc": 0.845, "ece": 0.02}, champion={"auc": 0.86, "ece": 0.02}, champion_version=v1)
    with pytest.raises(PromotionRefused, match=r"max_regression auc: 0.845 fails >= 0.85.*champion v1 scored on this version's holdout"):
        promote(project, settings=settings)
    assert alias_versions(("champion", "challenger"), name=project, settings=settings) == {"champion": v1, "challenger": v2}, "a refusal moves nothing"

    # v1's own tag says 0.85 on another holdout; on v3's holdout v1 scored 0.80: that is the comparison.
    v3 = register({"auc": 0.81, "ece": 0.03}, champion={"auc": 0.80, "ece": 0.02}, champion_version=v1, holdout_sha="h2")
    assert promote(project, settings=settings) == v3
    checks = json.loads(mlflow_client(settings).get_model_version(project.name, v3).tags["sahab.promotion.checks"])
    assert checks["passed"] and "scored on this version's holdout" in checks["basis"], checks
    assert [c["name"] for c in checks["checks"]] == ["primary", "guardrail", "max_regression"], checks

    # No metrics of the champion on this holdout: absolute bounds only, and the record says so.
    v4 = register({"auc": 0.82, "ece": 0.01}, holdout_sha="h3")
    assert promote(project, settings=settings) == v4
    checks = json.loads(mlflow_client(settings).get_model_version(project.name, v4).tags["sahab.promotion.checks"])
    assert "max_regression not judged (never across holdouts)" in checks["basis"], checks["basis"]
    assert "max_regression" not in [c["name"] for c in checks["checks"]], checks

    register({"auc": 0.9, "ece": 0.08}, holdout_sha="h3")
    with pytest.raises(PromotionRefused, match="guardrail ece: 0.08 fails <= 0.05"):
        promote(project.name, settings=settings)  # by name: the gate recorded on the version judges


def test_promote_tested_moves_only_the_tested_versions(registry):
    project, settings, register = registry
    v1 = register({"auc": 0.85, "ece": 0.02})
    promote(project, settings=settings)
    v2 = register({"auc": 0.86, "ece": 0.02}, champion={"auc": 0.85, "ece": 0.02}, champion_version=v1)
    with pytest.raises(PromotionConflict, match=f"tested challenger=v9 against champion=v{v1}"):
        promote_tested(tested_challenger="9", tested_champion=v1, name=project, settings=settings)
    assert promote_tested(tested_challenger=v2, tested_champion=v1, name=project.name, settings=settings) == v2
    assert alias_versions(("champion", "challenger"), name=project, settings=settings) == {"champion": v2, "challenger": None}


def test_a_version_without_holdout_tags_is_never_promoted(registry):
    project, settings, register = registry
    register({})
    with pytest.raises(PromotionRefused, match="registered without a holdout evaluation"):
        promote(project, settings=settings)


def test_registry_cli_promote_refusal_exits_3(registry, tmp_path):
    import os

    project, settings, register = registry
    register({"auc": 0.7, "ece": 0.02})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    env["SAHAB_HOME"] = str(settings.home)
    done = subprocess.run(
        [sys.executable, "-m", "workloads.registry", "--project", str(project.folder), "promote"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3 and "primary auc: 0.7 fails >= 0.8" in done.stderr, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
