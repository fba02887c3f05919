"""Explanations for every project (issue 22): reason codes per score, importance and a card per version.

    explainer = Explainer(project, model, encoding)          # a native model (workloads/export/native.py)
    attributions = explainer.explain(numeric, categorical)    # encoded rows -> Attributions
    attributions.record(0, k=5)                               # one record's reason codes

    attribution.py   what an explanation is (units, baseline, completeness) and why sklearn has none
    trees.py         exact TreeSHAP from LightGBM / XGBoost native contributions
    gradients.py     integrated gradients (Captum) for torch, one attribution per categorical feature
    importance.py    global importance over a holdout (mean |attribution|), logged at registration
    card.py          the model card of a version (self-contained HTML)

Serving keeps the verified bytes of the version's native model and builds the Explainer on the
first request that asks for an explanation (workloads/serving/model.py): a score without one costs
nothing more. `served_difference` compares what was explained with what the served ONNX graph
answered (trees: |baseline + sum - the served margin|).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from workloads.explain.attribution import EXPLAINABLE, NOT_EXPLAINABLE, Attributions
from workloads.explain.gradients import NotExplainable

__all__ = ["EXPLAINABLE", "NOT_EXPLAINABLE", "Attributions", "Explainer", "NotExplainable", "served_differences"]


def _spec(project: Any) -> Any:
    return getattr(project, "spec", project)


class Explainer:
    """Attributions of one native model with its encoding (a FeatureSpec, format 2)."""

    def __init__(self, project: Any, model: Any, encoding: Any) -> None:
        spec = _spec(project)
        framework = spec.training.framework
        if framework not in EXPLAINABLE:
            raise NotExplainable(NOT_EXPLAINABLE.get(framework, f"no explanations for framework {framework}"))
        self.framework, self.task = framework, encoding.task
        self.classes = tuple(encoding.classes)
        self.features = (*encoding.numeric, *encoding.categorical)
        self.model = model
        self._gradients = None
        if framework == "torch":
            from workloads.explain.gradients import GradientExplainer

            means = np.asarray([encoding.numeric_means[n] for n in encoding.numeric], dtype=np.float32)
            self._gradients = GradientExplainer(model, self.features, len(encoding.numeric), self.task, self.classes, means)

    def explain(self, numeric: np.ndarray, categorical: np.ndarray, max_steps: int | None = None) -> Attributions:
        """`max_steps`: torch only, the bound on integrated gradients' steps (default: until 1% completeness, at most 512)."""
        if self._gradients is not None:
            return self._gradients.explain(numeric, categorical) if max_steps is None else self._gradients.explain(numeric, categorical, max_steps)
        from workloads.explain.trees import tree_attributions

        return tree_attributions(self.model, self.task, self.features, numeric, categorical, self.classes)


def _logit(p: float) -> float:
    p = min(max(p, 1e-300), 1 - 1e-16)
    return math.log(p) - math.log1p(-p)


def served_differences(attributions: Attributions, scores: np.ndarray, probabilities: np.ndarray | None) -> list[float]:
    """Per row, how far the explained output is from the served answer, in the explained units:
    regression |output - served value|; binary |output - logit(served P)| (the margin the served
    probability stands for); multiclass the largest |softmax(margins) - served probabilities|."""
    out = []
    for i in range(len(attributions)):
        explained = float(attributions.baseline[i] + attributions.values[i].sum())
        if attributions.margins is not None and probabilities is not None:
            m = attributions.margins[i]
            soft = np.exp(m - m.max())
            soft /= soft.sum()
            out.append(float(np.max(np.abs(soft - probabilities[i]))))
        elif attributions.units in ("log_odds", "logit") and probabilities is None and attributions.explained_class == ():
            out.append(abs(explained - _logit(float(scores[i]))))
        else:
            out.append(abs(explained - float(scores[i])) if attributions.units == "value" else float("nan"))
    return out
