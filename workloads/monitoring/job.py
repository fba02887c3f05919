"""The scheduled monitoring job (`python -m workloads.monitoring run`): the same code on the cluster
(the project's monitoring CronJob) and on one machine (`sahab local`).

One run, for the project of SAHAB_PROJECT (or `--project`):
1. resolves the reference of the version behind `SAHAB_DRIFT_MODEL_ALIAS` (`champion`) from the
   registry (its profile and its `sahab.holdout.<metric>` tags), or reads
   `SAHAB_DRIFT_REFERENCE_URI`. A version other than the last run's is a promotion: every open
   episode ends (it was about the old model) and only the new version's rows count from now on;
2. drift: reads the prediction log (hive partitions `date=YYYY-MM-DD/hour=HH/` of Parquet, written
   by serving) from the watermark up to the last complete window (windows end `grace` before now),
   keeps the live rows the resolved version scored, and tests each window once
   (workloads.monitoring.drift: the key as the unit, the reference slot of the window's hour or a
   rolling reference, the project's alpha spent over `drift.period`);
3. performance: judges each performance window once its labels matured (window end +
   `label_maturity` + grace), joining the champion's live rows with the label store
   (workloads.monitoring.performance);
4. episodes and triggers (workloads.monitoring.episodes): one retraining per episode, a cooldown
   shared by drift and performance, waiting while an experiment runs;
5. writes the state (watermarks, version, episodes, triggers, the last judged performance window)
   to `SAHAB_DRIFT_STATE_URI`, the reports under `<state>/reports/<run time>/`, and pushes the
   metrics (grouped by project) when a Pushgateway is configured.

The project gives the settings (`monitoring.drift`, `monitoring.performance`); the SAHAB_DRIFT_* and
SAHAB_MONITORING_* variables override them (time-compressed tests, local loops).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from workloads import storage
from workloads.monitoring import episodes
from workloads.monitoring.drift import DriftReport, DriftSettings, detect_drift
from workloads.monitoring.episodes import Episode, RetrainCommand, TriggerFailed, window_key
from workloads.monitoring.performance import PerformanceRules, PerformanceWindow, join_labels, judge_window
from workloads.monitoring.profile import MIN_SLOT_ROWS, ReferenceProfile
from workloads.monitoring.reference import UNKNOWN_VERSION, VersionReference, file_reference, monitored_columns, registry_reference
from workloads.project.paths import local_paths
from workloads.project.spec import ProjectSpec
from workloads.settings import SahabSettings, StrictEnvSettings

logger = logging.getLogger("workloads.monitoring.job")

__all__ = ["DriftJobSettings", "JobState", "RunSummary", "TriggerFailed", "run", "window_key"]

LOG_TIMESTAMP = "ts"
LOG_MODEL_VERSION = "model_version"
LOG_KEY = "key"
LOG_MODE = "mode"
STATE_FILE = "state.json"
STATE_FORMAT = 2
ROLLING_SPAN = pd.Timedelta(days=7)
"""A rolling reference is the same hour of the day over this much of the recent log."""


class DriftJobSettings(StrictEnvSettings):
    """The scheduled job's settings (env prefix `SAHAB_DRIFT_`). Unset durations and the reference
    mode come from the project's `monitoring:`; the statistics' own settings stay under
    `SAHAB_MONITORING_` (alpha, min_psi, min_window_rows, Pushgateway)."""

    model_config = SettingsConfigDict(env_prefix="SAHAB_DRIFT_", frozen=True, extra="forbid")

    log_uri: str | None = None
    """Prediction log root: a local folder, `s3://bucket/prefix/` or
    `abfss://<container>@<account>.dfs.core.windows.net/<prefix>/` (hive partitions date=/hour=);
    default `<SAHAB_HOME>/projects/<name>/serving-log`."""
    state_uri: str | None = None
    """Watermarks, episodes and reports; default `drift-state/<project>` beside `serving-log/<project>`
    (locally `<SAHAB_HOME>/projects/<name>/drift-state`)."""
    reference_uri: str | None = None
    """A fixed reference profile (path or URI) instead of the registry's; for tests and air-gapped runs."""
    model_alias: str = "champion"
    """Registry alias whose version's reference live data is compared with."""
    window: str | None = None
    """Drift window (pandas frequency: `1h`, `15min`); default the project's `drift.window`."""
    period: str | None = None
    """The period over which alpha is spent; default the project's `drift.period`."""
    reference_mode: Literal["training", "seasonal", "rolling"] | None = None
    """Default the project's `drift.reference`."""
    grace: str = "5min"
    """A window is complete (testable) once it ended this long ago: serving flushes in batches."""
    lookback: str = "24h"
    """Where the first run (no watermark yet) starts, back from now."""
    max_windows: int = Field(48, ge=1)
    """At most this many windows per run (a backlog is worked off over several runs)."""
    cooldown: str | None = None
    """No two retrainings within this time; default the project's `drift.cooldown`."""
    clear_windows: int = Field(2, ge=1)
    """Clean tested windows in a row that close an episode."""
    performance: bool = True
    """Judge model performance once labels mature (false: drift only)."""
    performance_window: str | None = None
    """Default the project's `performance.window`."""
    label_maturity: str | None = None
    """Default the project's `performance.label_maturity`."""
    min_labels: int | None = Field(None, ge=1)
    """Default the project's `performance.min_labels`."""
    retrain_command: str | None = None
    """What a retraining trigger runs; unset: episodes are recorded and alerted, nothing is started."""
    retrain_detach: bool = False
    """Start the command and return at once (local retraining takes minutes); output goes to
    `<SAHAB_HOME>/logs/retrain-<key>.log`."""
    retrain_timeout_s: int = Field(600, ge=1)
    """Longest wait for a non-detached command."""

    @field_validator("log_uri", "state_uri")
    @classmethod
    def _storage_uri(cls, value: str | None, info) -> str | None:
        if value:
            storage.parse(value, f"SAHAB_DRIFT_{info.field_name.upper()}")
        return value

    @field_validator("window", "period", "grace", "lookback", "cooldown", "performance_window", "label_maturity")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            delta = pd.Timedelta(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a duration (examples: 1h, 15min, 30s)") from exc
        if delta < pd.Timedelta(0):
            raise ValueError(f"{value!r} is negative")
        return value

    @field_validator("window", "period", "performance_window")
    @classmethod
    def _positive(cls, value: str | None) -> str | None:
        if value is not None and pd.Timedelta(value) <= pd.Timedelta(0):
            raise ValueError(f"{value!r} must be longer than zero")
        return value


@dataclass(frozen=True)
class JobConfig:
    """The effective settings of one run: the project's, overridden by the environment."""

    log_uri: str
    state_uri: str
    window: pd.Timedelta
    period: pd.Timedelta
    reference_mode: str
    alpha: float
    min_psi: float
    cooldown: pd.Timedelta
    grace: pd.Timedelta
    lookback: pd.Timedelta
    performance: bool
    performance_window: pd.Timedelta
    label_maturity: pd.Timedelta
    min_labels: int
    watched: str
    max_degradation: float
    clear_windows: int = 2
    max_windows: int = 48

    @property
    def window_alpha(self) -> float:
        """The level of one drift window: alpha spent evenly over the windows of a period."""
        return self.alpha * min(1.0, self.window / self.period)

    @property
    def performance_alpha(self) -> float:
        return self.alpha * min(1.0, self.performance_window / self.period)


def configure(job: DriftJobSettings, stats: DriftSettings, spec: ProjectSpec, home: Path) -> JobConfig:
    drift, perf = spec.monitoring.drift, spec.monitoring.performance
    log_uri = (job.log_uri or str(local_paths(home, spec).serving_log)).rstrip("/")
    state_uri = job.state_uri.rstrip("/") if job.state_uri else default_state_uri(log_uri, spec.name)

    def duration(value: str | None, default) -> pd.Timedelta:
        return pd.Timedelta(value) if value is not None else pd.Timedelta(default)

    return JobConfig(
        log_uri=log_uri,
        state_uri=state_uri,
        window=duration(job.window, drift.window),
        period=duration(job.period, drift.period),
        reference_mode=job.reference_mode or drift.reference,
        alpha=stats.alpha if "alpha" in stats.model_fields_set else drift.alpha,
        min_psi=stats.min_psi if "min_psi" in stats.model_fields_set else drift.min_psi,
        cooldown=duration(job.cooldown, drift.cooldown),
        grace=pd.Timedelta(job.grace),
        lookback=pd.Timedelta(job.lookback),
        performance=job.performance,
        performance_window=duration(job.performance_window, perf.window),
        label_maturity=duration(job.label_maturity, perf.label_maturity),
        min_labels=job.min_labels or perf.min_labels,
        watched=perf.metric or spec.primary_metric,
        max_degradation=perf.max_degradation,
        clear_windows=job.clear_windows,
        max_windows=job.max_windows,
    )


def default_state_uri(log_uri: str, project: str) -> str:
    """`.../serving-log/<project>` -> `.../drift-state/<project>`; any other log root -> `drift-state/` beside it."""
    root = log_uri.rstrip("/")
    head, _, last = root.rpartition("/")
    if last == project and head.endswith("/serving-log"):
        return f"{head.removesuffix('/serving-log')}/drift-state/{project}"
    parent = head if "/" in root.split("://", 1)[-1] else root
    return f"{parent}/drift-state"


# --- the prediction log ---

_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})/hour=(\d{1,2})$")


