"""Flags and a note for the image in the editor ("unsure", "artefact", "skip", "check again").

A view only: it shows what it is given and emits ``changed`` when the user ticks a flag or
finishes the note; ``app.image_notes`` stores it.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from core.data.image_notes import FLAGS, ImageNote


class ImageNoteBox(QtWidgets.QGroupBox):
    changed = QtCore.Signal(list, str)          # flags, note

    def __init__(self, parent=None):
        super().__init__("This image", parent)
        self.setObjectName("imageNote")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        row = QtWidgets.QHBoxLayout()
        self.flags: dict[str, QtWidgets.QToolButton] = {}
        for flag in FLAGS:
            b = QtWidgets.QToolButton()
            b.setObjectName(f"flag_{flag.replace(' ', '_')}")
            b.setText(flag)
            b.setCheckable(True)
            b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            b.setToolTip(f"Flag this image as '{flag}' (filter the list by flag above)")
            b.toggled.connect(self._emit)
            row.addWidget(b)
            self.flags[flag] = b
        row.addStretch(1)
        lay.addLayout(row)
        self.note = QtWidgets.QLineEdit()
        self.note.setObjectName("imageNoteText")
        self.note.setPlaceholderText("Note for this image (Enter to keep)")
        self.note.editingFinished.connect(self._emit)
        lay.addWidget(self.note)
        self._showing = False
        self.setEnabled(False)

    def show_note(self, note: ImageNote | None) -> None:
        """Show ``note`` (None: no image, the box is disabled) without emitting ``changed``."""
        self._showing = True
        for flag, b in self.flags.items():
            b.setChecked(bool(note) and flag in note.flags)
        self.note.setText(note.note if note else "")
        self.setEnabled(note is not None)
        self._showing = False

    def values(self) -> tuple[list[str], str]:
        return [f for f, b in self.flags.items() if b.isChecked()], self.note.text().strip()

    def _emit(self, *_):
        if not self._showing:
            self.changed.emit(*self.values())
