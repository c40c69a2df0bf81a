"""Pseudo-labelling (lumbar seed): train or take a small U-Net, predict unlabeled images, clean up.

Masks are the model's own (``core.infer.contract``): its threshold, band, minimum area and
largest-component rule, as the app shows them. Results go into ``RUN_DIR/pseudo``: ``masks/`` (0/255 or label
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
from core.infer.predictor import load_predictor
from core.jobs import CancelToken, Progress
from core.train.data import Dataset2D, open_dataset
from core.train.events import TrainEvents
from core.train.loop import run_training
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
                     cancel: CancelToken | None = None, progress: Progress | None = None,
                     rules: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train (or take ``model_path``, a checkpoint or ``.onnx``) and write cleaned masks for unlabeled images.

    Masks come from the model's own inference contract (threshold, band, minimum area, largest-component
    rule), exactly what the app shows; ``rules`` (``threshold``, ``band``, ``min_area_frac`` given on the
    command line) replace the model's for this run only."""
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
    predictor = load_predictor(model_path)
    predictor.contract = predictor.contract.overridden(**(rules or {}))
    contract = predictor.contract
    out = run_dir / "pseudo"
    rows = []
    for i, s in enumerate(targets):
        if cancel is not None:
            cancel.raise_if_cancelled("pseudo-labelling")
        image = load_image(s)
        pred = predictor.predict(image)
        keep = (pred.mask > 0).astype(np.uint8)
        mask = keep * np.uint8(recipe.label_value) if contract.binary else pred.mask
        name = s.id.replace("/", "__") + ".png"
        write_mask(out / "masks" / name, mask)
        ok, buf = cv2.imencode(".png", overlay(image, keep))
        atomic_write_bytes(out / "overlays" / name, buf.tobytes())
        stats = pred.stats
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
