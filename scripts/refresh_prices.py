#!/usr/bin/env python3
"""Refresh a price snapshot (sahab/cost/prices/<region>.json) from the provider's public price list.

    python scripts/refresh_prices.py me-central-1            AWS Price List bulk API (no credentials)
    python scripts/refresh_prices.py uaenorth                Azure retail prices API (no credentials)
    python scripts/refresh_prices.py me-central-1 --dry-run  print what would change

Every entry the price list answers is replaced by the region's own on-demand price, marked
`confirmed: true` with the URL it came from; entries it does not answer keep their value and stay
`confirmed: false`, and are listed at the end. The snapshot's `date` becomes today. Without a
network (the build machines have none) it says so and exits 3, leaving the snapshot untouched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PRICES = Path(__file__).resolve().parent.parent / "sahab" / "cost" / "prices"
AWS_OFFERS = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws"
AZURE_PRICES = "https://prices.azure.com/api/retail/prices"
EXIT_OFFLINE = 3


class Offline(RuntimeError):
    pass


def fetch_json(url: str, timeout: float) -> Any:
    """The JSON at `url`; None when the list has no such file (404: the service is not offered there)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise Offline(f"{url} answered HTTP {e.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise Offline(f"cannot reach {url}: {getattr(e, 'reason', e)}") from None


# --- AWS: the bulk offer file of each service for the region -------------------------------------------
# price key prefix -> (service code, matcher(attributes, usagetype, key suffix) -> bool, unit divisor)
Match = Callable[[dict[str, str], str, str], bool]
AWS_RULES: dict[str, tuple[str, Match]] = {
    "ec2": (
        "AmazonEC2",
        lambda a, u, s: (
            a.get("instanceType") == s
            and a.get("operatingSystem") == "Linux"
            and a.get("tenancy") == "Shared"
            and a.get("preInstalledSw") == "NA"
            and a.get("capacitystatus") == "Used"
            and a.get("licenseModel") in (None, "No License required")
        ),
    ),
    "ebs": ("AmazonEC2", lambda a, u, s: a.get("volumeApiName") == s and "EBS:VolumeUsage" in u),
    "rds-postgres": (
        "AmazonRDS",
        lambda a, u, s: a.get("instanceType") == s and a.get("databaseEngine") == "PostgreSQL" and a.get("deploymentOption") == "Single-AZ",
    ),
    "rds-storage": (
        "AmazonRDS",
        lambda a, u, s: (
            a.get("productFamily") == "Database Storage"
            and a.get("volumeType", "").lower().endswith(s.lower())
            and a.get("databaseEngine") in ("PostgreSQL", "Any")
            and a.get("deploymentOption") == "Single-AZ"
        ),
    ),
    "elasticache": ("AmazonElastiCache", lambda a, u, s: a.get("instanceType") == s and a.get("cacheEngine") in ("Redis", "Redis OSS")),
    "eks": ("AmazonEKS", lambda a, u, s: u.endswith("AmazonEKS-Hours:perCluster")),
    "vpc": (
        "AmazonVPC",
        lambda a, u, s: u.endswith(
            {
                "nat-hour": "NatGateway-Hours",
                "nat-gib": "NatGateway-Bytes",
                "endpoint-az-hour": "VpcEndpoint-Hours",
                "endpoint-gib": "VpcEndpoint-Bytes",
                "public-ipv4-hour": "PublicIPv4:InUseAddress",
            }.get(s, "\0")
        ),
    ),
    "elb": (
        "AWSELB",
        lambda a, u, s: (
            u.endswith({"nlb-hour": "LoadBalancerUsage", "nlb-lcu-hour": "LCUUsage", "clb-hour": "LoadBalancerUsage"}.get(s, "\0"))
            and a.get("productFamily") == ("Load Balancer" if s == "clb-hour" else "Load Balancer-Network")
        ),
    ),
    "kms": ("awskms", lambda a, u, s: u.endswith("KMS-Keys")),
    "secretsmanager": ("AWSSecretsManager", lambda a, u, s: u.endswith("AWSSecretsManager-Secrets")),
    "s3": ("AmazonS3", lambda a, u, s: u.endswith("TimedStorage-ByteHrs") and a.get("volumeType") == "Standard"),
    "ecr": ("AmazonECR", lambda a, u, s: u.endswith("TimedStorage-ByteHrs")),
    "cloudwatch": (
        "AmazonCloudWatch",
        lambda a, u, s: u.endswith({"logs-ingest-gib": "DataProcessing-Bytes", "logs-store-gib": "TimedStorage-ByteHrs"}.get(s, "\0")),
    ),
    "cloudtrail": ("AWSCloudTrail", lambda a, u, s: u.endswith("DataEventsRecorded")),
}
PER_UNIT = {"cloudtrail": 1e5}  # the list prices one event; the snapshot's unit is 100,000 events


def _on_demand(offer: dict[str, Any], sku: str) -> float | None:
    """The first (lowest-tier) USD on-demand price of `sku`."""
    for term in (offer.get("terms", {}).get("OnDemand", {}).get(sku) or {}).values():
        dims = sorted(term.get("priceDimensions", {}).values(), key=lambda d: float(d.get("beginRange", 0) or 0))
        for d in dims:
            usd = d.get("pricePerUnit", {}).get("USD")
            if usd is not None and float(usd) > 0:
                return float(usd)
    return None


def aws_prices(region: str, keys: list[str], base: str, timeout: float) -> Iterator[tuple[str, float, str]]:
    """(key, USD, source URL) for every key the region's offer files answer."""
    by_service: dict[str, list[str]] = {}
    for key in keys:
        prefix = key.split(":", 1)[0]
        if prefix in AWS_RULES:
            by_service.setdefault(AWS_RULES[prefix][0], []).append(key)
    for service, service_keys in sorted(by_service.items()):
        url = f"{base}/{service}/current/{region}/index.json"
        offer = fetch_json(url, timeout)
        if offer is None:
            continue
        for key in service_keys:
            prefix, _, suffix = key.partition(":")
            match = AWS_RULES[prefix][1]
            for sku, product in (offer.get("products") or {}).items():
                attrs = {**(product.get("attributes") or {}), "productFamily": product.get("productFamily", "")}
                if match(attrs, attrs.get("usagetype", ""), suffix):
                    usd = _on_demand(offer, sku)
                    if usd is not None:
                        yield key, usd * PER_UNIT.get(prefix, 1), url
                        break


# --- Azure: the retail prices API, filtered per SKU --------------------------------------------------------
def azure_prices(region: str, keys: list[str], base: str, timeout: float) -> Iterator[tuple[str, float, str]]:
    """vm:<armSkuName> keys priced from the retail API's Linux pay-as-you-go consumption meters."""
    for key in keys:
        prefix, _, sku = key.partition(":")
        if prefix != "vm":
            continue
        flt = f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and armSkuName eq '{sku}' and priceType eq 'Consumption'"
        url = f"{base}?{urllib.parse.urlencode({'$filter': flt})}"
        doc = fetch_json(url, timeout) or {}
        for item in doc.get("Items") or []:
            name = f"{item.get('productName', '')} {item.get('skuName', '')} {item.get('meterName', '')}"
            if "Windows" in name or "Spot" in name or "Low Priority" in name:
                continue
            if item.get("unitOfMeasure") == "1 Hour" and float(item.get("retailPrice", 0)) > 0:
                yield key, float(item["retailPrice"]), url
                break


def refresh(
    region: str,
    *,
    aws_base: str = AWS_OFFERS,
    azure_base: str = AZURE_PRICES,
    timeout: float = 60,
    today: str | None = None,
    dry_run: bool = False,
    prices_dir: Path = PRICES,
) -> tuple[int, list[str]]:
    """Refresh one snapshot; (entries confirmed, keys the list did not answer). Raises Offline."""
    path = prices_dir / f"{region}.json"
    if not path.exists():
        raise SystemExit(f"{path} does not exist; known snapshots: {sorted(p.stem for p in prices_dir.glob('*.json'))}")
    snap = json.loads(path.read_text())
    keys = sorted(snap["prices"])
    source = aws_prices if snap["cloud"] == "aws" else azure_prices
    found = list(source(region, keys, aws_base if snap["cloud"] == "aws" else azure_base, timeout))
    date = today or dt.date.today().isoformat()
    for key, usd, url in found:
        snap["prices"][key] = {"usd": round(usd, 6), "unit": snap["prices"][key]["unit"], "confirmed": True, "source": f"{url} (on-demand, fetched {date})"}
    missing = sorted(set(keys) - {k for k, _, _ in found})
    if found and not dry_run:
        snap["date"] = date
        snap["source"] = (
            f"{'AWS Price List bulk API' if snap['cloud'] == 'aws' else 'Azure retail prices API'} for {region}, fetched {date}; entries with confirmed=false were not answered by it and keep their earlier estimate"
        )
        path.write_text(json.dumps(snap, indent=1) + "\n")
    return len(found), missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("region", help="snapshot to refresh: me-central-1, uaenorth, ...")
    parser.add_argument("--dry-run", action="store_true", help="fetch and report, write nothing")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--aws-offers-url", default=AWS_OFFERS, help=argparse.SUPPRESS)
    parser.add_argument("--azure-prices-url", default=AZURE_PRICES, help=argparse.SUPPRESS)
    parser.add_argument("--prices-dir", type=Path, default=PRICES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        confirmed, missing = refresh(
            args.region, aws_base=args.aws_offers_url, azure_base=args.azure_prices_url, timeout=args.timeout, dry_run=args.dry_run, prices_dir=args.prices_dir
        )
    except Offline as e:
        print(f"refresh_prices: {e}. No network here: the snapshot is unchanged (run this where the public price list is reachable).", file=sys.stderr)
        return EXIT_OFFLINE
    print(f"{args.region}: {confirmed} price(s) confirmed from the public list{' (dry run, nothing written)' if args.dry_run else ''}")
    if missing:
        print(f"not answered by the list, kept unconfirmed ({len(missing)}): {', '.join(missing)}")
    return 0 if confirmed else 1


if __name__ == "__main__":
    sys.exit(main())
