#!/usr/bin/env python3
"""The pin tables of components/kubernetes/IMAGES.md, generated from the one pin table
(`PINS` in components/kubernetes/pins.py); the prose around them stays hand-written.

    .venv/bin/python scripts/pins_markdown.py           print the tables
    .venv/bin/python scripts/pins_markdown.py --write   rewrite them in IMAGES.md, between the markers
    .venv/bin/python scripts/pins_markdown.py --check   exit 1 when IMAGES.md differs (what the test checks)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components.kubernetes.pins import PINS, Kind, Pin

IMAGES_MD = Path(__file__).resolve().parents[1] / "components/kubernetes/IMAGES.md"
BEGIN = "<!-- BEGIN pins: generated from components/kubernetes/pins.py by scripts/pins_markdown.py --write; do not edit -->"
END = "<!-- END pins -->"
# (heading, kinds, columns) of each table, in IMAGES.md's order.
SECTIONS: tuple[tuple[str, tuple[Kind, ...], tuple[str, ...]], ...] = (
    ("Helm charts", ("chart",), ("key", "chart", "version", "repository", "checked")),
    ("Images the charts run (tag = the chart's default)", ("chart-image",), ("key", "upstream", "tag", "chart", "values", "checked")),
    ("Build bases of the workload images", ("build-base",), ("key", "upstream", "tag", "checked")),
    ("In-cluster data services (`cloud: kubernetes`)", ("data-service",), ("key", "upstream", "tag", "checked")),
)


def _code(value: str | None) -> str:
    return f"`{value}`" if value else ""


def _row(p: Pin, columns: tuple[str, ...]) -> str:
    cells = {
        "key": _code(p.key),
        "chart": _code(p.name) if p.kind == "chart" else _code(p.default_of),
        "upstream": _code(p.name),
        "version": _code(p.version),
        "tag": _code(p.version),
        "repository": p.repo or "(OCI: in the chart reference)",
        "values": _code(p.values_path),
        "checked": p.checked,
    }
    return "| " + " | ".join(cells[c].replace("|", "\\|").replace("\n", " ") for c in columns) + " |"


def markdown(pins: tuple[Pin, ...] = PINS) -> str:
    """The pin tables (what goes between the markers)."""
    lines: list[str] = []
    for title, kinds, columns in SECTIONS:
        lines += ["", f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += [_row(p, columns) for p in pins if p.kind in kinds]
    return "\n".join(lines) + "\n\n"


def render(text: str, pins: tuple[Pin, ...] = PINS) -> str:
    """`text` (IMAGES.md) with what lies between the markers replaced by `markdown(pins)`."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"{IMAGES_MD.name}: needs one line {BEGIN!r} and after it one line {END!r}, where the pin tables go. Fix: put the two markers back")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{markdown(pins)}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print, write or check the pin tables of components/kubernetes/IMAGES.md.")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--write", action="store_true", help="rewrite the tables in IMAGES.md")
    what.add_argument("--check", action="store_true", help="exit 1 when IMAGES.md differs from the pin table")
    opts = parser.parse_args(argv)
    text = IMAGES_MD.read_text()
    wanted = render(text)
    if opts.check and wanted != text:
        sys.stderr.write(
            f"{IMAGES_MD}: the pin tables differ from PINS in components/kubernetes/pins.py. Fix: .venv/bin/python scripts/pins_markdown.py --write\n"
        )
        return 1
    if opts.write:
        IMAGES_MD.write_text(wanted)
    elif not opts.check:
        sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
