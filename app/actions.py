"""THE shortcut table: every keyboard command, used to build the QActions and the Help page.

One table means the keys shown in Help are always the keys that work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6 import QtGui


@dataclass(frozen=True)
class ActionSpec:
    name: str
    text: str
    keys: tuple[str, ...]
    help: str
    group: str
    checkable: bool = False
    icon: str = ""
    module: str = "editor"  # who builds the QAction: "editor" (main window), "model" (app/hitl.py), "layout"


TOOLS = ("brush", "eraser", "threshold", "fill", "polygon", "accept_lasso", "ruler", "box")

SHORTCUTS: tuple[ActionSpec, ...] = (
    ActionSpec("brush", "Brush", ("B",), "Paint the active class", "Tools", True, "brush"),
    ActionSpec("eraser", "Eraser", ("E",), "Erase to background", "Tools", True, "eraser"),
    ActionSpec("threshold", "Threshold brush", ("T",),
               "Paint only pixels whose intensity lies in the range sampled under the cursor", "Tools", True,
               "threshold"),
    ActionSpec("fill", "Flood fill", ("G",), "Fill the connected region under the cursor", "Tools", True, "fill"),
    ActionSpec("polygon", "Polygon / lasso", ("P",),
               "Click vertices (Enter or double-click closes) or drag a freehand lasso to fill", "Tools", True,
               "polygon"),
    ActionSpec("accept_lasso", "Accept prediction in lasso", ("K",),
               "Drag a lasso: the prediction inside it replaces the mask", "Tools", True, "accept"),
    ActionSpec("ruler", "Ruler", ("L",),
               "Drag to measure a distance: millimetres when the image carries its pixel spacing (DICOM)",
               "Tools", True, "ruler"),
    ActionSpec("box", "Box (LiteMedSAM)", ("S",),
               "Drag a box around one structure: LiteMedSAM segments it in the active class; click inside or "
               "Shift+click outside to refine (one undo step)", "Tools", True, "box"),
    ActionSpec("size_down", "Smaller brush", ("[",), "Brush radius -20 %", "Tools"),
    ActionSpec("size_up", "Larger brush", ("]",), "Brush radius +25 %", "Tools"),
    ActionSpec("close_polygon", "Close polygon", ("Return",), "Fill the polygon being drawn", "Tools"),
    ActionSpec("cancel_polygon", "Cancel polygon", ("Esc",), "Drop the polygon being drawn", "Tools"),
    ActionSpec("accept_all", "Accept prediction", ("Shift+A",), "Copy the prediction into the mask",
               "Edit"),
    ActionSpec("remove_islands", "Remove islands", ("I",),
               "Clear pieces smaller than the island size (stray clicks)", "Edit"),
    ActionSpec("undo", "Undo", ("Ctrl+Z",), "Undo the last stroke of this image", "Edit"),
    ActionSpec("redo", "Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo", "Edit"),
    ActionSpec("save", "Save", ("Ctrl+S",), "Save now (autosave also runs on image switch and every 3 s)",
               "Edit"),
    ActionSpec("next", "Next", ("PgDown", "D"), "Go to the next image (saves first)", "Navigate"),
    ActionSpec("previous", "Previous", ("PgUp", "A"), "Go to the previous image (saves first)", "Navigate"),
    ActionSpec("first_unlabeled", "First unlabeled", ("U",), "Jump to the first image without a mask",
               "Navigate"),
    ActionSpec("fit", "Fit", ("F",), "Zoom to show the whole image", "View"),
    ActionSpec("actual_size", "100 %", ("Ctrl+1",), "One image pixel per screen pixel", "View"),
    ActionSpec("toggle_mask", "Show mask", ("M",), "Show or hide the mask overlay", "View", True),
    ActionSpec("toggle_prediction", "Show prediction", ("O",), "Show or hide the prediction overlay", "View", True),
    ActionSpec("toggle_errors", "Show errors", ("X",),
               "False positives / false negatives of the prediction against the mask", "View", True),
    ActionSpec("cycle_layers", "Cycle overlays", ("V",), "Mask -> prediction -> errors -> all -> none", "View"),
    ActionSpec("contour", "Contour mode", ("C",), "Draw masks as outlines instead of filled", "View", True),
    ActionSpec("toggle_panels", "Hide side panels", ("Ctrl+Shift+F",),
               "Fold every side panel away so the image gets the window; again brings the same panels back "
               "(Panels menu; the arrangement is remembered)", "View", module="layout"),
    ActionSpec("open_folder", "Open folder...", ("Ctrl+O",), "Open a dataset folder", "File"),
    ActionSpec("preferences", "Preferences...", ("Ctrl+,",),
               "Autosave interval, training budget and device, paint mode, theme, error colours", "File"),
    ActionSpec("quit", "Quit", ("Ctrl+Q",), "Close ToothSeg Studio (the current mask is saved first)", "File"),
    ActionSpec("help", "Shortcuts", ("F1",), "Show this table", "Help"),
    ActionSpec("train_on_labels", "Train on my labels", ("Ctrl+T",),
               "Train on labeled + reviewed images, export ONNX and make it the active model", "Model",
               module="model"),
    ActionSpec("predict_current", "Predict current image", ("Ctrl+P",), "Run the active model on this image",
               "Model", module="model"),
    ActionSpec("predict_unlabeled", "Predict all unlabeled", ("Ctrl+Shift+P",),
               "Run the active model on every unlabeled image and fill the review queue", "Model", module="model"),
    ActionSpec("saliency", "Show saliency", ("H",), "Gradient saliency of the active model on this image",
               "Model", True, module="model"),
    ActionSpec("flip_tta", "Flip test-time augmentation", (),
               "Predict each image and its mirror image and average them: steadier masks, twice the time",
               "Model", True, module="model"),
    ActionSpec("evaluate", "Evaluate active model", (), "Per-image Dice / IoU on the test split", "Model",
               module="model"),
    ActionSpec("review_accept", "Accept pseudo-label", ("Y",), "Accept the reviewed prediction as a label",
               "Review", module="model"),
    ActionSpec("review_reject", "Reject pseudo-label", ("N",), "Reject the reviewed prediction", "Review",
               module="model"),
    ActionSpec("review_edit", "Edit pseudo-label", ("R",), "Open the prediction in the editor; Y accepts it after",
               "Review", module="model"),
    ActionSpec("show_logs", "Show logs", (), "Open the log file of this and earlier sessions", "Help",
               module="model"),
) + tuple(
    ActionSpec(f"class_{i}", f"Class {i}", (str(i % 10),),
               f"Make class #{i} of the list active; on FDI teeth two digits pick a tooth (3 then 6: tooth 36)",
               "Classes")
    for i in range(1, 11)
) + (
    ActionSpec("next_class", "Next class", (".",), "Make the next class (next tooth) active", "Classes"),
    ActionSpec("previous_class", "Previous class", (",",), "Make the previous class (tooth) active", "Classes"),
)


def key_of(name: str) -> str:
    """The first key of a table row, for labels such as "Accept (Y)"."""
    return next(spec.keys[0] for spec in SHORTCUTS if spec.name == name)


def specs(module: str) -> tuple[ActionSpec, ...]:
    return tuple(spec for spec in SHORTCUTS if spec.module == module)


def build_actions(parent, handlers: dict[str, Callable[[], None]], module: str = "editor") -> dict[str, QtGui.QAction]:
    """One QAction per table row of ``module``, wired to ``handlers[name]`` (a missing handler: KeyError)."""
    from app.icons import icon

    actions: dict[str, QtGui.QAction] = {}
    tools = QtGui.QActionGroup(parent)
    for spec in specs(module):
        act = QtGui.QAction(spec.text, parent)
        act.setObjectName(f"action_{spec.name}")
        act.setShortcuts([QtGui.QKeySequence(k) for k in spec.keys])
        act.setToolTip(f"{spec.text} ({', '.join(spec.keys)}): {spec.help}")
        act.setCheckable(spec.checkable)
        if spec.icon:
            act.setIcon(icon(spec.icon))
        if spec.name in TOOLS:
            tools.addAction(act)
        act.triggered.connect(_no_args(handlers[spec.name]))
        parent.addAction(act)
        actions[spec.name] = act
    return actions


def _no_args(run: Callable[[], None]) -> Callable[[], None]:
    """A zero-argument slot, so Qt does not pass ``checked`` into handlers that take defaults."""
    return lambda: run()


def help_html() -> str:
    rows, group = [], None
    for spec in SHORTCUTS:
        if spec.group != group:
            group = spec.group
            rows.append(f"<tr><th colspan=2 align=left><br>{group}</th></tr>")
        keys = " / ".join(f"<code>{k}</code>" for k in spec.keys) or "menu"
        rows.append(f"<tr><td>{keys}&nbsp;&nbsp;</td><td><b>{spec.text}</b> - {spec.help}</td></tr>")
    rows.append("<tr><th colspan=2 align=left><br>Mouse</th></tr>"
                "<tr><td>wheel</td><td>zoom</td></tr><tr><td>Ctrl+wheel, Alt+wheel</td><td>brush size</td></tr>"
                "<tr><td>Alt+click</td><td>pick the class under the cursor (eyedropper)</td></tr>"
                "<tr><td>Space+drag, middle drag</td><td>pan</td></tr>")
    return "<table cellspacing=2>" + "".join(rows) + "</table>"
