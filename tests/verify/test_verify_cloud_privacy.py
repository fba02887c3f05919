"""The cloud part of `sahab verify` scans what the deployed platform stored for UAE personal data
(issue 22): each project's offline store, prediction log and lake prefix, found in the plan.

Driven through the public path, `checks_for("cloud", ctx)` with the real plan of uae-central (AWS,
moto's S3: the session's `s3_server`) and of uae-north (Azure, Azurite: the session's
`azurite_server`). The deployed bucket (container) names differ from the plan's, as after a real
`up`: the checks must read the stack outputs' names. A clear +971 number and an Emirates ID with a
valid Luhn digit fail naming the object and the column, never the value; tokens only pass.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any

import pandas as pd
import pytest
from servers import azurite_server, s3_server  # noqa: F401  (pytest fixtures)

from sahab.ops.verify.parts import checks_for
from sahab.ops.verify.privacy import CLOUD_CHECK_ID, project_locations
from workloads.privacy.tokens import Tokeniser

PHONE, EID = "+971501234567", "784-1990-1234567-6"  # the Emirates ID's Luhn digit checks out
TOKEN = Tokeniser(b"k" * 32, 1).token(PHONE, "phone")
REGION = "me-central-1"
ROWS = "feast/delivery-time/offline/batch/rows.parquet"


def _parquet(clear: bool) -> bytes:
    frame = pd.DataFrame(
        {
            "customer": ["tok:v1:" + "0" * 32, "tok:v1:" + "1" * 32],
            "phone": [PHONE if clear else TOKEN, TOKEN],
            "emirates_id": [EID if clear else TOKEN, TOKEN],
            "minutes": [31.5, 12.0],
        }
    )
    buf = io.BytesIO()
    frame.to_parquet(buf)
    return buf.getvalue()


def _privacy(ctx: dict[str, Any]) -> dict[str, list[str]]:
    checks = checks_for("cloud", ctx)
    assert not isinstance(checks, str), f"the cloud part must run here: {checks}"
    privacy = [c for c in checks if c.id == CLOUD_CHECK_ID]
    assert privacy, f"the cloud part has no {CLOUD_CHECK_ID} check: {sorted({c.id for c in checks})}"
    return {c.subject: c.run() for c in privacy}


# --- AWS: the uae-central plan, moto's S3 -----------------------------------------------------------


@pytest.fixture(scope="module")
def central(uae_plan, tmp_path_factory) -> tuple[str, dict[str, Any]]:
    plan = uae_plan.to_json()
    path = tmp_path_factory.mktemp("central") / "plan.json"
    path.write_text(json.dumps(plan))
    return str(path), plan


@pytest.fixture
def s3(s3_server, monkeypatch):
    import boto3

    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.url)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return boto3.client("s3", region_name=REGION, endpoint_url=s3_server.url, aws_access_key_id="testing", aws_secret_access_key="testing")


def _deploy(s3, clear: bool) -> dict[str, str]:
    """The offline-features and data-lake buckets under fresh names (moto is shared by the session)."""
    names = {"offline-features": f"live-features-{uuid.uuid4().hex[:12]}", "data-lake": f"live-lake-{uuid.uuid4().hex[:12]}"}
    for name in names.values():
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=names["offline-features"], Key=ROWS, Body=_parquet(clear))
    s3.put_object(Bucket=names["offline-features"], Key="serving-log/delivery-time/date=2026-12-01/hour=10/part-0.jsonl", Body=b'{"score": 0.5}\n')
    s3.put_object(Bucket=names["data-lake"], Key="transaction-risk/raw/2026-12-01.csv", Body=f"txn,amount,customer\n1,20.0,{TOKEN}\n".encode())
    return names


def _ctx(central, names: dict[str, str]) -> dict[str, Any]:
    path, _ = central
    return {
        "target": "uae-central",
        "plan": path,
        "parts": ["cloud"],
        "scan_regions": [REGION],
        "outputs": {"environment": "uae-central", "region": REGION, "bucket_names": names},
    }


def test_the_plan_names_each_projects_offline_store_prediction_log_and_lake(central):
    _, plan = central
    found = project_locations(plan)
    lake = plan["outputs"]["bucket_names"]["data-lake"]
    features = plan["outputs"]["bucket_names"]["offline-features"]
    assert found["delivery-time"] == [
        ("offline store", f"s3://{features}/feast/delivery-time/"),
        ("prediction log", f"s3://{features}/serving-log/delivery-time/"),
        ("lake", f"s3://{lake}/delivery-time/"),
    ], f"plan.json: delivery-time's SAHAB_FEAST_S3_URI, SAHAB_SERVING_PREDICTION_LOG_URI and data-lake prefix: {found}"
    assert set(found) == {"delivery-time", "transaction-risk"}, f"plan.json: one entry per project labelled sahab.ae/project: {sorted(found)}"


def test_aws_clear_personal_data_fails_naming_object_and_column(s3, central):
    names = _deploy(s3, clear=True)
    started = time.perf_counter()
    results = _privacy(_ctx(central, names))
    assert len(results) == 6, f"one {CLOUD_CHECK_ID} check per project location (2 projects x 3): {sorted(results)}"
    offline = results[f"delivery-time offline store s3://{names['offline-features']}/feast/delivery-time/"]
    where = f"s3://{names['offline-features']}/{ROWS}"
    assert len(offline) == 2, f"{where}: one problem per column holding clear values: {offline}"
    assert any(p.startswith(f"{where} (delivery-time offline store): column 'phone' holds 1 phone value(s) in clear") for p in offline), offline
    assert any(p.startswith(f"{where} (delivery-time offline store): column 'emirates_id' holds 1 emirates_id value(s) in clear") for p in offline), offline
    assert all(PHONE not in p and EID not in p and "1234567" not in p and "Fix:" in p for p in offline), f"{where}: the report names where, never the value"
    others = {subject: found for subject, found in results.items() if "delivery-time offline store" not in subject}
    assert all(found == [] for found in others.values()), f"tokens, scores and empty prefixes are no personal data: {others}"
    assert time.perf_counter() - started < 10, "six locations scan in seconds"


def test_aws_tokens_only_pass(s3, central):
    names = _deploy(s3, clear=False)
    results = _privacy(_ctx(central, names))
    assert results and all(found == [] for found in results.values()), f"{CLOUD_CHECK_ID}: tokens only must pass every location: {results}"


def test_aws_a_bucket_that_is_not_there_fails_with_the_grant_to_give(s3, central):
    names = _deploy(s3, clear=False)
    del names["data-lake"]  # the outputs lack it: the plan's (offline engine's) name, which no one created
    _, plan = central
    planned = plan["outputs"]["bucket_names"]["data-lake"]
    results = _privacy(_ctx(central, names))
    lake = results[f"transaction-risk lake s3://{planned}/transaction-risk/"]
    assert len(lake) == 1 and "cannot be read to look for personal data" in lake[0] and f"bucket '{planned}' does not exist" in lake[0], lake
    assert f"s3:ListBucket on arn:aws:s3:::{planned}" in lake[0], f"s3://{planned}: the fix names the permission to grant: {lake[0]}"


# --- Azure: the uae-north plan, Azurite ------------------------------------------------------------


class _StaticToken:
    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        return AccessToken("unused", int(time.time()) + 3600)


@pytest.fixture
def azure(repo, azurite_server, monkeypatch, tmp_path):
    """The uae-north plan with Azurite's account in place of the plan's (Azurite serves only its
    own), the emulator override in the environment, and fresh containers for the two purposes.
    The Resource Manager client is built without a sign-in (the ARM checks are not run here:
    tests/verify/test_verify_azure.py runs them); the scan reads with workloads/storage.py's reader."""
    from azure.storage.blob import BlobServiceClient

    from sahab.engine.offline import plan_environment
    from sahab.ops.verify import cloud_azure

    for key, value in azurite_server.env.items():
        monkeypatch.setenv(key, value)
    text = json.dumps(plan_environment(repo, "uae-north").to_json())
    planned = project_locations(json.loads(text))["delivery-time"][0][1]
    account = planned.split("@", 1)[1].split(".", 1)[0]
    path = tmp_path / "plan.json"
    path.write_text(text.replace(account, "devstoreaccount1"))
    monkeypatch.setattr(
        cloud_azure, "arm_from_environment", lambda sub: cloud_azure.Arm(subscription=sub or "0", credential=_StaticToken(), endpoint="https://127.0.0.1:9")
    )
    client = BlobServiceClient.from_connection_string(azurite_server.env["AZURE_STORAGE_CONNECTION_STRING"])
    names = {"offline-features": f"features{uuid.uuid4().hex[:12]}", "data-lake": f"lake{uuid.uuid4().hex[:12]}"}
    containers = {purpose: client.create_container(name) for purpose, name in names.items()}
    ctx = {"target": "uae-north", "plan": str(path), "parts": ["cloud"], "outputs": {"environment": "uae-north", "region": "uaenorth", "bucket_names": names}}
    return ctx, names, containers


