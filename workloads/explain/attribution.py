"""What an explanation is, whatever the framework: per row, one contribution per feature, in the
model's output units, plus the baseline they start from.

    output = baseline + sum(contributions)          (exactly for trees; within `completeness_error` for IG)

Units by framework and task (the `units` field):
    trees (LightGBM, XGBoost)   binary `log_odds` (the raw margin before the sigmoid), regression
                                `value`, multiclass `class_margin` (the predicted class's raw score
                                before the softmax)
    torch                       binary `logit`, multiclass `logit` (of the predicted class),
                                regression `value`
sklearn: none. Exact Shapley values of an arbitrary estimator cost 2^F model calls per row and
KernelSHAP's sampling gives no error bound within a 20 ms budget, so a request asking for
explanations of an sklearn project is refused with a 400 naming the framework; use LightGBM or
XGBoost (exact TreeSHAP) or torch (integrated gradients) for explained scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXPLAINABLE = ("lightgbm", "xgboost", "torch")
NOT_EXPLAINABLE = {
    "sklearn": "explanations are not available for framework sklearn (no exact attribution within the request budget); "
    "train the project with lightgbm, xgboost or torch to serve reason codes"
}


@dataclass(frozen=True)
class Attributions:
    """Attributions of N rows over the F features (numeric then categorical, the encoding's order)."""

    features: tuple[str, ...]
    values: np.ndarray
    """float64 [N, F]."""
    baseline: np.ndarray
    """float64 [N]: the output the contributions start from (trees: the expected value over the
    training data; IG: the output at the reference row)."""
    output: np.ndarray
    """float64 [N]: the explained output (the model's margin / logit / value of the row)."""
    units: str
    method: str
    """`tree_shap` or `integrated_gradients`."""
    explained_class: tuple[str | None, ...] = ()
    """multiclass: the class explained per row (the predicted one); empty otherwise."""
    completeness_error: np.ndarray | None = None
    """IG: |baseline + sum - output| relative to |output - baseline| (floored at 0.01); trees: the
    absolute |baseline + sum - output| (float rounding)."""
    steps: int = 0
    """IG: the integration steps used."""
    margins: np.ndarray | None = None
    """multiclass: every class's raw output [N, K] (the served probabilities are their softmax)."""

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def top(self, row: int, k: int) -> list[dict[str, float | str]]:
        """The row's k largest contributions by absolute value (ties: feature order), as reason codes."""
        values = self.values[row]
        order = sorted(range(len(values)), key=lambda j: (-abs(values[j]), j))[: max(0, k)]
        return [{"feature": self.features[j], "contribution": float(values[j])} for j in order]

    def record(self, row: int, k: int, served_difference: float | None = None) -> dict[str, object]:
        """One record's explanation as the /score answer carries it (schemas.RecordExplanation)."""
        return {
            "reasons": self.top(row, k),
            "baseline": float(self.baseline[row]),
            "output": float(self.output[row]),
            "units": self.units,
            "method": self.method,
            "explained_class": self.explained_class[row] if self.explained_class else None,
            "completeness_error": float(self.completeness_error[row]) if self.completeness_error is not None else None,
            "served_difference": served_difference,
        }

    def mean_abs(self) -> dict[str, float]:
        """Global importance: mean |contribution| per feature over the rows."""
        return {f: float(v) for f, v in zip(self.features, np.abs(self.values).mean(axis=0), strict=True)} if len(self) else {}
