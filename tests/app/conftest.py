"""GUI test helpers: a main window, small copies of the real datasets, and image->screen mapping."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6 import QtCore

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASETS = ("ufba425_teeth", "tg3k_thyroid", "mlua_panoramic_caries", "isbi2012_em_membrane")


def copy_subset(src: Path, dest: Path, n: int = 3, unlabeled: int = 0) -> Path:
    """``n`` real samples (image + mask) and ``unlabeled`` extra images in the paired layout."""
    names = sorted(p.name for p in (src / "images").iterdir())
    masks = {p.stem: p for p in (src / "masks").iterdir()}
    (dest / "images").mkdir(parents=True)
    (dest / "masks").mkdir()
    for name in names[:n]:
        shutil.copy(src / "images" / name, dest / "images" / name)
        mask = masks[Path(name).stem]
        shutil.copy(mask, dest / "masks" / mask.name)
    if unlabeled:
        (dest / "unlabeled").mkdir()
        for name in names[n:n + unlabeled]:
            shutil.copy(src / "images" / name, dest / "unlabeled" / name)
    return dest


@pytest.fixture
def thyroid_copy(shared_data, tmp_path) -> Path:
    return copy_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", n=3, unlabeled=1)


def to_viewport(window, x: float, y: float) -> QtCore.QPoint:
    """Screen position (viewport pixels) of image pixel (x, y)."""
    scene = window.canvas.vb.mapViewToScene(QtCore.QPointF(x, y))
    return window.canvas.mapFromScene(scene)
