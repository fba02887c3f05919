"""Frozen training frames: the rows one retrain learns from and is judged on, fixed by its run key.

    <feast root>/training-sets/<run key>/frame.parquet     the training window (key, time, features, label)
                                        holdout.parquet   the common holdout every version is scored on
                                        lineage.json      hashes, windows, views, row counts (written last)

`frames_for(repo, key)` returns the frames of `key`: read back when `lineage.json` exists (a resume
after a spot reclaim trains on the same rows even if new labels arrived since), else built and
written. Building:

1. the labels known at `as_of` (arrived before it; default now), one per labelled event (the last
   that arrived: workloads/features/labels.py `latest`);
2. `t_end` is the newest label's event time; the holdout is `[t_end - evaluation.holdout, t_end]`,
   the training window `[t_end - holdout - training.window, t_end - holdout)` (all earlier labels
   when no window is declared);
3. features: a label naming its served record (`request_id` + `record`, same key) takes that
   record's served features exactly (the prediction log's live rows, as ingested); the others the
   point-in-time join (store.py: the latest feature row of the key at or before the label's event
   time, within each view's TTL). A label with no feature row at all, or with a null in a feature
   declared `nullable: false`, is left out and counted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from workloads import storage
from workloads.features import tables
from workloads.features.labels import latest
from workloads.features.tables import RECORD, REQUEST_ID, SOURCE, TRAINING_SETS_DIR, DataError
from workloads.project.spec import ProjectSpec, format_duration

if TYPE_CHECKING:
    from workloads.features.store import FeatureRepo  # Feast: imported by whoever builds the repo

FRAME, HOLDOUT, LINEAGE = "frame.parquet", "holdout.parquet", "lineage.json"
FORMAT_VERSION = 1
_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def check_run_key(key: str) -> str:
    if not _KEY.match(key or ""):
        raise DataError(
            f"run key {key!r}: use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(it names the frozen training set and the checkpoints). Fix: --key 20261201t1400z or SAHAB_RETRAIN_KEY"
        )
    return key


def new_run_key(now: datetime | None = None) -> str:
    """A fresh run key from the time (`20261201t140512z`) plus 4 random hex digits."""
    import secrets

    return f"{(now or datetime.now(UTC)).astimezone(UTC):%Y%m%dt%H%M%Sz}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class TrainingFrames:
    """The frozen rows of one run: `train` (the training window; the runtime splits its newest
    `training.val_fraction` off as validation) and `holdout` (the common comparison)."""

    key: str
    uri: str
    train: pd.DataFrame
    holdout: pd.DataFrame
    lineage: dict[str, Any]
    reused: bool = False

    @property
    def data_sha256(self) -> str:
        return str(self.lineage["data_sha256"])

    @property
    def holdout_sha256(self) -> str:
        return str(self.lineage["holdout_sha256"])

    @property
    def training_window(self) -> str:
        """`<start>/<end>` (ISO, end excluded) of the training labels' event times."""
        return "/".join(self.lineage["training_window"])

    @property
    def holdout_window(self) -> str:
        """`<start>/<end>` (ISO, end included) of the holdout labels' event times."""
        return "/".join(self.lineage["holdout_window"])

    @property
    def feature_views(self) -> dict[str, str]:
        return dict(self.lineage.get("feature_views", {}))


def frame_schema(spec: ProjectSpec) -> pa.Schema:
    return pa.schema(
        [
            pa.field(spec.entity.key, tables.key_type(spec), nullable=False),
            pa.field(spec.timestamp, tables.TIMESTAMP_TYPE, nullable=False),
            *tables.feature_fields(spec),
            pa.field(spec.label.column, tables.label_type(spec), nullable=False),
        ]
    )


def _typed(frame: pd.DataFrame, spec: ProjectSpec) -> tuple[pa.Table, pd.DataFrame]:
    """The frame as stored and as read back (so a frame's hash is the same before and after storage)."""
    table = pa.Table.from_pandas(frame[tables.frame_columns(spec)].reset_index(drop=True), schema=frame_schema(spec), preserve_index=False)
    return table, table.to_pandas()


