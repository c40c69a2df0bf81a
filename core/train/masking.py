"""Random block masks in pixel space for masked image modelling (the MIM seed)."""

from __future__ import annotations

import torch


def block_mask(h: int, w: int, num_blocks: int = 8, frac: tuple[float, float] = (0.1, 0.3),
               ratio: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """A float (h, w) mask with 1 on hidden pixels.

    ``num_blocks`` rectangles whose sides are ``frac`` of the image side; with ``ratio`` > 0 blocks are
    added until at least that fraction of the pixels is hidden (capped at 4 x num_blocks + 64 blocks).
    """
    mask = torch.zeros(h, w)
    lo, hi = frac
    limit = num_blocks if ratio <= 0 else 4 * num_blocks + 64
    for k in range(limit):
        if ratio > 0 and k >= 1 and float(mask.mean()) >= ratio:
            break
        f = torch.empty(2).uniform_(lo, hi, generator=generator)
        bh, bw = max(1, int(h * float(f[0]))), max(1, int(w * float(f[1])))
        y = int(torch.randint(0, h - bh + 1, (1,), generator=generator))
        x = int(torch.randint(0, w - bw + 1, (1,), generator=generator))
        mask[y : y + bh, x : x + bw] = 1.0
    return mask


def batch_block_masks(n: int, h: int, w: int, num_blocks: int, frac: tuple[float, float], ratio: float,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    return torch.stack([block_mask(h, w, num_blocks, frac, ratio, generator) for _ in range(n)])[:, None]
