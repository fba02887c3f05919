"""Personal data and explanations of every project an environment deploys (issue 22), from its files.

For each `kubernetes.projects[]` binding, its project.yaml (and, when it has one, a sample of its
generator's rows and of its declared local sources):

- `project-pii-marked` (mandatory): a column that looks like UAE personal data is marked `pii` or
  carries a `pii_exempt` reason. Looks like: its name (`emirates_id`, `eid`, `national_id`,
  `passport`, `phone`, `mobile`, `msisdn`, `email`, `iban`, `full_name`, `name`, ...:
  workloads.privacy.patterns.kind_by_name), or its sampled values (an Emirates ID with its Luhn
  digit, a +971 number, an AE IBAN with its mod-97 check, an e-mail: `kinds_in_values`). The
  columns judged are the ones ingestion stores: the entity key and the declared features (a
  source column the project does not declare is dropped at ingestion, `tables.source_table`, and
  never reaches a store). A `pii_exempt` needs a reason of a few words, not an empty string.
- `project-pii-tokenised` (mandatory): a marking the runtime can honour, i.e. what is checkable
  from the project file that a `pii` column would reach a store or the model in clear: a marked
  feature declared `numeric` (it would be fed raw: a token is a string), a marked entity key whose
  dtype is not `string`, `free_text` on the key (workloads.privacy.pii_problems; the runtime
  refuses the same at start). Every writer of the stores tokenises in one place
  (`FeatureRepo.write_rows`, `LabelStore`) and the pipeline's tokenise hook re-reads what ingest
  wrote, so a bypass is not a project-file property: `sahab verify`'s personal-data scan is the
  proof on deployed data.
- `project-explanations` (advisory): the project's framework serves reason codes (LightGBM,
  XGBoost: TreeSHAP; torch: integrated gradients); an sklearn project answers `"explain": true`
  with a 400, which a PDPL Art. 18 review should know before deploying it.

A finding names the project file (relative to the repository) and the column, and the fix.
Sampling runs the project's own generator (a few hundred rows): the gate already trusts the
project's code enough to import its training entry point in other checks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sahab.gate.deployability.context import Context, finding
from sahab.gate.model import ADVISORY, REPO, Finding

SAMPLE_ROWS = 300
MIN_EXEMPT_REASON = 8
_SAMPLE_START = datetime(2026, 1, 1, tzinfo=UTC)
_KINDS = {"emirates_id": "an Emirates ID", "phone": "a +971 phone number", "iban": "an AE IBAN", "email": "an e-mail address"}


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _local_sample(uri: str | None, folder: Path) -> tuple[dict[str, list[Any]], str | None]:
    """Column -> up to SAMPLE_ROWS values of a declared local Parquet source (a remote one: no sample)."""
    if not uri or "://" in uri:
        return {}, None
    import pyarrow.dataset as ds

    path = (folder / uri) if not Path(uri).is_absolute() else Path(uri)
    if not path.exists():
        return {}, None
    try:
        table = ds.dataset(path, format="parquet").head(SAMPLE_ROWS)
    except Exception as exc:  # noqa: BLE001 (an unreadable source is reported, the check goes on)
        return {}, f"{_rel(path)} not readable ({type(exc).__name__})"
    return {name: table.column(name).to_pylist() for name in table.column_names}, None


def _samples(project: Any) -> tuple[dict[str, list[Any]], list[str]]:
    """Column -> sampled values from the generator and the declared local sources; notes on what could not be sampled."""
    spec, notes = project.spec, []
    values: dict[str, list[Any]] = {}
    if spec.sources.generator:
        try:
            generate = project.entry_point(spec.sources.generator, "sources.generator")
            frame = generate(SAMPLE_ROWS, seed=0, start=_SAMPLE_START, days=3)
            for name in frame.columns:
                values.setdefault(str(name), []).extend(frame[name].head(SAMPLE_ROWS).tolist())
        except Exception as exc:  # noqa: BLE001 (the project's own code: its failure is reported, not raised)
            notes.append(f"sources.generator {spec.sources.generator} failed ({type(exc).__name__}: {str(exc)[:200]})")
    for uri in (spec.sources.features, spec.sources.labels):
        sample, note = _local_sample(uri, project.folder)
        for name, column in sample.items():
            values.setdefault(name, []).extend(column)
        if note:
            notes.append(note)
    return values, notes


def _looks(column: str, values: list[Any]) -> str | None:
    """Why `column` looks like personal data (its name, its values), or None."""
    from workloads.privacy.patterns import kind_by_name, kinds_in_values

    reasons = []
    kind = kind_by_name(column)
    if kind:
        reasons.append(f"its name suggests {kind}")
    present = [v for v in values if v is not None and not (isinstance(v, float) and v != v)]
    counts = kinds_in_values(str(v) for v in present)
    if counts:
        shown = ", ".join(f"{n} of {min(len(present), 2_000)} sampled values hold {_KINDS.get(k, k)}" for k, n in sorted(counts.items()))
        reasons.append(shown)
    return "; ".join(reasons) or None


def project_findings(project: Any, label: str | None = None) -> list[Finding]:
    """The three rules (module docstring) for one loaded project; `label` names its file in the findings."""
    from workloads.explain.attribution import EXPLAINABLE, NOT_EXPLAINABLE
    from workloads.privacy import pii_problems

    spec = project.spec
    file = label or _rel(project.file)
    where = f"project {spec.name} ({file})"
    out: list[Finding] = []
    samples, notes = _samples(project)
    entity = spec.entity
    if not entity.pii:
        why = _looks(entity.key, samples.get(entity.key, []))
        if why:
            out.append(
                finding(
                    "project-pii-marked",
                    f"{where}: the entity key {entity.key!r} looks like personal data ({why}) and is not marked, so it would be stored and "
                    f"served in clear. Fix: set entity.pii to its kind (emirates_id, phone, email, name, iban) and entity.dtype: string",
                    resource=where,
                    file=file,
                )
            )
    for i, f in enumerate(spec.features):
        if f.pii:
            continue
        if f.pii_exempt is not None:
            if len(f.pii_exempt.strip()) < MIN_EXEMPT_REASON:
                out.append(
                    finding(
                        "project-pii-marked",
                        f"{where}: features[{i}] {f.name!r} has pii_exempt {f.pii_exempt!r}, not a reason. "
                        "Fix: say why the column holds no personal data (e.g. 'marketing copy written by staff'), or mark it pii",
                        resource=where,
                        file=file,
                    )
                )
            continue
        why = _looks(f.name, samples.get(f.name, []))
        if why:
            out.append(
                finding(
                    "project-pii-marked",
                    f"{where}: features[{i}] {f.name!r} looks like personal data ({why}) and is neither marked pii nor exempt. "
                    f"Fix: add `pii: <kind>` (emirates_id, phone, email, name, iban, free_text) to the feature, or `pii_exempt: <why it is not>`",
                    resource=where,
                    file=file,
                )
            )
    for problem in pii_problems(spec):
        out.append(finding("project-pii-tokenised", f"{where}: {problem}", resource=where, file=file))
    framework = spec.training.framework
    if framework not in EXPLAINABLE:
        out.append(
            finding(
                "project-explanations",
                f"{where}: {NOT_EXPLAINABLE.get(framework, f'no reason codes for framework {framework}')}",
                resource=where,
                file=file,
                enforcement=ADVISORY,
            )
        )
    for note in notes:
        out.append(
            finding(
                "project-pii-marked",
                f"{where}: could not sample its data to look for personal data: {note}. Fix: make the source readable or the generator run",
                resource=where,
                file=file,
                enforcement=ADVISORY,
            )
        )
    return out


def check(ctx: Context) -> list[Finding]:
    from workloads.project import load_project

    out: list[Finding] = []
    for b in (ctx.spec.get("kubernetes") or {}).get("projects") or []:
        if not isinstance(b, dict) or not b.get("name"):
            continue
        folder = REPO / str(b.get("path") or f"projects/{b['name']}")
        try:
            project = load_project(folder)
        except Exception as exc:  # noqa: BLE001 (the spec's own validation names a bad project; here: why it was not judged)
            out.append(finding("project-pii-marked", f"project {b['name']} ({_rel(folder)}): not judged: {str(exc)[:300]}", file=_rel(folder)))
            continue
        out.extend(project_findings(project))
    return out
