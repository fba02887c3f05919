"""LogAnalytics and AuditDiagnostics on their own. The workspace lives in the UAE location, keeps
data for the asked retention, and takes Entra ID only (local auth off, resource-permission access).
Each audited target gets one diagnostic setting sending its `audit` category group to the workspace
and to the immutable audit account. A retention outside 30-730 days and an empty target list are
refused."""

from __future__ import annotations

import pytest

from components.azure.monitoring import AuditDiagnostics, AuditDiagnosticsArgs, LogAnalytics, LogAnalyticsArgs
from tests.components.component_helpers import LOCATION, Built, build, expect, refused

TARGETS = {"vault": "/vaults/sahabunitkv", "aks": "/managedClusters/sahab-unit", "registry": "/registries/sahabunitacr"}


@pytest.fixture(scope="module")
def workspace() -> Built:
    return build(
        lambda: LogAnalytics(
            "logs", LogAnalyticsArgs(resource_group="sahab-unit-platform", location=LOCATION, retention_days=400, tags={"sahab.ae/env": "unit"})
        )
    )


@pytest.fixture(scope="module")
def diagnostics() -> Built:
    return build(lambda: AuditDiagnostics("audit", AuditDiagnosticsArgs(targets=TARGETS, workspace_id="/workspaces/logs", audit_account_id="/accounts/audit")))


def test_workspace_is_in_region_with_entra_only_access(workspace: Built):
    (ws,) = workspace.of_type("azure-native:operationalinsights:Workspace")
    expect(ws, "location", LOCATION)
    expect(ws, "retentionInDays", 400)
    expect(ws, "sku.name", "PerGB2018")
    expect(ws, "features.disableLocalAuth", True)
    expect(ws, "features.enableLogAccessUsingOnlyResourcePermissions", True)
    assert workspace.output("workspace_id").value == workspace.id_of(ws), f"{workspace.urn}: workspace_id is not {ws.urn}'s id"
    assert workspace.types() == {"azure-native:operationalinsights:Workspace": 1}, f"{workspace.urn}: children {workspace.types()}"


def test_each_target_sends_its_audit_logs_to_both_destinations(diagnostics: Built):
    settings = {s.inputs["resourceUri"]: s for s in diagnostics.of_type("azure-native:monitor:DiagnosticSetting")}
    assert sorted(settings) == sorted(TARGETS.values()), f"{diagnostics.urn}: diagnostic settings on {sorted(settings)}"
    for key, target in TARGETS.items():
        setting = settings[target]
        assert setting.name == f"audit-{key}", f"{setting.urn}: named for {key}"
        expect(setting, "workspaceId", "/workspaces/logs")
        expect(setting, "storageAccountId", "/accounts/audit")
        expect(setting, "logs", [{"categoryGroup": "audit", "enabled": True}])
        expect(setting, "logAnalyticsDestinationType", "Dedicated")


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: LogAnalytics("logs", LogAnalyticsArgs(resource_group="rg", location=LOCATION, retention_days=731, tags={})), "retention_days"),
        (lambda: AuditDiagnostics("audit", AuditDiagnosticsArgs(targets={}, workspace_id="/w", audit_account_id="/a")), "targets"),
    ],
)
def test_bad_args_are_refused_before_any_resource(make, field: str):
    refusal = refused(make)
    assert refusal.message.startswith(f"{field}:"), f"monitoring: message {refusal.message!r} does not name {field}"
    assert not refusal.children, f"monitoring registered {[r.urn for r in refusal.children]} before refusing {field}"
