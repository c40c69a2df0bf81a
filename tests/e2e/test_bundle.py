"""Build the Linux bundles (full and slim) with packaging/build.py and run their frozen self-tests.

Slow (PyInstaller collects torch for minutes): excluded from the default run; run it with
    .venv/bin/python -m pytest -m slow tests/e2e/test_bundle.py -s
Bundle sizes are printed, never timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NAME = "ToothSegStudio"


def bundle(variant: str) -> Path:
    return REPO / "dist" / variant / NAME


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def built() -> dict[str, Path]:
    """Both variants freshly built (PyInstaller's cache in build/ keeps a rebuild to a few minutes)."""
    done = subprocess.run([sys.executable, str(REPO / "packaging" / "build.py"), "--variant", "both"],
                          cwd=REPO, capture_output=True, text=True, timeout=3600)
    print(done.stdout[-3000:])
    assert done.returncode == 0, done.stderr[-5000:]
    sizes = {v: folder_size(bundle(v)) for v in ("full", "slim")}
    for variant, size in sizes.items():
        print(f"bundle size {variant}: {size / 1e6:.0f} MB ({bundle(variant)})")
    return {v: bundle(v) for v in ("full", "slim")}


def self_test(program: Path, *args: str) -> subprocess.CompletedProcess:
    """Run a frozen program from outside the checkout, without the development venv on any path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    done = subprocess.run([str(program), "--self-test", *args], cwd=program.parent, env=env,
                          capture_output=True, text=True, timeout=600)
    print(done.stdout, done.stderr[-3000:], sep="\n")
    return done


@pytest.mark.parametrize("program", ["toothseg", NAME])
def test_full_bundle_self_test_trains_exports_and_predicts(built, program):
    done = self_test(built["full"] / program)
    assert done.returncode == 0
    for step in ("train a tiny model", "export ONNX", "predict with ONNX Runtime + write mask"):
        assert f"ok   {step}" in done.stdout
    assert "build full" in done.stdout  # toothseg_build.json was bundled and read


def test_slim_bundle_self_test_predicts_without_torch(built):
    done = self_test(built["slim"] / "toothseg", "--slim")
    assert "ok   training (skipped: slim build)" in done.stdout
    assert done.returncode == 0


def test_slim_bundle_has_no_training_stack_and_is_much_smaller(built):
    internal = built["slim"] / "_internal"
    for heavy in ("torch", "monai", "albumentations", "tensorboard", "onnxscript"):
        assert not (internal / heavy).exists(), f"{heavy} is in the slim bundle"
    assert (internal / "onnxruntime").is_dir() and (internal / "PySide6").is_dir()
    assert (built["full"] / "_internal" / "torch").is_dir()
    info = json.loads((internal / "toothseg_build.json").read_text())
    assert info["variant"] == "slim"
    assert folder_size(built["slim"]) < 0.5 * folder_size(built["full"])


def test_bundles_carry_resources_and_no_research_data(built, shared_data):
    shared = {(p.name, p.stat().st_size) for p in shared_data.rglob("*") if p.is_file()}
    for variant, folder in built.items():
        files = [p for p in folder.rglob("*") if p.is_file()]
        leaked = [str(p) for p in files if (p.name, p.stat().st_size) in shared]
        assert not leaked, f"{variant} bundle holds dataset files: {leaked[:5]}"
        assert (folder / "_internal" / "resources" / "icons" / "app.svg").is_file()
        assert (folder / "_internal" / "core" / "train" / "recipes" / "finetune.json").is_file()
        assert not any(p.suffix.lower() in (".onnx", ".safetensors", ".npz") for p in files)
        assert str(REPO) not in (folder / "_internal" / "toothseg_build.json").read_text()
