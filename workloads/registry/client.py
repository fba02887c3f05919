"""Registry client: what the pipeline, serving, export and promotion call. Generic: the registered
model is the project's (its `name`), one per project.

Contract:
- A registered version's run holds `onnx/model.fp32.onnx`, `onnx/feature_spec.json`,
  `onnx/project.json`, when int8 was kept `onnx/model.int8.onnx`, and the native model the graph
  was exported from (`onnx/model.pkl` for trees and sklearn, `onnx/model.pt` for torch: what
  explanations are computed on, issue 22); the version carries the tags `sahab.sha256.<file>`
  (hex sha256) of each, `sahab.int8` (`true` / `false`) and `sahab.native` (the native file's
  name, `none` for versions registered before it was kept).
- `register_version(..., record=VersionRecord(...))` also tags the lineage and the offline
  evaluation: `sahab.data.sha256`, `sahab.training.window`, `sahab.holdout.window`,
  `sahab.holdout.sha256`, `sahab.holdout.<metric>` (this version on the holdout),
  `sahab.holdout.champion.<metric>` and `sahab.holdout.champion.version` (the champion on the
  same holdout, when there was one), and `sahab.gate` (the project's gate, JSON).
- `resolve(alias)` downloads the files of the version behind `alias` and returns their local
  paths with the expected digests; `verify(resolved)` raises `ArtifactIntegrityError` naming the
  file when one is missing or its digest differs. Serving calls both before loading.
- `promote()` moves `champion` to the `challenger` version only after the gate passes, judged by
  `workloads.evaluation.judge` on the `sahab.holdout.*` tags: the challenger's metrics against the
  champion's on the same holdout (the champion recorded at registration, or the current champion
  when its own holdout tags name the same holdout sha256), never on metrics of different
  validation sets. Without a common holdout only the absolute bounds are judged, and the checks
  say so. The gate and its measured values are recorded as tags on the promoted version.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from workloads.errors import SahabError
from workloads.features.encoding import project_spec
from workloads.settings import SahabSettings

if TYPE_CHECKING:
    from workloads.evaluation import GateResult
    from workloads.project.project import Project
    from workloads.project.spec import ProjectSpec

ARTIFACT_DIR = "onnx"
FP32_ONNX = "model.fp32.onnx"
INT8_ONNX = "model.int8.onnx"
FEATURE_SPEC = "feature_spec.json"
PROJECT_JSON = "project.json"
REQUIRED = (FP32_ONNX, FEATURE_SPEC, PROJECT_JSON)
NATIVE_FILES = ("model.pkl", "model.pt")
"""The native model beside the graphs (workloads/export/native.py names them)."""
ARTIFACTS = (FP32_ONNX, INT8_ONNX, FEATURE_SPEC, PROJECT_JSON, *NATIVE_FILES)
CHAMPION, CHALLENGER = "champion", "challenger"

TAG_INT8 = "sahab.int8"
TAG_NATIVE = "sahab.native"
TAG_DATA_SHA = "sahab.data.sha256"
TAG_TRAINING_WINDOW = "sahab.training.window"
TAG_HOLDOUT_WINDOW = "sahab.holdout.window"
TAG_HOLDOUT_SHA = "sahab.holdout.sha256"
TAG_HOLDOUT_PREFIX = "sahab.holdout."
TAG_CHAMPION_PREFIX = "sahab.holdout.champion."
TAG_CHAMPION_VERSION = "sahab.holdout.champion.version"
TAG_GATE = "sahab.gate"
_NOT_METRICS = {"window", "sha256"}


def sha_tag(filename: str) -> str:
    """Model version tag holding the hex sha256 of `filename`."""
    return f"sahab.sha256.{filename}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactIntegrityError(SahabError, RuntimeError):
    """An artifact is missing or its sha256 differs from the one recorded in the registry. Exit 1."""

    exit_code = 1


class PromotionRefused(SahabError):
    """The challenger did not pass the evaluation gate; `champion` was left unchanged."""

    exit_code = 3


class PromotionConflict(SahabError, RuntimeError):
    """The aliases no longer point at the tested versions (or another promotion won). Exit 1."""

    exit_code = 1


@dataclass(frozen=True)
class VersionRecord:
    """Lineage and offline evaluation of a new version, recorded as its tags at registration."""

    data_sha256: str
    training_window: str = ""
    """`<first event time>/<last event time>` of the training frame (ISO 8601)."""
    holdout_window: str = ""
    holdout_sha256: str = ""
    holdout_metrics: Mapping[str, float] = field(default_factory=dict)
    """This version on the holdout."""
    champion_metrics: Mapping[str, float] | None = None
    """The champion on the same holdout (None without a champion)."""
    champion_version: str | None = None

    def tags(self) -> dict[str, str]:
        out = {TAG_DATA_SHA: self.data_sha256}
        for tag, value in ((TAG_TRAINING_WINDOW, self.training_window), (TAG_HOLDOUT_WINDOW, self.holdout_window), (TAG_HOLDOUT_SHA, self.holdout_sha256)):
            if value:
                out[tag] = value
        out.update({f"{TAG_HOLDOUT_PREFIX}{k}": repr(float(v)) for k, v in self.holdout_metrics.items()})
        if self.champion_metrics is not None:
            out.update({f"{TAG_CHAMPION_PREFIX}{k}": repr(float(v)) for k, v in self.champion_metrics.items()})
            out[TAG_CHAMPION_VERSION] = str(self.champion_version or "")
        return out


def holdout_metrics(tags: Mapping[str, str]) -> dict[str, float]:
    """A version's own metrics on its holdout, from its tags (`sahab.holdout.<metric>`)."""
    out = {}
    for key, value in tags.items():
        name = key.removeprefix(TAG_HOLDOUT_PREFIX)
        if key.startswith(TAG_HOLDOUT_PREFIX) and not key.startswith(TAG_CHAMPION_PREFIX) and name not in _NOT_METRICS:
            out[name] = float(value)
    return out


