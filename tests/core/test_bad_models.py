"""The bad-model corpus through every command that takes a model (issue 18 items 5, 12, 13, 14, 15).

Every malformed sidecar / weights file / training state / ONNX model of ``bad_model_cases`` goes
through ``predict`` (checkpoint and ONNX), ``evaluate`` (checkpoint and ONNX), ``export``,
``finetune --init`` and ``finetune --resume``: no traceback, one clear line naming the fault, a
non-zero exit, the case's files unchanged and nothing written to the output folder. A good model
goes through the same commands and succeeds, so the harness itself is shown able to pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.core.bad_input_cases import COMMANDS, OK, build_case, case_ids, check_run, run_cli, tree_digest
from tests.core.bad_model_cases import (  # noqa: F401  (model_env is a fixture)
    ARGUMENT_CASES,
    GOOD,
    ONNX_CASES,
    ORDER,
    RUNTIME_ONNX_CASES,
    SIDECAR_CASES,
    STATE_CASES,
    WEIGHTS_CASES,
    Case,
    ModelEnv,
    model_env,
)

CASES = SIDECAR_CASES + WEIGHTS_CASES + STATE_CASES + ONNX_CASES + RUNTIME_ONNX_CASES + ARGUMENT_CASES


def run_model_case(case: Case, env: ModelEnv, tmp: Path, capfd) -> list[str]:
    """Run ``case`` through each of its commands; returns the broken promises (empty when all held)."""
    inputs, root = build_case(case, env, tmp)
    before = tree_digest(root)
    problems: list[str] = []
    for n, command in enumerate(sorted(case.runs, key=ORDER.index)):
        out = tmp / f"out{n}"
        out.mkdir()
        expect = case.runs[command]
        res = run_cli(COMMANDS[command](inputs, env, out), capfd)
        problems += check_run(case, command, expect, res)
        if expect == OK:
            continue
        after = tree_digest(root)
        if after != before:
            problems.append(f"{case.id} / {command}: files changed: "
                            f"{sorted(set(after.items()) ^ set(before.items()))[:3]}")
        written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
        if written:
            problems.append(f"{case.id} / {command}: wrote {written[:4]}")
    return problems


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_bad_model_is_refused_by_every_command(case, model_env, tmp_path, capfd):  # noqa: F811
    problems = run_model_case(case, model_env, tmp_path, capfd)
    assert not problems, "\n".join(problems)
    assert not (tmp_path / "in" / "CODE_RAN").exists()  # the crafted pickle never ran


def test_good_model_passes_every_command(model_env, tmp_path, capfd):  # noqa: F811
    """The control: the same commands on the unbroken run succeed (so a refusal above means something)."""
    problems = run_model_case(GOOD, model_env, tmp_path, capfd)
    assert not problems, "\n".join(problems)
    assert json.loads((tmp_path / "in" / "run" / "last.json").read_text())["step"] == 3  # resumed and trained


def test_corpus_size():
    """Issue 18 asks for the model cases through every command that takes them."""
    runs = sum(len(c.runs) for c in CASES)
    assert len(CASES) >= 45 and runs >= 200, (len(CASES), runs)
