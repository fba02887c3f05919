"""IAM and KMS: every IAM, bucket, queue, secret and key policy of the plan linted with parliament,
and an access matrix (what each workload and service must be able to do) and a deny matrix (what
nobody may do), each request decided over the identity, resource and key policies together.

The evaluator follows the AWS policy evaluation logic for one account
(docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html, checked
2026-12): an explicit Deny anywhere wins; a KMS key is usable only when its key policy allows the
principal, directly or by delegating to the account (`arn:aws:iam::<account>:root`) when the
identity policy allows too; other resources when the identity policy or the resource policy (naming
the principal) allows. Statements match on Action/NotAction and Resource/NotResource (`*` and `?`
wildcards, actions case-insensitive), Principal, and Condition with the String*, Arn*, Bool,
Numeric*, IpAddress and Null operators, `...IfExists`, and the `ForAllValues:`/`ForAnyValue:`
qualifiers; a key missing from the request makes a condition false, except for negated operators
(true), `IfExists` (true), `ForAllValues` (true) and `Null` (reference_policies_elements_condition_operators.html).
AWS-managed policies attached by ARN are not expanded (their text is not in the plan).
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
import types
from dataclasses import dataclass, field
from typing import Any

from sahab.gate.deployability.context import Context, finding
from sahab.gate.model import REPO

# ---------------------------------------------------------------------------------------------
# The evaluator
# ---------------------------------------------------------------------------------------------


class Unsupported(ValueError):
    """A condition operator the evaluator does not implement (reported, never guessed)."""


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


_POSITIVE = {
    "StringEquals": lambda h, w: h == w,
    "StringEqualsIgnoreCase": lambda h, w: h.lower() == w.lower(),
    "StringLike": lambda h, w: _glob(w, h),
    "ArnEquals": lambda h, w: _glob(w, h),
    "ArnLike": lambda h, w: _glob(w, h),
    "Bool": lambda h, w: h.lower() == w.lower(),
    "NumericEquals": lambda h, w: float(h) == float(w),
    "NumericLessThan": lambda h, w: float(h) < float(w),
    "NumericLessThanEquals": lambda h, w: float(h) <= float(w),
    "NumericGreaterThan": lambda h, w: float(h) > float(w),
    "NumericGreaterThanEquals": lambda h, w: float(h) >= float(w),
    "IpAddress": lambda h, w: ipaddress.ip_address(h) in ipaddress.ip_network(w, strict=False),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "NotIpAddress": "IpAddress",
}


def condition_holds(block: dict[str, Any], context: dict[str, Any]) -> bool:
    """Every operator and key of a Condition block against the request context (keys case-insensitive)."""
    ctx = {k.lower(): v for k, v in context.items()}
    for operator, pairs in (block or {}).items():
        qualifier, _, op = operator.rpartition(":")
        if_exists = op.endswith("IfExists") and op != "IfExists"
        base = op[: -len("IfExists")] if if_exists else op
        for key, wanted in pairs.items():
            have = ctx.get(key.lower())
            wanted = [str(w) for w in _list(wanted)]
            if base == "Null":
                if (have is None) != (wanted[0].lower() == "true"):
                    return False
                continue
            negated = base in _NEGATED
            positive = _NEGATED.get(base, base)
            if positive not in _POSITIVE:
                raise Unsupported(f"condition operator {operator}")
            if have is None:
                if if_exists or qualifier == "ForAllValues" or (negated and qualifier != "ForAnyValue"):
                    continue
                return False
            haves = [str(h) for h in _list(have)]

            def match(h: str) -> bool:
                hit = any(_POSITIVE[positive](h, w) for w in wanted)  # noqa: B023 (used within this iteration only)
                return not hit if negated else hit  # noqa: B023 (used within this iteration only)

            ok = all(match(h) for h in haves) if qualifier == "ForAllValues" else any(match(h) for h in haves)
            if not ok:
                return False
    return True


@dataclass(frozen=True)
class Principal:
    arn: str = ""  # an IAM role
    service: str = ""  # a service principal, e.g. cloudtrail.amazonaws.com

    def __str__(self) -> str:
        return self.arn or self.service


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


def _principal_matches(spec: Any, p: Principal, account: str) -> str:
    """'direct' when the statement's Principal names `p`, 'account' when it names p's account
    (delegation to IAM), '' otherwise."""
    if spec == "*" or spec == {"AWS": "*"}:
        return "direct"
    if not isinstance(spec, dict):
        return ""
    if p.service and p.service in _list(spec.get("Service", [])):
        return "direct"
    for a in _list(spec.get("AWS", [])):
        if p.arn and a == p.arn:
            return "direct"
        if p.arn and a in (f"arn:aws:iam::{account}:root", account):
            return "account"
    return ""


def _statement_applies(s: dict[str, Any], req: Request) -> bool:
    if "Action" in s and not any(_glob(a, req.action, ignore_case=True) for a in _list(s["Action"])):
        return False
    if "NotAction" in s and any(_glob(a, req.action, ignore_case=True) for a in _list(s["NotAction"])):
        return False
    if "Resource" in s and not any(_glob(r, req.resource) for r in _list(s["Resource"])):
        return False
    if "NotResource" in s and any(_glob(r, req.resource) for r in _list(s["NotResource"])):
        return False
    return condition_holds(s.get("Condition") or {}, req.context)


def _statements(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError:
            return []
    return [s for s in _list((doc or {}).get("Statement", [])) if isinstance(s, dict)] if isinstance(doc, dict) else []


@dataclass
class Policies:
    """The plan's policies, indexed for evaluation."""

    account: str
    identity: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)  # role ARN -> (policy label, statement)
    resource: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)  # resource ARN -> (label, statement)
    keys: dict[str, str] = field(default_factory=dict)  # resource ARN -> the KMS key ARN it is encrypted with
    labels: dict[str, str] = field(default_factory=dict)  # ARN -> `name (type)` of the plan resource
    urns: dict[str, str] = field(default_factory=dict)  # ARN -> URN
    documents: list[tuple[str, str, str, Any]] = field(default_factory=list)  # (label, urn, kind, document) for parliament

    def resource_policy(self, arn: str) -> list[tuple[str, dict[str, Any]]]:
        """The resource policy governing `arn`: the bucket's for its objects, else its own."""
        if arn.startswith("arn:aws:s3:::"):
            return self.resource.get("arn:aws:s3:::" + arn[len("arn:aws:s3:::") :].split("/", 1)[0], [])
        return self.resource.get(arn, [])

    def decide(self, req: Request) -> tuple[bool, str]:
        """(allowed, why) for one request."""
        ident = self.identity.get(req.principal.arn, []) if req.principal.arn else []
        res = self.resource_policy(req.resource)
        for label, s in ident:
            if s.get("Effect") == "Deny" and _statement_applies(s, req):
                return False, f"denied by {label} ({s.get('Sid', 'a Deny statement')})"
        for label, s in res:
            if s.get("Effect") == "Deny" and _principal_matches(s.get("Principal", "*"), req.principal, self.account) and _statement_applies(s, req):
                return False, f"denied by {label} ({s.get('Sid', 'a Deny statement')})"
        identity_allows = next((f"{label} ({s.get('Sid', 'Allow')})" for label, s in ident if s.get("Effect") == "Allow" and _statement_applies(s, req)), "")
        grants = [(label, s, _principal_matches(s.get("Principal"), req.principal, self.account)) for label, s in res if s.get("Effect") == "Allow"]
        direct = next((f"{label} ({s.get('Sid', 'Allow')})" for label, s, how in grants if how == "direct" and _statement_applies(s, req)), "")
        delegated = any(how == "account" and _statement_applies(s, req) for _, s, how in grants)
        if req.action.lower().startswith("kms:"):
            if direct:
                return True, f"allowed by {direct}"
            if delegated and identity_allows:
                return True, f"allowed by {identity_allows} (the key policy delegates to the account)"
            if not res:
                return False, f"the key {req.resource} has no key policy in the plan"
            return (
                False,
                "the key policy allows it neither to the principal nor to the account"
                if not delegated
                else "the key policy delegates to IAM, but no identity policy allows it",
            )
        if direct:
            return True, f"allowed by {direct}"
        if identity_allows and (not req.principal.service):
            return True, f"allowed by {identity_allows}"
        return False, "no identity or resource policy allows it"


