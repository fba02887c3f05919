"""A verified ONNX version of the project's model on onnxruntime's CPU provider, loaded by alias.

Loading = resolve the alias in the project's registered model (download), `verify` every
artifact's sha256 against the version's tags, then read each file once, hash the very bytes that
are about to be used, and build the session from those bytes: a file swapped between the check and
the load cannot slip through. The version must also fit the project it is served for: its
`feature_spec.json` (the encoding, format 2) names the same features in the same order, the same
task and the same classes as the project, and the graph has the platform's inputs and the task's
output (binary / regression `score` [B], multiclass `probabilities` [B, K]); a version that does
not fit is refused with the reason. Any failure raises `ModelUnavailable`; the service stays
unready on it and shows why on /readyz.

Precision: `SAHAB_SERVING_PRECISION`, else the project's `serving.precision`. A version without an
int8 graph (tree models: tag `sahab.int8=false`) is served in fp32 when int8 is asked for, and
says so (the answer's `precision` is what ran).

Explanations (issue 22): the version's native model is verified with the other artifacts and its
bytes kept; it is unpickled / loaded and its Explainer built on the first request that asks for an
explanation (`LoadedModel.explain`), so a score without one costs nothing more and a pod that is
never asked never loads torch or LightGBM. A version registered before the native model was kept
explains nothing and says why.

Encoding on the request path is `Encoder`: the same arrays as `workloads.features.encoding.encode`
(a test holds them equal) built from the records' dicts without a DataFrame, which costs more
than the model itself for the one-record requests a scoring service mostly sees.
"""

from __future__ import annotations

import hashlib
import logging
import math
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

from workloads.errors import SahabError
from workloads.features.encoding import OOV_INDEX, FeatureSpec
from workloads.registry import client as registry
from workloads.serving.settings import ServingSettings
from workloads.settings import SahabSettings

if TYPE_CHECKING:
    from workloads.project.spec import ProjectSpec

INPUT_NUMERIC, INPUT_CATEGORICAL = "numeric", "categorical"
OUTPUT_SCORE, OUTPUT_PROBABILITIES = "score", "probabilities"
logger = logging.getLogger(__name__)


class ModelUnavailable(SahabError, RuntimeError):
    """The alias is missing, an artifact is missing or tampered with, or the model is unusable. Exit 1."""

    exit_code = 1


class AliasNotFound(ModelUnavailable):
    """No version carries the alias (no challenger registered yet, for instance)."""


def session_options(settings: ServingSettings) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = settings.intra_op_threads
    opts.inter_op_num_threads = settings.inter_op_threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads spinning would steal the few cores a serving pod has.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def output_name(task: str) -> str:
    """The graph output a task's version answers with (workloads/export: the artifact contract)."""
    return OUTPUT_PROBABILITIES if task == "multiclass" else OUTPUT_SCORE


class Encoder:
    """`encode(records, spec)` for dict records, without pandas: numeric float32 [B, n_num] (a
    missing or null value takes the training mean), categorical int64 [B, n_cat] (1-based index in
    the vocabulary; null, missing or unseen values take OOV_INDEX)."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.numeric = spec.numeric
        self.categorical = spec.categorical
        self.means = np.asarray([spec.numeric_means[n] for n in spec.numeric], dtype=np.float64)
        # Keyed by str | None: a null value is looked up too (and takes OOV_INDEX).
        self.index: list[dict[str | None, int]] = [{v: i + 1 for i, v in enumerate(spec.vocabularies[c])} for c in spec.categorical]

    def __call__(self, records: Sequence[Mapping[str, object]]) -> tuple[np.ndarray, np.ndarray]:
        n = len(records)
        if self.numeric:
            # float64 first: None becomes NaN (as pandas' coerce does), then the mean.
            raw = np.array([[r.get(name) for name in self.numeric] for r in records], dtype=np.float64).reshape(n, len(self.numeric))
            numeric = np.where(np.isnan(raw), self.means, raw).astype(np.float32)
        else:
            numeric = np.empty((n, 0), dtype=np.float32)
        if self.categorical:
            pairs = tuple(zip(self.categorical, self.index, strict=True))
            codes = [[index.get(_category(r.get(name)), OOV_INDEX) for name, index in pairs] for r in records]
            categorical = np.array(codes, dtype=np.int64).reshape(n, len(self.categorical))
        else:
            categorical = np.empty((n, 0), dtype=np.int64)
        return numeric, categorical


def _category(value: object) -> str | None:
    """The vocabulary's spelling of a value (str(), as the encoding fits it); None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


