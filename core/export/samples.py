"""Real project images for parity checks, int8 calibration and int8-vs-fp32 validation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.data.io import is_image_file, read_image, to_unit_float
from core.errors import ModelFileError, ToothSegError
from core.preprocess import to_network_size


def collect_samples(source: str | Path | Sequence[str | Path], limit: int,
                    need_masks: bool = False) -> list[tuple[Path, Path | None]]:
    """Up to ``limit`` (image, mask|None) pairs spread evenly over a dataset folder, file or list."""
    if isinstance(source, (str, Path)) and Path(source).is_file():
        pairs: list[tuple[Path, Path | None]] = [(Path(source), None)]
    elif isinstance(source, (str, Path)):
        root = Path(source)
        if not root.is_dir():
            raise ModelFileError(f"{root}: image folder not found")
        try:
            from core.data.layouts import load_index

            index = load_index(root)
            # a COCO sample's mask is the JSON itself: its image serves, without a mask file
            pairs = [(s.image, None if "coco_image_id" in s.meta else s.mask) for s in index]
            val = [p for p, s in zip(pairs, index, strict=True) if s.split == "val"]
            pairs = val or pairs
        except ToothSegError:
            pairs = [(p, None) for p in sorted(root.rglob("*")) if p.is_file() and is_image_file(p)]
    else:
        pairs = [(Path(p), None) for p in source]
    if need_masks:
        pairs = [p for p in pairs if p[1] is not None]
    if not pairs:
        what = "labelled images" if need_masks else "images"
        raise ModelFileError(f"no {what} found in {source}")
    if len(pairs) > limit:
        picks = np.linspace(0, len(pairs) - 1, limit).round().astype(int)
        pairs = [pairs[i] for i in picks]
    return pairs


def network_input(path: Path, size: tuple[int, int], mean: float, std: float) -> np.ndarray:
    """One real image as the network sees it under the resize policy: (1, h, w) float32."""
    img = to_unit_float(read_image(path))
    img = to_network_size(img, size)
    return ((img - mean) / std)[None].astype(np.float32)

