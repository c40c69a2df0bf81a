"""Where an edited mask is saved, and in which encoding.

A mask that came with the dataset is overwritten in place, in its own encoding (0/255 stays 0/255,
JPEG stays JPEG when lossless) so other tools keep reading the folder. Images without a mask, masks
in read-only folders, COCO annotations and masks JPEG cannot hold losslessly go to
``Project.drawn_mask_path`` (inside the project dir, which is in user data for read-only folders);
``SaveResult.redirected`` tells the GUI to say where.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.atomic import is_writable_dir
from core.data.io import MaskEncoding, read_mask_with_encoding, write_mask
from core.data.masks import load_mask
from core.data.project import Project, user_data_project_dir
from core.data.sample import Sample
from core.errors import MaskError, ToothSegError


@dataclass
class SaveResult:
    path: Path
    redirected: bool
    reason: str = ""


class MaskStore:
    def __init__(self, project: Project):
        self.project = project
        self._encodings: dict[str, MaskEncoding] = {}
        self._writable: dict[Path, bool] = {}

    def load(self, sample: Sample, shape: tuple[int, int]) -> np.ndarray:
        """The sample's current label map (a drawn copy wins over the original), zeros when none."""
        drawn = self.project.drawn_mask_path(sample.id)
        size = (shape[1], shape[0])
        if drawn.exists():
            labels, enc = read_mask_with_encoding(drawn, size)
        elif sample.mask is not None and "coco_image_id" not in sample.meta:
            labels, enc = read_mask_with_encoding(sample.mask, size)
        elif sample.mask is not None:
            labels, enc = load_mask(sample, size), MaskEncoding("labelmap")
        else:
            return np.zeros(shape, np.uint8)
        self._encodings[sample.id] = enc
        return np.ascontiguousarray(labels, dtype=np.uint8)

    def _own_target(self, sample: Sample) -> tuple[Path | None, str]:
        drawn = self.project.drawn_mask_path(sample.id)
        if sample.mask is None or sample.meta.get("drawn") or Path(sample.mask) == drawn:
            return None, ""
        if "coco_image_id" in sample.meta:
            return None, "COCO annotations are not rewritten; the edited mask is kept as a PNG"
        if drawn.exists():
            return None, ""  # an earlier save already went to the drawn copy; keep using it
        folder = Path(sample.mask).parent
        if folder not in self._writable:
            self._writable[folder] = is_writable_dir(folder)
        if not self._writable[folder]:
            return None, f"{folder} is read-only"
        return Path(sample.mask), ""

    def save(self, sample: Sample, labels: np.ndarray) -> SaveResult:
        """Write ``labels`` atomically and record the sample as labeled in the project."""
        target, reason = self._own_target(sample)
        result = None
        if target is not None:
            try:
                result = SaveResult(write_mask(target, labels, self._encodings.get(sample.id)), False)
            except MaskError as exc:
                reason = str(exc)
        if result is None:
            result = self._save_drawn(sample, labels, reason)
        if sample.status == "unlabeled":
            sample.status = "labeled"
            self.project.set_status(sample.id, "labeled")
            self.project.save()
        return result

    def _save_drawn(self, sample: Sample, labels: np.ndarray, reason: str) -> SaveResult:
        """Write to the project's mask folder; a read-only dataset moves the project to user data."""
        try:
            path = write_mask(self.project.drawn_mask_path(sample.id), labels)
        except ToothSegError:
            if self.project.in_user_data:
                raise
            self.project.dir = user_data_project_dir(self.project.root)
            reason = reason or f"{self.project.root} is read-only"
            path = write_mask(self.project.drawn_mask_path(sample.id), labels)
        result = SaveResult(path, bool(reason), reason)
        if sample.mask is None:
            sample.mask = path
            sample.meta["drawn"] = True
        return result
