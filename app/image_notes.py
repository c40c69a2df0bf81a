"""Per-image flags and notes: the note box under the dataset list follows the image in the editor,
each change is saved at once (a small locked read-modify-write), and the list can be filtered by
flag. Composition only: storage is ``core.data.image_notes``."""

from __future__ import annotations

from PySide6 import QtCore

from app.panels.image_note import ImageNoteBox
from app.workers import describe, show_error
from core.data.image_notes import FLAGS, ImageNotes


class ImageNotesController(QtCore.QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.notes: ImageNotes | None = None
        self.box = ImageNoteBox()
        panel = window.dataset
        panel.body_layout.addWidget(self.box)
        panel.flag.addItems(FLAGS)
        panel.flag_filter = self._flagged
        panel.model.note_text = self.note_text
        window.image_shown.connect(lambda _position: self.show_current())
        self.box.changed.connect(self._store)

    def _current_notes(self) -> ImageNotes | None:
        s = self.w.session
        if s is None:
            return None
        if self.notes is None or self.notes.dir != s.project.dir:
            try:
                self.notes = ImageNotes.open(s.project.dir)
            except Exception as exc:
                self.notes = None
                show_error(self.w, "Image notes", *describe(exc))
        return self.notes

    def show_current(self) -> None:
        s, notes = self.w.session, self._current_notes()
        sample = s.sample if s is not None else None
        self.box.show_note(notes.get(sample.id) if notes is not None and sample is not None else None)
        if s is not None and s.read_only:
            self.box.setEnabled(False)

    def _flagged(self, flag: str) -> set[str]:
        notes = self._current_notes()
        return notes.flagged(flag) if notes is not None else set()

    def _store(self, flags: list[str], note: str) -> None:
        s, notes = self.w.session, self._current_notes()
        if s is None or notes is None or s.sample is None:
            return
        try:
            notes.set(s.sample.id, flags, note)
        except Exception as exc:
            show_error(self.w, "Image notes", *describe(exc))
            self.show_current()
            return
        self.w.dataset.model.refresh_sample(s.position)
        self.w.status.message(f"Saved flags / note of {s.sample.id}")

    def note_text(self, sample_id: str) -> str:
        notes = self.notes
        if notes is None:
            return ""
        n = notes.get(sample_id)
        return ", ".join(n.flags) + (" · " if n.flags and n.note else "") + (n.note[:40] if n.note else "")


def install_image_notes(window) -> ImageNotesController:
    return ImageNotesController(window)
