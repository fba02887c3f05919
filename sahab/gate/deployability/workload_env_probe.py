"""The child process of the `workload_env` check: constructs workload settings classes from given
environments, exactly as each workload does at start (`FeatureStoreSettings()` reading
`os.environ`), and prints what each refused.

A separate process because the settings read the process environment (and StrictEnvSettings
refuses unknown variables under its prefix by scanning it): the gate's own environment must not
leak in, and the gate's threads must not see another one. Standard library and the workloads'
settings only (no `sahab` import), run by path:

    python sahab/gate/deployability/workload_env_probe.py < jobs.json

stdin: a JSON list of {"env": {NAME: value}, "classes": ["module:Class", ...], "argv": [...]};
stdout: a JSON list (one per job) of lists of {"cls", "loc", "msg", "vars", "input"}.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from typing import Any

MLFLOW_SERVER = "mlflow-server"
"""Not a class: `mlflow server`'s own start-up reading of MLFLOW_BACKEND_STORE_URI and
MLFLOW_ARTIFACTS_DESTINATION (or the --backend-store-uri / --artifacts-destination flags)."""

# Schemes MLflow's server opens. checked: mlflow 3.17.2 (constraints.txt), sorted keys of
# mlflow.store.artifact.artifact_repository_registry._artifact_repository_registry._registry, and
# mlflow/store/db/db_types.py (DATABASE_ENGINES) plus file stores for the backend (2026-12).
MLFLOW_ARTIFACT_SCHEMES = (
    "",
    "abfss",
    "b2",
    "dbfs",
    "file",
    "ftp",
    "gs",
    "hdfs",
    "http",
    "https",
    "mlflow-artifacts",
    "models",
    "r2",
    "runs",
    "s3",
    "sftp",
    "viewfs",
    "wasbs",
)
MLFLOW_BACKEND_SCHEMES = ("", "file", "postgresql", "mysql", "sqlite", "mssql")


def _flag(argv: list[str], name: str) -> str | None:
    for i, token in enumerate(argv):
        if token == name and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith(name + "="):
            return token.split("=", 1)[1]
    return None


def _scheme(uri: str) -> str:
    return uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""


def mlflow_server(env: dict[str, str], argv: list[str]) -> list[dict[str, Any]]:
    out = []
    for var, flag, schemes in (
        ("MLFLOW_BACKEND_STORE_URI", "--backend-store-uri", MLFLOW_BACKEND_SCHEMES),
        ("MLFLOW_ARTIFACTS_DESTINATION", "--artifacts-destination", MLFLOW_ARTIFACT_SCHEMES),
    ):
        value = _flag(argv, flag) or env.get(var)
        if value and _scheme(value) not in schemes:
            out.append(
                {
                    "cls": MLFLOW_SERVER,
                    "loc": [var],
                    "vars": [var],
                    "input": value,
                    "msg": f"mlflow server opens no {_scheme(value)}:// store (it takes {', '.join(s + '://' for s in schemes if s)} or a path)",
                }
            )
    return out


# Loaders that are functions rather than settings classes: the variables they read, for the finding.
FUNCTION_VARIABLES = {"workloads.project:from_env": ["SAHAB_PROJECT"]}


def _named(message: str) -> list[str]:
    """The environment variables a message names (a model-level error names no field)."""
    return sorted(k for k in os.environ if re.search(rf"(?<![A-Z0-9_]){re.escape(k)}(?![A-Z0-9_])", message))


def construct(path: str) -> list[dict[str, Any]]:
    """`module:Class()` under the current os.environ; its errors (empty when it accepts), each with
    the variables it is about (`vars`: the field's, or those the message names)."""
    from pydantic import ValidationError

    module, _, name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
        prefix = str(getattr(cls, "model_config", {}).get("env_prefix") or "")
        cls()
    except ValidationError as exc:
        return [
            {
                "cls": path,
                "loc": [str(p) for p in e["loc"]],
                "msg": e["msg"],
                "vars": [f"{prefix}{e['loc'][0]}".upper()] if e["loc"] else _named(e["msg"]),
                "input": e.get("input") if isinstance(e.get("input"), (str, int, float, bool)) else None,
            }
            for e in exc.errors()
        ]
    except Exception as exc:  # noqa: BLE001 (what the workload would die of at start, whatever it is)
        variables = FUNCTION_VARIABLES.get(path) or _named(str(exc))
        return [{"cls": path, "loc": [], "msg": f"{type(exc).__name__}: {exc}", "vars": variables, "input": None}]
    return []


def main() -> int:
    jobs = json.load(sys.stdin)
    results = []
    for job in jobs:
        os.environ.clear()
        os.environ.update(job["env"])
        found = []
        for path in job["classes"]:
            found += mlflow_server(job["env"], job.get("argv") or []) if path == MLFLOW_SERVER else construct(path)
        results.append(found)
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
