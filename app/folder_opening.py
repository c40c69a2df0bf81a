"""Opening a dataset folder in stages, so the window never freezes: the index, class guess and lock are
built in the loader's worker (``open_session``, ``app.loading.Loader`` runs it); then the dataset list fills
in one event-loop turn, and the classes, docks, crash-recovery offer and first image in the next (all at
once froze the window ~60-100 ms on 30 panoramics). The docks are revealed one per turn while the folder
is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtWidgets

from app.recent import remember
from app.workers import describe, show_error
from core.annotation.session import AnnotationSession

if TYPE_CHECKING:
    from app.main_window import MainWindow


def open_session(folder: str | Path) -> AnnotationSession:
    """The folder-open worker: index, class guess and lock, plus the modules the UI thread needs next."""
    session = AnnotationSession(folder)
    from app.preload import warm_foundation_check, warm_imports

    warm_imports()
    warm_foundation_check()
    return session


class FolderOpening(QtCore.QObject):
    """The stages of ``MainWindow.open_folder`` and the docks shown or hidden with a folder."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.w = window
        self.opened: AnnotationSession | None = None    # the session the last open produced
        self._docks_to_reveal: list[QtWidgets.QWidget] = []

    def _docks(self) -> tuple[QtWidgets.QWidget, ...]:
        w = self.w
        return (*w.toolbars, w.dataset, w.classes, w.layers)

    def _model_docks(self) -> tuple[QtWidgets.QWidget, ...]:
        """Training, models, review ... (``app.hitl``): revealed with the others while the folder is read,
        or ``hitl`` shows all five in the turn that lists the folder (~17 ms of UI-thread CPU)."""
        return tuple(self.w.hitl.docks)

    def show_docks(self, on: bool) -> None:
        self._docks_to_reveal = []
        for widget in self._docks():
            widget.setVisible(on)

    def _reveal_docks(self) -> None:
        """Show the toolbars and docks one per event-loop turn while a folder is read: showing all five
        at once lays out and paints the whole window in one go (~100 ms frozen on a 2-core laptop).
        ``_shown`` shows whatever is left; a failed open hides them again."""
        self._docks_to_reveal = [widget for widget in (*self._docks(), *self._model_docks())
                                 if not widget.isVisible()]

        def step() -> None:
            if self._docks_to_reveal:
                self._docks_to_reveal.pop(0).setVisible(True)
                QtCore.QTimer.singleShot(0, self, step)

        QtCore.QTimer.singleShot(0, self, step)   # dropped with the window if it closes meanwhile

    def open(self, folder: str | Path, select: int | None = 0, offer_recovery: bool = True,
             wait: bool = True) -> bool:
        """See ``MainWindow.open_folder``."""
        w = self.w
        try:
            if w.session is not None:
                w.session.close()
        except Exception as exc:
            show_error(w, "Open folder", *describe(exc))
            return False
        w.session = None
        self.opened = None
        w.dataset.set_index(None)
        w.canvas.clear()
        w.stack.setCurrentWidget(w.canvas)
        self._reveal_docks()
        w.status.labels["zoom"].setText("")                  # no image, no zoom
        w.loader.request("Open folder", f"Opening {Path(folder).name} ...", open_session, folder,
                         on_done=lambda s: self._ready(s, select, offer_recovery),
                         on_failed=self._failed, on_stale=lambda s: s.close())
        if not wait:
            return True
        w.loader.wait()
        return self.opened is not None and self.opened is w.session

    def _failed(self) -> None:
        if self.w.session is None:
            self.show_docks(False)
            for dock in self._model_docks():
                dock.setVisible(False)
            self.w.stack.setCurrentWidget(self.w.start)

    def _ready(self, session: AnnotationSession, select: int | None, offer_recovery: bool) -> None:
        """The folder is read: its list (and the training panels that follow it) in one event-loop turn,
        the classes, docks and first image in the next."""
        w = self.w
        w.session = self.opened = session
        remember(session.root)
        session.subscribe(lambda change, sample_id: self._row_saved(session, change, sample_id))

        def listed() -> None:
            if session is w.session:
                w.dataset.set_index(session.index)
                w.loader.defer("Open folder", lambda: self._shown(session, select, offer_recovery))

        w.loader.defer("Open folder", listed)

    def _row_saved(self, session: AnnotationSession, change: str, sample_id: str) -> None:
        """A mask of the open folder was saved (a key, the autosave, a switch, a restore): its row repaints."""
        if change == "saved" and session is self.w.session and sample_id in session.index:
            self.w.dataset.model.refresh_sample(session.index.samples.index(session.index[sample_id]))

    def _shown(self, session: AnnotationSession, select: int | None, offer_recovery: bool) -> None:
        w = self.w
        if session is not w.session:
            return
        w.classes.set_project(session.project)
        w.recolor()
        w.stack.setCurrentWidget(w.canvas)
        self.show_docks(True)
        w.setWindowTitle(f"{session.root.name}{' (read-only)' if session.read_only else ''} - ToothSeg Studio")
        w.folder_access.opened(session)
        pending = session.pending_recovery() if offer_recovery else []
        if pending and w.ask(f"Unsaved strokes from an earlier session (crash or forced quit) were found "
                             f"for {len(pending)} image(s). Restore them into the masks?"):
            try:
                n = session.restore(pending)
            except Exception as exc:  # a full disk or a lost lock: say so; the journals stay for next time
                show_error(w, "Restore unsaved strokes", *describe(exc))
            else:
                done = f"Restored {n} stroke(s) on {len(pending)} image(s)"
                w.status.message(done)
                if session.journal.problems:  # damaged entries were skipped: say which, once
                    show_error(w, "Restore unsaved strokes", f"{done}; skipped: {'; '.join(session.journal.problems)}")
        elif pending:
            session.discard_recovery()
        if select is not None and len(session.index):
            w.select(select, wait=False)
