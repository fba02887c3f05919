"""Checkpoints: what goes into one (the Checkpointer) and where it is kept (the stores).

The Checkpointer (after torchtitan's `components/checkpoint.py`) saves and restores everything a
run needs to continue bit for bit: the state the training function hands over through
`ctx.checkpoint` (for `workloads.training.tabular`: model, optimizer, LR schedule, data order), the
step, the RNG states (torch CPU, CUDA, numpy, python), the config and the sha256 of the training
data. It refuses to resume under another config or on other data. RNG states are always loaded
onto the CPU: `torch.set_rng_state` takes only a CPU ByteTensor, so a `map_location` of the GPU
must never reach them (model and optimizer tensors move to their parameters' device on load).
`StoreHook` is the `CheckpointHook` of workloads/project/context.py over it.

A checkpoint is a folder `step-<NNNNNNNN>/` (plain torch: rank 0 writes `state.pt` into it;
DeepSpeed: one model file and one optimizer shard per rank). Saving under several ranks:
rank 0 clears the staging area, a barrier, every rank writes and uploads its own files, a
barrier, then rank 0 alone points `LATEST` at the new checkpoint and prunes. A checkpoint is
visible through `LATEST` only once every rank's files are stored, so a run killed mid-save
resumes from the previous one. The stores: a local folder (LocalStore), `s3://` through boto3
(S3Store) and any other remote URI of workloads/storage.py, `abfss://` on AKS, through pyarrow's
filesystem (FileSystemStore); the two remote ones share one implementation (_ObjectStore) of the
steps above. Pruning goes by recency of publication (the `CHECKPOINTS` index,
newest last), never by step number, and never removes the checkpoint `LATEST` names: after a
resume from an older checkpoint, a higher-numbered leftover of the abandoned attempt is the one
to go.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from workloads.errors import SahabError

LATEST = "LATEST"
INDEX = "CHECKPOINTS"
FORMAT = 3
# Fields that may differ between an interrupted run and its resumption without changing results.
RESUME_FREE = {"threads", "log_every", "eval_every"}


def step_name(step: int) -> str:
    return f"step-{step:08d}"


def _step_of(name: str) -> int:
    return int(name.strip().split("-")[1])


def _to_prune(index: list[str], present: set[str], latest: str, keep_last: int) -> list[str]:
    """Checkpoint folders to delete: all but the `keep_last` most recently published, never `latest`."""
    keep = set(index[-keep_last:]) | {latest}
    return sorted(present - keep)


class CheckpointStore(Protocol):
    def prepare(self, step: int) -> None:
        """Rank 0, before anyone writes: clear what an earlier attempt left of checkpoint `step`."""

    def staging(self, step: int) -> Path:
        """The local folder this rank writes checkpoint `step` into."""

    def upload(self, step: int) -> None:
        """Store this rank's files of checkpoint `step` (every rank calls it)."""

    def publish(self, step: int, keep_last: int) -> None:
        """Rank 0, after every rank uploaded: point LATEST at `step`, then prune by recency."""

    def latest_step(self) -> int | None: ...

    def fetch(self, step: int) -> Path:
        """A local folder holding checkpoint `step`."""

    def commit(self, step: int, keep_last: int) -> None:
        """One process: upload then publish."""


