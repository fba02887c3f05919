"""Start a command with secrets from AWS Secrets Manager in its environment.

Secrets never become Kubernetes Secrets: the pod's own IAM role (EKS Pod Identity) reads them at
start, and only the process that needs them sees them. Mounted into pods from a ConfigMap and run
with the workload image's Python:

    python /opt/sahab/with_secrets.py mlflow server ...

SAHAB_SECRET_ENV is a JSON object {"ENV_NAME": {"arn": "...", "template": "..."}}. Template
fields are the secret's JSON keys (a plain-string secret is `value`), each also URL-quoted as
`<key>_url` for use inside URIs.

On an existing cluster (`cloud: kubernetes`) there is no secrets service: `"arn": "env:PREFIX_"`
reads the fields from the variables `PREFIX_<FIELD>` (filled from in-cluster Secrets by
`secretKeyRef`), and SAHAB_CA_PEM, when set, is the private CA the in-cluster services' TLS
certificates chain to: it is written to a file that SSL_CERT_FILE names, so clients verify them.

Secrets that rotate (the RDS-managed master password rotates every 7 days by default): with
SAHAB_SECRET_REFRESH_SECONDS=N the command runs as a child instead of replacing this process; the
secrets are read again every N seconds and, when a rendered value changed, the child is stopped
(SIGTERM, SIGKILL after SAHAB_SECRET_STOP_GRACE_SECONDS, default 30) and started again with the
new values. SIGTERM/SIGINT are passed on to the child; its exit status is this process's. A failed
re-read keeps the running child (the next period tries again).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from typing import Callable


def render(spec: dict[str, dict[str, str]], fetch: Callable[[str], str]) -> dict[str, str]:
    """Environment variables from `spec`, reading each secret once through `fetch(arn)`."""
    cache: dict[str, dict[str, str]] = {}
    out = {}
    for name, item in spec.items():
        arn = item["arn"]
        if arn not in cache:
            raw = fetch(arn)
            try:
                fields = json.loads(raw)
                fields = fields if isinstance(fields, dict) else {"value": raw}
            except json.JSONDecodeError:
                fields = {"value": raw}
            fields = {k: str(v) for k, v in fields.items()}
            cache[arn] = {**fields, **{f"{k}_url": urllib.parse.quote(v, safe="") for k, v in fields.items()}}
        out[name] = item["template"].format(**cache[arn])
    return out


def _fetch(arn: str) -> str:
    if arn.startswith("env:"):
        prefix = arn[len("env:"):]
        fields = {k[len(prefix):].lower(): v for k, v in os.environ.items() if k.startswith(prefix)}
        if not fields:
            sys.exit(f"with_secrets.py: no variables {prefix}* in the environment (secret {arn}); is the Secret in this namespace?")
        return json.dumps(fields)
    if arn.startswith("https://") and urllib.parse.urlparse(arn).path.startswith("/secrets/"):
        return key_vault_secret(arn)
    import boto3  # in every workload image (S3 access)

    region = arn.split(":")[3]
    return boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=arn)["SecretString"]


def key_vault_secret(uri: str, env: dict[str, str] | None = None) -> str:
    """An Azure Key Vault secret (`https://<vault>.vault.azure.net/secrets/<name>`) read as the pod's
    workload identity: the federated token the webhook mounts is exchanged at Entra ID for a vault
    token (client-credentials grant with a JWT assertion). Standard library only. (checked:
    learn.microsoft.com "Microsoft identity platform ... client credentials flow" and Key Vault REST
    "Get Secret" api-version 7.4; the webhook's AZURE_* variables: azure-workload-identity docs,
    fetched 2026-12)"""
    import urllib.request

    env = dict(os.environ if env is None else env)
    missing = [k for k in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE") if not env.get(k)]
    if missing:
        sys.exit(f"with_secrets.py: {', '.join(missing)} unset (secret {uri}); label the pod azure.workload.identity/use=true and annotate its service account with the identity's client id")
    with open(env["AZURE_FEDERATED_TOKEN_FILE"]) as f:
        assertion = f.read().strip()
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": env["AZURE_CLIENT_ID"], "scope": "https://vault.azure.net/.default",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": assertion,
    }).encode()
    authority = env.get("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/").rstrip("/")
    with urllib.request.urlopen(f"{authority}/{env['AZURE_TENANT_ID']}/oauth2/v2.0/token", data=form, timeout=30) as r:
        token = json.load(r)["access_token"]
    request = urllib.request.Request(f"{uri}?api-version=7.4", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.load(r)["value"]


def environment(base: dict[str, str], spec: dict[str, dict[str, str]], fetch: Callable[[str], str]) -> dict[str, str]:
    """`base` without SAHAB_SECRET_ENV, plus the rendered secrets (and the CA file, see above)."""
    env = {k: v for k, v in base.items() if k != "SAHAB_SECRET_ENV"}
    env.update(render(spec, fetch))
    if env.get("SAHAB_CA_PEM"):
        path = os.path.join(env.get("TMPDIR", "/tmp"), "sahab-ca.pem")
        with open(path, "w") as f:
            f.write(env.pop("SAHAB_CA_PEM"))
        env["SSL_CERT_FILE"] = path
    return env


def _stop(child: subprocess.Popen, grace: float) -> None:
    child.terminate()
    try:
        child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def supervise(argv: list[str], spec: dict[str, dict[str, str]], fetch: Callable[[str], str], base: dict[str, str], *, refresh_seconds: float,
              grace_seconds: float = 30.0, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> int:
    """Run `argv` with the rendered secrets; restart it whenever they change. Returns its exit status."""
    env = environment(base, spec, fetch)
    child = subprocess.Popen(argv, env=env)
    stopping = threading.Event()

    def forward(signum, _frame):
        stopping.set()
        child.send_signal(signum)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, forward)
    next_check = time.monotonic() + refresh_seconds
    while True:
        try:
            return child.wait(timeout=max(0.05, min(1.0, next_check - time.monotonic())))
        except subprocess.TimeoutExpired:
            pass
        if stopping.is_set() or time.monotonic() < next_check:
            continue
        next_check = time.monotonic() + refresh_seconds
        try:
            fresh = environment(base, spec, fetch)
        except Exception as e:  # noqa: BLE001 a transient read failure must not stop a healthy server
            log(f"with_secrets.py: re-reading the secrets failed ({e}); keeping the running process")
            continue
        if fresh != env:
            changed = sorted(k for k in spec if fresh.get(k) != env.get(k))
            log(f"with_secrets.py: {', '.join(changed)} changed (secret rotated); restarting {argv[0]}")
            _stop(child, grace_seconds)
            if stopping.is_set():
                return child.returncode
            env = fresh
            child = subprocess.Popen(argv, env=env)


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: with_secrets.py COMMAND [ARGS...]")
    spec = json.loads(os.environ.get("SAHAB_SECRET_ENV", "{}"))
    refresh = os.environ.get("SAHAB_SECRET_REFRESH_SECONDS")
    if refresh:
        grace = float(os.environ.get("SAHAB_SECRET_STOP_GRACE_SECONDS", "30"))
        base = {k: v for k, v in os.environ.items() if k not in ("SAHAB_SECRET_REFRESH_SECONDS", "SAHAB_SECRET_STOP_GRACE_SECONDS")}
        status = supervise(argv, spec, _fetch, base, refresh_seconds=float(refresh), grace_seconds=grace)
        sys.exit(128 - status if status < 0 else status)  # killed by signal N: 128+N, as a shell reports it
    env = environment(dict(os.environ), spec, _fetch)
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main(sys.argv[1:])
