"""The experiment store's semantics, the same cases on a real Redis server, on a real clustered
Redis (a cluster-enabled node owning every slot: CROSSSLOT enforced, as on Azure Managed Redis) and
on the embedded SQLite file: idempotency, key units, attribution per experiment, restarts, exclusive
claims; and that every key of one experiment lies in one hash slot."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis
from servers import redis_server  # noqa: F401  (pytest fixture)

from workloads.local import servers
from workloads.serving import state
from workloads.serving.state import Experiment, Outcome, RedisStore, SqliteStore, experiment_id

pytestmark = pytest.mark.slow

OLD = Experiment("transaction-risk", "1", "2", "salt-1", 0.5)
NEW = Experiment("transaction-risk", "1", "3", "salt-1", 0.5)


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


def _outcomes(prefix: str, keys: int, per_key: int, variant: str = "champion", value: float = 1.0):
    return [Outcome(f"{prefix}-{k}-{j}", f"key-{k}", variant, value) for k in range(keys) for j in range(per_key)]


def test_experiment_ids_change_with_any_version_salt_or_weight():
    ids = {OLD.id, NEW.id, experiment_id("transaction-risk", "salt-2", 0.5, "1", "2"), experiment_id("transaction-risk", "salt-1", 0.2, "1", "2")}
    assert len(ids) == 4 and all(len(i) == 16 for i in ids)


def test_feedback_is_idempotent_by_request_id_and_keys_are_units(make_store):
    store = make_store()
    store.register(OLD)
    first = store.record(OLD.id, _outcomes("r", keys=3, per_key=4), key_outcomes=4)
    assert (first.accepted, first.duplicates, first.sealed) == (12, 0, 3)
    again = store.record(OLD.id, _outcomes("r", keys=3, per_key=4), key_outcomes=4)
    assert (again.accepted, again.duplicates, again.sealed) == (0, 12, 0), "a retried call must count once"
    later = store.record(OLD.id, _outcomes("late", keys=1, per_key=2), key_outcomes=4)
    assert later.accepted == 2 and later.sealed == 0, "a sealed key is not entered twice"
    assert store.units(OLD.id) == (["champion"] * 3, [1.0] * 3)
    assert store.outcome_counts(OLD.id) == {"champion": 14, "challenger": 0}


def test_a_key_short_of_its_outcomes_is_sealed_when_idle_with_its_mean(make_store):
    store = make_store()
    store.record(OLD.id, [Outcome("a", "k1", "challenger", 1.0), Outcome("b", "k1", "challenger", 0.0), Outcome("c", "k2", "champion", 0.25)], key_outcomes=10)
    assert store.units(OLD.id) == ([], [])
    assert store.seal_idle(OLD.id, idle_s=3600) == 0, "keys seen just now are not idle"
    assert store.seal_idle(OLD.id, idle_s=0) == 2
    variants, values = store.units(OLD.id)
    assert sorted(zip(variants, values, strict=False)) == [("challenger", 0.5), ("champion", 0.25)]


def test_late_feedback_stays_with_its_experiment_and_every_handle_sees_the_same(make_store):
    a, b = make_store(), make_store()
    for exp in (OLD, NEW):
        a.register(exp)
    a.record(OLD.id, _outcomes("old", keys=2, per_key=1), key_outcomes=1)
    b.record(NEW.id, _outcomes("new", keys=5, per_key=1, variant="challenger", value=0.0), key_outcomes=1)
    a.record(OLD.id, _outcomes("late", keys=1, per_key=1, value=0.5), key_outcomes=1)  # late, for the old one
    assert a.units(NEW.id) == b.units(NEW.id) == (["challenger"] * 5, [0.0] * 5)
    assert a.units(OLD.id) == b.units(OLD.id) and len(a.units(OLD.id)[0]) == 2, "key-0 was sealed already"
    assert b.experiment(NEW.id) == NEW and b.experiment("0" * 16) is None
    a.save_decision(NEW.id, {"recommendation": "keep"})
    a.close()
    restarted = make_store()  # a restart of the process that wrote
    assert restarted.units(NEW.id) == b.units(NEW.id) and restarted.decision(NEW.id) == {"recommendation": "keep"}


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
        store.record(OLD.id, _outcomes("r", keys=2, per_key=2), key_outcomes=3)  # open keys: n, sum, variant, idle
        store.record(OLD.id, _outcomes("s", keys=1, per_key=3), key_outcomes=3)  # sealed, units
        store.save_decision(OLD.id, {"recommendation": "keep"})
        assert store.claim(OLD.id, "me")
        keys = client.keys(f"{store.prefix}*")
        parts = {k.rsplit(":", 1)[1] for k in keys}
        assert parts == {"meta", "seen", "n", "sum", "variant", "sealed", "idle", "units", "outcomes", "decision", "claim"}, parts
        slots = {client.execute_command("CLUSTER", "KEYSLOT", k) for k in keys}
        assert slots == {client.execute_command("CLUSTER", "KEYSLOT", OLD.id)}, f"keys of {OLD.id} in slots {slots}: {keys}"
    finally:
        store.close()
        client.close()


def test_the_layout_without_a_hash_tag_fails_on_the_cluster_with_crossslot(redis_cluster_server):
    """The keys as they were before the tag (`exp:<id>:seen`, ...): the record script is refused."""
    client = redis.Redis.from_url(redis_cluster_server.url, decode_responses=True)
    try:
        old_keys = [f"old:exp:{OLD.id}:{p}" for p in ("seen", "n", "sum", "variant", "sealed", "idle", "units", "outcomes")]
        with pytest.raises(redis.exceptions.ClusterCrossSlotError):
            client.register_script(state._RECORD)(keys=old_keys, args=[1, 0.0, "r1", "k1", "champion", "1.0"])
        assert client.keys("old:*") == [], "a refused script wrote nothing"
    finally:
        client.close()


def test_a_prefix_with_braces_is_refused(redis_server):
    with pytest.raises(ValueError, match=r"SAHAB_SERVING_AB_REDIS_PREFIX='ab:\{x\}:' contains a brace.*Fix:"):
        RedisStore(redis_server.url, "ab:{x}:")


def test_feasts_redis_online_store_writes_and_reads_on_the_same_cluster(redis_cluster_server, tmp_path):
    """The A/B state shares the online store's Redis: Feast 0.67's redis store (redis_type "redis", as
    workloads/features/repo.py configures it) materializes into the clustered node and reads back."""
    from datetime import timedelta

    from feast import RepoConfig

    from workloads.data.generator import generate
    from workloads.data.schema import ENTITY, TIMESTAMP
    from workloads.features.store import FeatureRepo
    from workloads.settings import FeatureStoreSettings

    host_port = redis_cluster_server.url.removeprefix("redis://").split("/")[0]
    repo = FeatureRepo(tmp_path, FeatureStoreSettings(mode="local"))
    repo.config = RepoConfig(
        project="sahab",
        provider="local",
        registry=str(tmp_path / "feast" / "registry.db"),
        online_store={"type": "redis", "redis_type": "redis", "connection_string": host_port},
        offline_store={"type": "file"},
        repo_path=(tmp_path / "feast").resolve(),
        entity_key_serialization_version=3,
    )
    df = generate(300, seed=0, days=2)
    repo.write_source(df)
    repo.apply()
    client = redis.Redis.from_url(redis_cluster_server.url)
    assert client.info("cluster")["cluster_enabled"] == 1, f"{redis_cluster_server.url}: cluster mode is off"
    before = client.dbsize()
    repo.materialize(df[TIMESTAMP].min().to_pydatetime(), df[TIMESTAMP].max().to_pydatetime() + timedelta(seconds=1))
    accounts = sorted(int(a) for a in df[ENTITY].unique())[:3]
    online = repo.online(accounts).set_index(ENTITY)
    latest = df.sort_values(TIMESTAMP).groupby(ENTITY).last()
    for account in accounts:
        assert online.loc[account, "amount"] == pytest.approx(latest.loc[account, "amount"]), f"account {account}: online amount"
    assert client.dbsize() > before, "materialize wrote nothing to the clustered Redis"
    client.close()
