"""The experiment store's semantics, the same cases on a real Redis server, on a real clustered
Redis (a cluster-enabled node owning every slot: CROSSSLOT enforced, as on Azure Managed Redis) and
on the embedded SQLite file, each checked against `abtest.EventTimeUnits` (the in-memory reference):
units by event time whatever order exposures and outcomes arrive in, late outcomes ignored and
counted, idempotency, attribution per experiment, ending, counters, restarts, exclusive claims;
and that every key of one experiment lies in one hash slot."""

from __future__ import annotations

import random
import threading
import uuid

import pytest
import redis
from servers import redis_server  # noqa: F401  (pytest fixture)

from workloads.local import servers
from workloads.serving import state
from workloads.serving.abtest import EventTimeUnits
from workloads.serving.state import Experiment, Exposure, Outcome, RedisStore, SqliteStore, experiment_id

pytestmark = pytest.mark.slow

OLD = Experiment("ab-demo", "1", "2", "salt-1", 0.5)
NEW = Experiment("ab-demo", "1", "3", "salt-1", 0.5)
H = 3600.0
W, D = 4 * H, 2 * H  # unit window, max label delay
T0 = 1_780_000_000.0


@pytest.fixture(scope="module")
def redis_cluster_server(tmp_path_factory):
    """redis-server with cluster mode on, one node owning all 16384 slots."""
    with servers.start_redis(tmp_path_factory.mktemp("redis-cluster"), cluster=True) as server:
        yield server


@pytest.fixture(params=["redis", "redis-cluster", "sqlite"])
def make_store(request, tmp_path):
    """A factory of store handles on one shared backend (each call = another process's view)."""
    opened = []
    if request.param.startswith("redis"):
        server = request.getfixturevalue("redis_server" if request.param == "redis" else "redis_cluster_server")
        prefix = f"test:{uuid.uuid4().hex[:8]}:"

        def build():
            opened.append(RedisStore(server.url, prefix))
            return opened[-1]
    else:

        def build():
            opened.append(SqliteStore(tmp_path / "ab.sqlite"))
            return opened[-1]

    yield build
    for s in opened:
        s.close()


def _stream(seed: int, keys: int = 40):
    """Exposures (each key flushed 1-3 times by different 'pods') and outcomes with event times inside
    and outside the unit window, values with many significant digits (so summation order shows)."""
    rng = random.Random(seed)
    exposures, outcomes = [], []
    for k in range(keys):
        key = f"key-{k:03d}"
        variant = OLD.variant(key)
        first = T0 + rng.uniform(0, 10 * H)
        for j in range(rng.randint(1, 3)):
            exposures.append(Exposure(key, variant, first + (0 if j == 0 else rng.uniform(0, 3 * H))))
        for j in range(rng.randint(0, 5)):
            t = first + rng.uniform(-0.5 * H, 1.5 * W)  # some before the first exposure, some after the window
            outcomes.append(Outcome(f"req-{k}-{j}", key, variant, rng.random() * 0.999 + 1e-9 * rng.random(), t, record=j % 2))
    return exposures, outcomes


def _feed(store, experiment: str, exposures, outcomes, seed: int) -> None:
    """Everything in a random order and random batch sizes (flushes and feedback calls interleaved)."""
    rng = random.Random(seed)
    items = [("e", x) for x in exposures] + [("o", x) for x in outcomes]
    rng.shuffle(items)
    i = 0
    while i < len(items):
        n = rng.randint(1, 7)
        batch = items[i : i + n]
        i += n
        store.expose(experiment, [x for kind, x in batch if kind == "e"])
        store.record(experiment, [x for kind, x in batch if kind == "o"])


def _reference(exposures, outcomes, now: float):
    ref = EventTimeUnits(W, D)
    for e in exposures:
        ref.expose(e.key, e.variant, e.served_at)
    for o in outcomes:
        ref.outcome(o.id, o.key, o.event_time, o.value)
    units = ref.seal(now)
    return [v for v, _ in units], [u for _, u in units], ref.counts


