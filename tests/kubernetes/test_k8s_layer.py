"""The Kubernetes platform layer in the uae-central (and smb) plans: every property the issue asks
for, asserted on the offline plan; messages name the URN."""

from __future__ import annotations

import json
import re

import pytest
from k8s_helpers import HELM, containers, helm_images, k8s_objects, pods

from components.kubernetes import images
from components.kubernetes.monitoring import DASHBOARDS

REGISTRY = "123456789012.dkr.ecr.me-central-1.amazonaws.com"
COMPONENTS = ("Tenancy", "GpuSupport", "NodeAutoscaling", "Monitoring", "Mlflow", "FeatureStore", "Training", "Serving", "DriftMonitor")


def test_plan_contains_the_whole_layer(uae_plan):
    types = {r.type for r in uae_plan.resources}
    missing = [c for c in COMPONENTS if f"sahab:kubernetes:{c}" not in types]
    assert not missing, f"uae-central plan lacks components {missing}"
    releases = {r.inputs["name"] for r in uae_plan.by_type(HELM)}
    expected = {"kube-prometheus-stack", "pushgateway", "nvidia-device-plugin", "dcgm-exporter", "karpenter", "argo-workflows", "jupyterhub"}
    assert releases == expected, releases


def test_kubernetes_resources_use_the_one_cluster_provider(uae_plan):
    providers = {r.urn for r in uae_plan.by_type("pulumi:providers:kubernetes")}
    assert len(providers) == 1, f"expected one Kubernetes provider, got {providers}"
    for r in uae_plan.resources:
        if r.type.startswith("kubernetes:"):
            assert r.provider in providers, f"{r.urn}: provider {r.provider!r} is not the cluster's"


def test_helm_releases_are_pinned(uae_plan):
    for r in uae_plan.by_type(HELM):
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", r.inputs.get("version", "")), f"{r.urn}: chart version {r.inputs.get('version')!r} is not pinned"
        repo = (r.inputs.get("repositoryOpts") or {}).get("repo") or ""
        assert repo.startswith("https://") or r.inputs["chart"].startswith("oci://"), f"{r.urn}: no chart repository"
        assert r.inputs.get("createNamespace") is not True, f"{r.urn}: namespaces belong to Tenancy"


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_every_container_is_restricted_with_requests_and_limits(env, request):
    plan = request.getfixturevalue(env)
    seen = 0
    for r, spec in pods(plan):
        psc = spec.get("securityContext") or {}
        assert psc.get("runAsNonRoot") is True, f"{r.urn}: pod securityContext.runAsNonRoot"
        assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{r.urn}: pod seccompProfile"
        for c in containers(spec):
            seen += 1
            res, sc = c.get("resources") or {}, c.get("securityContext") or {}
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(kind) or {}), f"{r.urn} container {c['name']}: {kind} need cpu and memory"
            assert sc.get("runAsNonRoot") is True, f"{r.urn} container {c['name']}: runAsNonRoot"
            assert sc.get("readOnlyRootFilesystem") is True, f"{r.urn} container {c['name']}: readOnlyRootFilesystem"
            assert sc.get("allowPrivilegeEscalation") is False, f"{r.urn} container {c['name']}: allowPrivilegeEscalation"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{r.urn} container {c['name']}: capabilities.drop ALL"
            assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{r.urn} container {c['name']}: seccompProfile"
        token = spec.get("automountServiceAccountToken")
        app = (r.inputs["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"] if r.inputs["kind"] == "CronJob" else {}).get("app.kubernetes.io/name")
        # The monitoring jobs (app `drift`) start retraining Jobs through the API.
        assert token is False or app == "drift", f"{r.urn}: automountServiceAccountToken must be false unless the pod calls the API"
    assert seen >= 6, f"only {seen} containers found in {env}"


def test_helm_containers_have_limits(uae_plan):
    def walk(values, path=""):
        if isinstance(values, dict):
            if ("requests" in values or "limits" in values) and "storage" not in (values.get("requests") or {}):
                yield path, values
            for k, v in values.items():
                yield from walk(v, f"{path}.{k}" if path else k)

    for r in uae_plan.by_type(HELM):
        found = list(walk(r.inputs["values"]))
        assert found, f"{r.urn}: values set no resources"
        for path, res in found:
            assert {"cpu", "memory"} <= set(res.get("requests", {})) and {"cpu", "memory"} <= set(res.get("limits", {})), (
                f"{r.urn} values {path}: requests and limits"
            )


