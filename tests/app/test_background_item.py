"""The status-bar item every background job shares (app/background_item.py): launch shows it, Cancel and
closing the window stop the job, and ``stop_then`` runs the waiting action exactly once, after the job
has stopped (Train on my labels relies on it to start from the pretraining's checkpoint)."""

from __future__ import annotations

from PySide6 import QtWidgets

from app.background_item import BackgroundItem
from app.workers import Job
from core.errors import CancelledError


def _until_cancelled(cancel) -> str:
    """A job that runs until its token is cancelled (the background jobs check it every step), or gives up
    after 15 s, so a broken cancel fails the test instead of hanging it."""
    if cancel.wait(15):
        raise CancelledError("waiting cancelled")
    return "never cancelled"


def _quick(n: int) -> int:
    return n * 2


class _Waiter(BackgroundItem):
    """The smallest user: one job, its end, and what waited for it."""

    def __init__(self, window):
        super().__init__(window, "waiter", stopping="Stopping the wait…", button_tip="Stop waiting")
        self.log: list[str] = []

    def start(self, fn=_until_cancelled, *args) -> None:
        job = Job(fn, *args)
        job.signals.done.connect(lambda result: self._ended(f"done {result}"))
        job.signals.cancelled.connect(lambda _m: self._ended("cancelled"))
        self.launch(job, "Waiting…", "a test job")

    def _ended(self, what: str) -> None:
        self.log.append(f"{what} running={self.running}")
        if self.end(hide=True):
            self.run_then()


def _window(qtbot) -> QtWidgets.QMainWindow:
    w = QtWidgets.QMainWindow()
    w.statusBar().showMessage("a window with a status bar, as the app's")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_stop_then_cancels_and_runs_the_action_once_after_the_job_stopped(qtbot):
    w = _window(qtbot)
    item = _Waiter(w)
    assert not item.widget.isVisible() and item.button.objectName() == "waiterCancel"
    item.start()
    assert item.running and item.widget.isVisible() and item.button.isEnabled()
    assert item.label.text() == "Waiting…" and item.label.toolTip() == "a test job"
    w.statusBar().grab().save("/tmp/background_item_running.png")
    calls: list[bool] = []
    assert item.stop_then(lambda: calls.append(item.running))
    assert item.label.text() == "Stopping the wait…" and not item.button.isEnabled() and calls == []
    w.statusBar().grab().save("/tmp/background_item_stopping.png")
    qtbot.waitUntil(lambda: not item.running, timeout=10_000)
    assert calls == [False]                  # once, and only after the job had stopped
    assert item.log == ["cancelled running=True"] and not item.widget.isVisible() and item.button.isEnabled()
    assert not item.stop_then(lambda: calls.append(True)) and calls == [False]  # nothing runs: not called


def test_the_button_and_closing_the_window_cancel(qtbot):
    w = _window(qtbot)
    item = _Waiter(w)
    item.start()
    item.button.click()
    qtbot.waitUntil(lambda: not item.running, timeout=10_000)
    assert item.log == ["cancelled running=True"]
    item.start()
    w.close()
    qtbot.waitUntil(lambda: not item.running, timeout=10_000)
    assert item.log[-1] == "cancelled running=True"


def test_a_job_that_finishes_by_itself_runs_no_waiting_action(qtbot):
    w = _window(qtbot)
    item = _Waiter(w)
    item.start(_quick, 21)
    qtbot.waitUntil(lambda: not item.running, timeout=10_000)
    assert item.log == ["done 42 running=True"] and not item.widget.isVisible() and item.then == []
