"""Loading a sample's image and mask, whatever layout it came from."""

from __future__ import annotations

import numpy as np

from core.data.io import read_image, read_mask
from core.data.sample import Sample


def load_image(sample: Sample) -> np.ndarray:
    return read_image(sample.image)


def load_mask(sample: Sample, expected_size: tuple[int, int] | None = None) -> np.ndarray | None:
    """The sample's label map (uint8), or None when it has no mask."""
    if sample.mask is None:
        return None
    if "coco_image_id" in sample.meta:
        from core.data.layouts.coco import rasterize

        return rasterize(sample.mask, sample.meta["coco_image_id"], expected_size)
    return read_mask(sample.mask, expected_size)


def infer_classes(samples) -> list:
    """Class table guessed from the label values present in the samples' masks (FDI when teeth)."""
    import numpy as np

    from core.data.classes import classes_from_values

    present = np.zeros(256, bool)
    for s in samples:
        labels = load_mask(s)
        if labels is not None:
            present |= np.bincount(labels.ravel(), minlength=256) > 0
    values = {int(v) for v in np.nonzero(present)[0]}
    return classes_from_values(values)
