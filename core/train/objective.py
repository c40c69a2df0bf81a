"""The hook methods a training mode implements; the loop (``core.train.loop``) owns the rest.

A mode is a recipe plus one Objective: it builds its model(s) and data, turns a batch into a loss,
and reports validation metrics. Optimiser, schedule, budget, cancel, checkpoints, logging and DDP
are the loop's business, so every mode gets them the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, SequentialSampler

from core.jobs import CancelToken
from core.train.data import Dataset2D
from core.train.recipe import Recipe
from core.train.runtime import Runtime


class Objective(ABC):
    """Base class: subclasses fill in ``prepare``, ``train_step`` and ``validate``."""

    monitor = "val_loss"   # metric that picks the best checkpoint and drives the LR schedule
    monitor_mode = "min"

    def __init__(self, recipe: Recipe, data: Dataset2D, rt: Runtime, cancel: CancelToken,
                 log: Callable[[str], None]):
        self.recipe, self.data, self.rt, self.cancel, self.log = recipe, data, rt, cancel, log
        self.model: torch.nn.Module | None = None  # the network that is optimised and saved
        self.net: torch.nn.Module | None = None    # the same, DDP-wrapped when distributed
        self.loader: DataLoader | None = None
        self.generator = torch.Generator()
        self.info: dict[str, Any] = {}             # shown on start, stored in checkpoint metadata
        self.meta: dict[str, Any] = {}

    # ---------------------------------------------------------------- hooks
    @abstractmethod
    def prepare(self) -> None:
        """Load data, build the model (and teacher), set ``self.loader`` and ``self.meta``."""

    def parameters(self) -> Iterable[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def start_epoch(self, epoch: int) -> None:
        """Reseed everything random from (seed, epoch, rank), which makes resume exact."""
        seed = self.recipe.seed * 100_003 + epoch * 1_009 + self.rt.rank
        self.generator.manual_seed(seed)
        torch.manual_seed(seed)
        np.random.seed(seed % (2**32))
        sampler = getattr(self.loader, "sampler", None)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        for t in self.transforms():
            t.set_random_seed(seed)

    def transforms(self) -> list:
        return []

    @abstractmethod
    def train_step(self, batch: Any, epoch: int) -> torch.Tensor:
        """One batch -> the loss to back-propagate (called inside the autocast context)."""

    def after_step(self, progress: float) -> None:
        """Called after each optimiser step with the share of the run used before it: of the steps when the
        recipe caps them (a time cap that ends such a run early never starts a late phase), else of the steps
        or the budget, whichever is further (the EMA teacher and weight averages update here)."""
        return None

    def keeps_latest(self) -> bool:
        """Whether the latest network is the model whatever validation says (a running weight average:
        the loop then saves every epoch as the best)."""
        return False

    @abstractmethod
    def validate(self) -> dict[str, float]:
        """Metrics on the validation data; must contain ``self.monitor``."""

    def preview(self) -> dict[str, np.ndarray]:
        return {}

    def export_model(self) -> torch.nn.Module:
        """The network written to the checkpoints (the EMA teacher for Mean Teacher)."""
        return self.model

    def extra_state(self) -> dict[str, Any]:
        """Tensors beyond the model/optimiser that resume needs (a teacher's weights)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what ``extra_state`` returned."""
        return None

    # ---------------------------------------------------------------- helpers
    def make_loader(self, ds: Dataset, batch_size: int, shuffle: bool = True) -> DataLoader:
        if self.rt.distributed:
            sampler = DistributedSampler(ds, num_replicas=self.rt.world, rank=self.rt.rank, shuffle=shuffle,
                                         seed=self.recipe.seed)
        elif shuffle:
            sampler = RandomSampler(ds, generator=self.generator)
        else:
            sampler = SequentialSampler(ds)
        drop_last = shuffle and len(ds) >= 2 * batch_size * self.rt.world and len(ds) % batch_size == 1
        return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=0, drop_last=drop_last)

    def to_device(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        return [t.to(self.rt.device, non_blocking=True) for t in tensors]
