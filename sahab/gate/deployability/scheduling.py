"""Scheduling: every pod template fits at least one node pool that admits it, every HPA's (and
Deployment's) replicas fit the nodes its pools may grow to, and the HPAs that share pools (each model
project's serving on the one serving tier) fit them together at their maxima.

Pools are what the plan creates, on every cloud: EKS managed node groups (instance types, labels,
taints, scaling) and Karpenter NodePools (requirements, template labels and taints, limits); AKS
agent pools (one VM size, labels, taints, min/max count); on an existing cluster (`cloud:
kubernetes`) the customer's nodes as the spec declares them (`onprem.minimum`, and `gpu_pools`). A
node's allocatable CPU/memory/GPUs/pods come from the cloud's capacity table and its kubelet
reservations (stacks/offerings.py: EC2 and the EKS AMI formula; stacks/azure_offerings.py: VM sizes
and the AKS formula; stacks/capacity.py `declared_node`: the declared hardware), less the per-node
daemons (the plan's DaemonSets and chart DaemonSets that land there, and the cluster's own add-ons).
A pool is admitted when the pod tolerates every NoSchedule/NoExecute taint and its nodeSelector and
required node affinity match the node's labels (the pool's, and the well-known ones the node gets:
machine type, arch, os, node group / NodePool / agent pool name, capacity type).

A node group grows to its maximum only when something scales it: with the Cluster Autoscaler
chart installed; otherwise (Karpenter mode) it stays at its desired size. A NodePool grows to its
`limits` (unbounded without them); an AKS pool to its maxCount (AKS's own autoscaler).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from components.constants import GPU_TAINT
from components.kubernetes._pod import GPU_NODE_LABEL
from sahab.gate.deployability import charts
from sahab.gate.deployability.context import Context, finding
from sahab.gate.deployability.pods import PodTemplate, all_pods
from stacks.azure_offerings import VM_CAPACITY, aks_allocatable
from stacks.capacity import Allocatable, declared_node
from stacks.offerings import CAPACITY, allocatable

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GPU = "nvidia.com/gpu"
_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
# What EKS itself runs on every node, beside the plan's DaemonSets. checked: amazon-vpc-cni-k8s
# charts/aws-vpc-cni/values.yaml (aws-node requests cpu 25m); EKS kube-proxy add-on DaemonSet
# (requests cpu 100m). The other add-on DaemonSets set no requests we could check.
EKS_NODE_DAEMONS = {"aws-node": (25, 0), "kube-proxy": (100, 0)}
# What AKS itself runs on every node (millicores, MiB), as the upstream charts of its add-ons request it.
# checked: kubernetes-sigs/cloud-provider-azure helm/cloud-provider-azure/values.yaml (cloud-node-manager
# 50m / 50Mi), kubernetes-sigs/azuredisk-csi-driver charts/latest values.yaml (csi-azuredisk-node: three
# containers of 10m / 20Mi), 2026-12. Cilium, azure-cns and the other add-ons: no requests we could check.
AKS_NODE_DAEMONS = {"cloud-node-manager": (50, 50), "csi-azuredisk-node": (30, 60)}


@dataclass(frozen=True)
class Request:
    cpu: int = 0  # millicores
    memory: int = 0  # MiB
    gpus: int = 0

    def __add__(self, other: Request) -> Request:
        return Request(self.cpu + other.cpu, self.memory + other.memory, self.gpus + other.gpus)

    def text(self) -> str:
        gpus = f", {self.gpus} GPU" if self.gpus else ""
        return f"{self.cpu / 1000:g} CPU, {self.memory / 1024:.3g} GiB{gpus}"


@dataclass(frozen=True)
class Pool:
    name: str
    kind: str  # "node group" | "Karpenter NodePool" | "AKS agent pool" | "existing nodes"
    machine_types: tuple[str, ...]
    labels: dict[str, str]
    taints: tuple[dict[str, str], ...]
    max_nodes: int | None  # None: unbounded
    why_max: str
    urn: str = ""
    capacity_type: str = ""
    requirements: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    allocatable: Allocatable | None = None  # AKS pools and an existing cluster's nodes: known per pool, not per type
    cluster_daemons: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(EKS_NODE_DAEMONS))
    """What the cluster itself runs on each node (name -> millicores, MiB), beside the plan's DaemonSets."""
    capacity_table: str = "stacks/offerings.py CAPACITY"
    """Where a machine type's capacity is added when it is missing."""
    resize: str = "give {name} a larger instance type (instance_types)"
    """How the spec gives the pool larger nodes (`{name}`: the pool's)."""

    def node_labels(self, itype: str) -> dict[str, str]:
        arch = "arm64" if re.match(r"^[a-z]+\d+[a-z]*g[a-z]*\.", itype) and not itype.startswith(("g5.", "g6.")) else "amd64"
        labels = {"node.kubernetes.io/instance-type": itype, "kubernetes.io/arch": arch, "kubernetes.io/os": "linux", **self.labels}
        if self.kind == "node group":
            labels["eks.amazonaws.com/nodegroup"] = self.name
            labels["eks.amazonaws.com/capacityType"] = self.capacity_type or "ON_DEMAND"
        elif self.kind == "Karpenter NodePool":
            labels["karpenter.sh/nodepool"] = self.name
            for r in self.requirements:
                if r.get("operator") == "In" and len(r.get("values") or []) == 1:
                    labels.setdefault(r["key"], r["values"][0])
        return labels


