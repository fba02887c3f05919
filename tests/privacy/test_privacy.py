"""workloads/privacy: the UAE recognisers with their checksums, HMAC tokens, the environment's key
(local 0600 file, AWS KMS through moto, Azure Key Vault through a fake speaking its REST API) and
a project's marked columns."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import threading
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from workloads.privacy import patterns
from workloads.privacy.keys import PrivacyKeyError, PrivacySettings, forget_keys, load_key, rotate_key
from workloads.privacy.project import ProjectPrivacy, for_project, pii_problems
from workloads.privacy.scan import scan_bytes, scan_values
from workloads.privacy.tokens import Tokeniser, TokenVersionError

KEY = bytes(range(32))


def emirates_id(body14: str) -> str:
    """A valid Emirates ID from its first 14 digits (the Luhn digit appended), dashed."""
    for c in "0123456789":
        if patterns.luhn_ok(body14 + c):
            d = body14 + c
            return f"{d[:3]}-{d[3:7]}-{d[7:14]}-{d[14]}"
    raise AssertionError("no Luhn digit")


def ae_iban(bank_account19: str) -> str:
    """A valid AE IBAN for 19 digits (bank code + account): check digits from ISO 7064."""
    numeric = int(bank_account19 + str(int("A", 36)) + str(int("E", 36)) + "00")
    return f"AE{98 - numeric % 97:02d}{bank_account19}"


@pytest.fixture(autouse=True)
def _fresh_keys():
    forget_keys()
    yield
    forget_keys()


# --- patterns ---


def test_emirates_id_needs_its_luhn_digit():
    good = emirates_id("78419901234567")
    digits = good.replace("-", "")
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    assert [m.kind for m in patterns.find(f"id {good} on file")] == ["emirates_id"], f"{good} is a valid Emirates ID"
    assert patterns.find(digits)[0].text == digits, "the undashed form is recognised too"
    assert patterns.find(bad) == [], f"{bad}: a wrong check digit is not an Emirates ID"
    assert patterns.find("785-1990-1234567-1") == [], "only 784 (the UAE) starts an Emirates ID"


def test_iban_needs_mod97_and_phone_needs_971():
    iban = ae_iban("0331234567890123456")
    assert patterns.iban_ok(iban), f"{iban}: the helper builds a valid IBAN"
    spaced = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    assert [m.kind for m in patterns.find(f"pay to {spaced} today")] == ["iban"], "an IBAN in groups of four is found"
    wrong = iban[:2] + f"{(int(iban[2:4]) + 1) % 100:02d}" + iban[4:]
    assert patterns.find(wrong) == [], f"{wrong}: a wrong mod-97 check is not an IBAN"
    for phone in ("+971501234567", "+971 50 123 4567", "00971-4-123-4567", "+97141234567"):
        assert [m.kind for m in patterns.find(f"call {phone}.")] == ["phone"], f"{phone} is a UAE phone number"
    assert patterns.find("+966501234567") == [], "a Saudi number is not a +971 one"
    assert [m.kind for m in patterns.find("write to Fatima.Al-Ali@example.ae")] == ["email"], "an e-mail address"


def test_tokens_are_not_reported_as_personal_data():
    tok = Tokeniser(KEY, 1)
    for i in range(3000):
        token = tok.token(f"v{i}")
        assert patterns.scan_text(f"x {token} y") == [], f"{token}: a token is never a finding"


def test_column_names_that_look_personal():
    expected = {
        "emirates_id": "emirates_id",
        "customer_phone": "phone",
        "mobile_number": "phone",
        "email_address": "email",
        "iban": "iban",
        "full_name": "name",
        "home_address": "free_text",
        "amount": None,
        "merchant_category": None,
        "hour_of_day": None,
    }
    got = {c: patterns.kind_by_name(c) for c in expected}
    assert got == expected, "kind_by_name reads personal-data columns by name"


# --- tokens ---


def test_token_is_truncated_hmac_sha256_and_normalised():
    tok = Tokeniser(KEY, 3)
    expected = "tok:v3:" + hmac.new(KEY, b"+971501234567", hashlib.sha256).hexdigest()[:32]
    assert tok.token("+971501234567", "phone") == expected, "a token is HMAC-SHA256 of the normalised value, truncated to 128 bits"
    assert tok.token("00971 50 123 4567", "phone") == expected, "one phone written two ways gets one token"
    assert tok.token(expected, "phone") == expected, "tokenising a token of this version keeps it (idempotent)"
    assert Tokeniser(bytes(reversed(KEY)), 3).token("+971501234567", "phone") != expected, "another environment's key gives another token"
    with pytest.raises(TokenVersionError, match="version 3"):
        Tokeniser(KEY, 4).token(expected)


def test_column_tokens_keep_nulls_and_match_one_by_one():
    tok = Tokeniser(KEY, 1)
    values = ["a@x.ae", None, "b@x.ae", "a@x.ae", float("nan")]
    out = tok.tokens(values, "email")
    assert out[1] is None and out[4] is None, "null stays null"
    assert out[0] == out[3] == tok.token("a@x.ae", "email"), "a column is tokenised as each value would be"
    assert out[2] != out[0], "two values, two tokens"


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("phone", ["+971501234567", "+97142223333", "+5", None]),  # already E.164: the fast path
        ("phone", ["+971501234567", "00971 50 123 4567", "+00971501234567", "+", "", "050-123-4567", "+٩٧١٥٠", None, "n/a"]),
        ("emirates_id", ["784199012345671", "784200112345678", None]),  # digits only: the fast path
        ("emirates_id", ["784-1990-1234567-1", "784199012345671", "", "٧٨٤", None, "unknown"]),
    ],
)
def test_column_normalisation_spells_every_value_as_one_value_is_spelled(kind, values):
    import pyarrow as pa

    from workloads.privacy.patterns import normalise, normalise_array

    column = normalise_array(kind, pa.array(values, type=pa.large_string())).to_pylist()
    assert column == [None if v is None else normalise(kind, v) for v in values], f"{kind}: {values} -> {column}"
    tok = Tokeniser(KEY, 1)
    assert list(tok.tokens(values, kind)) == [None if v is None else tok.token(v, kind) for v in values], f"{kind}: column tokens = one by one"


def test_column_tokens_parallel_equals_serial():
    tok = Tokeniser(KEY, 1)
    values = [f"+9715{i:08d}" for i in range(250_000)]
    try:
        parallel = tok.tokens(values, "phone", workers=2)
    finally:
        tok.close()
    serial = tok.tokens(values[-5:], "phone")
    assert list(parallel[-5:]) == list(serial), "worker processes tokenise exactly as this process does"


def test_tokeniser_does_not_pickle_its_key():
    import pickle

    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(Tokeniser(KEY, 1))
    assert "00" not in repr(Tokeniser(KEY, 1)), "repr shows the version only"


# --- keys: local ---


def test_local_key_is_a_0600_file_created_once(tmp_path):
    key = load_key(PrivacySettings(), tmp_path)
    path = tmp_path / "privacy" / "tokenisation-key.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is readable by its owner only"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, f"{path.parent} is private"
    forget_keys()
    again = load_key(PrivacySettings(), tmp_path)
    assert again.secret == key.secret and again.version == 1, "the second start reads the same key"
    os.chmod(path, 0o644)
    forget_keys()
    with pytest.raises(PrivacyKeyError, match="chmod 600"):
        load_key(PrivacySettings(), tmp_path)


def test_concurrent_first_starts_agree_on_one_key(tmp_path):
    results: list[bytes] = []

    def start() -> None:
        from workloads.privacy import keys

        # Each thread as its own process would: no shared cache.
        data = keys._read(str(tmp_path / "k.json"))
        if data is None:
            _, body = keys._new_object(PrivacySettings(), 1, None)
            keys._create_only(str(tmp_path / "k.json"), body)
        results.append(json.loads(keys._read(str(tmp_path / "k.json")))["key"])

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1, f"eight racing starts read {len(set(results))} different keys"


def test_rotation_writes_a_new_version_and_keeps_the_old(tmp_path):
    first = load_key(PrivacySettings(), tmp_path)
    second = rotate_key(PrivacySettings(), tmp_path)
    assert second.version == first.version + 1 and second.secret != first.secret, "rotation makes version N+1 with a new key"
    archived = tmp_path / "privacy" / "tokenisation-key.v1.json"
    assert json.loads(archived.read_text())["version"] == 1, f"{archived} keeps the old key object for the audit trail"
    assert stat.S_IMODE(archived.stat().st_mode) == 0o600, f"{archived} is private too"


def test_settings_refuse_a_plain_key_in_an_object_store(monkeypatch):
    monkeypatch.setenv("SAHAB_PRIVACY_KEY_URI", "s3://bucket/privacy/key.json")
    with pytest.raises(ValueError, match="SAHAB_PRIVACY_KMS_KEY"):
        PrivacySettings()
    monkeypatch.setenv("SAHAB_PRIVACY_KMS_KEYS", "x")
    with pytest.raises(ValueError, match="did you mean SAHAB_PRIVACY_KMS_KEY"):
        PrivacySettings()


# --- keys: AWS KMS (moto) ---


def test_kms_wrapped_key_in_s3(monkeypatch):
    moto = pytest.importorskip("moto")
    import boto3

    monkeypatch.setenv("AWS_DEFAULT_REGION", "me-central-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="me-central-1")
        s3.create_bucket(Bucket="offline-features", CreateBucketConfiguration={"LocationConstraint": "me-central-1"})
        kms = boto3.client("kms", region_name="me-central-1")
        arn = kms.create_key(Description="data key")["KeyMetadata"]["Arn"]
        settings = PrivacySettings(key_uri="s3://offline-features/privacy/tokenisation-key.json", kms_key=arn, environment="uae-central")
        key = load_key(settings)
        body = json.loads(s3.get_object(Bucket="offline-features", Key="privacy/tokenisation-key.json")["Body"].read())
        assert "key" not in body and body["wrapping"] == "aws-kms", "only the wrapped key is stored"
        assert body["context"] == {"sahab:purpose": "tokenisation", "sahab:environment": "uae-central"}, "the encryption context names the environment"
        blob = base64.b64decode(body["ciphertext"])
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=body["context"])["Plaintext"] == key.secret, "KMS unwraps the stored blob to the key"
        with pytest.raises(Exception, match="InvalidCiphertext"):
            kms.decrypt(CiphertextBlob=blob, EncryptionContext={"sahab:purpose": "tokenisation", "sahab:environment": "uae-north"})
        forget_keys()
        assert load_key(settings).secret == key.secret, "a second workload unwraps the same key"
        forget_keys()
        other = PrivacySettings(key_uri=settings.key_uri, kms_key=arn, environment="uae-north")
        with pytest.raises(PrivacyKeyError, match="belongs to"):
            load_key(other)
        # A lost race: the object exists when the create-only write happens.
        from workloads.privacy import keys

        assert keys._create_only(settings.key_uri, b"{}") is False, "S3's If-None-Match: * keeps the first key"


# --- keys: Azure Key Vault (a fake speaking its REST API) ---


class FakeVault:
    """wrapkey / unwrapkey of Key Vault REST 7.4 with an RSA-2048 key, RSA-OAEP-256."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.calls: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        assert request.headers["authorization"] == "Bearer fake-token", "the workload identity's token is sent"
        assert request.url.params["api-version"] == "7.4"
        body = json.loads(request.content)
        assert body["alg"] == "RSA-OAEP-256"
        value = base64.urlsafe_b64decode(body["value"] + "=" * (-len(body["value"]) % 4))
        oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        op = request.url.path.rsplit("/", 1)[-1]
        self.calls.append(op)
        out = self.private.public_key().encrypt(value, oaep) if op == "wrapkey" else self.private.decrypt(value, oaep)
        kid = "https://kv.vault.azure.net/keys/sahab-data/0123abcd"
        return httpx.Response(200, json={"kid": kid, "value": base64.urlsafe_b64encode(out).rstrip(b"=").decode()})