def test_azure_clear_personal_data_fails_and_tokens_pass(azure):
    ctx, names, containers = azure
    containers["offline-features"].upload_blob(ROWS, _parquet(clear=True))
    containers["data-lake"].upload_blob("delivery-time/raw/orders.csv", f"order,customer\n1,{TOKEN}\n".encode())
    results = _privacy(ctx)
    base = f"abfss://{names['offline-features']}@devstoreaccount1.dfs.core.windows.net"
    offline = results[f"delivery-time offline store {base}/feast/delivery-time/"]
    assert len(offline) == 2 and all(p.startswith(f"{base}/{ROWS} (delivery-time offline store): column ") for p in offline), offline
    assert {p.split("column ", 1)[1].split(" ", 1)[0] for p in offline} == {"'phone'", "'emirates_id'"}, f"{base}/{ROWS}: both columns named: {offline}"
    assert all(PHONE not in p and EID not in p for p in offline), f"{base}/{ROWS}: the report never shows the value"
    others = {s: f for s, f in results.items() if "delivery-time offline store" not in s}
    assert len(others) == 5 and all(f == [] for f in others.values()), f"the other locations hold tokens or nothing: {others}"

    containers["offline-features"].upload_blob(ROWS, _parquet(clear=False), overwrite=True)
    results = _privacy(ctx)
    assert all(found == [] for found in results.values()), f"{base}/{ROWS}: tokens only must pass: {results}"
