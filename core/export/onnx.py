"""Checkpoint -> ONNX with metadata, a numeric parity check on real images, and optional int8.

Nothing is written unless the exported graph reproduces PyTorch's logits on real project images
within ``tolerance``: the bytes are checked in memory first, then written atomically.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from core.data.atomic import atomic_write_bytes
from core.data.io import read_image
from core.errors import ModelFileError
from core.export.graph import INPUT_NAME, export_graph
from core.export.quantize import quantize_int8
from core.export.samples import collect_samples, network_input
from core.infer.backends import OnnxBackend, TorchBackend
from core.infer.predictor import SegmentationPredictor
from core.jobs import CancelToken, Progress, no_progress
from core.metrics import dice
from core.models.checkpoint import load_checkpoint, read_sidecar
from core.models.describe import inference_meta, to_props

TOLERANCE = 1e-4
ImageSource = str | Path | Sequence[str | Path]


def with_metadata(model_bytes: bytes, meta: dict[str, Any]) -> bytes:
    proto = onnx.load_model_from_string(model_bytes)
    del proto.metadata_props[:]
    for key, value in to_props(meta).items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "ToothSeg Studio"
    proto.producer_version = str(meta.get("app_version", ""))
    return proto.SerializeToString()


def int8_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".int8.onnx")


def _median_ms(fn, x: np.ndarray, repeats: int = 5) -> float:
    fn(x)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times)


def parity_check(torch_backend: TorchBackend, onnx_backend: OnnxBackend,
                 inputs: list[np.ndarray]) -> tuple[float, float]:
    """(max |ONNX - PyTorch|, the logits' size) over every input, one image per run plus one odd-sized crop.
    The size (largest |logit|, at least 1) scales the tolerance: float32 rounding grows with the values, and
    a U-Net stopped after a few steps (BatchNorm statistics not settled) has logits of ~3.6e4, whose graphs
    differed by 0.047 -- 1.3e-6 of them -- so Train on my labels refused to export it."""
    worst, scale = 0.0, 1.0
    odd = inputs[0][:, : max(inputs[0].shape[1] - 13, 8), : max(inputs[0].shape[2] - 7, 8)]
    for x in [*inputs, odd]:
        ref = torch_backend.forward(x[None])
        got = onnx_backend.forward(x[None])
        if got.shape != ref.shape:
            raise ModelFileError(f"exported graph returned shape {got.shape}, PyTorch {ref.shape}")
        worst = max(worst, float(np.abs(got - ref).max()))
        scale = max(scale, float(np.abs(ref).max()))
    return worst, scale


def export_onnx(
    checkpoint: str | Path,
    out: str | Path,
    images: ImageSource | None = None,
    int8: bool = False,
    calibration: ImageSource | None = None,
    policy: str | None = None,
    overlap: float | None = None,
    size: list[int] | None = None,
    tolerance: float = TOLERANCE,
    max_images: int = 8,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """Export ``checkpoint`` to ``out`` (and ``<stem>.int8.onnx`` with ``int8``); returns a report.

    Parity images come from ``images``, else ``calibration``, else the checkpoint's ``data_root``.
    """
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    out = Path(out)
    meta = inference_meta(read_sidecar(checkpoint), mode=policy, overlap=overlap, size=size)  # checked first
    model, sidecar = load_checkpoint(checkpoint)
    source = images or calibration or sidecar.get("data_root")
    if not source:
        raise ModelFileError("the parity check needs real images: pass --images DIR (or --calibration DIR)")
    pairs = collect_samples(source, min(max_images, int(getattr(model, "parity_images", max_images))))
    h, w = meta["input_policy"]["size"]
    norm = meta["normalization"]
    inputs = [network_input(p, (h, w), norm["mean"], norm["std"]) for p, _ in pairs]
    progress(1, 4, "exporting graph")
    graph = export_graph(model, torch.from_numpy(inputs[0][None]))
    cancel.raise_if_cancelled("export")
    progress(2, 4, "checking parity on real images")
    torch_backend = TorchBackend(model, meta)
    candidate = OnnxBackend(with_metadata(graph, meta), name=out.name)
    max_diff, scale = parity_check(torch_backend, candidate, inputs)
    # a model may declare a looser bound (a ViT encoder inside, ADR 0015), and fewer timing repeats
    tolerance = max(tolerance, float(getattr(model, "parity_tolerance", 0.0)))
    repeats = int(getattr(model, "timing_repeats", 5))
    if not max_diff <= tolerance * scale:
        raise ModelFileError(
            f"exported model disagrees with PyTorch by {max_diff:.3g} (> {tolerance:g} x the logits' size "
            f"{scale:.3g}) on real images; "
            f"{out.name} was not written"
        )
    meta["parity"] = {"max_abs_diff": max_diff, "images": len(inputs), "tolerance": tolerance, "logit_scale": scale}
    fp32 = with_metadata(graph, meta)
    report: dict[str, Any] = {
        "out": str(out), "max_abs_diff": max_diff, "parity_images": len(inputs),
        "torch_ms": _median_ms(torch_backend.forward, inputs[0][None], repeats),
        "onnx_ms": _median_ms(candidate.forward, inputs[0][None], repeats),
        "provider": candidate.provider, "input_policy": meta["input_policy"],
    }
    cancel.raise_if_cancelled("export")
    atomic_write_bytes(out, fp32)
    if int8:
        progress(3, 4, "int8 quantisation")
        report.update(_export_int8(fp32, meta, out, calibration or source, source, max_images, cancel))
    progress(4, 4, "done")
    return report


def _export_int8(fp32: bytes, meta: dict[str, Any], out: Path, calibration: ImageSource,
                 validation: ImageSource, max_images: int, cancel: CancelToken) -> dict[str, Any]:
    h, w = meta["input_policy"]["size"]
    norm = meta["normalization"]
    calib_pairs = collect_samples(calibration, max(max_images, 16))
    calib = [network_input(p, (h, w), norm["mean"], norm["std"]) for p, _ in calib_pairs]
    quantized = quantize_int8(fp32, calib, INPUT_NAME)
    cancel.raise_if_cancelled("int8 export")
    fp32_pred = SegmentationPredictor(OnnxBackend(fp32, name=out.name))
    int8_meta = dict(meta, precision="int8")
    int8_pred = SegmentationPredictor(OnnxBackend(with_metadata(quantized, int8_meta), name="int8"))
    quality = compare_predictors(fp32_pred, int8_pred, validation, max_images)
    int8_meta["quantization"] = {"format": "QDQ", "per_channel": True, "calibration_images": len(calib),
                                 **quality}
    target = atomic_write_bytes(int8_path(out), with_metadata(quantized, int8_meta))
    x = calib[0][None]
    return {"int8_out": str(target), "calibration_images": len(calib), **quality,
            "int8_ms": _median_ms(int8_pred.backend.forward, x), "fp32_ms": _median_ms(fp32_pred.backend.forward, x)}


def compare_predictors(fp32: SegmentationPredictor, int8: SegmentationPredictor, validation: ImageSource,
                       max_images: int) -> dict[str, Any]:
    """Dice of each predictor against validation masks (when the images have them) and against each other."""
    try:
        pairs = collect_samples(validation, max_images, need_masks=True)
    except ModelFileError:
        pairs = collect_samples(validation, max_images)
    from core.data.io import read_mask

    agree, d32, d8 = [], [], []
    for image_path, mask_path in pairs:
        image = read_image(image_path)
        a, b = fp32.predict(image).mask, int8.predict(image).mask
        agree.append(dice(a, b))
        if mask_path is not None:
            truth = read_mask(mask_path)
            d32.append(dice(a, truth))
            d8.append(dice(b, truth))
    result: dict[str, Any] = {"validation_images": len(pairs), "dice_int8_vs_fp32": float(np.mean(agree))}
    if d32:
        result.update(dice_fp32=float(np.mean(d32)), dice_int8=float(np.mean(d8)),
                      dice_drop=float(np.mean(d32) - np.mean(d8)))
    return result
