"""The workload_env check: each container running a Sahab workload gets an environment the
workload's own settings classes accept. Broken containers are built here (not taken from a shipped
plan, which other work fixes); the real settings classes judge them in the probe process."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from sahab.engine.offline import SECRET, UNKNOWN
from sahab.gate import deployability, reports
from sahab.gate.deployability import Context, workload_env
from sahab.gate.model import GateResult

KEY_VAULT = "https://sahabuaenorthkv.vault.azure.net/secrets/online-store"
PROJECT = "projects/transaction-risk"  # relative to the image's working directory (the probe runs from the repository root)
ABFSS = "abfss://offline-features@sahabuaenorthdata.dfs.core.windows.net"


def _env(**values: Any) -> list[dict[str, Any]]:
    return [{"name": k, **(v if isinstance(v, dict) else {"value": v})} for k, v in values.items()]


def _deployment(ns: str, name: str, containers: list[dict[str, Any]], kind: str = "Deployment") -> dict[str, Any]:
    pod = {"metadata": {"labels": {"app.kubernetes.io/name": name}}, "spec": {"containers": containers}}
    spec = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": pod}}} if kind == "CronJob" else {"template": pod}
    return {"apiVersion": "apps/v1" if kind == "Deployment" else "batch/v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}


def _ctx(*docs: dict[str, Any]) -> Context:
    manifests = [(f"{d['metadata'].get('namespace', '_cluster')}/{d['kind'].lower()}-{d['metadata']['name']}.yaml", d) for d in docs]
    return Context(
        plan=SimpleNamespace(resources=[], config={}),
        manifests=manifests,
        releases=[],
        spec={},
        urns={rel: f"urn:pulumi:test::sahab::{rel}" for rel, _ in manifests},
    )


def _feature_server(**env: Any) -> dict[str, Any]:
    """The feature server as uae-north rendered it before Feast had an azure mode."""
    secret = {"SAHAB_FEAST_REDIS_URL": {"arn": KEY_VAULT, "template": "sahab-features.uaenorth.redis.azure.net:10000,ssl=true,password={value}"}}
    base = {"SAHAB_HOME": "/tmp/sahab", "SAHAB_PROJECT": PROJECT, "SAHAB_SECRET_ENV": json.dumps(secret)}
    return _deployment(
        "sahab-platform",
        "feature-server",
        [
            {
                "name": "feature-server",
                "image": "acr.azurecr.io/sahab/features:0.1.0",
                "command": ["python", "/opt/sahab/with_secrets.py", "python", "-m", "workloads.features"],
                "args": ["serve", "--host", "0.0.0.0", "--port", "6566"],
                "env": _env(**{**base, **env}),
            }
        ],
    )


def _serving(**env: Any) -> dict[str, Any]:
    """The scoring Deployment: the bento's default command (no `command`) and the control plane."""
    return _deployment(
        "sahab-serving",
        "serving",
        [
            {"name": "bentoml", "image": "acr.azurecr.io/sahab/serving:0.1.0", "env": _env(SAHAB_HOME="/tmp/sahab", SAHAB_PROJECT=PROJECT, **env)},
            {
                "name": "control",
                "image": "acr.azurecr.io/sahab/serving:0.1.0",
                "command": ["python", "/opt/sahab/with_secrets.py", "python", "-m", "workloads.serving.control"],
                "env": _env(
                    SAHAB_PROJECT=PROJECT,
                    SAHAB_SECRET_ENV=json.dumps(
                        {"SAHAB_SERVING_AB_REDIS_URL": {"arn": KEY_VAULT, "template": "rediss://:{value_url}@sahab-features.uaenorth.redis.azure.net:10000/0"}}
                    ),
                ),
            },
        ],
    )


def _messages(findings: list[Any]) -> list[str]:
    assert all(f.policy == workload_env.POLICY and f.mandatory for f in findings), [(f.policy, f.enforcement) for f in findings]
    return [f.message for f in findings]


