"""ToothSeg Studio core: data, annotation, models, training and inference without any Qt."""

__version__ = "0.1.0"
