"""Fixed augmented views of a label, for a head on a frozen encoder (ADR 0015, seventh addendum).

Random augmentation is out of reach for LiteMedSAM's head: every new input is an encoder pass (about a
CPU-second). A fixed list of deterministic views -- gamma, contrast, zoom in and out, shifts up and down --
gives each label a few more inputs whose embeddings are computed once, while the user annotates
(``core.hitl.background_embed``); training draws among the views that are ready and never encodes one in
its budget. 20 thyroid labels, 134 frames of unseen videos: see the addendum.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import cv2
import numpy as np

SHIFT = 24 / 256   # of the image's height: a vertical shift by about six embedding cells
VIEW_SHARE = 0.5   # share of training draws that take one of the image's ready views instead of the image


def _gamma(g: float) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    return lambda image, mask: (np.power(image, np.float32(g)), mask)


def _contrast(c: float) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    return lambda image, mask: (np.clip(0.5 + (image - 0.5) * np.float32(c), 0, 1), mask)


def _shift(sign: int) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    def apply(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        by = sign * max(1, round(image.shape[0] * SHIFT))
        return np.roll(image, by, 0), np.roll(mask, by, 0)
    return apply


def _zoom(factor: float) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """< 1: the centre ``factor`` of the image enlarged to its size; > 1: the image shrunk by ``factor`` and
    mirrored out to its size at the border (the mask's border is background)."""
    def apply(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape
        m = mask.astype(np.uint8)
        if factor < 1:
            ch, cw = int(h * factor), int(w * factor)
            y, x = (h - ch) // 2, (w - cw) // 2
            return (cv2.resize(image[y:y + ch, x:x + cw], (w, h), interpolation=cv2.INTER_LINEAR),
                    cv2.resize(m[y:y + ch, x:x + cw], (w, h), interpolation=cv2.INTER_NEAREST).astype(mask.dtype))
        sh, sw = int(h / factor), int(w / factor)
        y, x = (h - sh) // 2, (w - sw) // 2
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_LINEAR)
        small_mask = cv2.resize(m, (sw, sh), interpolation=cv2.INTER_NEAREST)
        return (cv2.copyMakeBorder(small, y, h - sh - y, x, w - sw - x, cv2.BORDER_REFLECT),
                cv2.copyMakeBorder(small_mask, y, h - sh - y, x, w - sw - x, cv2.BORDER_CONSTANT,
                                   value=0).astype(mask.dtype))
    return apply


# in the order a smaller ``Recipe.views`` takes them
VIEWS: dict[str, Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "gamma 0.7": _gamma(0.7), "gamma 1.4": _gamma(1.4), "zoom in": _zoom(0.8), "zoom out": _zoom(1.25),
    "contrast 0.75": _contrast(0.75), "contrast 1.3": _contrast(1.3), "shift down": _shift(1), "shift up": _shift(-1),
}


def view_names(count: int) -> list[str]:
    return list(VIEWS)[:max(0, count)]


def make_view(name: str, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """View ``name`` of a [0, 1] float32 image (H, W) and its class map, both contiguous, same dtypes."""
    out_image, out_mask = VIEWS[name](image, mask)
    return (np.ascontiguousarray(out_image, dtype=np.float32), np.ascontiguousarray(out_mask, dtype=mask.dtype))


def image_key(image: np.ndarray) -> bytes:
    """Which training image this is, by its pixels (the transform sees arrays, not sample ids)."""
    return hashlib.blake2b(np.ascontiguousarray(image, dtype=np.float32).tobytes(), digest_size=16).digest()


class ViewTransform:
    """The head's training transform: with probability ``share`` one of the image's ready views (an image
    without ready views is itself), then ``base`` (resize and flip, ``transforms.flip_transform``)."""

    def __init__(self, base, ready: dict[bytes, list[str]], share: float = VIEW_SHARE, seed: int | None = None):
        self.base, self.ready, self.share = base, ready, share
        self.rng = np.random.default_rng(seed)

    def set_random_seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.base.set_random_seed(seed)

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        names = self.ready.get(image_key(image), [])
        if names and self.rng.random() < self.share:
            image, mask = make_view(names[int(self.rng.integers(len(names)))], image, mask)
        return self.base(image=image, mask=mask)
