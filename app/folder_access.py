"""Who may edit the open folder, shown in the window (ADR 0009).

A folder another instance holds opens read-only: a red label in the status bar says who holds it,
a dialog says so once, and *Take over* appears when the holder has gone silent. The lock's heartbeat
runs here; an instance whose lock was taken over turns read-only and says so. Edits that could not
be journaled (full disk) or are not allowed (read-only) are reported in plain words, once as a
dialog and then in the status bar.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from app.workers import describe, show_error
from core.data.folder_lock import HEARTBEAT_S

LOCKED_STYLE = "QLabel { background: #b3261e; color: white; padding: 1px 8px; border-radius: 3px; }"
ASIDE_STYLE = "QLabel { background: #f2c94c; color: #222; padding: 1px 8px; border-radius: 3px; }"


class FolderAccess(QtCore.QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.label = QtWidgets.QLabel("")
        self.label.setObjectName("status_lock")
        self.label.setStyleSheet(LOCKED_STYLE)
        self.take = QtWidgets.QPushButton("Take over")
        self.take.setObjectName("takeOverButton")
        self.take.setToolTip("The instance holding this folder has been silent for minutes: edit it here instead")
        self.take.clicked.connect(self.take_over)
        bar = window.statusBar()
        bar.insertPermanentWidget(0, self.label)
        bar.insertPermanentWidget(1, self.take)
        self.label.hide()
        self.take.hide()
        self.box: QtWidgets.QMessageBox | None = None
        self._told: set[str] = set()
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(int(HEARTBEAT_S * 1000))
        self.timer.timeout.connect(self.beat)
        self.timer.start()
        window.tools.failed.connect(self.edit_failed)

    def opened(self, session) -> None:
        """A folder was opened: show whether it is editable, and why not."""
        self.show_state(session)
        if not session.read_only:
            return
        text = (f"{session.read_only_reason}.\n\nThe folder is open read-only: you can browse it, but edits "
                "are not kept. Close the other instance to edit here.")
        if session.can_take_over():
            text += "\n\nThat instance has been silent for minutes (crashed, or its computer sleeps): Take over?"
        self.box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "Folder in use", text,
                                         QtWidgets.QMessageBox.StandardButton.Ok, self.window)
        self.box.setObjectName("lockedBox")
        if session.can_take_over():
            button = self.box.addButton("Take over", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
            button.clicked.connect(self.take_over)
        self.box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        self.box.open()

    def show_state(self, session) -> None:
        read_only = session is not None and session.read_only
        aside = session is not None and not read_only and session.project.in_user_data
        self.take.setVisible(read_only and session.can_take_over())
        self.label.setVisible(read_only or aside)
        if aside:   # a read-only dataset folder: editable, but the edits live elsewhere
            self.label.setStyleSheet(ASIDE_STYLE)
            self.label.setText("Read-only folder: edits are saved in your user-data folder")
            self.label.setToolTip(f"{session.root} cannot be written; edited masks and the project are kept "
                                  f"in {session.project.dir}")
            return
        holder = session.lock.holder if read_only else None
        short = f"Read-only: in use by {holder.short()}" if holder is not None else "Read-only"
        if holder is not None and session.can_take_over():
            short += f", silent for {holder.silent()}"
        self.label.setStyleSheet(LOCKED_STYLE)
        self.label.setText(short if read_only else "")
        self.label.setToolTip(session.read_only_reason if read_only else "")

    def take_over(self) -> bool:
        """Make this instance the folder's editor, then offer back what the old holder left unsaved."""
        w, s = self.window, self.window.session
        if s is None or not s.read_only:
            return False
        if not s.take_over():
            show_error(w, "Take over", f"{s.read_only_reason}; the folder could not be taken over.")
            return False
        self.show_state(s)
        pending = s.pending_recovery()
        if pending and w.ask(f"The previous instance left unsaved strokes on {len(pending)} image(s). "
                             "Restore them into the masks?"):
            try:
                n = s.restore(pending)
            except Exception as exc:
                show_error(w, "Restore strokes", *describe(exc))
                return True
            w.status.message(f"Took over the folder; restored {n} stroke(s)")
            if s.editor is None and len(s.index):
                w.select(max(s.position, 0))
        else:
            w.status.message("Took over the folder: edits are saved again")
        return True

    def beat(self) -> None:
        """Heartbeat of our lock; a lock taken over by another instance turns this one read-only."""
        s = self.window.session
        if s is None:
            return
        if s.read_only:
            self.take.setVisible(s.can_take_over())
            return
        if not s.heartbeat():
            self.show_state(s)
            self.window.autosave.timer.stop()
            show_error(self.window, "Folder taken over", f"{s.read_only_reason}. This window is read-only now; "
                       "its unsaved strokes are kept in the recovery journal for whoever opens the folder next.")

    def edit_failed(self, message: str) -> None:
        self.window.status.message(message, 15000)
        if message not in self._told:
            self._told.add(message)
            show_error(self.window, "Edit not saved", message)


def install_folder_access(window) -> FolderAccess:
    return FolderAccess(window)
