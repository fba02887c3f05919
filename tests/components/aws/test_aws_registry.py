"""Registry on its own: one ECR repository per name under the prefix, immutable tags, scan on push,
KMS with the data key, untagged images expiring; no replication configuration (images stay in the
region); duplicate names refused."""

from __future__ import annotations

import json

import pytest

from components.aws.registry import WORKLOAD_REPOSITORIES, Registry, RegistryArgs
from tests.components.component_helpers import ACCOUNT_ID, REGION, Built, build, expect, prop, refused

DATA_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/data"
REPOSITORIES = (*WORKLOAD_REPOSITORIES, "mirror/bitnami/redis")
REPOSITORY = "aws:ecr/repository:Repository"


@pytest.fixture(scope="module")
def registry() -> Built:
    return build(lambda: Registry("r", RegistryArgs(key_arn=DATA_KEY, repositories=REPOSITORIES, untagged_expiry_days=7)))


def test_every_repository_is_immutable_scanned_and_kms_encrypted(registry: Built):
    repos = registry.of_type(REPOSITORY)
    assert sorted(prop(r, "name") for r in repos) == sorted(f"sahab/{n}" for n in REPOSITORIES), (
        f"{registry.urn}: repositories {[prop(r, 'name') for r in repos]}"
    )
    for repo in repos:
        expect(repo, "imageTagMutability", "IMMUTABLE")
        expect(repo, "imageScanningConfiguration.scanOnPush", True)
        expect(repo, "encryptionConfigurations", [{"encryptionType": "KMS", "kmsKey": DATA_KEY}])
    registry.child("r-mirror-bitnami-redis", REPOSITORY)  # slashes become dashes in logical names


def test_untagged_images_expire(registry: Built):
    for repo in registry.of_type(REPOSITORY):
        lifecycle = registry.child(f"{repo.name}-lifecycle", "aws:ecr/lifecyclePolicy:LifecyclePolicy")
        expect(lifecycle, "repository", prop(repo, "name"))
        rules = json.loads(prop(lifecycle, "policy"))["rules"]
        assert [(r["selection"]["tagStatus"], r["selection"]["countNumber"], r["action"]["type"]) for r in rules] == [("untagged", 7, "expire")], (
            f"{lifecycle.urn}: policy rules {rules}"
        )


def test_nothing_replicates_out_of_the_region(registry: Built):
    assert registry.types() == {REPOSITORY: len(REPOSITORIES), "aws:ecr/lifecyclePolicy:LifecyclePolicy": len(REPOSITORIES)}, (
        f"{registry.urn}: children {registry.types()} (no replication configuration, no other resource)"
    )
    urls = registry.output("repository_urls").value
    assert urls["serving"] == f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/sahab/serving", f"{registry.urn}: repository_urls[serving] = {urls['serving']}"


def test_duplicate_names_are_refused_before_any_repository():
    refusal = refused(lambda: Registry("r", RegistryArgs(key_arn=DATA_KEY, repositories=("serving", "training", "serving"))))
    assert refusal.message.startswith("repositories:"), f"Registry: message {refusal.message!r} does not name repositories"
    assert not refusal.children, f"Registry registered {[r.urn for r in refusal.children]} before refusing repositories"