def quantity(value: Any, unit: str) -> int:
    """A Kubernetes quantity in millicores (`unit="cpu"`) or MiB (`unit="memory"`)."""
    if value is None or value == "":
        return 0
    text = str(value).strip()
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", text)
    if not m:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, suffix = float(m.group(1)), m.group(2)
    if unit == "cpu":
        return int(round(number if suffix == "m" else number * 1000))
    factor = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "m": 1e-3}[suffix]
    return int(math.ceil(number * factor / 1024**2))


def _defaults(ctx: Context) -> dict[str, dict[str, Any]]:
    """Namespace -> its LimitRange's container defaults (defaultRequest, else default)."""
    out: dict[str, dict[str, Any]] = {}
    for _, d in ctx.objects("LimitRange"):
        for limit in (d.get("spec") or {}).get("limits") or []:
            if limit.get("type") == "Container":
                out[d["metadata"].get("namespace", "default")] = {**(limit.get("default") or {}), **(limit.get("defaultRequest") or {})}
    return out


def pod_request(pod: PodTemplate, defaults: dict[str, dict[str, Any]]) -> Request:
    """What the scheduler reserves for the pod: the sum of its containers' requests (a limit stands
    in for a missing request, then the namespace's LimitRange default), or its largest init container."""

    def one(c: dict[str, Any]) -> Request:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        ns_default = defaults.get(pod.namespace, {})

        def pick(key: str) -> Any:
            return req.get(key, lim.get(key, ns_default.get(key)))

        return Request(quantity(pick("cpu"), "cpu"), quantity(pick("memory"), "memory"), int(float(lim.get(GPU, req.get(GPU, 0)) or 0)))

    main = sum((one(c) for c in pod.spec.get("containers") or []), Request())
    for c in pod.spec.get("initContainers") or []:
        i = one(c)
        main = Request(max(main.cpu, i.cpu), max(main.memory, i.memory), max(main.gpus, i.gpus))
    return main


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and str(t.get("value", "")) == str(taint.get("value", "")):
            return True
    return False


def _term_matches(term: dict[str, Any], labels: dict[str, str]) -> bool:
    for e in term.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), [str(v) for v in e.get("values") or []]
        have = labels.get(key)
        if op == "In" and have not in values:
            return False
        if op == "NotIn" and have in values:
            return False
        if op == "Exists" and have is None:
            return False
        if op == "DoesNotExist" and have is not None:
            return False
        if op in ("Gt", "Lt"):
            try:
                if have is None or (int(have) <= int(values[0]) if op == "Gt" else int(have) >= int(values[0])):
                    return False
            except ValueError:
                return False
    return True


