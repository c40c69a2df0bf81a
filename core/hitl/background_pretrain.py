"""Self-supervised pretraining (MIM) on the folder's images while the user annotates.

The job trains the network Train on my labels will use (the plan's architecture and input size for a
small label set) to fill in hidden blocks of the folder's own images, at idle priority with one
thread, in ``<project>/models/background-mim``; before it and after every epoch it also embeds the new labels
with LiteMedSAM's encoder for the few-label head (``core.hitl.background_embed``). It is cancellable (the last finished epoch is kept)
and resumable (its budget counts every session), and once registered as a ``pretrain-mim`` model the
plan's warm start (``core.hitl.plan.choose_warm_start``) starts the first Train on my labels from it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from core.data.project import ModelEntry, Project
from core.errors import ToothSegError
from core.jobs import CancelToken, Progress
from core.train.recipe import Recipe, default_recipe

RUN_NAME = "background-mim"
MINUTES = 10.0          # the whole pretraining budget, over all sessions
MIN_IMAGES = 40         # fewer images than this teach a network little it would not learn from the labels
MODEL = {"name": "unet", "base_channels": 8, "norm": "batch"}  # what plan_training picks below 150 labels
SIZE = 128                                                       # ... and its input size below 100 labels


def run_dir(project: Project) -> Path:
    from core.hitl.model_files import MODELS_DIRNAME

    return project.dir / MODELS_DIRNAME / RUN_NAME


def recipe(minutes: float = MINUTES) -> Recipe:
    return default_recipe("pretrain-mim").updated(
        model=dict(MODEL), size=SIZE, max_minutes=float(minutes), epochs=100_000, batch_size=8, lr=1e-3,
        mask_ratio=0.4, threads=1, device="cpu", preview_every=0, early_stop_patience=0, plateau_patience=5,
        split_ratios=[0.85, 0.15, 0.0])


def status(project: Project, image_count: int) -> dict[str, Any]:
    """What the status bar shows before anything runs: done, partial (resumable), or not started."""
    d = run_dir(project)
    entry = project.model(RUN_NAME)
    state = {"images": image_count, "run_dir": str(d), "registered": entry is not None,
             "enough_images": image_count >= MIN_IMAGES, "minutes_done": 0.0, "finished": False,
             "resumable": (d / "last_state.pt").exists()}  # an epoch under a second still resumes
    if state["resumable"]:
        from core.train.loop import read_state

        try:
            st = read_state(d)
            state["minutes_done"] = round(float(st.get("elapsed_s", 0.0)) / 60, 2)
        except ToothSegError:
            pass
    state["finished"] = bool(entry and entry.extra.get("finished"))
    return state


def lower_priority() -> str:
    """Idle priority for the calling thread, so the editor and a user's training keep the cores."""
    try:
        if sys.platform.startswith("linux"):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # Linux: per-thread nice
            return "nice 19"
        if sys.platform == "win32":
            import ctypes

            k32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            k32.SetThreadPriority(k32.GetCurrentThread(), -15)  # THREAD_PRIORITY_IDLE
            return "idle thread priority"
    except (OSError, AttributeError):
        pass
    return "normal priority (one thread)"


def run(root: str | Path, project_dir: str | Path | None = None, minutes: float = MINUTES,
        cancel: CancelToken | None = None, progress: Progress | None = None, events=None,
        idle: bool = True) -> dict[str, Any]:
    """Pretrain (or resume pretraining) on the folder's images; returns the loop's result plus what to
    register. Writes only inside the project's models folder; raises CancelledError on cancel.
    ``idle`` lowers the calling thread's priority for good (call it on a worker thread)."""
    from core.train.data import open_dataset
    from core.train.loop import run_training

    project = Project.open(root)
    d = run_dir(project) if project_dir is None else Path(project_dir) / RUN_NAME
    how = lower_priority() if idle else "normal priority (one thread)"
    r = recipe(minutes)
    data = open_dataset(root, r.split_seed, r.split_ratios)
    if len(data.index) < MIN_IMAGES:  # the same count the status bar offers it for
        raise ToothSegError(f"background pretraining needs at least {MIN_IMAGES} images; this folder has "
                            f"{len(data.index)}")
    images = sum(1 for s in data.index if s.split in ("train", ""))  # validation images stay out
    if events is not None:
        events.on_log(f"background MIM pretraining on {images} images, {how}, budget {minutes:g} min")
    resume = (d / "last_state.pt").exists()
    t0 = time.monotonic()
    # the labels saved so far, and after every epoch the new ones, get their LiteMedSAM embeddings for the
    # head Train on my labels trains below 50 labels (ADR 0015): the button then only trains the head
    from core.hitl.background_embed import EmbedAfterEpochs, LabelEmbedder, safely
    from core.train.events import MultiEvents

    log = events.on_log if events is not None else None
    embedder = LabelEmbedder()
    safely(embedder, root, cancel, log)
    result = run_training(r, data, d, events=MultiEvents([events, EmbedAfterEpochs(embedder, root, cancel, log)]),
                          cancel=cancel, resume=resume, progress=progress)
    safely(embedder, root, cancel, log)
    result["embedded"], result["embed_s"] = embedder.embedded, round(embedder.seconds, 1)
    result["session_s"] = round(time.monotonic() - t0, 1)
    result["finished"] = result.get("stopped") in ("budget", "completed")
    result["images"] = images
    return result


def register(project: Project, result: dict[str, Any] | None = None) -> ModelEntry | None:
    """Record the pretraining's best checkpoint as a ``pretrain-mim`` model (never active); None when
    no epoch has finished yet. Saves the project (UI thread)."""
    d = run_dir(project)
    best = d / "best.safetensors"
    if not best.with_suffix(".json").exists():
        return None
    old = project.model(RUN_NAME)
    finished = bool((result or {}).get("finished") or (old and old.extra.get("finished")))
    from core.models.checkpoint import read_sidecar

    meta = read_sidecar(best)
    entry = ModelEntry(name=RUN_NAME, path=best.relative_to(project.dir).as_posix(), mode="pretrain-mim",
                       created=time.strftime("%Y-%m-%dT%H:%M:%S"),
                       metrics={"val_loss": (meta.get("metrics") or {}).get("val_loss")},
                       fingerprint=meta.get("fingerprint", ""),
                       extra={"finished": finished, "background": True,
                              "minutes": round(float((result or {}).get("elapsed_s", 0)) / 60, 2)})
    project.add_model(entry, make_active=False)
    project.save()
    return entry
