"""`sahab project new` to a served model, the way a newcomer goes (issue 19, "Done when"): scaffold a
project in a temporary folder, change its columns and its framework as its README says, validate it,
run it, serve it with `sahab local up --embedded --project <it>` and get one answer; no file of the
platform (workloads/, sahab/, components/, stacks/) is touched for it. Also: every framework and task
scaffolds a project that loads, and a bad name or an existing folder is refused with the fix."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from workloads.project import load_project
from workloads.project.scaffold import FRAMEWORKS, TASKS, new_project

REPO = Path(__file__).resolve().parents[2]
PLATFORM = ("workloads", "sahab", "components", "stacks")


def sahab(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    return subprocess.run([sys.executable, "-m", "sahab", *args], cwd=REPO, env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout)


def platform_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", *PLATFORM], cwd=REPO, capture_output=True, text=True, check=True).stdout


def readme_blocks(readme: str, framework: str) -> tuple[dict, str]:
    """The `training:` YAML and the train.py of `framework` from a scaffold's README ("Change the framework")."""
    section = readme.split("## Change the framework", 1)[1].split(f"### {framework}\n", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    config = re.search(r"```yaml\n(.*?)```", section, re.S)
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert config and code, f"README.md: no yaml and python block under '### {framework}'"
    return yaml.safe_load(config.group(1))["training"], code.group(1)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("task", TASKS)
def test_every_framework_and_task_scaffolds_a_project_that_loads(tmp_path, framework, task):
    made = new_project(f"p-{task}", framework=framework, task=task, directory=tmp_path)
    project = load_project(made.folder)
    assert (project.spec.training.framework, project.spec.label.task) == (framework, task), f"{made.folder}/project.yaml: {project.spec.training}"
    assert sorted(made.files) == ["README.md", "data.py", "project.yaml", "train.py"], f"{made.folder}: files {made.files}"
    compile((made.folder / "train.py").read_text(), str(made.folder / "train.py"), "exec")
    frame = project.module("data").generate(400, seed=1, start=datetime(2026, 1, 1, tzinfo=UTC), days=2)
    columns = [project.spec.entity.key, project.spec.timestamp, *project.spec.feature_names, project.spec.label.column]
    assert all(c in frame.columns for c in columns), f"{made.folder}/data.py: columns {list(frame.columns)} lack some of {columns}"


def test_a_bad_name_or_an_existing_folder_is_refused_with_the_fix(tmp_path):
    bad = sahab("project", "new", "Churn_Model", "--dir", str(tmp_path))
    assert bad.returncode == 2 and "project name 'Churn_Model'" in bad.stderr and "Fix:" in bad.stderr, f"exit {bad.returncode}: {bad.stderr}"
    assert not any(tmp_path.iterdir()), f"a refused name left files: {list(tmp_path.iterdir())}"
    assert sahab("project", "new", "churn", "--dir", str(tmp_path)).returncode == 0
    again = sahab("project", "new", "churn", "--dir", str(tmp_path))
    assert again.returncode == 2 and "already exists" in again.stderr and "Fix:" in again.stderr, f"exit {again.returncode}: {again.stderr}"
    unknown = sahab("project", "new", "other", "--framework", "keras", "--dir", str(tmp_path))
    assert unknown.returncode == 2 and "keras" in unknown.stderr, f"exit {unknown.returncode}: {unknown.stderr}"


def test_a_bad_project_exits_2_naming_the_file_and_field(tmp_path):
    made = new_project("churn", directory=tmp_path)
    raw = yaml.safe_load((made.folder / "project.yaml").read_text())
    raw["feature_views"][0]["features"].append("no_such_column")
    (made.folder / "project.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    done = sahab("project", "validate", str(made.folder), timeout=300)
    assert done.returncode == 2, f"exit {done.returncode}: {done.stdout[-1000:]} {done.stderr[-1000:]}"
    assert "project.yaml" in done.stderr and "feature_views[0].features" in done.stderr and "no_such_column" in done.stderr, done.stderr
    (made.folder / "train.py").write_text("def train():\n    return None\n")
    raw["feature_views"][0]["features"].remove("no_such_column")
    (made.folder / "project.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    done = sahab("project", "validate", str(made.folder), timeout=300)
    assert done.returncode == 2 and "training.entry_point" in done.stderr and "Fix:" in done.stderr, f"exit {done.returncode}: {done.stderr[-1000:]}"


@pytest.mark.slow
def test_a_failing_dry_run_exits_1_naming_its_step(tmp_path):
    made = new_project("churn", framework="sklearn", directory=tmp_path)
    (made.folder / "train.py").write_text("def train(ctx):\n    return 'not a model'\n")
    done = sahab("project", "validate", str(made.folder), "--rows", "600", timeout=600)
    assert done.returncode == 1, f"exit {done.returncode}: {done.stdout[-1500:]} {done.stderr[-1500:]}"
    assert "the dry run failed at training" in done.stderr and "Fix:" in done.stderr, done.stderr[-1500:]
    assert "schema:" in done.stdout and "frames dry-run" in done.stdout, f"the steps before training report their progress: {done.stdout[-1500:]}"


@pytest.mark.slow
@pytest.mark.integration
def test_new_project_changed_as_the_readme_says_is_validated_run_and_served(tmp_path):
    before = platform_status()
    projects, state = tmp_path / "projects", tmp_path / "local"
    env = {"SAHAB_PROJECTS_DIR": str(projects)}
    made = sahab("project", "new", "churn", "--framework", "lightgbm", "--task", "binary", "--dir", str(projects), env=env)
    assert made.returncode == 0 and "created" in made.stdout, f"sahab project new: {made.stdout} {made.stderr}"
    folder = projects / "churn"

    # The columns: one feature renamed, one added (features and a view), as the README says.
    raw = yaml.safe_load((folder / "project.yaml").read_text())
    raw["features"] = [dict(f, name="city") if f["name"] == "region" else f for f in raw["features"]] + [{"name": "basket_items", "type": "numeric"}]
    raw["feature_views"][0]["features"] = ["city" if n == "region" else n for n in raw["feature_views"][0]["features"]]
    raw["feature_views"][1]["features"].append("basket_items")
    # The framework: the README's sklearn block into project.yaml, its train.py over ours.
    training, code = readme_blocks((folder / "README.md").read_text(), "sklearn")
    raw["training"].update(training)
    (folder / "project.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    (folder / "train.py").write_text(code)

    valid = sahab("project", "validate", str(folder), env=env, timeout=600)
    assert valid.returncode == 0, f"sahab project validate exited {valid.returncode}:\n{valid.stdout[-3000:]}\n{valid.stderr[-3000:]}"
    assert "service: POST /score answered 200" in valid.stdout and "valid: churn" in valid.stdout, valid.stdout[-2000:]

    ran = sahab("project", "run", str(folder), "--state-dir", str(state), "--rows", "6000", env=env, timeout=600)
    assert ran.returncode == 0, f"sahab project run exited {ran.returncode}:\n{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
    assert "registered churn v1 as champion" in ran.stdout, ran.stdout[-2000:]

    up = sahab("local", "up", "--embedded", "--state-dir", str(state), "--project", "churn", "--no-prometheus", "--no-feature-server", env=env, timeout=900)
    try:
        assert up.returncode == 0, f"sahab local up exited {up.returncode}:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
        assert "reused from the last run" in up.stdout, f"the bootstrap retrained instead of serving the run's champion:\n{up.stdout[-2000:]}"
        import httpx

        from workloads.local import served_projects as served
        from workloads.local.projects import request_for

        project = load_project(folder)
        rows = project.module("data").generate(4, seed=9, start=datetime.now(UTC), days=0.01)
        request = request_for(project.spec, rows)
        assert {"city", "basket_items"} <= set(request["records"][0]), f"the request does not carry the new columns: {request}"
        reply = httpx.post(f"{served(state)['churn']['serving']}/score", json={"requests": [request]}, timeout=60)
        assert reply.status_code == 200, f"/score of serving-churn: {reply.status_code} {reply.text[:500]}"
        answer = reply.json()[0]
        assert answer["model_name"] == "churn" and answer["model_version"] == "1" and len(answer["scores"]) == 4, answer
        assert all(0.0 <= s <= 1.0 for s in answer["scores"]), f"binary scores must be probabilities: {answer['scores']}"
    finally:
        sahab("local", "down", "--state-dir", str(state), timeout=300)
    assert platform_status() == before, f"git status of {PLATFORM} changed while the project was built:\nbefore:\n{before}\nafter:\n{platform_status()}"
