"""Separation and numbering of FDI teeth on real UFBA-425 instances, with votes we control: the arch
order alone numbers a full dentition, noisy votes are made consistent, gaps of missing teeth survive,
and the predicted-core seeds split touching teeth back into the true instances."""

from __future__ import annotations

import numpy as np

from core.data.classes import DECIDUOUS_FDI_NUMBERS, FDI_NUMBERS
from core.teeth.numbering import ToothVote, arch_sequence, assign_jaw, number_teeth
from core.teeth.separate import separate_teeth
from core.teeth.targets import core_map, fdi_number, load_instances, position_index, quadrant_index


def _teeth(shared_data, stem):
    return load_instances(shared_data / "ufba425_teeth" / "instances" / f"{stem}.npz")


def _votes(fdi, masks, position_noise: float, rng) -> list[ToothVote]:
    votes = []
    for v, m in zip(fdi, masks, strict=True):
        ys, xs = np.nonzero(m)
        q = np.full(4, 0.02)
        q[quadrant_index(v)] = 0.94
        p = np.full(13, 1e-3)
        true = position_index(v)
        for d, w in ((0, 1.0), (-1, position_noise), (1, position_noise)):    # blurred towards neighbours
            if 0 <= true + d < 8:
                p[true + d] += w * rng.uniform(0.5, 1.0)
        votes.append(ToothVote(float(xs.mean()), float(ys.mean()), q, p / p.sum()))
    return votes


def test_factors_round_trip_every_fdi_number():
    for v in FDI_NUMBERS + DECIDUOUS_FDI_NUMBERS:
        assert fdi_number(quadrant_index(v), position_index(v)) == v
    assert arch_sequence(True, FDI_NUMBERS) == [18, 17, 16, 15, 14, 13, 12, 11, 21, 22, 23, 24, 25, 26, 27, 28]
    mixed = arch_sequence(False, FDI_NUMBERS + DECIDUOUS_FDI_NUMBERS)
    assert mixed.index(46) < mixed.index(85) < mixed.index(41) < mixed.index(31) < mixed.index(75) < mixed.index(36)


def test_arch_order_numbers_a_full_dentition_without_position_votes(shared_data):
    fdi, masks = _teeth(shared_data, "cate1-00002")
    assert len(fdi) == 32
    votes = _votes(fdi, masks, 0.0, np.random.default_rng(0))
    for v in votes:
        v.position = np.full(13, 1 / 13)                # no idea which tooth: only the order is left
    assert number_teeth(votes, FDI_NUMBERS) == fdi.tolist()


def test_noisy_votes_become_consistent_and_gaps_stay(shared_data):
    rng = np.random.default_rng(1)
    fdi, masks = _teeth(shared_data, "cate8-00008")     # 27 teeth: five missing
    assert len(fdi) == 27
    votes = _votes(fdi, masks, 0.7, rng)                 # a neighbour often out-votes the truth
    argmax = [fdi_number(int(np.argmax(v.quadrant)), int(np.argmax(v.position))) for v in votes]
    numbered = number_teeth(votes, FDI_NUMBERS)
    assert len(set(numbered)) == len(numbered) == 27     # every number at most once
    right = np.mean(np.array(numbered) == fdi)
    assert right == 1.0 and np.mean(np.array(argmax) == fdi) < 0.9


def test_more_teeth_than_numbers_leaves_one_out_as_a_duplicate():
    q = np.array([0.97, 0.01, 0.01, 0.01])
    votes = [ToothVote(float(x), 0.0, q, np.eye(13)[pos] * 0.9 + 0.1 / 13) for x, pos in enumerate((1, 0, 0))]
    out = assign_jaw(votes, [12, 11])
    assert out[0] == 12 and out.count(None) == 1 and 11 in out
    assert number_teeth(votes, [11, 12]) == [12, 11, 11]


def test_core_seeds_split_touching_teeth_back_into_instances(shared_data):
    fdi, masks = _teeth(shared_data, "cate2-00107")
    fg = masks.any(0).astype(np.float32)
    lab = separate_teeth(fg, core_map(masks).astype(np.float32))
    assert lab.max() == len(fdi)
    dice = []
    for m in masks:
        k = np.bincount(lab[m]).argmax()
        dice.append(2 * np.sum((lab == k) & m) / (np.sum(lab == k) + m.sum()))
    assert np.mean(dice) > 0.95 and min(dice) > 0.8