@dataclass(frozen=True)
class Prediction:
    """A model's answer for a batch of records: binary P(positive) / regression value in `scores`
    [B] (float64); multiclass `probabilities` [B, K], `scores` = the top probability and
    `predictions` the top class."""

    scores: np.ndarray
    probabilities: np.ndarray | None = None
    predictions: list[str] | None = None


@dataclass(frozen=True)
class LoadedModel:
    alias: str
    name: str
    version: str
    precision: str
    sha256: str
    spec: FeatureSpec
    session: ort.InferenceSession
    reason: str = ""
    """Why the precision differs from the one asked for, if it does."""
    native: bytes | None = field(default=None, repr=False, compare=False)
    """The native model's verified bytes (explanations), None when the version has none."""
    encoder: Encoder = field(init=False, repr=False, compare=False)
    _explainer: list = field(init=False, repr=False, compare=False)
    _explainer_lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoder", Encoder(self.spec))
        object.__setattr__(self, "_explainer", [])
        object.__setattr__(self, "_explainer_lock", threading.Lock())

    def explainer(self, project):
        """The version's Explainer (workloads/explain), built on first use from the native bytes;
        raises ExplanationUnavailable saying why when it cannot be."""
        if self._explainer:
            return self._explainer[0]
        with self._explainer_lock:
            if not self._explainer:
                self._explainer.append(_build_explainer(self, project))
        return self._explainer[0]

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    def predict(self, records: Sequence[Mapping[str, object]]) -> Prediction:
        """The answer for feature records, encoded with this version's own encoding."""
        numeric, categorical = self.encoder(records)
        return self.predict_arrays(numeric, categorical)

    def predict_arrays(self, numeric: np.ndarray, categorical: np.ndarray) -> Prediction:
        (out,) = self.session.run([output_name(self.task)], {INPUT_NUMERIC: numeric, INPUT_CATEGORICAL: categorical})
        if self.task != "multiclass":
            return Prediction(np.asarray(out, dtype=np.float64).reshape(-1))
        probabilities = np.asarray(out, dtype=np.float64).reshape(len(numeric), len(self.classes))
        top = probabilities.argmax(axis=1)
        return Prediction(probabilities[np.arange(len(top)), top], probabilities, [self.classes[i] for i in top.tolist()])


class ExplanationUnavailable(SahabError):
    """The version cannot explain (no native model kept, or a framework without attributions)."""


def _build_explainer(model: LoadedModel, project):
    from workloads.explain import EXPLAINABLE, NOT_EXPLAINABLE, Explainer

    framework = project.spec.training.framework
    if framework not in EXPLAINABLE:
        raise ExplanationUnavailable(NOT_EXPLAINABLE.get(framework, f"no explanations for framework {framework}"))
    if model.native is None:
        raise ExplanationUnavailable(
            f"{model.name} v{model.version} was registered without its native model (tag {registry.TAG_NATIVE}); retrain it to serve explanations"
        )
    try:
        from workloads.export.native import load_native_bytes

        if framework == "torch":
            import torch

            torch.set_num_threads(1)  # one request at a time on the worker thread; onnxruntime keeps its own threads
        native = load_native_bytes(project, model.native)
        return Explainer(project, native, model.spec)
    except SahabError:
        raise
    except Exception as exc:  # a library missing from the image, an unloadable file: a reason, not a crash
        raise ExplanationUnavailable(f"{model.name} v{model.version}: cannot load its native {framework} model: {type(exc).__name__}: {exc}") from exc


def _read_verified(path: Path, expected: str) -> bytes:
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise registry.ArtifactIntegrityError(f"{path.name}: sha256 {actual} of the loaded bytes differs from {expected}")
    return data


def check_fits_project(spec: FeatureSpec, project: ProjectSpec, where: str) -> None:
    """Refuse a version whose encoding is not the project's: features and their order, task, classes."""
    problems = []
    if tuple(spec.numeric) != tuple(project.numeric):
        problems.append(f"numeric features {list(spec.numeric)} != the project's {list(project.numeric)}")
    if tuple(spec.categorical) != tuple(project.categorical):
        problems.append(f"categorical features {list(spec.categorical)} != the project's {list(project.categorical)}")
    if spec.task != project.label.task:
        problems.append(f"task {spec.task!r} != the project's label.task {project.label.task!r}")
    elif tuple(spec.classes) != tuple(project.label.classes):
        problems.append(f"classes {list(spec.classes)} != the project's label.classes {list(project.label.classes)}")
    if problems:
        raise ModelUnavailable(
            f"{where}: feature_spec.json does not fit project {project.name!r}: "
            + "; ".join(problems)
            + ". Fix: register a version trained on this project.yaml"
        )


