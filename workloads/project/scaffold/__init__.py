"""`sahab project new`: a project folder that validates and runs as generated.

    new_project("churn", framework="lightgbm", task="binary", directory="projects")
    -> projects/churn/{project.yaml, train.py, data.py, README.md}

- `project.yaml` with every section commented (templates/project.yaml.tmpl), the gate and the A/B
  outcome chosen for the task;
- `train.py`, the training function for the framework and the task (templates/train/*.py.tmpl: the
  same shapes the platform's own framework tests train);
- `data.py`, an example generator that reads project.yaml, so changing the columns there is enough
  (templates/data.py), and the A/B `outcome`;
- `README.md`: the commands, the function's contract, and how to change the columns, the framework
  (the other frameworks' `train.py` and config for the same task, rendered from the same templates)
  and the task.

The folder is written whole or not at all: a bad name or an existing folder is refused before
anything is written, and the result is loaded with `load_project` before it is moved into place.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any, get_args

import yaml

from workloads.errors import SahabError
from workloads.project.spec import _NAME, PROJECT_FILE, Framework, Task

TEMPLATES = Path(__file__).resolve().parent / "templates"
FRAMEWORKS: tuple[str, ...] = get_args(Framework)
TASKS: tuple[str, ...] = get_args(Task)
CLASSES = ("bronze", "silver", "gold")
DEFAULT_TEAM = "data-science"

# What differs per task: the label, the gate and the A/B outcome (the generator's signal fits them:
# see templates/data.py `_label`).
_TASK: dict[str, dict[str, str]] = {
    "binary": {
        "label_column": "converted",
        "label_description": "1 when the customer bought again within 30 days.",
        "summary": "Will a customer buy again within 30 days (binary)?",
        "primary": "{metric: auc, min: 0.70}",
        "guardrail": "{metric: ece, max: 0.10}           # calibration: scores read as probabilities",
        "max_regression": "0.01",
        "outcome_name": "decision_correct",
        "outcome_description": "1 when the decision taken on the score (at evaluation.threshold) proved right.",
        "max_degradation": "0.05",
    },
    "multiclass": {
        "label_column": "segment",
        "label_description": "The customer's value segment next quarter.",
        "summary": "Which value segment a customer falls in next quarter (multiclass).",
        "primary": "{metric: logloss, max: 1.0}",
        "guardrail": "{metric: accuracy, min: 0.45}",
        "max_regression": "0.02",
        "outcome_name": "class_correct",
        "outcome_description": "1 when the predicted segment proved right.",
        "max_degradation": "0.1",
    },
    "regression": {
        "label_column": "spend_next_30d",
        "label_description": "What the customer spends in the next 30 days (AED).",
        "summary": "What a customer spends in the next 30 days (regression).",
        "primary": "{metric: rmse, max: 9.0}",
        "guardrail": "{metric: r2, min: 0.3}",
        "max_regression": "0.25",
        "outcome_name": "estimate_accuracy",
        "outcome_description": "1 minus the relative error of the estimate, floored at 0.",
        "max_degradation": "1.0",
    },
}
_ESTIMATORS = {
    "lightgbm": {"binary": "LGBMClassifier", "multiclass": "LGBMClassifier", "regression": "LGBMRegressor"},
    "xgboost": {"binary": "XGBClassifier", "multiclass": "XGBClassifier", "regression": "XGBRegressor"},
    "sklearn": {"binary": "LogisticRegression", "multiclass": "LogisticRegression", "regression": "Ridge"},
}
_TORCH_OUTPUT = {"binary": "the logit [B]", "multiclass": "the class logits [B, K]", "regression": "the value [B]"}


class ScaffoldError(SahabError):
    """`sahab project new` refused: the message names the argument and the fix. Exit 2."""


@dataclass(frozen=True)
class Scaffold:
    folder: Path
    files: tuple[str, ...]


def training_config(framework: str, task: str) -> dict[str, Any]:
    """The `training.config` the scaffold writes for `framework` (what its train.py's Config takes)."""
    if framework == "torch":
        return {
            "steps": 200,
            "batch_size": 256,
            "eval_every": 100,
            "log_every": 50,
            "threads": 2,
            "model": {"kind": "mlp", "embed_dim": 8, "hidden": 64, "layers": 2, "dropout": 0.1},
            "optim": {"lr": 0.003, "warmup_steps": 20},
        }
    if framework == "lightgbm":
        return {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20, "threads": 2}
    if framework == "xgboost":
        return {"n_estimators": 200, "max_depth": 4, "learning_rate": 0.1, "threads": 2}
    return {"alpha": 1.0} if task == "regression" else {"C": 1.0}


def config_block(framework: str, task: str, indent: int = 2) -> str:
    """`config:` and its YAML, indented `indent` spaces (the training section's)."""
    body = yaml.safe_dump({"config": training_config(framework, task)}, sort_keys=False, default_flow_style=False)
    pad = " " * indent
    return "".join(pad + line + "\n" for line in body.splitlines())


def render_train(name: str, framework: str, task: str) -> str:
    """train.py for `framework` and `task`."""
    text = (TEMPLATES / "train" / f"{framework}.py.tmpl").read_text()
    estimator = _ESTIMATORS.get(framework, {}).get(task, "")
    regression = task == "regression"
    return Template(text).substitute(
        name=name,
        task=task,
        estimator=estimator,
        torch_output=_TORCH_OUTPUT[task],
        parameter="alpha" if regression else "C",
        parameter_help="L2 penalty of the ridge regression." if regression else "Inverse L2 penalty of the logistic regression.",
        estimator_args="alpha=cfg.alpha" if regression else "C=cfg.C, max_iter=1000",
    )


def render_project(name: str, framework: str, task: str, team: str, folder: str) -> str:
    """project.yaml for `framework` and `task`."""
    t = _TASK[task]
    label_extra = f"  classes: [{', '.join(CLASSES)}]   # the model's outputs, in this order\n" if task == "multiclass" else ""
    threshold = "  threshold: 0.5                 # binary: the decision threshold of precision / recall and the outcome\n" if task == "binary" else ""
    return Template((TEMPLATES / "project.yaml.tmpl").read_text()).substitute(
        name=name,
        team=team,
        folder=folder,
        task=task,
        framework=framework,
        label_extra=label_extra,
        threshold=threshold,
        config="  config:                        # train.py's Config (`--set key=value` overrides one run)\n"
        + config_block(framework, task, indent=2).replace("  config:\n", "", 1),
        **t,
    )


def render_readme(name: str, framework: str, task: str, folder: str, parent: str) -> str:
    sections = []
    for other in FRAMEWORKS:
        sections.append(
            f"### {other}\n\n```yaml\ntraining:\n  framework: {other}\n{config_block(other, task)}```\n\n```python\n{render_train(name, other, task)}```\n"
        )
    return Template((TEMPLATES / "README.md.tmpl").read_text()).substitute(
        name=name,
        framework=framework,
        task=task,
        folder=folder,
        parent=parent,
        summary=_TASK[task]["summary"],
        framework_sections="\n".join(sections),
    )


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ScaffoldError(
            f"project name {name!r}: use 3-32 lower-case letters, digits or '-', starting with a letter and not ending with '-' "
            "(it names the model, its Kubernetes objects and its storage prefixes)",
            fix="e.g. `sahab project new churn-model`",
        )
    return name


def new_project(name: str, *, framework: str = "lightgbm", task: str = "binary", directory: str | Path = "projects", team: str = DEFAULT_TEAM) -> Scaffold:
    """Write `<directory>/<name>/` (see the module docstring); refuses a bad name, framework, task or team and an existing folder."""
    from workloads.project.project import load_project

    check_name(name)
    if framework not in FRAMEWORKS:
        raise ScaffoldError(f"--framework {framework!r} is not one the platform trains", fix=f"one of {', '.join(FRAMEWORKS)}")
    if task not in TASKS:
        raise ScaffoldError(f"--task {task!r} is not a task", fix=f"one of {', '.join(TASKS)}")
    if not _NAME.match(team or ""):
        raise ScaffoldError(f"--team {team!r}: use 3-32 lower-case letters, digits or '-' (it names the team's namespace)", fix="e.g. --team data-science")
    directory = Path(directory)
    folder = directory / name
    if folder.exists():
        raise ScaffoldError(
            f"{folder} already exists; `sahab project new` never overwrites a folder", fix="choose another name or --dir, or delete the folder first"
        )
    if directory.exists() and not directory.is_dir():
        raise ScaffoldError(f"--dir {directory} is a file", fix="give a folder (it is created when missing)")
    shown = str(folder)
    files = {
        PROJECT_FILE: render_project(name, framework, task, team, shown),
        "train.py": render_train(name, framework, task),
        "data.py": (TEMPLATES / "data.py").read_text(),
        "README.md": render_readme(name, framework, task, shown, str(directory)),
    }
    directory.mkdir(parents=True, exist_ok=True)
    # Written into a sibling temporary folder and moved into place once it loads: never half a project.
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=directory) as tmp:
        staged = Path(tmp) / name
        staged.mkdir()
        for file, text in files.items():
            (staged / file).write_text(text)
        load_project(staged)  # the templates' own check: a scaffold that does not validate is a bug here
        shutil.move(str(staged), str(folder))
    return Scaffold(folder.resolve(), tuple(files))
