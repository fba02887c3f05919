"""with_secrets.py on AKS: a Key Vault secret read as the pod's workload identity, against a real
HTTPS server on loopback standing in for Entra ID's token endpoint and the vault."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import REPO

SCRIPT = REPO / "components" / "kubernetes" / "scripts" / "with_secrets.py"
SHOW = "import os; print(os.environ['MLFLOW_BACKEND_STORE_URI'])"
TENANT, CLIENT = "5a4a1d1e-0000-4000-8000-00000000ae02", "11111111-2222-4333-8444-555555555555"


def _certificate(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return tmp_path / "cert.pem", tmp_path / "key.pem"


@pytest.fixture
def entra_and_vault(tmp_path):
    """(base URL, requests seen): POST /<tenant>/oauth2/v2.0/token, GET /secrets/registry-db."""
    seen: list[tuple[str, str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code: int, doc: dict) -> None:
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
            seen.append(("POST", self.path, form))
            ok = (
                self.path == f"/{TENANT}/oauth2/v2.0/token"
                and form.get("client_assertion") == "federated-jwt"
                and form.get("client_id") == CLIENT
                and form.get("scope") == "https://vault.azure.net/.default"
                and form.get("grant_type") == "client_credentials"
            )
            self._send(200, {"access_token": "vault-token", "token_type": "Bearer"}) if ok else self._send(400, {"error": "invalid_request"})

        def do_GET(self):
            seen.append(("GET", self.path, {"authorization": self.headers.get("Authorization")}))
            if self.path == "/secrets/registry-db?api-version=7.4" and self.headers.get("Authorization") == "Bearer vault-token":
                self._send(200, {"value": json.dumps({"username": "sahab", "password": "p@ss/w:rd"})})
            else:
                self._send(401, {"error": {"code": "Unauthorized"}})

    cert, key = _certificate(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", seen, cert
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_key_vault_secret_through_workload_identity(entra_and_vault, tmp_path):
    base, seen, cert = entra_and_vault
    (tmp_path / "token").write_text("federated-jwt\n")
    spec = {
        "MLFLOW_BACKEND_STORE_URI": {
            "arn": f"{base}/secrets/registry-db",
            "template": "postgresql://{username_url}:{password_url}@pg:5432/mlflow?sslmode=require",
        }
    }
    env = {
        "PATH": os.environ["PATH"],
        "TMPDIR": str(tmp_path),
        "SAHAB_SECRET_ENV": json.dumps(spec),
        "SSL_CERT_FILE": str(cert),
        "AZURE_CLIENT_ID": CLIENT,
        "AZURE_TENANT_ID": TENANT,
        "AZURE_FEDERATED_TOKEN_FILE": str(tmp_path / "token"),
        "AZURE_AUTHORITY_HOST": f"{base}/",
    }
    out = subprocess.run([sys.executable, str(SCRIPT), sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "postgresql://sahab:p%40ss%2Fw%3Ard@pg:5432/mlflow?sslmode=require", out.stdout
    assert [(m, p.split("?")[0]) for m, p, _ in seen] == [("POST", f"/{TENANT}/oauth2/v2.0/token"), ("GET", "/secrets/registry-db")], seen


def test_missing_workload_identity_is_named(tmp_path):
    spec = {"X": {"arn": "https://sahab.vault.azure.net/secrets/registry-db", "template": "{value}"}}
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "true"],
        env={"PATH": os.environ["PATH"], "SAHAB_SECRET_ENV": json.dumps(spec)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0 and "AZURE_CLIENT_ID" in out.stderr and "azure.workload.identity/use" in out.stderr, out.stderr
