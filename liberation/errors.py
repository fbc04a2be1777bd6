"""Exceptions raised by liberation.

Every error the library raises on purpose derives from :class:`LiberationError`.
The subclasses also derive from the matching built-in exception, so callers can
catch ``ValueError`` or ``OSError`` as usual. The CLI prints the message of any
``LiberationError`` on one line and exits with a non-zero status.
"""

from __future__ import annotations


class LiberationError(Exception):
    """Root of all errors raised on purpose by liberation."""


class InputError(LiberationError, ValueError):
    """A parameter has a wrong value, type or shape."""


class StoreError(LiberationError, OSError):
    """A sample store cannot be read or written as asked."""


class OverwriteError(StoreError, FileExistsError):
    """A write would replace existing data without ``overwrite=True``."""


class OutputOverlapError(InputError):
    """An output path is, contains or lies inside one of the inputs of the same step."""


class FileFormatError(LiberationError, OSError):
    """An input file is missing, unreadable or not in the expected format."""


class DependencyError(LiberationError, ImportError):
    """An optional dependency (an extra such as ``ml`` or ``deploy``) is missing."""


def require(module: str, extra: str):
    """Import an optional dependency or raise :class:`DependencyError`.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"torch"``.
    extra : str
        Name of the package extra that installs it, e.g. ``"ml"``.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DependencyError(
            f"{module!r} is required for this feature but is not installed; "
            f"install it with: pip install 'liberation[{extra}]'"
        ) from exc
