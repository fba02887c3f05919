"""A multi-region KMS key."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "confidential"}})
opts = pulumi.ResourceOptions(provider=uae)
aws.kms.Key("data", multi_region=True, enable_key_rotation=True, opts=opts)
