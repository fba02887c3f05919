"""Shared experiment state: Redis on the platform, an embedded SQLite file in local mode.

Both stores have the same semantics (tests run the same cases on both):
- An experiment is identified by `experiment_id(model, salt, weight, champion, challenger)`: a new
  version on either alias, a new salt or weight is a new experiment, so late feedback for an old
  experiment is attributed to the old one and never pollutes the new one.
- `record()` is idempotent by request id (a retried feedback call counts once) and atomic (a Lua
  script in Redis, one IMMEDIATE transaction in SQLite): the key is the unit of analysis; a key's
  outcomes accumulate until it has `key_outcomes` of them, then it is sealed and appended, once,
  to the experiment's ordered list of units `(variant, mean outcome)`. `seal_idle()` seals keys
  that stopped receiving outcomes. Every replica reads the same list, so every replica reports the
  same status; nothing lives in a worker's memory, so a restart loses nothing.
- `claim()` lets exactly one caller act on an experiment's decision (SET NX / a primary key):
  the others get False (and answer 409); `release()` frees it when the action did not happen.

Redis layout (prefix `SAHAB_SERVING_AB_REDIS_PREFIX`, default `sahab:ab:`), per experiment `<id>`:
`exp:{<id>}:meta` (hash), `:seen` (set of request ids), `:n` / `:sum` / `:variant` (hashes by key of
open keys), `:sealed` (set), `:idle` (zset key -> last outcome time), `:units` (list of
"variant|mean"), `:outcomes` (hash variant -> accepted outcomes), `:decision` (JSON), `:claim`.
The braces are a hash tag: every key of one experiment hashes to one slot, so the scripts (which
touch up to 8 of them) also run on a clustered Redis, where a script or MULTI over keys of
different slots fails with CROSSSLOT: Azure Managed Redis is always clustered, and with its
Enterprise policy only DEL, MSET, MGET, EXISTS, UNLINK and TOUCH may span slots (checked:
learn.microsoft.com "Implement data operations in Azure Managed Redis: client libraries and best
practices", "Multi-key commands"; the hash-tag rule: redis.io "CLUSTER KEYSLOT" and the cluster
specification's "Hash tags"). The prefix may not contain braces (the first `{...}` of a key is its tag). Keys of the
layout before the tag (`exp:<id>:...`) are not read.
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
from typing import Protocol

from workloads.serving.abtest import VARIANTS, Variant


@dataclass(frozen=True)
class Experiment:
    model_name: str
    champion_version: str
    challenger_version: str
    salt: str
    challenger_weight: float

    @property
    def id(self) -> str:
        return experiment_id(self.model_name, self.salt, self.challenger_weight, self.champion_version, self.challenger_version)


def experiment_id(model_name: str, salt: str, weight: float, champion: str, challenger: str) -> str:
    """Stable id of an experiment: salt, split and both versions (16 hex characters)."""
    text = f"{model_name}\x1f{salt}\x1f{weight:.6f}\x1f{champion}\x1f{challenger}"
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Outcome:
    request_id: str
    key: str
    variant: Variant
    value: float


@dataclass(frozen=True)
class RecordResult:
    accepted: int
    duplicates: int
    sealed: int


class ExperimentStore(Protocol):
    def register(self, experiment: Experiment) -> None: ...
    def experiment(self, experiment_id: str) -> Experiment | None: ...
    def record(self, experiment_id: str, outcomes: Sequence[Outcome], key_outcomes: int) -> RecordResult: ...
    def seal_idle(self, experiment_id: str, idle_s: float) -> int: ...
    def units(self, experiment_id: str) -> tuple[list[str], list[float]]: ...
    def outcome_counts(self, experiment_id: str) -> dict[str, int]: ...
    def save_decision(self, experiment_id: str, decision: dict) -> None: ...
    def decision(self, experiment_id: str) -> dict | None: ...
    def claim(self, experiment_id: str, owner: str, ttl_s: float = 300.0) -> bool: ...
    def release(self, experiment_id: str, owner: str) -> None: ...
    def close(self) -> None: ...


# --- Redis ---------------------------------------------------------------------------------------

# KEYS: seen n sum variant sealed idle units outcomes; ARGV: key_outcomes now, then 4 per outcome.
_RECORD = """
local k = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local accepted, dup, sealed = 0, 0, 0
for i = 3, #ARGV, 4 do
  local rid, key, variant, value = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('SADD', KEYS[1], rid) == 1 then
    accepted = accepted + 1
    redis.call('HINCRBY', KEYS[8], variant, 1)
    if redis.call('SISMEMBER', KEYS[5], key) == 0 then
      local n = redis.call('HINCRBY', KEYS[2], key, 1)
      local s = tonumber(redis.call('HINCRBYFLOAT', KEYS[3], key, value))
      redis.call('HSETNX', KEYS[4], key, variant)
      if n >= k then
        redis.call('RPUSH', KEYS[7], redis.call('HGET', KEYS[4], key) .. '|' .. string.format('%.17g', s / n))
        redis.call('SADD', KEYS[5], key)
        redis.call('HDEL', KEYS[2], key)
        redis.call('HDEL', KEYS[3], key)
        redis.call('HDEL', KEYS[4], key)
        redis.call('ZREM', KEYS[6], key)
        sealed = sealed + 1
      else
        redis.call('ZADD', KEYS[6], now, key)
      end
    end
  else
    dup = dup + 1
  end
