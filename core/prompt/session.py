"""LiteMedSAM at run time with ONNX Runtime: encode a crop once (cached), decode per prompt.

``PromptSegmenter.segment(image, box, points)`` returns the mask of one structure. The encoder's
embedding is cached per (image key, crop), so clicks that refine the same box cost one decoder run.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.prompt import geometry
from core.prompt.store import DECODER_FILE, ENCODER_FILE, locate

BOX_LABELS = (2.0, 3.0)  # SAM's labels for the box's top-left and bottom-right corners


@dataclass
class PromptResult:
    mask: np.ndarray            # bool, image-sized
    iou: float                  # the decoder's own quality estimate
    crop: geometry.Crop
    encode_s: float             # 0 when the embedding came from the cache
    decode_s: float
    box: tuple[float, float, float, float]
    points: list = field(default_factory=list)

    def summary(self) -> dict:
        return {"area_px": int(self.mask.sum()), "predicted_iou": round(self.iou, 4),
                "crop": [self.crop.x0, self.crop.y0, self.crop.x1, self.crop.y1],
                "encode_s": round(self.encode_s, 3), "decode_s": round(self.decode_s, 3),
                "box": [round(v, 1) for v in self.box], "points": self.points}


def converted_encoder(threads: int | None = None):
    """An ONNX Runtime session of the converted encoder whose manifest names the packaged checkpoint, or
    None when it is not converted (or not ours): the LiteMedSAM head then embeds in PyTorch."""
    from core.errors import ModelFileError
    from core.infer.ort_session import make_session
    from core.prompt.weights import CHECKPOINT_SHA256

    try:
        folder, manifest = locate(convert_if_missing=False)
        if manifest.get("checkpoint_sha256") != CHECKPOINT_SHA256:
            return None
        return make_session(folder / ENCODER_FILE, threads=threads, name="LiteMedSAM encoder")[0]
    except (ModelFileError, OSError):
        return None


class PromptSegmenter:
    """The ONNX encoder/decoder pair with an LRU embedding cache (a few MB per entry)."""

    def __init__(self, folder: Path | None = None, threads: int | None = None, cache_size: int = 16,
                 context: float = 3.0, tidy: bool = True, model_clicks: bool = False, root: Path | None = None):
        from core.infer.ort_session import make_session

        if folder is None:
            folder, self.manifest = locate(root=root)
        else:
            from core.prompt.store import check_dir

            self.manifest = check_dir(folder)
        self.folder = Path(folder)
        self.encoder, self.provider = make_session(Path(folder) / ENCODER_FILE, threads=threads,
                                                   name="LiteMedSAM encoder")
        self.decoder, _ = make_session(Path(folder) / DECODER_FILE, threads=threads, name="LiteMedSAM decoder")
        self.cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.cache_size = cache_size
        self.context = context
        self.tidy = tidy
        self.model_clicks = model_clicks
        # logit cut for the mask: None = geometry.auto_cut (lower for small structures); a folder tuned on a
        # user's labels stores the one that scored best on their held-out structures
        cut = self.manifest.get("mask_threshold")
        self.threshold = None if cut is None else float(cut)
        self.encode_times: list[float] = []   # seconds of every encoder run (benchmarks print them)

    def crop_for(self, shape: tuple[int, int], box) -> geometry.Crop:
        return geometry.choose_crop(geometry.clamp_box(box, shape), shape, self.context)

    def embedding(self, image: np.ndarray, crop: geometry.Crop, key: object = None) -> tuple[np.ndarray, float]:
        """(1, 256, 64, 64) embedding of ``crop`` and the seconds spent (0 on a cache hit)."""
        ck = (key if key is not None else id(image), crop)
        if ck in self.cache:
            self.cache.move_to_end(ck)
            return self.cache[ck], 0.0
        t = time.perf_counter()
        emb = self.encoder.run(None, {"image": geometry.encoder_input(image, crop)})[0]
        spent = time.perf_counter() - t
        self.encode_times.append(spent)
        self.cache[ck] = emb
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return emb, spent

    def prepare(self, image: np.ndarray, box, key: object = None) -> float:
        """Encode the crop a box needs ahead of the decoder (the GUI does this in a worker)."""
        return self.embedding(image, self.crop_for(image.shape[:2], box), key)[1]

    def segment(self, image: np.ndarray, box, points: Sequence[tuple[float, float, int]] = (),
                key: object = None) -> PromptResult:
        """Mask of the structure in ``box`` (x0, y0, x1, y1); ``points`` are (x, y, 1 positive | 0 negative).

        Clicks refine geometrically (``geometry.apply_clicks``; a positive click outside the box grows it)
        unless ``model_clicks`` is set, which feeds them to the decoder as SAM point prompts instead."""
        shape = image.shape[:2]
        box = geometry.clamp_box(box, shape)
        points = [(float(x), float(y), int(lab)) for x, y, lab in points]
        prompt_box = box if self.model_clicks else geometry.clamp_box(geometry.grow_box(box, points), shape)
        crop = geometry.choose_crop(prompt_box, shape, self.context)
        emb, enc_s = self.embedding(image, crop, key)
        model_points = points if self.model_clicks else []
        pts = [(x, y) for x, y, _ in model_points] + [prompt_box[:2], prompt_box[2:]]
        labels = [float(lab > 0) for *_, lab in model_points] + list(BOX_LABELS)
        coords = geometry.to_frame(np.array(pts), crop)[None]
        t = time.perf_counter()
        logits, iou = self.decoder.run(None, {"image_embeddings": emb, "point_coords": coords,
                                              "point_labels": np.array([labels], np.float32)})
        dec_s = time.perf_counter() - t
        cut = geometry.auto_cut(coords[0, -2:]) if self.threshold is None else self.threshold
        mask = geometry.logits_to_mask(logits[0, 0] - cut, crop, shape)
        if self.tidy:
            mask = geometry.tidy(mask, prompt_box, margin=2.0)
        if points and not self.model_clicks:
            mask = geometry.apply_clicks(mask, points, prompt_box)
        return PromptResult(mask, float(iou.ravel()[0]), crop, enc_s, dec_s, box, [list(p) for p in points])
