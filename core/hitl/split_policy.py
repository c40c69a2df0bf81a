"""How Train on my labels splits a project's labels: the ratios by project size, and splits computed once
and kept in the project file, so every run (and the previous model) is scored on the same images."""

from __future__ import annotations

from core.data.project import Project
from core.data.sample import SampleIndex
from core.data.splits import DEFAULT_RATIOS, make_splits

SMALL_SET = 50          # below this many labels no test split is held out (see split_ratios)
SMALL_SET_RATIOS = (0.85, 0.15, 0.0)


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


def ensure_splits(project: Project, index: SampleIndex, seed: int = 0) -> int:
    """Give every training label a persistent split, so each run (and the previous model) is scored on
    the same validation images; returns how many samples got a new split. Saves the project."""
    return apply_splits(project, index, compute_splits(project, index, seed), seed)
