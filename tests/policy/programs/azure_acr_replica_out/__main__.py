"""An ACR in uaenorth geo-replicated to West Europe: every image (code, models) copied out of the UAE."""

from pulumi_azure_native import containerregistry, resources

rg = resources.ResourceGroup("rg", resource_group_name="sahab-test", location="uaenorth")
registry = containerregistry.Registry(
    "acr",
    registry_name="sahabtestacr",
    resource_group_name=rg.name,
    location="uaenorth",
    sku=containerregistry.SkuArgs(name="Premium"),
    admin_user_enabled=False,
)
containerregistry.Replication("acr-weu", replication_name="westeurope", registry_name=registry.name, resource_group_name=rg.name, location="westeurope")