class LocalStore:
    """Checkpoints in a local (or node-shared) folder; ranks of one node share the staging folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _staging(self, step: int) -> Path:
        return self.root / f".staging-{step_name(step)}"

    def prepare(self, step: int) -> None:
        shutil.rmtree(self._staging(step), ignore_errors=True)

    def staging(self, step: int) -> Path:
        path = self._staging(step)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def upload(self, step: int) -> None:
        """Nothing to move: the staging folder is already in the store."""

    def publish(self, step: int, keep_last: int) -> None:
        final = self.root / step_name(step)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(self._staging(step), final)
        _atomic_write(self.root / LATEST, step_name(step))  # readers see the old or the new marker
        index = [n for n in _read_index(self.root / INDEX) if n != step_name(step)] + [step_name(step)]
        present = {p.name for p in self.root.glob("step-*") if p.is_dir()}
        index = [n for n in index if n in present]
        _atomic_write(self.root / INDEX, json.dumps(index))
        for name in _to_prune(index, present, step_name(step), keep_last):
            shutil.rmtree(self.root / name, ignore_errors=True)

    def commit(self, step: int, keep_last: int) -> None:
        self.upload(step)
        self.publish(step, keep_last)

    def latest_step(self) -> int | None:
        marker = self.root / LATEST
        return _step_of(marker.read_text()) if marker.is_file() else None

    def fetch(self, step: int) -> Path:
        path = self.root / step_name(step)
        if not path.is_dir():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        return path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read_index(path: Path) -> list[str]:
    return json.loads(path.read_text()) if path.is_file() else []


class _ObjectStore:
    """Checkpoints under a prefix of an object store, staged in a local temporary folder. The
    semantics live here once (per-rank upload, LATEST after every rank's upload, prune by
    recency); subclasses give the six object operations over `key`s (full names in the store)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.strip("/")
        self.local = Path(tempfile.mkdtemp(prefix="sahab-ckpt-"))

    # The object operations.
    def _get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def _put(self, key: str, body: bytes) -> None:
        raise NotImplementedError

    def _keys(self, prefix: str) -> list[str]:
        """Every key starting with `prefix`."""
        raise NotImplementedError

    def _delete_folder(self, prefix: str) -> None:
        """Remove every object under `prefix` (a checkpoint's `step-N/`)."""
        raise NotImplementedError

    def _upload_file(self, file: Path, key: str) -> None:
        raise NotImplementedError

    def _download_file(self, key: str, dest: Path) -> None:
        raise NotImplementedError

    def _describe(self, key: str) -> str:
        return key

    # The store, on top of them.
    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def prepare(self, step: int) -> None:
        self._delete_folder(self._key(step_name(step)) + "/")

    def staging(self, step: int) -> Path:
        path = self.local / step_name(step)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def upload(self, step: int) -> None:
        """This rank's files (its own local staging folder): under DeepSpeed each rank holds its
        own optimizer shard, so every rank uploads."""
        path = self.local / step_name(step)
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            self._upload_file(file, self._key(step_name(step), file.relative_to(path).as_posix()))
        shutil.rmtree(path, ignore_errors=True)

    def publish(self, step: int, keep_last: int) -> None:
        # The marker goes after every rank's upload: a partial checkpoint is never the latest.
        name = step_name(step)
        self._put(self._key(LATEST), name.encode())
        present = {step_name(s) for s in self._remote_steps()}
        index = [n for n in self._index() if n != name and n in present] + [name]
        self._put(self._key(INDEX), json.dumps(index).encode())
        for old in _to_prune(index, present, name, keep_last):
            self._delete_folder(self._key(old) + "/")

    def commit(self, step: int, keep_last: int) -> None:
        self.upload(step)
        self.publish(step, keep_last)

    def _index(self) -> list[str]:
        body = self._get(self._key(INDEX))
        return json.loads(body) if body else []

    def _remote_steps(self) -> set[int]:
        base = self._key("step-")
        return {int(k[len(base) :].split("/")[0]) for k in self._keys(base)}

    def latest_step(self) -> int | None:
        body = self._get(self._key(LATEST))
        return _step_of(body.decode()) if body else None

    def fetch(self, step: int) -> Path:
        path = self.local / f"fetched-{step_name(step)}"
        shutil.rmtree(path, ignore_errors=True)
        prefix = self._key(step_name(step)) + "/"
        keys = self._keys(prefix)
        if not keys:
            raise FileNotFoundError(f"checkpoint {self._describe(prefix)} does not exist")
        for key in keys:
            dest = path / key[len(prefix) :]
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._download_file(key, dest)
        return path


class S3Store(_ObjectStore):
    """Checkpoints under `s3://bucket/prefix/` through boto3 (what EKS has always run).

    `client` is a boto3 S3 client (made from the environment's credentials when omitted).
    """

    def __init__(self, uri: str, client=None) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"checkpoint.uri {uri!r} has no bucket")
        super().__init__(prefix)
        self.bucket = bucket
        if client is None:
            try:
                import boto3
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise RuntimeError("checkpoint.uri is s3:// but boto3 is not installed (pip install boto3)") from exc
            client = boto3.client("s3")
        self.client = client

    def _describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _get(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:  # botocore's NoSuchKey: nothing stored yet
            if "NoSuchKey" in type(exc).__name__ or "NoSuchKey" in str(exc) or "404" in str(exc):
                return None
            raise

    def _put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body)

    def _keys(self, prefix: str) -> list[str]:
        keys, token = [], None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
            page = self.client.list_objects_v2(**kwargs)
            keys += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return keys
            token = page["NextContinuationToken"]

    def _delete_folder(self, prefix: str) -> None:
        for key in self._keys(prefix):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def _upload_file(self, file: Path, key: str) -> None:
        self.client.upload_file(str(file), self.bucket, key)

    def _download_file(self, key: str, dest: Path) -> None:
        self.client.download_file(self.bucket, key, str(dest))