def test_feast_in_aws_mode_with_an_azure_region_and_an_abfss_uri_is_refused():
    """uae-north's defect: SAHAB_FEAST_MODE=aws, REGION=uaenorth, S3_URI=abfss://... (FeatureStoreSettings refuses it)."""
    ctx = _ctx(_feature_server(SAHAB_FEAST_MODE="aws", SAHAB_FEAST_REGION="uaenorth", SAHAB_FEAST_S3_URI=f"{ABFSS}/feast"))
    found = workload_env.check(ctx)
    messages = _messages(found)
    assert any("SAHAB_FEAST_S3_URI=" in m and "abfss://" in m for m in messages), messages
    for m in messages:
        assert m.startswith(
            "Deployment/sahab-platform/feature-server container feature-server (python -m workloads.features): FeatureStoreSettings refuses "
        ), m
        assert "Fix:" in m and "workloads/settings.py FeatureStoreSettings" in m, m
    assert {f.file for f in found} == {"sahab-platform/deployment-feature-server.yaml"}
    assert {f.urn for f in found} == {"urn:pulumi:test::sahab::sahab-platform/deployment-feature-server.yaml"}


def test_feast_in_aws_mode_in_its_region_with_an_s3_uri_is_accepted():
    ctx = _ctx(_feature_server(SAHAB_FEAST_MODE="aws", SAHAB_FEAST_REGION="me-central-1", SAHAB_FEAST_S3_URI="s3://offline/feast"))
    assert workload_env.check(ctx) == []
    assert ctx.extras["workload_env"] == [
        {
            "container": "Deployment/sahab-platform/feature-server container feature-server",
            "entry": "python -m workloads.features",
            "classes": list(workload_env.ENTRY_POINTS["python -m workloads.features"]),
            "refused": 0,
        }
    ]


BENTO = "Deployment/sahab-serving/serving container bentoml (bentoml serve): ServingSettings refuses "


def test_serving_refuses_a_prediction_log_it_cannot_open():
    messages = _messages(workload_env.check(_ctx(_serving(SAHAB_SERVING_PREDICTION_LOG_URI="gs://logs/serving/"))))
    assert len(messages) == 1 and messages[0].startswith(BENTO + "SAHAB_SERVING_PREDICTION_LOG_URI='gs://logs/serving/', so the workload exits at start: "), (
        messages
    )
    assert "Fix:" in messages[0], messages
    assert not any("container control" in m for m in messages), f"the control plane's env is valid: {messages}"


def test_a_tokenisation_key_in_an_object_store_without_its_wrapping_key_is_refused():
    """Issue 22: PrivacySettings is built from every project container's env: an s3:// key object with no
    SAHAB_PRIVACY_KMS_KEY (the key would sit in the bucket unwrapped) fails the gate; with it, it passes."""
    uri = "s3://offline/privacy/tokenisation-key.json"
    messages = _messages(workload_env.check(_ctx(_serving(SAHAB_PRIVACY_KEY_URI=uri, SAHAB_PRIVACY_ENVIRONMENT="uae-central"))))
    privacy = "Deployment/sahab-serving/serving container bentoml (bentoml serve): PrivacySettings refuses "
    assert len(messages) == 1 and messages[0].startswith(privacy) and "SAHAB_PRIVACY_KMS_KEY" in messages[0], messages
    assert "Fix:" in messages[0], messages
    kms = "arn:aws:kms:me-central-1:111122223333:key/0b7c3f4e-1111-2222-3333-444455556666"
    assert workload_env.check(_ctx(_serving(SAHAB_PRIVACY_KEY_URI=uri, SAHAB_PRIVACY_KMS_KEY=kms))) == [], "SAHAB_PRIVACY_* with its KMS key is accepted"


def test_a_misspelt_variable_under_a_workload_prefix_is_refused():
    messages = _messages(workload_env.check(_ctx(_serving(SAHAB_SERVING_CHALENGER_WEIGHT="0.2"))))
    assert len(messages) == 1 and messages[0].startswith(BENTO + "SAHAB_SERVING_CHALENGER_WEIGHT='0.2'"), messages
    assert "did you mean SAHAB_SERVING_CHALLENGER_WEIGHT?" in messages[0] and "Fix:" in messages[0], messages


def test_a_secret_template_is_rendered_with_placeholders_and_checked():
    doc = _serving()
    control = doc["spec"]["template"]["spec"]["containers"][1]
    control["env"] = _env(
        SAHAB_PROJECT=PROJECT, SAHAB_SECRET_ENV=json.dumps({"SAHAB_SERVING_AB_REDIS_URL": {"arn": KEY_VAULT, "template": "{value}@redis:10000"}})
    )
    messages = _messages(workload_env.check(_ctx(doc)))
    assert len(messages) == 1 and "container control (python -m workloads.serving.control)" in messages[0], messages
    assert "SAHAB_SERVING_AB_REDIS_URL='placeholder-value@redis:10000'" in messages[0] and "redis://" in messages[0], messages
    control["env"] = _env(SAHAB_PROJECT=PROJECT, SAHAB_SECRET_ENV="{not json")
    messages = _messages(workload_env.check(_ctx(doc)))
    assert len(messages) == 1 and "SAHAB_SECRET_ENV cannot be rendered by with_secrets.py" in messages[0] and "Fix:" in messages[0], messages


