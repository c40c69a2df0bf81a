"""The scale the teeth network works at: UFBA-425's panoramics squashed to 512 x 512 (a tooth about
13 px wide). Full-size panoramics (e.g. 2943 x 1435) are resized so that their teeth have that size;
their teeth span about 1536 x 768 px, the squashed UFBA-425 teeth about 360 x 275 px."""

from __future__ import annotations

FULL_TO_WORKING = (360 / 1536, 275 / 768)    # (x, y)
AS_IS = 640                                   # images up to this size are taken at their own scale


def working_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) the network sees for an image of ``height`` x ``width``."""
    if max(height, width) <= AS_IS:
        return height, width
    return max(256, round(height * FULL_TO_WORKING[1])), max(256, round(width * FULL_TO_WORKING[0]))