class FileSystemStore(_ObjectStore):
    """Checkpoints under any remote URI of workloads/storage.py (`abfss://...` on AKS, `s3://...`),
    through pyarrow's filesystem of it. Keys are paths on that filesystem (`container/prefix/...`)."""

    def __init__(self, uri: str) -> None:
        from workloads import storage

        self.fs, root = storage.filesystem(uri, "checkpoint.uri")
        self.uri = storage.parse(uri, "checkpoint.uri").uri
        super().__init__(root)

    def _describe(self, key: str) -> str:
        return f"{self.uri} ({key})"

    def _get(self, key: str) -> bytes | None:
        import pyarrow.fs as pafs

        if self.fs.get_file_info(key).type != pafs.FileType.File:
            return None
        with self.fs.open_input_stream(key) as fh:
            return fh.read()

    def _put(self, key: str, body: bytes) -> None:
        with self.fs.open_output_stream(key) as fh:  # one object, written whole
            fh.write(body)

    def _keys(self, prefix: str) -> list[str]:
        import pyarrow.fs as pafs

        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else prefix
        infos = self.fs.get_file_info(pafs.FileSelector(folder, recursive=True, allow_not_found=True))
        return sorted(i.path for i in infos if i.type == pafs.FileType.File and i.path.startswith(prefix))

    def _delete_folder(self, prefix: str) -> None:
        import pyarrow.fs as pafs

        # The folder at once: file by file, pyarrow keeps an emptied folder alive with a marker blob.
        folder = prefix.rstrip("/")
        if self.fs.get_file_info(folder).type == pafs.FileType.Directory:
            self.fs.delete_dir(folder)

    def _upload_file(self, file: Path, key: str) -> None:
        with file.open("rb") as src, self.fs.open_output_stream(key) as dst:
            shutil.copyfileobj(src, dst, 8 * 2**20)

    def _download_file(self, key: str, dest: Path) -> None:
        with self.fs.open_input_stream(key) as src, dest.open("wb") as dst:
            shutil.copyfileobj(src, dst, 8 * 2**20)


def open_store(uri: str, client=None) -> CheckpointStore:
    """LocalStore for a path or file://, S3Store (boto3) for s3://, FileSystemStore for the rest
    (abfss://); an unusable URI is a ValueError naming checkpoint.uri and the accepted forms."""
    from workloads import storage

    loc = storage.parse(uri, "checkpoint.uri")
    if loc.scheme == "s3":
        return S3Store(uri, client)
    if loc.scheme == "file":
        return LocalStore(Path(loc.path))
    return FileSystemStore(uri)


