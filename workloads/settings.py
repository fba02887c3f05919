"""Runtime settings of the workloads, read from environment variables (prefix `SAHAB_`).

The stacks wire their outputs in as environment variables (bucket names, endpoints, keys); the
workloads never hard-code cloud names. Defaults give local mode: everything under `SAHAB_HOME`.
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# AWS regions physically in the UAE (see UAE.md): me-south-1 is Bahrain and is refused.
UAE_AWS_REGIONS = ("me-central-1",)
# cloud: kubernetes (components/constants.py ON_PREMISES): the in-cluster S3-compatible store, no AWS region.
ON_PREMISES = "on-premises"


class StrictEnvSettings(BaseSettings):
    """Settings that own their env prefix (`SAHAB_SERVING_`, ...): a variable under it that names no
    field is an error, because a misspelt knob would otherwise be silently ignored."""

    @model_validator(mode="after")
    def _no_unknown_variables(self):
        prefix = str(self.model_config.get("env_prefix") or "")
        known = {prefix + name.upper() for name in type(self).model_fields}
        unknown = sorted(k for k in os.environ if prefix and k.upper().startswith(prefix) and k.upper() not in known)
        if unknown:
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name.upper(), sorted(known), n=1)
                hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
            raise ValueError(f"unknown environment variable(s) {', '.join(hints)}; {prefix}* takes: {', '.join(sorted(known))}")
        return self


class SahabSettings(BaseSettings):
    """Settings shared by every workload entry point."""

    model_config = SettingsConfigDict(env_prefix="SAHAB_", frozen=True, extra="ignore")

    home: Path = Path(".sahab/local")
    """Local state: MLflow SQLite database, artifacts, Feast repo data, checkpoints."""
    mlflow_tracking_uri: str | None = None
    """MLflow tracking (and registry) URI; default `sqlite:///<home>/mlflow.db`."""
    mlflow_artifact_location: str | None = None
    """Artifact root for new experiments (`s3://bucket/mlflow` in the cloud); default `<home>/mlartifacts`."""
    mlflow_experiment: str = "transaction-risk"
    model_name: str = "transaction-risk"
    """Registered model name."""

    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    def artifact_location(self) -> str:
        if self.mlflow_artifact_location:
            return self.mlflow_artifact_location
        return (self.home / "mlartifacts").resolve().as_uri()


class FeatureStoreSettings(StrictEnvSettings):
    """Where the Feast repository keeps its registry, offline data and online store."""

    model_config = SettingsConfigDict(env_prefix="SAHAB_FEAST_", frozen=True, extra="ignore")

    mode: Literal["local", "aws"] = "local"
    project: str = "sahab"
    region: str = "me-central-1"
    """AWS region of the S3 offline store; must be in the UAE."""
    s3_uri: str | None = None
    """`s3://bucket/prefix` holding the offline Parquet data and the Feast registry (aws mode)."""
    s3_endpoint_override: str | None = None
    redis_url: SecretStr | None = None
    """ElastiCache connection string `host:port,ssl=true,password=...` (aws mode)."""

    @field_validator("region")
    @classmethod
    def _in_uae(cls, value: str) -> str:
        if value not in UAE_AWS_REGIONS and value != ON_PREMISES:
            raise ValueError(f"SAHAB_FEAST_REGION={value!r} is not in the UAE; allowed: {[*UAE_AWS_REGIONS, ON_PREMISES]}")
        return value

    @model_validator(mode="after")
    def _on_premises_store(self) -> FeatureStoreSettings:
        if self.mode == "aws" and self.region == ON_PREMISES and not self.s3_endpoint_override:
            raise ValueError("SAHAB_FEAST_REGION=on-premises means the in-cluster object store: set SAHAB_FEAST_S3_ENDPOINT_OVERRIDE to its URL")
        return self

    @field_validator("s3_uri")
    @classmethod
    def _s3(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("s3://"):
            raise ValueError(f"SAHAB_FEAST_S3_URI must start with s3://, got {value!r}")
        return value.rstrip("/") if value else value


class TrainJobSettings(StrictEnvSettings):
    """What a training Job gets from its manifest (the stacks fill these from stack outputs)."""

    model_config = SettingsConfigDict(env_prefix="SAHAB_TRAIN_", frozen=True, extra="ignore")

    config: Path | None = None
    """Training config file (JSON or YAML); defaults are used without one."""
    checkpoint_uri: str | None = None
    """Overrides checkpoint.uri: a local path or `s3://bucket/prefix` in the checkpoint bucket."""
    data_path: str | None = None
    """Overrides data.path (and sets data.source to parquet): a training set from the features job."""


def run_cli(main, argv=None) -> int:
    """Run a CLI `main(argv) -> int`, turning configuration errors into one clear message and
    exit status 2 instead of a traceback."""
    import sys

    from pydantic import ValidationError

    try:
        return int(main(argv) or 0)
    except ValidationError as exc:
        print(format_errors(exc), file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def format_errors(exc) -> str:
    """One line per problem: the field path (dotted, or the env variable) and what is allowed."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        got = err.get("input")
        suffix = f" (got {got!r})" if got is not None and not isinstance(got, dict) else ""
        lines.append(f"  {loc}: {err['msg']}{suffix}")
    return f"invalid {exc.title}:\n" + "\n".join(lines)
