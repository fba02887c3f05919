"""A verified ONNX model on onnxruntime's CPU provider, loaded from the registry by alias.

Loading = resolve the alias (download), `verify` every artifact's sha256 against the version's
tags, then read each file once, hash the very bytes that are about to be used, and build the
session from those bytes: a file swapped between the check and the load cannot slip through.
Any failure raises `ModelUnavailable` with the reason; the service stays unready on it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from workloads.features.encoding import FeatureSpec, encode
from workloads.registry import client as registry
from workloads.serving.settings import ServingSettings
from workloads.settings import SahabSettings

INPUT_NUMERIC, INPUT_CATEGORICAL, OUTPUT_SCORE = "numeric", "categorical", "score"
logger = logging.getLogger(__name__)


class ModelUnavailable(RuntimeError):
    """The alias is missing, an artifact is missing or tampered with, or the model is unusable."""


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


@dataclass(frozen=True)
class LoadedModel:
    alias: str
    name: str
    version: str
    precision: str
    sha256: str
    spec: FeatureSpec
    session: ort.InferenceSession

    def score_records(self, records: list[dict[str, object]]) -> np.ndarray:
        """Scores (float32 [B]) of feature records, encoded with this version's feature spec."""
        numeric, categorical = encode(records, self.spec)
        return self.score_arrays(numeric, categorical)

    def score_arrays(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        (scores,) = self.session.run([OUTPUT_SCORE], {INPUT_NUMERIC: numeric, INPUT_CATEGORICAL: categorical})
        return scores.reshape(-1)


def _read_verified(path: Path, expected: str) -> bytes:
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise registry.ArtifactIntegrityError(f"{path.name}: sha256 {actual} of the loaded bytes differs from {expected}")
    return data


def _check_contract(session: ort.InferenceSession, spec: FeatureSpec, where: str) -> None:
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]
    if set(inputs) != {INPUT_NUMERIC, INPUT_CATEGORICAL} or OUTPUT_SCORE not in outputs:
        raise ModelUnavailable(f"{where}: inputs {sorted(inputs)} / outputs {outputs} break the serving contract")
    for name, width in ((INPUT_NUMERIC, len(spec.numeric)), (INPUT_CATEGORICAL, len(spec.categorical))):
        shape = inputs[name].shape
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != width):
            raise ModelUnavailable(f"{where}: input {name} has shape {shape}, the feature spec needs [B, {width}]")


def load(alias: str, settings: ServingSettings, sahab: SahabSettings | None = None) -> LoadedModel:
    """Resolve, verify and load the version behind `alias`; raise ModelUnavailable saying why."""
    sahab = sahab or SahabSettings()
    # A private download folder: replicas on one node must not delete each other's files.
    scratch = Path(tempfile.mkdtemp(prefix=f"sahab-serving-{alias}-"))
    try:
        try:
            resolved = registry.resolve(alias, dst=scratch, settings=sahab)
        except LookupError as exc:
            raise AliasNotFound(str(exc)) from exc
        except Exception as exc:  # the MLflow store or artifact repository failed
            raise ModelUnavailable(f"{alias}: cannot download the artifacts: {exc}") from exc
        where = f"{resolved.name} v{resolved.version} ({alias})"
        try:
            registry.verify(resolved)
            onnx_name = registry.FP32_ONNX if settings.precision == "fp32" else registry.INT8_ONNX
            model_bytes = _read_verified(resolved.paths()[onnx_name], resolved.sha256[onnx_name])
            spec_bytes = _read_verified(resolved.feature_spec, resolved.sha256[registry.FEATURE_SPEC])
        except registry.ArtifactIntegrityError as exc:
            raise ModelUnavailable(f"{where}: integrity check failed: {exc}") from exc
        try:
            spec = FeatureSpec.from_json(spec_bytes.decode())
            session = ort.InferenceSession(model_bytes, session_options(settings), providers=["CPUExecutionProvider"])
        except Exception as exc:  # a verified but unusable file is still a reason to stay unready
            raise ModelUnavailable(f"{where}: cannot load {onnx_name}: {exc}") from exc
        _check_contract(session, spec, where)
        model = LoadedModel(alias, resolved.name, resolved.version, settings.precision, resolved.sha256[onnx_name], spec, session)
        # Warm up: the first run allocates; it should not land on a client's request.
        model.score_arrays(np.zeros((1, len(spec.numeric)), np.float32), np.zeros((1, len(spec.categorical)), np.int64))
        logger.info("loaded %s %s sha256=%s", where, settings.precision, model.sha256)
        return model
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
