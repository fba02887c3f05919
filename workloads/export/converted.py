"""LightGBM, XGBoost and sklearn models as one ONNX graph with the platform's inputs.

The converters (onnxmltools for the boosted trees, skl2onnx for sklearn) give a graph over one
float input `X` [B, n_num + n_cat], the matrix the model was fit on. A small preamble makes it take
the platform's inputs: `categorical` int64 is cast to float and concatenated after `numeric`
(exactly `feature_matrix` of workloads/training/frameworks.py); a small tail names the output the
way serving reads it: binary `score` [B] = column 1 of the probabilities, multiclass
`probabilities` [B, K], regression `score` [B].

checked: onnxmltools 1.16.0 onnxmltools/convert/main.py (convert_lightgbm(model, initial_types,
target_opset, zipmap), convert_xgboost(*args, **kwargs)); skl2onnx 1.20.0 skl2onnx/convert.py
(convert_sklearn(..., options={"zipmap": False})); target_opset 15: onnxmltools 1.16 with onnx 1.22
refuses higher for LightGBM (checked in this venv). The converters name their outputs `label` +
`probabilities` (classifiers, zipmap off) or `variable` (regressors).

LightGBM keeps split thresholds as doubles, ONNX's tree ensemble as float32: a threshold just below
a float32 value the data holds rounds up onto it, and that row takes the other branch in the graph
(a 4.1 difference measured on a constructed case; 1.3e-3 relative on one row of 1,121 in the
delivery-time project). The graph is therefore converted from a copy whose numeric thresholds are
rounded down to the largest float32 not above them: for float32 inputs (what the platform feeds
both) every comparison, and so every prediction, equals the native model's.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

TARGET_OPSET = 15
ML_OPSET = 3
_X = "sahab_X"


def convert(framework: str, model: Any, n_features: int) -> Any:
    """The converter's graph of `model` over `X` float [B, n_features] (an onnx.ModelProto)."""
    if framework == "lightgbm":
        import lightgbm
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType

        booster = getattr(model, "booster_", model)
        exact = lightgbm.Booster(model_str=float32_thresholds(booster.model_to_string()))
        return convert_lightgbm(exact, initial_types=[("X", FloatTensorType([None, n_features]))], target_opset=TARGET_OPSET, zipmap=False)
    if framework == "xgboost":
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        return convert_xgboost(model, initial_types=[("X", FloatTensorType([None, n_features]))], target_opset=TARGET_OPSET)
    if framework == "sklearn":
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        return convert_sklearn(
            model,
            initial_types=[("X", FloatTensorType([None, n_features]))],
            target_opset={"": TARGET_OPSET, "ai.onnx.ml": ML_OPSET},
            options={"zipmap": False} if hasattr(model, "predict_proba") else None,  # a regressor refuses the option
        )
    raise ValueError(f"no ONNX converter for framework {framework!r}")


def float32_thresholds(model_str: str) -> str:
    """A LightGBM model string with every numeric split threshold t replaced by the largest float32
    <= t (module docstring); categorical splits (decision_type bit 0) keep theirs (an index into
    their category lists), and `tree_sizes=` (each tree's length in characters) is recomputed.
    checked: microsoft/LightGBM src/io/tree.cpp `Tree::ToString` and src/boosting/gbdt_model_text.cpp
    (`tree_sizes`), against lightgbm 4.7.0 here."""

    def rounded(match: re.Match[str]) -> str:
        block = match.group(0)
        decision_line = re.search(r"^decision_type=(.*)$", block, re.M)
        line = re.search(r"^threshold=(.*)$", block, re.M)
        if decision_line is None or line is None:  # a single-leaf tree has no splits
            return block
        values = line.group(1).split()
        for i, decision in enumerate(int(v) for v in decision_line.group(1).split()):
            if decision & 1:
                continue
            t = float(values[i])
            t32 = np.float32(t)
            if float(t32) > t:
                t32 = np.nextafter(t32, np.float32(-np.inf))
            values[i] = repr(float(t32))
        return block[: line.start()] + "threshold=" + " ".join(values) + block[line.end() :]

    body = re.sub(r"^Tree=.*?(?=^Tree=|^end of trees)", rounded, model_str, flags=re.M | re.S)
    starts = [m.start() for m in re.finditer(r"^Tree=", body, re.M)]
    ends = [*starts[1:], body.index("end of trees")]
    sizes = " ".join(str(b - a) for a, b in zip(starts, ends, strict=True))
    return re.sub(r"^tree_sizes=.*$", "tree_sizes=" + sizes, body, count=1, flags=re.M)


