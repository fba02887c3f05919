"""Log Analytics in the region (Container Insights, diagnostics), and diagnostic settings that
send each service's audit logs both to the workspace and to the immutable audit account."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import monitor, operationalinsights


@dataclass(frozen=True, kw_only=True)
class LogAnalyticsArgs:
    resource_group: pulumi.Input[str]
    """Platform resource group."""
    location: str
    """UAE location: telemetry holds customer data (residency pack: azure-monitor-location-in-region)."""
    retention_days: int = 365
    """Interactive retention (30-730 days)."""
    tags: dict[str, str]
    """Tags of the workspace."""


class LogAnalytics(pulumi.ComponentResource):
    workspace_id: pulumi.Output[str]

    def __init__(self, name: str, args: LogAnalyticsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:azure:LogAnalytics", name, None, opts)
        if not 30 <= args.retention_days <= 730:
            raise ValueError(f"retention_days: {args.retention_days} is outside 30-730 (Log Analytics interactive retention)")
        ws = operationalinsights.Workspace(
            f"{name}-workspace",
            workspace_name=f"{name}-workspace",
            resource_group_name=args.resource_group,
            location=args.location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=args.retention_days,
            # Agents send over the AMPLS/private network; queries need Entra ID (no shared keys).
            features=operationalinsights.WorkspaceFeaturesArgs(disable_local_auth=True, enable_log_access_using_only_resource_permissions=True),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.workspace_id = ws.id
        self.register_outputs({"workspace_id": self.workspace_id})


@dataclass(frozen=True, kw_only=True)
class AuditDiagnosticsArgs:
    targets: Mapping[str, pulumi.Input[str]]
    """Resource ids whose logs are audited, by short name (`vault`, `aks`, `registry`, ...)."""
    workspace_id: pulumi.Input[str]
    """Log Analytics workspace."""
    audit_account_id: pulumi.Input[str]
    """Immutable audit storage account."""


class AuditDiagnostics(pulumi.ComponentResource):
    """One diagnostic setting per target: every `audit` category group to the workspace and the
    immutable account (allLogs would include chatty categories; audit is what the law asks)."""

    def __init__(self, name: str, args: AuditDiagnosticsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:azure:AuditDiagnostics", name, None, opts)
        if not args.targets:
            raise ValueError("targets: nothing to audit")
        for key, resource_id in sorted(args.targets.items()):
            monitor.DiagnosticSetting(
                f"{name}-{key}",
                name="sahab-audit",
                resource_uri=resource_id,
                workspace_id=args.workspace_id,
                storage_account_id=args.audit_account_id,
                log_analytics_destination_type="Dedicated",
                logs=[monitor.DiagnosticsLogSettingsArgs(category_group="audit", enabled=True)],
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})