def partition_hours(log_uri: str) -> dict[datetime, list[str]]:
    """Hour (UTC) -> Parquet files under `date=YYYY-MM-DD/hour=HH/`."""
    fs, root = storage.filesystem(log_uri, "SAHAB_DRIFT_LOG_URI")
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return {}
    out: dict[datetime, list[str]] = {}
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        if info.type != pafs.FileType.File or not info.path.endswith(".parquet"):
            continue
        match = _PARTITION.search(info.path.rsplit("/", 1)[0])
        if match:
            hour = datetime.fromisoformat(match.group(1)).replace(hour=int(match.group(2)), tzinfo=UTC)
            out.setdefault(hour, []).append(info.path)
    return out


def read_log(log_uri: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Rows of the prediction log with `start <= ts < end` (partitions of the hours around them)."""
    fs, _ = storage.filesystem(log_uri, "SAHAB_DRIFT_LOG_URI")
    files = [
        f
        for hour, paths in sorted(partition_hours(log_uri).items())
        # A record flushed just after its hour may sit in the next partition: read one more.
        if pd.Timestamp(start) - pd.Timedelta(hours=1) <= hour < pd.Timestamp(end) + pd.Timedelta(hours=1)
        for f in sorted(paths)
    ]
    # Per-file frames: an empty part file types its columns as null, which Arrow would refuse to merge.
    parts = [t.to_pandas() for t in (pq.read_table(f, filesystem=fs) for f in files) if t.num_rows]
    if not parts:
        return pd.DataFrame()
    frame = pd.concat(parts, ignore_index=True)
    if LOG_TIMESTAMP not in frame.columns:
        raise ValueError(f"{log_uri}: prediction log has no {LOG_TIMESTAMP!r} column (columns: {sorted(frame.columns)})")
    ts = pd.to_datetime(frame[LOG_TIMESTAMP], utc=True)
    frame = frame.assign(**{LOG_TIMESTAMP: ts})
    return frame[(ts >= start) & (ts < end)].sort_values(LOG_TIMESTAMP, kind="stable").reset_index(drop=True)


def served_by(rows: pd.DataFrame, version: str) -> pd.DataFrame:
    """The live rows `version` answered (shadow rows were not answered; other versions' scores
    are not comparable with this version's reference or baseline)."""
    if rows.empty:
        return rows
    keep = pd.Series(True, index=rows.index)
    if LOG_MODE in rows.columns:
        keep &= rows[LOG_MODE].astype(str) == "live"
    if LOG_MODEL_VERSION in rows.columns and version != UNKNOWN_VERSION:
        keep &= rows[LOG_MODEL_VERSION].astype(str) == version
    return rows[keep].reset_index(drop=True)


# --- state ---


@dataclass
class JobState:
    watermark: str | None = None
    """End (exclusive, ISO UTC) of the last tested drift window; windows before it are never re-tested."""
    model_version: str | None = None
    episode: Episode | None = None
    """The open drift episode."""
    performance_watermark: str | None = None
    """End of the last judged performance window."""
    performance_episode: Episode | None = None
    last_performance: dict | None = None
    """The last judged performance window (re-exported every run: a Pushgateway push replaces the group)."""
    last_trigger_at: str | None = None
    triggers: list[dict] = field(default_factory=list)
    promotions: list[dict] = field(default_factory=list)
    """Version changes seen (`{"from", "to", "at"}`), newest last."""
    format: int = STATE_FORMAT

    @classmethod
    def load(cls, uri: str) -> JobState:
        data = storage.read_bytes(f"{uri}/{STATE_FILE}", "SAHAB_DRIFT_STATE_URI")
        if data is None:
            return cls()
        raw = json.loads(data.decode())
        if raw.get("format") not in (1, STATE_FORMAT):
            raise ValueError(f"{uri}/{STATE_FILE}: state format {raw.get('format')!r}, expected {STATE_FORMAT}; move it aside to start afresh")
        raw["format"] = STATE_FORMAT  # format 1 had no performance fields: their defaults apply
        episode, perf = raw.pop("episode", None), raw.pop("performance_episode", None)
        return cls(**raw, episode=Episode.from_dict(episode) if episode else None, performance_episode=Episode.from_dict(perf) if perf else None)

    def save(self, uri: str) -> None:
        """Readers see the old or the new state, never half of one (storage.write_bytes)."""
        storage.write_bytes(f"{uri}/{STATE_FILE}", json.dumps(asdict(self), indent=2).encode(), "SAHAB_DRIFT_STATE_URI")


@dataclass(frozen=True)
class RunSummary:
    tested: list[str]
    drifted: list[str]
    skipped: list[str]
    watermark: str | None
    model_version: str
    episode: dict | None
    retrain: dict | None
    """`{"key", "reason", "windows", "detached"?, "pid"?}` when this run started a retraining."""
    reason: str
    performance: dict = field(default_factory=dict)
    """`{"judged", "degraded", "skipped", "watermark", "episode", "reason"}`."""
    waiting: str | None = None
    """Why a due retraining did not start (an experiment running)."""
    promoted: dict | None = None
    """`{"from", "to", "at"}` when this run saw a new version."""

    def as_dict(self) -> dict:
        return asdict(self)


ExperimentRunning = Callable[[ProjectSpec, SahabSettings], "str | None"]
"""(project, settings) -> a description of the running experiment, or None when none runs."""


def running_experiment(spec: ProjectSpec, sahab: SahabSettings) -> str | None:
    """The A/B engineer's predicate (workloads.serving.evaluator.experiment_running) on the
    serving settings of this process (SAHAB_SERVING_*: the experiment store and aliases)."""
    from workloads.serving.evaluator import current_experiment, experiment_running
    from workloads.serving.settings import ServingSettings

    serving = ServingSettings()
    if not experiment_running(spec, serving, sahab):
        return None
    experiment = current_experiment(spec, serving, sahab)
    return (
        f"experiment {experiment.id} (champion v{experiment.champion_version} vs challenger v{experiment.challenger_version})"
        if experiment
        else "an experiment"
    )


def run(
    job: DriftJobSettings,
    stats: DriftSettings,
    project,
    *,
    now: datetime | None = None,
    out_dir: Path | None = None,
    sahab: SahabSettings | None = None,
    experiment_running: ExperimentRunning = running_experiment,
) -> tuple[RunSummary, DriftReport | None]:
    """One scheduled run; see the module docstring. Raises ValueError / LookupError for unusable
    input (the CLI exits 2) and TriggerFailed when the retrain command fails (exit 1)."""
    spec: ProjectSpec = getattr(project, "spec", project)
    sahab = (sahab or SahabSettings()).for_project(spec)
    cfg = configure(job, stats, spec, sahab.home)
    now_ts = pd.Timestamp(now or datetime.now(UTC))
    now_ts = now_ts.tz_localize("UTC") if now_ts.tzinfo is None else now_ts.tz_convert("UTC")
    state = JobState.load(cfg.state_uri)

    ref: VersionReference = file_reference(job.reference_uri) if job.reference_uri else registry_reference(spec, job.model_alias, settings=sahab)
    promoted = None
    if state.model_version is not None and state.model_version != ref.model_version:
        # A promotion (or a rollback of the champion): the new version has its own reference and
        # baseline; the open episodes were about the old model, and its retraining is done.
        logger.info("model version %s -> %s: episodes end", state.model_version, ref.model_version)
        promoted = {"from": state.model_version, "to": ref.model_version, "at": now_ts.isoformat()}
        state.promotions = [*state.promotions, promoted][-episodes.MAX_TRIGGER_HISTORY :]
        state.episode = state.performance_episode = None
        state.last_performance = None
    state.model_version = ref.model_version

    stats = stats.model_copy(
        update={"window": _freq(cfg.window), "window_rows": None, "timestamp_column": LOG_TIMESTAMP, "key_column": LOG_KEY, "min_psi": cfg.min_psi}
    )
    drift = _drift(cfg, stats, spec, ref, state, now_ts)
    perf: dict[str, Any] = (
        _performance(cfg, stats, spec, ref, state, now_ts, sahab)
        if cfg.performance
        else {"reason": "performance monitoring is off (SAHAB_DRIFT_PERFORMANCE=false)"}
    )

    retrain, waiting = None, None
    command = RetrainCommand(
        job.retrain_command, job.retrain_detach, job.retrain_timeout_s, sahab.home / "logs", {"SAHAB_PROJECT": str(getattr(project, "folder", spec.name))}
    )
    for attr, flagged_now in (("episode", bool(drift.get("drifted"))), ("performance_episode", bool(perf.get("degraded")))):
        episode: Episode | None = getattr(state, attr)
        if episode is None or not episodes.due(episode, flagged_now, state.last_trigger_at, now_ts, cfg.cooldown):
            continue
        running = experiment_running(spec, sahab)
        if running:
            # The challenger under test must not be replaced: the trigger waits for the decision.
            episode.waiting = waiting = f"{running} is running: the {episode.kind} retraining waits for its decision"
            logger.info("%s episode %s: %s", episode.kind, episode.key, waiting)
            break
        # A failure raises before the state is saved: the next run re-tests the same windows and
        # retries under the same key.
        retrain = episodes.fire(episode, state.triggers, command, ref.model_version, now_ts)
        episode.triggered, episode.waiting = True, None
        if retrain is not None:
            state.last_trigger_at = retrain["at"]
            state.triggers = [*state.triggers, {k: v for k, v in retrain.items() if k != "output"}][-episodes.MAX_TRIGGER_HISTORY :]
        break  # one retraining per run: the cooldown holds the other episode back anyway

    report: DriftReport | None = drift.get("report")
    summary = RunSummary(
        tested=drift.get("tested", []),
        drifted=drift.get("drifted", []),
        skipped=drift.get("skipped", []),
        watermark=state.watermark,
        model_version=ref.model_version,
        episode=asdict(state.episode) if state.episode else None,
        retrain=retrain,
        reason=drift["reason"],
        performance={k: v for k, v in perf.items() if k != "windows"} | {"episode": asdict(state.performance_episode) if state.performance_episode else None},
        waiting=waiting,
        promoted=promoted,
    )
    from workloads.monitoring.report import write_run_outputs

    write_run_outputs(spec, report, ref, drift.get("rows"), stats, summary, perf.get("windows", []), state, cfg.state_uri, out_dir, now_ts)
    state.save(cfg.state_uri)
    return summary, report


def _freq(delta: pd.Timedelta) -> str:
    return f"{int(delta.total_seconds())}s"


def _drift(cfg: JobConfig, stats: DriftSettings, spec: ProjectSpec, ref: VersionReference, state: JobState, now: pd.Timestamp) -> dict:
    window = cfg.window
    cutoff = (now - cfg.grace).floor(window)
    start = pd.Timestamp(state.watermark) if state.watermark else (now - cfg.lookback).floor(window)
    end = min(cutoff, start + cfg.max_windows * window)
    if start >= end:
        return {"reason": f"no complete window after the watermark {state.watermark} (the next ends at {start + window})"}
    history_start = start - ROLLING_SPAN if cfg.reference_mode == "rolling" else start
    everything = served_by(read_log(cfg.log_uri, history_start.to_pydatetime(), end.to_pydatetime()), ref.model_version)
    rows = everything[everything[LOG_TIMESTAMP] >= start].reset_index(drop=True) if not everything.empty else everything
    state.watermark = end.isoformat()
    if rows.empty:
        return {"reason": f"no live log rows of v{ref.model_version} in [{start.isoformat()}, {end.isoformat()})"}
    references = _rolling(everything, ref.profile, spec) if cfg.reference_mode == "rolling" else None
    profile = ref.profile if cfg.reference_mode != "training" else replace(ref.profile, season="none", slots={})
    report = detect_drift(profile, rows, stats, window_alpha=cfg.window_alpha, references=references)
    report = replace(report, reference={**report.reference, "model_version": ref.model_version, "source": ref.source, "mode": cfg.reference_mode})
    state.episode = episodes.update_episode(state.episode, "drift", [(w.name, w.tested, w.drifted) for w in report.windows], cfg.clear_windows)
    return {
        "report": report,
        "rows": rows,
        "reason": report.reason,
        "tested": [w.name for w in report.windows if w.tested],
        "skipped": [w.name for w in report.windows if not w.tested],
        "drifted": [w.name for w in report.windows if w.drifted],
    }


def _rolling(history: pd.DataFrame, fallback: ReferenceProfile, spec: ProjectSpec):
    """References from the recent log: the same hour of the day over ROLLING_SPAN before the
    window; the version's own profile until the log holds enough of them."""
    numeric, categorical = monitored_columns(spec)
    numeric = [n for n in numeric if n not in fallback.clock_features]
    hours = history[LOG_TIMESTAMP].dt.hour.to_numpy() if not history.empty else None

    def reference(name: str, start: pd.Timestamp | None):
        if start is None or hours is None:
            return "training", fallback
        ts = history[LOG_TIMESTAMP]
        mask = (ts >= start - ROLLING_SPAN) & (ts < start) & (hours == start.hour)
        if int(mask.sum()) < MIN_SLOT_ROWS:
            slot, profile = fallback.for_window(start)
            return f"training:{slot}", profile
        return "rolling", ReferenceProfile.fit(history[mask], numeric, categorical, key=LOG_KEY)

    return reference


def _performance(
    cfg: JobConfig, stats: DriftSettings, spec: ProjectSpec, ref: VersionReference, state: JobState, now: pd.Timestamp, sahab: SahabSettings
) -> dict:
    from workloads.features.labels import LabelStore

    width = cfg.performance_window
    cutoff = (now - cfg.grace - cfg.label_maturity).floor(width)
    start = pd.Timestamp(state.performance_watermark) if state.performance_watermark else (cutoff - max(cfg.lookback, width)).floor(width)
    end = min(cutoff, start + cfg.max_windows * width)
    if start >= end:
        return {
            "judged": [],
            "degraded": [],
            "skipped": [],
            "watermark": state.performance_watermark,
            "reason": f"no window with mature labels after {start.isoformat()} (labels mature {cfg.label_maturity} after a window ends)",
        }
    root = label_root(spec, sahab.home)
    if root is None:
        return {
            "judged": [],
            "degraded": [],
            "skipped": [],
            "watermark": state.performance_watermark,
            "reason": "no label store: SAHAB_FEAST_MODE is aws/azure but SAHAB_FEAST_URI is unset",
        }
    rows = served_by(read_log(cfg.log_uri, start.to_pydatetime(), end.to_pydatetime()), ref.model_version)
    labels = LabelStore(spec, root).read(since=start.to_pydatetime())
    rules = PerformanceRules(cfg.watched, cfg.max_degradation, cfg.performance_alpha, cfg.min_labels, stats.max_calibration_ratio)
    tolerance = pd.Timedelta(stats.label_match_tolerance)
    judged: list[PerformanceWindow] = []
    for s in pd.date_range(start, end - width, freq=width):
        e = s + width
        in_window = rows[(rows[LOG_TIMESTAMP] >= s) & (rows[LOG_TIMESTAMP] < e)].reset_index(drop=True) if not rows.empty else rows
        joined = join_labels(spec, in_window, labels, tolerance) if not in_window.empty else pd.DataFrame(columns=["key", "matched_by"])
        judged.append(judge_window(spec, s.isoformat(), s, e, len(in_window), joined, ref.holdout, rules))
    state.performance_watermark = end.isoformat()
    state.performance_episode = episodes.update_episode(
        state.performance_episode, "performance", [(w.name, w.tested, w.degraded) for w in judged], cfg.clear_windows
    )
    tested = [w for w in judged if w.tested]
    if tested:
        last = tested[-1]
        state.last_performance = {
            "window": last.name,
            "window_end": last.end,
            "version": ref.model_version,
            "metrics": last.metrics,
            "checks": [asdict(c) for c in last.checks],
            "n_labels": last.n_labels,
        }
    degraded = [w for w in judged if w.degraded]
    reason = (
        f"{len(degraded)} of {len(tested)} judged windows degraded: " + "; ".join(c.detail for w in degraded[-1:] for c in w.checks if c.breached)
        if degraded
        else (
            f"{len(tested)} windows judged, none degraded"
            if tested
            else "no window had enough labels: " + "; ".join(sorted({w.skipped_because for w in judged})[:2])
        )
    )
    return {
        "windows": judged,
        "judged": [w.name for w in tested],
        "degraded": [w.name for w in degraded],
        "skipped": [w.name for w in judged if not w.tested],
        "watermark": state.performance_watermark,
        "reason": reason,
    }


def label_root(spec: ProjectSpec, home: Path) -> str | None:
    """The project's Feast root, where its label store lives: local under SAHAB_HOME, else
    SAHAB_FEAST_URI (as workloads.features.repo.feast_root resolves it, without importing Feast)."""
    from workloads.settings import FeatureStoreSettings

    settings = FeatureStoreSettings()
    if settings.mode == "local":
        return str(local_paths(home, spec).feast)
    return settings.store_uri()
