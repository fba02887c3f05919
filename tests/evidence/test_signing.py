"""The manifest's signers: the local ed25519 key (0600, refused when others can read it), AWS KMS
`Sign` against moto's KMS (asymmetric SIGN_VERIFY keys: moto 5.2 implements Sign, Verify and
GetPublicKey for RSA and ECC keys), and Azure Key Vault `sign` against a fake Key Vault over HTTPS
(bearer token required, the REST shapes of api-version 7.4). Every signature is checked with openssl
as an auditor would, from the pack alone."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from evidence_helpers import local_pack

from sahab.evidence import pack as evidence_pack
from sahab.evidence import signing
from sahab.evidence.signing import KeyVaultSigner, LocalSigner, SigningError


def openssl_verifies(pack_dir) -> subprocess.CompletedProcess:
    command = json.loads((pack_dir / "signing.json").read_text())["verify"]
    return subprocess.run(command.split(), cwd=pack_dir, capture_output=True, text=True)


def test_the_local_key_is_created_0600_and_refused_when_others_can_read_it(tmp_path):
    signer = LocalSigner.at(tmp_path / "state")
    key = tmp_path / "state" / signing.LOCAL_KEY
    assert key.stat().st_mode & 0o777 == 0o600, f"{key}: mode {key.stat().st_mode & 0o777:o}"
    assert LocalSigner.at(tmp_path / "state").public_key_pem() == signer.public_key_pem(), "the key is reused, not replaced"
    key.chmod(0o644)
    with pytest.raises(SigningError, match=r"readable by others \(mode 644\). Fix: chmod 600"):
        LocalSigner.at(tmp_path / "state")


@pytest.fixture
def kms(monkeypatch):
    from moto import mock_aws

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "me-central-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        import boto3

        yield boto3.client("kms", region_name="me-central-1")


def test_a_kms_rsa_key_signs_a_reproducible_pack_openssl_verifies(kms, tmp_path):
    arn = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048", Description="evidence")["KeyMetadata"]["Arn"]
    first = local_pack(tmp_path, "first", sign_key=arn)
    second = local_pack(tmp_path, "second", sign_key=arn)
    info = json.loads((first.out / "signing.json").read_text())
    assert info["method"] == "aws-kms" and info["key"] == arn and info["algorithm"] == "RSASSA_PKCS1_V1_5_SHA_256", info
    ssl_check = openssl_verifies(first.out)
    assert ssl_check.returncode == 0 and "Verified OK" in ssl_check.stdout, f"{info['verify']}: {ssl_check.stdout}{ssl_check.stderr}"
    assert evidence_pack.check(first.out).signing["method"] == "aws-kms"
    for name in ("SHA256SUMS", "SHA256SUMS.sig", "public.pem"):
        assert (first.out / name).read_bytes() == (second.out / name).read_bytes(), f"{name}: RSA PKCS#1 v1.5 signs deterministically"


def test_a_kms_ecc_key_signs_with_ecdsa(kms, tmp_path):
    arn = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
    pack = local_pack(tmp_path, sign_key=arn)
    assert json.loads((pack.out / "signing.json").read_text())["algorithm"] == "ECDSA_SHA_256"
    assert openssl_verifies(pack.out).returncode == 0, "openssl dgst -sha256 -verify accepts KMS's DER ECDSA signature"


def test_a_kms_key_outside_the_uae_or_not_for_signing_is_refused(kms):
    with pytest.raises(SigningError, match=r"the key is in us-east-1, outside the UAE regions .* Fix: sign with a key in me-central-1"):
        signing.KmsSigner("arn:aws:kms:us-east-1:123456789012:key/abc")
    symmetric = kms.create_key(KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["Arn"]
    with pytest.raises(SigningError, match="key usage is ENCRYPT_DECRYPT, not SIGN_VERIFY"):
        signing.KmsSigner(symmetric)
    with pytest.raises(SigningError, match="neither a KMS key ARN nor a Key Vault key id"):
        signing.signer_for("alias/evidence", state_dir=None)  # type: ignore[arg-type] (refused before the state dir is used)


class StaticToken:
    """A bearer token the fake accepts (the credential chain is not what these cases test)."""

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        assert scopes == (signing.KEY_VAULT_SCOPE,), scopes
        return AccessToken("fake-kv-token", int(time.time()) + 3600)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _self_signed(directory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "kv.pem", directory / "kv.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(params=["EC", "RSA"])
def key_vault(request, tmp_path):
    """A Key Vault holding one key `evidence/v1` (EC P-256 or RSA 2048) on https://127.0.0.1:<port>."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    if request.param == "EC":
        private: Any = ec.generate_private_key(ec.SECP256R1())
        nums = private.public_key().public_numbers()
        jwk = {"kty": "EC-HSM", "crv": "P-256", "x": _b64url(nums.x.to_bytes(32, "big")), "y": _b64url(nums.y.to_bytes(32, "big"))}
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        nums = private.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": _b64url(nums.n.to_bytes(256, "big")), "e": _b64url(nums.e.to_bytes(3, "big"))}
    calls: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status: int, doc: dict) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _authorised(self) -> bool:
            calls.append((self.command, self.path))
            if self.headers.get("Authorization") != "Bearer fake-kv-token" or not self.path.endswith("?api-version=7.4"):
                self._answer(401, {"error": {"code": "Unauthorized"}})
                return False
            return True

        def do_GET(self):
            if self._authorised():
                self._answer(
                    200,
                    {"key": {"kid": f"{url}/keys/evidence/v1", **jwk}} if self.path.startswith("/keys/evidence/v1?") else {"error": {"code": "KeyNotFound"}},
                )

        def do_POST(self):
            if not self._authorised():
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            digest = base64.urlsafe_b64decode(body["value"] + "==")
            if body["alg"] == "ES256":
                r, s = utils.decode_dss_signature(private.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256()))))
                raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS: r || s
            else:
                raw = private.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
            self._answer(200, {"kid": f"{url}/keys/evidence/v1", "value": _b64url(raw)})

    cert, key = _self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": url, "cert": str(cert), "calls": calls, "kind": request.param}
    server.shutdown()
    server.server_close()


