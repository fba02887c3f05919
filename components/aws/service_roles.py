"""Service-linked roles the platform needs on a fresh account: Auto Scaling (managed node groups
launch their encrypted volumes through it, and the data key's policy names it) and EC2 Spot (spot
launches by the node groups and Karpenter). A new account has neither until something creates
them, and a KMS key policy naming a role that does not exist is refused.

IAM allows one role per service and account and refuses a second create, so this is switched off
(`cluster.create_service_linked_roles: false`) on accounts that already have them; or adopt them
with `pulumi import aws:iam/serviceLinkedRole:ServiceLinkedRole <name> <role ARN>`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# service -> the role's name, as IAM creates it (arn:aws:iam::<account>:role/aws-service-role/<service>/<name>).
SERVICE_LINKED_ROLES = {
    "autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling",
    "spot.amazonaws.com": "AWSServiceRoleForEC2Spot",
}


@dataclass(frozen=True)
class ServiceLinkedRolesArgs:
    services: tuple[str, ...] = tuple(SERVICE_LINKED_ROLES)
    """AWS services whose service-linked role is created."""


class ServiceLinkedRoles(pulumi.ComponentResource):
    role_arns: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: ServiceLinkedRolesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:ServiceLinkedRoles", name, None, opts)
        unknown = sorted(set(args.services) - set(SERVICE_LINKED_ROLES))
        if unknown:
            raise ValueError(f"services: {unknown} are not service-linked roles the platform uses; known: {sorted(SERVICE_LINKED_ROLES)}")
        arns = {}
        for service in args.services:
            slug = service.split(".", 1)[0]
            role = aws.iam.ServiceLinkedRole(
                f"{name}-{slug}",
                aws_service_name=service,
                # Deleting the stack must not pull the role from under other users of the account.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            arns[service] = role.arn
        self.role_arns = pulumi.Output.all(**arns)
        self.register_outputs({"role_arns": self.role_arns})
