"""The Checkpointer and the stores: RNG states on the CPU, the data hash checked on resume, pruning
by recency that never removes LATEST, and (two DeepSpeed ranks over gloo on CPU through the
runtime, checkpoints in a real S3 API, moto's server) per-rank upload before LATEST and the
all-reduced SIGTERM flag."""

from __future__ import annotations

import pytest
import torch
from project_fixtures import quiet
from workload_helpers import FakeS3, tiny_config

from workloads.training.checkpoint import LATEST, CheckpointMismatch, LocalStore, S3Store, load_payload, set_rng_state, step_name
from workloads.training.runtime import run_training


def test_rng_states_load_as_cpu_byte_tensors_that_set_rng_state_takes(tmp_path, small_data):
    project, frame = small_data
    run_training(project, frame, overrides=tiny_config(steps=10), checkpoint_uri=str(tmp_path), log=quiet)
    meta = load_payload(tmp_path / step_name(10) / "state.pt")
    rng = meta["rng"]["torch"]
    assert rng.device.type == "cpu" and rng.dtype == torch.uint8, f"rng state on {rng.device} as {rng.dtype}"
    torch.set_rng_state(rng)  # raises on anything but a CPU ByteTensor
    assert all(s.device.type == "cpu" for s in meta["rng"].get("cuda", [])), "CUDA RNG states must load on the CPU too"
    # A state that a GPU map_location moved would come back through .cpu(): simulated with a copy.
    set_rng_state({**meta["rng"], "torch": rng.clone()})
    assert torch.equal(torch.get_rng_state(), rng)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resume_on_gpu_restores_rng_states(tmp_path, small_data):
    project, frame = small_data
    cfg = tiny_config(steps=20, device="cuda")
    first = run_training(project, frame, overrides=cfg, checkpoint_uri=str(tmp_path), log=quiet)
    # Loading puts model and optimizer on the GPU and the RNG states on the CPU, where set_rng_state takes them.
    again = run_training(project, frame, overrides=cfg, checkpoint_uri=str(tmp_path), resume=True, log=quiet)
    assert again.step == 20 and not again.interrupted
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name]), f"tensor {name} differs after a GPU resume"


def test_resume_refuses_other_training_data(tmp_path, small_data):
    from project_fixtures import synthetic_frame

    project, frame = small_data
    cfg = tiny_config(steps=20)
    run_training(project, frame, overrides=cfg, checkpoint_uri=str(tmp_path), log=quiet)
    other = synthetic_frame(project.spec, 6_000, seed=8)
    with pytest.raises(CheckpointMismatch, match="trained on data .* this run's data is"):
        run_training(project, other, overrides=cfg, checkpoint_uri=str(tmp_path), resume=True, log=quiet)
    assert run_training(project, frame, overrides=cfg, checkpoint_uri=str(tmp_path), resume=True, log=quiet).step == 20, "the same data resumes"


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_pruning_goes_by_recency_and_never_removes_latest(tmp_path, kind):
    client = FakeS3()
    store = LocalStore(tmp_path) if kind == "local" else S3Store("s3://ckpt/run", client)

    def save(step: int, keep_last: int) -> None:
        store.prepare(step)
        (store.staging(step) / "state.pt").write_text(str(step))
        store.commit(step, keep_last)

    save(10, 2)
    save(30, 2)
    # An abandoned attempt left step 40 (uploaded, never published); the run resumed from 30.
    if kind == "local":
        (tmp_path / step_name(40)).mkdir()
        (tmp_path / step_name(40) / "state.pt").write_text("stale")
    else:
        client.objects[f"ckpt/run/{step_name(40)}/state.pt"] = b"stale"
    save(35, 1)
    assert store.latest_step() == 35
    assert (store.fetch(35) / "state.pt").read_text() == "35", "the checkpoint LATEST names must survive pruning"
    for gone in (30, 40):
        with pytest.raises(FileNotFoundError):
            store.fetch(gone)


@pytest.fixture()
def moto_s3():
    from distributed_helpers import s3_client
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3_client(endpoint).create_bucket(Bucket="ckpt", CreateBucketConfiguration={"LocationConstraint": "me-central-1"})
    yield endpoint
    server.stop()


@pytest.mark.slow
def test_two_ranks_upload_their_shards_and_stop_together(tmp_path, moto_s3):
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (extra: gpu)")
    from distributed_helpers import run_ranks, s3_client
    from project_fixtures import SIGTERM_TORCH_TRAIN, synthetic_frame, write_project

    project = write_project(tmp_path, framework="torch", task="binary", checkpoint_every=4, source=SIGTERM_TORCH_TRAIN)
    synthetic_frame(project.spec, 3_000, seed=7).to_parquet(tmp_path / "frame.parquet", index=False)
    uri = "s3://ckpt/run"
    overrides = tiny_config(steps=8, log_every=1, device="cpu", deepspeed={"enabled": True, "zero_stage": 1})
    common = dict(project_dir=str(project.folder), frame_path=str(tmp_path / "frame.parquet"), overrides=overrides, endpoint=moto_s3, uri=uri)
    (tmp_path / "cut").mkdir()
    # SIGTERM reaches rank 1 alone, at step 5: the all-reduced flag stops both ranks there.
    assert run_ranks(2, resume=False, sigterm_rank=1, sigterm_at=5, out=str(tmp_path / "cut"), **common) == [0, 0]
    for r in (0, 1):
        result = torch.load(tmp_path / "cut" / f"rank{r}.pt")
        assert (result["step"], result["interrupted"]) == (5, True), f"rank {r} stopped at {result['step']}"
    stop = 5
    keys = {o["Key"] for o in s3_client(moto_s3).list_objects_v2(Bucket="ckpt", Prefix="run/")["Contents"]}
    shards = {k.rsplit("/", 1)[1] for k in keys if k.startswith(f"run/{step_name(stop)}/engine/")}
    assert {"zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt", "mp_rank_00_model_states.pt"} <= shards, (
        f"each rank uploads its own shard: {sorted(shards)}"
    )
    assert S3Store(uri, s3_client(moto_s3)).latest_step() == stop and f"run/{LATEST}" in keys

    (tmp_path / "resumed").mkdir()
    assert run_ranks(2, resume=True, sigterm_rank=None, sigterm_at=None, out=str(tmp_path / "resumed"), **common) == [0, 0]
    for r in (0, 1):
        result = torch.load(tmp_path / "resumed" / f"rank{r}.pt")
        assert (result["step"], result["interrupted"]) == (8, False), f"rank {r} resumed to {result['step']}"
    assert S3Store(uri, s3_client(moto_s3)).latest_step() == 8
    # Rank 0's model equals rank 1's: both restored the same step and stepped in lockstep after it.
    a, b = (torch.load(tmp_path / "resumed" / f"rank{r}.pt")["weights"] for r in (0, 1))
    for name, tensor in a.items():
        assert torch.equal(tensor, b[name]), f"ranks disagree on tensor {name} after resuming"
