"""Many model projects per platform (issue 19 item 5): each project the environment lists
(`kubernetes.projects`) renders its own serving (Deployment, HPA, PDB, control plane, evaluator),
monitoring CronJob, retrain and export templates and Feast server and materialization, every object
named and labelled after the project, its pods reading the project from SAHAB_PROJECT and its own
URIs; on all four shipped environments. The spec refuses a binding it cannot deploy, naming the path
and the project file."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import pytest
import yaml
from k8s_helpers import containers, k8s_objects, pod_spec

from components.workloads import LABELS_DIR, NAMESPACES, ProjectPrefixes
from stacks.spec import SpecError, load_spec

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("uae-central", "uae-north", "smb", "smb-onprem")
PROJECTS = {"transaction-risk": "risk", "delivery-time": "logistics"}


@pytest.fixture(scope="module")
def plans(uae_plan, smb_plan):
    from sahab.engine.offline import plan_environment

    return {"uae-central": uae_plan, "smb": smb_plan, "uae-north": plan_environment(REPO, "uae-north"), "smb-onprem": plan_environment(REPO, "smb-onprem")}


def _objects(plan, project: str) -> dict[tuple[str, str, str], dict]:
    """(kind, namespace, name) -> object of everything labelled with `project`."""
    out = {}
    for r in k8s_objects(plan):
        meta = r.inputs.get("metadata") or {}
        if (meta.get("labels") or {}).get("sahab.ae/project") == project:
            out[(r.inputs["kind"], meta.get("namespace", ""), meta["name"])] = r.inputs
    return out


def _env(spec: dict) -> dict[str, dict[str, str]]:
    return {c["name"]: {e["name"]: e.get("value") for e in c.get("env") or [] if "value" in e} for c in containers(spec)}


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_each_project_renders_its_own_objects(plans, env, project):
    objects = _objects(plans[env], project)
    ns = NAMESPACES
    wanted = {
        ("Deployment", ns["serving"], f"{project}-serving"),
        ("HorizontalPodAutoscaler", ns["serving"], f"{project}-serving"),
        ("PodDisruptionBudget", ns["serving"], f"{project}-serving"),
        ("Service", ns["serving"], f"{project}-serving"),
        ("Service", ns["serving"], f"{project}-serving-control"),
        ("Secret", ns["serving"], f"{project}-serving-control-token"),
        ("CronJob", ns["serving"], f"{project}-evaluator"),
        ("CronJob", ns["monitoring"], f"{project}-monitoring"),
        ("CronJob", ns["training"], f"{project}-retrain"),
        ("CronJob", ns["training"], f"{project}-export"),
        ("Deployment", ns["platform"], f"{project}-feature-server"),
        ("CronJob", ns["platform"], f"{project}-feast-materialize"),
    }
    missing = wanted - set(objects)
    assert not missing, f"{env}: {project} lacks {sorted(missing)}"
    for (kind, _, name), obj in objects.items():
        assert name.startswith(f"{project}-") or name.startswith(f"sahab:{project}-") or name.startswith(f"sahab-{project}-"), (
            f"{env}: {kind} {name} of {project} is not named after it"
        )
        assert obj["metadata"]["labels"]["sahab.ae/team"] == PROJECTS[project], f"{env}: {kind} {name}: team label"
        spec = pod_spec(obj)
        if spec is None:
            continue
        for container, values in _env(spec).items():
            if container in ("bentoml", "control", "trainer", "export", "drift", "evaluator", "feature-server", "materialize"):
                assert values.get("SAHAB_PROJECT") == f"projects/{project}", (
                    f"{env}: {kind} {name} container {container}: SAHAB_PROJECT={values.get('SAHAB_PROJECT')}"
                )
        sa = spec.get("serviceAccountName", "")
        assert sa.startswith(f"{project}-"), f"{env}: {kind} {name} runs as {sa!r}, not one of {project}'s own service accounts"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_projects_pods_use_only_its_own_uris(plans, env):
    """Section 2 of the contracts: `.../feast/<p>`, `.../serving-log/<p>/`, `.../drift-state/<p>/`,
    `.../checkpoints/<p>`, `.../mlflow/<p>`; MLflow itself stays shared."""
    for project, other in (("transaction-risk", "delivery-time"), ("delivery-time", "transaction-risk")):
        seen: dict[str, set[str]] = {}
        for obj in _objects(plans[env], project).values():
            spec = pod_spec(obj)
            for values in _env(spec or {}).values():
                for name, value in values.items():
                    if isinstance(value, str) and re.match(r"^(s3|abfss|wasbs)://", value):
                        seen.setdefault(name, set()).add(value)
                        assert f"/{other}" not in value, f"{env}: {project}'s {name}={value} names project {other}"
        expected = {
            "SAHAB_SERVING_PREDICTION_LOG_URI": f"/serving-log/{project}/",
            "SAHAB_DRIFT_LOG_URI": f"/serving-log/{project}/",
            "SAHAB_DRIFT_STATE_URI": f"/drift-state/{project}/",
            "SAHAB_TRAIN_CHECKPOINT_URI": f"/checkpoints/{project}",
            "SAHAB_MLFLOW_ARTIFACT_LOCATION": f"/mlflow/{project}",
        }
        for name, suffix in expected.items():
            assert seen.get(name) and all(v.endswith(suffix) for v in seen[name]), f"{env}: {project}'s {name}: {seen.get(name)} (expected ...{suffix})"
        feast = seen.get("SAHAB_FEAST_S3_URI", set()) | seen.get("SAHAB_FEAST_URI", set())
        assert feast and all(v.endswith(f"/feast/{project}") for v in feast), f"{env}: {project}'s Feast root {feast}"


def _hpa(plan, name: str) -> dict:
    return next(r.inputs for r in k8s_objects(plan, "HorizontalPodAutoscaler") if r.inputs["metadata"]["name"] == name)


def _one(plan, kind: str, name: str) -> dict:
    return next(r.inputs for r in k8s_objects(plan, kind) if r.inputs["metadata"]["name"] == name)


def test_replicas_and_the_ab_share_come_from_the_project_unless_the_environment_overrides(plans):
    uae, smb = plans["uae-central"], plans["smb"]
    # transaction-risk: uae-central's binding (4..12); delivery-time: its project.yaml (2..8).
    assert (_hpa(uae, "transaction-risk-serving")["spec"]["minReplicas"], _hpa(uae, "transaction-risk-serving")["spec"]["maxReplicas"]) == (4, 12)
    assert (_hpa(uae, "delivery-time-serving")["spec"]["minReplicas"], _hpa(uae, "delivery-time-serving")["spec"]["maxReplicas"]) == (2, 8)
    weights = {p: _one(uae, "Deployment", f"{p}-serving")["metadata"]["annotations"]["sahab.ae/ab-weight"] for p in PROJECTS}
    assert weights == {"transaction-risk": "0.100", "delivery-time": "0.200"}, f"uae-central: experiment.challenger_weight per project: {weights}"
    for p in PROJECTS:  # smb: 2..3 pods and the A/B test off
        assert (_hpa(smb, f"{p}-serving")["spec"]["minReplicas"], _hpa(smb, f"{p}-serving")["spec"]["maxReplicas"]) == (2, 3), f"smb: {p}"
        bento = _env(pod_spec(_one(smb, "Deployment", f"{p}-serving")))["bentoml"]
        assert bento["SAHAB_SERVING_AB_MODE"] == "off" and bento["SAHAB_SERVING_CHALLENGER_WEIGHT"] == "0", f"smb {p}: {bento}"
    # smb-onprem's binding sizes transaction-risk's pods to one CPU (its project asks for 2).
    limits = {c["name"]: c["resources"]["limits"]["cpu"] for c in pod_spec(_one(plans["smb-onprem"], "Deployment", "transaction-risk-serving"))["containers"]}
    assert limits == {"bentoml": "900m", "control": "100m"}, f"smb-onprem transaction-risk-serving: {limits}"


@pytest.mark.parametrize(
    ("env", "pool", "gpus"),
    [("uae-central", "uae-central-train-h200", "8"), ("uae-north", "uae-north-trainh100", "1"), ("smb", "smb-train-a10g", "1"), ("smb-onprem", None, None)],
)
def test_gpu_projects_train_on_their_pool_and_cpu_projects_on_cpu_nodes(plans, env, pool, gpus):
    plan = plans[env]
    torch = pod_spec(_one(plan, "CronJob", "transaction-risk-retrain"))
    trainer = torch["containers"][0]
    if pool:
        assert torch["nodeSelector"] == {"sahab.ae/accelerator": "nvidia", "sahab.ae/pool": pool}, f"{env}: {torch['nodeSelector']}"
        assert trainer["resources"]["limits"]["nvidia.com/gpu"] == gpus and any(t["key"] == "nvidia.com/gpu" for t in torch["tolerations"]), env
    else:  # no GPU on the server: kubernetes.projects[transaction-risk].training.gpus: 0
        assert "nvidia.com/gpu" not in trainer["resources"]["limits"] and not torch.get("tolerations"), f"{env}: {trainer['resources']}"
    trees = pod_spec(_one(plan, "CronJob", "delivery-time-retrain"))
    assert "nvidia.com/gpu" not in trees["containers"][0]["resources"]["limits"] and not trees.get("tolerations"), f"{env}: LightGBM trains on CPUs"
    assert "sahab.ae/accelerator" not in trees["nodeSelector"], f"{env}: delivery-time selects {trees['nodeSelector']}"
    expected = {"uae-central": {"sahab.ae/workload": "platform"}, "uae-north": {"sahab.ae/workload": "platform"}, "smb": {"sahab.ae/pool": "smb-serving"}}
    assert trees["nodeSelector"] == expected.get(env, {"kubernetes.io/os": "linux"}), f"{env}: {trees['nodeSelector']}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_projects_monitoring_starts_only_its_own_retraining(plans, env):
    """The trigger of each project's monitoring job names its own project's retraining: its pipeline's
    WorkflowTemplate (components/kubernetes/workflows.py) where one is rendered, else its retrain
    CronJob; never the other project's."""
    plan = plans[env]
    for project, other in (("transaction-risk", "delivery-time"), ("delivery-time", "transaction-risk")):
        env_of = _env(pod_spec(_one(plan, "CronJob", f"{project}-monitoring")))["drift"]
        target = env_of.get("SAHAB_RETRAIN_WORKFLOW_TEMPLATE") or env_of.get("SAHAB_RETRAIN_CRONJOB")
        assert target in (f"{project}-pipeline", f"{project}-retrain"), f"{env}: {project}'s trigger starts {target!r}"
        assert other not in str(env_of), f"{env}: {project}'s monitoring names {other}: {env_of}"


