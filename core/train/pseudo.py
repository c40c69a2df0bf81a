"""Pseudo-labelling (lumbar seed): train or take a small U-Net, predict unlabeled images, clean up.

Post-processing keeps components in a vertical band, drops specks below a minimum area fraction and
falls back to the largest component. Results go into ``RUN_DIR/pseudo``: ``masks/`` (0/255 or label
maps), ``overlays/`` (red on the image) and ``pseudo_labels.csv`` with
``filename, area_frac, cy_rel, cx_rel, plausible``. The project file is not touched; the review
queue imports these masks as ``pseudo`` when the user asks.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.data.atomic import atomic_write_bytes, atomic_write_text
from core.data.io import to_uint8, write_mask
from core.data.masks import load_image
from core.errors import ToothSegError
from core.infer.postprocess import mask_stats, postprocess_binary
from core.jobs import CancelToken, Progress
from core.train.data import Dataset2D, open_dataset
from core.train.events import TrainEvents
from core.train.loop import run_training
from core.train.predict import CheckpointModel
from core.train.recipe import Recipe

CSV_COLUMNS = ("filename", "area_frac", "cy_rel", "cx_rel", "plausible")


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """BGR image with the mask's foreground tinted red."""
    gray = to_uint8(image)
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR).astype(np.float32)
    fg = mask > 0
    bgr[fg] = (1 - alpha) * bgr[fg] + alpha * np.array([0, 0, 255], np.float32)
    return bgr.astype(np.uint8)


def run_pseudo_label(recipe: Recipe, data: str | Path | Dataset2D, run_dir: str | Path,
                     model_path: str | Path | None = None, events: TrainEvents | None = None,
                     cancel: CancelToken | None = None, progress: Progress | None = None) -> dict[str, Any]:
    run_dir = Path(run_dir)
    events = events or TrainEvents()
    if not isinstance(data, Dataset2D):
        data = open_dataset(data, recipe.split_seed, recipe.split_ratios)
    result: dict[str, Any] = {}
    if model_path is None:
        result = run_training(recipe, data, run_dir, events=events, cancel=cancel, progress=progress)
        model_path = run_dir / "best.safetensors"
        if not _is_main():
            return result
    targets = data.index.unlabeled()
    if not targets:
        raise ToothSegError(f"{data.root} has no unlabeled images to pseudo-label")
    ckpt = CheckpointModel(model_path)
    band = tuple(recipe.band) if recipe.band else None
    out = run_dir / "pseudo"
    rows = []
    for i, s in enumerate(targets):
        if cancel is not None:
            cancel.raise_if_cancelled("pseudo-labelling")
        image = load_image(s)
        probs = ckpt.probabilities(image)
        labels = ckpt.labels(probs, recipe.threshold)
        keep = postprocess_binary(labels > 0, band=band, min_area_frac=recipe.min_area_frac)
        if ckpt.binary:
            mask = keep * np.uint8(recipe.label_value)
        else:
            lut = np.array(ckpt.class_values() + [0] * (256 - len(ckpt.class_values())), np.uint8)
            mask = lut[labels] * keep
        name = s.id.replace("/", "__") + ".png"
        write_mask(out / "masks" / name, mask)
        ok, buf = cv2.imencode(".png", overlay(image, keep))
        atomic_write_bytes(out / "overlays" / name, buf.tobytes())
        stats = mask_stats(keep, band=band, min_area_frac=recipe.min_area_frac)
        rows.append({"filename": name, **stats})
        events.on_log(f"pseudo-label {i + 1}/{len(targets)} {name}: area {stats['area_frac']:.3f}")
        if progress is not None:
            progress(i + 1, len(targets), f"pseudo-labelled {name}")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "pseudo_labels.csv", buf.getvalue())
    plausible = sum(1 for r in rows if r["plausible"])
    result.update({"pseudo_dir": str(out), "labeled_images": len(rows), "plausible": plausible,
                   "model": str(model_path)})
    return result


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
