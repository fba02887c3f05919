"""Registered models and feature records for the serving tests (and benchmarks/serving.py).

`build_registry` runs issue 4's local pipeline once (generate -> Feast -> train -> export ONNX
fp32/int8 -> register -> promote), leaving a `champion` and an unpromoted `challenger` trained
with another seed, both with sha256 tags, in the MLflow registry under `home`.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

from workloads.data.generator import generate
from workloads.data.schema import FEATURES

logger = logging.getLogger(__name__)


def feature_records(n: int, seed: int = 0) -> list[dict[str, object]]:
    """JSON-ready records (NaN -> None) drawn from the data generator."""
    df = generate(n, seed=seed)[list(FEATURES)]
    return [
        {k: (None if (v is None or (isinstance(v, float) and math.isnan(v))) else v) for k, v in row.items()}
        for row in df.to_dict(orient="records")
    ]


def build_registry(home: Path) -> tuple[str, str]:
    """Register a champion and a challenger under `home`; return their version numbers."""
    from workloads.pipeline import local_settings, run_local_pipeline
    from workloads.registry.client import CHALLENGER, mlflow_client

    champion = run_local_pipeline(home, seed=0, challenger=True, log=logger.info)
    settings = local_settings(home)
    challenger = mlflow_client(settings).get_model_version_by_alias(settings.model_name, CHALLENGER)
    return champion.version, str(challenger.version)
