"""Offline evaluation for every task: predictions, metrics, holdout scoring and the promotion gate.

    predictions = predict_onnx(version.fp32_onnx, version_encoding, holdout_frame)
    values = metrics(project, encode_labels(holdout_frame[label], project), predictions)
    result = judge(project, challenger_values, champion_values_on_the_same_holdout)

- `Predictions`: what a model says about N rows: `score` float64 [N] (binary: P(positive);
  regression: the value; multiclass: P(predicted class)), `probabilities` [N, K] (multiclass, in
  `label.classes` order) and, for multiclass, the predicted class names. Built from a model's raw
  outputs with `Predictions.from_outputs` (one place that knows what each task's output means).
- `metrics(project, y, predictions)`: every metric of the task (workloads/project/spec.py METRICS):
  binary auc, logloss, ece, brier, precision, recall, positive_rate (at `evaluation.threshold`);
  multiclass logloss, accuracy, macro_f1; regression rmse, mae, r2.
- `holdout_metrics(version, project, holdout)`: a registered version scored through its own ONNX
  graph and its own encoding (feature_spec.json), so versions trained on other windows are
  compared on the same rows.
- `judge(project, challenger, champion)`: the project's `evaluation.gate` (primary bound,
  guardrails, max_regression against the champion on the same holdout); direction per metric from
  `spec.HIGHER_IS_BETTER`. A metric that could not be computed (NaN, e.g. AUC on one class) fails
  its check: a gate never passes on a number it did not see.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workloads.features.encoding import FeatureSpec, encode, encode_labels, project_spec
from workloads.project.spec import HIGHER_IS_BETTER, METRICS, GateSpec

if TYPE_CHECKING:
    import pandas as pd

    from workloads.project.project import Project
    from workloads.project.spec import ProjectSpec
    from workloads.registry.client import ResolvedModel

ECE_BINS = 10
_EPS = 1e-7


@dataclass(frozen=True)
class Predictions:
    task: str
    score: np.ndarray
    """float64 [N]: binary P(positive); regression the value; multiclass P(predicted class)."""
    probabilities: np.ndarray | None = None
    """multiclass: float64 [N, K], in class order."""
    classes: tuple[str, ...] = ()

    @property
    def prediction(self) -> np.ndarray | None:
        """multiclass: the predicted class of each row (object [N]); None otherwise."""
        if self.probabilities is None:
            return None
        return np.asarray(self.classes, dtype=object)[np.argmax(self.probabilities, axis=1)]

    def __len__(self) -> int:
        return int(self.score.shape[0])

    @classmethod
    def from_outputs(cls, task: str, outputs: Any, classes: Sequence[str] = (), *, kind: str = "probabilities") -> Predictions:
        """From a model's outputs: `kind="probabilities"` (P(positive) [N] or [N, 1] for binary,
        [N, K] for multiclass, the value for regression) or `kind="logits"` (a torch head's raw
        output: sigmoid / softmax applied here)."""
        out = np.asarray(outputs, dtype=np.float64)
        if task == "multiclass":
            if out.ndim != 2 or out.shape[1] != len(classes):
                raise ValueError(f"multiclass outputs must be [N, {len(classes)}] (one column per class), got {list(out.shape)}")
            if kind == "logits":
                out = np.exp(out - out.max(axis=1, keepdims=True))
                out /= out.sum(axis=1, keepdims=True)
            return cls(task, out.max(axis=1), out, tuple(classes))
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1:
            raise ValueError(f"{task} outputs must be [N] (one number per row), got {list(out.shape)}")
        if task == "binary" and kind == "logits":
            out = 1.0 / (1.0 + np.exp(-out))
        return cls(task, out)


def predict_onnx(path: Path | str | bytes, encoding: FeatureSpec, frame: pd.DataFrame | Sequence[Mapping[str, object]], *, session: Any = None) -> Predictions:
    """Score rows through an exported graph (`numeric` + `categorical` in; `score` [B] or
    `probabilities` [B, K] out), encoded with `encoding` (the version's own)."""
    numeric, categorical = encode(frame, encoding)
    return predict_onnx_arrays(path, encoding, numeric, categorical, session=session)


def predict_onnx_arrays(path: Path | str | bytes, encoding: FeatureSpec, numeric: np.ndarray, categorical: np.ndarray, *, session: Any = None) -> Predictions:
    if session is None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # evaluation runs beside training jobs
        session = ort.InferenceSession(path if isinstance(path, bytes) else str(path), opts, providers=["CPUExecutionProvider"])
    output = "probabilities" if encoding.task == "multiclass" else "score"
    (out,) = session.run([output], {"numeric": numeric.astype(np.float32, copy=False), "categorical": categorical.astype(np.int64, copy=False)})
    return Predictions.from_outputs(encoding.task, out, encoding.classes)


def metrics(project: Project | ProjectSpec, y_true: Any, predictions: Predictions) -> dict[str, float]:
    """Every metric of the project's task. `y_true` is encoded (encode_labels) or raw labels
    (encoded here: class names for multiclass)."""
    spec = project_spec(project)
    task = spec.label.task
    if predictions.task != task:
        raise ValueError(f"predictions are for a {predictions.task} model, the project {spec.name} is {task}")
    y = np.asarray(y_true)
    if y.dtype == object or (task == "multiclass" and not np.issubdtype(y.dtype, np.integer)):
        y = encode_labels(y, spec)
    if len(y) != len(predictions):
        raise ValueError(f"{len(y)} labels for {len(predictions)} predictions")
    if task == "binary":
        return binary_metrics(y.astype(np.float64), predictions.score, spec.evaluation.threshold)
    if task == "multiclass":
        assert predictions.probabilities is not None
        return multiclass_metrics(y.astype(np.int64), predictions.probabilities)
    return regression_metrics(y.astype(np.float64), predictions.score)


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5, bins: int = ECE_BINS) -> dict[str, float]:
    """AUC, log loss, expected calibration error (equal-width bins weighted by their share of
    rows), Brier score, precision / recall / positive rate at `threshold`. AUC is NaN on one class."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    pred = p >= threshold
    tp = float(np.sum(pred & (y == 1)))
    which = np.minimum((p * bins).astype(int), bins - 1)
    ece = sum(float((which == b).mean()) * abs(p[which == b].mean() - y[which == b].mean()) for b in range(bins) if (which == b).any())
    return {
        "auc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan"),
        "logloss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
        "ece": float(ece),
        "brier": float(np.mean((p - y) ** 2)),
        "precision": tp / float(pred.sum()) if pred.sum() else 0.0,
        "recall": tp / float(y.sum()) if y.sum() else 0.0,
        "positive_rate": float(pred.mean()),
    }


def multiclass_metrics(y: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Log loss, accuracy and macro F1 (over the classes present in `y` or predicted)."""
    from sklearn.metrics import f1_score

    p = np.clip(np.asarray(probabilities, dtype=np.float64), _EPS, 1.0)
    y = np.asarray(y, dtype=np.int64)
    predicted = np.argmax(p, axis=1)
    return {
        "logloss": float(-np.mean(np.log(p[np.arange(len(y)), y]))),
        "accuracy": float(np.mean(predicted == y)),
        "macro_f1": float(f1_score(y, predicted, average="macro", zero_division=0)),
    }


