"""FDI teeth for a fixed CPU budget: per-tooth Dice and COCO instance mAP on a seeded split of the
visible UFBA-425 images. TOOTHSEG_BENCH_MINUTES sets the training budget (default 8)."""

from __future__ import annotations

import os
import time

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
