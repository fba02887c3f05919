"""The retraining trigger: create a training Job from the suspended `retrain` CronJob template.

Run by the drift job (`python -m workloads.monitoring run`, as its SAHAB_DRIFT_RETRAIN_COMMAND)
once per drift episode. Uses only the standard library and the pod's service-account token; RBAC
allows exactly `get` on the template and `create` of Jobs in the training namespace.

The Job is named after the episode (`retrain-drift-<SAHAB_RETRAIN_KEY>`), so a repeated attempt
for the same episode (the drift job retries after a failure) meets 409 AlreadyExists and counts
as done: one retraining per episode even when the trigger runs twice.

    SAHAB_RETRAIN_NAMESPACE=sahab-training SAHAB_RETRAIN_CRONJOB=retrain SAHAB_RETRAIN_KEY=20261201t1400z \
        python retrain_trigger.py
"""

from __future__ import annotations

import json
import os
import re
import ssl
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone

SA = "/var/run/secrets/kubernetes.io/serviceaccount"


def job_from_cronjob(cronjob: dict, reason: str, now: datetime, key: str | None = None, extra_env: dict | None = None) -> dict:
    """The Job `kubectl create job --from=cronjob/...` would create, marked with why it started.

    `key` (the drift episode) names the Job, so the same episode can only ever create one; the
    trainer container gets `extra_env` (SAHAB_RETRAIN_*: reason, key, windows) for its lineage tags."""
    template = cronjob["spec"]["jobTemplate"]
    name = cronjob["metadata"]["name"]
    meta = template.get("metadata") or {}
    suffix = _dns_label(key) if key else now.strftime("%Y%m%d%H%M%S")
    spec = json.loads(json.dumps(template["spec"]))
    if extra_env:
        for container in spec.get("template", {}).get("spec", {}).get("containers", []):
            container["env"] = [*(container.get("env") or []), *({"name": k, "value": v} for k, v in sorted(extra_env.items()))]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{name}-{reason}-{suffix}"[:63].rstrip("-"),
            "namespace": cronjob["metadata"]["namespace"],
            "labels": {**(meta.get("labels") or {}), "sahab.ae/trigger": reason},
            "annotations": {**(meta.get("annotations") or {}), "cronjob.kubernetes.io/instantiate": "manual",
                            "sahab.ae/triggered-at": now.isoformat(), **({"sahab.ae/retrain-key": key} if key else {})},
        },
        "spec": spec,
    }


def _dns_label(text: str) -> str:
    """Lower-case alphanumerics and '-' (an RFC 1123 label, as Job names must be)."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def _call(method: str, path: str, body: dict | None = None) -> dict:
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    with open(f"{SA}/token") as f:
        token = f.read().strip()
    req = urllib.request.Request(
        f"https://{host}:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=f"{SA}/ca.crt"), timeout=30) as resp:
        return json.load(resp)


def main() -> int:
    ns = os.environ["SAHAB_RETRAIN_NAMESPACE"]
    name = os.environ.get("SAHAB_RETRAIN_CRONJOB", "retrain")
    key = os.environ.get("SAHAB_RETRAIN_KEY") or None
    reason = _dns_label(os.environ.get("SAHAB_RETRAIN_REASON", "drift")) or "drift"
    lineage = {k: os.environ[k] for k in ("SAHAB_RETRAIN_KEY", "SAHAB_RETRAIN_REASON", "SAHAB_RETRAIN_WINDOWS") if os.environ.get(k)}
    cronjob = _call("GET", f"/apis/batch/v1/namespaces/{ns}/cronjobs/{name}")
    job = job_from_cronjob(cronjob, reason, datetime.now(timezone.utc), key=key, extra_env=lineage)
    try:
        created = _call("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", job)
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise
        # This episode's Job exists already (an earlier attempt got through): nothing more to do.
        print(json.dumps({"retraining_job": job["metadata"]["name"], "namespace": ns, "already_exists": True}))
        return 0
    print(json.dumps({"retraining_job": created["metadata"]["name"], "namespace": ns}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