def test_a_key_vault_key_signs_a_pack_openssl_verifies(key_vault, tmp_path, monkeypatch):
    key_id = f"{key_vault['url']}/keys/evidence/v1"
    signer = KeyVaultSigner(key_id, credential=StaticToken(), connection_verify=key_vault["cert"])
    assert signer.algorithm == ("ECDSA_SHA_256" if key_vault["kind"] == "EC" else "RSASSA_PKCS1_V1_5_SHA_256"), signer.algorithm
    monkeypatch.setattr(signing, "signer_for", lambda sign_key, state_dir: signer)
    pack = local_pack(tmp_path, sign_key=key_id)
    info = json.loads((pack.out / "signing.json").read_text())
    assert info["method"] == "azure-keyvault" and info["key"] == key_id, info
    checked = openssl_verifies(pack.out)
    assert checked.returncode == 0 and "Verified OK" in checked.stdout, f"{info['verify']}: {checked.stdout}{checked.stderr}"
    evidence_pack.check(pack.out)
    assert ("POST", "/keys/evidence/v1/sign?api-version=7.4") in key_vault["calls"], key_vault["calls"]


def test_key_vault_errors_name_the_key_and_the_fix(key_vault):
    with pytest.raises(SigningError, match=r"Key Vault answered 401: .*Fix: grant keys/get and keys/sign"):
        KeyVaultSigner(f"{key_vault['url']}/keys/evidence/v1", credential=_Wrong(), connection_verify=key_vault["cert"])
    with pytest.raises(SigningError, match=r"not a Key Vault key id. Fix: pass https://<vault>.vault.azure.net/keys/<name>/<version>"):
        KeyVaultSigner("https://vault.example/secrets/x", credential=StaticToken())


class _Wrong:
    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        return AccessToken("someone-else", int(time.time()) + 3600)
