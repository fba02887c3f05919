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
# Azure regions in the UAE: uaenorth (Dubai), uaecentral (Abu Dhabi); a copy of components/constants.py
# UAE_REGIONS["azure"], proven equal by tests/workloads/test_azure_storage.py.
UAE_AZURE_REGIONS = ("uaenorth", "uaecentral")
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
    mlflow_experiment: str | None = None
    """MLflow experiment; default: the project's name (`for_project`)."""
    model_name: str | None = None
    """Registered model name; default: the project's name (`for_project`)."""

    def for_project(self, project) -> SahabSettings:
        """These settings for one project (a Project, a ProjectSpec or a name): the registered model
        and the MLflow experiment are named after it unless SAHAB_MODEL_NAME / SAHAB_MLFLOW_EXPERIMENT say otherwise."""
        from workloads.project.paths import project_name

        name = project_name(project)
        return self.model_copy(update={"model_name": self.model_name or name, "mlflow_experiment": self.mlflow_experiment or name})

    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    def artifact_location(self) -> str:
        if self.mlflow_artifact_location:
            return self.mlflow_artifact_location
        return (self.home / "mlartifacts").resolve().as_uri()


class FeatureStoreSettings(StrictEnvSettings):
    """Where a project's Feast repository keeps its registry, offline data and online store.

    local: everything under `<SAHAB_HOME>/projects/<name>/feast` (workloads/project/paths.py);
    aws: `URI` (or the old spelling `S3_URI`) is `s3://...`, the region an AWS UAE one (or
    on-premises); azure: `URI` is `abfss://...`, the region an Azure UAE one. In the cloud modes the
    URI is the project's own Feast root (`.../feast/<project>`), used as given.
    """

    model_config = SettingsConfigDict(env_prefix="SAHAB_FEAST_", frozen=True, extra="ignore")

    mode: Literal["local", "aws", "azure"] = "local"
    project: str | None = None
    """Feast project name; default: the project's (`ProjectSpec.feast_project`). Tests set it to keep Redis keys apart."""
    region: str = "me-central-1"
    """Region of the offline store; must be in the UAE (azure mode: uaenorth, its default, or uaecentral)."""
    uri: str | None = None
    """Offline Parquet data and the Feast registry: `s3://bucket/prefix` (aws mode) or
    `abfss://<container>@<account>.dfs.core.windows.net/<prefix>` (azure mode)."""
    s3_uri: str | None = None
    """The old spelling of `uri` in aws mode (what EKS and on-prem render)."""
    s3_endpoint_override: str | None = None
    redis_url: SecretStr | None = None
    """Online store connection string `host:port,ssl=true,password=...` (aws and azure modes)."""

    @model_validator(mode="before")
    @classmethod
    def _azure_region_default(cls, data):
        if isinstance(data, dict) and data.get("mode") == "azure" and not data.get("region"):
            data = {**data, "region": UAE_AZURE_REGIONS[0]}
        return data

    @field_validator("region")
    @classmethod
    def _in_uae(cls, value: str) -> str:
        allowed = [*UAE_AWS_REGIONS, ON_PREMISES, *UAE_AZURE_REGIONS]
        if value not in allowed:
            raise ValueError(f"SAHAB_FEAST_REGION={value!r} is not in the UAE; allowed: {allowed}")
        return value

    @field_validator("s3_uri")
    @classmethod
    def _s3(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("s3://"):
            raise ValueError(f"SAHAB_FEAST_S3_URI must start with s3://, got {value!r}")
        return value.rstrip("/") if value else value

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from workloads.storage import parse

        loc = parse(value, "SAHAB_FEAST_URI")
        if loc.scheme == "file":
            raise ValueError(
                f"SAHAB_FEAST_URI={value!r} is a local path; local mode keeps the store under SAHAB_HOME. "
                "Fix: s3://bucket/prefix (aws mode) or abfss://<container>@<account>.dfs.core.windows.net/<prefix> (azure mode)"
            )
        return loc.uri

    @model_validator(mode="after")
    def _mode_agrees(self) -> FeatureStoreSettings:
        if self.mode == "aws" and self.region == ON_PREMISES and not self.s3_endpoint_override:
            raise ValueError("SAHAB_FEAST_REGION=on-premises means the in-cluster object store: set SAHAB_FEAST_S3_ENDPOINT_OVERRIDE to its URL")
        if self.mode == "azure":
            if self.region not in UAE_AZURE_REGIONS:
                raise ValueError(
                    f"SAHAB_FEAST_REGION={self.region!r} is not an Azure region in the UAE (SAHAB_FEAST_MODE=azure); allowed: {list(UAE_AZURE_REGIONS)}"
                )
            if self.s3_uri:
                raise ValueError("SAHAB_FEAST_S3_URI is the aws mode's variable; SAHAB_FEAST_MODE=azure reads SAHAB_FEAST_URI=abfss://...")
            if self.uri and not self.uri.startswith("abfss://"):
                raise ValueError(f"SAHAB_FEAST_URI={self.uri!r}: SAHAB_FEAST_MODE=azure needs abfss://<container>@<account>.dfs.core.windows.net/<prefix>")
        elif self.mode == "aws":
            if self.region in UAE_AZURE_REGIONS:
                raise ValueError(
                    f"SAHAB_FEAST_REGION={self.region!r} is an Azure region; SAHAB_FEAST_MODE=aws takes "
                    f"{[*UAE_AWS_REGIONS, ON_PREMISES]} (or set SAHAB_FEAST_MODE=azure)"
                )
            if self.uri and not self.uri.startswith("s3://"):
                raise ValueError(f"SAHAB_FEAST_URI={self.uri!r}: SAHAB_FEAST_MODE=aws needs s3://bucket/prefix (or set SAHAB_FEAST_MODE=azure for abfss://)")
            if self.uri and self.s3_uri and self.uri != self.s3_uri:
                raise ValueError(f"SAHAB_FEAST_URI={self.uri!r} and SAHAB_FEAST_S3_URI={self.s3_uri!r} disagree: set one of them")
        return self

    def store_uri(self) -> str | None:
        """The offline store's root URI in the cloud modes (`uri`, else the old `s3_uri`)."""
        return self.uri or self.s3_uri

    def uri_variable(self) -> str:
        """The variable that names the store's URI in this mode (for messages)."""
        return "SAHAB_FEAST_S3_URI" if self.mode == "aws" and not self.uri else "SAHAB_FEAST_URI"


class TrainJobSettings(StrictEnvSettings):
    """What a training Job gets from its manifest (the stacks fill these from stack outputs)."""

    model_config = SettingsConfigDict(env_prefix="SAHAB_TRAIN_", frozen=True, extra="ignore")

    config: Path | None = None
    """Training config file (JSON or YAML); defaults are used without one."""
    checkpoint_uri: str | None = None
    """Overrides checkpoint.uri: a local path, `s3://bucket/prefix` or
    `abfss://<container>@<account>.dfs.core.windows.net/<prefix>` in the checkpoint store."""
    data_path: str | None = None
    """Overrides data.path (and sets data.source to parquet): a training set from the features job
    (a local path, s3:// or abfss://)."""

    @field_validator("checkpoint_uri", "data_path")
    @classmethod
    def _storage_uri(cls, value: str | None, info) -> str | None:
        if value:
            from workloads.storage import parse

            parse(value, f"SAHAB_TRAIN_{info.field_name.upper()}")
        return value or None


def run_cli(main, argv=None) -> int:
    """Run a CLI `main(argv) -> int`, turning errors a user can act on into one clear message
    instead of a traceback: a SahabError ends with its class's `exit_code` (workloads/errors.py:
    2 bad input or settings, 1 a check that ran and failed, 3 a model gate that refused); invalid
    settings and the other input errors (ValueError, FileNotFoundError, LookupError) with 2."""
    import sys

    from pydantic import ValidationError

    from workloads.errors import EXIT_INPUT, SahabError

    try:
        return int(main(argv) or 0)
    except ValidationError as exc:
        print(format_errors(exc), file=sys.stderr)
        return EXIT_INPUT
    except SahabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (ValueError, FileNotFoundError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT


def format_errors(exc) -> str:
    """One line per problem: the field path (dotted, or the env variable) and what is allowed."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        got = err.get("input")
        suffix = f" (got {got!r})" if got is not None and not isinstance(got, dict) else ""
        lines.append(f"  {loc}: {err['msg']}{suffix}")
    return f"invalid {exc.title}:\n" + "\n".join(lines)
