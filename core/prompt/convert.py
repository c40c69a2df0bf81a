"""Convert the verified LiteMedSAM checkpoint ONCE into two ONNX graphs (encoder, decoder) + a manifest.

Needs torch (full build, developer checkout, or packaging/build.py, which bundles the result into the
slim build). ORT must match PyTorch on a real-looking input before anything is written; the three files
are written as one atomic unit.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from core.data.atomic import atomic_write_files
from core.errors import ModelFileError
from core.prompt import weights
from core.prompt.network import DecoderGraph, EncoderGraph, load_litemedsam
from core.prompt.store import DECODER_FILE, ENCODER_FILE, FORMAT, MANIFEST_FILE

OPSET = 17
PARITY_TOL = 2e-3  # logits; the encoder's GELU/softmax chain differs from PyTorch's by ~1e-4


def _export(module: torch.nn.Module, args: tuple, names_in: list[str], names_out: list[str],
            dynamic: dict | None) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, buf, dynamo=False, opset_version=OPSET, input_names=names_in,
                          output_names=names_out, dynamic_axes=dynamic, do_constant_folding=True)
    return buf.getvalue()


def _parity(model, enc_bytes: bytes, dec_bytes: bytes) -> float:
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:256, 0:256] / 255.0
    image = np.stack([xs, ys, 0.5 + 0.5 * np.sin(xs * 9) * ys], 0)[None].astype(np.float32)
    image += rng.normal(0, 0.02, image.shape).astype(np.float32)
    coords = np.array([[[40.0, 60.0], [180.0, 200.0], [100.0, 120.0]]], np.float32)
    labels = np.array([[2.0, 3.0, 1.0]], np.float32)
    with torch.no_grad():
        emb_t = model.image_encoder(torch.from_numpy(image))
        logits_t, _ = model.decode(emb_t, torch.from_numpy(coords), torch.from_numpy(labels))
    enc = ort.InferenceSession(enc_bytes, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(dec_bytes, providers=["CPUExecutionProvider"])
    emb_o = enc.run(None, {"image": image})[0]
    logits_o = dec.run(None, {"image_embeddings": emb_o, "point_coords": coords, "point_labels": labels})[0]
    return float(max(np.abs(emb_o - emb_t.numpy()).max(), np.abs(logits_o - logits_t.numpy()).max()))


def convert(out_dir: Path, checkpoint: Path | None = None) -> Path:
    """Write encoder.onnx, decoder.onnx and manifest.json into ``out_dir``; returns ``out_dir``."""
    t0 = time.monotonic()
    checkpoint = weights.verify_checkpoint(checkpoint or weights.find_checkpoint())
    torch.manual_seed(0)
    model = load_litemedsam(checkpoint)
    enc = _export(EncoderGraph(model), (torch.zeros(1, 3, 256, 256),), ["image"], ["image_embeddings"], None)
    dec = _export(DecoderGraph(model), (torch.zeros(1, 256, 64, 64), torch.zeros(1, 2, 2), torch.ones(1, 2)),
                  ["image_embeddings", "point_coords", "point_labels"], ["low_res_logits", "iou"],
                  {"point_coords": {0: "prompts", 1: "points"}, "point_labels": {0: "prompts", 1: "points"},
                   "low_res_logits": {0: "prompts"}, "iou": {0: "prompts"}})
    err = _parity(model, enc, dec)
    if not err < PARITY_TOL:
        raise ModelFileError(f"LiteMedSAM ONNX differs from PyTorch by {err:.2e} (> {PARITY_TOL}); not written")
    manifest = {
        "format": FORMAT, "model": "LiteMedSAM", "license": weights.LICENSE, "source": weights.SOURCE,
        "package": f"{weights.PACKAGE}=={weights.PACKAGE_VERSION}", "checkpoint_sha256": weights.CHECKPOINT_SHA256,
        "encoder_sha256": hashlib.sha256(enc).hexdigest(), "decoder_sha256": hashlib.sha256(dec).hexdigest(),
        "input_size": 256, "parity_max_abs": err, "opset": OPSET, "torch": torch.__version__,
        "converted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.monotonic() - t0, 1),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_files([(out_dir / ENCODER_FILE, enc), (out_dir / DECODER_FILE, dec),
                        (out_dir / MANIFEST_FILE, json.dumps(manifest, indent=1).encode())])
    return out_dir


def main() -> None:
    """``python -m core.prompt.convert OUT_DIR`` (packaging/build.py calls this)."""
    import sys

    from core.prompt.store import cache_dir

    print(convert(Path(sys.argv[1]) if len(sys.argv) > 1 else cache_dir()))


if __name__ == "__main__":
    main()
