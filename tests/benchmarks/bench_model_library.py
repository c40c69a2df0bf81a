"""Model library across projects: does a model from an earlier project of the same modality make a better
start for a new project's first Train on my labels than training from scratch?

``tg3k_thyroid`` split by frame id (consecutive ids are frames of one video): the last quarter is held
out as new patients; the first half of the rest is the earlier project (all its labels, Train on my
labels with TOOTHSEG_BENCH_EARLIER_MINUTES, default 3; without the app's cross-validation afterwards), the second half the new project (20 labels
spread over it, its other frames unlabeled). The new project trains once with an empty model library
(scratch) and once with the earlier project's model in it; Dice of the active ONNX model on every
held-out frame, per training seed (TOOTHSEG_BENCH_SEEDS, default "0 1").
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest

from core.data.layouts import load_index
from core.data.project import Project
from core.export.onnx import export_onnx
from core.hitl import auto_train
from core.train.loop import run_training
from tests.benchmarks.bench_background_pretrain import build_folder, holdout_dice

EARLIER_MINUTES = float(os.environ.get("TOOTHSEG_BENCH_EARLIER_MINUTES", "3"))
SEEDS = [int(s) for s in os.environ.get("TOOTHSEG_BENCH_SEEDS", "0 1").split()]
LABELED = 20


def train_on_labels(root, minutes: float | None = None, seed: int = 0):
    """Train on my labels without the cross-validation that follows it in the app (it measures the
    model, it does not change it, and it took 4 min per fold on this machine): plan, train, export,
    register as the active model (which publishes it to the library)."""
    project = Project.open(root)
    index = project.apply(load_index(root))
    auto_train.ensure_splits(project, index, seed=seed)
    plan = auto_train.plan_training(project, index, minutes=minutes, seed=seed)
    run_dir = auto_train.new_run_dir(project)
    run_training(plan.recipe, root, run_dir)
    export = export_onnx(run_dir / "best.safetensors", run_dir / "model.onnx", images=str(root), max_images=2)
    entry = auto_train.register(project, {"run_dir": str(run_dir), "checkpoint": str(run_dir / "best.safetensors"),
                                          "onnx": export["out"], "mode": "finetune"})
    return entry, {"warm_from": plan.warm_from}


@pytest.mark.benchmark
def test_library_warm_start_against_scratch_on_unseen_videos(shared_data, tmp_path, monkeypatch):
    src = shared_data / "tg3k_thyroid"
    names = sorted(p.name for p in (src / "images").iterdir())
    cut = len(names) - len(names) // 4
    rest, held = names[:cut], names[cut:]
    earlier, new = rest[: len(rest) // 2], rest[len(rest) // 2 :]
    labeled = new[:: len(new) // LABELED][:LABELED]
    unlabeled = [n for n in new if n not in labeled]
    library_home = tmp_path / "userdata-library"
    monkeypatch.setenv("TOOTHSEG_USER_DATA", str(library_home))
    t0 = time.perf_counter()
    first = build_folder(src, tmp_path / "earlier", earlier, [])
    entry, outcome = train_on_labels(first, minutes=EARLIER_MINUTES)
    mean, median, _ = holdout_dice(first, src, held)
    print(f"\nearlier project: {len(earlier)} labeled frames (ids {earlier[0][:-4]}-{earlier[-1][:-4]}), "
          f"Train on my labels {EARLIER_MINUTES:g} min -> {entry.name} ({(time.perf_counter() - t0) / 60:.1f} min "
          f"wall); its Dice on the {len(held)} held-out frames: mean {mean:.3f}, median {median:.3f}")
    print(f"new project: {len(labeled)} labels spread over frames {new[0][:-4]}-{new[-1][:-4]}, "
          f"{len(unlabeled)} unlabeled; held out {held[0][:-4]}-{held[-1][:-4]}")
    rows = []
    for seed in SEEDS:
        for arm in ("scratch", "library"):
            # every arm gets its own user-data folder: an empty library, or one holding only the earlier
            # project's model (each arm publishes its own model, which must not warm-start the next one)
            home = tmp_path / f"userdata-{arm}-{seed}"
            if arm == "library":
                shutil.copytree(library_home, home)
            else:
                home.mkdir()
            monkeypatch.setenv("TOOTHSEG_USER_DATA", str(home))
            root = build_folder(src, tmp_path / f"new-{arm}-{seed}", labeled, unlabeled)
            t1 = time.perf_counter()
            _, out = train_on_labels(root, seed=seed)
            seconds = time.perf_counter() - t1
            mean, median, _ = holdout_dice(root, src, held)
            rows.append((arm, mean))
            print(f"  seed {seed} {arm:8s} Train on my labels {seconds:5.1f} s, warm from "
                  f"{out.get('warm_from') or '-'}: Dice on {len(held)} unseen frames mean {mean:.3f}, "
                  f"median {median:.3f}")
    for arm in ("scratch", "library"):
        means = [m for a, m in rows if a == arm]
        print(f"{arm:8s} mean over seeds {np.mean(means):.3f} ({', '.join(f'{m:.3f}' for m in means)}), "
              f"n = {len(held)} frames x {len(means)} seeds")
    assert all(0 <= m <= 1 for _, m in rows)
