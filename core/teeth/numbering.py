"""FDI numbers for found teeth: each tooth votes (mean quadrant and position probabilities over its
pixels), then one ordering-constrained assignment per jaw makes the votes consistent.

Along a panoramic's upper jaw, from the image's left to its right, the teeth are 18 17 .. 11 21 .. 28
(the patient's right is on the image's left); the lower jaw runs 48 .. 41 31 .. 38. Deciduous teeth
sit beside the permanent tooth of the same position (55 beside 15). Sorting one jaw's teeth by x and
giving them numbers that strictly increase along that sequence - each number at most once, gaps
allowed for missing teeth - is a small dynamic programme that maximises the summed log-votes. A tooth
the programme cannot place (more teeth than numbers) keeps its own best vote and so shows up as a
duplicated number for review.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from core.teeth.targets import position_index, quadrant_index

# log-probability cost of leaving a tooth out of the arch order (it keeps its own best vote): low
# enough that a fragment of a split tooth is left out rather than shifting its neighbours' numbers
# (chosen on 64 training panoramics: 2-4 best, 12 cost 3 points of identification accuracy)
SKIP_PENALTY = 3.0


@dataclass
class ToothVote:
    """One found tooth: centroid (x, y) and mean probabilities over its pixels."""

    x: float
    y: float
    quadrant: np.ndarray    # (4,) quadrant sides 1..4
    position: np.ndarray    # (13,) permanent 1..8, deciduous 1..5


def arch_sequence(upper: bool, allowed: Iterable[int]) -> list[int]:
    """The numbers of one jaw in image left-to-right order, restricted to ``allowed``."""
    right, left = (1, 2) if upper else (4, 3)

    def side(q: int, dq: int) -> list[int]:           # distal -> mesial: 8 7 6 5 d5 4 d4 .. 1 d1
        seq = []
        for t in range(8, 0, -1):
            seq.append(q * 10 + t)
            if t <= 5:
                seq.append(dq * 10 + t)
        return seq

    patient_right = side(right, right + 4)
    patient_left = side(left, left + 4)[::-1]
    allowed = set(int(v) for v in allowed)
    return [v for v in patient_right + patient_left if v in allowed]


def _log_vote(vote: ToothVote, value: int) -> float:
    q, p = quadrant_index(value), position_index(value)
    return float(np.log(max(vote.quadrant[q], 1e-6)) + np.log(max(vote.position[p], 1e-6)))


def assign_jaw(votes: Sequence[ToothVote], sequence: Sequence[int]) -> list[int | None]:
    """Numbers from ``sequence`` for ``votes`` sorted by x, strictly increasing along the sequence;
    None for a tooth left out (only when placing it would cost more than ``SKIP_PENALTY``)."""
    n, m = len(votes), len(sequence)
    if n == 0:
        return []
    order = sorted(range(n), key=lambda i: votes[i].x)
    score = np.array([[_log_vote(votes[i], v) for v in sequence] for i in order])    # (n, m)
    neg = -1e18
    # best[k][j]: best total for the first k teeth with the last placed number at index < j
    best = np.full((n + 1, m + 1), neg)
    best[0, :] = 0.0
    choice = np.full((n + 1, m + 1), -2, dtype=np.int64)   # -1 skip, else number index
    for k in range(1, n + 1):
        run, run_arg = neg, -1
        for j in range(1, m + 1):
            take = best[k - 1, j - 1] + score[k - 1, j - 1]       # tooth k-1 takes number j-1
            if take > run:
                run, run_arg = take, j - 1
            skip = best[k - 1, j] - SKIP_PENALTY
            if skip >= run:
                best[k, j], choice[k, j] = skip, -1
            else:
                best[k, j], choice[k, j] = run, run_arg
        # j = 0: nothing can be placed, only skips
        best[k, 0] = best[k - 1, 0] - SKIP_PENALTY
        choice[k, 0] = -1
    out: list[int | None] = [None] * n
    j = m
    for k in range(n, 0, -1):
        c = choice[k, j]
        if c >= 0:
            out[order[k - 1]] = int(sequence[c])
            j = int(c)
        # skip: j unchanged
    return out


def number_teeth(votes: Sequence[ToothVote], allowed: Iterable[int]) -> list[int]:
    """An FDI number for every vote: upper / lower jaw by the quadrant vote, then ``assign_jaw``; a
    tooth the arch order leaves out gets its own best allowed number."""
    allowed = sorted(set(int(v) for v in allowed))
    result: list[int] = [0] * len(votes)
    for upper in (True, False):
        idx = [i for i, v in enumerate(votes) if (v.quadrant[0] + v.quadrant[1] >= v.quadrant[2] + v.quadrant[3]) == upper]
        seq = arch_sequence(upper, allowed)
        for i, value in zip(idx, assign_jaw([votes[i] for i in idx], seq), strict=True):
            result[i] = value if value is not None else max(allowed, key=lambda a: _log_vote(votes[i], a))
    return result
