"""One open dataset being annotated: current image, its editor, per-image undo, saving, recovery.

Qt-free, so the GUI only forwards user intent here and paints what comes back, and tests can drive
the whole annotation workflow without a window. Undo histories are kept per image for as long as
the session lives; images and masks come through a prefetching, byte-bounded LRU cache.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

from core.annotation.cache import LruCache
from core.annotation.editor import MaskEditor
from core.annotation.history import Box, History, StrokeRecord
from core.data.io import read_image
from core.data.layouts import load_index
from core.data.mask_store import MaskStore, SaveResult
from core.data.masks import infer_classes
from core.data.project import Project
from core.data.recovery import RecoveryJournal
from core.data.sample import Sample


class AnnotationSession:
    def __init__(self, root: str | Path, cache_bytes: int = 384 * 1024 * 1024,
                 history_bytes: int = 512 * 1024 * 1024):
        self.root = Path(root).resolve()
        self.project = Project.open(self.root)
        self.index = self.project.apply(load_index(self.root))
        self.project.classes = self._classes()
        self.store = MaskStore(self.project)
        self.journal = RecoveryJournal(self.project.dir / "recovery")
        self.cache = LruCache(cache_bytes)
        self.histories: OrderedDict[str, History] = OrderedDict()
        self.history_bytes = history_bytes
        self.predictions: dict[str, np.ndarray] = {}
        self.position = -1
        self.editor: MaskEditor | None = None
        self.dirty = False
        self.last_save: SaveResult | None = None

    def _classes(self, max_masks: int = 8):
        """The saved class table, else one guessed from up to ``max_masks`` masks spread over the set.

        Reading every mask (``effective_classes``) costs seconds on large panoramics; a spread sample
        finds the label values of real datasets, and a stray value still shows (magenta) on the canvas.
        """
        if self.project.path.exists() or self.project.extra.get("classes_set"):
            return self.project.classes
        labeled = [s for s in self.index if s.has_mask]
        step = max(len(labeled) // max_masks, 1)
        return infer_classes(labeled[::step][:max_masks])

    # ------------------------------------------------------------------ navigation
    @property
    def sample(self) -> Sample | None:
        return self.index[self.position] if 0 <= self.position < len(self.index) else None

    def _load(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        image = read_image(sample.image)
        return image, self.store.load(sample, image.shape[:2])

    def open(self, position: int) -> Sample:
        """Make ``position`` current, saving the previous image first when it has unsaved edits."""
        if not 0 <= position < len(self.index):
            raise IndexError(f"no sample at position {position} (dataset has {len(self.index)})")
        if self.dirty:
            self.save()
        sample = self.index[position]
        image, labels = self.cache.get(sample.id, lambda: self._load(sample))
        history = self.histories.setdefault(sample.id, History())
        self.histories.move_to_end(sample.id)
        self._trim_histories()
        self.editor = MaskEditor(labels.copy(), image, history)
        self.position = position
        for step in (1, -1, 2):
            j = position + step
            if 0 <= j < len(self.index):
                nxt = self.index[j]
                self.cache.prefetch(nxt.id, lambda s=nxt: self._load(s))
        return sample

    def _trim_histories(self) -> None:
        """Keep all images' undo stacks under ``history_bytes`` by dropping the least recently opened."""
        total = sum(h.nbytes for h in self.histories.values())
        for sid in list(self.histories)[:-1]:
            if total <= self.history_bytes:
                break
            total -= self.histories.pop(sid).nbytes

    def step(self, delta: int) -> Sample | None:
        j = self.position + delta
        return self.open(j) if 0 <= j < len(self.index) else None

    def first_unlabeled(self) -> int | None:
        return next((i for i, s in enumerate(self.index) if s.status == "unlabeled" and not s.has_mask), None)

    # ------------------------------------------------------------------ edits
    def committed(self, record: StrokeRecord | Box | None) -> None:
        """Note a finished change: journal the rectangle's new values and mark the image dirty."""
        if record is None or self.editor is None or self.sample is None:
            return
        y0, y1, x0, x1 = record.box if isinstance(record, StrokeRecord) else record
        self.journal.append(self.sample.id, self.editor.shape, y0, x0, self.editor.labels[y0:y1, x0:x1])
        self.dirty = True

    def undo(self) -> Box | None:
        box = self.editor.undo() if self.editor else None
        self.committed(box)
        return box

    def redo(self) -> Box | None:
        box = self.editor.redo() if self.editor else None
        self.committed(box)
        return box

    def save(self) -> SaveResult | None:
        """Write the current mask (atomic) and clear its journal; an untouched mask is never rewritten."""
        if self.editor is None or self.sample is None or not self.dirty:
            return None
        sample = self.sample
        result = self.store.save(sample, self.editor.labels)
        self.journal.clear(sample.id)
        cached = self.cache.peek(sample.id)
        if cached is not None:
            self.cache.put(sample.id, (cached[0], self.editor.labels.copy()))
        self.dirty = False
        self.last_save = result
        return result

    # ------------------------------------------------------------------ recovery
    def pending_recovery(self) -> list[str]:
        return [sid for sid in self.journal.pending() if sid in self.index]

    def restore(self, sample_ids: list[str]) -> int:
        """Replay journals from an earlier run into the masks and save them; returns strokes restored."""
        total = 0
        for sid in sample_ids:
            sample = self.index[sid]
            image, labels = self._load(sample)
            labels = labels.copy()
            n = self.journal.replay(sid, labels)
            if n:
                self.store.save(sample, labels)
                self.cache.put(sid, (image, labels.copy()))
            self.journal.clear(sid)
            total += n
        if self.sample is not None and self.sample.id in sample_ids:
            self.position, self.editor, self.dirty = -1, None, False
        return total

    def discard_recovery(self) -> None:
        self.journal.discard_all()

    # ------------------------------------------------------------------ predictions and state
    def set_prediction(self, sample_id: str, labels: np.ndarray | None) -> None:
        if labels is None:
            self.predictions.pop(sample_id, None)
        else:
            self.predictions[sample_id] = np.asarray(labels)

    def save_project(self) -> Path:
        return self.project.save()

    def close(self) -> None:
        if self.dirty:
            self.save()
        self.cache.close()

