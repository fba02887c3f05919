"""Objects replicated to a bucket in us-east-1."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "confidential"}})
opts = pulumi.ResourceOptions(provider=uae)
us = aws.Provider("us", region="us-east-1")
src = aws.s3.Bucket("src", opts=opts)
dest = aws.s3.Bucket("dest", opts=pulumi.ResourceOptions(provider=us))
role = aws.iam.Role("replication", assume_role_policy="{}", opts=opts)
aws.s3.BucketReplicationConfig("repl", bucket=src.id, role=role.arn, rules=[{"id": "all", "status": "Enabled", "destination": {"bucket": dest.arn}}], opts=opts)
