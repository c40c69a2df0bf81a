"""The training progress protocol: plain callbacks the CLI maps to tqdm and the GUI to Qt signals.

Callbacks are ordinary Python methods called from the training thread; they must be quick and
must not raise. The cancel token is the shared ``core.jobs.CancelToken`` (re-exported here).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.jobs import CancelToken, Progress

__all__ = ["CancelToken", "TrainEvents", "MultiEvents", "RecordingEvents", "TqdmEvents", "StderrLogEvents",
           "ProgressEvents"]


class TrainEvents:
    """Base class with no-op hooks; subclass and override what you need."""

    def on_start(self, total_steps: int, info: dict[str, Any]) -> None:
        """Called once before the first step; ``total_steps`` is the planned number of steps."""

    def on_step(self, step: int, loss: float, lr: float) -> None:
        """Called after every optimiser step (1-based ``step``)."""

    def on_budget(self, fraction: float) -> None:
        """The share (0-1) of the run's budget used, by the clock the budget counts (wall or CPU seconds) or
        the steps: a progress bar that timed a CPU budget on the wall clock ended short on a busy machine."""

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Called after every epoch with its metrics (train loss, val dice, ...)."""

    def on_preview(self, images: dict[str, np.ndarray]) -> None:
        """Preview images, name -> float32 HxW array (e.g. the MIM quartet)."""

    def on_log(self, line: str) -> None:
        """One human-readable log line."""

    def on_end(self, result: dict[str, Any]) -> None:
        """Called once when the job ends normally (not on cancel or error)."""


class MultiEvents(TrainEvents):
    """Fans every callback out to several listeners."""

    def __init__(self, listeners: Sequence[TrainEvents]):
        self.listeners = [x for x in listeners if x is not None]

    def on_start(self, total_steps, info):
        for x in self.listeners:
            x.on_start(total_steps, info)

    def on_step(self, step, loss, lr):
        for x in self.listeners:
            x.on_step(step, loss, lr)

    def on_budget(self, fraction):
        for x in self.listeners:
            x.on_budget(fraction)

    def on_epoch(self, epoch, metrics):
        for x in self.listeners:
            x.on_epoch(epoch, metrics)

    def on_preview(self, images):
        for x in self.listeners:
            x.on_preview(images)

    def on_log(self, line):
        for x in self.listeners:
            x.on_log(line)

    def on_end(self, result):
        for x in self.listeners:
            x.on_end(result)


class RecordingEvents(TrainEvents):
    """Keeps everything it is told; used by tests and handy in notebooks."""

    def __init__(self) -> None:
        self.total_steps = 0
        self.info: dict[str, Any] = {}
        self.steps: list[tuple[int, float, float]] = []
        self.epochs: list[tuple[int, dict[str, float]]] = []
        self.previews: list[dict[str, np.ndarray]] = []
        self.logs: list[str] = []
        self.result: dict[str, Any] | None = None

    def on_start(self, total_steps, info):
        self.total_steps, self.info = total_steps, dict(info)

    def on_step(self, step, loss, lr):
        self.steps.append((step, loss, lr))

    def on_epoch(self, epoch, metrics):
        self.epochs.append((epoch, dict(metrics)))

    def on_preview(self, images):
        self.previews.append(images)

    def on_log(self, line):
        self.logs.append(line)

    def on_end(self, result):
        self.result = result


class StderrLogEvents(TrainEvents):
    """Prints log lines and epoch summaries on stderr (the CLI without a terminal)."""

    def on_log(self, line):
        print(line, file=sys.stderr, flush=True)

    def on_epoch(self, epoch, metrics):
        text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
        print(f"epoch {epoch}: {text}", file=sys.stderr, flush=True)


class TqdmEvents(StderrLogEvents):
    """A tqdm progress bar over steps; only used when stderr is a terminal or when asked."""

    def __init__(self) -> None:
        self._bar = None

    def on_start(self, total_steps, info):
        from tqdm import tqdm

        self._bar = tqdm(total=total_steps, desc=str(info.get("mode", "train")), unit="step", file=sys.stderr)

    def on_step(self, step, loss, lr):
        if self._bar is not None:
            self._bar.update(step - self._bar.n)
            self._bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2g}")

    def on_log(self, line):
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            super().on_log(line)

    def on_epoch(self, epoch, metrics):
        self.on_log(" ".join([f"epoch {epoch}:"] + [f"{k}={v:.4g}" for k, v in metrics.items()
                                                    if isinstance(v, (int, float))]))

    def on_end(self, result):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class ProgressEvents(TrainEvents):
    """Adapts the step events to the shared ``progress(done, total, message)`` callback of core.jobs."""

    def __init__(self, progress: Progress):
        self.progress, self.total = progress, 0

    def on_start(self, total_steps, info):
        self.total = total_steps
        self.progress(0, total_steps, f"{info.get('mode', 'training')} on {info.get('device', '?')}")

    def on_step(self, step, loss, lr):
        self.progress(step, self.total, f"loss {loss:.4f}")
