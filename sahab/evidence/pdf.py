"""report.pdf from report.html through Debian's chromium (`--headless --print-to-pdf`), where it is
installed (scripts/servers.sh installs it).

Skia stamps the PDF's /CreationDate and /ModDate with the wall clock; they are the only bytes that
differ between two prints of the same page (seen with chromium 156), so they are rewritten to the
pack's time, in place and at the same length (the cross-reference offsets stay right), which makes
the PDF reproducible. Should a future chromium write something else that varies, `print_pdf` still
writes the file and the pack's meta.json says whether the stamp could be fixed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

# /work/.library machines note "Known to work": these flags keep chromium off the network it cannot reach.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
_NAV = re.compile(r"<nav>.*?</nav>\n?", re.S)
_STAMP = re.compile(rb"/(CreationDate|ModDate) \(D:(\d{14})([^)]*)\)")


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def stamp(pdf: bytes, at: datetime) -> tuple[bytes, bool]:
    """`pdf` with its dates set to `at` (UTC); False when a date could not be rewritten in place."""
    fixed = True

    def put(m: re.Match[bytes]) -> bytes:
        nonlocal fixed
        new = at.strftime("%Y%m%d%H%M%S").encode()
        zone = b"+00'00'" if len(m.group(3)) == 7 else (b"Z" if m.group(3) == b"Z" else None)
        if zone is None:
            fixed = False
            return m.group(0)
        return b"/" + m.group(1) + b" (D:" + new + zone + b")"

    out = _STAMP.sub(put, pdf)
    return out, fixed and len(out) == len(pdf)


def print_pdf(html: Path, pdf: Path, at: datetime, timeout_s: float = 120) -> bool:
    """Print `html` to `pdf`; returns whether its bytes are reproducible. Raises RuntimeError when
    chromium fails. The page's <nav> is left out of the print: chromium writes a link's target as an
    absolute file:// address, which would tie the PDF's bytes to the folder it was printed in."""
    exe = chromium()
    if exe is None:
        raise RuntimeError("chromium is not installed (scripts/servers.sh installs Debian's chromium)")
    with tempfile.TemporaryDirectory(prefix="sahab-chromium-") as profile:
        source = Path(profile) / "print.html"
        source.write_text(_NAV.sub("", html.read_text()))
        proc = subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}/user", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", source.as_uri()],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    if proc.returncode != 0 or not pdf.exists():
        raise RuntimeError(f"chromium --print-to-pdf failed (exit {proc.returncode}): {proc.stderr[-500:]}")
    data, fixed = stamp(pdf.read_bytes(), at)
    pdf.write_bytes(data)
    return fixed
