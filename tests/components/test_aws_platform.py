"""Security and residency properties of the AWS cloud layer, asserted on the uae-central plan.

Each property is checked on every resource it applies to; failures name the URN.
"""

from __future__ import annotations

import importlib
import json
from functools import cache

import pytest

from components.aws.storage import BUCKETS

REGION = "me-central-1"
REQUIRED_TAGS = ("owner", "cost-center", "data-classification")
# Services whose ARNs carry no region (global by design, control-plane metadata).
GLOBAL_SERVICES = {"iam", "s3", "random"}


def aws(plan, kind: str):
    return [r for r in plan.resources if r.type == kind]


def children_by_bucket(plan, kind: str) -> dict[str, object]:
    """Bucket-attached resources (versioning, SSE, ...) keyed by the bucket they name."""
    return {r.inputs["bucket"]: r for r in aws(plan, kind)}


def bucket_names(plan) -> dict[str, str]:
    return {r.urn: r.outputs["bucket"] for r in aws(plan, "aws:s3/bucket:Bucket")}


def test_all_items_of_the_issue_are_planned(uae_plan):
    expected = {
        "sahab:aws:Network",
        "sahab:aws:Encryption",
        "sahab:aws:Storage",
        "sahab:aws:Cluster",
        "sahab:aws:GpuNodePool",
        "sahab:aws:InferenceNodePool",
        "sahab:aws:Registry",
        "sahab:aws:RegistryDatabase",
        "sahab:aws:OnlineStoreCache",
        "sahab:aws:WorkloadIdentity",
        "sahab:aws:AuditTrail",
    }
    present = {r.type for r in uae_plan.resources}
    assert expected <= present, f"missing components: {sorted(expected - present)}"
    assert len(aws(uae_plan, "aws:s3/bucket:Bucket")) == len(BUCKETS)


