"""What a training function may return, per framework, and how the platform asks it for predictions.

`framework_of(model)` names the library a fitted model comes from (torch, lightgbm, xgboost,
sklearn; None for anything else); `check_model(project, model, sample)` refuses a model of another
framework or task with a ProjectError naming project.yaml, the entry point and what came back;
`predict_native(task, model, numeric, categorical, classes)` is the model's own answer (the parity
reference of the export and the validation metrics of the runtime), as `Predictions`.

Libraries are imported only when a model of theirs is met: a torch project needs no LightGBM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from workloads.evaluation import Predictions
from workloads.project.spec import ProjectError

if TYPE_CHECKING:
    from workloads.project.context import Split
    from workloads.project.project import Project

FRAMEWORKS = ("torch", "lightgbm", "xgboost", "sklearn")


def _module_root(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def framework_of(model: Any) -> str | None:
    """The framework a model object belongs to, by its class's package (checked before sklearn:
    LightGBM's and XGBoost's estimators are sklearn estimators too)."""
    root = _module_root(model)
    if root in ("lightgbm", "xgboost"):
        return root
    for cls in type(model).__mro__:
        if cls.__module__.split(".")[0] == "torch" and cls.__name__ == "Module":
            return "torch"
    if root == "sklearn" or any(c.__module__.split(".")[0] == "sklearn" and c.__name__ == "BaseEstimator" for c in type(model).__mro__):
        return "sklearn"
    return None


def feature_matrix(numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """The matrix trees and sklearn models train on: numerics, then the categorical codes as floats."""
    return np.hstack([numeric, categorical.astype(np.float32)]).astype(np.float32, copy=False)


def _lgbm_objective(model: Any) -> tuple[str, int]:
    """(objective, number of classes) of a LightGBM Booster or estimator."""
    booster = getattr(model, "booster_", model)
    dump = booster.dump_model(num_iteration=1)
    objective = str(dump.get("objective", "")).split(" ")[0]
    return objective, int(dump.get("num_class", 1))


def _xgb_objective(model: Any) -> str:
    import json

    booster = model.get_booster() if hasattr(model, "get_booster") else model
    return str(json.loads(booster.save_config())["learner"]["objective"]["name"])


def _task_problem(task: str, framework: str, model: Any, n_classes: int) -> str | None:
    """Why `model` cannot serve `task`, or None when it can."""
    is_classifier = hasattr(model, "predict_proba")
    if framework == "lightgbm":
        objective, num_class = _lgbm_objective(model)
        if task == "binary" and objective not in ("binary", "cross_entropy", "xentropy"):
            return f"a LightGBM model with objective {objective!r}; a binary label needs objective 'binary' (LGBMClassifier on 0/1 labels)"
        if task == "multiclass" and (objective not in ("multiclass", "softmax", "multiclassova") or num_class != n_classes):
            return f"a LightGBM model with objective {objective!r} over {num_class} classes; the label has {n_classes} (objective 'multiclass', num_class {n_classes})"
        if task == "regression" and (is_classifier or objective in ("binary", "multiclass", "softmax", "multiclassova", "cross_entropy", "lambdarank")):
            return f"a LightGBM model with objective {objective!r}; a regression label needs a regression objective (LGBMRegressor)"
        return None
    if framework == "xgboost":
        objective = _xgb_objective(model)
        if task == "binary" and objective != "binary:logistic":
            return f"an XGBoost model with objective {objective!r}; a binary label needs 'binary:logistic' (XGBClassifier on 0/1 labels)"
        if task == "multiclass":
            if objective != "multi:softprob":
                return f"an XGBoost model with objective {objective!r}; a multiclass label needs 'multi:softprob' (probabilities, not multi:softmax's class)"
            classes = getattr(model, "n_classes_", None)
            if classes is not None and int(classes) != n_classes:
                return f"an XGBoost classifier over {classes} classes; the label has {n_classes} (every class must appear in the training split)"
        if task == "regression" and (objective.startswith(("binary:", "multi:")) or is_classifier):
            return f"an XGBoost model with objective {objective!r}; a regression label needs a regression objective (XGBRegressor)"
        return None
    if framework == "sklearn":
        if task in ("binary", "multiclass"):
            if not is_classifier:
                return f"a {type(model).__name__} without predict_proba; a {task} label needs a classifier with probabilities"
            classes = list(getattr(model, "classes_", []))
            want = list(range(2 if task == "binary" else n_classes))
            if [int(c) for c in classes] != want:
                return f"a classifier over classes {classes}; the encoded label takes {want} (every class must appear in the training split)"
        elif is_classifier:
            return f"a classifier {type(model).__name__}; a regression label needs a regressor"
        return None
    return None


def check_model(project: Project, model: Any, sample: Split) -> Any:
    """The model a training function returned, checked against `training.framework` and the task
    (torch: by running it on a few rows); a DDP / DeepSpeed wrapper is unwrapped. ProjectError
    names project.yaml, the entry point and what came back."""
    spec = project.spec
    framework, task, entry = spec.training.framework, spec.label.task, spec.training.entry_point
    got = framework_of(model)
    if framework == "torch" and got == "torch" and hasattr(model, "module") and type(model).__name__ in ("DistributedDataParallel", "DeepSpeedEngine"):
        model = model.module
    if got != framework:
        kind = f"a {got} model" if got else "not a model of a supported framework"
        raise ProjectError(
            [
                f"training.framework: is {framework!r}, but {entry} returned {type(model).__module__}.{type(model).__name__} ({kind}). "
                f"Fix: return a fitted {framework} model, or set training.framework to {got!r}"
                if got
                else f"training.entry_point: {entry} returned {type(model).__module__}.{type(model).__name__} ({kind}); return a fitted {framework} model"
            ],
            str(project.file),
        )
    if framework == "torch":
        problem = _torch_problem(model, sample, task, len(spec.label.classes))
    else:
        try:
            problem = _task_problem(task, framework, model, len(spec.label.classes))
        except Exception as exc:  # noqa: BLE001 (any library error of an unfitted estimator: no booster, no classes_)
            problem = f"a {type(model).__name__} that cannot be inspected ({type(exc).__name__}: {exc}); return it fitted"
    if problem:
        raise ProjectError([f"label.task: is {task!r}, but {entry} returned {problem}"], str(project.file))
    return model


def _torch_problem(model: Any, sample: Split, task: str, n_classes: int) -> str | None:
    import torch

    n = min(2, len(sample))
    try:
        with torch.no_grad():
            was = model.training
            model.eval()
            device = next(model.parameters()).device
            out = model(torch.as_tensor(sample.numeric[:n], device=device), torch.as_tensor(sample.categorical[:n], device=device))
            model.train(was)
    except Exception as exc:  # noqa: BLE001 (the team's forward may raise anything; it is reported, not hidden)
        return f"an nn.Module whose forward(numeric, categorical) fails: {type(exc).__name__}: {exc}"
    shape = list(getattr(out, "shape", []))
    want = [[n, n_classes]] if task == "multiclass" else [[n], [n, 1]]
    if shape not in want:
        return f"an nn.Module whose output has shape {shape} for {n} rows; a {task} model outputs {' or '.join(map(str, want))}"
    return None


def predict_native(task: str, model: Any, numeric: np.ndarray, categorical: np.ndarray, classes: tuple[str, ...] = ()) -> Predictions:
    """The model's own predictions on encoded rows (probabilities / the value, in float64)."""
    framework = framework_of(model)
    if framework == "torch":
        from workloads.training.tabular.loop import predict

        return predict(model, numeric, categorical, task, classes)
    x = feature_matrix(numeric, categorical)
    if framework == "xgboost" and not hasattr(model, "predict_proba") and not hasattr(model, "get_booster"):
        import xgboost

        out = model.predict(xgboost.DMatrix(x))  # a Booster: probabilities for binary:logistic / multi:softprob
    elif task in ("binary", "multiclass") and hasattr(model, "predict_proba"):
        out = model.predict_proba(x)
        out = out[:, 1] if task == "binary" else out
    else:
        out = model.predict(x)  # a LightGBM Booster answers probabilities for its objective
    return Predictions.from_outputs(task, out, classes)
