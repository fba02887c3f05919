"""ONNX export: contract, parity, int8 accuracy bound."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from workload_helpers import tiny_config

from workloads.export.onnx import (
    ExportConfig,
    ParityError,
    QuantizationRefused,
    export_all,
    onnx_scores,
)
from workloads.registry.client import FEATURE_SPEC, FP32_ONNX, INT8_ONNX, sha256_file
from workloads.training.trainer import predict, train


@pytest.fixture(scope="module")
def trained(small_data):
    return train(tiny_config(steps=60), small_data, log=lambda s: None).model


@pytest.mark.slow
def test_export_contract_parity_and_int8(tmp_path, small_data, trained):
    report = export_all(trained, small_data.spec, small_data.val, tmp_path, ExportConfig(exporter="torchscript"))
    model = onnx.load(str(tmp_path / FP32_ONNX))
    inputs = {i.name: i for i in model.graph.input}
    assert list(inputs) == ["numeric", "categorical"] and [o.name for o in model.graph.output] == ["score"]
    assert inputs["numeric"].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert inputs["categorical"].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert not inputs["numeric"].type.tensor_type.shape.dim[0].HasField("dim_value"), "batch axis must be dynamic"
    assert report.parity_max_abs_diff <= 1e-4
    for n in (1, 7, len(small_data.val)):  # any batch size, same probabilities as PyTorch
        got = onnx_scores(tmp_path / FP32_ONNX, small_data.val.numeric[:n].numpy(), small_data.val.categorical[:n].numpy())
        np.testing.assert_allclose(got, predict(trained, small_data.val)[:n], atol=1e-4)
    assert abs(report.int8_auc_delta_points) <= 1.0 and report.int8_auc > 0.5
    assert report.sha256 == {f: sha256_file(tmp_path / f) for f in (FP32_ONNX, INT8_ONNX, FEATURE_SPEC)}


@pytest.mark.slow
def test_dynamo_exporter_meets_the_same_contract(tmp_path, small_data, trained):
    report = export_all(trained, small_data.spec, small_data.val, tmp_path, ExportConfig(exporter="dynamo"))
    assert report.parity_max_abs_diff <= 1e-4 and (tmp_path / INT8_ONNX).is_file()


def test_parity_failure_is_an_error(tmp_path, small_data, trained):
    with pytest.raises(ParityError, match="max abs difference"):
        export_all(trained, small_data.spec, small_data.val, tmp_path, ExportConfig(exporter="torchscript", parity_tolerance=1e-12))


def test_int8_beyond_the_bound_is_refused(tmp_path, small_data, trained, monkeypatch):
    import workloads.export.onnx as export

    def broken_quantize(fp32, int8):  # an "int8" model whose scores are noise
        import torch

        from workloads.training.config import ModelConfig
        from workloads.training.model import build_model

        torch.manual_seed(123)
        export.export_fp32(build_model(small_data.spec, ModelConfig(hidden=8)), small_data.spec, int8, ExportConfig(exporter="torchscript"))
        return int8

    monkeypatch.setattr(export, "quantize_int8", broken_quantize)
    with pytest.raises(QuantizationRefused, match="max_int8_auc_delta_points=1.0"):
        export_all(trained, small_data.spec, small_data.val, tmp_path, ExportConfig(exporter="torchscript"))
    assert not (tmp_path / INT8_ONNX).exists(), "a refused int8 model must not be left behind"