def test_every_bucket_is_cmk_encrypted_private_versioned_and_tls_only(uae_plan):
    keys = {r.outputs["arn"] for r in aws(uae_plan, "aws:kms/key:Key")}
    sse = children_by_bucket(uae_plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    pab = children_by_bucket(uae_plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    versioning = children_by_bucket(uae_plan, "aws:s3/bucketVersioning:BucketVersioning")
    ownership = children_by_bucket(uae_plan, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    policies = children_by_bucket(uae_plan, "aws:s3/bucketPolicy:BucketPolicy")
    for urn, name in bucket_names(uae_plan).items():
        assert name in sse, f"{urn}: no server-side encryption configuration"
        rule = sse[name].inputs["rules"][0]
        default = rule["applyServerSideEncryptionByDefault"]
        assert default["sseAlgorithm"] == "aws:kms", f"{urn}: SSE is {default['sseAlgorithm']}, not aws:kms"
        assert default["kmsMasterKeyId"] in keys, f"{urn}: not encrypted with one of the platform's CMKs"
        assert rule["bucketKeyEnabled"] is True, f"{urn}: S3 bucket keys off"
        block = pab[name].inputs
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
            assert block[flag] is True, f"{urn}: public access block {flag} is not true"
        assert versioning[name].inputs["versioningConfiguration"]["status"] == "Enabled", f"{urn}: versioning off"
        assert ownership[name].inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced", f"{urn}: ACLs not disabled"
        statements = json.loads(policies[name].inputs["policy"])["Statement"]
        deny_http = [s for s in statements if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
        deny_old_tls = [s for s in statements if s["Effect"] == "Deny" and s.get("Condition", {}).get("NumericLessThan", {}).get("s3:TlsVersion") == "1.2"]
        assert deny_http and deny_old_tls, f"{urn}: bucket policy must deny non-TLS and TLS < 1.2"
        assert not any(s["Effect"] == "Allow" and s.get("Principal") == "*" for s in statements), f"{urn}: policy allows everyone"


def test_audit_bucket_is_object_locked_in_compliance_mode(uae_plan):
    audit = next(r for r in aws(uae_plan, "aws:s3/bucket:Bucket") if r.name.endswith("-audit"))
    assert audit.inputs["objectLockEnabled"] is True, f"{audit.urn}: object lock not enabled"
    lock = children_by_bucket(uae_plan, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")[audit.outputs["bucket"]]
    retention = lock.inputs["rule"]["defaultRetention"]
    assert retention == {"mode": "COMPLIANCE", "days": 2555}, f"{lock.urn}: {retention}"


def test_keys_rotate_and_stay_single_region(uae_plan):
    keys = aws(uae_plan, "aws:kms/key:Key")
    assert len([k for k in keys if "sahab:aws:Encryption$" in k.urn]) == 3, "one key per purpose: data, logs, cluster"
    for k in keys:
        assert k.inputs["enableKeyRotation"] is True, f"{k.urn}: rotation off"
        assert k.inputs["rotationPeriodInDays"] == 365, f"{k.urn}: rotation period"
        assert k.inputs["multiRegion"] is False, f"{k.urn}: multi-region key would replicate key material out of the region"
        policy = json.loads(k.inputs["policy"])
        for s in policy["Statement"]:
            assert s.get("Principal") != "*" and s.get("Principal") != {"AWS": "*"}, f"{k.urn}: key policy open to everyone ({s['Sid']})"
            if "Service" in s.get("Principal", {}):
                assert "Condition" in s, f"{k.urn}: service statement {s['Sid']} not pinned by a condition"


def test_network_policies_are_enforced_and_autoscaling_has_metrics(uae_plan):
    addons = {a.inputs["addonName"]: a for a in aws(uae_plan, "aws:eks/addon:Addon")}
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}, "NetworkPolicies would be ignored"
    assert "metrics-server" in addons, "HPAs need metrics-server"


def test_cluster_endpoint_private_secrets_encrypted_logs_on(uae_plan):
    (cluster,) = aws(uae_plan, "aws:eks/cluster:Cluster")
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True, f"{cluster.urn}: private endpoint off"
    assert vpc["endpointPublicAccess"] is False, f"{cluster.urn}: public endpoint on"
    cluster_key = next(k.outputs["arn"] for k in aws(uae_plan, "aws:kms/key:Key") if k.name.endswith("-cluster"))
    enc = cluster.inputs["encryptionConfig"]
    assert enc["resources"] == ["secrets"] and enc["provider"]["keyArn"] == cluster_key, f"{cluster.urn}: secrets not envelope-encrypted with the cluster key"
    assert set(cluster.inputs["enabledClusterLogTypes"]) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    assert cluster.inputs["accessConfig"]["authenticationMode"] == "API"
    assert cluster.inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
    log_group = next(g for g in aws(uae_plan, "aws:cloudwatch/logGroup:LogGroup") if g.inputs["name"] == f"/aws/eks/{cluster.inputs['name']}/cluster")
    assert log_group.inputs.get("kmsKeyId"), f"{log_group.urn}: control-plane logs not KMS-encrypted"


def test_every_log_group_is_kms_encrypted_with_retention(uae_plan):
    for g in aws(uae_plan, "aws:cloudwatch/logGroup:LogGroup"):
        assert g.inputs.get("kmsKeyId", "").startswith("arn:aws:kms:me-central-1:"), f"{g.urn}: no in-region CMK"
        assert g.inputs.get("retentionInDays", 0) >= 365, f"{g.urn}: retention below a year"


def _pool(plan, component: str):
    groups = [r for r in aws(plan, "aws:eks/nodeGroup:NodeGroup") if f"{component}$" in r.urn]
    assert groups, f"no node groups under {component}"
    return groups


def test_gpu_pools_scale_from_zero_tainted_spot_nvidia(uae_plan):
    for g in _pool(uae_plan, "sahab:aws:GpuNodePool"):
        scaling = g.inputs["scalingConfig"]
        assert scaling["minSize"] == 0 and scaling["desiredSize"] == 0, f"{g.urn}: GPU pool does not scale from 0 ({scaling})"
        assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in g.inputs["taints"], f"{g.urn}: GPU taint missing"
        assert g.inputs["amiType"] == "AL2023_x86_64_NVIDIA", f"{g.urn}: not the NVIDIA AMI"
        assert g.inputs["capacityType"] == "SPOT", f"{g.urn}: training pools run on spot"
        assert "scalingConfig.desiredSize" in g.options.get("ignoreChanges", []), f"{g.urn}: the autoscaler's desired size would be reset on every up"


def test_inference_tiers_on_demand_at_least_two_over_all_zones(uae_plan):
    subnets = {r.urn.split("::")[-1]: r for r in aws(uae_plan, "aws:ec2/subnet:Subnet")}
    node_subnet_zones = {r.outputs.get("availabilityZone") for r in subnets.values() if r.inputs["tags"].get("sahab.ae/tier") == "nodes"}
    assert len(node_subnet_zones) == 3, node_subnet_zones
    for g in _pool(uae_plan, "sahab:aws:InferenceNodePool"):
        assert g.inputs["capacityType"] == "ON_DEMAND", f"{g.urn}: serving on spot"
        assert g.inputs["scalingConfig"]["minSize"] >= 2, f"{g.urn}: fewer than 2 nodes"
        assert len(g.inputs["subnetIds"]) == 3, f"{g.urn}: not spread over the 3 zones"
        assert not g.inputs.get("taints"), f"{g.urn}: serving tier should not be tainted"


def test_imdsv2_and_encrypted_volumes_on_every_launch_template(uae_plan):
    data_key = next(k.outputs["arn"] for k in aws(uae_plan, "aws:kms/key:Key") if k.name.endswith("-data"))
    templates = aws(uae_plan, "aws:ec2/launchTemplate:LaunchTemplate")
    assert len(templates) == 4
    for lt in templates:
        meta = lt.inputs["metadataOptions"]
        assert meta["httpTokens"] == "required", f"{lt.urn}: IMDSv1 allowed"
        assert meta["httpPutResponseHopLimit"] == 1, f"{lt.urn}: pods could reach node credentials"
        for bdm in lt.inputs["blockDeviceMappings"]:
            assert bdm["ebs"]["encrypted"] == "true" and bdm["ebs"]["kmsKeyId"] == data_key, f"{lt.urn}: root volume not CMK-encrypted"


@cache
def _taggable(type_token: str) -> bool:
    module, cls = type_token.split(":")[1].split("/")[0], type_token.split(":")[2]
    resource = getattr(importlib.import_module(f"pulumi_aws.{module}"), cls)
    return "tags" in resource._internal_init.__code__.co_varnames


def _provider_tags(resource) -> dict:
    raw = resource.provider_inputs.get("defaultTags") or "{}"
    return (json.loads(raw) if isinstance(raw, str) else raw).get("tags", {})


def test_every_taggable_resource_is_tagged(uae_plan):
    checked = 0
    for r in uae_plan.resources:
        if not r.type.startswith("aws:") or not _taggable(r.type):
            continue
        tags = {**_provider_tags(r), **(r.inputs.get("tags") or {})}
        missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
        assert not missing, f"{r.urn}: missing tags {missing}"
        assert tags["data-classification"] == "confidential", f"{r.urn}: wrong data class"
        checked += 1
    assert checked > 80, f"only {checked} taggable resources checked"


def test_launched_instances_and_volumes_carry_tags(uae_plan):
    for lt in aws(uae_plan, "aws:ec2/launchTemplate:LaunchTemplate"):
        kinds = {spec["resourceType"]: spec["tags"] for spec in lt.inputs["tagSpecifications"]}
        for kind in ("instance", "volume"):
            assert all(kinds[kind].get(t) for t in REQUIRED_TAGS), f"{lt.urn}: {kind}s launched untagged"


def test_every_regional_resource_is_in_me_central_1(uae_plan):
    providers = aws(uae_plan, "pulumi:providers:aws")
    assert [p.inputs["region"] for p in providers] == [REGION]
    for r in uae_plan.resources:
        if not r.type.startswith("aws:"):
            continue
        region = r.inputs.get("region") or r.provider_inputs.get("region")
        assert region == REGION, f"{r.urn}: effective region {region!r}"
        arn = r.outputs.get("arn", "")
        service = r.type.split(":")[1].split("/")[0]
        if arn and service not in GLOBAL_SERVICES:
            assert f":{REGION}:" in arn, f"{r.urn}: ARN {arn} is not in {REGION}"


def test_vpc_endpoints_keep_aws_traffic_private(uae_plan):
    services = {r.inputs["serviceName"]: r for r in aws(uae_plan, "aws:ec2/vpcEndpoint:VpcEndpoint")}
    for svc in ("s3", "ecr.api", "ecr.dkr", "sts", "kms", "logs"):
        assert f"com.amazonaws.{REGION}.{svc}" in services, f"no {svc} endpoint"
    assert services[f"com.amazonaws.{REGION}.s3"].inputs["vpcEndpointType"] == "Gateway"
    for _name, r in services.items():
        if r.inputs["vpcEndpointType"] == "Interface":
            assert r.inputs["privateDnsEnabled"] is True, f"{r.urn}: private DNS off"


def test_subnets_public_only_for_nat_and_load_balancers(uae_plan):
    for s in aws(uae_plan, "aws:ec2/subnet:Subnet"):
        assert s.inputs["mapPublicIpOnLaunch"] is False, f"{s.urn}: assigns public IPs"
    nat_subnets = {n.inputs["subnetId"] for n in aws(uae_plan, "aws:ec2/natGateway:NatGateway")}
    public = {s.urn.split("::")[-1]: s for s in aws(uae_plan, "aws:ec2/subnet:Subnet") if s.inputs["tags"]["sahab.ae/tier"] == "public"}
    public_ids = {_id(uae_plan, s.urn) for s in public.values()}
    assert nat_subnets <= public_ids, "NAT gateways must sit in public subnets"
    (flow,) = aws(uae_plan, "aws:ec2/flowLog:FlowLog")
    assert flow.inputs["trafficType"] == "ALL"
    (default_sg,) = aws(uae_plan, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default_sg.inputs.get("ingress", []) == [] and default_sg.inputs.get("egress", []) == [], f"{default_sg.urn}: default SG keeps rules"


def _id(plan, urn: str) -> str:
    # Subnet ids come back from the mocks as `subnet-<hash>`; node groups reference those ids.
    from sahab.engine.mocks import _digest

    name = urn.split("::")[-1]
    return f"subnet-{_digest(plan.stack, name, n=17)}"


def test_registry_database_is_private_multi_az_encrypted(uae_plan):
    (db,) = aws(uae_plan, "aws:rds/instance:Instance")
    i = db.inputs
    assert i["publiclyAccessible"] is False and i["multiAz"] is True and i["storageEncrypted"] is True, f"{db.urn}: {i}"
    assert i["kmsKeyId"].startswith("arn:aws:kms:me-central-1:"), f"{db.urn}: not a CMK"
    assert i["manageMasterUserPassword"] is True and "password" not in i, f"{db.urn}: password must be RDS-managed"
    assert i["deletionProtection"] is True and i["skipFinalSnapshot"] is False
    (params,) = aws(uae_plan, "aws:rds/parameterGroup:ParameterGroup")
    assert {"name": "rds.force_ssl", "value": "1"} in params.inputs["parameters"], f"{params.urn}: TLS not forced"


def test_online_store_encrypted_in_transit_and_at_rest_with_auth(uae_plan):
    (redis,) = aws(uae_plan, "aws:elasticache/replicationGroup:ReplicationGroup")
    i = redis.inputs
    assert i["atRestEncryptionEnabled"] is True and i["transitEncryptionEnabled"] is True, f"{redis.urn}: encryption off"
    assert i["kmsKeyId"].startswith("arn:aws:kms:me-central-1:"), f"{redis.urn}: not a CMK"
    assert i["authToken"] == "[secret]", f"{redis.urn}: AUTH token missing or not secret"
    assert i["numCacheClusters"] == 3 and i["automaticFailoverEnabled"] is True and i["multiAzEnabled"] is True


def test_data_services_only_reachable_from_node_subnets(uae_plan):
    node_cidrs = {s.inputs["cidrBlock"] for s in aws(uae_plan, "aws:ec2/subnet:Subnet") if s.inputs["tags"]["sahab.ae/tier"] == "nodes"}
    for sg in aws(uae_plan, "aws:ec2/securityGroup:SecurityGroup"):
        for rule in sg.inputs.get("ingress", []):
            assert "0.0.0.0/0" not in rule.get("cidrBlocks", []), f"{sg.urn}: open to the internet"
            if rule["fromPort"] in (5432, 6379):
                assert set(rule["cidrBlocks"]) == node_cidrs, f"{sg.urn}: {rule['cidrBlocks']}"


def test_ecr_repositories_immutable_scanned_kms(uae_plan):
    repos = aws(uae_plan, "aws:ecr/repository:Repository")
    assert {"sahab/training", "sahab/serving", "sahab/drift"} <= {r.inputs["name"] for r in repos}
    for r in repos:
        assert r.inputs["imageTagMutability"] == "IMMUTABLE", f"{r.urn}: tags mutable"
        assert r.inputs["imageScanningConfiguration"]["scanOnPush"] is True, f"{r.urn}: no scan on push"
        enc = r.inputs["encryptionConfigurations"][0]
        assert enc["encryptionType"] == "KMS" and enc["kmsKey"].startswith("arn:aws:kms:me-central-1:"), f"{r.urn}: {enc}"
        assert r.outputs["repositoryUrl"].startswith("123456789012.dkr.ecr.me-central-1.amazonaws.com/"), r.outputs["repositoryUrl"]
    assert not [r for r in uae_plan.resources if r.type == "aws:ecr/replicationConfiguration:ReplicationConfiguration"]


def test_cloudtrail_validated_encrypted_to_locked_bucket(uae_plan):
    (trail,) = aws(uae_plan, "aws:cloudtrail/trail:Trail")
    i = trail.inputs
    assert i["enableLogFileValidation"] is True, f"{trail.urn}: no integrity validation"
    assert i["kmsKeyId"].startswith("arn:aws:kms:me-central-1:"), f"{trail.urn}: not KMS-encrypted"
    assert i["isMultiRegionTrail"] is True and i["enableLogging"] is True
    audit = next(r for r in aws(uae_plan, "aws:s3/bucket:Bucket") if r.name.endswith("-audit"))
    assert i["s3BucketName"] == audit.outputs["bucket"], f"{trail.urn}: not delivered to the audit bucket"
    policy = next(p for p in aws(uae_plan, "aws:s3/bucketPolicy:BucketPolicy") if p.inputs["bucket"] == audit.outputs["bucket"])
    assert policy.urn in trail.options.get("dependsOn", []), f"{trail.urn}: created before the bucket policy admits CloudTrail"
    data_events = i["eventSelectors"][0]["dataResources"][0]["values"]
    assert len(data_events) == len(BUCKETS) - 1, f"{trail.urn}: data events not recorded on every data bucket"


def test_workload_roles_are_scoped(uae_plan):
    policies = {
        r.name.removesuffix("-access").split("-identity-")[-1]: json.loads(r.inputs["policy"])
        for r in aws(uae_plan, "aws:iam/rolePolicy:RolePolicy")
        if "sahab:aws:WorkloadIdentity$" in r.urn
    }
    projects = ("transaction-risk", "delivery-time")
    assert {"mlflow"} | {f"{p}-{role}" for p in projects for role in ("serving", "training", "monitoring", "features")} <= set(policies), sorted(policies)
    for name, doc in policies.items():
        for s in doc["Statement"]:
            assert "*" not in s["Action"] and s["Resource"] != "*", f"workload {name}: wildcard in {s}"
    for project in projects:
        serving = policies[f"{project}-serving"]["Statement"]
        # Serving writes its prediction log, its labels (the control plane) and the environment's tokenisation
        # key (created once by whichever pod needs it first, components/workloads.py PRIVACY), nothing else.
        writes = [res for s in serving if "s3:PutObject" in s["Action"] for res in s["Resource"]]
        key = [res for res in writes if res.endswith("/privacy/*") and "-offline-features-" in res]
        assert len(key) == 1, f"{project}-serving cannot create the tokenisation key (offline-features/privacy/): {writes}"
        assert all(res.endswith((f"/serving-log/{project}/*", f"/feast/{project}/offline/labels/*")) for res in writes if res not in key), (
            f"{project}-serving may write only its prediction log, labels and the tokenisation key, got {writes}"
        )
        assert not [s for s in serving if s["Sid"].endswith("Buckets")], f"{project}-serving: a whole-bucket grant"
    bindings = {r.inputs["serviceAccount"]: r.inputs["namespace"] for r in aws(uae_plan, "aws:eks/podIdentityAssociation:PodIdentityAssociation")}
    assert bindings["transaction-risk-serving"] == "sahab-serving" and bindings["delivery-time-training"] == "sahab-training", bindings
    assert bindings["delivery-time-monitoring"] == "sahab-monitoring" and bindings["transaction-risk-features"] == "sahab-platform", bindings


def test_stack_outputs_for_workloads(uae_plan):
    out = uae_plan.outputs
    for key in (
        "cluster_name",
        "kubeconfig",
        "bucket_names",
        "keys",
        "registry_urls",
        "registry_database_endpoint",
        "online_store_endpoint",
        "workload_identities",
    ):
        assert key in out, f"stack output {key} missing"
    assert out["kubeconfig"] == "[secret]", "kubeconfig must be a secret output"
    assert set(out["bucket_names"]) == set(BUCKETS)
    assert out["region"] == REGION


@pytest.mark.parametrize("env", ["smb"])
def test_smb_is_smaller_and_still_secure(smb_plan, uae_plan, env):
    assert len(smb_plan.resources) < len(uae_plan.resources)
    assert len(aws(smb_plan, "aws:ec2/natGateway:NatGateway")) == 1
    (gpu,) = _pool(smb_plan, "sahab:aws:GpuNodePool")
    assert gpu.inputs["instanceTypes"] == ["g5.xlarge"] and gpu.inputs["scalingConfig"]["minSize"] == 0
    (redis,) = aws(smb_plan, "aws:elasticache/replicationGroup:ReplicationGroup")
    assert redis.inputs["automaticFailoverEnabled"] is False and redis.inputs["transitEncryptionEnabled"] is True
