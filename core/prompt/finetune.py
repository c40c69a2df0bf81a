"""Fine-tune LiteMedSAM's mask decoder on a folder's labels: every labeled structure's embedding is
computed once with the ONNX encoder, then only the decoder trains (PyTorch), and a new ONNX pair is
written beside the old encoder. Measured in bench_box_prompt's notes: 27 thyroid lobes, 200 steps,
0.835 -> 0.875 mean Dice on lobes of later frames. Needs torch (full build).

The pieces (``Item``, ``train_decoder``, ``item_logits``, ``dice_at``, ``export_decoder``, ``write_folder``) are shared
with ``core.prompt.tune_on_labels``, the step of Train on my labels that keeps a tuned decoder only when it
beats the shipped one on held-out labeled groups."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from core.data.atomic import atomic_write_files
from core.data.io import read_image, read_mask
from core.errors import CancelledError, ToothSegError
from core.prompt import geometry, weights
from core.prompt.convert import PARITY_TOL, _export
from core.prompt.network import DecoderGraph, LiteMedSAM, load_litemedsam
from core.prompt.session import BOX_LABELS, PromptSegmenter
from core.prompt.store import DECODER_FILE, ENCODER_FILE, FORMAT, MANIFEST_FILE

MIN_AREA = 50
MARGIN = 5   # px around a structure's extent: the box a person drags (and bench_box_prompt's)


def structures(labels: np.ndarray):
    """(bool mask, box) of every connected piece of every class, >= MIN_AREA px (a lobe, a tooth)."""
    for value in np.unique(labels[labels > 0]):
        n, parts, stats, _ = cv2.connectedComponentsWithStats((labels == value).astype(np.uint8))
        for i in range(1, n):
            if stats[i, cv2.CC_STAT_AREA] >= MIN_AREA:
                piece = parts == i
                ys, xs = np.nonzero(piece)
                yield piece, (xs.min() - MARGIN, ys.min() - MARGIN, xs.max() + MARGIN, ys.max() + MARGIN)


def _target(piece: np.ndarray, crop: geometry.Crop) -> np.ndarray:
    h, w = crop.size
    nh, nw = int(h * crop.scale + 0.5), int(w * crop.scale + 0.5)
    small = cv2.resize(piece[crop.y0:crop.y1, crop.x0:crop.x1].astype(np.uint8), (nw, nh),
                       interpolation=cv2.INTER_NEAREST)
    out = np.zeros((geometry.INPUT, geometry.INPUT), np.float32)
    out[:nh, :nw] = small
    return out


@dataclass
class Item:
    """One labeled structure ready for the decoder: its crop's embedding (float16 to halve the memory),
    the box in the 256-px frame, the 256-px target, and the truth at crop resolution for Dice."""
    emb: np.ndarray          # (1, 256, 64, 64) float16
    frame_box: np.ndarray    # (4,) float32
    target: np.ndarray       # (256, 256) float32
    truth: np.ndarray        # bool, crop-sized
    box: tuple               # the box in crop coordinates (for tidy)
    crop: geometry.Crop
    group: str = ""


def make_item(emb: np.ndarray, piece: np.ndarray, box, crop: geometry.Crop, group: str = "") -> Item:
    frame_box = geometry.to_frame(np.array([box[:2], box[2:]]), crop).ravel().astype(np.float32)
    local = (box[0] - crop.x0, box[1] - crop.y0, box[2] - crop.x0, box[3] - crop.y0)
    return Item(emb.astype(np.float16), frame_box, _target(piece, crop),
                piece[crop.y0:crop.y1, crop.x0:crop.x1].copy(), local, crop, group)


def item_mask(logits: np.ndarray, item: Item, threshold: float | None = None) -> np.ndarray:
    """The product's mask (geometry.logits_to_mask + tidy) of 256x256 ``logits``, at crop resolution;
    ``threshold`` None: the box tool's default cut (geometry.auto_cut)."""
    h, w = item.crop.size
    local = geometry.Crop(0, 0, w, h)
    cut = geometry.auto_cut(item.frame_box) if threshold is None else threshold
    return geometry.tidy(geometry.logits_to_mask(logits - cut, local, (h, w)), item.box, margin=2.0)


