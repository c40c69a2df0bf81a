"""Exponential moving average of a network's weights (Mean Teacher's teacher, fine-tuning's Polyak average).

A few hundred noisy small-batch steps on a handful of labels leave the raw weights wherever the last
batch pushed them; their running average moves smoothly, so best-by-validation stops picking a lucky
epoch (whether it also scores higher depends on the data: ADR 0006).
"""

from __future__ import annotations

import copy

import torch


class WeightAverage:
    """A frozen copy of ``model`` that follows it with decay ``alpha``.

    Batch-norm statistics are averaged too, not copied: Mean Teacher's student sees strongly
    perturbed views, and a teacher that took over their statistics scored worse on clean images
    (10 % of the teeth labels: val Dice 0.810 copied vs 0.821 averaged)."""

    def __init__(self, model: torch.nn.Module, alpha: float, warmup: bool = False, uniform: bool = False):
        self.alpha, self.warmup, self.uniform, self.updates = alpha, warmup, uniform, 0
        self.model = copy.deepcopy(model).eval()  # never trained: batch norm always uses running stats
        for p in self.model.parameters():
            p.requires_grad_(False)

    def decay(self) -> float:
        """``alpha``, or with ``warmup`` a shorter memory over the first steps (the random start is
        forgotten at once instead of dragging the average for 1 / (1 - alpha) steps); with ``uniform`` the
        plain mean of every update so far (stochastic weight averaging)."""
        if self.uniform:
            return self.updates / (self.updates + 1)
        if not self.warmup:
            return self.alpha
        return min(self.alpha, (1 + self.updates) / (10 + self.updates))

    def follow(self, source: torch.nn.Module) -> None:
        """Become an exact copy of ``source``, counted as one update (a uniform mean then starts from it)."""
        self.updates = 0
        self.update(source, decay=0.0)

    @torch.no_grad()
    def update(self, source: torch.nn.Module, decay: float | None = None) -> None:
        a = self.decay() if decay is None else decay
        self.updates += 1
        device = next(source.parameters()).device
        if next(self.model.parameters()).device != device:
            self.model.to(device)
        for t, s in zip(self.model.parameters(), source.parameters(), strict=True):
            if s.requires_grad:  # frozen blocks stay bit-identical
                t.mul_(a).add_(s.detach(), alpha=1 - a)
        for t, s in zip(self.model.buffers(), source.buffers(), strict=True):
            if t.is_floating_point():
                t.mul_(a).add_(s.detach(), alpha=1 - a)
            else:
                t.copy_(s)