end
return {accepted, dup, sealed}
"""

# KEYS: n sum variant sealed idle units; ARGV: cutoff
_SEAL_IDLE = """
local keys = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[1])
for _, key in ipairs(keys) do
  local n = tonumber(redis.call('HGET', KEYS[1], key))
  local s = tonumber(redis.call('HGET', KEYS[2], key))
  if n and n > 0 then
    redis.call('RPUSH', KEYS[6], redis.call('HGET', KEYS[3], key) .. '|' .. string.format('%.17g', s / n))
  end
  redis.call('SADD', KEYS[4], key)
  redis.call('HDEL', KEYS[1], key)
  redis.call('HDEL', KEYS[2], key)
  redis.call('HDEL', KEYS[3], key)
  redis.call('ZREM', KEYS[5], key)
end
return #keys
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


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
        self.client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5)
        self._record = self.client.register_script(_RECORD)
        self._seal = self.client.register_script(_SEAL_IDLE)
        self._release = self.client.register_script(_RELEASE)

    def _k(self, experiment_id: str, part: str) -> str:
        return f"{self.prefix}exp:{{{experiment_id}}}:{part}"

    def register(self, experiment: Experiment) -> None:
        meta = {k: str(v) for k, v in asdict(experiment).items()}
        self.client.hset(self._k(experiment.id, "meta"), mapping=meta)

    def experiment(self, experiment_id: str) -> Experiment | None:
        meta = self.client.hgetall(self._k(experiment_id, "meta"))
        return _experiment_from(meta) if meta else None

    def record(self, experiment_id: str, outcomes: Sequence[Outcome], key_outcomes: int) -> RecordResult:
        if not outcomes:
            return RecordResult(0, 0, 0)
        args: list[object] = [key_outcomes, time.time()]
        for o in outcomes:
            args += [o.request_id, o.key, o.variant, repr(float(o.value))]
        keys = [self._k(experiment_id, p) for p in ("seen", "n", "sum", "variant", "sealed", "idle", "units", "outcomes")]
        accepted, dup, sealed = self._record(keys=keys, args=args)
        return RecordResult(int(accepted), int(dup), int(sealed))

    def seal_idle(self, experiment_id: str, idle_s: float) -> int:
        keys = [self._k(experiment_id, p) for p in ("n", "sum", "variant", "sealed", "idle", "units")]
        return int(self._seal(keys=keys, args=[time.time() - idle_s]))

    def units(self, experiment_id: str) -> tuple[list[str], list[float]]:
        return _parse_units(self.client.lrange(self._k(experiment_id, "units"), 0, -1))

    def outcome_counts(self, experiment_id: str) -> dict[str, int]:
        raw = self.client.hgetall(self._k(experiment_id, "outcomes"))
        return {v: int(raw.get(v, 0)) for v in VARIANTS}

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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (id TEXT PRIMARY KEY, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen (exp TEXT NOT NULL, request_id TEXT NOT NULL, PRIMARY KEY (exp, request_id));
CREATE TABLE IF NOT EXISTS outcomes (exp TEXT NOT NULL, variant TEXT NOT NULL, n INTEGER NOT NULL,
                                     PRIMARY KEY (exp, variant));
CREATE TABLE IF NOT EXISTS open_keys (exp TEXT NOT NULL, key TEXT NOT NULL, variant TEXT NOT NULL,
                                      n INTEGER NOT NULL, s REAL NOT NULL, last REAL NOT NULL,
                                      PRIMARY KEY (exp, key));
CREATE TABLE IF NOT EXISTS sealed (exp TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (exp, key));
CREATE TABLE IF NOT EXISTS units (seq INTEGER PRIMARY KEY AUTOINCREMENT, exp TEXT NOT NULL,
                                  variant TEXT NOT NULL, value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS units_exp ON units (exp, seq);
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

    def register(self, experiment: Experiment) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO experiments VALUES (?, ?)", (experiment.id, json.dumps({k: str(v) for k, v in asdict(experiment).items()})))

    def experiment(self, experiment_id: str) -> Experiment | None:
        row = self._db().execute("SELECT meta FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        return _experiment_from(json.loads(row[0])) if row else None

    def record(self, experiment_id: str, outcomes: Sequence[Outcome], key_outcomes: int) -> RecordResult:
        accepted = dup = sealed = 0
        now = time.time()
        with self._tx() as db:
            for o in outcomes:
                if db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (experiment_id, o.request_id)).rowcount == 0:
                    dup += 1
                    continue
                accepted += 1
                db.execute("INSERT INTO outcomes VALUES (?, ?, 1) ON CONFLICT (exp, variant) DO UPDATE SET n = n + 1", (experiment_id, o.variant))
                if db.execute("SELECT 1 FROM sealed WHERE exp = ? AND key = ?", (experiment_id, o.key)).fetchone():
                    continue
                db.execute(
                    "INSERT INTO open_keys VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (exp, key) DO UPDATE SET n = n + 1, s = s + excluded.s, last = excluded.last",
                    (experiment_id, o.key, o.variant, float(o.value), now),
                )
                variant, n, s = db.execute("SELECT variant, n, s FROM open_keys WHERE exp = ? AND key = ?", (experiment_id, o.key)).fetchone()
                if n >= key_outcomes:
                    self._seal(db, experiment_id, o.key, variant, n, s)
                    sealed += 1
        return RecordResult(accepted, dup, sealed)

    @staticmethod
    def _seal(db: sqlite3.Connection, exp: str, key: str, variant: str, n: int, s: float) -> None:
        db.execute("INSERT INTO units (exp, variant, value) VALUES (?, ?, ?)", (exp, variant, s / n))
        db.execute("INSERT OR IGNORE INTO sealed VALUES (?, ?)", (exp, key))
        db.execute("DELETE FROM open_keys WHERE exp = ? AND key = ?", (exp, key))

    def seal_idle(self, experiment_id: str, idle_s: float) -> int:
        with self._tx() as db:
            rows = db.execute(
                "SELECT key, variant, n, s FROM open_keys WHERE exp = ? AND last <= ? ORDER BY last, key", (experiment_id, time.time() - idle_s)
            ).fetchall()
            for key, variant, n, s in rows:
                self._seal(db, experiment_id, key, variant, n, s)
        return len(rows)

    def units(self, experiment_id: str) -> tuple[list[str], list[float]]:
        rows = self._db().execute("SELECT variant, value FROM units WHERE exp = ? ORDER BY seq", (experiment_id,)).fetchall()
        return [r[0] for r in rows], [float(r[1]) for r in rows]

    def outcome_counts(self, experiment_id: str) -> dict[str, int]:
        rows = dict(self._db().execute("SELECT variant, n FROM outcomes WHERE exp = ?", (experiment_id,)).fetchall())
        return {v: int(rows.get(v, 0)) for v in VARIANTS}

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
        variant, _, value = item.partition("|")
        variants.append(variant)
        values.append(float(value))
    return variants, values


def open_store(settings, home: Path) -> ExperimentStore:
    """The store the settings name: Redis when SAHAB_SERVING_AB_REDIS_URL is set, else SQLite."""
    if settings.ab_redis_url is not None:
        return RedisStore(settings.ab_redis_url.get_secret_value(), settings.ab_redis_prefix)
    return SqliteStore(settings.state_path(home))
