"""Where an edited mask is saved, and in which encoding.

A mask that came with the dataset is overwritten in place, in its own encoding (0/255 stays 0/255,
JPEG stays JPEG when lossless) so other tools keep reading the folder. Images without a mask, masks
in read-only folders, COCO annotations and masks JPEG cannot hold losslessly go to
``Project.drawn_mask_path`` (inside the project dir, which is in user data for read-only folders);
``SaveResult.redirected`` tells the GUI to say where. A full disk is not a read-only folder: it
raises DiskFullError and changes nothing.

A mask changed on disk since it was loaded (another program, a review accepted meanwhile) is not
overwritten blindly: the save merges per pixel, keeping the disk's pixels wherever this edit left
the loaded values alone (ADR 0009).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.atomic import is_writable_dir
from core.data.io import MaskEncoding, read_mask_with_encoding, write_mask
from core.data.masks import load_mask
from core.data.project import Project, user_data_project_dir
from core.data.sample import Sample
from core.errors import MaskError, NotWritableError

BASE_BYTES = 128 * 1024 * 1024   # loaded masks kept to merge with a concurrent change


@dataclass
class SaveResult:
    path: Path
    redirected: bool
    reason: str = ""
    merged: int = 0     # pixels taken from a version another program saved meanwhile


class MaskStore:
    def __init__(self, project: Project):
        self.project = project
        self._encodings: dict[str, MaskEncoding] = {}
        self._writable: dict[Path, bool] = {}
        self._seen: dict[str, tuple | None] = {}                      # file signature at load / save
        self._base: OrderedDict[str, np.ndarray] = OrderedDict()      # labels as loaded / saved

    def _source(self, sample: Sample) -> Path:
        """The file ``load`` reads this sample's mask from (a missing drawn path when none)."""
        drawn = self.project.drawn_mask_path(sample.id)
        if drawn.exists() or sample.mask is None or "coco_image_id" in sample.meta:
            return drawn
        return Path(sample.mask)

    def _remember(self, sample: Sample, labels: np.ndarray) -> None:
        self._seen[sample.id] = _signature(self._source(sample))
        self._base[sample.id] = labels.copy()
        self._base.move_to_end(sample.id)
        while sum(a.nbytes for a in self._base.values()) > BASE_BYTES and len(self._base) > 1:
            self._base.popitem(last=False)

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
            labels = np.zeros(shape, np.uint8)
            self._remember(sample, labels)
            return labels
        self._encodings[sample.id] = enc
        labels = np.ascontiguousarray(labels, dtype=np.uint8)
        self._remember(sample, labels)
        return labels

    def _merge_concurrent(self, sample: Sample, labels: np.ndarray) -> int:
        """Put our edits over the disk's version (in place) when the mask file changed since we loaded
        it; returns how many pixels came from the disk."""
        if sample.id not in self._seen or _signature(self._source(sample)) == self._seen[sample.id]:
            return 0
        base = self._base.get(sample.id)
        if base is None or base.shape != labels.shape:
            raise MaskError(f"The mask of {sample.id} was changed on disk by another program since it was "
                            "opened; it was not overwritten. Your strokes are kept in the recovery journal: "
                            "reopen the folder to apply them to the new version.")
        theirs = self.load(sample, labels.shape)
        keep = labels == base
        taken = int((keep & (theirs != base)).sum())
        np.copyto(labels, theirs, where=keep)
        return taken

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
        """Write ``labels`` atomically and record the sample as labeled in the project (``labels`` takes
        in place the pixels another program changed meanwhile and this edit did not touch)."""
        merged = self._merge_concurrent(sample, labels)
        target, reason = self._own_target(sample)
        result = None
        if target is not None:
            try:
                result = SaveResult(write_mask(target, labels, self._encodings.get(sample.id)), False)
            except (MaskError, NotWritableError) as exc:
                reason = str(exc)
        if result is None:
            result = self._save_drawn(sample, labels, reason)
        result.merged = merged
        self._remember(sample, labels)
        if sample.status == "unlabeled":
            sample.status = "labeled"
            self.project.set_status(sample.id, "labeled")
            try:
                self.project.save()
            except Exception:   # e.g. a full disk: the status stays as it is on disk, the save is retried
                sample.status = "unlabeled"
                self.project.status.pop(sample.id, None)
                raise
        return result

    def _save_drawn(self, sample: Sample, labels: np.ndarray, reason: str) -> SaveResult:
        """Write to the project's mask folder; a read-only dataset moves the project to user data."""
        try:
            path = write_mask(self.project.drawn_mask_path(sample.id), labels)
        except NotWritableError:
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


def _signature(path: Path) -> tuple | None:
    """What changes when a file is replaced or rewritten (None when it does not exist)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns
