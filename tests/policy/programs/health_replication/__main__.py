"""Health data (data-classification: health) replicated, even in-region, with 7-year audit retention."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "health"}})
opts = pulumi.ResourceOptions(provider=uae)
src = aws.s3.Bucket("records", opts=opts)
copy = aws.s3.Bucket("records-copy", opts=opts)
role = aws.iam.Role("replication", assume_role_policy="{}", opts=opts)
aws.s3.BucketReplicationConfig("repl", bucket=src.id, role=role.arn, rules=[{"id": "all", "status": "Enabled", "destination": {"bucket": copy.arn}}], opts=opts)
