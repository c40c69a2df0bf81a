"""core.capabilities: what this installation can do (the slim build has no PyTorch)."""

from __future__ import annotations

import json
import sys

from core import capabilities


def test_torch_is_available_in_the_development_environment():
    assert capabilities.torch_available()
    assert capabilities.torch_import_error() is None
    assert capabilities.build_info() == {"variant": "source"}
    assert not capabilities.is_slim_build()


def test_bundle_build_info_is_read_from_the_frozen_folder(tmp_path, monkeypatch):
    (tmp_path / capabilities.BUILD_INFO).write_text(json.dumps({"variant": "slim", "version": "0.1.0"}))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    capabilities.build_info.cache_clear()
    try:
        assert capabilities.bundle_dir() == tmp_path
        assert capabilities.build_info() == {"variant": "slim", "version": "0.1.0"}
        assert capabilities.is_slim_build()
        (tmp_path / capabilities.BUILD_INFO).write_text("{broken")
        capabilities.build_info.cache_clear()
        assert capabilities.build_info() == {"variant": "unknown"}
    finally:
        capabilities.build_info.cache_clear()


def test_the_training_message_tells_the_user_what_to_do():
    text = capabilities.TRAINING_NEEDS_FULL_BUILD
    assert "PyTorch" in text and "full build" in text
