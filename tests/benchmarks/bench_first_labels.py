"""The first 20 labels (issue 17): Train on my labels with LiteMedSAM's frozen encoder + a head (the plan's
choice for few labels on a CPU, ADR 0015) against the small U-Net the plan trained before.

Thyroid: ``tg3k_thyroid``, last quarter of frame ids held out as unseen videos (134 frames), 20 labels
spread over the rest. Teeth: ``ufba425_teeth`` as binary teeth (FDI label map > 0), last quarter of the
panoramics held out (79, each a different patient), 20 labels spread over the rest. Each arm is the whole
button (plan, train, export ONNX, register, active) without the cross-validation that follows in the
background (``cv=False``); wall seconds to the active model, Dice of the active ONNX model (the masks the
app shows) on every held-out image. TOOTHSEG_BENCH_SEEDS (default "0 1"), TOOTHSEG_BENCH_ARMS (default
"head unet"), TOOTHSEG_BENCH_DATASETS (default "thyroid teeth"), TOOTHSEG_BENCH_BACKGROUND (default "1").
TOOTHSEG_BENCH_ALL=1 adds the all-labels figure within TOOTHSEG_BENCH_CPU_MINUTES CPU-minutes (default 20; below;
measured in ADR 0017's addendum). Seed 0, one thread: U-Net 16 at the native side ("full") thyroid 0.746 (n = 134),
binary teeth 0.890 (n = 79); the plan's choice with 20 CPU-minutes on 404 thyroid labels ("plan": the LiteMedSAM head,
600 cosine steps, ADR 0015's fourth addendum) thyroid 0.758 (median 0.803, n = 134), button 19.3 CPU-min (23.1 min
wall; 79.8 CPU-s of it the head's steps, most of the rest embedding ~690 images); on 239 teeth labels (the head too)
binary teeth 0.896 (median 0.913, n = 79), button 11.5 CPU-min (11.4 min wall). Goals 0.85 / 0.93 not met.
20 labels, head arm, seeds 0 / 1 (ADR 0015 seventh addendum: 8 fixed views per label, validation images train):
thyroid 0.761 / 0.762 (median 0.773 / 0.773, n = 134; 0.732 / 0.725 before), 78.4 / 72.3 s to the active model
(54.0 / 47.1 CPU-s); binary teeth 0.886 / 0.888 (n = 79; 0.881 / 0.887 before), 81.6 / 44.0 s; the background
embedding before it 320 inputs, 334 / 320 CPU-s (thyroid), printed apart.
TOOTHSEG_BENCH_ALL=1 also trains the numbered-teeth recipe on the binary teeth labels (not the plan's choice; ADR 0017,
stop 32): union Dice on the 79 unseen panoramics 0.905 / 0.917 (median 0.924) at 10 / 20 CPU-minutes (seed 0, bf16;
1,087 steps); a 30-minute probe run reached 0.920.
"""

from __future__ import annotations

import os
import shutil
import time

import cv2
import numpy as np
import pytest

from core.data.io import read_image, read_mask
from core.data.project import Project
from core.hitl import auto_train
from core.infer.predictor import load_predictor
from core.metrics import dice

SEEDS = [int(s) for s in os.environ.get("TOOTHSEG_BENCH_SEEDS", "0 1").split()]
ARMS = os.environ.get("TOOTHSEG_BENCH_ARMS", "head unet").split()
DATASETS = os.environ.get("TOOTHSEG_BENCH_DATASETS", "thyroid teeth").split()
# the head's arm first lets the background job embed the labels (as it does while they are drawn; its
# minutes are printed apart), so the button's time is the head's; "0" times the button embedding them
BACKGROUND = os.environ.get("TOOTHSEG_BENCH_BACKGROUND", "1") == "1"
LABELED = 20


def _pairs(shared_data, dataset: str, dest):
    """(image path, mask path) per image, sorted by name; teeth masks made binary under ``dest``."""
    if dataset == "thyroid":
        src = shared_data / "tg3k_thyroid"
        return [(p, src / "masks" / p.name) for p in sorted((src / "images").iterdir())]
    src = shared_data / "ufba425_teeth"
    (dest / "binary").mkdir(parents=True, exist_ok=True)
    out = []
    for p in sorted((src / "images").iterdir()):
        mask = dest / "binary" / f"{p.stem}.png"
        if not mask.exists():
            cv2.imwrite(str(mask), ((read_mask(src / "masks" / f"{p.stem}.png") > 0) * 255).astype(np.uint8))
        out.append((p, mask))
    return out


def _unseen_quarter(pairs):
    """(the user's images, the held-out last quarter by id: other clips / patients)."""
    cut = len(pairs) - len(pairs) // 4
    return pairs[:cut], pairs[cut:]


