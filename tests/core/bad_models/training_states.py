"""Broken training states (``last_state.pt``) of the bad-model corpus, which ``finetune --resume`` must refuse
without running any code they carry."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.core.bad_input_cases import Case, Inputs
from tests.core.bad_models.env import STATE_RUNS, ModelEnv, copied_inputs


class _RunsCode:
    """Unpickling this would create ``marker``: torch.load(weights_only=True) must refuse it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def state_case(name: str, breaker: Callable[[Path], None], says: str) -> Case:
    """``last_state.pt`` of a copied run broken by ``breaker(path)``; ``finetune --resume`` refuses it."""
    def build(root: Path, env: ModelEnv) -> Inputs:
        run = env.copy_run(root / "run")
        breaker(run / "last_state.pt")
        return copied_inputs(root, env, run)
    return Case(f"state-{name}", build, dict(STATE_RUNS), says=says)


def _edit_state(change: Callable[[dict], Any]) -> Callable[[Path], None]:
    def breaker(path: Path) -> None:
        import torch

        state = torch.load(path, weights_only=True)
        new = change(state)
        torch.save(state if new is None else new, path)
    return breaker


def _pickle_code(path: Path) -> None:
    path.write_bytes(pickle.dumps({"epoch": _RunsCode(path.parent.parent / "CODE_RAN")}, protocol=2))


def _other_optimizer(state: dict) -> None:
    groups = state["optimizer"]["param_groups"]
    groups[0]["params"] = groups[0]["params"][:3]


def _rng_float(state: dict) -> None:
    import torch

    state["rng_torch"] = torch.zeros(5)


STATE_CASES = [
    state_case("empty", lambda p: p.write_bytes(b""), "unreadable training state"),
    state_case("truncated", lambda p: p.write_bytes(p.read_bytes()[:300]), "unreadable training state"),
    state_case("pickle-runs-code", _pickle_code, "unreadable training state"),
    state_case("list", _edit_state(lambda s: [1, 2, 3]), "not a training state"),
    state_case("no-optimizer", _edit_state(lambda s: s.pop("optimizer") and None), "lacks optimizer"),
    state_case("epoch-text", _edit_state(lambda s: s.update(epoch="one")), "epoch has the wrong type"),
    state_case("epoch-negative", _edit_state(lambda s: s.update(epoch=-5)), "negative epoch"),
    state_case("rng-float", _edit_state(_rng_float), "rng_torch is not"),
    state_case("csv-rows-garbled", _edit_state(lambda s: s.update(csv_rows="[{")), "csv_rows is not json"),
    state_case("optimizer-other-model", _edit_state(_other_optimizer), "does not fit this run"),
]
