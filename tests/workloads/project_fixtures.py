"""Small projects of every framework and task, and synthetic frames for any project, for the
runtime, export, evaluation and registry tests.

`write_project(root, framework=..., task=...)` writes `<root>/<name>/project.yaml` and a `train.py`
(one of the training functions below: what a team would write) and loads it; every project gets
a unique name, because the platform imports a project's modules under a package named after it.
`synthetic_frame(spec, rows, seed)` draws rows for any project's columns with a learnable signal.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

TORCH_TRAIN = """
from workloads.training import tabular


def train(ctx):
    return tabular.fit(ctx)


train.config_model = tabular.TabularConfig
"""

SIGTERM_TORCH_TRAIN = """
import os
import signal

from workloads.training import tabular


def train(ctx):
    # tabular.fit; with TEST_SIGTERM_AT=<rank>:<step>, that rank sends itself SIGTERM (its pod's
    # spot notice) as it finishes that step, just before the platform's stop flag is read.
    at = os.environ.get("TEST_SIGTERM_AT")
    if at:
        rank, step = (int(v) for v in at.split(":"))
        original, calls = ctx._should_stop, [0]

        def should_stop():
            calls[0] += 1
            if ctx.rank == rank and calls[0] == step:
                os.kill(os.getpid(), signal.SIGTERM)
            return original()

        ctx._should_stop = should_stop
    return tabular.fit(ctx)


train.config_model = tabular.TabularConfig
"""

LIGHTGBM_TRAIN = """
import lightgbm


def train(ctx):
    cls = lightgbm.LGBMRegressor if ctx.task == "regression" else lightgbm.LGBMClassifier
    model = cls(n_estimators=ctx.config.get("n_estimators", 60), learning_rate=0.1, num_leaves=15, random_state=ctx.seed, n_jobs=1, verbose=-1)
    model.fit(ctx.train.X, ctx.train.y, categorical_feature=ctx.categorical_indices, eval_X=(ctx.validation.X,), eval_y=(ctx.validation.y,))
    ctx.log_metrics(model.n_estimators, {"trees": float(model.n_estimators)})
    return model
"""

XGBOOST_TRAIN = """
import xgboost


def train(ctx):
    cls = xgboost.XGBRegressor if ctx.task == "regression" else xgboost.XGBClassifier
    model = cls(n_estimators=ctx.config.get("n_estimators", 40), max_depth=4, learning_rate=0.2, n_jobs=1, random_state=ctx.seed)
    model.fit(ctx.train.X, ctx.train.y, eval_set=[(ctx.validation.X, ctx.validation.y)], verbose=False)
    return model
"""

SKLEARN_TRAIN = """
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.compose import ColumnTransformer


def train(ctx):
    n = len(ctx.features.numeric)
    columns = ColumnTransformer([("num", StandardScaler(), list(range(n))), ("cat", OneHotEncoder(handle_unknown="ignore"), ctx.categorical_indices)])
    head = Ridge() if ctx.task == "regression" else LogisticRegression(max_iter=1000)
    return make_pipeline(columns, head).fit(ctx.train.X, ctx.train.y)
