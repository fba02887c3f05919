"""The offline engine: runs any Pulumi Python program in-process on Pulumi's own mocks.

It stands in for the engine the way Pulumi's unit-testing harness does (`set_mocks`), but records
everything the engine would know about each registration: urn, type, parent, provider and the
provider's inputs (default providers are synthesised from stack config, as the CLI does), resource
options and inputs in the engine's camelCase. The result is a `Plan`, written as plan.json.

No credentials, no network, no Pulumi CLI: what is proven here is the program's own logic and the
shape of what it would ask the providers for.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import json
import logging
import runpy
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import empty_pb2, struct_pb2

from sahab.engine import internals as pi
from sahab.engine.mocks import ProviderMocks
from workloads.errors import SahabError

log = logging.getLogger("sahab.engine.offline")
SECRET = "[secret]"
UNKNOWN = "[unknown]"


class ProgramError(SahabError, RuntimeError):
    """The Pulumi program itself failed (bad config, an exception in the program).

    `registered` lists the URNs registered before the failure (besides the root stack), so callers
    and tests can prove a bad spec stopped the run before any resource. Exit 2: the input is wrong.
    """

    exit_code = 2

    def __init__(self, message: str, registered: tuple[str, ...] = ()):
        super().__init__(message)
        self.registered = registered


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str
    provider: str
    provider_inputs: dict[str, Any]
    inputs: dict[str, Any]
    options: dict[str, Any]
    custom: bool
    outputs: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "provider": self.provider,
            "provider_inputs": self.provider_inputs,
            "inputs": self.inputs,
            "options": self.options,
            "custom": self.custom,
        }


@dataclass
class Plan:
    project: str
    stack: str
    config: dict[str, Any]
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "config": self.config,
            "resources": [r.to_json() for r in self.resources],
            "outputs": self.outputs,
        }

    def by_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def get(self, urn: str) -> PlannedResource:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise KeyError(urn)


def _clean(value: Any) -> Any:
    """Engine values to JSON: secrets masked, unknowns marked, resource references as URNs."""
    if pi.is_rpc_secret(value):
        return SECRET
    if value is pi.UNKNOWN or (isinstance(value, str) and value == pi.UNKNOWN):
        return UNKNOWN
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire carries every number as a double
    if hasattr(value, "urn") and hasattr(value, "__class__") and not isinstance(value, (str, int, float, bool)):
        return str(getattr(value, "_sahab_urn", "")) or "[resource]"
    return value


def _is_api_version_alias(alias: Any) -> bool:
    """`Alias(type_="azure-native:containerservice/v20230102:ManagedCluster")`: a past API version."""
    type_ = getattr(alias, "type_", None)
    return isinstance(type_, str) and type_.startswith("azure-native:") and type_.split(":")[1].count("/") == 1


def _without_api_version_aliases(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
    """pulumi-azure-native gives every resource an alias per past API version of its type (dozens
    each) so state written by older versions migrates. A plan has no old state, and resolving them
    (a URN apply chain each, on every resource) was most of an Azure plan's time (5.6 s of CPU of
    uae-north, 2.1 s without): the offline engine drops them. `options.aliases` counts the rest."""
    aliases = args.opts.aliases if args.opts is not None else None
    if not aliases or not args.type_.startswith("azure-native:"):
        return None
    kept = [a for a in aliases if not _is_api_version_alias(a)]
    if len(kept) == len(aliases):
        return None
    opts = copy.copy(args.opts)
    opts.aliases = kept
    return pulumi.ResourceTransformationResult(args.props, opts)


def _program(entry: Path) -> Any:
    pi.register_stack_transformation(_without_api_version_aliases)
    return runpy.run_path(str(entry), run_name="__main__")


def _options(request: Any) -> dict[str, Any]:
    """The resource options the engine receives, as a plain dict (only those that are set)."""
    opts: dict[str, Any] = {}
    if request.protect:
        opts["protect"] = True
    if list(request.dependencies):
        opts["dependsOn"] = sorted(request.dependencies)
    if list(request.ignoreChanges):
        opts["ignoreChanges"] = list(request.ignoreChanges)
    if list(request.replaceOnChanges):
        opts["replaceOnChanges"] = list(request.replaceOnChanges)
    if list(request.additionalSecretOutputs):
        opts["additionalSecretOutputs"] = list(request.additionalSecretOutputs)
    if request.deleteBeforeReplace:
        opts["deleteBeforeReplace"] = True
    if request.retainOnDelete:
        opts["retainOnDelete"] = True
    if list(request.aliases) or list(request.aliasURNs):
        opts["aliases"] = len(request.aliases) + len(request.aliasURNs)
    if request.deletedWith:
        opts["deletedWith"] = request.deletedWith
    if request.version:
        opts["version"] = request.version
    return opts


class RecordingMonitor(pi.MockMonitor):
    """A MockMonitor that keeps what the engine would see for every registration."""

    def __init__(self, mocks: ProviderMocks, project: str, stack: str, config: dict[str, Any]):
        super().__init__(mocks)
        self.project, self.stack, self.config = project, stack, config
        self.records: list[PlannedResource] = []
        self.stack_outputs: dict[str, Any] = {}
        self._providers: dict[str, tuple[str, dict[str, Any]]] = {}  # "urn::id" -> (urn, inputs)
        self._lock = threading.Lock()
        mocks.provider_region = self.provider_region

    def provider_region(self, ref: str | None) -> str | None:
        found = self._providers.get(ref) if ref else None
        return (found[1].get("region") or found[1].get("location")) if found else None  # AWS region / Azure location

    def _default_provider(self, type_token: str) -> tuple[str, dict[str, Any]]:
        """The provider the CLI would create for a resource without an explicit one."""
        package = type_token.split(":")[0]
        urn = f"urn:pulumi:{self.stack}::{self.project}::pulumi:providers:{package}::default"
        prefix = f"{package}:"
        inputs = {k[len(prefix) :]: v for k, v in self.config.items() if k.startswith(prefix)}
        return urn, inputs

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        hidden = [k for k in request.additionalSecretOutputs if k in response.object.fields]
        if hidden:
            # The engine makes these outputs secret whatever the provider answers (RandomPassword's
            # `result`, ...): do the same, in the answer and in the state the plan records.
            registration = self.resources[response.urn]
            state = {k: pi.wrap_rpc_secret(v) if k in hidden else v for k, v in registration.state.items()}
            self.resources[response.urn] = registration._replace(state=state)
            for key in hidden:
                wrapped = struct_pb2.Value()
                wrapped.struct_value.update(pi.wrap_rpc_secret(None))
                wrapped.struct_value.fields["value"].CopyFrom(response.object.fields[key])
                response.object.fields[key].CopyFrom(wrapped)
        inputs = pi.deserialize_properties(request.object) if request.type != "pulumi:pulumi:Stack" else {}
        if request.type.startswith("pulumi:providers:"):
            with self._lock:
                self._providers[f"{response.urn}::{response.id}"] = (response.urn, _clean(inputs))
        provider, provider_inputs = "", {}
        if request.custom and not request.type.startswith("pulumi:providers:"):
            if request.provider:
                provider, provider_inputs = self._providers.get(request.provider, (request.provider.split("::")[0], {}))
                provider = provider if provider.startswith("urn:") else request.provider.rsplit("::", 1)[0]
            else:
                provider, provider_inputs = self._default_provider(request.type)
        state = self.resources[response.urn].state if response.urn in self.resources else {}
        record = PlannedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            provider=provider,
            provider_inputs=provider_inputs,
            inputs=_clean(inputs),
            options=_options(request),
            custom=bool(request.custom),
            outputs=_clean(state),
        )
        with self._lock:
            self.records.append(record)
        return response

    def RegisterResourceOutputs(self, request):  # noqa: N802 (the gRPC method name)
        if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
            self.stack_outputs = _clean(pi.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


def read_project(program_dir: Path) -> tuple[str, Path]:
    """Project name and the program's entry folder, from Pulumi.yaml."""
    project_file = next((program_dir / n for n in ("Pulumi.yaml", "Pulumi.yml") if (program_dir / n).exists()), None)
    if project_file is None:
        raise ProgramError(f"{program_dir}: no Pulumi.yaml here; pass the folder of a Pulumi project")
    project = yaml.safe_load(project_file.read_text()) or {}
    runtime = project.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise ProgramError(f"{project_file}: runtime is {runtime_name!r}; the offline engine runs Python programs only")
    main = program_dir / project.get("main", ".")
    entry = main if main.is_file() else main / "__main__.py"
    if not entry.exists():
        raise ProgramError(f"{project_file}: the program entry {entry} does not exist (check `main:`)")
    return str(project["name"]), entry