def test_the_job_trigger_may_create_jobs_only_as_its_projects_training_account():
    """Without a pipeline template the trigger creates Jobs in the shared training namespace: RBAC gets
    the project's one CronJob; the admission policy keeps every Job it creates on the project's own
    training service account (RBAC cannot say which account a created pod runs as)."""
    from components import kubernetes as kc
    from components.kubernetes.cloud import EKS
    from tests.components.component_helpers import build

    project = kc.ProjectRef(name="churn", team="growth", folder="projects/churn")
    args = kc.DriftMonitorArgs(
        project=project,
        namespace="sahab-monitoring",
        service_account="churn-monitoring",
        image="i",
        reference_uri=None,
        tracking_uri="http://mlflow",
        current_uri="s3://b/serving-log/churn/",
        pushgateway_url="http://pg",
        training_namespace="sahab-training",
        training_service_account="churn-training",
        retrain_template="churn-retrain",
        region="me-central-1",
        vpc_cidr="10.0.0.0/16",
        redis_endpoint="r",
        redis_secret="s",
        cloud=EKS,
    )
    built = build(lambda: kc.DriftMonitor("m", args))
    role = built.child("m-trigger-role", "kubernetes:rbac.authorization.k8s.io/v1:Role").inputs
    assert [r.get("resourceNames") for r in role["rules"] if r["resources"] == ["cronjobs"]] == [["churn-retrain"]], role["rules"]
    policy = built.child("m-trigger-policy").inputs["spec"]
    assert policy["matchConditions"][0]["expression"] == "request.userInfo.username == 'system:serviceaccount:sahab-monitoring:churn-monitoring'", policy
    assert policy["validations"][0]["expression"].endswith("serviceAccountName == 'churn-training'"), policy["validations"]
    binding = built.child("m-trigger-policy-binding").inputs["spec"]
    assert binding["validationActions"] == ["Deny"] and binding["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "sahab-training"
    }, binding


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_project_pods_run_in_the_platform_namespaces_and_shared_allows_skip_them(plans, env):
    """Where the pods run (the decision): serving in the serving namespace (its load balancer: a team's
    quota allows none; its capacity is the serving tier's), training, monitoring and Feast in the
    platform's; the team namespaces keep their quotas for the team's own work. Namespaces several
    projects share admit nothing namespace-wide to a project's pods."""
    plan = plans[env]
    for r, spec in ((r, pod_spec(r.inputs)) for r in k8s_objects(plan)):
        if spec is None:
            continue
        labels = (
            (r.inputs["spec"].get("jobTemplate", {}).get("spec", {}).get("template") or r.inputs["spec"].get("template") or {})
            .get("metadata", {})
            .get("labels", {})
        )
        if labels.get("sahab.ae/project"):
            assert not r.inputs["metadata"]["namespace"].startswith("sahab-team-"), f"{env}: {r.urn} runs a project pod in a team namespace"
    for r in k8s_objects(plan, "NetworkPolicy"):
        if r.inputs["metadata"]["name"] == "allow-same-namespace":
            selector = r.inputs["spec"]["podSelector"]
            not_notebooks = {"key": "sahab.ae/notebook", "operator": "DoesNotExist"}  # notebook servers: their own policy (notebooks.py)
            assert selector == {"matchExpressions": [{"key": "sahab.ae/project", "operator": "DoesNotExist"}, not_notebooks]}, f"{env}: {r.urn}: {selector}"