def test_a_required_variable_left_unset_is_refused():
    drift = _deployment(
        "sahab-monitoring",
        "drift",
        [
            {
                "name": "drift",
                "image": "acr.azurecr.io/sahab/drift:0.1.0",
                "command": ["python", "-m", "workloads.monitoring", "run", "--out-dir", "/tmp/drift"],
                # The prediction log and the state default to the project's local folders: only the
                # project itself is required (SAHAB_PROJECT), and it is left unset.
                "env": _env(SAHAB_DRIFT_WINDOW="1h"),
            }
        ],
        kind="CronJob",
    )
    messages = _messages(workload_env.check(_ctx(drift)))
    assert messages and all(
        m.startswith("CronJob/sahab-monitoring/drift container drift (python -m workloads.monitoring run): from_env refuses SAHAB_PROJECT (unset)")
        for m in messages
    ), messages


def test_unknown_outputs_and_secret_references_count_as_set():
    ctx = _ctx(
        _feature_server(
            SAHAB_FEAST_MODE="aws",
            SAHAB_FEAST_REGION="me-central-1",
            SAHAB_FEAST_S3_URI=UNKNOWN,
            SAHAB_FEAST_PROJECT={"valueFrom": {"secretKeyRef": {"name": "feast", "key": "project"}}},
        )
    )
    assert workload_env.check(ctx) == [], "an unknown Output may hold an s3:// URI: not a refusal"
    ctx = _ctx(_serving(SAHAB_SERVING_PREDICTION_LOG_URI=SECRET))
    assert workload_env.check(ctx) == []
    ctx = _ctx(_serving(SAHAB_SERVING_PREDICTION_LOG_URI=f"gs://{UNKNOWN}/log/"))
    assert workload_env.check(ctx) == [], "a value with an unknown part counts as set (as the whole Output would)"


