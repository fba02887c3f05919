"""The scheduled drift job (`python -m workloads.monitoring run`): the same code on the cluster
(the drift CronJob) and on one machine (`sahab local`).

One run:
1. resolves the reference profile of the version behind `SAHAB_DRIFT_MODEL_ALIAS` (`champion`)
   from the registry, or reads `SAHAB_DRIFT_REFERENCE_URI`;
2. reads the prediction log (`SAHAB_DRIFT_LOG_URI`: hive partitions `date=YYYY-MM-DD/hour=HH/`
   of Parquet, written by serving) from the watermark up to the last complete window (windows
   end `grace` before now), keeping the rows the resolved version scored;
3. tests each window once (workloads.monitoring.drift), then moves the watermark past them;
4. tracks drift episodes: a drifted window opens one, `clear_windows` clean windows in a row close
   it. One retraining per episode: the trigger fires when an episode opens (or, if it is still
   drifting, again once `cooldown` has passed since the last trigger), and never twice within
   `cooldown`. The trigger key names the episode's first window, so a repeated attempt after a
   failure is deduplicated downstream (the Kubernetes Job is named after it);
5. writes the state (watermark, episode, triggers) to `SAHAB_DRIFT_STATE_URI` (default:
   `drift-state/` beside the log), the reports there under `reports/`, and pushes metrics.

The trigger is a command (`SAHAB_DRIFT_RETRAIN_COMMAND`, split like a shell line but run without
one): `python -m workloads.pipeline retrain` on one machine, `python .../retrain_trigger.py` on the
cluster (it creates the retrain Job). It gets `SAHAB_RETRAIN_KEY`, `SAHAB_RETRAIN_REASON`,
`SAHAB_RETRAIN_WINDOWS` and `SAHAB_RETRAIN_MODEL_VERSION` in its environment.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from workloads import storage
from workloads.monitoring.drift import DriftReport, DriftSettings, detect_drift
from workloads.monitoring.reference import UNKNOWN_VERSION, VersionReference, file_reference, registry_reference
from workloads.settings import SahabSettings, StrictEnvSettings

logger = logging.getLogger("workloads.monitoring.job")

LOG_TIMESTAMP = "ts"
LOG_MODEL_VERSION = "model_version"
STATE_FILE = "state.json"
STATE_FORMAT = 1
MAX_TRIGGER_HISTORY = 50


class DriftJobSettings(StrictEnvSettings):
    """The scheduled job's settings (env prefix `SAHAB_DRIFT_`); the statistics' own settings stay
    under `SAHAB_MONITORING_` (alpha, min_window_rows, PSI gate, Pushgateway)."""

    model_config = SettingsConfigDict(env_prefix="SAHAB_DRIFT_", frozen=True, extra="forbid")

    log_uri: str
    """Prediction log root: a local folder, `s3://bucket/prefix/` or
    `abfss://<container>@<account>.dfs.core.windows.net/<prefix>/` (hive partitions date=/hour=)."""
    state_uri: str | None = None
    """Watermark, episode and reports; default `drift-state/` beside the log root."""
    reference_uri: str | None = None
    """A fixed reference profile (path or URI) instead of the registry's; for tests and air-gapped runs."""
    model_alias: str = "champion"
    """Registry alias whose version's reference profile live data is compared with."""
    window: str = "1h"
    """Window length (pandas frequency: `1h`, `15min`); each window is tested once."""
    grace: str = "5min"
    """A window is complete (testable) once it ended this long ago: serving flushes in batches."""
    lookback: str = "24h"
    """Where the first run (no watermark yet) starts, back from now."""
    max_windows: int = Field(48, ge=1)
    """At most this many windows per run (a backlog is worked off over several runs)."""
    cooldown: str = "6h"
    """No two retrainings within this time, whatever the episodes."""
    clear_windows: int = Field(2, ge=1)
    """Clean tested windows in a row that close a drift episode."""
    retrain_command: str | None = None
    """What a retraining trigger runs; unset: drift is recorded and alerted, nothing is started."""
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

    @field_validator("window", "grace", "lookback", "cooldown")
    @classmethod
    def _duration(cls, value: str) -> str:
        try:
            delta = pd.Timedelta(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a duration (examples: 1h, 15min, 30s)") from exc
        if delta < pd.Timedelta(0):
            raise ValueError(f"{value!r} is negative")
        return value

    @field_validator("window")
    @classmethod
    def _positive_window(cls, value: str) -> str:
        if pd.Timedelta(value) <= pd.Timedelta(0):
            raise ValueError(f"window {value!r} must be longer than zero")
        return value

    def resolved_state_uri(self) -> str:
        if self.state_uri:
            return self.state_uri.rstrip("/")
        root = self.log_uri.rstrip("/")
        parent = root.rsplit("/", 1)[0] if "/" in root.split("://", 1)[-1] else root
        return f"{parent}/drift-state"


# --- storage: local folders, s3:// and abfss:// through pyarrow's own filesystems (workloads/storage.py) ---


def _fs(uri: str) -> tuple[pafs.FileSystem, str]:
    return storage.filesystem(uri, "SAHAB_DRIFT_LOG_URI / SAHAB_DRIFT_STATE_URI")


def read_text(uri: str) -> str | None:
    data = storage.read_bytes(uri, "SAHAB_DRIFT_STATE_URI")
    return None if data is None else data.decode()


def write_text(uri: str, text: str) -> None:
    """Readers see the old or the new state, never half of one (storage.write_bytes)."""
    storage.write_bytes(uri, text.encode(), "SAHAB_DRIFT_STATE_URI")


# --- the prediction log ---

_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})/hour=(\d{1,2})$")