def test_the_label_store_prefix_agrees_with_the_workloads():
    from workloads.features.tables import LABELS_DIR as WORKLOADS_LABELS_DIR

    assert LABELS_DIR.rstrip("/") == WORKLOADS_LABELS_DIR, "components/workloads.py LABELS_DIR is a copy of workloads/features/tables.py's"
    assert ProjectPrefixes("x").labels == f"offline-features/feast/x/{WORKLOADS_LABELS_DIR}/"


def test_the_images_ship_the_projects():
    """SAHAB_PROJECT=projects/<name> is relative to the images' working directory: the Dockerfile
    recipe copies projects/ there, and the serving bento includes it."""
    recipe = (REPO / "components/kubernetes/IMAGES.md").read_text()
    assert "WORKDIR /app" in recipe and "COPY projects/ projects/" in recipe, "components/kubernetes/IMAGES.md: the recipe does not copy projects/"
    bento = yaml.safe_load((REPO / "workloads/serving/bentofile.yaml").read_text())
    assert any(str(p).startswith("projects/") for p in bento["include"]), f"workloads/serving/bentofile.yaml include: {bento['include']}"


# --- the spec -----------------------------------------------------------------------------------


def _raw(env: str = "uae-central") -> dict:
    doc = yaml.safe_load((REPO / f"environments/{env}/Pulumi.{env}.yaml").read_text())
    return copy.deepcopy(doc["config"]["sahab:platform"])