def read_stack_config(config_file: Path | None, project: str) -> dict[str, Any]:
    """Stack config (`config:` of Pulumi.<stack>.yaml) with keys fully qualified (`ns:key`).

    Secure values cannot be decrypted offline: they become the placeholder `[secret]`.
    """
    if config_file is None or not config_file.exists():
        return {}
    try:
        doc = yaml.safe_load(config_file.read_text()) or {}
    except yaml.YAMLError as e:
        raise ProgramError(f"{config_file}: not valid YAML: {e}") from None
    raw = doc.get("config") or {}
    if not isinstance(raw, dict):
        raise ProgramError(f"{config_file}: `config:` must be a mapping of keys to values")
    out = {}
    for key, value in raw.items():
        full = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            value = SECRET
        elif isinstance(value, dict) and "value" in value and set(value) <= {"value", "secret"}:
            value = value["value"]
        out[full] = value
    return out


def run_program(program_dir: Path, stack: str, config: dict[str, Any], *, project: str | None = None, entry: Path | None = None) -> Plan:
    """Run the program at `program_dir` as stack `stack` with `config`, on mocks; return its Plan.

    Raises ProgramError when the program fails; its message is the program's own error.
    """
    program_dir = program_dir.resolve()
    if project is None or entry is None:
        project, entry = read_project(program_dir)
    mocks = ProviderMocks(stack=stack, default_region=config.get("aws:region"), default_location=config.get("azure-native:location"))
    monitor = RecordingMonitor(mocks, project, stack, config)

    pi.ROOT.set(None)
    # A full Settings, not pulumi's MockSettings: that one keeps the previous run's pending
    # outputs and lock, so a plan after `set_mocks` (or after another plan) would await tasks of
    # a dead event loop forever.
    settings = pi.Settings(
        project=project, stack=stack, monitor=monitor, engine=pi.MockEngine(logging.getLogger("sahab.program")), dry_run=False, organization="organization"
    )
    settings.monitor_features = set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures)
    pi.configure(settings)
    pi.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()})

    added = [p for p in (str(entry.parent), str(program_dir)) if p not in sys.path]
    sys.path[:0] = added
    started = time.perf_counter()
    loop = asyncio.new_event_loop()
    error: BaseException | None = None
    try:
        contextvars.copy_context().run(lambda: loop.run_until_complete(pi.run_in_stack(lambda: _program(entry))))
    except BaseException as exc:  # noqa: BLE001 reported as ProgramError below
        error = exc
    finally:
        # As Pulumi's own inline-program host does: cancel and drain what a failure left pending,
        # so a failed run neither leaks tasks into the next one nor floods stderr.
        for task in asyncio.all_tasks(loop):
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        loop.close()
        for p in added:
            sys.path.remove(p)
        pi.ROOT.set(None)
    if error is not None:
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise error
        registered = tuple(r.urn for r in monitor.records if r.type != "pulumi:pulumi:Stack")
        raise ProgramError(_program_error_message(error), registered) from error
    records = sorted(monitor.records, key=lambda r: r.urn)
    return Plan(project=project, stack=stack, config=_clean(config), resources=records, outputs=monitor.stack_outputs, seconds=time.perf_counter() - started)


