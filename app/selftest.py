"""``toothseg-studio --self-test [--slim]``: prove an installed (or frozen) build works end to end.

A bundle that starts is not a bundle that works: PyInstaller silently drops hidden imports, Qt
plugins and package data. This runs every layer a user touches, in a temporary folder, and prints
each step with its time: Qt (offscreen) with the main window, the synthetic sample project, a few
training steps, ONNX export, ONNX Runtime prediction, mask writing, and last the scratch folder
released (log file closed, nothing left open, folder deleted: a file left open fails on Windows).
The slim build (no PyTorch) skips training and export and instead predicts with a tiny smoothing +
threshold ONNX graph built here with ``onnx.helper``, carrying the same metadata the exporter writes.
Exit code 0 only if every step worked.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

Out = Callable[[str], Any]
# the slim model: logits = GAIN * (3x3 mean of the normalised image - OFFSET); the phantom's teeth
# are bright (> 0.55 of full scale) on a darker jaw, so foreground = smoothed intensity above ~0.55
SLIM_OFFSET = 0.2
SLIM_GAIN = 8.0
SLIM_SIZE = 128


class StepFailed(Exception):
    """A check inside a step did not hold (the message says which)."""


@contextlib.contextmanager
def _scratch_environment() -> Iterator[Path]:
    """A temporary folder that also serves as user data, so the self-test never touches the user's.

    Whatever happens inside (a failed step, Ctrl+C), the log file opened in it is closed, the user's
    ``TOOTHSEG_USER_DATA`` comes back and the folder is removed as far as the OS allows.
    """
    old = os.environ.get("TOOTHSEG_USER_DATA")
    tmp = Path(tempfile.mkdtemp(prefix="toothseg-selftest-"))
    os.environ["TOOTHSEG_USER_DATA"] = str(tmp / "userdata")
    try:
        yield tmp
    finally:
        _close_logs(tmp)
        if old is None:
            os.environ.pop("TOOTHSEG_USER_DATA", None)
        else:
            os.environ["TOOTHSEG_USER_DATA"] = old
        shutil.rmtree(tmp, ignore_errors=True)  # normally already gone (release_scratch); never raises here


def _close_logs(folder: Path) -> int:
    from core.logs import close_logging

    return close_logging(under=folder)


def open_files_under(folder: Path) -> list[str] | None:
    """Files under ``folder`` this process still holds open or mapped; None where the OS cannot say.

    Linux reads ``/proc/self/fd`` and ``/proc/self/maps``, so a handle that would make Windows refuse
    to delete the folder is caught on the Linux test machine too.
    """
    fd_dir, maps = Path("/proc/self/fd"), Path("/proc/self/maps")
    if not fd_dir.is_dir():
        return None
    prefix = str(Path(folder).resolve())
    found: set[str] = set()
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(fd_dir / fd)
        except OSError:  # closed between listing and reading (the listing's own fd)
            continue
        if target == prefix or target.startswith(prefix + os.sep):
            found.add(target.removesuffix(" (deleted)"))
    with contextlib.suppress(OSError):
        for line in maps.read_text().splitlines():
            fields = line.split(maxsplit=5)  # address perms offset dev inode [path]
            path = fields[5] if len(fields) == 6 else ""
            if path.startswith(prefix + os.sep):
                found.add(path.removesuffix(" (deleted)"))
    return sorted(found)


def release_scratch(folder: Path, attempts: int = 5) -> str:
    """The last step: close the log file, check nothing else is open in ``folder``, delete it.

    Windows cannot delete an open file, so a handle left open fails the self-test there; the open-file
    check fails it on Linux as well, where the delete alone would succeed.
    """
    closed = _close_logs(folder)
    gc.collect()  # objects in reference cycles that still own a file (Windows would keep it locked)
    still_open = open_files_under(folder)
    if still_open:
        names = ", ".join(str(Path(p).relative_to(folder.resolve())) for p in still_open)
        raise StepFailed(f"still open at the end of the self-test: {names} (Windows cannot delete these)")
    for attempt in range(attempts):
        try:
            shutil.rmtree(folder)
            break
        except FileNotFoundError:
            break
        except OSError as exc:  # a virus scanner may hold a new file for a moment on Windows
            if attempt == attempts - 1:
                raise StepFailed(f"could not delete {exc.filename or folder}: {exc.strerror or exc}") from exc
            time.sleep(0.2 * (attempt + 1))
    checked = "no file left open" if still_open is not None else "open files not checkable on this OS"
    return f"closed {closed} log file(s), {checked}, folder removed"


def check_qt() -> str:
    """Offscreen QApplication, the SVG app icon rendered (QtSvg + image plugins), the main window built."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # CI runners and clinic PCs over RDP alike: no window shown
    from PySide6 import QtCore, QtGui, QtWidgets

    from app.icons import icon

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0] if sys.argv else "toothseg"])
    pixmap = icon("app").pixmap(64, 64)
    if pixmap.isNull():
        raise StepFailed("the app icon (SVG) did not render: QtSvg or the imageformats plugin is missing")
    image = pixmap.toImage().convertToFormat(QtGui.QImage.Format.Format_ARGB32)
    if len({image.pixel(x, y) for x in range(0, 64, 4) for y in range(0, 64, 4)}) < 3:
        raise StepFailed("the app icon rendered as a blank square")
    from app.main_window import MainWindow

    window = MainWindow()
    window.resize(800, 600)
    shot = window.grab()
    window.close()
    window.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    if shot.isNull() or shot.width() < 100:
        raise StepFailed("the main window could not be drawn")
    return f"platform {app.platformName()}, Qt {QtCore.qVersion()}, main window {shot.width()}x{shot.height()}"


