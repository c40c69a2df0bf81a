"""Inference: post-processing rules on real masks, predictors, sliding windows, predict_folder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.data.io import read_image, read_mask
from core.infer.postprocess import learned_max_components, mask_stats, postprocess_binary


@pytest.fixture(scope="module")
def thyroid_mask(shared_data) -> np.ndarray:
    masks = sorted((shared_data / "tg3k_thyroid").rglob("*.jpg"))
    masks = [m for m in masks if "mask" in str(m).lower()]
    for path in masks:
        mask = read_mask(path)
        if 0.02 < mask.mean() < 0.3:
            return mask
    pytest.fail("no usable tg3k mask found")


def test_postprocess_drops_specks_and_out_of_band_blobs(thyroid_mask):
    h, w = thyroid_mask.shape
    noisy = thyroid_mask.copy()
    noisy[2:4, 2:4] = 1  # a speck below the minimum area
    stats = mask_stats(thyroid_mask)
    prob = noisy.astype(np.float32) * 0.9
    cleaned = postprocess_binary(prob, band=None, min_area_frac=0.001)
    assert cleaned.dtype == np.uint8 and set(np.unique(cleaned)) <= {0, 1}
    assert cleaned[2:4, 2:4].sum() == 0
    assert np.array_equal(cleaned, postprocess_binary(thyroid_mask, min_area_frac=0.001))
    cy = stats["cy_rel"]
    # a band that excludes the structure: nothing passes, so the largest component is kept (fallback)
    band = (0.0, max(cy - 0.3, 0.01)) if cy > 0.5 else (min(cy + 0.3, 0.99), 1.0)
    fallback = postprocess_binary(noisy, band=band, min_area_frac=0.001)
    assert fallback.sum() >= 0.5 * thyroid_mask.sum() and fallback[2:4, 2:4].sum() == 0
    assert postprocess_binary(np.zeros((h, w), np.float32)).sum() == 0


def test_postprocess_band_keeps_only_components_inside(thyroid_mask):
    h, w = thyroid_mask.shape
    two = np.zeros((h, w), np.uint8)
    two[10:30, 10:40] = 1  # top blob
    two[h - 40:h - 10, w - 50:w - 10] = 1  # bottom blob, larger
    top_only = postprocess_binary(two, band=(0.0, 0.4), min_area_frac=0.001)
    assert top_only[10:30, 10:40].all() and top_only[h - 40:, :].sum() == 0


def test_max_components_keeps_the_largest_and_is_learned_from_labels(shared_data, thyroid_mask):
    h, w = thyroid_mask.shape
    two = np.zeros((h, w), np.uint8)
    two[10:30, 10:40] = 1                    # smaller blob
    two[h - 60:h - 10, w - 80:w - 10] = 1    # larger blob
    assert np.array_equal(postprocess_binary(two, max_components=0), two)
    only = postprocess_binary(two, max_components=1)
    assert only[10:30, 10:40].sum() == 0 and only[h - 60:h - 10, w - 80:w - 10].all()
    assert np.array_equal(postprocess_binary(two, max_components=2), two)
    # thyroid labels show one gland per frame; panoramic teeth masks show many teeth
    thyroid = [read_mask(p) for p in sorted((shared_data / "tg3k_thyroid" / "masks").glob("*.jpg"))[:20]]
    teeth = [read_mask(p) > 0 for p in sorted((shared_data / "ufba425_teeth" / "masks").glob("*.png"))[:20]]
    assert learned_max_components(thyroid) == 1
    assert learned_max_components(teeth) == 0
    assert learned_max_components(thyroid[:3]) == 0          # too few labels to learn a prior from


def test_mask_stats_on_real_mask(thyroid_mask):
    stats = mask_stats(thyroid_mask, band=(0.0, 1.0))
    ys, xs = np.nonzero(thyroid_mask)
    assert stats["area_frac"] == pytest.approx(thyroid_mask.mean())
    assert stats["cy_rel"] == pytest.approx(ys.mean() / (thyroid_mask.shape[0] - 1))
    assert stats["cx_rel"] == pytest.approx(xs.mean() / (thyroid_mask.shape[1] - 1))
    assert stats["plausible"] is True
    assert mask_stats(thyroid_mask, band=(0.99, 1.0))["plausible"] is False
    empty = mask_stats(np.zeros_like(thyroid_mask))
    assert empty["area_frac"] == 0 and math.isnan(empty["cy_rel"]) and empty["plausible"] is False


# ------------------------------------------------------------------ predictors, sliding window, folders

@pytest.fixture(scope="module")
def ckpt(shared_data, tmp_path_factory):
    from tests.core.tiny_trained import cached_tiny

    return cached_tiny(shared_data, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def onnx_model(ckpt, shared_data, tmp_path_factory):
    from core.export.onnx import export_onnx

    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_onnx(ckpt, out, images=shared_data / "tg3k_thyroid", max_images=2)
    return out


def _jump(prob: np.ndarray, cuts: list[int]) -> float:
    """Mean |step| of a probability map across the given row and column positions."""
    dy = np.abs(np.diff(prob, axis=0))[[c - 1 for c in cuts]].mean()
    dx = np.abs(np.diff(prob, axis=1))[:, [c - 1 for c in cuts]].mean()
    return float((dy + dx) / 2)


def test_sliding_window_has_no_seams(ckpt, shared_data):
    """A 256 px image fits whole and in 128 px windows: blended tiles match the whole-image result."""
    from core.infer.backends import load_backend
    from core.infer.predictor import SegmentationPredictor
    from core.infer.sliding import sliding_forward, tile_starts

    backend = load_backend(ckpt)
    image = read_image(sorted((shared_data / "tg3k_thyroid" / "images").glob("*.jpg"))[5])
    x = SegmentationPredictor(backend).preprocess(image)
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    whole = sigmoid(backend.forward(x[None])[0, 0])
    blended = sigmoid(sliding_forward(backend.forward, x, (128, 128), overlap=0.5)[0])
    naive = sigmoid(sliding_forward(backend.forward, x, (128, 128), overlap=0.0)[0])  # plain 2x2 tiling
    assert tile_starts(256, 128, 0.5) == [0, 64, 128] and tile_starts(256, 128, 0.0) == [0, 128]
    seam_naive = _jump(naive, [128]) - _jump(whole, [128])
    seam_blend = _jump(blended, [64, 128, 192]) - _jump(whole, [64, 128, 192])
    assert seam_naive > 0.03  # the measurement sees a real seam
    assert seam_blend < 0.01 and seam_blend < seam_naive / 5
    near_edges = np.zeros(whole.shape, bool)
    for e in (64, 128, 192):
        near_edges[e - 2:e + 2] = True
        near_edges[:, e - 2:e + 2] = True
    err = np.abs(blended - whole)
    assert err[near_edges].mean() <= 1.5 * err[~near_edges].mean() + 0.002  # no error ridge at tile edges
    assert err.mean() < 0.02
    agree = 2 * ((blended > 0.5) & (whole > 0.5)).sum() / max((blended > 0.5).sum() + (whole > 0.5).sum(), 1)
    assert agree > 0.98


def test_sliding_policy_on_a_full_mlua_panoramic(onnx_model, shared_data):
    """A 2943 x 1435 panoramic through 256 px windows with ONNX Runtime, by the model's own metadata."""
    from core.infer.backends import OnnxBackend
    from core.infer.predictor import SegmentationPredictor

    backend = OnnxBackend(onnx_model)
    backend.meta = dict(backend.meta, input_policy={"mode": "sliding", "size": [256, 256], "overlap": 0.25})
    predictor = SegmentationPredictor(backend)
    image = read_image(sorted((shared_data / "mlua_panoramic_caries" / "images").iterdir())[0])
    assert image.shape == (1435, 2943)
    pred = predictor.predict(image)
    assert pred.probabilities.shape == (1, 1435, 2943) and np.isfinite(pred.probabilities).all()
    assert pred.mask.shape == image.shape and set(np.unique(pred.mask)) <= {0, 1}


