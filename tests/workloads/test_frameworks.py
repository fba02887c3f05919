"""Every framework end to end on small synthetic frames: a team's training function (the fixtures'
train.py) -> run_training -> export_model -> parity with the native model -> the graph scored on
a holdout through workloads.evaluation; and a function that returns the wrong kind of model is a
ProjectError naming project.yaml."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from project_fixtures import TINY, quiet, synthetic_frame, write_project

from workloads.evaluation import metrics, predict_onnx
from workloads.export import ExportConfig, export_model
from workloads.features.encoding import FeatureSpec, encode_labels
from workloads.project import ProjectError
from workloads.registry.client import FEATURE_SPEC, FP32_ONNX, INT8_ONNX, PROJECT_JSON
from workloads.training.frameworks import predict_native
from workloads.training.runtime import run_training

# (framework, task, the holdout bar the graph must clear: metric, bound, higher is better)
CASES = [
    ("lightgbm", "regression", "r2", 0.7, True),
    ("lightgbm", "binary", "auc", 0.8, True),
    ("xgboost", "multiclass", "accuracy", 0.6, True),
    ("sklearn", "binary", "auc", 0.8, True),
    ("torch", "binary", "auc", 0.8, True),
    ("torch", "multiclass", "accuracy", 0.6, True),
    ("torch", "regression", "r2", 0.7, True),
]


@pytest.mark.parametrize("framework, task, metric, bound, higher", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_train_export_parity_and_evaluate(tmp_path, framework, task, metric, bound, higher):
    torch.set_num_threads(1)
    config = {**TINY, "steps": 150} if framework == "torch" else {}
    project = write_project(tmp_path, framework=framework, task=task, config=config)
    frame, holdout = synthetic_frame(project.spec, 4_000, seed=1), synthetic_frame(project.spec, 1_500, seed=2)

    outcome = run_training(project, frame, log=quiet)
    assert not outcome.interrupted and outcome.model is not None, f"{project.name}: training did not finish"
    assert set(outcome.validation_metrics) == {f"val_{m}" for m in project.spec.metrics}, f"{project.name}: validation metrics {outcome.validation_metrics}"
    assert len(outcome.train) + len(outcome.validation) == len(frame), "every row is in one split"
    assert outcome.train.frame[project.spec.timestamp].max() <= outcome.validation.frame[project.spec.timestamp].min(), "validation is out of time"

    report = export_model(project, outcome.model, outcome.encoding, outcome.validation, tmp_path / "onnx", ExportConfig(exporter="torchscript"), log=quiet)
    print(f"PARITY {framework} {task}: {report.parity_max_abs_diff:.3e} (int8 kept: {report.int8}; {report.int8_reason})")
    assert report.parity_max_abs_diff <= 1e-4, f"{project.name}: parity {report.parity_max_abs_diff}"
    graph = onnx.load(str(tmp_path / "onnx" / FP32_ONNX))
    inputs = {i.name: i.type.tensor_type for i in graph.graph.input}
    assert list(inputs) == ["numeric", "categorical"], f"{FP32_ONNX}: inputs {list(inputs)}"
    assert inputs["numeric"].elem_type == onnx.TensorProto.FLOAT and inputs["categorical"].elem_type == onnx.TensorProto.INT64, f"{FP32_ONNX}: input types"
    assert not inputs["numeric"].shape.dim[0].HasField("dim_value"), f"{FP32_ONNX}: the batch axis must be dynamic"
    want_output = "probabilities" if task == "multiclass" else "score"
    assert [o.name for o in graph.graph.output] == [want_output], f"{FP32_ONNX}: outputs {[o.name for o in graph.graph.output]}"
    assert (tmp_path / "onnx" / INT8_ONNX).exists() == report.int8 == (framework == "torch" and report.int8), f"{INT8_ONNX}: kept={report.int8}"
    if framework != "torch":
        assert not report.int8 and "no int8" in report.int8_reason, f"{framework}: {report.int8_reason}"
    assert set(report.sha256) >= {FP32_ONNX, FEATURE_SPEC, PROJECT_JSON}, f"artifacts {sorted(report.sha256)}"

    encoding = FeatureSpec.from_json((tmp_path / "onnx" / FEATURE_SPEC).read_text())
    assert encoding == outcome.encoding and encoding.task == task, f"{FEATURE_SPEC} round trip"
    predictions = predict_onnx(tmp_path / "onnx" / FP32_ONNX, encoding, holdout)
    values = metrics(project.spec, encode_labels(holdout[project.spec.label.column], project.spec), predictions)
    assert set(values) == set(project.spec.metrics), f"holdout metrics {sorted(values)}"
    assert (values[metric] >= bound) if higher else (values[metric] <= bound), f"{project.name}: holdout {metric} {values[metric]:.3f} vs {bound}"
    # The graph and the native model agree on the whole holdout too, not only on the parity sample.
    native = predict_native(task, outcome.model, *_arrays(holdout, encoding), tuple(project.spec.label.classes))
    got, want = (predictions.probabilities, native.probabilities) if task == "multiclass" else (predictions.score, native.score)
    np.testing.assert_allclose(got, want, atol=1e-4 * (max(1.0, float(np.abs(want).max())) if task == "regression" else 1.0), err_msg=project.name)


def _arrays(frame, encoding):
    from workloads.features.encoding import encode

    return encode(frame, encoding)


def test_a_function_returning_another_framework_is_an_error_naming_project_yaml(tmp_path):
    source = "from sklearn.linear_model import LogisticRegression\n\ndef train(ctx):\n    return LogisticRegression().fit(ctx.train.X, ctx.train.y)\n"
    project = write_project(tmp_path, framework="lightgbm", task="binary", source=source)
    with pytest.raises(ProjectError) as err:
        run_training(project, synthetic_frame(project.spec, 600), log=quiet)
    text = str(err.value)
    assert "project.yaml" in text and "training.framework" in text and "'sklearn'" in text, text


def test_a_function_returning_a_model_of_another_task_is_an_error(tmp_path):
    source = "import lightgbm\n\ndef train(ctx):\n    return lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(ctx.train.X, ctx.train.y > 30)\n"
    project = write_project(tmp_path, framework="lightgbm", task="regression", source=source)
    with pytest.raises(ProjectError) as err:
        run_training(project, synthetic_frame(project.spec, 600), log=quiet)
    assert "label.task" in str(err.value) and "regression" in str(err.value), str(err.value)


def test_a_torch_model_with_the_wrong_output_width_is_refused(tmp_path):
    source = (
        "import torch\n\nclass Two(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = torch.nn.Linear(3, 2)\n"
        "    def forward(self, numeric, categorical):\n        return self.w(numeric)\n\ndef train(ctx):\n    return Two()\n"
    )
    project = write_project(tmp_path, framework="torch", task="multiclass", source=source)
    with pytest.raises(ProjectError, match=r"label.task.*output has shape \[2, 2\] for 2 rows; a multiclass model outputs \[2, 3\]"):
        run_training(project, synthetic_frame(project.spec, 600), log=quiet)


def test_a_frame_without_the_projects_columns_names_them(tmp_path):
    from workloads.training.runtime import TrainingDataError

    project = write_project(tmp_path, framework="lightgbm", task="binary")
    frame = synthetic_frame(project.spec, 600).drop(columns=["n_b", "outcome_value"])
    with pytest.raises(TrainingDataError, match=r"columns \['n_b', 'outcome_value'\] are missing"):
        run_training(project, frame, log=quiet)
