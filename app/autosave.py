"""Autosave: every few seconds while the current image has unsaved strokes (never mid-stroke).

Image switches save too (``AnnotationSession.open``); between saves the recovery journal holds
every finished stroke, so a crash loses at most the stroke being drawn.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore

INTERVAL_MS = 3000


class Autosave(QtCore.QObject):
    def __init__(self, session_getter: Callable, save: Callable[[], None], parent=None,
                 interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self._session, self._save = session_getter, save
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    def tick(self) -> bool:
        """Save when dirty and idle; returns True when it saved."""
        s = self._session()
        if s is None or not s.dirty or s.editor is None or s.editor.in_stroke:
            return False
        self._save()
        return True
