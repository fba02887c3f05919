"""A Log Analytics workspace in North Europe: the platform's logs (customer data) stored outside the UAE."""

from pulumi_azure_native import operationalinsights, resources

rg = resources.ResourceGroup("rg", resource_group_name="sahab-test", location="uaenorth")
operationalinsights.Workspace(
    "logs",
    workspace_name="sahab-test-logs",
    resource_group_name=rg.name,
    location="northeurope",
    sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
    retention_in_days=90,
)
