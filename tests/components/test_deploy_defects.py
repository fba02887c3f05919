"""Regression tests for the cloud-layer defects of issue 9 (section 1): each would have failed a
real `pulumi up` in me-central-1, or left a platform that does not work, and each test failed on
the code before its fix. They read the shipped plans (the offline engine) and evaluate the IAM,
key and bucket policies the way IAM does for the request in question (action, resource, principal,
condition keys), so a policy that merely mentions the right action is not enough."""

from __future__ import annotations

import copy
import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
REGION = "me-central-1"


# ---------------------------------------------------------------------------------------------
# A small IAM evaluator: explicit deny wins, then any allow; conditions as IAM evaluates them
# (a missing key fails an operator unless it is ...IfExists or ForAllValues:...).
# ---------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(op: str, key: str, expected: Any, context: dict[str, Any]) -> bool:
    wanted = [str(v) for v in _as_list(expected)]
    for_all = op.startswith("ForAllValues:")
    base = op.split(":", 1)[1] if ":" in op else op
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if key not in context:
        return if_exists or for_all
    actual = [str(v) for v in _as_list(context[key])]

    def one(value: str) -> bool:
        if base == "StringEquals":
            return value in wanted
        if base in ("StringLike", "ArnLike", "ArnEquals"):
            return any(fnmatch.fnmatchcase(value, w) for w in wanted)
        if base == "Bool":
            return value.lower() in [w.lower() for w in wanted]
        if base == "StringNotEquals":
            return value not in wanted
        raise AssertionError(f"condition operator {op} not supported by the test evaluator")

    return all(one(v) for v in actual) if for_all else any(one(v) for v in actual)


def _statement_applies(s: dict[str, Any], action: str, resource: str, context: dict[str, Any], principal: dict[str, str] | None) -> bool:
    if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _as_list(s.get("Action", []))):
        return False
    if not any(fnmatch.fnmatchcase(resource, r) for r in _as_list(s.get("Resource", "*"))):
        return False
    if principal is not None:
        p = s.get("Principal")
        if p != "*":
            kind, who = next(iter(principal.items()))
            if who not in _as_list((p or {}).get(kind, [])):
                return False
    return all(_condition_holds(op, key, value, context) for op, kv in (s.get("Condition") or {}).items() for key, value in kv.items())


def allowed(policy: str | dict, action: str, resource: str, context: dict[str, Any] | None = None, principal: dict[str, str] | None = None) -> bool:
    doc = json.loads(policy) if isinstance(policy, str) else policy
    context = context or {}
    statements = _as_list(doc["Statement"])
    if any(s["Effect"] == "Deny" and _statement_applies(s, action, resource, context, principal) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _statement_applies(s, action, resource, context, principal) for s in statements)


def one(plan, type_token: str, name_suffix: str):
    found = [r for r in plan.by_type(type_token) if r.name.endswith(name_suffix)]
    assert len(found) == 1, f"expected one {type_token} named *{name_suffix}, found {[r.name for r in found]}"
    return found[0]


def account_of(plan) -> str:
    role = plan.by_type("aws:iam/role:Role")[0]
    return role.outputs["arn"].split(":")[4]


# ---------------------------------------------------------------------------------------------
# Karpenter's controller
# ---------------------------------------------------------------------------------------------


def test_karpenter_creates_and_tags_its_instance_profiles(uae_plan):
    """Defect: CreateInstanceProfile/TagInstanceProfile were conditioned on aws:ResourceTag, which a
    profile that does not exist yet cannot carry. Karpenter v1.6 sends these request tags."""
    policy = one(uae_plan, "aws:iam/rolePolicy:RolePolicy", "-karpenter-controller-access")
    cluster, account = f"sahab-{uae_plan.stack}", account_of(uae_plan)
    profile = f"arn:aws:iam::{account}:instance-profile/{cluster}_1234567890"
    request_tags = {
        f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
        "aws:RequestTag/eks:eks-cluster-name": cluster,
        "aws:RequestTag/topology.kubernetes.io/region": REGION,
        "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "uae-central-train-h200",
    }
    resource_tags = {k.replace("aws:RequestTag/", "aws:ResourceTag/"): v for k, v in request_tags.items()}
    urn = policy.urn
    assert allowed(policy.inputs["policy"], "iam:CreateInstanceProfile", profile, request_tags), (
        f"{urn}: iam:CreateInstanceProfile denied for Karpenter's request tags"
    )
    assert allowed(policy.inputs["policy"], "iam:TagInstanceProfile", profile, {**request_tags, **resource_tags}), f"{urn}: iam:TagInstanceProfile denied"
    for action in ("iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"):
        assert allowed(policy.inputs["policy"], action, profile, resource_tags), f"{urn}: {action} denied on its own profile"
    # Still scoped: another cluster's profile stays out of reach.
    other = {k.replace(cluster, "someone-else"): v for k, v in request_tags.items()}
    assert not allowed(policy.inputs["policy"], "iam:CreateInstanceProfile", profile, other), f"{urn}: creates profiles for other clusters"
    assert allowed(policy.inputs["policy"], "iam:GetInstanceProfile", profile), f"{urn}: iam:GetInstanceProfile denied"