def collect(ctx: Context) -> Policies:
    account = next((r.outputs.get("arn", "").split(":")[4] for r in ctx.resources("aws:iam/role:Role") if r.outputs.get("arn")), "")
    p = Policies(account)
    roles: dict[str, str] = {}  # role name -> ARN
    for r in ctx.resources("aws:iam/role:Role"):
        arn = r.outputs.get("arn", "")
        roles[r.outputs.get("name") or r.inputs.get("name") or r.name] = arn
        p.labels[arn], p.urns[arn] = ctx.label(r), r.urn
        p.documents.append((ctx.label(r), r.urn, "trust", r.inputs.get("assumeRolePolicy")))
        for inline in r.inputs.get("inlinePolicies") or []:
            p.identity.setdefault(arn, []).extend((ctx.label(r), s) for s in _statements(inline.get("policy")))
            p.documents.append((ctx.label(r), r.urn, "identity", inline.get("policy")))
    for r in ctx.resources("aws:iam/rolePolicy:RolePolicy"):
        arn = roles.get(str(r.inputs.get("role")), str(r.inputs.get("role")))
        p.identity.setdefault(arn, []).extend((ctx.label(r), s) for s in _statements(r.inputs.get("policy")))
        p.documents.append((ctx.label(r), r.urn, "identity", r.inputs.get("policy")))
    by_bucket = {r.outputs.get("bucket") or r.inputs.get("bucket"): r for r in ctx.resources("aws:s3/bucket:Bucket")}
    for name, r in by_bucket.items():
        p.labels[f"arn:aws:s3:::{name}"], p.urns[f"arn:aws:s3:::{name}"] = ctx.label(r), r.urn
    for r in ctx.resources("aws:s3/bucketPolicy:BucketPolicy"):
        p.resource.setdefault(f"arn:aws:s3:::{r.inputs.get('bucket')}", []).extend((ctx.label(r), s) for s in _statements(r.inputs.get("policy")))
        p.documents.append((ctx.label(r), r.urn, "resource", r.inputs.get("policy")))
    for r in ctx.resources("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"):
        for rule in r.inputs.get("rules") or []:
            key = (rule.get("applyServerSideEncryptionByDefault") or {}).get("kmsMasterKeyId")
            if key:
                p.keys[f"arn:aws:s3:::{r.inputs.get('bucket')}"] = key
    for r in ctx.resources("aws:kms/key:Key"):
        arn = r.outputs.get("arn", "")
        p.labels[arn], p.urns[arn] = ctx.label(r), r.urn
        p.resource.setdefault(arn, []).extend((ctx.label(r), s) for s in _statements(r.inputs.get("policy")))
        p.documents.append((ctx.label(r), r.urn, "resource", r.inputs.get("policy")))
    queues = {}
    for r in ctx.resources("aws:sqs/queue:Queue"):
        arn = r.outputs.get("arn", "")
        queues[r.outputs.get("url") or r.outputs.get("id") or ""] = arn
        p.labels[arn], p.urns[arn] = ctx.label(r), r.urn
        if r.inputs.get("kmsMasterKeyId"):
            p.keys[arn] = r.inputs["kmsMasterKeyId"]
    for r in ctx.resources("aws:sqs/queuePolicy:QueuePolicy"):
        statements = _statements(r.inputs.get("policy"))
        arn = queues.get(str(r.inputs.get("queueUrl"))) or next(
            (str(x) for s in statements for x in _list(s.get("Resource", [])) if str(x).startswith("arn:aws:sqs:")), ""
        )
        p.resource.setdefault(arn, []).extend((ctx.label(r), s) for s in statements)
        p.documents.append((ctx.label(r), r.urn, "resource", r.inputs.get("policy")))
    for r in ctx.resources("aws:secretsmanager/secret:Secret"):
        arn = r.outputs.get("arn", "")
        p.labels[arn], p.urns[arn] = ctx.label(r), r.urn
        if r.inputs.get("kmsKeyId"):
            p.keys[arn] = r.inputs["kmsKeyId"]
        if r.inputs.get("policy"):
            p.resource.setdefault(arn, []).extend((ctx.label(r), s) for s in _statements(r.inputs.get("policy")))
    for r in ctx.resources("aws:secretsmanager/secretPolicy:SecretPolicy"):
        arn = str(r.inputs.get("secretArn"))
        p.resource.setdefault(arn, []).extend((ctx.label(r), s) for s in _statements(r.inputs.get("policy")))
        p.documents.append((ctx.label(r), r.urn, "resource", r.inputs.get("policy")))
    for r in ctx.resources("aws:rds/instance:Instance"):
        for secret in (r.outputs or {}).get("masterUserSecrets") or []:
            if secret.get("secretArn"):
                p.labels[secret["secretArn"]], p.urns[secret["secretArn"]] = f"{r.name} master secret (aws:rds/instance:Instance)", r.urn
                p.keys[secret["secretArn"]] = secret.get("kmsKeyId") or r.inputs.get("masterUserSecretKmsKeyId") or ""
    return p


