"""The bad-input corpus harness: build one bad input in a tmp folder, run it through every command
that takes it, and check the promise of the project rules: no traceback, one clear line, a non-zero
exit where the command needs the bad part, and not one byte of the input changed.

How to add cases (e.g. ``tests/core/test_bad_models.py``)::

    from tests.core.bad_input_cases import FAIL, Case, Inputs, case_ids, corpus_env, run_case  # noqa: F401

    def _version_abc(root, env):               # build the bad input under ``root`` (a fresh tmp dir)
        ckpt = env.copy_checkpoint(root / "m")  # a real tiny checkpoint you may then break
        ...
        return Inputs(data=env.good_dataset(root / "data"), checkpoint=ckpt)

    CASES = [Case("sidecar-version-abc", _version_abc, {"evaluate": FAIL, "export": FAIL}, says="version")]

    @pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
    def test_bad_model(case, corpus_env, tmp_path, capfd):
        run_case(case, corpus_env, tmp_path, capfd)

``Case.runs`` maps a command name (a key of ``COMMANDS``; add your own with ``register_command``)
to the expected outcome: FAIL (non-zero exit, exactly one message line, ``says`` in it), REPORT
(``check`` lists the problem: non-zero exit, ``says`` in stdout) or OK (exit 0: the command does not
need the bad part, e.g. ``index`` does not decode pixels; ``says_by[command]`` must then be in stdout).
A command ending in ``-json`` must print exactly one JSON object (nothing when it refuses). Every run also asserts: no traceback, no
libpng / OpenCV ``WARN`` noise on the process's stderr, and the input tree hashes the same before
and after (``split`` with OK may write ``.toothseg/`` only). The CLI runs in-process (fast) with
``capfd``, which also sees what C libraries print to file descriptor 2.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest

FAIL, REPORT, OK = "fail", "report", "ok"
# lines a command prints besides its one message (which provider runs, notes about defaults)
INFO_PREFIXES = ("running on ", "note: ", "warning: nothing was verified")
NOISE = ("libpng", "[ WARN", "[WARN", "[ERROR", "Corrupt JPEG", "Premature end of JPEG", "TIFFRead", "Traceback")


@dataclass
class Inputs:
    """What one case hands to the commands; ``None`` fields fall back to the environment's good ones."""

    data: Path | None = None          # dataset folder (check, stats, index, split, evaluate, finetune, gui)
    image: Path | None = None         # predict --input (default: data)
    parts: Path | None = None         # import-sts --parts
    coco: Path | None = None          # coco-import JSON
    checkpoint: Path | None = None    # evaluate / export / finetune --init (default: the tiny good one)
    onnx: Path | None = None          # predict --model (default: the tiny good ONNX)
    run: Path | None = None           # RUN_DIR of finetune --resume
    watch: list[Path] = field(default_factory=list)  # trees that must not change (default: the case root)


@dataclass
class Case:
    """One bad input. ``build(root, env) -> Inputs`` writes it under ``root``; ``runs`` says what each
    command must do with it; ``says`` is a fragment (case-insensitive) the message must contain."""

    id: str
    build: Callable[[Path, CorpusEnv], Inputs]
    runs: dict[str, str]
    says: str = ""
    says_by: dict[str, str] = field(default_factory=dict)  # per-command fragment overriding ``says``

    def fragment(self, command: str) -> str:
        return self.says_by.get(command, self.says)


def case_ids(cases: list[Case]) -> list[str]:
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return ids


# ----------------------------------------------------------------------------------------- environment

