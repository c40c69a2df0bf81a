"""Segmentation architectures behind one name -> constructor registry, plus safe checkpoints."""

from core.models.registry import build_model, model_names, register_model

__all__ = ["build_model", "model_names", "register_model"]
