"""Packaging files that need no build: the spec's paths, the frozen entry points, .toothseg pointers."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"


def load(name: str):
    """packaging/ is not a package (it would shadow PyPI's `packaging`), so load its scripts by path."""
    spec = importlib.util.spec_from_file_location(f"toothseg_{name}", PACKAGING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spec_uses_only_paths_relative_to_specpath():
    text = (PACKAGING / "toothseg.spec").read_text()
    assert "SPECPATH" in text
    assert not re.search(r"['\"](/|[A-Za-z]:\\\\)", text), "absolute path in the spec"
    assert "/work" not in text and "shared" not in text
    for needed in ("resources", "rthook_toothseg.py", "entry.py", "cli_entry.py", "BUNDLE", "info_plist", "CFBundleDocumentTypes"):
        assert needed in text
    slim_excludes = text.split("TRAINING_ONLY = [")[1].split("]")[0]
    for heavy in ("torch", "monai", "albumentations", "tensorboard", "onnxscript"):
        assert f'"{heavy}"' in slim_excludes


def test_installer_and_ci_files_agree_with_the_bundle_layout():
    iss = (PACKAGING / "windows" / "toothseg.iss").read_text()
    assert "ToothSegStudio.exe" in iss and "{uninstallexe}" in iss and ".toothseg" in iss
    assert r"resources\icons\app.ico" in iss and (REPO / "resources" / "icons" / "app.ico").stat().st_size > 1000
    assert (REPO / "resources" / "icons" / "app.icns").read_bytes()[:4] == b"icns"
    ci = (REPO / ".github" / "workflows" / "build.yml").read_text()
    assert ci.index("pip install torch==2.13.0") < ci.index('pip install -e ".[dev]"')
    assert "windows-latest" in ci and "macos" in ci and "--self-test" in ci
    assert "hdiutil create" in (PACKAGING / "macos" / "make_dmg.sh").read_text()


def test_pointer_file_names_a_dataset_folder(tmp_path):
    entry = load("entry")
    data = tmp_path / "study" / "panoramics"
    data.mkdir(parents=True)
    pointer = tmp_path / "study" / "Study.toothseg"
    pointer.write_text(json.dumps({"format": "toothseg-pointer", "version": 1, "dataset": "panoramics"}))
    assert entry.resolve_pointer(pointer) == data.resolve()
    empty = data / "Here.toothseg"
    empty.write_text("")
    assert entry.resolve_pointer(empty) == data.resolve()
    assert entry.translate_args([str(pointer), "--select", "2"]) == [str(data.resolve()), "--select", "2"]
    assert entry.translate_args(["not-a-file.toothseg"]) == ["not-a-file.toothseg"]


@pytest.mark.parametrize("content, message", [
    ("{not json", "invalid JSON"),
    (json.dumps({"dataset": "x"}), "needs format"),
    (json.dumps({"format": "toothseg-pointer", "version": 1, "dataset": "gone"}), "does not exist"),
])
def test_bad_pointer_files_get_a_clear_message_and_change_nothing(tmp_path, content, message):
    entry = load("entry")
    pointer = tmp_path / "Bad.toothseg"
    pointer.write_text(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(entry.PointerError, match=message):
        entry.resolve_pointer(pointer)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_entry_points_dispatch_the_self_test(qapp, capsys):
    assert load("entry").main(["--self-test", "--slim"]) == 0
    assert "self-test PASSED" in capsys.readouterr().out
    assert load("cli_entry").main(["--self-test", "--slim"]) == 0
    assert "self-test PASSED" in capsys.readouterr().out


def test_console_twin_runs_the_toothseg_cli(capsys):
    with pytest.raises(SystemExit) as done:
        load("cli_entry").main(["--version"])
    assert done.value.code == 0
    assert "toothseg" in capsys.readouterr().out
