"""The dock every side panel is: a titled QDockWidget whose body is a vertical layout."""

from __future__ import annotations

from PySide6 import QtWidgets


class PanelDock(QtWidgets.QDockWidget):
    def __init__(self, title: str, object_name: str, parent=None):
        super().__init__(title, parent)
        self.setObjectName(object_name)
        body = QtWidgets.QWidget()
        self.body_layout = QtWidgets.QVBoxLayout(body)
        self.body_layout.setContentsMargins(6, 6, 6, 6)
        self.setWidget(body)
