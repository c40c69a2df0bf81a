"""The Help window: the shortcut table rendered from ``app.actions.SHORTCUTS``."""

from __future__ import annotations

from PySide6 import QtWidgets

from app.actions import help_html


class HelpDialog(QtWidgets.QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("helpDialog")
        self.setWindowTitle("Keyboard shortcuts")
        lay = QtWidgets.QVBoxLayout(self)
        self.text = QtWidgets.QTextBrowser()
        self.text.setHtml(help_html())
        lay.addWidget(self.text)
        self.resize(640, 720)
