"""The estimated Dice per mask on real thyroid frames: calibrated at training time on val images, stored
in the sidecar and the ONNX metadata, written by `toothseg predict`, and ordering the review queue."""

from __future__ import annotations

import csv
import json
import shutil

import cv2
import numpy as np
import pytest

from core.data.io import read_image, read_mask
from core.data.layouts import load_index
from core.data.project import Project
from core.errors import ToothSegError
from core.export.onnx import export_onnx
from core.hitl.review import ReviewItem, ReviewQueue
from core.infer.predictor import load_predictor
from core.infer.quality import (
    QualityModel,
    ShapePrior,
    assess,
    binary_dice,
    gate,
    proven_spearman,
    signals,
    spearman,
)
from core.infer.quality_fit import calibrate_checkpoint, fit_line
from core.train.data import open_dataset
from tests.core.test_train_support import make_subset
from tests.core.tiny_trained import cached_tiny
from training.cli import main

THYROID = "tg3k_thyroid"


def label_masks(shared_data, count=12, start=0, step=1):
    paths = sorted((shared_data / THYROID / "masks").iterdir())[start::step][:count]
    return [read_mask(p) for p in paths]


def test_shape_prior_flags_a_tiny_blob_and_keeps_a_real_gland(shared_data):
    prior = ShapePrior.from_masks(label_masks(shared_data, 12, step=40))  # labels spread over the clips
    model = QualityModel(prior=prior)
    gland = label_masks(shared_data, 1, start=301)[0] > 0
    probs = gland[None].astype(np.float32) * 0.95 + 0.002
    real = signals(gland, probs, gland, prior)
    assert real["area"] > 0.5 and not model.flags(real, model.estimate(real))
    blob = np.zeros_like(gland)
    ys, xs = np.nonzero(gland)
    blob[ys[0]:ys[0] + 8, xs[0]:xs[0] + 8] = True  # a confident 64-pixel speck, 0.1 % of the frame
    sure = blob[None].astype(np.float32) * 0.99
    tiny = signals(blob, sure, blob, prior)
    assert tiny["soft"] > 0.95  # the network is sure of it...
    assert model.estimate(tiny) < 0.2 < model.estimate(real)  # ...and the estimate still says wrong
    assert model.flags(tiny, model.estimate(tiny))
    empty = signals(np.zeros_like(gland), probs * 0, np.zeros_like(gland), prior)
    assert model.flags(empty, model.estimate(empty)) == ["empty mask"]


def test_fit_line_moves_only_the_offset_with_few_images_and_never_reverses_the_ranking():
    a, b = fit_line([0.5, 0.6, 0.4], [0.7, 0.8, 0.6])
    assert b == 1.0 and a == pytest.approx(0.6 / 3.5)
    a, b = fit_line(np.linspace(0.2, 0.9, 12), 0.1 + 0.8 * np.linspace(0.2, 0.9, 12))
    assert 0.6 < b < 1.0 and a > 0
    a, b = fit_line(np.linspace(0.2, 0.9, 12), np.linspace(0.9, 0.2, 12))
    assert 0.0 <= b < 0.8  # a backwards trend flattens the line but never reverses the ranking


def test_trust_needs_a_ranking_proven_on_enough_held_out_labels():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None
    assert not QualityModel(n_val=20, val_spearman=0.55).trusted
    assert not QualityModel(n_val=5, val_spearman=0.9).trusted
    assert not QualityModel(n_val=20, val_spearman=0.65).trusted   # observed, not proven on 20 rows
    assert not QualityModel(n_val=50, val_spearman=0.61, trust_spearman=0.61).trusted  # ADR 0016: ranked unseen 0.07
    assert QualityModel(n_val=20, val_spearman=0.9).trusted
    assert QualityModel(n_val=50, val_spearman=0.8).trusted
    assert QualityModel.from_json(QualityModel(n_val=20, val_spearman=0.9).to_json()).trusted
    assert proven_spearman(0.6, 10_000) == pytest.approx(0.6, abs=0.02) and proven_spearman(0.9, 3) == -1.0


def test_v2_multiplies_soft_dice_and_the_area_gate_and_a_v1_calibration_keeps_its_terms():
    sig = {"soft": 0.8, "flip": 0.0, "area": 0.5, "gate": gate(0.5)}  # a thyroid lobe's mirror image: flip 0
    model = QualityModel(a=0.1, b=1.0, n_val=5)
    assert model.terms == ("soft", "gate") and model.estimate(sig) == pytest.approx(0.1 + 0.8)  # half size: ok
    assert model.estimate({**sig, "gate": gate(0.05)}) == pytest.approx(0.1 + 0.8 * 0.2)       # a speck: not
    assert gate(0.0) == 0.0 and gate(0.25) == gate(1.0) == 1.0
    stored = model.to_json()
    assert QualityModel.from_json(stored).terms == ("soft", "gate")
    old = {k: v for k, v in stored.items() if k not in ("terms", "version")}  # written before v2
    assert QualityModel.from_json(old).terms == ("flip", "area") and QualityModel.from_json(old).estimate(sig) == 0.1
    assert not QualityModel.from_json({**stored, "terms": ["magic"]}).calibrated


