"""The direction of dependencies (ARCHITECTURE.md, ADR 0001): core/ and training/ never import Qt or app/;
core/infer and core/train never import the exporter; app/ adds no private attribute use across files."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("PySide6", "pyqtgraph", "PyQt5", "PyQt6", "app")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_core_and_training_never_import_qt_or_app():
    offenders = []
    for package in ("core", "training"):
        for path in (REPO / package).rglob("*.py"):
            for name in _imports(path):
                if name.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert offenders == []


def test_the_check_itself_catches_a_qt_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from PySide6 import QtWidgets\nimport app.main\n")
    assert [n.split(".")[0] for n in _imports(bad)] == ["PySide6", "app"]


# core package -> core packages it must not import (ADR 0001's map of the house; lazy imports count).
LOWER_NEVER_IMPORTS = {
    "data": ("annotation", "models", "infer", "train", "export", "hitl", "interop", "prompt"),
    "annotation": ("models", "infer", "train", "export", "hitl"),
    "models": ("infer", "train", "export", "hitl"),
    "infer": ("train", "export", "hitl"),
    "train": ("export", "hitl"),
    "export": ("train", "hitl"),
}


def test_core_layers_import_only_downwards():
    offenders = [f"{path.relative_to(REPO)} imports {name}"
                 for package, banned in LOWER_NEVER_IMPORTS.items()
                 for path in (REPO / "core" / package).rglob("*.py")
                 for name in _imports(path)
                 if name.split(".")[0] == "core" and len(name.split(".")) > 1 and name.split(".")[1] in banned]
    assert offenders == []


def test_infer_and_train_never_import_the_exporter():
    """The inference description lives in core.models.describe, below infer, train and export; running
    or training a model never needs the exporter (issue 21). Lazy imports inside functions count too."""
    offenders = [f"{path.relative_to(REPO)} imports {name}"
                 for package in ("core/infer", "core/train")
                 for path in (REPO / package).rglob("*.py")
                 for name in _imports(path)
                 if name == "core.export" or name.startswith("core.export.")]
    assert offenders == []


def _private_uses(path: Path) -> list[str]:
    """``obj._name`` where ``obj`` is not ``self``/``cls`` and this file never defines ``_name``: a private
    attribute of something defined in another file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    own = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            own.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
    return sorted({node.attr for node in ast.walk(tree)
                   if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                   and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                   and node.attr not in own})


# Private attributes app/ reaches across files (issue 21 item 1): none left; keep it that way.
KNOWN_PRIVATE_USES: set[tuple[str, str]] = set()


def test_app_uses_no_new_private_attributes_across_files():
    found = {(path.relative_to(REPO).as_posix(), name)
             for path in (REPO / "app").rglob("*.py") for name in _private_uses(path)}
    assert found <= KNOWN_PRIVATE_USES, sorted(found - KNOWN_PRIVATE_USES)


WINDOW_NAMES = ("window", "w", "win")   # how app/ code names a main window it was handed


def _window_searches(path: Path) -> list[int]:
    """Lines where ``getattr``/``hasattr`` looks something up on a window (``window``, ``w``, ``self.w``):
    what a part needs from the window is passed to it explicitly instead (issue 21)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def is_window(node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in WINDOW_NAMES
        return (isinstance(node, ast.Attribute) and node.attr in WINDOW_NAMES and isinstance(node.value, ast.Name)
                and node.value.id == "self")

    return sorted(node.lineno for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "hasattr") and node.args and is_window(node.args[0]))


def test_app_never_searches_the_window_with_getattr():
    found = [f"{path.relative_to(REPO).as_posix()}:{line}"
             for path in (REPO / "app").rglob("*.py") for line in _window_searches(path)]
    assert found == []


def test_the_checks_catch_an_exporter_import_and_a_private_use(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(canvas):\n    from core.export.metadata import to_props\n    return canvas._raw, to_props\n"
                   "class A:\n    def g(self):\n        return self._mine, self.other._theirs\n")
    assert "core.export.metadata" in _imports(bad)
    assert _private_uses(bad) == ["_raw", "_theirs"]
    searching = tmp_path / "search.py"
    searching.write_text("def f(window):\n    return getattr(window, 'hitl', None)\n"
                         "class B:\n    def g(self):\n        return hasattr(self.w, 'layers'), getattr(self, 'mine', 1)\n")
    assert _window_searches(searching) == [2, 5]
