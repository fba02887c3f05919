"""scripts/refresh_prices.py against a loopback stand-in for the AWS Price List bulk API, and offline."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sahab.cost import read_snapshot
from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "refresh_prices.py"

EC2 = {
    "products": {
        "SKU1": {
            "productFamily": "Compute Instance",
            "attributes": {
                "instanceType": "t3.large",
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
                "licenseModel": "No License required",
                "usagetype": "MEC1-BoxUsage:t3.large",
            },
        },
        "SKU2": {
            "productFamily": "Compute Instance",
            "attributes": {
                "instanceType": "t3.large",
                "operatingSystem": "Windows",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
                "usagetype": "MEC1-BoxUsage:t3.large",
            },
        },
        "SKU3": {"productFamily": "Storage", "attributes": {"volumeApiName": "gp3", "usagetype": "MEC1-EBS:VolumeUsage.gp3"}},
    },
    "terms": {
        "OnDemand": {
            "SKU1": {"SKU1.T": {"priceDimensions": {"SKU1.T.D": {"unit": "Hrs", "beginRange": "0", "pricePerUnit": {"USD": "0.1001000000"}}}}},
            "SKU2": {"SKU2.T": {"priceDimensions": {"SKU2.T.D": {"unit": "Hrs", "pricePerUnit": {"USD": "0.1900000000"}}}}},
            "SKU3": {"SKU3.T": {"priceDimensions": {"SKU3.T.D": {"unit": "GB-Mo", "pricePerUnit": {"USD": "0.0968000000"}}}}},
        }
    },
}


@pytest.fixture
def offers():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = EC2 if self.path == "/aws/AmazonEC2/current/me-central-1/index.json" else None
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(json.dumps(body or {}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/aws"
    server.shutdown()
    server.server_close()


def _run(prices_dir, *args):
    return subprocess.run([sys.executable, str(SCRIPT), "me-central-1", "--prices-dir", str(prices_dir), *args], capture_output=True, text=True, timeout=60)


def test_confirms_what_the_list_answers_and_keeps_the_rest_unconfirmed(offers, tmp_path):
    shutil.copy(REPO / "sahab" / "cost" / "prices" / "me-central-1.json", tmp_path / "me-central-1.json")
    out = _run(tmp_path, "--aws-offers-url", offers)
    assert out.returncode == 0, out.stderr
    assert "2 price(s) confirmed" in out.stdout and "ec2:t3.xlarge" in out.stdout, out.stdout
    snap = read_snapshot(tmp_path / "me-central-1.json")
    t3 = snap.prices["ec2:t3.large"]
    assert (t3.usd, t3.confirmed) == (0.1001, True) and offers in t3.source, t3
    assert snap.prices["ebs:gp3"].usd == 0.0968 and snap.prices["ebs:gp3"].confirmed
    assert not snap.prices["ec2:m7i.large"].confirmed, "what the list did not answer stays an estimate"
    assert snap.date == dt.date.today().isoformat() and snap.source.startswith("AWS Price List bulk API for me-central-1, fetched"), (snap.date, snap.source)


def test_offline_it_says_so_and_leaves_the_snapshot_alone(tmp_path):
    shutil.copy(REPO / "sahab" / "cost" / "prices" / "me-central-1.json", tmp_path / "me-central-1.json")
    before = (tmp_path / "me-central-1.json").read_text()
    out = _run(tmp_path, "--aws-offers-url", "http://127.0.0.1:9/aws", "--timeout", "2")
    assert out.returncode == 3 and "No network here: the snapshot is unchanged" in out.stderr, (out.returncode, out.stderr)
    assert (tmp_path / "me-central-1.json").read_text() == before
