"""Policy packs over the analyzer protocol: each pack runs as its own process, started the way the
CLI's `pulumi-analyzer-policy-python` starts it, and the gate speaks the analyzer gRPC protocol to it."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sahab.gate.model import LEVELS, REPO, Finding, GateError, PackInfo

if TYPE_CHECKING:  # imported lazily at run time (the gRPC modules load only when a pack runs)
    from sahab.engine.internals import analyzer_pb2

PACKS_DIR = REPO / "policy_packs"
# The CLI passes its own engine address; Python packs only parse it. Nothing listens here.
ENGINE_ADDRESS = "127.0.0.1:0"


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


def _level_name(value: analyzer_pb2.EnforcementLevel.ValueType) -> str:
    from sahab.engine.internals import analyzer_pb2

    return analyzer_pb2.EnforcementLevel.Name(value).lower()


def _level_value(name: str) -> analyzer_pb2.EnforcementLevel.ValueType:
    from sahab.engine.internals import analyzer_pb2

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
        schemas[p.name] = {
            "type": "object",
            "properties": {**props_schema, "enforcementLevel": {"type": "string", "enum": list(LEVELS)}},
            "required": list(p.configSchema.required),
        }
        defaults = {k: v["default"] for k, v in props_schema.items() if isinstance(v, dict) and "default" in v}
        result[p.name] = {"level": _level_name(p.enforcementLevel), "props": defaults}
    initial: dict[str, dict[str, Any]] = {
        k: {"level": _level_name(v.enforcementLevel) if v.enforcementLevel else None, "props": json_format.MessageToDict(v.properties)}
        for k, v in info.initialConfig.items()
    }
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
    from sahab.engine.internals import analyzer_pb2

    type_part = urn.split("::")[-2] if urn.count("::") >= 3 else "pulumi:providers:unknown"
    return analyzer_pb2.AnalyzerProviderResource(type=type_part.split("$")[-1], urn=urn, name=urn.split("::")[-1], properties=_struct(inputs))


def _options_message(r: Any) -> Any:
    from sahab.engine.internals import analyzer_pb2

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
        from sahab.engine.internals import analyzer_pb2_grpc, grpc

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
        stdout = self.proc.stdout
        lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
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
        from google.protobuf import empty_pb2

        from sahab.engine.internals import analyzer_pb2, grpc

        try:
            self.stub.Handshake(
                analyzer_pb2.AnalyzerHandshakeRequest(engine_address=ENGINE_ADDRESS, root_directory=str(self.pack_dir), program_directory=str(self.pack_dir))
            )
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
        from sahab.engine.internals import analyzer_pb2

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
        from sahab.engine.internals import analyzer_pb2

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
                analyzer_pb2.AnalyzerResource(
                    type=r.type,
                    urn=r.urn,
                    name=r.name,
                    properties=props,
                    options=options,
                    provider=provider,
                    parent=r.parent or "",
                    dependencies=list((r.options or {}).get("dependsOn") or []),
                )
            )
        return cls(analyze, analyzer_pb2.AnalyzeStackRequest(resources=stack_resources))


def _severity_name(value: analyzer_pb2.PolicySeverity.ValueType) -> str:
    from sahab.engine.internals import analyzer_pb2

    name = analyzer_pb2.PolicySeverity.Name(value).lower().replace("policy_severity_", "")
    return "" if name == "unspecified" else name


def _finding(d: Any, pack_dir: Path, names: dict[str, str]) -> Finding:
    message = d.message
    if d.description and message.startswith(d.description):
        message = message[len(d.description) :].lstrip("\n")
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


def run_pack(
    pack_dir: Path, plan: Any, pack_config: dict[str, dict[str, Any]] | None = None, env: dict[str, str] | None = None, requests: Any = None
) -> tuple[PackInfo, list[Finding]]:
    """Start one pack, configure it, analyze the plan, stop it. `requests` (or a Future of them):
    the plan's analyzer messages, when several packs share them."""
    from sahab.engine.internals import analyzer_pb2

    names = {r.urn: f"{r.name} ({r.type})" for r in plan.resources}
    with PackSession(pack_dir, project=plan.project, stack=plan.stack, config=plan.config, env=env) as session:
        info, plugin_version = session.handshake_and_info()
        reconciled = reconcile_config(info, pack_config or {}, pack_dir.name)
        session.configure(reconciled)
        if hasattr(requests, "result"):  # a Future: built while this pack started
            requests = requests.result()
        diagnostics = session.analyze(plan.resources, requests)
    policies = {
        p.name: {
            "description": p.description,
            "enforcement": reconciled[p.name]["level"],
            "severity": _severity_name(p.severity),
            "type": "stack" if p.policy_type == analyzer_pb2.POLICY_TYPE_STACK else "resource",
        }
        for p in info.policies
    }
    pack = PackInfo(directory=pack_dir.name, name=info.name, version=info.version, policies=policies, plugin_version=plugin_version)
    return pack, [_finding(d, pack_dir, names) for d in diagnostics]


def run_packs(
    plan: Any, packs: list[Path], policy_doc: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> tuple[list[PackInfo], list[Finding]]:
    """Every pack in parallel (one process each); findings in pack order."""
    configs = {p.name: parse_pack_config(((policy_doc or {}).get("packs") or {}).get(p.name), f"policy.yaml packs.{p.name}") for p in packs}
    with ThreadPoolExecutor(max_workers=len(packs) + 1) as pool:
        requests = pool.submit(AnalyzerRequests.of, plan.resources)  # built while the packs start
        results = list(pool.map(lambda p: run_pack(p, plan, configs[p.name], env, requests), packs))
    return [r[0] for r in results], [f for r in results for f in r[1]]
