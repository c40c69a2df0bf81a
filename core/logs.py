"""Logging to a rotating file in the user data folder, so a user can send us what happened.

The GUI calls ``setup_logging`` once at start; Help -> Show logs opens ``log_path()``.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from core.data.project import user_data_dir

LOG_NAME = "toothseg.log"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_HANDLER_NAME = "toothseg-rotating-file"


def log_dir() -> Path:
    return user_data_dir() / "logs"


def log_path() -> Path:
    return log_dir() / LOG_NAME


def setup_logging(level: int = logging.INFO, max_bytes: int = 2_000_000, backups: int = 3) -> Path:
    """Attach one rotating file handler to the ``toothseg`` logger (idempotent); returns the file."""
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("toothseg")
    for h in list(logger.handlers):
        if h.get_name() == _HANDLER_NAME:
            if Path(getattr(h, "baseFilename", "")) == path.resolve():
                return path
            logger.removeHandler(h)
            h.close()
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                                   encoding="utf-8")
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    return path


def close_logging(under: Path | None = None) -> int:
    """Detach and close the rotating file handler(s) ``setup_logging`` attached; returns how many.

    ``under``: only those writing inside that folder (the self-test's scratch folder, which Windows
    cannot delete while the log file in it is open).
    """
    logger = logging.getLogger("toothseg")
    root = Path(under).resolve() if under is not None else None
    closed = 0
    for h in list(logger.handlers):
        if h.get_name() != _HANDLER_NAME:
            continue
        target = Path(getattr(h, "baseFilename", "")).resolve()
        if root is not None and not target.is_relative_to(root):
            continue
        logger.removeHandler(h)
        h.close()
        closed += 1
    return closed


def tail(lines: int = 400) -> str:
    """The last ``lines`` lines of the current log file ('' when nothing was logged yet)."""
    path = log_path()
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])
