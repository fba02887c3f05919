"""Signing the pack's manifest (`SHA256SUMS`), and checking a signature, with or without Sahab.

Three signers, one shape (`public_key_pem()`, `sign(data)`: the signature as the pack stores it):

    LocalSigner     an ed25519 key created 0600 under the state directory (`sahab local`, offline
                    runs); deterministic, so the same inputs give the same signature
    KmsSigner       AWS KMS `Sign` with an asymmetric key in a UAE region (`--sign-key arn:aws:kms:...`);
                    RSA keys sign RSASSA_PKCS1_V1_5_SHA_256 (deterministic), EC keys ECDSA (random: the
                    signature differs between runs, the signed manifest does not)
    KeyVaultSigner  Azure Key Vault `sign` (`--sign-key https://<vault>.vault.azure.net/keys/<name>/<version>`)
                    through DefaultAzureCredential; RS256 or ES256/384 (stored DER, as openssl reads it)

An auditor verifies with openssl alone: `openssl pkeyutl -verify -pubin -inkey public.pem -rawin -in
SHA256SUMS -sigfile SHA256SUMS.sig` (ed25519) or `openssl dgst -sha256 -verify public.pem -signature
SHA256SUMS.sig SHA256SUMS` (RSA, ECDSA P-256); `signing.json` in the pack holds the exact command.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from components.constants import ALL_UAE_REGIONS
from workloads.errors import EXIT_FAILED, SahabError

LOCAL_KEY = "evidence-signing.key"
KMS_RAW_LIMIT = 4096  # KMS Sign takes at most 4096 bytes with MessageType RAW (API_Sign: Message)
KEY_VAULT_API = "7.4"  # checked: learn.microsoft.com rest/api/keyvault/keys/sign (POST .../sign?api-version=7.4)
KEY_VAULT_SCOPE = "https://vault.azure.net/.default"

# How to verify each algorithm with openssl (the pack's signing.json carries the one used).
OPENSSL = {
    "ed25519": "openssl pkeyutl -verify -pubin -inkey public.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig",
    "RSASSA_PKCS1_V1_5_SHA_256": "openssl dgst -sha256 -verify public.pem -signature SHA256SUMS.sig SHA256SUMS",
    "ECDSA_SHA_256": "openssl dgst -sha256 -verify public.pem -signature SHA256SUMS.sig SHA256SUMS",
    "ECDSA_SHA_384": "openssl dgst -sha384 -verify public.pem -signature SHA256SUMS.sig SHA256SUMS",
}


class SigningError(SahabError):
    """The manifest cannot be signed (no key, a key outside the UAE, a refused request). Exit 2."""


class SignatureInvalid(SahabError):
    """A pack's signature does not verify. Exit 1."""

    exit_code = EXIT_FAILED