@dataclass
class CorpusEnv:
    """Real source pixels and the tiny good models every case may use (built once per session)."""

    shared_data: Path
    checkpoint: Path | None = None   # sidecar .json of a tiny U-Net trained on real tg3k frames
    onnx: Path | None = None         # its ONNX export (both None in ``corpus_pixels``)

    @property
    def image(self) -> np.ndarray:
        return _real_image(str(self.shared_data))

    @property
    def mask(self) -> np.ndarray:
        return _real_mask(str(self.shared_data))

    def png(self, arr: np.ndarray | None = None) -> bytes:
        return cv2.imencode(".png", self.image if arr is None else arr)[1].tobytes()

    def jpg(self, arr: np.ndarray | None = None) -> bytes:
        return cv2.imencode(".jpg", self.image if arr is None else arr)[1].tobytes()

    def bmp(self, arr: np.ndarray | None = None) -> bytes:
        return cv2.imencode(".bmp", self.image if arr is None else arr)[1].tobytes()

    def mask_png(self, arr: np.ndarray | None = None) -> bytes:
        return cv2.imencode(".png", self.mask if arr is None else arr)[1].tobytes()

    def good_pair(self, root: Path, stem: str = "good", images: str = "images", masks: str = "masks") -> Path:
        """A real tg3k frame and its mask under ``root/images`` + ``root/masks``; returns ``root``."""
        (root / images).mkdir(parents=True, exist_ok=True)
        (root / masks).mkdir(parents=True, exist_ok=True)
        (root / images / f"{stem}.png").write_bytes(self.png())
        (root / masks / f"{stem}.png").write_bytes(self.mask_png())
        return root

    def good_dataset(self, root: Path, n: int = 2) -> Path:
        """``n`` different real tg3k frames with their masks (``good0`` is the frame ``image`` holds)."""
        for k in range(n):
            image, mask = _real_pair(str(self.shared_data), k)
            self.good_pair(root, f"good{k}")
            if k:
                (root / "images" / f"good{k}.png").write_bytes(self.png(image))
                (root / "masks" / f"good{k}.png").write_bytes(self.mask_png(mask))
        return root

    def paired(self, root: Path, image_name: str, image_bytes: bytes | None,
               mask_name: str | None = None, mask_bytes: bytes | None = None) -> Path:
        """A paired folder holding one sample: ``image_bytes`` (None: a good PNG) and its mask."""
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        (root / "images" / image_name).write_bytes(self.png() if image_bytes is None else image_bytes)
        stem = Path(image_name).stem
        (root / "masks" / (mask_name or f"{stem}.png")).write_bytes(
            self.mask_png() if mask_bytes is None else mask_bytes)
        return root

    def copy_checkpoint(self, dest: Path) -> Path:
        """A private copy of the good checkpoint (``dest.json`` + ``dest.safetensors``) to break."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = self.checkpoint.with_suffix("")
        for suffix in (".json", ".safetensors"):
            shutil.copy(src.with_suffix(suffix), dest.with_suffix(suffix))
        return dest.with_suffix(".json")

    def copy_onnx(self, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.onnx, dest)
        return dest


@lru_cache(maxsize=16)
def _real_pair(shared: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k-th tg3k frame (every 25th file, so no two are near-duplicates) and its 0/255 mask."""
    folder = Path(shared) / "tg3k_thyroid"
    name = sorted(p.name for p in (folder / "images").iterdir())[k * 25]
    image = cv2.imread(str(folder / "images" / name), cv2.IMREAD_GRAYSCALE)
    mask = cv2.imread(str(folder / "masks" / name), cv2.IMREAD_GRAYSCALE)
    return image, np.where(mask > 127, 255, 0).astype(np.uint8)


@lru_cache(maxsize=2)
def _real_image(shared: str) -> np.ndarray:
    return cv2.imread(str(Path(shared) / "tg3k_thyroid" / "images" / "0000.jpg"), cv2.IMREAD_GRAYSCALE)


@lru_cache(maxsize=2)
def _real_mask(shared: str) -> np.ndarray:
    raw = cv2.imread(str(Path(shared) / "tg3k_thyroid" / "masks" / "0000.jpg"), cv2.IMREAD_GRAYSCALE)
    return np.where(raw > 127, 255, 0).astype(np.uint8)  # the JPEG mask as a clean 0/255 PNG mask


@pytest.fixture(scope="session")
def corpus_pixels(shared_data) -> CorpusEnv:
    """Only the real source pixels, for harnesses that run no model (the GUI open path)."""
    return CorpusEnv(shared_data)


@pytest.fixture(scope="session")
def corpus_env(shared_data, tmp_path_factory) -> CorpusEnv:
    """The tiny good checkpoint (shared with the other tests' cache) and its ONNX export."""
    import torch

    from core.export.onnx import export_onnx
    from tests.core.tiny_trained import cached_tiny

    torch.set_num_threads(1)
    ckpt = cached_tiny(shared_data, tmp_path_factory.getbasetemp(), size=64, steps=2, images=8)  # quality is moot
    onnx = tmp_path_factory.getbasetemp() / "corpus_model" / "tiny.onnx"
    if not onnx.is_file():
        onnx.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(ckpt, onnx, images=shared_data / "tg3k_thyroid" / "images" / "0000.jpg")
    return CorpusEnv(shared_data, ckpt, onnx)


# ----------------------------------------------------------------------------------------- commands

Argv = Callable[[Inputs, CorpusEnv, Path], list[str]]
COMMANDS: dict[str, Argv] = {}
TRAIN_FLAGS = ["--epochs", "1", "--max-steps", "1", "--size", "32", "--base-channels", "4", "--batch-size", "1",
               "--threads", "1", "--device", "cpu", "--no-augment"]


