"""The image canvas: layers (image, mask, prediction, errors) and mouse tools."""