def partition_hours(log_uri: str) -> dict[datetime, list[str]]:
    """Hour (UTC) -> Parquet files under `date=YYYY-MM-DD/hour=HH/`."""
    fs, root = _fs(log_uri)
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
    fs, _ = _fs(log_uri)
    files = [
        f
        for hour, paths in sorted(partition_hours(log_uri).items())
        # A record flushed just after its hour may sit in the next partition: read one more.
        if start - timedelta(hours=1) <= hour < end + timedelta(hours=1)
        for f in sorted(paths)
    ]
    if not files:
        return pd.DataFrame()
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


# --- state ---


@dataclass
class Episode:
    key: str
    """Compact id of the first drifted window (`20261201T1400Z`): the retraining's dedupe key."""
    opened_window: str
    last_drift_window: str
    clean_windows: int = 0
    triggered: bool = False
    windows: list[str] = field(default_factory=list)


@dataclass
class JobState:
    watermark: str | None = None
    """End (exclusive, ISO UTC) of the last tested window; windows before it are never re-tested."""
    model_version: str | None = None
    episode: Episode | None = None
    last_trigger_at: str | None = None
    triggers: list[dict] = field(default_factory=list)
    format: int = STATE_FORMAT

    @classmethod
    def load(cls, uri: str) -> JobState:
        text = read_text(f"{uri}/{STATE_FILE}")
        if text is None:
            return cls()
        data = json.loads(text)
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"{uri}/{STATE_FILE}: state format {data.get('format')!r}, expected {STATE_FORMAT}; move it aside to start afresh")
        episode = data.pop("episode", None)
        return cls(**data, episode=Episode(**episode) if episode else None)

    def save(self, uri: str) -> None:
        write_text(f"{uri}/{STATE_FILE}", json.dumps(asdict(self), indent=2))


def window_key(start: pd.Timestamp) -> str:
    return start.tz_convert("UTC").strftime("%Y%m%dT%H%MZ")


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

    def as_dict(self) -> dict:
        return asdict(self)


class TriggerFailed(RuntimeError):
    """The retrain command failed; nothing of the run is saved, so the next run re-tests the same
    windows and retries under the same key."""


