"""Per-image flags and a free-text note ("unsure", "artefact", "skip": what an annotator wants to
remember about one image), kept beside the project file in ``image_notes.json``.

A file of its own rather than a field of ``project.json``: notes change on every other image,
and each save is a read-modify-write under the same short file lock as the project, merged per
image, so two instances (or the app and a script) never drop each other's notes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.data.atomic import atomic_write_json
from core.data.file_lock import locked
from core.errors import ProjectFileError

FLAGS = ("unsure", "artefact", "skip", "check again")
FILENAME = "image_notes.json"
MAX_NOTE = 2000


@dataclass
class ImageNote:
    flags: tuple[str, ...] = ()
    note: str = ""

    @property
    def empty(self) -> bool:
        return not self.flags and not self.note.strip()

    def to_json(self) -> dict:
        return {"flags": list(self.flags), "note": self.note}


@dataclass
class ImageNotes:
    """All notes of one project folder; ``dir`` is the project directory (``Project.dir``)."""

    dir: Path
    notes: dict[str, ImageNote] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.dir) / FILENAME

    @classmethod
    def open(cls, project_dir: str | Path) -> ImageNotes:
        out = cls(Path(project_dir))
        out.notes = _read(out.path)
        return out

    def get(self, sample_id: str) -> ImageNote:
        return self.notes.get(sample_id, ImageNote())

    def flagged(self, flag: str) -> set[str]:
        return {sid for sid, n in self.notes.items() if flag in n.flags}

    def set(self, sample_id: str, flags: list[str] | tuple[str, ...], note: str) -> ImageNote:
        """Store one image's flags and note (an empty note removes the entry) and save at once."""
        unknown = [f for f in flags if f not in FLAGS]
        if unknown:
            raise ValueError(f"unknown flag(s) {unknown}; known: {', '.join(FLAGS)}")
        entry = ImageNote(tuple(f for f in FLAGS if f in flags), str(note)[:MAX_NOTE])
        with locked(self.path):
            disk = _read(self.path)                     # another writer's notes of other images stay
            if entry.empty:
                disk.pop(sample_id, None)
            else:
                disk[sample_id] = entry
            atomic_write_json(self.path, {"format": "toothseg-image-notes", "version": 1,
                                          "notes": {k: v.to_json() for k, v in sorted(disk.items())}})
            self.notes = disk
        return entry


def _read(path: Path) -> dict[str, ImageNote]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ProjectFileError(f"{path} is not readable notes JSON ({exc}); it was left untouched") from exc
    notes = data.get("notes") if isinstance(data, dict) else None
    if not isinstance(notes, dict):
        raise ProjectFileError(f"{path} has no 'notes' table; it was left untouched")
    out = {}
    for sid, n in notes.items():
        if isinstance(sid, str) and isinstance(n, dict):
            flags = n.get("flags", [])
            flags = tuple(f for f in FLAGS if isinstance(flags, list) and f in flags)
            text = n.get("note", "")
            out[sid] = ImageNote(flags, text[:MAX_NOTE] if isinstance(text, str) else "")
    return out
