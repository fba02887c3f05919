"""Shared experiment state: Redis on the platform, an embedded SQLite file in local mode.

Both stores have the same semantics (tests run the same cases on both, and against
`abtest.EventTimeUnits`, the in-memory reference):
- An experiment is identified by `experiment_id(model, salt, weight, champion, challenger)`: a new
  version on either alias, a new salt or weight is a new experiment, so late feedback for an old
  experiment is attributed to the old one and never pollutes the new one. Its keys are assigned
  with its own salt (`Experiment.experiment_salt`). `register()` stores it; its start time is the
  earliest registration or exposure (the maximum duration counts from it).
- `expose()` keeps each key's first exposure (the minimum, whatever order flushes arrive in) and
  the variant that served it. `record()` stores outcomes with their event time, idempotent by
  outcome id (request id, and record index when given); an outcome of a sealed key is ignored and
  counted (`late`), one for an ended experiment too (`after_end`).
- `seal(now, W, D)` enters, in order of (first exposure, key), every key whose first exposure + W
  + D has passed: its unit is `abtest.unit_value` (the mean of its outcomes with event time within
  W of the first exposure, summed in one fixed order), appended once to the experiment's ordered
  list of units; a key with no outcome in its window adds no unit (counted `empty:<variant>`).
  Every replica reads the same list, so every replica reports the same status; nothing lives in a
  worker's memory, so a restart loses nothing. Every write is atomic (a Lua script in Redis, one
  IMMEDIATE transaction in SQLite).
- `add_counters()` / `counters()`: the guardrails' per-variant counters (exposures.py names them).
- `end()` records how an experiment ended (first writer wins) and drops its per-key working
  state; `ended()` is what `evaluator.experiment_running` reads.
- `claim()` lets exactly one caller act on an experiment's decision (SET NX / a primary key):
  the others get False (and answer 409); `release()` frees it when the action did not happen.

Redis layout (prefix `SAHAB_SERVING_AB_REDIS_PREFIX`, default `sahab:ab:`), per experiment `<id>`:
`exp:{<id>}:meta` (hash), `:life` (hash: started_at, ended_at, end), `:seen` (set of outcome ids),
`:exposed` (zset key -> first exposure), `:variant` (hash key -> variant), `:obs` (hash key ->
"t:v;t:v;..." outcomes of unsealed keys), `:sealed` (set), `:units` (list of "variant|mean|key"),
`:counts` (hash), `:ops` (hash, guardrail counters), `:decision` (JSON), `:claim`. The braces are
a hash tag: every key of one experiment hashes to one slot, so the scripts (which touch up to 7 of
them) also run on a clustered Redis, where a script or MULTI over keys of different slots fails
with CROSSSLOT: Azure Managed Redis is always clustered, and with its Enterprise policy only DEL,
MSET, MGET, EXISTS, UNLINK and TOUCH may span slots (checked: learn.microsoft.com "Implement data
operations in Azure Managed Redis: client libraries and best practices", "Multi-key commands";
the hash-tag rule: redis.io "CLUSTER KEYSLOT" and the cluster specification's "Hash tags"). The
prefix may not contain braces (the first `{...}` of a key is its tag). The scripts use only
commands of Redis 5 (no ZADD LT/GT), so ElastiCache and Azure Managed Redis both run them.
Keys of earlier layouts (arrival-order units: `:n`, `:sum`, `:idle`) are not read.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from workloads.serving.abtest import VARIANTS, Variant, assign, unit_value

ENDED_RETENTION_S = 90 * 86_400
"""How long an ended experiment's units, counts and decision stay in Redis (audit, late reads)."""
SEAL_BATCH = 1000
"""Keys sealed per script call: Redis runs one script at a time, so a long backlog is sealed in slices."""
COUNT_NAMES = ("late", "after_end", "outside_window", "variant_conflicts")