def champion_holdout_metrics(tags: Mapping[str, str]) -> dict[str, float]:
    """The champion's metrics on this version's holdout, recorded at its registration."""
    return {k.removeprefix(TAG_CHAMPION_PREFIX): float(v) for k, v in tags.items() if k.startswith(TAG_CHAMPION_PREFIX) and k != TAG_CHAMPION_VERSION}


@dataclass(frozen=True)
class ResolvedModel:
    """A registered model version with its artifacts downloaded to local paths."""

    name: str
    version: str
    run_id: str
    alias: str | None
    fp32_onnx: Path
    int8_onnx: Path | None
    """None when the version has no int8 graph (tag sahab.int8=false)."""
    feature_spec: Path
    project_json: Path
    sha256: dict[str, str]
    """Expected hex digests, keyed by artifact file name (`model.fp32.onnx`, ...)."""
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    native: Path | None = None
    """The native model (None for a version registered before it was kept: no explanations)."""

    @property
    def has_int8(self) -> bool:
        return self.int8_onnx is not None

    def paths(self) -> dict[str, Path]:
        """Every artifact the version has (int8 only when it was kept, the native model when it was)."""
        out = {FP32_ONNX: self.fp32_onnx, FEATURE_SPEC: self.feature_spec, PROJECT_JSON: self.project_json}
        if self.int8_onnx is not None:
            out[INT8_ONNX] = self.int8_onnx
        if self.native is not None:
            out[self.native.name] = self.native
        return out

    def holdout_metrics(self) -> dict[str, float]:
        return holdout_metrics(self.tags)


def mlflow_client(settings: SahabSettings | None = None) -> MlflowClient:
    """A client on the configured tracking URI (local SQLite under SAHAB_HOME by default)."""
    settings = settings or SahabSettings()
    if settings.mlflow_tracking_uri is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    uri = settings.tracking_uri()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def model_name(name: str | Project | ProjectSpec | None, settings: SahabSettings) -> str:
    """The registered model's name: the project's name (a project or its name), else SAHAB_MODEL_NAME."""
    if name is not None and not isinstance(name, str):
        return name.name
    chosen = name or getattr(settings, "model_name", None)
    if not chosen:
        raise SahabError("no registered model name: pass the project (its name is the model's), or set SAHAB_PROJECT / SAHAB_MODEL_NAME")
    return str(chosen)


def resolve(alias: str, *, name: str | Project | ProjectSpec | None = None, dst: Path | None = None, settings: SahabSettings | None = None) -> ResolvedModel:
    """Download the artifacts of the version `alias` points at; does not verify them (see verify)."""
    settings = settings or SahabSettings()
    name = model_name(name, settings)
    client = mlflow_client(settings)
    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise LookupError(f"registered model {name!r} has no alias {alias!r}: {exc.message}") from exc
    return _download(client, settings, name, mv, alias, dst)


