"""Evaluation metrics of a binary risk score: ranking, thresholded and calibration."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5, bins: int = 10) -> dict[str, float]:
    """AUC, precision / recall at `threshold`, expected calibration error, Brier score, log loss.

    ECE uses `bins` equal-width probability bins weighted by their share of rows. AUC is NaN
    when `y` holds one class.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    pred = p >= threshold
    tp = float(np.sum(pred & (y == 1)))
    ece = 0.0
    which = np.minimum((p * bins).astype(int), bins - 1)
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return {
        "auc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan"),
        "precision": tp / float(pred.sum()) if pred.sum() else 0.0,
        "recall": tp / float(y.sum()) if y.sum() else 0.0,
        "ece": float(ece),
        "brier": float(np.mean((p - y) ** 2)),
        "logloss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
        "positive_rate": float(pred.mean()),
    }
