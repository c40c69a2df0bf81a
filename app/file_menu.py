"""The File menu: open a folder or a recent one, the sample project, import STS-2D-Tooth, export the
labels (COCO JSON, nnU-Net dataset), Preferences and Quit. Exports run in a worker."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtGui, QtWidgets

from app.preferences_dialog import apply, current, edit_preferences
from app.recent import recent_folders
from app.workers import run_job


class FileMenu:
    def __init__(self, window):
        self.w = window
        bar = window.menuBar()
        self.menu = QtWidgets.QMenu("&File", window)
        self.menu.setObjectName("fileMenu")
        first = bar.actions()[0] if bar.actions() else None
        bar.insertMenu(first, self.menu) if first is not None else bar.addMenu(self.menu)
        self.menu.addAction(window.actions["open_folder"])
        self.recent = self.menu.addMenu("Open &recent")
        self.recent.setObjectName("recentMenu")
        self.recent.aboutToShow.connect(self.fill_recent)
        self._add("Open sample project", window.open_sample_project)
        self.menu.addSeparator()
        self._add("Import STS-2D-Tooth...", window.import_sts)
        export = self.menu.addMenu("&Export labels")
        self.exports = {
            "coco": self._add("COCO JSON...", self.export_coco, export),
            "nnunet": self._add("nnU-Net dataset...", self.export_nnunet, export),
        }
        self.menu.addSeparator()
        self.preferences = window.actions["preferences"]
        self.menu.addAction(self.preferences)
        self.menu.addSeparator()
        self.menu.addAction(window.actions["quit"])
        self.menu.aboutToShow.connect(self._enable)
        apply(window, current())

    def _add(self, text: str, slot, menu: QtWidgets.QMenu | None = None) -> QtGui.QAction:
        act = QtGui.QAction(text, self.w)
        act.triggered.connect(lambda _=False: slot())
        (menu or self.menu).addAction(act)
        return act

    def edit_preferences(self) -> bool:
        return edit_preferences(self.w)

    def fill_recent(self) -> None:
        self.recent.clear()
        folders = recent_folders()
        for folder in folders:
            act = self.recent.addAction(str(folder))
            act.triggered.connect(lambda _=False, f=folder: self.w.open_folder(f, wait=False))
        if not folders:
            self.recent.addAction("No recent folders").setEnabled(False)

    def _enable(self) -> None:
        for act in self.exports.values():
            act.setEnabled(self.w.session is not None)

    def export_coco(self, out: str | Path | None = None) -> None:
        s = self.w.session
        if s is None:
            return
        out = out or QtWidgets.QFileDialog.getSaveFileName(self.w, "Export COCO JSON", str(s.root / "annotations.json"),
                                                           "COCO JSON (*.json)")[0]
        if not out:
            return
        from core.interop.coco import export_coco

        self.w.save_now(quiet=True)
        run_job(self.w, "Export COCO", export_coco, s.index, s.project, Path(out),
                on_done=lambda r: self.w.status.message(f"Wrote {out}"))

    def export_nnunet(self, out: str | Path | None = None) -> None:
        s = self.w.session
        if s is None:
            return
        out = out or QtWidgets.QFileDialog.getExistingDirectory(self.w, "nnU-Net dataset folder (Dataset501_Name)")
        if not out:
            return
        from core.interop.nnunet import export_nnunet

        self.w.save_now(quiet=True)
        run_job(self.w, "Export nnU-Net", export_nnunet, s.index, s.project, Path(out),
                on_done=lambda r: self.w.status.message(f"Wrote {out}"))


def install_file_menu(window) -> FileMenu:
    return FileMenu(window)
