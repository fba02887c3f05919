"""End to end on CPU: generate -> Feast -> train -> register -> export -> parity -> int8 -> promote,
then what MLflow shows: lineage, artifacts, sha256 tags, aliases, promotion records."""

from __future__ import annotations

import json

import pytest

from workloads.pipeline import local_settings
from workloads.registry.client import (
    ARTIFACTS,
    CHALLENGER,
    CHAMPION,
    ArtifactIntegrityError,
    PromotionGate,
    PromotionRefused,
    mlflow_client,
    promote,
    resolve,
    sha_tag,
    verify,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_pipeline_runs_within_two_minutes(pipeline):
    _, resolved, seconds = pipeline
    assert seconds < 120, f"end-to-end took {seconds:.0f} s"
    assert resolved.alias == CHAMPION
    verify(resolved)  # digests of the downloaded files match the registry's tags
    assert resolved.metrics["onnx_parity_max_abs_diff"] <= 1e-4
    assert "int8_auc_delta_points" in resolved.metrics and abs(resolved.metrics["int8_auc_delta_points"]) <= 1.0
    assert resolved.metrics["val_auc"] > 0.8


def test_mlflow_shows_lineage_artifacts_and_aliases(pipeline):
    home, resolved, _ = pipeline
    settings = local_settings(home)
    client = mlflow_client(settings)
    aliases = {k: str(v) for k, v in client.get_registered_model(settings.model_name).aliases.items()}
    assert aliases == {CHAMPION: "1", CHALLENGER: "2"}, aliases
    run = client.get_run(resolved.run_id)
    tags, params = run.data.tags, run.data.params
    assert len(tags["sahab.data.sha256"]) == 64
    assert set(json.loads(tags["sahab.feature_views"])) == {"transaction_features", "account_activity"}
    assert tags["sahab.code_version"]
    assert params["model.kind"] == "mlp" and params["steps"] == "200"
    listed = {a.path for a in client.list_artifacts(resolved.run_id, "onnx")}
    assert listed == {f"onnx/{f}" for f in ARTIFACTS}
    assert {a.path for a in client.list_artifacts(resolved.run_id)} >= {"config.json", "torch", "onnx"}
    version = client.get_model_version(settings.model_name, resolved.version)
    for name in ARTIFACTS:
        assert len(version.tags[sha_tag(name)]) == 64, name
    checks = json.loads(version.tags["sahab.promotion.checks"])
    assert all(c["passed"] for c in checks.values()) and {"min_auc", "max_int8_auc_delta_points"} <= checks.keys()


def test_tampered_artifact_is_named(pipeline, tmp_path):
    home, _, _ = pipeline
    resolved = resolve(CHAMPION, settings=local_settings(home), dst=tmp_path)
    resolved.int8_onnx.write_bytes(resolved.int8_onnx.read_bytes() + b"\0")
    with pytest.raises(ArtifactIntegrityError, match="model.int8.onnx: sha256"):
        verify(resolved)
    resolved.feature_spec.unlink()
    resolved.int8_onnx.unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        verify(resolved)


def test_promotion_is_gated_then_explicit(pipeline):
    home, _, _ = pipeline
    settings = local_settings(home)
    client = mlflow_client(settings)
    with pytest.raises(PromotionRefused, match="min_auc"):
        promote(gate=PromotionGate(min_auc=0.999), settings=settings)
    assert str(client.get_registered_model(settings.model_name).aliases[CHAMPION]) == "1", "a refusal changes nothing"
    promoted = promote(gate=PromotionGate(max_auc_regression=0.05), settings=settings)
    aliases = {k: str(v) for k, v in client.get_registered_model(settings.model_name).aliases.items()}
    assert promoted == "2" and aliases == {CHAMPION: "2"}
    assert client.get_model_version(settings.model_name, "2").tags["sahab.promotion.previous"] == "1"


def test_drift_reference_is_taken_at_training_time(pipeline, tmp_path):
    """Each registered version carries the profile the drift job compares live traffic with."""
    from mlflow.artifacts import download_artifacts

    from workloads.data.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES
    from workloads.monitoring.profile import ReferenceProfile
    from workloads.pipeline import REFERENCE_PROFILE, TAG_REFERENCE
    from workloads.registry.client import sha256_file

    home, resolved, _ = pipeline
    settings = local_settings(home)
    client = mlflow_client(settings)
    version = client.get_model_version(settings.model_name, resolved.version)
    assert version.tags[TAG_REFERENCE] == f"monitoring/{REFERENCE_PROFILE}"
    local = download_artifacts(run_id=resolved.run_id, artifact_path=version.tags[TAG_REFERENCE], dst_path=str(tmp_path), tracking_uri=client.tracking_uri)
    assert sha256_file(__import__("pathlib").Path(local)) == version.tags[sha_tag(REFERENCE_PROFILE)], "reference profile digest differs"
    profile = ReferenceProfile.load(local)
    assert set(profile.numeric) == {*NUMERIC_FEATURES, "score"} and set(profile.categorical) == set(CATEGORICAL_FEATURES)
    assert profile.meta["run_id"] == resolved.run_id
    assert 0.0 < profile.numeric["score"].mean < 0.5, "scores are fraud probabilities on mostly legitimate rows"
