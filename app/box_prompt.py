"""Box tool: drag a box, LiteMedSAM (ONNX, in a worker) returns the mask of the active class; clicks refine.

The first use loads the encoder/decoder pair (and converts the checkpoint once in a build with PyTorch);
if the weights are missing or corrupt, the message says so and only this tool is off. Each prompt and
its refinements form ONE undo record: a click replaces the box's previous result. Click inside the
structure to add (positive), Shift+click to remove (negative).
"""

from __future__ import annotations

import logging

from PySide6 import QtCore, QtWidgets

from app.workers import run_job, show_error

log = logging.getLogger("toothseg.app.box")


def run_prompt(holder: dict, image, box, points, key, root=None):
    """Worker side: load the segmenter once per dataset folder (kept in ``holder``; a pair fine-tuned on
    this folder's labels wins, and is picked up when Train on my labels writes a new one), encode if not
    cached, decode."""
    from core.prompt.session import PromptSegmenter
    from core.prompt.store import project_stamp

    stamp = project_stamp(root)
    if holder.get("segmenter") is None or holder.get("root") != root or holder.get("stamp") != stamp:
        holder["segmenter"], holder["root"], holder["stamp"] = PromptSegmenter(root=root), root, stamp
        holder["announce"] = decoder_note(holder["segmenter"].manifest)
    return holder["segmenter"].segment(image, box, points, key=key)


def decoder_note(manifest: dict) -> str:
    """Which decoder the box tool uses, said once after it loads: a broken project decoder, or a tuned one."""
    if manifest.get("fallback"):
        return f"Box tool: {manifest['fallback']}"
    tuned = manifest.get("finetuned")
    if tuned and tuned.get("decoder") == "shipped":
        return (f"Box tool: the shipped decoder with a mask cut tuned on this folder's labels (held-out Dice "
                f"{tuned['tuned_dice']:.3f} vs {tuned['base_dice']:.3f}, {tuned['n_heldout']} structures)")
    if tuned and "tuned_dice" in tuned:
        return (f"Box tool: using the decoder tuned on this folder's labels (held-out Dice {tuned['tuned_dice']:.3f} "
                f"vs {tuned['base_dice']:.3f} shipped, {tuned['n_heldout']} structures)")
    return ""


class BoxPrompt(QtCore.QObject):
    """Composes the canvas, the session's editor and the worker; no pixel logic here."""

    applied = QtCore.Signal(object)   # the PromptResult just painted (tests and the status bar)

    def __init__(self, tools):
        super().__init__(tools)
        self.tools = tools
        self.holder: dict = {}
        self.disabled = ""            # why the box tool is off (missing / corrupt weights)
        self.box: tuple[float, float, float, float] | None = None
        self.points: list[tuple[float, float, int]] = []
        self.record = None
        self.sample_id = ""
        self.job = None
        self._start: tuple[float, float] | None = None

    def _parent(self) -> QtWidgets.QWidget:
        return QtWidgets.QWidget.window(self.tools.canvas)   # the canvas's own ``window`` is its intensity window

    # ------------------------------------------------------------------ mouse (from ToolController)
    def press(self, x: float, y: float) -> None:
        self._start = (x, y)

    def move(self, x: float, y: float) -> None:
        if self._start is not None:
            x0, y0 = self._start
            self.tools.canvas.set_outline([(x0, y0), (x, y0), (x, y), (x0, y)], closed=True)

    def release(self, x: float, y: float) -> None:
        if self._start is None:
            return
        (x0, y0), self._start = self._start, None
        if abs(x - x0) < 3 or abs(y - y0) < 3:
            self.tools.canvas.set_outline([])
            self.tools.message.emit("Box tool: drag a box around the structure")
            return
        self.start((x0, y0, x, y))

    def click(self, x: float, y: float, positive: bool) -> None:
        s = self.tools.session
        if self.box is None or s is None or s.sample is None or s.sample.id != self.sample_id:
            self.tools.message.emit("Box tool: drag a box first; then click inside (Shift+click outside) to refine")
            return
        self.points.append((x, y, 1 if positive else 0))
        self._run()

    # ------------------------------------------------------------------ prompts
    def start(self, box) -> None:
        """A new box: its result becomes a new undo record."""
        s = self.tools.session
        if s is None or s.editor is None or s.sample is None:
            return
        self.box, self.points, self.record, self.sample_id = tuple(float(v) for v in box), [], None, s.sample.id
        self._run()

    def _run(self) -> None:
        if self.disabled:
            show_error(self._parent(), "Box tool", self.disabled)
            return
        if self.job is not None:
            self.tools.message.emit("Box tool: still working on the previous prompt")
            return
        s = self.tools.session
        self.tools.message.emit("Box tool: segmenting ..." if self.holder.get("segmenter") else
                                "Box tool: loading LiteMedSAM ...")
        self.job = run_job(self._parent(), "Box tool", run_prompt, self.holder, s.editor.image,
                           self.box, list(self.points), s.sample.id, s.root, progress_dialog=False,
                           on_done=self._done, on_failed=self._failed)

    def _failed(self) -> None:
        from core.errors import ModelFileError

        self.job = None
        self.tools.canvas.set_outline([])
        if self.holder.get("segmenter") is None:  # the model could not load: only this tool goes off
            try:
                from core.prompt.store import locate

                locate(convert_if_missing=False)
            except ModelFileError as exc:
                self.disabled = str(exc)
            except Exception:  # noqa: BLE001 - the error was already shown; keep the tool usable
                pass

    def _done(self, result) -> None:
        self.job = None
        s = self.tools.session
        self.tools.canvas.set_outline([])
        if s is None or s.editor is None or s.sample is None or s.sample.id != self.sample_id:
            return                                       # the user moved to another image meanwhile
        if self.record is not None and s.editor.history.last is self.record:
            box = s.undo()                               # a refinement replaces the box's previous result
            if box is not None:
                self.tools.canvas.refresh_mask(box)
        ed = self.tools.guarded_editor()
        if ed is None:
            return
        box, rec = ed.paint_region(result.mask, self.tools.value)
        self.record = rec
        self.tools.commit(box, rec)
        self.tools.message.emit(
            f"Box tool: {int(result.mask.sum())} px of class {self.tools.value} (predicted IoU {result.iou:.2f}"
            + (f", encoder {result.encode_s:.1f} s" if result.encode_s else "")
            + f", decoder {1000 * result.decode_s:.0f} ms); click inside / Shift+click outside to refine")
        note = self.holder.pop("announce", "")
        if note:
            self.tools.message.emit(note)
        self.applied.emit(result)