def _problems(raw: dict) -> list[str]:
    with pytest.raises(SpecError) as err:
        load_spec(raw)
    return err.value.problems


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_deploys_both_projects_bound_to_their_teams(env):
    spec = load_spec(_raw(env))
    bound = {b.name: (b.team or b.load().spec.team) for b in spec.kubernetes.projects}
    assert bound == PROJECTS, f"{env}: kubernetes.projects {bound}"
    teams = {t.name for t in spec.kubernetes.teams}
    assert set(PROJECTS.values()) <= teams, f"{env}: teams {sorted(teams)}"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda r: r["kubernetes"]["projects"].append({"name": "churn"}), ["kubernetes.projects[2]: no projects/churn/project.yaml in the repository"]),
        (
            lambda r: r["kubernetes"]["projects"].append({"name": "broken-project", "path": "tests/kubernetes/fixtures/broken-project"}),
            ["kubernetes.projects[2] (tests/kubernetes/fixtures/broken-project/project.yaml): label.classes:"],
        ),
        (
            lambda r: r["kubernetes"]["projects"][1].update(team="marketing"),
            ["kubernetes.projects[1].team: 'marketing' is not one of kubernetes.teams"],
        ),
        (
            lambda r: (r["kubernetes"]["teams"].pop(2), r["kubernetes"]["projects"][1].pop("team")),
            ["kubernetes.projects[1].team: 'logistics' (the team of projects/delivery-time/project.yaml) is not one of kubernetes.teams"],
        ),
        (lambda r: r["kubernetes"]["projects"].append({"name": "delivery-time"}), ["kubernetes.projects: 'delivery-time' is listed twice"]),
        (
            lambda r: r["kubernetes"]["projects"][1].update(training={"gpus": 2}),
            ["kubernetes.projects[1].training.gpus: 2 GPUs for a lightgbm project (projects/delivery-time/project.yaml)"],
        ),
        (
            lambda r: r["kubernetes"]["projects"][0].update(training={"node_pool": "train-b200", "gpus": 1}),
            ["kubernetes.projects[0].training.node_pool: 'train-b200' is not one of gpu_pools ['train-h200', 'train-l4']"],
        ),
        (
            lambda r: r["kubernetes"]["projects"][1].update(serving={"replicas": 1}),
            ["kubernetes.projects[1].serving.replicas: Input should be greater than or equal to 2"],
        ),
    ],
)
def test_a_binding_that_cannot_deploy_is_refused_naming_its_path(edit, expected):
    raw = _raw()
    edit(raw)
    problems = _problems(raw)
    for line in expected:
        assert any(p.startswith(line) for p in problems), f"no problem starting {line!r}: {problems}"


