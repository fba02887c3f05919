"""Checkpoint stores: a local folder or object storage (`s3://bucket/prefix`).

A checkpoint is a folder `step-<NNNNNNNN>/` (the plain trainer writes `state.pt` into it,
DeepSpeed its own files). A checkpoint becomes visible through the `LATEST` marker only after
all of its files are written, so a run killed mid-save resumes from the previous one.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

LATEST = "LATEST"


def step_name(step: int) -> str:
    return f"step-{step:08d}"


class CheckpointStore(Protocol):
    def staging(self, step: int) -> Path:
        """A fresh local folder to write checkpoint `step` into before `commit`."""

    def commit(self, step: int, keep_last: int) -> None:
        """Publish the staged checkpoint as the latest and drop all but the newest `keep_last`."""

    def latest_step(self) -> int | None: ...

    def fetch(self, step: int) -> Path:
        """A local folder holding checkpoint `step`."""


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def staging(self, step: int) -> Path:
        path = self.root / f".staging-{step_name(step)}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def commit(self, step: int, keep_last: int) -> None:
        final = self.root / step_name(step)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(self.root / f".staging-{step_name(step)}", final)
        tmp = self.root / f".{LATEST}.tmp"
        tmp.write_text(step_name(step))
        os.replace(tmp, self.root / LATEST)  # atomic: readers see the old or the new marker
        for old in sorted(p for p in self.root.glob("step-*") if p.is_dir())[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)

    def latest_step(self) -> int | None:
        marker = self.root / LATEST
        return int(marker.read_text().strip().split("-")[1]) if marker.is_file() else None

    def fetch(self, step: int) -> Path:
        path = self.root / step_name(step)
        if not path.is_dir():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        return path


class S3Store:
    """Checkpoints under `s3://bucket/prefix/`, staged in a local temporary folder.

    `client` is a boto3 S3 client (made from the environment's credentials when omitted).
    """

    def __init__(self, uri: str, client=None) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"checkpoint.uri {uri!r} has no bucket")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        if client is None:
            try:
                import boto3
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise RuntimeError("checkpoint.uri is s3:// but boto3 is not installed (pip install boto3)") from exc
            client = boto3.client("s3")
        self.client = client
        self.local = Path(tempfile.mkdtemp(prefix="sahab-ckpt-"))

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def staging(self, step: int) -> Path:
        path = self.local / step_name(step)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def commit(self, step: int, keep_last: int) -> None:
        path = self.local / step_name(step)
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            self.client.upload_file(str(file), self.bucket, self._key(step_name(step), file.relative_to(path).as_posix()))
        # The marker goes last: a partial upload is never the latest checkpoint.
        self.client.put_object(Bucket=self.bucket, Key=self._key(LATEST), Body=step_name(step).encode())
        steps = sorted(self._remote_steps())
        for old in steps[:-keep_last]:
            for key in self._keys(self._key(step_name(old)) + "/"):
                self.client.delete_object(Bucket=self.bucket, Key=key)
        shutil.rmtree(path, ignore_errors=True)

    def _keys(self, prefix: str) -> list[str]:
        keys, token = [], None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
            page = self.client.list_objects_v2(**kwargs)
            keys += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return keys
            token = page["NextContinuationToken"]

    def _remote_steps(self) -> set[int]:
        base = self._key("step-")
        return {int(k[len(base):].split("/")[0]) for k in self._keys(base)}

    def latest_step(self) -> int | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(LATEST))["Body"].read()
        except Exception as exc:  # botocore's NoSuchKey: no checkpoint yet
            if "NoSuchKey" in type(exc).__name__ or "NoSuchKey" in str(exc) or "404" in str(exc):
                return None
            raise
        return int(body.decode().strip().split("-")[1])

    def fetch(self, step: int) -> Path:
        path = self.local / f"fetched-{step_name(step)}"
        shutil.rmtree(path, ignore_errors=True)
        prefix = self._key(step_name(step)) + "/"
        keys = self._keys(prefix)
        if not keys:
            raise FileNotFoundError(f"checkpoint s3://{self.bucket}/{prefix} does not exist")
        for key in keys:
            dest = path / key[len(prefix):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.client.download_file(self.bucket, key, str(dest))
        return path


def open_store(uri: str, client=None) -> CheckpointStore:
    if uri.startswith("s3://"):
        return S3Store(uri, client)
    if "://" in uri and not uri.startswith("file://"):
        raise ValueError(f"checkpoint.uri {uri!r}: only a local path, file:// or s3:// is supported")
    return LocalStore(Path(uri.removeprefix("file://")))
