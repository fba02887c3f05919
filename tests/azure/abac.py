"""An evaluator of the Azure role-assignment condition language, for the subset Sahab writes
(components/azure/identity.py path_condition): `ActionMatches{'a'}`, `SubOperationMatches{'s'}`,
`@Resource[attr] StringStartsWith 'v'` / `StringEquals`, `@Request[attr] ...`, `!`, `NOT`, `AND`,
`OR` and parentheses.

Semantics, as Microsoft documents them (checked: MicrosoftDocs/azure-docs
articles/role-based-access-control/conditions-format.md "Condition format", "Suboperations";
articles/storage/blobs/storage-auth-abac-attributes.md, fetched 2026-12-02):
- an action the condition does not target passes (`!(ActionMatches{...})` is true for it);
- `NOT`/`!` bind tighter than `AND`, `AND` tighter than `OR`;
- a comparison on an attribute the operation does not carry fails (List Blobs has no blob path,
  only the request's `prefix`; a read of one blob has a path and no prefix).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<bang>!)|(?P<kw>AND|OR|NOT)\b"
    r"|(?P<fn>ActionMatches|SubOperationMatches)\{'(?P<fnarg>[^']*)'\}"
    r"|@(?P<src>Resource|Request)\[(?P<attr>[^\]]+)\]\s+(?P<op>StringStartsWith|StringEquals)\s+'(?P<val>[^']*)')"
)


@dataclass(frozen=True)
class Operation:
    """One storage operation as the authorization check sees it."""

    action: str
    suboperation: str | None = None
    resource: dict[str, str] = field(default_factory=dict)
    request: dict[str, str] = field(default_factory=dict)


def _tokens(text: str) -> list[tuple[str, re.Match]]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"condition: cannot read {text[pos : pos + 40]!r}")
        kind = next(k for k in ("lp", "rp", "bang", "kw", "fn", "src") if m.group(k))
        out.append((m.group("kw") if kind == "kw" else kind, m))
        pos = m.end()
    return out


def allows(condition: str | None, op: Operation) -> bool:
    """Whether a role assignment with `condition` admits `op` (no condition: the role alone decides)."""
    if not condition:
        return True
    tokens, i = _tokens(condition), 0

    def peek() -> str | None:
        return tokens[i][0] if i < len(tokens) else None

    def take(kind: str) -> re.Match:
        nonlocal i
        if peek() != kind:
            raise ValueError(f"condition: expected {kind} at token {i}, got {peek()}")
        i += 1
        return tokens[i - 1][1]

    def disjunction() -> bool:
        value = conjunction()
        while peek() == "OR":
            take("OR")
            value = conjunction() or value
        return value

    def conjunction() -> bool:
        value = unary()
        while peek() == "AND":
            take("AND")
            value = unary() and value
        return value

    def unary() -> bool:
        if peek() in ("bang", "NOT"):
            take(peek())
            return not unary()
        return atom()

    def atom() -> bool:
        kind = peek()
        if kind == "lp":
            take("lp")
            value = disjunction()
            take("rp")
            return value
        if kind == "fn":
            m = take("fn")
            if m.group("fn") == "ActionMatches":
                return op.action == m.group("fnarg")
            return op.suboperation == m.group("fnarg")
        if kind == "src":
            m = take("src")
            attrs = op.resource if m.group("src") == "Resource" else op.request
            have = attrs.get(m.group("attr"))
            if have is None:  # the operation does not carry it: the comparison fails
                return False
            return have.startswith(m.group("val")) if m.group("op") == "StringStartsWith" else have == m.group("val")
        raise ValueError(f"condition: unexpected {kind} at token {i}")

    value = disjunction()
    if i != len(tokens):
        raise ValueError(f"condition: trailing tokens from {i}")
    return value


BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"


def list_blobs(prefix: str | None) -> Operation:
    return Operation(f"{BLOBS}/read", "Blob.List", request={f"{BLOBS}:prefix": prefix} if prefix is not None else {})


def read_blob(path: str) -> Operation:
    return Operation(f"{BLOBS}/read", None, resource={f"{BLOBS}:path": path})


def write_blob(path: str) -> Operation:
    return Operation(f"{BLOBS}/write", None, resource={f"{BLOBS}:path": path})
