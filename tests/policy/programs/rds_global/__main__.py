"""An Aurora global database."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "confidential"}})
opts = pulumi.ResourceOptions(provider=uae)
aws.rds.GlobalCluster("registry", global_cluster_identifier="registry", engine="aurora-postgresql", opts=opts)