def test_gpu_pods_tolerate_the_taint_and_request_gpus(uae_plan):
    gpu_pods = 0
    for r, spec in pods(uae_plan):
        wants_gpu = any("nvidia.com/gpu" in (c.get("resources") or {}).get("limits", {}) for c in containers(spec))
        on_gpu = (spec.get("nodeSelector") or {}).get("sahab.ae/accelerator") == "nvidia"
        if not (wants_gpu or on_gpu):
            continue
        gpu_pods += 1
        assert wants_gpu and on_gpu, f"{r.urn}: GPU pods both select GPU nodes and request nvidia.com/gpu"
        tol = spec.get("tolerations") or []
        assert any(t.get("key") == "nvidia.com/gpu" and t.get("effect") == "NoSchedule" for t in tol), f"{r.urn}: no toleration for the GPU taint"
        for c in containers(spec):
            lim = c["resources"]["limits"].get("nvidia.com/gpu")
            assert lim is None or lim == c["resources"]["requests"].get("nvidia.com/gpu"), f"{r.urn}: GPU requests must equal limits"
    assert gpu_pods >= 1, "no GPU pod (training template) in the uae-central plan"
    for r in uae_plan.by_type(HELM):
        if r.inputs["namespace"] == "sahab-gpu":
            tol = r.inputs["values"].get("tolerations") or []
            assert any(t.get("key") == "nvidia.com/gpu" for t in tol), f"{r.urn}: GPU daemon does not tolerate the GPU taint"


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_serving_is_not_public(env, request):
    plan = request.getfixturevalue(env)
    lbs = [r for r in k8s_objects(plan, "Service") if r.inputs["spec"].get("type") == "LoadBalancer"]
    assert lbs, f"{env}: no serving load balancer"
    for r in lbs:
        ann = r.inputs["metadata"].get("annotations") or {}
        assert ann.get("service.beta.kubernetes.io/aws-load-balancer-scheme") == "internal", f"{r.urn}: load balancer is not internal"
        assert ann.get("service.beta.kubernetes.io/aws-load-balancer-internal") == "true", f"{r.urn}: in-tree internal annotation missing"
        for cidr in r.inputs["spec"].get("loadBalancerSourceRanges") or []:
            assert not cidr.endswith("/0"), f"{r.urn}: source range {cidr} is the internet"
    for r in k8s_objects(plan, "Service"):
        assert r.inputs["spec"].get("type") in ("ClusterIP", "LoadBalancer", None), f"{r.urn}: {r.inputs['spec'].get('type')} exposes nodes"


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_every_namespace_has_default_deny_and_restricted_psa(env, request):
    plan = request.getfixturevalue(env)
    namespaces = {r.inputs["metadata"]["name"]: r for r in k8s_objects(plan, "Namespace")}
    deny = {
        p.inputs["metadata"]["namespace"]
        for p in k8s_objects(plan, "NetworkPolicy")
        if p.inputs["spec"]["podSelector"] == {}
        and set(p.inputs["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p.inputs["spec"].get("ingress")
        and not p.inputs["spec"].get("egress")
    }
    for name, r in namespaces.items():
        assert name in deny, f"{r.urn}: namespace {name} has no default-deny NetworkPolicy"
        labels = r.inputs["metadata"]["labels"]
        level = labels["pod-security.kubernetes.io/enforce"]
        if name == "sahab-gpu":
            assert level == "privileged" and r.inputs["metadata"]["annotations"].get("sahab.ae/pod-security-reason"), (
                f"{r.urn}: privileged needs a written reason"
            )
        else:
            assert level == "restricted", f"{r.urn}: namespace {name} enforces {level}, not restricted"
    for r in k8s_objects(plan):
        ns = (r.inputs.get("metadata") or {}).get("namespace")
        assert ns is None or ns in namespaces, f"{r.urn}: namespace {ns} is not managed by Tenancy"
    for r in plan.by_type(HELM):
        assert r.inputs["namespace"] in namespaces, f"{r.urn}: release namespace {r.inputs['namespace']} is not managed by Tenancy"


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_images_come_from_the_in_region_registry_and_are_pinned(env, request):
    plan = request.getfixturevalue(env)
    refs = [(r.urn, c["image"]) for r, spec in pods(plan) for c in containers(spec)]
    refs += [(f"{r.urn} values {path}", ref) for r in plan.by_type(HELM) for path, ref in helm_images(r.inputs["values"])]
    assert len(refs) >= 15, refs
    for where, ref in refs:
        assert ref.startswith(f"{REGISTRY}/sahab/"), f"{where}: image {ref} is not from the in-region ECR"
        tag = ref.rsplit(":", 1)[-1]
        assert ":" in ref.split("/", 1)[1] and tag and tag != "latest", f"{where}: image {ref} is not pinned"


def test_every_mirror_the_layer_pulls_has_an_ecr_repository(uae_plan):
    planned = {r.inputs["name"] for r in uae_plan.resources if r.type == "aws:ecr/repository:Repository"}
    missing = sorted(f"sahab/{m}" for m in images.required_mirror_repositories() if f"sahab/{m}" not in planned)
    assert not missing, f"ECR mirror repositories missing from the plan: {missing}"


def test_workload_images_have_ecr_repositories():
    from components.aws.registry import WORKLOAD_REPOSITORIES

    assert {"training", "export", "serving", "drift", "features", "mlflow"} <= set(WORKLOAD_REPOSITORIES)


def test_team_namespaces_have_gpu_quotas(uae_plan):
    quotas = {r.inputs["metadata"]["namespace"]: r for r in k8s_objects(uae_plan, "ResourceQuota")}
    assert quotas.get("sahab-team-risk") and quotas["sahab-team-risk"].inputs["spec"]["hard"]["requests.nvidia.com/gpu"] == "8", quotas
    assert quotas["sahab-team-research"].inputs["spec"]["hard"]["requests.nvidia.com/gpu"] == "4"
    limits = {r.inputs["metadata"]["namespace"] for r in k8s_objects(uae_plan, "LimitRange")}
    namespaces = {r.inputs["metadata"]["name"] for r in k8s_objects(uae_plan, "Namespace")}
    assert namespaces <= limits, f"namespaces without a LimitRange: {namespaces - limits}"


def test_rbac_roles_are_bound_to_the_cloud_identities(uae_plan):
    roles = {r.inputs["metadata"]["name"]: r for r in k8s_objects(uae_plan, "ClusterRole")}
    assert {"sahab:platform-admin", "sahab:ml-engineer", "sahab:auditor"} <= set(roles)
    auditor = roles["sahab:auditor"]
    for rule in auditor.inputs["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}, f"{auditor.urn}: auditor may {rule['verbs']}"
        assert "secrets" not in rule["resources"] and "*" not in rule["resources"], f"{auditor.urn}: auditor reads secrets"
    bound = {
        (s["name"], b.inputs["roleRef"]["name"])
        for b in k8s_objects(uae_plan, "RoleBinding") + k8s_objects(uae_plan, "ClusterRoleBinding")
        for s in b.inputs["subjects"]
    }
    for group, role in (("sahab:platform-admins", "sahab:platform-admin"), ("sahab:ml-engineers", "sahab:ml-engineer"), ("sahab:auditors", "sahab:auditor")):
        assert (group, role) in bound, f"group {group} is not bound to {role}"
    entries = {
        r.inputs["principalArn"]: r.inputs.get("kubernetesGroups")
        for r in uae_plan.by_type("aws:eks/accessEntry:AccessEntry")
        if r.inputs.get("kubernetesGroups")
    }
    assert entries.get("arn:aws:iam::111122223333:role/ml-engineer") == ["sahab:ml-engineers"], entries
    assert entries.get("arn:aws:iam::111122223333:role/auditor") == ["sahab:auditors"], entries


def test_karpenter_scales_gpu_pools_from_and_to_zero_in_region(uae_plan):
    (karpenter,) = [r for r in uae_plan.by_type(HELM) if r.inputs["name"] == "karpenter"]
    settings = karpenter.inputs["values"]["settings"]
    assert settings["isolatedVPC"] is True, f"{karpenter.urn}: Karpenter must not call the pricing API in us-east-1"
    assert settings["interruptionQueue"], f"{karpenter.urn}: no interruption queue"
    # GPU pools; the inference tiers' on-demand CPU NodePools are tested in test_k8s_defects.py.
    pools = [p for p in k8s_objects(uae_plan, "NodePool") if "nvidia.com/gpu" in p.inputs["spec"]["limits"]]
    assert {p.inputs["metadata"]["name"] for p in pools} == {"uae-central-train-h200", "uae-central-train-l4"}
    for p in pools:
        spec = p.inputs["spec"]
        assert spec["disruption"]["consolidationPolicy"] == "WhenEmpty", f"{p.urn}: empty GPU nodes must go back to 0"
        assert spec["template"]["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}], f"{p.urn}: GPU taint"
        assert int(spec["limits"]["nvidia.com/gpu"]) > 0, f"{p.urn}: no GPU limit"
    for nc in k8s_objects(uae_plan, "EC2NodeClass"):
        ebs = nc.inputs["spec"]["blockDeviceMappings"][0]["ebs"]
        assert ebs["encrypted"] is True and ebs["kmsKeyID"].startswith("arn:aws:kms:me-central-1:"), f"{nc.urn}: node volumes must use the data key"
        assert not nc.inputs["spec"]["amiSelectorTerms"][0]["alias"].endswith("@latest"), f"{nc.urn}: AMI not pinned"
    (queue,) = uae_plan.by_type("aws:sqs/queue:Queue")
    assert queue.inputs.get("kmsMasterKeyId"), f"{queue.urn}: interruption queue must be KMS-encrypted"
    patterns = [json.loads(r.inputs["eventPattern"]) for r in uae_plan.by_type("aws:cloudwatch/eventRule:EventRule")]
    assert any("EC2 Spot Instance Interruption Warning" in p["detail-type"] for p in patterns), patterns


def test_smb_uses_the_cluster_autoscaler(smb_plan):
    names = {r.inputs["name"] for r in smb_plan.by_type(HELM)}
    assert "cluster-autoscaler" in names and "karpenter" not in names, names
    (ca,) = [r for r in smb_plan.by_type(HELM) if r.inputs["name"] == "cluster-autoscaler"]
    assert ca.inputs["values"]["autoDiscovery"]["clusterName"] == "sahab-smb", ca.urn
    assert any(
        r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation" and r.inputs["serviceAccount"] == "cluster-autoscaler" for r in smb_plan.resources
    )


def test_monitoring_volumes_are_encrypted_and_rules_cover_the_slos(uae_plan):
    (sc,) = k8s_objects(uae_plan, "StorageClass")
    params = sc.inputs["parameters"]
    assert params["encrypted"] == "true" and params["kmsKeyId"].startswith("arn:aws:kms:me-central-1:"), f"{sc.urn}: volumes not CMK-encrypted"
    (stack,) = [r for r in uae_plan.by_type(HELM) if r.inputs["name"] == "kube-prometheus-stack"]
    v = stack.inputs["values"]
    name = sc.inputs["metadata"]["name"]
    assert v["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]["storageClassName"] == name, stack.urn
    assert v["alertmanager"]["alertmanagerSpec"]["storage"]["volumeClaimTemplate"]["spec"]["storageClassName"] == name, stack.urn
    assert v["grafana"]["persistence"]["storageClassName"] == name and v["grafana"]["admin"]["existingSecret"], stack.urn
    (rules,) = k8s_objects(uae_plan, "PrometheusRule")
    alerts = {rule["alert"] for g in rules.inputs["spec"]["groups"] for rule in g["rules"]}
    expected = {"SahabServingLatencySLO", "SahabServingErrorBudgetBurn", "SahabDriftDetected", "SahabGpuIdle", "SahabSpotInterruption"}
    assert expected <= alerts, f"{rules.urn}: missing alerts {expected - alerts}"
    monitors = {r.inputs["metadata"]["name"] for r in k8s_objects(uae_plan, "ServiceMonitor")}
    assert {"sahab-serving", "sahab-drift"} <= monitors, monitors


def test_dashboards_are_json_in_the_repo_and_deployed(uae_plan):
    files = sorted(DASHBOARDS.glob("*.json"))
    assert {p.stem for p in files} == {"serving", "drift", "gpu-utilisation", "cost", "governance"}
    for p in files:
        doc = json.loads(p.read_text())
        assert doc["uid"].startswith("sahab-") and doc["panels"], f"{p}: not a Grafana dashboard"
    deployed = {
        r.inputs["metadata"]["name"] for r in k8s_objects(uae_plan, "ConfigMap") if (r.inputs["metadata"].get("labels") or {}).get("grafana_dashboard") == "1"
    }
    assert deployed == {f"dashboard-{p.stem}" for p in files}, deployed


def test_training_template_checkpoints_within_the_spot_notice(uae_plan):
    (retrain,) = [r for r in k8s_objects(uae_plan, "CronJob") if r.inputs["metadata"]["name"] == "transaction-risk-retrain"]
    spec = retrain.inputs["spec"]
    assert spec["suspend"] is True, f"{retrain.urn}: the template must never run on its own"
    job = spec["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert 30 <= pod["terminationGracePeriodSeconds"] < 120, f"{retrain.urn}: grace period must fit the 2-minute spot notice"
    assert pod["nodeSelector"]["sahab.ae/pool"] == "uae-central-train-h200", retrain.urn
    (c,) = pod["containers"]
    # PID 1 forwards SIGTERM (tini); with_secrets.py execs the launcher, which hands it to all 8 ranks
    # (kubernetes.projects[transaction-risk].training.gpus: 8) and waits for their checkpoints.
    assert c["command"][:4] == ["/usr/bin/tini", "--", "python", "/opt/sahab/with_secrets.py"], f"{retrain.urn}: {c['command']}"
    assert c["command"][4:10] == ["python", "-m", "workloads.training.launch", "--nproc", "8", "--"], f"{retrain.urn}: {c['command']}"
    assert c["command"][10:14] == ["python", "-m", "workloads.pipeline", "retrain"] and "--resume" in c["command"], f"{retrain.urn}: {c['command']}"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "8", retrain.urn
    envs = {e["name"]: e for e in c["env"]}
    # The project's checkpoint root; the pipeline adds the run key, which is the Job's name (every pod of
    # one Job resumes the same run) unless the monitoring trigger names an episode.
    assert envs["SAHAB_TRAIN_CHECKPOINT_URI"]["value"].startswith("s3://") and envs["SAHAB_TRAIN_CHECKPOINT_URI"]["value"].endswith(
        "/checkpoints/transaction-risk"
    ), f"{retrain.urn}: SAHAB_TRAIN_CHECKPOINT_URI={envs['SAHAB_TRAIN_CHECKPOINT_URI']['value']}"
    assert envs["SAHAB_RETRAIN_KEY"]["value"] == "$(SAHAB_JOB_NAME)", f"{retrain.urn}: SAHAB_RETRAIN_KEY"
    assert [e["name"] for e in c["env"]].index("SAHAB_JOB_NAME") == 0, f"{retrain.urn}: SAHAB_JOB_NAME must come before its uses"
    rules = job["podFailurePolicy"]["rules"]
    assert {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]} in rules, (
        f"{retrain.urn}: spot reclaims must not use the retry budget"
    )


def test_serving_is_one_deployment_of_both_variants_with_a_private_control_plane(uae_plan):
    """Issue 10: every pod loads both variants (routing by key hash, not by pod counts); the control
    plane is a second container behind a ClusterIP Service, never the scoring load balancer."""
    deps = {r.inputs["metadata"]["name"]: r for r in k8s_objects(uae_plan, "Deployment") if r.inputs["metadata"]["namespace"] == "sahab-serving"}
    assert set(deps) == {"transaction-risk-serving", "delivery-time-serving"}, f"one Deployment per project: {sorted(deps)}"
    r = deps["transaction-risk-serving"]
    # projects/transaction-risk/project.yaml experiment.challenger_weight
    assert r.inputs["spec"]["replicas"] >= 2 and float(r.inputs["metadata"]["annotations"]["sahab.ae/ab-weight"]) == pytest.approx(0.1), r.urn
    hpas = {r.inputs["spec"]["scaleTargetRef"]["name"] for r in k8s_objects(uae_plan, "HorizontalPodAutoscaler")}
    pdbs = {r.inputs["metadata"]["name"] for r in k8s_objects(uae_plan, "PodDisruptionBudget")}
    pod = r.inputs["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    assert set(containers) == {"bentoml", "control"}, f"{r.urn}: {sorted(containers)}"
    envs = {e["name"]: e for e in containers["bentoml"]["env"]}
    assert envs["SAHAB_SERVING_AB_MODE"]["value"] == "split" and envs["SAHAB_SERVING_PREDICTION_LOG_URI"]["value"].endswith("/serving-log/transaction-risk/"), (
        r.urn
    )
    control_env = {e["name"]: e for e in containers["control"]["env"]}
    assert control_env["SAHAB_SERVING_CONTROL_TOKEN_FILE"]["value"].endswith("/token"), f"{r.urn}: the token is a mounted file"
    assert {"name": "control-token", "secret": {"secretName": "transaction-risk-serving-control-token", "defaultMode": 0o440}} in pod["volumes"], r.urn
    assert "SAHAB_SERVING_AB_REDIS_URL" in control_env["SAHAB_SECRET_ENV"]["value"], f"{r.urn}: the control plane shares state in Redis"
    assert containers["bentoml"]["readinessProbe"]["httpGet"]["path"] == "/readyz", f"{r.urn}: readiness"
    assert any(t["topologyKey"] == "topology.kubernetes.io/zone" for t in pod["topologySpreadConstraints"]), f"{r.urn}: zone spread"
    assert pod["nodeSelector"] == {"sahab.ae/workload": "serving"}, f"{r.urn}: serving runs on the CPU tier"
    assert "transaction-risk-serving" in hpas and "transaction-risk-serving" in pdbs, f"{r.urn}: HPA and PDB"
    services = {s.inputs["metadata"]["name"]: s for s in k8s_objects(uae_plan, "Service") if s.inputs["metadata"]["namespace"] == "sahab-serving"}
    assert [p["targetPort"] for p in services["transaction-risk-serving"].inputs["spec"]["ports"]] == ["http"], "the load balancer forwards only scoring"
    assert services["transaction-risk-serving-control"].inputs["spec"]["type"] == "ClusterIP"
    (evaluator,) = [c for c in k8s_objects(uae_plan, "CronJob") if c.inputs["metadata"]["name"] == "transaction-risk-evaluator"]
    assert evaluator.inputs["spec"]["concurrencyPolicy"] == "Forbid", f"{evaluator.urn}: one decision-maker"


def test_drift_job_triggers_retraining_with_least_privilege(uae_plan):
    (drift,) = [r for r in k8s_objects(uae_plan, "CronJob") if r.inputs["metadata"]["name"] == "delivery-time-monitoring"]
    (c,) = drift.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert c["command"][2:6] == ["python", "-m", "workloads.monitoring", "run"], drift.urn
    envs = {e["name"]: e["value"] for e in c["env"]}
    assert "retrain_trigger.py" in envs["SAHAB_DRIFT_RETRAIN_COMMAND"] and "SAHAB_MLFLOW_TRACKING_URI" in envs, drift.urn
    assert envs["SAHAB_MONITORING_PUSHGATEWAY_URL"].startswith("http://pushgateway.sahab-monitoring.svc"), drift.urn
    # The trigger submits a Workflow of the project's own pipeline in its team's namespace (components/kubernetes/workflows.py).
    assert envs["SAHAB_RETRAIN_WORKFLOW_TEMPLATE"] == "delivery-time-pipeline", f"{drift.urn}: the trigger starts the project's own template"
    assert envs["SAHAB_RETRAIN_NAMESPACE"] == "sahab-team-logistics" and "SAHAB_RETRAIN_CRONJOB" not in envs, f"{drift.urn}: {envs['SAHAB_RETRAIN_NAMESPACE']}"
    (role,) = [r for r in k8s_objects(uae_plan, "Role") if r.inputs["metadata"]["name"] == "sahab:delivery-time-pipeline-trigger"]
    verbs = {(tuple(rule["resources"]), tuple(rule["verbs"])) for rule in role.inputs["rules"]}
    assert verbs == {(("workflows",), ("create",))}, f"{role.urn}: {verbs}"
    assert role.inputs["metadata"]["namespace"] == "sahab-team-logistics", f"{role.urn}: only in the project's team namespace"
    assert not [r for r in k8s_objects(uae_plan, "Role") if r.inputs["metadata"]["name"] == "sahab:delivery-time-retrain-trigger"], "no Job trigger left"


def test_workload_settings_come_from_stack_outputs(uae_plan):
    buckets = set(uae_plan.outputs["bucket_names"].values())
    uris = [
        (r.urn, e["value"]) for r, spec in pods(uae_plan) for c in containers(spec) for e in c.get("env") or [] if str(e.get("value", "")).startswith("s3://")
    ]
    assert uris, "no S3 locations in workload environments"
    for urn, uri in uris:
        assert uri.split("/")[2] in buckets, f"{urn}: {uri} is not one of the stack's buckets {sorted(buckets)}"