class FakeCredential:
    def get_token(self, scope: str):
        assert scope == "https://vault.azure.net/.default"
        return type("T", (), {"token": "fake-token"})()


def test_key_vault_wrapped_key(tmp_path):
    vault = FakeVault()
    http = httpx.Client(transport=httpx.MockTransport(vault.handler))
    uri = str(tmp_path / "store" / "tokenisation-key.json")
    settings = PrivacySettings(key_uri=uri, vault_key="https://kv.vault.azure.net/keys/sahab-data", environment="uae-north")
    key = load_key(settings, vault_http=http, vault_credential=FakeCredential())
    body = json.loads(Path(uri).read_text())
    assert body["wrapping"] == "azure-keyvault" and "key" not in body, "only the wrapped key is stored"
    assert body["vault_key"].endswith("/0123abcd"), "the key version that wrapped it is recorded (unwrap uses it)"
    forget_keys()
    assert load_key(settings, vault_http=http, vault_credential=FakeCredential()).secret == key.secret, "unwrapKey returns the same key"
    assert vault.calls == ["wrapkey", "unwrapkey", "unwrapkey"], f"Key Vault calls: {vault.calls}"
    forget_keys()
    other = PrivacySettings(key_uri=uri, vault_key=settings.vault_key, environment="uae-central")
    with pytest.raises(PrivacyKeyError):
        load_key(other, vault_http=http, vault_credential=FakeCredential())