def _check_contract(session: ort.InferenceSession, spec: FeatureSpec, where: str) -> None:
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    wanted = output_name(spec.task)
    if set(inputs) != {INPUT_NUMERIC, INPUT_CATEGORICAL} or wanted not in outputs:
        raise ModelUnavailable(
            f"{where}: inputs {sorted(inputs)} / outputs {sorted(outputs)} break the serving contract "
            f"(inputs {INPUT_NUMERIC}, {INPUT_CATEGORICAL}; output {wanted} for a {spec.task} model)"
        )
    for name, width in ((INPUT_NUMERIC, len(spec.numeric)), (INPUT_CATEGORICAL, len(spec.categorical))):
        shape = inputs[name].shape
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != width):
            raise ModelUnavailable(f"{where}: input {name} has shape {shape}, the feature spec needs [B, {width}]")
    if spec.task == "multiclass":
        shape = outputs[wanted].shape
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != len(spec.classes)):
            raise ModelUnavailable(f"{where}: output {wanted} has shape {shape}, the project's {len(spec.classes)} classes need [B, {len(spec.classes)}]")


def load(alias: str, settings: ServingSettings, project: ProjectSpec, sahab: SahabSettings | None = None) -> LoadedModel:
    """Resolve, verify and load the version behind `alias` of the project's registered model;
    raise ModelUnavailable saying why."""
    sahab = sahab or SahabSettings()
    # A private download folder: replicas on one node must not delete each other's files.
    scratch = Path(tempfile.mkdtemp(prefix=f"sahab-serving-{alias}-"))
    try:
        try:
            resolved = registry.resolve(alias, name=project.name, dst=scratch, settings=sahab)
        except LookupError as exc:
            raise AliasNotFound(str(exc)) from exc
        except Exception as exc:  # the MLflow store or artifact repository failed
            raise ModelUnavailable(f"{project.name} {alias}: cannot download the artifacts: {exc}") from exc
        where = f"{resolved.name} v{resolved.version} ({alias})"
        asked = settings.precision or project.serving.precision
        precision, reason = asked, ""
        if asked == "int8" and not resolved.has_int8:
            precision, reason = "fp32", f"v{resolved.version} has no int8 graph (tag {registry.TAG_INT8}=false): serving fp32"
        onnx_name = registry.FP32_ONNX if precision == "fp32" else registry.INT8_ONNX
        try:
            registry.verify(resolved)
            model_bytes = _read_verified(resolved.paths()[onnx_name], resolved.sha256[onnx_name])
            spec_bytes = _read_verified(resolved.feature_spec, resolved.sha256[registry.FEATURE_SPEC])
            native = _read_verified(resolved.native, resolved.sha256[resolved.native.name]) if resolved.native is not None else None
        except registry.ArtifactIntegrityError as exc:
            raise ModelUnavailable(f"{where}: integrity check failed: {exc}") from exc
        try:
            spec = FeatureSpec.from_json(spec_bytes.decode())
        except Exception as exc:  # an encoding of another format is a reason, not a crash
            raise ModelUnavailable(f"{where}: cannot read {registry.FEATURE_SPEC}: {exc}") from exc
        check_fits_project(spec, project, where)
        try:
            session = ort.InferenceSession(model_bytes, session_options(settings), providers=["CPUExecutionProvider"])
        except Exception as exc:  # a verified but unusable file is still a reason to stay unready
            raise ModelUnavailable(f"{where}: cannot load {onnx_name}: {exc}") from exc
        _check_contract(session, spec, where)
        model = LoadedModel(alias, resolved.name, resolved.version, precision, resolved.sha256[onnx_name], spec, session, reason, native)
        # Warm up: the first run allocates; it should not land on a client's request.
        model.predict_arrays(np.zeros((1, len(spec.numeric)), np.float32), np.zeros((1, len(spec.categorical)), np.int64))
        logger.info("loaded %s %s sha256=%s%s", where, precision, model.sha256, f" ({reason})" if reason else "")
        return model
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
