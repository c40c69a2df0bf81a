"""Where the side panels sit, and the room they leave the image.

Docks are grouped by what they are for, so no dock area needs tab scroll arrows at 1400x900: the lists
of images to open (Dataset, Review, Label next, Evaluate) on the left, the editor's tools, training,
models and instances on the right, tabs on top. ``Ctrl+Shift+F`` (the table in app/actions.py) folds every side panel away and
brings back the ones that were open. The arrangement (sizes, tabs, hidden panels, collapsed or not)
is stored in the user-data folder when the window closes (app/preferences.py, not QSettings, so tests
stay isolated) and restored whenever a folder's docks appear.
"""

from __future__ import annotations

import logging

from PySide6 import QtCore, QtWidgets

from app import preferences
from app.actions import build_actions

log = logging.getLogger("toothseg.app.layout")
STATE_KEY = "window_state"
STATE_VERSION = 2   # bump when the default arrangement changes: an older stored layout is then ignored
LEFT, RIGHT = QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, QtCore.Qt.DockWidgetArea.RightDockWidgetArea
SHORT_TITLES = {"labelNextDock": "Label next", "evaluationDock": "Evaluate"}


class PanelLayout(QtCore.QObject):
    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.w = window
        self.collapsed: list[QtWidgets.QDockWidget] = []   # the docks a collapse hid (shown again on expand)
        self._restored_for = None
        self._first = True
        self._arrange()
        self.actions = build_actions(window, {"toggle_panels": self.toggle}, module="layout")
        self._menu()
        window.dataset.model.modelReset.connect(self._folder_changed)
        window.image_shown.connect(lambda _position: self._folder_changed(shown=True))
        window.installEventFilter(self)

    # ------------------------------------------------------------------ arrangement
    def docks(self) -> list[QtWidgets.QDockWidget]:
        return [d for d in self.w.findChildren(QtWidgets.QDockWidget) if d.parent() is self.w]

    def _dock(self, name: str) -> QtWidgets.QDockWidget | None:
        return self.w.findChild(QtWidgets.QDockWidget, name)

    def _arrange(self) -> None:
        """Image lists beside the dataset (left); tools, training, models, instances on the right."""
        w = self.w
        w.setTabPosition(QtCore.Qt.DockWidgetArea.AllDockWidgetAreas, QtWidgets.QTabWidget.TabPosition.North)
        w.setDockOptions(w.dockOptions() | QtWidgets.QMainWindow.DockOption.GroupedDragging)
        for name, title in SHORT_TITLES.items():
            d = self._dock(name)
            if d is not None:
                d.setWindowTitle(title)
        dataset = self._dock("datasetDock") or w.dataset
        for name in ("reviewDock", "labelNextDock", "evaluationDock"):
            d = self._dock(name)
            if d is not None and dataset is not None:
                w.addDockWidget(LEFT, d)
                w.tabifyDockWidget(dataset, d)
        if dataset is not None:
            QtCore.QTimer.singleShot(0, dataset, dataset.raise_)

    def _menu(self) -> None:
        """View -> Panels: the collapse toggle and one check per panel (the HITL menu adds its own)."""
        bar = self.w.menuBar()
        menu = next((a.menu() for a in bar.actions() if a.menu() and a.text().replace("&", "") == "Panels"), None)
        if menu is None:
            menu = bar.addMenu("&Panels")
        menu.setObjectName("panelsMenu")
        first = menu.actions()[0] if menu.actions() else None
        known = {a for a in menu.actions()}
        menu.insertAction(first, self.actions["toggle_panels"])
        menu.insertSeparator(first)
        for d in self.docks():
            if d.toggleViewAction() not in known:
                menu.insertAction(first, d.toggleViewAction())

    # ------------------------------------------------------------------ collapse
    @property
    def is_collapsed(self) -> bool:
        return bool(self.collapsed)

    def toggle(self) -> None:
        """Fold every open side panel away (the image gets the window), or bring the same ones back."""
        if self.collapsed:
            for d in self.collapsed:
                d.setVisible(True)
            self.collapsed = []
            self.w.status.message("Side panels shown")
        else:
            self.collapsed = [d for d in self.docks() if d.isVisible()]
            for d in self.collapsed:
                d.setVisible(False)
            if self.collapsed:
                self.w.status.message(f"Side panels hidden ({self.actions['toggle_panels'].shortcut().toString()} "
                                      "brings them back)")
        self.w.canvas.setFocus()

    # ------------------------------------------------------------------ remembered
    def save(self) -> None:
        """Store the arrangement; only while a folder is open (the start page hides every dock)."""
        if self.w.session is None:
            return
        state = bytes(self.w.saveState(STATE_VERSION).toBase64()).decode("ascii")
        preferences.put(STATE_KEY, {"state": state, "collapsed": [d.objectName() for d in self.collapsed]})

    def restore(self) -> bool:
        """Apply the stored arrangement (called once the folder's docks are shown); False when none fits."""
        stored = preferences.get(STATE_KEY)
        if not isinstance(stored, dict) or not isinstance(stored.get("state"), str):
            return False
        try:
            ok = self.w.restoreState(QtCore.QByteArray.fromBase64(stored["state"].encode("ascii")), STATE_VERSION)
        except Exception as exc:   # a damaged preference file: keep the default arrangement
            log.warning("stored window layout ignored: %s", exc)
            return False
        names = set(stored.get("collapsed") or [])
        self.collapsed = [d for d in self.docks() if d.objectName() in names] if ok else []
        return bool(ok)

    def _folder_changed(self, shown: bool = False) -> None:
        """Arrange once per folder, after its first image is shown (the instance list shows itself then);
        an empty folder, once its list is set."""
        s = self.w.session
        if s is None or not (shown or len(s.index) == 0):
            return
        if s is not self._restored_for:
            self._restored_for = s
            # after the window and the HITL controller have shown their docks (their own zero-delay calls)
            QtCore.QTimer.singleShot(0, self.w, lambda: QtCore.QTimer.singleShot(0, self.w, self._opened))

    def _opened(self) -> None:
        """First folder of this window: the stored arrangement, or the default one with the image list in
        front. A later folder keeps this session's arrangement; folded panels stay folded."""
        if self._first:
            self._first = False
            if not self.restore():
                self.w.dataset.raise_()
        elif self.collapsed:
            for d in self.docks():
                d.setVisible(False)

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt API)
        if obj is self.w and ev.type() == QtCore.QEvent.Type.Close:
            self.save()
        return False


def install_layout(window: QtWidgets.QMainWindow) -> PanelLayout:
    """Arrange the docks of ``window`` (after every panel is installed), add the collapse toggle."""
    return PanelLayout(window)
