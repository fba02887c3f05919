"""`sahab up|preview|destroy|bootstrap`: thin wrappers over the Pulumi Automation API.

They run the same program the offline engine runs, with the environment's config file, against an
in-region state backend. Before touching the CLI they check what is missing (the Pulumi CLI,
cloud credentials, an in-region backend) and say how to fix it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

from stacks.offerings import UAE_REGIONS
from workloads.errors import SahabError


class DeployError(SahabError, RuntimeError):
    """Something a person must fix before a deployment can run; the message says what. Exit 2."""

    exit_code = 2


class DeployFailed(SahabError, RuntimeError):
    """The Pulumi CLI ran and the update (up, preview, destroy) failed; the message is its own. Exit 1."""

    exit_code = 1


UAE = {r for rs in UAE_REGIONS.values() for r in rs}
BACKEND_FILE = "backend.yaml"


@dataclass(frozen=True)
class Backend:
    """Where Pulumi keeps this environment's state, and who encrypts its secrets."""

    url: str
    secrets_provider: str
    location: str | None = None
    """Azure location of an azblob:// account and azurekeyvault:// vault: their URLs do not say where
    they are, so environments/<env>/backend.yaml records it (`location: uaenorth`)."""

    def _azure_in_region(self, what: str) -> None:
        if self.location not in UAE:
            raise DeployError(
                f"{what}: the URL does not say where it is; record its location (`location: uaenorth`) in environments/<env>/backend.yaml "
                f"after creating it there (got location={self.location!r}; UAE locations: {sorted(UAE)})"
            )

    def check_in_region(self) -> None:
        """State describes the platform and holds its secrets: it stays in the UAE (../shared/UAE.md)."""
        parsed = urlparse(self.url)
        if parsed.scheme == "s3":
            region = parse_qs(parsed.query).get("region", [None])[0]
            if region not in UAE:
                raise DeployError(f"backend {self.url!r}: an s3:// backend must name an in-region bucket with ?region=me-central-1 (got region={region!r})")
        elif parsed.scheme == "azblob":
            # azblob://<container>?storage_account=<account> (or AZURE_STORAGE_ACCOUNT), in uaenorth.
            if not (parse_qs(parsed.query).get("storage_account") or os.environ.get("AZURE_STORAGE_ACCOUNT")):
                raise DeployError(f"backend {self.url!r}: name the storage account (azblob://<container>?storage_account=<account>, in uaenorth)")
            self._azure_in_region(f"backend {self.url!r}")
        elif parsed.scheme == "file":
            pass  # local disk: wherever this machine is; acceptable for a single operator
        else:
            raise DeployError(
                f"backend {self.url!r} keeps state outside the UAE (Pulumi Cloud or unknown scheme); "
                "run `sahab bootstrap <env>` to create an in-region S3 backend, or pass --backend-url s3://BUCKET?region=me-central-1"
            )
        sp = urlparse(self.secrets_provider)
        if sp.scheme == "awskms":
            region = parse_qs(sp.query).get("region", [None])[0]
            if region not in UAE:
                raise DeployError(f"secrets provider {self.secrets_provider!r}: an awskms:// key must be in-region (?region=me-central-1)")
        elif sp.scheme == "azurekeyvault":
            self._azure_in_region(f"secrets provider {self.secrets_provider!r} (azurekeyvault://<vault>.vault.azure.net/keys/<key>)")
        elif sp.scheme != "passphrase" and self.secrets_provider != "passphrase":
            raise DeployError(f"secrets provider {self.secrets_provider!r}: use awskms://alias/...?region=me-central-1 or azurekeyvault://...")


def read_backend(repo: Path, env: str, url: str | None = None, secrets_provider: str | None = None) -> Backend:
    """--backend-url/--secrets-provider, else PULUMI_BACKEND_URL, else environments/<env>/backend.yaml."""
    recorded: dict[str, Any] = {}
    path = repo / "environments" / env / BACKEND_FILE
    if path.exists():
        recorded = yaml.safe_load(path.read_text()) or {}
    url = url or os.environ.get("PULUMI_BACKEND_URL") or recorded.get("url")
    secrets_provider = secrets_provider or recorded.get("secrets_provider")
    if not url or not secrets_provider:
        raise DeployError(
            f"no state backend for {env!r}: run `sahab bootstrap {env}` (creates an S3 bucket and KMS key in the UAE and writes "
            f"{path.relative_to(repo)}), or pass --backend-url and --secrets-provider"
        )
    backend = Backend(url=url, secrets_provider=secrets_provider, location=recorded.get("location"))
    backend.check_in_region()
    return backend


