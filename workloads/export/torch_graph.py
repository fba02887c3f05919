"""A torch model as one ONNX graph: the task's activation inside (sigmoid, softmax or identity).

checked: torch 2.13 torch/onnx/__init__.py `export` (dynamo=True takes dynamic_shapes and returns an
ONNXProgram; dynamo=False is the TorchScript exporter, which takes dynamic_axes).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Literal

import torch
from torch import nn

INPUTS = ("numeric", "categorical")


class ScoreModel(nn.Module):
    """Wraps a model's raw head so the graph outputs what serving returns: P(positive) [B]
    (binary), the class probabilities [B, K] (multiclass) or the value [B] (regression)."""

    def __init__(self, model: nn.Module, task: str) -> None:
        super().__init__()
        self.model, self.task = model, task

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        out = self.model(numeric, categorical).float()
        if self.task == "multiclass":
            return torch.softmax(out, dim=-1)
        out = out.reshape(out.shape[0])  # [B, 1] or [B] -> [B]
        return torch.sigmoid(out) if self.task == "binary" else out


def export_torch(
    model: nn.Module, task: str, n_numeric: int, n_categorical: int, path: Path, *, output: str, opset: int, exporter: Literal["dynamo", "torchscript"]
) -> Path:
    import copy

    wrapped = ScoreModel(copy.deepcopy(model).float().cpu().eval(), task).eval()
    example = (torch.zeros(2, n_numeric), torch.zeros(2, n_categorical, dtype=torch.int64))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter chatter (deprecations, tracer notes), not errors
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        if exporter == "dynamo":
            batch = torch.export.Dim("batch")
            program = torch.onnx.export(
                wrapped,
                example,
                input_names=list(INPUTS),
                output_names=[output],
                opset_version=opset,
                dynamo=True,
                dynamic_shapes={"numeric": {0: batch}, "categorical": {0: batch}},
                verbose=False,
            )
            assert program is not None  # dynamo=True always returns the program
            program.save(str(path))
            _drop_initializer_value_info(path)
        else:
            torch.onnx.export(
                wrapped,
                example,
                str(path),
                input_names=list(INPUTS),
                output_names=[output],
                opset_version=opset,
                dynamo=False,
                dynamic_axes={"numeric": {0: "batch"}, "categorical": {0: "batch"}, output: {0: "batch"}},
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


def quantize_int8(fp32: Path, int8: Path) -> Path:
    """onnxruntime dynamic quantization: int8 weights of MatMul / Gemm, activations quantized per batch."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its "consider pre-processing" advice goes to the root logger on every call
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return int8
