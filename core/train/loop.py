"""The one training loop: budget, cancel, optimiser, schedule, checkpoints, CSV/TensorBoard, DDP.

Modes differ only by their Objective (``core.train.objective_registry``) and recipe. RUN_DIR receives
``best`` and ``last`` checkpoints (``save_checkpoint``: safetensors + JSON sidecar), ``last_state.pt``
(optimiser, scheduler, epoch, RNG as a ``torch.load(weights_only=True)`` dict), ``metrics.csv``
and, when asked, ``tb/`` TensorBoard logs. Cancelling keeps the checkpoints of the last finished
epoch and raises ``CancelledError``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from core.data.atomic import atomic_write_bytes, atomic_write_text
from core.errors import ToothSegError
from core.jobs import CancelToken, Progress
from core.train.data import Dataset2D, open_dataset
from core.train.events import MultiEvents, ProgressEvents, TrainEvents
from core.train.objective import Objective
from core.train.recipe import Recipe
from core.train.runtime import Runtime, seed_everything, start_runtime, stop_runtime

STATE_FILE = "last_state.pt"


def run_training(recipe: Recipe, data: str | Path | Dataset2D, run_dir: str | Path,
                 events: TrainEvents | None = None, cancel: CancelToken | None = None,
                 resume: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Run one training job described by ``recipe`` on ``data`` and write its results to ``run_dir``.

    ``events`` receives the detailed protocol (steps, epochs, previews, log lines); ``progress`` the
    shared ``core.jobs`` callback. Returns a JSON-able summary; raises CancelledError on cancel.
    """
    from core.train.objective_registry import OBJECTIVES

    recipe.validate()
    rt = start_runtime(recipe.device, recipe.amp, recipe.threads)
    try:
        listeners = [events, ProgressEvents(progress) if progress else None] if rt.is_main else []
        events = MultiEvents(listeners)
        cancel = cancel or CancelToken()
        seed_everything(recipe.seed + rt.rank)
        _check_inputs(recipe, Path(run_dir), resume)
        if not isinstance(data, Dataset2D):
            data = open_dataset(data, recipe.split_seed, recipe.split_ratios)
        setup_log = HeldLog(events.on_log)
        objective = OBJECTIVES[recipe.mode](recipe, data, rt, cancel, setup_log)
        return _Loop(recipe, objective, rt, Path(run_dir), events, cancel, setup_log).run(resume)
    finally:
        stop_runtime(rt)


def _check_inputs(recipe: Recipe, run_dir: Path, resume: bool) -> None:
    """Refuse a bad --init checkpoint or a bad run to resume before any data is read."""
    from core.models.checkpoint import load_checkpoint, read_sidecar

    if recipe.init:
        read_sidecar(recipe.init)
    if resume:
        read_state(run_dir)
        load_checkpoint(run_dir / "last.json")


class HeldLog:
    """The objective's log until setup (data, speed, restore) succeeded: a run refused during setup
    shows its one error line, not the setup notes before it; afterwards lines pass straight through."""

    def __init__(self, sink) -> None:
        self.sink, self.lines = sink, []

    def __call__(self, line: str) -> None:
        if self.lines is None:
            self.sink(line)
        else:
            self.lines.append(line)

    def release(self) -> None:
        lines, self.lines = self.lines or [], None
        for line in lines:
            self.sink(line)


# what _restore reads from last_state.pt, with the type each value must have
STATE_TYPES: dict[str, tuple[type, ...]] = {
    "epoch": (int,), "step": (int,), "bad_epochs": (int,), "best": (int, float, type(None)),
    "elapsed_s": (int, float), "optimizer": (dict,), "scheduler": (dict,), "scaler": (dict,),
    "rng_torch": (torch.Tensor,), "csv_rows": (str,), "extra": (dict,),
}


def read_state(run_dir: Path) -> dict[str, Any]:
    """``last_state.pt`` loaded without running code (``weights_only``) and checked field by field."""
    path = Path(run_dir) / STATE_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ToothSegError(f"{run_dir}: nothing to resume (no {STATE_FILE})") from exc
    except Exception as exc:  # a truncated or foreign file, or a pickle that would run code
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ToothSegError(f"{path}: unreadable training state ({first[:200]})") from exc
    if not isinstance(state, dict):
        raise ToothSegError(f"{path}: not a training state (a {type(state).__name__}, not a dict)")
    for key, types in STATE_TYPES.items():
        if key not in state:
            if key in ("extra", "elapsed_s"):
                continue
            raise ToothSegError(f"{path}: training state lacks {key}")
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise ToothSegError(f"{path}: training state {key} has the wrong type ({type(value).__name__})")
    if min(state["epoch"], state["step"], state["bad_epochs"]) < 0:
        raise ToothSegError(f"{path}: training state has a negative epoch or step count")
    rng = state["rng_torch"]
    if rng.dtype != torch.uint8 or rng.dim() != 1:
        raise ToothSegError(f"{path}: training state rng_torch is not a random-generator state")
    try:
        rows = json.loads(state["csv_rows"])
    except (ValueError, RecursionError) as exc:
        raise ToothSegError(f"{path}: training state csv_rows is not JSON ({exc})") from exc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ToothSegError(f"{path}: training state csv_rows must be a list of rows")
    return state


