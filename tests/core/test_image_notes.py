"""Per-image flags and notes: stored beside the project, merged per image between two writers,
a corrupt file reported and left untouched."""

from __future__ import annotations

import pytest

from core.data.image_notes import ImageNotes
from core.data.project import Project
from core.errors import ProjectFileError
from tests.core.helpers import copy_pairs


def test_notes_round_trip_and_two_writers(shared_data, tmp_path):
    first, second, _ = copy_pairs(shared_data, "tg3k_thyroid", 3, tmp_path, mask_ext=".jpg")
    pdir = Project.open(tmp_path).dir
    a, b = ImageNotes.open(pdir), ImageNotes.open(pdir)          # two app instances
    a.set(first, ["unsure", "artefact"], "gland edge hidden by text")
    b.set(second, ["skip"], "")                                   # b never saw a's note
    again = ImageNotes.open(pdir)
    assert again.get(first).flags == ("unsure", "artefact") and again.get(first).note.startswith("gland")
    assert again.get(second).flags == ("skip",) and again.flagged("skip") == {second}
    a.set(first, [], "")                                         # clearing removes the entry, keeps b's
    again = ImageNotes.open(pdir)
    assert first not in again.notes and again.get(second).flags == ("skip",)
    with pytest.raises(ValueError, match="unknown flag"):
        a.set(first, ["nonsense"], "")


def test_corrupt_notes_file_is_reported_and_kept(tmp_path):
    (tmp_path / "image_notes.json").write_text("{ not json")
    with pytest.raises(ProjectFileError, match="left untouched"):
        ImageNotes.open(tmp_path)
    assert (tmp_path / "image_notes.json").read_text() == "{ not json"
