"""Environment variables: a misspelt knob is an error, and the platform never sets one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from workloads.monitoring.drift import DriftSettings
from workloads.serving.settings import ServingSettings
from workloads.settings import FeatureStoreSettings, TrainJobSettings

STRICT = (ServingSettings, DriftSettings, FeatureStoreSettings, TrainJobSettings)


def test_misspelt_variable_is_named_with_a_suggestion(monkeypatch):
    monkeypatch.setenv("SAHAB_SERVING_MAX_LATENCY", "5")
    with pytest.raises(ValidationError, match="SAHAB_SERVING_MAX_LATENCY \\(did you mean SAHAB_SERVING_MAX_LATENCY_MS\\?\\)"):
        ServingSettings()


def test_known_variables_still_apply(monkeypatch):
    monkeypatch.setenv("SAHAB_SERVING_MAX_LATENCY_MS", "50")
    assert ServingSettings().max_latency_ms == 50


def test_every_variable_the_manifests_set_is_one_the_workload_reads(uae_plan):
    """The strict check must never crash-loop a pod the platform itself configured."""
    prefixes = {cls.model_config["env_prefix"]: {cls.model_config["env_prefix"] + f.upper() for f in cls.model_fields} for cls in STRICT}
    seen = 0
    for r in uae_plan.resources:
        if not r.type.startswith("kubernetes:"):
            continue
        spec = r.inputs.get("spec") or {}
        template = (spec.get("jobTemplate") or {}).get("spec", spec).get("template") or {}
        for c in (template.get("spec") or {}).get("containers", []):
            for env in c.get("env", []):
                for prefix, known in prefixes.items():
                    if env["name"].startswith(prefix):
                        seen += 1
                        assert env["name"] in known, f"{r.urn}: {env['name']} is not a field of the workload's settings"
    assert seen >= 5, f"only {seen} prefixed variables found in the manifests"


def test_the_model_and_experiment_are_named_after_the_project_unless_set(monkeypatch):
    from workloads.settings import SahabSettings

    for name in ("SAHAB_MODEL_NAME", "SAHAB_MLFLOW_EXPERIMENT"):
        monkeypatch.delenv(name, raising=False)
    plain = SahabSettings()
    assert plain.model_name is None and plain.mlflow_experiment is None, "no model is built in: SahabSettings has no default model name"
    mine = plain.for_project("delivery-time")
    assert (mine.model_name, mine.mlflow_experiment) == ("delivery-time", "delivery-time"), "the project names its registered model and experiment"
    monkeypatch.setenv("SAHAB_MODEL_NAME", "pinned")
    assert SahabSettings().for_project("delivery-time").model_name == "pinned", "SAHAB_MODEL_NAME still wins (tests, verify)"
