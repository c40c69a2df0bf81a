"""Name -> constructor registry: every model is described by a JSON-able config, never by code.

``build_model({"name": "unet", "in_channels": 1, "out_channels": 1, "base_channels": 16})`` is the
only way the rest of the product creates a network, so a checkpoint's sidecar config is enough to
rebuild it (no pickled classes, no if/elif chains).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch.nn as nn

from core.errors import ModelFileError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
# Modules whose import registers the built-in architectures (imported lazily to avoid cycles).
_BUILTIN_MODULES = ("core.models.unet", "core.models.variants", "core.models.resnet_unet",
                    "core.models.litemedsam_head")


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register a constructor taking ``**kwargs`` under ``name``."""

    def wrap(ctor: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY and _REGISTRY[name] is not ctor:
            raise ValueError(f"model name '{name}' is already registered")
        _REGISTRY[name] = ctor
        return ctor

    return wrap


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def model_names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def build_model(config: dict[str, Any]) -> nn.Module:
    """Build a model from its config; unknown names or arguments raise ModelFileError."""
    _load_builtins()
    if not isinstance(config, dict) or "name" not in config:
        raise ModelFileError(f"model config must be a dict with a 'name', got {config!r}")
    kwargs = {k: v for k, v in config.items() if k != "name"}
    name = config["name"]
    if name not in _REGISTRY:
        raise ModelFileError(f"unknown model '{name}'; known models: {', '.join(sorted(_REGISTRY))}")
    try:
        model = _REGISTRY[name](**kwargs)
    except TypeError as exc:
        raise ModelFileError(f"model '{name}' rejects its config {kwargs}: {exc}") from exc
    model.config = dict(config)  # type: ignore[attr-defined]
    return model
