"""ONNX export, parity against PyTorch, int8 dynamic quantization with an accuracy bound.

ONNX contract (serving relies on it): inputs `numeric` float32 [batch, n_num] and `categorical`
int64 [batch, n_cat] (raw values from `encode`), output `score` float32 [batch], the fraud
probability. The batch axis is dynamic.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from workloads.features.encoding import FeatureSpec
from workloads.registry.client import ARTIFACTS, FEATURE_SPEC, FP32_ONNX, INT8_ONNX, sha256_file
from workloads.training.data import Dataset
from workloads.training.metrics import binary_metrics

INPUTS = ("numeric", "categorical")
OUTPUT = "score"


class ExportConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    parity_tolerance: float = Field(1e-4, gt=0.0, le=1e-2)
    """Largest allowed |torch - onnxruntime| on the held-out batch."""
    parity_batch: int = Field(1024, ge=1)
    max_int8_auc_delta_points: float = Field(1.0, ge=0.0, le=100.0)
    """int8 is refused when its validation AUC trails fp32 by more than this many points (1 point = 0.01)."""
    opset: int = Field(18, ge=17, le=23)
    exporter: Literal["dynamo", "torchscript"] = "dynamo"
    """`dynamo` is torch's supported exporter; `torchscript` is the legacy one (faster, deprecated)."""


class ParityError(RuntimeError):
    """ONNX output differs from PyTorch by more than the tolerance."""


class QuantizationRefused(RuntimeError):
    """The int8 model lost more AUC than the configured bound."""


@dataclass(frozen=True)
class ExportReport:
    out_dir: Path
    parity_max_abs_diff: float
    fp32_auc: float
    int8_auc: float
    int8_auc_delta_points: float
    sha256: dict[str, str]
    """Hex digest of each artifact, keyed by file name."""

    def metrics(self) -> dict[str, float]:
        return {
            "onnx_parity_max_abs_diff": self.parity_max_abs_diff,
            "onnx_fp32_val_auc": self.fp32_auc,
            "int8_val_auc": self.int8_auc,
            "int8_auc_delta_points": self.int8_auc_delta_points,
        }


class ScoreModel(nn.Module):
    """Wraps a logit model so the exported graph outputs the probability."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(numeric, categorical))


def export_fp32(model: nn.Module, spec: FeatureSpec, path: Path, cfg: ExportConfig) -> Path:
    wrapped = ScoreModel(model).float().cpu().eval()
    example = (torch.zeros(2, len(spec.numeric)), torch.zeros(2, len(spec.categorical), dtype=torch.int64))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter chatter (deprecations, tracer notes), not errors
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        if cfg.exporter == "dynamo":
            batch = torch.export.Dim("batch")
            program = torch.onnx.export(
                wrapped,
                example,
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                opset_version=cfg.opset,
                dynamo=True,
                dynamic_shapes={"numeric": {0: batch}, "categorical": {0: batch}},
                verbose=False,
            )
            program.save(str(path))
            _drop_initializer_value_info(path)
        else:
            torch.onnx.export(
                wrapped,
                example,
                str(path),
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                opset_version=cfg.opset,
                dynamo=False,
                dynamic_axes={"numeric": {0: "batch"}, "categorical": {0: "batch"}, OUTPUT: {0: "batch"}},
            )
    return path


def _drop_initializer_value_info(path: Path) -> None:
    """Remove value_info entries that repeat initializer shapes.

    The dynamo exporter records them; onnxruntime's quantizer transposes Gemm weights and its
    shape inference then trips over the stale entry ("Inferred shape and existing shape differ").
    """
    import onnx

    model = onnx.load(str(path))
    names = {init.name for init in model.graph.initializer}
    keep = [vi for vi in model.graph.value_info if vi.name not in names]
    if len(keep) != len(model.graph.value_info):
        del model.graph.value_info[:]
        model.graph.value_info.extend(keep)
        onnx.save(model, str(path))


def onnx_scores(path: Path, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # export runs beside training jobs; one thread is plenty here
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    out = session.run([OUTPUT], {"numeric": numeric.astype(np.float32), "categorical": categorical.astype(np.int64)})[0]
    return np.asarray(out).reshape(-1)


@torch.no_grad()
def check_parity(model: nn.Module, path: Path, batch: Dataset, tolerance: float) -> float:
    """Max |torch - onnxruntime| on `batch` (and on its first row alone: the batch axis is dynamic)."""
    wrapped = ScoreModel(model).float().cpu().eval()
    num, cat = batch.numeric.cpu(), batch.categorical.cpu()
    expected = wrapped(num, cat).numpy()
    diff = float(np.max(np.abs(onnx_scores(path, num.numpy(), cat.numpy()) - expected)))
    single = float(np.max(np.abs(onnx_scores(path, num[:1].numpy(), cat[:1].numpy()) - expected[:1])))
    worst = max(diff, single)
    if not np.isfinite(worst) or worst > tolerance:
        raise ParityError(f"ONNX parity failed: max abs difference {worst:.3g} > tolerance {tolerance:.3g} ({path.name})")
    return worst


def quantize_int8(fp32: Path, int8: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return int8


def export_all(model: nn.Module, spec: FeatureSpec, val: Dataset, out_dir: Path, cfg: ExportConfig | None = None) -> ExportReport:
    """Write model.fp32.onnx, model.int8.onnx and feature_spec.json into `out_dir`.

    Raises ParityError when fp32 ONNX drifts from PyTorch beyond `parity_tolerance`, and
    QuantizationRefused (deleting the int8 file) when int8 loses more than
    `max_int8_auc_delta_points` of validation AUC.
    """
    cfg = cfg or ExportConfig()
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    fp32, int8 = out_dir / FP32_ONNX, out_dir / INT8_ONNX
    export_fp32(model, spec, fp32, cfg)
    n = min(cfg.parity_batch, len(val))
    held_out = Dataset(val.numeric[:n], val.categorical[:n], val.label[:n])
    parity = check_parity(model, fp32, held_out, cfg.parity_tolerance)
    quantize_int8(fp32, int8)
    y, num, cat = val.label.numpy(), val.numeric.numpy(), val.categorical.numpy()
    fp32_auc = binary_metrics(y, onnx_scores(fp32, num, cat))["auc"]
    int8_auc = binary_metrics(y, onnx_scores(int8, num, cat))["auc"]
    delta = (fp32_auc - int8_auc) * 100.0
    if not delta <= cfg.max_int8_auc_delta_points:
        int8.unlink()
        raise QuantizationRefused(
            f"int8 refused: validation AUC {int8_auc:.4f} vs fp32 {fp32_auc:.4f} is a drop of {delta:.2f} points, "
            f"above max_int8_auc_delta_points={cfg.max_int8_auc_delta_points}"
        )
    (out_dir / FEATURE_SPEC).write_text(spec.to_json())
    digests = {name: sha256_file(out_dir / name) for name in ARTIFACTS}
    return ExportReport(out_dir, parity, fp32_auc, int8_auc, delta, digests)
