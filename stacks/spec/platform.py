"""The environment spec: the `sahab:platform` stack-config object, validated before anything runs.

`PlatformSpec` is a union discriminated on `cloud` (aws when absent) over one model per cloud:
`AwsPlatformSpec`, `AzurePlatformSpec`, `KubernetesPlatformSpec` (an existing cluster), each a
subclass of the shared parts in stacks/spec/common.py. `load_spec(raw)` turns the raw config object
into one of them, frozen, or raises `SpecError` with one line per bad field: its path (as written in
the YAML), the value given, and what is allowed. A key the chosen cloud does not take is refused as
`<path>: unknown key for cloud: <cloud> ...`, saying which cloud takes it. Nothing is registered
before this passes.
"""

from __future__ import annotations

import re
import typing
from typing import Annotated, Any

from pydantic import BaseModel, Discriminator, Tag, TypeAdapter, ValidationError

from stacks.spec.aws import AwsPlatformSpec
from stacks.spec.azure import AzurePlatformSpec
from stacks.spec.common import PlatformSpecBase
from stacks.spec.onprem import KubernetesPlatformSpec
from workloads.errors import SahabError

MODELS: dict[str, type[PlatformSpecBase]] = {"aws": AwsPlatformSpec, "azure": AzurePlatformSpec, "kubernetes": KubernetesPlatformSpec}
DEFAULT_CLOUD = "aws"


def _cloud_of(value: Any) -> str | None:
    """The union's tag: the raw object's `cloud` (aws when absent), or a model's own."""
    cloud = value.get("cloud", DEFAULT_CLOUD) if isinstance(value, dict) else getattr(value, "cloud", None)
    return cloud if isinstance(cloud, str) else None


PlatformSpec = Annotated[
    Annotated[AwsPlatformSpec, Tag("aws")] | Annotated[AzurePlatformSpec, Tag("azure")] | Annotated[KubernetesPlatformSpec, Tag("kubernetes")],
    Discriminator(_cloud_of, custom_error_type="cloud", custom_error_message="unknown cloud"),
]
"""One environment of the platform: the model of its `cloud`."""

PLATFORM_SPEC: TypeAdapter[PlatformSpec] = TypeAdapter(PlatformSpec)


class SpecError(SahabError, ValueError):
    """A spec that cannot be deployed: `problems` holds one 'path: value: what is allowed' line each. Exit 2."""

    exit_code = 2

    def __init__(self, problems: list[str], source: str = "sahab:platform"):
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} is invalid ({len(problems)} problem{'s' * (len(problems) != 1)}):\n{lines}")


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-") or part in ("tagged-union", "[key]"):  # "[key]": the mapping key itself is bad
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def takes(model: type[BaseModel], path: str) -> bool:
    """Whether `model` has the field at `path` (`cluster.deployer`, `gpu_pools[0].instance_types`)."""
    parts = [p for p in re.sub(r"\[\d*\]", "", path).split(".") if p]
    models = [model]
    for i, part in enumerate(parts):
        fields = [m.model_fields[part] for m in models if part in m.model_fields]
        if not fields:
            return False
        if i == len(parts) - 1:
            return True
        models = [sub for f in fields for sub in _models_in(f.annotation)]
    return True


def _unknown_key(cloud: str, path: str) -> str:
    hint = MODELS[cloud].unknown_key_hints.get(re.sub(r"\[\d+\]", "[]", path))
    if hint is not None:
        return f"{path}: unknown key for cloud: {cloud}; {hint}"
    others = [c for c, m in MODELS.items() if c != cloud and takes(m, path)]
    if others:
        return f"{path}: unknown key for cloud: {cloud} (a setting of cloud: {' / '.join(others)}); remove it, or set cloud: {others[0]}"
    return f"{path}: unknown key for cloud: {cloud}; check the spelling (allowed keys are in stacks/spec/)"


def load_spec(raw: Any, source: str = "sahab:platform") -> PlatformSpec:
    """Validate the raw config object; raise `SpecError` naming every bad field."""
    if not isinstance(raw, dict):
        raise SpecError([f"expected an object (mapping) of platform settings, got {type(raw).__name__}"], source)
    try:
        return PLATFORM_SPEC.validate_python(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            if err["type"] == "cloud":
                problems.append(f"cloud: {raw.get('cloud')!r} is not a cloud of this release; use one of {sorted(MODELS)} (aws when absent)")
                continue
            cloud, loc = str(err["loc"][0]), err["loc"][1:]  # the union's tag first, then the field's path
            path = _path(loc)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "value_error" and not loc:
                problems.extend(msg.splitlines())  # cross-field lines carry their own paths
                continue
            if err["type"] == "extra_forbidden":
                problems.append(_unknown_key(cloud, path))
                continue
            if err["type"] == "missing" and path in MODELS[cloud].missing_key_hints:
                problems.append(f"{path}: {MODELS[cloud].missing_key_hints[path]}")
                continue
            shown = err.get("input")
            value = "" if isinstance(shown, dict) or err["type"] == "missing" else f" (got {shown!r})"
            problems.append(f"{path or '<root>'}: {msg}{value}")
        raise SpecError(problems, source) from None