def test_kubernetes_expansion_config_maps_and_field_references_build_the_env():
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "feast", "namespace": "sahab-platform"},
        "data": {"SAHAB_FEAST_MODE": "aws", "REGION": "me-south-1"},
    }
    doc = _feature_server(
        SAHAB_FEAST_REGION="$(REGION)", SAHAB_FEAST_S3_URI="s3://offline/$(POD)/$$(literal)", POD={"valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    )
    container = doc["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"] = [{"configMapRef": {"name": "feast"}}]
    container["env"].insert(0, container["env"].pop())  # POD before its use
    ctx = _ctx(doc, config)
    env = workload_env.container_env(ctx, "sahab-platform", container)
    assert env["SAHAB_FEAST_REGION"] == "me-south-1" and env["SAHAB_FEAST_S3_URI"] == "s3://offline/placeholder/$(literal)", env
    messages = _messages(workload_env.check(ctx))
    assert any("SAHAB_FEAST_REGION='me-south-1'" in m and "not in the UAE" in m for m in messages), (
        f"Bahrain's region through envFrom and $(VAR) is not refused: {messages}"
    )


def test_mlflow_server_needs_stores_it_can_open():
    def mlflow(destination: str) -> Context:
        return _ctx(
            _deployment(
                "sahab-platform",
                "mlflow",
                [
                    {
                        "name": "mlflow",
                        "image": "acr.azurecr.io/sahab/mlflow:0.1.0",
                        "command": ["python", "/opt/sahab/with_secrets.py", "mlflow", "server"],
                        "args": ["--host", "0.0.0.0", "--serve-artifacts"],
                        "env": _env(
                            MLFLOW_ARTIFACTS_DESTINATION=destination,
                            SAHAB_SECRET_ENV=json.dumps(
                                {
                                    "MLFLOW_BACKEND_STORE_URI": {
                                        "arn": "https://kv.vault.azure.net/secrets/registry-db",
                                        "template": "postgresql://{username_url}:{password_url}@db:5432/mlflow",
                                    }
                                }
                            ),
                        ),
                    }
                ],
            )
        )

    assert workload_env.check(mlflow("wasbs://experiment-artifacts@acct.blob.core.windows.net/mlflow")) == []
    messages = _messages(workload_env.check(mlflow("az://experiment-artifacts/mlflow")))
    assert len(messages) == 1 and "(mlflow server): mlflow-server refuses MLFLOW_ARTIFACTS_DESTINATION='az://experiment-artifacts/mlflow'" in messages[0], (
        messages
    )


@pytest.mark.parametrize(
    ("command", "args", "image", "expected"),
    [
        (
            ["/usr/bin/tini", "--", "python", "-m", "workloads.pipeline", "retrain", "--resume"],
            None,
            "acr.azurecr.io/sahab/training:1",
            ["python -m workloads.pipeline"],
        ),
        (
            ["deepspeed", "--num_gpus", "8", "--module", "workloads.training", "--resume"],
            None,
            "acr.azurecr.io/sahab/training:1",
            ["python -m workloads.training"],
        ),
        (
            ["/bin/sh", "-c", "set -u\npython -m workloads.monitoring check --reference x\nexec python /opt/sahab/retrain_trigger.py"],
            None,
            "acr.azurecr.io/sahab/drift:1",
            ["python -m workloads.monitoring check"],
        ),
        (None, None, "acr.azurecr.io/sahab/serving:1", ["bentoml serve"]),
        (None, None, "registry.smb.example.ae:5000/sahab/serving:0.1.0", ["bentoml serve"]),
        (["bentoml", "serve", "workloads.serving.service:TransactionRisk"], None, "acr.azurecr.io/sahab/other:1", ["bentoml serve"]),
        (None, ["/etc/redis/redis.conf"], "acr.azurecr.io/sahab/mirror/library/redis:8", []),
        (["python", "-m", "workloads.serving.evaluator", "--once"], None, "acr.azurecr.io/sahab/serving:1", ["python -m workloads.serving.evaluator"]),
    ],
)
def test_entry_points_are_found_behind_wrappers(command, args, image, expected):
    container = {"name": "c", "image": image, **({"command": command} if command else {}), **({"args": args} if args else {})}
    assert workload_env.entry_points(container) == expected


def test_the_check_is_registered_and_its_section_is_in_report_md():
    assert workload_env.check in deployability.CHECKS
    assert workload_env.workload_env_section in reports.SECTIONS
    ctx = _ctx(_serving(SAHAB_SERVING_PREDICTION_LOG_URI="gs://logs/"))
    deployability.run_checks(ctx, {}, [workload_env.check])
    result = GateResult(project="sahab", stack="s", environment="e", checks=["deployability"])
    result.extras = ctx.extras
    lines = workload_env.workload_env_section(result)
    assert (
        "| Deployment/sahab-serving/serving container bentoml | `bentoml serve` | SahabSettings, ServingSettings, from_env, PrivacySettings | 1 |" in lines
    ), lines


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "SAHAB_PROJECT is not set"),
        ("projects/no-such-project", "no project 'projects/no-such-project'"),
        ("/app/projects/transaction-risk", "no project '/app/projects/transaction-risk'"),
    ],
)
def test_a_project_the_image_does_not_hold_is_refused(value, why):
    """Every workload reads its model project from SAHAB_PROJECT at start: unset, or a folder the image
    does not ship (the images hold the repository's projects/ at their working directory), the pod exits."""
    doc = _serving()
    for container in doc["spec"]["template"]["spec"]["containers"]:
        container["env"] = [e for e in container["env"] if e["name"] != "SAHAB_PROJECT"] + ([{"name": "SAHAB_PROJECT", "value": value}] if value else [])
    messages = _messages(workload_env.check(_ctx(doc)))
    assert len(messages) == 2 and all("from_env refuses SAHAB_PROJECT" in m and why in m for m in messages), messages
    assert {m.split(" (")[0] for m in messages} == {
        "Deployment/sahab-serving/serving container bentoml",
        "Deployment/sahab-serving/serving container control",
    }, messages
    assert all("workloads/project/project.py from_env" in m or "Fix:" in m for m in messages), messages


@pytest.mark.slow
@pytest.mark.parametrize("environment", ["uae-central", "smb", "smb-onprem", "uae-north"])
def test_every_shipped_environment_passes(environment):
    from sahab.engine.offline import plan_environment
    from sahab.gate.model import REPO

    ctx = Context.of(plan_environment(REPO, environment), REPO / "environments" / environment)
    found = workload_env.check(ctx)
    checked = {r["entry"] for r in ctx.extras["workload_env"]}
    assert {"python -m workloads.features", "bentoml serve", "mlflow server", "python -m workloads.serving.control"} <= checked, (
        f"{environment}: entry points not found in its containers: {checked}"
    )
    assert found == [], f"{environment}: " + "\n".join(f.message for f in found)
