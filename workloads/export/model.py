"""`export_model`: one fitted model of any framework -> the version's ONNX artifacts.

    report = export_model(project, model, encoding, validation_split, out_dir)

Writes into `out_dir` (the run's `onnx/`):
- `model.fp32.onnx`: one graph taking `numeric` float32 [B, n_num] and `categorical` int64
  [B, n_cat] (the encoding's arrays); output binary `score` [B] = P(positive), regression `score`
  [B] = the value, multiclass `probabilities` [B, K] in `label.classes` order. torch through
  torch.onnx (torch_graph.py), LightGBM / XGBoost / sklearn through their converters (converted.py);
- `model.int8.onnx` only where it means something: a torch graph, dynamically quantized, kept when
  the primary metric on the sample moves by at most `evaluation.gate.max_int8_delta` (else dropped,
  with the reason in the report). Tree ensembles and sklearn's ML-domain operators have no int8
  kernels in onnxruntime's dynamic quantization;
- `feature_spec.json` (the encoding, format 2) and `project.json` (the validated spec);
- the native model (`model.pkl` / `model.pt`, workloads/export/native.py): what explanations are
  computed on (exact TreeSHAP, integrated gradients), registered with its sha256 like the graphs.

Parity: the graph must answer what the native model answers on the sample (its first
`parity_rows` rows, and its first row alone: the batch axis is dynamic): max |difference| of the
score / probabilities <= `parity_tolerance` (1e-4), else ParityError. For regression the bound is
relative to the value's size, max(1, |value|) x tolerance: a float32 graph cannot hold a price of
10,000 AED to 1e-4 absolute, while probabilities are checked absolutely.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from workloads.errors import SahabError
from workloads.evaluation import Predictions, metrics, predict_onnx_arrays
from workloads.features.encoding import FeatureSpec
from workloads.registry.client import FEATURE_SPEC, FP32_ONNX, INT8_ONNX, PROJECT_JSON, sha256_file
from workloads.training.frameworks import framework_of, predict_native

if TYPE_CHECKING:
    from workloads.project.context import Split
    from workloads.project.project import Project

Log = Any


class ExportConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    parity_tolerance: float = Field(1e-4, gt=0.0, le=1e-2)
    """Largest allowed |native - onnxruntime| on the sample (relative to max(1, |value|) for regression)."""
    parity_rows: int = Field(1024, ge=1)
    opset: int = Field(18, ge=17, le=23)
    """torch graphs' opset (converted graphs use converted.TARGET_OPSET)."""
    exporter: Literal["dynamo", "torchscript"] = "dynamo"
    """torch: `dynamo` is torch's supported exporter; `torchscript` the legacy one (faster, deprecated)."""
    int8: bool = True
    """Try int8 where the framework allows it (torch)."""


class ParityError(SahabError):
    """The ONNX graph answers differently from the native model by more than the tolerance."""

    exit_code = 3


@dataclass(frozen=True)
class ExportReport:
    out_dir: Path
    framework: str
    task: str
    parity_max_abs_diff: float
    """Worst |native - onnx| on the sample (for regression: divided by max(1, |value|))."""
    int8: bool
    """Whether model.int8.onnx was kept."""
    int8_reason: str
    fp32_metrics: dict[str, float] = field(default_factory=dict)
    """The fp32 graph's metrics on the sample split."""
    int8_metrics: dict[str, float] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)
    """Hex digest of each artifact written, keyed by file name."""

    def metrics(self) -> dict[str, float]:
        """For the run: parity, whether int8 was kept, and both graphs' sample metrics."""
        out = {"onnx_parity_max_abs_diff": self.parity_max_abs_diff, "onnx_int8_kept": float(self.int8)}
        out.update({f"onnx_fp32_{k}": v for k, v in self.fp32_metrics.items()})
        out.update({f"onnx_int8_{k}": v for k, v in self.int8_metrics.items()})
        return out


def _compare(task: str, native: Predictions, onnx: Predictions) -> float:
    if task == "multiclass":
        assert native.probabilities is not None and onnx.probabilities is not None
        return float(np.max(np.abs(native.probabilities - onnx.probabilities), initial=0.0))
    diff = np.abs(native.score - onnx.score)
    if task == "regression":
        diff = diff / np.maximum(1.0, np.abs(native.score))
    return float(np.max(diff, initial=0.0))


