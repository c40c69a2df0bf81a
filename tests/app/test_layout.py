"""The layout that gives the image the room (issue 19), on real thyroid frames: side panels fold away and
the arrangement outlives the window, no dock tabs behind scroll arrows at 1400x900, the Ctrl+T plan
follows a newly saved mask, and a model's past training curves come back from the library."""

from __future__ import annotations

from PySide6 import QtWidgets

from app.actions import help_html
from app.panels.models import DICE
from core.hitl.auto_train import model_path
from core.train.metrics_log import run_metrics
from tests.app.test_editor_window import drag
from tests.core.test_hitl_auto_train import thyroid_copy
from tests.e2e.test_hitl import TINY


def new_window(qtbot):
    from app.main_window import MainWindow

    w = MainWindow()
    w.ask = lambda question: True
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


def shown_docks(w) -> set[str]:
    return {d.objectName() for d in w.panel_layout.docks() if d.isVisible()}


def tabs_fit(w) -> list[tuple[str, int, int]]:
    """(first tab, needed width, width) of every visible dock tab bar whose tabs do not fit."""
    bad = []
    for bar in w.findChildren(QtWidgets.QTabBar):
        if bar.isVisible() and bar.count() > 1:
            needed = sum(bar.tabSizeHint(i).width() for i in range(bar.count()))
            if needed > bar.width():
                bad.append((bar.tabText(0), needed, bar.width()))
    return bad


def test_panels_fold_away_and_the_arrangement_survives_a_new_window(qtbot, shared_data, tmp_path):
    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=4, unlabeled=1)
    w = new_window(qtbot)
    assert w.open_folder(root)
    qtbot.waitUntil(lambda: "datasetDock" in shown_docks(w))
    qtbot.wait(50)
    assert tabs_fit(w) == []                                    # no dock tabs behind scroll arrows
    before = shown_docks(w)
    assert {"datasetDock", "classesDock", "trainingDock", "modelsDock", "evaluationDock"} <= before
    canvas = w.canvas.width()
    assert w.panel_layout.actions["toggle_panels"].shortcut().toString() == "Ctrl+Shift+F"
    assert "Hide side panels" in help_html()                    # Help comes from the same table
    menu = w.menuBar().findChild(QtWidgets.QMenu, "panelsMenu")
    assert w.panel_layout.actions["toggle_panels"] in menu.actions()
    w.panel_layout.actions["toggle_panels"].trigger()
    qtbot.waitUntil(lambda: shown_docks(w) == set())
    qtbot.waitUntil(lambda: w.canvas.width() > canvas + 600)   # the image gets the window
    w.close()

    w2 = new_window(qtbot)
    assert w2.open_folder(root)
    qtbot.waitUntil(lambda: w2.panel_layout.is_collapsed)       # restored folded
    assert shown_docks(w2) == set()
    assert w2.open_folder(root)                                 # another folder in this window: still folded
    qtbot.waitUntil(lambda: shown_docks(w2) == set())
    w2.panel_layout.toggle()                                    # and the same panels come back
    assert shown_docks(w2) == before
    w2.findChild(QtWidgets.QDockWidget, "instancesDock").setVisible(False)   # one panel closed by hand
    w2.close()

    w3 = new_window(qtbot)
    assert w3.open_folder(root)
    qtbot.waitUntil(lambda: shown_docks(w3) == before - {"instancesDock"})
    assert not w3.panel_layout.is_collapsed
    w3.close()


def test_plan_follows_a_mask_saved_for_a_new_image(qtbot, shared_data, tmp_path):
    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=5, unlabeled=2)
    w = new_window(qtbot)
    assert w.open_folder(root)
    plan = w.hitl.training.plan_label
    assert plan.text().startswith("Ctrl+T will train: 5 labels")
    assert not w.hitl.training.modes_box.isVisible()            # the other recipe is folded under its heading
    position = next(i for i, s in enumerate(w.session.index) if not s.has_mask)
    assert w.select(position)
    w.canvas.fit()
    h, wd = w.session.editor.shape
    drag(qtbot, w, [(wd * 0.4, h * 0.4), (wd * 0.5, h * 0.5), (wd * 0.6, h * 0.45)])
    assert w.session.dirty
    w.save_now()
    qtbot.waitUntil(lambda: plan.text().startswith("Ctrl+T will train: 6 labels"), timeout=5000)
    w.close()


def test_selected_model_shows_its_past_curves_and_the_dice_column_fits(qtbot, shared_data, tmp_path):
    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=6, unlabeled=0)
    w = new_window(qtbot)
    assert w.open_folder(root)
    ctl = w.hitl
    t = ctl.training
    t.raise_()
    qtbot.wait(50)
    scroll = t.widget()
    dice = t.curves.dice_plot
    top = t.curves.mapTo(scroll.widget(), t.curves.rect().topLeft()).y()
    assert top + dice.geometry().bottom() <= scroll.viewport().height()   # loss and Dice without scrolling
    ctl.auto_overrides = {**TINY, "val_trains": True}           # a real run of a few steps; the folds measure it,
    t.auto_button.click()                                       # so its validation images train too (ADR 0015)
    qtbot.waitUntil(lambda: ctl.job is None and "active model" in t.result_label.text(), timeout=180000)
    assert t.curves.dice_plot.getAxis("left").labelText == "fit Dice"   # not a held-out figure, and it says so
    qtbot.waitUntil(lambda: not ctl.training_ctl.measurer.running, timeout=180000)  # its interval, measured after
    name = ctl.session.project.models[0].name
    w.close()

    w2 = new_window(qtbot)                                      # a later session: the run's curves are back
    assert w2.open_folder(root)
    m = w2.hitl.models
    m.raise_()
    m.select(name)
    qtbot.waitUntil(lambda: m.curves.isVisible())
    rows = run_metrics(model_path(w2.session.project, w2.session.project.model(name)))
    assert len(rows) >= 1 and m.curves.points("dice") == m.curves.points("loss") == len(rows)
    assert m.curves.data["dice"][1] == [r["val_dice"] for r in rows]
    assert m.curves_title.text() == f"Training curves of {name} ({len(rows)} epochs)"
    assert m.curves.dice_plot.getAxis("left").labelText == "fit Dice" and "folds measure" in m.curves.dice_plot.toolTip()
    table = m.table
    assert table.item(0, DICE).text().startswith("0.")
    mode = DICE + 1
    right = table.columnViewportPosition(mode) + table.columnWidth(mode)
    assert 0 <= table.columnViewportPosition(DICE) and right <= table.viewport().width()   # Dice and Mode visible
    assert table.item(0, 1).toolTip() == name                     # an elided run name has its full name as tip
    m.grab().save(str(tmp_path / "models.png"))
    w2.close()
