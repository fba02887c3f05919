"""Helpers shared by the workload tests."""

from __future__ import annotations

import io
from pathlib import Path


def tiny_config(tmp: Path | None = None, **overrides):
    """A config that trains in about a second on one thread."""
    from workloads.training.config import TrainConfig, apply_overrides

    base = {"steps": 40, "batch_size": 128, "eval_every": 1000, "log_every": 1000, "threads": 1, "optim": {"warmup_steps": 5}, "model": {"hidden": 32}}
    if tmp is not None:
        base["checkpoint"] = {"uri": str(tmp), "every_steps": 10}
    return TrainConfig.model_validate(apply_overrides(base, overrides))


class FakeS3:
    """Just the boto3 calls S3Store makes, over a dict."""

    def __init__(self):
        self.objects: dict[str, bytes] = {}

    def upload_file(self, filename, bucket, key):
        self.objects[f"{bucket}/{key}"] = Path(filename).read_bytes()

    def put_object(self, Bucket, Key, Body):
        self.objects[f"{Bucket}/{Key}"] = Body

    def get_object(self, Bucket, Key):
        if f"{Bucket}/{Key}" not in self.objects:
            raise KeyError("NoSuchKey")
        return {"Body": io.BytesIO(self.objects[f"{Bucket}/{Key}"])}

    def list_objects_v2(self, Bucket, Prefix, **_):
        keys = sorted(k.split("/", 1)[1] for k in self.objects if k.startswith(f"{Bucket}/{Prefix}"))
        return {"Contents": [{"Key": k} for k in keys], "IsTruncated": False}

    def delete_object(self, Bucket, Key):
        self.objects.pop(f"{Bucket}/{Key}", None)

    def download_file(self, bucket, key, filename):
        Path(filename).write_bytes(self.objects[f"{bucket}/{key}"])
