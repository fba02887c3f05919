"""ECR replicating every image to eu-west-1."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "confidential"}})
opts = pulumi.ResourceOptions(provider=uae)
aws.ecr.ReplicationConfiguration(
    "repl", replication_configuration={"rules": [{"destinations": [{"region": "eu-west-1", "registry_id": "123456789012"}]}]}, opts=opts
)
