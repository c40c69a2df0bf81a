"""The bad-model corpus (issue 18 items 5, 12-15): malformed checkpoint sidecars, weights files,
training states and ONNX models, each built from one real tiny model trained on tg3k frames. The cases
live by kind of file in ``tests/core/bad_models/``; this module gathers them, adds the commands a
representative few also go through, and the good control.

Shared by ``tests/core/test_bad_models.py`` (every command-line path) and
``tests/app/test_bad_models_gui.py`` (Set active / Show as overlay); the runs are checked by the
shared harness in ``tests/core/bad_input_cases.py``: no traceback, one clear line, a non-zero exit,
nothing changed on disk.
"""

from __future__ import annotations

from pathlib import Path

from tests.core.bad_input_cases import FAIL, TRAIN_FLAGS, Case, Inputs, register_command
from tests.core.bad_models.env import ORDER, ModelEnv, copied_inputs, model_env  # noqa: F401  (a fixture)
from tests.core.bad_models.onnx_models import ONNX_CASES, RUNTIME_ONNX_CASES  # noqa: F401  (for the tests)
from tests.core.bad_models.sidecars import SIDECAR_CASES
from tests.core.bad_models.training_states import STATE_CASES  # noqa: F401  (for the tests)
from tests.core.bad_models.weights import WEIGHTS_CASES


def _good(root: Path, env: ModelEnv) -> Inputs:
    return copied_inputs(root, env, env.copy_run(root / "run"))


# the other commands that take a model (ranking by uncertainty, Mean Teacher's start) share the loaders;
# a representative set of cases shows it: a few of each kind of damage
register_command("suggest-model", lambda i, e, o: ["suggest", "--data", str(i.data), "--model", str(i.checkpoint)])
register_command("suggest-onnx", lambda i, e, o: ["suggest", "--data", str(i.data), "--model", str(i.onnx or e.onnx)])
register_command("mean-teacher-init", lambda i, e, o: ["mean-teacher", "--data", str(i.data), "--out", str(o / "mt"),
                                                        "--init", str(i.checkpoint), *TRAIN_FLAGS])
ORDER += ("suggest-model", "suggest-onnx", "mean-teacher-init")
MORE_COMMANDS = {"sidecar": ("suggest-model", "mean-teacher-init"), "weights": ("suggest-model", "mean-teacher-init"),
                 "onnx": ("suggest-onnx",)}
REPRESENTATIVE = ("sidecar-version-abc", "sidecar-classes-int-5", "sidecar-base-channels-1024", "sidecar-input-size-0x0",
                  "sidecar-policy-sliding-60000", "sidecar-std-0", "sidecar-threshold-1.5", "sidecar-json-truncated",
                  "weights-swapped-same-arch", "weights-nan-rehashed", "onnx-version-abc", "onnx-input-size-0x0",
                  "onnx-std-0", "onnx-graph-classifier", "onnx-graph-halves-the-size")
for _case in SIDECAR_CASES + WEIGHTS_CASES + ONNX_CASES:
    if _case.id in REPRESENTATIVE:
        _case.runs.update({name: FAIL for name in MORE_COMMANDS[_case.id.split("-")[0]]})
# a good checkpoint exported with a policy the CLI asks for: the same limits apply to the arguments
register_command("export-size-60000", lambda i, e, o: ["export", "--model", str(i.checkpoint), "--out",
                                                       str(o / "m.onnx"), "--images", str(i.data),
                                                       "--size", "60000", "60000"])
register_command("export-size-0", lambda i, e, o: ["export", "--model", str(i.checkpoint), "--out",
                                                   str(o / "m.onnx"), "--images", str(i.data), "--size", "0", "0"])
register_command("export-overlap-0.99", lambda i, e, o: ["export", "--model", str(i.checkpoint), "--out",
                                                         str(o / "m.onnx"), "--images", str(i.data), "--policy",
                                                         "sliding", "--overlap", "0.99"])
ORDER += ("export-size-60000", "export-size-0", "export-overlap-0.99")
ARGUMENT_CASES = [Case("export-arguments-out-of-range", _good,
                       {"export-size-60000": FAIL, "export-size-0": FAIL, "export-overlap-0.99": FAIL},
                       says_by={"export-size-60000": "input_policy size height must lie in [16, 4096]",
                                "export-size-0": "input_policy size height must lie in [16, 4096]",
                                "export-overlap-0.99": "overlap must lie in [0, 0.75]"})]

GOOD = Case("good-model-control", _good, {name: "ok" for name in ORDER  # (Mean Teacher needs unlabeled images)
                                          if name not in ARGUMENT_CASES[0].runs and name != "mean-teacher-init"})
