"""Workload identity: one user-assigned identity per workload (components/workloads.py), federated
with its Kubernetes service account through the cluster's OIDC issuer, and role assignments
scoped to exactly what the workload touches: the containers it reads or writes, the Key Vault
secrets it reads, the Key Vault keys it wraps with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import managedidentity

from components.azure._common import assign
from components.workloads import Workload, split_grant

AUDIENCE = "api://AzureADTokenExchange"
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
READ_ACTIONS = (f"{_BLOBS}/read",)
WRITE_ACTIONS = (f"{_BLOBS}/read", f"{_BLOBS}/write", f"{_BLOBS}/delete", f"{_BLOBS}/add/action", f"{_BLOBS}/move/action")


def path_condition(prefix: str, actions: tuple[str, ...]) -> str:
    """An ABAC condition limiting a container-scoped blob role to the blobs under `prefix`.

    Two clauses, as Microsoft's "Read or list blobs in named containers with a path" example has them:
    List Blobs (`blobs/read` with the suboperation `Blob.List`) carries no blob path, only the request's
    `prefix`, so a condition on the path alone would refuse every listing (a role condition whose
    attribute the operation lacks fails the access check); every other action of the role is judged by
    the blob's path. (checked: MicrosoftDocs/azure-docs articles/storage/blobs/storage-auth-abac-attributes.md,
    "List blobs" / "Read a blob" attribute tables, and storage-auth-abac-examples.md; fetched 2026-12-02)"""
    read = f"{_BLOBS}/read"
    judged = [f"!(ActionMatches{{'{a}'}} AND NOT SubOperationMatches{{'Blob.List'}})" if a == read else f"!(ActionMatches{{'{a}'}})" for a in actions]
    by_path = f"(({' AND '.join(judged)}) OR (@Resource[{_BLOBS}:path] StringStartsWith '{prefix}'))"
    if read not in actions:
        return by_path
    by_prefix = f"((!(ActionMatches{{'{read}'}} AND SubOperationMatches{{'Blob.List'}})) OR (@Request[{_BLOBS}:prefix] StringStartsWith '{prefix}'))"
    return f"{by_path} AND {by_prefix}"


@dataclass(frozen=True, kw_only=True)
class AzureWorkloadIdentityArgs:
    resource_group: pulumi.Input[str]
    """Platform resource group."""
    location: str
    """UAE location."""
    subscription_id: pulumi.Input[str]
    """Subscription (role definition ids)."""
    oidc_issuer_url: pulumi.Input[str]
    """The AKS OIDC issuer."""
    workloads: tuple[Workload, ...]
    """Who runs on the platform (namespace, service account, containers, secrets)."""
    container_ids: Mapping[str, pulumi.Input[str]]
    """Container resource id per purpose."""
    vault_id: pulumi.Input[str]
    """Key Vault of the secrets."""
    secret_names: Mapping[str, str]
    """Key Vault secret name per workload secret (`registry-db`, `online-store`)."""
    key_ids: Mapping[str, pulumi.Input[str]]
    """ARM id of the Key Vault key per workload key (`tokenisation`): the scope of its Key Vault Crypto User role."""
    tags: dict[str, str]
    """Tags of every identity."""


class AzureWorkloadIdentity(pulumi.ComponentResource):
    client_ids: pulumi.Output[dict[str, str]]
    """Client id per workload (the service account annotation)."""

    def __init__(self, name: str, args: AzureWorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:azure:WorkloadIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Every workload is checked before any is registered: a bad one leaves nothing half-built.
        for w in args.workloads:
            missing = [g for g in (*w.read_buckets, *w.write_buckets) if split_grant(g)[0] not in args.container_ids]
            missing += [s for s in w.secrets if s not in args.secret_names]
            missing += [k for k in w.keys if k not in args.key_ids]
            if missing:
                raise ValueError(f"workloads[{w.name}]: no container, secret or key for {missing}")
        client_ids = {}
        for w in args.workloads:
            uai = managedidentity.UserAssignedIdentity(
                f"{name}-{w.name}",
                resource_name_=f"sahab-{w.name}",
                resource_group_name=args.resource_group,
                location=args.location,
                tags=args.tags,
                opts=child,
            )
            managedidentity.FederatedIdentityCredential(
                f"{name}-{w.name}-federated",
                federated_identity_credential_resource_name=f"{w.namespace}-{w.service_account}",
                resource_name_=uai.name,
                resource_group_name=args.resource_group,
                issuer=args.oidc_issuer_url,
                subject=f"system:serviceaccount:{w.namespace}:{w.service_account}",
                audiences=[AUDIENCE],
                opts=child,
            )
            # (grant, role, the data actions its condition narrows, verb)
            grants: list[tuple[str, str, tuple[str, ...], str]] = [
                (g, "Storage Blob Data Reader", READ_ACTIONS, "read") for g in w.read_buckets if g not in w.write_buckets
            ]
            grants += [(g, "Storage Blob Data Contributor", WRITE_ACTIONS, "write") for g in w.write_buckets]
            for grant, role, actions, verb in grants:
                purpose, prefix = split_grant(grant)
                condition = path_condition(prefix, actions) if prefix else None
                assign(
                    f"{name}-{w.name}-{verb}-{grant.rstrip('/').replace('/', '-')}",
                    subscription_id=args.subscription_id,
                    role=role,
                    principal_id=uai.principal_id,
                    scope=args.container_ids[purpose],
                    condition=condition,
                    opts=child,
                )
            for secret in w.secrets:
                assign(
                    f"{name}-{w.name}-secret-{secret}",
                    subscription_id=args.subscription_id,
                    role="Key Vault Secrets User",
                    principal_id=uai.principal_id,
                    scope=pulumi.Output.format("{0}/secrets/{1}", args.vault_id, args.secret_names[secret]),
                    opts=child,
                )
            for key in w.keys:
                # wrapKey/unwrapKey on that one key (Key Vault Crypto User: keys/wrap/action, keys/unwrap/action),
                # the least of the built-in roles that has both.
                assign(
                    f"{name}-{w.name}-key-{key}",
                    subscription_id=args.subscription_id,
                    role="Key Vault Crypto User",
                    principal_id=uai.principal_id,
                    scope=args.key_ids[key],
                    opts=child,
                )
            client_ids[w.name] = uai.client_id
        self.client_ids = pulumi.Output.all(**client_ids)
        self.client_id_outputs = client_ids
        self.register_outputs({"client_ids": self.client_ids})
