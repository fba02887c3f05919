"""Registered models and feature records for the serving tests and benchmarks.

`build_registry` registers two versions in the MLflow registry the environment points at
(SAHAB_HOME / SAHAB_MLFLOW_TRACKING_URI): it runs issue 4's `run_local_pipeline` when present,
otherwise it registers two small logistic models written straight as ONNX graphs that follow the
same export contract, with passing gate metrics so promotion can be exercised.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from workloads.data.generator import generate
from workloads.data.schema import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
from workloads.features.encoding import FeatureSpec


def feature_records(n: int, seed: int = 0) -> list[dict[str, object]]:
    """JSON-ready records (NaN -> None) drawn from the data generator."""
    df = generate(n, seed=seed)[list(FEATURES)]
    out = []
    for row in df.to_dict(orient="records"):
        out.append({k: (None if (v is None or (isinstance(v, float) and math.isnan(v))) else v) for k, v in row.items()})
    return out


def logistic_onnx(spec: FeatureSpec, path: Path, seed: int) -> Path:
    """score = sigmoid(standardised numeric @ w + one weight per category index + b), as ONNX."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    n_num, n_cat = len(spec.numeric), len(spec.categorical)
    mean = np.array([spec.numeric_means[c] for c in spec.numeric], np.float32)
    std = np.array([spec.numeric_stds[c] for c in spec.numeric], np.float32)
    w = rng.normal(0, 0.5, (n_num, 1)).astype(np.float32)
    width = max(spec.cardinalities)
    # One table row per categorical feature; Gather on the flattened (feature, index) position.
    table = rng.normal(0, 0.3, (n_cat * width,)).astype(np.float32)
    offsets = (np.arange(n_cat, dtype=np.int64) * width).reshape(1, n_cat)
    inits = [
        numpy_helper.from_array(mean, "mean"), numpy_helper.from_array(std, "std"), numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(table, "table"), numpy_helper.from_array(offsets, "offsets"),
        numpy_helper.from_array(np.array([-3.0], np.float32), "bias"),
        numpy_helper.from_array(np.array([-1], np.int64), "flat"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    nodes = [
        helper.make_node("Sub", ["numeric", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], ["z"]),
        helper.make_node("MatMul", ["z", "w"], ["num_logit"]),
        helper.make_node("Add", ["categorical", "offsets"], ["pos"]),
        helper.make_node("Gather", ["table", "pos"], ["cat_w"]),
        helper.make_node("ReduceSum", ["cat_w", "axis1"], ["cat_logit"], keepdims=1),
        helper.make_node("Add", ["num_logit", "cat_logit"], ["logit0"]),
        helper.make_node("Add", ["logit0", "bias"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["prob"]),
        helper.make_node("Reshape", ["prob", "flat"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes, "logistic",
        [helper.make_tensor_value_info("numeric", TensorProto.FLOAT, ["batch", n_num]),
         helper.make_tensor_value_info("categorical", TensorProto.INT64, ["batch", n_cat])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _register_small_models(home: Path) -> tuple[str, str]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from workloads.registry import client as registry
    from workloads.settings import SahabSettings

    settings = SahabSettings()
    train = generate(5_000, seed=123)
    spec = FeatureSpec.fit(train, NUMERIC_FEATURES, CATEGORICAL_FEATURES)
    client = registry.mlflow_client(settings)
    try:
        exp_id = client.create_experiment(settings.mlflow_experiment, artifact_location=settings.artifact_location())
    except Exception:
        exp_id = client.get_experiment_by_name(settings.mlflow_experiment).experiment_id
    versions = []
    for seed, alias in ((1, registry.CHAMPION), (2, registry.CHALLENGER)):
        folder = home / f"export-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        logistic_onnx(spec, folder / registry.FP32_ONNX, seed)
        quantize_dynamic(str(folder / registry.FP32_ONNX), str(folder / registry.INT8_ONNX), weight_type=QuantType.QInt8)
        (folder / registry.FEATURE_SPEC).write_text(spec.to_json())
        run = client.create_run(exp_id, run_name=f"serving-test-{alias}")
        for key, value in ((registry.METRIC_AUC, 0.9), (registry.METRIC_ECE, 0.01),
                           (registry.METRIC_INT8_DELTA, 0.1), (registry.METRIC_PARITY, 1e-6)):
            client.log_metric(run.info.run_id, key, value)
        client.log_artifacts(run.info.run_id, str(folder), registry.ARTIFACT_DIR)
        client.set_terminated(run.info.run_id)
        versions.append(registry.register_version(run.info.run_id, folder, alias=alias, settings=settings))
    return versions[0], versions[1]


def build_registry(home: Path) -> tuple[str, str]:
    """Register a champion and a challenger; return their version numbers."""
    return _register_small_models(home)
