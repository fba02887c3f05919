"""Nothing outside `projects/transaction-risk/` (and tests/) names the first project's columns,
entity, label or model: the platform reads projects, never constants (issue 19, "Done when").

The names come from the project itself (its project.yaml), so a column added there is covered at
once. Names that are also ordinary words of the infrastructure (`amount`, `channel`, `country`,
`account_id` as in an AWS account id) count where they are written as a column would be: a quoted
literal; the entity's name `account` (a storage account, an AWS account) is left to its key; every
other name counts anywhere, comments and docstrings included. A benchmark may take
the project as its default `--project` value, and only there.
"""

from __future__ import annotations

import re
from pathlib import Path

from workloads.project import load_project

REPO = Path(__file__).resolve().parents[2]
CODE_DIRS = ("workloads", "sahab", "components", "stacks", "policy_packs", "benchmarks", "scripts")
TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".json", ".md", ".sh", ".toml", ".tmpl", ".txt", ".cfg", ".ini", ".j2", ""}
# Words the infrastructure uses in its own sense (an AWS account id, a region's country, a
# notification channel): only a string literal naming them is a column reference.
ORDINARY = {"account_id", "amount", "channel", "country"}
# The entity's name is the clouds' own word (a storage account, an AWS account): even as a literal it
# names theirs; the entity's key (`account_id`) is covered.
CLOUD_WORDS = {"account"}


def project_names() -> set[str]:
    spec = load_project(REPO / "projects" / "transaction-risk").spec
    snake = spec.name.replace("-", "_")
    return {
        spec.name,
        snake,
        "".join(part.title() for part in spec.name.split("-")),
        spec.entity.name,
        spec.entity.key,
        spec.label.column,
        *spec.feature_names,
        *(v.name for v in spec.feature_views),
    }


def patterns() -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for name in sorted(project_names() - CLOUD_WORDS):
        if name in ORDINARY:
            out.append((name, re.compile(rf"""(["'`]){re.escape(name)}\1""")))
        else:
            out.append((name, re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")))
    return out


def _allowed(path: Path, line: str) -> bool:
    """A benchmark's default `--project` value."""
    return path.parts[0] == "benchmarks" and "--project" in line and "default=" in line


def offending_lines() -> list[str]:
    found = []
    checks = patterns()
    for top in CODE_DIRS:
        for path in sorted((REPO / top).rglob("*")):
            if not path.is_file() or path.suffix not in TEXT_SUFFIXES or "__pycache__" in path.parts or path.name.startswith("."):
                continue
            rel = path.relative_to(REPO)
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                for name, pattern in checks:
                    if pattern.search(line) and not _allowed(rel, line):
                        found.append(f"{rel}:{number}: names {name!r}: {line.strip()[:160]}")
    return found


def test_the_names_come_from_the_project():
    names = project_names()
    assert {"transaction-risk", "TransactionRisk", "transaction_risk", "account_id", "is_fraud", "merchant_category"} <= names, (
        f"projects/transaction-risk/project.yaml: the grep covers {sorted(names)}"
    )


def test_the_grep_finds_a_planted_name(tmp_path):
    planted = tmp_path / "x.py"
    planted.write_text('LABEL = "is_fraud"\nREGION_ACCOUNT = account_id\nCOLUMN = "amount"\n')
    hits = [(name, n) for n, line in enumerate(planted.read_text().splitlines(), 1) for name, p in patterns() if p.search(line)]
    assert ("is_fraud", 1) in hits and ("amount", 3) in hits and not any(n == 2 for _, n in hits), (
        f"{planted}: a column literal must be found, an AWS account_id identifier not; found {hits}"
    )


def test_no_platform_file_names_the_first_project():
    found = offending_lines()
    assert not found, "outside projects/transaction-risk/ and tests/, these lines name the project (read it from project.yaml instead):\n" + "\n".join(found)
