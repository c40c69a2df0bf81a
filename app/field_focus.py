"""Fields hand the keyboard back to the canvas: after Enter or Esc in a text or number field, focus
returns to the canvas so every single-key shortcut (digits, D, U ...) works again.

Without this a radius typed in a spin box kept the focus, "2" then typed 52 px instead of picking
class 2, and Return in a search field closed a polygon instead of confirming the search.

The filter sits on each field as it takes the focus, not on the application: an application-wide
filter in Python ran for every event of every widget (~5,000 per folder open, each taking the GIL),
which cost the UI thread ~80 ms of CPU per open and made it wait for the GIL behind busy workers.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

FINISH_KEYS = (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter, QtCore.Qt.Key.Key_Escape)
FIELDS = (QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox)


class FieldFocus(QtCore.QObject):
    def __init__(self, window, canvas: QtWidgets.QWidget):
        super().__init__(window)
        self.window, self.canvas = window, canvas
        QtWidgets.QApplication.instance().focusChanged.connect(self._focus_changed)
        QtCore.QTimer.singleShot(0, self, self._watch_built)   # fields of the built window (dropped if it goes)

    def _watch_built(self) -> None:
        for kind in FIELDS:
            for field in self.window.findChildren(kind):
                self._watch(field)

    def _focus_changed(self, _old, new) -> None:
        """A field made later (a dialog's, a rebuilt panel's) is watched when it takes the focus."""
        if isinstance(new, FIELDS) and new.window() is self.window:
            self._watch(new)

    def _watch(self, field: QtWidgets.QWidget) -> None:
        if not field.property("finishKeysWatched"):
            field.setProperty("finishKeysWatched", True)
            field.installEventFilter(self)

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt API)
        kind = ev.type()
        if kind not in (QtCore.QEvent.Type.ShortcutOverride, QtCore.QEvent.Type.KeyPress):
            return False
        if ev.key() not in FINISH_KEYS:
            return False
        if kind == QtCore.QEvent.Type.ShortcutOverride:
            ev.accept()                       # the field gets Enter / Esc, not the window's shortcuts
            return True
        QtCore.QTimer.singleShot(0, self, self._back_to_canvas)
        return False

    def _back_to_canvas(self) -> None:
        if self.canvas.isVisible():
            self.canvas.setFocus(QtCore.Qt.FocusReason.ShortcutFocusReason)