def resolve_version(
    version: str | int, *, name: str | Project | ProjectSpec | None = None, dst: Path | None = None, settings: SahabSettings | None = None
) -> ResolvedModel:
    """Like resolve(), by version number."""
    settings = settings or SahabSettings()
    name = model_name(name, settings)
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
    int8 = tags.get(TAG_INT8) == "true"
    native = tags.get(TAG_NATIVE)
    return ResolvedModel(
        name=name,
        version=str(mv.version),
        run_id=mv.run_id,
        alias=alias,
        fp32_onnx=local / FP32_ONNX,
        int8_onnx=local / INT8_ONNX if int8 else None,
        feature_spec=local / FEATURE_SPEC,
        project_json=local / PROJECT_JSON,
        sha256={f: tags[sha_tag(f)] for f in ARTIFACTS if sha_tag(f) in tags},
        tags=tags,
        metrics=dict(run.data.metrics),
        native=local / native if native in NATIVE_FILES else None,
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
    name: str | Project | ProjectSpec | None = None,
    record: VersionRecord | None = None,
    gate: Any = None,
    tags: Mapping[str, str] | None = None,
    alias: str | None = CHALLENGER,
    settings: SahabSettings | None = None,
) -> str:
    """Register the run's `onnx/` artifacts as a new version tagged with each file's sha256, int8
    or not, the record's lineage and holdout metrics, and the gate (a GateSpec, for promotion).

    `artifact_dir` is the local folder that was logged as `onnx/`; the digests are taken from it.
    """
    settings = settings or SahabSettings()
    if gate is None and name is not None and not isinstance(name, str):
        gate = project_spec(name).evaluation.gate
    name = model_name(name, settings)
    artifact_dir = Path(artifact_dir)
    missing = [f for f in REQUIRED if not (artifact_dir / f).is_file()]
    if missing:
        raise ArtifactIntegrityError(f"{artifact_dir}: {missing} missing; export the model first (workloads.export.export_model)")
    client = mlflow_client(settings)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=f"{name}: ONNX graph per version (fp32, int8 where kept), its feature spec and project.")
    run = client.get_run(run_id)
    all_tags = {sha_tag(f): sha256_file(artifact_dir / f) for f in ARTIFACTS if (artifact_dir / f).is_file()}
    all_tags[TAG_INT8] = "true" if (artifact_dir / INT8_ONNX).is_file() else "false"
    all_tags[TAG_NATIVE] = next((f for f in NATIVE_FILES if (artifact_dir / f).is_file()), "none")
    if record is not None:
        all_tags.update(record.tags())
    if gate is not None:
        all_tags[TAG_GATE] = gate.model_dump_json()
    all_tags.update(tags or {})
    mv = client.create_model_version(name, source=f"{run.info.artifact_uri}/{ARTIFACT_DIR}", run_id=run_id, tags=all_tags)
    if alias:
        client.set_registered_model_alias(name, alias, mv.version)
    return str(mv.version)


def alias_versions(
    aliases: tuple[str, ...], *, name: str | Project | ProjectSpec | None = None, settings: SahabSettings | None = None
) -> dict[str, str | None]:
    """The version each alias points at now (None where the alias is not set)."""
    settings = settings or SahabSettings()
    client = mlflow_client(settings)
    resolved_name = model_name(name, settings)
    return {a: (str(mv.version) if (mv := _alias_version(client, resolved_name, a)) else None) for a in aliases}


def promote(
    name: str | Project | ProjectSpec | None = None,
    *,
    project: Project | ProjectSpec | None = None,
    from_alias: str = CHALLENGER,
    to_alias: str = CHAMPION,
    settings: SahabSettings | None = None,
) -> str:
    """Point `to_alias` at the `from_alias` version if it passes the gate; return that version.

    The gate is the project's (`project`, or the one recorded on the version at registration);
    it is judged on the holdout tags (module docstring). Raises PromotionRefused (listing every
    failed check) and leaves the aliases unchanged when it fails. On success the version gets tags
    `sahab.promotion.gate` (the gate), `sahab.promotion.checks` (measured values),
    `sahab.promotion.previous` and `sahab.promotion.at`, and the `from_alias` alias is removed.
    """
    settings = settings or SahabSettings()
    if project is None and name is not None and not isinstance(name, str):
        project = name
    name = model_name(name if name is not None else project, settings)
    client = mlflow_client(settings)
    candidate = _alias_version(client, name, from_alias)
    if candidate is None:
        raise LookupError(f"registered model {name!r} has no alias {from_alias!r} to promote")
    return _promote(client, name, candidate, _alias_version(client, name, to_alias), project, from_alias, to_alias)


