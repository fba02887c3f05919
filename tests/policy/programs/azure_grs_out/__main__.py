"""A geo-redundant storage account in West Europe and an Azure OpenAI GlobalStandard deployment
(declared as plain CustomResources: the offline engine needs no Azure provider package)."""

import pulumi

pulumi.CustomResource(
    "azure-native:storage:StorageAccount", "lake", {"location": "westeurope", "kind": "StorageV2", "sku": {"name": "Standard_RAGRS"}, "resourceGroupName": "rg"}
)
pulumi.CustomResource(
    "azure-native:cognitiveservices:Deployment", "gpt", {"accountName": "oai", "resourceGroupName": "rg", "sku": {"name": "GlobalStandard", "capacity": 10}}
)
