"""Dataset layer: reading images and masks, on-disk layouts, the project file, checks and splits."""
