"""Headless face of ToothSeg Studio: the `toothseg` CLI and its recipes (never imports app/)."""
