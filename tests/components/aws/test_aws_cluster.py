"""Cluster on its own: EKS with the private endpoint only (public only with explicit CIDRs), secrets
envelope-encrypted with the cluster key, all five control-plane log types to a KMS-encrypted group
created first, API-mode access entries with no implicit creator admin, admins and the deployer by
access entry, the deployer admitted on 443, add-ons (network policy on in the VPC CNI, the EBS CSI
driver through Pod Identity with the data key only), and a kubeconfig that is a secret holding no
static credential."""

from __future__ import annotations

import json

import pytest

from components.aws.cluster import ADDONS, LOG_TYPES, Cluster, ClusterArgs
from tests.components.component_helpers import ACCOUNT_ID, REGION, Built, build, expect, expect_all, policy, prop, refused, statements

KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/"
ADMIN = f"arn:aws:iam::{ACCOUNT_ID}:role/platform-admin"
DEPLOYER = f"arn:aws:iam::{ACCOUNT_ID}:role/deployer"
EKS = "aws:eks/cluster:Cluster"


def _args(**over) -> ClusterArgs:
    base = dict(
        cluster_name="sahab-eks",
        kubernetes_version="1.33",
        region=REGION,
        subnet_ids=["subnet-a", "subnet-b", "subnet-c"],
        cluster_key_arn=KEY + "cluster",
        logs_key_arn=KEY + "logs",
        data_key_arn=KEY + "data",
        admin_role_arns=(ADMIN,),
        deployer_role_arn=DEPLOYER,
        deployer_cidrs=("10.9.0.0/24",),
    )
    return ClusterArgs(**{**base, **over})


@pytest.fixture(scope="module")
def cluster() -> Built:
    return build(lambda: Cluster("e", _args()))


def test_api_endpoint_is_private_only(cluster: Built):
    eks = cluster.child("e-eks", EKS)
    expect(eks, "vpcConfig.endpointPrivateAccess", True)
    expect(eks, "vpcConfig.endpointPublicAccess", False)
    assert prop(eks, "vpcConfig.publicAccessCidrs", None) is None, f"{eks.urn}: vpcConfig.publicAccessCidrs set on a private cluster"
    expect(eks, "vpcConfig.subnetIds", ["subnet-a", "subnet-b", "subnet-c"])


def test_secrets_are_envelope_encrypted_with_the_cluster_key(cluster: Built):
    eks = cluster.child("e-eks", EKS)
    expect(eks, "encryptionConfig", {"provider": {"keyArn": KEY + "cluster"}, "resources": ["secrets"]})
    expect(eks, "deletionProtection", True)
    expect(eks, "version", "1.33")


def test_every_log_type_goes_to_a_kms_group_created_first(cluster: Built):
    eks = cluster.child("e-eks", EKS)
    expect(eks, "enabledClusterLogTypes", LOG_TYPES)
    assert sorted(LOG_TYPES) == ["api", "audit", "authenticator", "controllerManager", "scheduler"], f"components.aws.cluster.LOG_TYPES: {LOG_TYPES}"
    group = cluster.child("e-control-plane-logs", "aws:cloudwatch/logGroup:LogGroup")
    expect(group, "name", "/aws/eks/sahab-eks/cluster")
    expect(group, "kmsKeyId", KEY + "logs")
    assert group.urn in eks.options.get("dependsOn", []), f"{eks.urn}: dependsOn lacks {group.urn} (EKS would create the group without KMS)"


