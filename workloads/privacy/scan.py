"""Looking for UAE personal data in clear in what the platform stored (`sahab verify`, the tests).

    report = scan_uri("s3://<offline-features>/feast/<project>/")   # a folder, bucket prefix or file
    report.hits        # [Hit(object, column, kind, count, sample)] ; empty: 0 hits

Parquet objects are read column by column (string columns, string lists, and integer columns in
their digit-only forms: an Emirates ID or a phone stored as a number is still one); SQLite
databases table by table; anything else as text (JSON, logs, CSV). Tokens are taken out first
(patterns.scan_text). A hit names the object and the column and shows a redacted sample (kind,
length and the last two characters), never the value: the report itself must not leak what it found.
"""

from __future__ import annotations

import io
import re
import sqlite3
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from workloads.privacy.patterns import luhn_ok, scan_text

_DIGIT_PHONE = re.compile(r"^(?:00)?971(?:5\d{8}|[2-4679]\d{7})$")
_DIGIT_EID = re.compile(r"^784(?:19|20)\d{10}$")
TEXT_SUFFIXES = (".json", ".jsonl", ".txt", ".log", ".csv", ".yaml", ".yml", ".html", ".md", ".prom")
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


@dataclass(frozen=True)
class Hit:
    object: str
    column: str | None
    kind: str
    count: int
    sample: str
    """Redacted: `<kind> of <n> chars ending ..<last two>`."""

    def __str__(self) -> str:
        where = f"{self.object} column {self.column!r}" if self.column else self.object
        return f"{where}: {self.count} {self.kind} value(s) in clear (e.g. {self.sample})"


@dataclass
class ScanReport:
    scanned: list[str] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Objects not read (too many, or unreadable: with the reason)."""

    @property
    def clean(self) -> bool:
        return not self.hits


def _redact(kind: str, text: str) -> str:
    return f"{kind} of {len(text)} chars ending ..{text[-2:]}"


def _digit_kind(text: str) -> str | None:
    if _DIGIT_EID.match(text) and luhn_ok(text):
        return "emirates_id"
    if _DIGIT_PHONE.match(text):
        return "phone"
    return None


def scan_values(values: Iterable[object], where: str, column: str | None) -> list[Hit]:
    """Hits among `values` (strings and integers), one Hit per kind with its count."""
    counts: dict[str, list] = {}
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            kind = _digit_kind(str(value))
            if kind:
                counts.setdefault(kind, [0, str(value)])[0] += 1
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str):
            continue
        matches = scan_text(value)
        if not matches and value.isdigit():
            kind = _digit_kind(value)
            if kind:
                counts.setdefault(kind, [0, value])[0] += 1
        for m in matches:
            counts.setdefault(m.kind, [0, m.text])[0] += 1
    return [Hit(where, column, kind, n, _redact(kind, sample)) for kind, (n, sample) in sorted(counts.items())]


def scan_parquet(data: bytes, where: str, max_rows: int = 100_000) -> list[Hit]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    if table.num_rows > max_rows:
        table = table.slice(0, max_rows)
    hits = []
    for name in table.column_names:
        col = table.column(name)
        t = col.type
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            values = [v for row in col.to_pylist() if row for v in (row if isinstance(row, list) else [row])]
            values = [str(v) if isinstance(v, dict) else v for v in values]
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t) or pa.types.is_binary(t) or pa.types.is_dictionary(t):
            values = col.to_pylist()
        elif pa.types.is_struct(t):
            values = [str(v) for v in col.to_pylist()]
        else:
            continue
        hits.extend(scan_values(values, where, name))
    return hits


def scan_sqlite(path: Path, where: str, max_rows: int = 100_000) -> list[Hit]:
    hits = []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cursor = con.execute(f'SELECT * FROM "{table}" LIMIT {int(max_rows)}')  # the table names come from sqlite_master
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
            for i, name in enumerate(names):
                hits.extend(scan_values((r[i] for r in rows), where, f"{table}.{name}"))
    finally:
        con.close()
    return hits


def scan_bytes(data: bytes, where: str) -> list[Hit]:
    """One stored object, by its name: Parquet, SQLite, else its text."""
    name = where.rsplit("/", 1)[-1].lower()
    if name.endswith(".parquet") or data[:4] == b"PAR1":
        return scan_parquet(data, where)
    if name.endswith(SQLITE_SUFFIXES) or data[:16] == b"SQLite format 3\x00":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "db.sqlite"
            path.write_bytes(data)
            return scan_sqlite(path, where)
    return scan_values([data.decode("utf-8", "replace")], where, None)


def scan_uri(uri: str, *, max_objects: int = 500, max_bytes: int = 256 << 20) -> ScanReport:
    """Scan every object under `uri` (a folder, an s3:// / abfss:// prefix, or one object), up to
    `max_objects` objects of at most `max_bytes` each (the rest listed as skipped)."""
    import pyarrow.fs as pafs

    from workloads import storage

    report = ScanReport()
    fs, path = storage.filesystem(uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        infos = [info]
    else:
        infos = [i for i in fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True)) if i.type == pafs.FileType.File]
    for i, item in enumerate(sorted(infos, key=lambda x: x.path)):
        where = storage.join(uri, item.path[len(path) :]) if item.path != path else uri
        if i >= max_objects:
            report.skipped.append(f"{where} (beyond {max_objects} objects)")
            continue
        if (item.size or 0) > max_bytes:
            report.skipped.append(f"{where} ({item.size} bytes > {max_bytes})")
            continue
        try:
            with fs.open_input_stream(item.path) as fh:
                data = fh.read()
            report.hits.extend(scan_bytes(data, where))
            report.scanned.append(where)
        except Exception as exc:  # noqa: BLE001 (an unreadable object is reported, the scan goes on)
            report.skipped.append(f"{where} ({type(exc).__name__}: {exc})")
    return report
