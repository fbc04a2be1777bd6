"""One-line errors for known failure classes of third-party libraries (used by :func:`liberation.cli.main`).

The command line prints every :class:`~liberation.errors.LiberationError` as one line. A few
errors of other libraries are failures of the user's data or machine, not bugs, and are
mapped here to the matching liberation error, by a precise test per class:

- a zarr/numcodecs codec error while reading a chunk (garbage bytes in a chunk file) ->
  :class:`~liberation.errors.StoreError` naming the array;
- an :class:`OSError` whose errno says the path cannot be written or used as asked (full disk,
  read-only file system, permission, a path under a file, ...) -> one line naming the path;
- a pickle/torch unpickling error -> :class:`~liberation.errors.FileFormatError` (torch's
  advice to load with ``weights_only=False`` is never repeated: it runs code from the file).

Anything else (a real bug) is not mapped and shows its traceback.
"""

from __future__ import annotations

import errno
import pickle

from liberation.errors import FileFormatError, LiberationError, StoreError
from liberation.model_folder import weights_error_reason

__all__ = ["known_error", "one_line"]

# errno values that describe the user's file system, not a bug
_OS_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.EDQUOT,
              errno.EFBIG, errno.ENAMETOOLONG, errno.ELOOP, errno.EMFILE, errno.ENFILE}
_CODEC_MODULES = ("/zarr/codecs/", "/numcodecs/", "numcodecs.")


def one_line(text: str) -> str:
    """``text`` on one line (newlines and runs of blanks become one space)."""
    return " ".join(str(text).split())


def _codec_frames(exc: BaseException) -> tuple[bool, str | None]:
    """Whether the traceback of ``exc`` passes through a zarr/numcodecs codec, and the array's store path."""
    codec, array = False, None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        filename = frame.f_code.co_filename.replace("\\", "/")
        if any(key in filename for key in _CODEC_MODULES):
            codec = True
        if "/zarr/core/array" in filename and array is None:
            store_path = frame.f_locals.get("store_path")
            if store_path is not None:
                array = str(store_path).removeprefix("file://")
        tb = tb.tb_next
    return codec, array


def known_error(exc: BaseException) -> LiberationError | None:
    """The liberation error for a known failure class of a third-party library, or None.

    Parameters
    ----------
    exc : BaseException
        An exception that escaped a command.

    Returns
    -------
    LiberationError or None
        None for anything not recognised (a bug: let its traceback show).
    """
    if isinstance(exc, LiberationError):
        return exc
    if isinstance(exc, pickle.UnpicklingError):
        return FileFormatError(f"a weights file cannot be read: {weights_error_reason(exc)}")
    if isinstance(exc, (RuntimeError, ValueError, TypeError)):
        codec, array = _codec_frames(exc)
        if codec:
            where = f"array {array}" if array else "an array of the store"
            return StoreError(f"{where}: a chunk cannot be decoded, the store is damaged ({one_line(exc)}); "
                              "'liberation info --check --deep STORE' names the corrupt chunk")
        return None
    if isinstance(exc, OSError) and exc.errno in _OS_ERRNOS:
        reason = exc.strerror or errno.errorcode.get(exc.errno, str(exc))
        names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
        return StoreError(f"{reason}: {' -> '.join(names)}" if names else reason)
    return None
