"""`sahab verify uae-north` end to end against the fake ARM: the CLI, the runner, the shipped suite
(its own pytest process), JUnit XML and the Markdown evidence; the credential is the real
DefaultAzureCredential, answered by an `az` on PATH (what `az login` gives a developer); and with
no credential at all, nothing is verified: exit 2 with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_arm import serve

from sahab.ops.verify.runner import read_junit

REPO = Path(__file__).resolve().parents[2]
# What `az account get-access-token --output json` prints (azure-cli 2.x), for the fake ARM.
AZ = """#!/bin/sh
echo '{"accessToken": "fake-cli-token", "expiresOn": "2099-01-01 00:00:00.000000", "expires_on": 4070908800, "subscription": "5a4a1d1e-0000-4000-8000-00000000ae01", "tenant": "5a4a1d1e-0000-4000-8000-00000000ae02", "tokenType": "Bearer"}'
"""
AZURE_ENV = (
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_USERNAME",
    "IDENTITY_ENDPOINT",
    "MSI_ENDPOINT",
)


def _sahab(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in AZURE_ENV}
    return subprocess.run([sys.executable, "-m", "sahab", *args], cwd=REPO, capture_output=True, text=True, timeout=300, env={**base, "COLUMNS": "200", **env})


@pytest.fixture(scope="module")
def north(repo, tmp_path_factory):
    from sahab.engine.offline import plan_environment

    plan = plan_environment(repo, "uae-north")
    work = tmp_path_factory.mktemp("verify-azure")
    (work / "plan.json").write_text(json.dumps(plan.to_json(), default=str))
    (work / "outputs.json").write_text(json.dumps({**plan.outputs, "kubeconfig": None}, default=str))
    return plan, work


@pytest.fixture(scope="module")
def plan_storage(north, tmp_path_factory):
    """Azurite serving the plan's data storage account (AZURITE_ACCOUNTS, with its well-known account
    for the health check) with the containers the outputs name: the cloud part's personal-data scan
    (issue 22) reads them through the emulator override, empty: 0 hits."""
    from azure.storage.blob import BlobServiceClient

    from sahab.ops.verify.privacy import project_locations
    from workloads.local import servers

    plan, _ = north
    account = project_locations(plan.to_json())["delivery-time"][0][1].split("@", 1)[1].split(".", 1)[0]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AZURITE_ACCOUNTS", f"{servers.AZURITE_ACCOUNT}:{servers.AZURITE_KEY};{account}:{servers.AZURITE_KEY}")
        with servers.start_azurite(tmp_path_factory.mktemp("verify-azurite")) as server:
            url = server.env["SAHAB_AZURE_BLOB_ENDPOINT"]
            connection = f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={servers.AZURITE_KEY};BlobEndpoint={url}/{account};"
            client = BlobServiceClient.from_connection_string(connection)
            for purpose in ("offline-features", "data-lake"):
                client.create_container(plan.outputs["bucket_names"][purpose])
            yield {"SAHAB_AZURE_BLOB_ENDPOINT": url, "AZURE_STORAGE_ACCOUNT_KEY": servers.AZURITE_KEY}


@pytest.mark.slow
def test_verify_uae_north_passes_then_fails_on_a_public_vault(north, plan_storage, tmp_path):
    plan, work = north
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(AZ)
    (bin_dir / "az").chmod(0o755)
    args = ["verify", "uae-north", "--outputs", str(work / "outputs.json"), "--plan", str(work / "plan.json")]
    with serve(plan, tmp_path) as fake:
        env = {"SAHAB_AZURE_ARM_ENDPOINT": fake.url, "REQUESTS_CA_BUNDLE": str(fake.cert), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **plan_storage}
        ok = _sahab(*args, "--junit", str(tmp_path / "ok" / "junit.xml"), "--report", str(tmp_path / "ok"), env=env)
        assert ok.returncode == 0, f"sahab verify uae-north must pass on the plan as deployed:\n{ok.stdout[-3000:]}\n{ok.stderr[-2000:]}"
        assert fake.tokens == {"Bearer fake-cli-token"}, f"DefaultAzureCredential's token (from az) reached ARM: {fake.tokens}"
        outcomes = read_junit(tmp_path / "ok" / "junit.xml")
        cloud = [o for o in outcomes if o.part == "cloud"]
        assert len(cloud) >= 40 and all(o.outcome == "passed" for o in cloud), [(o.check, o.outcome, o.detail) for o in cloud if o.outcome != "passed"]
        cluster = [o for o in outcomes if o.part == "cluster"]
        assert [o.outcome for o in cluster] == ["skipped"] and "no kubeconfig" in cluster[0].detail
        report = (tmp_path / "ok" / "verify-report.md").read_text()
        assert "**Result: PASSED**" in report and "Azure subscription 5a4a1d1e-0000-4000-8000-00000000ae01" in report and "ACR repositories" in report
        assert "| cloud-azure-keyvault-purge-protection | sahabuaenorthkve84fcb | passed |" in report

        fake.find("Microsoft.KeyVault/vaults")["properties"]["publicNetworkAccess"] = "Enabled"
        bad = _sahab(*args, "--part", "cloud", "--junit", str(tmp_path / "bad" / "junit.xml"), "--report", str(tmp_path / "bad"), env=env)
    assert bad.returncode == 1, f"a public vault must fail verification:\n{bad.stdout[-3000:]}"
    failed = [o for o in read_junit(tmp_path / "bad" / "junit.xml") if o.outcome == "failed"]
    assert [(o.check, o.subject) for o in failed] == [("cloud-azure-keyvault-private", "sahabuaenorthkve84fcb")], failed
    assert "vaults/sahabuaenorthkve84fcb (key vault): public network access is Enabled" in failed[0].detail and "Fix:" in failed[0].detail
    assert "| cloud-azure-keyvault-private | sahabuaenorthkve84fcb | failed |" in (tmp_path / "bad" / "verify-report.md").read_text()


def test_without_azure_credentials_nothing_is_verified(north, tmp_path):
    _, work = north
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    # No az, no environment credential, no token cache: DefaultAzureCredential has nothing to offer.
    env = {"PATH": f"{empty}{os.pathsep}{Path(sys.executable).parent}", "HOME": str(tmp_path), "SAHAB_AZURE_ARM_ENDPOINT": "https://127.0.0.1:9"}
    done = _sahab("verify", "uae-north", "--part", "cloud", "--outputs", str(work / "outputs.json"), "--plan", str(work / "plan.json"), env=env)
    said = " ".join(done.stderr.split())
    assert done.returncode == 2, f"no credentials: nothing verified is exit 2, got {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert "nothing was verified" in said and "no Azure credentials for Resource Manager" in said and "az login" in said, said