def run(
    job: DriftJobSettings,
    stats: DriftSettings,
    *,
    now: datetime | None = None,
    out_dir: Path | None = None,
    sahab: SahabSettings | None = None,
) -> tuple[RunSummary, DriftReport | None]:
    """One scheduled run; see the module docstring. Raises ValueError / LookupError for unusable
    input (the CLI exits 2) and TriggerFailed when the retrain command fails (exit 1)."""
    sahab = sahab or SahabSettings()
    now_ts = pd.Timestamp(now or datetime.now(UTC))
    now_ts = now_ts.tz_localize("UTC") if now_ts.tzinfo is None else now_ts.tz_convert("UTC")
    window = pd.Timedelta(job.window)
    state_uri = job.resolved_state_uri()
    state = JobState.load(state_uri)

    ref: VersionReference = file_reference(job.reference_uri) if job.reference_uri else registry_reference(job.model_alias, settings=sahab)
    if state.model_version is not None and state.model_version != ref.model_version:
        # A promotion: the new champion has its own reference; the old episode was about the old model.
        logger.info("model version %s -> %s: drift episode reset", state.model_version, ref.model_version)
        state.episode = None
    state.model_version = ref.model_version

    cutoff = (now_ts - pd.Timedelta(job.grace)).floor(window)
    start = pd.Timestamp(state.watermark) if state.watermark else (now_ts - pd.Timedelta(job.lookback)).floor(window)
    end = min(cutoff, start + job.max_windows * window)
    settings = stats.model_copy(update={"window": job.window, "window_rows": None, "timestamp_column": LOG_TIMESTAMP})
    report = None
    tested: list[str] = []
    drifted: list[str] = []
    skipped: list[str] = []
    rows = pd.DataFrame()
    if start >= end:
        reason = f"no complete window after the watermark {state.watermark} (the next ends at {start + window})"
    else:
        rows = read_log(job.log_uri, start.to_pydatetime(), end.to_pydatetime())
        if LOG_MODEL_VERSION in rows.columns and not rows.empty and ref.model_version != UNKNOWN_VERSION:
            # Scores depend on the model: only the rows the reference's version scored are comparable.
            rows = rows[rows[LOG_MODEL_VERSION].astype(str) == ref.model_version].reset_index(drop=True)
        if rows.empty:
            reason = f"no log rows of v{ref.model_version} in [{start.isoformat()}, {end.isoformat()})"
        else:
            report = detect_drift(ref.profile, rows, settings)
            report = replace(report, reference={**report.reference, "model_version": ref.model_version, "source": ref.source})
            reason = report.reason
            for w in report.windows:
                (tested if w.tested else skipped).append(w.name)
                if w.drifted:
                    drifted.append(w.name)
            _update_episode(state, report, job.clear_windows)
        state.watermark = end.isoformat()

    retrain = None
    if state.episode is not None and _should_trigger(state, bool(drifted), now_ts, pd.Timedelta(job.cooldown)):
        # A failure raises before the state is saved: the next run re-tests the same windows and
        # retries under the same key.
        retrain = _trigger(job, sahab, state, ref.model_version, now_ts)
    summary = RunSummary(tested, drifted, skipped, state.watermark, ref.model_version, _episode(state), retrain, reason)
    if report is not None:
        _write_outputs(report, ref, rows, settings, summary, state_uri, out_dir, now_ts)
    state.save(state_uri)
    return summary, report


def _episode(state: JobState) -> dict | None:
    return asdict(state.episode) if state.episode else None


def _update_episode(state: JobState, report: DriftReport, clear_windows: int) -> None:
    for w in report.windows:
        if not w.tested:
            continue  # too few rows to say anything: the episode neither grows nor clears
        if w.drifted:
            if state.episode is None:
                state.episode = Episode(key=window_key(pd.Timestamp(w.name)), opened_window=w.name, last_drift_window=w.name)
            state.episode.last_drift_window, state.episode.clean_windows = w.name, 0
            state.episode.windows.append(w.name)
        elif state.episode is not None:
            state.episode.clean_windows += 1
            if state.episode.clean_windows >= clear_windows:
                state.episode = None


