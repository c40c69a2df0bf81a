"""STS-2D-Tooth import end to end against a local HTTP server (127.0.0.1 only) serving a fake record
and a small split zip built from real ufba425 panoramics laid out like the published tree."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import zipfile
from pathlib import Path

import pytest

from core.data.layouts import load_index
from core.data.sts_import import download_folder, import_sts
from core.errors import CancelledError, ImportArchiveError
from core.jobs import CancelToken
from tests.core.sts_server import StsServer
from training.cli import main as cli_main

TREE = "SD-Tooth/STS-2D-Tooth"
# (age folder, label folder, with mask?) -> how many ufba images go there
GROUPS = [("A-PXI", "Labeled", True, 2), ("A-PXI", "Unlabeled", False, 1),
          ("C-PXI", "Labeled", True, 1), ("C-PXI", "Unlabeled", False, 1)]
N_PARTS = 4


@pytest.fixture(scope="module")
def archive(shared_data, tmp_path_factory) -> dict:
    """The split zip (bytes per part), its members, and the expected counts."""
    ufba = shared_data / "ufba425_teeth"
    stems = sorted(p.stem for p in (ufba / "images").glob("*.jpg"))[:sum(g[3] for g in GROUPS)]
    members: dict[str, bytes] = {}
    it = iter(stems)
    for age, label, masked, count in GROUPS:
        for _ in range(count):
            stem = next(it)
            pid = f"{age[0]}_{label[0]}_{stem}"
            members[f"{TREE}/{age}/{label}/Image/{pid}.jpg"] = (ufba / "images" / f"{stem}.jpg").read_bytes()
            if masked:
                members[f"{TREE}/{age}/{label}/Mask/{pid}.png"] = (ufba / "masks" / f"{stem}.png").read_bytes()
    data = _zip_bytes(members)
    step = -(-len(data) // N_PARTS)
    parts = {f"SD-Tooth.zip.{i + 1:03d}": data[i * step:(i + 1) * step] for i in range(N_PARTS)}
    return {"parts": parts, "members": members, "images": 5, "labeled": 3, "unlabeled": 2}


def _zip_bytes(members: dict[str, bytes], evil: list[zipfile.ZipInfo] | None = None) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
        for info in evil or []:
            zf.writestr(info, b"evil payload")
    return buf.getvalue()


@pytest.fixture
def server(archive):
    srv = StsServer(archive["parts"])
    yield srv
    srv.close()


@pytest.fixture
def dead_url() -> str:
    """An address on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/record.json"


