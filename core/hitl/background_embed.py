"""LiteMedSAM embeddings of the labeled images, computed while the user annotates (issue 17, ADR 0015).

Below 50 labels on a CPU, Train on my labels trains a head on LiteMedSAM's frozen encoder; encoding the
labels (about a second per image on a free core, several under load) was half of the button's time. The
background pretraining job (``core.hitl.background_pretrain``) calls ``LabelEmbedder.update`` before it
starts and after every epoch: each labeled image not yet embedded is encoded exactly as training will
encode it (same decoding, size and normalisation, so the same memo key) and written to the project's
``embedding_store``, where the training's ``precompute`` finds it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.jobs import CancelToken
from core.train.events import TrainEvents

CHUNK = 32  # embeddings (~2 MB each) held in memory at a time while embedding in the editor's process


class LabelEmbedder:
    """Holds the encoder between calls (loading the checkpoint costs a second or two)."""

    def __init__(self) -> None:
        self.model = None
        self.seconds = 0.0   # spent embedding, over every call
        self.embedded = 0
        # images already embedded, by (path, mtime, size): after every pretraining epoch only images saved
        # since are decoded (a 49-label panoramic folder took ~2.5 s of decoding per epoch before)
        self.done: set[tuple[str, int, int]] = set()

    def update(self, root: str | Path, cancel: CancelToken | None = None, log=None) -> dict[str, Any]:
        """Embed the labeled images of ``root`` that the store lacks; returns counts and seconds.
        Does nothing (``skipped`` says why) when the plan would not train the head."""
        import numpy as np
        import torch

        from core.data.layouts import load_index
        from core.data.project import Project
        from core.hitl import plan
        from core.models.litemedsam_head import LiteMedSAMHead, embedding_store
        from core.models.metadata_schema import DEFAULT_SIDE
        from core.train.data import cache_samples
        from core.train.transforms import normalise
        from core.train.views import make_view, view_names

        t0 = time.monotonic()
        project = Project.open(root)
        index = project.apply(load_index(Path(root)))
        labeled = index.labeled()
        if len(labeled) >= plan.FOUNDATION_BELOW or plan.training_device() != "cpu":
            return {"skipped": "the plan trains a U-Net here", "labeled": len(labeled), "seconds": 0.0}
        if not labeled or not plan.foundation_available():
            return {"skipped": "no labels or no LiteMedSAM weights", "labeled": len(labeled), "seconds": 0.0}
        from core.hitl.teeth_train import fdi_numbers

        if fdi_numbers(project, index):  # numbered teeth train their own two-stage model (ADR 0019), not the head
            return {"skipped": "the plan trains numbered teeth here", "labeled": len(labeled), "seconds": 0.0}
        if self.model is None:
            from core.prompt.session import converted_encoder

            self.model = LiteMedSAMHead()
            self.model.load_litemedsam()
            # one thread whatever torch's setting in this process (the editor keeps the other cores)
            self.model._memo.fast, self.model._memo.looked = converted_encoder(threads=1), True
        todo = [(s, k) for s, k in ((s, _file_key(s.image)) for s in labeled) if k not in self.done]
        if not todo:
            return {"labeled": len(labeled), "embedded": 0, "seconds": round(time.monotonic() - t0, 2)}
        store = embedding_store(project.dir)
        cached = cache_samples([s for s, _ in todo], (DEFAULT_SIDE, DEFAULT_SIDE), None, False, cancel)
        # each image (and its mirror image, the training's flipped copy), then the plan's fixed views of every
        # image (core.train.views), in that order: a cancel leaves the images the training needs most
        flip, views = LiteMedSAMHead.flip_augment, plan.foundation_views(len(labeled))
        images: list[torch.Tensor] = []
        for name in [None, *view_names(views)]:
            for img in cached.images:
                img = img.astype(np.float32)
                x = torch.from_numpy(normalise(img if name is None else
                                               make_view(name, img, np.zeros(img.shape, np.uint8))[0]))[None]
                images += [x, x.flip(-1)] if flip else [x]
        before = self.model._memo.encoded
        per_label = (1 + views) * (2 if flip else 1)
        for i in range(0, len(images), CHUNK):  # the store keeps them; this process holds one chunk at a time
            self.model.precompute(images[i:i + CHUNK], cancel=cancel, store=store, keep=per_label * len(labeled) + 16)
            self.model._memo.clear()
        fresh = self.model._memo.encoded - before
        self.done.update(k for _, k in todo)
        spent = time.monotonic() - t0
        self.seconds += spent
        self.embedded += fresh
        if log is not None and fresh:
            log(f"LiteMedSAM: {fresh} new labeled images embedded in the background ({spent:.1f} s)")
        return {"labeled": len(labeled), "embedded": fresh, "seconds": round(spent, 2)}


def _file_key(path: Path) -> tuple[str, int, int]:
    try:
        st = Path(path).stat()
    except OSError:  # unreadable now: never marked done, so cache_samples reports it
        return (str(path), -1, -1)
    return (str(path), st.st_mtime_ns, st.st_size)


class EmbedAfterEpochs(TrainEvents):
    """A listener for the background pretraining: after every epoch, embed the labels saved meanwhile.
    A failure here never stops the pretraining; it is logged (the training will encode those images)."""

    def __init__(self, embedder: LabelEmbedder, root: str | Path, cancel: CancelToken | None, log=None):
        self.embedder, self.root, self.cancel, self.log = embedder, root, cancel, log

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        safely(self.embedder, self.root, self.cancel, self.log)


def safely(embedder: LabelEmbedder, root: str | Path, cancel: CancelToken | None, log=None) -> dict[str, Any]:
    """``embedder.update`` whose errors become a log line (the pretraining carries on) and whose cancel
    leaves the embeddings written so far; the pretraining loop sees the cancel itself."""
    from core.errors import CancelledError

    try:
        return embedder.update(root, cancel, log)
    except CancelledError:
        return {"cancelled": True}
    except Exception as exc:  # noqa: BLE001 - any failure only costs the training's own encoding later
        if log is not None:
            log(f"LiteMedSAM background embedding failed ({exc}); Train on my labels will embed those images")
        return {"error": str(exc)}


def embed_idle(embedder: LabelEmbedder, root: str | Path, cancel: CancelToken | None = None) -> dict[str, Any]:
    """The labels saved since the last embedding, at idle priority on the calling (worker) thread: for labels
    the background pretraining will not see (it has ended, never runs on a small folder, or stops once a model
    exists), so the next Train on my labels finds their views ready. Never raises (``safely``)."""
    from core.hitl.background_pretrain import lower_priority

    how = lower_priority()
    return {**safely(embedder, root, cancel), "priority": how}
