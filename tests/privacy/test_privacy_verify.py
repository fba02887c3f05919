"""`sahab verify local`'s personal-data scan (sahab/ops/verify/privacy.py, issue 22): each served
project's offline store and prediction log, read as the platform stored them; 0 hits passes, a
clear value fails naming the object and the column, never showing the value."""

from __future__ import annotations

import pandas as pd

from sahab.ops.verify.privacy import CHECK_ID, privacy_checks
from workloads.privacy.tokens import Tokeniser

PHONE, EID = "+971501234567", "784-1990-1234567-6"  # the Emirates ID's Luhn digit checks out


def _project(home, name: str, phone_column: list[str]) -> None:
    feast = home / "projects" / name / "feast" / "offline" / "batch"
    log = home / "projects" / name / "serving-log" / "date=2026-12-01" / "hour=10"
    feast.mkdir(parents=True)
    log.mkdir(parents=True)
    pd.DataFrame({"key": ["tok:v1:" + "0" * 32] * len(phone_column), "phone": phone_column}).to_parquet(feast / "rows.parquet")
    pd.DataFrame({"key": ["a"], "score": [0.5], "notes": ["nothing personal here"]}).to_parquet(log / "part-1.parquet")


def test_clean_stores_pass_and_a_clear_value_fails_naming_object_and_column(tmp_path):
    home = tmp_path / "home"
    token = Tokeniser(b"k" * 32, 1).token(PHONE, "phone")
    _project(home, "clean", [token, token])
    _project(home, "leaky", [token, PHONE])
    (home / "projects" / "leaky" / "serving-log" / "date=2026-12-01" / "hour=10" / "debug.log").write_text(f"scored customer {EID}\n")
    checks = privacy_checks({"clean": {"SAHAB_HOME": str(home)}, "leaky": {"SAHAB_HOME": str(home)}})
    assert {c.id for c in checks} == {CHECK_ID} and len(checks) == 4, [c.name for c in checks]
    results = {c.subject.split(" ", 1)[0] + " " + c.subject.split(" ")[1]: c.run() for c in checks}
    assert results["clean offline"] == [] and results["clean prediction"] == [], f"tokens and plain text are not personal data: {results}"
    offline = results["leaky offline"]
    assert len(offline) == 1 and "rows.parquet (leaky offline store): column 'phone' holds 1 phone value(s) in clear" in offline[0], offline
    log = results["leaky prediction"]
    assert len(log) == 1 and "debug.log (leaky prediction log): holds 1 emirates_id value(s) in clear" in log[0], log
    assert all(PHONE not in p and EID not in p and "Fix:" in p for p in offline + log), "the report names where, never the value"


def test_a_location_that_cannot_be_read_fails_with_the_reason(tmp_path):
    (check,) = privacy_checks(
        {"p": {"SAHAB_FEAST_URI": "s3://no-such-bucket/feast/p", "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "me-central-1"}}
    )[:1]
    found = check.run()
    assert len(found) == 1 and "cannot be read to look for personal data" in found[0], found
