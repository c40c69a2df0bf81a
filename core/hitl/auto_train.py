""""Train on my labels": one call from the user's corrected masks to an active ONNX model.

The plan is chosen from the number of usable labels and the device so that a laptop CPU finishes in
minutes; the run warm-starts from the previous (or a pretrained) model of the project, trains on
labeled + reviewed samples, exports ONNX with the parity check, and reports validation Dice next to
the previous model's on the same images. Project mutation (``register``) is kept apart from the
long job (``run_plan``) so the GUI can run the job in a worker and register on the UI thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.data.project import ModelEntry, Project
from core.data.sample import SampleIndex
from core.data.splits import DEFAULT_RATIOS, make_splits
from core.errors import ToothSegError
from core.jobs import CancelToken, Progress
from core.models.metadata_schema import DEFAULT_SIDE
from core.train.recipe import Recipe, default_recipe

MIN_LABELS = 4
SMALL_SET = 50          # below this many labels no test split is held out (see split_ratios)
SMALL_SET_RATIOS = (0.85, 0.15, 0.0)
MODELS_DIRNAME = "models"


@dataclass
class TrainPlan:
    """What Train on my labels will do, shown to the user before it starts."""

    recipe: Recipe
    labeled: int
    device: str
    warm_start: str = ""        # checkpoint path the weights come from ("" = from scratch)
    warm_from: str = ""         # the registered model's name, or "" when not from a project model
    previous: str = ""          # name of the model that was active before (compared against)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        r = self.recipe
        model = f"{r.model.get('name')} ({r.model.get('base_channels', '?')} ch)"
        start = f"warm start from {self.warm_from or Path(self.warm_start).name}" if self.warm_start else "from scratch"
        budget = f"{r.max_minutes:g} min" if r.max_minutes else f"{r.epochs} epochs"
        from core.train.speed import describe_for

        return (f"{self.labeled} labels, {model}, {r.size_text}, {budget} on {self.device}, {start}; "
                f"{describe_for(r, self.device)}")


def model_path(project: Project, entry: ModelEntry, onnx: bool = False) -> Path | None:
    """Absolute path of a registered model's checkpoint (or ONNX file); None when it has none."""
    raw = entry.onnx if onnx else entry.path
    if not raw:
        return None
    p = Path(raw)
    return p if p.is_absolute() else project.dir / p


