"""A small segmentation head on LiteMedSAM's frozen image encoder (issue 17, item 2c; ADR 0015).

The TinyViT encoder (LiteMedSAM, Apache-2.0, ``core.prompt.tinyvit``) turns the image, resized to
256 px, into a 256x64x64 embedding that already separates organs from background; a light decoder
reads it together with a shallow full-resolution branch of the image (for boundaries the 4-px
embedding grid cannot place) and predicts the classes. Only the head trains: with 20 labels it beat
the small U-Net on frames of unseen videos and on unseen panoramics (ADR 0015).

The encoder is part of the model (its weights are in the checkpoint and in the exported ONNX graph,
so the slim build predicts without torch). It is frozen and kept in eval mode, so it is a pure
function of its input: outside export, embeddings are memoised by the input's bytes, and an epoch
over unaugmented training images encodes each image once per run instead of once per epoch.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from core.models.blocks import make_norm
from core.models.registry import register_model

ENCODER_SIZE = 256
EMBED_CHANNELS = 256
# about 2 MB each (fp16): the floor of the memo and of the store; ``precompute`` raises both to the images a
# training run embeds (all 404 thyroid labels: ~810 embeddings, ~1.6 GB), or every epoch would encode again
MEMO_ENTRIES = 160
STORE_DIRNAME = "litemedsam-head-embeddings"  # in the project folder: embeddings computed in the background
STORE_ENTRIES = 160  # on disk, newest kept (2 MB each), at least what the last precompute embedded
STORE_VERSION = "fp32-eval"  # stores written before the encoder always ran fp32 in eval mode are never read


def embedding_store(project_dir: str | Path) -> Path:
    """The project's folder of head embeddings, one subfolder per encoder checkpoint (a new checkpoint
    never reads another's embeddings)."""
    from core.prompt.weights import CHECKPOINT_SHA256

    return Path(project_dir) / STORE_DIRNAME / f"{CHECKPOINT_SHA256[:16]}-{STORE_VERSION}"


