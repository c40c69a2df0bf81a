"""Training data: samples read through the project, decoded once, resized and cached in memory.

Small clinic sets (tens to a few hundred images) fit in RAM at training size, which keeps epochs
fast on a 2-core laptop: decoding a 512x512 JPEG costs more than a training step of a small U-Net.
Splits come from the project file; when it has none they are made with ``make_splits`` and kept in
memory (``persist=True`` writes them into the project, which only the CLI's ``--save-splits`` asks).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from core.data.classes import ClassDef, binary_classes, classes_from_values
from core.data.io import to_unit_float
from core.data.layouts import load_index
from core.data.masks import load_image, load_mask
from core.data.project import Project
from core.data.sample import Sample, SampleIndex
from core.data.splits import make_splits
from core.errors import ToothSegError
from core.jobs import CancelToken
from core.preprocess import bilateral
from core.train.transforms import TwoViews, normalise, resize_image, resize_mask


@dataclass
class Dataset2D:
    """A dataset folder opened for training: its project, index and class table."""

    root: Path
    project: Project
    index: SampleIndex
    _guessed: list[ClassDef] | None = None

    def classes(self, labels: str) -> list[ClassDef]:
        """Binary: one foreground class. Multi-class: the project's table when the user set one, else
        the table guessed from the label values in the masks (FDI numbers for teeth)."""
        if labels == "binary":
            return binary_classes()
        if self.project.path.exists() and [c.value for c in self.project.classes] != [1]:
            return list(self.project.classes)
        if self._guessed is None:
            values: set[int] = set()
            for s in self.index.labeled():
                values |= {int(v) for v in np.unique(load_mask(s))}
            self._guessed = classes_from_values(values)
        return list(self._guessed)


def open_dataset(root: str | Path, split_seed: int = 0, ratios: Sequence[float] = (0.8, 0.1, 0.1),
                 persist_splits: bool = False) -> Dataset2D:
    """Index ``root``, overlay its project, and make sure every sample has a split."""
    root = Path(root)
    index = load_index(root)
    project = Project.open(root)
    project.apply(index)
    from core.data.groups import apply_groups, ensure_groups, stored_groups

    apply_groups(index, stored_groups(project))  # acquisition groups (core.data.groups) for splits and intervals
    if any(not s.split for s in index if s.is_training_label):
        ensure_groups(project, index)  # split by acquisition group: val images never share a clip with train
        splits = make_splits(index, ratios=ratios, seed=split_seed)
        for s in index:
            s.split = s.split or splits.get(s.id, "train")
        if persist_splits:
            project.splits.update({s.id: s.split for s in index})
            project.split_seed = split_seed
            project.save()
    return Dataset2D(Path(index.root), project, index)


def label_lut(classes: Sequence[ClassDef], labels: str) -> np.ndarray:
    """Lookup table label value -> class index (0 = background, k = k-th project class).

    Binary heads have one sigmoid channel (index 1 = foreground); multi-class heads have one softmax
    channel per class plus background at channel 0, the layout ``core.models.checkpoint`` describes.
    """
    lut = np.zeros(256, dtype=np.uint8)
    if labels == "binary":
        lut[1:] = 1
    else:
        for i, c in enumerate(classes):
            lut[int(c.value)] = i + 1
    return lut


def fingerprint(samples: Sequence[Sample]) -> str:
    """Hash of the training data: sorted ids with the size and mtime of every image and mask."""
    h = hashlib.sha1()
    for s in sorted(samples, key=lambda x: x.id):
        h.update(s.id.encode("utf-8"))
        for path in (s.image, s.mask):
            if path is not None and Path(path).exists():
                st = Path(path).stat()
                h.update(f"|{st.st_size}|{st.st_mtime_ns}".encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def labels_subset(samples: Sequence[Sample], fraction: float, seed: int) -> list[Sample]:
    """A seeded subset (at least one sample) of the labeled training samples."""
    if fraction >= 1:
        return list(samples)
    ordered = sorted(samples, key=lambda s: s.id)
    random.Random(seed).shuffle(ordered)
    return ordered[: max(1, round(len(ordered) * fraction))]


@dataclass
class Cached:
    ids: list[str]
    images: list[np.ndarray]          # float16 [0, 1] at training size (half the RAM of float32)
    targets: list[np.ndarray | None]  # uint8 class-index maps (0 = background) or None


def cache_samples(samples: Sequence[Sample], size: int | tuple[int, int], lut: np.ndarray | None, use_bilateral: bool = False,
                  cancel: CancelToken | None = None) -> Cached:
    """Decode, resize and keep ``samples`` in memory; masks are mapped through ``lut`` when given."""
    out = Cached([], [], [])
    for s in samples:
        if cancel is not None:
            cancel.raise_if_cancelled("loading training data")
        img = to_unit_float(load_image(s))
        if use_bilateral:
            img = bilateral(img)
        out.ids.append(s.id)
        out.images.append(resize_image(img, size).astype(np.float16))
        target = None
        if lut is not None and s.mask is not None:
            mask = load_mask(s, (img.shape[1], img.shape[0]))
            target = resize_mask(lut[mask], size)
        out.targets.append(target)
    return out


class SupervisedSet(Dataset):
    """(normalised image 1xHxW, class-index map HxW as int64) pairs through an albumentations transform."""

    def __init__(self, cached: Cached, transform=None):
        self.cached, self.transform = cached, transform
        self.keep = [i for i, t in enumerate(cached.targets) if t is not None]

    def __len__(self) -> int:
        return len(self.keep)

    def __getitem__(self, i: int):
        j = self.keep[i]
        img, target = self.cached.images[j].astype(np.float32), self.cached.targets[j]
        if self.transform is not None:
            out = self.transform(image=img, mask=target)
            img, target = out["image"], out["mask"]
        return torch.from_numpy(normalise(img))[None], torch.from_numpy(np.ascontiguousarray(target)).long()


class ImageSet(Dataset):
    """Images only (pretraining, unlabeled data), as [0, 1] float tensors 1xHxW before masking."""

    def __init__(self, cached: Cached, transform=None):
        self.cached, self.transform = cached, transform

    def __len__(self) -> int:
        return len(self.cached.images)

    def __getitem__(self, i: int):
        img = self.cached.images[i].astype(np.float32)
        if self.transform is not None:
            img = self.transform(image=img)["image"]
        return torch.from_numpy(np.clip(img, 0, 1).astype(np.float32))[None]


class TwoViewSet(Dataset):
    """Weak and strong normalised views of unlabeled images sharing their geometry."""

    def __init__(self, cached: Cached, views: TwoViews):
        self.cached, self.views = cached, views

    def __len__(self) -> int:
        return len(self.cached.images)

    def __getitem__(self, i: int):
        weak, strong, _ = self.views(self.cached.images[i].astype(np.float32))
        return torch.from_numpy(normalise(weak))[None], torch.from_numpy(normalise(strong))[None]


def require(samples: Sequence[Sample], what: str, minimum: int = 1) -> None:
    if len(samples) < minimum:
        raise ToothSegError(f"{what}: found {len(samples)}, need at least {minimum}")
