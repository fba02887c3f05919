"""Azure OpenAI deployments: Global* and DataZone* types process prompts outside the region."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import schema
from policy_packs.common.policy import say, subject
from policy_packs.common.values import as_map

CONFIG = schema()
DEPLOYMENTS = ("azure-native:cognitiveservices:Deployment", "azure:cognitive/deployment:Deployment")


def azure_openai_deployment_in_region(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in DEPLOYMENTS:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    sku = str(as_map(s.props.get("sku")).get("name") or as_map(s.props.get("scale")).get("type") or "")
    if sku.startswith(("Global", "DataZone")):
        report_violation(
            say(
                s,
                f"deployment type {sku} may process prompts and completions in any region of its geography, outside the UAE",
                "use a regional deployment type (`Standard` or `ProvisionedManaged`)",
            ),
            None,
        )