class EmbeddingMemo(OrderedDict):
    """Embeddings by input bytes. Deep copies of the model share it (the speed autotune trains copies,
    the weight average is one): they hold the same frozen encoder, so the same input means the same
    embedding; loading new weights into any of them clears it."""

    fast = None  # LiteMedSAM's converted ONNX encoder (the same weights, SHA-256-checked), when present
    looked = False
    store: Path | None = None  # a folder of embeddings on disk (``embedding_store``): read first, written after
    loaded = 0                 # embeddings read from ``store``
    encoded = 0                # embeddings computed by the encoder
    capacity = MEMO_ENTRIES    # entries kept in memory (``precompute`` raises it)

    def __deepcopy__(self, memo: dict) -> EmbeddingMemo:
        return self

    def embed(self, encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Embeddings of (n, 3, 256, 256) inputs in [0, 1], without gradients: ONNX Runtime on a CPU when
        the converted encoder is here (about twice eager PyTorch's speed on one thread), else ``encoder``."""
        if self.fast is not None and x.device.type == "cpu":
            arrays = [self.fast.run(None, {"image": x[i:i + 1].detach().float().contiguous().numpy()})[0]
                      for i in range(len(x))]
            return torch.from_numpy(np.concatenate(arrays))
        # fp32 always, whatever the training's autocast: the exported ONNX encoder runs fp32, and bf16
        # embeddings (the speed autotune's bf16 trials, a bf16 training step's memo misses) were memoised and
        # stored, so the head trained on embeddings ~5 % off the ones it is used on
        encoder.eval()   # whoever last called .train() on a part of the model, the frozen encoder is eval
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            return encoder(x.float())

    def load(self, key: bytes) -> torch.Tensor | None:
        """An embedding the background embedding (or an earlier run) left on disk, or None."""
        if self.store is None:
            return None
        try:
            emb = torch.from_numpy(np.load(self.store / f"{key.hex()}.npy", allow_pickle=False))
        except (OSError, ValueError):
            return None
        self.loaded += 1
        return emb

    def save(self, key: bytes, emb: torch.Tensor) -> None:
        """Write one embedding atomically (a half-written file is never read); disk errors only cost speed."""
        if self.store is None:
            return
        try:
            self.store.mkdir(parents=True, exist_ok=True)
            tmp = self.store / f".{key.hex()}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                np.save(f, emb.numpy())
            os.replace(tmp, self.store / f"{key.hex()}.npy")
        except OSError:
            pass

    def prune(self, keep: int = STORE_ENTRIES) -> None:
        """Keep the newest ``keep`` embeddings on disk."""
        if self.store is None or not self.store.is_dir():
            return
        files = sorted(self.store.glob("*.npy"), key=lambda f: f.stat().st_mtime, reverse=True)
        for f in files[keep:]:
            f.unlink(missing_ok=True)


def _conv(cin: int, cout: int, norm: str, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), make_norm(norm, cout),
                         nn.ReLU(inplace=True))


class LiteMedSAMDecoder(nn.Module):
    """Embedding (1/4 of 256 px) + image branch at 1/2 and 1/4 -> features at 1/2 of 256 px."""

    def __init__(self, in_channels: int, width: int, norm: str) -> None:
        super().__init__()
        self.proj = nn.Sequential(_conv(EMBED_CHANNELS, width, norm, k=1), _conv(width, width, norm))
        self.image_half = _conv(in_channels, width // 4, norm, stride=2)
        self.image_quarter = _conv(width // 4, width // 2, norm, stride=2)
        self.fuse_quarter = _conv(width + width // 2, width, norm)
        self.fuse_half = _conv(width + width // 4, width // 2, norm)

    def forward(self, embedding: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        half = self.image_half(image)
        quarter = self.image_quarter(half)
        f = self.fuse_quarter(torch.cat([self.proj(embedding), quarter], 1))
        f = F.interpolate(f, size=half.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse_half(torch.cat([f, half], 1))


class LiteMedSAMHead(nn.Module):
    """Frozen LiteMedSAM encoder -> light trainable decoder; any input size (resized to 256 and back)."""

    # ONNX against PyTorch: TinyViT's attention and GELUs differ by ~1e-3 in the logits (magnitudes ~10),
    # well below any change of a mask; one timing run after the warm-up (each forward encodes an image)
    parity_tolerance = 5e-3
    timing_repeats = 1
    parity_images = 3  # each image is a ~1 s encoder pass per backend; 3 + an odd crop check the graph
    # trained with left-right flips (each image's mirror image embedded once more): 20 thyroid labels, mean
    # Dice on 134 unseen frames over 3 seeds 0.670 -> 0.698 (ADR 0015)
    flip_augment = True

    def __init__(self, in_channels: int = 1, out_channels: int = 1, base_channels: int = 32,
                 norm: str = "batch") -> None:
        super().__init__()
        from core.prompt.tinyvit import TinyViT

        self.encoder = TinyViT().eval()   # frozen from the start: a new module is in training mode, and
        for p in self.encoder.parameters():  # embedding before any .train()/.eval() ran TinyViT's BatchNorm
            p.requires_grad_(False)          # on each image's own statistics and moved its running ones
        self.decoder = LiteMedSAMDecoder(in_channels, base_channels, norm)
        self.head = nn.Conv2d(base_channels // 2, out_channels, 1)
        # 1 once the encoder holds LiteMedSAM's weights; saved with them, so a loaded checkpoint may use
        # the converted ONNX encoder (same weights) too
        self.decoder.register_buffer("litemedsam_encoder", torch.zeros(()))
        self._memo = EmbeddingMemo()

    def train(self, mode: bool = True) -> LiteMedSAMHead:
        super().train(mode)
        self.encoder.eval()  # frozen: its BatchNorm statistics are LiteMedSAM's, never the batch's
        return self

    def load_litemedsam(self) -> None:
        """The encoder's weights from the packaged, SHA-256-verified LiteMedSAM checkpoint."""
        from core.prompt.network import load_litemedsam
        from core.prompt.weights import find_checkpoint, verify_checkpoint

        source = load_litemedsam(verify_checkpoint(find_checkpoint()))
        self.encoder.load_state_dict(source.image_encoder.state_dict())
        self.decoder.litemedsam_encoder.fill_(1.0)
        self._memo.clear()

    def _load_from_state_dict(self, *args, **kwargs):
        """New weights: old embeddings are stale, and whether the ONNX encoder fits is asked again."""
        self._memo.clear()
        self._memo.fast, self._memo.looked = None, False
        return super()._load_from_state_dict(*args, **kwargs)

    def _fast_encoder(self) -> None:
        if not self._memo.looked:
            self._memo.looked = True
            if float(self.decoder.litemedsam_encoder) == 1.0:
                self._memo.fast = _onnx_encoder()

    @staticmethod
    def _encoder_input(image: torch.Tensor) -> torch.Tensor:
        """Per-image min-max to [0, 1], three channels, as LiteMedSAM was trained."""
        lo = image.amin(dim=(2, 3), keepdim=True)
        hi = image.amax(dim=(2, 3), keepdim=True)
        return ((image - lo) / (hi - lo).clamp_min(1e-8)).mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)

    @staticmethod
    def _keys(x: torch.Tensor) -> list[bytes]:
        return [hashlib.blake2b(x[i, 0].detach().float().contiguous().cpu().numpy().tobytes(),
                                digest_size=16).digest() for i in range(len(x))]

    def has_embedding(self, image: torch.Tensor, store: str | Path | None = None) -> bool:
        """Whether a normalised 1xHxW image's embedding is in the memo or in ``store`` (default: the memo's),
        so using it costs no encoder pass."""
        small = F.interpolate(image[None], size=(ENCODER_SIZE, ENCODER_SIZE), mode="bilinear", align_corners=False)
        key = self._keys(self._encoder_input(small))[0]
        folder = Path(store) if store is not None else self._memo.store
        return key in self._memo or (folder is not None and (folder / f"{key.hex()}.npy").exists())

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """The encoder on ``_encoder_input(image)``; memoised outside export."""
        x = self._encoder_input(image)
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or image.requires_grad:
            return self.encoder(x)
        keys = self._keys(x)
        missing = [i for i, k in enumerate(keys) if k not in self._memo]
        for i in list(missing):
            stored = self._memo.load(keys[i])
            if stored is not None:
                self._remember(keys[i], stored)
                missing.remove(i)
        if missing:
            self._fast_encoder()
            fresh = self._memo.embed(self.encoder, x[missing])
            self._memo.encoded += len(missing)
            for i, emb in zip(missing, fresh, strict=True):
                self._remember(keys[i], emb.detach().to(torch.float16))
                self._memo.save(keys[i], self._memo[keys[i]])
        with torch.autocast(image.device.type, enabled=False):  # CPU autocast rejects the stored fp16
            return torch.stack([self._memo[k].float() if k in self._memo else self.encoder(x[i:i + 1])[0].float()
                                for i, k in enumerate(keys)]).to(image.device)

    def _remember(self, key: bytes, emb: torch.Tensor) -> None:
        self._memo[key] = emb
        while len(self._memo) > self._memo.capacity:
            self._memo.popitem(last=False)

    def precompute(self, images, log=None, cancel=None, store: str | Path | None = None, keep: int = 0) -> None:
        """Embed every image of ``images`` (normalised 1xHxW tensors) ahead of training, so the training
        budget is spent on the head; the memo then serves every epoch. ``store``: a folder of embeddings
        (``embedding_store``) read before encoding and written after, so images embedded in the background
        while the user labels (``core.hitl.background_embed``) cost nothing here. The store keeps the newest
        ``keep`` embeddings, at least these images and STORE_ENTRIES."""
        import time

        t0, count = time.monotonic(), 0
        images = list(images)
        # all of them stay in memory and on disk (+ slack for the validation's and export's other inputs)
        self._memo.capacity = max(self._memo.capacity, len(images) + 16)
        if store is not None:
            self._memo.store = Path(store)
        loaded = self._memo.loaded
        self._fast_encoder()
        for x in images:
            if cancel is not None:
                cancel.raise_if_cancelled("embedding")
            self.encode(F.interpolate(x[None], size=(ENCODER_SIZE, ENCODER_SIZE), mode="bilinear",
                                      align_corners=False))
            count += 1
        self._memo.prune(max(STORE_ENTRIES, len(images), keep))
        if log is not None:
            ready = self._memo.loaded - loaded
            log(f"LiteMedSAM encoder: {count} images embedded in {time.monotonic() - t0:.1f} s "
                f"({ready} of them ready from the background, the rest with "
                f"{'ONNX Runtime' if self._memo.fast is not None else 'PyTorch'})")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        small = F.interpolate(x, size=(ENCODER_SIZE, ENCODER_SIZE), mode="bilinear", align_corners=False)
        y = self.head(self.decoder(self.encode(small), small))
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)

    def part_names(self) -> dict[str, list[str]]:
        from core.models.blocks import part_names

        return part_names(self)


def _onnx_encoder():
    """An ONNX Runtime session of the converted encoder whose manifest names our checkpoint, or None
    (the session is made in ``core.prompt``: models never import the inference layer)."""
    import torch as _torch

    from core.prompt.session import converted_encoder

    return converted_encoder(threads=_torch.get_num_threads())


@register_model("litemedsam_head")
def litemedsam_head(**kwargs) -> nn.Module:
    return LiteMedSAMHead(**kwargs)
