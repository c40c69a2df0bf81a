"""Train on my labels on an FDI folder (issue 20, ADR 0019 addendum): 40 UFBA-425 panoramics (every 7th
of the sorted images, from the 7th), the button's own plan (numbered teeth, its default budget unless
TOOTHSEG_BENCH_MINUTES), seed 0; then the per-pixel plan the button trained before (``teeth=False``) on
a copy of the folder with the same split. Prints validation per-tooth Dice with n, groups and interval,
identification accuracy, mAP@.5, process CPU seconds and wall seconds to the active model, and the
exported model's prediction time (ONNX Runtime, 1 thread) against PyTorch on a 512 px panoramic."""

from __future__ import annotations

import os
import shutil
import time

import pytest


@pytest.mark.benchmark
def test_train_on_labels_on_an_fdi_folder(shared_data, tmp_path):
    import cv2

    from core.data.project import Project
    from core.hitl.auto_train import model_path, train_on_labels
    from core.infer.backends import OnnxBackend
    from core.infer.teeth import TeethInstancePredictor
    from core.teeth.predictor import TeethPredictor

    src = shared_data / "ufba425_teeth"
    root = tmp_path / "fdi40"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for image in sorted((src / "images").glob("*.jpg"))[6::7][:40]:
        shutil.copy(image, root / "images")
        shutil.copy(src / "masks" / f"{image.stem}.png", root / "masks")
    minutes = float(os.environ["TOOTHSEG_BENCH_MINUTES"]) if "TOOTHSEG_BENCH_MINUTES" in os.environ else None
    t, w = time.process_time(), time.monotonic()
    entry, out = train_on_labels(root, minutes=minutes, seed=0)
    cpu, wall = time.process_time() - t, time.monotonic() - w
    assert entry.mode == "teeth-instances"
    print(f"\n[fdi button] numbered teeth, {out['recipe']['max_cpu_minutes']:g} CPU-min: val per-tooth Dice "
          f"{out['val_dice']:.3f} {out['val_ci']} (n = {out['val_n']}, {out['val_groups']} groups), identification "
          f"{out['id_accuracy']}, mAP@.5 {out['map50']:.3f}; {cpu:.1f} CPU-s, {wall:.0f} s wall to the active model")
    run = model_path(Project.open(root), entry).parent
    image = cv2.imread(str(sorted((root / "images").glob("*.jpg"))[0]), cv2.IMREAD_GRAYSCALE)
    for name, predictor in (("ONNX contract", TeethInstancePredictor(OnnxBackend(run / "model.onnx", threads=1))),
                            ("PyTorch bf16", TeethPredictor(run / "last.pt", threads=1))):
        predictor.predict(image)
        t = time.process_time()
        teeth = [len(predictor.predict(image).instances) for _ in range(3)]
        print(f"[fdi button] {name}: {(time.process_time() - t) / 3:.2f} CPU-s per 512 px panoramic, {teeth[0]} teeth")
    before = tmp_path / "fdi40-per-pixel"
    shutil.copytree(root, before, ignore=shutil.ignore_patterns("*.lock"))
    t, w = time.process_time(), time.monotonic()
    old, out2 = train_on_labels(before, minutes=minutes, seed=0, cv=False, teeth=False)
    print(f"[fdi button] before (per-pixel plan, {out2['recipe']['model']['name']}): val per-tooth Dice "
          f"{out2['val_dice']:.3f} {out2['val_ci']} (n = {out2['val_n']}); {time.process_time() - t:.1f} CPU-s, "
          f"{time.monotonic() - w:.0f} s wall")
