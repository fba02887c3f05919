"""The credential-free policy gate: the offline plan, judged as the Pulumi CLI would judge it.

    check_environment(repo, env)        `sahab check <env>`: plan + packs + schemas + checkov + reports
    policy_check(program_dir, stack)    `sahab policy check DIR`: any Pulumi Python program, packs only

Each policy pack runs as its own process, started the way the CLI's `pulumi-analyzer-policy-python`
starts it (`<venv>/bin/python -u -m pulumi.policy <engine> .` in the pack folder, with
PULUMI_CONFIG / PULUMI_PROJECT / PULUMI_STACK / PULUMI_DRY_RUN in the environment); the pack
prints its port and the gate speaks the analyzer gRPC protocol to it: Handshake, ConfigureStack,
GetAnalyzerInfo, GetPluginInfo, Configure (config reconciled as the CLI does: schema defaults,
the pack's initial config, then the environment's policy.yaml), Analyze per resource with its
provider, AnalyzeStack for the whole stack. Packs run in parallel, with checkov alongside.

The Kubernetes half is reusable on its own: `validate_schemas(manifest_dir, version)` and
`run_checkov(manifest_dir)` return the same `Finding`s the gate reports.
"""

from __future__ import annotations

import fnmatch
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

REPO = Path(__file__).resolve().parents[1]
PACKS_DIR = REPO / "policy_packs"
CHECKS_DIR = Path(__file__).resolve().parent / "checkov_checks"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
DEFAULT_KUBERNETES_VERSION = "1.33"
# The CLI passes its own engine address; Python packs only parse it. Nothing listens here.
ENGINE_ADDRESS = "127.0.0.1:0"
MANDATORY, ADVISORY, DISABLED, REMEDIATE = "mandatory", "advisory", "disabled", "remediate"
LEVELS = (ADVISORY, MANDATORY, REMEDIATE, DISABLED)

# checkov checks Sahab turns off everywhere, each with its reason (shown in every report).
SUPPRESSIONS: dict[str, str] = {
    "CKV_AWS_144": "wants S3 cross-region replication; residency forbids copies outside me-central-1 (uae-residency: aws-s3-replication-in-region)",
    "CKV_AWS_67": "wants CloudTrail multi-region coverage expressed as cross-region delivery; Sahab's trail is multi-region but delivers to the in-region bucket only",
    "CKV2_AWS_62": "wants S3 event notifications; not a security control and would add a cross-service data path",
    "CKV_AZURE_206": "wants geo-redundant (GRS) storage; residency allows GRS only uaenorth->uaecentral (uae-residency: azure-storage-replication-in-region)",
    "CKV_K8S_43": "wants image digests only; Sahab also accepts tags of IMMUTABLE in-region ECR repositories (kubernetes-baseline: kubernetes-images-pinned)",
    "CKV_K8S_15": "wants imagePullPolicy Always; with immutable in-region tags IfNotPresent is equivalent and avoids registry traffic",
}


@dataclass
class Finding:
    """One violation or problem, whatever found it (a policy, checkov, schema validation, the gate)."""

    source: str  # policy | checkov | schema | gate
    pack: str
    policy: str
    enforcement: str
    message: str
    urn: str = ""
    resource: str = ""
    severity: str = ""
    description: str = ""
    file: str = ""

    @property
    def mandatory(self) -> bool:
        return self.enforcement == MANDATORY

    def contract(self) -> dict[str, Any]:
        """The `{"pack","policy","urn","enforcement","message"}` shape of the CLI's JSON output."""
        return {"pack": self.pack, "policy": self.policy, "urn": self.urn, "enforcement": self.enforcement, "message": self.message}


@dataclass
class PackInfo:
    directory: str
    name: str
    version: str
    policies: dict[str, dict[str, Any]]  # name -> {description, enforcement, severity, type}
    plugin_version: str = ""


@dataclass
class GateResult:
    project: str
    stack: str
    environment: str
    findings: list[Finding] = field(default_factory=list)
    packs: list[PackInfo] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    resources: int = 0
    manifests: int = 0
    suppressions: dict[str, str] = field(default_factory=dict)
    config_file: str = ""

    @property
    def mandatory(self) -> int:
        return sum(1 for f in self.findings if f.mandatory)

    @property
    def advisory(self) -> int:
        return sum(1 for f in self.findings if not f.mandatory)


class GateError(RuntimeError):
    """The gate itself cannot run (bad policy.yaml, a pack that does not start): exit 2."""


# --------------------------------------------------------------------------------------------
# Policy packs over the analyzer protocol
# --------------------------------------------------------------------------------------------


def discover_packs(names: Iterable[str] = (), packs_dir: Path = PACKS_DIR) -> list[Path]:
    """Pack folders (with PulumiPolicy.yaml) under policy_packs/; `names` may be folder or pack names."""
    found = sorted(p for p in packs_dir.iterdir() if (p / "PulumiPolicy.yaml").exists())
    names = list(names)
    if not names:
        return found
    out = []
    for name in names:
        match = [p for p in found if name in (p.name, p.name.replace("_", "-"))] or ([Path(name)] if (Path(name) / "PulumiPolicy.yaml").exists() else [])
        if not match:
            raise GateError(f"--pack {name}: no such pack; known: {[p.name for p in found]}")
        out.extend(match)
    return out