def test_torch_and_onnx_predictors_agree_and_report_provider(ckpt, onnx_model, shared_data, caplog):
    import logging

    from core.infer.predictor import load_predictor

    with caplog.at_level(logging.INFO, logger="toothseg.infer"):
        ort_pred = load_predictor(onnx_model)
    assert ort_pred.provider == "CPUExecutionProvider"
    assert "CPUExecutionProvider" in caplog.text and "threads" in caplog.text
    torch_pred = load_predictor(ckpt)
    image = read_image(sorted((shared_data / "isbi2012_em_membrane" / "images").iterdir())[0])
    a, b = ort_pred.predict(image), torch_pred.predict(image)
    assert np.abs(a.probabilities - b.probabilities).max() < 1e-4
    assert (a.mask != b.mask).mean() < 1e-3
    assert a.stats["area_frac"] == pytest.approx(b.stats["area_frac"], abs=1e-3)


def _folder_with_bad_files(shared_data, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for path in sorted((shared_data / "tg3k_thyroid" / "images").glob("*.jpg"))[:3]:
        (src / path.name).write_bytes(path.read_bytes())
    good = (src / sorted(p.name for p in src.iterdir())[0]).read_bytes()
    (src / "truncated.jpg").write_bytes(good[:200])
    (src / "empty.png").write_bytes(b"")
    return src


def test_predict_folder_skips_bad_files_and_writes_outputs(onnx_model, shared_data, tmp_path):
    import csv

    from core.data.io import read_mask
    from core.infer.folder import predict_folder

    src = _folder_with_bad_files(shared_data, tmp_path)
    calls = []
    summary = predict_folder(onnx_model, src, tmp_path / "out", progress=lambda d, t, m: calls.append((d, t)))
    assert summary["images"] == 5 and summary["written"] == 3
    assert sorted(f["file"].rsplit("/", 1)[-1] for f in summary["failed"]) == ["empty.png", "truncated.jpg"]
    assert all(f["error"] for f in summary["failed"]) and calls[-1] == (5, 5)
    with open(tmp_path / "out" / "stats.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["filename", "area_frac", "cy_rel", "cx_rel", "plausible", "quality"] and len(rows) == 3
    for row in rows:
        stem = row["filename"].rsplit(".", 1)[0]
        mask = read_mask(tmp_path / "out" / "masks" / f"{stem}.png")
        assert mask.shape == (256, 256) and float(row["area_frac"]) == pytest.approx(mask.mean(), abs=1e-5)
        assert (tmp_path / "out" / "overlays" / f"{stem}.png").is_file()


def test_predict_folder_cancel_keeps_what_was_done(onnx_model, shared_data, tmp_path):
    from core.errors import CancelledError
    from core.infer.folder import predict_folder
    from core.jobs import CancelToken

    src = _folder_with_bad_files(shared_data, tmp_path)
    token = CancelToken()
    with pytest.raises(CancelledError):
        predict_folder(onnx_model, src, tmp_path / "out", cancel=token,
                       progress=lambda d, t, m: token.cancel() if d == 1 else None)
    lines = (tmp_path / "out" / "stats.csv").read_text().splitlines()
    assert len(lines) == 2 and len(list((tmp_path / "out" / "masks").iterdir())) == 1


def test_predict_cli_json(onnx_model, shared_data, tmp_path, capsys):
    import json

    from training.cli import main

    src = _folder_with_bad_files(shared_data, tmp_path)
    code = main(["predict", "--model", str(onnx_model), "--input", str(src), "--out", str(tmp_path / "o"), "--json"])
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert code == 0 and summary["written"] == 3 and len(summary["failed"]) == 2
    assert "truncated.jpg" in captured.err and "CPUExecutionProvider" in captured.err


def test_runtime_threads_and_missing_provider(monkeypatch, onnx_model):
    from core.errors import ModelFileError
    from core.infer.ort_session import choose_providers, physical_cores
    from core.infer.predictor import load_predictor

    assert 1 <= physical_cores() <= (__import__("os").cpu_count() or 1)
    monkeypatch.setenv("TOOTHSEG_THREADS", "1")
    assert physical_cores() == 1
    assert choose_providers()[-1] == "CPUExecutionProvider"
    with pytest.raises(ModelFileError, match="NoSuchExecutionProvider not available"):
        load_predictor(onnx_model, providers=["NoSuchExecutionProvider"])


def test_metadata_from_a_newer_app_is_refused(onnx_model, tmp_path):
    import onnx

    from core.errors import ModelFileError
    from core.infer.backends import OnnxBackend

    proto = onnx.load(str(onnx_model))
    for prop in proto.metadata_props:
        if prop.key == "version":
            prop.value = "99"
    onnx.save(proto, str(tmp_path / "future.onnx"))
    with pytest.raises(ModelFileError, match="newer ToothSeg Studio"):
        OnnxBackend(tmp_path / "future.onnx")


def test_multiclass_fdi_model_writes_label_values_and_probabilities(shared_data, tmp_path):
    """A 5-class head whose classes are FDI tooth numbers: masks hold the numbers, ORT == PyTorch."""
    import torch

    from core.export.onnx import export_onnx
    from core.infer.predictor import load_predictor
    from core.models import build_model
    from core.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = {"name": "small_unet", "in_channels": 1, "out_channels": 5, "base_channels": 4}
    values = [0, 11, 12, 21, 22]
    classes = [{"id": i, "name": f"tooth {v}" if v else "background", "value": v} for i, v in enumerate(values)]
    recipe = {"band": [0.2, 0.8], "min_area_frac": 0.002, "threshold": 0.4}
    save_checkpoint(tmp_path / "fdi", build_model(cfg).eval(), cfg,
                    {"classes": classes, "input_size": [96, 96], "recipe": recipe})
    images = shared_data / "ufba425_teeth" / "images"
    export_onnx(tmp_path / "fdi.json", tmp_path / "fdi.onnx", images=images, max_images=2)
    ort_pred, torch_pred = load_predictor(tmp_path / "fdi.onnx"), load_predictor(tmp_path / "fdi.json")
    assert ort_pred.meta["postprocess"] == {"band": [0.2, 0.8], "min_area_frac": 0.002}
    assert ort_pred.meta["threshold"] == 0.4
    image = read_image(sorted(images.glob("*.jpg"))[3])
    a, b = ort_pred.predict(image), torch_pred.predict(image)
    assert set(np.unique(a.labels)) <= set(values) and set(np.unique(a.mask)) <= set(values)
    assert (a.labels != b.labels).mean() < 1e-3
    assert a.probabilities.shape == (5, *image.shape)
    assert np.allclose(a.probabilities.sum(axis=0), 1.0, atol=1e-5)
    assert np.array_equal(a.probabilities.argmax(axis=0), np.searchsorted(values, a.labels))


def test_onnx_prediction_works_without_torch(onnx_model, shared_data, tmp_path):
    """The slim build ships ONNX Runtime without PyTorch: loading, predicting and writing must not need it."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    code = textwrap.dedent(f"""
        import sys
        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("blocked")
        sys.meta_path.insert(0, NoTorch())
        from core.infer.folder import predict_folder
        summary = predict_folder({str(onnx_model)!r}, {str(sorted((shared_data / "tg3k_thyroid" / "images")
                                 .glob("*.jpg"))[0])!r}, {str(tmp_path / "out")!r})
        assert summary["written"] == 1 and "torch" not in sys.modules, summary
        print("slim ok")
    """)
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "slim ok" in done.stdout, done.stderr
    assert (tmp_path / "out" / "stats.csv").is_file()
