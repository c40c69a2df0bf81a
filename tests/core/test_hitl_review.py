"""Review queue, saliency and logs on real thyroid frames with a tiny trained model (no Qt)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from core import logs
from core.data.io import read_image, read_mask
from core.data.layouts import load_index
from core.data.project import Project
from core.errors import MaskError, ToothSegError
from core.export.onnx import export_onnx
from core.hitl.review import ReviewQueue, predict_for_review, pseudo_mask_path, review_candidates
from core.hitl.saliency import gradient_saliency, heat_rgba
from tests.core.test_hitl_auto_train import thyroid_copy
from tests.core.tiny_trained import cached_tiny


@pytest.fixture(scope="module")
def tiny_model(shared_data, tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    sidecar = cached_tiny(shared_data, base, steps=40)
    onnx = sidecar.parent / "model.onnx"
    export_onnx(sidecar, onnx, images=str(shared_data / "tg3k_thyroid" / "images"), max_images=2)
    return sidecar, onnx


def open_project(root):
    project = Project.open(root)
    return project, project.apply(load_index(root))


def test_predict_queue_accept_edit_reject_persist(shared_data, tmp_path, tiny_model):
    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=6, unlabeled=6)
    project, index = open_project(root)
    candidates = review_candidates(index)
    assert len(candidates) == 6 and all(not s.has_mask for s in candidates)
    result = predict_for_review(project, candidates, tiny_model[1])
    assert result["provider"] == "CPUExecutionProvider" and not result["failed"]
    items = result["items"]
    assert len(items) == 6 and all(0.0 <= x.uncertainty <= 1.0 for x in items)
    queue = ReviewQueue(project, index)
    queue.add(items)
    order = queue.pending()
    assert all(0.0 <= x.quality <= 1.0 for x in items)
    keys = [(not x.plausible, -x.quality) for x in order]
    assert keys == sorted(keys)                                        # unflagged, most likely right first
    assert [x.id for x in queue.pending("wrong")] != [x.id for x in order] or len(set(keys)) == 1
    # statuses and the queue survive a restart
    project, index = open_project(root)
    queue = ReviewQueue(project, index)
    assert len(queue.items) == 6 and all(project.status[x.id] == "pseudo" for x in items)
    first, second, third = (x.id for x in queue.pending()[:3])
    pseudo = queue.mask(first)
    path = queue.accept(first)
    assert path == project.drawn_mask_path(first) and np.array_equal(read_mask(path) > 0, pseudo > 0)
    assert not pseudo_mask_path(project, first).exists()
    edited = np.zeros_like(pseudo)
    edited[10:40, 20:60] = 1
    queue.accept(second, edited)
    assert np.array_equal(read_mask(project.drawn_mask_path(second)) > 0, edited > 0)
    queue.reject(third)
    with pytest.raises(ToothSegError, match="not waiting"):
        queue.reject(third)
    before = project.path.read_bytes()
    with pytest.raises(MaskError):
        queue.accept(queue.pending()[0].id, np.zeros((2, 3, 4), np.uint8))
    assert project.path.read_bytes() == before                         # bad input changes nothing
    project, index = open_project(root)
    assert project.status[first] == project.status[second] == "reviewed" and project.status[third] == "rejected"
    labeled = {s.id for s in index.labeled()}
    assert {first, second} <= labeled and third not in labeled         # accepted pseudo-labels are labels now
    assert len(labeled) == 8 and third not in {s.id for s in review_candidates(index)}
    assert ReviewQueue(project, index).counts() == {"pending": 3, "reviewed": 2, "rejected": 1}


def test_gradient_saliency_on_real_image(shared_data, tiny_model):
    image = read_image(sorted((shared_data / "tg3k_thyroid" / "images").glob("*.jpg"))[0])
    sal = gradient_saliency(tiny_model[0], image)
    assert sal.shape == image.shape and sal.dtype == np.float32
    assert 0.0 <= sal.min() and sal.max() <= 1.0 and sal.std() > 0.01
    rgba = heat_rgba(sal)
    assert rgba.shape == (*image.shape, 4) and rgba[..., 3].max() > 0


def test_rotating_log_file(tmp_path):
    path = logs.setup_logging()
    assert logs.setup_logging() == path                                # idempotent: one handler
    handlers = [h for h in logging.getLogger("toothseg").handlers if h.get_name() == logs._HANDLER_NAME]
    assert len(handlers) == 1
    logging.getLogger("toothseg.app").error("training failed: disk full")
    handlers[0].flush()
    assert path.parent.name == "logs" and "training failed: disk full" in logs.tail()
