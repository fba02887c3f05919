"""UAE personal-data recognisers: what `free_text` masking, `sahab check` and `sahab verify` look for.

Four patterns, each confirmed by its own check so a random number is not reported:

    emirates_id   784-YYYY-NNNNNNN-C (dashes or spaces optional): 784 is the UAE's ISO 3166 numeric
                  code, YYYY the holder's birth year (19xx / 20xx), C a Luhn check digit over all 15
    phone         +971 or 00971, then a mobile (5X, 7 more digits) or a landline (area 2, 3, 4, 6,
                  7 or 9, 7 more digits); spaces or dashes between groups
    iban          AE, 2 check digits and 19 digits (23 characters, ISO 13616), the ISO 7064
                  mod-97 check equal to 1; optional spaces between groups of four
    email         local@domain.tld (the usual practical subset of RFC 5322)

Names cannot be recognised by pattern: a `name` column is found by its name (`kind_by_name`) and
masked by its marking. Tokens (`tok:v<N>:<hex>`) are removed before a text is scanned: 32 hex
digits can hold a 15-digit run, and a scanner must not report the platform's own pseudonyms.
Standard library only (the gate imports it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

PATTERN_KINDS = ("emirates_id", "phone", "iban", "email")
TOKEN = re.compile(r"tok:v\d{1,6}:[0-9a-f]{32}")

_EMIRATES_ID = re.compile(r"(?<![0-9A-Za-z])784[- ]?(?:19|20)\d{2}[- ]?\d{7}[- ]?\d(?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<![0-9A-Za-z+])(?:\+|00)971[- ]?(?:5\d|[2-4679])[- ]?\d{3}[- ]?\d{4}(?![0-9])")
_IBAN = re.compile(r"(?<![0-9A-Za-z])AE\d{2}(?: ?\d){19}(?![0-9A-Za-z])", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}(?![A-Za-z0-9])")


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check over a string of digits, the last one being the check digit."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """ISO 13616 / ISO 7064 mod 97-10: the first four characters moved to the end, letters as 10..35, mod 97 == 1."""
    text = iban.replace(" ", "").upper()
    moved = text[4:] + text[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


_CHECKS: dict[str, tuple[re.Pattern[str], Callable[[str], bool]]] = {
    "emirates_id": (_EMIRATES_ID, lambda m: luhn_ok(_digits(m))),
    "phone": (_PHONE, lambda m: True),
    "iban": (_IBAN, iban_ok),
    "email": (_EMAIL, lambda m: True),
}


@dataclass(frozen=True)
class Match:
    kind: str
    start: int
    end: int
    text: str


def find(text: str, kinds: Iterable[str] = PATTERN_KINDS) -> list[Match]:
    """Every valid identifier in `text` (checksums confirmed), in order, non-overlapping (an e-mail
    wins over the digits inside it, since it is searched for last and kept when it covers them)."""
    if not text:
        return []
    found: list[Match] = []
    for kind in kinds:
        pattern, ok = _CHECKS[kind]
        found.extend(Match(kind, m.start(), m.end(), m.group()) for m in pattern.finditer(text) if ok(m.group()))
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[Match] = []
    for m in found:
        if kept and m.start < kept[-1].end:
            if m.end - m.start > kept[-1].end - kept[-1].start:
                kept[-1] = m
            continue
        kept.append(m)
    return kept


def mask(text: str, replace: Callable[[Match], str]) -> str:
    """`text` with every identifier `find` recognises replaced by `replace(match)`."""
    matches = find(text)
    if not matches:
        return text
    out, last = [], 0
    for m in matches:
        out.append(text[last : m.start])
        out.append(replace(m))
        last = m.end
    out.append(text[last:])
    return "".join(out)


def scan_text(text: str) -> list[Match]:
    """What `find` recognises once the platform's tokens are taken out (verify, the gate, the tests)."""
    return find(TOKEN.sub(" ", text))


def normalise(kind: str, value: str) -> str:
    """The spelling a value is tokenised in, so one identifier written two ways gets one token:
    digits only (Emirates ID; phone with `+` and 971, from `00971`), IBAN upper-case without
    spaces, e-mail and name case-folded with single spaces; free text as it is."""
    if kind == "emirates_id":
        return _digits(value) or value
    if kind == "phone":
        digits = _digits(value)
        if digits.startswith("00"):
            digits = digits[2:]
        return "+" + digits if digits else value
    if kind == "iban":
        return value.replace(" ", "").upper()
    if kind in ("email", "name"):
        return " ".join(value.split()).casefold()
    return value


