"""Broken weights files (``last.safetensors``) of the bad-model corpus: another architecture, NaN, integers,
truncated, missing, a folder; some re-hashed so the check after the checksum is what refuses."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.core.bad_input_cases import Case, Inputs
from tests.core.bad_models.env import CHECKPOINT_RUNS, ModelEnv, copied_inputs
from tests.core.bad_models.env import rehash as rehash_run


def weights_case(name: str, breaker: Callable[[Path, ModelEnv], None], says: str, **kwargs: Any) -> Case:
    """``last.safetensors`` of a copied run broken by ``breaker(run_dir, env)``."""
    def build(root: Path, env: ModelEnv) -> Inputs:
        run = env.copy_run(root / "run")
        breaker(run, env)
        return copied_inputs(root, env, run)
    return Case(f"weights-{name}", build, dict(CHECKPOINT_RUNS), says=says, **kwargs)


def _state(run: Path):
    from safetensors.torch import load_file

    return load_file(str(run / "last.safetensors"))


def _save_state(run: Path, state, rehash: bool = True) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(run / "last.safetensors"),
              metadata={"format": "toothseg-checkpoint"})
    if rehash:
        rehash_run(run)


def _other_arch(run: Path, env: ModelEnv, rehash: bool = True) -> None:
    from core.models import build_model

    model = build_model({"name": "unet", "in_channels": 1, "out_channels": 1, "base_channels": 8})
    _save_state(run, model.state_dict(), rehash)


def _same_arch_other_weights(run: Path, env: ModelEnv) -> None:
    """A valid file of the right architecture, swapped in without updating the checksum (item 12)."""
    _save_state(run, {k: (v + 1 if v.is_floating_point() else v) for k, v in _state(run).items()},
                rehash=False)


def _nan(run: Path, env: ModelEnv) -> None:
    state = _state(run)
    name = next(k for k, v in state.items() if k.endswith("weight") and v.is_floating_point())
    state[name][...] = float("nan")
    _save_state(run, state)


def _ints(run: Path, env: ModelEnv) -> None:
    import torch

    _save_state(run, {k: (v * 100).to(torch.int32) if v.is_floating_point() else v
                      for k, v in _state(run).items()})


def _only_bn_counters(run: Path, env: ModelEnv) -> None:
    _save_state(run, {k: v for k, v in _state(run).items() if k.endswith("num_batches_tracked")})


def _raw(data: bytes) -> Callable[[Path, ModelEnv], None]:
    def breaker(run: Path, env: ModelEnv) -> None:
        (run / "last.safetensors").write_bytes(data)
        rehash_run(run)
    return breaker


def _truncated(run: Path, env: ModelEnv) -> None:
    path = run / "last.safetensors"
    path.write_bytes(path.read_bytes()[:1000])


def _missing(run: Path, env: ModelEnv) -> None:
    (run / "last.safetensors").unlink()


def _folder(run: Path, env: ModelEnv) -> None:
    (run / "last.safetensors").unlink()
    (run / "last.safetensors").mkdir()


WEIGHTS_CASES = [
    weights_case("missing", _missing, "weights file not found"),
    weights_case("folder", _folder, "cannot read weights"),
    weights_case("truncated", _truncated, "corrupt or replaced"),
    weights_case("swapped-same-arch", _same_arch_other_weights, "corrupt or replaced"),
    weights_case("swapped-other-arch", lambda r, e: _other_arch(r, e, rehash=False), "corrupt or replaced"),
    weights_case("garbage-rehashed", _raw(b"\x00" * 64 + b"not safetensors" * 100), "not a valid safetensors"),
    weights_case("pickle-rehashed", _raw(pickle.dumps({"evil": 1})), "not a valid safetensors"),
    weights_case("header-2tb-rehashed", _raw((2**41).to_bytes(8, "little") + b"{}"), "not a valid safetensors"),
    weights_case("nan-rehashed", _nan, "nan or infinite"),
    weights_case("int-dtype-rehashed", _ints, "torch.int32", says_by={"finetune-init": "no weight tensor matches"}),
    # item 13: every learnable tensor mismatches; only batch-norm counters would match
    weights_case("other-arch-rehashed", _other_arch, "do not fit model",
                 says_by={"finetune-init": "no weight tensor matches"}),
    weights_case("only-bn-counters-rehashed", _only_bn_counters, "do not fit model",
                 says_by={"finetune-init": "no weight tensor matches this model (only"}),
]
