"""Recovery journal: every finished stroke is appended to disk so a crash or kill loses nothing.

One append-only file per image and app instance under ``<project dir>/recovery/<instance>/`` (one
folder per instance, so one instance's save never deletes another's unsaved strokes). Each entry
stores a rectangle and its new values; replaying the entries in order over the last saved mask
rebuilds the unsaved state (undo and redo are journaled the same way, as "this rectangle now holds
these values"). A save clears the instance's journal of that image. A torn last entry (killed
mid-write) is ignored; a write that fails (full disk) is rolled back, never leaving a torn or empty
file, and raises a clear error while the stroke stays in the editor.
"""

from __future__ import annotations

import glob
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.atomic import FULL_ERRNOS
from core.errors import DiskFullError, ToothSegError

MAGIC = b"TSJ1"
_HEAD = struct.Struct("<4sI")  # magic, header length


@dataclass
class JournalEntry:
    y0: int
    x0: int
    values: np.ndarray


def _safe(sample_id: str) -> str:
    return sample_id.replace("\\", "/").replace("/", "__")


class RecoveryJournal:
    """Append-only per-image journals under ``root`` (usually ``project.dir / 'recovery'``); this
    instance writes into ``root / instance`` and reads every instance's (and older flat) journals."""

    def __init__(self, root: str | os.PathLike, instance: str = ""):
        self.root = Path(root)
        self.folder = self.root / instance if instance else self.root
        self.problems: list[str] = []  # damaged entries skipped by replay, one readable line each

    def path_for(self, sample_id: str) -> Path:
        return self.folder / f"{_safe(sample_id)}.journal"

    def _files(self, sample_id: str | None = None) -> list[Path]:
        """Every journal file (of one image), oldest first: flat ones, then each instance folder's."""
        name = glob.escape(f"{_safe(sample_id)}.journal") if sample_id is not None else "*.journal"
        if not self.root.is_dir():
            return []
        files = [*self.root.glob(name), *self.root.glob(f"*/{name}")]
        return sorted(files, key=_mtime)

    def append(self, sample_id: str, shape: tuple[int, int], y0: int, x0: int, values: np.ndarray) -> None:
        """Durably add "rectangle at (y0, x0) now holds ``values``" for an image of ``shape``."""
        values = np.ascontiguousarray(values, dtype=np.uint8)
        header = json.dumps({"id": sample_id, "shape": list(shape), "y0": int(y0), "x0": int(x0),
                             "h": int(values.shape[0]), "w": int(values.shape[1])}).encode("utf-8")
        path = self.path_for(sample_id)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _append(path, _HEAD.pack(MAGIC, len(header)) + header + values.tobytes())
        except OSError as exc:
            if exc.errno in FULL_ERRNOS:
                raise DiskFullError(f"The disk is full: the last stroke could not be written to the recovery "
                                    f"journal {path}. It is still in the editor; free some space and save.") from exc
            raise ToothSegError(f"Could not write the recovery journal {path} ({exc.strerror or exc}); the "
                                "last stroke is still in the editor: save to keep it.") from exc

    def clear(self, sample_id: str) -> None:
        """Forget this instance's (and older flat) journal of one image: its mask was just saved."""
        for path in {self.path_for(sample_id), self.root / f"{_safe(sample_id)}.journal"}:
            try:
                path.unlink()
            except OSError:
                pass

    def clear_everywhere(self, sample_id: str) -> None:
        """Forget every instance's journal of one image (after restoring or discarding them)."""
        for path in self._files(sample_id):
            try:
                path.unlink()
            except OSError:
                pass

    def pending(self) -> list[str]:
        """Sample ids that have unsaved strokes from an earlier run (any instance)."""
        ids: list[str] = []
        for path in self._files():
            entries = _read(path)
            if entries and entries[0][0]["id"] not in ids:
                ids.append(entries[0][0]["id"])
        return ids

    def entries(self, sample_id: str) -> tuple[tuple[int, int] | None, list[JournalEntry]]:
        """(image shape, entries) of one image's journals in write order; (None, []) when there are none."""
        raw = [e for path in self._files(sample_id) for e in _read(path)]
        if not raw:
            return None, []
        shape = tuple(raw[0][0]["shape"])
        return shape, [JournalEntry(h["y0"], h["x0"], v) for h, v in raw]  # type: ignore[return-value]

    def replay(self, sample_id: str, labels: np.ndarray) -> int:
        """Apply the journal to ``labels`` in place; returns the number of strokes restored.

        An entry that does not fit the mask (a rectangle outside it, a journal written for another
        size, a damaged header) is skipped and named in ``self.problems``; the others are restored.
        """
        raw, damaged = [], 0
        for path in self._files(sample_id):
            entries, bad = _read_checked(path)
            raw += entries
            damaged += bad
        if damaged:
            self.problems.append(f"{sample_id}: {damaged} damaged journal entr{'y' if damaged == 1 else 'ies'} skipped")
        restored = skipped = 0
        for header, values in raw:
            h, w = values.shape
            y0, x0 = header["y0"], header["x0"]
            if tuple(header["shape"]) != labels.shape or y0 + h > labels.shape[0] or x0 + w > labels.shape[1]:
                skipped += 1
                continue
            labels[y0:y0 + h, x0:x0 + w] = values
            restored += 1
        if skipped:
            self.problems.append(f"{sample_id}: {skipped} stroke(s) skipped: they lie outside the "
                                 f"{labels.shape[1]}x{labels.shape[0]} mask")
        return restored

    def discard_all(self) -> None:
        for path in self._files():
            try:
                path.unlink()
            except OSError:
                pass

    def remove_empty_folders(self) -> None:
        """Drop this instance's folder and the recovery folder when nothing is left in them."""
        for folder in (self.folder, self.root):
            try:
                folder.rmdir()
            except OSError:
                pass


