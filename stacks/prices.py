"""Hourly prices of machine types from the dated price snapshot `sahab cost` reads
(sahab/cost/prices/<region>.json), for what the program shows people: the notebook profiles' cost
on JupyterHub's spawn page. Read as data by its path (the Pulumi program never imports the tooling)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

PRICES = Path(__file__).resolve().parents[1] / "sahab" / "cost" / "prices"
# How each cloud's snapshot names a machine's on-demand hourly price (sahab/cost/rules.py's keys).
MACHINE_KEYS = ("ec2:{}", "vm:{}")


@lru_cache(maxsize=8)
def _snapshot(region: str) -> dict:
    path = PRICES / f"{region}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def snapshot_name(region: str) -> str:
    """`<region> <date>` of the region's snapshot, or "" without one (the customer's own hardware)."""
    data = _snapshot(region)
    return f"{data['region']} {data['date']}" if data else ""


def hourly_usd(region: str, machine_type: str | None) -> float | None:
    """The on-demand price of one `machine_type` node per hour, or None when the snapshot has none."""
    prices = _snapshot(region).get("prices", {})
    for key in MACHINE_KEYS:
        entry = prices.get(key.format(machine_type)) if machine_type else None
        if entry and entry.get("unit") == "hour":
            return float(entry["usd"])
    return None