def pack_python(pack_dir: Path) -> str:
    """The interpreter the CLI would use: PulumiPolicy.yaml's `virtualenv` option, else python3."""
    doc = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text()) or {}
    runtime = doc.get("runtime")
    venv = (runtime.get("options") or {}).get("virtualenv") if isinstance(runtime, dict) else None
    if venv:
        # Not resolve(): the venv's python is a symlink to the base interpreter.
        python = Path(os.path.abspath(pack_dir / venv / "bin" / "python"))
        if python.exists():
            return str(python)
    return sys.executable


def _level_name(value: int) -> str:
    from pulumi.runtime.proto import analyzer_pb2

    return analyzer_pb2.EnforcementLevel.Name(value).lower()


def _level_value(name: str) -> int:
    from pulumi.runtime.proto import analyzer_pb2

    return analyzer_pb2.EnforcementLevel.Value(name.upper())


def _struct(value: dict[str, Any]) -> Any:
    from google.protobuf import struct_pb2

    s = struct_pb2.Struct()
    s.update(value)
    return s


def parse_pack_config(doc: Any, where: str) -> dict[str, dict[str, Any]]:
    """A pack's config as the CLI reads `--policy-pack-config`: policy -> level or {enforcementLevel, props}."""
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise GateError(f"{where}: must be a mapping of policy name to an enforcement level or an object")
    out: dict[str, dict[str, Any]] = {}
    for policy, value in doc.items():
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, dict):
            raise GateError(f"{where}.{policy}: {value!r} must be an enforcement level ({'/'.join(LEVELS)}) or an object")
        value = dict(value)
        level = value.pop("enforcementLevel", None)
        if level is not None and level not in LEVELS:
            raise GateError(f"{where}.{policy}.enforcementLevel: {level!r} is not one of {', '.join(LEVELS)}")
        out[str(policy)] = {"level": level, "props": value}
    return out


def reconcile_config(info: Any, given: dict[str, dict[str, Any]], pack: str) -> dict[str, dict[str, Any]]:
    """What the CLI sends to Configure: per policy, schema defaults, then the pack's initial config,
    then the given config (`all` first), validated against each policy's config schema."""
    import jsonschema
    from google.protobuf import json_format

    result: dict[str, dict[str, Any]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for p in info.policies:
        props_schema = json_format.MessageToDict(p.configSchema.properties) if p.HasField("configSchema") else {}
        schemas[p.name] = {"type": "object", "properties": {**props_schema, "enforcementLevel": {"type": "string", "enum": list(LEVELS)}}, "required": list(p.configSchema.required)}
        defaults = {k: v["default"] for k, v in props_schema.items() if isinstance(v, dict) and "default" in v}
        result[p.name] = {"level": _level_name(p.enforcementLevel), "props": defaults}
    initial = {k: {"level": _level_name(v.enforcementLevel) if v.enforcementLevel else None, "props": json_format.MessageToDict(v.properties)} for k, v in info.initialConfig.items()}
    for layer in (initial, given):
        if "all" in layer and layer["all"]["level"]:
            for v in result.values():
                v["level"] = layer["all"]["level"]
        for name, cfg in layer.items():
            if name == "all":
                continue
            if name not in result:
                raise GateError(f"policy config for pack {pack}: no policy named {name!r}; known: {sorted(result)}")
            if cfg["level"]:
                result[name]["level"] = cfg["level"]
            result[name]["props"] = {**result[name]["props"], **cfg["props"]}
    errors = []
    for name, cfg in result.items():
        validator = jsonschema.Draft7Validator(schemas[name])
        for e in validator.iter_errors(cfg["props"]):
            path = ".".join(str(x) for x in e.absolute_path)
            errors.append(f"{pack}.{name}{'.' + path if path else ''}: {e.message}")
    if errors:
        raise GateError("policy config is invalid:\n  - " + "\n  - ".join(errors))
    return result


def _provider_message(urn: str, inputs: dict[str, Any]) -> Any:
    from pulumi.runtime.proto import analyzer_pb2

    type_part = urn.split("::")[-2] if urn.count("::") >= 3 else "pulumi:providers:unknown"
    return analyzer_pb2.AnalyzerProviderResource(type=type_part.split("$")[-1], urn=urn, name=urn.split("::")[-1], properties=_struct(inputs))


def _options_message(r: Any) -> Any:
    from pulumi.runtime.proto import analyzer_pb2

    o = r.options or {}
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(o.get("protect")),
        ignoreChanges=list(o.get("ignoreChanges") or []),
        deleteBeforeReplace=bool(o.get("deleteBeforeReplace")),
        deleteBeforeReplaceDefined="deleteBeforeReplace" in o,
        additionalSecretOutputs=list(o.get("additionalSecretOutputs") or []),
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(),
        parent=r.parent or "",
    )