def item_logits(model: LiteMedSAM, items: list[Item], cancel=None) -> list[np.ndarray]:
    """The decoder's 256x256 logits for each item's box (PyTorch)."""
    labels = torch.tensor([list(BOX_LABELS)])
    out = []
    with torch.no_grad():
        for it in items:
            logits, _ = model.decode(torch.from_numpy(it.emb.astype(np.float32)),
                                     torch.from_numpy(it.frame_box).view(1, 2, 2), labels)
            out.append(logits[0, 0].numpy())
            if cancel is not None and cancel.cancelled:
                raise CancelledError("decoder fine-tuning cancelled; nothing written")
    return out


def onnx_item_logits(decoder_path: Path, items: list[Item]) -> list[np.ndarray]:
    """The same for an ONNX decoder (a project's earlier tuned one)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(decoder_path), opts, providers=["CPUExecutionProvider"])
    labels = np.array([list(BOX_LABELS)], np.float32)
    return [sess.run(None, {"image_embeddings": it.emb.astype(np.float32), "point_coords": it.frame_box.reshape(1, 2, 2),
                            "point_labels": labels})[0][0, 0] for it in items]


def dice_at(logits: list[np.ndarray], items: list[Item], threshold: float | None = None) -> list[float]:
    """Dice of each item's mask cut at ``threshold``, post-processed as the box tool does."""
    return [dice(item_mask(lg, it, threshold), it.truth) for lg, it in zip(logits, items, strict=True)]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


def base_model() -> LiteMedSAM:
    """The shipped network (verified checkpoint)."""
    return load_litemedsam(weights.verify_checkpoint(weights.find_checkpoint()))