def test_a_damaged_calibration_is_read_as_uncalibrated():
    for bad in ({"a": "x"}, {"prior": {"log_area": [0, -1], "n": 5}}, {"b": float("nan")}, [1, 2], None):
        model = QualityModel.from_json(bad)
        assert not model.calibrated and model.a == 0.0 and model.b == 1.0


@pytest.fixture(scope="module")
def calibrated(shared_data, tmp_path_factory):
    """The session's tiny thyroid model (a copy), calibrated on 3 val images of a 12-label folder, exported."""
    root = make_subset(shared_data / THYROID, tmp_path_factory.mktemp("quality"), 12, n_unlabeled=5, start=100)
    cached = cached_tiny(shared_data, tmp_path_factory.getbasetemp(), steps=40)
    run = tmp_path_factory.mktemp("quality_run")
    for f in cached.parent.glob(cached.stem + ".*"):
        shutil.copy(f, run / f.name)
    sidecar = run / cached.name
    data = open_dataset(root)
    for k, s in enumerate(sorted(data.index, key=lambda s: s.id)):
        if s.has_mask:
            s.split = "val" if k % 4 == 0 else "train"
    stored = calibrate_checkpoint(sidecar, data)
    onnx = export_onnx(sidecar, run / "model.onnx", images=str(root), max_images=2)["out"]
    return root, sidecar, onnx, data, stored


def test_calibration_uses_val_images_and_travels_into_onnx(calibrated):
    root, sidecar, onnx, data, stored = calibrated
    val = [s for s in data.index if s.has_mask and s.split == "val"]
    train = [s for s in data.index if s.has_mask and s.split == "train"]
    assert stored["n_val"] == len(val) > 0 and stored["prior"]["n"] == len(train)
    assert "val_spearman" in stored and not QualityModel.from_json(stored).trusted  # 3 images prove nothing
    assert json.loads(sidecar.read_text())["quality"] == json.loads(json.dumps(stored))
    predictor = load_predictor(onnx)
    assert predictor.meta["quality"] == json.loads(json.dumps(stored))  # the viewer build estimates the same way
    model = QualityModel.from_json(predictor.meta["quality"])
    assert model.calibrated
    # the stored offset is what the val images say: mean (true - raw) over them, shrunk by half an image
    torch_predictor = load_predictor(sidecar, backend="torch")
    gaps = []
    for s in val:
        pred, info = assess(torch_predictor, read_image(s.image), model)
        gaps.append(binary_dice(pred.mask, read_mask(s.mask)) - model.raw(info))
    assert model.a == pytest.approx(sum(gaps) / (len(gaps) + 0.5), abs=1e-6)


def test_v2_estimate_costs_no_mirrored_pass_unless_tta_or_a_v1_model_needs_it(calibrated):
    root, _, onnx, _, _ = calibrated
    image = read_image(sorted((root / "unlabeled").iterdir())[0])
    predictor = load_predictor(onnx)
    calls = []
    mirrored = predictor.mirrored_forward
    predictor.mirrored_forward = lambda x: calls.append(1) or mirrored(x)
    _, info = assess(predictor, image)
    assert info["flip"] is None and not calls and 0.0 <= info["quality"] <= 1.0
    _, info = assess(predictor, image, QualityModel(terms=("flip", "area")))
    assert 0.0 <= info["flip"] <= 1.0 and len(calls) == 1


def test_predict_writes_the_quality_column(calibrated, tmp_path, capsys):
    root, _, onnx, _, _ = calibrated
    assert main(["predict", "--model", str(onnx), "--input", str(root / "unlabeled"), "--out", str(tmp_path / "o"),
                 "--no-overlays", "--json"]) == 0
    capsys.readouterr()
    rows = list(csv.DictReader((tmp_path / "o" / "stats.csv").open()))
    assert len(rows) == 5 and "quality" in rows[0]
    predictor = load_predictor(onnx)
    for row in rows:
        _, info = assess(predictor, read_image(root / "unlabeled" / row["filename"]))
        assert float(row["quality"]) == pytest.approx(info["quality"], abs=1e-5)
        assert 0.0 <= float(row["quality"]) <= 1.0
        assert row["plausible"] == str(info["plausible"])
    assert main(["predict", "--model", str(onnx), "--input", str(root / "unlabeled"), "--out", str(tmp_path / "n"),
                 "--no-overlays", "--no-quality", "--json"]) == 0
    assert {r["quality"] for r in csv.DictReader((tmp_path / "n" / "stats.csv").open())} == {""}


