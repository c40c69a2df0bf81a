"""The self-test the frozen app runs (``--self-test``): every step must really run and really fail."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import onnx
import pytest

from app import selftest
from app.selftest import build_slim_model, run_self_test

REPO = Path(__file__).resolve().parents[2]
# A meta-path finder that makes every `import torch` fail, as in the slim bundle that ships without it.
BLOCK_TORCH = textwrap.dedent("""
    import sys
    class _NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"No module named {name!r} (blocked: slim build)")
    sys.meta_path.insert(0, _NoTorch())
""")


def test_full_self_test_trains_exports_predicts_and_writes(qapp):
    lines: list[str] = []
    assert run_self_test(out=lines.append, slim=False) == 0, "\n".join(lines)
    text = "\n".join(lines)
    for step in ("Qt offscreen + main window", "sample project", "train a tiny model", "export ONNX",
                 "predict with ONNX Runtime + write mask"):
        assert f"ok   {step} (" in text, text
    assert "max |ONNX - PyTorch|" in text and "FAIL" not in text
    assert lines[-1].startswith("self-test PASSED")


def test_slim_self_test_finds_the_sample_teeth_without_training(qapp):
    lines: list[str] = []
    assert run_self_test(out=lines.append, slim=True) == 0, "\n".join(lines)
    text = "\n".join(lines)
    assert "ok   training (skipped: slim build)" in text
    assert "ok   tiny ONNX model without torch" in text
    dice = float(text.split("Dice vs sample mask ")[1].split()[0])
    assert dice >= 0.5


def test_a_broken_step_makes_the_self_test_fail(qapp, monkeypatch):
    monkeypatch.setattr(selftest, "build_slim_model", lambda meta=None: b"not an onnx model")
    lines: list[str] = []
    assert run_self_test(out=lines.append, slim=True) == 1
    text = "\n".join(lines)
    assert "FAIL predict with ONNX Runtime + write mask" in text and "ModelFileError" in text
    assert lines[-1].startswith("self-test FAILED (1 step)")


def test_the_self_test_leaves_user_data_alone(qapp, tmp_path, monkeypatch):
    monkeypatch.setenv("TOOTHSEG_USER_DATA", str(tmp_path / "user"))
    assert run_self_test(out=lambda line: None, slim=True) == 0
    assert os.environ["TOOTHSEG_USER_DATA"] == str(tmp_path / "user")
    assert not (tmp_path / "user").exists()


LINUX_PROC = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc/self/fd")


@pytest.fixture
def scratch_dirs(monkeypatch) -> list[Path]:
    """Every scratch folder the self-test creates (it asks tempfile.mkdtemp for it)."""
    made: list[Path] = []
    real = tempfile.mkdtemp

    def recording(*args, **kwargs):
        made.append(Path(real(*args, **kwargs)))
        return str(made[-1])

    monkeypatch.setattr(selftest.tempfile, "mkdtemp", recording)
    return made


def _open_in(folder: Path) -> list[str]:
    """What /proc/self/fd says this process holds open under ``folder`` (deleted files included)."""
    prefix = str(folder.resolve())
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(prefix):
            held.append(target)
    return held


def _toothseg_log_files() -> list[str]:
    return [getattr(h, "baseFilename", "") for h in logging.getLogger("toothseg").handlers]


@LINUX_PROC
def test_no_file_stays_open_in_the_scratch_folder(qapp, scratch_dirs):
    """Windows cannot delete an open file: the main window's log file left open failed every Windows
    self-test. Linux deletes it regardless, so look at the process's open handles instead."""
    lines: list[str] = []
    assert run_self_test(out=lines.append, slim=True) == 0, "\n".join(lines)
    assert len(scratch_dirs) == 1
    scratch = scratch_dirs[0]
    assert _open_in(scratch) == []
    assert not scratch.exists()
    assert not any(f.startswith(str(scratch.resolve())) for f in _toothseg_log_files())
    text = "\n".join(lines)
    assert "ok   release the scratch folder" in text and "closed 1 log file(s), no file left open" in text


