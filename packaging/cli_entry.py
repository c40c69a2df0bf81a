"""Entry point of the bundle's console program ``toothseg``: the CLI, plus ``--self-test [--slim]``.

On Windows a windowed program has no stdout, so CI and support staff run the self-test through this
console twin. The slim bundle carries no PyTorch; its commands that need it say so in one line.
"""

from __future__ import annotations

import multiprocessing
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in argv:
        from app.selftest import run_self_test

        return run_self_test(slim=True if "--slim" in argv else None)
    from training.cli import main as cli_main

    try:
        return int(cli_main(argv) or 0)
    except ImportError as exc:
        from core.capabilities import TRAINING_NEEDS_FULL_BUILD, torch_available

        if torch_available():
            raise
        print(f"error: {TRAINING_NEEDS_FULL_BUILD} ({exc})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
