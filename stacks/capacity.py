"""What one node leaves for pods, in neutral words: the shape the capacity tables of every cloud
answer in (stacks/offerings.py for EC2 on EKS, stacks/azure_offerings.py for VM sizes on AKS, the
declared hardware of an existing cluster in stacks/onprem.py), read by the Kubernetes layer's pod
sizing (stacks/kubernetes.py) and the gate's scheduling check."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Allocatable:
    """Node allocatable: capacity less kube-reserved and the eviction threshold."""

    cpu_millicores: int
    memory_mib: int
    gpus: int
    pods: int


# The kubelet's default maxPods (k3s keeps it): an existing cluster's nodes, whose configuration the
# spec does not describe.
KUBELET_DEFAULT_MAX_PODS = 110


def declared_node(nodes: int, cpu_cores: int, memory_gib: int, gpus: int = 0) -> Allocatable:
    """One node's share of hardware declared as allocatable totals over `nodes` nodes (an existing
    cluster's `onprem.minimum`): what pod sizing and the scheduling check assume such a node leaves."""
    n = max(nodes, 1)
    return Allocatable(cpu_cores * 1000 // n, memory_gib * 1024 // n, gpus, KUBELET_DEFAULT_MAX_PODS)