def _should_trigger(state: JobState, drifted_now: bool, now: pd.Timestamp, cooldown: pd.Timedelta) -> bool:
    episode = state.episode
    if episode.triggered and not drifted_now:
        return False  # this episode already has its retraining, and nothing new has drifted
    if state.last_trigger_at and now - pd.Timestamp(state.last_trigger_at) < cooldown:
        return False
    return True


def _trigger(job: DriftJobSettings, sahab: SahabSettings, state: JobState, model_version: str, now: pd.Timestamp) -> dict | None:
    episode = state.episode
    repeats = sum(1 for t in state.triggers if t.get("episode") == episode.key)
    key = episode.key if repeats == 0 else f"{episode.key}-{repeats + 1}"
    info = {
        "key": key,
        "episode": episode.key,
        "reason": "drift",
        "windows": list(episode.windows[-24:]),
        "model_version": model_version,
        "at": now.isoformat(),
    }
    if not job.retrain_command:
        logger.warning("drift episode %s: no SAHAB_DRIFT_RETRAIN_COMMAND, no retraining started", episode.key)
        return None
    env = {
        **os.environ,
        "SAHAB_RETRAIN_KEY": key.lower(),
        "SAHAB_RETRAIN_REASON": "drift",
        "SAHAB_RETRAIN_WINDOWS": ",".join(info["windows"]),
        "SAHAB_RETRAIN_MODEL_VERSION": model_version,
    }
    # The child must not inherit the drift job's own settings: it validates its own prefixes.
    env = {k: v for k, v in env.items() if not k.startswith("SAHAB_DRIFT_")}
    argv = shlex.split(job.retrain_command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable  # the same interpreter (and virtual environment) as the job
    try:
        if job.retrain_detach:
            logs = sahab.home / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            with open(logs / f"retrain-{key.lower()}.log", "ab") as out:
                proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            info.update(detached=True, pid=proc.pid, log=str(logs / f"retrain-{key.lower()}.log"))
        else:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=job.retrain_timeout_s)
            if done.returncode != 0:
                raise TriggerFailed(f"retrain command {argv} exited {done.returncode}: {(done.stderr or done.stdout)[-2000:]}")
            info["output"] = done.stdout[-2000:]
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TriggerFailed(f"retrain command {argv} could not run: {exc}") from exc
    episode.triggered = True
    state.last_trigger_at = info["at"]
    state.triggers = [*state.triggers, {k: v for k, v in info.items() if k != "output"}][-MAX_TRIGGER_HISTORY:]
    logger.info("drift episode %s: retraining started (key %s)", episode.key, key)
    return info


def _write_outputs(
    report: DriftReport,
    ref: VersionReference,
    rows: pd.DataFrame,
    settings: DriftSettings,
    summary: RunSummary,
    state_uri: str,
    out_dir: Path | None,
    now: pd.Timestamp,
) -> None:
    """report.json / report.html / event.json / metrics.prom into `out_dir` (a temporary folder by
    default) and, for the record, report.json / event.json / report.html under `<state>/reports/<run>/`."""
    import tempfile

    from workloads.monitoring.report import event, write_html, write_json, write_metrics

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(out_dir) if out_dir else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        write_json(report, out / "report.json")
        write_html(report, ref.profile, rows, settings, out / "report.html")
        episode = summary.episode
        write_metrics(
            report,
            out / "metrics.prom",
            settings,
            extra={
                "sahab_drift_watermark_timestamp_seconds": ("End of the last tested window", pd.Timestamp(summary.watermark).timestamp()),
                "sahab_drift_episode_open": ("1 while a drift episode is open", float(episode is not None)),
                "sahab_drift_retrain_triggered": ("1 when this run started a retraining", float(summary.retrain is not None)),
                "sahab_drift_windows_tested": ("Windows tested by this run", float(len(summary.tested))),
            },
        )
        (out / "event.json").write_text(json.dumps(event(report), indent=2))
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        for name in ("report.json", "event.json", "report.html"):
            write_text(f"{state_uri}/reports/{stamp}/{name}", (out / name).read_text())