def test_experiment_ids_and_salts_change_with_any_version_salt_or_weight():
    ids = {OLD.id, NEW.id, experiment_id("ab-demo", "salt-2", 0.5, "1", "2"), experiment_id("ab-demo", "salt-1", 0.2, "1", "2")}
    assert len(ids) == 4 and all(len(i) == 16 for i in ids), f"experiment ids {ids}"
    keys = [f"k{i}" for i in range(2000)]
    old, new = [OLD.variant(k) for k in keys], [NEW.variant(k) for k in keys]
    same = sum(a == b == "challenger" for a, b in zip(old, new, strict=True)) / max(1, old.count("challenger"))
    assert OLD.experiment_salt != NEW.experiment_salt and 0.35 < same < 0.65, (
        f"experiment_salt: a new experiment must reshuffle the keys (share of old challenger keys again challenger: {same:.2f}, expected ~0.5)"
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_a_units_value_does_not_depend_on_arrival_order(make_store, seed):
    """Three permutations of the same exposures and outcomes, each into its own experiment of the same
    store, give bit-identical units in the same order as the in-memory reference."""
    exposures, outcomes = _stream(seed)
    now = max(e.served_at for e in exposures) + W + D + 1
    ref_variants, ref_values, ref_counts = _reference(exposures, outcomes, now)
    store = make_store()
    for perm in range(3):
        exp = f"{seed:02d}{perm:02d}" + "0" * 12
        _feed(store, exp, exposures, outcomes, seed=100 * seed + perm)
        sealed = store.seal(exp, now, W, D)
        variants, values = store.units(exp)
        assert variants == ref_variants, f"experiment {exp} (permutation {perm}): unit order differs from the reference"
        assert [v.hex() for v in values] == [v.hex() for v in ref_values], f"experiment {exp} (permutation {perm}): unit values differ in some bit"
        counts = store.counts(exp)
        assert sealed.units == len(ref_values) and sealed.empty == ref_counts["empty"], f"experiment {exp}: seal result {sealed}"
        assert counts["outside_window"] == ref_counts["outside_window"], f"experiment {exp}: counts.outside_window {counts}"
        assert counts["empty:champion"] + counts["empty:challenger"] == ref_counts["empty"], f"experiment {exp}: counts.empty {counts}"


def test_units_seal_after_window_plus_delay_in_order_of_first_exposure(make_store):
    store = make_store()
    exp = OLD.id
    store.expose(exp, [Exposure("b", "champion", T0 + 60), Exposure("a", "challenger", T0 + 120)])
    store.expose(exp, [Exposure("a", "challenger", T0 + 30)])  # a later flush with an earlier exposure: the minimum wins
    store.record(exp, [Outcome("r1", "a", "challenger", 1.0, T0 + 40), Outcome("r2", "b", "champion", 0.0, T0 + 70)])
    store.record(exp, [Outcome("r3", "a", "challenger", 0.5, T0 + W + 31)])  # just outside a's window (T0+30 .. T0+30+W)
    assert store.seal(exp, T0 + 30 + W + D - 1, W, D).units == 0, "no key is due one second before first exposure + W + D"
    assert store.seal(exp, T0 + 30 + W + D, W, D).units == 1 and store.units(exp) == (["challenger"], [1.0]), (
        f"key a (first exposure T0+30) is due at T0+30+W+D with the mean of its in-window outcome: {store.units(exp)}"
    )
    assert store.seal(exp, T0 + 60 + W + D, W, D).units == 1
    assert store.units(exp) == (["challenger", "champion"], [1.0, 0.0]), f"units in order of first exposure: {store.units(exp)}"
    assert store.counts(exp)["outside_window"] == 1, f"counts.outside_window: {store.counts(exp)}"
    assert store.started_at(exp) == T0 + 30, f"started_at is the earliest exposure: {store.started_at(exp)}"


def test_late_outcomes_are_ignored_and_counted_and_retries_count_once(make_store):
    store = make_store()
    exp = OLD.id
    store.expose(exp, [Exposure("k", "champion", T0)])
    first = store.record(exp, [Outcome("r", "k", "champion", 1.0, T0 + 10, record=0), Outcome("r", "k", "champion", 0.0, T0 + 20, record=1)])
    again = store.record(exp, [Outcome("r", "k", "champion", 1.0, T0 + 10, record=0)])
    assert (first.accepted, again.accepted, again.duplicates) == (2, 0, 1), f"record(): {first}, retry {again}"
    store.seal(exp, T0 + W + D, W, D)
    late = store.record(exp, [Outcome("r-late", "k", "champion", 0.0, T0 + 30)])
    assert (late.accepted, late.late) == (0, 1), f"an outcome of a sealed key is ignored and counted: {late}"
    store.expose(exp, [Exposure("k", "champion", T0 - 100)])  # a lagging pod's exposure after the seal changes nothing
    assert store.units(exp) == (["champion"], [0.5]), f"units after late arrivals: {store.units(exp)}"
    counts = store.counts(exp)
    assert (counts["late"], counts["outcomes:champion"], counts["exposed:champion"]) == (1, 2, 1), f"counts: {counts}"


def test_late_feedback_stays_with_its_experiment_and_every_handle_sees_the_same(make_store):
    a, b = make_store(), make_store()
    for exp in (OLD, NEW):
        a.register(exp, now=T0)
    a.expose(OLD.id, [Exposure("k1", "champion", T0), Exposure("k2", "champion", T0 + 1)])
    b.expose(NEW.id, [Exposure(f"n{i}", "challenger", T0 + i) for i in range(5)])
    b.record(NEW.id, [Outcome(f"new-{i}", f"n{i}", "challenger", 0.0, T0 + i) for i in range(5)])
    a.record(OLD.id, [Outcome("old-1", "k1", "champion", 1.0, T0 + 5), Outcome("old-2", "k2", "champion", 0.5, T0 + 6)])
    a.seal(NEW.id, T0 + W + D + 10, W, D)
    a.seal(OLD.id, T0 + W + D + 10, W, D)
    assert a.units(NEW.id) == b.units(NEW.id) == (["challenger"] * 5, [0.0] * 5), f"units of {NEW.id}"
    assert a.units(OLD.id) == (["champion", "champion"], [1.0, 0.5]), f"units of {OLD.id}"
    assert b.experiment(NEW.id) == NEW and b.experiment("0" * 16) is None
    a.save_decision(NEW.id, {"recommendation": "keep"})
    a.close()
    restarted = make_store()  # a restart of the process that wrote
    assert restarted.units(NEW.id) == b.units(NEW.id) and restarted.decision(NEW.id) == {"recommendation": "keep"}, "state lost on restart"
    assert restarted.started_at(OLD.id) == T0, f"started_at of {OLD.id}"


def test_an_ended_experiment_takes_nothing_more_and_the_first_end_wins(make_store):
    store = make_store()
    store.register(OLD, now=T0)
    store.expose(OLD.id, [Exposure("k", "challenger", T0)])
    store.record(OLD.id, [Outcome("r", "k", "challenger", 1.0, T0)])
    store.seal(OLD.id, T0 + W + D, W, D)
    assert store.ended(OLD.id) is None
    assert store.end(OLD.id, {"action": "rolled_back"}, now=T0 + 99) is True
    assert store.end(OLD.id, {"action": "promoted"}) is False, "a second end must not overwrite the first"
    assert store.ended(OLD.id) == {"ended_at": T0 + 99, "action": "rolled_back"}, f"ended(): {store.ended(OLD.id)}"
    after = store.record(OLD.id, [Outcome("r2", "k2", "champion", 1.0, T0 + 5)])
    assert (after.accepted, after.after_end) == (0, 1), f"outcomes after the end: {after}"
    assert store.expose(OLD.id, [Exposure("k3", "champion", T0 + 5)]) == 0, "exposures after the end"
    assert store.units(OLD.id) == (["challenger"], [1.0]), "the units of an ended experiment stay readable"


def test_guardrail_counters_add_up_across_flushes(make_store):
    a, b = make_store(), make_store()
    a.add_counters(OLD.id, {"challenger:requests": 3, "challenger:errors": 1, "challenger:latency:4": 2})
    b.add_counters(OLD.id, {"challenger:requests": 2, "champion:requests": 7, "challenger:latency:4": 1})
    assert a.counters(OLD.id) == {"challenger:requests": 5, "challenger:errors": 1, "challenger:latency:4": 3, "champion:requests": 7}, a.counters(OLD.id)


def test_exactly_one_of_eight_concurrent_claims_wins(make_store):
    stores = [make_store() for _ in range(8)]
    barrier, wins = threading.Barrier(8), []

    def claim(i: int) -> None:
        barrier.wait()
        if stores[i].claim(OLD.id, f"owner-{i}"):
            wins.append(i)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1, f"claims won: {wins}"
    stores[0].release(OLD.id, "someone-else")
    assert not stores[1].claim(OLD.id, "late"), "only the owner releases"
    stores[0].release(OLD.id, f"owner-{wins[0]}")
    assert stores[1].claim(OLD.id, "next"), "a released claim can be taken again"


def test_every_key_of_an_experiment_lies_in_one_slot_of_the_cluster(redis_cluster_server):
    client = redis.Redis.from_url(redis_cluster_server.url, decode_responses=True)
    assert client.info("cluster")["cluster_enabled"] == 1, f"{redis_cluster_server.url}: cluster mode is off"
    store = RedisStore(redis_cluster_server.url, f"slots:{uuid.uuid4().hex[:8]}:")
    try:
        store.register(OLD)
        store.expose(OLD.id, [Exposure("a", "champion", T0), Exposure("b", "challenger", T0 + 1)])
        store.record(OLD.id, [Outcome("r1", "a", "champion", 1.0, T0), Outcome("r2", "b", "challenger", 1.0, T0 + 1)])
        store.seal(OLD.id, T0 + W + D, W, D)  # a sealed, b still open
        store.record(OLD.id, [Outcome("r3", "a", "champion", 1.0, T0)])  # late: counts
        store.add_counters(OLD.id, {"champion:requests": 1})
        store.save_decision(OLD.id, {"recommendation": "keep"})
        assert store.claim(OLD.id, "me")
        keys = client.keys(f"{store.prefix}*")
        parts = {k.rsplit(":", 1)[1] for k in keys}
        expected = {"meta", "life", "seen", "exposed", "variant", "obs", "sealed", "units", "counts", "ops", "decision", "claim"}
        assert parts == expected, f"Redis keys of {OLD.id}: {sorted(parts)}"
        slots = {client.execute_command("CLUSTER", "KEYSLOT", k) for k in keys}
        assert slots == {client.execute_command("CLUSTER", "KEYSLOT", OLD.id)}, f"keys of {OLD.id} in slots {slots}: {keys}"
        assert store.end(OLD.id, {"action": "ended"}), "end() on the cluster (UNLINK of the working keys)"
        left = {k.rsplit(":", 1)[1] for k in client.keys(f"{store.prefix}*")}
        assert left == expected - {"seen", "exposed", "variant", "obs", "sealed"}, f"after end(): {sorted(left)}"
        assert all(0 < client.ttl(k) <= state.ENDED_RETENTION_S for k in client.keys(f"{store.prefix}*") if not k.endswith(":claim")), "ended keys expire"
    finally:
        store.close()
        client.close()


def test_keys_without_a_hash_tag_fail_on_the_cluster_with_crossslot(redis_cluster_server):
    """The layout without the tag (`exp:<id>:seen`, ...): the record script is refused and writes nothing."""
    client = redis.Redis.from_url(redis_cluster_server.url, decode_responses=True)
    try:
        old_keys = [f"old:exp:{OLD.id}:{p}" for p in ("seen", "sealed", "obs", "counts", "life")]
        with pytest.raises(redis.exceptions.ClusterCrossSlotError):
            client.register_script(state._RECORD)(keys=old_keys, args=["r1", "k1", "champion", "1.0", "1.0"])
        assert client.keys("old:*") == [], "a refused script wrote nothing"
    finally:
        client.close()


def test_a_prefix_with_braces_is_refused(redis_server):
    with pytest.raises(ValueError, match=r"SAHAB_SERVING_AB_REDIS_PREFIX='ab:\{x\}:' contains a brace.*Fix:"):
        RedisStore(redis_server.url, "ab:{x}:")


def test_feasts_redis_online_store_writes_and_reads_on_the_same_cluster(redis_cluster_server, tmp_path):
    """The A/B state shares the online store's Redis: Feast 0.67's redis store (redis_type "redis", as
    workloads/features/repo.py configures it) materializes into the clustered node and reads back."""
    from datetime import UTC, datetime, timedelta

    import numpy as np
    import pandas as pd
    from ab_helpers import ab_project
    from feast import RepoConfig

    from workloads.features.store import FeatureRepo
    from workloads.settings import FeatureStoreSettings

    project = ab_project(tmp_path)
    spec = project.spec
    host_port = redis_cluster_server.url.removeprefix("redis://").split("/")[0]
    repo = FeatureRepo(project, tmp_path, FeatureStoreSettings(mode="local"))
    repo.config = RepoConfig(
        project=spec.feast_project,
        provider="local",
        registry=str(tmp_path / "feast-registry.db"),
        online_store={"type": "redis", "redis_type": "redis", "connection_string": host_port},
        offline_store={"type": "file"},
        repo_path=str(tmp_path),
        entity_key_serialization_version=3,
    )
    rng = np.random.default_rng(0)
    start = datetime(2026, 5, 1, tzinfo=UTC)
    df = pd.DataFrame(
        {
            spec.entity.key: [f"c{i % 20}" for i in range(200)],
            spec.timestamp: [start + timedelta(minutes=7 * i) for i in range(200)],
            "spend": rng.gamma(2.0, 50.0, 200),
            "tier": rng.choice(["gold", "silver", "bronze"], 200),
        }
    )
    repo.write_rows(df, "cluster-test")
    repo.apply()
    client = redis.Redis.from_url(redis_cluster_server.url)
    assert client.info("cluster")["cluster_enabled"] == 1, f"{redis_cluster_server.url}: cluster mode is off"
    before = client.dbsize()
    repo.materialize_all()
    keys = ["c0", "c1", "c2"]
    online = repo.online(keys).set_index(spec.entity.key)
    latest = df.sort_values(spec.timestamp).groupby(spec.entity.key).last()
    for key in keys:
        assert online.loc[key, "spend"] == pytest.approx(latest.loc[key, "spend"]), f"customer {key}: online spend"
    assert client.dbsize() > before, "materialize wrote nothing to the clustered Redis"
    client.close()