# ---------------------------------------------------------------------------------------------
# parliament
# ---------------------------------------------------------------------------------------------

# parliament findings that are wrong about valid policies, each with why (matched on issue + detail).
PARLIAMENT_FALSE_POSITIVES: tuple[tuple[str, str, str], ...] = (
    (
        "MISMATCHED_TYPE",
        r"requires a value of type Numeric but given \['[0-9.]+'\]",
        'IAM takes numbers as JSON strings (s3:TlsVersion "1.2" in AWS\'s own examples)',
    ),
    (
        "MISMATCHED_TYPE",
        r"ArnLike requires a value of type Arn but given String",
        "kms:EncryptionContext:aws:logs:arn holds an ARN; CloudWatch Logs' key policy example uses ArnLike on it",
    ),
    (
        "RESOURCE_MISMATCH",
        r"ec2:(RunInstances|CreateFleet|CreateLaunchTemplate)",
        "one statement lists every resource type RunInstances/CreateFleet touch, as the upstream Karpenter controller policy does",
    ),
    (
        "UNKNOWN_CONDITION_FOR_ACTION",
        r"kms:EncryptionContext:aws:logs:arn for action kms:Describe",
        "AWS's documented CloudWatch Logs key policy (encrypt-log-data-kms) grants kms:Describe* under this very condition",
    ),
    ("RESOURCE_MISMATCH", r"ssm:GetParameter", "public AWS parameters have an empty account field (arn:aws:ssm:<region>::parameter/aws/service/...)"),
)