def test_a_gpu_project_on_a_cluster_without_gpus_must_be_told_to_train_on_cpus():
    raw = _raw("smb-onprem")
    raw["kubernetes"]["projects"][0].pop("training")
    problems = _problems(raw)
    assert any(
        p.startswith("kubernetes.projects[0]: projects/transaction-risk/project.yaml trains on 1 GPU(s) but the environment has no gpu_pools")
        and "training.gpus: 0" in p
        for p in problems
    ), problems


def test_a_binding_names_the_project_it_points_at():
    raw = _raw()
    raw["kubernetes"]["projects"].append({"name": "churn", "path": "projects/delivery-time"})
    problems = _problems(raw)
    assert any(p.startswith("kubernetes.projects[2].name: 'churn' but projects/delivery-time/project.yaml is project 'delivery-time'") for p in problems), (
        problems
    )


def _project_containers(plan) -> list[tuple[str, dict[str, str]]]:
    """(where, plain env) of every container of the plan's Kubernetes objects, in any shape (Deployments,
    CronJobs, Argo templates), whose environment sets SAHAB_PROJECT."""
    out: list[tuple[str, dict[str, str]]] = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            env = node.get("env")
            if isinstance(env, list) and any(isinstance(e, dict) and e.get("name") == "SAHAB_PROJECT" for e in env):
                out.append((f"{where} container {node.get('name')}", {e["name"]: e.get("value") for e in env if isinstance(e, dict) and "value" in e}))
            for value in node.values():
                walk(value, where)
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    for r in k8s_objects(plan):
        meta = r.inputs.get("metadata") or {}
        walk(r.inputs, f"{r.inputs.get('kind')} {meta.get('namespace', '')}/{meta.get('name')}")
    return out


