"""ONNX export of torch models (both exporters), the parity gate, the int8 bound, the converted
graphs' preamble, and the re-export CLI over a training run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from project_fixtures import TINY, quiet, synthetic_frame, write_project

from workloads.evaluation import predict_onnx_arrays
from workloads.export import ExportConfig, ParityError, export_model
from workloads.export.native import native_file
from workloads.registry.client import FEATURE_SPEC, FP32_ONNX, INT8_ONNX, PROJECT_JSON, sha256_file
from workloads.training.frameworks import predict_native
from workloads.training.runtime import run_training

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    project = write_project(tmp_path_factory.mktemp("projects"), framework="torch", task="binary", config={**TINY, "steps": 60})
    return project, run_training(project, synthetic_frame(project.spec, 4_000, seed=7), log=quiet)


@pytest.mark.parametrize("exporter", ["torchscript", pytest.param("dynamo", marks=pytest.mark.slow)])
def test_torch_export_contract_parity_and_int8(tmp_path, trained, exporter):
    project, outcome = trained
    report = export_model(project, outcome.model, outcome.encoding, outcome.validation, tmp_path, ExportConfig(exporter=exporter), log=quiet)
    model = onnx.load(str(tmp_path / FP32_ONNX))
    inputs = {i.name: i for i in model.graph.input}
    assert list(inputs) == ["numeric", "categorical"] and [o.name for o in model.graph.output] == ["score"], f"{FP32_ONNX} I/O"
    assert not inputs["numeric"].type.tensor_type.shape.dim[0].HasField("dim_value"), "batch axis must be dynamic"
    assert report.parity_max_abs_diff <= 1e-4, report.parity_max_abs_diff
    val = outcome.validation
    native = predict_native("binary", outcome.model, val.numeric, val.categorical).score
    for n in (1, 7, len(val)):  # any batch size, the same probabilities as PyTorch
        got = predict_onnx_arrays(tmp_path / FP32_ONNX, outcome.encoding, val.numeric[:n], val.categorical[:n]).score
        np.testing.assert_allclose(got, native[:n], atol=1e-4, err_msg=f"{FP32_ONNX} batch of {n}")
    assert report.int8 and (tmp_path / INT8_ONNX).is_file(), report.int8_reason
    assert abs(report.int8_metrics["auc"] - report.fp32_metrics["auc"]) <= project.spec.evaluation.gate.max_int8_delta, report.int8_reason
    # the native model ships beside the graphs: serving explains from it (workloads/export/native.py)
    shipped = (FP32_ONNX, INT8_ONNX, FEATURE_SPEC, PROJECT_JSON, native_file("torch"))
    assert report.sha256 == {f: sha256_file(tmp_path / f) for f in shipped}, "one digest per artifact"
    assert '"name": "' + project.name + '"' in (tmp_path / PROJECT_JSON).read_text(), f"{PROJECT_JSON} holds the validated spec"


def test_parity_failure_is_an_error(tmp_path, trained):
    project, outcome = trained
    with pytest.raises(ParityError, match="max abs difference .* > tolerance"):
        export_model(
            project, outcome.model, outcome.encoding, outcome.validation, tmp_path, ExportConfig(exporter="torchscript", parity_tolerance=1e-12), log=quiet
        )


def test_int8_beyond_the_bound_is_dropped_with_its_reason(tmp_path, trained, monkeypatch):
    import workloads.export.torch_graph as torch_graph

    project, outcome = trained

    def noise(fp32, int8):  # an "int8" graph whose scores are another (untrained) model's
        import torch

        from workloads.training.tabular import ModelConfig, build_model

        torch.manual_seed(123)
        enc = outcome.encoding
        torch_graph.export_torch(
            build_model(enc, ModelConfig(hidden=8)), "binary", len(enc.numeric), len(enc.categorical), int8, output="score", opset=18, exporter="torchscript"
        )
        return int8

    monkeypatch.setattr(torch_graph, "quantize_int8", noise)
    lines: list[str] = []
    report = export_model(project, outcome.model, outcome.encoding, outcome.validation, tmp_path, ExportConfig(exporter="torchscript"), log=lines.append)
    assert not report.int8 and not (tmp_path / INT8_ONNX).exists(), "a refused int8 graph must not be left behind"
    assert "max_int8_delta 0.02" in report.int8_reason and "int8 dropped" in lines[-1], (report.int8_reason, lines)
    assert INT8_ONNX not in report.sha256 and (tmp_path / FP32_ONNX).is_file(), "fp32 stays"


def test_a_tree_graph_takes_the_platforms_inputs_with_and_without_categoricals(tmp_path):
    import lightgbm

    project = write_project(tmp_path, framework="lightgbm", task="binary")
    outcome = run_training(project, synthetic_frame(project.spec, 2_000, seed=1), log=quiet)
    export_model(project, outcome.model, outcome.encoding, outcome.validation, tmp_path / "onnx", log=quiet)
    graph = onnx.load(str(tmp_path / "onnx" / FP32_ONNX))
    first = [n.op_type for n in graph.graph.node[:2]]
    assert first == ["Cast", "Concat"], f"the preamble casts categorical and concatenates it after numeric: {first}"
    assert graph.graph.node[-1].op_type == "Gather" and graph.graph.output[0].name == "score", "binary: column 1 of the probabilities"

    # A model on numerics alone (no categorical codes): the preamble is an Identity.
    from workloads.features.encoding import FeatureSpec

    spec = FeatureSpec.fit(outcome.train.frame, numeric=list(project.spec.numeric), categorical=[])
    model = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(outcome.train.numeric, outcome.train.y)
    from workloads.export.converted import convert, with_platform_io

    onnx.save(with_platform_io(convert("lightgbm", model, 3), "binary", 3, 0, "score"), str(tmp_path / "num.onnx"))
    zeros = np.zeros((5, 0), dtype=np.int64)
    got = predict_onnx_arrays(tmp_path / "num.onnx", spec, outcome.validation.numeric[:5], zeros).score
    np.testing.assert_allclose(got, model.predict_proba(outcome.validation.numeric[:5])[:, 1], atol=1e-6, err_msg="numeric-only graph")


@pytest.mark.slow
def test_reexport_cli_registers_a_run_with_the_same_graph(tmp_path):
    from workloads.registry.client import mlflow_client
    from workloads.settings import SahabSettings

    project = write_project(tmp_path, framework="xgboost", task="multiclass")
    data = tmp_path / "frame.parquet"
    synthetic_frame(project.spec, 2_000, seed=4).to_parquet(data, index=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    env.update(SAHAB_HOME=str(tmp_path / "home"), SAHAB_PROJECT=str(project.folder))
    trained = subprocess.run([sys.executable, "-m", "workloads.training", "--data", str(data)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    run_id = trained.stdout.split("run_id=")[1].split()[0]
    done = subprocess.run([sys.executable, "-m", "workloads.export", "--run-id", run_id], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"registered {project.name} v1 as challenger" in done.stdout, done.stdout
    client = mlflow_client(SahabSettings(home=tmp_path / "home", mlflow_tracking_uri=None))
    version = client.get_model_version_by_alias(project.name, "challenger")
    assert version.tags["sahab.int8"] == "false" and version.tags["sahab.data.sha256"], version.tags
    assert client.get_run(run_id).data.metrics["onnx_parity_max_abs_diff"] <= 1e-4, "the export's parity is logged to the run"


def test_lightgbm_thresholds_between_float32_values_keep_parity(tmp_path):
    """Feature values that are adjacent float32 numbers: LightGBM's double threshold between them
    rounds up onto one in a float32 graph, and that value would take the other branch (a 4.1
    difference here before the exporter rounded thresholds down)."""
    import lightgbm

    from workloads.export.converted import convert, with_platform_io

    rng = np.random.default_rng(0)
    a = np.float32(1.0)
    b = np.nextafter(a, np.float32(2))
    c = np.nextafter(b, np.float32(2))
    x = rng.choice(np.array([a, b, c], dtype=np.float32), size=3_000).reshape(-1, 1)
    y = (x[:, 0] >= b) * 10.0 + rng.normal(0, 0.01, 3_000)
    booster = lightgbm.train({"objective": "regression", "verbose": -1, "min_data_in_leaf": 5}, lightgbm.Dataset(x, y), 5)
    onnx.save(with_platform_io(convert("lightgbm", booster, 1), "regression", 1, 0, "score"), str(tmp_path / "g.onnx"))
    from workloads.features.encoding import FeatureSpec

    spec = FeatureSpec(("x",), (), {}, {"x": 1.0}, {"x": 1.0}, "regression")
    got = predict_onnx_arrays(tmp_path / "g.onnx", spec, x, np.zeros((len(x), 0), dtype=np.int64)).score
    assert np.abs(got - booster.predict(x)).max() <= 1e-5, f"max difference {np.abs(got - booster.predict(x)).max()}"
