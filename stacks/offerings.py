"""What each UAE region offers, as the project knows it (see ../shared/UAE.md).

This table is what the spec validates against before anything is registered. It is a snapshot of
public documentation, so `sahab preflight` style checks against the cloud's own API
(`aws ec2 describe-instance-type-offerings`, `az vm list-skus`) remain the final word at deploy
time; when AWS adds a family to me-central-1, add it here in the same change that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Regions physically in the UAE, per cloud. me-south-1 is Bahrain, GCP has no UAE region.
UAE_REGIONS: dict[str, tuple[str, ...]] = {
    "aws": ("me-central-1",),
    "azure": ("uaenorth", "uaecentral"),
}

# Regions people reach for by mistake, with why they are not in the UAE.
NOT_UAE: dict[str, str] = {
    "me-south-1": "AWS me-south-1 is Bahrain",
    "me-central1": "GCP me-central1 is Doha, Qatar",
    "me-central2": "GCP me-central2 is Dammam, Saudi Arabia",
    "il-central-1": "AWS il-central-1 is Tel Aviv",
    "qatarcentral": "Azure qatarcentral is Doha, Qatar",
}


@dataclass(frozen=True)
class RegionOfferings:
    """Instance families and availability zones of one region."""

    availability_zones: tuple[str, ...]
    gpu_instance_types: frozenset[str]
    cpu_instance_families: frozenset[str]
    db_instance_families: frozenset[str]
    cache_node_families: frozenset[str]


def _sizes(family: str, sizes: tuple[str, ...]) -> set[str]:
    return {f"{family}.{size}" for size in sizes}


_G_SIZES = ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")

OFFERINGS: dict[str, RegionOfferings] = {
    "me-central-1": RegionOfferings(
        availability_zones=("me-central-1a", "me-central-1b", "me-central-1c"),
        # g5 (A10G), g6 (L4) and p5en.48xlarge (8x H200). No p4d/p5/g4dn/inf2/trn here.
        gpu_instance_types=frozenset(_sizes("g5", _G_SIZES) | _sizes("g6", _G_SIZES) | {"p5en.48xlarge"}),
        cpu_instance_families=frozenset({"c5", "c6i", "c6g", "c7i", "m5", "m6i", "m6g", "m7i", "r5", "r6i", "r6g", "t3", "t4g"}),
        db_instance_families=frozenset({"db.m5", "db.m6g", "db.m6i", "db.r5", "db.r6g", "db.r6i", "db.t3", "db.t4g"}),
        cache_node_families=frozenset({"cache.m5", "cache.m6g", "cache.r5", "cache.r6g", "cache.t3", "cache.t4g"}),
    ),
}


def family_of(instance_type: str) -> str:
    """`c6i.2xlarge` -> `c6i`; `db.r6g.large` -> `db.r6g`."""
    parts = instance_type.split(".")
    return ".".join(parts[:-1]) if len(parts) > 1 else instance_type
