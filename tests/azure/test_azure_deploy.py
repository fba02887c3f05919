"""The deploy path on Azure: state in an azblob:// account in the UAE with a Key Vault secrets
provider there (recorded in backend.yaml, since those URLs do not say where they are), and Azure
credentials checked before the CLI runs."""

from __future__ import annotations

import pytest

from sahab.ops import deploy

BLOB = "azblob://state?storage_account=sahabstate"
VAULT = "azurekeyvault://sahab-state.vault.azure.net/keys/state"


def test_azblob_and_key_vault_in_uaenorth_pass():
    deploy.Backend(BLOB, VAULT, location="uaenorth").check_in_region()


@pytest.mark.parametrize(
    ("url", "secrets", "location", "error"),
    [
        (BLOB, VAULT, None, "record its location"),
        (BLOB, VAULT, "westeurope", "record its location"),
        ("azblob://state", VAULT, "uaenorth", "name the storage account"),
        ("s3://state?region=me-central-1", VAULT, None, "azurekeyvault://"),
    ],
)
def test_azure_state_must_be_in_the_uae(url, secrets, location, error, monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT", raising=False)
    with pytest.raises(deploy.DeployError, match=error):
        deploy.Backend(url, secrets, location=location).check_in_region()


def test_backend_yaml_records_the_location(tmp_path):
    env = tmp_path / "environments" / "uae-north"
    env.mkdir(parents=True)
    (env / "backend.yaml").write_text(f"url: {BLOB}\nsecrets_provider: {VAULT}\nlocation: uaenorth\n")
    assert deploy.read_backend(tmp_path, "uae-north").location == "uaenorth"
    (env / "backend.yaml").write_text(f"url: {BLOB}\nsecrets_provider: {VAULT}\nlocation: northeurope\n")
    with pytest.raises(deploy.DeployError, match="northeurope"):
        deploy.read_backend(tmp_path, "uae-north")


def test_azure_credentials_are_checked(tmp_path):
    with pytest.raises(deploy.DeployError, match="az login"):
        deploy.check_prerequisites("azure", env={"HOME": str(tmp_path)}, which=lambda _: "/usr/bin/pulumi")
    assert deploy.check_prerequisites("azure", env={"HOME": str(tmp_path), "ARM_CLIENT_ID": "x", "ARM_USE_OIDC": "true"}, which=lambda _: "/p") == "/p"
    (tmp_path / ".azure").mkdir()
    (tmp_path / ".azure" / "azureProfile.json").write_text("{}")
    assert deploy.check_prerequisites("azure", env={"HOME": str(tmp_path)}, which=lambda _: "/p") == "/p"
