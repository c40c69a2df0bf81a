"""Predicting a folder: masks (PNG), overlays and stats.csv, with decoding overlapped with inference.

A reader thread decodes the next image while the current one runs through the network. A file
that cannot be read or predicted is reported in the summary and skipped; a model that fails
(ModelFileError) stops the run with that one message. On cancel, what was written stays (with a
stats.csv for it) and CancelledError is raised.
"""

from __future__ import annotations

import csv
import io
import math
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.data.atomic import atomic_write_bytes
from core.data.io import MaskEncoding, is_image_file, read_image, to_uint8, write_mask
from core.errors import ImageReadError, ModelFileError, ToothSegError
from core.infer.predictor import SegmentationPredictor, load_predictor
from core.infer.quality import assess
from core.jobs import CancelToken, Progress, no_progress

STATS_COLUMNS = ("filename", "area_frac", "cy_rel", "cx_rel", "plausible", "quality")


def list_inputs(inputs: str | Path | Sequence[str | Path], exclude: Path | None = None) -> list[tuple[Path, str]]:
    """(path, output name) for a file, a folder (recursively) or a list of files."""
    if isinstance(inputs, (str, Path)):
        root = Path(inputs)
        if root.is_file():
            return [(root, root.stem)]
        if not root.is_dir():
            raise ImageReadError(f"{root}: no such file or folder")
        excl = exclude.resolve() if exclude is not None else None
        files = [p for p in sorted(root.rglob("*")) if p.is_file() and is_image_file(p)
                 and not (excl is not None and excl in p.resolve().parents)]
        return [(p, "__".join(p.relative_to(root).with_suffix("").parts)) for p in files]
    return [(Path(p), Path(p).stem) for p in inputs]


def overlay(image: np.ndarray, mask: np.ndarray, classes: list[dict[str, Any]], alpha: float = 0.45) -> np.ndarray:
    """BGR picture of the image with each class tinted in its colour and outlined."""
    base = cv2.cvtColor(to_uint8(image), cv2.COLOR_GRAY2BGR)
    out = base.copy()
    for cls in classes:
        value = int(cls.get("value", cls["id"]))
        if value == 0:
            continue
        region = mask == value
        if not region.any():
            continue
        r, g, b = (int(c) for c in cls.get("color", (255, 0, 0)))
        out[region] = ((1 - alpha) * base[region] + alpha * np.array([b, g, r])).astype(np.uint8)
        contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (b, g, r), 1)
    return out


def _reader(items: list[tuple[Path, str]], out: queue.Queue, stop: threading.Event) -> None:
    for path, name in items:
        if stop.is_set():
            break
        try:
            out.put((path, name, read_image(path), None))
        except Exception as exc:  # reported per file by the consumer
            out.put((path, name, None, exc))
    out.put(None)


def _decoded(items: list[tuple[Path, str]], stop: threading.Event) -> Iterator[tuple]:
    q: queue.Queue = queue.Queue(maxsize=2)
    thread = threading.Thread(target=_reader, args=(items, q, stop), name="toothseg-reader", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not None:
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a reader waiting on a full queue
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass


def predict_folder(
    model_path: str | Path | SegmentationPredictor,
    inputs: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    overlays: bool = True,
    backend: str = "auto",
    quality: bool = True,
) -> dict[str, Any]:
    """Predict every image; returns {"images", "written", "failed": [{"file", "error"}], "provider", ...}."""
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    out_dir = Path(out_dir)
    predictor = load_predictor(model_path, backend) if isinstance(model_path, (str, Path)) else model_path
    items = list_inputs(inputs, exclude=out_dir)
    binary = int(predictor.meta["architecture"].get("out_channels", 1)) == 1
    encoding = MaskEncoding("binary255" if binary else "labelmap")
    rows: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    start = time.perf_counter()
    progress(0, len(items), f"predicting with {predictor.provider}")
    stop = threading.Event()
    finished = False
    try:
        for done, (path, name, image, error) in enumerate(_decoded(items, stop), start=1):
            cancel.raise_if_cancelled("prediction")
            try:
                if error is not None:
                    raise error
                # quality: the estimated Dice (core.infer.quality); no extra pass for a v2 estimate
                pred = assess(predictor, image)[0] if quality else predictor.predict(image)
                write_mask(out_dir / "masks" / f"{name}.png", pred.mask, encoding)
                if overlays:
                    ok, buf = cv2.imencode(".png", overlay(image, pred.mask, predictor.meta["classes"]))
                    if ok:
                        atomic_write_bytes(out_dir / "overlays" / f"{name}.png", buf.tobytes())
                rows.append({"filename": path.name, **pred.stats})
            except ModelFileError:
                raise  # the model, not this image, is at fault: one message, not one per image
            except (ToothSegError, ValueError, OSError, cv2.error) as exc:
                failed.append({"file": str(path), "error": str(exc)})
            progress(done, len(items), path.name)
        finished = True
    finally:
        stop.set()
        if rows or (items and finished):
            _write_stats(out_dir / "stats.csv", rows)
    return {"images": len(items), "written": len(rows), "failed": failed, "provider": predictor.provider,
            "out": str(out_dir), "stats_csv": str(out_dir / "stats.csv"),
            "seconds": round(time.perf_counter() - start, 3)}


def _write_stats(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=STATS_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else
                             (f"{v:.6f}" if isinstance(v, float) else v)) for k, v in row.items()})
    atomic_write_bytes(path, buf.getvalue().encode("utf-8", "surrogateescape"))  # non-UTF-8 names as on disk
