"""An in-region provider, but the resource overrides its own region (pulumi-aws v7)."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "confidential"}})
opts = pulumi.ResourceOptions(provider=uae)
aws.sqs.Queue("jobs", region="eu-west-1", opts=opts)
