"""Fields hand the keyboard back to the canvas: after Enter or Esc in a text or number field, focus
returns to the canvas so every single-key shortcut (digits, D, U ...) works again.

Without this a radius typed in a spin box kept the focus, "2" then typed 52 px instead of picking
class 2, and Return in a search field closed a polygon instead of confirming the search.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

FINISH_KEYS = (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter, QtCore.Qt.Key.Key_Escape)
FIELDS = (QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox)


class FieldFocus(QtCore.QObject):
    def __init__(self, window, canvas: QtWidgets.QWidget):
        super().__init__(window)
        self.window, self.canvas = window, canvas
        QtWidgets.QApplication.instance().installEventFilter(self)

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt API)
        kind = ev.type()
        if kind not in (QtCore.QEvent.Type.ShortcutOverride, QtCore.QEvent.Type.KeyPress):
            return False
        if not isinstance(obj, FIELDS) or obj.window() is not self.window:
            return False
        if ev.key() not in FINISH_KEYS:
            return False
        if kind == QtCore.QEvent.Type.ShortcutOverride:
            ev.accept()                       # the field gets Enter / Esc, not the window's shortcuts
            return True
        QtCore.QTimer.singleShot(0, self._back_to_canvas)
        return False

    def _back_to_canvas(self) -> None:
        if self.canvas.isVisible():
            self.canvas.setFocus(QtCore.Qt.FocusReason.ShortcutFocusReason)