@pytest.mark.parametrize(("env", "wrapping"), [("uae-central", "SAHAB_PRIVACY_KMS_KEY"), ("uae-north", "SAHAB_PRIVACY_VAULT_KEY")])
def test_every_project_container_finds_the_environments_one_tokenisation_key(plans, env, wrapping, monkeypatch):
    """Issue 22: wherever SAHAB_PROJECT is set, SAHAB_PRIVACY_* name the environment's one wrapped key object
    (`offline-features/privacy/tokenisation-key.json`), its name and the cloud's wrapping key, and
    PrivacySettings accepts them (a pod would otherwise mint its own key under SAHAB_HOME)."""
    from workloads.privacy.keys import PrivacySettings

    found = _project_containers(plans[env])
    assert len(found) >= 10, f"{env}: only {len(found)} containers set SAHAB_PROJECT"
    uris, wrappers = set(), set()
    for where, values in found:
        for name in ("SAHAB_PRIVACY_KEY_URI", "SAHAB_PRIVACY_ENVIRONMENT", wrapping):
            assert values.get(name), f"{env}: {where} sets SAHAB_PROJECT but not {name}"
        assert values["SAHAB_PRIVACY_ENVIRONMENT"] == env, f"{env}: {where}: SAHAB_PRIVACY_ENVIRONMENT={values['SAHAB_PRIVACY_ENVIRONMENT']}"
        uris.add(values["SAHAB_PRIVACY_KEY_URI"])
        wrappers.add(values[wrapping])
        for name in [k for k in os.environ if k.startswith("SAHAB_PRIVACY_")]:
            monkeypatch.delenv(name)
        for name, value in values.items():
            if name.startswith("SAHAB_PRIVACY_"):
                monkeypatch.setenv(name, value)
        settings = PrivacySettings()
        assert settings.wrapping == ("aws-kms" if wrapping.endswith("KMS_KEY") else "azure-keyvault"), f"{env}: {where}: wrapping {settings.wrapping}"
    assert len(uris) == 1, f"{env}: SAHAB_PRIVACY_KEY_URI differs between containers: {sorted(uris)} (one key object per environment)"
    (uri,) = uris
    assert re.match(r"^(s3|abfss)://", uri) and uri.endswith("/privacy/tokenisation-key.json"), f"{env}: SAHAB_PRIVACY_KEY_URI={uri}"
    assert "offline-features" in uri, f"{env}: SAHAB_PRIVACY_KEY_URI={uri} is not in the offline-features store"
    assert len(wrappers) == 1, f"{env}: {wrapping} differs between containers: {sorted(wrappers)}"
    (key,) = wrappers
    if env == "uae-central":
        assert key.startswith("arn:aws:kms:me-central-1:"), f"{env}: SAHAB_PRIVACY_KMS_KEY={key} is not the data key's ARN"
    else:
        assert key.startswith("https://") and key.endswith("/keys/sahab-tokenisation"), f"{env}: SAHAB_PRIVACY_VAULT_KEY={key} is not the tokenisation key"


def test_an_existing_cluster_renders_no_privacy_key_and_keeps_sahab_homes(plans):
    """On-prem (`cloud: kubernetes`) has no wrapping key: nothing under SAHAB_PRIVACY_ is rendered."""
    found = _project_containers(plans["smb-onprem"])
    assert found, "smb-onprem: no container sets SAHAB_PROJECT"
    for where, values in found:
        assert not [k for k in values if k.startswith("SAHAB_PRIVACY_")], f"smb-onprem: {where} sets {[k for k in values if k.startswith('SAHAB_PRIVACY_')]}"
