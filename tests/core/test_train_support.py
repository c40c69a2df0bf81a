"""Shared helpers for the training tests: small real-data subsets in a temp folder, tiny recipes.

(No tests here; the module is imported by the test_train_* files.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from core.train.recipe import Recipe, default_recipe

TINY_MODEL = {"name": "unet", "base_channels": 4, "norm": "batch"}


def make_subset(src: Path, dest: Path, n_labeled: int, n_unlabeled: int = 0, start: int = 0) -> Path:
    """Copy ``n_labeled`` image/mask pairs (and ``n_unlabeled`` more images without masks) of a paired
    dataset into ``dest`` (a temp folder; the shared data stays read-only and out of the repo)."""
    images = sorted((src / "images").iterdir())[start:]
    masks = {p.stem: p for p in (src / "masks").iterdir()}
    for sub in ("images", "masks"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    for img in images[:n_labeled]:
        shutil.copy(img, dest / "images" / img.name)
        shutil.copy(masks[img.stem], dest / "masks" / masks[img.stem].name)
    if n_unlabeled:
        (dest / "unlabeled").mkdir(exist_ok=True)
        for img in images[n_labeled : n_labeled + n_unlabeled]:
            shutil.copy(img, dest / "unlabeled" / img.name)
    return dest


def tiny(mode: str, **changes) -> Recipe:
    """A recipe small enough to train in about a second on 2 CPU cores."""
    base = {"size": 64, "epochs": 2, "batch_size": 4, "unlabeled_batch_size": 4, "model": dict(TINY_MODEL),
            "threads": 1, "preview_every": 1}
    base.update(changes)
    return default_recipe(mode).updated(**base)


def thyroid_frame(shared_data: Path, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``index``-th thyroid frame (by name) as a [0, 1] float32 image and its mask as a boolean array."""
    from core.data.io import read_image, read_mask

    src = shared_data / "tg3k_thyroid"
    name = sorted(p.name for p in (src / "images").iterdir())[index]
    return read_image(src / "images" / name).astype(np.float32) / 255, read_mask(src / "masks" / name) > 0
