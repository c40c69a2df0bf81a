"""The page shown without a folder: open a folder, recent projects, import STS-2D-Tooth, sample project."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from app.icons import icon
from app.recent import recent_folders


class StartPage(QtWidgets.QWidget):
    open_requested = QtCore.Signal(str)
    browse_requested = QtCore.Signal()
    import_requested = QtCore.Signal()
    sample_requested = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("startPage")
        outer = QtWidgets.QHBoxLayout(self)
        outer.addStretch(1)
        col = QtWidgets.QVBoxLayout()
        col.addStretch(1)
        head = QtWidgets.QHBoxLayout()
        logo = QtWidgets.QLabel()
        logo.setPixmap(icon("app").pixmap(64, 64))
        head.addWidget(logo)
        titles = QtWidgets.QVBoxLayout()
        title = QtWidgets.QLabel("ToothSeg Studio")
        title.setObjectName("title")
        sub = QtWidgets.QLabel("Annotate dental X-rays and ultrasound frames, train on your labels.")
        sub.setObjectName("subtitle")
        titles.addWidget(title)
        titles.addWidget(sub)
        head.addLayout(titles)
        head.addStretch(1)
        col.addLayout(head)
        col.addSpacing(18)
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        for name, text, hint, signal in (
            ("open", "Open folder...", "Any folder of images, with or without masks", self.browse_requested),
            ("sample", "Open sample project", "A small synthetic phantom set to try every tool", self.sample_requested),
            ("import", "Import STS-2D-Tooth...", "Download or unpack the public dataset", self.import_requested),
        ):
            b = QtWidgets.QPushButton(text)
            b.setObjectName("primary" if name == "open" else f"start_{name}")
            b.setMinimumHeight(38)
            b.setToolTip(hint)
            b.clicked.connect(signal)
            col.addWidget(b)
            lbl = QtWidgets.QLabel(hint)
            lbl.setObjectName("hint")
            col.addWidget(lbl)
            self.buttons[name] = b
        col.addSpacing(14)
        col.addWidget(QtWidgets.QLabel("Recent folders"))
        self.recent = QtWidgets.QListWidget()
        self.recent.setObjectName("recentList")
        self.recent.setMinimumWidth(520)
        self.recent.setMaximumHeight(200)
        self.recent.itemActivated.connect(lambda it: self.open_requested.emit(it.data(QtCore.Qt.ItemDataRole.UserRole)))
        col.addWidget(self.recent)
        col.addStretch(2)
        outer.addLayout(col)
        outer.addStretch(1)
        self.refresh()

    def refresh(self) -> None:
        self.recent.clear()
        folders = recent_folders()
        for folder in folders:
            item = QtWidgets.QListWidgetItem(f"{folder.name}    {folder.parent}")
            item.setData(QtCore.Qt.ItemDataRole.UserRole, str(folder))
            item.setToolTip(str(folder))
            self.recent.addItem(item)
        if not folders:
            item = QtWidgets.QListWidgetItem("No recent folders yet")
            item.setFlags(QtCore.Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(item)


class ImportDialog(QtWidgets.QDialog):
    """Asks where STS-2D-Tooth goes and, optionally, where already downloaded parts are."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Import STS-2D-Tooth")
        form = QtWidgets.QFormLayout(self)
        self.dest = QtWidgets.QLineEdit(str(Path.home() / "STS-2D-Tooth"))
        self.parts = QtWidgets.QLineEdit()
        self.parts.setPlaceholderText("optional: folder with the downloaded .zip parts (no download then)")
        for label, edit in (("Destination (new, empty folder)", self.dest), ("Parts folder", self.parts)):
            row = QtWidgets.QHBoxLayout()
            row.addWidget(edit, 1)
            b = QtWidgets.QPushButton("Browse...")
            b.clicked.connect(lambda _=False, e=edit: self._browse(e))
            row.addWidget(b)
            form.addRow(label, row)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(640, 140)

    def _browse(self, edit: QtWidgets.QLineEdit) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Choose folder", edit.text())
        if folder:
            edit.setText(folder)

    def values(self) -> tuple[Path, Path | None]:
        parts = self.parts.text().strip()
        return Path(self.dest.text().strip()), (Path(parts) if parts else None)