def _iso(ts: pd.Timestamp) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def windows(spec: ProjectSpec, t_end: pd.Timestamp, earliest: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(training start, holdout start) for the newest label time `t_end`."""
    holdout_start = t_end - spec.evaluation.holdout
    train_start = holdout_start - spec.training.window if spec.training.window is not None else min(earliest, holdout_start)
    return train_start, holdout_start


def _check_not_empty(spec: ProjectSpec, train: pd.DataFrame, holdout: pd.DataFrame, labels: pd.DataFrame, t_end: pd.Timestamp) -> None:
    if train.empty or holdout.empty:
        empty = "training window" if train.empty else "holdout"
        raise DataError(
            f"{spec.name}: the {empty} holds no labelled rows with features (labels {_iso(labels[spec.timestamp].min())} .. {_iso(t_end)}, holdout "
            f"{format_duration(spec.evaluation.holdout)}). Fix: ingest more labels and their features, or shorten evaluation.holdout"
        )


def build(
    repo: FeatureRepo,
    key: str,
    *,
    as_of: datetime | None = None,
    post_drift_since: datetime | None = None,
    log: Callable[[str], None] = print,
) -> TrainingFrames:
    """Build (not store) the frames of `key`; see the module docstring."""
    spec = repo.spec
    k, ts = spec.entity.key, spec.timestamp
    as_of_ts = pd.Timestamp(as_of or datetime.now(UTC)).tz_convert("UTC")
    stored = repo.labels.read(until=as_of_ts.to_pydatetime())
    labels = latest(stored, spec)
    if labels.empty:
        raise DataError(
            f"{spec.name}: no labels arrived before {_iso(as_of_ts)} to train on. Fix: ingest labels (sources.labels, /labels, /feedback) "
            "or generate example data with `python -m workloads.features generate`"
        )
    t_end = labels[ts].max()
    train_start, holdout_start = windows(spec, t_end, labels[ts].min())
    labels = labels[labels[ts] >= train_start].reset_index(drop=True)
    _check_not_empty(spec, labels[labels[ts] < holdout_start], labels[labels[ts] >= holdout_start], labels, t_end)

    # Exact join: the served record a label names (same key), as the prediction log kept it.
    named = labels[REQUEST_ID].notna() & labels[RECORD].notna()
    exact = labels.iloc[0:0]
    if named.any():
        served = repo.served_rows()
        feats = served[[k, REQUEST_ID, RECORD, *spec.feature_names]].drop_duplicates([REQUEST_ID, RECORD, k], keep="last")
        exact = labels[named].reset_index().merge(feats, on=[REQUEST_ID, RECORD, k], how="inner", validate="many_to_one").set_index("index")
        exact["features_found"] = True
    rest = labels.drop(index=exact.index)
    pit = repo.point_in_time(rest) if not rest.empty else rest.assign(features_found=pd.Series(dtype=bool))
    joined = pd.concat([exact, pit]).sort_index()
    without = ~joined["features_found"].astype(bool)
    required = [f.name for f in spec.features if not f.nullable]
    null_required = joined[required].isna().any(axis=1) & ~without if required else pd.Series(False, index=joined.index)
    kept = joined[~without & ~null_required]
    kept = kept.sort_values([ts, k], kind="stable").reset_index(drop=True)

    train_rows = kept[(kept[ts] >= train_start) & (kept[ts] < holdout_start)]
    holdout_rows = kept[kept[ts] >= holdout_start]
    _check_not_empty(spec, train_rows, holdout_rows, labels, t_end)
    train = _typed(train_rows, spec)[1]
    holdout = _typed(holdout_rows, spec)[1]
    lineage: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "project": spec.name,
        "key": key,
        "created_at": _iso(pd.Timestamp.now(tz="UTC")),
        "as_of": _iso(as_of_ts),
        "t_end": _iso(t_end),
        "training_window": [_iso(train_start), _iso(holdout_start)],
        "holdout_window": [_iso(holdout_start), _iso(t_end)],
        "window": format_duration(spec.training.window) if spec.training.window else None,
        "holdout": format_duration(spec.evaluation.holdout),
        "data_sha256": tables.frame_sha256(train),
        "holdout_sha256": tables.frame_sha256(holdout),
        "feature_views": repo.versions(),
        "rows": {
            "labels_stored": len(stored),
            "labels_in_windows": len(labels),
            "train": len(train),
            "holdout": len(holdout),
            "exact_join": len(exact),
            "point_in_time_join": int(len(joined) - len(exact)),
            "without_features": int(without.sum()),
            "null_required_feature": int(null_required.sum()),
        },
        "label_sources": {str(s): int(n) for s, n in labels[SOURCE].value_counts().sort_index().items()},
    }
    if post_drift_since is not None:
        since = pd.Timestamp(post_drift_since).tz_convert("UTC")
        lineage["post_drift"] = {"since": _iso(since), "train_rows": int((train[ts] >= since).sum()), "share": float((train[ts] >= since).mean())}
    log(
        f"frames {key}: {len(train)} training rows {lineage['training_window'][0]} .. {lineage['training_window'][1]}, {len(holdout)} holdout rows "
        f"(exact join {len(exact)}, point in time {lineage['rows']['point_in_time_join']}, left out {int(without.sum() + null_required.sum())}), "
        f"data sha256 {lineage['data_sha256'][:12]}"
    )
    return TrainingFrames(key, repo.uri(TRAINING_SETS_DIR, key), train, holdout, lineage)


def write(frames: TrainingFrames, spec: ProjectSpec) -> None:
    """Store the frames: both Parquet objects first, lineage.json last (its presence marks a complete set)."""
    for name, frame in ((FRAME, frames.train), (HOLDOUT, frames.holdout)):
        tables.write_table(storage.join(frames.uri, name), _typed(frame, spec)[0], "training set")
    storage.write_bytes(storage.join(frames.uri, LINEAGE), json.dumps(frames.lineage, indent=2, sort_keys=True).encode(), "training set")


def load(repo: FeatureRepo, key: str) -> TrainingFrames | None:
    """The stored frames of `key`, checked against their lineage; None when there are none."""
    uri = repo.uri(TRAINING_SETS_DIR, check_run_key(key))
    raw = storage.read_bytes(storage.join(uri, LINEAGE))
    if raw is None:
        return None
    lineage = json.loads(raw)
    spec = repo.spec
    if lineage.get("project") != spec.name or lineage.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{uri}: a training set of project {lineage.get('project')!r} (format {lineage.get('format_version')}), not {spec.name!r}")
    schema = frame_schema(spec)
    try:
        train = tables.read_table(storage.join(uri, FRAME), schema).to_pandas()
        holdout = tables.read_table(storage.join(uri, HOLDOUT), schema).to_pandas()
    except (FileNotFoundError, pa.ArrowInvalid) as exc:
        raise DataError(f"{uri}: the frozen training set is incomplete or unreadable ({exc}). Fix: retrain with a new --key") from None
    for name, frame, field in (("frame", train, "data_sha256"), ("holdout", holdout, "holdout_sha256")):
        if tables.frame_sha256(frame) != lineage[field]:
            raise DataError(f"{uri}: {name}.parquet does not match lineage.json's {field} (changed after it was frozen). Fix: retrain with a new --key")
    return TrainingFrames(key, uri, train, holdout, lineage, reused=True)


def frames_for(
    repo: FeatureRepo,
    key: str,
    *,
    as_of: datetime | None = None,
    post_drift_since: datetime | None = None,
    log: Callable[[str], None] = print,
) -> TrainingFrames:
    """The frozen frames of run `key`: reused when stored, else built and stored."""
    check_run_key(key)
    existing = load(repo, key)
    if existing is not None:
        log(
            f"frames {key}: reusing the frozen training set ({len(existing.train)} training rows, {len(existing.holdout)} holdout rows, "
            f"data sha256 {existing.data_sha256[:12]}, frozen {existing.lineage['created_at']})"
        )
        return existing
    frames = build(repo, key, as_of=as_of, post_drift_since=post_drift_since, log=log)
    write(frames, repo.spec)
    return frames
