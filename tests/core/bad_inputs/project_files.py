"""Damaged ``project.json`` files of the bad-input corpus: not JSON, wrong types, foreign versions."""

from __future__ import annotations

from pathlib import Path

from tests.core.bad_input_cases import FAIL, Case, Inputs, write_json

PROJECT_RUNS = {"check": FAIL, "check-json": FAIL, "stats": FAIL, "index": FAIL, "split": FAIL, "evaluate": FAIL,
                "finetune": FAIL, "coco-export": FAIL}


def project_case(cid: str, content, says: str = "project") -> Case:
    def build(root: Path, env) -> Inputs:
        env.good_dataset(root)
        path = root / ".toothseg" / "project.json"
        if isinstance(content, bytes):
            path.parent.mkdir(parents=True)
            path.write_bytes(content)
        elif content == "DIR":
            path.mkdir(parents=True)
        else:
            base = {"format": "toothseg-project", "version": 1}
            write_json(path, content if isinstance(content, str) else {**base, **content})
        return Inputs(data=root)

    return Case(f"project-{cid}", build, PROJECT_RUNS, says=says)


PROJECT_CASES = [
    project_case("broken-json", "{broken"),
    project_case("zero-bytes", b""),
    project_case("not-utf8", b"\xff\xfe{\x00"),
    project_case("top-level-list", "[1, 2, 3]"),
    project_case("wrong-format", {"format": "something-else"}),
    project_case("version-string", {"version": "abc"}),
    project_case("version-newer", {"version": 99}, says="newer"),
    project_case("splits-list", {"splits": [1, 2]}, says="splits"),
    project_case("splits-bad-value", {"splits": {"good0": "holdout"}}, says="splits"),
    project_case("splits-value-object", {"splits": {"good0": {"x": 1}}}, says="splits"),
    project_case("status-list", {"status": ["labeled"]}, says="status"),
    project_case("status-bad-value", {"status": {"good0": 5}}, says="status"),
    project_case("classes-string", {"classes": "teeth"}, says="classes"),
    project_case("classes-ints", {"classes": [1, 2]}, says="classes"),
    project_case("classes-bad-value", {"classes": [{"value": 300, "name": "x", "color": "#ff0000"}]}, says="classes"),
    project_case("classes-bad-colour", {"classes": [{"value": 1, "name": "x", "color": 12}]}, says="classes"),
    project_case("models-dict", {"models": {"a": 1}}, says="models"),
    project_case("models-unknown-key", {"models": [{"name": "m", "path": "p", "mode": "f", "created": "",
                                                    "evil": 1}]}, says="models"),
    project_case("active-model-object", {"active_model": {"x": 1}}, says="active_model"),
    project_case("split-seed-string", {"split_seed": "seven"}, says="split_seed"),
    project_case("extra-list", {"extra": [1]}, says="extra"),
    project_case("deep-nesting", '{"format": "toothseg-project", "version": 1, "extra": ' + "[" * 100000
                 + "]" * 100000 + "}"),
    project_case("is-a-folder", "DIR"),
]
