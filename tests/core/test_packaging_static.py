"""The installer files read without building anything (issue 22): what Windows and macOS would trip on.

The spec's Info.plist dict is evaluated from its source for both variants and merged the way
PyInstaller's BUNDLE merges it; the workflow is parsed as YAML; the Inno Setup script's preprocessor
branches are followed for both variants; make_dmg.sh runs on Linux against stand-in macOS tools.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import plistlib
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
SPEC = PACKAGING / "toothseg.spec"
WORKFLOW = REPO / ".github" / "workflows" / "build.yml"
ISS = PACKAGING / "windows" / "toothseg.iss"
MAKE_DMG = PACKAGING / "macos" / "make_dmg.sh"
SPEC_NAMES = ("GUI_NAME", "CLI_NAME", "APP_NAME", "BUNDLE_ID", "MACOS_MINIMUM", "INFO_PLIST")
RETIRED_MACOS = {11, 12, 13, 14}  # hosted runner images GitHub has retired (macos-14: 2 November 2026)


# ---------------------------------------------------------------- helpers
def spec_values(slim: bool) -> dict[str, Any]:
    """The spec's top-level constants (names above) as PyInstaller would see them for one variant."""
    env: dict[str, Any] = {"SLIM": slim, "VARIANT": "slim" if slim else "full"}
    for node in ast.parse(SPEC.read_text()).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in SPEC_NAMES):
            code = compile(ast.Expression(node.value), str(SPEC), "eval")
            env[node.targets[0].id] = eval(code, {"__builtins__": {}}, env)  # noqa: S307 - our own spec
    missing = set(SPEC_NAMES) - set(env)
    assert not missing, f"the spec no longer defines {missing}"
    return env


def built_info_plist(slim: bool) -> dict[str, Any]:
    """PyInstaller 6's BUNDLE: defaults (LSBackgroundOnly=True when console is inherited as True, as it is
    from our COLLECT whose last program is the console CLI), then the spec's info_plist on top."""
    values = spec_values(slim)
    plist: dict[str, Any] = {"CFBundleDisplayName": values["APP_NAME"], "CFBundleName": values["APP_NAME"],
                             "CFBundleIdentifier": values["BUNDLE_ID"], "LSBackgroundOnly": True}
    plist.update(values["INFO_PLIST"])
    return plist


def spec_calls(name: str) -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(SPEC.read_text()))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name]


def keyword(call: ast.Call, name: str) -> ast.expr:
    found = [k.value for k in call.keywords if k.arg == name]
    assert found, f"{ast.unparse(call.func)}() has no {name}="
    return found[0]


def workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as a boolean
    return data


def iss_defines(variant: str) -> tuple[dict[str, str], list[str]]:
    """Follow the script's #if/#else/#endif for one variant: (defines, the lines that remain)."""
    defines = {"Variant": variant}
    kept: list[str] = []
    stack: list[bool] = []
    for raw in ISS.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#if "):
            m = re.fullmatch(r'#if (\w+) == "([^"]*)"', line)
            assert m, f"cannot read {line!r}"
            stack.append(defines.get(m.group(1)) == m.group(2))
        elif line == "#else":
            stack[-1] = not stack[-1]
        elif line == "#endif":
            stack.pop()
        elif all(stack):
            if line.startswith("#ifndef"):
                stack.append(line.split()[1] not in defines)
                continue
            m = re.fullmatch(r'#define (\w+) "(.*)"', line)
            if m:
                defines[m.group(1)] = m.group(2)
            elif not line.startswith("#"):
                kept.append(line)
    assert not stack
    return defines, kept


def iss_section(lines: list[str], name: str) -> list[str]:
    out, inside = [], False
    for line in lines:
        if line.startswith("[") and line.endswith("]"):
            inside = line == f"[{name}]"
        elif inside and line and not line.startswith(";"):
            out.append(line)
    return out


