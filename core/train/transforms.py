"""Augmentations as the MIM and Mean Teacher seeds list them (albumentations), plus preprocessing.

Images enter as float32 in [0, 1] (already resized to the recipe size by the cache) and leave
normalised with mean 0.5, std 0.25. Weak and strong views share their geometry through
``ReplayCompose`` so a teacher's prediction on the weak view is a valid target for the strong one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np

from core.preprocess import to_network_size

MEAN, STD = 0.5, 0.25
NORMALISATION = {"mean": MEAN, "std": STD, "scale": "unit"}  # stored in checkpoint metadata


def normalise(img: np.ndarray) -> np.ndarray:
    return ((img.astype(np.float32) - MEAN) / STD).astype(np.float32)


def hw(size: int | tuple[int, int]) -> tuple[int, int]:
    """(height, width) from a square side or a (height, width) pair."""
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def resize_image(img: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    return to_network_size(img, hw(size))


def resize_mask(mask: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    h, w = hw(size)
    if mask.shape[:2] == (h, w):
        return mask
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)


def _photometric(strength: float) -> list[A.BasicTransform]:
    return [
        A.RandomBrightnessContrast(brightness_limit=0.1 * strength, contrast_limit=0.1 * strength, p=0.5),
        A.OneOf([A.GaussNoise(std_range=(0.01, 0.04 * strength)),
                 A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.3, 1.0 * strength))], p=0.3 * strength),
    ]


class MirrorFlip(A.HorizontalFlip):
    """Left-right flip that also swaps mirrored classes in the mask (FDI teeth: 11 <-> 21, ...);
    ``mirror[i]`` is the class index of class ``i``'s mirror image (``core.data.classes``)."""

    def __init__(self, mirror: Sequence[int], p: float = 0.5):
        super().__init__(p=p)
        self.mirror = [int(i) for i in mirror]
        self._lut = np.arange(256, dtype=np.uint8)
        self._lut[: len(self.mirror)] = self.mirror

    def apply_to_mask(self, mask: np.ndarray, **params: Any) -> np.ndarray:
        return self._lut[super().apply_to_mask(mask, **params)]

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("mirror",)


def _geometric(size: int | tuple[int, int], zoom: float = 0.0,
               mirror: Sequence[int] | None = None) -> list[A.BasicTransform]:
    flip = MirrorFlip(mirror, p=0.5) if mirror is not None else A.HorizontalFlip(p=0.5)
    ops = [A.Resize(*hw(size)), flip, A.Rotate(limit=5, border_mode=cv2.BORDER_REFLECT_101, p=0.5)]
    if zoom > 0:  # other probe depths and patient sizes than the few labelled ones
        ops.append(A.Affine(scale=(1 - zoom, 1 + zoom), translate_percent=(-zoom / 2, zoom / 2),
                            border_mode=cv2.BORDER_REFLECT_101, p=0.5))
    return ops


def train_transform(size: int | tuple[int, int], augment: bool = True, crop: int = 0,
                    seed: int | None = None, zoom: float = 0.0, mirror: Sequence[int] | None = None) -> A.Compose:
    """Seed MIM pipeline: resize, flip, rotate ±5°, mild brightness/contrast, mild noise or blur;
    ``zoom`` > 0 adds a random zoom and shift (half the time); ``mirror`` makes flips swap classes.

    With ``crop`` > 0 a foreground-aware random crop (``CropNonEmptyMaskIfExists``) follows the
    geometry, so patch training still sees the structure it is meant to learn.
    """
    ops: list[A.BasicTransform] = list(_geometric(size, zoom, mirror)) if augment else [A.Resize(*hw(size))]
    if crop and crop < min(hw(size)):
        ops.append(A.CropNonEmptyMaskIfExists(crop, crop))
    if augment:
        ops += _photometric(1.0)
    return A.Compose(ops, seed=seed)


def flip_transform(size: int | tuple[int, int], seed: int | None = None,
                   mirror: Sequence[int] | None = None) -> A.Compose:
    """Resize and a left-right flip half the time, nothing else: a frozen encoder's embedding of each
    image and of its mirror image is computed once (ADR 0015), any other augmentation would need a new
    encoding every epoch."""
    flip = MirrorFlip(mirror, p=0.5) if mirror is not None else A.HorizontalFlip(p=0.5)
    return A.Compose([A.Resize(*hw(size)), flip], seed=seed)


class TwoViews:
    """Weak and strong views of one image sharing flip and rotation (Mean Teacher seed)."""

    def __init__(self, size: int | tuple[int, int], seed: int | None = None, zoom: float = 0.0):
        self.geometry = A.ReplayCompose(_geometric(size, zoom))
        if seed is not None:
            self.geometry.set_random_seed(seed)
        self.weak = A.Compose(_photometric(0.5), seed=None if seed is None else seed + 1)
        self.strong = A.Compose(_photometric(2.0) + [A.CoarseDropout(num_holes_range=(1, 4),
                                                                     hole_height_range=(0.05, 0.15),
                                                                     hole_width_range=(0.05, 0.15),
                                                                     fill=0.5, p=0.5)],
                                seed=None if seed is None else seed + 2)

    def set_random_seed(self, seed: int) -> None:
        self.geometry.set_random_seed(seed)
        self.weak.set_random_seed(seed + 1)
        self.strong.set_random_seed(seed + 2)

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """(weak, strong, replay): ``replay`` re-applies the same geometry to a mask if needed."""
        geo = self.geometry(image=image)
        weak = self.weak(image=geo["image"])["image"]
        strong = self.strong(image=geo["image"])["image"]
        return weak, strong, geo["replay"]

    @staticmethod
    def same_geometry(replay: dict, mask: np.ndarray) -> np.ndarray:
        return A.ReplayCompose.replay(replay, image=mask, mask=mask)["mask"]
