"""The retraining trigger: create a training Job from the suspended `retrain` CronJob template.

Run by the drift CronJob when `python -m workloads.monitoring check` exits 3 (drift found). Uses
only the standard library and the pod's service-account token; RBAC allows exactly `get` on the
template and `create` of Jobs in the training namespace.

    SAHAB_RETRAIN_NAMESPACE=sahab-training SAHAB_RETRAIN_CRONJOB=retrain python retrain_trigger.py
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.request
from datetime import datetime, timezone

SA = "/var/run/secrets/kubernetes.io/serviceaccount"


def job_from_cronjob(cronjob: dict, reason: str, now: datetime) -> dict:
    """The Job `kubectl create job --from=cronjob/...` would create, marked with why it started."""
    template = cronjob["spec"]["jobTemplate"]
    name = cronjob["metadata"]["name"]
    meta = template.get("metadata") or {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{name}-{reason}-{now.strftime('%Y%m%d%H%M%S')}"[:63],
            "namespace": cronjob["metadata"]["namespace"],
            "labels": {**(meta.get("labels") or {}), "sahab.ae/trigger": reason},
            "annotations": {**(meta.get("annotations") or {}), "cronjob.kubernetes.io/instantiate": "manual", "sahab.ae/triggered-at": now.isoformat()},
        },
        "spec": template["spec"],
    }


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
    cronjob = _call("GET", f"/apis/batch/v1/namespaces/{ns}/cronjobs/{name}")
    job = job_from_cronjob(cronjob, "drift", datetime.now(timezone.utc))
    created = _call("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", job)
    print(json.dumps({"retraining_job": created["metadata"]["name"], "namespace": ns}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
