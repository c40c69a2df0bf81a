"""Builders of small dataset folders from real images, shared by the core tests."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_pairs(shared_data: Path, dataset: str, n: int, dest: Path, image_ext: str = ".jpg",
               mask_ext: str = ".png") -> list[str]:
    """Copy the first ``n`` image/mask pairs of a shared dataset into ``dest/images`` + ``dest/masks``."""
    src = shared_data / dataset
    stems = sorted(p.stem for p in (src / "images").iterdir())[:n]
    (dest / "images").mkdir(parents=True, exist_ok=True)
    (dest / "masks").mkdir(parents=True, exist_ok=True)
    for stem in stems:
        shutil.copy(src / "images" / f"{stem}{image_ext}", dest / "images")
        shutil.copy(src / "masks" / f"{stem}{mask_ext}", dest / "masks")
    return stems


def make_sts_tree(shared_data: Path, root: Path, names=("A-PXI", "C-PXI"), labeled=("Labeled", "Unlabeled"),
                  kinds=("Image", "Mask"), per_group: int = 2) -> Path:
    """An STS-2D-Tooth-like tree built from real UFBA-425 panoramics; masks named by pair id."""
    src = shared_data / "ufba425_teeth"
    stems = iter(sorted(p.stem for p in (src / "images").iterdir()))
    tree = root / "SD-Tooth" / "STS-2D-Tooth"
    for age in names:
        for status in labeled:
            img_dir = tree / age / status / kinds[0]
            img_dir.mkdir(parents=True)
            for k in range(per_group):
                stem = next(stems)
                pid = f"{age[0]}_{status[0]}_{k:03d}"
                shutil.copy(src / "images" / f"{stem}.jpg", img_dir / f"{pid}.jpg")
                if status == labeled[0]:
                    mask_dir = tree / age / status / kinds[1]
                    mask_dir.mkdir(exist_ok=True)
                    shutil.copy(src / "masks" / f"{stem}.png", mask_dir / f"{pid}_Mask.png")
    return tree