def test_karpenter_reads_its_kms_encrypted_interruption_queue(uae_plan):
    """Defect: the queue is encrypted with its own CMK but the controller had no kms:Decrypt on it."""
    policy = one(uae_plan, "aws:iam/rolePolicy:RolePolicy", "-karpenter-controller-access")
    queue = one(uae_plan, "aws:sqs/queue:Queue", "-karpenter-interruptions")
    key = one(uae_plan, "aws:kms/key:Key", "-karpenter-queue-key")
    assert queue.inputs["kmsMasterKeyId"] == key.outputs["arn"], f"{queue.urn}: not encrypted with the queue key"
    via_sqs = {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueUrl"):
        assert allowed(policy.inputs["policy"], action, queue.outputs["arn"]), f"{policy.urn}: {action} denied on {queue.urn}"
    assert allowed(policy.inputs["policy"], "kms:Decrypt", key.outputs["arn"], via_sqs), f"{policy.urn}: kms:Decrypt denied on {key.urn} (ReceiveMessage fails)"
    # The key policy delegates to IAM (account root), so the identity policy above is sufficient.
    root = f"arn:aws:iam::{account_of(uae_plan)}:root"
    assert allowed(key.inputs["policy"], "kms:Decrypt", key.outputs["arn"], principal={"AWS": root}), f"{key.urn}: key policy does not delegate to IAM"


# ---------------------------------------------------------------------------------------------
# CloudTrail and the logs key
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_cloudtrail_can_use_the_logs_key(env, request):
    """Defects: kms:DescribeKey sat under an encryption-context condition DescribeKey never carries,
    and the audit bucket's S3 Bucket Key needs kms:Decrypt for CloudTrail to create the trail."""
    plan = request.getfixturevalue(env)
    account = account_of(plan)
    trail = one(plan, "aws:cloudtrail/trail:Trail", "-audit-trail")
    key = next(k for k in plan.by_type("aws:kms/key:Key") if k.outputs["arn"] == trail.inputs["kmsKeyId"])
    trail_arn = f"arn:aws:cloudtrail:{REGION}:{account}:trail/{trail.inputs['name']}"
    cloudtrail = {"Service": "cloudtrail.amazonaws.com"}
    source = {"aws:SourceAccount": account, "aws:SourceArn": trail_arn}
    encrypt = {**source, "kms:EncryptionContext:aws:cloudtrail:arn": trail_arn}
    p = key.inputs["policy"]
    assert allowed(p, "kms:DescribeKey", key.outputs["arn"], source, cloudtrail), (
        f"{key.urn}: CloudTrail cannot kms:DescribeKey (no encryption context on DescribeKey)"
    )
    assert allowed(p, "kms:GenerateDataKey", key.outputs["arn"], encrypt, cloudtrail), f"{key.urn}: CloudTrail cannot encrypt log files"
    assert allowed(p, "kms:Decrypt", key.outputs["arn"], source, cloudtrail), (
        f"{key.urn}: CloudTrail lacks kms:Decrypt, needed with the audit bucket's Bucket Key"
    )
    other = {"aws:SourceAccount": "999999999999", "aws:SourceArn": f"arn:aws:cloudtrail:{REGION}:999999999999:trail/x"}
    assert not allowed(p, "kms:Decrypt", key.outputs["arn"], other, cloudtrail), f"{key.urn}: another account's trail may decrypt"
    sse = next(
        r for r in plan.by_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration") if r.name.endswith("-audit-sse")
    )
    assert sse.inputs["rules"][0]["bucketKeyEnabled"] is True, f"{sse.urn}: the test's premise (Bucket Key on the audit bucket) changed"


# ---------------------------------------------------------------------------------------------
# EKS add-ons
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_eks_addons_take_over_the_preinstalled_self_managed_ones(env, request):
    """Defect: vpc-cni, coredns and kube-proxy are pre-installed self-managed; creating the managed
    add-on without OVERWRITE fails on the conflicting fields."""
    plan = request.getfixturevalue(env)
    addons = plan.by_type("aws:eks/addon:Addon")
    assert {a.inputs["addonName"] for a in addons} >= {"vpc-cni", "coredns", "kube-proxy"}
    for a in addons:
        assert a.inputs.get("resolveConflictsOnCreate") == "OVERWRITE", (
            f"{a.urn}: resolveConflictsOnCreate is {a.inputs.get('resolveConflictsOnCreate')!r}, not OVERWRITE"
        )
        assert a.inputs.get("resolveConflictsOnUpdate") == "OVERWRITE", f"{a.urn}: resolveConflictsOnUpdate is not OVERWRITE"


# ---------------------------------------------------------------------------------------------
# Workload roles: what the ML loop reads and writes
# ---------------------------------------------------------------------------------------------


def _buckets(plan) -> dict[str, str]:
    """purpose -> bucket name."""
    return {r.inputs["tags"]["sahab.ae/purpose"]: r.outputs["bucket"] for r in plan.by_type("aws:s3/bucket:Bucket")}


def _role_policy(plan, workload: str):
    return one(plan, "aws:iam/rolePolicy:RolePolicy", f"-identity-{workload}-access")


def _env_of(plan, kind: str, name: str) -> dict[str, str]:
    for r in plan.resources:
        if r.type.startswith("kubernetes:") and r.inputs.get("kind") == kind and r.inputs.get("metadata", {}).get("name") == name:
            spec = r.inputs["spec"]
            pod = spec["jobTemplate"]["spec"]["template"]["spec"] if kind == "CronJob" else spec["template"]["spec"]
            return {e["name"]: e.get("value") for c in pod["containers"] for e in c.get("env", []) if "value" in e}
    raise AssertionError(f"no {kind} {name} in the plan")


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
@pytest.mark.parametrize("project", ["transaction-risk", "delivery-time"])
def test_serving_and_drift_reach_what_the_ml_loop_writes(env, project, request):
    """Defect: MLflow writes model artifacts to experiment-artifacts, while the serving role could
    read only model-artifacts. Also what the loop needs now, per project: its serving writes its
    prediction log, its monitoring reads it and keeps its watermark and reads the registry's artifacts
    under the project's experiment location; neither reaches the other project's."""
    plan = request.getfixturevalue(env)
    other = "delivery-time" if project == "transaction-risk" else "transaction-risk"
    b = _buckets(plan)
    mlflow_root = _env_of(plan, "Deployment", "mlflow")["MLFLOW_ARTIFACTS_DESTINATION"]
    assert mlflow_root.startswith(f"s3://{b['experiment-artifacts']}/"), mlflow_root
    location = _env_of(plan, "CronJob", f"{project}-retrain")["SAHAB_MLFLOW_ARTIFACT_LOCATION"]
    assert location == f"{mlflow_root.rstrip('/')}/{project}", f"{project}'s experiment artifact location {location} (MLflow root {mlflow_root})"
    model_object = f"arn:aws:s3:::{location[len('s3://') :]}/1/abc123/artifacts/model/model.onnx"
    serving, drift = _role_policy(plan, f"{project}-serving"), _role_policy(plan, f"{project}-monitoring")
    log = f"arn:aws:s3:::{b['offline-features']}/serving-log/{project}/date=2026-12-01/hour=10/part-a.parquet"
    state = f"arn:aws:s3:::{b['offline-features']}/drift-state/{project}/state.json"
    checks = [
        (serving, "s3:GetObject", model_object, "serving reads the models MLflow wrote"),
        (serving, "s3:PutObject", log, "serving writes the prediction log"),
        (drift, "s3:GetObject", log, "drift reads the prediction log"),
        (drift, "s3:GetObject", state, "drift reads its watermark"),
        (drift, "s3:PutObject", state, "drift writes its watermark"),
        (drift, "s3:GetObject", model_object, "drift reads the registry's artifacts"),
    ]
    for policy, action, resource, why in checks:
        assert allowed(policy.inputs["policy"], action, resource), f"{policy.urn}: {action} {resource} denied ({why})"
    # Serving writes only its log and labels: not the offline store's features, not the models, nothing of the other project.
    for resource in (
        f"arn:aws:s3:::{b['offline-features']}/feast/{project}/offline/sources/features/batch/data.parquet",
        model_object,
        log.replace(f"/{project}/", f"/{other}/"),
    ):
        assert not allowed(serving.inputs["policy"], "s3:PutObject", resource), f"{serving.urn}: may write {resource}"
    assert not allowed(drift.inputs["policy"], "s3:GetObject", log.replace(f"/{project}/", f"/{other}/")), f"{drift.urn}: reads {other}'s log"
    # The log the drift job actually reads (its settings) is the one serving may write.
    drift_log = _env_of(plan, "CronJob", f"{project}-monitoring").get("SAHAB_DRIFT_LOG_URI")
    assert drift_log, f"{project}-monitoring: no SAHAB_DRIFT_LOG_URI"
    obj = f"arn:aws:s3:::{drift_log[len('s3://') :].rstrip('/')}/date=2026-12-01/hour=10/part-a.parquet"
    assert allowed(drift.inputs["policy"], "s3:GetObject", obj), f"{drift.urn}: cannot read its SAHAB_DRIFT_LOG_URI {drift_log}"
    assert allowed(serving.inputs["policy"], "s3:PutObject", obj), f"{serving.urn}: cannot write the log drift reads ({drift_log})"
    listing = {"s3:prefix": f"serving-log/{project}/date=2026-12-01/"}
    assert allowed(drift.inputs["policy"], "s3:ListBucket", f"arn:aws:s3:::{b['offline-features']}", listing), f"{drift.urn}: cannot list the prediction log"
    assert not allowed(drift.inputs["policy"], "s3:ListBucket", f"arn:aws:s3:::{b['offline-features']}", {"s3:prefix": f"serving-log/{other}/"}), (
        f"{drift.urn}: lists {other}'s prediction log"
    )


# ---------------------------------------------------------------------------------------------
# The deployer reaches the private cluster
# ---------------------------------------------------------------------------------------------


def _spec(env: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((REPO / "environments" / env / f"Pulumi.{env}.yaml").read_text())["config"]["sahab:platform"]


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_the_deployer_reaches_the_private_endpoint_as_cluster_admin(env, request):
    """Defect: the endpoint is private only, nothing admitted wherever `pulumi up` runs, the creator
    got no admin, and the Kubernetes provider did not wait for the admin association."""
    plan = request.getfixturevalue(env)
    deployer = _spec(plan.stack)["cluster"]["deployer"]
    eks = one(plan, "aws:eks/cluster:Cluster", "-cluster-eks")
    vpc = eks.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and not vpc.get("endpointPublicAccess"), f"{eks.urn}: the test's premise (private-only endpoint) changed"
    cluster_sg = eks.outputs["vpcConfig"]["clusterSecurityGroupId"]
    rules = [r for r in plan.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") if r.inputs["securityGroupId"] == cluster_sg]
    admitted = {r.inputs.get("cidrIpv4") for r in rules if r.inputs["ipProtocol"] == "tcp" and r.inputs["fromPort"] <= 443 <= r.inputs["toPort"]}
    assert set(deployer["cidrs"]) <= admitted, (
        f"{eks.urn}: cluster security group {cluster_sg} does not admit the deployer {deployer['cidrs']} on 443 (admits {admitted})"
    )
    associations = [r for r in plan.by_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation") if r.inputs["principalArn"] == deployer["role_arn"]]
    assert (
        associations
        and associations[0].inputs["policyArn"].endswith("/AmazonEKSClusterAdminPolicy")
        and associations[0].inputs["accessScope"]["type"] == "cluster"
    ), f"{plan.stack}: deployer {deployer['role_arn']} is not cluster admin"
    assert any(r.inputs["principalArn"] == deployer["role_arn"] for r in plan.by_type("aws:eks/accessEntry:AccessEntry")), (
        f"{plan.stack}: no access entry for the deployer"
    )
    provider = next(r for r in plan.resources if r.type == "pulumi:providers:kubernetes")
    waits = set(provider.options.get("dependsOn", []))
    assert associations[0].urn in waits, f"{provider.urn}: does not wait for {associations[0].urn}"
    assert all(r.urn in waits for r in rules if r.inputs.get("cidrIpv4") in deployer["cidrs"]), f"{provider.urn}: does not wait for the deployer's ingress rule"


def test_the_deployer_spec_is_validated():
    from stacks.spec import SpecError, load_spec

    base = _spec("uae-central")
    for bad, fragment in (
        ({"role_arn": "arn:aws:iam::111122223333:role/d"}, "exactly one of cidrs"),
        ({"role_arn": "arn:aws:iam::111122223333:role/d", "cidrs": ["8.8.8.0/24"]}, "not private"),
        ({"role_arn": "not-an-arn", "cidrs": ["10.99.0.0/24"]}, "not an IAM role ARN"),
        ({"role_arn": "arn:aws:iam::111122223333:role/d", "cidrs": ["10.99.0.0/24"], "security_group_id": "sg-0123456789abcdef0"}, "exactly one of cidrs"),
    ):
        raw = copy.deepcopy(base)
        raw["cluster"]["deployer"] = bad
        with pytest.raises(SpecError) as e:
            load_spec(raw)
        assert "cluster.deployer" in str(e.value) and fragment in str(e.value), str(e.value)


# ---------------------------------------------------------------------------------------------
# Fresh accounts: service-linked roles
# ---------------------------------------------------------------------------------------------

SLR_ASG = "arn:aws:iam::{0}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_service_linked_roles_exist_before_the_key_that_names_them(env, request):
    """Defect: the data key's policy names the Auto Scaling service-linked role and spot launches
    need the EC2 Spot one; a new account has neither (and KMS refuses a policy naming a missing role)."""
    plan = request.getfixturevalue(env)
    roles = {r.inputs["awsServiceName"]: r for r in plan.by_type("aws:iam/serviceLinkedRole:ServiceLinkedRole")}
    assert set(roles) == {"autoscaling.amazonaws.com", "spot.amazonaws.com"}, f"{plan.stack}: service-linked roles planned: {sorted(roles)}"
    for r in roles.values():
        assert r.options.get("retainOnDelete") is True, f"{r.urn}: deleting the stack would delete an account-wide role"
    key = one(plan, "aws:kms/key:Key", "-keys-data")
    asg = roles["autoscaling.amazonaws.com"]
    assert asg.outputs["arn"] == SLR_ASG.format(account_of(plan)), f"{asg.urn}: mock ARN shape differs from IAM's"
    assert asg.urn in key.options.get("dependsOn", []), f"{key.urn}: does not wait for {asg.urn}"
    assert allowed(key.inputs["policy"], "kms:CreateGrant", key.outputs["arn"], {"kms:GrantIsForAWSResource": "true"}, {"AWS": asg.outputs["arn"]}), (
        f"{key.urn}: Auto Scaling cannot create grants"
    )


def test_service_linked_roles_can_be_left_to_an_account_that_has_them():
    """IAM refuses a second service-linked role for a service: `create_service_linked_roles: false`
    plans none, and the key names the account's existing role."""
    from sahab.engine.offline import read_project, read_stack_config, run_program

    project, entry = read_project(REPO)
    config = read_stack_config(REPO / "environments/smb/Pulumi.smb.yaml", project)
    config["sahab:platform"] = copy.deepcopy(config["sahab:platform"])
    config["sahab:platform"]["cluster"]["create_service_linked_roles"] = False
    plan = run_program(REPO, "smb", config, project=project, entry=entry)
    assert not plan.by_type("aws:iam/serviceLinkedRole:ServiceLinkedRole"), "create_service_linked_roles: false still plans service-linked roles"
    key = one(plan, "aws:kms/key:Key", "-keys-data")
    assert allowed(
        key.inputs["policy"], "kms:CreateGrant", key.outputs["arn"], {"kms:GrantIsForAWSResource": "true"}, {"AWS": SLR_ASG.format(account_of(plan))}
    ), key.urn
