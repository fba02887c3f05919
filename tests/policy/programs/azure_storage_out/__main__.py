"""A storage account in West Europe (real pulumi-azure-native resources): customer data outside the UAE."""

from pulumi_azure_native import resources, storage

rg = resources.ResourceGroup("rg", resource_group_name="sahab-test", location="uaenorth")
storage.StorageAccount(
    "lake",
    resource_group_name=rg.name,
    location="westeurope",
    kind="StorageV2",
    sku=storage.SkuArgs(name="Standard_LRS"),
    minimum_tls_version="TLS1_2",
    allow_blob_public_access=False,
)
