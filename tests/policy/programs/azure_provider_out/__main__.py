"""A provider pinned to West Europe: its resources carry no location of their own and land there."""

import pulumi
import pulumi_azure_native as azure_native
from pulumi_azure_native import network, resources

weu = azure_native.Provider("weu", location="westeurope")
opts = pulumi.ResourceOptions(provider=weu)
rg = resources.ResourceGroup("rg", resource_group_name="sahab-test", opts=opts)
network.VirtualNetwork(
    "vnet", virtual_network_name="sahab-test", resource_group_name=rg.name, address_space=network.AddressSpaceArgs(address_prefixes=["10.60.0.0/16"]), opts=opts
)
