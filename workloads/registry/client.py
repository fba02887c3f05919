"""Registry client: what serving, export and promotion call.

Contract:
- A registered version's run holds `onnx/model.fp32.onnx`, `onnx/model.int8.onnx` and
  `onnx/feature_spec.json`; the version carries the tags `sahab.sha256.<file>` (hex sha256).
- `resolve(alias)` downloads the three files of the version behind `alias` and returns their
  local paths with the expected digests; `verify(resolved)` raises `ArtifactIntegrityError`
  naming the file when one is missing or its digest differs. Serving calls both before loading.
- `promote()` moves `champion` to the `challenger` version only after the evaluation gate passes,
  and records the gate and its measured values as tags on the promoted version.
- `promote_tested()` promotes **by version** with compare-and-set on the aliases: it acts only when
  `challenger` still points at the version that was tested and `champion` at the one it was tested
  against, else raises `PromotionConflict` (HTTP 409). MLflow has no conditional alias write, so
  callers serialise concurrent promotions with the experiment store's claim
  (workloads/serving/state.py: Redis SET NX / a SQLite primary key) before calling it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pydantic import BaseModel, ConfigDict, Field

from workloads.settings import SahabSettings

ARTIFACT_DIR = "onnx"
FP32_ONNX = "model.fp32.onnx"
INT8_ONNX = "model.int8.onnx"
FEATURE_SPEC = "feature_spec.json"
ARTIFACTS = (FP32_ONNX, INT8_ONNX, FEATURE_SPEC)
CHAMPION, CHALLENGER = "champion", "challenger"

# Run metric names written by training and export and read by the promotion gate.
METRIC_AUC = "val_auc"
METRIC_ECE = "val_ece"
METRIC_INT8_DELTA = "int8_auc_delta_points"
METRIC_PARITY = "onnx_parity_max_abs_diff"


def sha_tag(filename: str) -> str:
    """Model version tag holding the hex sha256 of `filename`."""
    return f"sahab.sha256.{filename}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactIntegrityError(RuntimeError):
    """An artifact is missing or its sha256 differs from the one recorded in the registry."""


class PromotionRefused(RuntimeError):
    """The challenger did not pass the evaluation gate; `champion` was left unchanged."""


class PromotionConflict(RuntimeError):
    """The aliases no longer point at the tested versions (or another promotion won)."""


@dataclass(frozen=True)
class ResolvedModel:
    """A registered model version with its artifacts downloaded to local paths."""

    name: str
    version: str
    run_id: str
    alias: str | None
    fp32_onnx: Path
    int8_onnx: Path
    feature_spec: Path
    sha256: dict[str, str]
    """Expected hex digests, keyed by artifact file name (`model.fp32.onnx`, ...)."""
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def paths(self) -> dict[str, Path]:
        return {FP32_ONNX: self.fp32_onnx, INT8_ONNX: self.int8_onnx, FEATURE_SPEC: self.feature_spec}


class PromotionGate(BaseModel):
    """What a challenger must show, from its run's metrics, to become champion."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_auc: float = Field(0.80, ge=0.5, le=1.0)
    max_auc_regression: float = Field(0.005, ge=0.0, le=0.5)
    """The challenger's AUC may trail the current champion's by at most this much."""
    max_ece: float = Field(0.05, gt=0.0, le=1.0)
    max_int8_auc_delta_points: float = Field(1.0, ge=0.0)
    max_onnx_parity: float = Field(1e-4, gt=0.0)


def mlflow_client(settings: SahabSettings | None = None) -> MlflowClient:
    """A client on the configured tracking URI (local SQLite under SAHAB_HOME by default)."""
    settings = settings or SahabSettings()
    if settings.mlflow_tracking_uri is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    uri = settings.tracking_uri()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def resolve(
    alias: str,
    *,
    name: str | None = None,
    dst: Path | None = None,
    settings: SahabSettings | None = None,
) -> ResolvedModel:
    """Download the artifacts of the version `alias` points at; does not verify them (see verify)."""
    settings = settings or SahabSettings()
    name = name or settings.model_name
    client = mlflow_client(settings)
    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise LookupError(f"registered model {name!r} has no alias {alias!r}: {exc.message}") from exc
    return _download(client, settings, name, mv, alias, dst)


def resolve_version(version: str | int, *, name: str | None = None, dst: Path | None = None, settings: SahabSettings | None = None) -> ResolvedModel:
    """Like resolve(), by version number."""
    settings = settings or SahabSettings()
    name = name or settings.model_name
    client = mlflow_client(settings)
    return _download(client, settings, name, client.get_model_version(name, str(version)), None, dst)


