"""The instance list's fast components agree with core.interop.instances on real FDI masks, and an
instance rename is one bbox-only undo record."""

from __future__ import annotations

import cv2
import numpy as np

from core.annotation.editor import MaskEditor
from core.annotation.instance_list import instance_rgba, list_instances, overlay_rgba, palette
from core.interop.instances import instances_from_labels


def _mask(shared_data, stem: str = "cate1-00002") -> np.ndarray:
    return cv2.imread(str(shared_data / "ufba425_teeth" / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)


def test_list_matches_interop_instances_with_scores(shared_data):
    labels = _mask(shared_data)
    labels[:40, :40] = 11                                # a stray second piece of tooth 11
    values = [0] + sorted(int(v) for v in np.unique(labels) if v)
    rng = np.random.default_rng(0)
    probs = rng.random((len(values), *labels.shape)).astype(np.float32)
    for min_area in (20, 1500):
        ours = list_instances(labels, probs, min_area=min_area, class_values=values)
        ref = instances_from_labels(labels, probs, min_area=min_area, class_values=values)
        assert [(i.value, i.area, i.bbox) for i in ours] == [(r.value, r.area, r.bbox) for r in ref]
        assert [i.score for i in ours] == [r.score for r in ref]
        assert all(np.array_equal(i.region(labels.shape), r.mask) for i, r in zip(ours, ref, strict=True))
    assert sum(i.value == 11 for i in list_instances(labels)) == 2
    assert list_instances(np.zeros((8, 8), np.uint8)) == []
    binary = list_instances((labels > 0).astype(np.uint8), probs[1])
    assert all(0.0 <= i.score <= 1.0 for i in binary)


def test_rename_instance_is_one_undo_record(shared_data):
    labels = _mask(shared_data)
    ed = MaskEditor(labels.copy())
    item = next(i for i in list_instances(labels) if i.value == 36)
    box, rec = ed.relabel_region(item.region(labels.shape), 36, 37)
    assert box == item.box and rec is not None and rec.old.shape == (item.bbox[3], item.bbox[2])
    assert ((ed.labels == 37) == ((labels == 37) | (labels == 36))).all()
    assert ed.history.undo_steps == 1
    ed.undo()
    assert np.array_equal(ed.labels, labels)
    assert ed.relabel_region(item.region(labels.shape), 36, 36) == (None, None)


def test_colour_maps(shared_data):
    labels = _mask(shared_data)
    items = list_instances(labels)
    rgba = instance_rgba(items, labels.shape)
    assert len({tuple(c) for c in palette(len(items))}) == len(items)
    assert ((rgba[..., 3] > 0) == np.isin(np.arange(labels.size).reshape(labels.shape),
                                           np.flatnonzero(sum(i.region(labels.shape) for i in items)))).all()
    caries = (labels == 36).astype(np.uint8)
    over = overlay_rgba(caries, [{"id": 0, "color": [0, 0, 0]}, {"id": 1, "value": 1, "color": [230, 159, 0]}])
    assert (over[labels == 36] == (230, 159, 0, 255)).all() and (over[labels != 36, 3] == 0).all()