def register_command(name: str, argv: Argv) -> None:
    """Add a command the cases may name in ``runs`` (``argv(inputs, env, out_dir) -> CLI arguments``).
    Names are global across the corpus modules: a second registration of a name is refused, since it
    silently changed the other module's cases when both were collected in one run."""
    if name in COMMANDS:
        raise ValueError(f"corpus command {name!r} is registered twice; give the new one its own name")
    COMMANDS[name] = argv


def _data(i: Inputs) -> str:
    assert i.data is not None, "this command needs Inputs.data"
    return str(i.data)


register_command("check", lambda i, e, o: ["check", _data(i)])
register_command("check-json", lambda i, e, o: ["check", _data(i), "--json"])
register_command("stats", lambda i, e, o: ["stats", _data(i)])
register_command("index", lambda i, e, o: ["index", _data(i), "--csv", str(o / "index.csv")])
register_command("index-stdout", lambda i, e, o: ["index", _data(i)])
register_command("split", lambda i, e, o: ["split", _data(i)])
register_command("predict", lambda i, e, o: ["predict", "--model", str(i.onnx or e.onnx), "--input",
                                              str(i.image or i.data), "--out", str(o / "pred")])
register_command("evaluate", lambda i, e, o: ["evaluate", "--model", str(i.checkpoint or e.checkpoint),
                                               "--data", _data(i), "--split", "all"])
register_command("export", lambda i, e, o: ["export", "--model", str(i.checkpoint or e.checkpoint),
                                             "--out", str(o / "m.onnx"), "--images", str(i.image or i.data)])
register_command("finetune", lambda i, e, o: ["finetune", "--data", _data(i), "--out", str(o / "run"),
                                               *TRAIN_FLAGS])
register_command("finetune-init", lambda i, e, o: ["finetune", "--data", _data(i), "--out", str(o / "run"),
                                                    "--init", str(i.checkpoint or e.checkpoint), *TRAIN_FLAGS])
register_command("finetune-resume", lambda i, e, o: ["finetune", "--data", _data(i), "--out", str(i.run), "--resume",
                                                      *TRAIN_FLAGS])
for _mode in ("pretrain-mim", "pretrain-recon", "mean-teacher", "pseudo-label"):
    register_command(_mode, lambda i, e, o, m=_mode: [m, "--data", _data(i), "--out", str(o / "run"), *TRAIN_FLAGS])
register_command("suggest", lambda i, e, o: ["suggest", "--data", _data(i), "--method", "brightness"])
register_command("export-nnunet", lambda i, e, o: ["export-nnunet", "--data", _data(i), "--out", str(o / "nnunet")])
register_command("import-sts", lambda i, e, o: ["import-sts", "--dest", str(o / "dest"), "--parts", str(i.parts),
                                                 "--no-verify"])
register_command("import-sts-verify", lambda i, e, o: ["import-sts", "--dest", str(o / "dest"), "--parts",
                                                        str(i.parts), "--record-url", "http://127.0.0.1:9/none"])
register_command("coco-import", lambda i, e, o: ["coco-import", str(i.coco), "--dest", str(o / "coco")])
register_command("coco-export", lambda i, e, o: ["coco-export", _data(i), "--out", str(o / "coco.json")])

# commands a dataset case usually goes through, in order (split last: with OK it writes the project)
DATASET_ORDER = ("check", "check-json", "stats", "index", "index-stdout", "predict", "evaluate", "export", "finetune",
                 "finetune-init", "finetune-resume", "coco-export", "coco-import", "import-sts", "import-sts-verify", "split")


# ----------------------------------------------------------------------------------------- checks

def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> content hash (or link target / 'dir') of everything under ``root``, no follow."""
    out: dict[str, str] = {}
    root = Path(root)
    if not os.path.lexists(root):
        return out
    if root.is_symlink() or root.is_file():
        return {".": _entry_digest(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            out[rel] = _entry_digest(p)
            out[rel + "@mode"] = oct(os.lstat(p).st_mode)
    return out


def _entry_digest(p: Path) -> str:
    if p.is_symlink():
        return "link:" + os.readlink(p)
    if p.is_dir():
        return "dir"
    return hashlib.sha256(p.read_bytes()).hexdigest()


@dataclass
class RunResult:
    command: str
    code: int | None
    out: str
    err: str
    crash: str = ""  # a traceback when the command raised instead of reporting


def run_cli(argv: list[str], capfd) -> RunResult:
    """``toothseg ARGV`` in-process; an escaping exception is kept as text, not raised."""
    from training.cli import main

    capfd.readouterr()
    crash = ""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception:  # noqa: BLE001 -- the harness reports it as the bug it is
        code = None
        crash = traceback.format_exc()
    out, err = capfd.readouterr()
    return RunResult(argv[0], code, out, err, crash)


def run_process(argv: list[str], capfd=None) -> RunResult:
    """``python -m training.cli ARGV`` in a real process: the entry point, exit code and whole stderr."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(repo))
    proc = subprocess.run([sys.executable, "-m", "training.cli", *argv], capture_output=True, text=True,
                          cwd=repo, env=env, timeout=300)
    crash = proc.stderr if "Traceback (most recent call last)" in proc.stderr else ""
    return RunResult(argv[0], proc.returncode, proc.stdout, proc.stderr, crash)


