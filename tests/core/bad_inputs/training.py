"""Bad training data and bad runs to resume of the bad-input corpus: training stops before its first step
and names the file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tests.core.bad_input_cases import FAIL, REPORT, Case, Inputs, write_json
from tests.core.bad_inputs.images import float_img, tiff

TRAIN_RUNS = {"check": REPORT, "finetune": FAIL}


def train_case(cid: str, image: tuple[str, object] | None = None, mask: tuple[str, object] | None = None,
               says: str = "bad.") -> Case:
    """Nine good pairs and one bad sample (``(name, make(env))`` for its image and/or mask): training
    must stop before its first step and name the file, not train on what it could read."""

    def build(root: Path, env) -> Inputs:
        env.good_dataset(root, 9)  # ten samples: the seeded split has a validation image
        img_name, make_img = image or ("bad.png", None)
        mask_name, make_mask = mask or ("bad.png", None)
        env.paired(root, img_name, make_img(env) if make_img else None, mask_name,
                   make_mask(env) if make_mask else None)
        return Inputs(data=root)

    return Case(f"train-{cid}", build, TRAIN_RUNS, says=says)


def _pickle_bomb(marker: Path) -> bytes:
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    return pickle.dumps({"epoch": 1, "model": Evil()})


def resume_case(cid: str, sidecar, state: bytes | None, says: str) -> Case:
    """A RUN_DIR inside the input whose ``last.json`` (``sidecar(env, run)``) or ``last_state.pt`` is bad."""

    def build(root: Path, env) -> Inputs:
        data = env.good_dataset(root / "data", 3)
        run = root / "run"
        run.mkdir()
        if sidecar is not None:
            sidecar(env, run)
        if state is not None:
            (run / "last_state.pt").write_bytes(state if state != b"PICKLE" else _pickle_bomb(root / "PWNED"))
        return Inputs(data=data, run=run)

    return Case(f"resume-{cid}", build, {"finetune-resume": FAIL}, says=says)


def _good_last(env, run: Path) -> None:
    env.copy_checkpoint(run / "last")


TRAIN_CASES = [
    train_case("truncated-image", image=("bad.png", lambda e: e.png()[:300])),
    train_case("nan-tiff-image", image=("bad.tif", lambda e: tiff(float_img(e, np.nan))), says="nan"),
    train_case("zero-byte-mask", mask=("bad.png", lambda e: b"")),
    train_case("wrong-size-mask", mask=("bad.png", lambda e: e.mask_png(e.mask[:100, :120])), says="120x100"),
    train_case("dicom-garbage", image=("bad.dcm", lambda e: os.urandom(600))),
    resume_case("nothing-to-resume", None, None, "not found"),
    resume_case("sidecar-not-json", lambda e, r: (r / "last.json").write_text("{nope"), b"x", "last.json"),
    resume_case("sidecar-foreign", lambda e, r: write_json(r / "last.json", {"recipe": 5}), b"x", "last.json"),
    resume_case("state-garbage", _good_last, os.urandom(300), "last_state.pt"),
    resume_case("state-crafted-pickle", _good_last, b"PICKLE", "last_state.pt"),
]
