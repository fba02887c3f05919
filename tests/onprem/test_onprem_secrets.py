"""with_secrets.py on an existing cluster: fields from `secretKeyRef` variables, the private CA trusted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO

SCRIPT = REPO / "components" / "kubernetes" / "scripts" / "with_secrets.py"
SHOW = "import json, os; print(json.dumps({k: os.environ.get(k) for k in ('MLFLOW_BACKEND_STORE_URI', 'SSL_CERT_FILE', 'SAHAB_CA_PEM')}))"


def _run(env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "TMPDIR": str(tmp_path)}
    return subprocess.run([sys.executable, str(SCRIPT), sys.executable, "-c", SHOW], env={**base, **env}, capture_output=True, text=True, timeout=30)


def test_env_source_fills_the_template_url_quoted_and_writes_the_ca(tmp_path):
    spec = {
        "MLFLOW_BACKEND_STORE_URI": {"arn": "env:SAHAB_REGISTRY_DB_", "template": "postgresql://{username_url}:{password_url}@db:5432/mlflow?sslmode=require"}
    }
    out = _run(
        {
            "SAHAB_SECRET_ENV": json.dumps(spec),
            "SAHAB_REGISTRY_DB_USERNAME": "mlflow",
            "SAHAB_REGISTRY_DB_PASSWORD": "p@ss/w:rd",
            "SAHAB_CA_PEM": "-----BEGIN CERTIFICATE-----\nx\n",
        },
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["MLFLOW_BACKEND_STORE_URI"] == "postgresql://mlflow:p%40ss%2Fw%3Ard@db:5432/mlflow?sslmode=require", seen
    assert seen["SAHAB_CA_PEM"] is None and seen["SSL_CERT_FILE"] == str(tmp_path / "sahab-ca.pem"), seen
    assert (tmp_path / "sahab-ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----"), "the CA is in the file SSL_CERT_FILE names"


def test_env_source_without_its_variables_stops_with_a_clear_message(tmp_path):
    spec = {"SAHAB_FEAST_REDIS_URL": {"arn": "env:SAHAB_ONLINE_STORE_", "template": "redis:6379,ssl=true,password={value}"}}
    out = _run({"SAHAB_SECRET_ENV": json.dumps(spec)}, tmp_path)
    assert out.returncode != 0 and "no variables SAHAB_ONLINE_STORE_*" in out.stderr, out.stderr
