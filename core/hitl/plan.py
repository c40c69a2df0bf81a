"""The plan of Train on my labels: model, input size, budget and device from the number of labels, and the
warm start (the active model, a pretrained one, or an earlier project's model of the same modality)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.data.project import Project
from core.data.sample import SampleIndex
from core.errors import ToothSegError
from core.hitl.model_files import model_path
from core.models.metadata_schema import DEFAULT_SIDE
from core.train.recipe import Recipe, default_recipe

MIN_LABELS = 4
# Below this many labels a CPU plan trains a head on LiteMedSAM's frozen encoder (ADR 0015), when its
# packaged weights are present; from it on, the U-Net (which keeps learning with more labels) again.
FOUNDATION_BELOW = 50
FOUNDATION_MODEL = {"name": "litemedsam_head", "base_channels": 32, "norm": "batch"}
FOUNDATION_LR = 3e-3
FOUNDATION_MINUTES = 1.5   # a cap: FOUNDATION_STEPS end the training first on an unloaded CPU
FOUNDATION_STEPS = 120
# All labels with a long CPU budget (issue 17): the head too when embedding every label and its mirror image
# (EMBED_CPU_S each, ONNX Runtime on one loaded core) fits in the budget the user gave; it then trains
# FOUNDATION_ALL_STEPS annealed steps (404 thyroid labels: the unseen frames peaked after 300-600 steps and fell
# with more; ADR 0015 addendum)
EMBED_CPU_S = 1.4
FOUNDATION_ALL_STEPS = 600
# From 20 labels the saved head is the plain average of its weights over the second half of its steps (stochastic
# weight averaging), not the epoch three validation images liked best: 20 thyroid labels, unseen n = 134, 0.703 ->
# 0.732 in the product at seed 0, 0.743-0.773 against 0.677-0.749 on cached embeddings. With 8 and 14 labels the
# fixed 120 steps overfit their second half and the best epoch scored higher (mean 0.708 / 0.708 against 0.683 /
# 0.662 averaged), so fewer labels keep best-by-validation (ADR 0015, sixth addendum)
FOUNDATION_AVERAGE_FROM = 0.5
FOUNDATION_AVERAGE_LABELS = 20
# Below FOUNDATION_BELOW labels the head also trains on up to FOUNDATION_VIEWS fixed views of every label (gamma,
# zoom, contrast, shift; core.train.views), embedded once in the background while the user labels: 20 thyroid
# labels, unseen n = 134, with the validation images training too (below): 0.732 / 0.725 -> 0.761 / 0.762 at seeds
# 0 / 1 in the product, binary teeth 0.881 / 0.887 -> 0.886 / 0.888 (ADR 0015, seventh addendum). Each input's
# embedding is ~2 MB in memory and on disk, so the views shrink to keep a label set's inputs (each with its mirror
# image) within FOUNDATION_VIEW_INPUTS: 8 views up to 27 labels, 4 at 49
FOUNDATION_VIEWS = 8
FOUNDATION_VIEW_INPUTS = 500


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
    teeth: dict[str, Any] | None = None   # an FDI folder: TeethRecipe fields (core.hitl.teeth_train)
    numbers: list[int] = field(default_factory=list)   # ... and the FDI numbers its teeth may get

    def describe(self) -> str:
        if self.teeth is not None:
            from core.hitl.teeth_train import describe_teeth

            return describe_teeth(self)
        r = self.recipe
        model = f"{r.model.get('name')} ({r.model.get('base_channels', '?')} ch)"
        start = f"warm start from {self.warm_from or Path(self.warm_start).name}" if self.warm_start else "from scratch"
        budget = f"{r.max_minutes:g} min" if r.max_minutes else f"{r.epochs} epochs"
        from core.train.speed import describe_for

        return (f"{self.labeled} labels, {model}, {r.size_text}, {budget} on {self.device}, {start}; "
                f"{describe_for(r, self.device)}")


def training_device() -> str:
    """The device a training job will pick (CUDA, Apple MPS, else CPU): one rule, core.train.runtime's."""
    try:
        from core.train.runtime import pick_device
    except ImportError:              # the viewer build has no torch
        return "cpu"
    return pick_device("auto").type