def _folder(root, pairs):
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for image, mask in pairs:
        shutil.copy(image, root / "images" / image.name)
        shutil.copy(mask, root / "masks" / f"{image.stem}{mask.suffix}")
    return root


@pytest.mark.benchmark
@pytest.mark.parametrize("dataset", DATASETS)
def test_first_twenty_labels_head_against_unet(dataset, shared_data, tmp_path, monkeypatch):
    import torch

    torch.set_num_threads(1)
    rest, held = _unseen_quarter(_pairs(shared_data, dataset, tmp_path))
    labeled = rest[:: len(rest) // LABELED][:LABELED]
    print(f"\n{dataset}: {len(held)} held out ({held[0][0].stem}-{held[-1][0].stem}), {len(labeled)} labels "
          f"spread over the other {len(rest)}; seeds {SEEDS}")
    from core.data.project import user_data_dir
    from core.prompt.store import locate

    speed = user_data_dir() / "speed.json"  # the machine's measured speed choices, as after a first training
    monkeypatch.setenv("TOOTHSEG_PROMPT_MODEL_DIR", str(locate()[0]))
    rows = []
    for seed in SEEDS:
        for arm in ARMS:
            home = tmp_path / f"userdata-{arm}-{seed}"  # an empty model library: no warm start from elsewhere
            home.mkdir()
            if speed.exists():
                shutil.copy(speed, home / "speed.json")
            monkeypatch.setenv("TOOTHSEG_USER_DATA", str(home))
            root = _folder(tmp_path / f"{arm}-{seed}", labeled)
            background = ""
            if arm == "head" and BACKGROUND:  # what the background job did while the labels were drawn
                from core.hitl.background_embed import LabelEmbedder

                b0, bc = time.perf_counter(), time.process_time()
                done = LabelEmbedder().update(root)
                background = (f"; background embedding before it: {done.get('embedded')} images, "
                              f"{time.perf_counter() - b0:.1f} s wall, {time.process_time() - bc:.1f} CPU-s")
            t0, c0 = time.perf_counter(), time.process_time()
            entry, outcome = auto_train.train_on_labels(root, seed=seed, cv=False, foundation=arm == "head")
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            predictor = load_predictor(Project.open(root).dir / entry.onnx)
            t1 = time.perf_counter()
            scores = [dice(predictor.predict(read_image(i)).mask, read_mask(m)) for i, m in held]
            per_image = (time.perf_counter() - t1) / len(held)
            model = outcome["recipe"]["model"]["name"]
            rows.append((arm, seed, float(np.mean(scores))))
            print(f"  seed {seed} {arm:4s} ({model} at {outcome['recipe']['size']} px): Train on my labels "
                  f"{wall:5.1f} s to the active model ({cpu:.1f} CPU-s; active_s {outcome.get('active_s')}, training "
                  f"{outcome.get('train_s')} s{background}); Dice on {len(held)} unseen: mean {np.mean(scores):.3f}, median "
                  f"{np.median(scores):.3f}; ONNX predict {per_image:.2f} s/image", flush=True)
    for arm in ARMS:
        means = [m for a, _, m in rows if a == arm]
        print(f"{dataset} {arm}: mean over seeds {np.mean(means):.3f} ({', '.join(f'{m:.3f}' for m in means)}), "
              f"n = {len(held)} images x {len(means)} seeds")
    assert all(0 <= m <= 1 for *_, m in rows)


# All labels within a CPU budget (issue 17: thyroid >= 0.85, teeth >= 0.93 on the same unseen images). Off unless
# TOOTHSEG_BENCH_ALL=1; TOOTHSEG_BENCH_CPU_MINUTES (default 20) is the training budget in this process's CPU time
# (``cpu_budget``: one thread, so CPU minutes are what one free core gives), TOOTHSEG_BENCH_ALL_ARMS (default
# "full"): "plan" = the plan as it chooses, "full" = U-Net 16 at the images' native side (thyroid 256 px; teeth
# 512 px with 320 px foreground-aware crops, as the numbered-teeth recipe's crops), "head" = the LiteMedSAM head.
ALL = os.environ.get("TOOTHSEG_BENCH_ALL") == "1"
CPU_MINUTES = float(os.environ.get("TOOTHSEG_BENCH_CPU_MINUTES", "20"))
ALL_ARMS = os.environ.get("TOOTHSEG_BENCH_ALL_ARMS", "full").split()
NATIVE = {"thyroid": (256, 0), "teeth": (512, 320)}


def _all_label_overrides(arm: str, dataset: str) -> dict:
    side, crop = NATIVE[dataset]
    if arm == "plan":   # from 404 labels and 20 CPU-min: the LiteMedSAM head (plan.embedding_fits)
        return {}
    if arm == "full":
        return {"foundation": False, "model": {"name": "unet", "base_channels": 16, "norm": "batch"},
                "size": side, "crop": crop}
    if arm == "head":   # embeddings are memoised per input: no augmentation (flips only), as the few-label plan
        return {"foundation": True, "augment": False, "max_steps": 0}
    raise ValueError(f"unknown arm {arm!r}")


@pytest.mark.benchmark
@pytest.mark.skipif(not ALL, reason="set TOOTHSEG_BENCH_ALL=1 (20 CPU-minutes per arm and dataset)")
@pytest.mark.parametrize("dataset", DATASETS)
def test_all_labels_within_cpu_minutes(dataset, shared_data, tmp_path, monkeypatch):
    import torch

    torch.set_num_threads(1)
    rest, held = _unseen_quarter(_pairs(shared_data, dataset, tmp_path))
    seed = SEEDS[0]
    print(f"\n{dataset}: {len(held)} held out ({held[0][0].stem}-{held[-1][0].stem}), all {len(rest)} others "
          f"labeled; training budget {CPU_MINUTES:g} CPU-min, one thread, seed {seed}")
    from core.data.project import user_data_dir
    from core.prompt.store import locate

    speed = user_data_dir() / "speed.json"
    monkeypatch.setenv("TOOTHSEG_PROMPT_MODEL_DIR", str(locate()[0]))
    for arm in ALL_ARMS:
        home = tmp_path / f"userdata-all-{arm}"
        home.mkdir()
        if speed.exists():
            shutil.copy(speed, home / "speed.json")
        monkeypatch.setenv("TOOTHSEG_USER_DATA", str(home))
        root = _folder(tmp_path / f"all-{arm}", rest)
        t0, c0 = time.perf_counter(), time.process_time()
        entry, outcome = auto_train.train_on_labels(root, minutes=CPU_MINUTES, seed=seed, cv=False, cpu_budget=True,
                                                    **_all_label_overrides(arm, dataset))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        predictor = load_predictor(Project.open(root).dir / entry.onnx)
        scores = [dice(predictor.predict(read_image(i)).mask, read_mask(m)) for i, m in held]
        r, run = outcome["recipe"], outcome["training"]
        print(f"  {arm:4s} ({r['model']['name']} {r['model'].get('base_channels')} ch at {r['size']} px, crop "
              f"{r['crop']}, augment {r['augment']}, {r['schedule']} lr, {run.get('epochs')} epochs / {run.get('steps')} steps, "
              f"stopped: {run.get('stopped')}, training {run.get('elapsed_s')} CPU-s): button {cpu / 60:.1f} CPU-min "
              f"({wall / 60:.1f} min wall), val Dice {outcome.get('val_dice')}; Dice on {len(held)} unseen: mean "
              f"{np.mean(scores):.3f}, median {np.median(scores):.3f}", flush=True)
        assert 0 <= np.mean(scores) <= 1


@pytest.mark.benchmark
@pytest.mark.skipif(not ALL, reason="set TOOTHSEG_BENCH_ALL=1 (TOOTHSEG_BENCH_CPU_MINUTES CPU-minutes of training)")
def test_binary_teeth_through_the_numbered_teeth_recipe(shared_data, tmp_path):
    """The numbered-teeth recipe (ADR 0019: coordinate channels, crops around the teeth, EMA, bf16 where native)
    trained on the binary labels: only its teeth and core channels learn (binary label values are no FDI number,
    so quadrant and position are ignored). Union-of-teeth Dice of its teeth channel on the unseen panoramics at
    each CPU-minute snapshot, against the plan's 0.896 (ADR 0015 fourth addendum). Not in the product's plan."""
    import torch

    from core.teeth.predictor import TeethPredictor
    from core.teeth.recipe import TeethRecipe, labeled_samples, train_teeth

    torch.set_num_threads(1)
    rest, held = _unseen_quarter(_pairs(shared_data, "teeth", tmp_path))
    root = _folder(tmp_path / "binary-teeth", rest)
    marks = tuple(m for m in (10.0, 20.0) if m < CPU_MINUTES)
    recipe = TeethRecipe(max_cpu_minutes=CPU_MINUTES, threads=1, seed=SEEDS[0], snapshots=marks)
    summary = train_teeth(labeled_samples(root), tmp_path / "run", recipe, log=lambda _s: None)
    print(f"\nbinary teeth, {len(rest)} labels, teeth recipe {summary['steps']} steps in {summary['cpu_minutes']} "
          f"CPU-min; unseen n = {len(held)} panoramics")
    for name in [*(f"snapshot-{m:g}.pt" for m in marks), "last.pt"]:
        predictor = TeethPredictor(tmp_path / "run" / name)
        scores = [dice(predictor.predict(read_image(i)).probabilities[0] > 0.5, read_mask(m) > 0) for i, m in held]
        print(f"  {name}: union Dice mean {np.mean(scores):.3f}, median {np.median(scores):.3f}", flush=True)
        assert 0 <= np.mean(scores) <= 1