# Advice rather than a defect: `*` on actions that take no resource or read only.
PARLIAMENT_ADVISORY = {"RESOURCE_STAR"}


def _wildcard_only(doc: Any, detail: str) -> bool:
    """UNKNOWN_CONDITION_FOR_ACTION raised only because parliament expanded a service wildcard
    (`s3:*` in a Deny) into actions the condition key does not apply to."""
    m = re.search(r"Unknown condition (\S+) for action (\S+)", detail)
    if not m:
        return False
    key, action = m.group(1).lower(), m.group(2).lower()
    using = [st for st in _statements(doc) if any(key == k.lower() for block in (st.get("Condition") or {}).values() for k in block)]
    return bool(using) and all(action not in [str(a).lower() for a in _list(st.get("Action", []))] for st in using)


def _star_is_scoped(doc: Any, kind: str, detail: str) -> bool:
    """RESOURCE_STAR on a key policy (there `*` is the key itself) or on statements whose
    Condition scopes them (aws:ResourceTag, aws:RequestedRegion), as upstream policies do."""
    if kind == "resource":
        return True
    actions = {a.lower() for a in re.findall(r'"([a-z0-9-]+:[A-Za-z0-9*]+)"', detail)}
    stars = [st for st in _statements(doc) if "*" in _list(st.get("Resource", [])) and {str(a).lower() for a in _list(st.get("Action", []))} & actions]
    return bool(stars) and all(st.get("Condition") for st in stars)


def _parliament() -> Any:
    # parliament 1.6.4 still imports pkg_resources for two file paths; setuptools >= 81 dropped it.
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401 (probing whether parliament can import it)
        except ImportError:
            import importlib.resources

            shim = types.ModuleType("pkg_resources")
            shim.resource_filename = lambda package, name: str(importlib.resources.files(package) / name)  # type: ignore[attr-defined]  # a module object built at run time
            sys.modules["pkg_resources"] = shim
    import parliament

    return parliament


def lint(policies: Policies) -> list:
    try:
        parliament = _parliament()
    except ImportError:
        return [
            finding(
                "iam-parliament-available",
                "parliament is not installed in .venv, so the plan's policies were not linted. Fix: run scripts/setup.sh (parliament is a Sahab dependency).",
            )
        ]
    out, seen = [], set()
    for label, urn, kind, doc in policies.documents:
        if not doc or kind == "trust":  # parliament reads identity policies; trust policies have no Resource
            continue
        text = doc if isinstance(doc, str) else json.dumps(doc)
        for f in parliament.analyze_policy_string(text, ignore_private_auditors=True).findings:
            detail = f.detail if isinstance(f.detail, str) else json.dumps(f.detail, default=str)
            if (label, f.issue, detail) in seen or any(f.issue == issue and re.search(rx, detail) for issue, rx, _ in PARLIAMENT_FALSE_POSITIVES):
                continue
            if (f.issue == "UNKNOWN_CONDITION_FOR_ACTION" and _wildcard_only(doc, detail)) or (
                f.issue == "RESOURCE_STAR" and _star_is_scoped(doc, kind, detail)
            ):
                continue
            seen.add((label, f.issue, detail))
            level = "advisory" if f.issue in PARLIAMENT_ADVISORY else "mandatory"
            out.append(
                finding(
                    "iam-parliament",
                    f"{label}: parliament {f.issue}: {detail[:300]}. Fix: correct the policy document (see parliament's {f.issue} description).",
                    urn=urn,
                    resource=label,
                    enforcement=level,
                )
            )
    return out


# ---------------------------------------------------------------------------------------------
# The matrices
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    policy: str
    who: str  # a name for messages: "serving (sahab-serving/model-server)"
    request: Request
    allowed: bool  # what must happen
    why: str
    fix: str


def _role_of(ctx: Context, namespace: str, service_account: str) -> str:
    for r in ctx.resources("aws:eks/podIdentityAssociation:PodIdentityAssociation"):
        if r.inputs.get("namespace") == namespace and r.inputs.get("serviceAccount") == service_account:
            return str(r.inputs.get("roleArn"))
    return ""