def check_parity(project: Project, model: Any, path: Path, encoding: FeatureSpec, sample: Split, cfg: ExportConfig) -> float:
    """Worst difference on the sample's first rows and on its first row alone; ParityError beyond the tolerance."""
    task, classes = encoding.task, encoding.classes
    n = min(cfg.parity_rows, len(sample))
    worst = 0.0
    for rows in (slice(0, n), slice(0, 1)):
        num, cat = sample.numeric[rows], sample.categorical[rows]
        native = predict_native(task, model, num, cat, classes)
        graph = predict_onnx_arrays(path, encoding, num, cat)
        worst = max(worst, _compare(task, native, graph))
    if not math.isfinite(worst) or worst > cfg.parity_tolerance:
        raise ParityError(
            f"{project.name}: ONNX parity failed: max abs difference {worst:.3g} > tolerance {cfg.parity_tolerance:.3g} "
            f"({path.name}, {project.spec.training.framework} {task}). The graph does not compute what the model does: "
            "report it with the model's type; do not raise the tolerance to pass it"
        )
    return worst


def export_model(
    project: Project, model: Any, encoding: FeatureSpec, sample_split: Split, out_dir: Path, config: ExportConfig | None = None, log: Log = print
) -> ExportReport:
    """Write the version's artifacts (module docstring) and return what was checked."""
    cfg = config or ExportConfig()
    spec = project.spec
    framework, task = spec.training.framework, spec.label.task
    if framework_of(model) != framework:
        raise SahabError(f"export: the model is {type(model).__name__}, not a {framework} model as training.framework says ({project.file})")
    if len(sample_split) == 0:
        raise SahabError("export: the sample split is empty; parity needs rows (give the validation or holdout split)")
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    fp32, int8 = out_dir / FP32_ONNX, out_dir / INT8_ONNX
    output = "probabilities" if task == "multiclass" else "score"
    n_num, n_cat = len(encoding.numeric), len(encoding.categorical)
    if framework == "torch":
        from workloads.export.torch_graph import export_torch

        export_torch(model, task, n_num, n_cat, fp32, output=output, opset=cfg.opset, exporter=cfg.exporter)
    else:
        import onnx

        from workloads.export.converted import convert, with_platform_io

        onnx.save(with_platform_io(convert(framework, model, n_num + n_cat), task, n_num, n_cat, output), str(fp32))
    parity = check_parity(project, model, fp32, encoding, sample_split, cfg)
    fp32_metrics = metrics(spec, sample_split.y, predict_onnx_arrays(fp32, encoding, sample_split.numeric, sample_split.categorical))
    int8_metrics: dict[str, float] = {}
    kept, reason = False, f"{framework} graphs have no int8 (onnxruntime quantizes MatMul / Gemm weights; trees have none)"
    if framework == "torch" and not cfg.int8:
        reason = "int8 not asked for (ExportConfig.int8=false)"
    elif framework == "torch":
        kept, reason, int8_metrics = _try_int8(project, fp32, int8, encoding, sample_split, fp32_metrics)
    log(f"export: parity {parity:.2e} ({framework} {task}); int8 {'kept' if kept else 'dropped'}: {reason}")
    (out_dir / FEATURE_SPEC).write_text(encoding.to_json())
    (out_dir / PROJECT_JSON).write_text(spec.model_dump_json(indent=2))
    from workloads.export.native import save_native

    save_native(framework, model, out_dir)
    digests = {p.name: sha256_file(p) for p in sorted(out_dir.iterdir()) if p.is_file()}
    return ExportReport(out_dir, framework, task, parity, kept, reason, fp32_metrics, int8_metrics, digests)


def _try_int8(
    project: Project, fp32: Path, int8: Path, encoding: FeatureSpec, sample: Split, fp32_metrics: dict[str, float]
) -> tuple[bool, str, dict[str, float]]:
    from workloads.export.torch_graph import quantize_int8

    spec = project.spec
    primary, bound = spec.primary_metric, spec.evaluation.gate.max_int8_delta
    try:
        quantize_int8(fp32, int8)
        values = metrics(spec, sample.y, predict_onnx_arrays(int8, encoding, sample.numeric, sample.categorical))
    except Exception as exc:  # noqa: BLE001 (a graph the quantizer cannot handle stays fp32-only: a reason, not a failure)
        int8.unlink(missing_ok=True)
        return False, f"quantization failed: {type(exc).__name__}: {exc}", {}
    delta = abs(values[primary] - fp32_metrics[primary])
    if not math.isfinite(delta):
        int8.unlink(missing_ok=True)
        return False, f"{primary} cannot be measured on the sample ({values[primary]} vs {fp32_metrics[primary]}); fp32 only", values
    if delta > bound:
        int8.unlink(missing_ok=True)
        return (
            False,
            f"{primary} moves by {delta:.4g} (fp32 {fp32_metrics[primary]:.4g}, int8 {values[primary]:.4g}) > evaluation.gate.max_int8_delta {bound}",
            values,
        )
    return True, f"{primary} moves by {delta:.4g} <= evaluation.gate.max_int8_delta {bound}", values
