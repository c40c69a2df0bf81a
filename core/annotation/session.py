"""One open dataset being annotated: current image, its editor, per-image undo, saving, recovery.

Qt-free, so the GUI only forwards user intent here and paints what comes back, and tests can drive
the whole annotation workflow without a window. Undo histories are kept per image for as long as
the session lives; images and masks come through a prefetching, byte-bounded LRU cache.

A session holds the folder's edit lock (``core.data.folder_lock``, ADR 0009): a second session on
the same folder is read-only (``read_only``, ``read_only_reason``) until the lock is released or
taken over. Opening with the lock removes temporary files a killed process left behind.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.annotation.cache import LruCache
from core.annotation.editor import MaskEditor
from core.annotation.history import Box, History, StrokeRecord
from core.data.atomic import remove_stale_temps
from core.data.folder_lock import EditLock
from core.data.groups import apply_groups, stored_groups
from core.data.io import read_image
from core.data.layouts import load_index
from core.data.mask_store import MaskStore, SaveResult
from core.data.masks import infer_classes
from core.data.project import PROJECT_DIRNAME, Project, user_data_project_dir
from core.data.recovery import RecoveryJournal
from core.data.sample import Sample
from core.errors import FolderLockedError, ToothSegError


@dataclass
class Loaded:
    """An image and its editor's mask decoded ahead of ``AnnotationSession.show`` (see ``load``)."""

    position: int
    sample: Sample
    image: np.ndarray
    labels: np.ndarray      # the editor's own copy
    source: np.ndarray      # the cached mask it was copied from (a newer one in the cache means: reread)


# ``listener(change, sample_id)``; change is "prediction" (set or cleared) or "saved" (a mask written)
SessionListener = Callable[[str, str], None]