def cpu_threads() -> int:
    """One core fewer than the machine has: the window stays responsive, and on a busy 2-core machine
    a single thread trains several times faster than two fighting over one core (OpenMP spin-waits)."""
    from core.infer.ort_session import physical_cores

    return max(1, physical_cores() - 1)


def foundation_available() -> bool:
    """Whether LiteMedSAM's packaged, SHA-256-verified checkpoint is here (checked once per process)."""
    global _FOUNDATION
    if _FOUNDATION is None:
        from core.errors import ModelFileError
        from core.prompt.weights import find_checkpoint, verify_checkpoint

        try:
            verify_checkpoint(find_checkpoint())
            _FOUNDATION = True
        except (ModelFileError, OSError):
            _FOUNDATION = False
    return _FOUNDATION


_FOUNDATION: bool | None = None


def plan_training(project: Project, index: SampleIndex, minutes: float | None = None,
                  device: str | None = None, warm_start: bool = True, foundation: bool | None = None,
                  **overrides: Any) -> TrainPlan:
    """Model, size and budget from the number of labels and the device; ``overrides`` are recipe keys.
    ``warm_start=False`` (the CLI's plan) leaves the project's models alone; ``--init`` chooses one.
    ``foundation``: train the LiteMedSAM head (True), never (False), or when the rule says so (None)."""
    labeled = index.labeled()
    if len(labeled) < MIN_LABELS:
        raise ToothSegError(f"Train on my labels needs at least {MIN_LABELS} labeled or reviewed images; "
                            f"this project has {len(labeled)}. Draw or accept a few more masks first.")
    device = device or training_device()
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
        budget = minutes if minutes is not None else cpu_minutes(n)
    # an FDI folder: numbered teeth (ADR 0019) under the same budget, in CPU minutes; ``teeth=False``, a
    # named model or the LiteMedSAM head asked for keep the per-pixel plan; a dict: TeethRecipe fields
    teeth = overrides.pop("teeth", None)
    numbers = [] if teeth is False or "model" in overrides or foundation else _fdi_numbers(project, index)
    if numbers:
        from core.hitl.teeth_train import plan_teeth, teeth_minutes

        plan = TrainPlan(recipe=recipe, labeled=n, device="cpu")
        plan_teeth(plan, project, numbers, minutes if minutes is not None else teeth_minutes(n), warm_start,
                   {**overrides, "teeth": teeth or {}})
        return plan
    if foundation is None:   # an override that names the model decides (a U-Net recipe warm-starts as a U-Net)
        named = (overrides.get("model") or {}).get("name", FOUNDATION_MODEL["name"])
        foundation = (not gpu and (n < FOUNDATION_BELOW or embedding_fits(n, minutes))
                      and named == FOUNDATION_MODEL["name"] and foundation_available())
    if foundation:  # ADR 0015: LiteMedSAM's frozen encoder + a light head beats the small U-Net on few labels
        model, size = dict(FOUNDATION_MODEL), DEFAULT_SIDE
        # the images are embedded before the budget starts; the head needs about FOUNDATION_STEPS steps
        # (~20 s on a quiet core; 25 steps in 30 s on the loaded benchmark machine left teeth at Dice 0.21;
        # 120 and 200 steps scored the same), so the budget is those steps, capped in minutes
        budget = minutes if minutes is not None else FOUNDATION_MINUTES
    # A CPU run of a minute or two sees few epochs; augmentation then slows fitting more than it helps
    # (20 thyroid labels: Dice on unseen frames 0.68 with it, 0.77 without), so it starts at 50 labels. Never
    # for the head: it trains on embeddings computed once (and mirror images); an augmented image is a new
    # encoder pass per step (50 thyroid labels: 15 steps in its 1.5 min, Dice 0.008; without: 0.746, ADR 0015)
    changes: dict[str, Any] = {"augment": (gpu or n >= 50) and not foundation,
                               "model": model, "size": size, "labels": labels, "max_minutes": float(budget),
                               "epochs": 1000, "batch_size": 8 if gpu else 4, "lr": 1e-2, "plateau_patience": 10,
                               "early_stop_patience": 60, "device": device, "preview_every": 1,
                               "threads": 0 if gpu else cpu_threads()}
    if foundation:
        changes["lr"] = FOUNDATION_LR
        if FOUNDATION_AVERAGE_LABELS <= n < FOUNDATION_BELOW:  # the average, not validation, is the model:
            changes.update(average_from=FOUNDATION_AVERAGE_FROM, val_trains=True)  # its images may train too
        if n < FOUNDATION_BELOW:
            changes["views"] = foundation_views(n)
        if minutes is None:
            changes["max_steps"] = FOUNDATION_STEPS
        elif n >= FOUNDATION_BELOW:   # many labels, a budget given: a fixed number of annealed steps
            changes.update(max_steps=FOUNDATION_ALL_STEPS, schedule="cosine")
    plan = TrainPlan(recipe=recipe, labeled=n, device=device)
    if warm_start:
        # a named network is kept: a warm start of another one would load none of its kernels
        choose_warm_start(project, plan, changes, index, fixed=overrides.get("model"))
    changes.update(overrides)
    plan.recipe = recipe.updated(**changes)
    return plan


