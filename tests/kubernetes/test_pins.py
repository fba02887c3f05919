"""The one pin table (components/kubernetes/pins.py): its records refuse bad input, the registry's and
the recipes' views are derived from it, and the pin tables of IMAGES.md are exactly what
scripts/pins_markdown.py generates from it."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from components.kubernetes import images, pins
from components.kubernetes.pins import IMAGE_KINDS, PINS, Pin, of_kind

REPO = Path(__file__).resolve().parents[2]
IMAGES_MD = REPO / "components/kubernetes/IMAGES.md"
REGENERATE = "Fix: .venv/bin/python scripts/pins_markdown.py --write"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pins_markdown", REPO / "scripts/pins_markdown.py")
    assert spec and spec.loader, "scripts/pins_markdown.py: cannot be loaded"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_images_md_pin_tables_are_generated_from_the_table():
    md = _script()
    text = IMAGES_MD.read_text()
    assert md.render(text) == text, f"components/kubernetes/IMAGES.md: the pin tables differ from PINS in components/kubernetes/pins.py. {REGENERATE}"


def test_the_generated_tables_hold_every_pin_once_with_where_it_was_checked():
    rows = [line for line in _script().markdown().splitlines() if line.startswith("| `")]
    assert len(rows) == len(PINS), f"IMAGES.md tables: {len(rows)} rows for {len(PINS)} pins"
    for p in PINS:
        row = [r for r in rows if r.startswith(f"| `{p.key}` |") and f"`{p.version}`" in r and p.checked in r]
        assert len(row) == 1, f"IMAGES.md tables: pin {p.key} ({p.kind}) {p.version} appears {len(row)} times with its checked note"


def test_the_script_checks_rewrites_and_keeps_the_prose(tmp_path, monkeypatch):
    md = _script()
    stale = IMAGES_MD.read_text().replace(f"`{pins.chart('karpenter').version}`", "`0.0.1`", 1)
    target = tmp_path / "IMAGES.md"
    target.write_text(stale)
    monkeypatch.setattr(md, "IMAGES_MD", target)
    assert md.main(["--check"]) == 1, "scripts/pins_markdown.py --check: a stale table passed"
    assert md.main(["--write"]) == 0 and md.main(["--check"]) == 0, "scripts/pins_markdown.py --write: the table is still stale"
    assert target.read_text() == IMAGES_MD.read_text(), "scripts/pins_markdown.py --write: changed more than the pin tables"
    with pytest.raises(ValueError, match="markers"):
        md.render("# Images\n\nno markers here\n")


def test_the_check_command_passes_on_the_committed_file():
    proc = subprocess.run([sys.executable, "scripts/pins_markdown.py", "--check"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"scripts/pins_markdown.py --check: {proc.stderr[-500:]}"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"kind": "chart", "name": "x", "repo": "https://charts.example", "checked": " "}, "checked is empty"),
        ({"kind": "chart", "name": "x"}, "repo must be set"),
        ({"kind": "chart", "name": "oci://r.example/x", "repo": "https://charts.example"}, "repo must be set"),
        ({"kind": "chart", "name": "x", "repo": "https://charts.example", "default_of": "y", "values_path": "image"}, "belong to chart images"),
        ({"kind": "chart-image", "name": "quay.io/x/y"}, "default_of and values_path are required"),
        ({"kind": "build-base", "name": "quay.io/x/y", "default_of": "karpenter", "values_path": "image"}, "only for one"),
        ({"kind": "data-service", "name": "library/postgres"}, "registry host"),
        ({"kind": "data-service", "name": "docker.io/library/postgres", "repo": "https://charts.example"}, "repo belongs to charts"),
        ({"kind": "helm", "name": "x"}, "kind must be one of"),
    ],
)
def test_a_bad_pin_is_refused_naming_the_field(fields, error):
    with pytest.raises(ValueError, match=error) as e:
        Pin(**{"key": "x", "version": "1.0.0", "checked": "upstream file at the tag", **fields})
    assert "pin 'x'" in str(e.value), str(e.value)


def test_the_table_refuses_a_key_twice_and_a_chart_image_of_no_chart():
    base = pins.image("python-base")
    with pytest.raises(ValueError, match="used twice among the images"):
        pins._index((base, base))
    orphan = Pin(kind="chart-image", key="o", name="quay.io/o/o", version="1", default_of="no-such-chart", values_path="image", checked="c")
    with pytest.raises(ValueError, match="default_of 'no-such-chart' is not a chart key"):
        pins._index((*PINS, orphan))
    # A chart and its image may share a key: they are looked up apart.
    assert pins.chart("karpenter").kind == "chart" and pins.image("karpenter").default_of == "karpenter", "pins: key 'karpenter'"


def test_lookups_give_typed_records_and_an_unknown_key_lists_the_known_ones():
    karpenter = pins.chart("karpenter")
    assert karpenter.name.startswith("oci://") and karpenter.repo is None, f"pin karpenter: {karpenter}"
    with pytest.raises(KeyError, match="kube-prometheus-stack"):
        pins.chart("kube-prometheus")
    with pytest.raises(KeyError, match="python-base"):
        pins.image("python")
    for p in of_kind("chart-image"):
        assert pins.chart(p.default_of or "").kind == "chart", f"pin {p.key}: default_of {p.default_of}"


def test_the_registry_views_are_derived_from_the_table():
    cloud_mirrors = [p for p in of_kind("chart-image", "build-base")]
    assert images.required_mirror_repositories() == sorted("mirror/" + p.name.split("/", 1)[1] for p in cloud_mirrors), (
        "images.required_mirror_repositories(): not the chart images and build bases of PINS"
    )
    assert not set(images.required_mirror_repositories()) & {images.mirror_repository(p.key) for p in of_kind("data-service")}, (
        "images.required_mirror_repositories(): the data services run only in the customer's registry, not ECR/ACR"
    )
    copies = images.mirror_copies(data_services=True)
    assert copies == [(f"{p.name}:{p.version}", f"sahab/mirror/{p.name.split('/', 1)[1]}:{p.version}") for p in of_kind(*IMAGE_KINDS)], (
        f"images.mirror_copies(): {copies}"
    )
    for repo, w in images.WORKLOAD_IMAGES.items():
        base = pins.image(w.base)
        assert images.build_args(repo, "reg")["BASE"] == f"reg/sahab/{images.mirror_repository(w.base)}:{base.version}", f"sahab/{repo}: BASE"
    with pytest.raises(ValueError, match="not a build base"):
        images.WorkloadImage("postgres", ("ml",))


def _recipes() -> list[str]:
    return re.findall(r"<<'PY'[^\n]*\n(.*?)\nPY\n", IMAGES_MD.read_text(), flags=re.S)


def test_the_recipes_of_images_md_run_and_list_every_image():
    recipes = _recipes()
    assert len(recipes) == 3, f"components/kubernetes/IMAGES.md: {len(recipes)} python recipes, expected build, mirror, on-prem mirror"
    out = [subprocess.run([sys.executable, "-", "reg"], input=r, cwd=REPO, capture_output=True, text=True, timeout=120) for r in recipes]
    assert all(p.returncode == 0 for p in out), [p.stderr[-400:] for p in out]
    built = [line.split("|")[:2] for line in out[0].stdout.splitlines()]
    assert built == [[repo, images.build_args(repo, "reg")["BASE"]] for repo in images.WORKLOAD_IMAGES], f"IMAGES.md build recipe: {built}"
    assert [tuple(line.split()) for line in out[1].stdout.splitlines()] == images.mirror_copies(), "IMAGES.md mirror recipe"
    assert [tuple(line.split()) for line in out[2].stdout.splitlines()] == images.mirror_copies(data_services=True), "IMAGES.md on-prem recipe"


def test_every_pinned_chart_is_known_to_the_gate():
    from sahab.gate.deployability.charts import CHARTS, chart_name

    pinned = {chart_name(p.name) for p in of_kind("chart")}
    assert pinned == set(CHARTS), (
        f"sahab/gate/deployability/charts.py CHARTS: missing {sorted(pinned - set(CHARTS))}, not pinned {sorted(set(CHARTS) - pinned)}"
    )
