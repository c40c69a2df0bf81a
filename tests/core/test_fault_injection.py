"""Fault injection: a painting process is SIGKILLed at random points (inside journal appends, temp-file
writes, renames, unlinks, or at a random time), ≥ 30 times. After each kill the next open must find
0 corrupt masks, 0 lost strokes (every stroke whose ``committed`` returned is back; the one in flight
may or may not be) and no temporary file left (issue 18). Slow: ``python -m pytest -m slow``."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from core.annotation.editor import MaskEditor
from core.annotation.session import AnnotationSession
from core.data.atomic import TEMP_MIN_AGE_S
from core.data.io import read_image, read_mask
from core.data.layouts import load_index
from tests.core.test_annotation_session import copy_subset

REPO = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("TOOTHSEG_FAULT_RUNS", "36"))

CHILD = textwrap.dedent("""
    import faulthandler, os, random, signal, sys
    faulthandler.dump_traceback_later(240, exit=True)   # a hang shows its stacks instead of a bare timeout
    from core.annotation.session import AnnotationSession
    from tests.core.test_fault_injection import stroke_plan, paint

    root, seed, kill_at, progress = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    calls = [0]

    def killing(name, real):
        def wrapper(*args, **kwargs):
            calls[0] += 1
            if calls[0] == kill_at:                      # half the time before the call, half after it
                if seed % 2:
                    os.kill(os.getpid(), signal.SIGKILL)
                out = real(*args, **kwargs)
                os.kill(os.getpid(), signal.SIGKILL)
                return out
            return real(*args, **kwargs)
        return wrapper

    s = AnnotationSession(root)
    assert not s.read_only and not s.pending_recovery()
    fd = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.write(fd, b"ready\\n")
    if kill_at > 0:
        for name in ("write", "fsync", "replace", "unlink", "ftruncate"):
            setattr(os, name, killing(name, getattr(os, name)))
    for k, (pos, stroke) in enumerate(stroke_plan(seed, len(s.index))):
        if s.position != pos:
            s.open(pos)                                  # saves the previous image
        s.committed(paint(s.editor, stroke))
        os.write(fd, f"{k}\\n".encode())                 # survives SIGKILL (page cache), no fsync needed
        if k % 5 == 4:
            s.save()
        if k % 7 == 6:
            s.save_project()
    os.kill(os.getpid(), signal.SIGKILL)                 # never reached in practice: the plan is long
""")


def stroke_plan(seed: int, n_images: int, n: int = 20000):
    """(image position, stroke) pairs, the same in the child and in the checker."""
    rng = random.Random(seed)
    pos = rng.randrange(n_images)
    for _ in range(n):
        if rng.random() < 0.25:
            pos = rng.randrange(n_images)
        y, x = rng.randrange(20, 490), rng.randrange(20, 490)
        yield pos, (y, x, y + rng.randrange(-15, 16), x + rng.randrange(-15, 16), rng.choice([3, 6, 9]),
                    rng.choice([0, 11, 21, 31]))


def paint(editor: MaskEditor, stroke):
    y0, x0, y1, x1, radius, value = stroke
    editor.begin_stroke()
    editor.paint_segment((x0, y0), (x1, y1), radius, value)
    return editor.end_stroke()


def _expected(root: Path, seed: int, done: int, base: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Masks after ``done`` strokes, and after ``done + 1`` (the stroke in flight at the kill)."""
    index = load_index(root)
    labels = {sid: m.copy() for sid, m in base.items()}
    images = {}
    out = []
    for k, (pos, stroke) in enumerate(stroke_plan(seed, len(index))):
        if k == done:
            out.append({sid: m.copy() for sid, m in labels.items()})
        if k > done:
            break
        sid = index[pos].id
        images.setdefault(sid, read_image(index[pos].image))
        editor = MaskEditor(labels[sid], images[sid])
        paint(editor, stroke)
        labels[sid] = editor.labels
    out.append(labels)
    return out if len(out) == 2 else out * 2   # the child ran out of strokes: nothing was in flight


@pytest.mark.slow
def test_kills_while_painting_lose_no_stroke_and_corrupt_no_file(shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=4)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    rng = random.Random(18)
    figures = {"runs": 0, "corrupt": 0, "lost": 0, "in_flight_kept": 0, "temps_left_by_kill": 0,
               "temps_after_open": 0, "syscall_kills": 0, "timed_kills": 0}
    for run in range(RUNS):
        index = load_index(root)
        base = {s.id: read_mask(s.mask) for s in index}
        seed = 1000 + run
        timed = run % 3 == 2
        kill_at = 0 if timed else rng.randrange(1, 120)
        progress = tmp_path / f"progress-{run}.txt"
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(seed), str(kill_at), str(progress)],
                                 env=env, cwd=REPO, stderr=subprocess.PIPE, text=True)
        if timed:
            deadline = time.time() + 60
            while (not progress.exists() or b"ready" not in progress.read_bytes()) and time.time() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 1.5))
            child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=300)
        assert child.returncode == -signal.SIGKILL, err
        figures["timed_kills" if timed else "syscall_kills"] += 1
        lines = progress.read_text().split()
        assert lines and lines[0] == "ready", err
        done = len(lines) - 1

        temps = list(root.rglob("*.tmp"))
        figures["temps_left_by_kill"] += len(temps)
        for s in index:                                    # every mask file still decodes, right shape
            try:
                ok = read_mask(s.mask).shape == base[s.id].shape
            except Exception:
                ok = False
            figures["corrupt"] += not ok
        time.sleep(TEMP_MIN_AGE_S)                         # an app cannot start again faster than this
        session = AnnotationSession(root)                  # the next open: takes the dead process's lock
        assert not session.read_only
        session.restore(session.pending_recovery())
        figures["temps_after_open"] += len(list(root.rglob("*.tmp")))
        session.close()
        after = {s.id: read_mask(s.mask) for s in index}
        without, with_flight = _expected(root, seed, done, base)
        if all(np.array_equal(after[k], with_flight[k]) for k in after):
            figures["in_flight_kept"] += 1
        elif not all(np.array_equal(after[k], without[k]) for k in after):
            figures["lost"] += 1
        figures["runs"] += 1
    print(f"\nfault injection: {figures}")
    assert figures["runs"] >= 30
    assert figures["corrupt"] == 0 and figures["lost"] == 0 and figures["temps_after_open"] == 0
