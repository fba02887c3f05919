"""A project's personal data: which columns are marked `pii`, and replacing them by tokens.

    privacy = for_project(project, home)      # None when nothing is marked: no key is loaded, nothing costs
    rows = privacy.frame(rows)                 # ingestion: every marked column present, tokenised
    key = privacy.key(request.key)             # serving and the control plane: the entity key
    records = privacy.records(records)         # serving: a request's marked features

What is replaced, by kind (`pii:` on the entity or a feature in project.yaml):
    emirates_id, phone, email, name, iban   the whole value -> its token (normalised first, so
                                            `+971 50 123 4567` and `00971501234567` get one token)
    free_text (`pii_text: mask`, default)   each identifier the UAE patterns recognise -> its token
                                            (the token of its own kind: a phone in a note gets the
                                            phone column's token), the rest of the text kept
    free_text (`pii_text: drop`)            null

A marked column must be able to hold a token: the entity key with `dtype: string`, a feature with
`type: categorical`; `pii_problems(spec)` lists what is not (the gate refuses it, and so does the
runtime at start). `free_text` cannot mark the entity key (a key is one identifier, not a text).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workloads.errors import SahabError
from workloads.privacy.patterns import mask
from workloads.privacy.tokens import Tokeniser


@dataclass(frozen=True)
class PiiColumn:
    name: str
    kind: str
    role: str
    """`entity` (the key) or `feature`."""
    text: str | None = None
    """free_text only: `mask` or `drop`."""


def _spec(project: Any) -> Any:
    return getattr(project, "spec", project)


def pii_columns(project: Any) -> list[PiiColumn]:
    """The marked columns of a project (entity key first, then features in declaration order)."""
    spec = _spec(project)
    out = []
    if spec.entity.pii:
        out.append(PiiColumn(spec.entity.key, spec.entity.pii, "entity"))
    for f in spec.features:
        if f.pii:
            out.append(PiiColumn(f.name, f.pii, "feature", (f.pii_text or "mask") if f.pii == "free_text" else None))
    return out


def pii_problems(project: Any) -> list[str]:
    """Why a marked column could not hold its token (empty when every marking can be honoured)."""
    spec = _spec(project)
    problems = []
    if spec.entity.pii and spec.entity.dtype != "string":
        problems.append(
            f"entity.pii: the key {spec.entity.key!r} is marked {spec.entity.pii} but has dtype {spec.entity.dtype}; a token is a string "
            "(Fix: set entity.dtype: string)"
        )
    if spec.entity.pii == "free_text":
        problems.append(f"entity.pii: free_text cannot mark the entity key {spec.entity.key!r} (Fix: use the key's own kind, e.g. phone or emirates_id)")
    for i, f in enumerate(spec.features):
        if f.pii and f.type != "categorical":
            problems.append(
                f"features[{i}]: {f.name!r} is marked pii: {f.pii} but declared numeric, so it would reach the model and the stores as a raw number "
                "(Fix: declare it type: categorical, or derive a non-identifying numeric feature and leave this column out)"
            )
    return problems


class PrivacyError(SahabError):
    """A project whose `pii` markings cannot be honoured (exit 2)."""


class ProjectPrivacy:
    """Tokenises one project's marked columns with the environment's key (module docstring)."""

    def __init__(self, project: Any, tokeniser: Tokeniser) -> None:
        spec = _spec(project)
        problems = pii_problems(spec)
        if problems:
            raise PrivacyError(f"{spec.name}: project.yaml marks personal data that cannot be tokenised: " + "; ".join(problems))
        self.spec, self.tokeniser = spec, tokeniser
        self.columns = pii_columns(spec)
        self.entity = next((c for c in self.columns if c.role == "entity"), None)
        self.features = [c for c in self.columns if c.role == "feature"]
        self.names = frozenset(c.name for c in self.columns)

    @property
    def key_version(self) -> int:
        return self.tokeniser.version

    def value(self, column: PiiColumn, value: Any) -> Any:
        """One value of a marked column, tokenised (None stays None)."""
        if value is None or (isinstance(value, float) and value != value):
            return None
        text = str(value)
        if column.kind != "free_text":
            return self.tokeniser.token(text, column.kind)
        if column.text == "drop":
            return None
        return mask(text, lambda m: self.tokeniser.token(m.text, m.kind))

    def key(self, value: str) -> str:
        """The entity key as stored (its token when the key is marked, else as given)."""
        return value if self.entity is None else self.tokeniser.token(value, self.entity.kind)

    def records(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Serving: feature records with their marked features tokenised (new dicts; the others shared)."""
        if not self.features:
            return [r if isinstance(r, dict) else dict(r) for r in records]
        out = []
        for r in records:
            d = dict(r)
            for c in self.features:
                if c.name in d:
                    d[c.name] = self.value(c, d[c.name])
            out.append(d)
        return out

    def frame(self, frame: Any, workers: int | None = None) -> Any:
        """Ingestion: a copy of `frame` with every marked column it has tokenised (a column at a time;
        columns of at least tokens.PARALLEL_MIN_VALUES values over `workers` processes, default one per CPU)."""
        from workloads.privacy.tokens import default_workers

        workers = default_workers() if workers is None else workers
        present = [c for c in self.columns if c.name in frame.columns]
        if not present:
            return frame
        out = frame.copy()
        for c in present:
            if c.kind == "free_text":
                out[c.name] = out[c.name].map(lambda v, c=c: self.value(c, v)).astype(object)
            else:
                out[c.name] = self.tokeniser.tokens(out[c.name], c.kind, workers=workers)
        return out


def for_project(project: Any, home: str | Path | None = None, *, settings: Any = None, create: bool = True) -> ProjectPrivacy | None:
    """The project's tokeniser, or None when it marks nothing (then no key is read: no cost, no grant needed).
    The key is the environment's (workloads.privacy.keys: SAHAB_PRIVACY_*, else `<home>/privacy/`)."""
    spec = _spec(project)
    if not pii_columns(spec):
        return None
    problems = pii_problems(spec)
    if problems:
        raise PrivacyError(f"{spec.name}: project.yaml marks personal data that cannot be tokenised: " + "; ".join(problems))
    from workloads.privacy.keys import load_key

    key = load_key(settings, home, create=create)
    return ProjectPrivacy(spec, Tokeniser(key.secret, key.version))
