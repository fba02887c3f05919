"""The exposure recorder (what serving calls per keyed request and per model call) over real stores:
appends only on the request path, the first exposure per key whatever order workers flush in,
counters added up, a store outage retried, a bounded queue; and the generated request ids."""

from __future__ import annotations

import random
import threading
import time

import pytest
from servers import redis_server  # noqa: F401  (pytest fixture)

from workloads.serving.exposures import ExposureRecorder, latency_bucket, ms_time, new_request_id, parse_counters, parse_request_id, served_now
from workloads.serving.state import Experiment, RedisStore, SqliteStore

EXP = Experiment("ab-demo", "1", "2", "salt", 0.5)
T0 = 1_780_000_000.0


def test_generated_request_ids_carry_the_experiment_and_the_served_millisecond():
    served = served_now()
    rid = new_request_id(EXP.id, served)
    assert parse_request_id(rid) == (EXP.id, served), f"parse_request_id({rid!r})"
    assert parse_request_id(new_request_id(None, served)) == (None, served), "a request served without an experiment"
    assert parse_request_id("client-chosen-id") is None and parse_request_id(f"{EXP.id}.12.x") is None, "other ids are not generated ones"
    assert new_request_id(EXP.id, served) != rid, "ids are unique"
    rng = random.Random(3)
    for _ in range(2000):  # any float: the id carries exactly the exposure time the recorder stores
        t = T0 + rng.uniform(0, 86_400)
        assert parse_request_id(new_request_id(EXP.id, t))[1] == ms_time(t), f"served time {t!r}: id and exposure disagree"


def test_two_workers_flushing_in_any_order_keep_each_keys_first_exposure(tmp_path):
    store = SqliteStore(tmp_path / "ab.sqlite")
    early, late = ExposureRecorder(store, start=False), ExposureRecorder(store, start=False)
    early.register(EXP)
    for i in range(50):
        early.record(EXP.id, f"k{i}", EXP.variant(f"k{i}"), T0 + i, "rid")
        late.record(EXP.id, f"k{i}", EXP.variant(f"k{i}"), T0 + 100 + i, "rid")
        late.record(EXP.id, f"k{i}", EXP.variant(f"k{i}"), T0 + 200 + i, "rid")
    assert late.flush() == 50 and early.flush() == 50, "one exposure per key per flush (the minimum of the batch)"
    store.seal(EXP.id, T0 + 49 + 10, 5, 5)  # due: first exposure <= T0 + 49
    assert store.counts(EXP.id)["exposed:champion"] + store.counts(EXP.id)["exposed:challenger"] == 50
    assert store.started_at(EXP.id) == T0, f"started_at: {store.started_at(EXP.id)}"
    assert store.experiment(EXP.id) == EXP, "register() reached the store"
    # every key's first exposure is the early worker's, though it flushed last: all 50 are due now
    assert store.counts(EXP.id)["empty:champion"] + store.counts(EXP.id)["empty:challenger"] == 50, store.counts(EXP.id)
    store.close()


def test_counters_and_latency_buckets_add_up(redis_server):
    store = RedisStore(redis_server.url, "rec:")
    recorder = ExposureRecorder(store, start=False)
    for _ in range(3):
        recorder.observe(EXP.id, "challenger", requests=4, latency_s=0.004)
    recorder.observe(EXP.id, "challenger", requests=2, errors=2)
    recorder.observe(EXP.id, "champion", requests=1, latency_s=0.1)
    recorder.flush()
    counters = parse_counters(store.counters(EXP.id))
    assert counters.requests == {"champion": 1, "challenger": 14} and counters.errors == {"champion": 0, "challenger": 2}, counters
    assert counters.latency["challenger"][latency_bucket(0.004)] == 3 and sum(counters.latency["champion"]) == 1, "latency histogram"
    store.close()


def test_a_store_outage_is_retried_and_the_queue_is_bounded(tmp_path):
    down = RedisStore("redis://127.0.0.1:1/0")  # nothing listens on port 1
    dropped = []
    recorder = ExposureRecorder(down, start=False, max_pending=10, on_drop=dropped.append)
    for i in range(12):
        recorder.record(EXP.id, f"k{i}", "champion", T0 + i)
    assert recorder.dropped == 2 and sum(dropped) == 2, "beyond max_pending new items are dropped and counted"
    with pytest.raises(Exception, match="(?i)connect"):
        recorder.flush()
    recorder.store = SqliteStore(tmp_path / "ab.sqlite")  # the store is back
    assert recorder.flush() == 10, "what the failed flush held is written by the next one"
    recorder.store.close()


def test_recording_is_an_append_and_the_thread_flushes(tmp_path):
    store = SqliteStore(tmp_path / "ab.sqlite")
    recorder = ExposureRecorder(store, flush_s=0.05)
    started = time.perf_counter()
    threads = [threading.Thread(target=lambda w=w: [recorder.record(EXP.id, f"w{w}-{i}", "champion", T0) for i in range(2000)]) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_call = (time.perf_counter() - started) / 8000
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and store.counts(EXP.id)["exposed:champion"] < 8000:
        time.sleep(0.05)
    recorder.close()
    assert store.counts(EXP.id)["exposed:champion"] == 8000, f"exposures flushed by the thread: {store.counts(EXP.id)}"
    assert per_call < 1e-3, f"record() took {per_call * 1e6:.0f} us per call: it must only append"
    store.close()
