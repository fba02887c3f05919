"""Step caching and the hand-over between steps, through the project's own storage (its Feast root:
a local folder, s3:// or abfss://; never Argo's artifact repository).

    <feast root>/pipeline-cache/<step>/<inputs hash>/inputs.json     what went in (values, upstream hashes)
                                                     files/...       what the step wrote (models, graphs, profiles)
                                                     outputs.json    values, each file's sha256, the outputs hash
                                                                     (written last: its presence marks a complete entry)
    <feast root>/pipeline-runs/<run key>/<step>.json                 the entry each step of that run used: the next
                                                                     step (maybe in another pod) reads its inputs there

A step's inputs hash covers the pipeline's code, the project (spec and, for training, its own
code), the step's configuration and the outputs hashes of the steps it takes from; its outputs
hash covers the values it returns and the sha256 of every file it wrote. Equal inputs hashes mean
the step would do the same work: the runner skips it and takes the stored outputs (as Kubeflow
Pipelines' and Metaflow's caches do). The same hashes are the lineage tags on the MLflow run.

Entries are only ever added; deleting `pipeline-cache/` only costs recomputation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workloads import storage
from workloads.errors import SahabError

CACHE_DIR = "pipeline-cache"
RUNS_DIR = "pipeline-runs"
INPUTS, OUTPUTS, FILES = "inputs.json", "outputs.json", "files"
FORMAT_VERSION = 1


class CacheError(SahabError):
    """A cache entry or run record that cannot be used (incomplete, altered, of another format)."""


def canonical(value: Any) -> bytes:
    """The JSON form that is hashed: keys sorted, no whitespace, anything else as its str()."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class StepRecord:
    """What one execution of a step produced (a cache entry), as the steps after it see it."""

    step: str
    inputs_hash: str
    values: dict[str, Any]
    """The outputs the next steps read (hashed)."""
    files: dict[str, str] = field(default_factory=dict)
    """Relative path -> sha256 of each file under the entry's files/ (hashed)."""
    info: dict[str, Any] = field(default_factory=dict)
    """Not hashed: which run produced it, when, reports for people."""
    uri: str = ""
    """The entry's folder."""

    @property
    def outputs_hash(self) -> str:
        return digest({"step": self.step, "values": self.values, "files": self.files})

    def to_json(self) -> bytes:
        body = {
            "format_version": FORMAT_VERSION,
            "step": self.step,
            "inputs_hash": self.inputs_hash,
            "outputs_hash": self.outputs_hash,
            "values": self.values,
            "files": self.files,
            "info": self.info,
            "uri": self.uri,
        }
        return json.dumps(body, indent=1, sort_keys=True, default=str).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> StepRecord:
        try:
            data = json.loads(raw)
            if data.get("format_version") != FORMAT_VERSION:
                raise CacheError(f"{where}: format {data.get('format_version')!r}, not {FORMAT_VERSION}. Fix: delete it (the step reruns)")
            record = cls(data["step"], data["inputs_hash"], data["values"], data.get("files", {}), data.get("info", {}), data.get("uri", ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise CacheError(f"{where}: unreadable step record ({exc}). Fix: delete it (the step reruns)") from None
        if record.outputs_hash != data.get("outputs_hash"):
            raise CacheError(f"{where}: its outputs do not match its outputs_hash (changed after it was written). Fix: delete it (the step reruns)")
        return record


class StepCache:
    """The cache and the run records under one project's Feast root."""

    def __init__(self, feast_root: str) -> None:
        self.root = feast_root
        self.cache_uri = storage.join(feast_root, CACHE_DIR)

    def entry_uri(self, step: str, inputs_hash: str) -> str:
        return storage.join(self.cache_uri, step, inputs_hash)

    def lookup(self, step: str, inputs_hash: str) -> StepRecord | None:
        """The complete entry of `step` for these inputs, or None."""
        uri = self.entry_uri(step, inputs_hash)
        raw = storage.read_bytes(storage.join(uri, OUTPUTS), "pipeline cache")
        if raw is None:
            return None
        record = StepRecord.from_json(raw, storage.join(uri, OUTPUTS))
        if record.step != step or record.inputs_hash != inputs_hash:
            raise CacheError(f"{uri}: holds step {record.step!r} inputs {record.inputs_hash[:12]}, not its own path. Fix: delete it (the step reruns)")
        return record

    def store(self, step: str, inputs_hash: str, inputs: dict[str, Any], values: dict[str, Any], files_dir: Path | None, info: dict[str, Any]) -> StepRecord:
        """Write an entry: its files and inputs first, outputs.json last (readers never see half of one)."""
        uri = self.entry_uri(step, inputs_hash)
        files: dict[str, str] = {}
        if files_dir is not None and files_dir.is_dir():
            for path in sorted(p for p in files_dir.rglob("*") if p.is_file()):
                data = path.read_bytes()
                relative = path.relative_to(files_dir).as_posix()
                storage.write_bytes(storage.join(uri, FILES, relative), data, "pipeline cache")
                files[relative] = sha256_bytes(data)
        storage.write_bytes(storage.join(uri, INPUTS), json.dumps(inputs, indent=1, sort_keys=True, default=str).encode(), "pipeline cache")
        record = StepRecord(step, inputs_hash, values, files, {**info, "stored_at": _now()}, uri)
        storage.write_bytes(storage.join(uri, OUTPUTS), record.to_json(), "pipeline cache")
        return record

    def alias(self, record: StepRecord, inputs_hash: str) -> None:
        """Make `record` the entry for another inputs hash too (a step whose outputs are a fixed point:
        run again on them, it would change nothing). Its files stay where they are."""
        if inputs_hash == record.inputs_hash:
            return
        uri = self.entry_uri(record.step, inputs_hash)
        aliased = StepRecord(record.step, inputs_hash, record.values, record.files, {**record.info, "same_as": record.inputs_hash}, record.uri)
        storage.write_bytes(storage.join(uri, OUTPUTS), aliased.to_json(), "pipeline cache")

    def fetch(self, record: StepRecord, dst: Path) -> Path:
        """The entry's files under `dst`, each checked against its sha256."""
        dst.mkdir(parents=True, exist_ok=True)
        for relative, sha in sorted(record.files.items()):
            uri = storage.join(record.uri, FILES, relative)
            data = storage.read_bytes(uri, "pipeline cache")
            if data is None:
                raise CacheError(f"{uri}: missing from the step's cache entry. Fix: delete {record.uri} (the step reruns)")
            if sha256_bytes(data) != sha:
                raise CacheError(f"{uri}: sha256 {sha256_bytes(data)[:12]} is not the recorded {sha[:12]}. Fix: delete {record.uri} (the step reruns)")
            path = dst / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return dst

    def run_folder(self, key: str) -> str:
        return storage.join(self.root, RUNS_DIR, key)

    def run_uri(self, key: str, step: str) -> str:
        return storage.join(self.run_folder(key), f"{step}.json")

    def mark_run(self, key: str, record: StepRecord) -> None:
        """Record that run `key` used `record` for its step (the next step's process reads it)."""
        storage.write_bytes(self.run_uri(key, record.step), record.to_json(), "pipeline cache")

    def run_record(self, key: str, step: str) -> StepRecord | None:
        uri = self.run_uri(key, step)
        raw = storage.read_bytes(uri, "pipeline cache")
        return None if raw is None else StepRecord.from_json(raw, uri)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
