"""A DynamoDB global table with a replica in us-east-1."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "confidential"}})
opts = pulumi.ResourceOptions(provider=uae)
aws.dynamodb.Table(
    "features",
    hash_key="id",
    attributes=[{"name": "id", "type": "S"}],
    billing_mode="PAY_PER_REQUEST",
    stream_enabled=True,
    stream_view_type="NEW_AND_OLD_IMAGES",
    replicas=[{"region_name": "us-east-1"}],
    opts=opts,
)