def _program_error_message(error: BaseException) -> str:
    # pulumi.RunError is the program's way of saying "stop, with this message": no traceback.
    from pulumi import RunError

    if isinstance(error, RunError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def plan_environment(repo: Path, env: str, stack: str | None = None) -> Plan:
    """Plan `environments/<env>/Pulumi.<stack>.yaml` (stack defaults to the environment's name)."""
    stack = stack or env
    env_dir = repo / "environments" / env
    if not env_dir.is_dir():
        known = sorted(p.name for p in (repo / "environments").iterdir() if p.is_dir()) if (repo / "environments").is_dir() else []
        raise ProgramError(f"environment {env!r} not found under {repo / 'environments'}; known: {known}")
    config_file = env_dir / f"Pulumi.{stack}.yaml"
    if not config_file.exists():
        stacks = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in env_dir.glob("Pulumi.*.yaml"))
        raise ProgramError(f"{config_file} does not exist; stacks of {env!r}: {stacks}")
    project, entry = read_project(repo)
    return run_program(repo, stack, read_stack_config(config_file, project), project=project, entry=entry)


def write_plan(plan: Plan, out_dir: Path) -> Path:
    """Write plan.json (and manifests/ for Kubernetes objects) into `out_dir`; return plan.json's path."""
    from sahab.engine.render import write_manifests

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "plan.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(plan.to_json(), indent=1, sort_keys=False, default=str))
    tmp.replace(path)  # never leave a half-written plan behind
    write_manifests(plan, out_dir / "manifests")
    return path
