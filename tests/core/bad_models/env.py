"""What every bad-model case is built from: a real tiny training run and its ONNX export (``model_env``),
the model commands the cases run through (``ORDER``) and which of them each kind of case must fail."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.core.bad_input_cases import FAIL, CorpusEnv, Inputs, register_command


@dataclass
class ModelEnv(CorpusEnv):
    """The harness's environment plus a real finished training run (checkpoints, last_state.pt), the
    distinct real images it was trained on, and its ONNX export (``checkpoint`` / ``onnx`` are those)."""

    run: Path = Path()
    data: Path = Path()

    def copy_run(self, dest: Path) -> Path:
        shutil.copytree(self.run, dest)
        return dest

    def copy_data(self, dest: Path) -> Path:
        shutil.copytree(self.data, dest)
        return dest


@pytest.fixture(scope="session")
def model_env(shared_data, tmp_path_factory) -> ModelEnv:
    """A 2-step finetune run (U-Net, 4 base channels, 32 px) on 10 real thyroid frames, and its export."""
    import torch

    from core.export.onnx import export_onnx
    from core.train.loop import run_training
    from tests.core.test_train_support import make_subset, tiny

    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("bad_models")
    data = make_subset(shared_data / "tg3k_thyroid", base / "data", 10)
    run = base / "run"
    run_training(tiny("finetune", size=32, max_steps=2, epochs=1, batch_size=2), data, run)
    onnx = base / "model.onnx"
    export_onnx(run / "best.json", onnx, images=str(data / "images"), max_images=1)
    return ModelEnv(shared_data, run / "last.json", onnx, run=run, data=data)


# ----------------------------------------------------------------------------------------- commands

RESUME_FLAGS = ["--epochs", "2", "--max-steps", "3", "--threads", "1", "--device", "cpu"]
register_command("predict-ckpt", lambda i, e, o: ["predict", "--model", str(i.checkpoint), "--input",
                                                   str(Path(i.data) / "images"), "--out", str(o / "pred")])
register_command("evaluate-onnx", lambda i, e, o: ["evaluate", "--model", str(i.onnx or e.onnx), "--data",
                                                    str(i.data), "--split", "all"])
register_command("finetune-resume-ckpt", lambda i, e, o: ["finetune", "--data", str(i.data), "--out",
                                                      str(Path(i.checkpoint).parent), "--resume", *RESUME_FLAGS])
ORDER = ("predict-ckpt", "predict", "evaluate", "evaluate-onnx", "export", "finetune-init", "finetune-resume-ckpt")
CHECKPOINT_RUNS = {"predict-ckpt": FAIL, "evaluate": FAIL, "export": FAIL, "finetune-init": FAIL,
                   "finetune-resume-ckpt": FAIL}
STATE_RUNS = {"finetune-resume-ckpt": FAIL}
ONNX_RUNS = {"predict": FAIL, "evaluate-onnx": FAIL}


def copied_inputs(root: Path, env: ModelEnv, run: Path, onnx: Path | None = None) -> Inputs:
    return Inputs(data=env.copy_data(root / "data"), checkpoint=run / "last.json", onnx=onnx)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rehash(run: Path) -> None:
    """Make the sidecar's checksum match the (broken) weights, so the check after it is what refuses."""
    side = run / "last.json"
    meta = json.loads(side.read_text())
    meta["weights_sha256"] = _sha(run / "last.safetensors")
    side.write_text(json.dumps(meta))
