"""`toothseg import-sts`: download (or pick up) and install the STS-2D-Tooth dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.data.sts_import import DEFAULT_RECORD_URL, import_sts
from core.jobs import Progress
from training.output import emit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-sts", help="download, verify and extract the STS-2D-Tooth dataset",
        description="Download SD-Tooth.zip.001..015 (resuming interrupted downloads) or take them from "
                    "--parts, verify their MD5 sums, extract safely into --dest and index the tree.")
    parser.add_argument("--dest", type=Path, required=True, help="new (or empty) folder for the dataset")
    parser.add_argument("--parts", type=Path, default=None,
                        help="folder with already-downloaded SD-Tooth.zip.NNN parts (and md5sums.txt)")
    parser.add_argument("--record-url", default=DEFAULT_RECORD_URL,
                        help=f"Zenodo record JSON listing the parts and MD5 sums (default {DEFAULT_RECORD_URL})")
    parser.add_argument("--no-verify", action="store_true", help="skip the MD5 check (not recommended)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with _TerminalProgress() as progress:
        summary = import_sts(args.dest, parts_dir=args.parts, record_url=args.record_url,
                             verify=not args.no_verify, progress=progress)
    check = "MD5 verified" if summary["verified"] else "NOT verified: no MD5 sums were checked (--no-verify)"
    text = (f"imported STS-2D-Tooth into {summary['dest']}: {summary['images']} images "
            f"({summary['labeled']} labeled, {summary['unlabeled']} unlabeled) from {summary['parts']} parts, "
            f"{check}")
    emit(summary, args.json, text)
    if not summary["verified"]:
        print("warning: nothing was verified; the parts were extracted without an MD5 check", file=sys.stderr)
    return 0


class _TerminalProgress:
    """A tqdm bar per phase on an interactive terminal; silent when stderr is a file or a pipe."""

    def __init__(self) -> None:
        self._bar = None
        self._phase = ""
        self.enabled = sys.stderr.isatty()

    def __enter__(self) -> Progress | None:
        return self._update if self.enabled else None

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()

    def _update(self, done: int, total: int, message: str) -> None:
        from tqdm import tqdm

        phase = message.split(" ", 1)[0] if message.startswith(("verifying", "extracting")) else "downloading"
        if self._bar is None or phase != self._phase:
            if self._bar is not None:
                self._bar.close()
            self._bar = tqdm(total=total or None, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=phase, file=sys.stderr, leave=False)
            self._phase = phase
        detail = message if phase == "downloading" else message.partition(" ")[2]
        if detail:
            self._bar.set_postfix_str(detail, refresh=False)
        self._bar.update(done - self._bar.n)
