"""The FDI-instance training recipe: a U-Net over the image plus two coordinate channels, trained on
teeth-centred crops at the native 512 px scale, with a budget in *process CPU time* (wall time is
meaningless on a shared machine) and weight-averaged snapshots at chosen CPU minutes.

The learning rate is constant after a short warm-up and the snapshot is the weights' running
average, so a snapshot taken at 10 CPU-minutes is what a 10-minute budget gives: one run yields the
whole curve.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.data.layouts import load_index
from core.data.masks import load_image, load_mask
from core.data.sample import Sample
from core.models.registry import build_model
from core.preprocess import to_network_size
from core.teeth.network_io import network_input
from core.teeth.scale import working_size
from core.teeth.targets import (
    CORE,
    FG,
    IGNORE,
    MIRROR_LUT,
    OUT_CHANNELS,
    POSITION,
    POSITION_LUT,
    QUADRANT,
    QUADRANT_LUT,
    core_map,
    load_instances,
)
from core.train.ema import WeightAverage
from core.train.speed import cpu_bf16
from core.train.transforms import resize_mask


@dataclass
class TeethRecipe:
    crop: tuple[int, int] = (288, 384)        # (height, width) of a training crop around the teeth
    batch_size: int = 4
    lr: float = 2e-3
    warmup_steps: int = 30
    ema: float = 0.99
    base_channels: int = 16
    depth: int = 5
    threads: int = 1
    max_cpu_minutes: float = 30.0
    snapshots: Sequence[float] = (10.0, 30.0, 60.0)
    seed: int = 0
    bf16: bool = True              # bf16 autocast + channels_last where oneDNN runs bf16 natively (3.1x here)
    weights: dict[str, float] = field(default_factory=lambda: {"fg": 1.0, "core": 1.0, "quadrant": 0.5,
                                                               "position": 1.0})

    def model_config(self) -> dict[str, Any]:
        return {"name": "unet", "in_channels": 3, "out_channels": OUT_CHANNELS,
                "base_channels": self.base_channels, "norm": "batch", "depth": self.depth}


@dataclass
class TrainItem:
    stem: str
    image: np.ndarray      # uint8 (H, W)
    labels: np.ndarray     # uint8 FDI label map
    core: np.ndarray       # uint8 0/1


def holdout_split(stems: Sequence[str], share: float = 0.2, seed: int = 0) -> tuple[list[str], list[str]]:
    """(train, test) ids: a seeded shuffle by panoramic (each UFBA-425 panoramic is a different patient;
    a folder with several images per patient needs a group-aware split instead)."""
    order = sorted(stems)
    random.Random(seed).shuffle(order)
    n_test = max(1, int(round(len(order) * share)))
    return sorted(order[n_test:]), sorted(order[:n_test])


def load_item(sample: Sample) -> TrainItem:
    """A labeled panoramic at the working scale (``core.teeth.scale``); per-tooth masks from a UFBA-425
    style ``instances/<stem>.npz`` beside the masks when there is one (exact overlaps), else one
    region per FDI number of the label map."""
    image = load_image(sample)
    if image.ndim == 3:
        image = image[..., :3].mean(-1)
    if image.dtype != np.uint8:
        image = cv2.normalize(image.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    labels = load_mask(sample, (image.shape[1], image.shape[0]))
    inst = Path(sample.mask).parent.parent / "instances" / f"{Path(sample.mask).stem}.npz"
    if inst.exists():
        _, masks = load_instances(inst)
    else:
        masks = np.stack([labels == v for v in np.unique(labels) if v]) if labels.any() \
            else np.zeros((0, *labels.shape), bool)
    h, w = working_size(*image.shape)
    if (h, w) != image.shape:
        image = np.rint(to_network_size(image, (h, w)))   # the one resize (core.preprocess), as prediction's
        labels = resize_mask(labels, (h, w))
        masks = np.stack([cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
                          for m in masks]) if len(masks) else np.zeros((0, h, w), bool)
    return TrainItem(sample.id, image.astype(np.uint8), labels, core_map(masks))


def labeled_samples(root: str | Path, ids: Sequence[str] | None = None) -> list[Sample]:
    """The labeled samples of a folder any layout adapter reads, optionally only ``ids``."""
    samples = load_index(Path(root)).labeled()
    if ids is not None:
        wanted = set(ids)
        samples = [s for s in samples if s.id in wanted]
    return samples


def _augment(item: TrainItem, crop: tuple[int, int], rng: np.random.Generator):
    image, labels, core = item.image, item.labels, item.core
    if rng.random() < 0.5:       # a mirrored panoramic shows the other side's teeth: swap 1x <-> 2x
        image, labels, core = image[:, ::-1], MIRROR_LUT[labels[:, ::-1]], core[:, ::-1]
    x = network_input(image)
    img = x[0]
    gamma = float(np.exp(rng.normal(0, 0.2)))
    lo = img.min()
    img = (img - lo) ** gamma
    img = (img - img.mean()) / (img.std() + 1e-6) * float(rng.uniform(0.85, 1.15)) + float(rng.normal(0, 0.1))
    x[0] = img
    h, w = labels.shape
    ch, cw = min(crop[0], h), min(crop[1], w)
    ys, xs = np.nonzero(labels)
    cy, cx = (ys.mean(), xs.mean()) if ys.size else (h / 2, w / 2)
    y0 = int(np.clip(cy - ch / 2 + rng.normal(0, ch / 5), 0, h - ch))
    x0 = int(np.clip(cx - cw / 2 + rng.normal(0, cw / 5), 0, w - cw))
    sl = (slice(y0, y0 + ch), slice(x0, x0 + cw))
    return x[:, sl[0], sl[1]], labels[sl], core[sl]


def make_batch(items: Sequence[TrainItem], crop: tuple[int, int], rng: np.random.Generator):
    xs, labels, cores = zip(*(_augment(it, crop, rng) for it in items), strict=True)
    lab = np.stack(labels)
    return (torch.from_numpy(np.stack(xs).copy()),
            torch.from_numpy((lab > 0).astype(np.float32)),
            torch.from_numpy(np.stack(cores).astype(np.float32)),
            torch.from_numpy(QUADRANT_LUT[lab].astype(np.int64)),
            torch.from_numpy(POSITION_LUT[lab].astype(np.int64)))


def _binary_loss(logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logit)
    inter = (p * target).sum()
    dice = 1 - (2 * inter + 1) / (p.sum() + target.sum() + 1)
    return F.binary_cross_entropy_with_logits(logit, target) + dice


def teeth_loss(out: torch.Tensor, fg, core, quadrant, position, weights: dict[str, float]) -> dict[str, torch.Tensor]:
    parts = {"fg": _binary_loss(out[:, FG], fg), "core": _binary_loss(out[:, CORE], core)}
    parts["quadrant"] = F.cross_entropy(out[:, QUADRANT], quadrant, ignore_index=IGNORE) \
        if (quadrant != IGNORE).any() else out.sum() * 0
    parts["position"] = F.cross_entropy(out[:, POSITION], position, ignore_index=IGNORE) \
        if (position != IGNORE).any() else out.sum() * 0
    parts["total"] = sum(weights[k] * v for k, v in parts.items())
    return parts


def save_snapshot(path: Path, model: torch.nn.Module, recipe: TeethRecipe, info: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"kind": "teeth-instances", "config": recipe.model_config(), "recipe": asdict(recipe),
                "state": model.state_dict(), "info": info}, tmp)
    tmp.replace(path)


def train_teeth(samples: Sequence[Sample], out_dir: Path, recipe: TeethRecipe,
                log: Callable[[str], None] = print, cancel: Callable[[], bool] | None = None,
                init: str | Path | None = None,
                on_step: Callable[[int, float, float], None] | None = None,
                on_budget: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Train until ``recipe.max_cpu_minutes`` of this process's CPU time; write ``snapshot-<min>.pt``
    (the weight average) at each of ``recipe.snapshots`` reached, and ``last.pt`` at the end.
    ``init``: a snapshot of the same network to start from (Train on my labels' previous teeth model);
    ``on_step(step, loss, lr)`` after every step (the app's curves), ``on_budget(fraction)`` the share of the CPU
    budget used (the app's progress bar: the wall clock ran ahead of it on a busy machine)."""
    cpu0 = time.process_time()
    torch.set_num_threads(recipe.threads)
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = [load_item(s) for s in samples]
    train_stems = [s.id for s in samples]
    log(f"loaded {len(items)} training panoramics in {time.process_time() - cpu0:.1f} CPU-s")
    model = build_model(recipe.model_config())
    if init:
        start = torch.load(str(init), map_location="cpu", weights_only=False)
        if start.get("kind") == "teeth-instances" and start.get("config") == recipe.model_config():
            model.load_state_dict(start["state"])
            log(f"warm start from {Path(init).parent.name}/{Path(init).name}")
        else:
            log(f"{Path(init).name}: another network, not used for warm start")
    fast = recipe.bf16 and cpu_bf16()
    if fast:
        model = model.to(memory_format=torch.channels_last)
    log(f"{'bf16 + channels_last' if fast else 'fp32'}, {recipe.threads} thread(s)")
    avg = WeightAverage(model, recipe.ema, warmup=True)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=1e-4)
    pending = sorted(m for m in recipe.snapshots if m <= recipe.max_cpu_minutes) + [recipe.max_cpu_minutes]
    step, seen, running = 0, 0, {}
    info_base = {"precision": "bf16+channels_last" if fast else "fp32", "threads": recipe.threads}
    order: list[int] = []
    history = []
    while True:
        cpu_min = (time.process_time() - cpu0) / 60
        while pending and cpu_min >= pending[0]:
            minute = pending.pop(0)
            info = {**info_base, "cpu_minutes": round(cpu_min, 2), "steps": step, "images_seen": seen,
                    "train_stems": list(train_stems)}
            save_snapshot(out_dir / f"snapshot-{minute:g}.pt", avg.model, recipe, info)
            log(f"snapshot at {cpu_min:.2f} CPU-min (step {step})")
        if not pending or (cancel and cancel()):
            break
        if len(order) < recipe.batch_size:
            order += list(rng.permutation(len(items)))
        batch = [items[i] for i in order[:recipe.batch_size]]
        del order[:recipe.batch_size]
        x, fg, core, quad, pos = make_batch(batch, recipe.crop, rng)
        for g in opt.param_groups:
            g["lr"] = recipe.lr * min(1.0, (step + 1) / recipe.warmup_steps)
        model.train()
        if fast:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
            logits = model(x)
        parts = teeth_loss(logits.float(), fg, core, quad, pos, recipe.weights)
        opt.zero_grad(set_to_none=True)
        parts["total"].backward()
        opt.step()
        avg.update(model)
        step += 1
        seen += len(batch)
        if on_step is not None:
            on_step(step, float(parts["total"].item()), float(opt.param_groups[0]["lr"]))
        if on_budget is not None:
            on_budget(min(1.0, (time.process_time() - cpu0) / 60 / recipe.max_cpu_minutes))
        for k, v in parts.items():
            running[k] = 0.95 * running.get(k, v.item()) + 0.05 * v.item()
        if step % 20 == 0:
            log(f"step {step} cpu {cpu_min:.2f} min " + " ".join(f"{k} {v:.3f}" for k, v in running.items()))
            history.append({"step": step, "cpu_minutes": round(cpu_min, 3), **{k: round(v, 4) for k, v in running.items()}})
    summary = {**info_base, "steps": step, "images_seen": seen,
               "cpu_minutes": round((time.process_time() - cpu0) / 60, 2)}
    save_snapshot(out_dir / "last.pt", avg.model, recipe, {**summary, "train_stems": list(train_stems)})
    (out_dir / "history.json").write_text(json.dumps(history))
    return summary
