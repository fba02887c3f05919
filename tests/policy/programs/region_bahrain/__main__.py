"""A bucket in me-south-1 (Bahrain, not the UAE)."""

import pulumi
import pulumi_aws as aws

bahrain = aws.Provider("bahrain", region="me-south-1")
aws.s3.Bucket("logs", opts=pulumi.ResourceOptions(provider=bahrain))
