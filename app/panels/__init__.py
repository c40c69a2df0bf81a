"""Dock panels: dataset browser, classes, view/layer settings."""
