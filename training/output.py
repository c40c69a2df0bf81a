"""Printing results: one JSON object on stdout with --json, readable lines otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit(result: dict[str, Any], as_json: bool, text: str | None = None) -> None:
    if as_json:
        json.dump(result, sys.stdout, default=str)
        sys.stdout.write("\n")
    else:
        print(text if text is not None else "\n".join(f"{k}: {v}" for k, v in result.items()))
