"""delivery-time's training function: a LightGBM regressor on the platform's feature matrix.

The platform calls `train(ctx)` (workloads/project/context.py) with the point-in-time training
frame split by time and encoded; this returns a `lightgbm.Booster` the platform exports to ONNX.

- `ctx.train.X` / `ctx.validation.X`: numerics then categorical codes; `ctx.categorical_indices`
  tells LightGBM which columns are categories (code 0 = missing or unseen).
- Early stopping on the validation split's RMSE: the returned booster stops at the best round.
- Spot-safe: training advances in chunks of `training.checkpoint_every_steps` rounds
  (`ctx.checkpoint.every_steps`); after each the booster (as
  its model string), the round and the early-stopping state go through `ctx.checkpoint`; a resumed
  run continues from it with `init_model`. Every chunk starts from a booster rebuilt from its model
  string, interrupted or not, so a resumed run grows exactly the trees an uninterrupted one does
  (no bagging or feature sampling: nothing random is left outside the model string).
  checked: lightgbm 4.7.0 python-package lightgbm/engine.py `train` (an `init_model` Booster becomes
  the predictor whose predictions set the training set's init scores, basic.py
  `_set_init_score_by_predictor`); proven by tests/workloads/test_delivery_time.py.
"""

from __future__ import annotations

import math

import lightgbm as lgb
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from workloads.project.context import Interrupted, TrainContext


class DeliveryConfig(BaseModel):
    """training.config of project.yaml (overridable: `--set rounds=100`)."""

    model_config = ConfigDict(extra="forbid")

    rounds: int = Field(400, ge=1, le=20_000, description="Most boosting rounds.")
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(31, ge=2, le=4096)
    min_data_in_leaf: int = Field(20, ge=1)
    lambda_l2: float = Field(1.0, ge=0)
    early_stopping_rounds: int = Field(30, ge=1, description="Stop after this many rounds without a better validation RMSE.")
    threads: int = Field(2, ge=1, le=256)


def _params(cfg: DeliveryConfig, seed: int) -> dict:
    return {
        "objective": "regression",
        "metric": "rmse",
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": cfg.min_data_in_leaf,
        "lambda_l2": cfg.lambda_l2,
        "num_threads": cfg.threads,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def train(ctx: TrainContext) -> lgb.Booster:
    cfg = DeliveryConfig.model_validate(ctx.config)
    params = _params(cfg, ctx.seed)
    categorical = ctx.categorical_indices
    dtrain = lgb.Dataset(ctx.train.X, ctx.train.y, categorical_feature=categorical, free_raw_data=False, params={"verbosity": -1})
    dval = lgb.Dataset(ctx.validation.X, ctx.validation.y, categorical_feature=categorical, reference=dtrain, free_raw_data=False)

    model_str: str | None = None
    done, best_rmse, best_round = 0, math.inf, 0
    saved = ctx.checkpoint.load() if ctx.resume else None
    if saved is not None:
        state, done = saved
        model_str, best_rmse, best_round = str(state["model"]), float(state["best_rmse"]), int(state["best_round"])
        ctx.progress(f"resume: continuing from round {done} (best validation RMSE {best_rmse:.4f} at round {best_round})")

    while done < cfg.rounds and done - best_round < cfg.early_stopping_rounds:
        if ctx.should_stop():
            if model_str is not None:
                ctx.checkpoint.save({"model": model_str, "best_rmse": best_rmse, "best_round": best_round}, done)
            ctx.progress(f"stop requested: checkpoint written at round {done}; the retry resumes from it")
            raise Interrupted
        n = min(max(1, ctx.checkpoint.every_steps), cfg.rounds - done)
        history: dict = {}
        booster = lgb.train(
            params,
            dtrain,
            num_boost_round=n,
            init_model=lgb.Booster(model_str=model_str) if model_str is not None else None,
            valid_sets=[dval],
            valid_names=["validation"],
            callbacks=[lgb.record_evaluation(history)],
            keep_training_booster=True,
        )
        for i, rmse in enumerate(history["validation"]["rmse"], start=done + 1):
            if rmse < best_rmse - 1e-12:
                best_rmse, best_round = float(rmse), i
        done += n
        model_str = booster.model_to_string()
        ctx.log_metrics(done, {"val_rmse_round": float(history["validation"]["rmse"][-1]), "best_val_rmse": best_rmse})
        ctx.checkpoint.save({"model": model_str, "best_rmse": best_rmse, "best_round": best_round}, done)
        ctx.progress(f"round {done}/{cfg.rounds}: validation RMSE {history['validation']['rmse'][-1]:.4f} (best {best_rmse:.4f} at {best_round})")

    if model_str is None:
        raise RuntimeError("no boosting round ran (rounds must be >= 1)")
    best = lgb.Booster(model_str=lgb.Booster(model_str=model_str).model_to_string(num_iteration=best_round or -1))
    ctx.progress(f"done: {best.num_trees()} trees, validation RMSE {best_rmse:.4f}")
    if not np.isfinite(best_rmse):
        raise RuntimeError("validation RMSE is not finite: check the label column")
    return best


train.config_model = DeliveryConfig  # type: ignore[attr-defined]  # (the runtime validates training.config with it before reading data)
