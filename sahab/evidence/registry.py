"""The names of the checks that exist, read from the code that emits them: what a control's evidence
may point at.

    gate_policies()            pack name -> policy names, as each pack registers them (its
                               PolicyPack(name=...) and its policies.POLICIES list)
    deployability_policies()   the finding names the deployability CHECKS emit: every string literal
                               `<module>-<what>` in the module of a registered check (the house
                               naming: connectivity-*, iam-*, scheduling-*, pins-*, rules-*, budget-*,
                               workload-env-*)

The verify suite's check ids are built from a plan (`sahab/ops/verify/*`: `Check(id=...)` and the
Azure rule tables); tests/evidence builds them from the shipped plans to prove the catalogue's.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re


@functools.cache
def gate_policies() -> dict[str, tuple[str, ...]]:
    from sahab.gate.analyzer import PACKS_DIR, discover_packs

    out: dict[str, tuple[str, ...]] = {}
    for pack_dir in discover_packs((), PACKS_DIR):
        match = re.search(r'PolicyPack\(\s*name="([^"]+)"', (pack_dir / "__main__.py").read_text())
        if not match:
            continue
        module = importlib.import_module(f"policy_packs.{pack_dir.name}.policies")
        out[match.group(1)] = tuple(p.name for p in module.POLICIES)
    return out


@functools.cache
def deployability_policies() -> frozenset[str]:
    from sahab.gate import deployability

    names: set[str] = set()
    for check in deployability.CHECKS:
        module = inspect.getmodule(check)
        if module is None:
            continue
        prefix = module.__name__.rsplit(".", 1)[-1].replace("_", "-") + "-"
        pattern = re.compile(re.escape(prefix) + r"[a-z0-9]+(-[a-z0-9]+)*")
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and pattern.fullmatch(node.value):
                names.add(node.value)
    return frozenset(names)
