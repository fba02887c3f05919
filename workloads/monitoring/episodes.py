"""Episodes and the retraining trigger, shared by drift and performance monitoring.

An episode opens on the first flagged window (drifted, or degraded) and closes after
`clear_windows` clean tested windows in a row; windows that were not tested (too few rows or
labels) neither extend nor close it. **One retraining per episode**: the trigger fires when an
episode opens and, while it keeps being flagged, again only after `cooldown`; never two triggers
within `cooldown` at all, drift and performance together. While an experiment runs
(workloads.serving.evaluator.experiment_running) a due trigger waits: the episode stays open and
untriggered, so it fires at the first run after the experiment ended, unless the experiment
promoted a new champion (the job then ends every episode: they were about the old model).

The trigger key names the episode (`20261201T1400Z` for drift, `perf-20261201T0000Z` for
performance; a repeat within one episode appends `-2`, `-3`): the retrain command gets it lower-cased
as SAHAB_RETRAIN_KEY, which names the frozen training set and, on the cluster, the Job
(`retrain-<reason>-<key>`), so a retried trigger is deduplicated downstream.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from workloads.errors import SahabError

logger = logging.getLogger("workloads.monitoring.episodes")

Kind = Literal["drift", "performance"]
MAX_TRIGGER_HISTORY = 50


@dataclass
class Episode:
    key: str
    """Compact id of the first flagged window (`20261201T1400Z`, `perf-20261201T0000Z`): the retraining's dedupe key."""
    opened_window: str
    last_flagged_window: str
    kind: Kind = "drift"
    clean_windows: int = 0
    triggered: bool = False
    windows: list[str] = field(default_factory=list)
    waiting: str | None = None
    """Why a due trigger has not fired yet (an experiment running)."""

    @classmethod
    def from_dict(cls, data: dict) -> Episode:
        data = dict(data)
        if "last_drift_window" in data:  # state format 1
            data["last_flagged_window"] = data.pop("last_drift_window")
        return cls(**data)


def window_key(start: pd.Timestamp) -> str:
    return pd.Timestamp(start).tz_convert("UTC").strftime("%Y%m%dT%H%MZ")


def episode_key(kind: Kind, start: pd.Timestamp) -> str:
    return window_key(start) if kind == "drift" else f"perf-{window_key(start)}"


def update_episode(episode: Episode | None, kind: Kind, windows: list[tuple[str, bool, bool]], clear_windows: int) -> Episode | None:
    """Walk `(window name, tested, flagged)` in time order; returns the episode open after them."""
    for name, tested, flagged in windows:
        if not tested:
            continue  # too little to say anything: the episode neither grows nor clears
        if flagged:
            if episode is None:
                episode = Episode(key=episode_key(kind, pd.Timestamp(name)), opened_window=name, last_flagged_window=name, kind=kind)
            episode.last_flagged_window, episode.clean_windows = name, 0
            episode.windows.append(name)
        elif episode is not None:
            episode.clean_windows += 1
            if episode.clean_windows >= clear_windows:
                episode = None
    return episode


def due(episode: Episode, flagged_now: bool, last_trigger_at: str | None, now: pd.Timestamp, cooldown: pd.Timedelta) -> bool:
    """Whether the episode's trigger should fire now (module docstring)."""
    if episode.triggered and not flagged_now:
        return False  # this episode already has its retraining, and nothing new was flagged
    return not (last_trigger_at and now - pd.Timestamp(last_trigger_at) < cooldown)


class TriggerFailed(SahabError, RuntimeError):
    """The retrain command failed; nothing of the run is saved, so the next run re-tests the same
    windows and retries under the same key. Exit 1."""

    exit_code = 1


@dataclass(frozen=True)
class RetrainCommand:
    command: str | None
    """Split like a shell line, run without one; `python` means the job's own interpreter. None: record only."""
    detach: bool = False
    timeout_s: int = 600
    logs: Path | None = None
    """Folder of a detached command's output (`retrain-<key>.log`)."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra variables for the command (SAHAB_PROJECT)."""


def fire(episode: Episode, triggers: list[dict], command: RetrainCommand, model_version: str, now: pd.Timestamp) -> dict | None:
    """Run the retrain command for `episode`; returns the trigger record (None when no command is
    configured). Raises TriggerFailed when the command cannot run or fails."""
    repeats = sum(1 for t in triggers if t.get("episode") == episode.key)
    key = episode.key if repeats == 0 else f"{episode.key}-{repeats + 1}"
    info = {
        "key": key,
        "episode": episode.key,
        "reason": episode.kind,
        "windows": list(episode.windows[-24:]),
        "model_version": model_version,
        "at": now.isoformat(),
    }
    if not command.command:
        logger.warning("%s episode %s: no SAHAB_DRIFT_RETRAIN_COMMAND, no retraining started", episode.kind, episode.key)
        return None
    env = {
        **os.environ,
        **command.env,
        "SAHAB_RETRAIN_KEY": key.lower(),
        "SAHAB_RETRAIN_REASON": episode.kind,
        "SAHAB_RETRAIN_WINDOWS": ",".join(info["windows"]),
        "SAHAB_RETRAIN_MODEL_VERSION": model_version,
    }
    # The child must not inherit the job's own settings: it validates its own prefixes.
    env = {k: v for k, v in env.items() if not k.startswith("SAHAB_DRIFT_")}
    argv = shlex.split(command.command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable  # the same interpreter (and virtual environment) as the job
    try:
        if command.detach:
            logs = command.logs or Path(".")
            logs.mkdir(parents=True, exist_ok=True)
            out_path = logs / f"retrain-{key.lower()}.log"
            with open(out_path, "ab") as out:
                proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            info.update(detached=True, pid=proc.pid, log=str(out_path))
        else:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=command.timeout_s)
            if done.returncode != 0:
                raise TriggerFailed(f"retrain command {argv} exited {done.returncode}: {(done.stderr or done.stdout)[-2000:]}")
            info["output"] = done.stdout[-2000:]
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TriggerFailed(f"retrain command {argv} could not run: {exc}") from exc
    logger.info("%s episode %s: retraining started (key %s)", episode.kind, episode.key, key)
    return info
