"""What the numbered-teeth network sees and gives, torch-free (the slim ONNX-only build runs it too):
the image at the working scale with two coordinate channels, the single-pass or sliding-window forward
over any backend, and the activated outputs (teeth / core sigmoids, quadrant / position softmaxes).

The network learnt teeth at the UFBA-425 scale (panoramics squashed to 512 x 512, a tooth about 13 px
wide). A larger panoramic is first resized to that scale (``core.teeth.scale``), then covered by
overlapping 512 px windows blended with Gaussian weights (``core.infer.sliding``), so tile borders
leave no seams; the coordinate channels always span the whole panoramic, never a tile.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.infer.sliding import sliding_forward, tile_starts
from core.preprocess import to_network_size
from core.teeth.scale import working_size
from core.teeth.targets import CORE, FG, POSITION, QUADRANT

WINDOW = 512
OVERLAP = 0.25
IN_CHANNELS = 3
# output channels of a mirrored panoramic in the original's order: quadrant sides 1 <-> 2 and 3 <-> 4
SIDES_SWAPPED = [0, 1, 3, 2, 5, 4, *range(6, 19)]

Forward = Callable[[np.ndarray], np.ndarray]    # (N, 3, h, w) float32 -> (N, 19, h, w) logits


def coord_channels(height: int, width: int) -> np.ndarray:
    """(2, H, W) float32 x and y in [-1, 1] over the whole panoramic: where a tooth sits tells its side."""
    x = np.linspace(-1, 1, width, dtype=np.float32)
    y = np.linspace(-1, 1, height, dtype=np.float32)
    return np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y[:, None], (height, width))])


def network_input(image: np.ndarray) -> np.ndarray:
    """(3, H, W) float32: the image normalised per panoramic, then the coordinate channels."""
    img = image.astype(np.float32)
    img = (img - img.mean()) / (img.std() + 1e-6)
    return np.concatenate([img[None], coord_channels(*image.shape)])


def working_gray(image: np.ndarray) -> np.ndarray:
    """The image as one grey channel at the working scale, through the project's one resize."""
    gray = image if image.ndim == 2 else image[..., :3].mean(-1)
    return to_network_size(gray, working_size(*gray.shape))


def padded_input(gray: np.ndarray) -> np.ndarray:
    """``network_input`` padded (edge) to a multiple of 32 on each side, as the U-Net needs."""
    h, w = gray.shape
    x = network_input(gray)
    ph, pw = -h % 32, -w % 32
    return np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="edge") if ph or pw else x


def logits(forward: Forward, gray: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, int]:
    """(19, h, w) logits of a working-scale image and the number of windows: one pass when the canvas
    fits ``window`` + 128 px, else Gaussian-blended windows of ``window`` px."""
    h, w = gray.shape
    x = padded_input(gray)
    if max(x.shape[1:]) <= window + 128:
        return forward(x[None])[0][:, :h, :w], 1
    tiles = len(tile_starts(x.shape[1], window, OVERLAP)) * len(tile_starts(x.shape[2], window, OVERLAP))
    return sliding_forward(forward, x, (window, window), overlap=OVERLAP, batch_size=2)[:, :h, :w], tiles


def activate(raw: np.ndarray) -> np.ndarray:
    """Logits (19, h, w) -> teeth and core probabilities, quadrant and position distributions."""
    out = np.empty_like(raw)
    out[FG] = 1 / (1 + np.exp(-raw[FG]))
    out[CORE] = 1 / (1 + np.exp(-raw[CORE]))
    for sl in (QUADRANT, POSITION):
        z = raw[sl] - raw[sl].max(0, keepdims=True)
        e = np.exp(z)
        out[sl] = e / e.sum(0, keepdims=True)
    return out


def teeth_outputs(forward: Forward, image: np.ndarray, window: int = WINDOW, tta: bool = False) -> tuple[np.ndarray, int]:
    """(19, h, w) activated outputs at the working size and the window count; with ``tta`` the mirrored
    panoramic's logits, mirrored back with the sides swapped, are averaged in."""
    gray = working_gray(image)
    raw, tiles = logits(forward, gray, window)
    if tta:
        back = logits(forward, np.ascontiguousarray(gray[:, ::-1]), window)[0][:, :, ::-1]
        raw = (raw + back[SIDES_SWAPPED]) * np.float32(0.5)
    return activate(raw), tiles
