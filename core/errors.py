"""User-facing errors: their message is shown as-is, without a traceback, by the CLI and the GUI."""


class ToothSegError(Exception):
    """Base class for errors caused by input the user can fix (bad file, wrong folder, full disk)."""


class ImageReadError(ToothSegError):
    """An image could not be read or is refused (corrupt, unsupported, too large)."""


class MaskError(ToothSegError):
    """A mask is unreadable, has the wrong size, or holds values the project does not expect."""


class LayoutError(ToothSegError):
    """A folder matches no known dataset layout."""


class ProjectFileError(ToothSegError):
    """The project file is corrupt or cannot be written."""


class ImportArchiveError(ToothSegError):
    """A downloaded dataset archive is incomplete, corrupt or unsafe."""


class ModelFileError(ToothSegError):
    """A checkpoint or ONNX file is corrupt, foreign, or does not match what is asked of it."""


class CancelledError(ToothSegError):
    """A long job was cancelled by the user; partial results were kept or discarded as documented."""


class DiskFullError(ToothSegError):
    """A write failed for lack of space (or quota, or a file-size limit); the previous file is unchanged."""


class NotWritableError(ToothSegError):
    """A write was refused by permissions or a read-only file system (the project may move to user data)."""


class FolderLockedError(ToothSegError):
    """Another ToothSeg Studio instance holds the folder: this one is read-only until it is released."""
