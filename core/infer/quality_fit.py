"""Calibrating the quality estimate (``core.infer.quality``) on the user's own labels at training time.

The shape prior comes from the training labels; the line from signals to Dice is fitted on the
validation images only (never on images the estimate will later be judged on): with a handful of them
only its offset moves (the raw product of signals runs low), with MIN_FOR_SLOPE or more its slope too.
With MIN_FOR_SLOPE or more held-out rows the product's terms are chosen too, among TERM_CHOICES, by which
ranks those rows better (ADR 0016: the LiteMedSAM head's wrong masks are confident partial masks, which
the full ``area`` sees and the U-Net's ``gate`` does not).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.data.atomic import atomic_write_json
from core.infer.quality import TERMS, QualityModel, ShapePrior, assess, binary_dice, gate, spearman
from core.jobs import CancelToken

PRIOR_WEIGHT = 2.0
MIN_FOR_SLOPE = 8  # fewer validation images only shift the line; this many also fit its slope (and choose terms)
# v2's soft x gate first (kept on a tie); soft x area ranked the held-out labels of both 20-label LiteMedSAM-head
# models better (out-of-fold Spearman 0.61 / 0.47 against 0.56 / 0.28), the U-Net's slightly worse (ADR 0016)
TERM_CHOICES: tuple[tuple[str, ...], ...] = (TERMS, ("soft", "area"))


def fit_line(raw: Sequence[float], true: Sequence[float], prior_weight: float = PRIOR_WEIGHT) -> tuple[float, float]:
    """(a, b) for true ~ a + b*raw. Under MIN_FOR_SLOPE images only the offset is fitted (b = 1, the
    offset shrunk by half an image toward 0); from there a ridge fit pulled toward (0, 1) by
    ``prior_weight`` pseudo-images; b is kept >= 0 (the ranking never reverses)."""
    r, d = np.asarray(raw, np.float64), np.asarray(true, np.float64)
    if len(r) < MIN_FOR_SLOPE:
        return float((d - r).sum() / (len(r) + 0.5)), 1.0
    lam = float(prior_weight)
    lhs = np.array([[len(r) + lam, r.sum()], [r.sum(), (r * r).sum() + lam]])
    rhs = np.array([d.sum(), (r * d).sum() + lam])
    a, b = np.linalg.solve(lhs, rhs)
    if b < 0:
        return float((d - r).sum() / (len(r) + 0.5)), 1.0
    return float(a), float(b)


def fit_quality(predictor, train_masks: Sequence[np.ndarray], val: Sequence[tuple[np.ndarray, np.ndarray]],
                cancel: CancelToken | None = None) -> QualityModel:
    """A QualityModel from training-label shapes and (image, true mask) validation pairs."""
    model = QualityModel(prior=ShapePrior.from_masks(list(train_masks)))
    sigs, true = [], []
    for image, truth in val:
        if cancel is not None:
            cancel.raise_if_cancelled("quality calibration")
        pred, info = assess(predictor, image, model)
        sigs.append(info)
        true.append(binary_dice(pred.mask, truth))
    return _fitted(model, sigs, true, "validation")


def fit_from_rows(train_masks: Sequence[np.ndarray], rows: Sequence[dict[str, Any]], source: str) -> QualityModel:
    """A QualityModel from evaluation rows (``core.train.evaluate``: true ``dice`` + ``soft``, ``flip``,
    ``area_frac``), e.g. cross-validation's held-out rows, where each label was predicted by a fold model
    that never saw its group: many more honest points than a 3-image validation split."""
    model = QualityModel(prior=ShapePrior.from_masks(list(train_masks)))
    sigs, true = [], []
    for r in rows:
        if r.get("soft") is None or r.get("area_frac") is None:
            continue
        area = float(r["area_frac"])
        size = model.prior.size(math.log(area)) if area > 0 else 0.0
        sigs.append({"soft": float(r["soft"]), "area": size, "gate": gate(size),
                     "flip": float(r["flip"]) if r.get("flip") is not None else 0.0})
        true.append(float(r["dice"]))
    return _fitted(model, sigs, true, source)


def choose_terms(sigs: Sequence[dict[str, Any]], true: Sequence[float]) -> tuple[tuple[str, ...], float | None]:
    """The TERM_CHOICES entry whose product ranks ``true`` best (the first on a tie or too few rows), and the
    lowest Spearman among the choices (what a bulk accept is judged on: the best of several flatters)."""
    if len(sigs) < MIN_FOR_SLOPE:
        return TERM_CHOICES[0], None
    best, best_rho, rhos = TERM_CHOICES[0], -2.0, []
    for terms in TERM_CHOICES:
        rho = spearman([math.prod(float(s[t]) for t in terms) for s in sigs], true)
        rhos.append(-1.0 if rho is None else rho)
        if rho is not None and rho > best_rho + 1e-9:
            best, best_rho = terms, rho
    return best, min(rhos)


def _fitted(model: QualityModel, sigs: list[dict[str, Any]], true: list[float], source: str) -> QualityModel:
    if sigs:
        model.terms, model.trust_spearman = choose_terms(sigs, true)
        raw = [model.raw(s) for s in sigs]
        model.a, model.b = fit_line(raw, true)
        model.n_val = len(raw)
        model.source = source
        model.val_mae = float(np.mean([abs(model.estimate_raw(r) - t) for r, t in zip(raw, true, strict=True)]))
        model.val_spearman = spearman(raw, true)
    return model


def calibrate_checkpoint(checkpoint: str | Path, data, cancel: CancelToken | None = None,
                         rows: Sequence[dict[str, Any]] | None = None, source: str = "validation",
                         onnx: str | Path | None = None) -> dict[str, Any]:
    """Fit the quality estimate of a checkpoint and store it in its sidecar (and in ``onnx``'s metadata
    when given) under ``quality``. The shape prior comes from ``data``'s training labels; the line from
    ``rows`` (evaluation rows of images the model, or a fold model, never trained on) when given, else
    from predicting ``data``'s val images now."""
    from core.data.masks import load_image, load_mask
    from core.infer.predictor import load_predictor
    from core.models.checkpoint import checkpoint_paths, read_sidecar

    labeled = [s for s in data.index if s.is_training_label]
    train = [load_mask(s) for s in labeled if s.split == "train"]
    if rows is not None:
        model = fit_from_rows(train, rows, source)
    else:
        predictor = load_predictor(checkpoint, backend="torch")
        val = []
        for s in (s for s in labeled if s.split == "val"):
            image = load_image(s)
            val.append((image, load_mask(s, (image.shape[1], image.shape[0]))))
        model = fit_quality(predictor, train, val, cancel)
    sidecar = read_sidecar(checkpoint)
    sidecar["quality"] = model.to_json()
    atomic_write_json(checkpoint_paths(checkpoint)[1], sidecar)
    if onnx is not None:
        store_in_onnx(onnx, sidecar["quality"])
    return sidecar["quality"]