@dataclass(frozen=True)
class Experiment:
    model_name: str
    champion_version: str
    challenger_version: str
    salt: str
    """The base salt (SAHAB_SERVING_AB_SALT); keys are assigned with `experiment_salt`."""
    challenger_weight: float

    @property
    def id(self) -> str:
        return experiment_id(self.model_name, self.salt, self.challenger_weight, self.champion_version, self.challenger_version)

    @property
    def experiment_salt(self) -> str:
        """The assignment salt of this experiment: a new pair of versions reshuffles the keys."""
        return f"{self.salt}:{self.champion_version}:{self.challenger_version}"

    def variant(self, key: str) -> Variant:
        """The variant `key` sees in this experiment (sticky)."""
        return assign(key, self.challenger_weight, self.experiment_salt)


def experiment_id(model_name: str, salt: str, weight: float, champion: str, challenger: str) -> str:
    """Stable id of an experiment: salt, split and both versions (16 hex characters)."""
    text = f"{model_name}\x1f{salt}\x1f{weight:.6f}\x1f{champion}\x1f{challenger}"
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Exposure:
    key: str
    variant: Variant
    served_at: float
    """UNIX seconds."""


@dataclass(frozen=True)
class Outcome:
    request_id: str
    key: str
    variant: Variant
    value: float
    event_time: float
    """UNIX seconds of the event the outcome is about (the served record)."""
    record: int | None = None
    """Index of the record in its keyed request; None: the request as a whole."""

    @property
    def id(self) -> str:
        """Idempotency id: a retried feedback call counts once."""
        return self.request_id if self.record is None else f"{self.request_id}#{self.record}"


@dataclass(frozen=True)
class RecordResult:
    accepted: int
    duplicates: int
    late: int
    """Outcomes of keys already sealed: ignored."""
    after_end: int = 0
    """Outcomes for an experiment that had ended: ignored."""


@dataclass(frozen=True)
class SealResult:
    units: int
    empty: int
    """Keys sealed without an outcome in their window (no unit)."""


class ExperimentStore(Protocol):
    def register(self, experiment: Experiment, now: float | None = None) -> None: ...
    def experiment(self, experiment_id: str) -> Experiment | None: ...
    def expose(self, experiment_id: str, exposures: Sequence[Exposure]) -> int: ...
    def record(self, experiment_id: str, outcomes: Sequence[Outcome]) -> RecordResult: ...
    def seal(self, experiment_id: str, now: float, unit_window_s: float, max_label_delay_s: float) -> SealResult: ...
    def units(self, experiment_id: str) -> tuple[list[str], list[float]]: ...
    def counts(self, experiment_id: str) -> dict[str, int]: ...
    def add_counters(self, experiment_id: str, fields: dict[str, int]) -> None: ...
    def counters(self, experiment_id: str) -> dict[str, int]: ...
    def started_at(self, experiment_id: str) -> float | None: ...
    def end(self, experiment_id: str, record: dict, now: float | None = None) -> bool: ...
    def ended(self, experiment_id: str) -> dict | None: ...
    def save_decision(self, experiment_id: str, decision: dict) -> None: ...
    def decision(self, experiment_id: str) -> dict | None: ...
    def claim(self, experiment_id: str, owner: str, ttl_s: float = 300.0) -> bool: ...
    def release(self, experiment_id: str, owner: str) -> None: ...
    def close(self) -> None: ...


def _counts(raw: dict[str, str | int]) -> dict[str, int]:
    out = {name: int(raw.get(name, 0)) for name in COUNT_NAMES}
    for v in VARIANTS:
        for name in ("exposed", "outcomes", "empty"):
            out[f"{name}:{v}"] = int(raw.get(f"{name}:{v}", 0))
    return out


# --- Redis ---------------------------------------------------------------------------------------

_MIN_STARTED = """
local s = redis.call('HGET', KEYS[1], 'started_at')
if not s or tonumber(ARGV[1]) < tonumber(s) then redis.call('HSET', KEYS[1], 'started_at', ARGV[1]) end
"""

