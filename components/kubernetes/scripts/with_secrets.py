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
"""

from __future__ import annotations

import json
import os
import sys
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
    import boto3  # in every workload image (S3 access)

    region = arn.split(":")[3]
    return boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=arn)["SecretString"]


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: with_secrets.py COMMAND [ARGS...]")
    spec = json.loads(os.environ.get("SAHAB_SECRET_ENV", "{}"))
    env = {k: v for k, v in os.environ.items() if k != "SAHAB_SECRET_ENV"}
    env.update(render(spec, _fetch))
    if env.get("SAHAB_CA_PEM"):
        path = os.path.join(env.get("TMPDIR", "/tmp"), "sahab-ca.pem")
        with open(path, "w") as f:
            f.write(env.pop("SAHAB_CA_PEM"))
        env["SSL_CERT_FILE"] = path
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main(sys.argv[1:])
