"""Helpers shared by the workload tests."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def tiny_config(**overrides) -> dict:
    """A TabularConfig (as training.config overrides) that trains in about a second on one thread;
    `overrides` are merged in (nested dicts key by key)."""
    import copy

    from project_fixtures import TINY

    out = copy.deepcopy(TINY)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


class FakeS3:
    """Just the boto3 calls S3Store makes, over a dict."""

    def __init__(self):
        self.objects: dict[str, bytes] = {}

    def upload_file(self, filename, bucket, key):
        self.objects[f"{bucket}/{key}"] = Path(filename).read_bytes()

    def put_object(self, Bucket, Key, Body):
        self.objects[f"{Bucket}/{Key}"] = Body

    def get_object(self, Bucket, Key):
        if f"{Bucket}/{Key}" not in self.objects:
            raise KeyError("NoSuchKey")
        return {"Body": io.BytesIO(self.objects[f"{Bucket}/{Key}"])}

    def list_objects_v2(self, Bucket, Prefix, **_):
        keys = sorted(k.split("/", 1)[1] for k in self.objects if k.startswith(f"{Bucket}/{Prefix}"))
        return {"Contents": [{"Key": k} for k in keys], "IsTruncated": False}

    def delete_object(self, Bucket, Key):
        self.objects.pop(f"{Bucket}/{Key}", None)

    def download_file(self, bucket, key, filename):
        Path(filename).write_bytes(self.objects[f"{bucket}/{key}"])


# --- projects, their data and the prediction log (features, labels, frames, pipeline tests) ---

REPO = Path(__file__).resolve().parents[2]
PROJECTS = ("transaction-risk", "delivery-time")


def shipped_project(name: str):
    """A shipped project, loaded from projects/<name>."""
    from workloads.project import load_project

    return load_project(REPO / "projects" / name)


def local_repo(project, home: Path):
    """The project's local feature store under `home` (local mode, whatever SAHAB_FEAST_* says)."""
    from workloads.features.store import FeatureRepo
    from workloads.settings import FeatureStoreSettings

    return FeatureRepo(project, home, FeatureStoreSettings(mode="local"))


def seed_project(project, home: Path, *, rows: int, seed: int, start, days: float, drift: dict | None = None):
    """Generate the project's example data into its local offline store; returns (repo, frame)."""
    from workloads.features.ingest import generate

    repo = local_repo(project, home)
    return repo, generate(project, repo, rows=rows, seed=seed, start=start, days=days, drift=drift)


def write_prediction_log(uri: str, project, frame, *, scores=None, mode: str = "live", records_per_request: int = 1, prefix: str = "req") -> pd.DataFrame:
    """Write `frame`'s rows (key, timestamp, features) as the serving prediction log would
    (contract section 5: `<uri>/date=/hour=/part-<host>-<uuid>.parquet`, columns in order), one
    request per `records_per_request` consecutive rows of a key; returns the request_id and record
    given to each row (aligned with `frame`'s index) for labels that name them."""
    import uuid

    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    spec = project.spec
    df = frame.reset_index(drop=True)
    key, ts = spec.entity.key, spec.timestamp
    order = df.groupby(key, sort=False).cumcount()
    request = (order // records_per_request).astype(str)
    request_id = prefix + "-" + df[key].astype(str) + "-" + request
    record = (order % records_per_request).astype("int32")
    n = len(df)
    columns = {
        "request_id": request_id.tolist(),
        "record": record.tolist(),
        "ts": pd.to_datetime(df[ts], utc=True).astype("datetime64[us, UTC]"),
        "key": df[key].astype(str).tolist(),
        "experiment_id": [None] * n,
        "variant": ["champion"] * n,
        "model_version": ["1"] * n,
        "mode": [mode] * n,
        "score": np.asarray(scores if scores is not None else np.full(n, 0.5), dtype=np.float64),
        "prediction": [None] * n,
        "probabilities": [None] * n,
    }
    fields = [
        pa.field("request_id", pa.string()),
        pa.field("record", pa.int32()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("key", pa.string()),
        pa.field("experiment_id", pa.string()),
        pa.field("variant", pa.string()),
        pa.field("model_version", pa.string()),
        pa.field("mode", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("prediction", pa.string()),
        pa.field("probabilities", pa.list_(pa.float64())),
    ]
    for name in spec.numeric:
        columns[name] = df[name].astype("float64")
        fields.append(pa.field(name, pa.float64()))
    for name in spec.categorical:
        columns[name] = df[name].astype(object).where(df[name].notna(), None).tolist()
        fields.append(pa.field(name, pa.string()))
    table = pa.Table.from_pydict(columns, schema=pa.schema(fields))
    hours = pd.to_datetime(df[ts], utc=True).dt.strftime("date=%Y-%m-%d/hour=%H")
    for folder in sorted(set(hours)):
        mask = pa.array((hours == folder).to_numpy())
        target = Path(uri) / folder
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.filter(mask), target / f"part-testhost-{uuid.uuid4().hex}.parquet")
    return pd.DataFrame({"request_id": request_id, "record": record})


def clean_env(home: Path, **extra: str) -> dict:
    """The environment of a workload subprocess: no SAHAB_* of the caller's, one thread, `home`."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    env.update(SAHAB_HOME=str(home), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    return env