def _buckets(ctx: Context) -> dict[str, str]:
    """purpose -> bucket name."""
    return {
        str((r.inputs.get("tags") or {}).get("sahab.ae/purpose")): str(r.outputs.get("bucket") or r.inputs.get("bucket"))
        for r in ctx.resources("aws:s3/bucket:Bucket")
        if (r.inputs.get("tags") or {}).get("sahab.ae/purpose")
    }


def _region(ctx: Context) -> str:
    return str(ctx.spec.get("region") or (ctx.plan.config or {}).get("aws:region") or "me-central-1")


def _mlflow_artifact_roots(ctx: Context) -> list[str]:
    """s3://bucket/prefix values of the MLflow server's environment and arguments."""
    out = []
    for _, d in ctx.objects("Deployment"):
        labels = (((d.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        if labels.get("app.kubernetes.io/name") != "mlflow":
            continue
        for c in d["spec"]["template"]["spec"].get("containers") or []:
            values = [str(e.get("value", "")) for e in c.get("env") or []] + [str(a) for a in (c.get("args") or []) + (c.get("command") or [])]
            out += [v for v in values if v.startswith("s3://")]
    return sorted(set(out))


def _object(bucket: str, prefix: str = "") -> str:
    return f"arn:aws:s3:::{bucket}/{prefix}sahab-gate-probe"


def _s3(
    policies: Policies, region: str, who: str, role: str, action: str, bucket: str, prefix: str, why: str, fix: str, policy: str, allowed: bool = True
) -> list[Access]:
    """An S3 object request and, when it must succeed, the KMS call it makes on the bucket's key."""
    principal = Principal(arn=role)
    out = [
        Access(
            policy,
            who,
            Request(principal, action, _object(bucket, prefix), {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3", "aws:RequestedRegion": region}),
            allowed,
            why,
            fix,
        )
    ]
    key = policies.keys.get(f"arn:aws:s3:::{bucket}")
    if key and allowed:
        kms_action = "kms:GenerateDataKey" if action == "s3:PutObject" else "kms:Decrypt"
        context = {
            "kms:ViaService": f"s3.{region}.amazonaws.com",
            "kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{bucket}",
            "kms:CallerAccount": policies.account,
            "aws:RequestedRegion": region,
        }
        out.append(
            Access(
                policy,
                who,
                Request(principal, kms_action, key, context),
                True,
                f"{why} (S3 calls {kms_action} on the bucket's key)",
                f"{fix}, and allow {kms_action} on the bucket's key",
            )
        )
    return out


def _projects(ctx: Context) -> list[str]:
    """The model projects the environment deploys (`kubernetes.projects[].name`)."""
    return [str(b.get("name")) for b in ((ctx.spec.get("kubernetes") or {}).get("projects") or []) if isinstance(b, dict) and b.get("name")]


def _bindings(ctx: Context) -> list[tuple[str, str]]:
    """(project, team) of each deployed project: the binding's team, else its project.yaml's `team:`."""
    from workloads.project import load_project

    out = []
    for b in (ctx.spec.get("kubernetes") or {}).get("projects") or []:
        if not isinstance(b, dict) or not b.get("name"):
            continue
        team = b.get("team") or load_project(REPO / str(b.get("path") or f"projects/{b['name']}")).spec.team
        out.append((str(b["name"]), str(team)))
    return out


def _table(ctx: Context) -> list:
    from components.workloads import platform_workloads

    # With their teams: each project's pipeline identity and each team's notebooks (components/workloads.py).
    return list(platform_workloads(_bindings(ctx)))


def _grant_probe(grant: str) -> tuple[str, str]:
    """(purpose, prefix) of a `components.workloads` grant, the prefix ending in `/` when there is one."""
    from components.workloads import split_grant

    purpose, prefix = split_grant(grant)
    return purpose, prefix


def matrix(ctx: Context, policies: Policies) -> list[Access]:
    from components.workloads import ProjectPrefixes

    region = _region(ctx)
    buckets = _buckets(ctx)
    out: list[Access] = []
    table = _table(ctx)
    roles = {w.name: _role_of(ctx, w.namespace, w.service_account) for w in table}
    fix_identity = "grant it in the workload's role (components/workloads.py feeds components/aws/identity.py)"
    for w in table:
        role = roles[w.name]
        if not role:
            continue
        who = f"{w.name} ({w.namespace}/{w.service_account})"
        for grants, action, verb, policy in (
            (w.read_buckets, "s3:GetObject", "reads", "iam-workload-reads"),
            (w.write_buckets, "s3:PutObject", "writes", "iam-workload-writes"),
        ):
            for grant in grants:
                purpose, prefix = _grant_probe(grant)
                if purpose in buckets:
                    where = f"{purpose}/{prefix}" if prefix else f"the {purpose} bucket"
                    out += _s3(policies, region, who, role, action, buckets[purpose], prefix, f"it {verb} {where}", fix_identity, policy)
    # Each project's serving and monitoring load its model versions from its experiment's artifact
    # location under MLflow's root (`<root>/<project>/`, set by its training pods).
    for root in _mlflow_artifact_roots(ctx):
        bucket, _, prefix = root[len("s3://") :].partition("/")
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        for w in table:
            if w.role not in ("serving", "monitoring") or not roles.get(w.name):
                continue
            out += _s3(
                policies,
                region,
                f"{w.name} ({w.namespace}/{w.service_account})",
                roles[w.name],
                "s3:GetObject",
                bucket,
                f"{prefix}{w.project}/",
                f"it loads project {w.project}'s registered models, which MLflow writes under {root}/{w.project}/",
                f"grant s3:GetObject on {prefix}{w.project}/* to the role (components/workloads.py ProjectPrefixes.mlflow)",
                "iam-serving-reads-mlflow-artifacts",
            )
    # The ML loop of each project hands objects from one role to the next under the project's prefixes.
    by_project: dict[str, dict[str, str]] = {}
    for w in table:
        if w.project and roles.get(w.name):
            by_project.setdefault(w.project, {})[w.role] = w.name
    for project, named in sorted(by_project.items()):
        p = ProjectPrefixes(project)
        loop = (
            (p.serving_log, "serving", ("monitoring", "training"), "its prediction log"),
            (p.labels, "serving", ("monitoring", "training"), "its label store"),
            (p.drift_state, "monitoring", ("monitoring",), "its monitoring state"),
            (p.checkpoints, "training", ("training",), "its training checkpoints"),
            (p.feast, "training", ("training", "features"), "its Feast root (sources, frozen training sets, registry)"),
            (p.mlflow, "training", ("serving", "monitoring"), "its MLflow artifacts (runs, model versions)"),
        )
        for grant, writer, readers, what in loop:
            purpose, prefix = _grant_probe(grant)
            if purpose not in buckets:
                continue
            for role_name, action, verb, policy in [(writer, "s3:PutObject", "writes", "iam-ml-loop-writes")] + [
                (r, "s3:GetObject", "reads", "iam-ml-loop-reads") for r in readers
            ]:
                name = named.get(role_name)
                if not name:
                    continue
                w = next(x for x in table if x.name == name)
                out += _s3(
                    policies,
                    region,
                    f"{name} ({w.namespace}/{w.service_account})",
                    roles[name],
                    action,
                    buckets[purpose],
                    prefix,
                    f"project {project}'s {role_name} {verb} {what} ({grant})",
                    f"grant {action} on {grant}* to the {name} role (components/workloads.py project_workloads)",
                    policy,
                )
    out += _project_isolation(table, roles, buckets, policies, region)
    # Each workload reads its own secrets and no other's.
    secrets = _secrets(ctx, policies)
    for w in table:
        role = roles[w.name]
        if not role:
            continue
        for name, arn in secrets.items():
            mine = name in w.secrets
            req = Request(Principal(arn=role), "secretsmanager:GetSecretValue", arn, {"aws:RequestedRegion": region})
            out.append(
                Access(
                    "iam-secret-access" if mine else "iam-secret-isolation",
                    f"{w.name} ({w.namespace}/{w.service_account})",
                    req,
                    mine,
                    f"the {name} secret is {'its own' if mine else 'another workload' + chr(39) + 's'}",
                    "grant secretsmanager:GetSecretValue on it to the role" if mine else "scope the role's secretsmanager statements to its own secrets' ARNs",
                )
            )
            if mine and policies.keys.get(arn):
                context = {
                    "kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
                    "kms:EncryptionContext:SecretARN": arn,
                    "kms:CallerAccount": policies.account,
                }
                out.append(
                    Access(
                        "iam-secret-access",
                        f"{w.name} ({w.namespace}/{w.service_account})",
                        Request(Principal(arn=role), "kms:Decrypt", policies.keys[arn], context),
                        True,
                        f"reading the {name} secret decrypts it with its key",
                        "allow kms:Decrypt on the secret's key to the role (and in the key policy)",
                    )
                )
    out += _karpenter(ctx, policies, region)
    out += _cloudtrail(ctx, policies, region, buckets)
    out += _audit_immutable(ctx, policies, buckets)
    return out


def _project_isolation(table: list, roles: dict[str, str], buckets: dict[str, str], policies: Policies, region: str) -> list[Access]:
    """No project's identity reads or writes under another project's prefixes: its prediction log,
    labels, monitoring state, Feast root, checkpoints, model artifacts or batch sources."""
    from components.workloads import ProjectPrefixes

    out: list[Access] = []
    projects = sorted({w.project for w in table if w.project})
    for w in table:
        if not w.project or not roles.get(w.name):
            continue
        who = f"{w.name} ({w.namespace}/{w.service_account})"
        for other in projects:
            if other == w.project:
                continue
            for grant in ProjectPrefixes(other).all():
                purpose, prefix = _grant_probe(grant)
                if purpose not in buckets:
                    continue
                for action in ("s3:GetObject", "s3:PutObject"):
                    out += _s3(
                        policies,
                        region,
                        who,
                        roles[w.name],
                        action,
                        buckets[purpose],
                        prefix,
                        f"{grant} belongs to project {other}; project {w.project}'s identities keep to their own prefixes",
                        f"scope the {w.name} role to project {w.project}'s prefixes (components/workloads.py project_workloads)",
                        "iam-project-isolation",
                        allowed=False,
                    )
    return out


def _secrets(ctx: Context, policies: Policies) -> dict[str, str]:
    """components/workloads.py secret name -> ARN: `registry-db` (the RDS-managed master secret),
    `online-store` (the Redis AUTH secret)."""
    out = {}
    for r in ctx.resources("aws:rds/instance:Instance"):
        for s in (r.outputs or {}).get("masterUserSecrets") or []:
            out["registry-db"] = s.get("secretArn", "")
    for r in ctx.resources("aws:secretsmanager/secret:Secret"):
        if "online-store" in r.name:
            out["online-store"] = r.outputs.get("arn", "")
    return {k: v for k, v in out.items() if v}


def _karpenter(ctx: Context, policies: Policies, region: str) -> list[Access]:
    role = _role_of(ctx, "sahab-autoscaling", "karpenter")
    if not role:
        return []
    cluster = next((str(r.outputs.get("name") or r.inputs.get("name")) for r in ctx.resources("aws:eks/cluster:Cluster")), "")
    nodeclass = next((d["metadata"]["name"] for _, d in ctx.objects("EC2NodeClass")), "default")
    who = "Karpenter (sahab-autoscaling/karpenter)"
    p = Principal(arn=role)
    # The tags Karpenter v1 sends when it creates an instance profile (pkg/providers/instanceprofile).
    request_tags = {
        f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
        "aws:RequestTag/eks:eks-cluster-name": cluster,
        "aws:RequestTag/topology.kubernetes.io/region": region,
        "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": nodeclass,
    }
    resource_tags = {k.replace("aws:RequestTag/", "aws:ResourceTag/"): v for k, v in request_tags.items()}
    keys = list(request_tags.keys())
    profile = f"arn:aws:iam::{policies.account}:instance-profile/{cluster}_probe"
    fix = "follow the upstream v1.6 controller policy (aws:RequestTag/... on create and tag) in components/aws/autoscaling.py"
    out = [
        Access(
            "iam-karpenter-instance-profile",
            who,
            Request(p, "iam:CreateInstanceProfile", profile, {**request_tags, "aws:TagKeys": [k.split("/", 1)[1] for k in keys]}),
            True,
            "Karpenter creates an instance profile per EC2NodeClass, sending these request tags; a profile that does not exist yet carries no resource tags",
            fix,
        ),
        Access(
            "iam-karpenter-instance-profile",
            who,
            Request(p, "iam:TagInstanceProfile", profile, {**request_tags, **resource_tags}),
            True,
            "Karpenter tags the profiles it creates",
            fix,
        ),
        Access(
            "iam-karpenter-instance-profile",
            who,
            Request(p, "iam:AddRoleToInstanceProfile", profile, resource_tags),
            True,
            "Karpenter adds the node role to its profiles",
            fix,
        ),
    ]
    for r in ctx.resources("aws:sqs/queue:Queue"):
        arn = r.outputs.get("arn", "")
        out.append(
            Access(
                "iam-karpenter-interruption-queue",
                who,
                Request(p, "sqs:ReceiveMessage", arn, {"aws:RequestedRegion": region}),
                True,
                "Karpenter reads spot interruption notices from its queue",
                "grant sqs:ReceiveMessage/DeleteMessage on the queue to the controller role",
            )
        )
        key = policies.keys.get(arn)
        if key and not key.startswith("alias/aws/"):
            context = {"kms:ViaService": f"sqs.{region}.amazonaws.com", "kms:EncryptionContext:aws:sqs:arn": arn, "kms:CallerAccount": policies.account}
            out.append(
                Access(
                    "iam-karpenter-interruption-queue",
                    who,
                    Request(p, "kms:Decrypt", key, context),
                    True,
                    "the queue is encrypted with its own key, so receiving decrypts",
                    "allow kms:Decrypt on the queue key to the controller role (or use SSE-SQS as upstream does)",
                )
            )
    return out


def _cloudtrail(ctx: Context, policies: Policies, region: str, buckets: dict[str, str]) -> list[Access]:
    out = []
    for t in ctx.resources("aws:cloudtrail/trail:Trail"):
        arn = t.outputs.get("arn", "")
        bucket = str(t.inputs.get("s3BucketName") or buckets.get("audit", ""))
        key = str(t.inputs.get("kmsKeyId") or "")
        prefix = str(t.inputs.get("s3KeyPrefix") or "")
        p = Principal(service="cloudtrail.amazonaws.com")
        source = {"aws:SourceArn": arn, "aws:SourceAccount": policies.account, "aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}
        who = f"CloudTrail ({t.name})"
        fix_bucket = "allow it to cloudtrail.amazonaws.com in the audit bucket policy with aws:SourceArn of the trail (components/aws/audit.py)"
        out.append(
            Access(
                "iam-cloudtrail-delivery",
                who,
                Request(p, "s3:GetBucketAcl", f"arn:aws:s3:::{bucket}", source),
                True,
                "CloudTrail checks the bucket ACL before delivering",
                fix_bucket,
            )
        )
        obj = f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}AWSLogs/{policies.account}/CloudTrail/{region}/probe.json.gz"
        out.append(
            Access(
                "iam-cloudtrail-delivery",
                who,
                Request(p, "s3:PutObject", obj, {**source, "s3:x-amz-acl": "bucket-owner-full-control"}),
                True,
                "CloudTrail writes the log files",
                fix_bucket,
            )
        )
        if key:
            fix_key = "allow it to cloudtrail.amazonaws.com in the logs key policy (components/aws/encryption.py)"
            out.append(
                Access(
                    "iam-cloudtrail-logs-key",
                    who,
                    Request(p, "kms:GenerateDataKey", key, {**source, "kms:EncryptionContext:aws:cloudtrail:arn": arn}),
                    True,
                    "CloudTrail encrypts each log file with the logs key",
                    fix_key,
                )
            )
            out.append(
                Access(
                    "iam-cloudtrail-logs-key",
                    who,
                    Request(p, "kms:DescribeKey", key, source),
                    True,
                    "CloudTrail describes the key when the trail is created or updated (DescribeKey carries no encryption context)",
                    fix_key,
                )
            )
            if policies.keys.get(f"arn:aws:s3:::{bucket}") == key:
                out.append(
                    Access(
                        "iam-cloudtrail-logs-key",
                        who,
                        Request(p, "kms:Decrypt", key, {**source, "kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{bucket}"}),
                        True,
                        "with an S3 Bucket Key on the audit bucket, delivering needs kms:Decrypt of the bucket key",
                        fix_key,
                    )
                )
    return out


def _audit_immutable(ctx: Context, policies: Policies, buckets: dict[str, str]) -> list[Access]:
    bucket = buckets.get("audit")
    if not bucket:
        return []
    out = []
    for role_arn in sorted(policies.identity):
        for action in ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutObjectRetention"):
            out.append(
                Access(
                    "iam-audit-immutable",
                    policies.labels.get(role_arn, role_arn),
                    Request(Principal(arn=role_arn), action, _object(bucket, "cloudtrail/"), {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}),
                    False,
                    "audit objects are locked (Object Lock COMPLIANCE): no role may delete them or shorten their retention",
                    "remove the grant from the role's policy",
                )
            )
    return out


def check(ctx: Context) -> list:
    if not ctx.resources("aws:iam/role:Role"):
        return []
    policies = collect(ctx)
    out = lint(policies)
    for a in matrix(ctx, policies):
        try:
            allowed, why = policies.decide(a.request)
        except Unsupported as e:
            out.append(
                finding(
                    "iam-evaluator-unsupported",
                    f"{a.who}: {a.request.action} on {a.request.resource} could not be decided: {e} is not implemented. Fix: extend sahab/gate/deployability/iam.py condition_holds.",
                    enforcement="advisory",
                )
            )
            continue
        if allowed == a.allowed:
            continue
        target = policies.labels.get(a.request.resource) or policies.labels.get(
            a.request.resource.split("/", 1)[0] if a.request.resource.startswith("arn:aws:s3:::") else "", a.request.resource
        )
        urn = policies.urns.get(a.request.principal.arn, "") or policies.urns.get(a.request.resource, "")
        role = policies.labels.get(a.request.principal.arn, str(a.request.principal))
        if a.allowed:
            what = f"{a.who} cannot {a.request.action} on {a.request.resource} ({target}): {why}; it must, because {a.why}"
        else:
            what = f"{a.who} can {a.request.action} on {a.request.resource} ({target}), {why}; it must not: {a.why}"
        out.append(finding(a.policy, f"{role}: {what}. Fix: {a.fix}.", urn=urn, resource=role))
    return out
