"""A Bedrock agent on a global cross-region inference profile."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "confidential"}})
opts = pulumi.ResourceOptions(provider=uae)
role = aws.iam.Role("agent", assume_role_policy="{}", opts=opts)
aws.bedrock.AgentAgent(
    "assistant", agent_name="assistant", agent_resource_role_arn=role.arn, foundation_model="global.anthropic.claude-sonnet-4-20250514-v1:0", opts=opts
)
