"""Help -> Show logs: the tail of the rotating log file (``core.logs``) and a button to its folder."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from core.logs import log_path, tail


def show_logs(parent: QtWidgets.QWidget) -> QtWidgets.QDialog:
    box = QtWidgets.QDialog(parent)
    box.setObjectName("logsDialog")
    box.setWindowTitle(f"Logs - {log_path()}")
    box.resize(900, 500)
    box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    lay = QtWidgets.QVBoxLayout(box)
    text = QtWidgets.QPlainTextEdit(tail() or "(nothing logged yet)", styleSheet="font-family: monospace;")
    text.setReadOnly(True)
    lay.addWidget(text)
    folder = QtWidgets.QPushButton("Open log folder")
    folder.clicked.connect(lambda: QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(log_path().parent))))
    lay.addWidget(folder)
    box.show()
    return box
