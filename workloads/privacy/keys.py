"""The environment's tokenisation key: generated once, stored wrapped, unwrapped by the workload at start.

    key = load_key(PrivacySettings(), home)      # TokenKey(version, secret), cached per process
    python -m workloads.privacy init|show|rotate  # the same from a shell

Where it lives (SAHAB_PRIVACY_*, `PrivacySettings`):

    AWS     SAHAB_PRIVACY_KEY_URI=s3://<offline-features>/privacy/tokenisation-key.json, SAHAB_PRIVACY_KMS_KEY=<the
            environment's data key ARN>: the key is a KMS data key (`GenerateDataKey`, AES_256) whose
            CiphertextBlob is stored; `Decrypt` unwraps it. Both carry the encryption context
            {"sahab:purpose": "tokenisation", "sahab:environment": <SAHAB_PRIVACY_ENVIRONMENT>}, so the
            blob of one environment does not decrypt as another's, and CloudTrail logs every unwrap with it.
    Azure   SAHAB_PRIVACY_KEY_URI=abfss://.../privacy/tokenisation-key.json, SAHAB_PRIVACY_VAULT_KEY=https://<vault>.vault.azure.net/keys/<name>:
            32 random bytes wrapped with the vault's RSA key (`wrapKey`, RSA-OAEP-256) by the workload's
            identity (DefaultAzureCredential), unwrapped with `unwrapKey`. RSA wrapping has no encryption
            context, so the wrapped value is the key followed by 16 bytes of SHA-256 of the context,
            checked on unwrap: it binds the blob to its environment the same way.
    local   neither: `<SAHAB_HOME>/privacy/tokenisation-key.json` in clear, mode 0600 in a 0700 folder
            (`sahab local`, tests). A key file readable by others is refused.

Generated once: the first workload that needs the key and finds none creates it with a create-only
write (S3 `If-None-Match: *`, Blob `overwrite=False`, a local hard link), then reads back what is
stored, so two pods starting together agree on one key. `rotate` writes version N+1 (the old object
kept beside it as `<name>.v<N>.json` for the audit trail); data tokenised before keeps its old tokens
(`tok:v<N>:`), which is how a rotation shows in the data and its lineage.

checked: boto3 1.43 KMS `generate_data_key(KeyId, KeySpec, EncryptionContext)` / `decrypt(CiphertextBlob,
EncryptionContext, KeyId)` and S3 `put_object(IfNoneMatch="*")` (botocore data kms/2014-11-01 and
s3/2006-03-01 service-2.json); moto 5.2.5 kms/models.py binds the context as AES-GCM AAD;
Key Vault REST 7.4 `POST {key-id}/wrapkey|unwrapkey` with `{"alg": "RSA-OAEP-256", "value": base64url}`
(learn.microsoft.com/rest/api/keyvault/keys/wrap-key), scope `https://vault.azure.net/.default`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from workloads import storage
from workloads.errors import SahabError
from workloads.settings import StrictEnvSettings

KEY_FILE = "tokenisation-key.json"
FORMAT = 1
KEY_BYTES = 32
PURPOSE = "tokenisation"
VARIABLE = "SAHAB_PRIVACY_KEY_URI"


class PrivacyKeyError(SahabError):
    """The tokenisation key cannot be read, unwrapped or created (the message names the object and the fix)."""

    exit_code = 1


class PrivacySettings(StrictEnvSettings):
    """Where the environment's tokenisation key is (module docstring)."""

    model_config = SettingsConfigDict(env_prefix="SAHAB_PRIVACY_", frozen=True, extra="forbid")

    key_uri: str | None = None
    """The wrapped key object (s3://, abfss:// or a path); default `<SAHAB_HOME>/privacy/tokenisation-key.json`."""
    kms_key: str | None = None
    """AWS: the KMS key (ARN, id or alias) that wraps it."""
    vault_key: str | None = None
    """Azure: the Key Vault key URL (`https://<vault>.vault.azure.net/keys/<name>[/<version>]`) that wraps it."""
    environment: str = "local"
    """The environment's name: in the encryption context, so one environment's key never unwraps as another's."""

    @field_validator("key_uri")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        if value is not None:
            storage.parse(value, VARIABLE)
        return value

    @field_validator("vault_key")
    @classmethod
    def _vault(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("https://") and "/keys/" in value):
            raise ValueError(f"SAHAB_PRIVACY_VAULT_KEY={value!r} is not a Key Vault key URL (https://<vault>.vault.azure.net/keys/<name>)")
        return value

    @model_validator(mode="after")
    def _one_wrapper(self) -> PrivacySettings:
        if self.kms_key and self.vault_key:
            raise ValueError("SAHAB_PRIVACY_KMS_KEY and SAHAB_PRIVACY_VAULT_KEY are both set; an environment's key is wrapped by one (AWS KMS or Key Vault)")
        if self.key_uri and storage.is_remote(self.key_uri) and not (self.kms_key or self.vault_key):
            raise ValueError(
                f"SAHAB_PRIVACY_KEY_URI={self.key_uri} is an object store, where a key is only kept wrapped: set SAHAB_PRIVACY_KMS_KEY (AWS) "
                "or SAHAB_PRIVACY_VAULT_KEY (Azure)"
            )
        return self

    @property
    def wrapping(self) -> str:
        return "aws-kms" if self.kms_key else "azure-keyvault" if self.vault_key else "none"

    def context(self) -> dict[str, str]:
        """The encryption context that binds the wrapped key to its environment and purpose."""
        return {"sahab:purpose": PURPOSE, "sahab:environment": self.environment}

    def uri(self, home: str | Path | None) -> str:
        if self.key_uri:
            return self.key_uri
        if home is None:
            from workloads.settings import SahabSettings

            home = SahabSettings().home
        return str(Path(home).expanduser().resolve() / "privacy" / KEY_FILE)


