"""Three-way merge of project files, so concurrent writers keep each other's changes.

``base`` is the file as this process last read or wrote it, ``ours`` what it holds in memory now,
``theirs`` what is on disk now. A field (or a key of the splits / status / extra maps, or a model
by name) this process changed since ``base`` takes its value; everything else takes the disk's.
So ``toothseg split`` run while the app is open keeps the app's statuses and classes, and the app's
next save keeps the new splits.
"""

from __future__ import annotations

from typing import Any

KEYED = ("splits", "status", "extra")
WHOLE = ("classes", "split_seed", "active_model")


def merge_project(base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    out = dict(ours)
    for key in WHOLE:
        out[key] = ours.get(key) if ours.get(key) != base.get(key) else theirs.get(key)
    for key in KEYED:
        out[key] = _merge_maps(base.get(key) or {}, ours.get(key) or {}, theirs.get(key) or {})
    models = _merge_maps(*(_by_name(x.get("models") or []) for x in (base, ours, theirs)))
    out["models"] = list(models.values())
    return out


def _merge_maps(base: dict, ours: dict, theirs: dict) -> dict:
    out = dict(theirs)
    for k in set(base) | set(ours):
        if k not in ours:
            if k in base and theirs.get(k) == base[k]:
                out.pop(k, None)          # we deleted it and nobody changed it meanwhile
        elif ours[k] != base.get(k, _MISSING):
            out[k] = ours[k]              # we changed or added it
    return out


def _by_name(models: list[dict]) -> dict[str, dict]:
    return {str(m.get("name")): m for m in models if isinstance(m, dict)}


_MISSING = object()
