"""Notebooks for the teams (components/kubernetes/notebooks.py): the hub configuration gives each team
exactly its quota and pools.

- profiles: a CPU profile per team, and a GPU profile per pool only for a team with GPU quota; no
  profile larger than its team's quota or its node; each runs in its team's namespace as its team's
  notebook identity, under restricted Pod Security, with the platform's settings in its environment;
- the spawn page names the team's quota and the profile's hourly cost (the node's price from the
  snapshot times the profile's share of the node); GPU servers stop after 30 idle minutes, the hub
  culls every server after the longer CPU default;
- the hub: the pinned chart, its images from the in-region mirror at the pinned tags, no privileged
  init container, no extra scheduler or pullers; a user sees only their teams' profiles;
- per team: the hub may start and watch servers there and nothing else; the servers' egress is DNS,
  the platform's namespaces and HTTPS to the VPC's endpoints only.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from components.kubernetes import pins
from components.kubernetes._pod import GPU_RESOURCE, GPU_TOLERATION
from components.kubernetes.cloud import EKS
from components.kubernetes.notebooks import (
    NOTEBOOK_LABEL,
    PROFILE_HOOK,
    NodeOffer,
    Notebooks,
    NotebooksArgs,
    TeamNotebooks,
    hub_values,
    profiles,
)
from tests.components.component_helpers import build, prop, refused

CPU = NodeOffer("cpu", {"sahab.ae/workload": "platform"}, machine_type="m6i.2xlarge", cpu=7.0, memory_gib=28.0, hourly_usd=0.46)
GPU = NodeOffer(
    "train",
    {"sahab.ae/accelerator": "nvidia", "sahab.ae/pool": "uae-train"},
    (GPU_TOLERATION,),
    machine_type="g5.2xlarge",
    cpu=7.0,
    memory_gib=28.0,
    gpus=1,
    hourly_usd=1.45,
)
RISK = TeamNotebooks(
    "risk", "sahab-team-risk", "risk-notebooks", cpu_quota=32, memory_quota_gib=128, gpu_quota=4, env={"SAHAB_MLFLOW_TRACKING_URI": "http://mlflow"}
)
GROWTH = TeamNotebooks("growth", "sahab-team-growth", "growth-notebooks", cpu_quota=2, memory_quota_gib=4, gpu_quota=0)


def _args(**over) -> NotebooksArgs:
    base = dict(
        namespace="sahab-platform",
        registry_host="reg.example",
        notebook_image="reg.example/sahab/notebook:1.0.0",
        teams=(RISK, GROWTH),
        cpu_nodes=CPU,
        gpu_pools=(GPU,),
        storage_class="sahab-encrypted",
        vpc_cidr="10.0.0.0/16",
        platform_namespaces=("sahab-platform", "sahab-serving"),
        price_snapshot="me-central-1 2026-12-01",
        cloud=EKS,
    )
    return NotebooksArgs(**{**base, **over})


def test_each_team_gets_exactly_its_quota_and_pools():
    got = {p.slug: p for p in profiles(_args())}
    assert sorted(got) == ["growth-cpu", "risk-cpu", "risk-gpu-train"], f"profiles: a GPU one only for the team with GPU quota: {sorted(got)}"
    assert (got["growth-cpu"].cpu, got["growth-cpu"].memory_gib) == (2, 4), "growth's CPU profile is cut to its quota (2 cores, 4 GiB)"
    assert (got["risk-cpu"].cpu, got["risk-cpu"].memory_gib, got["risk-cpu"].gpus) == (4, 16, 0), "risk's CPU profile"
    gpu = got["risk-gpu-train"]
    assert (gpu.cpu, gpu.memory_gib, gpu.gpus) == (7, 28, 1), "the GPU profile fits one node of the pool (7 cores, 28 GiB allocatable)"
    for p in got.values():
        team = RISK if p.team == "risk" else GROWTH
        assert p.cpu <= team.cpu_quota and p.memory_gib <= team.memory_quota_gib and p.gpus <= team.gpu_quota, (
            f"profile {p.slug} within team {team.team}'s quota"
        )
    assert got["risk-cpu"].hourly_usd == pytest.approx(0.46 * 16 / 28, abs=1e-4), "price: the node's, times the largest share (memory 16/28)"
    assert got["risk-gpu-train"].hourly_usd == pytest.approx(1.45), "a whole GPU node's share for its one GPU"


def test_the_hub_configuration_renders_the_profiles_for_the_spawn_page():
    values = hub_values(_args())
    entries = {e["profile"]["slug"]: e for e in values["custom"]["sahab"]["profiles"]}
    risk_gpu = entries["risk-gpu-train"]["profile"]
    override = risk_gpu["kubespawner_override"]
    assert (override["namespace"], override["service_account"]) == ("sahab-team-risk", "risk-notebooks"), f"risk-gpu-train: {override}"
    assert override["extra_resource_limits"] == {GPU_RESOURCE: "1"} and override["node_selector"]["sahab.ae/pool"] == "uae-train", override
    assert GPU_TOLERATION in override["tolerations"], f"risk-gpu-train tolerations: {override['tolerations']}"
    assert override["environment"] == {"SAHAB_MLFLOW_TRACKING_URI": "http://mlflow"}, "the platform's settings in the server's environment"
    assert override["extra_labels"] == {"sahab.ae/team": "risk", NOTEBOOK_LABEL: "risk-gpu-train"}, override["extra_labels"]
    security = override["container_security_context"]
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]} and security["runAsNonRoot"], security
    assert "--ServerApp.shutdown_no_activity_timeout=1800" in override["args"], f"a GPU server stops after 30 idle minutes: {override['args']}"
    cpu_args = entries["risk-cpu"]["profile"]["kubespawner_override"]["args"]
    assert "--ServerApp.shutdown_no_activity_timeout=7200" in cpu_args and values["cull"]["timeout"] == 7200, f"CPU: the longer default: {cpu_args}"
    description = risk_gpu["description"]
    assert "team risk quota: 32 cores, 128 GiB, 4 GPUs" in description and "$1.45/hour" in description and "me-central-1 2026-12-01" in description, description
    growth = entries["growth-cpu"]["profile"]["description"]
    assert "team growth quota: 2 cores, 4 GiB, 0 GPUs" in growth, growth
    assert {e["team"] for e in entries.values()} == {"risk", "growth"} and "team-" in PROFILE_HOOK, "each profile names its team (the hook filters by group)"
    assert values["hub"]["extraConfig"]["sahab-profiles"] == PROFILE_HOOK, "the profile filter is the hub's config"
    assert values["singleuser"]["cloudMetadata"] == {"blockWithIptables": False}, "no privileged init container (restricted Pod Security)"
    assert not values["scheduling"]["userScheduler"]["enabled"] and not values["prePuller"]["hook"]["enabled"], "no extra images to mirror"


def test_a_user_sees_only_the_profiles_of_their_teams():
    values = hub_values(_args())

    class Group:
        def __init__(self, name):
            self.name = name

    class User:
        groups = [Group("team-growth")]

    class Spawner:
        user = User()

    namespace = {"c": type("C", (), {"KubeSpawner": type("K", (), {})})()}
    import sys
    import types

    sys.modules["z2jh"] = types.SimpleNamespace(
        get_config=lambda key, default=None: values["custom"]["sahab"]["profiles"] if key == "custom.sahab.profiles" else default
    )
    try:
        exec(PROFILE_HOOK, namespace)
    finally:
        del sys.modules["z2jh"]
    shown = namespace["c"].KubeSpawner.profile_list(Spawner())
    assert [p["slug"] for p in shown] == ["growth-cpu"], f"a member of team-growth sees growth's profiles only: {[p['slug'] for p in shown]}"


ON_PREMISES = replace(EKS, name="kubernetes", https_outside_vpc=False, pod_identity_agent=False)


@pytest.fixture(scope="module")
def hub():
    """On a cluster whose object store and identity live inside its network (on-premises)."""
    return build(lambda: Notebooks("uae-notebooks", _args(cloud=ON_PREMISES)))


def test_the_hub_runs_the_pinned_chart_from_the_mirror(hub):
    helm = next(r for r in hub.resources if r.type == "kubernetes:helm.sh/v3:Release")
    chart = pins.chart("jupyterhub")
    assert (prop(helm, "chart"), prop(helm, "version"), prop(helm, "repositoryOpts.repo")) == (chart.name, chart.version, chart.repo), helm.urn
    values = prop(helm, "values")
    for path, key in (("hub.image", "jupyterhub-hub"), ("proxy.chp.image", "jupyterhub-proxy")):
        node = values
        for part in path.split("."):
            node = node[part]
        upstream = pins.image(key).name.split("/", 1)[1]
        assert node == {"name": f"reg.example/sahab/mirror/{upstream}", "tag": pins.image(key).version}, f"{helm.urn}: values.{path}: {node}"


def test_on_eks_the_egress_adds_the_identity_agent_and_https_but_never_the_metadata_service():
    """S3's gateway endpoint and the Pod Identity agent have no address in the VPC a CIDR could name."""
    built = build(lambda: Notebooks("uae-notebooks", _args()))
    policy = next(r for r in built.resources if r.name == "uae-notebooks-risk-netpol")
    egress = prop(policy, "spec.egress")
    agent = egress[1]
    assert agent == {
        "to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}, {"ipBlock": {"cidr": "fd00:ec2::23/128"}}],
        "ports": [{"protocol": "TCP", "port": 80}],
    }, f"{policy.urn}: the Pod Identity agent: {agent}"
    https = egress[-1]["to"]
    assert {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}} in https, f"{policy.urn}: HTTPS beyond the VPC, IMDS excepted: {https}"
    assert all("169.254.169.254" in str(b["ipBlock"].get("except", [])) for b in https if b["ipBlock"]["cidr"] == "0.0.0.0/0"), policy.urn