@LINUX_PROC
def test_a_file_left_open_in_the_scratch_folder_fails_the_self_test(qapp, scratch_dirs, monkeypatch):
    leaked = []
    real_make_sample = selftest.make_sample

    def leaky(root: Path) -> Path:
        out = real_make_sample(root)
        leaked.append(open(root / "left-open.txt", "w"))  # noqa: SIM115 - the leak under test
        return out

    monkeypatch.setattr(selftest, "make_sample", leaky)
    lines: list[str] = []
    try:
        assert run_self_test(out=lines.append, slim=True) == 1
    finally:
        leaked[0].close()
    text = "\n".join(lines)
    assert "FAIL release the scratch folder" in text
    assert "still open at the end of the self-test: sample/left-open.txt" in text
    assert lines[-1].startswith("self-test FAILED (1 step)")
    assert not scratch_dirs[0].exists()  # cleaned up all the same


def test_an_interrupted_self_test_still_closes_its_log_and_cleans_up(qapp, scratch_dirs, monkeypatch):
    """Ctrl+C (or any BaseException) after the main window opened its log in the scratch folder."""
    user = os.environ["TOOTHSEG_USER_DATA"]
    real_check_qt = selftest.check_qt

    def interrupted() -> str:
        real_check_qt()
        assert any(f.startswith(str(scratch_dirs[0].resolve())) for f in _toothseg_log_files())
        raise KeyboardInterrupt

    monkeypatch.setattr(selftest, "check_qt", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_self_test(out=lambda line: None, slim=True)
    scratch = scratch_dirs[0]
    assert not scratch.exists()
    assert not any(f.startswith(str(scratch.resolve())) for f in _toothseg_log_files())
    assert os.environ["TOOTHSEG_USER_DATA"] == user


def test_slim_model_carries_the_exporters_metadata(shared_data, tmp_path):
    """The torch-free model's metadata_props have the same keys as a real export (tiny U-Net on tg3k)."""
    from core.export.onnx import export_onnx
    from tests.core.tiny_trained import train_tiny

    checkpoint = train_tiny(shared_data, tmp_path / "tiny", base_channels=4, size=64, steps=2, images=8)
    exported = export_onnx(checkpoint, tmp_path / "tiny.onnx", images=shared_data / "tg3k_thyroid" / "images",
                           max_images=2)
    real = {p.key for p in onnx.load(exported["out"]).metadata_props}
    slim = onnx.load_model_from_string(build_slim_model())
    slim_props = {p.key: json.loads(p.value) for p in slim.metadata_props}
    assert set(slim_props) == real - {"parity"}
    assert slim_props["format"] == "toothseg-onnx"


def _run_without_torch(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TOOTHSEG_USER_DATA=str(tmp_path / "user"))
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=240)


def test_app_and_onnx_inference_modules_import_without_torch(tmp_path):
    done = _run_without_torch("""
        import app.main, app.main_window, core.infer.predictor, core.infer.folder
        from core.capabilities import is_slim_build, torch_available, torch_import_error
        assert not torch_available() and is_slim_build(), torch_import_error()
        assert "blocked" in torch_import_error()
        assert "torch" not in sys.modules
        print("imports fine")
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "imports fine" in done.stdout


def test_slim_self_test_runs_with_torch_blocked(tmp_path):
    done = _run_without_torch("""
        from app.selftest import run_self_test
        code = run_self_test()
        print("torch loaded:", "torch" in sys.modules)
        sys.exit(code)
    """, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok   training (skipped: slim build)" in done.stdout and "PyTorch not importable" in done.stdout
    assert "ok   predict with ONNX Runtime + write mask" in done.stdout and "Dice vs sample mask" in done.stdout
    assert "torch loaded: False" in done.stdout


def test_self_test_runs_the_box_models_and_a_bundle_without_them_fails(qapp, monkeypatch, tmp_path):
    from tests.litemedsam import onnx_dir

    monkeypatch.setenv("TOOTHSEG_PROMPT_MODEL_DIR", str(onnx_dir()))
    lines: list[str] = []
    assert run_self_test(out=lines.append, slim=True) == 0, "\n".join(lines)
    step = next(line for line in lines if "box prompt (LiteMedSAM" in line)
    assert step.startswith("ok") and float(step.split("Dice ")[1].split()[0]) > 0.7
    monkeypatch.setenv("TOOTHSEG_PROMPT_MODEL_DIR", str(tmp_path / "none"))
    monkeypatch.setattr(sys, "frozen", True, raising=False)          # a bundle must carry them
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    lines = []
    assert run_self_test(out=lines.append, slim=True) == 1
    assert [line.split(" (")[0] for line in lines if line.startswith("FAIL")] == ["FAIL box prompt"], lines
    assert any(line.startswith("FAIL box prompt") and "not found" in line for line in lines), lines