@dataclass(frozen=True)
class TokenKey:
    version: int
    secret: bytes = field(repr=False)
    uri: str = ""
    wrapping: str = "none"
    created_at: str = ""

    def describe(self) -> dict[str, Any]:
        """What an auditor may see: everything but the key (its fingerprint is an HMAC of a fixed
        label, which says whether two places hold the same key without revealing it)."""
        import hmac

        fingerprint = hmac.new(self.secret, b"sahab tokenisation key fingerprint", hashlib.sha256).hexdigest()[:16]
        return {"version": self.version, "uri": self.uri, "wrapping": self.wrapping, "created_at": self.created_at, "fingerprint": fingerprint}


# --- wrapping ---


class KmsWrapper:
    """AWS KMS: a data key from GenerateDataKey, unwrapped by Decrypt, both under the encryption context."""

    def __init__(self, key_id: str, context: dict[str, str], client: Any = None) -> None:
        self.key_id, self.context = key_id, context
        if client is None:
            import boto3  # the `aws` extra: workload images have it

            client = boto3.client("kms")  # region and endpoint (AWS_ENDPOINT_URL_KMS) from the environment
        self.client = client

    def new(self) -> tuple[bytes, bytes]:
        answer = self.client.generate_data_key(KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=self.context)
        return answer["Plaintext"], answer["CiphertextBlob"]

    def unwrap(self, blob: bytes) -> bytes:
        return self.client.decrypt(CiphertextBlob=blob, EncryptionContext=self.context, KeyId=self.key_id)["Plaintext"]


