"""Pieces the objectives share: building the model from the recipe, the classes metadata, freezing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn as nn

from core.data.classes import ClassDef
from core.errors import ToothSegError
from core.models.checkpoint import load_pretrained, read_sidecar
from core.models.registry import build_model
from core.train.data import Dataset2D, fingerprint
from core.train.recipe import Recipe
from core.train.transforms import NORMALISATION


def model_config(recipe: Recipe, out_channels: int) -> dict[str, Any]:
    return {**recipe.model, "in_channels": 1, "out_channels": int(out_channels)}


def make_model(recipe: Recipe, out_channels: int) -> tuple[nn.Module, dict[str, Any]]:
    config = model_config(recipe, out_channels)
    model = build_model(config)
    pretrained = getattr(model, "load_litemedsam", None)
    if pretrained is not None:  # a frozen foundation encoder: its packaged weights, before any --init
        pretrained()
    return model, config


def classes_meta(classes: Sequence[ClassDef], labels: str) -> list[dict[str, Any]]:
    """Checkpoint classes: channel id, name, colour and the label-map value each class is written as."""
    out = [{"id": 0, "name": "background", "value": 0, "color": [0, 0, 0]}]
    for i, c in enumerate(classes):
        rgb = [int(c.color[j : j + 2], 16) for j in (1, 3, 5)]
        out.append({"id": i + 1, "name": c.name, "value": 1 if labels == "binary" else int(c.value), "color": rgb})
    return out


def base_meta(recipe: Recipe, data: Dataset2D, config: dict[str, Any], samples, classes=None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "model_config": config, "input_size": list(recipe.input_hw), "normalization": dict(NORMALISATION),
        "fingerprint": fingerprint(samples), "labels": recipe.labels, "train_ids": len(samples),
        "data_root": str(data.root),
    }
    if classes is not None:
        meta["classes"] = classes_meta(classes, recipe.labels)
    return meta


def init_from(model: nn.Module, path: str, log) -> dict[str, Any]:
    """Load matching tensors of a checkpoint into ``model`` and log exactly what was skipped.

    From a pretraining checkpoint (MIM, reconstruction) the output head is left at its fresh
    initialisation: it maps features to intensities, not to class logits, and starting from it makes
    every pixel look like foreground.
    """
    mode = str(read_sidecar(path).get("mode", ""))
    skip = ("head",) if mode.startswith("pretrain") else ()
    report = load_pretrained(model, path, skip_prefixes=skip)
    skipped = report["skipped"]
    log(f"init from {path}: loaded {len(report['loaded'])} tensors, skipped {len(skipped)}"
        + ("".join(f"\n  skipped {name}: {why}" for name, why in skipped)))
    return report


def encoder_stages(model: nn.Module) -> list[nn.Module]:
    """The encoder's stages in input-to-bottleneck order (U-Net inc + downs; ResNet stem + layers)."""
    enc = getattr(model, "encoder", None)
    if enc is None:
        raise ToothSegError(f"{type(model).__name__} has no 'encoder'; cannot freeze encoder blocks")
    mods = list(enc.children())
    while len(mods) == 1:
        mods = list(mods[0].children())
    stages: list[nn.Module] = []
    for m in mods:
        if isinstance(m, nn.ModuleList):
            stages += list(m)
        elif any(True for _ in m.parameters()):
            stages.append(m)
    return stages


def freeze_early_blocks(model: nn.Module, count: int) -> int:
    """Stop gradients in the first ``count`` encoder stages; returns the number of frozen tensors."""
    frozen = 0
    for stage in encoder_stages(model)[:count]:
        for p in stage.parameters():
            p.requires_grad_(False)
            frozen += 1
    return frozen