def _write_parts(folder: Path, parts: dict[str, bytes], sums: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, blob in parts.items():
        (folder / name).write_bytes(blob)
    if sums:
        lines = [f"{hashlib.md5(blob).hexdigest()}  {name}" for name, blob in parts.items()]
        (folder / "md5sums.txt").write_text("\n".join(lines) + "\n")
    return folder


def _assert_imported(summary: dict, dest: Path, archive: dict, verified: bool = True) -> None:
    assert summary["layout"] == "sts2d" and summary["dest"] == str(dest)
    assert (summary["images"], summary["labeled"], summary["unlabeled"]) == (
        archive["images"], archive["labeled"], archive["unlabeled"])
    assert summary["verified"] is verified
    assert summary["groups"] == {"adult/labeled": 2, "adult/unlabeled": 1,
                                 "children/labeled": 1, "children/unlabeled": 1}
    index = load_index(dest)
    assert index.layout == "sts2d"
    for sample in index:
        rel = sample.image.relative_to(dest).as_posix()
        assert sample.image.read_bytes() == archive["members"][rel]
        if sample.mask is not None:
            assert sample.mask.stem == sample.image.stem  # paired by pair id
    umask = os.umask(0o22)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o777 & ~umask  # not a 0700 temp folder
    leftovers = [p.name for p in dest.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no temp extraction folder, download cache removed


def test_download_verify_extract_index(server, archive, tmp_path):
    calls: list[tuple[int, int, str]] = []
    dest = tmp_path / "sts"
    summary = import_sts(dest, record_url=f"{server.url}/record.json", progress=lambda *a: calls.append(a))
    _assert_imported(summary, dest, archive)
    total = sum(len(b) for b in archive["parts"].values())
    downloads = [c for c in calls if c[2].startswith("SD-Tooth.zip.")]
    assert downloads[-1][:2] == (total, total)
    assert any(c[2] == "verifying SD-Tooth.zip.004" and c[0] == c[1] == total for c in calls)
    extracting = [c for c in calls if c[2] == "extracting"]
    assert extracting and extracting[-1][0] == extracting[-1][1] > 0
    assert all(rng is None for _, rng in server.requests)  # nothing to resume


def test_interrupted_download_resumes_with_range(server, archive, tmp_path):
    cut = len(archive["parts"]["SD-Tooth.zip.002"]) // 2
    server.cut_once["SD-Tooth.zip.002"] = cut
    summary = import_sts(tmp_path / "sts", record_url=f"{server.url}/record.json")
    _assert_imported(summary, tmp_path / "sts", archive)
    assert server.range_requests("SD-Tooth.zip.002") == [f"bytes={cut}-"]


def test_cancelled_download_keeps_part_and_next_run_resumes(server, archive, tmp_path):
    dest = tmp_path / "sts"
    token = CancelToken()
    cut = len(archive["parts"]["SD-Tooth.zip.003"]) // 2
    server.cut_once["SD-Tooth.zip.003"] = cut

    def cancel_when_part3_breaks(done, total, name):
        if name == "SD-Tooth.zip.003":
            token.cancel()  # the GUI's cancel button, pressed during part 3

    with pytest.raises(CancelledError):
        import_sts(dest, record_url=f"{server.url}/record.json", progress=cancel_when_part3_breaks, cancel=token)
    cache = download_folder(dest)
    assert not dest.exists()
    assert (cache / "SD-Tooth.zip.002").is_file() and (cache / "SD-Tooth.zip.003.part").is_file()
    have = (cache / "SD-Tooth.zip.003.part").stat().st_size
    assert 0 < have <= cut
    summary = import_sts(dest, record_url=f"{server.url}/record.json")
    _assert_imported(summary, dest, archive)
    assert server.range_requests("SD-Tooth.zip.003") == [f"bytes={have}-"]
    assert sum(path.endswith("SD-Tooth.zip.001") for path, _ in server.requests) == 1  # not fetched twice


def test_corrupted_part_is_named_moved_aside_and_refetched(server, archive, tmp_path):
    bad = bytearray(archive["parts"]["SD-Tooth.zip.002"])
    bad[100] ^= 0xFF
    server.served["SD-Tooth.zip.002"] = bytes(bad)
    dest = tmp_path / "sts"
    with pytest.raises(ImportArchiveError, match=r"SD-Tooth\.zip\.002.*MD5") as err:
        import_sts(dest, record_url=f"{server.url}/record.json")
    assert "SD-Tooth.zip.001" not in str(err.value) and "\n" not in str(err.value)
    assert not dest.exists()
    cache = download_folder(dest)
    assert not (cache / "SD-Tooth.zip.002").exists() and (cache / "SD-Tooth.zip.002.corrupt").is_file()
    assert not [p for p in tmp_path.iterdir() if "extracting" in p.name]
    server.served["SD-Tooth.zip.002"] = archive["parts"]["SD-Tooth.zip.002"]  # the mirror is fixed
    _assert_imported(import_sts(dest, record_url=f"{server.url}/record.json"), dest, archive)


EVIL = [("../evil.txt", 0), ("/tmp/toothseg-evil-abs.txt", 0), ("C:/evil.txt", 0),
        ("SD-Tooth/link", 0o120777 << 16), ("SD-Tooth/a/../../../evil.txt", 0)]


@pytest.mark.parametrize(("name", "attr"), EVIL, ids=["dotdot", "absolute", "drive", "symlink", "nested-dotdot"])
def test_unsafe_entry_refuses_whole_archive(archive, tmp_path, name, attr):
    info = zipfile.ZipInfo(name)
    info.external_attr = attr
    data = _zip_bytes(archive["members"], evil=[info])  # benign members come first
    parts = _write_parts(tmp_path / "parts", {"SD-Tooth.zip.001": data[:5000], "SD-Tooth.zip.002": data[5000:]})
    work = tmp_path / "work"
    work.mkdir()
    dest = work / "sts"
    with pytest.raises(ImportArchiveError, match="nothing was extracted") as err:
        import_sts(dest, parts_dir=parts)
    assert repr(name) in str(err.value)
    assert list(work.iterdir()) == []  # nothing inside dest, no temp folder
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/toothseg-evil-abs.txt").exists()
    assert sorted(p.name for p in parts.iterdir()) == ["SD-Tooth.zip.001", "SD-Tooth.zip.002", "md5sums.txt"]


def test_parts_dir_with_sums_file(archive, tmp_path, dead_url):
    parts = _write_parts(tmp_path / "parts", archive["parts"])
    before = {p.name: p.stat().st_mtime_ns for p in parts.iterdir()}
    dest = tmp_path / "out" / "sts"
    _assert_imported(import_sts(dest, parts_dir=parts, record_url=dead_url), dest, archive)
    assert {p.name: p.stat().st_mtime_ns for p in parts.iterdir()} == before  # user's parts untouched


def test_parts_dir_sums_from_record(server, archive, tmp_path):
    parts = _write_parts(tmp_path / "parts", archive["parts"], sums=False)
    summary = import_sts(tmp_path / "sts", parts_dir=parts, record_url=f"{server.url}/record.json")
    _assert_imported(summary, tmp_path / "sts", archive)
    assert [path for path, _ in server.requests] == ["/record.json"]  # nothing downloaded


def test_parts_dir_without_sums_refuses_unless_no_verify(archive, tmp_path, dead_url):
    parts = _write_parts(tmp_path / "parts", archive["parts"], sums=False)
    dest = tmp_path / "sts"
    with pytest.raises(ImportArchiveError, match="no MD5 sums.*--no-verify"):
        import_sts(dest, parts_dir=parts, record_url=dead_url)
    assert not dest.exists()
    _assert_imported(import_sts(dest, parts_dir=parts, record_url=dead_url, verify=False), dest, archive,
                     verified=False)


def test_parts_dir_bad_sum_and_missing_part(archive, tmp_path, dead_url):
    parts = _write_parts(tmp_path / "parts", archive["parts"])
    blob = bytearray((parts / "SD-Tooth.zip.003").read_bytes())
    blob[-1] ^= 0xFF
    (parts / "SD-Tooth.zip.003").write_bytes(bytes(blob))
    with pytest.raises(ImportArchiveError, match=r"corrupt part\(s\) SD-Tooth\.zip\.003:"):
        import_sts(tmp_path / "sts", parts_dir=parts, record_url=dead_url)
    assert (parts / "SD-Tooth.zip.003").is_file()  # the user's own file is never moved
    (parts / "SD-Tooth.zip.002").unlink()
    with pytest.raises(ImportArchiveError, match=r"missing part\(s\) SD-Tooth\.zip\.002"):
        import_sts(tmp_path / "sts", parts_dir=parts, record_url=dead_url)
    assert not (tmp_path / "sts").exists()


def test_refuses_when_disk_space_is_short(server, archive, tmp_path, dead_url, monkeypatch):
    from types import SimpleNamespace

    import core.data.safe_zip as safe_zip

    parts = _write_parts(tmp_path / "parts", archive["parts"])
    monkeypatch.setattr(safe_zip.shutil, "disk_usage", lambda p: SimpleNamespace(free=1000))
    with pytest.raises(ImportArchiveError, match="not enough disk space.*nothing was extracted"):
        import_sts(tmp_path / "sts", parts_dir=parts, record_url=dead_url)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]
    with pytest.raises(ImportArchiveError, match="not enough disk space.*the download needs"):
        import_sts(tmp_path / "sts", record_url=f"{server.url}/record.json")
    assert [path for path, _ in server.requests] == ["/record.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]


def test_refuses_non_empty_destination_and_foreign_archive(archive, tmp_path, dead_url):
    parts = _write_parts(tmp_path / "parts", archive["parts"])
    dest = tmp_path / "sts"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(ImportArchiveError, match="not empty"):
        import_sts(dest, parts_dir=parts)
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    other = _write_parts(tmp_path / "other", {"SD-Tooth.zip.001": _zip_bytes({"notes/readme.txt": b"hi"})})
    with pytest.raises(ImportArchiveError, match="does not hold the STS-2D-Tooth tree"):
        import_sts(tmp_path / "sts2", parts_dir=other)
    assert not (tmp_path / "sts2").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_json_and_one_line_errors(server, archive, tmp_path, capsys):
    dest = tmp_path / "sts"
    assert cli_main(["import-sts", "--dest", str(dest), "--record-url", f"{server.url}/record.json", "--json"]) == 0
    out, _ = capsys.readouterr()
    result = json.loads(out)
    assert (result["layout"], result["images"], result["labeled"], result["verified"]) == ("sts2d", 5, 3, True)

    server.served["SD-Tooth.zip.004"] = b"x" + archive["parts"]["SD-Tooth.zip.004"][1:]
    code = cli_main(["import-sts", "--dest", str(tmp_path / "b"), "--record-url", f"{server.url}/record.json"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: corrupt part(s) SD-Tooth.zip.004")


def test_cli_parts_no_verify_says_so(archive, tmp_path, capsys, dead_url):
    parts = _write_parts(tmp_path / "parts", archive["parts"], sums=False)
    code = cli_main(["import-sts", "--dest", str(tmp_path / "sts"), "--parts", str(parts), "--no-verify",
                     "--record-url", dead_url])
    out, err = capsys.readouterr()
    assert code == 0
    assert "5 images (3 labeled, 2 unlabeled)" in out and "NOT verified" in out
    assert "nothing was verified" in err
    code = cli_main(["import-sts", "--dest", str(tmp_path / "x"), "--parts", str(tmp_path / "nope")])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "parts folder not found" in err


def test_cancel_during_extraction_leaves_nothing(archive, tmp_path, dead_url):
    parts = _write_parts(tmp_path / "parts", archive["parts"])
    token = CancelToken()

    def cancel_while_extracting(done, total, message):
        if message == "extracting":
            assert any(tmp_path.glob(".sts.extracting-*"))  # extraction really started
            token.cancel()

    with pytest.raises(CancelledError, match="nothing was kept"):
        import_sts(tmp_path / "sts", parts_dir=parts, record_url=dead_url, progress=cancel_while_extracting,
                   cancel=token)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]


def test_unrecoverable_interruption_keeps_part_for_next_run(server, archive, tmp_path, monkeypatch):
    import core.data.download as download

    monkeypatch.setattr(download, "RETRIES", 1)
    server.cut_always["SD-Tooth.zip.001"] = 3000
    dest = tmp_path / "sts"
    with pytest.raises(ImportArchiveError, match=r"SD-Tooth\.zip\.001 interrupted at 3000 of .*run the import again"):
        import_sts(dest, record_url=f"{server.url}/record.json")
    assert (download_folder(dest) / "SD-Tooth.zip.001.part").stat().st_size == 3000
    assert server.range_requests("SD-Tooth.zip.001") == ["bytes=3000-"]
    del server.cut_always["SD-Tooth.zip.001"]
    _assert_imported(import_sts(dest, record_url=f"{server.url}/record.json"), dest, archive)


def test_server_ignoring_range_restarts_part(server, archive, tmp_path):
    server.cut_once["SD-Tooth.zip.002"] = 2000
    server.ignore_range = True  # answers 200 with the whole file to a Range request
    _assert_imported(import_sts(tmp_path / "sts", record_url=f"{server.url}/record.json"), tmp_path / "sts",
                     archive)
    assert server.range_requests("SD-Tooth.zip.002") == ["bytes=2000-"]


def test_busy_server_is_retried(server, archive, tmp_path):
    server.fail_once["SD-Tooth.zip.001"] = 503
    _assert_imported(import_sts(tmp_path / "sts", record_url=f"{server.url}/record.json"), tmp_path / "sts",
                     archive)
    assert sum(path.endswith("SD-Tooth.zip.001") for path, _ in server.requests) == 2


def test_network_errors_are_clear(server, archive, tmp_path, dead_url):
    with pytest.raises(ImportArchiveError, match="cannot reach the dataset record"):
        import_sts(tmp_path / "a", record_url=dead_url)
    del server.served["SD-Tooth.zip.004"]
    with pytest.raises(ImportArchiveError, match=r"download of SD-Tooth\.zip\.004 failed: HTTP 404"):
        import_sts(tmp_path / "b", record_url=f"{server.url}/record.json")
    with pytest.raises(ImportArchiveError, match="only http"):
        import_sts(tmp_path / "c", record_url="file:///etc/passwd")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_corrupt_archive_without_verification_keeps_nothing(archive, tmp_path, dead_url):
    data = bytearray(b"".join(archive["parts"].values()))
    data[len(data) // 3] ^= 0xFF  # inside a member's compressed data
    parts = _write_parts(tmp_path / "parts", {"SD-Tooth.zip.001": bytes(data)}, sums=False)
    with pytest.raises(ImportArchiveError, match="corrupt, nothing was kept"):
        import_sts(tmp_path / "sts", parts_dir=parts, record_url=dead_url, verify=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]


def test_cli_draws_progress_bars_only_on_a_terminal(archive, tmp_path, capsys, monkeypatch, dead_url):
    import sys

    parts = _write_parts(tmp_path / "parts", archive["parts"])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cli_main(["import-sts", "--dest", str(tmp_path / "a"), "--parts", str(parts), "--record-url", dead_url]) == 0
    _, err = capsys.readouterr()
    assert "verifying:" in err and "extracting:" in err and "B/s" in err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert cli_main(["import-sts", "--dest", str(tmp_path / "b"), "--parts", str(parts), "--record-url", dead_url]) == 0
    assert capsys.readouterr().err == ""