class VaultWrapper:
    """Azure Key Vault's wrapKey / unwrapKey (RSA-OAEP-256) over REST, with the workload identity's token."""

    API_VERSION = "7.4"
    SCOPE = "https://vault.azure.net/.default"
    ALG = "RSA-OAEP-256"

    def __init__(self, key_url: str, context: dict[str, str], http: Any = None, credential: Any = None) -> None:
        import httpx

        self.key_url, self.context = key_url.rstrip("/"), context
        self.http = http or httpx.Client(timeout=30)
        if credential is None:
            from azure.identity import DefaultAzureCredential  # the `azure` extra

            credential = DefaultAzureCredential()
        self.credential = credential
        self.binding = hashlib.sha256(json.dumps(context, sort_keys=True).encode()).digest()[:16]

    def _call(self, url: str, operation: str, value: bytes) -> dict[str, Any]:
        token = self.credential.get_token(self.SCOPE).token
        body = {"alg": self.ALG, "value": base64.urlsafe_b64encode(value).rstrip(b"=").decode()}
        answer = self.http.post(f"{url}/{operation}", params={"api-version": self.API_VERSION}, json=body, headers={"Authorization": f"Bearer {token}"})
        if answer.status_code != 200:
            raise PrivacyKeyError(
                f"Key Vault {operation} on {url} answered {answer.status_code}: {answer.text[:300]}",
                fix="grant the workload's identity wrapKey/unwrapKey on the key (Key Vault Crypto Service Encryption User)",
            )
        return answer.json()

    @staticmethod
    def _b64(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    def new(self) -> tuple[bytes, bytes, str]:
        secret = os.urandom(KEY_BYTES)
        answer = self._call(self.key_url, "wrapkey", secret + self.binding)
        return secret, self._b64(answer["value"]), str(answer.get("kid") or self.key_url)

    def unwrap(self, blob: bytes, kid: str) -> bytes:
        plain = self._b64(self._call(kid or self.key_url, "unwrapkey", blob)["value"])
        secret, binding = plain[:-16], plain[-16:]
        if binding != self.binding or len(secret) != KEY_BYTES:
            raise PrivacyKeyError(
                f"the wrapped key at {kid} belongs to another environment or purpose than {self.context}",
                fix="point SAHAB_PRIVACY_KEY_URI at this environment's key",
            )
        return secret


# --- storage of the wrapped object ---


def _create_only(uri: str, data: bytes) -> bool:
    """Write `data` at `uri` only if nothing is there; False when another writer was first."""
    loc = storage.parse(uri, VARIABLE)
    if loc.scheme == "file":
        path = Path(loc.path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            try:
                os.link(tmp, path)  # atomic and exclusive: fails when the key exists
            except FileExistsError:
                return False
            return True
        finally:
            os.unlink(tmp)
    if loc.scheme == "s3":
        import boto3
        from botocore.exceptions import ClientError

        try:
            boto3.client("s3").put_object(Bucket=loc.container, Key=loc.path, Body=data, IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                return False
            raise
        return True
    from azure.core.exceptions import ResourceExistsError

    try:
        storage.blob_client(loc).upload_blob(data, overwrite=False)
    except ResourceExistsError:
        return False
    return True


def _read(uri: str) -> bytes | None:
    loc = storage.parse(uri, VARIABLE)
    if loc.scheme == "file":
        path = Path(loc.path)
        if not path.exists():
            return None
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise PrivacyKeyError(f"{path}: the tokenisation key is readable by others (mode {oct(mode)})", fix=f"chmod 600 {path}")
        return path.read_bytes()
    if loc.scheme == "s3":
        import boto3
        from botocore.exceptions import ClientError

        try:
            return boto3.client("s3").get_object(Bucket=loc.container, Key=loc.path)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
    return storage.read_bytes(uri, VARIABLE)


def _wrapper(settings: PrivacySettings, kms_client: Any = None, vault_http: Any = None, vault_credential: Any = None) -> Any:
    if settings.kms_key:
        return KmsWrapper(settings.kms_key, settings.context(), kms_client)
    if settings.vault_key:
        return VaultWrapper(settings.vault_key, settings.context(), vault_http, vault_credential)
    return None


def _new_object(settings: PrivacySettings, version: int, wrapper: Any) -> tuple[bytes, bytes]:
    """(secret, the JSON object that stores it)."""
    body: dict[str, Any] = {"format": FORMAT, "version": version, "created_at": datetime.now(UTC).isoformat(), "wrapping": settings.wrapping}
    if isinstance(wrapper, KmsWrapper):
        secret, blob = wrapper.new()
        body.update(kms_key=settings.kms_key, context=settings.context(), ciphertext=base64.b64encode(blob).decode())
    elif isinstance(wrapper, VaultWrapper):
        secret, blob, kid = wrapper.new()
        body.update(vault_key=kid, context=settings.context(), ciphertext=base64.b64encode(blob).decode())
    else:
        secret = os.urandom(KEY_BYTES)
        body.update(key=base64.b64encode(secret).decode(), context=settings.context())
    return secret, json.dumps(body, indent=1, sort_keys=True).encode()


def _parse(uri: str, data: bytes, settings: PrivacySettings, wrapper: Any) -> TokenKey:
    try:
        body = json.loads(data)
        version, wrapping = int(body["version"]), str(body["wrapping"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PrivacyKeyError(
            f"{uri}: not a Sahab tokenisation key object ({exc})", fix="restore it from its backup; a new key would change every token"
        ) from None
    if body.get("format") != FORMAT:
        raise PrivacyKeyError(f"{uri}: key object format {body.get('format')!r}, this workload reads {FORMAT}", fix="run the workload image that wrote it")
    if wrapping != settings.wrapping:
        raise PrivacyKeyError(
            f"{uri}: the key is wrapped by {wrapping}, but this workload is configured for {settings.wrapping}",
            fix="set SAHAB_PRIVACY_KMS_KEY or SAHAB_PRIVACY_VAULT_KEY as the stack renders them",
        )
    if body.get("context") != settings.context():
        raise PrivacyKeyError(
            f"{uri}: the key belongs to {body.get('context')}, not {settings.context()}", fix="point SAHAB_PRIVACY_KEY_URI at this environment's key"
        )
    try:
        if isinstance(wrapper, KmsWrapper):
            secret = wrapper.unwrap(base64.b64decode(body["ciphertext"]))
        elif isinstance(wrapper, VaultWrapper):
            secret = wrapper.unwrap(base64.b64decode(body["ciphertext"]), str(body.get("vault_key") or ""))
        else:
            secret = base64.b64decode(body["key"])
    except PrivacyKeyError:
        raise
    except Exception as exc:  # noqa: BLE001 (the KMS / Key Vault refusal, whatever its SDK's type: say which object and which grant)
        raise PrivacyKeyError(
            f"{uri}: cannot unwrap the tokenisation key with {settings.kms_key or settings.vault_key}: {type(exc).__name__}: {exc}",
            fix="grant the workload's identity Decrypt (KMS, with the encryption context) or unwrapKey (Key Vault) on the environment's key",
        ) from None
    if len(secret) < KEY_BYTES:
        raise PrivacyKeyError(f"{uri}: the unwrapped key has {len(secret)} bytes, expected {KEY_BYTES}")
    return TokenKey(version, secret, uri, wrapping, str(body.get("created_at", "")))


_CACHE: dict[tuple[str, str, str], TokenKey] = {}
_LOCK = threading.Lock()


def load_key(
    settings: PrivacySettings | None = None,
    home: str | Path | None = None,
    *,
    create: bool = True,
    kms_client: Any = None,
    vault_http: Any = None,
    vault_credential: Any = None,
) -> TokenKey:
    """The environment's key (module docstring), created when there is none and `create`; cached per process."""
    settings = settings or PrivacySettings()
    uri = settings.uri(home)
    cache_key = (uri, settings.wrapping, settings.environment)
    with _LOCK:
        if cache_key in _CACHE:
            return _CACHE[cache_key]
        wrapper = _wrapper(settings, kms_client, vault_http, vault_credential)
        data = _read(uri)
        if data is None:
            if not create:
                raise PrivacyKeyError(f"{uri}: no tokenisation key yet", fix="run `python -m workloads.privacy init` (or any ingestion) in this environment")
            _, body = _new_object(settings, 1, wrapper)
            _create_only(uri, body)
            data = _read(uri)  # ours, or the one another workload created first
            if data is None:
                raise PrivacyKeyError(f"{uri}: the key was written but cannot be read back", fix="check the workload's read grant on the object")
        key = _parse(uri, data, settings, wrapper)
        _CACHE[cache_key] = key
        return key


def rotate_key(settings: PrivacySettings | None = None, home: str | Path | None = None, **clients: Any) -> TokenKey:
    """Write key version N+1 (the old object kept as `<name>.v<N>.json`); returns the new key."""
    settings = settings or PrivacySettings()
    uri = settings.uri(home)
    old = load_key(settings, home, create=False, **clients)
    wrapper = _wrapper(settings, clients.get("kms_client"), clients.get("vault_http"), clients.get("vault_credential"))
    previous = _read(uri)
    assert previous is not None
    archive = uri.removesuffix(".json") + f".v{old.version}.json"
    if storage.parse(uri).scheme == "file":
        _create_only(archive, previous)
    else:
        storage.write_bytes(archive, previous, VARIABLE)
    _, body = _new_object(settings, old.version + 1, wrapper)
    if storage.parse(uri).scheme == "file":
        path = Path(storage.parse(uri).path)
        tmp = path.with_suffix(".rotating")
        tmp.write_bytes(body)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    else:
        storage.write_bytes(uri, body, VARIABLE)
    with _LOCK:
        _CACHE.clear()
    return load_key(settings, home, create=False, **clients)


def forget_keys() -> None:
    """Drop the process's cached keys (tests; a rotation does it itself)."""
    with _LOCK:
        _CACHE.clear()