class PackSession:
    """One pack process and its gRPC channel, for one plan. Use as a context manager."""

    def __init__(self, pack_dir: Path, *, project: str, stack: str, config: dict[str, Any], env: dict[str, str] | None = None, start_timeout: float = 60.0):
        self.pack_dir = pack_dir.resolve()
        self.project, self.stack, self.config = project, stack, config
        self.extra_env = env or {}
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.channel: Any = None
        self.stub: Any = None
        self._stderr = tempfile.TemporaryFile()

    def __enter__(self) -> PackSession:
        import grpc
        from pulumi.runtime.proto import analyzer_pb2_grpc

        env = {
            **os.environ,
            **self.extra_env,
            # What the CLI's constructEnv adds: stack config as key -> string, and the stack's identity.
            "PULUMI_CONFIG": json.dumps({k: v if isinstance(v, str) else json.dumps(v) for k, v in self.config.items()}),
            "PULUMI_PROJECT": self.project,
            "PULUMI_STACK": self.stack,
            "PULUMI_ORGANIZATION": "organization",
            "PULUMI_DRY_RUN": "true",
        }
        env.pop("PYTHONHOME", None)
        args = [pack_python(self.pack_dir), "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, "."]
        self.proc = subprocess.Popen(args, cwd=self.pack_dir, env=env, stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL)
        port = self._read_port()
        options = [("grpc.max_receive_message_length", 400 * 1024 * 1024), ("grpc.max_send_message_length", 400 * 1024 * 1024)]
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=options)
        grpc.channel_ready_future(self.channel).result(timeout=self.start_timeout)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        return self

    def _read_port(self) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=self.start_timeout)
        except queue.Empty:
            raise GateError(f"policy pack {self.pack_dir.name} did not print its port within {self.start_timeout:.0f} s{self._tail()}") from None
        try:
            return int(line.decode().strip())
        except ValueError:
            self.proc.wait(timeout=5)
            raise GateError(f"policy pack {self.pack_dir.name} failed to start (exit {self.proc.returncode}){self._tail()}") from None

    def _tail(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        return f":\n{text[-3000:]}" if text else ""

    def __exit__(self, *exc: Any) -> None:
        if self.channel is not None:
            self.channel.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()

    def handshake_and_info(self, tags: dict[str, str] | None = None) -> tuple[Any, str]:
        """Handshake (tolerated when unimplemented, as by the CLI), ConfigureStack, GetAnalyzerInfo, GetPluginInfo."""
        import grpc
        from google.protobuf import empty_pb2
        from pulumi.runtime.proto import analyzer_pb2

        try:
            self.stub.Handshake(analyzer_pb2.AnalyzerHandshakeRequest(engine_address=ENGINE_ADDRESS, root_directory=str(self.pack_dir), program_directory=str(self.pack_dir)))
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
        try:
            request = analyzer_pb2.AnalyzerStackConfigureRequest(stack=self.stack, project=self.project, organization="organization", dry_run=True)
            for k, v in self.config.items():
                request.config[k] = v if isinstance(v, str) else json.dumps(v)
            for k, v in (tags or {}).items():
                request.tags[k] = v
            self.stub.ConfigureStack(request)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
        info = self.stub.GetAnalyzerInfo(empty_pb2.Empty())
        plugin = self.stub.GetPluginInfo(empty_pb2.Empty())
        return info, plugin.version

    def configure(self, reconciled: dict[str, dict[str, Any]]) -> None:
        from pulumi.runtime.proto import analyzer_pb2

        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, cfg in reconciled.items():
            request.policyConfig[name].CopyFrom(analyzer_pb2.PolicyConfig(enforcementLevel=_level_value(cfg["level"]), properties=_struct(cfg["props"])))
        self.stub.Configure(request)

    def analyze(self, resources: list[Any], requests: AnalyzerRequests | None = None) -> list[Any]:
        """Analyze every non-provider resource (requests pipelined), then AnalyzeStack once."""
        requests = requests or AnalyzerRequests.of(resources)
        futures = [(req.urn, self.stub.Analyze.future(req)) for req in requests.analyze]
        diagnostics = []
        for urn, future in futures:
            for d in future.result().diagnostics:
                if not d.urn:
                    d.urn = urn  # as the engine does: a resource policy's violation is about that resource
                diagnostics.append(d)
        response = self.stub.AnalyzeStack(requests.stack)
        return diagnostics + list(response.diagnostics)


@dataclass
class AnalyzerRequests:
    """The plan as analyzer messages, built once and sent to every pack."""

    analyze: list[Any]
    stack: Any

    @classmethod
    def of(cls, resources: list[Any]) -> AnalyzerRequests:
        from pulumi.runtime.proto import analyzer_pb2

        providers: dict[str, Any] = {}
        analyze, stack_resources = [], []
        for r in resources:
            provider = None
            if r.provider:
                provider = providers.get(r.provider)
                if provider is None:
                    provider = providers[r.provider] = _provider_message(r.provider, r.provider_inputs)
            props = _struct(r.inputs)
            options = _options_message(r)
            if not r.type.startswith("pulumi:providers:"):
                analyze.append(analyzer_pb2.AnalyzeRequest(type=r.type, urn=r.urn, name=r.name, properties=props, options=options, provider=provider))
            stack_resources.append(
                analyzer_pb2.AnalyzerResource(type=r.type, urn=r.urn, name=r.name, properties=props, options=options, provider=provider, parent=r.parent or "", dependencies=list((r.options or {}).get("dependsOn") or []))
            )
        return cls(analyze, analyzer_pb2.AnalyzeStackRequest(resources=stack_resources))


def _severity_name(value: int) -> str:
    from pulumi.runtime.proto import analyzer_pb2

    name = analyzer_pb2.PolicySeverity.Name(value).lower().replace("policy_severity_", "")
    return "" if name == "unspecified" else name


def _finding(d: Any, pack_dir: Path, names: dict[str, str]) -> Finding:
    message = d.message
    if d.description and message.startswith(d.description):
        message = message[len(d.description):].lstrip("\n")
    return Finding(
        source="policy",
        pack=d.policyPackName,
        policy=d.policyName,
        enforcement=_level_name(d.enforcementLevel),
        message=message or d.description,
        urn=d.urn,
        resource=names.get(d.urn, "stack" if not d.urn else d.urn),
        severity=_severity_name(d.severity),
        description=d.description,
        file=pack_dir.name,
    )


def run_pack(pack_dir: Path, plan: Any, pack_config: dict[str, dict[str, Any]] | None = None, env: dict[str, str] | None = None, requests: Any = None) -> tuple[PackInfo, list[Finding]]:
    """Start one pack, configure it, analyze the plan, stop it. `requests` (or a Future of them):
    the plan's analyzer messages, when several packs share them."""
    names = {r.urn: f"{r.name} ({r.type})" for r in plan.resources}
    with PackSession(pack_dir, project=plan.project, stack=plan.stack, config=plan.config, env=env) as session:
        info, plugin_version = session.handshake_and_info()
        reconciled = reconcile_config(info, pack_config or {}, pack_dir.name)
        session.configure(reconciled)
        if hasattr(requests, "result"):  # a Future: built while this pack started
            requests = requests.result()
        diagnostics = session.analyze(plan.resources, requests)
    policies = {
        p.name: {"description": p.description, "enforcement": reconciled[p.name]["level"], "severity": _severity_name(p.severity), "type": "stack" if p.policy_type == 2 else "resource"}
        for p in info.policies
    }
    pack = PackInfo(directory=pack_dir.name, name=info.name, version=info.version, policies=policies, plugin_version=plugin_version)
    return pack, [_finding(d, pack_dir, names) for d in diagnostics]


def run_packs(plan: Any, packs: list[Path], policy_doc: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> tuple[list[PackInfo], list[Finding]]:
    """Every pack in parallel (one process each); findings in pack order."""
    configs = {p.name: parse_pack_config(((policy_doc or {}).get("packs") or {}).get(p.name), f"policy.yaml packs.{p.name}") for p in packs}
    with ThreadPoolExecutor(max_workers=len(packs) + 1) as pool:
        requests = pool.submit(AnalyzerRequests.of, plan.resources)  # built while the packs start
        results = list(pool.map(lambda p: run_pack(p, plan, configs[p.name], env, requests), packs))
    return [r[0] for r in results], [f for r in results for f in r[1]]


# --------------------------------------------------------------------------------------------
# Kubernetes: schemas and checkov
# --------------------------------------------------------------------------------------------


def manifest_files(manifest_dir: Path) -> list[Path]:
    """Kubernetes manifests under `manifest_dir` (helm/ holds chart pins + values, not objects)."""
    if not manifest_dir.is_dir():
        return []
    return sorted(p for p in manifest_dir.rglob("*.y*ml") if "helm" not in p.relative_to(manifest_dir).parts[:1])


_SCHEMA_CACHE: dict[str, Any] = {}
# The offline engine masks secrets and marks unknowns with these strings; they are not errors.
OFFLINE_PLACEHOLDERS = ("[secret]", "[unknown]")


def _schema_dir(kubernetes_version: str) -> tuple[Path, str]:
    import kubernetes_validate
    from packaging.version import Version

    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    want = Version(".".join(kubernetes_version.lstrip("v").split(".")[:2]))
    versions = sorted({Version(p.name[1:].split("-")[0]) for p in base.iterdir() if p.name.startswith("v") and p.name.endswith("-local-strict")})
    usable = [v for v in versions if Version(f"{v.major}.{v.minor}") <= want]
    if not usable:
        raise GateError(f"no Kubernetes schemas for {kubernetes_version} (have {versions[0]}..{versions[-1]})")
    chosen = usable[-1]
    return base / f"v{chosen}-local-strict", f"{chosen.major}.{chosen.minor}"


def _validator(schema_dir: Path, kind: str, api_version: str) -> Any:
    import re

    import jsonschema
    from referencing import Registry, Resource

    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = schema_dir / f"{kind.lower()}-{group}.json"
    key = str(path)
    if key not in _SCHEMA_CACHE:
        if not path.exists():
            _SCHEMA_CACHE[key] = None
        else:
            defs_key = str(schema_dir / "_definitions.json")
            if defs_key not in _SCHEMA_CACHE:
                _SCHEMA_CACHE[defs_key] = Resource.from_contents(json.loads((schema_dir / "_definitions.json").read_text()))
            schema = json.loads(path.read_text())
            registry = Resource.from_contents(schema) @ (_SCHEMA_CACHE[defs_key] @ Registry())
            _SCHEMA_CACHE[key] = jsonschema.Draft202012Validator(schema, registry=registry)
    return _SCHEMA_CACHE[key]


def validate_schemas(manifest_dir: Path, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION, urns: dict[str, str] | None = None) -> list[Finding]:
    """Validate every manifest under `manifest_dir` (not helm/) against the Kubernetes JSON schemas of
    `kubernetes_version` (strict: unknown fields are errors), offline, from the kubernetes-validate
    package. Returns one mandatory Finding per error (kinds without a schema, such as CRDs, give an
    advisory Finding). `urns` maps a manifest's path relative to `manifest_dir` to its resource URN.
    """
    try:
        schema_dir, used = _schema_dir(kubernetes_version)
    except ImportError:
        return [Finding("schema", "kubernetes-schemas", "schema-validation-available", MANDATORY, "Kubernetes schema validation cannot run: the kubernetes-validate package is missing. Fix: run scripts/setup.sh (or `.venv/bin/pip install kubernetes-validate`).")]
    findings = []
    for path in manifest_files(manifest_dir):
        rel = str(path.relative_to(manifest_dir))
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        except yaml.YAMLError as e:
            findings.append(Finding("schema", "kubernetes-schemas", "manifest-parses", MANDATORY, f"{rel}: not valid YAML ({e}). Fix: correct the resource that renders it.", file=rel))
            continue
        for doc in docs:
            kind, api = doc.get("kind"), doc.get("apiVersion")
            name = (doc.get("metadata") or {}).get("name", "?")
            label = f"{kind}/{name}"
            urn = (urns or {}).get(rel, "")
            if not kind or not api:
                findings.append(Finding("schema", "kubernetes-schemas", "manifest-has-kind", MANDATORY, f"{rel}: object without apiVersion/kind. Fix: set both on the Kubernetes resource.", urn=urn, resource=rel, file=rel))
                continue
            validator = _validator(schema_dir, kind, api)
            group = api.split("/")[0] if "/" in api else ""
            if validator is None and "." in group and not group.endswith(".k8s.io"):
                continue  # a custom resource (karpenter.sh, monitoring.coreos.com): its CRD comes with its chart
            if validator is None:
                findings.append(Finding("schema", "kubernetes-schemas", "schema-known", ADVISORY, f"{label} in {rel}: no Kubernetes {used} schema for {api} {kind} (a CRD?), so it was not validated. Fix: nothing if it is a CRD installed by a chart; otherwise check apiVersion/kind.", urn=urn, resource=label, file=rel))
                continue
            errors = [e for e in validator.iter_errors(doc) if e.instance not in OFFLINE_PLACEHOLDERS]
            for error in sorted(errors, key=lambda e: list(e.absolute_path))[:10]:
                where = "/".join(str(p) for p in error.absolute_path) or "(root)"
                findings.append(Finding("schema", "kubernetes-schemas", f"schema-{kind.lower()}", MANDATORY, f"{label} in {rel}: `{where}`: {error.message} (Kubernetes {used} schema). Fix: correct that field in the resource's inputs.", urn=urn, resource=label, file=rel))
    return findings


@dataclass
class CheckovRun:
    """A checkov process started on a manifest folder; `result()` waits and parses its JSON."""

    proc: subprocess.Popen | None
    manifest_dir: Path
    skip: dict[str, str]
    mandatory_checks: tuple[str, ...]
    default_level: str
    urns: dict[str, str]
    missing: str = ""
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    def result(self, timeout: float = 300) -> list[Finding]:
        if self.missing:
            return [Finding("checkov", "checkov", "checkov-available", MANDATORY, self.missing)]
        if self.proc is None:
            return []
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            return [Finding("checkov", "checkov", "checkov-finished", MANDATORY, f"checkov did not finish within {timeout:.0f} s on {self.manifest_dir}. Fix: run it by hand to see why.")]
        self.seconds = time.perf_counter() - self.started
        return parse_checkov(out.decode(errors="replace"), err.decode(errors="replace"), self.proc.returncode, self.mandatory_checks, self.default_level, self.urns)


def warm_checkov(checkov: Path = CHECKOV) -> subprocess.Popen | None:
    """Start checkov's interpreter now so its slow import overlaps the plan; `start_checkov(warm=...)`
    hands it the arguments later. None when checkov is not installed."""
    python = Path(checkov).parent / "python"
    if not python.exists():
        return None
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"}
    env.pop("PYTHONPATH", None)
    runner = Path(__file__).resolve().parent / "checkov_runner.py"
    return subprocess.Popen([str(python), str(runner)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def start_checkov(
    manifest_dir: Path,
    *,
    skip: dict[str, str] | None = None,
    mandatory_checks: Iterable[str] = ("CKV_SAHAB_*",),
    default_level: str = ADVISORY,
    allowed_registries: Iterable[str] = (),
    urns: dict[str, str] | None = None,
    checkov: Path = CHECKOV,
    warm: subprocess.Popen | None = None,
) -> CheckovRun:
    """Start checkov (its own venv) on the manifests with Sahab's custom checks and suppressions.
    With `warm` (from `warm_checkov`), the already-started interpreter runs the scan."""
    skip = {**SUPPRESSIONS, **(skip or {})}
    run = CheckovRun(None, manifest_dir, skip, tuple(mandatory_checks), default_level, urns or {})
    if not manifest_files(manifest_dir):
        _release(warm)
        return run
    if not Path(checkov).exists():
        _release(warm)
        run.missing = f"checkov is not installed at {checkov}. Fix: run scripts/setup.sh (it creates .venv-checkov; checkov cannot share .venv with pulumi)."
        return run
    args = [
        "-d", str(manifest_dir), "--framework", "kubernetes", "--external-checks-dir", str(CHECKS_DIR),
        "--skip-path", "helm", "-o", "json", "--quiet", "--compact", "--skip-download", "--skip-check", ",".join(sorted(skip)),
    ]
    registries = ",".join(allowed_registries)
    if warm is not None and warm.poll() is None:
        # The registry allow-list reaches the custom checks through the environment the runner sets.
        warm.stdin.write((json.dumps({"argv": args, "env": {"SAHAB_ALLOWED_REGISTRIES": registries}}) + "\n").encode())
        warm.stdin.flush()  # not close(): communicate() closes it when collecting the result
        run.proc = warm
        return run
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"}
    if registries:
        env["SAHAB_ALLOWED_REGISTRIES"] = registries
    run.proc = subprocess.Popen([str(checkov), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    return run


def _release(warm: subprocess.Popen | None) -> None:
    if warm is not None and warm.poll() is None:
        try:
            warm.stdin.close()
        except OSError:
            pass
        warm.wait(timeout=30)


def run_checkov(manifest_dir: Path, **options: Any) -> list[Finding]:
    """Run checkov on `manifest_dir` (framework kubernetes, helm/ skipped) from .venv-checkov with
    Sahab's custom checks (sahab/checkov_checks, CKV_SAHAB_*) and the documented SUPPRESSIONS.
    CKV_SAHAB_* failures are mandatory, checkov's own checks advisory (see `start_checkov`)."""
    return start_checkov(manifest_dir, **options).result()


def parse_checkov(stdout: str, stderr: str, returncode: int, mandatory_checks: Iterable[str] = ("CKV_SAHAB_*",), default_level: str = ADVISORY, urns: dict[str, str] | None = None) -> list[Finding]:
    try:
        doc = json.loads(stdout) if stdout.strip() else {}
    except json.JSONDecodeError:
        return [Finding("checkov", "checkov", "checkov-output", MANDATORY, f"checkov exited {returncode} without JSON output: {(stderr or stdout)[-1500:]}. Fix: run checkov by hand on the manifests to see the error.")]
    reports = doc if isinstance(doc, list) else [doc]
    findings = []
    for report in reports:
        for check in ((report or {}).get("results") or {}).get("failed_checks") or []:
            cid = check.get("check_id", "?")
            level = MANDATORY if any(fnmatch.fnmatchcase(cid, p) for p in mandatory_checks) else default_level
            rel = str(check.get("file_path", "")).lstrip("/")
            guide = check.get("guideline") or ""
            fix = f"see {guide}" if guide else "change the Kubernetes resource that renders this manifest, or suppress the check in policy.yaml `checkov.skip` with a reason"
            findings.append(
                Finding(
                    "checkov", "checkov", cid, level,
                    f"{check.get('resource')} in {rel}: {check.get('check_name')}. Fix: {fix}.",
                    urn=(urns or {}).get(rel, ""), resource=str(check.get("resource", "")), file=rel, description=str(check.get("check_name", "")),
                )
            )
    return findings


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------


def write_reports(result: GateResult, out_dir: Path) -> dict[str, Path]:
    """report.json, report.md (pull-request comment) and report.sarif (code scanning)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "md": out_dir / "report.md", "sarif": out_dir / "report.sarif"}
    paths["json"].write_text(json.dumps(report_json(result), indent=1))
    paths["md"].write_text(report_markdown(result))
    paths["sarif"].write_text(json.dumps(report_sarif(result), indent=1))
    return paths


def report_json(result: GateResult) -> dict[str, Any]:
    return {
        "project": result.project,
        "stack": result.stack,
        "environment": result.environment,
        "passed": result.mandatory == 0,
        "mandatory": result.mandatory,
        "advisory": result.advisory,
        "resources": result.resources,
        "manifests": result.manifests,
        "violations": [f.contract() for f in result.findings],
        "findings": [asdict(f) for f in result.findings],
        "packs": [asdict(p) for p in result.packs],
        "suppressions": result.suppressions,
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
    }


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report_markdown(result: GateResult, limit: int = 60000) -> str:
    ok = result.mandatory == 0
    head = [
        f"## {'✅' if ok else '❌'} Sahab policy gate: `{result.environment or result.project}` (stack `{result.stack}`)",
        "",
        f"{result.resources} resources, {result.manifests} Kubernetes manifests; **{result.mandatory} mandatory**, {result.advisory} advisory "
        f"({'passes' if ok else 'blocks the merge'}). No cloud credentials were used: the plan comes from the offline engine.",
        "",
        "| check | mandatory | advisory |",
        "|---|---:|---:|",
    ]
    sources: dict[str, list[Finding]] = {}
    for f in result.findings:
        sources.setdefault(f.pack, []).append(f)
    for pack in [p.name for p in result.packs] + ["kubernetes-schemas", "checkov"]:
        fs = sources.get(pack, [])
        head.append(f"| {pack} | {sum(f.mandatory for f in fs)} | {sum(not f.mandatory for f in fs)} |")
    lines = head + [""]
    if result.findings:
        lines += ["| | policy | resource | what is wrong, and the fix |", "|---|---|---|---|"]
        for f in sorted(result.findings, key=lambda f: (not f.mandatory, f.pack, f.policy, f.resource)):
            row = f"| {'🛑' if f.mandatory else '⚠️'} | `{f.pack}/{f.policy}` | {_md_cell(f.resource or f.urn or 'stack')} | {_md_cell(f.message)} |"
            if sum(len(x) + 1 for x in lines) + len(row) > limit:
                lines.append(f"| | … | | {len(result.findings)} findings in all: see report.json |")
                break
            lines.append(row)
        lines.append("")
    if result.suppressions:
        lines += ["<details><summary>Suppressed checkov checks (with reasons)</summary>", ""]
        lines += [f"- `{cid}`: {why}" for cid, why in sorted(result.suppressions.items())]
        lines += ["", "</details>", ""]
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    lines.append(f"<sub>{timing}</sub>")
    return "\n".join(lines) + "\n"


def report_sarif(result: GateResult) -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {}
    for pack in result.packs:
        for name, p in pack.policies.items():
            rules[f"{pack.name}/{name}"] = {"id": f"{pack.name}/{name}", "name": name, "shortDescription": {"text": p["description"]}, "properties": {"pack": pack.name, "severity": p["severity"], "enforcement": p["enforcement"]}}
    results = []
    for f in result.findings:
        rule_id = f"{f.pack}/{f.policy}"
        rules.setdefault(rule_id, {"id": rule_id, "name": f.policy, "shortDescription": {"text": f.description or f.policy}, "properties": {"pack": f.pack}})
        uri = f"{result.config_file}" if f.source == "policy" or not f.file else f"manifests/{f.file}"
        results.append(
            {
                "ruleId": rule_id,
                "ruleIndex": list(rules).index(rule_id),
                "level": "error" if f.mandatory else "warning",
                "message": {"text": f.message},
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": {"uri": uri or "Pulumi.yaml"}, "region": {"startLine": 1}},
                        "logicalLocations": [{"fullyQualifiedName": f.urn or "stack", "kind": "resource"}],
                    }
                ],
                "properties": {"enforcement": f.enforcement, "source": f.source, "resource": f.resource},
            }
        )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "sahab-gate", "informationUri": "https://example.ae/sahab", "rules": list(rules.values())}}, "results": results}],
    }


def print_table(result: GateResult, console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    # CI logs are not terminals: give the table room instead of folding it into a column of letters.
    console = console or Console(width=None if sys.stdout.isatty() else 180)
    if result.findings:
        table = Table(title=f"Policy gate: {result.environment or result.project} ({result.stack})", show_lines=True, expand=True)
        table.add_column("level", no_wrap=True, min_width=9)
        table.add_column("policy", overflow="fold", min_width=20, ratio=1)
        table.add_column("resource", overflow="fold", min_width=20, ratio=1)
        table.add_column("what is wrong, and the fix", overflow="fold", min_width=40, ratio=3)
        for f in sorted(result.findings, key=lambda f: (not f.mandatory, f.pack, f.policy, f.resource)):
            level = "[bold red]mandatory[/]" if f.mandatory else "[yellow]advisory[/]"
            table.add_row(level, f"{f.pack}/{f.policy}", f.resource or f.urn or "stack", f.message)
        console.print(table)
    verdict = "[bold green]passed[/]" if result.mandatory == 0 else "[bold red]failed[/]"
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    console.print(f"{verdict}: {result.mandatory} mandatory, {result.advisory} advisory over {result.resources} resources, {result.manifests} manifests ({timing})")


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def load_policy_doc(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {}
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise GateError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(doc, dict) or not set(doc) <= {"packs", "checkov"}:
        raise GateError(f"{path}: top-level keys are `packs` (per pack, the --policy-pack-config of that pack) and `checkov`")
    return doc


def _backend_config(repo: Path, env: str, doc: dict[str, Any]) -> dict[str, Any]:
    """Fill pulumi-state-backend-in-region from environments/<env>/backend.yaml when policy.yaml does not."""
    path = repo / "environments" / env / "backend.yaml"
    if not path.exists():
        return doc
    recorded = yaml.safe_load(path.read_text()) or {}
    packs = dict(doc.get("packs") or {})
    residency = dict(packs.get("uae_residency") or {})
    policy = residency.get("pulumi-state-backend-in-region")
    policy = {"enforcementLevel": policy} if isinstance(policy, str) else dict(policy or {})
    policy.setdefault("backendUrl", recorded.get("url") or "")
    policy.setdefault("secretsProvider", recorded.get("secrets_provider") or "")
    residency["pulumi-state-backend-in-region"] = policy
    packs["uae_residency"] = residency
    return {**doc, "packs": packs}


def _manifest_urns(plan: Any) -> dict[str, str]:
    """Manifest path (relative to manifests/) -> URN of the resource it was rendered from."""
    from sahab.render import manifests

    return {rel: r.urn for r in plan.resources if r.type.startswith("kubernetes:") for rel, _ in manifests([r])}


def _registries(doc: dict[str, Any]) -> list[str]:
    cfg = ((doc.get("packs") or {}).get("uae_residency") or {}).get("kubernetes-images-in-region")
    if isinstance(cfg, dict) and cfg.get("allowedRegistries"):
        return list(cfg["allowedRegistries"])
    from policy_packs.uae_residency.kubernetes_images import ALLOWED_REGISTRIES

    return list(ALLOWED_REGISTRIES["default"])


def gate_plan(plan: Any, out_dir: Path, *, policy_doc: dict[str, Any], packs: list[Path], environment: str = "", kubernetes_version: str | None = None, config_file: str = "", kubernetes: bool = True, warm: subprocess.Popen | None = None) -> GateResult:
    """Judge an already planned program; manifests are expected under out_dir/manifests."""
    result = GateResult(project=plan.project, stack=plan.stack, environment=environment, resources=len(plan.resources), config_file=config_file)
    manifest_dir = out_dir / "manifests"
    checkov_cfg = policy_doc.get("checkov") or {}
    urns = _manifest_urns(plan) if kubernetes else {}
    run = None
    if kubernetes:
        result.manifests = len(manifest_files(manifest_dir))
        skip = {str(k): str(v) for k, v in (checkov_cfg.get("skip") or {}).items()}
        result.suppressions = {**SUPPRESSIONS, **skip}
        run = start_checkov(
            manifest_dir,
            skip=skip,
            mandatory_checks=tuple(checkov_cfg.get("mandatory") or ("CKV_SAHAB_*",)),
            default_level=str(checkov_cfg.get("enforcementLevel") or ADVISORY),
            allowed_registries=_registries(policy_doc),
            urns=urns,
            warm=warm,
        )
    started = time.perf_counter()
    try:
        infos, findings = run_packs(plan, packs, policy_doc)
    except BaseException:
        if run is not None and run.proc is not None:
            run.proc.kill()
        raise
    result.timings["packs"] = time.perf_counter() - started
    result.packs = infos
    result.findings.extend(findings)
    if kubernetes:
        started = time.perf_counter()
        result.findings.extend(validate_schemas(manifest_dir, kubernetes_version or DEFAULT_KUBERNETES_VERSION, urns))
        result.timings["schemas"] = time.perf_counter() - started
        result.findings.extend(run.result())
        result.timings["checkov"] = run.seconds
    return result


def write_pack_configs(doc: dict[str, Any], packs: list[Path], out_dir: Path) -> list[Path]:
    """One `--policy-pack-config` JSON per pack (`policy-config-<pack>.json`, the names `sahab up`
    uses), so `pulumi preview --policy-pack policy_packs/<pack> --policy-pack-config ...` runs
    with exactly the config the gate used."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for pack in packs:
        path = out_dir / f"policy-config-{pack.name}.json"
        path.write_text(json.dumps((doc.get("packs") or {}).get(pack.name) or {}, indent=1))
        paths.append(path)
    return paths


def _kubernetes_version(plan: Any) -> str:
    platform = plan.config.get("sahab:platform")
    if isinstance(platform, str):
        try:
            platform = json.loads(platform)
        except json.JSONDecodeError:
            platform = {}
    return str(((platform or {}).get("cluster") or {}).get("kubernetes_version") or DEFAULT_KUBERNETES_VERSION)


def check_environment(repo: Path, env: str, stack: str | None = None, out: Path | None = None, fmt: str = "text", packs: Iterable[str] = ()) -> int:
    """`sahab check <env>`: plan, every pack with environments/<env>/policy.yaml, Kubernetes schemas,
    checkov; reports in `out` (default .sahab/<env>/). Exit 0 pass, 1 mandatory violation, 2 error."""
    from rich.console import Console

    from sahab.offline import ProgramError, plan_environment, write_plan

    err = Console(stderr=True)
    out_dir = out or repo / ".sahab" / env
    t0 = time.perf_counter()
    warm = warm_checkov()  # imports checkov while the plan runs
    try:
        doc = _backend_config(repo, env, load_policy_doc(repo / "environments" / env / "policy.yaml"))
        pack_dirs = discover_packs(packs, repo / "policy_packs" if (repo / "policy_packs").is_dir() else PACKS_DIR)
        plan = plan_environment(repo, env, stack)
        t_plan = time.perf_counter() - t0
        write_plan(plan, out_dir)
        write_pack_configs(doc, pack_dirs, out_dir)
        config_file = f"environments/{env}/Pulumi.{plan.stack}.yaml"
        result = gate_plan(plan, out_dir, policy_doc=doc, packs=pack_dirs, environment=env, kubernetes_version=_kubernetes_version(plan), config_file=config_file, warm=warm)
    except BaseException as e:
        if warm is not None and warm.poll() is None:
            warm.kill()
            warm.wait()
        if not isinstance(e, (ProgramError, GateError)):
            raise
        err.print(f"[red]error:[/] {e}")
        return 2
    result.timings = {"plan": t_plan, **result.timings, "total": time.perf_counter() - t0}
    paths = write_reports(result, out_dir)
    _emit(result, fmt)
    if fmt == "text":
        Console().print(f"reports: {', '.join(_rel(p, repo) for p in paths.values())}")
    return 1 if result.mandatory else 0


def policy_check(program_dir: Path, stack: str = "dev", packs: list[str] | None = None, policy_config: Path | None = None, fmt: str = "text", out: Path | None = None, kubernetes: bool = False) -> int:
    """`sahab policy check DIR`: run any Pulumi Python program offline (config from DIR/Pulumi.<stack>.yaml)
    and every pack (or `packs`) over it. With `kubernetes`, also schemas and checkov on its manifests.
    Exit 0 pass, 1 mandatory violation, 2 when the program (or the gate's config) fails."""
    from rich.console import Console

    from sahab.offline import ProgramError, read_project, read_stack_config, run_program, write_plan

    err = Console(stderr=True)
    program_dir = Path(program_dir).resolve()
    t0 = time.perf_counter()
    try:
        doc = load_policy_doc(policy_config)
        if policy_config is not None and not policy_config.exists():
            raise GateError(f"--policy-config {policy_config}: no such file")
        pack_dirs = discover_packs(packs or [])
        project, entry = read_project(program_dir)
        config = read_stack_config(program_dir / f"Pulumi.{stack}.yaml", project)
        plan = run_program(program_dir, stack, config, project=project, entry=entry)
        t_plan = time.perf_counter() - t0
        with tempfile.TemporaryDirectory(prefix="sahab-policy-") as tmp:
            work = out or Path(tmp)
            if kubernetes:
                write_plan(plan, work)
            result = gate_plan(plan, work, policy_doc=doc, packs=pack_dirs, environment="", config_file="Pulumi.yaml", kubernetes=kubernetes)
            if out is not None:
                write_reports(result, out)
    except (ProgramError, GateError) as e:
        err.print(f"[red]error:[/] {e}")
        return 2
    result.timings = {"plan": t_plan, **result.timings, "total": time.perf_counter() - t0}
    _emit(result, fmt)
    return 1 if result.mandatory else 0


def _emit(result: GateResult, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps({"violations": [f.contract() for f in result.findings], "mandatory": result.mandatory}, indent=1))
    else:
        print_table(result)


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