def foundation_views(labels: int) -> int:
    """Fixed views per label the few-label head trains on (and the background embeds)."""
    return max(0, min(FOUNDATION_VIEWS, FOUNDATION_VIEW_INPUTS // (2 * max(1, labels)) - 1))


def embedding_fits(labels: int, minutes: float | None) -> bool:
    """Whether LiteMedSAM's encoding of ``labels`` images and their mirror images (done before the budget
    starts) costs no more than the ``minutes`` the user gave (none given: the default budget is too short)."""
    return minutes is not None and 2 * labels * EMBED_CPU_S <= minutes * 60


def cpu_minutes(labels: int) -> float:
    """A CPU plan's budget: about a minute on a laptop for a few labels, growing with them, at most 10."""
    return min(10.0, max(1.0, 0.5 + labels * 0.025))


def _fdi_numbers(project: Project, index: SampleIndex) -> list[int]:
    from core.hitl.teeth_train import fdi_numbers

    return fdi_numbers(project, index)


def choose_warm_start(project: Project, plan: TrainPlan, changes: dict[str, Any], index: SampleIndex | None = None,
                      fixed: dict[str, Any] | None = None) -> None:
    """Prefer the active model, then the newest pretrained one, then the newest model of an earlier
    project of the same modality (``core.hitl.model_store``); adopt its architecture and size. ``fixed``: the
    network the caller named; only a checkpoint of that same network may warm-start it."""
    from core.hitl import model_store
    from core.models.checkpoint import read_sidecar

    active = project.model(project.active_model) if project.active_model else None
    plan.previous = active.name if active else ""
    pretrained = [m for m in reversed(project.models) if m.mode.startswith("pretrain")]
    library = model_store.entries(model_store.modality(project, index), project.root) if index is not None else []
    chosen = changes["model"].get("name")
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
        if (config.get("name") == FOUNDATION_MODEL["name"]) != (chosen == FOUNDATION_MODEL["name"]):
            plan.notes.append(f"{entry.name}: a {config.get('name')} model, while this plan trains {chosen}; "
                              "not used for warm start")
            continue
        if fixed is not None and not _same_network(config, fixed):
            plan.notes.append(f"{entry.name}: not the {fixed.get('name')} network asked for; not used for warm start")
            continue
        if config.get("name"):
            changes["model"] = config
        size = meta.get("input_size") or [changes["size"]] * 2
        changes["size"], changes["width"] = int(size[0]), int(size[1]) if int(size[1]) != int(size[0]) else 0
        plan.warm_start, plan.warm_from = str(path), entry.name
        changes["init"] = str(path)
        if not entry.mode.startswith("pretrain"):  # a pretrained encoder's head is fresh: full rate
            changes["lr"] = 3e-3  # gentler on weights that already work
        return


def _same_network(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two model configs build the same tensor shapes (channel counts aside: they follow the data),
    so one's checkpoint can warm-start the other; registry defaults count, a config that fails does not."""
    from core.models.registry import build_model

    def shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        plain = {k: v for k, v in config.items() if k not in ("in_channels", "out_channels")}
        return {k: tuple(t.shape) for k, t in build_model(plain).state_dict().items()}

    try:
        return shapes(a) == shapes(b)
    except ToothSegError:
        return False
