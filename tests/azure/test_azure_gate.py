"""The gate on Azure: `sahab check uae-north` passes offline with 0 mandatory findings, and the
residency pack lets geo-redundant storage from uaenorth through (its pair is in the UAE). The
non-compliant Azure programs are in tests/policy/programs (tests/policy/test_gate.py EXPECTED)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SAHAB = str(Path(sys.executable).parent / "sahab")


@pytest.mark.slow
def test_grs_from_uaenorth_passes_the_residency_pack(repo):
    done = subprocess.run(
        [SAHAB, "policy", "check", str(HERE / "programs" / "azure_grs_uaenorth"), "--pack", "uae_residency", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"violations": [], "mandatory": 0}


@pytest.mark.slow
@pytest.mark.integration
def test_sahab_check_uae_north_passes(repo, tmp_path):
    done = subprocess.run([SAHAB, "check", "uae-north", "--out", str(tmp_path)], capture_output=True, text=True, cwd=repo, timeout=600)
    report = json.loads((tmp_path / "report.json").read_text())
    mandatory = [f"{v.get('pack')}/{v.get('policy')}: {v.get('urn')}" for v in report["violations"] if v.get("enforcement") == "mandatory"]
    assert done.returncode == 0 and report["mandatory"] == 0, f"mandatory findings on uae-north: {mandatory}\n{done.stderr[-2000:]}"
    assert report["resources"] > 150, "the whole platform was planned"
