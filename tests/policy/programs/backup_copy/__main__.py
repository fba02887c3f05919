"""AWS Backup copying recovery points to a vault in eu-west-1."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "confidential"}})
opts = pulumi.ResourceOptions(provider=uae)
vault = aws.backup.Vault("vault", opts=opts)
aws.backup.Plan(
    "plan",
    rules=[
        {
            "rule_name": "daily",
            "target_vault_name": vault.name,
            "schedule": "cron(0 3 * * ? *)",
            "copy_actions": [{"destination_vault_arn": "arn:aws:backup:eu-west-1:123456789012:backup-vault:dr"}],
        }
    ],
    opts=opts,
)