class AnnotationSession:
    def __init__(self, root: str | Path, cache_bytes: int = 384 * 1024 * 1024,
                 history_bytes: int = 512 * 1024 * 1024):
        self.root = Path(root).resolve()
        self.project = Project.open(self.root)
        self.index = self.project.apply(load_index(self.root))
        apply_groups(self.index, stored_groups(self.project))  # acquisition groups kept by the first training
        self.project.classes = self._classes()
        self.store = MaskStore(self.project)
        self.lock = EditLock(self.root / PROJECT_DIRNAME, user_data_project_dir(self.root))
        self.read_only = not self.lock.acquire()
        self.journal = RecoveryJournal(self.project.dir / "recovery", self.lock.token if self.lock.held else "")
        self.removed_temps = [] if self.read_only else remove_stale_temps(self._temp_folders())
        self.cache = LruCache(cache_bytes)
        self.histories: OrderedDict[str, History] = OrderedDict()
        self.history_bytes = history_bytes
        self.predictions: dict[str, np.ndarray] = {}
        self.position = -1
        self.editor: MaskEditor | None = None
        self.dirty = False
        self.last_save: SaveResult | None = None
        self.listeners: list[SessionListener] = []

    def subscribe(self, listener: SessionListener) -> Callable[[], None]:
        """Call ``listener(change, sample_id)`` after each change a view shows ("prediction", "saved"), so
        views follow the session instead of being refreshed by whoever changed it (plain callbacks: no Qt
        here). Listeners run on the thread that made the change (the UI thread in the app). Returns the call
        that unsubscribes."""
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener) if listener in self.listeners else None

    def _notify(self, change: str, sample_id: str) -> None:
        for listener in list(self.listeners):
            listener(change, sample_id)

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

    # ------------------------------------------------------------------ the folder's edit lock
    @property
    def read_only_reason(self) -> str:
        """One line for the GUI: why this session cannot save (empty when it can)."""
        if not self.read_only:
            return ""
        return f"Read-only: {self.root.name} is {self.lock.describe_holder()}"

    def can_take_over(self) -> bool:
        """The holder is gone or silent for long enough that the user may take the folder over."""
        return self.read_only and self.lock.stale()

    def take_over(self) -> bool:
        """Take the lock from a stale holder; its unsaved strokes become recoverable here."""
        if not self.lock.take_over():
            return False
        self.read_only = False
        self.journal = RecoveryJournal(self.project.dir / "recovery", self.lock.token)
        self.removed_temps = remove_stale_temps(self._temp_folders())
        return True

    def heartbeat(self) -> bool:
        """Keep the lock alive (call every ``HEARTBEAT_S``); False once it was taken over (read-only now)."""
        if self.read_only:
            return False
        if not self.lock.heartbeat():
            self.read_only = True
        return not self.read_only

    def _check_lock(self) -> None:
        if not self.read_only and self.lock.verify() and self._cover_inside():
            return
        self.read_only = True
        raise FolderLockedError(f"{self.read_only_reason}. Nothing was saved; your strokes are kept in the "
                                "recovery journal and are offered back when the folder is next opened.")

    def _cover_inside(self) -> bool:
        """A save may create the folder's ``.toothseg/``: put our lock file there first."""
        if not self.project.in_user_data:
            try:
                self.project.dir.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # read-only folder: the save goes to user data, whose lock we hold
        return self.lock.cover_inside()

    def _temp_folders(self) -> set[Path]:
        """Every folder our atomic writes touch: the project's, its models', the dataset's mask folders."""
        pdir = self.project.dir
        folders = {self.root, pdir, pdir / "masks", user_data_project_dir(self.root) / "masks"}
        folders |= {Path(s.mask).parent for s in self.index if s.mask is not None}
        if (pdir / "models").is_dir():
            folders |= {p for p in (pdir / "models").iterdir() if p.is_dir()}
        return folders

    # ------------------------------------------------------------------ navigation
    @property
    def sample(self) -> Sample | None:
        return self.index[self.position] if 0 <= self.position < len(self.index) else None

    def _load(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        image = read_image(sample.image)
        return image, self.store.load(sample, image.shape[:2])

    def load(self, position: int) -> Loaded:
        """Decode ``position``'s image and mask (from the cache when prefetched) with a private copy of the
        mask for its editor. Changes no session state, so a worker thread may call it while the user
        still sees the previous image; ``show`` then makes it current in a few milliseconds."""
        if not 0 <= position < len(self.index):
            raise IndexError(f"no sample at position {position} (dataset has {len(self.index)})")
        sample = self.index[position]
        image, labels = self.cache.get(sample.id, lambda: self._load(sample))
        return Loaded(position, sample, image, labels.copy(), labels)

    def show(self, loaded: Loaded) -> Sample:
        """Make a loaded image current, saving the previous one first when it has unsaved edits."""
        if self.dirty:
            self.save()
        sample = loaded.sample
        if not 0 <= loaded.position < len(self.index) or self.index[loaded.position] is not sample:
            raise IndexError(f"{sample.id} is no longer at position {loaded.position}")
        cached = self.cache.peek(sample.id)
        if cached is None or cached[1] is not loaded.source:   # saved, replaced or dropped meanwhile: reread
            loaded = self.load(loaded.position)
        history = self.histories.setdefault(sample.id, History())
        self.histories.move_to_end(sample.id)
        self._trim_histories()
        self.editor = MaskEditor(loaded.labels, loaded.image, history)
        self.position = loaded.position
        self.prefetch_around(loaded.position)
        return sample

    def open(self, position: int) -> Sample:
        """Make ``position`` current at once (load and show on the calling thread)."""
        if self.dirty:
            self.save()
        return self.show(self.load(position))

    def prefetch_around(self, position: int) -> None:
        """Decode the next, previous and second-next images in the background."""
        for step in (1, -1, 2):
            j = position + step
            if 0 <= j < len(self.index):
                nxt = self.index[j]
                self.cache.prefetch(nxt.id, lambda s=nxt: self._load(s))

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
        """The first unlabeled image other than the current one: the image just finished counts as
        unlabeled until its mask is saved (on the switch), and U must move on from it."""
        return next((i for i, s in enumerate(self.index)
                     if i != self.position and s.status == "unlabeled" and not s.has_mask), None)

    # ------------------------------------------------------------------ edits
    def committed(self, record: StrokeRecord | Box | None) -> None:
        """Note a finished change: journal the rectangle's new values and mark the image dirty."""
        if record is None or self.editor is None or self.sample is None:
            return
        if self.read_only:
            raise FolderLockedError(f"{self.read_only_reason}; this edit cannot be saved.")
        self.dirty = True   # before the journal: a full disk keeps the stroke in the editor, to save later
        y0, y1, x0, x1 = record.box if isinstance(record, StrokeRecord) else record
        self.journal.append(self.sample.id, self.editor.shape, y0, x0, self.editor.labels[y0:y1, x0:x1])

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
        self._check_lock()
        sample = self.sample
        result = self.store.save(sample, self.editor.labels)
        self.journal.clear(sample.id)
        cached = self.cache.peek(sample.id)
        if cached is not None:
            self.cache.put(sample.id, (cached[0], self.editor.labels.copy()))
        self.dirty = False
        self.last_save = result
        self._notify("saved", sample.id)
        return result

    # ------------------------------------------------------------------ recovery
    def pending_recovery(self) -> list[str]:
        if self.read_only:
            return []
        return [sid for sid in self.journal.pending() if sid in self.index]

    def restore(self, sample_ids: list[str]) -> int:
        """Replay journals from an earlier run into the masks and save them; returns strokes restored.

        Damaged entries and images that can no longer be read are skipped, never fatal: each is
        one line in ``journal.problems`` for the user, and every other stroke is restored."""
        self._check_lock()
        total = 0
        for sid in sample_ids:
            sample = self.index[sid]
            try:
                image, labels = self._load(sample)
            except ToothSegError as exc:
                self.journal.problems.append(f"{sid}: not restored ({exc}); its journal is kept")
                continue
            labels = labels.copy()
            n = self.journal.replay(sid, labels)
            if n:
                self.store.save(sample, labels)
                self.cache.put(sid, (image, labels.copy()))
                self._notify("saved", sid)
            self.journal.clear_everywhere(sid)
            total += n
        if self.sample is not None and self.sample.id in sample_ids:
            self.position, self.editor, self.dirty = -1, None, False
        return total

    def discard_recovery(self) -> None:
        if not self.read_only:
            self.journal.discard_all()

    # ------------------------------------------------------------------ predictions and state
    def set_prediction(self, sample_id: str, labels: np.ndarray | None) -> None:
        """Keep (or with None drop) a model's label map for ``sample_id``; listeners hear "prediction"."""
        if labels is None:
            if self.predictions.pop(sample_id, None) is None:
                return
        else:
            self.predictions[sample_id] = np.asarray(labels)
        self._notify("prediction", sample_id)

    def save_project(self) -> Path:
        self._check_lock()
        return self.project.save()

    def close(self) -> None:
        """Save (when this session may), then free the cache and the lock; a read-only session's
        unsaved strokes stay in its journal."""
        if self.dirty and not self.read_only:
            self.save()
        self.cache.close()
        if self.lock.held:
            self.journal.remove_empty_folders()
            self.lock.release()
            for empty in (self.lock.inside, self.lock.aside, self.project.dir):
                try:
                    empty.rmdir()       # opening leaves no trace in a folder it did not save to
                except OSError:
                    pass

