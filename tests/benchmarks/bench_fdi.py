"""FDI teeth for a fixed CPU budget: per-tooth Dice and COCO instance mAP on a seeded split of the
visible UFBA-425 images. TOOTHSEG_BENCH_MINUTES sets the training budget (default 8)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core.data.classes import fdi_classes
from core.infer.predictor import load_predictor
from core.interop.instance_eval import evaluate_instances
from core.train.data import open_dataset
from core.train.evaluate import evaluate
from core.train.loop import run_training
from core.train.recipe import default_recipe


@pytest.mark.benchmark
def test_fdi_per_tooth_dice_and_map(shared_data, tmp_path):
    minutes = float(os.environ.get("TOOTHSEG_BENCH_MINUTES", "8"))
    threads = int(os.environ.get("TOOTHSEG_BENCH_THREADS", "1"))
    data = open_dataset(shared_data / "ufba425_teeth", split_seed=0)
    recipe = default_recipe("finetune").updated(
        labels="multiclass", size=256, batch_size=4, lr=3e-3, epochs=1000, max_minutes=minutes,
        model={"name": "unet", "base_channels": 16, "norm": "batch"}, threads=threads, early_stop_patience=0)
    t0 = time.perf_counter()
    summary = run_training(recipe, data, tmp_path / "run")
    train_s = time.perf_counter() - t0
    ckpt = tmp_path / "run" / "best.json"
    report = evaluate(ckpt, data, split="test")
    test = [s for s in data.index if s.has_mask and s.split == "test"]
    inst = evaluate_instances(load_predictor(ckpt), test, fdi_classes())
    print(f"\n[fdi] {minutes:g} min budget ({threads} thread(s)), trained {train_s:.0f} s, "
          f"{summary.get('epochs', '?')} epochs; test images {report['n']}")
    print(f"[fdi] mean Dice over teeth {report['dice']:.4f}, IoU {report['iou']:.4f}; "
          f"mAP@[.5:.95] {inst['map']:.4f}, mAP@.5 {inst['map50']:.4f}, mAR@100 {inst['mar100']:.4f}")
    print("[fdi] per-tooth Dice / AP:")
    for c in fdi_classes():
        d = report["per_class"][c.name]["dice"]
        ap = inst["per_class"].get(str(c.value), float("nan"))
        print(f"    {c.name}: Dice {d if d is not None else float('nan'):.3f}  AP {ap:.3f}")
    assert report["n"] == len(test) > 0


@pytest.mark.benchmark
def test_fdi_instance_recipe_curve_and_caries_panoramics(shared_data, tmp_path):
    """The numbered-teeth recipe (core.teeth, ADR 0019): one run on a seeded 80/20 split by panoramic,
    budget in process CPU time (TOOTHSEG_BENCH_MINUTES, default 30; 1 thread unless
    TOOTHSEG_BENCH_THREADS), weight-averaged snapshots at 10 / 30 / 60 CPU-minutes scored on the 64
    held-out panoramics; then the caries panoramics (2943x1435) through the sliding window.
    TOOTHSEG_FDI_RUN=<dir> scores the snapshots of a run already trained (by ``train_teeth``) there.
    Measured (1 thread, load 8-12, n = 64 held-out panoramics, 1,768 teeth): per-tooth Dice / mAP@.5 /
    identification 0.695 / 0.808 / 0.833 at 10 CPU-min, 0.805 / 0.931 / 0.942 at 30, 0.818 / 0.939 / 0.948
    at 60 (ADR 0019)."""
    import cv2
    import numpy as np

    from core.teeth.evaluate import evaluate_teeth
    from core.teeth.predictor import TeethPredictor
    from core.teeth.recipe import TeethRecipe, holdout_split, labeled_samples, train_teeth
    from core.teeth.targets import FG

    minutes = float(os.environ.get("TOOTHSEG_BENCH_MINUTES", "30"))
    threads = int(os.environ.get("TOOTHSEG_BENCH_THREADS", "1"))
    root = shared_data / "ufba425_teeth"
    stems = [p.stem for p in sorted((root / "images").glob("*.jpg"))]
    train, test = holdout_split(stems)
    run = os.environ.get("TOOTHSEG_FDI_RUN")
    out = Path(run) if run else tmp_path / "teeth"
    if not run:
        recipe = TeethRecipe(max_cpu_minutes=minutes, threads=threads,
                             snapshots=tuple(m for m in (10.0, 30.0, 60.0) if m < minutes))
        summary = train_teeth(labeled_samples(root, train), out, recipe, log=lambda _s: None)
        print(f"\n[fdi-inst] trained {summary['steps']} steps, {summary['images_seen']} crops, "
              f"{summary['cpu_minutes']} CPU-min ({threads} thread(s))")
    snaps = sorted(out.glob("snapshot-*.pt"), key=lambda p: float(p.stem.split("-")[1]))
    assert snaps, f"no snapshots in {out}"
    best = None
    for snap in snaps:
        predictor = TeethPredictor(snap, threads=threads)
        train_stems = set(predictor.info.get("train_stems", train))
        assert not train_stems & set(test), "a held-out panoramic was trained on"
        r = evaluate_teeth(predictor, root, test)
        print(f"\n[fdi-inst] {snap.stem}: {predictor.info.get('cpu_minutes')} CPU-min, {predictor.info.get('steps')} "
              f"steps; n = {r['n']} held-out panoramics, {r['true_teeth']} teeth")
        print(f"[fdi-inst]   mean per-tooth Dice {r['dice']:.4f}; mAP@[.5:.95] {r['map']:.4f}, mAP@.5 "
              f"{r['map50']:.4f}; instance Dice {r['instance_dice']}, identification accuracy "
              f"{r['identification_accuracy']}, detection recall {r['detection_recall']}, precision "
              f"{r['detection_precision']}; {r['cpu_s_per_image']:.2f} CPU-s per panoramic")
        best = predictor
    caries = sorted((shared_data / "mlua_panoramic_caries" / "images").glob("*.png"))
    cpu, wall, seams, teeth = [], [], [], []
    for path in caries:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        c0, w0 = time.process_time(), time.perf_counter()
        pred = best.predict(image)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        teeth.append(len(pred.instances))
        if len(seams) < 5:                         # tiles vs one pass over the whole canvas
            tiled, _ = best.outputs(image)
            whole, _ = best.outputs(image, window=4096)
            diff = np.abs(tiled[FG] - whole[FG])
            seams.append((float(diff.max()), float(diff.mean())))
        assert pred.mask.shape == image.shape and pred.tiles > 1
    print(f"\n[fdi-inst] caries panoramics (2943x1435, n = {len(caries)}): {pred.tiles} tiles at "
          f"{pred.working[1]}x{pred.working[0]}, {np.mean(cpu):.2f} CPU-s / {np.mean(wall):.2f} s wall per "
          f"panoramic; teeth found per panoramic median {np.median(teeth):.0f} (range {min(teeth)}-{max(teeth)}); "
          f"|tiled - whole-canvas| teeth probability: largest {max(m for m, _ in seams):.4f}, mean "
          f"{np.mean([a for _, a in seams]):.5f} (n = {len(seams)})")
