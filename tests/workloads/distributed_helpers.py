"""Two-rank training on CPU (DeepSpeed's CPU accelerator over gloo), one process per rank, for the
checkpoint tests. Spawned processes import this module by name (spawn passes sys.path on)."""

from __future__ import annotations

import os
import signal
import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="me-central-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def train_rank(
    rank: int, world: int, port: int, endpoint: str, uri: str, steps: int, resume: bool, sigterm_rank: int | None, sigterm_at: int | None, out: str
) -> None:
    """Train `steps` on rank `rank` with checkpoints in S3 (`uri` on the moto server at
    `endpoint`); SIGTERM only rank `sigterm_rank`, at step `sigterm_at`. Writes
    (step, interrupted) and the final weights to `out`/rank<r>.pt."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1"
    )
    import torch

    torch.set_num_threads(1)
    from workload_helpers import tiny_config

    from workloads.data.generator import generate
    from workloads.training.checkpoint import S3Store
    from workloads.training.data import prepare
    from workloads.training.trainer import train

    data = prepare(generate(3_000, seed=7), 0.25)
    cfg = tiny_config(
        steps=steps, log_every=1, device="cpu", deepspeed={"enabled": True, "zero_stage": 1}, checkpoint={"uri": uri, "every_steps": 4, "keep_last": 2}
    )

    def log(line: str) -> None:
        if rank == sigterm_rank and line.startswith(f"step {sigterm_at}/"):
            os.kill(os.getpid(), signal.SIGTERM)  # one rank's pod gets the notice first

    result = train(cfg, data, resume=resume, log=log, store=S3Store(uri, s3_client(endpoint)))
    torch.save(
        {"step": result.step, "interrupted": result.interrupted, "weights": {k: v.detach().clone() for k, v in result.model.state_dict().items()}},
        f"{out}/rank{rank}.pt",
    )


def run_ranks(world: int, **kwargs) -> list[int]:
    """Exit codes of `world` spawned ranks running train_rank(**kwargs)."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    port = free_port()
    procs = [ctx.Process(target=train_rank, kwargs={"rank": r, "world": world, "port": port, **kwargs}) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)
    return [p.exitcode for p in procs]
