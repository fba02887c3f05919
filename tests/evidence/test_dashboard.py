"""The governance dashboard (index.html) and report in a real headless browser (Debian's chromium,
installed by scripts/servers.sh): the page renders with its script run, shows a failing control when
one fails, every internal link resolves (no 404 on any href or src, every #anchor exists), nothing
points outside the pack; and report.pdf is byte-reproducible."""

from __future__ import annotations

import subprocess
import tempfile
import threading
import urllib.request
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urljoin, urlsplit

import pytest
from evidence_helpers import local_pack, write_junit

from sahab.evidence.pdf import FLAGS, chromium

pytestmark = pytest.mark.slow


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.refs.append(value)
            if name == "id" and value:
                self.ids.add(value)

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Links:
    links = Links()
    links.feed(html)
    return links


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A pack with a failing control (verify found a bucket replicating abroad), served over HTTP
    with every request's path and status recorded."""
    assert chromium(), "chromium is not installed: run scripts/servers.sh (Debian's chromium)"
    tmp = tmp_path_factory.mktemp("dash")
    write_junit(
        tmp / "verify",
        [
            (
                "cloud",
                "cloud-s3-replication-in-region",
                "uae-central-data-lake",
                "failed",
                "uae-central-data-lake (S3 bucket): replicates to eu-west-1. Fix: delete it.",
            )
        ],
    )
    pack = local_pack(tmp, verify=tmp / "verify")
    log: list[tuple[str, int]] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-"):
            log.append((self.path, int(code) if str(code).isdigit() else 0))

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(pack.out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", pack, log
    server.shutdown()
    server.server_close()


def render(url: str) -> tuple[str, str]:
    """The DOM chromium renders for `url` after its scripts ran, and chromium's log."""
    with tempfile.TemporaryDirectory(prefix="sahab-chromium-") as profile:
        proc = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0 and "<body" in proc.stdout, f"chromium --dump-dom {url}: exit {proc.returncode}: {proc.stderr[-800:]}"
    return proc.stdout, proc.stderr


def test_the_dashboard_renders_and_shows_the_failing_control(served):
    base, pack, _ = served
    dom, log = render(base + "index.html")
    page = parse(dom)
    text = " ".join(page.text)
    assert "Sahab governance: local" in text, "the page rendered"
    assert (
        "1 control(s) failing: pdpl-transfer (UAE PDPL Art. 22 and Art. 23)" in text
        or "control(s) failing: pdpl-transfer (UAE PDPL Art. 22 and Art. 23)" in text
    ), text[:2000]
    assert 'data-status="fail"><td><a href="report.html#ctl-pdpl-transfer">pdpl-transfer</a>' in dom, (
        "the control's row is marked failing and links to its evidence"
    )
    assert "replicates to eu-west-1" in text, "the open finding behind it is listed"
    assert {"summary", "laws", "findings", "models", "cost", "files", "law-uae-pdpl", "attention"} <= page.ids, sorted(page.ids)
    assert "Uncaught" not in log, f"the dashboard's script failed in chromium: {log[-800:]}"


@pytest.mark.parametrize("page_name", ["index.html", "report.html"])
def test_every_link_resolves_inside_the_pack(served, page_name):
    base, _, log = served
    dom, _ = render(base + page_name)
    page = parse(dom)
    assert page.refs, f"{page_name}: no links at all?"
    for ref in page.refs:
        parts = urlsplit(ref)
        if parts.scheme == "data":
            continue  # inline (the empty favicon that keeps chromium from asking for /favicon.ico)
        assert not parts.scheme and not parts.netloc, f"{page_name}: {ref!r} points outside the pack (no external links or CDN)"
        if not parts.path:
            assert parts.fragment in page.ids, f"{page_name}: #{parts.fragment} has no element with that id"
            continue
        with urllib.request.urlopen(urljoin(base + page_name, ref)) as answer:  # raises on 404
            assert answer.status == 200, f"{page_name}: {ref} answered {answer.status}"
            body = answer.read().decode(errors="replace")
        if parts.fragment:
            assert parts.fragment in parse(body).ids, f"{page_name}: {ref}: no #{parts.fragment} in {parts.path}"
    missing = [(path, code) for path, code in log if code >= 400]
    assert not missing, f"requests that failed while chromium rendered the pages: {missing}"


def test_report_pdf_is_reproducible(tmp_path):
    assert chromium(), "chromium is not installed: run scripts/servers.sh (Debian's chromium)"
    first = local_pack(tmp_path, "a", pdf=True)
    second = local_pack(tmp_path, "b", pdf=True)
    pdf = (first.out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and len(pdf) > 10_000, "chromium printed report.html"
    assert pdf == (second.out / "report.pdf").read_bytes(), "report.pdf: the same inputs give the same bytes (dates set to the pack's time)"
    assert b"/CreationDate (D:20261201000000" in pdf, "the PDF carries the pack's time, not the wall clock"
    assert (first.out / "SHA256SUMS").read_bytes() == (second.out / "SHA256SUMS").read_bytes()