def admits(pod: PodTemplate, pool: Pool, itype: str) -> str:
    """'' when a node of `pool` and `itype` admits the pod, else why not."""
    for taint in pool.taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(pod.spec.get("tolerations") or [], taint):
            return f"does not tolerate its taint {taint.get('key')}={taint.get('value', '')}:{taint.get('effect')}"
    labels = pool.node_labels(itype)
    for key, want in (pod.spec.get("nodeSelector") or {}).items():
        if labels.get(key) != str(want):
            return f"its nodes lack the label {key}={want} the pod's nodeSelector asks for"
    required = (((pod.spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms"
    )
    if required and not any(_term_matches(t, labels) for t in required):
        return "its nodes do not match the pod's required node affinity"
    return ""


def _scales(ctx: Context) -> bool:
    return any(charts.chart_name(r.get("chart", "")) == "cluster-autoscaler" for _, r in ctx.releases)


def pools(ctx: Context) -> list[Pool]:
    out = []
    autoscaled = _scales(ctx)
    for r in ctx.resources(NODE_GROUP):
        i = r.inputs
        scaling = i.get("scalingConfig") or {}
        desired = int(scaling.get("desiredSize") or scaling.get("minSize") or 0)
        maximum = int(scaling.get("maxSize") or desired)
        why = (
            "its scalingConfig.maxSize (the Cluster Autoscaler scales it)"
            if autoscaled
            else "its desired size: nothing scales it (no Cluster Autoscaler; Karpenter only launches NodePool nodes)"
        )
        taints = tuple(
            {"key": t.get("key"), "value": t.get("value", ""), "effect": _EFFECTS.get(str(t.get("effect")), str(t.get("effect")))}
            for t in i.get("taints") or []
        )
        out.append(
            Pool(
                str(i.get("nodeGroupName") or r.name.removesuffix("-ng")),
                "node group",
                tuple(i.get("instanceTypes") or ()),
                dict(i.get("labels") or {}),
                taints,
                maximum if autoscaled else desired,
                why,
                r.urn,
                str(i.get("capacityType") or ""),
            )
        )
    for rel, d in ctx.objects("NodePool"):
        if not str(d.get("apiVersion", "")).startswith("karpenter.sh/"):
            continue
        template = (d.get("spec") or {}).get("template") or {}
        spec = template.get("spec") or {}
        reqs = tuple(spec.get("requirements") or ())
        types = next((tuple(r.get("values") or ()) for r in reqs if r.get("key") == "node.kubernetes.io/instance-type" and r.get("operator") == "In"), None)
        if types is None:
            families = next(
                (set(r.get("values") or ()) for r in reqs if r.get("key") == "karpenter.k8s.aws/instance-family" and r.get("operator") == "In"), None
            )
            types = tuple(sorted(t for t in CAPACITY if families is None or t.split(".")[0] in families))
        out.append(
            Pool(
                d["metadata"]["name"],
                "Karpenter NodePool",
                types,
                dict((template.get("metadata") or {}).get("labels") or {}),
                tuple(spec.get("taints") or ()),
                *_nodepool_max(d, types),
                urn=ctx.urns.get(rel, ""),
                requirements=reqs,
            )
        )
    return out + aks_pools(ctx) + existing_nodes(ctx.spec)


AKS_CLUSTER, AKS_POOL = "azure-native:containerservice:ManagedCluster", "azure-native:containerservice:AgentPool"


def aks_pools(ctx: Context) -> list[Pool]:
    """AKS agent pools (the cluster's system pool and the user pools): one VM size each, scaled by
    AKS's own cluster autoscaler to maxCount; allocatable from stacks/azure_offerings.py."""

    def pool(p: dict[str, Any], urn: str) -> Pool:
        size, name = str(p.get("vmSize") or ""), str(p.get("name") or p.get("agentPoolName") or "")
        taints = []
        for t in p.get("nodeTaints") or []:
            kv, _, effect = str(t).rpartition(":")
            key, _, value = kv.partition("=")
            taints.append({"key": key, "value": value, "effect": effect})
        auto = bool(p.get("enableAutoScaling"))
        maximum = int(p.get("maxCount") or p.get("count") or 0) if auto else int(p.get("count") or 0)
        why = "its maxCount (AKS's cluster autoscaler scales it)" if auto else "its count (autoscaling off)"
        labels = {"kubernetes.azure.com/agentpool": name, "agentpool": name, **(p.get("nodeLabels") or {})}
        room = Allocatable(*aks_allocatable(size, int(p.get("maxPods") or 250))) if size in VM_CAPACITY else None
        return Pool(
            name,
            "AKS agent pool",
            (size,),
            labels,
            tuple(taints),
            maximum,
            why,
            urn,
            "spot" if p.get("scaleSetPriority") == "Spot" else "on-demand",
            allocatable=room,
            cluster_daemons=dict(AKS_NODE_DAEMONS),
            capacity_table="stacks/azure_offerings.py VM_CAPACITY",
            resize="give {name} a larger VM size (its vm_size; the system pool's: azure.system_vm_size)",
        )

    out = [pool(p, r.urn) for r in ctx.resources(AKS_CLUSTER) for p in r.inputs.get("agentPoolProfiles") or []]
    return out + [pool({**r.inputs, "name": r.inputs.get("agentPoolName")}, r.urn) for r in ctx.resources(AKS_POOL)]


EXISTING_NODE = "existing-node"


def existing_nodes(spec: dict[str, Any]) -> list[Pool]:
    """`cloud: kubernetes`: the customer's nodes as pools (CPU nodes, and each GPU pool's), each node with its share of `onprem.minimum`
    (allocatable CPU, memory and GPUs over all nodes; the preflight checks the cluster offers them)."""
    if "onprem" not in spec:  # only cloud: kubernetes takes (and needs) onprem:
        return []
    m = {"nodes": 1, "cpu_cores": 8, "memory_gib": 32, "gpus": 0, **((spec.get("onprem") or {}).get("minimum") or {})}
    n = max(int(m["nodes"]), 1)
    room = declared_node(n, int(m["cpu_cores"]), int(m["memory_gib"]))  # the same share stacks/onprem.py sizes pods against
    # GPU nodes the customer labels `sahab.ae/pool=<env>-<pool>`, `sahab.ae/accelerator=nvidia` and taints
    # nvidia.com/gpu=present:NoSchedule (README, on your own server); the GPUs shared out over them, and
    # the other pods keep to the remaining nodes.
    gpu_pools = spec.get("gpu_pools") or []
    gpu_nodes = sum(int(p.get("max_size") or 1) for p in gpu_pools)
    out = [
        Pool(
            "existing nodes",
            "existing nodes",
            (EXISTING_NODE,),
            {},
            (),
            max(n - gpu_nodes, 1),
            "onprem.minimum.nodes less the GPU nodes (the customer's own; nothing scales them)",
            allocatable=room,
            cluster_daemons={},
            capacity_table="onprem.minimum",
            resize="run larger nodes and declare them in onprem.minimum (cpu_cores, memory_gib over its nodes)",
        )
    ]
    for p in gpu_pools:
        labels = {**(p.get("labels") or {}), "sahab.ae/pool": f"{spec.get('name')}-{p['name']}", **GPU_NODE_LABEL}
        gpu_room = Allocatable(room.cpu_millicores, room.memory_mib, int(m["gpus"]) // max(gpu_nodes, 1), room.pods)
        out.append(
            Pool(
                labels["sahab.ae/pool"],
                "existing nodes",
                (EXISTING_NODE,),
                labels,
                (GPU_TAINT,),
                int(p.get("max_size") or 1),
                "gpu_pools[].max_size GPU nodes of the customer's",
                allocatable=gpu_room,
                cluster_daemons={},
                capacity_table="onprem.minimum",
                resize="run larger GPU nodes and declare them in onprem.minimum",
            )
        )
    return out


def _known(pool: Pool, itype: str) -> bool:
    return pool.allocatable is not None or itype in CAPACITY


def _allocatable(pool: Pool, itype: str) -> Allocatable:
    return pool.allocatable or allocatable(itype)


def _nodepool_max(d: dict[str, Any], types: tuple[str, ...]) -> tuple[int | None, str]:
    limits = (d.get("spec") or {}).get("limits") or {}
    known = [CAPACITY[t] for t in types if t in CAPACITY]
    if not limits or not known:
        return None, "it has no limits"
    bounds = []
    smallest = min(known, key=lambda c: (c.vcpus, c.memory_gib))
    if "cpu" in limits:
        bounds.append(quantity(limits["cpu"], "cpu") // (smallest.vcpus * 1000))
    if "memory" in limits:
        bounds.append(quantity(limits["memory"], "memory") // int(smallest.memory_gib * 1024))
    if GPU in limits and smallest.gpus:
        bounds.append(int(float(limits[GPU])) // smallest.gpus)
    return (min(bounds), "its limits") if bounds else (None, "it has no CPU/memory/GPU limits")


def _daemons(ctx: Context, defaults: dict[str, dict[str, Any]]) -> list[tuple[PodTemplate, Request]]:
    return [(p, pod_request(p, defaults)) for p in all_pods(ctx) if p.kind == "DaemonSet"]


def node_room(pool: Pool, itype: str, daemons: list[tuple[PodTemplate, Request]]) -> Request:
    """Allocatable on one node, less the daemons that land there."""
    a = _allocatable(pool, itype)
    used = sum(
        (req for p, req in daemons if not admits(p, pool, itype)),
        Request(sum(c for c, _ in pool.cluster_daemons.values()), sum(m for _, m in pool.cluster_daemons.values())),
    )
    return Request(a.cpu_millicores - used.cpu, a.memory_mib - used.memory, a.gpus - used.gpus)


def fits(req: Request, room: Request) -> bool:
    return req.cpu <= room.cpu and req.memory <= room.memory and req.gpus <= room.gpus


def per_node(req: Request, room: Request, pods_cap: int) -> int:
    counts = [pods_cap]
    for need, have in ((req.cpu, room.cpu), (req.memory, room.memory), (req.gpus, room.gpus)):
        if need:
            counts.append(max(have, 0) // need)
    return max(min(counts), 0)


def _fix_env(ctx: Context) -> str:
    env = ctx.environment_dir.name if ctx.environment_dir else "<env>"
    return f"environments/{env}/Pulumi.{env}.yaml"


def check(ctx: Context) -> list:
    defaults = _defaults(ctx)
    node_pools = pools(ctx)
    daemons = _daemons(ctx, defaults)
    out = []
    for pool in node_pools:
        for t in pool.machine_types:
            if not _known(pool, t):
                out.append(
                    finding(
                        "scheduling-capacity-known",
                        f"{pool.name} ({pool.kind}): machine type {t} is not in the capacity table, so no pod can be proven to fit it. Fix: add {t} (vCPU, memory, GPUs, max pods, with the source) to {pool.capacity_table}.",
                        urn=pool.urn,
                        resource=pool.name,
                    )
                )
    capacity: dict[str, int | None] = {}
    placement: dict[str, tuple[Request, list[tuple[Pool, str, Request]]]] = {}
    for pod in all_pods(ctx):
        req = pod_request(pod, defaults)
        urn = ctx.urns.get(pod.file, "")
        admitted, too_small, refused, small_pools = [], [], [], []
        for pool in node_pools:
            for t in pool.machine_types:
                if not _known(pool, t):
                    continue
                why = admits(pod, pool, t)
                if why:
                    refused.append(f"{pool.name}: {why}")
                    continue
                room = node_room(pool, t, daemons)
                if fits(req, room):
                    admitted.append((pool, t, room))
                else:
                    too_small.append(f"{pool.name} {t} leaves {room.text()}")
                    small_pools.append(pool)
        if pod.kind == "DaemonSet":
            for line in too_small:
                out.append(
                    finding(
                        "scheduling-daemonset-fits",
                        f"{pod.label}: requests {req.text()} but a node of {line} after kube-reserved and the other daemons, so it stays pending there. Fix: lower its requests in {pod.file}'s source.",
                        urn=urn,
                        resource=f"{pod.namespace}/{pod.name}",
                        file=pod.file,
                    )
                )
            continue
        if not admitted:
            if too_small:
                what = f"requests {req.text()}, more than any node that admits it can give ({'; '.join(sorted(set(too_small)))})"
                resize = "; or ".join(dict.fromkeys(p.resize.format(name=p.name) for p in small_pools))
                fix = f"lower the pod's requests, or {resize} in {_fix_env(ctx)}"
            else:
                what = f"no node pool admits it ({'; '.join(sorted(set(refused))) or 'the plan has no node pools'})"
                fix = "give the pod the tolerations/nodeSelector of a pool, or add a pool with its labels"
            out.append(
                finding(
                    "scheduling-pod-fits",
                    f"{pod.label}: {what}, so it stays pending. Fix: {fix}.",
                    urn=urn,
                    resource=f"{pod.namespace}/{pod.name}",
                    file=pod.file,
                )
            )
            capacity[f"{pod.namespace}/{pod.name}"] = 0
            continue
        total: int | None = 0
        counted = set()
        for pool, _t, _room in admitted:
            if id(pool) in counted:  # a node group and a NodePool may share a name: the pool itself is the key
                continue
            counted.add(id(pool))
            # The autoscaler may launch any of the pool's types: count the least room among them.
            least = min(per_node(req, r, _allocatable(p2, t2).pods) for p2, t2, r in admitted if p2 is pool)
            total = None if total is None or pool.max_nodes is None else total + least * pool.max_nodes
        capacity[f"{pod.namespace}/{pod.name}"] = total
        placement[f"{pod.namespace}/{pod.name}"] = (req, admitted)
        pools_of = {(p.kind, p.name): (f"{p.name} ({p.kind})", p.max_nodes, p.why_max) for p, _, _ in admitted}
        ctx.cache.setdefault("scheduling", {})[f"{pod.namespace}/{pod.name}"] = (req, list(pools_of.values()))
    out += _replicas(ctx, capacity)
    out += _together(ctx, placement)
    return out


def _together(ctx: Context, placement: dict[str, tuple[Request, list[tuple[Pool, str, Request]]]]) -> list:
    """HPAs whose pods the same pools admit, at their maxima at once: whole pods per node as the
    scheduler packs them, the largest pod bounding the packing (each alone may fit, all together not)."""
    groups: dict[frozenset[int], list[tuple[str, str, Request, int]]] = {}
    pools_by_id: dict[int, Pool] = {}
    rooms: dict[int, list[tuple[str, Request]]] = {}
    for rel, h in ctx.objects("HorizontalPodAutoscaler"):
        target = ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
        key = f"{h['metadata'].get('namespace')}/{target}"
        if key not in placement:
            continue
        req, admitted = placement[key]
        ids = frozenset(id(p) for p, _, _ in admitted)
        for p, t, room in admitted:
            pools_by_id[id(p)] = p
            rooms.setdefault(id(p), []).append((t, room))
        groups.setdefault(ids, []).append((rel, key, req, int((h.get("spec") or {}).get("maxReplicas") or 0)))
    out = []
    for ids, hpas in groups.items():
        if len(hpas) < 2 or any(pools_by_id[i].max_nodes is None for i in ids):
            continue
        largest = Request(max(r.cpu for _, _, r, _ in hpas), max(r.memory for _, _, r, _ in hpas))
        capacity = 0
        for i in ids:
            pool = pools_by_id[i]
            least = min(per_node(largest, room, _allocatable(pool, t).pods) for t, room in rooms[i])
            capacity += least * int(pool.max_nodes or 0)
        wanted = sum(n for _, _, _, n in hpas)
        if wanted <= capacity:
            continue
        names = ", ".join(f"{key} (max {n})" for _, key, _, n in hpas)
        where = "; ".join(
            f"{pools_by_id[i].name}: at most {pools_by_id[i].max_nodes} nodes, {pools_by_id[i].why_max}" for i in sorted(ids, key=lambda i: pools_by_id[i].name)
        )
        rel = hpas[0][0]
        out.append(
            finding(
                "scheduling-hpas-fit-together",
                f"{names}: {wanted} pods at the HPAs' maxima together, but the pools that admit them hold at most {capacity} pods of "
                f"{largest.text()} ({where}), so some stay pending when they peak at once. Fix: let the pool grow (a larger max_size in "
                f"{_fix_env(ctx)}), or lower the projects' max_replicas (kubernetes.projects[].serving.max_replicas).",
                urn=ctx.urns.get(rel, ""),
                resource=names,
                file=rel,
            )
        )
    return out


def _replicas(ctx: Context, capacity: dict[str, int | None]) -> list:
    out = []
    hpas = {}
    for rel, h in ctx.objects("HorizontalPodAutoscaler"):
        target = (h.get("spec") or {}).get("scaleTargetRef") or {}
        hpas[f"{h['metadata'].get('namespace')}/{target.get('name')}"] = (rel, h)
    for pod in all_pods(ctx):
        key = f"{pod.namespace}/{pod.name}"
        cap = capacity.get(key)
        if cap is None or cap == 0 or pod.kind not in ("Deployment", "StatefulSet"):
            continue
        info = ctx.cache.get("scheduling", {}).get(key)
        pools_text = "; ".join(f"{name}: at most {n} nodes, {why}" for name, n, why in (info[1] if info else []))
        if key in hpas:
            rel, h = hpas[key]
            want = int((h.get("spec") or {}).get("maxReplicas") or 0)
            if want > cap:
                out.append(
                    finding(
                        "scheduling-hpa-capacity",
                        f"{h['metadata']['name']} (HorizontalPodAutoscaler): maxReplicas {want} for {key}, but its pools hold at most {cap} such pods ({pools_text}), so the rest stay pending. Fix: let the pool grow (a Karpenter NodePool or the Cluster Autoscaler for it, or a larger max_size in {_fix_env(ctx)}), or lower max_replicas.",
                        urn=ctx.urns.get(rel, ""),
                        resource=f"{h['metadata'].get('namespace')}/{h['metadata']['name']}",
                        file=rel,
                    )
                )
        elif pod.replicas > cap:
            out.append(
                finding(
                    "scheduling-replicas-fit",
                    f"{pod.label}: {pod.replicas} replicas, but its pools hold at most {cap} such pods ({pools_text}). Fix: lower the replicas or let the pool grow in {_fix_env(ctx)}.",
                    urn=ctx.urns.get(pod.file, ""),
                    resource=key,
                    file=pod.file,
                )
            )
    return out