def promote_tested(
    *,
    tested_challenger: str,
    tested_champion: str | None,
    name: str | Project | ProjectSpec | None = None,
    project: Project | ProjectSpec | None = None,
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
    if project is None and name is not None and not isinstance(name, str):
        project = name
    name = model_name(name if name is not None else project, settings)
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
    return _promote(client, name, candidate, current, project, from_alias, to_alias)


def _v(version: str | None) -> str:
    return f"v{version}" if version else "unset"


def _alias_version(client: MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def gate_of(tags: Mapping[str, str], project: Project | ProjectSpec | None, where: str) -> Any:
    """The gate to judge a version with: the project's, else the one recorded at its registration."""
    from workloads.project.spec import GateSpec

    if project is not None:
        return project_spec(project).evaluation.gate
    recorded = tags.get(TAG_GATE)
    if not recorded:
        raise PromotionRefused(f"{where} has no tag {TAG_GATE} (registered without a gate) and no project was given: pass the project to judge it")
    return GateSpec.model_validate_json(recorded)


def judge_version(candidate_tags: Mapping[str, str], champion: Any, project: Project | ProjectSpec | None, where: str) -> tuple[GateResult, str]:
    """Judge a registered version on its holdout tags (module docstring); (result, what the champion comparison rests on)."""
    from workloads.evaluation import judge_gate

    gate = gate_of(candidate_tags, project, where)
    mine = holdout_metrics(candidate_tags)
    if not mine:
        raise PromotionRefused(
            f"{where} has no {TAG_HOLDOUT_PREFIX}<metric> tags: it was registered without a holdout evaluation; retrain it through the pipeline"
        )
    basis, theirs = "no champion", None
    if champion is not None:
        champion_tags = dict(champion.tags)
        if candidate_tags.get(TAG_CHAMPION_VERSION) == str(champion.version) and champion_holdout_metrics(candidate_tags):
            basis, theirs = f"champion v{champion.version} scored on this version's holdout at registration", champion_holdout_metrics(candidate_tags)
        elif candidate_tags.get(TAG_HOLDOUT_SHA) and champion_tags.get(TAG_HOLDOUT_SHA) == candidate_tags.get(TAG_HOLDOUT_SHA):
            basis, theirs = f"champion v{champion.version} on the same holdout (sha256 {candidate_tags[TAG_HOLDOUT_SHA][:12]})", holdout_metrics(champion_tags)
        else:
            basis = f"champion v{champion.version} has no metrics on this version's holdout: max_regression not judged (never across holdouts)"
    return judge_gate(gate, mine, theirs), basis


def _promote(client: MlflowClient, name: str, candidate, current, project, from_alias: str, to_alias: str) -> str:
    where = f"{name} v{candidate.version} ({from_alias})"
    champion = current if current is not None and current.version != candidate.version else None
    result, basis = judge_version(dict(candidate.tags), champion, project, where)
    if not result.passed:
        raise PromotionRefused(f"{where} not promoted to {to_alias}: {result.describe()} ({basis})")
    version = str(candidate.version)
    gate = gate_of(dict(candidate.tags), project, where)
    client.set_model_version_tag(name, version, "sahab.promotion.gate", gate.model_dump_json())
    client.set_model_version_tag(name, version, "sahab.promotion.checks", json.dumps({**result.to_dict(), "basis": basis}, sort_keys=True, default=str))
    client.set_model_version_tag(name, version, "sahab.promotion.previous", current.version if current else "none")
    client.set_model_version_tag(name, version, "sahab.promotion.at", datetime.now(UTC).isoformat())
    client.set_registered_model_alias(name, to_alias, version)
    if from_alias != to_alias:
        client.delete_registered_model_alias(name, from_alias)
    return version