def make_sample(root: Path) -> Path:
    from core.data.layouts import load_index
    from core.data.phantom import make_phantom

    make_phantom(root, n_images=8, n_labeled=6)
    index = load_index(root)
    labeled = len(index.labeled())
    if labeled != 6:
        raise StepFailed(f"the sample project has {labeled} labelled images instead of 6")
    return root


def train_tiny(data: Path, run_dir: Path) -> Path:
    """A few optimiser steps of a 4-channel U-Net at 64 px: proves torch, the loop and checkpoints."""
    from core.train.loop import run_training
    from core.train.recipe import default_recipe

    recipe = default_recipe("finetune").updated(
        model={"name": "unet", "base_channels": 4, "norm": "batch"}, size=64, epochs=1, max_steps=3,
        batch_size=2, augment=False, device="cpu", threads=1, preview_every=0, early_stop_patience=0,
    )
    result = run_training(recipe, data, run_dir)
    checkpoint = Path(result.get("best_checkpoint") or run_dir / "best.safetensors")
    if not checkpoint.exists() or int(result.get("steps", 0)) < 1:
        raise StepFailed(f"training wrote no checkpoint ({result})")
    return checkpoint


def export_model(checkpoint: Path, images: Path, out: Path) -> Path:
    from core.export.onnx import export_onnx

    report = export_onnx(checkpoint, out, images=images, max_images=2)
    if not out.exists():
        raise StepFailed("export reported success but wrote no file")
    return f"{out.name}, max |ONNX - PyTorch| {report['max_abs_diff']:.1e} on {report['provider']}"


def slim_meta(size: int = SLIM_SIZE) -> dict[str, Any]:
    """The metadata the exporter writes (core.models.describe), for the fixed smoothing+threshold model."""
    from core import __version__
    from core.models.describe import FORMAT, VERSION

    return {
        "format": FORMAT, "version": VERSION,
        "architecture": {"name": "selftest_smooth_threshold", "in_channels": 1, "out_channels": 1},
        "classes": [{"id": 0, "name": "background", "color": [0, 0, 0]},
                    {"id": 1, "name": "bright structure", "color": [230, 25, 75]}],
        "input_policy": {"mode": "resize", "size": [size, size]},
        "normalization": {"mean": 0.5, "std": 0.25},
        "threshold": 0.5,
        "postprocess": {"band": None, "min_area_frac": 0.0005},
        "fingerprint": "selftest", "metrics": {}, "app_version": __version__, "precision": "fp32",
        "preprocess": {"bilateral": False},
    }


