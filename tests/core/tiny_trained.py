"""A tiny U-Net trained for a few steps on real tg3k frames, shared by the export/infer tests and the
inference benchmark (real data, real checkpoint files, seconds of CPU)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.data.io import read_image, read_mask, to_unit_float
from core.models import build_model
from core.models.checkpoint import save_checkpoint


def tg3k_pairs(shared_data: Path, count: int) -> list[tuple[Path, Path]]:
    images = sorted((shared_data / "tg3k_thyroid" / "images").glob("*.jpg"))[:count]
    return [(p, shared_data / "tg3k_thyroid" / "masks" / p.name) for p in images]


def train_tiny(shared_data: Path, out: Path, base_channels: int = 4, size: int = 128, steps: int = 30,
               name: str = "unet", seed: int = 0, images: int = 32) -> Path:
    """Train ``steps`` Adam steps on resized tg3k images and save a checkpoint; returns the sidecar path."""
    torch.set_num_threads(1)  # the test machine is small and shared
    torch.manual_seed(seed)
    pairs = tg3k_pairs(shared_data, images)
    xs = np.stack([cv2.resize(to_unit_float(read_image(i)), (size, size), interpolation=cv2.INTER_AREA)
                   for i, _ in pairs])
    ys = np.stack([cv2.resize(read_mask(m), (size, size), interpolation=cv2.INTER_NEAREST) for _, m in pairs])
    x = torch.from_numpy((xs[:, None] - 0.5) / 0.25).float()
    y = torch.from_numpy(ys[:, None]).float()
    config = {"name": name, "in_channels": 1, "out_channels": 1, "base_channels": base_channels}
    model = build_model(config).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (8,), generator=gen)
        logits = model(x[idx])
        prob = torch.sigmoid(logits)
        inter = (prob * y[idx]).sum()
        loss = F.binary_cross_entropy_with_logits(logits, y[idx]) + 1 - 2 * inter / (prob.sum() + y[idx].sum() + 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    meta = {"input_size": [size, size], "classes": ["background", "thyroid"], "fingerprint": "tg3k-tiny",
            "metrics": {"train_loss": float(loss.detach())}, "data_root": str(shared_data / "tg3k_thyroid")}
    return save_checkpoint(out, model.eval(), config, meta)


def cached_tiny(shared_data: Path, base_dir: Path, **kwargs) -> Path:
    """``train_tiny`` once per test session (``base_dir`` = tmp_path_factory.getbasetemp())."""
    key = "_".join(f"{k}{v}" for k, v in sorted(kwargs.items())) or "default"
    sidecar = base_dir / f"tiny_{key}" / "ckpt.json"
    if not sidecar.is_file():
        train_tiny(shared_data, sidecar.with_suffix(""), **kwargs)
    return sidecar
