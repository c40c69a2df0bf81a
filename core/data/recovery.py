"""Recovery journal: every finished stroke is appended to disk so a crash or kill loses nothing.

One append-only file per image under ``<project dir>/recovery/``. Each entry stores a rectangle and
its new values; replaying the entries in order over the last saved mask rebuilds the unsaved state
(undo and redo are journaled the same way, as "this rectangle now holds these values"). A save
clears the image's journal. A torn last entry (killed mid-write) is ignored.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    """Append-only per-image journals in ``folder`` (usually ``project.dir / 'recovery'``)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def path_for(self, sample_id: str) -> Path:
        return self.folder / f"{_safe(sample_id)}.journal"

    def append(self, sample_id: str, shape: tuple[int, int], y0: int, x0: int, values: np.ndarray) -> None:
        """Durably add "rectangle at (y0, x0) now holds ``values``" for an image of ``shape``."""
        values = np.ascontiguousarray(values, dtype=np.uint8)
        header = json.dumps({"id": sample_id, "shape": list(shape), "y0": int(y0), "x0": int(x0),
                             "h": int(values.shape[0]), "w": int(values.shape[1])}).encode("utf-8")
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.path_for(sample_id), "ab") as fh:
            fh.write(_HEAD.pack(MAGIC, len(header)) + header + values.tobytes())
            fh.flush()
            os.fsync(fh.fileno())

    def clear(self, sample_id: str) -> None:
        try:
            self.path_for(sample_id).unlink()
        except FileNotFoundError:
            pass

    def pending(self) -> list[str]:
        """Sample ids that have unsaved strokes from an earlier run."""
        if not self.folder.is_dir():
            return []
        ids = []
        for path in sorted(self.folder.glob("*.journal")):
            entries = _read(path)
            if entries:
                ids.append(entries[0][0]["id"])
        return ids

    def entries(self, sample_id: str) -> tuple[tuple[int, int] | None, list[JournalEntry]]:
        """(image shape, entries) of one image's journal; (None, []) when there is none."""
        raw = _read(self.path_for(sample_id))
        if not raw:
            return None, []
        shape = tuple(raw[0][0]["shape"])
        return shape, [JournalEntry(h["y0"], h["x0"], v) for h, v in raw]  # type: ignore[return-value]

    def replay(self, sample_id: str, labels: np.ndarray) -> int:
        """Apply the journal to ``labels`` in place; returns the number of strokes restored."""
        shape, entries = self.entries(sample_id)
        if shape is not None and tuple(shape) != labels.shape:
            return 0
        for e in entries:
            h, w = e.values.shape
            labels[e.y0:e.y0 + h, e.x0:e.x0 + w] = e.values
        return len(entries)

    def discard_all(self) -> None:
        for sample_id in self.pending():
            self.clear(sample_id)


def _read(path: Path) -> list[tuple[dict, np.ndarray]]:
    try:
        data = path.read_bytes()
    except OSError:
        return []
    out, pos = [], 0
    while pos + _HEAD.size <= len(data):
        magic, hlen = _HEAD.unpack_from(data, pos)
        if magic != MAGIC:
            break
        start = pos + _HEAD.size
        try:
            header = json.loads(data[start:start + hlen].decode("utf-8"))
            n = int(header["h"]) * int(header["w"])
        except (ValueError, KeyError, UnicodeDecodeError):
            break
        body = start + hlen
        if body + n > len(data):
            break  # torn write at kill time: drop the incomplete last entry
        values = np.frombuffer(data, np.uint8, n, body).reshape(header["h"], header["w"]).copy()
        out.append((header, values))
        pos = body + n
    return out
