"""The longest UI-thread block while a user opens the 30 caries panoramics, switches between them and
presses Train / Predict for the first time (issue 19: goal <= 50 ms each, p95 over switches).

A 5 ms QTimer heartbeat runs on the UI thread; the largest gap between two of its ticks is the
longest time the window could not repaint or answer a key. Every action is triggered the way a user
triggers it (start page signal, PgDown, toolbar actions) from inside the event loop. The whole run
happens in a fresh interpreter so "first" Train / Predict really are the first in the process.
Figures are printed, never asserted on time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SETTLE_S = 0.5      # keep measuring after an action completes: deferred work belongs to it too


class StallSampler:
    """With TOOTHSEG_BENCH_STACKS=1: a watchdog thread that records the UI thread's stack whenever the
    heartbeat is 30 ms late, so a stall can be traced to its code (printed by ``report``)."""

    def __init__(self, beat: Heartbeat):
        import collections
        import threading

        self.beat, self.counts = beat, collections.Counter()
        self.gaps: dict[tuple[str, float], list[str]] = {}     # (scenario, gap start): UI stacks in it
        self.main = threading.main_thread().ident
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        import threading
        import traceback

        while True:
            time.sleep(0.01)
            if time.perf_counter() - self.beat.last > 0.03:
                frames = sys._current_frames()
                frame = frames.get(self.main)
                for ident, other in frames.items():   # what the workers run meanwhile (who has the GIL)
                    if ident not in (self.main, threading.get_ident()):
                        top = traceback.extract_stack(other)[-3:]
                        self.counts[f"{self.beat.scenario} [worker]\n" + "".join(
                            f"    {f.filename.split('/work/main/')[-1]}:{f.lineno} {f.name}\n" for f in top)] += 1
                if frame is not None:
                    stack = traceback.extract_stack(frame)[-14:]
                    text = "".join(f"    {f.filename.split('/work/main/')[-1]}:{f.lineno} {f.name}\n" for f in stack)
                    self.counts[self.beat.scenario + "\n" + text] += 1
                    self.gaps.setdefault((self.beat.scenario, self.beat.last), []).append(text)

    def report(self) -> str:
        """The most frequent stacks, then every sample of the three longest single stalls per scenario
        (the counts mix many short stalls; the goal is about the longest one)."""
        lines = [f"  {n} x 10 ms in {stack}" for stack, n in self.counts.most_common(40)]
        for scenario in dict.fromkeys(s for s, _ in self.gaps):
            longest = sorted(((k, v) for k, v in self.gaps.items() if k[0] == scenario), key=lambda kv: -len(kv[1]))
            for _key, stacks in longest[:3]:
                lines.append(f"== {scenario}: a stall of >= {len(stacks) * 10 + 30} ms; its UI-thread samples:")
                lines.extend(f"  -- sample {i}\n{text}" for i, text in enumerate(stacks))
        return "\n".join(lines)


class Heartbeat:
    """A 5 ms precise timer on the UI thread; ``measure`` returns the longest gap between its ticks."""

    def __init__(self):
        from PySide6 import QtCore

        self.timer = QtCore.QTimer()
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.cpu_ms = []
        self.last, self.last_cpu = time.perf_counter(), time.thread_time()
        self.longest, self.longest_cpu = 0.0, 0.0
        self.timer.start()

    def _tick(self) -> None:
        """The UI thread's own CPU time within the longest gap tells work on the UI thread from waiting
        for a core (a loaded machine) or for the GIL (a worker's Python)."""
        now, cpu = time.perf_counter(), time.thread_time()
        if now - self.last > self.longest:
            self.longest, self.longest_cpu = now - self.last, cpu - self.last_cpu
        self.last, self.last_cpu = now, cpu

    scenario = ""
    cpu_ms: list[float]

    def measure(self, trigger, done, timeout: float = 120.0, settle: float = SETTLE_S,
                scenario: str = "") -> tuple[float, float]:
        """(longest gap in ms, seconds until ``done()``) for ``trigger`` run from the event loop; the UI
        thread's CPU ms within that gap is left in ``longest_cpu``."""
        from PySide6 import QtCore, QtWidgets

        QtWidgets.QApplication.processEvents()
        loop = QtCore.QEventLoop()
        wait = QtCore.QEventLoop.ProcessEventsFlag.AllEvents | QtCore.QEventLoop.ProcessEventsFlag.WaitForMoreEvents
        self.last, self.last_cpu, self.scenario = time.perf_counter(), time.thread_time(), scenario
        self.longest, self.longest_cpu = 0.0, 0.0
        t0 = time.perf_counter()
        QtCore.QTimer.singleShot(0, trigger)
        finished = None
        while True:   # wait as the app's event loop does: in the event dispatcher (the heartbeat wakes it)
            loop.processEvents(wait)
            now = time.perf_counter()
            if finished is None and done():
                finished = now - t0
            if finished is not None and now - t0 >= finished + settle:
                break
            if now - t0 > timeout:
                raise TimeoutError(f"not done after {timeout} s")
        self._tick()
        self.cpu_ms.append(round(self.longest_cpu * 1000.0, 1))
        return self.longest * 1000.0, finished


def _shown(w, position: int) -> bool:
    s = w.session
    return (s is not None and s.position == position and s.editor is not None and w.canvas.has_image
            and not getattr(w, "loading", False) and w.canvas._raw is s.editor.image)


def run(root: Path, model: tuple[str, str] | None) -> dict:
    """The measured session, in this (fresh) process; returns the figures."""
    import torch

    torch.set_num_threads(1)
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from app.main_window import MainWindow

    w = MainWindow()
    from app.preload import settle_heap

    settle_heap()                    # as app.main does after building the window
    w.ask = lambda q: False
    w.resize(1400, 900)
    w.show()
    for _ in range(50):
        app.processEvents()
    beat = Heartbeat()
    sampler = StallSampler(beat) if os.environ.get("TOOTHSEG_BENCH_STACKS") else None
    out: dict = {"preloaded": {m: m in sys.modules for m in ("torch", "onnxruntime", "monai", "core.train.loop")}}

    def record(name: str, *args, **kwargs) -> None:
        out[f"{name}_ms"], out[f"{name}_s"] = beat.measure(*args, scenario=name, **kwargs)
        out[f"{name}_cpu_ms"] = beat.cpu_ms[-1]

    record("idle", lambda: None, lambda: True, settle=1.0)
    record("open", lambda: w.start.open_requested.emit(str(root)), lambda: _shown(w, 0), settle=2.0)
    w.autosave.timer.stop()
    n = len(w.session.index)
    switches = []
    for j in [*range(1, n), *range(n - 2, n - 16, -1)]:     # every image forward, then 14 back (cached)
        action = w.actions["next" if j > w.session.position else "previous"]
        switches.append(beat.measure(action.trigger, lambda j=j: _shown(w, j), settle=0.1, scenario="switch"))
    out["switch_ms"] = [round(g, 1) for g, _ in switches]
    out["switch_s"] = [round(t, 3) for _, t in switches]
    out["switch_cpu_ms"] = beat.cpu_ms[-len(switches):]
    if model is not None:
        register(w.session.project, *model)
        w.hitl.refresh_models()
        record("predict", w.hitl.actions["predict_current"].trigger, lambda: w.canvas.prediction is not None,
               settle=1.0)
    ctl = w.hitl
    ctl.auto_overrides = {"size": 64, "model": {"name": "unet", "base_channels": 4, "norm": "batch"},
                          "max_minutes": 0.05, "batch_size": 2}
    record("train", ctl.actions["train_on_labels"].trigger,
           lambda: ctl.job is not None and getattr(ctl.job, "fn", None).__name__ == "run_plan", settle=3.0)
    ctl.cancel()
    beat.measure(lambda: None, lambda: ctl.job is None, timeout=300, settle=0.1)
    errors = [b.text() for b in w.findChildren(QtWidgets.QMessageBox, "errorBox") if b.isVisible()]
    out["errors"] = errors
    w.close()
    if sampler is not None:
        print(sampler.report(), file=sys.stderr)
    return out


def register(project, sidecar: str, onnx: str) -> None:
    import shutil

    from core.data.project import ModelEntry

    run_dir = project.dir / "models" / "tiny"
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(sidecar, run_dir / "best.json")
    shutil.copy(Path(sidecar).with_suffix(".safetensors"), run_dir / "best.safetensors")
    shutil.copy(onnx, run_dir / "model.onnx")
    project.add_model(ModelEntry(name="tiny", path="models/tiny/best.safetensors", mode="finetune",
                                 created="2026-12-02T00:00:00", metrics={"val_dice": 0.5},
                                 onnx="models/tiny/model.onnx", fingerprint="tg3k-tiny"), make_active=True)
    project.save()


def test_bench_ui_blocking(shared_data, tmp_path):
    from core.export.onnx import export_onnx
    from tests.app.conftest import copy_subset
    from tests.core.tiny_trained import cached_tiny

    root = copy_subset(shared_data / "mlua_panoramic_caries", tmp_path / "mlua", n=30)
    sidecar = cached_tiny(shared_data, tmp_path, steps=8)
    onnx = sidecar.parent / "model.onnx"
    export_onnx(sidecar, onnx, images=str(shared_data / "tg3k_thyroid" / "images"), max_images=2)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TOOTHSEG_USER_DATA": str(tmp_path / "userdata")}
    proc = subprocess.run([sys.executable, __file__, str(root), str(sidecar), str(onnx)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    sw, cpu = np.asarray(res["switch_ms"]), np.asarray(res["switch_cpu_ms"])
    print(f"\nlongest UI-thread block (5 ms heartbeat; goal <= 50 ms) [UI thread's own CPU ms inside it], "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; imported at start: {res['preloaded']}")
    print(f"  idle 1 s (machine noise)              : {res['idle_ms']:.0f} ms [{res['idle_cpu_ms']:.0f}]")
    print(f"  open 30 caries panoramics (2943x1435) : {res['open_ms']:.0f} ms [{res['open_cpu_ms']:.0f}]  "
          f"(first image shown after {res['open_s']:.2f} s)")
    print(f"  switch image, n={sw.size}                   : p50 {np.percentile(sw, 50):.0f} ms, "
          f"p95 {np.percentile(sw, 95):.0f} ms, max {sw.max():.0f} ms [p95 {np.percentile(cpu, 95):.0f}]  "
          f"(shown after p50 {np.median(res['switch_s']) * 1000:.0f} ms)")
    for name, what in (("predict", "first Predict (ONNX Runtime)"), ("train", "first Train on my labels")):
        if f"{name}_ms" in res:
            print(f"  {what:38s}: {res[f'{name}_ms']:.0f} ms [{res[f'{name}_cpu_ms']:.0f}]  "
                  f"(done after {res[f'{name}_s']:.2f} s)")
    assert not res["errors"], res["errors"]


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO))
    figures = run(Path(sys.argv[1]), (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else None)
    print(json.dumps(figures))
