"""An estimated Dice (0-1) for each predicted mask, without a reference mask.

Signals, all from one image's prediction:
- ``soft``: the Dice the mask would have if the model's probabilities were right, 2·Σp·m / (Σp + Σm):
  a mask whose pixels the network is unsure of, or with unsure pixels outside it, scores low;
- ``area``: the mask's area against the user's own labels (``ShapePrior.size``); its ``gate``,
  min(1, area / SMALL_SHARE), is what v2 multiplies: a tiny blob scores low however sure the network is,
  while above a quarter of the labels' typical area the size no longer lowers the estimate (the full
  ``area`` ranked worse: a 20-label model's partial masks are already unsure at their edges);
- ``flip``: Dice between the mask and the mask of the mirror image (test-time-augmentation agreement);
  a flag, not part of the estimate since v2: a thyroid lobe's mirror image is the other lobe, so good
  masks often score 0 (ADR 0016);
- ``position``: how far the centroid lies from the labels' (a flag, not part of the estimate).
The product of the model's ``terms`` (v2: ``soft · gate``, or ``soft · area`` when that ranked the held-out
labels better at calibration; v1 models: ``flip · area``) is mapped to
Dice by a line fitted at training time on held-out labels (``core.infer.quality_fit``: the cross-
validation folds' out-of-fold rows, else the validation images) and stored with the model (sidecar and
ONNX metadata key ``quality``), so the viewer build estimates the same way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.infer.contract import InferenceContract

IMPLAUSIBLE_BELOW = 0.5  # an estimate under this, or an atypical area/position, flags the mask
LARGE_Z = 2.5            # log-area z-score above which a mask is larger than the labels ever are
FAR_Z = 3.0              # centroid z-score beyond which a mask sits where no label does
SMALL_SHARE = 0.25       # a mask under this share of the labels' typical area is flagged
ROW_SIGNALS = ("soft", "flip", "area_frac")
TERMS = ("soft", "gate")     # what v2 multiplies (bench_quality_estimate.py, ADR 0016)
V1_TERMS = ("flip", "area")  # models calibrated before v2 keep their line's meaning
TRUST_MIN_ROWS, TRUST_SPEARMAN = 8, 0.6  # what an evaluation row keeps to calibrate from later
# the ranking must be proven, not just observed: the lower end of the held-out Spearman's 95 % interval (Fisher z,
# SE sqrt(1.06 / (n - 3))) reaches TRUST_SPEARMAN -- e.g. 0.83 on 20 held-out labels, 0.76 on 50. A point
# figure of 0.61 on 50 out-of-fold rows switched bulk accept on for a 50-label U-Net that ranked the unseen
# clips at 0.07 and would have accepted 73 masks down to Dice 0.30 (ADR 0016)
TRUST_Z = 1.96


@dataclass
class ShapePrior:
    """Foreground statistics of the user's labels: log area fraction and centroid (0-1 of the size)."""

    log_area: tuple[float, float] = (0.0, 0.0)  # mean, std of log(area fraction)
    cy: tuple[float, float] = (0.5, 0.0)
    cx: tuple[float, float] = (0.5, 0.0)
    n: int = 0

    @classmethod
    def from_masks(cls, masks: list[np.ndarray]) -> ShapePrior:
        rows = [foreground_shape(m) for m in masks]
        rows = [r for r in rows if r is not None]
        if len(rows) < 2:
            return cls()
        a = np.array(rows, np.float64)

        def spread(col: np.ndarray, floor: float) -> tuple[float, float]:
            return float(col.mean()), float(max(col.std(ddof=1), floor))

        return cls(spread(a[:, 0], 0.1), spread(a[:, 1], 0.02), spread(a[:, 2], 0.02), len(rows))

    def scores(self, mask: np.ndarray) -> tuple[float, float]:
        """(size, position), each in [0, 1]; 1 without a prior. ``size`` is the mask's area over the
        labels' typical (geometric-mean) area, capped at 1, and falls off above the labels' range: a
        mask smaller than the structure usually is tends to be a partial or stray find, and Dice punishes
        the same boundary error harder on a small mask. ``position`` falls off beyond 3 standard
        deviations of the labels' centroids (a flag only: glands of a new patient sit elsewhere)."""
        shape = foreground_shape(mask)
        if shape is None:
            return 0.0, 0.0
        if self.n < 2:
            return 1.0, 1.0
        size = self.size(shape[0])
        z_pos = math.hypot((shape[1] - self.cy[0]) / self.cy[1], (shape[2] - self.cx[0]) / self.cx[1]) / math.sqrt(2)
        return size, _falloff(z_pos, FAR_Z)

    def size(self, log_area: float) -> float:
        """The ``area`` signal of a mask with log area fraction ``log_area`` (1 without a prior)."""
        if self.n < 2:
            return 1.0
        if not math.isfinite(log_area):
            return 0.0
        z_area = (log_area - self.log_area[0]) / self.log_area[1]
        return min(1.0, math.exp(log_area - self.log_area[0])) * _falloff(z_area, LARGE_Z)


