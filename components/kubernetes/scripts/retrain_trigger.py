"""The retraining trigger: start the project's pipeline once per drift or performance episode.

Run by the monitoring job (`python -m workloads.monitoring run`, as its SAHAB_DRIFT_RETRAIN_COMMAND)
once per episode. Uses only the standard library and the pod's service-account token.

With SAHAB_RETRAIN_WORKFLOW_TEMPLATE (the project's `<project>-pipeline` WorkflowTemplate, in its
team's namespace SAHAB_RETRAIN_NAMESPACE) it submits an Argo Workflow that references the template
(nothing else: the controller's `templateReferencing: Secure` refuses any override of it, and an
admission policy any other template), with the episode's key as the pipeline's run key and its
reason and windows as parameters; RBAC allows exactly `create` of Workflows there. Otherwise
(SAHAB_RETRAIN_CRONJOB) it creates a Job from the suspended `<project>-retrain` CronJob template.

Either object is named after the episode (`<template>-drift-<SAHAB_RETRAIN_KEY>`), so a repeated
attempt for the same episode (the monitoring job retries after a failure) meets 409 AlreadyExists
and counts as done: one retraining per episode even when the trigger runs twice.

    SAHAB_RETRAIN_NAMESPACE=sahab-team-logistics SAHAB_RETRAIN_WORKFLOW_TEMPLATE=delivery-time-pipeline \
        SAHAB_RETRAIN_KEY=20261201t1400z python retrain_trigger.py
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
        # Replaces the template's own values of these names (its SAHAB_RETRAIN_KEY is the Job's name).
        for container in spec.get("template", {}).get("spec", {}).get("containers", []):
            kept = [e for e in container.get("env") or [] if e.get("name") not in extra_env]
            container["env"] = [*kept, *({"name": k, "value": v} for k, v in sorted(extra_env.items()))]
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


def workflow_from_template(template: str, namespace: str, reason: str, now: datetime, key: str | None = None, lineage: dict | None = None) -> dict:
    """The Workflow that runs `template` once for this episode: only a reference and parameters."""
    suffix = _dns_label(key) if key else now.strftime("%Y%m%d%H%M%S")
    lineage = lineage or {}
    parameters = [{"name": "reason", "value": reason}, {"name": "windows", "value": lineage.get("SAHAB_RETRAIN_WINDOWS", "")}]
    if key:
        # The pipeline's run key (lower case, as run keys are): the episode's, so a rerun resumes its frozen rows.
        parameters.insert(0, {"name": "key", "value": suffix})
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": f"{template}-{reason}-{suffix}"[:63].rstrip("-"),
            "namespace": namespace,
            "labels": {"sahab.ae/trigger": reason, "workflows.argoproj.io/workflow-template": template},
            "annotations": {"sahab.ae/triggered-at": now.isoformat(), **({"sahab.ae/retrain-key": key} if key else {})},
        },
        "spec": {"workflowTemplateRef": {"name": template}, "arguments": {"parameters": parameters}},
    }


def _create(path: str, body: dict, kind: str, ns: str) -> int:
    try:
        created = _call("POST", path, body)
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise
        # This episode's run exists already (an earlier attempt got through): nothing more to do.
        print(json.dumps({kind: body["metadata"]["name"], "namespace": ns, "already_exists": True}))
        return 0
    print(json.dumps({kind: created["metadata"]["name"], "namespace": ns}))
    return 0


def main() -> int:
    ns = os.environ["SAHAB_RETRAIN_NAMESPACE"]
    key = os.environ.get("SAHAB_RETRAIN_KEY") or None
    reason = _dns_label(os.environ.get("SAHAB_RETRAIN_REASON", "drift")) or "drift"
    lineage = {k: os.environ[k] for k in ("SAHAB_RETRAIN_KEY", "SAHAB_RETRAIN_REASON", "SAHAB_RETRAIN_WINDOWS") if os.environ.get(k)}
    now = datetime.now(timezone.utc)
    template = os.environ.get("SAHAB_RETRAIN_WORKFLOW_TEMPLATE")
    if template:
        workflow = workflow_from_template(template, ns, reason, now, key=key, lineage=lineage)
        return _create(f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows", workflow, "retraining_workflow", ns)
    name = os.environ.get("SAHAB_RETRAIN_CRONJOB", "retrain")
    cronjob = _call("GET", f"/apis/batch/v1/namespaces/{ns}/cronjobs/{name}")
    job = job_from_cronjob(cronjob, reason, now, key=key, extra_env=lineage)
    return _create(f"/apis/batch/v1/namespaces/{ns}/jobs", job, "retraining_job", ns)


if __name__ == "__main__":
    sys.exit(main())
