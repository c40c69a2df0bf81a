"""The instance list's fast components agree with core.interop.instances on real FDI masks, and an
instance rename is one bbox-only undo record."""

from __future__ import annotations

import cv2
import numpy as np

from core.annotation.editor import MaskEditor
from core.annotation.instance_list import instance_rgba, list_instances, overlay_rgba, palette, review_flags
from core.data.classes import (
    classes_from_values,
    fdi_classes,
    fdi_mixed_classes,
    mirror_indices,
    neighbour_tooth,
)
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


def test_review_flags_low_score_and_duplicate_numbers(shared_data):
    labels = _mask(shared_data)
    labels[:40, :40] = 11                                # a second region numbered 11
    values = [0] + sorted(int(v) for v in np.unique(labels) if v)
    probs = np.full((len(values), *labels.shape), 0.9, np.float32)
    probs[values.index(36)] = 0.3                        # the model is unsure of tooth 36
    items = list_instances(labels, probs, min_area=20, class_values=values)
    flags = dict(zip(((i.value, i.bbox) for i in items), review_flags(items), strict=True))
    flagged = {v for (v, _), f in flags.items() if f}
    assert flagged == {11, 36}
    assert all("used 2x" in f for (v, _), f in flags.items() if v == 11)
    assert all("low score 0.30" in f for (v, _), f in flags.items() if v == 36)
    binary = list_instances((labels > 0).astype(np.uint8))
    assert not any(review_flags(binary, numbered=False))


def test_mixed_dentition_table_and_arch_neighbours():
    table = fdi_mixed_classes()
    assert len(table) == 52 and {c.value for c in table} >= {51, 55, 85, 11, 48}
    assert len({c.color for c in table}) > 30
    assert classes_from_values({0, 11, 12, 55, 54}) == table          # deciduous numbers found in masks
    assert classes_from_values({11, 12, 13}) == fdi_classes()
    assert [neighbour_tooth(v) for v in (36, 18, 55, 7)] == [37, None, None, None]
    assert [neighbour_tooth(v, -1) for v in (11, 21, 51, 36)] == [21, 11, 61, 35]
    assert mirror_indices([0, 51, 61]) == [0, 2, 1]                   # flips swap deciduous sides too
