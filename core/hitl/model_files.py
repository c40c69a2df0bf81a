"""Where a project keeps its models: the run folders under ``<project>/models`` and the paths a registered
model's entry points to (relative to the project folder when inside it)."""

from __future__ import annotations

import time
from pathlib import Path

from core.data.project import ModelEntry, Project

MODELS_DIRNAME = "models"


def model_path(project: Project, entry: ModelEntry, onnx: bool = False) -> Path | None:
    """Absolute path of a registered model's checkpoint (or ONNX file); None when it has none."""
    raw = entry.onnx if onnx else entry.path
    if not raw:
        return None
    p = Path(raw)
    return p if p.is_absolute() else project.dir / p


def project_relative(project: Project, path: Path) -> str:
    """``path`` relative to the project folder when it is inside it, else absolute (as entries store it)."""
    try:
        return Path(path).resolve().relative_to(project.dir.resolve()).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def new_run_dir(project: Project, prefix: str = "finetune") -> Path:
    """A fresh ``models/<prefix>-<time stamp>`` folder path (not created), numbered when the stamp is taken."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = project.dir / MODELS_DIRNAME / f"{prefix}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path
