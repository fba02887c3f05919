"""`sahab preflight uae-north`: every AKS pool's VM size is offered in uaenorth, in its zones, and
not restricted for the subscription, as the Azure CLI answers (a stand-in `az` on PATH here)."""

from __future__ import annotations

import json
import stat

import pytest

from sahab.ops import preflight
from sahab.ops.preflight import azure as preflight_azure


def _sku(name: str, zones=("1", "2", "3"), restrictions=()):
    return {"name": name, "locationInfo": [{"location": "uaenorth", "zones": list(zones)}], "restrictions": list(restrictions)}


@pytest.fixture(scope="module")
def ctx(repo):
    return preflight.context(repo, "uae-north")


@pytest.fixture
def fake_az(tmp_path):
    """An `az` executable printing the SKU list the test gives it, recording its arguments."""

    def make(skus, code=0):
        (tmp_path / "skus.json").write_text(json.dumps(skus))
        script = tmp_path / "az"
        script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\ncat {tmp_path}/skus.json\nexit {code}\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        return str(script)

    return make


def test_every_pool_is_checked_in_its_zones(ctx, fake_az, tmp_path):
    sizes = {size for size, _ in preflight_azure.pools(ctx).values()}
    az = fake_az([_sku(s) for s in sizes])
    results = preflight_azure.check_vm_sizes(ctx, preflight_azure.az_list_skus("uaenorth", az=az))
    assert {r.level for r in results} == {"pass"} and len(results) == 5, results
    assert "--location uaenorth" in (tmp_path / "args").read_text()


def test_missing_restricted_and_zonal_sizes_fail_naming_the_pool(ctx):
    skus = [
        _sku("Standard_D4ds_v5"),
        _sku("Standard_F8s_v2", zones=("1", "2")),
        _sku("Standard_NC40ads_H100_v5", restrictions=[{"type": "Location", "reasonCode": "NotAvailableForSubscription", "values": ["uaenorth"]}]),
    ]
    results = {r.message.split(":")[0]: r for r in preflight_azure.check_vm_sizes(ctx, skus)}
    fails = {k: r.message for k, r in results.items() if r.level == "fail"}
    assert any("trainh100" in k and "NotAvailableForSubscription" in m for k, m in fails.items()), fails
    assert any("traina10" in k and "not offered in uaenorth" in m for k, m in fails.items()), fails
    assert any("serving" in k and "zone(s) 3" in m for k, m in fails.items()), fails
    assert all("Fix:" in m for m in fails.values()), fails


def test_without_the_azure_cli_it_says_what_it_needs(monkeypatch):
    monkeypatch.setattr(preflight_azure.shutil, "which", lambda _: None)
    with pytest.raises(preflight.PreflightError, match="Azure CLI"):
        preflight_azure.az_list_skus("uaenorth")


def test_registered_for_azure():
    assert "azure" in preflight.PROVIDERS, "sahab preflight uae-north runs the Azure checks"