def _download(client: MlflowClient, settings: SahabSettings, name: str, mv, alias, dst) -> ResolvedModel:
    dst = Path(dst) if dst else settings.home / "models" / name / str(mv.version)
    target = dst / ARTIFACT_DIR
    if target.exists():
        shutil.rmtree(target)  # never mix files of an earlier download with this one
    dst.mkdir(parents=True, exist_ok=True)
    local = Path(client.download_artifacts(mv.run_id, ARTIFACT_DIR, str(dst)))
    tags = dict(mv.tags)
    run = client.get_run(mv.run_id)
    return ResolvedModel(
        name=name,
        version=str(mv.version),
        run_id=mv.run_id,
        alias=alias,
        fp32_onnx=local / FP32_ONNX,
        int8_onnx=local / INT8_ONNX,
        feature_spec=local / FEATURE_SPEC,
        sha256={f: tags.get(sha_tag(f), "") for f in ARTIFACTS},
        tags=tags,
        metrics=dict(run.data.metrics),
    )


def verify(resolved: ResolvedModel) -> None:
    """Raise ArtifactIntegrityError naming the first file that is missing or differs."""
    for filename, path in resolved.paths().items():
        expected = resolved.sha256.get(filename)
        if not expected:
            raise ArtifactIntegrityError(f"{filename}: model {resolved.name} v{resolved.version} has no tag {sha_tag(filename)}")
        if not path.is_file():
            raise ArtifactIntegrityError(f"{filename}: missing at {path}")
        actual = sha256_file(path)
        if actual != expected:
            raise ArtifactIntegrityError(
                f"{filename}: sha256 {actual} at {path} differs from the registry's {expected} (model {resolved.name} v{resolved.version})"
            )


def set_alias(name: str, alias: str, version: str | int, *, settings: SahabSettings | None = None) -> None:
    mlflow_client(settings).set_registered_model_alias(name, alias, str(version))


def register_version(
    run_id: str,
    artifact_dir: Path,
    *,
    name: str | None = None,
    tags: dict[str, str] | None = None,
    alias: str | None = CHALLENGER,
    settings: SahabSettings | None = None,
) -> str:
    """Register the run's `onnx/` artifacts as a new version tagged with each file's sha256.

    `artifact_dir` is the local folder that was logged as `onnx/`; the digests are taken from it.
    """
    settings = settings or SahabSettings()
    name = name or settings.model_name
    client = mlflow_client(settings)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Transaction-risk classifier (ONNX fp32 + int8, with feature spec).")
    run = client.get_run(run_id)
    all_tags = {sha_tag(f): sha256_file(artifact_dir / f) for f in ARTIFACTS}
    all_tags.update(tags or {})
    mv = client.create_model_version(name, source=f"{run.info.artifact_uri}/{ARTIFACT_DIR}", run_id=run_id, tags=all_tags)
    if alias:
        client.set_registered_model_alias(name, alias, mv.version)
    return str(mv.version)


def evaluate_gate(challenger: dict[str, float], champion: dict[str, float] | None, gate: PromotionGate) -> dict[str, dict[str, float | bool]]:
    """Each check of the gate with the measured value, the bound and whether it passed."""

    def check(value: float | None, bound: float, ok: bool) -> dict[str, float | bool]:
        return {"value": float("nan") if value is None else value, "bound": bound, "passed": bool(ok)}

    auc = challenger.get(METRIC_AUC)
    checks = {
        "min_auc": check(auc, gate.min_auc, auc is not None and auc >= gate.min_auc),
        "max_ece": check(
            challenger.get(METRIC_ECE),
            gate.max_ece,
            challenger.get(METRIC_ECE) is not None and challenger[METRIC_ECE] <= gate.max_ece,
        ),
        "max_int8_auc_delta_points": check(
            challenger.get(METRIC_INT8_DELTA),
            gate.max_int8_auc_delta_points,
            challenger.get(METRIC_INT8_DELTA) is not None and challenger[METRIC_INT8_DELTA] <= gate.max_int8_auc_delta_points,
        ),
        "max_onnx_parity": check(
            challenger.get(METRIC_PARITY),
            gate.max_onnx_parity,
            challenger.get(METRIC_PARITY) is not None and challenger[METRIC_PARITY] <= gate.max_onnx_parity,
        ),
    }
    if champion is not None and METRIC_AUC in champion:
        floor = champion[METRIC_AUC] - gate.max_auc_regression
        checks["max_auc_regression"] = check(auc, floor, auc is not None and auc >= floor)
    return checks


