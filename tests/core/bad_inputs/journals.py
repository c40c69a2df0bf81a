"""Damaged recovery-journal entries (``core.data.recovery``): the bad entry is skipped, the rest restored."""

from __future__ import annotations

import json
import struct


def journal_entry(header: dict | bytes, values: bytes | None = None, magic: bytes = b"TSJ1") -> bytes:
    """One raw journal entry (``core.data.recovery``'s format) with whatever header a test wants."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    if values is None and isinstance(header, dict) and isinstance(header.get("h"), int) \
            and isinstance(header.get("w"), int) and header["h"] > 0 and header["w"] > 0:
        values = bytes([1]) * (header["h"] * header["w"])
    return struct.pack("<4sI", magic, len(raw)) + raw + (values or b"")


def _entry(**change) -> dict:
    return {"id": "good0", "shape": [256, 256], "y0": 30, "x0": 40, "h": 4, "w": 5, **change}


# (case id, the bad entry's bytes, is the good entry written after it still restored?)
JOURNAL_CASES = [
    ("y0-out-of-range", journal_entry(_entry(y0=10000)), True),
    ("x0-out-of-range", journal_entry(_entry(x0=10000)), True),
    ("rectangle-past-the-edge", journal_entry(_entry(y0=254, h=10)), True),
    ("negative-y0", journal_entry(_entry(y0=-3)), True),
    ("float-x0", journal_entry(_entry(x0=1.5)), True),
    ("shape-of-another-image", journal_entry(_entry(shape=[100, 80])), True),
    ("shape-string", journal_entry(_entry(shape="256x256")), True),
    ("id-list", journal_entry(_entry(id=["good0"])), True),
    ("negative-height", journal_entry(_entry(h=-4), bytes(20)), False),
    ("height-string", journal_entry(_entry(h="4"), bytes(20)), False),
    ("header-not-json", journal_entry(b"{this is not json", bytes(20)), False),
    ("header-not-utf8", journal_entry(b"\xff\xfe\xfd", bytes(20)), False),
    ("wrong-magic", journal_entry(_entry(), magic=b"XXXX"), False),
]