def message_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(INFO_PREFIXES)]


def check_run(case: Case, command: str, expect: str, res: RunResult) -> list[str]:
    """Every broken promise of one run, as readable strings (empty when the run behaved)."""
    where = f"{case.id} / {command}"
    if res.crash:
        return [f"{where}: traceback\n{res.crash}"]
    problems = []
    text = res.out + res.err
    noise = [ln for ln in text.splitlines() if any(n in ln for n in NOISE)]
    if noise:
        problems.append(f"{where}: library noise or traceback on stderr: {noise[:3]}")
    fragment = case.fragment(command).lower()
    if command.endswith("-json"):  # --json: exactly one JSON object on stdout, or nothing when refused
        problems += _json_problems(where, res.out, expect)
    if expect == FAIL:
        lines = message_lines(res.err)
        if not res.code:
            problems.append(f"{where}: expected a non-zero exit, got {res.code}; out={res.out[-300:]!r}")
        if len(lines) != 1:
            problems.append(f"{where}: expected one message line, got {len(lines)}: {lines[:4]}")
        elif fragment and fragment not in lines[0].lower():
            problems.append(f"{where}: message {lines[0]!r} does not say {fragment!r}")
    elif expect == REPORT:
        if not res.code:
            problems.append(f"{where}: expected a non-zero exit (problems found), got {res.code}")
        if fragment and fragment not in res.out.lower():
            problems.append(f"{where}: report does not name {fragment!r}: {res.out[-400:]!r}")
        if message_lines(res.err):
            problems.append(f"{where}: unexpected stderr {message_lines(res.err)[:3]}")
    elif expect == OK:
        if res.code != 0:
            problems.append(f"{where}: expected exit 0, got {res.code}: {res.err[-300:]!r}")
        wanted = case.says_by.get(command, "").lower()  # an OK run only names what says_by asks for
        if wanted and wanted not in res.out.lower():
            problems.append(f"{where}: output does not name {wanted!r}: {res.out[-400:]!r}")
    else:
        raise AssertionError(f"unknown outcome {expect!r}")
    return problems


def _json_problems(where: str, out: str, expect: str) -> list[str]:
    if expect == FAIL:
        return [] if not out.strip() else [f"{where}: refused, yet printed {out[:200]!r} on stdout"]
    try:
        obj, end = json.JSONDecoder().raw_decode(out.strip())
    except ValueError as exc:
        return [f"{where}: stdout is not JSON ({exc}): {out[:200]!r}"]
    if not isinstance(obj, dict) or out.strip()[end:].strip():
        return [f"{where}: stdout is not exactly one JSON object: {out[:200]!r}"]
    return []


def build_case(case: Case, env: CorpusEnv, tmp: Path) -> tuple[Inputs, Path]:
    root = tmp / "in"
    root.mkdir(parents=True, exist_ok=True)
    inputs = case.build(root, env)
    if not inputs.watch:
        inputs.watch = [root]
    return inputs, root


def run_case(case: Case, env: CorpusEnv, tmp: Path, capfd, order: tuple[str, ...] = DATASET_ORDER,
             runner: Callable[[list[str], object], RunResult] | None = None) -> int:
    """Run every command of ``case`` (in-process, or with ``runner=run_process``) and assert the
    promises; returns the number of runs."""
    runner = runner or run_cli
    inputs, _ = build_case(case, env, tmp)
    before = {str(w): tree_digest(w) for w in inputs.watch}
    problems: list[str] = []
    names = sorted(case.runs, key=lambda c: order.index(c) if c in order else len(order))
    for n, command in enumerate(names):
        out_dir = tmp / f"out{n}"
        out_dir.mkdir()
        res = runner(COMMANDS[command](inputs, env, out_dir), capfd)
        problems += check_run(case, command, case.runs[command], res)
        for w in inputs.watch:
            after = tree_digest(w)
            if command == "split" and case.runs[command] == OK:  # a successful split saves the project
                after = {k: v for k, v in after.items() if not k.startswith(".toothseg")}
                before[str(w)] = {k: v for k, v in before[str(w)].items() if not k.startswith(".toothseg")}
            if after != before[str(w)]:
                changed = sorted(set(after.items()) ^ set(before[str(w)].items()))[:4]
                problems.append(f"{case.id} / {command}: input changed: {changed}")
    assert not problems, "\n".join(problems)
    return len(names)


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path
