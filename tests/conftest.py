"""Test setup shared by every suite: offscreen Qt, no network checks, isolated user data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TOOTHSEG_BACKGROUND_PRETRAIN", "0")  # no test gets a pretraining it did not start

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TOOTHSEG_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _isolated_user_data(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TOOTHSEG_USER_DATA", str(tmp_path_factory.mktemp("userdata")))


@pytest.fixture(scope="session")
def qapp_cls():
    """pytest-qt builds the app's own QApplication class (FileOpen events reach its ``event``)."""
    from app.file_open import StudioApplication

    return StudioApplication


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real datasets expected at {SHARED_DATA} (../shared/data beside the repository)")
    return SHARED_DATA


@pytest.fixture
def main_window(qtbot):
    """A shown MainWindow that answers every question with yes and shuts its workers down."""
    from app.main_window import MainWindow

    w = MainWindow()
    w.ask = lambda question: True
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.autosave.timer.stop()
    w.dataset.model.thumbs.stop()
    if w.session is not None:
        w.session.cache.close()


@pytest.fixture
def window(main_window):
    return main_window
