"""DLM copying EBS snapshots to us-west-2."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "confidential"}})
opts = pulumi.ResourceOptions(provider=uae)
role = aws.iam.Role("dlm", assume_role_policy="{}", opts=opts)
aws.dlm.LifecyclePolicy(
    "snapshots",
    description="daily",
    execution_role_arn=role.arn,
    policy_details={
        "resource_types": ["VOLUME"],
        "target_tags": {"backup": "true"},
        "schedules": [
            {
                "name": "daily",
                "create_rule": {"interval": 24},
                "retain_rule": {"count": 7},
                "cross_region_copy_rules": [{"target": "us-west-2", "encrypted": True}],
            }
        ],
    },
    opts=opts,
)