def spearman(x, y) -> float | None:
    """Rank correlation (average ranks for ties); None under 3 pairs or without spread. Torch- and
    scipy-free, for the viewer build."""
    if len(x) < 3:
        return None

    def ranks(v) -> np.ndarray:
        v = np.asarray(v, np.float64)
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        for value in np.unique(v):
            same = v == value
            r[same] = r[same].mean()
        return r

    a, b = ranks(x), ranks(y)
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _pair(value: Any) -> tuple[float, float]:
    a, b = value
    return _finite(a), _finite(b)


def _finite(value: Any) -> float:
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"not a finite number: {value!r}")
    return out


def _falloff(z: float, typical: float) -> float:
    excess = max(0.0, z - typical)
    return float(math.exp(-0.5 * excess * excess))


def foreground_shape(mask: np.ndarray) -> tuple[float, float, float] | None:
    """(log area fraction, centroid row, centroid column) of a mask's foreground; None when empty."""
    fg = np.asarray(mask) > 0
    area = int(fg.sum())
    if area == 0:
        return None
    ys, xs = np.nonzero(fg)
    h, w = fg.shape
    return math.log(area / fg.size), float(ys.mean()) / max(h - 1, 1), float(xs.mean()) / max(w - 1, 1)


def binary_dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def signals(mask: np.ndarray, probs: np.ndarray, mirrored_mask: np.ndarray | None,
            prior: ShapePrior) -> dict[str, Any]:
    """The raw signals of one prediction (see the module docstring); ``probs`` is (K, H, W); ``flip`` is
    None without a mirrored mask."""
    fg = np.asarray(mask) > 0
    p = probs[0] if probs.shape[0] == 1 else 1.0 - probs[0]  # foreground probability (any class)
    p = p.astype(np.float64)
    denom = float(p.sum()) + float(fg.sum())
    soft = 1.0 if denom == 0 else 2.0 * float(p[fg].sum()) / denom
    area, position = prior.scores(fg)
    flip = binary_dice(fg, mirrored_mask) if mirrored_mask is not None else None
    return {"soft": soft, "flip": flip, "area": area, "gate": gate(area),
            "position": position}


def gate(area: float) -> float:
    """The area signal as v2 uses it: 0 for an empty mask, rising to 1 at SMALL_SHARE of the labels'
    typical area, 1 above."""
    return float(min(1.0, area / SMALL_SHARE))