def test_each_team_namespace_gets_its_spawner_rights_and_a_closed_egress(hub):
    for team in ("risk", "growth"):
        ns = f"sahab-team-{team}"
        role = next(r for r in hub.resources if r.name == f"uae-notebooks-{team}-spawner")
        assert prop(role, "metadata.namespace") == ns and {g for rule in prop(role, "rules") for g in rule["resources"]} == {
            "pods",
            "persistentvolumeclaims",
            "events",
        }, role.urn
        binding = next(r for r in hub.resources if r.name == f"uae-notebooks-{team}-spawner-binding")
        assert prop(binding, "subjects") == [{"kind": "ServiceAccount", "name": "hub", "namespace": "sahab-platform"}], binding.urn
        policy = next(r for r in hub.resources if r.name == f"uae-notebooks-{team}-netpol")
        egress = prop(policy, "spec.egress")
        assert prop(policy, "spec.podSelector") == {"matchExpressions": [{"key": NOTEBOOK_LABEL, "operator": "Exists"}]}, policy.urn
        https = egress[-1]
        assert https == {"to": [{"ipBlock": {"cidr": "10.0.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 443}]}, (
            f"{policy.urn}: HTTPS only to the VPC's endpoints: {https}"
        )
        namespaces = [t["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for t in egress[1]["to"]]
        assert namespaces == ["sahab-platform", "sahab-serving"] and "ports" not in egress[1], f"{policy.urn}: the platform's namespaces: {egress[1]}"
        assert all("0.0.0.0/0" not in str(rule) for rule in egress), f"{policy.urn}: no egress to anywhere"
        account = next(r for r in hub.resources if r.name == f"uae-notebooks-{team}-sa")
        assert prop(account, "metadata.name") == f"{team}-notebooks", account.urn


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"gpu_pools": ()}, "teams[risk].gpu_quota"),
        ({"gpu_idle_minutes": 300}, "gpu_idle_minutes"),
        ({"teams": ()}, "teams"),
        ({"gpu_pools": (NodeOffer("bad", {"a": "b"}, (GPU_TOLERATION,)),)}, "gpu_pools[bad].node_selector"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(over, field):
    refusal = refused(lambda: Notebooks("n", _args(**over)))
    assert refusal.message.startswith(field) and refusal.children == (), f"{over}: {refusal.message}"