def test_queue_orders_by_estimate_and_bulk_accept_skips_flagged(shared_data, tmp_path):
    root = make_subset(shared_data / THYROID, tmp_path / "q", 4, n_unlabeled=4, start=200)
    project = Project.open(root)
    index = project.apply(load_index(root))
    ids = sorted(s.id for s in index if not s.has_mask)
    mask = read_mask(sorted((shared_data / THYROID / "masks").iterdir())[204])
    items = []
    for sid, quality, flags in zip(ids, (0.95, 0.30, 0.85, 0.90), ([], [], [], ["unusual position for your labels"]),
                                   strict=True):
        path = project.dir / "pseudo" / f"{sid}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), (mask > 0).astype(np.uint8) * 255)
        items.append(ReviewItem(id=sid, mask=f"pseudo/{sid}.png", uncertainty=0.1, plausible=not flags,
                                area_frac=0.05, quality=quality, flags=flags, trusted=True))
    queue = ReviewQueue(project, index)
    queue.add(items)
    assert [x.quality for x in queue.pending("right")] == [0.95, 0.85, 0.30, 0.90]  # flagged last
    assert [x.quality for x in queue.pending("wrong")] == [0.90, 0.30, 0.85, 0.95]  # flagged first
    assert [x.quality for x in queue.pending("confident")] == [0.95, 0.85, 0.30, 0.90]  # an older setting
    bulk = queue.bulk_candidates()
    assert [x.quality for x in bulk] == [0.95, 0.85]
    bulk[0].trusted = False  # an estimate that did not rank the model's held-out labels is never relied on
    assert [x.quality for x in queue.bulk_candidates()] == [0.85]
    bulk[0].trusted = True
    with pytest.raises(ToothSegError, match="flagged"):
        queue.accept_many([x.id for x in queue.pending("right")])
    assert len(queue.items) == 4  # nothing accepted by the refused call
    assert queue.accept_many([x.id for x in bulk]) == 2
    project = Project.open(root)
    assert sorted(k for k, v in project.status.items() if v == "reviewed") == sorted(x.id for x in bulk)


def _partial_rows(masks, prior_masks, soft_of):
    """Held-out rows of confident partial masks: the top ``f`` of each real gland's rows kept."""
    rows = []
    for i, (m, f) in enumerate(zip(masks, np.linspace(0.15, 1.0, len(masks)), strict=True)):
        fg = m > 0
        ys = np.nonzero(fg)[0]
        cut = np.quantile(ys, f) if f < 1 else ys.max() + 1
        part = fg & (np.arange(fg.shape[0])[:, None] < cut)
        rows.append({"id": str(i), "dice": binary_dice(part, fg), "soft": soft_of(f), "flip": None,
                     "area_frac": float(part.mean())})
    return rows


def test_calibration_chooses_area_when_confident_partial_masks_are_what_goes_wrong(shared_data):
    from core.infer.quality_fit import TERM_CHOICES, fit_from_rows

    train = label_masks(shared_data, 12, step=40)
    held = label_masks(shared_data, 12, start=7, step=40)
    # the LiteMedSAM head's failure (ADR 0016): partial masks it is sure of -- the gate saturates, area ranks
    rows = _partial_rows(held, train, lambda f: 0.9 + 0.02 * np.sin(7 * f))
    sure = fit_from_rows(train, rows, "cross-validation")
    as_v2 = QualityModel(prior=sure.prior)                    # v2's soft x gate on the same rows
    v2_rho = spearman([as_v2.raw_from_row(r) for r in rows], [r["dice"] for r in rows])
    assert sure.terms == ("soft", "area") and sure.val_spearman > v2_rho + 0.15
    stored = QualityModel.from_json(json.loads(json.dumps(sure.to_json())))
    assert stored.terms == ("soft", "area") and stored.calibrated   # readers (viewer build) keep the choice
    assert sure.trust_spearman == pytest.approx(v2_rho) and stored.trust_spearman == sure.trust_spearman
    # the better of two on the same rows flatters: a bulk accept needs every choice to have ranked them
    assert not QualityModel(n_val=20, val_spearman=0.95, trust_spearman=0.5).trusted
    assert QualityModel(n_val=20, val_spearman=0.95, trust_spearman=0.9).trusted
    assert QualityModel.from_json({**sure.to_json(), "trust_spearman": None, "val_spearman": 0.97}).trusted  # older
    # partial masks that are unsure at their edges (the U-Net's): soft alone ranks, the tie keeps v2's gate
    unsure = fit_from_rows(train, _partial_rows(held, train, lambda f: f), "cross-validation")
    assert unsure.terms == TERM_CHOICES[0] == ("soft", "gate")
    # too few rows to choose: v2's terms
    assert fit_from_rows(train, _partial_rows(held[:5], train, lambda f: 0.9), "validation").terms == ("soft", "gate")
