"""A numbered-teeth snapshot (``core.teeth.recipe``) -> ONNX with the project's self-describing metadata.

The graph is the 19-output U-Net over the image + coordinate channels (N, 3, H, W); its metadata says
so (``architecture`` in_channels 3) and carries an ``instances`` entry with the separation rules, so
``core.infer`` runs it through the teeth branch of the inference contract (``core.infer.teeth``):
ONNX Runtime, then separation and numbering in numpy. Nothing is written unless ONNX reproduces the
PyTorch logits (fp32) on real panoramics within the tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core import __version__
from core.data.atomic import atomic_write_bytes
from core.data.classes import FDI_NUMBERS, fdi_mixed_classes
from core.data.io import read_image
from core.errors import ModelFileError
from core.export.graph import export_graph
from core.export.onnx import TOLERANCE, parity_check, with_metadata
from core.export.samples import collect_samples
from core.infer.backends import OnnxBackend, TorchBackend
from core.models.describe import FORMAT, VERSION
from core.models.metadata_schema import check_inference_meta
from core.models.registry import build_model
from core.teeth.instances import CORE_THRESHOLD, MIN_AREA, MIN_SCORE
from core.teeth.network_io import OVERLAP, WINDOW, padded_input, working_gray


def _rgb(hex_color: str) -> list[int]:
    return [int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]


def teeth_meta(config: dict[str, Any], allowed: Sequence[int] | None = None,
               metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ToothSeg metadata of a numbered-teeth network: classes are the FDI numbers it may assign."""
    allowed = sorted(set(int(v) for v in (allowed or FDI_NUMBERS)))
    table = {c.value: c for c in fdi_mixed_classes()}
    classes = [{"id": 0, "value": 0, "name": "background", "color": [0, 0, 0]}]
    classes += [{"id": i, "value": v, "name": table[v].name, "color": _rgb(table[v].color)}
                for i, v in enumerate(allowed, start=1)]
    arch = {k: config[k] for k in ("name", "in_channels", "out_channels", "base_channels", "norm", "depth")
            if k in config}
    meta = {"format": FORMAT, "version": VERSION, "architecture": arch, "classes": classes,
            "input_policy": {"mode": "sliding", "size": [WINDOW, WINDOW], "overlap": OVERLAP},
            "normalization": {"mean": 0.0, "std": 1.0, "scale": "per-image"},   # z-score per panoramic
            "threshold": 0.5, "postprocess": {"band": None, "min_area_frac": 0.0, "enabled": True},
            "instances": {"kind": "fdi-teeth", "core_threshold": CORE_THRESHOLD, "min_area": MIN_AREA,
                          "min_score": MIN_SCORE, "window": WINDOW},
            "fingerprint": "", "metrics": dict(metrics or {}), "app_version": __version__, "precision": "fp32"}
    check_inference_meta(meta, "teeth model", FORMAT, VERSION)
    return meta


def parity_inputs(images: str | Path | Sequence[str | Path], max_images: int) -> list[np.ndarray]:
    """Real panoramics as the teeth network sees them (working scale, coordinates, padded to 32)."""
    return [padded_input(working_gray(read_image(p))) for p, _ in collect_samples(images, max_images)]


def export_teeth_onnx(checkpoint: str | Path, out: str | Path, images: str | Path | Sequence[str | Path],
                      allowed: Sequence[int] | None = None, metrics: dict[str, Any] | None = None,
                      max_images: int = 4, tolerance: float = TOLERANCE) -> dict[str, Any]:
    """Export ``checkpoint`` (a teeth ``.pt``) to ``out`` after the fp32 parity check on ``images``."""
    out = Path(out)
    ck = torch.load(str(checkpoint), map_location="cpu", weights_only=False)
    if not isinstance(ck, dict) or ck.get("kind") != "teeth-instances":
        raise ModelFileError(f"{Path(checkpoint).name}: not a numbered-teeth snapshot")
    model = build_model(ck["config"]).eval()
    model.load_state_dict(ck["state"])
    meta = teeth_meta(ck["config"], allowed, metrics)
    inputs = parity_inputs(images, max_images)
    if not inputs:
        raise ModelFileError("the parity check needs real panoramics; none were found")
    graph = export_graph(model, torch.from_numpy(inputs[0][None]))
    candidate = OnnxBackend(with_metadata(graph, meta), name=out.name)
    max_diff, scale = parity_check(TorchBackend(model, meta), candidate, inputs)
    if not max_diff <= tolerance * scale:
        raise ModelFileError(f"exported teeth model disagrees with PyTorch by {max_diff:.3g} (> {tolerance:g} x the "
                             f"logits' size {scale:.3g}) on "
                             f"real panoramics; {out.name} was not written")
    meta["parity"] = {"max_abs_diff": max_diff, "images": len(inputs), "tolerance": tolerance, "logit_scale": scale}
    atomic_write_bytes(out, with_metadata(graph, meta))
    return {"out": str(out), "max_abs_diff": max_diff, "parity_images": len(inputs), "provider": candidate.provider,
            "input_policy": meta["input_policy"]}