# azure-native reads ARM_* (or az login's ~/.azure); AZURE_* are the Azure SDKs' own.
_AZURE_CREDENTIAL_ENV = ("ARM_CLIENT_ID", "ARM_USE_OIDC", "ARM_USE_MSI", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE")
_AWS_CREDENTIAL_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


def check_prerequisites(cloud: str = "aws", env: dict[str, str] | None = None, which: Callable[[str], str | None] = shutil.which) -> str:
    """Path of the Pulumi CLI, or DeployError naming what to install or set."""
    env = dict(os.environ if env is None else env)
    cli = which("pulumi")
    if cli is None:
        raise DeployError(
            "the Pulumi CLI is not installed (needed for up/preview/destroy/bootstrap): install it "
            "(https://www.pulumi.com/docs/install/), or use `sahab plan` and `sahab check`, which need no CLI"
        )
    if cloud == "aws":
        home = Path(env.get("HOME", "~")).expanduser()
        has_files = (home / ".aws" / "credentials").exists() or (home / ".aws" / "config").exists()
        if not (any(env.get(k) for k in _AWS_CREDENTIAL_ENV) or has_files or env.get("SAHAB_AMBIENT_CREDENTIALS") == "1"):
            raise DeployError(
                "no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "
                "or SAHAB_AMBIENT_CREDENTIALS=1 when running on an instance or pod role"
            )
    if cloud == "azure":
        home = Path(env.get("HOME", "~")).expanduser()
        if not (
            any(env.get(k) for k in _AZURE_CREDENTIAL_ENV) or (home / ".azure" / "azureProfile.json").exists() or env.get("SAHAB_AMBIENT_CREDENTIALS") == "1"
        ):
            raise DeployError(
                "no Azure credentials found: run `az login` (then set ARM_SUBSCRIPTION_ID), or set ARM_CLIENT_ID with ARM_USE_OIDC=true "
                "(a CI runner's federated identity), or SAHAB_AMBIENT_CREDENTIALS=1 on a VM or pod with a managed identity"
            )
    return cli


@dataclass(frozen=True)
class DeployRequest:
    """Everything `pulumi up/preview/destroy` is called with; built and checked before the CLI runs."""

    action: str
    stack: str
    work_dir: Path
    config_file: Path
    backend: Backend
    policy_packs: tuple[Path, ...] = ()
    policy_pack_configs: tuple[Path, ...] = ()
    env_vars: dict[str, str] = field(default_factory=dict)


def preflight_spec(config_file: Path) -> None:
    """Validate `sahab:platform` before the CLI runs: a typo fails here, not halfway into an update."""
    from stacks.spec import SpecError, load_spec

    try:
        doc = yaml.safe_load(config_file.read_text()) or {}
    except yaml.YAMLError as e:
        raise DeployError(f"{config_file}: not valid YAML: {e}") from None
    raw = (doc.get("config") or {}).get("sahab:platform")
    if raw is None:
        raise DeployError(f"{config_file}: missing `sahab:platform`")
    try:
        load_spec(raw)
    except SpecError as e:
        raise DeployError(str(e)) from None


def build_request(repo: Path, env: str, action: str, stack: str | None = None, backend: Backend | None = None, with_policies: bool = True) -> DeployRequest:
    if action not in ("up", "preview", "destroy"):
        raise DeployError(f"action {action!r}: one of up, preview, destroy")
    stack = stack or env
    config_file = repo / "environments" / env / f"Pulumi.{stack}.yaml"
    if not config_file.exists():
        raise DeployError(f"{config_file.relative_to(repo)} does not exist: create it or pass --stack")
    if action != "destroy":
        preflight_spec(config_file)
    backend = backend or read_backend(repo, env)
    packs: tuple[Path, ...] = ()
    configs: tuple[Path, ...] = ()
    if with_policies and action != "destroy":
        packs = tuple(sorted(p for p in (repo / "policy_packs").glob("*") if (p / "PulumiPolicy.yaml").exists()))
        policy_yaml = repo / "environments" / env / "policy.yaml"
        configs = tuple(_pack_config_files(policy_yaml, packs, repo / ".sahab" / env)) if packs and policy_yaml.exists() else ()
    return DeployRequest(
        action=action,
        stack=stack,
        work_dir=repo,
        config_file=config_file,
        backend=backend,
        policy_packs=packs,
        policy_pack_configs=configs,
        env_vars={"PULUMI_BACKEND_URL": backend.url},
    )


def _pack_config_files(policy_yaml: Path, packs: tuple[Path, ...], out_dir: Path) -> list[Path]:
    """The CLI takes one JSON config per pack; split the environment's policy.yaml accordingly."""
    import json

    doc = yaml.safe_load(policy_yaml.read_text()) or {}
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for pack in packs:
        path = out_dir / f"policy-config-{pack.name}.json"
        path.write_text(json.dumps((doc.get("packs") or {}).get(pack.name, {}), indent=1))
        files.append(path)
    return files


def run(request: DeployRequest, on_output: Callable[[str], None] = print) -> Any:
    """Run the request through the Automation API (the Pulumi CLI does the work)."""
    from pulumi import automation as auto

    stack = auto.create_or_select_stack(
        stack_name=request.stack,
        work_dir=str(request.work_dir),
        opts=auto.LocalWorkspaceOptions(env_vars=request.env_vars, secrets_provider=request.backend.secrets_provider),
    )
    common: dict[str, Any] = {"on_output": on_output, "color": "auto", "config_file": str(request.config_file)}
    if request.action == "destroy":
        return stack.destroy(**common)
    policy: dict[str, Any] = {"policy_packs": [str(p) for p in request.policy_packs], "policy_pack_configs": [str(c) for c in request.policy_pack_configs]}
    if request.action == "preview":
        return stack.preview(**common, **policy)
    return stack.up(**common, **policy)


def bootstrap_program(env: str, region: str) -> Callable[[], None]:
    """An inline Pulumi program creating the in-region state bucket and its KMS key."""

    def program() -> None:
        import pulumi

        from stacks.platform import cloud_sdk

        with cloud_sdk("aws"):  # pulumi-aws is the aws-deploy extra: say so when it is missing
            import pulumi_aws as aws

        provider = aws.Provider("state", region=region)
        opts = pulumi.ResourceOptions(provider=provider, protect=True)
        key = aws.kms.Key(f"sahab-{env}-state", description=f"Sahab {env} Pulumi state and secrets", enable_key_rotation=True, multi_region=False, opts=opts)
        alias = aws.kms.Alias(f"sahab-{env}-state", name=f"alias/sahab-{env}-state", target_key_id=key.key_id, opts=opts)
        bucket = aws.s3.Bucket(f"sahab-{env}-state", opts=opts)
        aws.s3.BucketVersioning(f"sahab-{env}-state", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=opts)
        aws.s3.BucketPublicAccessBlock(
            f"sahab-{env}-state",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"sahab-{env}-state",
            bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn}, "bucket_key_enabled": True}],
            opts=opts,
        )
        pulumi.export("url", pulumi.Output.format("s3://{0}?region={1}&awssdk=v2", bucket.bucket, region))
        pulumi.export("secrets_provider", pulumi.Output.format("awskms://{0}?region={1}", alias.name, region))

    return program


def bootstrap(repo: Path, env: str, region: str, on_output: Callable[[str], None] = print) -> Backend:
    """Create the backend with a local (file://) state of its own, then record it for the environment."""
    from pulumi import automation as auto

    if region not in UAE:
        raise DeployError(f"region {region!r} is not in the UAE; the state backend must be (e.g. me-central-1)")
    state_dir = repo / ".sahab" / "bootstrap-state"
    state_dir.mkdir(parents=True, exist_ok=True)
    stack = auto.create_or_select_stack(
        stack_name=env,
        project_name="sahab-bootstrap",
        program=bootstrap_program(env, region),
        opts=auto.LocalWorkspaceOptions(
            env_vars={"PULUMI_BACKEND_URL": state_dir.resolve().as_uri(), "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", "")}
        ),
    )
    result = stack.up(on_output=on_output)
    backend = Backend(url=result.outputs["url"].value, secrets_provider=result.outputs["secrets_provider"].value)
    backend.check_in_region()
    target = repo / "environments" / env / BACKEND_FILE
    target.write_text(yaml.safe_dump({"url": backend.url, "secrets_provider": backend.secrets_provider}))
    return backend
