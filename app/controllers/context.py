"""What the controllers may use of the window, named and typed, instead of the window itself: the model side
(``HitlContext``) and the editor side (``EditorContext``: instance list, overlay model)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtWidgets

from app.workers import Job, describe, run_job, show_error

if TYPE_CHECKING:
    from app.canvas.tools import ToolController
    from app.canvas.view import CanvasView
    from app.panels.classes import ClassesPanel
    from app.panels.layers import LayersPanel

log = logging.getLogger("toothseg.app.hitl")


class PredictorCache:
    """Loaded predictors by model path, built with the current flip-TTA setting; cleared when a model or
    the setting changes."""

    def __init__(self, tta: bool = False):
        self.tta = tta
        self._loaded: dict[str, Any] = {}

    def get(self, model: Path):
        from core.infer.predictor import load_predictor

        key = str(model)
        if key not in self._loaded:
            self._loaded[key] = load_predictor(model, tta=self.tta)
        return self._loaded[key]

    def loaded(self, model: Path):
        """The predictor already loaded for ``model``, or None (never loads)."""
        return self._loaded.get(str(model))

    def clear(self) -> None:
        self._loaded.clear()


class ErrorDialogs:
    """A failure told to the user in a dialog parented to the context's ``parent`` (and logged)."""

    parent: QtWidgets.QWidget

    def error(self, title: str, message: str, details: str = "") -> None:
        show_error(self.parent, title, message, details)

    def failed(self, title: str, exc: BaseException) -> None:
        show_error(self.parent, title, *describe(exc))


@dataclass
class HitlContext(ErrorDialogs):
    """The session, the window's few services the controllers call, a job runner and the predictor cache.

    ``session`` follows the window's folder (``app.hitl`` sets it); the callables are late-bound so a
    test that replaces ``window.ask`` is heard."""

    parent: QtWidgets.QWidget                   # dialogs and jobs are parented here
    message: Callable[[str], None]              # the status line
    ask: Callable[[str], bool]                  # a yes/no question
    save_now: Callable[[], None]                # save the mask in the editor, quietly
    select: Callable[[int], bool]               # show image ``position`` in the editor
    torch: bool                                 # training is possible in this build
    predictors: PredictorCache = field(default_factory=PredictorCache)
    session: Any = None                         # core.annotation.session.AnnotationSession | None

    def status(self, text: str) -> None:
        self.message(text)
        log.info(text)


    def project(self):
        """The open folder's project, or None after telling the user to open one."""
        if self.session is None:
            self.message("Open a dataset folder first")
            return None
        return self.session.project

    def run(self, title: str, fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
            paint_first: bool = False, **kwargs: Any) -> Job:
        """Run ``fn`` in a worker; progress goes to the status line, errors to a dialog and the log
        (``paint_first``: see ``app.workers.run_job``)."""
        job = run_job(self.parent, title, fn, *args, on_done=on_done, progress_dialog=False,
                      paint_first=paint_first, **kwargs)
        job.signals.progress.connect(lambda d, n, msg: self.message(f"{title}: {d}/{n} {msg}"))
        return job

    def open_sample(self, sample_id: str) -> bool:
        """Show ``sample_id`` in the editor (True when it is, or already was, the image shown)."""
        s = self.session
        if s is None or sample_id not in s.index:
            return False
        if s.sample is None or s.sample.id != sample_id:
            return bool(self.select(s.index.samples.index(s.index[sample_id])))
        return True


@dataclass
class EditorContext(ErrorDialogs):
    """The editor's parts an editor-side controller draws on or listens to, the status line and the open
    folder's session (read from the window each time: it changes with every folder)."""

    parent: QtWidgets.QMainWindow               # dialogs and jobs are parented here; docks go here
    canvas: CanvasView
    layers: LayersPanel                         # View & tools (layer switches; the tab kept in front)
    classes: ClassesPanel
    tools: ToolController                       # edits (``edited``) and committing one (``commit``)
    image_shown: QtCore.SignalInstance          # position of the image now in the editor
    message: Callable[[str], None]              # the status line
    current_session: Callable[[], Any]          # -> core.annotation.session.AnnotationSession | None

    @property
    def session(self):
        return self.current_session()

