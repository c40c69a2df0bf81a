"""Regenerate the README screenshots from the real datasets in ../shared/data.

Run: .venv/bin/python scripts/screenshots.py [--out docs/screenshots]. It renders the window offscreen
with the app's style sheet at 1400x900, trains a small thyroid model on a temporary copy (about two
minutes on a laptop CPU) and never writes into ../shared/data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"


def thyroid_copy(dest: Path, labeled: int = 24, unlabeled: int = 10) -> Path:
    src = DATA / "tg3k_thyroid"
    names = sorted(p.name for p in (src / "images").iterdir())
    step = len(names) // (labeled + unlabeled)
    picked = names[::step][: labeled + unlabeled]
    for sub in ("images", "masks", "unlabeled"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(picked):
        if k % 3 == 2 and unlabeled > 0:  # interleave unlabeled frames so they come from every video
            shutil.copy(src / "images" / name, dest / "unlabeled" / name)
            unlabeled -= 1
        else:
            shutil.copy(src / "images" / name, dest / "images" / name)
            shutil.copy(src / "masks" / name, dest / "masks" / name)
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    # a fresh user-data folder: a stored panel layout, preferences or model library never change the pictures
    os.environ["TOOTHSEG_USER_DATA"] = tempfile.mkdtemp(prefix="toothseg-shots-")
    from PySide6 import QtWidgets

    from app.icons import style_sheet
    from app.main import take_screenshot
    from app.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    app.setStyleSheet(style_sheet())

    def window() -> MainWindow:
        w = MainWindow()
        w.ask = lambda question: True
        w.resize(1400, 900)
        return w

    def wait(condition, seconds: float = 600) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the app did not finish in time")
            app.processEvents()
            time.sleep(0.02)

    w = window()
    w.open_folder(DATA / "ufba425_teeth", select=3, offer_recovery=False)
    print(take_screenshot(w, app, args.out / "editor-teeth-fdi.png"))
    panel = w.instance_list.panel
    panel.raise_()
    wait(lambda: bool(panel.items))
    panel.select(next(i for i, item in enumerate(panel.items) if item.value == 36))
    app.processEvents()
    print(take_screenshot(w, app, args.out / "instances-fdi.png"))
    w.session = None  # never save into the shared data
    w.close()

    with tempfile.TemporaryDirectory() as tmp:
        root = thyroid_copy(Path(tmp) / "thyroid")
        from core.hitl.auto_train import train_on_labels

        entry, _ = train_on_labels(root, minutes=1.5)
        print(f"trained {entry.name}: {entry.metrics}")
        w = window()
        w.open_folder(root, offer_recovery=False)
        ctl = w.hitl
        w.select(next(i for i, s in enumerate(w.session.index) if not s.has_mask))
        sample_id = w.session.sample.id
        ctl.predict("current")
        wait(lambda: sample_id in w.session.predictions)
        panel = w.instance_list.panel  # list the predicted gland with its score beside the overlay
        panel.source.setCurrentIndex(panel.source.findData("prediction"))
        w.show()   # a dock raised before the window first shows loses its tab to the default front one
        app.processEvents()
        panel.raise_()
        wait(lambda: bool(panel.items))
        print(take_screenshot(w, app, args.out / "editor-thyroid.png"))

        ctl.predict("unlabeled")
        wait(lambda: ctl.review.table.rowCount() > 0)
        ctl.review.raise_()
        print(take_screenshot(w, app, args.out / "review-queue.png"))

        ctl.training.auto_button.click()
        wait(lambda: ctl.job is not None and ctl.training.progress.maximum() == 1000
             and ctl.training.progress.value() >= 400)
        print(take_screenshot(w, app, args.out / "training-panel.png"))
        ctl.cancel()
        wait(lambda: ctl.job is None)
        ctl.models.raise_()   # the model library with the first run's curves read back from its metrics.csv
        ctl.models.select(entry.name)
        wait(lambda: ctl.models.curves.isVisible())
        print(take_screenshot(w, app, args.out / "models-panel.png"))
        w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