def promote(
    name: str | None = None,
    *,
    gate: PromotionGate | None = None,
    from_alias: str = CHALLENGER,
    to_alias: str = CHAMPION,
    settings: SahabSettings | None = None,
) -> str:
    """Point `to_alias` at the `from_alias` version if it passes `gate`; return that version.

    Raises PromotionRefused (listing every failed check) and leaves the aliases unchanged when
    the gate fails. On success the version gets tags `sahab.promotion.gate` (the gate's bounds),
    `sahab.promotion.checks` (measured values), `sahab.promotion.previous` and `sahab.promotion.at`,
    and the `from_alias` alias is removed.
    """
    settings = settings or SahabSettings()
    name = name or settings.model_name
    client = mlflow_client(settings)
    candidate = _alias_version(client, name, from_alias)
    if candidate is None:
        raise LookupError(f"registered model {name!r} has no alias {from_alias!r} to promote")
    return _promote(client, name, candidate, _alias_version(client, name, to_alias), gate or PromotionGate(), from_alias, to_alias)


def alias_versions(aliases: tuple[str, ...], *, name: str | None = None, settings: SahabSettings | None = None) -> dict[str, str | None]:
    """The version each alias points at now (None where the alias is not set)."""
    settings = settings or SahabSettings()
    client = mlflow_client(settings)
    return {a: (str(mv.version) if (mv := _alias_version(client, name or settings.model_name, a)) else None) for a in aliases}


def promote_tested(
    *,
    tested_challenger: str,
    tested_champion: str | None,
    name: str | None = None,
    gate: PromotionGate | None = None,
    from_alias: str = CHALLENGER,
    to_alias: str = CHAMPION,
    settings: SahabSettings | None = None,
) -> str:
    """Promote the version that was tested, and only while the aliases still say what was tested.

    Raises PromotionConflict when `from_alias` no longer points at `tested_challenger` (moved to
    an untested version, or already promoted) or `to_alias` no longer at `tested_champion`;
    PromotionRefused when the gate fails. The caller holds the experiment's claim (see the module
    docstring), which is what makes concurrent promotions exclusive.
    """
    settings = settings or SahabSettings()
    name = name or settings.model_name
    client = mlflow_client(settings)
    candidate = _alias_version(client, name, from_alias)
    current = _alias_version(client, name, to_alias)
    now_challenger = candidate.version if candidate else None
    now_champion = current.version if current else None
    if str(now_challenger) != str(tested_challenger) or (now_champion and str(now_champion)) != (tested_champion and str(tested_champion)):
        raise PromotionConflict(
            f"{name}: tested {from_alias}=v{tested_challenger} against {to_alias}=v{tested_champion}, but the "
            f"registry now has {from_alias}={_v(now_challenger)} and {to_alias}={_v(now_champion)}; "
            "nothing promoted (a new experiment starts for the new versions)"
        )
    return _promote(client, name, candidate, current, gate or PromotionGate(), from_alias, to_alias)


def _v(version: str | None) -> str:
    return f"v{version}" if version else "unset"


def _alias_version(client: MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _promote(client: MlflowClient, name: str, candidate, current, gate: PromotionGate, from_alias: str, to_alias: str) -> str:
    champion_metrics = None
    if current is not None and current.version != candidate.version:
        champion_metrics = client.get_run(current.run_id).data.metrics
    checks = evaluate_gate(client.get_run(candidate.run_id).data.metrics, champion_metrics, gate)
    failed = {k: v for k, v in checks.items() if not v["passed"]}
    if failed:
        detail = "; ".join(f"{k}: value {v['value']:.6g} vs bound {v['bound']:.6g}" for k, v in failed.items())
        raise PromotionRefused(f"{name} v{candidate.version} ({from_alias}) not promoted to {to_alias}: {detail}")
    version = str(candidate.version)
    client.set_model_version_tag(name, version, "sahab.promotion.gate", gate.model_dump_json())
    client.set_model_version_tag(name, version, "sahab.promotion.checks", json.dumps(checks, sort_keys=True))
    client.set_model_version_tag(name, version, "sahab.promotion.previous", current.version if current else "none")
    client.set_model_version_tag(name, version, "sahab.promotion.at", datetime.now(UTC).isoformat())
    client.set_registered_model_alias(name, to_alias, version)
    if from_alias != to_alias:
        client.delete_registered_model_alias(name, from_alias)
    return version