def regression_metrics(y: np.ndarray, value: np.ndarray) -> dict[str, float]:
    y, value = np.asarray(y, dtype=np.float64), np.asarray(value, dtype=np.float64)
    err = value - y
    total = float(np.sum((y - y.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": 1.0 - float(np.sum(err**2)) / total if total > 0 else float("nan"),
    }


def holdout_metrics(version: ResolvedModel, project: Project | ProjectSpec, holdout: pd.DataFrame) -> dict[str, float]:
    """Metrics of a registered version on `holdout`, through its own fp32 graph and encoding."""
    spec = project_spec(project)
    encoding = FeatureSpec.from_json(Path(version.feature_spec).read_text())
    if encoding.task != spec.label.task or tuple(encoding.classes) != tuple(spec.label.classes):
        raise ValueError(
            f"{version.name} v{version.version} was trained for a {encoding.task} label {list(encoding.classes) or ''}; "
            f"project.yaml now says {spec.label.task} {list(spec.label.classes) or ''}: a version of another task cannot be compared"
        )
    predictions = predict_onnx(version.fp32_onnx, encoding, holdout)
    return metrics(spec, encode_labels(holdout[spec.label.column], spec), predictions)


# --- the gate ---


@dataclass(frozen=True)
class GateCheck:
    name: str
    """primary | guardrail | max_regression"""
    metric: str
    value: float
    bound: float
    comparison: str
    """'>=' or '<=': value must be on this side of bound."""
    passed: bool

    def describe(self) -> str:
        return f"{self.name} {self.metric}: {self.value:.6g} {'ok' if self.passed else 'fails'} {self.comparison} {self.bound:.6g}"


@dataclass(frozen=True)
class GateResult:
    passed: bool
    checks: tuple[GateCheck, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> tuple[GateCheck, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def describe(self) -> str:
        return "; ".join(c.describe() for c in (self.failed or self.checks))

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [c.__dict__ for c in self.checks]}


def _check(name: str, metric: str, value: float | None, bound: float, higher_ok: bool) -> GateCheck:
    v = float("nan") if value is None else float(value)
    ok = not math.isnan(v) and (v >= bound if higher_ok else v <= bound)
    return GateCheck(name, metric, v, float(bound), ">=" if higher_ok else "<=", ok)


def judge_gate(gate: GateSpec, challenger: Mapping[str, float], champion: Mapping[str, float] | None = None) -> GateResult:
    """The gate's checks on metrics measured on one holdout (see `judge`)."""
    checks = []
    for name, bound in (("primary", gate.primary), *(("guardrail", g) for g in gate.guardrails)):
        if bound.min is not None:
            checks.append(_check(name, bound.metric, challenger.get(bound.metric), bound.min, True))
        else:
            checks.append(_check(name, bound.metric, challenger.get(bound.metric), float(bound.max or 0.0), False))
    primary = gate.primary.metric
    base = champion.get(primary) if champion is not None else None
    if base is not None and not math.isnan(float(base)):
        higher = HIGHER_IS_BETTER.get(primary, False)
        floor = base - gate.max_regression if higher else base + gate.max_regression
        checks.append(_check("max_regression", primary, challenger.get(primary), floor, higher))
    return GateResult(all(c.passed for c in checks), tuple(checks))


def judge(project: Project | ProjectSpec, challenger: Mapping[str, float], champion: Mapping[str, float] | None = None) -> GateResult:
    """The project's gate: primary bound, guardrails, and (with a champion scored on the same
    holdout) the primary metric may trail the champion's by at most `max_regression`."""
    spec = project_spec(project)
    unknown = [m for m in (spec.evaluation.gate.primary.metric, *(g.metric for g in spec.evaluation.gate.guardrails)) if m not in METRICS[spec.label.task]]
    if unknown:  # validate_project refuses these; a hand-built spec might not have gone through it
        raise ValueError(f"evaluation.gate: {unknown} are not {spec.label.task} metrics")
    return judge_gate(spec.evaluation.gate, challenger, champion)