def _result(graph: Any, task: str) -> str:
    """The converter output holding what the task needs."""
    names = [o.name for o in graph.output]
    if task in ("binary", "multiclass"):
        for candidate in ("probabilities", "output_probability"):
            if candidate in names:
                return candidate
        if len(names) == 2:
            return names[1]
        raise ValueError(f"the converted classifier has outputs {names}; expected label and probabilities")
    if len(names) != 1:
        raise ValueError(f"the converted regressor has outputs {names}; expected one (the value)")
    return names[0]


def with_platform_io(converted: Any, task: str, n_numeric: int, n_categorical: int, output: str) -> Any:
    """`converted` (over `X`) wrapped to take `numeric` + `categorical` and to give `output`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = converted.graph
    if len(graph.input) != 1:
        raise ValueError(f"the converted graph takes {[i.name for i in graph.input]}; expected one input X")
    x_name, result = graph.input[0].name, _result(graph, task)
    internal = {x_name: _X, result: "sahab_result"}
    nodes = []
    for node in graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.input[:] = [internal.get(n, n) for n in node.input]
        copy.output[:] = [internal.get(n, n) for n in node.output]
        nodes.append(copy)
    head = []
    parts = []
    if n_numeric:
        parts.append("numeric")
    if n_categorical:
        head.append(helper.make_node("Cast", ["categorical"], ["sahab_categorical_f"], to=TensorProto.FLOAT, name="sahab_cast"))
        parts.append("sahab_categorical_f")
    head.append(helper.make_node("Concat", parts, [_X], axis=1, name="sahab_concat") if len(parts) > 1 else helper.make_node("Identity", parts, [_X]))
    initializers = list(graph.initializer)
    if task == "binary":
        initializers.append(numpy_helper.from_array(np.array(1, dtype=np.int64), "sahab_positive"))
        tail = [helper.make_node("Gather", ["sahab_result", "sahab_positive"], [output], axis=1, name="sahab_positive_column")]
        out_info = helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch"])
    elif task == "multiclass":
        tail = [helper.make_node("Identity", ["sahab_result"], [output], name="sahab_probabilities")]
        out_info = helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", None])
    else:
        initializers.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "sahab_flat"))
        tail = [helper.make_node("Reshape", ["sahab_result", "sahab_flat"], [output], name="sahab_value")]
        out_info = helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch"])
    inputs = [
        helper.make_tensor_value_info("numeric", TensorProto.FLOAT, ["batch", n_numeric]),
        helper.make_tensor_value_info("categorical", TensorProto.INT64, ["batch", n_categorical]),
    ]
    new_graph = helper.make_graph(head + nodes + tail, graph.name or "sahab", inputs, [out_info], initializer=initializers)
    opsets: dict[str, int] = {"": TARGET_OPSET}  # Cast / Concat / Gather / Reshape (XGBoost's graph imports only ai.onnx.ml)
    for o in converted.opset_import:  # skl2onnx may list a domain twice
        opsets[o.domain] = max(opsets.get(o.domain, 0), o.version)
    model = helper.make_model(new_graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())], producer_name="sahab")
    model.ir_version = converted.ir_version
    onnx.checker.check_model(model)
    return model
