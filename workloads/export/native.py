"""A fitted model in its own framework's format, kept in the training run for re-export.

torch: the whole module (`torch.save`; its class must be importable when loading: the platform's
tabular models, or the project's own modules, imported first through the project); LightGBM,
XGBoost and sklearn: a pickle of the fitted estimator. These files come only from this platform's
own runs (MLflow artifacts), never from users, which is what makes unpickling them acceptable.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workloads.project.project import Project

TORCH_FILE = "model.pt"
PICKLE_FILE = "model.pkl"


def save_native(framework: str, model: Any, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if framework == "torch":
        import copy

        import torch

        path = folder / TORCH_FILE
        torch.save(copy.deepcopy(model).float().cpu().eval(), path)
        return path
    path = folder / PICKLE_FILE
    path.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    return path


def native_file(framework: str) -> str:
    """The file name `save_native` writes for `framework`."""
    return TORCH_FILE if framework == "torch" else PICKLE_FILE


def load_native(project: Project, folder: Path) -> Any:
    """The model `save_native` wrote for this project's framework."""
    framework = project.spec.training.framework
    return load_native_bytes(project, (folder / native_file(framework)).read_bytes())


def load_native_bytes(project: Project, data: bytes) -> Any:
    """The model from the bytes of its file (serving reads them once and verifies their sha256 first)."""
    if project.spec.training.framework == "torch":
        import io

        import torch

        project.entry_point(project.spec.training.entry_point)  # the team's classes become importable
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False).eval()
    return pickle.loads(data)  # the platform's own run artifact (module docstring)