class Signer(Protocol):
    @property
    def method(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    def public_key_pem(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


def verify(public_pem: bytes, algorithm: str, data: bytes, signature: bytes) -> bool:
    """Whether `signature` (as the pack stores it) is `data` signed by the key `public_pem`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    key = serialization.load_pem_public_key(public_pem)
    try:
        if algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif algorithm == "RSASSA_PKCS1_V1_5_SHA_256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm in ("ECDSA_SHA_256", "ECDSA_SHA_384") and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256() if algorithm == "ECDSA_SHA_256" else hashes.SHA384()))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def fingerprint(public_pem: bytes) -> str:
    """sha256 of the key's DER SubjectPublicKeyInfo: `openssl pkey -pubin -in public.pem -outform DER | sha256sum`."""
    from cryptography.hazmat.primitives import serialization

    der = serialization.load_pem_public_key(public_pem).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


@dataclass
class LocalSigner:
    """An ed25519 key in a PEM file, created 0600 on first use."""

    path: Path
    method: str = "local-ed25519"
    algorithm: str = "ed25519"

    @property
    def key(self) -> str:
        return str(self.path)

    @classmethod
    def at(cls, state_dir: Path) -> LocalSigner:
        signer = cls(Path(state_dir) / LOCAL_KEY)
        signer._private()  # create it now (and refuse a key others can read)
        return signer

    def _private(self) -> Any:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            key = ed25519.Ed25519PrivateKey.generate()
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            return key
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o077:
            raise SigningError(f"{self.path} (signing key): readable by others (mode {mode:o}). Fix: chmod 600 {self.path}")
        loaded = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        if not isinstance(loaded, ed25519.Ed25519PrivateKey):
            raise SigningError(f"{self.path} (signing key): not an ed25519 private key. Fix: move it aside; the next run creates one")
        return loaded

    def public_key_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._private().public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, data: bytes) -> bytes:
        return self._private().sign(data)


def _kms_region(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "kms" or not parts[5].startswith("key/"):
        raise SigningError(f"--sign-key {arn}: not a KMS key ARN. Fix: pass arn:aws:kms:me-central-1:<account>:key/<id> of an asymmetric SIGN_VERIFY key")
    if parts[3] not in ALL_UAE_REGIONS:
        raise SigningError(f"--sign-key {arn}: the key is in {parts[3]}, outside the UAE regions {list(ALL_UAE_REGIONS)}. Fix: sign with a key in me-central-1")
    return parts[3]


@dataclass
class KmsSigner:
    """AWS KMS `Sign` with an asymmetric SIGN_VERIFY key (RSA or ECC NIST P-256/P-384)."""

    key: str
    client: Any = None
    method: str = "aws-kms"
    algorithm: str = ""
    _public: bytes = b""

    def __post_init__(self) -> None:
        region = _kms_region(self.key)
        if self.client is None:
            import boto3

            self.client = boto3.client("kms", region_name=region)
        from cryptography.hazmat.primitives import serialization

        try:
            meta = self.client.describe_key(KeyId=self.key)["KeyMetadata"]
        except Exception as e:  # noqa: BLE001 botocore's errors: the message is the useful part
            raise SigningError(
                f"--sign-key {self.key}: KMS DescribeKey failed: {e}. Fix: give credentials with kms:DescribeKey, kms:GetPublicKey and kms:Sign on the key"
            ) from None
        if meta.get("KeyUsage") != "SIGN_VERIFY":
            raise SigningError(
                f"--sign-key {self.key}: key usage is {meta.get('KeyUsage')}, not SIGN_VERIFY. Fix: create an asymmetric signing key (RSA_3072 signs deterministically)"
            )
        spec = str(meta.get("KeySpec") or meta.get("CustomerMasterKeySpec"))
        self.algorithm = {"ECC_NIST_P256": "ECDSA_SHA_256", "ECC_NIST_P384": "ECDSA_SHA_384"}.get(
            spec, "RSASSA_PKCS1_V1_5_SHA_256" if spec.startswith("RSA_") else ""
        )
        if not self.algorithm:
            raise SigningError(f"--sign-key {self.key}: key spec {spec} is not supported. Fix: use an RSA_2048/3072/4096 or ECC_NIST_P256/P384 key")
        try:
            answer = self.client.get_public_key(KeyId=self.key)
        except Exception as e:  # noqa: BLE001 botocore's errors
            raise SigningError(f"--sign-key {self.key}: KMS GetPublicKey failed: {e}. Fix: allow kms:GetPublicKey on the key to these credentials") from None
        der = answer["PublicKey"]
        self._public = serialization.load_der_public_key(der).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def public_key_pem(self) -> bytes:
        return self._public

    def sign(self, data: bytes) -> bytes:
        # Up to 4096 bytes KMS takes the message itself; beyond, its digest (MessageType DIGEST), which
        # real KMS signs as the same signature. moto 5.2 ignores MessageType (getmoto/moto#10202), so the
        # tests sign manifests under the limit.
        if len(data) <= KMS_RAW_LIMIT:
            request = {"Message": data, "MessageType": "RAW"}
        else:
            digest = hashlib.sha384(data) if self.algorithm == "ECDSA_SHA_384" else hashlib.sha256(data)
            request = {"Message": digest.digest(), "MessageType": "DIGEST"}
        try:
            return bytes(self.client.sign(KeyId=self.key, SigningAlgorithm=self.algorithm, **request)["Signature"])
        except Exception as e:  # noqa: BLE001 botocore's errors
            raise SigningError(f"--sign-key {self.key}: KMS Sign failed: {e}. Fix: allow kms:Sign on the key to these credentials") from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class KeyVaultSigner:
    """Azure Key Vault `sign` on a digest, over the REST API (azure-core, DefaultAzureCredential)."""

    key: str
    credential: Any = None
    connection_verify: str | bool = True
    method: str = "azure-keyvault"
    algorithm: str = ""
    _public: bytes = b""
    _jws: str = ""
    _send: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        from urllib.parse import urlsplit

        url = urlsplit(self.key)
        parts = url.path.strip("/").split("/")
        if url.scheme != "https" or len(parts) != 3 or parts[0] != "keys":
            raise SigningError(f"--sign-key {self.key}: not a Key Vault key id. Fix: pass https://<vault>.vault.azure.net/keys/<name>/<version>")
        doc = self._call("GET", self.key, None)
        jwk = doc.get("key") or {}
        self._public, self.algorithm, self._jws = _jwk_public(jwk, self.key)

    def _call(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        import json

        from azure.core import PipelineClient  # checked: azure-core 1.41.0 azure/core/__init__.py
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy
        from azure.core.rest import HttpRequest

        if self._send is None:
            credential = self.credential
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            client: PipelineClient[Any, Any] = PipelineClient(
                base_url=url, policies=[RetryPolicy(retry_total=2), BearerTokenCredentialPolicy(credential, KEY_VAULT_SCOPE)]
            )
            self._send = lambda request: client.send_request(request, connection_verify=self.connection_verify)
        request = HttpRequest(method, f"{url}?api-version={KEY_VAULT_API}", json=body)
        try:
            response = self._send(request)
        except Exception as e:  # noqa: BLE001 azure-core's transport and credential errors
            raise SigningError(
                f"--sign-key {self.key}: Key Vault {method} failed: {e}. Fix: sign in (az login) with 'Key Vault Crypto User' on the vault"
            ) from None
        if response.status_code != 200:
            raise SigningError(
                f"--sign-key {self.key}: Key Vault answered {response.status_code}: {response.text()[:300]}. Fix: grant keys/get and keys/sign on the key"
            )
        return json.loads(response.text())

    def public_key_pem(self) -> bytes:
        return self._public

    def sign(self, data: bytes) -> bytes:
        digest = hashlib.sha384(data).digest() if self._jws == "ES384" else hashlib.sha256(data).digest()
        raw = _unb64url(str(self._call("POST", f"{self.key}/sign", {"alg": self._jws, "value": _b64url(digest)}).get("value") or ""))
        if self._jws.startswith("ES"):  # JWS signatures are r||s; openssl reads DER
            from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

            half = len(raw) // 2
            return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
        return raw


def _jwk_public(jwk: dict[str, Any], key_id: str) -> tuple[bytes, str, str]:
    """(public PEM, the pack's algorithm name, Key Vault's JWS algorithm) of a Key Vault JSON web key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    kty = str(jwk.get("kty", "")).removesuffix("-HSM")
    if kty == "RSA":
        public: Any = rsa.RSAPublicNumbers(int.from_bytes(_unb64url(jwk["e"]), "big"), int.from_bytes(_unb64url(jwk["n"]), "big")).public_key()
        algorithm, jws = "RSASSA_PKCS1_V1_5_SHA_256", "RS256"
    elif kty == "EC" and jwk.get("crv") in ("P-256", "P-384"):
        curve = ec.SECP256R1() if jwk["crv"] == "P-256" else ec.SECP384R1()
        x, y = (int.from_bytes(_unb64url(jwk[k]), "big") for k in ("x", "y"))
        public = ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
        algorithm, jws = ("ECDSA_SHA_256", "ES256") if jwk["crv"] == "P-256" else ("ECDSA_SHA_384", "ES384")
    else:
        raise SigningError(f"--sign-key {key_id}: key type {jwk.get('kty')} {jwk.get('crv', '')} cannot sign the pack. Fix: use an RSA or EC P-256/P-384 key")
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), algorithm, jws


def signer_for(sign_key: str | None, state_dir: Path) -> Signer:
    """`--sign-key`: a KMS key ARN, a Key Vault key id, or (absent) the local ed25519 key under `state_dir`."""
    if not sign_key:
        return LocalSigner.at(state_dir)
    if sign_key.startswith("arn:"):
        return KmsSigner(sign_key)
    if sign_key.startswith("https://"):
        return KeyVaultSigner(sign_key)
    raise SigningError(
        f"--sign-key {sign_key}: neither a KMS key ARN nor a Key Vault key id. Fix: pass arn:aws:kms:... or https://<vault>.vault.azure.net/keys/<name>/<version>"
    )