"""

SOURCES = {"torch": TORCH_TRAIN, "lightgbm": LIGHTGBM_TRAIN, "xgboost": XGBOOST_TRAIN, "sklearn": SKLEARN_TRAIN}
CLASSES = ("low", "mid", "high")
PRIMARY = {"binary": {"metric": "auc", "min": 0.6}, "multiclass": {"metric": "logloss", "max": 1.2}, "regression": {"metric": "rmse", "max": 100.0}}

TINY = {"steps": 40, "batch_size": 128, "eval_every": 1000, "log_every": 1000, "threads": 1, "optim": {"warmup_steps": 5}, "model": {"hidden": 32}}
"""A TabularConfig that trains in about a second on one thread."""


def project_dict(name: str, *, framework: str, task: str, config: dict[str, Any] | None = None, checkpoint_every: int = 10, **training: Any) -> dict[str, Any]:
    label: dict[str, Any] = {"column": "outcome_value", "task": task}
    if task == "multiclass":
        label["classes"] = list(CLASSES)
    return {
        "name": name,
        "team": "tests",
        "entity": {"name": "thing", "key": "thing_id", "dtype": "int64"},
        "timestamp": "event_timestamp",
        "label": label,
        "features": [
            {"name": "n_a", "type": "numeric"},
            {"name": "n_b", "type": "numeric"},
            {"name": "n_c", "type": "numeric"},
            {"name": "c_kind", "type": "categorical"},
            {"name": "c_zone", "type": "categorical"},
        ],
        "feature_views": [{"name": "things", "features": ["n_a", "n_b", "n_c", "c_kind", "c_zone"]}],
        "training": {"framework": framework, "entry_point": "train:train", "config": config or {}, "checkpoint_every_steps": checkpoint_every, **training},
        "evaluation": {"holdout": "1d", "gate": {"primary": PRIMARY[task], "max_regression": 0.01, "max_int8_delta": 0.02}},
    }


def write_project(root: Path, *, framework: str, task: str, source: str | None = None, name: str | None = None, **kwargs: Any):
    """A project folder under `root` with its train.py; returns the loaded Project."""
    from workloads.project import load_project

    name = name or f"t-{framework}-{task}-{uuid.uuid4().hex[:6]}"
    folder = Path(root) / name
    folder.mkdir(parents=True)
    (folder / "project.yaml").write_text(yaml.safe_dump(project_dict(name, framework=framework, task=task, **kwargs), sort_keys=False))
    (folder / "train.py").write_text(source if source is not None else SOURCES[framework])
    return load_project(folder)


def synthetic_frame(spec, rows: int = 3_000, seed: int = 0, *, start: datetime = datetime(2026, 11, 1, tzinfo=UTC), days: float = 10.0) -> pd.DataFrame:
    """Rows for any project: the entity key, event times over `days`, its numeric (normal, 2% NaN)
    and categorical (4 levels, 2% missing) features, and a label that depends on them."""
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.uniform(0, days * 86_400, rows))
    out: dict[str, Any] = {
        spec.entity.key: rng.integers(1, max(2, rows // 4), rows)
        if spec.entity.dtype == "int64"
        else [f"k{i}" for i in rng.integers(1, max(2, rows // 4), rows)],
        spec.timestamp: pd.to_datetime([start + timedelta(seconds=float(s)) for s in offsets], utc=True),
    }
    signal = np.zeros(rows)
    for i, name in enumerate(spec.numeric):
        values = rng.normal(0, 1 + i, rows)
        signal += values / (1 + i) * (1.0 if i % 2 == 0 else -0.7)
        values[rng.random(rows) < 0.02] = np.nan
        out[name] = values
    for i, name in enumerate(spec.categorical):
        levels = np.array([f"{name}_{j}" for j in range(4)], dtype=object)
        codes = rng.integers(0, 4, rows)
        signal += np.array([0.9, -0.6, 0.2, 0.0])[codes] * (1 if i % 2 == 0 else 0.5)
        values = levels[codes]
        values[rng.random(rows) < 0.02] = None
        out[name] = values
    noisy = signal + rng.normal(0, 0.5, rows)
    task = spec.label.task
    if task == "binary":
        label: Any = (rng.random(rows) < 1 / (1 + np.exp(-(1.5 * signal - 1.0)))).astype(np.int64)
    elif task == "multiclass":
        cuts = np.quantile(noisy, [1 / 3, 2 / 3])
        label = np.asarray(spec.label.classes, dtype=object)[np.digitize(noisy, cuts)]
    else:
        label = 30.0 + 6.0 * noisy
    out[spec.label.column] = label
    return pd.DataFrame(out)


def assert_same_weights(a, b) -> None:
    import torch

    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys(), f"parameter names differ: {sorted(set(sa) ^ set(sb))}"
    for name in sa:
        assert torch.equal(sa[name], sb[name]), f"tensor {name} differs"


def kill_at(step: int):
    """A progress callback that sends this process SIGTERM when the loop reports `step` (what the
    kubelet sends on a spot notice)."""
    import os
    import signal

    def log(line: str) -> None:
        if line.startswith(f"step {step}/"):
            os.kill(os.getpid(), signal.SIGTERM)

    return log


def quiet(line: str) -> None:
    """A progress callback that prints nothing."""