_ASCII_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f ]+"
"""What `str.split()` splits on within ASCII (Python counts 0x1c-0x1f as whitespace, RE2's `\\s` does not)."""


def _already_normal(kind: str, values: Any) -> bool:
    """Whether every value of an Arrow string array is spelled as `normalise` spells it: an Emirates
    ID of ASCII digits only, a phone `+` and ASCII digits not starting `+00` (E.164, how most
    systems store them). One pass of cheap kernels, against the regular expressions of the general
    path (benchmarks/privacy.py: a tenth of the time)."""
    import pyarrow.compute as pc

    if kind == "emirates_id":
        normal = pc.ascii_is_decimal(values)
    else:
        normal = pc.and_(pc.starts_with(values, "+"), pc.ascii_is_decimal(pc.utf8_slice_codeunits(values, 1)))
        normal = pc.and_(normal, pc.invert(pc.starts_with(values, "+00")))
    return bool(pc.all(pc.fill_null(normal, True)).as_py())


def normalise_array(kind: str, values: Any) -> Any:
    """`normalise` over an Arrow string array, with Arrow's kernels: the same spelling for every
    value (ASCII values vectorised; the few others, whose case folding and digits Python defines
    more widely than Arrow, one by one through `normalise`). Nulls stay null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind not in ("emirates_id", "phone", "iban", "email", "name") or len(values) == 0:
        return values
    if kind in ("emirates_id", "phone") and _already_normal(kind, values):
        return values
    if kind in ("emirates_id", "phone"):
        digits = pc.replace_substring_regex(values, "[^0-9]", "")
        if kind == "phone":
            digits = pc.replace_substring_regex(digits, "^00", "")
            digits = pc.binary_join_element_wise(pa.scalar("+", digits.type), digits, pa.scalar("", digits.type))
        out = pc.if_else(pc.greater(pc.utf8_length(digits), 1 if kind == "phone" else 0), digits, values)
    elif kind == "iban":
        out = pc.ascii_upper(pc.replace_substring(values, " ", ""))
    else:
        out = pc.ascii_lower(pc.utf8_trim(pc.replace_substring_regex(values, _ASCII_SPACE, " "), " "))
    ascii_only = pc.fill_null(pc.string_is_ascii(values), True)
    if not pc.all(ascii_only).as_py():
        others = pc.invert(ascii_only)
        fixed = [None if v is None else normalise(kind, v) for v in pc.filter(values, others).to_pylist()]
        out = pc.replace_with_mask(out, others, pa.array(fixed, type=out.type))
    return out


# --- columns that look like personal data, by name ---

_NAME_HINTS: tuple[tuple[str, str], ...] = (
    ("emirates_id", r"emirates_?id|eid|national_?id|id_?number|passport(_?(no|number))?|visa_?(no|number)|unified_?(no|number)"),
    ("phone", r"phone(_?(no|number))?|mobile(_?(no|number))?|msisdn|tel(ephone)?|whatsapp|contact_?number"),
    ("email", r"e_?mail(_?address)?"),
    ("iban", r"iban|account_?number|bank_?account|card_?number|pan"),
    ("name", r"(full|first|last|middle|given|family|sur|customer|holder|cardholder|contact|beneficiary)_?name|name_?(en|ar)|surname"),
    ("free_text", r"address|street|notes?|comments?|free_?text|description_?text|message|remarks"),
)
_NAME_PATTERNS = [(kind, re.compile(rf"(^|_)({words})(_|$)")) for kind, words in _NAME_HINTS]


def kind_by_name(column: str) -> str | None:
    """The personal-data kind a column's name suggests (`customer_phone` -> phone), or None."""
    name = column.lower()
    if name in ("name", "names"):  # a bare `name` is a person's; `restaurant_name` is not
        return "name"
    for kind, pattern in _NAME_PATTERNS:
        if pattern.search(name):
            return kind
    return None


def kinds_in_values(values: Iterable[object], limit: int = 2_000) -> dict[str, int]:
    """How many of (at most `limit` of) `values` hold each kind of identifier (tokens removed)."""
    counts: dict[str, int] = {}
    for i, value in enumerate(values):
        if i >= limit:
            break
        if value is None or not isinstance(value, str | int):
            continue
        for kind in {m.kind for m in scan_text(str(value))}:
            counts[kind] = counts.get(kind, 0) + 1
    return counts