def load_build():
    spec = importlib.util.spec_from_file_location("toothseg_build_static", PACKAGING / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- item 2: current macOS runners
def test_macos_jobs_ask_for_a_current_runner_image():
    matrix = workflow()["jobs"]["bundle"]["strategy"]["matrix"]["os"]
    macs = [label for label in matrix if label.startswith("macos")]
    assert macs, "no macOS job left"
    for label in macs:
        m = re.fullmatch(r"macos-(\d+)(-\w+)?|macos-latest(-\w+)?", label)
        assert m, label
        assert m.group(1) is None or int(m.group(1)) not in RETIRED_MACOS, f"{label} is retired"
    assert not any("intel" in label or "large" in label for label in macs), "Intel is not built (no torch wheel)"


# ---------------------------------------------------------------- items 3, 4, 11: the Info.plist
@pytest.mark.parametrize("slim, name", [(False, "ToothSeg Studio"), (True, "ToothSeg Viewer")])
def test_info_plist_shows_a_dock_icon_requires_macos_14_and_names_the_variant(slim, name):
    plist = built_info_plist(slim)
    assert plist["LSBackgroundOnly"] is False, "BUNDLE inherits console=True from the CLI twin: say False"
    assert plist["LSMinimumSystemVersion"] == "14.0"
    assert plist["CFBundleName"] == name and plist["CFBundleDisplayName"] == name
    assert plist["CFBundleIdentifier"] == ("org.toothseg.viewer" if slim else "org.toothseg.studio")
    assert plistlib.loads(plistlib.dumps(plist)) == plist  # everything in it is plist-serialisable


def test_bundle_uses_the_info_plist_and_the_windowed_program():
    (bundle,) = spec_calls("BUNDLE")
    assert ast.unparse(keyword(bundle, "info_plist")) == "INFO_PLIST"
    assert ast.unparse(keyword(bundle, "name")) == "f'{APP_NAME}.app'"
    (collect,) = spec_calls("COLLECT")
    assert ast.unparse(collect.args[0]) == "gui", "BUNDLE runs the first program of COLLECT: the GUI"
    exes = {ast.unparse(keyword(c, "name")): c for c in spec_calls("EXE")}
    assert ast.literal_eval(keyword(exes["GUI_NAME"], "console")) is False
    assert ast.literal_eval(keyword(exes["CLI_NAME"], "console")) is True


# ---------------------------------------------------------------- item 6: Finder's open-document event
def test_toothseg_documents_reach_the_app_as_open_events():
    for slim in (False, True):
        plist = built_info_plist(slim)
        (doc_type,) = plist["CFBundleDocumentTypes"]
        assert doc_type["CFBundleTypeExtensions"] == ["toothseg"]
        assert doc_type["LSItemContentTypes"] == [plist["UTExportedTypeDeclarations"][0]["UTTypeIdentifier"]]
    exes = {ast.unparse(keyword(c, "name")): c for c in spec_calls("EXE")}
    assert ast.literal_eval(keyword(exes["GUI_NAME"], "argv_emulation")) is False
    main = ast.parse((REPO / "app" / "main.py").read_text())
    (main_fn,) = [n for n in main.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    calls = [ast.unparse(n.func) for n in ast.walk(main_fn) if isinstance(n, ast.Call)]
    assert "install_file_open" in calls, "app.main must route QFileOpenEvent to the window"


# ---------------------------------------------------------------- item 8: one association per variant
def test_full_and_viewer_register_separate_associations():
    full, full_lines = iss_defines("full")
    slim, slim_lines = iss_defines("slim")
    assert full["ProgId"] != slim["ProgId"] and full["AppGuid"] != slim["AppGuid"]
    assert full["AppName"] == "ToothSeg Studio" and slim["AppName"] == "ToothSeg Viewer"
    for lines in (full_lines, slim_lines):
        registry = iss_section(lines, "Registry")
        assert registry, "no [Registry] section"
        for entry in registry:
            key = re.search(r'Subkey: "([^"]+)"', entry).group(1)
            assert "Applications\\" not in key, "Applications\\<exe> is shared by both (same exe name)"
            deletes = re.search(r"Flags: .*uninsdelete(key|value)", entry)
            if key.endswith(".toothseg\\OpenWithProgids"):
                assert 'ValueName: "{#ProgId}"' in entry and deletes.group(1) == "value"
            elif deletes:
                assert "{#ProgId}" in key and deletes.group(1) == "key", f"uninstall deletes a shared key: {entry}"
            else:
                assert "{#ProgId}" in key, f"a key outside this variant's ProgId: {entry}"


# ---------------------------------------------------------------- item 7: the finish page
def test_installer_finish_page_explains_the_first_start():
    _, lines = iss_defines("full")
    messages = {m.split("=", 1)[0]: m.split("=", 1)[1] for m in iss_section(lines, "Messages")}
    for key in ("FinishedLabel", "FinishedLabelNoIcons"):
        assert "More info" in messages[key] and "Run anyway" in messages[key] and "[name]" in messages[key]


# ---------------------------------------------------------------- item 10: Inno Setup found, package pinned
def test_inno_setup_package_is_pinned_and_iscc_is_not_hard_coded():
    steps = workflow()["jobs"]["bundle"]["steps"]
    (inno,) = [s for s in steps if s.get("name") == "Install Inno Setup"]
    assert re.search(r"choco install innosetup --version=6\.\d+\.\d+", inno["run"])
    assert "--find-iscc" in inno["run"]
    for path in (WORKFLOW, PACKAGING / "build.py"):
        assert "Inno Setup 6\\ISCC.exe" not in path.read_text() and "Inno Setup 6\\\\ISCC.exe" not in path.read_text()


def _fake_iscc(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "ISCC.exe").write_bytes(b"MZ")
    return folder / "ISCC.exe"


def test_build_finds_iscc_wherever_inno_setup_installed_it(tmp_path):
    build = load_build()
    empty_path = str(tmp_path / "bin")
    env = {"PATH": empty_path, "ProgramFiles(x86)": str(tmp_path / "pf86"), "ProgramFiles": str(tmp_path / "pf"),
           "LOCALAPPDATA": str(tmp_path / "local")}
    with pytest.raises(FileNotFoundError, match="ISCC.exe not found.*install Inno Setup 6"):
        build.find_iscc(env)
    per_user = _fake_iscc(tmp_path / "local" / "Programs" / "Inno Setup 7")  # a per-user Inno Setup 7
    assert build.find_iscc(env) == per_user
    six = _fake_iscc(tmp_path / "pf86" / "Inno Setup 6")
    assert build.find_iscc(env) == six, "the version the script is written for comes first"
    explicit = _fake_iscc(tmp_path / "elsewhere")
    assert build.find_iscc(dict(env, ISCC=str(explicit))) == explicit
    done = subprocess.run([sys.executable, str(PACKAGING / "build.py"), "--find-iscc"], capture_output=True,
                          text=True, env=dict(os.environ, **env), timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == str(six)


# ---------------------------------------------------------------- item 11: PRs, releases, retention
def test_pull_requests_build_whatever_goes_into_a_bundle():
    paths = workflow()["on"]["pull_request"]["paths"]
    for needed in ("app/**", "core/**", "training/**", "resources/**", "packaging/**", "pyproject.toml",
                   ".github/workflows/build.yml"):
        assert needed in paths


def test_tag_builds_make_a_release_and_keep_their_artifacts_longer():
    flow = workflow()
    assert flow["on"]["push"]["tags"] == ["v*"]
    (upload,) = [s for s in flow["jobs"]["bundle"]["steps"] if str(s.get("uses", "")).startswith("actions/upload")]
    retention = str(upload["with"]["retention-days"])
    m = re.fullmatch(r"\$\{\{ startsWith\(github\.ref, 'refs/tags/v'\) && (\d+) \|\| (\d+) \}\}", retention)
    assert m and int(m.group(1)) >= 90 > int(m.group(2))
    release = flow["jobs"]["release"]
    assert release["needs"] == "bundle" and "refs/tags/v" in release["if"]
    assert release["permissions"] == {"contents": "write"} and flow["permissions"] == {"contents": "read"}
    run = "\n".join(s.get("run", "") for s in release["steps"])
    assert "gh release create" in run and "Setup.exe" in run and ".dmg" in run and "Open Anyway" in run


# ---------------------------------------------------------------- item 9: DMG retry (run on Linux)
STAND_IN = {
    # hdiutil: `create` fails with the runner's error while $BUSY_FILE still holds a count above zero
    "hdiutil": """#!/usr/bin/env bash
echo "$*" >> "$CALLS"
if [ "$1" = create ]; then
  left=$(cat "$BUSY_FILE")
  if [ "$left" -gt 0 ]; then echo $((left - 1)) > "$BUSY_FILE"; echo "hdiutil: create failed - ${FAIL_TEXT}" >&2; exit 1; fi
  touch "${@: -1}"
fi
""",
    "codesign": "#!/usr/bin/env bash\nexit 0\n",
    # PlistBuddy -c "Print :A:0:B" FILE, with plistlib
    "PlistBuddy": """#!/usr/bin/env python3
import plistlib, sys
value = plistlib.load(open(sys.argv[3], "rb"))
for part in sys.argv[2].split(":", 1)[1].split(":"):
    value = value[int(part)] if isinstance(value, list) else value[part]
print(str(value).lower() if isinstance(value, bool) else value)
""",
}


def run_make_dmg(tmp_path: Path, plist: dict[str, Any], busy: int, fail_text: str = "Resource busy",
                 variant: str = "full") -> tuple[subprocess.CompletedProcess, list[str]]:
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    for name, text in STAND_IN.items():
        (tools / name).write_text(text)
        (tools / name).chmod(stat.S_IRWXU)
    app = tmp_path / "dist" / variant / f"{plist['CFBundleName']}.app" / "Contents"
    app.mkdir(parents=True, exist_ok=True)
    (app / "Info.plist").write_bytes(plistlib.dumps(plist))
    (tmp_path / "busy").write_text(str(busy))
    calls = tmp_path / "calls"
    calls.write_text("")
    env = dict(os.environ, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}", CALLS=str(calls),
               BUSY_FILE=str(tmp_path / "busy"), FAIL_TEXT=fail_text, PLISTBUDDY=str(tools / "PlistBuddy"),
               TOOTHSEG_DIST=str(tmp_path / "dist"), TOOTHSEG_BUILD=str(tmp_path / "build"),
               DMG_RETRY_SECONDS="0")
    done = subprocess.run(["bash", str(MAKE_DMG), variant, "9.9.9"], capture_output=True, text=True, env=env,
                          timeout=60)
    return done, calls.read_text().splitlines()


needs_bash = pytest.mark.skipif(shutil.which("bash") is None or sys.platform == "win32", reason="needs bash")


@needs_bash
def test_dmg_creation_retries_resource_busy(tmp_path):
    done, calls = run_make_dmg(tmp_path, built_info_plist(False), busy=2)
    assert done.returncode == 0, done.stderr
    assert [c.split()[0] for c in calls] == ["create", "create", "create", "verify"]
    assert "Resource busy, retrying" in done.stderr
    assert done.stdout.strip().endswith("ToothSegStudio-9.9.9-full.dmg")
    assert (tmp_path / "dist" / "ToothSegStudio-9.9.9-full.dmg").exists()


@needs_bash
def test_dmg_creation_gives_up_on_other_errors_and_after_five_busy_attempts(tmp_path):
    done, calls = run_make_dmg(tmp_path, built_info_plist(True), busy=1, fail_text="No space left on device",
                               variant="slim")
    assert done.returncode != 0 and [c.split()[0] for c in calls] == ["create"]
    done, calls = run_make_dmg(tmp_path, built_info_plist(True), busy=9, variant="slim")
    assert done.returncode != 0 and [c.split()[0] for c in calls] == ["create"] * 5
    assert "failed (attempt 5 of 5)" in done.stderr


@needs_bash
def test_dmg_script_refuses_an_app_without_dock_icon(tmp_path):
    plist = dict(built_info_plist(False), LSBackgroundOnly=True)  # what the spec produced before
    done, calls = run_make_dmg(tmp_path, plist, busy=0)
    assert done.returncode != 0 and calls == []
    assert "LSBackgroundOnly must be false" in done.stderr


# ---------------------------------------------------------------- items 5, 7: the docs
def test_docs_state_intel_macs_and_the_first_launch_steps():
    docs = (REPO / "docs" / "packaging.md").read_text()
    assert "## First launch" in docs
    for words in ("More info", "Run anyway", "System Settings", "Privacy & Security", "Open Anyway",
                  "Intel", "macOS 14"):
        assert words in docs, words
    assert "right-click > Open, elsewhere" not in MAKE_DMG.read_text()
    readme = (REPO / "README.md").read_text()
    two_commands = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    assert "docs/packaging.md#first-launch" in two_commands
