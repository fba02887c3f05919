"""Pins: chart versions and mirrored image tags in the plan against PINS in components/kubernetes/pins.py."""

from __future__ import annotations

import copy

import pytest
from gate_helpers import policies, release

from components.kubernetes.pins import of_kind
from sahab.gate.deployability import pins
from sahab.gate.deployability.pins import split_image


def test_shipped_plans_agree_with_the_pin_table(uae_ctx, smb_ctx):
    for ctx in (uae_ctx, smb_ctx):
        assert pins.check(ctx) == [], [f.message for f in pins.check(ctx)]


def test_every_release_and_mirrored_image_is_covered(uae_ctx):
    assert len(uae_ctx.releases) >= 5
    images = [i for _, r in uae_ctx.releases for i in pins._value_images(r.get("values") or {})]
    assert len(images) >= 8 and all(path.startswith(pins.MIRROR_PREFIX) for _, path, _ in images), images


def test_a_chart_version_changed_fails_naming_release_and_pin(uae_ctx):
    release(uae_ctx, "dcgm-exporter")["version"] = "4.2.3"
    found = policies(pins.check(uae_ctx))
    message = found["pins-chart-version"][0]
    assert "dcgm-exporter" in message and "4.2.3" in message and "4.1.3" in message and "Fix:" in message, message


def test_an_image_tag_changed_fails(uae_ctx):
    values = release(uae_ctx, "kube-prometheus-stack")["values"]
    values["prometheusOperator"]["prometheusConfigReloader"]["image"]["tag"] = "v0.81.0"
    found = policies(pins.check(uae_ctx))
    message = found["pins-image-tag"][0]
    assert "prometheusOperator.prometheusConfigReloader.image" in message and "v0.81.0" in message and "v0.85.0" in message, message


def test_an_unpinned_chart_and_image_fail(uae_ctx):
    r = release(uae_ctx, "prometheus-pushgateway")
    r["chart"] = "some-other-chart"
    r["values"]["image"]["repository"] = r["values"]["image"]["repository"].replace("prometheus/pushgateway", "acme/unpinned")
    found = policies(pins.check(uae_ctx))
    assert "pins-chart-known" in found and "pins-image-known" in found, found
    assert "acme/unpinned" in found["pins-image-known"][0]


@pytest.fixture(scope="module")
def onprem_plan():
    from sahab.engine.offline import plan_environment
    from sahab.gate.model import REPO

    return plan_environment(REPO, "smb-onprem")


def test_the_data_services_images_are_checked_against_their_pins(onprem_plan):
    """`cloud: kubernetes` runs PostgreSQL, Redis and SeaweedFS from the customer's mirror: each
    container's tag is the `data-service` pin's, and a changed tag fails naming the pin."""
    from sahab.gate.deployability import Context
    from sahab.gate.model import REPO

    ctx = Context.of(copy.deepcopy(onprem_plan), REPO / "environments" / "smb-onprem")
    assert pins.check(ctx) == [], [f.message for f in pins.check(ctx)]
    wanted = {p.name.split("/", 1)[1]: p for p in of_kind("data-service")}
    found = {image[len(pins.MIRROR_PREFIX) :]: (rel, tag) for rel, _, image, tag in pins._manifest_images(ctx) if image[len(pins.MIRROR_PREFIX) :] in wanted}
    assert set(found) == set(wanted), f"smb-onprem manifests: data-service images {sorted(found)}, pins {sorted(wanted)}"
    rel, _ = found["library/postgres"]
    doc = next(d for r, d in ctx.manifests if r == rel)
    container = next(c for c in doc["spec"]["template"]["spec"]["containers"] if "library/postgres" in c["image"])
    container["image"] = container["image"].rsplit(":", 1)[0] + ":16.0"
    message = policies(pins.check(ctx))["pins-image-tag"][0]
    assert "16.0" in message and wanted["library/postgres"].version in message and "pins.py" in message, message


def test_image_references_split():
    assert split_image("123.dkr.ecr.me-central-1.amazonaws.com/sahab/mirror/grafana/grafana:12.1.1") == ("sahab/mirror/grafana/grafana", "12.1.1")
    assert split_image("localhost:5000/a/b") == ("a/b", "")
    assert split_image("quay.io/x/y@sha256:abc") == ("x/y", "sha256:abc")