@dataclass
class QualityModel:
    """Signals -> estimated Dice: ``a + b * product(terms)``, clipped to [0, 1]."""

    prior: ShapePrior = field(default_factory=ShapePrior)
    a: float = 0.0
    b: float = 1.0
    n_val: int = 0           # validation images the line was fitted on
    val_mae: float | None = None  # mean |estimate - true Dice| on them
    source: str = ""         # what the line was fitted on: "validation" or "cross-validation"
    val_spearman: float | None = None  # rank correlation of estimate and true Dice on those images
    # the lowest rank correlation among the terms the calibration chose from: choosing the better of two on
    # the same rows flatters its figure, so a bulk accept asks that every choice ranked them (ADR 0016)
    trust_spearman: float | None = None
    version: int = 2
    terms: tuple[str, ...] = TERMS

    def raw(self, sig: dict[str, float]) -> float:
        return float(math.prod(float(sig[t]) for t in self.terms))

    def raw_from_row(self, row: dict[str, Any]) -> float | None:
        """The raw product for an evaluation row (``soft``, ``area_frac``, and ``flip`` when the terms use
        it), with this model's shape prior; None when the row lacks them."""
        needed = ("soft", "area_frac", *(("flip",) if "flip" in self.terms else ()))
        if any(row.get(k) is None for k in needed):
            return None
        area = float(row["area_frac"])
        size = self.prior.size(math.log(area)) if area > 0 else 0.0
        flip = float(row["flip"]) if row.get("flip") is not None else 0.0
        return self.raw({"soft": float(row["soft"]), "flip": flip, "area": size, "gate": gate(size)})

    def estimate(self, sig: dict[str, float]) -> float:
        return self.estimate_raw(self.raw(sig))

    def estimate_raw(self, raw: float) -> float:
        return float(min(1.0, max(0.0, self.a + self.b * raw)))

    def flags(self, sig: dict[str, float], estimate: float) -> list[str]:
        """Why a mask looks wrong, in words (empty list = plausible). Mirror disagreement is no flag: on
        thyroid frames the masks it alone flagged scored 0.67 mean Dice against 0.73 unflagged (ADR 0016)."""
        out = []
        if sig["area"] == 0.0:
            return ["empty mask"]
        if sig["area"] < SMALL_SHARE:
            out.append("much smaller or larger than your labels")
        if sig["position"] < 0.5:
            out.append("unusual position for your labels")
        if estimate < IMPLAUSIBLE_BELOW and not out:
            out.append(f"estimated Dice below {IMPLAUSIBLE_BELOW:.1f}")
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> QualityModel:
        """The stored model, or the uncalibrated default (no shape prior, identity line) when absent."""
        if not isinstance(data, dict) or not data:
            return cls()
        try:
            raw = data.get("prior") or {}
            prior = ShapePrior(log_area=_pair(raw.get("log_area", (0.0, 0.0))), cy=_pair(raw.get("cy", (0.5, 0.0))),
                               cx=_pair(raw.get("cx", (0.5, 0.0))), n=int(raw.get("n", 0)))
            if prior.n >= 2 and min(prior.log_area[1], prior.cy[1], prior.cx[1]) <= 0:
                raise ValueError("a shape prior needs positive spreads")
            mae = data.get("val_mae")
            terms = tuple(data.get("terms") or V1_TERMS)
            if not set(terms) <= {"soft", "flip", "area", "gate"}:
                raise ValueError(f"unknown quality terms {terms}")
            return cls(prior=prior, terms=terms, a=_finite(data.get("a", 0.0)), b=_finite(data.get("b", 1.0)),
                       n_val=int(data.get("n_val", 0)), val_mae=None if mae is None else _finite(mae),
                       source=str(data.get("source", ""))[:40], version=int(data.get("version", 1)),
                       val_spearman=None if data.get("val_spearman") is None else _finite(data["val_spearman"]),
                       trust_spearman=None if data.get("trust_spearman") is None else _finite(data["trust_spearman"]))
        except (TypeError, ValueError, AttributeError):
            return cls()  # damaged calibration: estimate uncalibrated rather than refuse the model

    @property
    def calibrated(self) -> bool:
        return self.n_val > 0

    @property
    def trusted(self) -> bool:
        """Whether the estimate proved it ranks masks: Spearman >= TRUST_SPEARMAN on at least TRUST_MIN_ROWS
        held-out labels, at the lower end of its 95 % interval (``proven_spearman``). Only then may a bulk accept rely on it (20-label thyroid models ranged from
        0.15 to 0.66 on unseen videos, ADR 0016), and when the calibration chose its terms, every choice
        did (``trust_spearman``)."""
        rho = self.val_spearman if self.trust_spearman is None else min(self.val_spearman or 0.0, self.trust_spearman)
        return self.n_val >= TRUST_MIN_ROWS and proven_spearman(rho or 0.0, self.n_val) >= TRUST_SPEARMAN


def proven_spearman(rho: float, n: int) -> float:
    """The lower end of a 95 % interval for a Spearman correlation ``rho`` measured on ``n`` pairs (Fisher's z
    with the rank correlation's variance 1.06 / (n - 3)); -1 under 4 pairs."""
    if n < 4:
        return -1.0
    z = math.atanh(max(-0.999999, min(0.999999, rho))) - TRUST_Z * math.sqrt(1.06 / (n - 3))
    return math.tanh(z)


def assess(predictor, image: np.ndarray, model: QualityModel | None = None) -> tuple[Any, dict[str, Any]]:
    """Predict ``image`` with ``predictor`` (its own contract and TTA setting) and estimate the mask's Dice.

    Returns (Prediction, {"quality", "flags", "plausible", **signals}). The mirrored pass runs only when
    TTA runs it anyway or the model's estimate uses ``flip`` (v1); otherwise ``flip`` is None and the
    estimate costs no extra forward pass."""
    from core.infer.predictor import probabilities

    if hasattr(predictor, "assess"):  # a numbered-teeth model reviews its own teeth (core.infer.teeth)
        return predictor.assess(image)
    model = model if model is not None else QualityModel.from_json(predictor.meta.get("quality"))
    x = predictor.preprocess(image)
    plain = predictor.forward_once(x)
    mirrored = predictor.mirrored_forward(x) if predictor.tta or "flip" in model.terms else None
    logits = (plain + mirrored) * np.float32(0.5) if predictor.tta else plain
    pred = predictor.postprocess(logits)
    contract: InferenceContract = predictor.contract
    mirrored_mask = contract.rules(contract.labels(mirrored)) if mirrored is not None else None
    sig = signals(pred.mask, probabilities(logits), mirrored_mask, model.prior)
    if mirrored_mask is not None:
        mask_plain = pred.mask if not predictor.tta else contract.rules(contract.labels(plain))
        sig["flip"] = binary_dice(mask_plain, mirrored_mask)
    q = model.estimate(sig)
    flags = model.flags(sig, q)
    info = {"quality": q, "flags": flags, "plausible": not flags, "trusted": model.trusted, **sig}
    pred.stats.update(quality=q, plausible=bool(pred.stats.get("plausible", True)) and not flags)
    return pred, info