def _rel(project: Project, path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(project.dir.resolve()).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def _device() -> str:
    """The device a training job will pick (CUDA, Apple MPS, else CPU): one rule, core.train.runtime's."""
    try:
        from core.train.runtime import pick_device
    except ImportError:              # the viewer build has no torch
        return "cpu"
    return pick_device("auto").type


def split_ratios(labeled: int) -> tuple[float, float, float]:
    """Train/val/test shares for a project with ``labeled`` labels. Under SMALL_SET every image is
    worth more in training than in a test split too small to measure anything (20 thyroid labels:
    training on 17 instead of 16 raised Dice on 518 unseen frames by about a point); val stays, so
    each run is still compared with the previous model on the same images."""
    return SMALL_SET_RATIOS if labeled < SMALL_SET else DEFAULT_RATIOS


def split_counts(index: SampleIndex) -> dict[str, int]:
    """Labeled images per split, plus "all"."""
    labeled = index.labeled()
    counts = {split: sum(1 for s in labeled if s.split == split) for split in ("test", "val", "train")}
    return {**counts, "all": len(labeled)}


def compute_splits(project: Project, index: SampleIndex, seed: int = 0) -> dict[str, str] | None:
    """Splits for samples that have none yet (reads every image; run it off the UI thread), or None."""
    from core.data.groups import ensure_groups

    ensure_groups(project, index)  # kept in the project by apply_splits / register
    if not any(s.is_training_label and not s.split for s in index):
        return None
    splits = make_splits(index, ratios=split_ratios(len(index.labeled())),
                         seed=project.split_seed if project.split_seed is not None else seed)
    labeled = index.labeled()
    if not any(splits.get(s.id) == "val" for s in labeled) and len(labeled) >= 2:
        splits[sorted(s.id for s in labeled)[-1]] = "val"  # tiny sets: the finetune loop needs a val image
    return splits


def apply_splits(project: Project, index: SampleIndex, splits: dict[str, str] | None, seed: int = 0) -> int:
    """Keep ``splits`` for samples without one, in the index and the project file; returns how many."""
    if not splits:
        return 0
    changed = 0
    for s in index:
        if not s.split:
            s.split = splits.get(s.id, "train")
            project.set_split(s.id, s.split)
            changed += 1
    if project.split_seed is None:
        project.split_seed = seed
    project.save()
    return changed


def _cpu_threads() -> int:
    """One core fewer than the machine has: the window stays responsive, and on a busy 2-core machine
    a single thread trains several times faster than two fighting over one core (OpenMP spin-waits)."""
    from core.infer.ort_session import physical_cores

    return max(1, physical_cores() - 1)


def ensure_splits(project: Project, index: SampleIndex, seed: int = 0) -> int:
    """Give every training label a persistent split, so each run (and the previous model) is scored on
    the same validation images; returns how many samples got a new split. Saves the project."""
    return apply_splits(project, index, compute_splits(project, index, seed), seed)


def plan_training(project: Project, index: SampleIndex, minutes: float | None = None,
                  device: str | None = None, warm_start: bool = True, **overrides: Any) -> TrainPlan:
    """Model, size and budget from the number of labels and the device; ``overrides`` are recipe keys.
    ``warm_start=False`` (the CLI's plan) leaves the project's models alone; ``--init`` chooses one."""
    labeled = index.labeled()
    if len(labeled) < MIN_LABELS:
        raise ToothSegError(f"Train on my labels needs at least {MIN_LABELS} labeled or reviewed images; "
                            f"this project has {len(labeled)}. Draw or accept a few more masks first.")
    device = device or _device()
    n = len(labeled)
    gpu = device != "cpu"
    recipe = default_recipe("finetune")
    labels = "binary" if len(project.classes) <= 1 else "multiclass"
    if gpu:
        model = {"name": "unet", "base_channels": 16, "norm": "batch"}
        size, budget = DEFAULT_SIDE, minutes if minutes is not None else min(10.0, 1.0 + n / 100)
    else:
        model = {"name": "unet", "base_channels": 8 if n < 150 else 12, "norm": "batch"}
        size = 128 if n < 100 else 160
        budget = minutes if minutes is not None else min(10.0, max(1.0, 0.5 + n * 0.025))
    # A CPU run of a minute or two sees few epochs; augmentation then slows fitting more than it helps
    # (20 thyroid labels: Dice on unseen frames 0.68 with it, 0.77 without), so it starts at 50 labels.
    changes: dict[str, Any] = {"augment": gpu or n >= 50,
                               "model": model, "size": size, "labels": labels, "max_minutes": float(budget),
                               "epochs": 1000, "batch_size": 8 if gpu else 4, "lr": 1e-2, "plateau_patience": 10,
                               "early_stop_patience": 60, "device": device, "preview_every": 1,
                               "threads": 0 if gpu else _cpu_threads()}
    plan = TrainPlan(recipe=recipe, labeled=n, device=device)
    if warm_start:
        _warm_start(project, plan, changes, index)
    changes.update(overrides)
    plan.recipe = recipe.updated(**changes)
    return plan


def _warm_start(project: Project, plan: TrainPlan, changes: dict[str, Any], index: SampleIndex | None = None) -> None:
    """Prefer the active model, then the newest pretrained one, then the newest model of an earlier
    project of the same modality (``core.hitl.model_store``); adopt its architecture and size."""
    from core.hitl import model_store
    from core.models.checkpoint import read_sidecar

    active = project.model(project.active_model) if project.active_model else None
    plan.previous = active.name if active else ""
    pretrained = [m for m in reversed(project.models) if m.mode.startswith("pretrain")]
    library = model_store.entries(model_store.modality(project, index), project.root) if index is not None else []
    for entry in [e for e in (active, *pretrained, *library[:1]) if e is not None]:
        path = model_path(project, entry)
        if path is None or not Path(path).with_suffix(".json").exists():
            plan.notes.append(f"{entry.name}: checkpoint missing, not used for warm start")
            continue
        try:
            meta = read_sidecar(path)
        except ToothSegError as exc:
            plan.notes.append(f"{entry.name}: {exc}")
            continue
        config = dict(meta.get("model", {}))
        for key in ("in_channels", "out_channels"):
            config.pop(key, None)
        if config.get("name"):
            changes["model"] = config
        size = meta.get("input_size") or [changes["size"]] * 2
        changes["size"], changes["width"] = int(size[0]), int(size[1]) if int(size[1]) != int(size[0]) else 0
        plan.warm_start, plan.warm_from = str(path), entry.name
        changes["init"] = str(path)
        if not entry.mode.startswith("pretrain"):  # a pretrained encoder's head is fresh: full rate
            changes["lr"] = 3e-3  # gentler on weights that already work
        return


def run_plan(plan: TrainPlan, root: str | Path, run_dir: str | Path, events=None,
             cancel: CancelToken | None = None, resume: bool = False, previous_checkpoint: str | Path | None = None,
             progress: Progress | None = None) -> dict[str, Any]:
    """Train, export ONNX and score new and previous model on the validation split (no project writes);
    the sequence is ``core.hitl.sequence.run_sequence``, measured. When validation is too small the
    outcome's interval is "estimating…" (``cv_pending``): ``core.hitl.measure_later`` runs the
    cross-validation once the model is registered and active."""
    from core.hitl.sequence import run_sequence

    outcome = run_sequence(plan.recipe, root, run_dir, events=events, cancel=cancel, resume=resume, measure=True,
                           previous_checkpoint=previous_checkpoint, defer_cv=True)
    return {**outcome, "previous": plan.previous, "warm_from": plan.warm_from}


def new_run_dir(project: Project, prefix: str = "finetune") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = project.dir / MODELS_DIRNAME / f"{prefix}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def register(project: Project, outcome: dict[str, Any], make_active: bool = True) -> ModelEntry:
    """Record a finished run in the project (and make it active); saves the project."""
    run_dir = Path(outcome["run_dir"])
    metrics = {k: outcome.get(k) for k in ("val_dice", "val_ci", "val_n", "val_groups", "val_method", "val_note",
                                            "val_iou", "holdout_dice", "holdout_n")}
    if outcome.get("previous_dice") is not None:
        metrics["previous_val_dice"] = outcome["previous_dice"]
    export = outcome.get("export") or {}
    entry = ModelEntry(
        name=run_dir.name, path=_rel(project, Path(outcome["checkpoint"])), mode=outcome.get("mode", "finetune"),
        created=time.strftime("%Y-%m-%dT%H:%M:%S"), metrics={k: v for k, v in metrics.items() if v is not None},
        onnx=_rel(project, Path(outcome["onnx"])) if outcome.get("onnx") else "",
        fingerprint=outcome.get("fingerprint", ""),
        extra={"recipe": outcome.get("recipe", {}), "warm_from": outcome.get("warm_from", ""),
               "parity_max_abs_diff": export.get("max_abs_diff"), "provider": export.get("provider", ""),
               "train_s": outcome.get("train_s")},
    )
    project.add_model(entry, make_active=make_active)
    project.save()
    _publish(project, entry)
    return entry


def _publish(project: Project, entry: ModelEntry) -> None:
    """Keep the model in the library across projects; a failure there never fails the training."""
    import logging

    from core.hitl import model_store

    key = model_store.stored_modality(project)
    try:
        if key:
            model_store.publish(project, entry, key)
    except OSError as exc:
        logging.getLogger("toothseg.hitl").warning("model library: could not keep %s: %s", entry.name, exc)


def train_on_labels(root: str | Path, minutes: float | None = None, events=None, cancel: CancelToken | None = None,
                    seed: int | None = None, cv: bool = True, **overrides: Any) -> tuple[ModelEntry, dict[str, Any]]:
    """The whole button for scripts and benchmarks: plan, train, export, register, activate, then (when
    validation is too small) cross-validate and update the registered figures; ``cv=False`` skips that
    (the val split's own figure stands, saying so). ``seed`` seeds training and, for a project without
    splits yet, the split. The outcome's ``active_s`` is when the model became active."""
    from core.data.groups import stored_groups
    from core.data.layouts import load_index

    t0 = time.monotonic()
    project = Project.open(root)
    index = project.apply(load_index(Path(root)))
    ensure_splits(project, index, seed=seed or 0)
    if seed is not None:
        overrides["seed"] = seed
    plan = plan_training(project, index, minutes=minutes, **overrides)
    prev = project.model(plan.previous) if plan.previous else None
    outcome = run_plan(plan, root, new_run_dir(project), events=events, cancel=cancel,
                       previous_checkpoint=model_path(project, prev) if prev else None)
    grouping = stored_groups(project)
    if grouping is not None:
        outcome["grouping"] = {"groups": grouping.count, "method": grouping.method, "message": grouping.message}
    entry = register(project, outcome)
    outcome["active_s"] = round(time.monotonic() - t0, 2)
    if outcome.pop("cv_pending", False):
        from core.hitl import measure_later

        later = measure_later.finish(project, entry.name, outcome["run_dir"], events, cancel, run=cv)
        outcome.update({k: later.get(k) for k in measure_later.METRIC_KEYS}, cv_s=later.get("seconds"))
    return entry, outcome
