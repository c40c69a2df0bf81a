"""The model-side controllers run on their ``HitlContext`` and their panel alone (no main window): the model
library on a project with two real tiny models, and the canvas following the session's predictions."""

from __future__ import annotations

import numpy as np
from PySide6 import QtWidgets

from app.controllers.context import HitlContext
from core.annotation.session import AnnotationSession
from core.data.project import Project
from tests.app.test_hitl_panels import register_copy, tiny_models  # noqa: F401  (fixture)
from tests.core.test_hitl_auto_train import thyroid_copy


def context(parent, session, said: list, asked: list) -> HitlContext:
    return HitlContext(parent=parent, message=said.append, ask=lambda q: asked.append(q) or True,
                       save_now=lambda: None, select=lambda _p: False, torch=True, session=session)


def test_model_library_controller_without_a_window(qtbot, shared_data, tmp_path, tiny_models):  # noqa: F811
    from app.controllers.models import ModelLibraryController
    from app.panels.models import ModelsPanel

    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=4, unlabeled=0)
    register_copy(root, "longer", *tiny_models[0])
    register_copy(root, "shorter", *tiny_models[1], active=False)
    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    session, said, asked, rows = AnnotationSession(root), [], [], []
    panel = ModelsPanel(parent)
    ctl = ModelLibraryController(context(parent, session, said, asked), panel)
    ctl.changed.connect(rows.append)
    ctl.refresh()
    assert sorted(r["name"] for r in rows[-1]) == ["longer", "shorter"] and panel.table.rowCount() == 2
    panel.activate_requested.emit("shorter")                      # the panel's intent reaches the controller
    assert Project.open(root).active_model == "shorter" and said[-1] == "shorter is the active model"
    panel.delete_requested.emit("longer")
    assert asked == ["Delete model longer and its files?"]
    assert [m.name for m in Project.open(root).models] == ["shorter"] and len(rows[-1]) == 1
    session.close()


def test_the_canvas_follows_the_sessions_predictions_of_the_image_shown(qtbot, shared_data, tmp_path):
    from app.canvas.view import CanvasView
    from app.controllers.prediction import PredictionController

    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=2, unlabeled=0)
    session = AnnotationSession(root)
    sample = session.open(0)
    canvas = CanvasView()
    qtbot.addWidget(canvas)
    ctl = PredictionController(context(canvas, session, [], []), canvas)
    ctl.follow(session)
    mask = np.zeros(session.editor.shape, np.uint8)
    mask[10:20, 10:30] = 1
    session.set_prediction(sample.id, mask)                       # whoever sets it, the canvas shows it
    assert canvas.prediction is not None and int((canvas.prediction > 0).sum()) == 200
    session.set_prediction(session.index[1].id, np.ones_like(mask))   # another image's: not shown here
    assert int((canvas.prediction > 0).sum()) == 200
    session.set_prediction(sample.id, None)
    assert canvas.prediction is None
    ctl.follow(None)                                              # another folder: this session is not heard
    session.set_prediction(sample.id, mask)
    assert canvas.prediction is None and session.listeners == []
    session.close()


def test_a_mask_saved_anywhere_repaints_its_dataset_row(qtbot, window, shared_data, tmp_path):
    """The dataset list follows the session's "saved" events (not a refresh by whoever saved)."""
    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=2, unlabeled=2)
    assert window.open_folder(root)
    s = window.session
    position = s.first_unlabeled()
    assert window.select(position)
    model, repainted = window.dataset.model, []
    model.dataChanged.connect(lambda first, _last, *_a: repainted.append(model.rows[first.row()]))
    s.editor.paint_segment((40, 40), (60, 50), 5, s.project.classes[0].value)
    s.committed((30, 70, 30, 70))
    repainted.clear()                     # only what the save itself repaints (no event loop runs below)
    s.save()                                                      # straight on the session, not the window
    assert position in repainted and s.index[position].has_mask
