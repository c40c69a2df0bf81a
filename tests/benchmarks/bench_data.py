"""Seconds to index a generated 4000-image STS-like tree (goal <= 1 s warm) and to check it."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from core.data.layouts import load_index
from core.data.qc import check_dataset


def _make_tree(root, n=4000):
    rng = np.random.default_rng(0)
    img = cv2.imencode(".png", rng.integers(0, 255, (64, 128), dtype=np.uint8))[1].tobytes()
    mask = cv2.imencode(".png", (rng.random((64, 128)) > 0.7).astype(np.uint8) * 255)[1].tobytes()
    per = n // 4
    for age in ("A-PXI", "C-PXI"):
        for status in ("Labeled", "Unlabeled"):
            (root / age / status / "Image").mkdir(parents=True)
            if status == "Labeled":
                (root / age / status / "Mask").mkdir()
            for k in range(per):
                pid = f"{age[0]}_{status[0]}_{k:05d}"
                (root / age / status / "Image" / f"{pid}.png").write_bytes(img)
                if status == "Labeled":
                    (root / age / status / "Mask" / f"{pid}_Mask.png").write_bytes(mask)


@pytest.mark.benchmark
def test_index_and_check_4000_images(tmp_path):
    _make_tree(tmp_path)
    t0 = time.perf_counter()
    load_index(tmp_path)
    cold = time.perf_counter() - t0
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        index = load_index(tmp_path)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    report = check_dataset(index)
    check_s = time.perf_counter() - t0
    print(f"\n[data] index 4000-image STS tree: first {cold:.3f} s, warm best {min(times):.3f} s "
          f"(goal <= 1 s); check: {check_s:.2f} s, {len(report.problems)} problems, layout {index.layout}")
    assert len(index) == 4000 and index.layout == "sts2d"
