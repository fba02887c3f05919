"""An EKS cluster with a public endpoint and no secrets encryption, nodes on IMDSv1."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "confidential"}})
opts = pulumi.ResourceOptions(provider=uae)
role = aws.iam.Role("eks", assume_role_policy="{}", opts=opts)
aws.eks.Cluster("ml", role_arn=role.arn, vpc_config={"subnet_ids": ["subnet-1", "subnet-2"], "endpoint_public_access": True}, opts=opts)
aws.ec2.LaunchTemplate("nodes", metadata_options={"http_tokens": "optional"}, opts=opts)