def store_in_onnx(path: str | Path, quality: dict[str, Any]) -> None:
    """Replace the ``quality`` metadata of an exported model in place (atomically); weights untouched."""
    import json

    import onnx

    from core.data.atomic import atomic_write_bytes

    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    props["quality"] = json.dumps(quality)
    del proto.metadata_props[:]
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    atomic_write_bytes(Path(path), proto.SerializeToString())


def calibrate_after_training(checkpoint: str | Path, onnx: str | Path, data, holdout_rows: Sequence[dict[str, Any]],
                             run_dir: str | Path) -> dict[str, Any]:
    """Train on my labels' calibration: cross-validation's held-out rows when the run made them
    (``cross_validation.json``, every label scored by a model that never saw its group), else the
    validation rows of the shipped model; stored in the sidecar and the ONNX model."""
    import json

    rows, source = list(holdout_rows), "validation"
    cv = Path(run_dir) / "cross_validation.json"
    if cv.is_file():
        try:
            cv_rows = json.loads(cv.read_text(encoding="utf-8")).get("per_image") or []
        except (OSError, ValueError):
            cv_rows = []
        if sum(1 for r in cv_rows if all(r.get(k) is not None for k in ("soft", "area_frac"))) > len(rows):
            rows, source = cv_rows, "cross-validation"
    return calibrate_checkpoint(checkpoint, data, rows=rows, source=source, onnx=onnx)
