"""The synthetic sample project: paired layout, FDI labels, some unlabeled, clearly named."""

import numpy as np

from core.data.classes import FDI_NUMBERS
from core.data.layouts import load_index
from core.data.masks import load_mask
from core.data.phantom import FOLDER_NAME, ensure_sample_project, phantom_pair


def test_sample_project_is_generated_once_in_user_data():
    root = ensure_sample_project()
    assert root.name == FOLDER_NAME and "SYNTHETIC" in (root / "README.txt").read_text()
    index = load_index(root)
    assert index.layout == "paired" and index.counts() == {"images": 12, "labeled": 8, "unlabeled": 4}
    mask = load_mask(index[0])
    values = set(np.unique(mask).tolist()) - {0}
    assert len(values) >= 20 and values <= set(FDI_NUMBERS)
    stamp = (root / "images" / "phantom_01.png").stat().st_mtime_ns
    assert ensure_sample_project() == root
    assert (root / "images" / "phantom_01.png").stat().st_mtime_ns == stamp


def test_teeth_are_brighter_than_background_and_deterministic():
    img, labels = phantom_pair(7)
    assert img.shape == (256, 512) and img.dtype == np.uint8
    assert img[labels > 0].mean() > img[labels == 0].mean() + 60
    again, _ = phantom_pair(7)
    assert np.array_equal(img, again)
