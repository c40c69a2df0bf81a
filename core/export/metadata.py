"""What an exported model says about itself: ONNX ``metadata_props`` readable without guessing.

Each key holds a JSON value (so Netron and other tools show it as text). The same dictionary
drives the PyTorch backend (built from a checkpoint sidecar), so both backends preprocess, tile
and post-process identically.
"""

from __future__ import annotations

import json
from typing import Any

from core import __version__
from core.errors import ModelFileError
from core.infer.postprocess import DEFAULT_MIN_AREA_FRAC
from core.models.describe import DEFAULT_NORMALIZATION, default_classes, normalize_classes
from core.preprocess import preprocess_spec

FORMAT = "toothseg-onnx"
VERSION = 1
REQUIRED = ("format", "version", "architecture", "classes", "input_policy", "normalization", "threshold",
            "postprocess")
KEYS = REQUIRED + ("fingerprint", "metrics", "app_version", "precision", "parity", "quantization", "preprocess")


def input_policy(sidecar: dict[str, Any], mode: str | None = None, overlap: float | None = None,
                 size: list[int] | None = None) -> dict[str, Any]:
    """How images reach the network: resized to ``size``, or tiled in windows of ``size`` with overlap."""
    given = dict(sidecar.get("input_policy") or {})
    size = list(size or given.get("size") or sidecar.get("input_size") or [256, 256])
    mode = mode or given.get("mode") or "resize"
    if mode not in ("resize", "sliding"):
        raise ModelFileError(f"input policy must be 'resize' or 'sliding', got {mode!r}")
    policy: dict[str, Any] = {"mode": mode, "size": [int(size[0]), int(size[1])]}
    if mode == "sliding":
        policy["overlap"] = float(overlap if overlap is not None else given.get("overlap", 0.25))
        if not 0.0 <= policy["overlap"] < 1.0:
            raise ModelFileError(f"sliding-window overlap must lie in [0, 1), got {policy['overlap']}")
    return policy


def inference_meta(sidecar: dict[str, Any], **policy_args: Any) -> dict[str, Any]:
    """Everything inference needs, from a checkpoint sidecar (see core.models.checkpoint)."""
    config = dict(sidecar["model"])
    recipe = sidecar.get("recipe") if isinstance(sidecar.get("recipe"), dict) else {}
    post = {"band": list(recipe["band"]) if recipe.get("band") else None,
            "min_area_frac": float(recipe.get("min_area_frac", DEFAULT_MIN_AREA_FRAC))}
    post.update(sidecar.get("postprocess") or {})
    return {
        "format": FORMAT,
        "version": VERSION,
        "architecture": config,
        "classes": normalize_classes(sidecar.get("classes") or default_classes(int(config.get("out_channels", 1)))),
        "input_policy": input_policy(sidecar, **policy_args),
        "normalization": dict(sidecar.get("normalization") or DEFAULT_NORMALIZATION),
        "preprocess": preprocess_spec(recipe),
        "threshold": float(sidecar.get("threshold", recipe.get("threshold", 0.5))),
        "postprocess": post,
        "fingerprint": sidecar.get("fingerprint", ""),
        "metrics": sidecar.get("metrics", {}),
        "app_version": __version__,
        "precision": "fp32",
    }


def to_props(meta: dict[str, Any]) -> dict[str, str]:
    return {key: json.dumps(value) for key, value in meta.items()}


def from_props(props: dict[str, str], name: str = "model") -> dict[str, Any]:
    """Parse and validate metadata_props; a foreign ONNX file gets a clear ModelFileError."""
    if "format" not in props:
        raise ModelFileError(
            f"{name}: an ONNX model without ToothSeg metadata (not exported by `toothseg export`); "
            "its classes, input size and normalisation are unknown, so it is not used"
        )
    try:
        meta = {key: json.loads(value) for key, value in props.items() if key in KEYS}
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{name}: damaged ToothSeg metadata ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{name}: metadata format {meta.get('format')!r} is not {FORMAT!r}")
    if int(meta.get("version", 0)) > VERSION:
        raise ModelFileError(f"{name}: exported by a newer ToothSeg Studio (metadata v{meta['version']}); update")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ModelFileError(f"{name}: ToothSeg metadata lacks {', '.join(missing)}")
    return meta
