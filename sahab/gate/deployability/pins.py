"""Pins: every Helm chart version and every mirrored image tag in the plan agrees with the one pin
table, `components/kubernetes/pins.py: PINS` (each pin says where it was checked).

A chart is matched by the release's `chart` (as Helm fetches it); an image by its path in the
in-region mirror (`<registry>/sahab/mirror/<upstream path without its host>`), in manifests and in
the releases' values (`image: {registry?, repository, tag}` blocks or `image: "<ref>"` strings).
The platform's own images (`<registry>/sahab/<workload>:<release>`) are built from this repository
and are not third-party pins. A live check of the chart versions is `sahab preflight`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from components.kubernetes.pins import PINS, Pin
from sahab.gate.deployability.context import Context, finding
from sahab.gate.deployability.pods import templates_of

MIRROR_PREFIX = "sahab/mirror/"
PIN_TABLE = "PINS in components/kubernetes/pins.py"


def _strip_host(ref: str) -> str:
    first, _, rest = ref.partition("/")
    return rest if rest and ("." in first or ":" in first or first == "localhost") else ref


def split_image(ref: str) -> tuple[str, str]:
    """`host/path:tag` -> (`path` without the host, `tag`); a digest counts as the tag."""
    if "@" in ref:
        name, _, tag = ref.partition("@")
    else:
        slash = ref.rfind("/")
        colon = ref.rfind(":")
        name, tag = (ref[:colon], ref[colon + 1 :]) if colon > slash else (ref, "")
    return _strip_host(name), tag


def _value_images(values: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """(values path, image path without host, tag) of every image block in a release's values."""
    if isinstance(values, dict):
        repo = values.get("repository")
        if isinstance(repo, str) and repo and ("tag" in values or "digest" in values):
            registry = values.get("registry")
            name = f"{registry}/{repo}" if registry else repo
            tag = str(values.get("digest") or values.get("tag") or "")
            yield path or "(root)", _strip_host(name), tag
        for k, v in values.items():
            if k == "image" and isinstance(v, str) and v:
                yield f"{path}.image".lstrip("."), *split_image(v)
            else:
                yield from _value_images(v, f"{path}.{k}".lstrip("."))
    elif isinstance(values, list):
        for i, v in enumerate(values):
            yield from _value_images(v, f"{path}[{i}]")


def _manifest_images(ctx: Context) -> Iterator[tuple[str, str, str, str]]:
    """(manifest path, container, image path without host, tag) of every container."""
    for rel, doc in ctx.manifests:
        for _, template in templates_of(doc):
            spec = template.get("spec") or {}
            for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                if isinstance(c.get("image"), str):
                    yield rel, str(c.get("name")), *split_image(c["image"])


def check(ctx: Context) -> list:
    charts = {p.name: p for p in PINS if p.kind == "chart"}
    images = {_strip_host(p.name): p for p in PINS if p.kind != "chart"}
    out = []
    for rel, release in ctx.releases:
        name, version = str(release.get("chart") or ""), str(release.get("version") or "")
        label = f"{release.get('release')} (kubernetes:helm.sh/v3:Release)"
        urn = ctx.urns.get(rel, "")
        pin = charts.get(name)
        if pin is None:
            out.append(
                finding(
                    "pins-chart-known",
                    f"{label}: chart {name} {version} is not in the pin table. Fix: check the chart index, add Pin(kind='chart', key=..., name='{name}', version='{version}', repo=..., checked='<where you checked it>') to {PIN_TABLE} and regenerate IMAGES.md (python -m components.kubernetes.pins --write).",
                    urn=urn,
                    resource=str(release.get("release")),
                    file=rel,
                )
            )
        elif pin.version != version:
            out.append(
                finding(
                    "pins-chart-version",
                    f"{label}: chart {name} is at {version or '(no version)'}, but the pin table says {pin.version} (checked: {pin.checked}). Fix: take the release's chart from pins.chart(), or move the pin in {PIN_TABLE} after checking the chart index.",
                    urn=urn,
                    resource=str(release.get("release")),
                    file=rel,
                )
            )
        for where, image, tag in _value_images(release.get("values") or {}):
            out += _image_finding(images, label, f"values.{where}", image, tag, rel, urn=urn)
    for rel, container, image, tag in _manifest_images(ctx):
        if image.startswith(MIRROR_PREFIX):
            out += _image_finding(images, f"{rel} container {container}", "image", image, tag, rel, urn=ctx.urns.get(rel, ""))
    return out


def _image_finding(images: dict[str, Pin], label: str, where: str, image: str, tag: str, rel: str, urn: str = "") -> list:
    if not image.startswith(MIRROR_PREFIX):
        return []  # not a mirrored third-party image (residency decides where images may come from)
    upstream = image[len(MIRROR_PREFIX) :]
    pin = images.get(upstream)
    if pin is None:
        return [
            finding(
                "pins-image-known",
                f"{label}: {where} {image}:{tag} mirrors {upstream}, which is not in the pin table. Fix: add Pin(kind='chart-image', key=..., name='<registry>/{upstream}', version='{tag}', default_of=..., values_path=..., checked='<the chart default it equals>') to {PIN_TABLE} and copy it into the mirror (IMAGES.md).",
                urn=urn,
                resource=label,
                file=rel,
            )
        ]
    if tag and tag != pin.version:
        return [
            finding(
                "pins-image-tag",
                f"{label}: {where} {image} is tagged {tag}, but the pin table says {pin.version} (checked: {pin.checked}). Fix: take the image from the pin table (images.helm_image() / images.mirror_ref()), or move the pin in {PIN_TABLE} after checking the chart's default.",
                urn=urn,
                resource=label,
                file=rel,
            )
        ]
    return []