# --- a project's marked columns ---


def _spec(**entity):
    from workloads.project.spec import validate_project

    raw = {
        "name": "kyc-risk",
        "team": "risk",
        "entity": {"name": "customer", "key": "customer_phone", "dtype": "string", "pii": "phone", **entity},
        "label": {"column": "flagged", "task": "binary"},
        "features": [
            {"name": "amount", "type": "numeric"},
            {"name": "emirates_id", "type": "categorical", "pii": "emirates_id"},
            {"name": "email", "type": "categorical", "pii": "email"},
            {"name": "note", "type": "categorical", "pii": "free_text"},
        ],
        "feature_views": [{"name": "kyc", "features": ["amount", "emirates_id", "email", "note"]}],
        "training": {"framework": "lightgbm"},
        "evaluation": {"gate": {"primary": {"metric": "auc", "min": 0.5}}},
    }
    return validate_project(raw)


def test_project_frame_and_records_are_tokenised():
    spec = _spec()
    privacy = ProjectPrivacy(spec, Tokeniser(KEY, 1))
    eid = emirates_id("78419851234567")
    frame = pd.DataFrame(
        {
            "customer_phone": ["+971501234567", "+971 50 123 4567"],
            "amount": [1.0, 2.0],
            "emirates_id": [eid, None],
            "email": ["a@b.ae", "A@B.AE"],
            "note": [f"called +971509876543 about {eid}", "no identifiers here"],
        }
    )
    out = privacy.frame(frame)
    assert out["customer_phone"][0] == out["customer_phone"][1], "one phone, two spellings, one token (joins keep working)"
    assert out["email"][0] == out["email"][1], "e-mail is case-folded before tokenising"
    assert out["emirates_id"][1] is None and out["amount"].tolist() == [1.0, 2.0], "nulls and unmarked columns are kept"
    assert "+97150" not in out["note"][0] and eid not in out["note"][0] and out["note"][0].startswith("called tok:v1:"), f"free text masked: {out['note'][0]!r}"
    assert out["note"][1] == "no identifiers here", "the rest of a text is kept"
    assert Tokeniser(KEY, 1).token(eid, "emirates_id") in out["note"][0], "an ID in a note gets the ID column's token"
    assert frame["email"][0] == "a@b.ae", "the input frame is not modified"
    hits = [h for c in out.columns for h in scan_values(out[c].tolist(), "frame", c)]
    assert hits == [], f"no clear personal data is left: {hits}"
    records = privacy.records([{"amount": 3.0, "emirates_id": eid, "email": None, "note": None}])
    assert records[0]["emirates_id"] == out["emirates_id"][0] and records[0]["amount"] == 3.0, "serving tokenises a request as ingestion does"
    assert privacy.key("+971501234567") == out["customer_phone"][0], "the entity key as serving and the control plane store it"