# KEYS: exposed variant sealed counts life; ARGV: earliest served_at, then key variant served_at per exposure
_EXPOSE = (
    """
if redis.call('HEXISTS', KEYS[5], 'ended_at') == 1 then return 0 end
local added = 0
for i = 2, #ARGV, 3 do
  local key, variant, ts = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('SISMEMBER', KEYS[3], key) == 0 then
    local cur = redis.call('ZSCORE', KEYS[1], key)
    if not cur then
      redis.call('ZADD', KEYS[1], ts, key)
      redis.call('HSET', KEYS[2], key, variant)
      redis.call('HINCRBY', KEYS[4], 'exposed:' .. variant, 1)
      added = added + 1
    else
      if tonumber(ts) < tonumber(cur) then redis.call('ZADD', KEYS[1], ts, key) end
      if redis.call('HGET', KEYS[2], key) ~= variant then redis.call('HINCRBY', KEYS[4], 'variant_conflicts', 1) end
    end
  end
end
"""
    + _MIN_STARTED.replace("KEYS[1]", "KEYS[5]")
    + "return added\n"
)

# KEYS: seen sealed obs counts life; ARGV: id key variant event_time value per outcome
_RECORD = """
local ended = redis.call('HEXISTS', KEYS[5], 'ended_at') == 1
local accepted, dup, late, after = 0, 0, 0, 0
for i = 1, #ARGV, 5 do
  local id, key, variant, t, v = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if ended then
    after = after + 1
  elseif redis.call('SADD', KEYS[1], id) == 0 then
    dup = dup + 1
  elseif redis.call('SISMEMBER', KEYS[2], key) == 1 then
    late = late + 1
  else
    accepted = accepted + 1
    redis.call('HINCRBY', KEYS[4], 'outcomes:' .. variant, 1)
    local cur = redis.call('HGET', KEYS[3], key)
    if not cur then cur = '' end
    redis.call('HSET', KEYS[3], key, cur .. t .. ':' .. v .. ';')
  end
end
if late > 0 then redis.call('HINCRBY', KEYS[4], 'late', late) end
if after > 0 then redis.call('HINCRBY', KEYS[4], 'after_end', after) end
return {accepted, dup, late, after}
"""

