"""Mask editing on numpy label maps: editor operations, bbox-diff undo history, session state."""
