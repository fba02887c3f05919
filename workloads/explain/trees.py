"""Exact TreeSHAP for LightGBM and XGBoost, from the libraries' own contributions.

LightGBM `Booster.predict(X, pred_contrib=True)` and XGBoost `Booster.predict(DMatrix, pred_contribs=True)`
return, per row, the SHAP value of every feature and a last column holding the expected value
(the bias), in the raw margin: they add up to `predict(raw_score=True)` / `output_margin=True`
exactly (float rounding). Multiclass: one block of F+1 columns per class (LightGBM, flattened
[N, K * (F+1)]; XGBoost [N, K, F+1]); the predicted class's block is explained.
checked: lightgbm 4.7.0 python-package/lightgbm/basic.py `Booster.predict` (pred_contrib: "for
multiclass the output is [n_samples, (n_features + 1) * n_classes]"); xgboost 3.2.0
python-package/xgboost/core.py `Booster.predict` (pred_contribs; multiclass [n, n_groups, F+1]).

The trees were fit on the platform's matrix (`feature_matrix`: numerics, then the categorical codes
as floats), so column j of the contributions is the encoding's feature j: one attribution per
categorical feature, whatever its cardinality.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workloads.explain.attribution import Attributions
from workloads.training.frameworks import feature_matrix, framework_of

SMALL_BATCH = 64


def _contributions(model: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(contributions [N, K, F+1], raw margins [N, K]) of a LightGBM or XGBoost model (K=1 unless multiclass)."""
    framework = framework_of(model)
    n, f = x.shape
    # A few rows (a request): one thread. OpenMP's team start-up costs more than the trees
    # (measured p99 41 ms with all threads, 0.7 ms with one, 100 trees; benchmarks/explain.py).
    threads = 1 if n <= SMALL_BATCH else 0
    if framework == "lightgbm":
        booster = getattr(model, "booster_", model)
        contrib = np.asarray(booster.predict(x, pred_contrib=True, num_threads=threads), dtype=np.float64)
        margin = np.asarray(booster.predict(x, raw_score=True, num_threads=threads), dtype=np.float64)
        contrib = contrib.reshape(n, -1, f + 1)
        return contrib, margin.reshape(n, -1)
    if framework == "xgboost":
        import xgboost

        booster = model.get_booster() if hasattr(model, "get_booster") else model
        matrix = xgboost.DMatrix(x, nthread=threads or -1)
        booster.set_param({"nthread": threads or -1})
        contrib = np.asarray(booster.predict(matrix, pred_contribs=True), dtype=np.float64)
        margin = np.asarray(booster.predict(matrix, output_margin=True), dtype=np.float64)
        return contrib.reshape(n, -1, f + 1), margin.reshape(n, -1)
    raise TypeError(f"TreeSHAP explains LightGBM and XGBoost models, not {type(model).__module__}.{type(model).__name__}")


def tree_attributions(
    model: Any, task: str, features: tuple[str, ...], numeric: np.ndarray, categorical: np.ndarray, classes: tuple[str, ...] = ()
) -> Attributions:
    """Exact SHAP values of every row (module docstring) in the model's raw margin."""
    x = feature_matrix(numeric, categorical)
    if x.shape[1] != len(features):
        raise ValueError(f"{x.shape[1]} columns for {len(features)} features")
    contrib, margin = _contributions(model, x)
    n = len(x)
    if task == "multiclass":
        chosen = margin.argmax(axis=1)
        block = contrib[np.arange(n), chosen]
        output = margin[np.arange(n), chosen]
        explained = tuple(classes[i] for i in chosen.tolist())
        units = "class_margin"
    else:
        block, output, explained = contrib[:, 0], margin[:, 0], ()
        units = "log_odds" if task == "binary" else "value"
    values, baseline = block[:, :-1], block[:, -1]
    error = np.abs(baseline + values.sum(axis=1) - output)
    return Attributions(tuple(features), values, baseline, output, units, "tree_shap", explained, error, margins=margin if task == "multiclass" else None)
