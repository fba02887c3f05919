"""An AMI copied in from us-east-1."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "confidential"}})
opts = pulumi.ResourceOptions(provider=uae)
aws.ec2.AmiCopy("base", source_ami_id="ami-0123456789abcdef0", source_ami_region="us-east-1", opts=opts)
