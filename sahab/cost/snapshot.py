"""The dated price snapshot a cost estimate is priced from (`sahab/cost/prices/<region>.json`).

A snapshot is one region of one cloud: its `date`, its `source`, `hours_per_month`, the stated
`assumptions` (usage the plan cannot know: GiB stored, GiB through a NAT gateway, the spot
discount) and `prices`, one entry per price key (`ec2:t3.large`, `ebs:gp3`, `kms:key`, ...) with
its unit, whether it was confirmed for this region, and where it comes from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workloads.errors import SahabError

PRICES_DIR = Path(__file__).resolve().parent / "prices"
AED_PER_USD = 3.6725  # the UAE dirham's fixed peg to the US dollar (Central Bank of the UAE, since 1997)

Unit = Literal["hour", "month", "gib-month", "gib", "100k-events"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PriceEntry(_Model):
    usd: float = Field(ge=0, description="Price of one unit in USD.")
    unit: Unit = Field(description="What one unit is: an hour, a month, a GiB-month, a GiB, 100,000 events.")
    confirmed: bool = Field(description="True only when the price was read for this very region.")
    source: str = Field(min_length=10, description="Where the price comes from (page, file, API) and how it was derived.")


class Assumption(_Model):
    value: float = Field(ge=0)
    why: str = Field(min_length=10)


class PriceSnapshot(_Model):
    cloud: Literal["aws", "azure"]
    region: str
    currency: Literal["USD"] = "USD"
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="When the snapshot was taken (YYYY-MM-DD).")
    source: str = Field(min_length=10)
    hours_per_month: float = Field(default=730, gt=0)
    assumptions: dict[str, Assumption] = Field(default_factory=dict)
    prices: dict[str, PriceEntry]

    def assumption(self, name: str) -> float:
        """The stated value of a usage assumption; a missing one is a broken snapshot."""
        try:
            return self.assumptions[name].value
        except KeyError:
            raise SnapshotError(f"price snapshot {self.region} ({self.date}): assumption {name!r} is missing. Fix: add it under `assumptions`.") from None


class SnapshotError(SahabError, ValueError):
    """A snapshot that cannot be used: missing, unreadable or malformed (the message says which). Exit 2."""

    exit_code = 2


def snapshot_path(region: str, prices_dir: Path | None = None) -> Path:
    return (prices_dir or PRICES_DIR) / f"{region}.json"


def load_snapshot(region: str, prices_dir: Path | None = None) -> PriceSnapshot | None:
    """The snapshot of `region`, or None when the repository has none for it."""
    path = snapshot_path(region, prices_dir)
    if not path.exists():
        return None
    return read_snapshot(path)


def read_snapshot(path: Path) -> PriceSnapshot:
    try:
        return PriceSnapshot.model_validate(json.loads(path.read_text()))
    except json.JSONDecodeError as e:
        raise SnapshotError(f"{path}: not valid JSON ({e}). Fix: regenerate it with scripts/refresh_prices.py.") from None
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors(include_url=False))
        raise SnapshotError(f"{path}: not a price snapshot ({problems}). Fix: compare it with sahab/cost/prices/me-central-1.json.") from None
