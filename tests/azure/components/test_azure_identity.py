"""AzureWorkloadIdentity on its own: one user-assigned identity per workload, federated with exactly
its namespace/service account through the cluster's OIDC issuer (audience api://AzureADTokenExchange),
blob roles scoped to the containers it touches (Reader to read, Contributor to write, an ABAC path
condition where the grant is a prefix), Key Vault Secrets User on its own secrets only, and nothing
on any account or vault as a whole. A workload naming an unknown container is refused."""

from __future__ import annotations

import pytest

from components.azure._common import ROLES
from components.azure.identity import AUDIENCE, AzureWorkloadIdentity, AzureWorkloadIdentityArgs
from components.azure.storage import CONTAINERS
from components.workloads import PRIVACY, Workload, platform_workloads, split_grant
from tests.components.component_helpers import LOCATION, Built, build, expect, prop, refused

ISSUER = f"https://{LOCATION}.oic.prod-aks.azure.com/tenant/cluster/"
CONTAINER_IDS = {p: f"/accounts/data/blobServices/default/containers/{p}" for p in CONTAINERS}
VAULT = "/vaults/sahabunitkv"
# The shared workloads and two projects' four roles each (components/workloads.py).
WORKLOADS = platform_workloads(("churn", "eta"))
BY_NAME = {w.name: w for w in WORKLOADS}
ASSIGNMENT = "azure-native:authorization:RoleAssignment"


def _args(workloads=WORKLOADS) -> AzureWorkloadIdentityArgs:
    return AzureWorkloadIdentityArgs(
        resource_group="sahab-unit-platform",
        location=LOCATION,
        subscription_id="sub",
        oidc_issuer_url=ISSUER,
        workloads=workloads,
        container_ids=CONTAINER_IDS,
        vault_id=VAULT,
        secret_names={"registry-db": "registry-db", "online-store": "online-store"},
        key_ids={"tokenisation": f"{VAULT}/keys/sahab-tokenisation"},
        tags={"sahab.ae/env": "unit"},
    )


@pytest.fixture(scope="module")
def identity() -> Built:
    return build(lambda: AzureWorkloadIdentity("wi", _args()))


def _role(name: str) -> str:
    return f"/subscriptions/sub/providers/Microsoft.Authorization/roleDefinitions/{ROLES[name]}"


@pytest.mark.parametrize("workload", list(BY_NAME))
def test_identity_is_federated_with_exactly_its_service_account(identity: Built, workload: str):
    w = BY_NAME[workload]
    uai = identity.child(f"wi-{workload}", "azure-native:managedidentity:UserAssignedIdentity")
    expect(uai, "location", LOCATION)
    federated = identity.child(f"wi-{workload}-federated", "azure-native:managedidentity:FederatedIdentityCredential")
    expect(federated, "issuer", ISSUER)
    expect(federated, "subject", f"system:serviceaccount:{w.namespace}:{w.service_account}")
    expect(federated, "audiences", [AUDIENCE])
    expect(federated, "resourceName", uai.outputs["name"])


@pytest.mark.parametrize("workload", list(BY_NAME))
def test_roles_reach_only_the_workloads_containers_and_secrets(identity: Built, workload: str):
    w = BY_NAME[workload]
    principal = identity.child(f"wi-{workload}").outputs["principalId"]
    mine = [a for a in identity.of_type(ASSIGNMENT) if prop(a, "principalId") == principal]
    got = {(prop(a, "scope"), prop(a, "roleDefinitionId"), _prefix(prop(a, "condition", None))): a for a in mine}
    expected = {(scope, role, prefix): prefix for (scope, role, prefix) in expected_keys(w)}
    assert sorted(got) == sorted(expected), f"{identity.urn}: {workload}'s role assignments {sorted(got)}, expected {sorted(expected)}"
    for key, prefix in expected.items():
        a = got[key]
        condition = prop(a, "condition", None)
        if prefix:
            assert condition and f"StringStartsWith '{prefix}'" in condition, f"{a.urn}: condition {condition!r} does not limit blobs to {prefix!r}"
            expect(a, "conditionVersion", "2.0")
        else:
            assert condition is None, f"{a.urn}: condition {condition!r} on a whole-container grant"
        expect(a, "principalType", "ServicePrincipal")


def _prefix(condition: str | None) -> str:
    """The prefix a path condition limits blobs to ('' for none)."""
    if not condition:
        return ""
    return condition.split("StringStartsWith '", 1)[1].split("'", 1)[0]


def expected_keys(w: Workload) -> list[tuple[str, str, str]]:
    """(scope, role, prefix) of each assignment `w` must get: one per grant (two grants in one container are two assignments)."""
    out = [(CONTAINER_IDS[split_grant(g)[0]], _role("Storage Blob Data Reader"), split_grant(g)[1]) for g in w.read_buckets if g not in w.write_buckets]
    out += [(CONTAINER_IDS[split_grant(g)[0]], _role("Storage Blob Data Contributor"), split_grant(g)[1]) for g in w.write_buckets]
    out += [(f"{VAULT}/keys/sahab-{k}", _role("Key Vault Crypto User"), "") for k in w.keys]
    return out + [(f"{VAULT}/secrets/{s}", _role("Key Vault Secrets User"), "") for s in w.secrets]


@pytest.mark.parametrize("workload", [w.name for w in WORKLOADS if w.project])
def test_a_project_identity_has_no_grant_on_another_projects_prefixes(identity: Built, workload: str):
    w = BY_NAME[workload]
    other = "eta" if w.project == "churn" else "churn"
    principal = identity.child(f"wi-{workload}").outputs["principalId"]
    for a in identity.of_type(ASSIGNMENT):
        if prop(a, "principalId") != principal or "/containers/" not in prop(a, "scope"):
            continue
        prefix = _prefix(prop(a, "condition", None))
        assert prefix, f"{a.urn}: a project's blob role on a whole container"
        if f"{split_grant(PRIVACY)[0]}/{prefix}" == PRIVACY:
            continue  # the environment's tokenisation key, shared by every project on purpose (issue 22)
        assert f"/{other}/" not in f"/{prefix}" and w.project in prefix, f"{a.urn}: {workload}'s grant under {prefix!r}, not its own project's"


def test_client_ids_output_names_every_workload(identity: Built):
    ids = identity.output("client_ids").value
    assert ids == {n: identity.child(f"wi-{n}").outputs["clientId"] for n in BY_NAME}, f"{identity.urn}: client_ids {ids}"


def test_unknown_container_is_refused_naming_the_workload():
    stray = Workload("stray", "ns", "sa", read_buckets=("warehouse",))
    refusal = refused(lambda: AzureWorkloadIdentity("wi", _args(workloads=(stray,))))
    assert refusal.message.startswith("workloads[stray]:") and "warehouse" in refusal.message, f"AzureWorkloadIdentity: message {refusal.message!r}"
    assert not refusal.children, f"AzureWorkloadIdentity registered {[r.urn for r in refusal.children]} before refusing workloads[stray]"


def test_an_unknown_container_anywhere_is_refused_before_any_identity():
    # Regression (issue 18 item 6, fixed for issue 21): every workload is checked before any is registered.
    stray = Workload("stray", "ns", "sa", read_buckets=("warehouse",))
    refusal = refused(lambda: AzureWorkloadIdentity("wi", _args(workloads=(*WORKLOADS, stray))))
    assert refusal.message.startswith("workloads[stray]:"), f"AzureWorkloadIdentity: message {refusal.message!r}"
    assert not refusal.children, f"AzureWorkloadIdentity registered {len(refusal.children)} resources before refusing workloads[stray]"