def build_slim_model(meta: dict[str, Any] | None = None) -> bytes:
    """A torch-free ONNX model: 3x3 mean filter, minus an offset, times a gain -> logits."""
    import onnx
    from onnx import TensorProto, helper

    from core.models.describe import to_props

    meta = meta or slim_meta()
    nodes = [
        helper.make_node("AveragePool", ["image"], ["smooth"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         count_include_pad=0),
        helper.make_node("Sub", ["smooth", "offset"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logits"]),
    ]
    inits = [helper.make_tensor("offset", TensorProto.FLOAT, [], [SLIM_OFFSET]),
             helper.make_tensor("gain", TensorProto.FLOAT, [], [SLIM_GAIN])]
    graph = helper.make_graph(
        nodes, "toothseg_selftest",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, "height", "width"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1, "height", "width"])],
        initializer=inits,
    )
    model = helper.make_model(graph, producer_name="ToothSeg Studio self-test",
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime the app supports
    for key, value in to_props(meta).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def predict_and_write(model: Path, data: Path, out_dir: Path, slim: bool) -> str:
    """ONNX Runtime prediction on a sample image, metadata read back, mask written and re-read."""
    from core.data.io import read_image, read_mask, write_mask
    from core.infer.predictor import load_predictor
    from core.metrics import dice

    predictor = load_predictor(model, backend="onnx")
    if predictor.meta.get("format") != "toothseg-onnx" or not predictor.meta.get("classes"):
        raise StepFailed(f"metadata not read back from {model.name}: {predictor.meta}")
    image_path = sorted((data / "images").glob("*.png"))[0]
    image = read_image(image_path)
    prediction = predictor.predict(image)
    if prediction.mask.shape != image.shape:
        raise StepFailed(f"mask shape {prediction.mask.shape} != image shape {image.shape}")
    allowed = {0, *(int(c.get("value", c["id"])) for c in predictor.meta["classes"])}
    if not set(np.unique(prediction.mask).tolist()) <= allowed:
        raise StepFailed(f"mask holds values outside the model's classes {sorted(allowed)}")
    target = write_mask(out_dir / "masks" / image_path.name, prediction.mask)
    back = read_mask(target)
    if not np.array_equal(back > 0, prediction.mask > 0):
        raise StepFailed(f"{target.name} does not read back as the predicted mask")
    text = f"{predictor.provider}, {int((prediction.mask > 0).sum())} foreground px, wrote {target.name}"
    if slim:  # the fixed model must really find the phantom's teeth: a check that can fail
        truth = read_mask(data / "masks" / image_path.name)
        score = dice(prediction.mask, truth)
        if score < 0.5:
            raise StepFailed(f"smoothing+threshold model found the sample teeth with Dice {score:.2f} < 0.5")
        text += f", Dice vs sample mask {score:.2f}"
    return text


def run_self_test(out: Out = print, slim: bool | None = None) -> int:
    """Run every step, print each with its time; 0 only if all of them worked, else 1.

    ``slim=None`` picks the slim path when PyTorch cannot be imported (the slim bundle).
    """
    from core.capabilities import build_info, torch_import_error

    info = build_info()
    if slim is None:
        slim = torch_import_error() is not None
        skip_reason = f"PyTorch not importable ({torch_import_error()})"
    else:  # asked for explicitly: do not spend seconds importing torch just to say so
        skip_reason = "slim build without PyTorch" if info.get("variant") == "slim" else "--slim asked for"
    started = time.perf_counter()
    out(f"ToothSeg Studio self-test ({'slim: no training' if slim else 'full'}; build {info.get('variant')}, "
        f"Python {sys.version.split()[0]}, {sys.platform})")
    failures = 0
    with _scratch_environment() as tmp:
        data, run_dir, model = tmp / "sample", tmp / "run", tmp / "selftest.onnx"
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("Qt offscreen + main window", check_qt),
            ("sample project", lambda: make_sample(data)),
        ]
        if slim:
            steps.append(("training (skipped: slim build)", lambda: skip_reason))
            steps.append(("tiny ONNX model without torch", lambda: _write(model, build_slim_model())))
        else:
            steps.append(("train a tiny model", lambda: train_tiny(data, run_dir)))
            steps.append(("export ONNX", lambda: export_model(run_dir / "best.safetensors", data / "images", model)))
        steps.append(("predict with ONNX Runtime + write mask", lambda: predict_and_write(model, data, tmp, slim)))
        steps.append(("box prompt (LiteMedSAM, ONNX Runtime)", lambda: box_prompt(data)))
        steps.append(("release the scratch folder", lambda: release_scratch(tmp)))
        for name, step in steps:
            t = time.perf_counter()
            try:
                detail = step()
            except Exception as exc:  # every failure is reported, and later steps still run where they can
                failures += 1
                out(f"FAIL {name} ({time.perf_counter() - t:.2f} s): {type(exc).__name__}: {exc}")
                if not isinstance(exc, StepFailed):
                    out("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())
                continue
            out(f"ok   {name} ({time.perf_counter() - t:.2f} s){_detail(detail)}")
    verdict = "PASSED" if failures == 0 else f"FAILED ({failures} step{'s' if failures > 1 else ''})"
    out(f"self-test {verdict} in {time.perf_counter() - started:.1f} s")
    return 0 if failures == 0 else 1


def box_prompt(data: Path) -> str:
    """The box tool's bundled encoder/decoder run on a phantom image (no conversion, no torch). A bundle
    without them fails; a source checkout that never converted them says so and goes on."""
    import cv2
    import numpy as np

    from core.data.io import read_image, read_mask
    from core.errors import ModelFileError
    from core.prompt.session import PromptSegmenter
    from core.prompt.store import locate

    try:
        folder, _ = locate(convert_if_missing=False)
    except ModelFileError as exc:
        if getattr(sys, "frozen", False):
            raise StepFailed(str(exc)) from exc
        return f"skipped: {exc}"
    name = sorted((data / "masks").iterdir())[0].name
    image, labels = read_image(data / "images" / name), read_mask(data / "masks" / name)
    _, parts, stats, _ = cv2.connectedComponentsWithStats((labels > 0).astype(np.uint8))
    truth = parts == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))       # the largest structure
    ys, xs = np.nonzero(truth)
    box = (xs.min() - 5, ys.min() - 5, xs.max() + 5, ys.max() + 5)
    result = PromptSegmenter(folder).segment(image, box)
    inside = result.mask[max(0, box[1]):box[3] + 3, max(0, box[0]):box[2] + 3].sum()
    if not result.mask.any() or inside < result.mask.sum():
        raise StepFailed(f"LiteMedSAM returned {int(result.mask.sum())} px, {int(inside)} inside the box")
    dice = 2 * float((result.mask & truth).sum()) / float(result.mask.sum() + truth.sum())
    return f"{int(result.mask.sum())} px in the box, Dice {dice:.2f} against the phantom's structure, from {folder}"


def _write(path: Path, blob: bytes) -> Path:
    from core.data.atomic import atomic_write_bytes

    return atomic_write_bytes(path, blob)


def _detail(detail: Any) -> str:
    if detail is None:
        return ""
    if isinstance(detail, Path):
        return f": {detail.name}"
    return f": {detail}"


def main(argv: list[str] | None = None) -> int:
    """``python -m app.selftest [--slim]``: the same test without the GUI's argument parser."""
    args = sys.argv[1:] if argv is None else argv
    return run_self_test(slim=True if "--slim" in args else None)


if __name__ == "__main__":
    sys.exit(main())