def _append(path: Path, blob: bytes) -> None:
    """Append and fsync; on failure cut the file back to its old length (delete it if it was new)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(blob)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass
            if start == 0:
                os.close(fd)
                fd = -1
                path.unlink(missing_ok=True)
            raise
    finally:
        if fd >= 0:
            os.close(fd)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _read(path: Path) -> list[tuple[dict, np.ndarray]]:
    return _read_checked(path)[0]


def _read_checked(path: Path) -> tuple[list[tuple[dict, np.ndarray]], int]:
    """(valid entries, number of damaged ones) of one journal file.

    A torn last entry (killed mid-write) is not damage. An entry whose header holds wrong types or
    negative numbers is skipped; when its length cannot be trusted, reading stops there.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return [], 0
    out, pos, damaged = [], 0, 0
    while pos + _HEAD.size <= len(data):
        magic, hlen = _HEAD.unpack_from(data, pos)
        start = pos + _HEAD.size
        if magic != MAGIC or start + hlen > len(data):
            damaged += magic != MAGIC
            break
        try:
            header = json.loads(data[start:start + hlen].decode("utf-8"))
            h, w = header["h"], header["w"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
            damaged += 1
            break
        if not (_is_count(h) and _is_count(w)):
            damaged += 1
            break  # the size of the values block is unknown: nothing after it can be trusted
        body = start + hlen
        if body + h * w > len(data):
            break  # torn write at kill time: drop the incomplete last entry
        if _valid_header(header):
            out.append((header, np.frombuffer(data, np.uint8, h * w, body).reshape(h, w).copy()))
        else:
            damaged += 1
        pos = body + h * w
    return out, damaged


def _is_count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _valid_header(header: dict) -> bool:
    shape = header.get("shape")
    return (isinstance(header.get("id"), str) and isinstance(shape, list) and len(shape) == 2
            and all(_is_count(v) for v in shape)
            and all(isinstance(header.get(k), int) and not isinstance(header.get(k), bool) and header[k] >= 0
                    for k in ("y0", "x0")))