# KEYS: exposed variant obs sealed units counts; ARGV: cutoff window limit.
# The unit is abtest.unit_value: outcomes sorted by (event time, value), summed left to right.
_SEAL = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
local w = tonumber(ARGV[2])
local units, empty, outside_total = 0, 0, 0
for i = 1, #due, 2 do
  local key, fe = due[i], tonumber(due[i + 1])
  local variant = redis.call('HGET', KEYS[2], key)
  local raw = redis.call('HGET', KEYS[3], key)
  local obs = {}
  if raw then
    for t, v in string.gmatch(raw, '([^:;]+):([^;]+);') do obs[#obs + 1] = {tonumber(t), tonumber(v)} end
  end
  table.sort(obs, function(a, b) if a[1] ~= b[1] then return a[1] < b[1] end return a[2] < b[2] end)
  local hi = fe + w
  local s, n = 0.0, 0
  for _, o in ipairs(obs) do
    if o[1] >= fe and o[1] <= hi then s = s + o[2]; n = n + 1 else outside_total = outside_total + 1 end
  end
  if n > 0 then
    redis.call('RPUSH', KEYS[5], variant .. '|' .. string.format('%.17g', s / n) .. '|' .. key)
    units = units + 1
  else
    redis.call('HINCRBY', KEYS[6], 'empty:' .. variant, 1)
    empty = empty + 1
  end
  redis.call('SADD', KEYS[4], key)
  redis.call('ZREM', KEYS[1], key)
  redis.call('HDEL', KEYS[2], key)
  redis.call('HDEL', KEYS[3], key)
end
if outside_total > 0 then redis.call('HINCRBY', KEYS[6], 'outside_window', outside_total) end
return {units, empty, #due / 2}
"""

# KEYS: hash; ARGV: field increment pairs
_ADD = """
for i = 1, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""

# KEYS: life; ARGV: now record
_END = """
if redis.call('HSETNX', KEYS[1], 'ended_at', ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'end', ARGV[2])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_WORKING = ("seen", "exposed", "variant", "obs", "sealed")
_KEPT = ("meta", "life", "units", "counts", "ops", "decision")


class RedisStore:
    """The platform's store (the online store's Redis: ElastiCache, Azure Managed Redis, the
    in-cluster one), under its own key prefix; every key of an experiment in one hash slot."""

    def __init__(self, url: str, prefix: str = "sahab:ab:") -> None:
        import redis

        if "{" in prefix or "}" in prefix:
            raise ValueError(
                f"SAHAB_SERVING_AB_REDIS_PREFIX={prefix!r} contains a brace: the experiment id is each key's "
                "hash tag (one Redis Cluster slot per experiment), and a brace in the prefix would replace it. "
                "Fix: use a prefix without { and }, e.g. sahab:ab:"
            )
        self.prefix = prefix
        # Any: redis-py types every command as `T | Awaitable[T]` (one class for sync and async);
        # this client is the synchronous one.
        self.client: Any = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5)
        self._min_started = self.client.register_script(_MIN_STARTED)
        self._expose = self.client.register_script(_EXPOSE)
        self._record = self.client.register_script(_RECORD)
        self._seal = self.client.register_script(_SEAL)
        self._add = self.client.register_script(_ADD)
        self._end = self.client.register_script(_END)
        self._release = self.client.register_script(_RELEASE)

    def _k(self, experiment_id: str, part: str) -> str:
        return f"{self.prefix}exp:{{{experiment_id}}}:{part}"

    def _keys(self, experiment_id: str, *parts: str) -> list[str]:
        return [self._k(experiment_id, p) for p in parts]

    def register(self, experiment: Experiment, now: float | None = None) -> None:
        meta = {k: str(v) for k, v in asdict(experiment).items()}
        self.client.hset(self._k(experiment.id, "meta"), mapping=meta)
        self._min_started(keys=[self._k(experiment.id, "life")], args=[repr(time.time() if now is None else float(now))])

    def experiment(self, experiment_id: str) -> Experiment | None:
        meta = self.client.hgetall(self._k(experiment_id, "meta"))
        return _experiment_from(meta) if meta else None

    def expose(self, experiment_id: str, exposures: Sequence[Exposure]) -> int:
        if not exposures:
            return 0
        args: list[Any] = [repr(min(float(e.served_at) for e in exposures))]
        for e in exposures:
            args += [e.key, e.variant, repr(float(e.served_at))]
        return int(self._expose(keys=self._keys(experiment_id, "exposed", "variant", "sealed", "counts", "life"), args=args))

    def record(self, experiment_id: str, outcomes: Sequence[Outcome]) -> RecordResult:
        if not outcomes:
            return RecordResult(0, 0, 0)
        args: list[Any] = []
        for o in outcomes:
            args += [o.id, o.key, o.variant, repr(float(o.event_time)), repr(float(o.value))]
        accepted, dup, late, after = self._record(keys=self._keys(experiment_id, "seen", "sealed", "obs", "counts", "life"), args=args)
        return RecordResult(int(accepted), int(dup), int(late), int(after))

    def seal(self, experiment_id: str, now: float, unit_window_s: float, max_label_delay_s: float) -> SealResult:
        cutoff = now - unit_window_s - max_label_delay_s
        keys = self._keys(experiment_id, "exposed", "variant", "obs", "sealed", "units", "counts")
        units = empty = 0
        while True:
            u, e, n = self._seal(keys=keys, args=[repr(float(cutoff)), repr(float(unit_window_s)), SEAL_BATCH])
            units, empty = units + int(u), empty + int(e)
            if int(n) < SEAL_BATCH:
                return SealResult(units, empty)

    def units(self, experiment_id: str) -> tuple[list[str], list[float]]:
        return _parse_units(self.client.lrange(self._k(experiment_id, "units"), 0, -1))

    def counts(self, experiment_id: str) -> dict[str, int]:
        return _counts(self.client.hgetall(self._k(experiment_id, "counts")))

    def add_counters(self, experiment_id: str, fields: dict[str, int]) -> None:
        args: list[Any] = []
        for name, n in fields.items():
            args += [name, int(n)]
        if args:
            self._add(keys=[self._k(experiment_id, "ops")], args=args)

    def counters(self, experiment_id: str) -> dict[str, int]:
        return {k: int(v) for k, v in self.client.hgetall(self._k(experiment_id, "ops")).items()}

    def started_at(self, experiment_id: str) -> float | None:
        value = self.client.hget(self._k(experiment_id, "life"), "started_at")
        return float(value) if value is not None else None

    def end(self, experiment_id: str, record: dict, now: float | None = None) -> bool:
        stamp = time.time() if now is None else float(now)
        first = bool(self._end(keys=[self._k(experiment_id, "life")], args=[repr(stamp), json.dumps(record, default=str, sort_keys=True)]))
        if first:
            # UNLINK may span keys (one slot here anyway) and frees the memory off Redis's main thread.
            self.client.unlink(*self._keys(experiment_id, *_WORKING))
            for key in self._keys(experiment_id, *_KEPT):
                self.client.expire(key, ENDED_RETENTION_S)
        return first

    def ended(self, experiment_id: str) -> dict | None:
        life = self.client.hgetall(self._k(experiment_id, "life"))
        if "ended_at" not in life:
            return None
        return {"ended_at": float(life["ended_at"]), **json.loads(life.get("end") or "{}")}

    def save_decision(self, experiment_id: str, decision: dict) -> None:
        self.client.set(self._k(experiment_id, "decision"), json.dumps(decision, default=str, sort_keys=True))

    def decision(self, experiment_id: str) -> dict | None:
        raw = self.client.get(self._k(experiment_id, "decision"))
        return json.loads(raw) if raw else None

    def claim(self, experiment_id: str, owner: str, ttl_s: float = 300.0) -> bool:
        return bool(self.client.set(self._k(experiment_id, "claim"), owner, nx=True, px=int(ttl_s * 1000)))

    def release(self, experiment_id: str, owner: str) -> None:
        self._release(keys=[self._k(experiment_id, "claim")], args=[owner])

    def close(self) -> None:
        self.client.close()


# --- embedded SQLite ----------------------------------------------------------------------------

# Table names differ from the arrival-order layout's (`outcomes`, `open_keys`, `units`), whose rows
# an old file may still hold: they are left unread.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (id TEXT PRIMARY KEY, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS life (exp TEXT PRIMARY KEY, started_at REAL, ended_at REAL, record TEXT);
CREATE TABLE IF NOT EXISTS seen (exp TEXT NOT NULL, request_id TEXT NOT NULL, PRIMARY KEY (exp, request_id));
CREATE TABLE IF NOT EXISTS exposed (exp TEXT NOT NULL, key TEXT NOT NULL, variant TEXT NOT NULL, first REAL NOT NULL,
                                    PRIMARY KEY (exp, key));
CREATE INDEX IF NOT EXISTS exposed_due ON exposed (exp, first, key);
CREATE TABLE IF NOT EXISTS observations (exp TEXT NOT NULL, key TEXT NOT NULL, t REAL NOT NULL, v REAL NOT NULL);
CREATE INDEX IF NOT EXISTS observations_key ON observations (exp, key);
CREATE TABLE IF NOT EXISTS sealed (exp TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (exp, key));
CREATE TABLE IF NOT EXISTS sealed_units (seq INTEGER PRIMARY KEY AUTOINCREMENT, exp TEXT NOT NULL,
                                         variant TEXT NOT NULL, value REAL NOT NULL, key TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sealed_units_exp ON sealed_units (exp, seq);
CREATE TABLE IF NOT EXISTS counts (exp TEXT NOT NULL, name TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (exp, name));
CREATE TABLE IF NOT EXISTS ops (exp TEXT NOT NULL, name TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (exp, name));
CREATE TABLE IF NOT EXISTS decisions (exp TEXT PRIMARY KEY, decision TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS claims (exp TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
"""


class SqliteStore:
    """Local mode's store: one file shared by every process on the machine (WAL, IMMEDIATE
    transactions), the same semantics as RedisStore."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._db().executescript(_SCHEMA)  # executescript commits on its own

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type, exc, tb) -> None:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _tx(self) -> SqliteStore._Tx:
        return SqliteStore._Tx(self._db())

    @staticmethod
    def _bump(db: sqlite3.Connection, table: str, exp: str, name: str, n: int) -> None:
        if n:
            db.execute(f"INSERT INTO {table} VALUES (?, ?, ?) ON CONFLICT (exp, name) DO UPDATE SET n = n + excluded.n", (exp, name, int(n)))

    @staticmethod
    def _min_started(db: sqlite3.Connection, exp: str, at: float) -> None:
        db.execute(
            "INSERT INTO life (exp, started_at) VALUES (?, ?) ON CONFLICT (exp) DO UPDATE SET "
            "started_at = CASE WHEN started_at IS NULL OR excluded.started_at < started_at THEN excluded.started_at ELSE started_at END",
            (exp, float(at)),
        )

    @staticmethod
    def _is_ended(db: sqlite3.Connection, exp: str) -> bool:
        return db.execute("SELECT 1 FROM life WHERE exp = ? AND ended_at IS NOT NULL", (exp,)).fetchone() is not None

    def register(self, experiment: Experiment, now: float | None = None) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO experiments VALUES (?, ?)", (experiment.id, json.dumps({k: str(v) for k, v in asdict(experiment).items()})))
            self._min_started(db, experiment.id, time.time() if now is None else now)

    def experiment(self, experiment_id: str) -> Experiment | None:
        row = self._db().execute("SELECT meta FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        return _experiment_from(json.loads(row[0])) if row else None

    def expose(self, experiment_id: str, exposures: Sequence[Exposure]) -> int:
        if not exposures:
            return 0
        added = 0
        with self._tx() as db:
            if self._is_ended(db, experiment_id):
                return 0
            for e in exposures:
                if db.execute("SELECT 1 FROM sealed WHERE exp = ? AND key = ?", (experiment_id, e.key)).fetchone():
                    continue
                row = db.execute("SELECT variant, first FROM exposed WHERE exp = ? AND key = ?", (experiment_id, e.key)).fetchone()
                if row is None:
                    db.execute("INSERT INTO exposed VALUES (?, ?, ?, ?)", (experiment_id, e.key, e.variant, float(e.served_at)))
                    self._bump(db, "counts", experiment_id, f"exposed:{e.variant}", 1)
                    added += 1
                    continue
                if float(e.served_at) < row[1]:
                    db.execute("UPDATE exposed SET first = ? WHERE exp = ? AND key = ?", (float(e.served_at), experiment_id, e.key))
                if row[0] != e.variant:
                    self._bump(db, "counts", experiment_id, "variant_conflicts", 1)
            self._min_started(db, experiment_id, min(float(e.served_at) for e in exposures))
        return added

    def record(self, experiment_id: str, outcomes: Sequence[Outcome]) -> RecordResult:
        accepted = dup = late = after = 0
        with self._tx() as db:
            ended = self._is_ended(db, experiment_id)
            for o in outcomes:
                if ended:
                    after += 1
                elif db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (experiment_id, o.id)).rowcount == 0:
                    dup += 1
                elif db.execute("SELECT 1 FROM sealed WHERE exp = ? AND key = ?", (experiment_id, o.key)).fetchone():
                    late += 1
                else:
                    accepted += 1
                    self._bump(db, "counts", experiment_id, f"outcomes:{o.variant}", 1)
                    db.execute("INSERT INTO observations VALUES (?, ?, ?, ?)", (experiment_id, o.key, float(o.event_time), float(o.value)))
            self._bump(db, "counts", experiment_id, "late", late)
            self._bump(db, "counts", experiment_id, "after_end", after)
        return RecordResult(accepted, dup, late, after)

    def seal(self, experiment_id: str, now: float, unit_window_s: float, max_label_delay_s: float) -> SealResult:
        cutoff = now - unit_window_s - max_label_delay_s
        units = empty = 0
        while True:
            with self._tx() as db:
                due = db.execute(
                    "SELECT key, variant, first FROM exposed WHERE exp = ? AND first <= ? ORDER BY first, key LIMIT ?", (experiment_id, cutoff, SEAL_BATCH)
                ).fetchall()
                outside_total = 0
                for key, variant, first in due:
                    obs = db.execute("SELECT t, v FROM observations WHERE exp = ? AND key = ?", (experiment_id, key)).fetchall()
                    value, _, outside = unit_value(first, obs, unit_window_s)
                    outside_total += outside
                    if value is None:
                        self._bump(db, "counts", experiment_id, f"empty:{variant}", 1)
                        empty += 1
                    else:
                        db.execute("INSERT INTO sealed_units (exp, variant, value, key) VALUES (?, ?, ?, ?)", (experiment_id, variant, value, key))
                        units += 1
                    db.execute("INSERT OR IGNORE INTO sealed VALUES (?, ?)", (experiment_id, key))
                    db.execute("DELETE FROM exposed WHERE exp = ? AND key = ?", (experiment_id, key))
                    db.execute("DELETE FROM observations WHERE exp = ? AND key = ?", (experiment_id, key))
                self._bump(db, "counts", experiment_id, "outside_window", outside_total)
            if len(due) < SEAL_BATCH:
                return SealResult(units, empty)

    def units(self, experiment_id: str) -> tuple[list[str], list[float]]:
        rows = self._db().execute("SELECT variant, value FROM sealed_units WHERE exp = ? ORDER BY seq", (experiment_id,)).fetchall()
        return [r[0] for r in rows], [float(r[1]) for r in rows]

    def counts(self, experiment_id: str) -> dict[str, int]:
        return _counts(dict(self._db().execute("SELECT name, n FROM counts WHERE exp = ?", (experiment_id,)).fetchall()))

    def add_counters(self, experiment_id: str, fields: dict[str, int]) -> None:
        with self._tx() as db:
            for name, n in fields.items():
                self._bump(db, "ops", experiment_id, name, n)

    def counters(self, experiment_id: str) -> dict[str, int]:
        return {k: int(v) for k, v in self._db().execute("SELECT name, n FROM ops WHERE exp = ?", (experiment_id,)).fetchall()}

    def started_at(self, experiment_id: str) -> float | None:
        row = self._db().execute("SELECT started_at FROM life WHERE exp = ?", (experiment_id,)).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def end(self, experiment_id: str, record: dict, now: float | None = None) -> bool:
        stamp = time.time() if now is None else float(now)
        with self._tx() as db:
            if self._is_ended(db, experiment_id):
                return False
            db.execute(
                "INSERT INTO life (exp, ended_at, record) VALUES (?, ?, ?) ON CONFLICT (exp) DO UPDATE SET ended_at = excluded.ended_at, record = excluded.record",
                (experiment_id, stamp, json.dumps(record, default=str, sort_keys=True)),
            )
            for table in ("seen", "exposed", "observations", "sealed"):
                db.execute(f"DELETE FROM {table} WHERE exp = ?", (experiment_id,))
        return True

    def ended(self, experiment_id: str) -> dict | None:
        row = self._db().execute("SELECT ended_at, record FROM life WHERE exp = ? AND ended_at IS NOT NULL", (experiment_id,)).fetchone()
        return {"ended_at": float(row[0]), **json.loads(row[1] or "{}")} if row else None

    def save_decision(self, experiment_id: str, decision: dict) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO decisions VALUES (?, ?)", (experiment_id, json.dumps(decision, default=str, sort_keys=True)))

    def decision(self, experiment_id: str) -> dict | None:
        row = self._db().execute("SELECT decision FROM decisions WHERE exp = ?", (experiment_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def claim(self, experiment_id: str, owner: str, ttl_s: float = 300.0) -> bool:
        now = time.time()
        with self._tx() as db:
            db.execute("DELETE FROM claims WHERE exp = ? AND expires < ?", (experiment_id, now))
            return db.execute("INSERT OR IGNORE INTO claims VALUES (?, ?, ?)", (experiment_id, owner, now + ttl_s)).rowcount == 1

    def release(self, experiment_id: str, owner: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM claims WHERE exp = ? AND owner = ?", (experiment_id, owner))

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _experiment_from(meta: dict[str, str]) -> Experiment:
    return Experiment(meta["model_name"], meta["champion_version"], meta["challenger_version"], meta["salt"], float(meta["challenger_weight"]))


def _parse_units(raw: Iterable[str]) -> tuple[list[str], list[float]]:
    variants, values = [], []
    for item in raw:
        variant, value, _key = item.split("|", 2)
        variants.append(variant)
        values.append(float(value))
    return variants, values


def open_store(settings, home: Path) -> ExperimentStore:
    """The store the settings name: Redis when SAHAB_SERVING_AB_REDIS_URL is set, else SQLite."""
    if settings.ab_redis_url is not None:
        return RedisStore(settings.ab_redis_url.get_secret_value(), settings.ab_redis_prefix)
    return SqliteStore(settings.state_path(home))
