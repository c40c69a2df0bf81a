"""Registering a finished run in the project (its entry, metrics and files; made active) and keeping it in
the cross-project model library. Project mutation only: the GUI calls it on the UI thread after the job."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.data.classes import classes_from_values, is_fdi_tooth
from core.data.project import ModelEntry, Project
from core.hitl.model_files import project_relative


def register(project: Project, outcome: dict[str, Any], make_active: bool = True) -> ModelEntry:
    """Record a finished run in the project (and make it active); saves the project."""
    run_dir = Path(outcome["run_dir"])
    metrics = {k: outcome.get(k) for k in ("val_dice", "val_ci", "val_n", "val_groups", "val_method", "val_note",
                                            "val_iou", "holdout_dice", "holdout_n",
                                            # numbered teeth (core.hitl.teeth_train): per-tooth scores on val
                                            "tooth_dice", "id_accuracy", "map50", "detection_recall")}
    if outcome.get("previous_dice") is not None:
        metrics["previous_val_dice"] = outcome["previous_dice"]
    export = outcome.get("export") or {}
    entry = ModelEntry(
        name=run_dir.name, path=project_relative(project, Path(outcome["checkpoint"])),
        mode=outcome.get("mode", "finetune"),
        created=time.strftime("%Y-%m-%dT%H:%M:%S"), metrics={k: v for k, v in metrics.items() if v is not None},
        onnx=project_relative(project, Path(outcome["onnx"])) if outcome.get("onnx") else "",
        fingerprint=outcome.get("fingerprint", ""),
        extra={"recipe": outcome.get("recipe", {}), "warm_from": outcome.get("warm_from", ""),
               "parity_max_abs_diff": export.get("max_abs_diff"), "provider": export.get("provider", ""),
               "train_s": outcome.get("train_s")},
    )
    if outcome.get("numbers") and not any(is_fdi_tooth(c.value) for c in project.classes):
        # a numbered-teeth model of a folder whose saved table is still the default one-class table (the
        # CLI on a folder never opened in the app): the table becomes the FDI one its masks and model use
        project.classes = classes_from_values(set(outcome["numbers"]))
    project.add_model(entry, make_active=make_active)
    project.save()
    publish(project, entry)
    return entry


def publish(project: Project, entry: ModelEntry) -> None:
    """Keep the model in the library across projects; a failure there never fails the training."""
    import logging

    from core.hitl import model_store

    key = model_store.stored_modality(project)
    try:
        if key:
            model_store.publish(project, entry, key)
    except OSError as exc:
        logging.getLogger("toothseg.hitl").warning("model library: could not keep %s: %s", entry.name, exc)