def train_decoder(model: LiteMedSAM, items: list[Item], steps: int, lr: float = 1e-5, seed: int = 0,
                  progress=None, cancel=None, deadline: float | None = None, clock=time.monotonic) -> int:
    """AdamW on the decoder alone (BCE + soft Dice, the box jittered by up to 4 px); returns the steps
    done (fewer when ``deadline``, a ``clock()`` value, passes first: wall time, or e.g. the thread's CPU time)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.requires_grad = False
    params = list(model.mask_decoder.parameters())
    for p in params:
        p.requires_grad = True
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    labels = torch.tensor([list(BOX_LABELS)])
    done = 0
    for step in range(steps):
        it = items[int(rng.integers(len(items)))]
        b = np.clip(it.frame_box + rng.uniform(-4, 4, 4), 0, geometry.INPUT - 1).astype(np.float32)
        logits, _ = model.decode(torch.from_numpy(it.emb.astype(np.float32)), torch.from_numpy(b).view(1, 2, 2),
                                 labels)
        target = torch.from_numpy(it.target)[None, None]
        prob = torch.sigmoid(logits)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target) + \
            1 - (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        done = step + 1
        if progress:
            progress(done, steps, f"step {done}: loss {float(loss.detach()):.3f}")
        if cancel is not None and cancel.cancelled:
            raise CancelledError("decoder fine-tuning cancelled; nothing written")
        if deadline is not None and clock() > deadline:
            break
    for p in params:
        p.requires_grad = False
    model.eval()
    return done


def export_decoder(model: LiteMedSAM, probe: Item) -> tuple[bytes, float]:
    """The decoder graph as ONNX bytes and its max abs difference from PyTorch on ``probe``; refuses to
    return a graph that disagrees."""
    import onnxruntime as ort

    dec = _export(DecoderGraph(model), (torch.zeros(1, 256, 64, 64), torch.zeros(1, 2, 2), torch.ones(1, 2)),
                  ["image_embeddings", "point_coords", "point_labels"], ["low_res_logits", "iou"],
                  {"point_coords": {0: "prompts", 1: "points"}, "point_labels": {0: "prompts", 1: "points"},
                   "low_res_logits": {0: "prompts"}, "iou": {0: "prompts"}})
    labels = torch.tensor([list(BOX_LABELS)])
    emb = probe.emb.astype(np.float32)
    coords = probe.frame_box.reshape(1, 2, 2).astype(np.float32)
    with torch.no_grad():
        ref = model.decode(torch.from_numpy(emb), torch.from_numpy(coords), labels)[0].numpy()
    got = ort.InferenceSession(dec, providers=["CPUExecutionProvider"]).run(
        None, {"image_embeddings": emb, "point_coords": coords, "point_labels": labels.numpy().astype(np.float32)})[0]
    err = float(np.abs(got - ref).max())
    if not err < PARITY_TOL:
        raise ToothSegError(f"fine-tuned decoder ONNX differs from PyTorch by {err:.2e}; not written")
    return dec, err


def write_folder(out_dir: Path, base_folder: Path, base_manifest: dict, dec: bytes, err: float,
                 finetuned: dict, threshold: float | None = None) -> dict:
    """A complete, verifiable model folder: the shipped encoder, the tuned decoder, a manifest saying so
    (written as one unit)."""
    manifest = dict(base_manifest, decoder_sha256=hashlib.sha256(dec).hexdigest(), parity_max_abs=err,
                    finetuned=dict(finetuned, base_decoder_sha256=base_manifest["decoder_sha256"]),
                    mask_threshold=threshold)
    manifest.pop("fallback", None)
    if threshold is None:
        manifest.pop("mask_threshold")   # the box tool's default cut
    if manifest["format"] != FORMAT:
        raise ToothSegError(f"LiteMedSAM base folder {base_folder} has format {manifest['format']!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_files([(out_dir / ENCODER_FILE, (Path(base_folder) / ENCODER_FILE).read_bytes()),
                        (out_dir / DECODER_FILE, dec),
                        (out_dir / MANIFEST_FILE, json.dumps(manifest, indent=1).encode())])
    return manifest


def finetune_decoder(pairs, out_dir: Path, steps: int = 200, lr: float = 3e-5, seed: int = 0,
                     progress=None, cancel=None) -> dict:
    """``pairs``: (image path, mask path) of labeled images. Writes a complete model folder (the usual
    encoder, the fine-tuned decoder, a manifest saying so) to ``out_dir``; always starts from the
    original checkpoint's decoder."""
    seg = PromptSegmenter()
    items = []
    for k, (image_path, mask_path) in enumerate(pairs):
        image = read_image(image_path)
        for piece, box in structures(read_mask(mask_path)):
            box = geometry.clamp_box(box, piece.shape)
            crop = geometry.choose_crop(box, piece.shape)
            emb, _ = seg.embedding(image, crop, key=str(image_path))
            items.append(make_item(emb, piece, box, crop))
        if progress:
            progress(k + 1, len(pairs) + steps, f"embedding {Path(image_path).name}")
        if cancel is not None and cancel.cancelled:
            raise CancelledError("decoder fine-tuning cancelled; nothing written")
    if not items:
        raise ToothSegError("no labeled structure of at least 50 px to fine-tune LiteMedSAM's decoder on")
    model = base_model()
    t0 = time.monotonic()
    step_progress = (lambda i, n, text: progress(len(pairs) + i, len(pairs) + n, text)) if progress else None
    train_decoder(model, items, steps, lr, seed, step_progress, cancel)
    dec, err = export_decoder(model, items[0])
    return write_folder(out_dir, seg.folder, seg.manifest, dec, err,
                        {"images": len(pairs), "structures": len(items), "steps": steps, "lr": lr,
                         "seconds": round(time.monotonic() - t0, 1)})