# --- what goes into a checkpoint ---


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators; the tensors go back to the CPU first (set_rng_state and
    cuda.set_rng_state_all take CPU ByteTensors only, whatever device they were loaded to)."""
    torch.set_rng_state(state["torch"].cpu())
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def load_payload(path: Path) -> dict[str, Any]:
    """A plain `state.pt`, every tensor on the CPU (see the module docstring)."""
    # weights_only=False: the payload holds numpy / python RNG states. Checkpoints come only
    # from this run's own store, never from users.
    return torch.load(path, map_location="cpu", weights_only=False)


def check_resumable(meta: dict[str, Any], config: dict[str, Any], data_sha256: str) -> None:
    """CheckpointMismatch when the checkpoint was written under another config or on other data."""
    if meta.get("format") != FORMAT:
        raise CheckpointMismatch(
            f"cannot resume: the checkpoint has format {meta.get('format')!r}, this platform writes {FORMAT}; start a new run (another checkpoint URI, or without --resume)"
        )
    saved_config = meta.get("config") or {}
    differ = sorted(k for k in set(saved_config) | set(config) if k not in RESUME_FREE and saved_config.get(k) != config.get(k))
    if differ:
        raise CheckpointMismatch(
            f"cannot resume: the checkpoint was written with a different config in {differ}; use the same config, or start a new run without --resume"
        )
    saved = meta.get("data_sha256")
    if saved != data_sha256:
        raise CheckpointMismatch(
            f"cannot resume: the checkpoint was trained on data {str(saved)[:16]}..., this run's data is "
            f"{data_sha256[:16]}... (the training set changed); resume with the same training set (the same run key), "
            "or start a new run (another checkpoint URI, or without --resume)"
        )


class CheckpointMismatch(SahabError, ValueError):
    """A checkpoint that belongs to another config or other data: resuming from it would lie."""


class Distributed:
    """The collectives the Checkpointer and the loop need; no-ops in a single process."""

    def __init__(self, rank: int = 0, world_size: int = 1) -> None:
        self.rank, self.world_size = rank, world_size

    def barrier(self) -> None:
        if self.world_size > 1:
            torch.distributed.barrier()

    def any(self, flag: bool, device: torch.device | str = "cpu") -> bool:
        """True on every rank when `flag` is true on any: the SIGTERM stop flag, all-reduced so
        every rank leaves the loop at the same step (a rank alone in a collective save hangs)."""
        if self.world_size == 1:
            return flag
        # gloo reduces CPU tensors, NCCL CUDA ones.
        t = torch.tensor([int(flag)], dtype=torch.int32, device=device if torch.distributed.get_backend() == "nccl" else "cpu")
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())


class Checkpointer:
    """Save and restore a training function's state in a CheckpointStore (see the module docstring).

    `config` and `data_sha256` identify the run: they are written into every checkpoint and a
    resume under another config or on other data is refused (CheckpointMismatch). The state is
    whatever the function hands over (torch.save's types); with a DeepSpeed `engine` the engine
    writes its own files (model states, one optimizer shard per rank) and the state rides along as
    its client state.
    """

    def __init__(
        self,
        store: CheckpointStore,
        dist: Distributed | None = None,
        *,
        config: dict[str, Any],
        data_sha256: str,
        keep_last: int = 2,
        on_saved: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.dist = dist or Distributed()
        self.config = config
        self.data_sha256 = data_sha256
        self.keep_last = keep_last
        self.on_saved = on_saved

    def _meta(self, step: int) -> dict[str, Any]:
        return {"format": FORMAT, "step": step, "rng": rng_state(), "config": self.config, "data_sha256": self.data_sha256}

    def save(self, state: Mapping[str, Any], step: int, *, engine: Any = None) -> None:
        """Every rank calls it (collective): rank 0 writes the state, each DeepSpeed rank its shard."""
        rank = self.dist.rank
        if rank == 0:
            self.store.prepare(step)
        self.dist.barrier()  # nobody writes before rank 0 has cleared the staging area
        folder = self.store.staging(step)
        payload = {**self._meta(step), "state": dict(state)}
        if engine is not None:
            engine.save_checkpoint(str(folder), tag="engine", client_state=payload, save_latest=False)
        elif rank == 0:  # plain torch (DDP included): every rank holds the same state; one writes it
            tmp = folder / "state.pt.tmp"
            torch.save(payload, tmp)
            os.replace(tmp, folder / "state.pt")
        self.store.upload(step)
        self.dist.barrier()  # every rank's files are stored before LATEST may name them
        if rank == 0:
            self.store.publish(step, self.keep_last)
        self.dist.barrier()
        if self.on_saved:
            self.on_saved(step)

    def load(self, *, engine: Any = None) -> tuple[dict[str, Any], int] | None:
        """The latest checkpoint's (state, step), RNG states restored; None when there is none."""
        latest = self.store.latest_step()
        if latest is None:
            return None
        folder = self.store.fetch(latest)
        if engine is not None:
            _, meta = engine.load_checkpoint(str(folder), tag="engine")
            if meta is None:
                raise FileNotFoundError(f"no DeepSpeed checkpoint in {folder}")
        else:
            meta = load_payload(folder / "state.pt")
        check_resumable(meta, self.config, self.data_sha256)
        set_rng_state(meta["rng"])
        return dict(meta["state"]), int(meta["step"])


class StoreHook:
    """The `CheckpointHook` a TrainContext carries (workloads/project/context.py) over a
    Checkpointer. `save` / `load` take an optional DeepSpeed `engine` (workloads.training.tabular
    passes its own); `last_step` is the newest step saved or loaded in this process."""

    def __init__(self, checkpointer: Checkpointer, every_steps: int) -> None:
        self.checkpointer = checkpointer
        self.every_steps = every_steps
        self.last_step: int | None = None

    def save(self, state: Mapping[str, Any], step: int, *, engine: Any = None) -> None:
        self.checkpointer.save(state, step, engine=engine)
        self.last_step = step

    def load(self, *, engine: Any = None) -> tuple[dict[str, Any], int] | None:
        loaded = self.checkpointer.load(engine=engine)
        if loaded is not None:
            self.last_step = loaded[1]
        return loaded


class NoCheckpoints:
    """The hook of a run without a checkpoint URI: saving keeps nothing, loading finds nothing."""

    def __init__(self, every_steps: int) -> None:
        self.every_steps = every_steps
        self.last_step: int | None = None

    def save(self, state: Mapping[str, Any], step: int, *, engine: Any = None) -> None:
        self.last_step = step

    def load(self, *, engine: Any = None) -> tuple[dict[str, Any], int] | None:
        return None
