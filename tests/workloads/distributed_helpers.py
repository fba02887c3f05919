"""Two-rank training on CPU over gloo, one process per rank (plain DDP, or DeepSpeed's CPU
accelerator), through the platform's runtime. Spawned processes import this module by name
(spawn passes sys.path on)."""

from __future__ import annotations

import os
import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="me-central-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def train_rank(
    rank: int,
    world: int,
    port: int,
    project_dir: str,
    frame_path: str,
    overrides: dict,
    uri: str | None,
    resume: bool,
    sigterm_rank: int | None,
    sigterm_at: int | None,
    out: str,
    endpoint: str | None = None,
) -> None:
    """run_training on rank `rank` of `world` (the env a launcher sets), checkpoints under `uri`
    (S3 on the moto server at `endpoint` when given); SIGTERM only rank `sigterm_rank`, at step
    `sigterm_at` (the project's train.py is project_fixtures.SIGTERM_TORCH_TRAIN). Writes (step,
    interrupted) and the final weights to `out`/rank<r>.pt."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1"
    )
    import pandas as pd
    import torch

    torch.set_num_threads(1)
    from workloads.project import load_project
    from workloads.training.runtime import run_training

    if sigterm_rank is not None:  # read by project_fixtures.SIGTERM_TORCH_TRAIN: that rank's pod gets the notice
        os.environ["TEST_SIGTERM_AT"] = f"{sigterm_rank}:{sigterm_at}"

    client = s3_client(endpoint) if endpoint else None
    project = load_project(project_dir)
    outcome = run_training(
        project,
        pd.read_parquet(frame_path),
        overrides=overrides,
        resume=resume,
        checkpoint_uri=uri,
        log=lambda line: None,
        checkpoint_client=client,
        keep_last=2,
    )
    weights = {k: v.detach().clone() for k, v in outcome.model.state_dict().items()} if outcome.model is not None else {}
    torch.save(
        {"step": outcome.step, "interrupted": outcome.interrupted, "weights": weights, "rank": outcome.rank, "world": outcome.world_size},
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
