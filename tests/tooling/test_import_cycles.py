"""scripts/import_cycles.py (run by `make lint`): it finds an import cycle between modules, names each
module and the line of each import, counts a function-level import, and ignores an import made only
under `if TYPE_CHECKING:`. Proven on small packages written here, then on the repository itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "import_cycles.py"


def write_package(root: Path, name: str, modules: dict[str, str]) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in modules.items():
        (package / f"{module}.py").write_text(source)


def run_script(path: Path, *packages: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *packages], cwd=path, env={"PYTHONPATH": str(path)}, capture_output=True, text=True, timeout=120)


def test_a_cycle_is_named_with_its_import_lines(tmp_path: Path) -> None:
    write_package(
        tmp_path,
        "circle",
        {
            "a": "from circle import b\n",
            # A lazy import still makes a and b depend on each other.
            "b": "def later():\n    from circle import a\n    return a\n",
            "c": "from circle import a\n",
        },
    )
    run = run_script(tmp_path, "circle")
    assert run.returncode == 1, f"import_cycles.py on circle/ (a <-> b) exited {run.returncode}:\n{run.stdout}{run.stderr}"
    assert "circle.a -> circle.b (line 1 of circle.a) -> circle.a (line 2 of circle.b)" in run.stdout, (
        f"import_cycles.py on circle/: the cycle a -> b -> a with its lines is not printed:\n{run.stdout}"
    )
    assert "circle.c" not in run.stdout, f"import_cycles.py on circle/: circle.c imports the cycle but is not in it:\n{run.stdout}"


def test_type_checking_imports_and_a_chain_are_not_cycles(tmp_path: Path) -> None:
    write_package(
        tmp_path,
        "typed",
        {
            "model": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from typed import service\n",
            "service": "from typed import model\n",
            "cli": "from typed import service\n",
        },
    )
    run = run_script(tmp_path, "typed")
    assert run.returncode == 0, f"import_cycles.py on typed/ (model -> service only under TYPE_CHECKING) reported a cycle:\n{run.stdout}{run.stderr}"
    assert "no import cycle among" in run.stdout, f"import_cycles.py on typed/: no summary line:\n{run.stdout}"


def test_the_repository_has_no_import_cycle() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"scripts/import_cycles.py found import cycles in sahab, stacks, components, workloads, policy_packs:\n{run.stdout}{run.stderr}"
