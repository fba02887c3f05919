"""Geo-redundant storage from uaenorth: the copy goes to its pair uaecentral, which is in the UAE
(UAE.md), so the residency pack lets it through."""

from pulumi_azure_native import resources, storage

rg = resources.ResourceGroup("rg", resource_group_name="sahab-test", location="uaenorth")
storage.StorageAccount(
    "lake",
    resource_group_name=rg.name,
    location="uaenorth",
    kind="StorageV2",
    sku=storage.SkuArgs(name="Standard_GRS"),
    minimum_tls_version="TLS1_2",
    allow_blob_public_access=False,
)
