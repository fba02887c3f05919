"""One base for every user-facing error (workloads/errors.py), its exit codes, and the workloads'
entry-point wrapper (`workloads.settings.run_cli`) that turns it into an exit status."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from workloads.errors import EXIT_FAILED, EXIT_INPUT, SahabError
from workloads.settings import run_cli

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("sahab", "stacks", "components", "workloads")

# Every user-facing exception and the status a command ends with on it: 2 bad input or settings,
# 1 a check that ran and failed, 3 a model gate that refused (workloads/errors.py).
EXIT_CODES = {
    "sahab.engine.offline:ProgramError": 2,
    "stacks.spec.platform:SpecError": 2,
    "sahab.gate.model:GateError": 2,
    "sahab.ops.preflight.base:PreflightError": 2,
    "sahab.ops.deploy:DeployError": 2,
    "sahab.ops.deploy:DeployFailed": 1,
    "sahab.ops.verify.context:VerifyError": 2,
    "sahab.ops.verify.cloud_azure:AzureUnavailable": 2,
    "sahab.cost.snapshot:SnapshotError": 2,
    "sahab.cli.errors:NotACheckout": 2,
    "workloads.local.platform:LocalError": 1,
    "workloads.local.platform:LocalStateError": 2,
    "workloads.local.servers:ServerError": 1,
    "workloads.monitoring.job:TriggerFailed": 1,
    "workloads.registry.client:ArtifactIntegrityError": 1,
    "workloads.registry.client:PromotionConflict": 1,
    # 3: a model gate refused (the workload CLIs' status for it since before the base)
    "workloads.export.model:ParityError": 3,
    "workloads.registry.client:PromotionRefused": 3,
    "workloads.serving.model:ModelUnavailable": 1,
    "workloads.serving.model:AliasNotFound": 1,
    "workloads.features.encoding:EncodingError": 2,
    "workloads.project.spec:ProjectError": 2,
    "workloads.features.tables:DataError": 2,
    "workloads.training.runtime:TrainingDataError": 2,
    "workloads.training.checkpoint:CheckpointMismatch": 2,
}
# Their historical second base stays, so `except ValueError` / `except RuntimeError` callers keep working.
SECOND_BASE = {"SpecError": ValueError, "SnapshotError": ValueError, "ProgramError": RuntimeError, "LocalError": RuntimeError, "ServerError": RuntimeError}
# Exceptions that never reach a user as an error: caught where they are raised and reported otherwise.
INTERNAL = {
    "sahab/gate/deployability/iam.py:Unsupported": "the IAM evaluator's 'operator not implemented', reported as a finding",
    "workloads/project/context.py:Interrupted": "a training function's signal that it checkpointed on ctx.should_stop(), caught by its runner",
    "workloads/serving/batching.py:Overloaded": "a call that waited past the latency budget: the service answers 503, never a command's exit",
    "workloads/pipelines/steps.py:Follower": "a rank other than 0 finished training: its runner exits 0 and leaves export and registration to rank 0",
}


@pytest.mark.parametrize("where", sorted(EXIT_CODES))
def test_user_facing_errors_share_the_base_and_say_their_exit_code(where):
    module, name = where.split(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, SahabError), f"{where}: must derive from workloads.errors.SahabError"
    assert cls.exit_code == EXIT_CODES[where], f"{where}.exit_code is {cls.exit_code}, expected {EXIT_CODES[where]}"
    if name in SECOND_BASE:
        assert issubclass(cls, SECOND_BASE[name]), f"{where}: lost its second base {SECOND_BASE[name].__name__} (callers catch it)"


def _exception_classes() -> dict[str, tuple[str, list[str]]]:
    """name -> (file, base names) of every class in our packages that derives from an exception."""
    classes: dict[str, tuple[str, list[str]]] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    bases = [b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in node.bases]
                    classes[node.name] = (path.relative_to(REPO).as_posix(), bases)
    exceptions = {"Exception", "RuntimeError", "ValueError", "LookupError", "OSError", "SahabError"}
    changed = True
    while changed:  # classes deriving from one of ours count too (AliasNotFound(ModelUnavailable))
        found = {n for n, (_, bases) in classes.items() if n not in exceptions and set(bases) & exceptions}
        changed = bool(found)
        exceptions |= found
    return {n: classes[n] for n in exceptions if n in classes and n != "SahabError"}


def test_no_exception_class_without_the_base():
    def derives(name: str, seen: frozenset[str] = frozenset()) -> bool:
        _, bases = found[name]
        return "SahabError" in bases or any(b in found and b not in seen and derives(b, seen | {name}) for b in bases)

    found = _exception_classes()
    assert "ServerError" in found and "SpecError" in found, f"the scan finds no exception classes: {sorted(found)}"
    missing = [f"{file}:{name}" for name, (file, _) in sorted(found.items()) if not derives(name) and f"{file}:{name}" not in INTERNAL]
    assert not missing, f"derive these from workloads.errors.SahabError (and give exit_code), or list them in INTERNAL with why: {missing}"


def test_fix_is_appended_in_the_house_shape():
    err = SahabError("environments/x/policy.yaml (policy): `packs` must be a mapping.", fix="write packs: {<pack>: {...}}.")
    assert str(err) == "environments/x/policy.yaml (policy): `packs` must be a mapping. Fix: write packs: {<pack>: {...}}.", f"message: {err}"
    assert err.fix == "write packs: {<pack>: {...}}.", f"fix: {err.fix!r}"
    assert SahabError("no fix here").fix is None and SahabError.exit_code == EXIT_INPUT


class _GateRefused(SahabError, RuntimeError):
    exit_code = EXIT_FAILED


def _raises(exc: BaseException):
    def main(argv):
        raise exc

    return main


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (_GateRefused("model (registry): AUC 0.61 below 0.70. Fix: train longer."), EXIT_FAILED),
        (SahabError("SAHAB_X: bad. Fix: unset it."), EXIT_INPUT),
        (ValueError("SAHAB_FEAST_REGION='eu-west-1' is not in the UAE"), EXIT_INPUT),
        (FileNotFoundError("config.yaml"), EXIT_INPUT),
    ],
)
def test_run_cli_ends_with_the_errors_exit_code(exc, status, capsys):
    assert run_cli(_raises(exc)) == status, f"{type(exc).__name__}: run_cli must return {status}"
    assert capsys.readouterr().err.strip() == f"error: {exc}", f"{type(exc).__name__}: one `error: <message>` line on stderr"


def test_run_cli_reports_invalid_settings_by_field(monkeypatch, capsys):
    from workloads.serving.settings import ServingSettings

    monkeypatch.setenv("SAHAB_SERVING_TEST_TAU", "0.05")  # removed (it was unused): now refused, with the known names
    assert run_cli(lambda argv: ServingSettings() and 0) == EXIT_INPUT, "an unknown SAHAB_SERVING_* variable must end with exit 2"
    err = capsys.readouterr().err
    assert "SAHAB_SERVING_TEST_TAU" in err and "SAHAB_SERVING_TEST_ALPHA" in err, f"the message must name the variable and what is known: {err}"