def test_free_text_drop_and_problems():
    from workloads.project.spec import validate_project

    spec = _spec()
    raw = spec.model_dump(mode="json")
    raw["features"][3]["pii_text"] = "drop"
    dropped = ProjectPrivacy(validate_project(raw), Tokeniser(KEY, 1)).frame(pd.DataFrame({"note": ["call +971501234567"]}))
    assert dropped["note"][0] is None, "pii_text: drop stores null"
    raw["entity"]["dtype"] = "int64"
    raw["features"][1]["type"] = "numeric"
    problems = pii_problems(validate_project(raw))
    assert any("entity.dtype: string" in p for p in problems), f"an int64 key cannot hold a token: {problems}"
    assert any("'emirates_id'" in p and "numeric" in p for p in problems), f"a numeric pii feature is named: {problems}"


def test_for_project_without_pii_loads_no_key(tmp_path):
    from workloads.project import load_project

    project = load_project(Path(__file__).resolve().parents[2] / "projects" / "delivery-time")
    assert for_project(project, tmp_path) is None, "a project that marks nothing gets no tokeniser"
    assert not (tmp_path / "privacy").exists(), "and no key is created for it"


def test_scan_finds_clear_values_in_parquet_and_text():
    import pyarrow as pa
    import pyarrow.parquet as pq

    eid = emirates_id("78420001234567")
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": [int(eid.replace("-", ""))], "mail": ["x@y.ae"], "ok": ["tok:v1:" + "0" * 32]}), sink)
    hits = scan_bytes(sink.getvalue().to_pybytes(), "s3://b/x.parquet")
    assert {(h.column, h.kind) for h in hits} == {("id", "emirates_id"), ("mail", "email")}, f"hits name the column: {hits}"
    assert all(eid not in str(h) and "x@y.ae" not in str(h) for h in hits), "a finding never shows the value"
    assert scan_bytes(json.dumps({"note": "+971501234567"}).encode(), "log.json")[0].kind == "phone", "text objects are scanned too"
    assert np.all([h.count == 1 for h in hits]), "one value each"
