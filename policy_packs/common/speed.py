"""Share one conversion of a request's properties among all policies of a pack.

pulumi_policy's servicer converts `request.properties` (a protobuf Struct) to a dict, deserializes
it and wraps it in a proxy once per policy, for every resource: with ~25 policies that is most of
a pack's time. The three steps are pure functions of their input, so each is memoized on the
identity of the object it is given (up to _KEEP entries per thread, each kept alive while cached, so an
id is never reused). Policies receive the same read-only proxy; validators copy what they read.
Runtime settings (PULUMI_CONFIG, project, stack) are applied once per process instead of once per
call. Behaviour under the Pulumi CLI and `sahab check` is identical, only faster.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable
from typing import Any

_local = threading.local()
_KEEP = 4096  # AnalyzeStack converts every resource once per stack policy: keep them all


def _memo(name: str, fn: Callable[[Any], Any]) -> Callable[..., Any]:
    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return fn(value, *args, **kwargs)
        cache: dict[int, tuple[Any, Any]] = getattr(_local, name, None) or {}
        hit = cache.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        result = fn(value)
        if len(cache) >= _KEEP:
            cache.clear()
        cache[id(value)] = (value, result)
        setattr(_local, name, cache)
        return result

    return wrapper


def share_conversions() -> None:
    """Patch pulumi_policy's servicer module (idempotent)."""
    from pulumi_policy import policy as policy_module

    # Private internals, probed below before anything is patched: they have no public types.
    policy: Any = policy_module
    if getattr(policy, "_sahab_shared", False):
        return
    needed = ("json_format", "deserialize_properties", "unknown_checking_proxy", "_PolicyAnalyzerServicer")
    servicer: Any = getattr(policy, "_PolicyAnalyzerServicer", None)
    if not all(hasattr(policy, n) for n in needed) or not hasattr(servicer, "_configure_runtime_settings"):
        # A pulumi_policy release moved these internals: run unpatched (correct, only slower)
        # rather than break the pack under the Pulumi CLI.
        return
    json_format = policy.json_format
    shim: Any = types.ModuleType("json_format_shared")
    shim.__dict__.update(json_format.__dict__)
    shim.MessageToDict = _memo("to_dict", json_format.MessageToDict)
    policy.json_format = shim
    policy.deserialize_properties = _memo("deserialize", policy.deserialize_properties)
    policy.unknown_checking_proxy = _memo("proxy", policy.unknown_checking_proxy)
    # The servicer re-reads PULUMI_CONFIG and re-configures the runtime on every call (with an
    # inspect.signature each time); the process environment never changes, so once is enough.
    configure = servicer._configure_runtime_settings
    done: list[bool] = []

    def configure_once(self: Any) -> None:
        if not done:
            configure(self)
            done.append(True)

    servicer._configure_runtime_settings = configure_once
    policy._sahab_shared = True
