"""Packs are byte-reproducible and verifiable, with or without Sahab, and any tampering is caught and
named (`sahab evidence check PACK`). Built from the local target with a verify run (no gate: the
gate's own pack is tests/evidence/test_pack_gate.py)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest
from evidence_helpers import AT, local_pack, write_junit
from typer.testing import CliRunner

from sahab.cli import app
from sahab.evidence import pack as evidence_pack
from sahab.evidence.pack import MANIFEST, SIGNATURE, PackInvalid

FAILED_REPLICATION = (
    "cloud",
    "cloud-s3-replication-in-region",
    "uae-central-data-lake",
    "failed",
    "uae-central-data-lake (S3 bucket): replicates to eu-west-1. Fix: delete it.",
)


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("packs")
    write_junit(tmp / "verify", [FAILED_REPLICATION, ("cloud", "cloud-kms-key-rotation", "arn:aws:kms:me-central-1:1:key/a", "passed", "")])
    first = local_pack(tmp, "first", verify=tmp / "verify")
    second = local_pack(tmp, "second", verify=tmp / "verify")
    return tmp, first, second


def files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_same_inputs_give_a_byte_identical_pack(packs):
    _, first, second = packs
    a, b = files(first.out), files(second.out)
    assert set(a) == set(b), set(a) ^ set(b)
    differ = sorted(k for k in a if a[k] != b[k])
    assert not differ, f"files differ between two packs of the same inputs: {differ}"
    assert {
        "index.html",
        "report.html",
        "assessment-results.json",
        "controls.json",
        "inventory.json",
        "meta.json",
        "SHA256SUMS",
        "SHA256SUMS.sig",
        "public.pem",
    } <= set(a)
    assert "verify/verify.xml" in a and "catalogue/uae-pdpl.yaml" in a, sorted(a)


def test_the_time_comes_from_at_or_source_date_epoch(monkeypatch):
    assert evidence_pack.iso(evidence_pack.pack_time(AT)) == "2026-12-01T00:00:00Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1780272000")
    assert evidence_pack.iso(evidence_pack.pack_time(None)) == "2026-06-01T00:00:00Z", "SOURCE_DATE_EPOCH fixes the time"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    with pytest.raises(evidence_pack.EvidenceError, match="SOURCE_DATE_EPOCH='soon' is not a number of seconds"):
        evidence_pack.pack_time(None)


def test_the_pack_shows_the_failing_control_with_its_law_and_article(packs):
    _, first, _ = packs
    controls = {c["id"]: c for c in json.loads((first.out / "controls.json").read_text())["controls"]}
    assert controls["pdpl-transfer"]["status"] == "fail", "a failed verify check fails the control"
    assert controls["pdpl-transfer"]["article"] == "Art. 22 and Art. 23" and "45 of 2021" in controls["pdpl-transfer"]["law"]
    failing = {c["id"] for c in controls.values() if c["status"] == "fail"}
    assert failing == {"pdpl-transfer", "cbuae-master-record"}, f"exactly the controls citing cloud-s3-replication-in-region fail: {failing}"
    html = (first.out / "report.html").read_text()
    assert "2 control(s) failing: pdpl-transfer (UAE PDPL Art. 22 and Art. 23), cbuae-master-record (CBUAE Outsourcing Regulation Art. 6.1)" in html


def test_the_pack_verifies_with_sahab_and_without_it(packs):
    _, first, _ = packs
    result = evidence_pack.check(first.out)
    assert result.files == len(files(first.out)) - 2, "every file but SHA256SUMS and its signature is listed"
    sums = subprocess.run(["sha256sum", "-c", MANIFEST], cwd=first.out, capture_output=True, text=True)
    assert sums.returncode == 0, f"sha256sum -c SHA256SUMS: {sums.stdout}{sums.stderr}"
    signing = json.loads((first.out / "signing.json").read_text())
    assert signing["verify"].startswith("openssl pkeyutl -verify -pubin -inkey public.pem -rawin"), signing
    ssl = subprocess.run(signing["verify"].split(), cwd=first.out, capture_output=True, text=True)
    assert ssl.returncode == 0 and "Signature Verified Successfully" in ssl.stdout, f"{signing['verify']}: {ssl.stdout}{ssl.stderr}"
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", "public.pem", "-outform", "DER"], cwd=first.out, capture_output=True, check=True).stdout
    assert hashlib.sha256(der).hexdigest() == signing["public_key_sha256"], "signing.json's fingerprint is the README's openssl pkey | sha256sum"


@pytest.mark.parametrize(
    "victim", ["index.html", "report.html", "controls.json", "assessment-results.json", "verify/verify.xml", "catalogue/uae-pdpl.yaml", "public.pem"]
)
def test_changing_any_file_is_caught_and_named(packs, tmp_path, victim):
    tmp, first, _ = packs
    copy = tmp_path / "pack"
    shutil.copytree(first.out, copy)
    with open(copy / victim, "ab") as fh:
        fh.write(b" ")
    with pytest.raises(PackInvalid) as e:
        evidence_pack.check(copy)
    assert f"  - {victim}: changed" in str(e.value), str(e.value)


def test_added_missing_and_re_hashed_files_are_caught(packs, tmp_path):
    _, first, _ = packs
    copy = tmp_path / "pack"
    shutil.copytree(first.out, copy)
    (copy / "extra.txt").write_text("slipped in")
    (copy / "inventory.json").unlink()
    with pytest.raises(PackInvalid) as e:
        evidence_pack.check(copy)
    assert "extra.txt: added (not in SHA256SUMS)" in str(e.value) and "inventory.json: missing" in str(e.value), str(e.value)
    # A forger who edits a file and re-writes its hash in SHA256SUMS breaks the signature instead.
    shutil.rmtree(copy)
    shutil.copytree(first.out, copy)
    controls = copy / "controls.json"
    controls.write_text(controls.read_text().replace('"status": "fail"', '"status": "pass"'))
    digest = subprocess.run(["sha256sum", "controls.json"], cwd=copy, capture_output=True, text=True).stdout.split()[0]
    lines = [f"{digest}  controls.json" if line.endswith("  controls.json") else line for line in (copy / MANIFEST).read_text().splitlines()]
    (copy / MANIFEST).write_text("\n".join(lines) + "\n")
    with pytest.raises(PackInvalid, match=r"SHA256SUMS.sig: the signature over SHA256SUMS does not verify"):
        evidence_pack.check(copy)


def test_a_pack_signed_by_another_key_fails_the_pinned_check(packs, tmp_path):
    tmp, first, _ = packs
    other = local_pack(tmp_path, "other")
    evidence_pack.check(first.out, public_key=first.out / "public.pem")
    with pytest.raises(PackInvalid, match=r"public.pem: not the key given with --public-key"):
        evidence_pack.check(other.out, public_key=first.out / "public.pem")
    (other.out / SIGNATURE).write_bytes((first.out / SIGNATURE).read_bytes())
    with pytest.raises(PackInvalid, match="does not verify"):
        evidence_pack.check(other.out)
    (other.out / "public.pem").write_text("not a key")
    with pytest.raises(PackInvalid) as e:
        evidence_pack.check(other.out)
    assert "public.pem: changed" in str(e.value) and "public.pem: not a PEM public key" in str(e.value), str(e.value)


def test_the_cli_builds_and_checks_a_pack(packs, tmp_path, monkeypatch, repo):
    tmp, first, _ = packs
    monkeypatch.chdir(repo)
    runner = CliRunner()
    out = tmp_path / "cli-pack"
    built = runner.invoke(
        app,
        [
            "evidence",
            "local",
            "--out",
            str(out),
            "--state-dir",
            str(tmp / "state"),
            "--at",
            "2026-12-01T00:00:00Z",
            "--verify-report",
            str(tmp / "verify"),
            "--no-pdf",
        ],
    )
    assert built.exit_code == 1, f"a failing control ends `sahab evidence` with 1 (the pack is written): {built.output}"
    assert "fail pdpl-transfer (UAE PDPL Art. 22 and Art. 23)" in built.output, built.output
    assert files(out) == files(first.out), "the CLI's pack equals the API's for the same inputs"
    ok = runner.invoke(app, ["evidence", "check", str(out)])
    assert ok.exit_code == 0 and "verified" in ok.output, ok.output
    (out / "report.html").write_text("forged")
    bad = runner.invoke(app, ["evidence", "check", str(out)])
    assert bad.exit_code == 1 and "report.html: changed" in bad.output, bad.output
    usage = runner.invoke(app, ["evidence", "check"])
    assert usage.exit_code == 2 and "which pack?" in usage.output, usage.output
    when = runner.invoke(app, ["evidence", "local", "--at", "yesterday", "--out", str(tmp_path / "x")])
    assert when.exit_code == 2 and "--at 'yesterday': not an ISO 8601 time" in when.output, when.output
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    refused = runner.invoke(app, ["evidence", "local", "--out", str(stray), "--state-dir", str(tmp / "state"), "--no-pdf"])
    assert refused.exit_code == 2 and "is not an evidence pack" in refused.output and (stray / "notes.txt").exists(), refused.output
