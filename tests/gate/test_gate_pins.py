"""Pins: chart versions and mirrored image tags in the plan against components/kubernetes/images.py PINS."""

from __future__ import annotations

from gate_helpers import policies, release

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


def test_image_references_split():
    assert split_image("123.dkr.ecr.me-central-1.amazonaws.com/sahab/mirror/grafana/grafana:12.1.1") == ("sahab/mirror/grafana/grafana", "12.1.1")
    assert split_image("localhost:5000/a/b") == ("a/b", "")
    assert split_image("quay.io/x/y@sha256:abc") == ("x/y", "sha256:abc")