class _Loop:
    def __init__(self, recipe: Recipe, objective: Objective, rt: Runtime, run_dir: Path,
                 events: TrainEvents, cancel: CancelToken, setup_log: HeldLog | None = None):
        self.recipe, self.obj, self.rt, self.run_dir = recipe, objective, rt, run_dir
        self.events, self.cancel = events, cancel
        self.setup_log = setup_log or HeldLog(events.on_log)
        self.rows: list[dict[str, Any]] = []
        self.tb = None
        self.progress = 0.0        # fraction of the steps or the time budget used, agreed by all ranks
        self.elapsed_before = 0.0  # training seconds of the sessions before a resume

    # ------------------------------------------------------------------ main
    def run(self, resume: bool) -> dict[str, Any]:
        r, obj = self.recipe, self.obj
        self.cancel.raise_if_cancelled("training")
        obj.prepare()
        from core.train.speed import autotune

        steps = len(obj.loader) * r.epochs
        steps = min(steps, r.max_steps) if r.max_steps else steps
        self.rt.speed = autotune(r, self.rt.device, self.rt.distributed, steps, self.setup_log)
        self.rt.amp = bool(self.rt.speed.dtype)
        self.rt.speed.prepare(obj.model.to(self.rt.device))
        opt = torch.optim.AdamW(obj.parameters(), lr=r.lr, weight_decay=r.weight_decay)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode=obj.monitor_mode, factor=r.plateau_factor, patience=r.plateau_patience, min_lr=r.min_lr)
        scaler = self.rt.grad_scaler()
        first_epoch, step, best, bad = 0, 0, None, 0
        if resume:
            first_epoch, step, best, bad = self._restore(opt, sched, scaler)
        self.setup_log.release()
        obj.net = self.rt.speed.wrap(self.rt.wrap(obj.model))
        per_epoch = len(obj.loader)
        total = per_epoch * r.epochs
        if r.max_steps:
            total = min(total, r.max_steps)
        if self.rt.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if r.tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.run_dir / "tb"))
        info = {"mode": r.mode, "device": str(self.rt.device), "world": self.rt.world, "amp": self.rt.amp,
                "speed": self.rt.speed.name,
                "steps_per_epoch": per_epoch, "first_epoch": first_epoch, **obj.info}
        self.events.on_start(total, info)
        self.events.on_log(f"{r.mode}: {per_epoch} steps/epoch on {self.rt.device} x{self.rt.world} "
                           f"({self.rt.speed.name}), "
                           + ", ".join(f"{k}={v}" for k, v in obj.info.items()))
        # the budget covers the job, across resumes; in wall seconds, or the process's CPU seconds
        # (``cpu_budget``: on a shared machine wall time says more about the neighbours than the job)
        clock = time.process_time if r.cpu_budget else time.monotonic
        t0 = clock() - self.elapsed_before
        stopped, metrics, done = "completed", {}, first_epoch
        for epoch in range(first_epoch, r.epochs):
            obj.model.train()
            obj.start_epoch(epoch)
            losses: list[float] = []
            for batch in obj.loader:
                elapsed = clock() - t0
                over_budget = r.max_minutes > 0 and elapsed > r.max_minutes * 60
                progress = max(step / max(total, 1), elapsed / (r.max_minutes * 60) if r.max_minutes > 0 else 0.0)
                flag = self._agreed_flag(int(over_budget), progress)
                if flag == 1:
                    stopped = "budget"
                    break
                if r.schedule == "cosine":
                    _set_lr(opt, cosine_lr(r.lr, r.min_lr, self.progress))
                with self.rt.autocast():
                    loss = obj.train_step(batch, epoch)
                if not torch.isfinite(loss):
                    raise ToothSegError(f"training diverged at step {step + 1} (loss {float(loss)}); "
                                        "lower the learning rate")
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                # a phase of a step-capped run (weight averaging) starts at its step, never early by a time cap
                obj.after_step(step / max(total, 1) if r.max_steps else progress)
                step += 1
                losses.append(float(loss.detach()))
                self.events.on_step(step, losses[-1], opt.param_groups[0]["lr"])
                self.events.on_budget(min(1.0, progress))
                if r.max_steps and step >= r.max_steps:
                    stopped = "max_steps"
                    break
            if not losses:
                break
            obj.model.eval()
            with torch.no_grad():
                metrics = {"train_loss": self.rt.mean(sum(losses) / len(losses)), **obj.validate()}
            # cancelled during validation: stop before the epoch-end writes (the previous epoch's
            # checkpoint stays the one to resume from), so Cancel never waits for fsyncs
            self._agreed_flag(0)
            done = epoch + 1
            monitor = metrics[obj.monitor]
            if r.schedule == "plateau":
                sched.step(monitor)
            improved = (obj.keeps_latest() or best is None
                        or (monitor > best if obj.monitor_mode == "max" else monitor < best))
            best, bad = (monitor, 0) if improved else (best, bad + 1)
            row = {"epoch": epoch + 1, "step": step, "time_s": round(clock() - t0, 2),
                   "lr": opt.param_groups[0]["lr"], **metrics}
            self._record(row, epoch)
            if self.rt.is_main:
                self._save(epoch, step, metrics, opt, sched, scaler, best, bad, improved)
            self.rt.barrier()
            if stopped != "completed":
                break
            if r.early_stop_patience and bad >= r.early_stop_patience:
                stopped = "early_stop"
                break
        if self.tb is not None:
            self.tb.close()
        result = {"mode": r.mode, "run_dir": str(self.run_dir), "epochs": done, "steps": step,
                  "stopped": stopped, "monitor": obj.monitor, "best": best, "metrics": metrics,
                  "elapsed_s": round(clock() - t0, 2),
                  "best_checkpoint": str(self.run_dir / "best.safetensors"),
                  "last_checkpoint": str(self.run_dir / "last.safetensors")}
        self.events.on_end(result)
        return result

    def _agreed_flag(self, local: int, progress: float = 0.0) -> int:
        """The largest of every rank's flag (1 = over budget); raises CancelledError on every rank when
        any of them was cancelled (2), so DDP ranks never wait for one that left. The same collective
        agrees on the budget fraction used (``self.progress``), so every rank sets the same learning rate."""
        values = self.rt.max_values([2.0 if self.cancel.cancelled else float(local), progress])
        flag, self.progress = int(values[0]), values[1]
        if flag == 2:
            self.cancel.cancel()
            self.cancel.raise_if_cancelled("training")
        return flag

    # ------------------------------------------------------------------ records
    def _record(self, row: dict[str, Any], epoch: int) -> None:
        self.events.on_epoch(epoch + 1, {k: v for k, v in row.items() if k != "epoch"})
        if not self.rt.is_main:
            return
        self.rows.append(row)
        columns: list[str] = []
        for x in self.rows:
            columns += [k for k in x if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.run_dir / "metrics.csv", buf.getvalue())
        if self.tb is not None:
            for k, v in row.items():
                if k != "epoch" and isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(k, v, epoch + 1)
        every = self.recipe.preview_every
        if every and (epoch + 1) % every == 0:
            images = self.obj.preview()
            if images:
                self.events.on_preview(images)
                if self.tb is not None:
                    for name, img in images.items():
                        self.tb.add_image(name, _to_display(img)[None], epoch + 1)

    # ------------------------------------------------------------------ checkpoints
    def _save(self, epoch, step, metrics, opt, sched, scaler, best, bad, improved) -> None:
        from core.models.checkpoint import save_checkpoint

        meta = {**{k: v for k, v in self.obj.meta.items() if k != "model_config"}, "mode": self.recipe.mode, "recipe": self.recipe.to_json(),
                "metrics": metrics, "epoch": epoch + 1, "step": step,
                "saved": time.strftime("%Y-%m-%dT%H:%M:%S")}
        config = self.obj.meta["model_config"]
        save_checkpoint(self.run_dir / "last", self.obj.export_model(), config, meta,
                        also=self.run_dir / "best" if improved else None)
        state = {"epoch": epoch + 1, "step": step, "best": best, "bad_epochs": bad,
                 "elapsed_s": float(self.rows[-1]["time_s"]) if self.rows else 0.0,
                 "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "scaler": scaler.state_dict(),
                 "rng_torch": torch.get_rng_state(), "csv_rows": json.dumps(self.rows),
                 "extra": self.obj.extra_state()}
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(self.run_dir / STATE_FILE, buf.getvalue())

    def _restore(self, opt, sched, scaler) -> tuple[int, int, float | None, int]:
        from core.models.checkpoint import load_checkpoint

        state = read_state(self.run_dir)
        model, meta = load_checkpoint(self.run_dir / "last.safetensors")
        if meta.get("mode") != self.recipe.mode:
            raise ToothSegError(f"{self.run_dir} holds a {meta.get('mode')} run, not {self.recipe.mode}")
        try:
            self.obj.export_model().load_state_dict(model.state_dict())
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            if state.get("scaler") and scaler.is_enabled():  # a run resumed with another precision has none
                scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["rng_torch"])
            self.obj.load_extra_state(state.get("extra", {}))
        except (ValueError, KeyError, RuntimeError, TypeError, IndexError, AttributeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ToothSegError(f"{self.run_dir / STATE_FILE}: the saved training state does not fit this run "
                                f"({first[:200]})") from exc
        self.rows = json.loads(state.get("csv_rows", "[]"))
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        self.events.on_log(f"resuming {self.run_dir} after epoch {state['epoch']} (step {state['step']})")
        return int(state["epoch"]), int(state["step"]), state["best"], int(state["bad_epochs"])


def cosine_lr(base: float, floor: float, progress: float) -> float:
    """Half a cosine from ``base`` at the start to ``floor`` when the steps or the budget run out: a
    fixed budget is best spent annealing towards its end, not waiting for a plateau that never comes."""
    return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def _to_display(img) -> Any:
    import numpy as np

    img = np.asarray(img, dtype=np.float32)
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