def test_access_is_api_mode_with_explicit_admins_only(cluster: Built):
    eks = cluster.child("e-eks", EKS)
    expect(eks, "accessConfig", {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False})
    entries = {e.name: e for e in cluster.of_type("aws:eks/accessEntry:AccessEntry")}
    assert sorted(entries) == ["e-admin-0", "e-deployer"], f"{cluster.urn}: access entries {sorted(entries)}"
    for name, arn in (("e-admin-0", ADMIN), ("e-deployer", DEPLOYER)):
        expect(entries[name], "principalArn", arn)
        expect(entries[name], "type", "STANDARD")
        association = cluster.child(f"{name}-policy", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        expect(association, "principalArn", arn)
        expect(association, "policyArn", "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy")
        expect(association, "accessScope", {"type": "cluster"})
        assert entries[name].urn in association.options.get("dependsOn", []), f"{association.urn}: dependsOn lacks its access entry"


def test_deployer_reaches_the_private_endpoint_on_443_only(cluster: Built):
    eks = cluster.child("e-eks", EKS)
    rules = cluster.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert [r.name for r in rules] == ["e-deployer-api-0"], f"{cluster.urn}: ingress rules {[r.name for r in rules]}"
    rule = rules[0]
    expect(rule, "securityGroupId", eks.outputs["vpcConfig"]["clusterSecurityGroupId"])
    expect(rule, "cidrIpv4", "10.9.0.0/24")
    expect_all(rule, {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443})


def test_addons_and_network_policy(cluster: Built):
    addons = {prop(a, "addonName"): a for a in cluster.of_type("aws:eks/addon:Addon")}
    assert sorted(addons) == sorted(ADDONS), f"{cluster.urn}: add-ons {sorted(addons)}"
    for addon in addons.values():
        expect(addon, "clusterName", "sahab-eks")
        expect(addon, "resolveConflictsOnCreate", "OVERWRITE")
    cni = addons["vpc-cni"]
    assert json.loads(prop(cni, "configurationValues")) == {"enableNetworkPolicy": "true"}, f"{cni.urn}: configurationValues must turn NetworkPolicy on"
    ebs_role = cluster.child("e-ebs-csi-role", "aws:iam/role:Role")
    expect(addons["aws-ebs-csi-driver"], "podIdentityAssociations", [{"serviceAccount": "ebs-csi-controller-sa", "roleArn": ebs_role.outputs["arn"]}])


def test_ebs_csi_role_uses_only_the_data_key(cluster: Built):
    role = cluster.child("e-ebs-csi-role", "aws:iam/role:Role")
    trust = policy(role, "assumeRolePolicy")["Statement"][0]
    assert trust["Principal"] == {"Service": ["pods.eks.amazonaws.com"]}, f"{role.urn}: assumeRolePolicy trusts {trust['Principal']}"
    kms = statements(cluster.child("e-ebs-csi-kms", "aws:iam/rolePolicy:RolePolicy"))
    assert [s["Resource"] for s in kms.values()] == [KEY + "data"], f"e-ebs-csi-kms: policy resources {[s['Resource'] for s in kms.values()]}"


def test_roles_trust_only_their_service(cluster: Built):
    for name, service in (("e-control-plane-role", "eks.amazonaws.com"), ("e-node-role", "ec2.amazonaws.com")):
        role = cluster.child(name, "aws:iam/role:Role")
        principals = [s["Principal"] for s in policy(role, "assumeRolePolicy")["Statement"]]
        assert principals == [{"Service": [service]}], f"{role.urn}: assumeRolePolicy trusts {principals}"
    attached = sorted(
        prop(r, "policyArn").rsplit("/", 1)[-1] for r in cluster.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if "-node-" in r.name
    )
    assert attached == ["AmazonEC2ContainerRegistryPullOnly", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonSSMManagedInstanceCore"], (
        f"{cluster.urn}: node role policies {attached}"
    )


def test_kubeconfig_is_a_secret_that_fetches_short_lived_tokens(cluster: Built):
    kubeconfig = cluster.output("kubeconfig")
    assert kubeconfig.secret, f"{cluster.urn}: kubeconfig is not a secret Output"
    doc = json.loads(kubeconfig.value)
    user = doc["users"][0]["user"]
    assert set(user) == {"exec"}, f"{cluster.urn}: kubeconfig user holds {sorted(user)}, expected only an exec plugin"
    assert user["exec"]["command"] == "aws" and user["exec"]["args"][:2] == ["eks", "get-token"], f"{cluster.urn}: kubeconfig exec {user['exec']}"
    assert user["exec"]["args"][user["exec"]["args"].index("--region") + 1] == REGION, f"{cluster.urn}: kubeconfig exec region"


def test_public_endpoint_admits_only_the_listed_cidrs():
    public = build(lambda: Cluster("p", _args(public_endpoint=True, public_access_cidrs=("203.0.113.0/24",), admin_role_arns=(), deployer_cidrs=())))
    eks = public.child("p-eks", EKS)
    expect(eks, "vpcConfig.endpointPublicAccess", True)
    expect(eks, "vpcConfig.endpointPrivateAccess", True)
    expect(eks, "vpcConfig.publicAccessCidrs", ["203.0.113.0/24"])
    rules = public.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert not rules, f"{public.urn}: ingress rules {[r.name for r in rules]} without deployer_cidrs"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"deployer_role_arn": None}, "deployer_role_arn"),
        ({"deployer_security_group_id": "sg-0123"}, "deployer_cidrs/deployer_security_group_id"),
    ],
)
def test_inconsistent_deployer_is_refused_before_any_resource(over: dict, field: str):
    refusal = refused(lambda: Cluster("e", _args(**over)))
    assert refusal.message.startswith(f"{field}:"), f"Cluster: message {refusal.message!r} does not name {field}"
    assert not refusal.children, f"Cluster registered {[r.urn for r in refusal.children]} before refusing {field}"
