"""Every workload namespace has a default-deny NetworkPolicy (ingress and egress)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, StackValidationArgs

from policy_packs.common.config import schema, settings
from policy_packs.common.kube import kind_of, namespace
from policy_packs.common.policy import Subject, report, stack_subjects
from policy_packs.common.values import as_list, as_map

EXEMPT = {
    "type": "array",
    "items": {"type": "string"},
    "default": ["kube-system", "kube-public", "kube-node-lease"],
    "description": "Namespaces managed by the cloud/cluster itself.",
}
CONFIG = schema(exemptNamespaces=EXEMPT)
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def _denies(policy: dict, direction: str) -> bool:
    """Selects every pod (`podSelector: {}`) for `direction` with no rule letting anything through."""
    spec = as_map(policy.get("spec"))
    if as_map(spec.get("podSelector")) not in ({}, {"matchLabels": {}}, {"matchExpressions": []}):
        return False
    types = [str(t) for t in as_list(spec.get("policyTypes"))] or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])
    return direction in types and not as_list(spec.get(direction.lower()))


def kubernetes_namespace_default_deny(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    config = settings(args, CONFIG)
    kube = stack_subjects(args, prefix="kubernetes:")
    namespaces: dict[str, Subject] = {}
    for s in kube:
        if s.type == NAMESPACE:
            namespaces[str(as_map(s.props.get("metadata")).get("name") or s.name)] = s
    for s in kube:
        if kind_of(s.type) is not None:
            namespaces.setdefault(namespace(s.props), s)
    policies = [s for s in kube if s.type == NETWORK_POLICY]
    for ns, owner in sorted(namespaces.items()):
        if ns in config["exemptNamespaces"]:
            continue
        here = [as_map(p.props) for p in policies if namespace(p.props) == ns]
        missing = [d for d in ("Ingress", "Egress") if not any(_denies(p, d) for p in here)]
        if missing:
            effects = {"Ingress": "accept connections from any pod", "Egress": "can open connections anywhere, including outside the UAE"}
            what = f"namespace `{ns}` has no default-deny NetworkPolicy for {' and '.join(missing)}: its pods " + " and ".join(effects[d] for d in missing)
            report(
                report_violation,
                owner,
                what,
                f"add a NetworkPolicy in `{ns}` with `podSelector: {{}}`, `policyTypes: [{', '.join(missing)}]` and no rules, then allow the needed flows explicitly",
                config,
            )
