"""The project's model library: rows to show, set active, export ONNX (+ int8), delete.

Rows are plain dicts so the GUI table and a script print the same facts (mode, date, data
fingerprint, metrics, ONNX file and its parity / int8 Dice-drop results).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from core.data.project import ModelEntry, Project
from core.errors import ToothSegError
from core.hitl.model_files import MODELS_DIRNAME, model_path
from core.jobs import CancelToken, Progress


def rows(project: Project) -> list[dict[str, Any]]:
    out = []
    for m in project.models:
        ckpt, onnx = model_path(project, m), model_path(project, m, onnx=True)
        export = m.extra.get("export", {})
        out.append({
            "name": m.name, "mode": m.mode, "created": m.created, "fingerprint": m.fingerprint,
            "active": m.name == project.active_model, "metrics": dict(m.metrics),
            "checkpoint": str(ckpt) if ckpt else "", "has_checkpoint": bool(ckpt and ckpt.exists()),
            "onnx": str(onnx) if onnx else "", "has_onnx": bool(onnx and onnx.exists()),
            "parity": m.extra.get("parity_max_abs_diff", export.get("max_abs_diff")),
            "int8": export.get("int8_out", ""), "dice_drop": export.get("dice_drop"),
            "dice_int8_vs_fp32": export.get("dice_int8_vs_fp32"),
        })
    return out


def entry(project: Project, name: str) -> ModelEntry:
    m = project.model(name)
    if m is None:
        raise ToothSegError(f"no model named {name!r} in this project")
    return m


def check_model(project: Project, name: str) -> ModelEntry:
    """Refuse (ModelFileError, one line) a registered model whose checkpoint description or ONNX
    metadata and graph do not pass ``core.models.metadata_schema``: nothing is built or run, so the app
    can check a model on the UI thread before it becomes active or an overlay."""
    from core.capabilities import torch_available
    from core.infer.backends import read_onnx

    m = entry(project, name)
    ckpt, onnx = model_path(project, m), model_path(project, m, onnx=True)
    if ckpt is not None and (ckpt.with_suffix(".json").exists() or onnx is None):
        if torch_available():
            from core.models.checkpoint import read_sidecar

            read_sidecar(ckpt)  # also checks the architecture against the registry
        else:  # the slim build: the same schema, without torch
            from core.models.metadata_schema import read_sidecar_file

            if not ckpt.with_suffix(".json").is_file():
                raise ToothSegError(f"{name}: checkpoint description {ckpt.with_suffix('.json').name} not found")
            read_sidecar_file(ckpt.with_suffix(".json"))
    if onnx is not None and onnx.exists():
        read_onnx(onnx, f"{name}/{onnx.name}")
    return m


def set_active(project: Project, name: str) -> ModelEntry:
    """Make ``name`` the active model once ``check_model`` accepts it (the project is unchanged otherwise)."""
    m = check_model(project, name)
    project.active_model = m.name
    project.save()
    return m


def active_onnx(project: Project) -> Path | None:
    """The active model's ONNX file when it exists (what prediction and review use)."""
    m = project.model(project.active_model) if project.active_model else None
    path = model_path(project, m, onnx=True) if m else None
    return path if path is not None and path.exists() else None


def active_checkpoint(project: Project) -> Path | None:
    m = project.model(project.active_model) if project.active_model else None
    path = model_path(project, m) if m else None
    return path if path is not None and path.with_suffix(".json").exists() else None


def export_model(project: Project, checkpoint: str | Path, int8: bool = False, progress: Progress | None = None,
                 cancel: CancelToken | None = None) -> dict[str, Any]:
    """Export a checkpoint beside itself as ``model.onnx`` (+ ``model.int8.onnx``); returns the report."""
    from core.export.onnx import export_onnx

    checkpoint = Path(checkpoint)
    if checkpoint.suffix == ".pt":   # a numbered-teeth snapshot (core.hitl.teeth_train): its own export
        from core.data.classes import is_fdi_tooth
        from core.export.teeth import export_teeth_onnx
        from core.teeth.recipe import labeled_samples

        if int8:
            raise ToothSegError("int8 export is not available for numbered-teeth models yet; export fp32")
        numbers = [c.value for c in project.classes if is_fdi_tooth(c.value)] or None
        images = [s.image for s in labeled_samples(project.root)[:2]]
        return export_teeth_onnx(checkpoint, checkpoint.parent / "model.onnx", images, allowed=numbers)
    return export_onnx(checkpoint, checkpoint.parent / "model.onnx", images=str(project.root), int8=int8,
                       max_images=4, progress=progress, cancel=cancel)


def record_export(project: Project, name: str, report: dict[str, Any]) -> ModelEntry:
    """Store an export report in the model's entry (UI thread; saves the project)."""
    m = entry(project, name)
    out = Path(report["out"])
    try:
        m.onnx = out.resolve().relative_to(project.dir.resolve()).as_posix()
    except ValueError:
        m.onnx = str(out.resolve())
    m.extra["export"] = {k: v for k, v in report.items() if isinstance(v, (str, int, float, bool, type(None)))}
    m.extra["parity_max_abs_diff"] = report.get("max_abs_diff")
    project.save()
    return m


def delete(project: Project, name: str) -> ModelEntry:
    """Forget a model; its files go too when they live in the project's own models folder."""
    m = entry(project, name)
    ckpt = model_path(project, m)
    models_dir = (project.dir / MODELS_DIRNAME).resolve()
    if ckpt is not None and models_dir in ckpt.resolve().parents:
        run_dir = ckpt.resolve().parent
        if run_dir.parent == models_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
    project.models = [x for x in project.models if x.name != name]
    if project.active_model == name:
        project.active_model = project.models[-1].name if project.models else ""
    project.save()
    return m
