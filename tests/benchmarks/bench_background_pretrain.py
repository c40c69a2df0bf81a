"""Background MIM pretraining: does the first Train on my labels gain from it on videos it never saw?

Unseen-videos test on ``tg3k_thyroid``: the last quarter of frame ids (consecutive ids are frames of one
video) are held out as new patients; 20 labels are spread evenly over the rest and the other frames of
the rest are the folder's unlabeled images. Arm "scratch": Train on my labels (the plan, <= 90 s).
Arm "MIM": background pretraining for TOOTHSEG_BENCH_PRETRAIN_MINUTES (default 10; printed apart), then
the same Train on my labels, which warm-starts from it. Dice of the active ONNX model (the masks the
app shows) on every held-out frame, per training seed (TOOTHSEG_BENCH_SEEDS, default "0 1").
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest

from core.data.io import read_image, read_mask
from core.data.project import Project
from core.hitl import background_pretrain
from core.hitl.auto_train import train_on_labels
from core.infer.predictor import load_predictor
from core.metrics import dice

PRETRAIN_MINUTES = float(os.environ.get("TOOTHSEG_BENCH_PRETRAIN_MINUTES", "10"))
SEEDS = [int(s) for s in os.environ.get("TOOTHSEG_BENCH_SEEDS", "0 1").split()]
LABELED = 20


def build_folder(src, dest, labeled: list[str], unlabeled: list[str]):
    for sub in ("images", "masks", "unlabeled"):
        (dest / sub).mkdir(parents=True)
    for name in labeled:
        shutil.copy(src / "images" / name, dest / "images" / name)
        shutil.copy(src / "masks" / name, dest / "masks" / name)
    for name in unlabeled:
        shutil.copy(src / "images" / name, dest / "unlabeled" / name)
    return dest


def holdout_dice(root, src, held: list[str]) -> tuple[float, float, float]:
    project = Project.open(root)
    entry = project.model(project.active_model)
    predictor = load_predictor(project.dir / entry.onnx)
    scores = [dice(predictor.predict(read_image(src / "images" / n)).mask, read_mask(src / "masks" / n))
              for n in held]
    return float(np.mean(scores)), float(np.median(scores)), float(entry.extra.get("train_s") or 0)


@pytest.mark.benchmark
def test_background_pretraining_against_scratch_on_unseen_videos(shared_data, tmp_path):
    src = shared_data / "tg3k_thyroid"
    names = sorted(p.name for p in (src / "images").iterdir())
    cut = len(names) - len(names) // 4
    rest, held = names[:cut], names[cut:]
    labeled = rest[:: len(rest) // LABELED][:LABELED]
    unlabeled = [n for n in rest if n not in labeled]
    print(f"\n{len(names)} frames: {len(held)} held out (ids {held[0][:-4]}-{held[-1][:-4]}, new videos), "
          f"{len(labeled)} labels spread over the other {len(rest)}, {len(unlabeled)} unlabeled")
    pre = tmp_path / "pretrained"
    build_folder(src, pre, labeled, unlabeled)
    t0 = time.perf_counter()
    # normal priority here: the figure is what these minutes of pretraining give (in the app it runs at
    # idle priority, on cores the user leaves free); idle would also slow every later step of this thread
    result = background_pretrain.run(pre, minutes=PRETRAIN_MINUTES, idle=False)
    project = Project.open(pre)
    entry = background_pretrain.register(project, result)
    print(f"background MIM pretraining: {(time.perf_counter() - t0) / 60:.1f} min wall, {result['epochs']} "
          f"epochs, {result['images']} images, val loss {result['best']:.4f} ({entry.name})")
    pretrained_ckpt = project.dir / entry.path
    rows = []
    for seed in SEEDS:
        for arm in ("scratch", "MIM"):
            root = tmp_path / f"{arm}-{seed}"
            build_folder(src, root, labeled, unlabeled)
            if arm == "MIM":  # the same pretraining, as the app registered it in this folder's project
                project = Project.open(root)
                d = background_pretrain.run_dir(project)
                shutil.copytree(pretrained_ckpt.parent, d)
                background_pretrain.register(project, result)
            t1 = time.perf_counter()
            model, outcome = train_on_labels(root, seed=seed)
            seconds = time.perf_counter() - t1
            mean, median, train_s = holdout_dice(root, src, held)
            rows.append((arm, seed, mean, median, seconds, outcome.get("warm_from", "")))
            print(f"  seed {seed} {arm:8s} Train on my labels {seconds:5.1f} s (training {train_s:.0f} s), "
                  f"warm from {outcome.get('warm_from') or '-':15s} Dice on {len(held)} unseen frames: "
                  f"mean {mean:.3f}, median {median:.3f}")
    for arm in ("scratch", "MIM"):
        means = [r[2] for r in rows if r[0] == arm]
        print(f"{arm:8s} mean over seeds {np.mean(means):.3f} ({', '.join(f'{m:.3f}' for m in means)}), n = "
              f"{len(held)} frames x {len(means)} seeds")
    assert all(0 <= r[2] <= 1 for r in rows)
