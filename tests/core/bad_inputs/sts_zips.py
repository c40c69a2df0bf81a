"""Bad STS-2D-Tooth archives for ``import-sts`` of the bad-input corpus: truncated, encrypted, zip bombs,
path traversal, wrong md5 sums."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zipfile
from pathlib import Path

from tests.core.bad_input_cases import FAIL, Case, Inputs

ZIP_RUNS = {"import-sts": FAIL}
STS = "SD-Tooth/STS-2D-Tooth/A-PXI/Labeled"


def _sts_members(env) -> dict[str, bytes]:
    return {f"{STS}/Image/1.png": env.png(), f"{STS}/Mask/1_Mask.png": env.mask_png()}


def _zip(members: dict[str, bytes], extra: list[tuple[zipfile.ZipInfo, bytes]] = (),
         method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": the duplicate is the point
        for name, blob in members.items():
            zf.writestr(name, blob)
        for info, blob in extra:
            zf.writestr(info, blob)
    return buf.getvalue()


def _info(name: str, mode: int = 0) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _encrypted_flag(data: bytes, name: bytes) -> bytes:
    """Set the 'encrypted' bit of entry ``name`` in the central directory (zipfile cannot write one)."""
    b = bytearray(data)
    pos = b.find(b"PK\x01\x02")
    while pos != -1:
        n = struct.unpack("<H", b[pos + 28:pos + 30])[0]
        if b[pos + 46:pos + 46 + n] == name:
            b[pos + 8] |= 1
        pos = b.find(b"PK\x01\x02", pos + 4)
    return bytes(b)


def _declared_size(data: bytes, size: int) -> bytes:
    """The zip with every central-directory entry claiming ``size`` uncompressed bytes (a lying header)."""
    b = bytearray(data)
    pos = b.find(b"PK\x01\x02")
    while pos != -1:
        b[pos + 24:pos + 28] = struct.pack("<I", min(size, 0xFFFFFFFE))
        pos = b.find(b"PK\x01\x02", pos + 4)
    return bytes(b)


def zip_case(cid: str, make, says: str, parts: dict[str, int] | None = None, runs: dict | None = None) -> Case:
    """A parts folder holding ``make(env)`` split into ``SD-Tooth.zip.NNN`` (``parts``: name -> share)."""

    def build(root: Path, env) -> Inputs:
        data = make(env)
        folder = root / "parts"
        folder.mkdir()
        names = parts or {"SD-Tooth.zip.001": 1}
        cut = 0
        for k, (name, share) in enumerate(names.items()):
            end = len(data) if k == len(names) - 1 else cut + len(data) * share // sum(names.values())
            (folder / name).write_bytes(data[cut:end])
            cut = end
        return Inputs(parts=folder)

    return Case(f"zip-{cid}", build, runs or ZIP_RUNS, says=says)


def _bomb(env) -> bytes:
    """A real bomb: 40 MiB of zeros deflate to ~40 KB (1000:1), beside a valid tree."""
    return _zip(_sts_members(env), [(_info(f"{STS}/Image/zeros.bmp"), bytes(40 << 20))])


def _many_small(env) -> bytes:
    """Overall ratio: 80 entries of 1 MiB zeros each (every entry under the per-entry floor)."""
    return _zip(_sts_members(env), [(_info(f"{STS}/pad/{k}.raw"), bytes(1 << 20)) for k in range(80)])


ZIP_CASES = [
    zip_case("not-a-zip", lambda e: os.urandom(3000), "not a readable zip"),
    zip_case("truncated", lambda e: _zip(_sts_members(e))[:-200], "not a readable zip"),
    zip_case("empty-zip", lambda e: _zip({}), "sts-2d-tooth tree"),
    zip_case("wrong-tree", lambda e: _zip({"photos/cat.png": e.png()}), "sts-2d-tooth tree"),
    zip_case("traversal", lambda e: _zip(_sts_members(e), [(_info("../evil.txt"), b"x")]), "'..'"),
    zip_case("nested-traversal", lambda e: _zip(_sts_members(e), [(_info("SD-Tooth/a/../../../evil.txt"), b"x")]),
             "'..'"),
    zip_case("absolute", lambda e: _zip(_sts_members(e), [(_info("/tmp/toothseg-evil.txt"), b"x")]), "absolute"),
    zip_case("drive-letter", lambda e: _zip(_sts_members(e), [(_info("C:/evil.txt"), b"x")]), "drive"),
    zip_case("symlink-entry", lambda e: _zip(_sts_members(e), [(_info("SD-Tooth/link", 0o120777), b"/etc")]),
             "symbolic link"),
    zip_case("encrypted-entry", lambda e: _encrypted_flag(_zip(_sts_members(e), [(_info("SD-Tooth/x.txt"), b"x")]),
                                                          b"SD-Tooth/x.txt"), "encrypted"),
    zip_case("backslash-traversal", lambda e: _zip(_sts_members(e), [(_info("SD-Tooth\\..\\..\\evil.txt"), b"x")]),
             "'..'"),
    zip_case("duplicate-entry", lambda e: _zip(_sts_members(e), [(_info(f"{STS}/Image/1.png"), e.png())]),
             "appears twice"),
    zip_case("bomb-entry", _bomb, "decompression bomb"),
    zip_case("bomb-overall", _many_small, "decompression bomb"),
    zip_case("lying-size-header", lambda e: _declared_size(_zip(_sts_members(e)), 3 << 30), "bomb"),
    zip_case("split-missing-first", lambda e: _zip(_sts_members(e)), "missing part",
             parts={"SD-Tooth.zip.002": 1}),
    zip_case("split-gap", lambda e: _zip(_sts_members(e)), "missing part",
             parts={"SD-Tooth.zip.001": 1, "SD-Tooth.zip.003": 1}),
    zip_case("split-swapped", lambda e: _zip(_sts_members(e), [(_info("SD-Tooth/pad.bin"), os.urandom(4000))],
                                            zipfile.ZIP_STORED)[::-1], "not a readable zip",
             parts={"SD-Tooth.zip.001": 1, "SD-Tooth.zip.002": 1}),
    zip_case("no-parts", lambda e: b"", "no split-zip parts", parts={"notes.txt": 1}),
    zip_case("bad-md5", lambda e: _zip(_sts_members(e)), "md5", runs={"import-sts-verify": FAIL}),
]


def _sums(case: Case, text: str) -> Case:
    build = case.build

    def with_sums(root: Path, env) -> Inputs:
        inputs = build(root, env)
        (inputs.parts / "md5sums.txt").write_text(text)
        return inputs

    case.build = with_sums
    return case


ZIP_CASES[-1] = _sums(ZIP_CASES[-1], "0123456789abcdef0123456789abcdef  SD-Tooth.zip.001\n")
ZIP_CASES.append(_sums(zip_case("md5-file-garbage", lambda e: _zip(_sts_members(e)), "no md5 sum",
                                runs={"import-sts-verify": FAIL}), "this is not a sums file\n\x00\xff"))
