"""A public-read bucket with no public access block, no CMK, no TLS policy."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "confidential"}})
opts = pulumi.ResourceOptions(provider=uae)
aws.s3.Bucket("site", acl="public-read", opts=opts)
