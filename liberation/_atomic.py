"""Atomic outputs: write into a temporary name beside the target, then move into place.

Guarantees (see ``docs/reliability.md``):

- An interrupted run leaves the old result or none, never half of one: everything is written
  under a hidden temporary name ``.NAME.tmp-HOST-PID-XXXXXXXX`` beside the target and moved
  into place at the end.
- An existing output is replaced only with ``overwrite=True``, and only when liberation wrote
  it (:func:`is_liberation_output`): a folder carries the marker file :data:`MARKER_NAME`, a
  sample store carries the ``liberation`` attribute namespace, a single file has a sibling
  marker ``.NAME.liberation-output.json`` that matches its size and modification time. Any
  other existing path (a user folder, a TIFF stack, ``~/Documents``) is refused.
- An output that is, contains or lies inside one of the inputs is refused
  (:func:`check_output_not_input`).
- Temporaries left by an interrupted run (kill -9, out of memory) are removed by the next
  write to the same target once their writer process is gone (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from liberation.errors import OutputOverlapError, OverwriteError, StoreError

__all__ = [
    "MARKER_NAME",
    "atomic_dir",
    "atomic_file",
    "check_new_output",
    "check_output_not_input",
    "file_marker_path",
    "find_temporaries",
    "is_liberation_output",
    "overwrite_error",
    "overwrite_message",
    "remove_stale_temporaries",
    "replace_path",
    "temp_sibling",
    "write_output_marker",
]

log = logging.getLogger(__name__)

MARKER_NAME = ".liberation-output.json"
"""Marker file inside every output folder liberation writes."""

_MARKER_FORMAT = "liberation-output"
# errno values that mean "this output cannot be written here" rather than a bug
_WRITE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EDQUOT, errno.EFBIG}


# --------------------------------------------------------------------------- messages
def overwrite_message(path: str | os.PathLike, *, what: str = "output", reason: str = "exists") -> str:
    """The one wording of every overwrite refusal.

    Parameters
    ----------
    path : str or Path
        The existing output.
    what : str
        Name of the output, e.g. ``"output folder"`` or ``"--out"``.
    reason : {"exists", "foreign", "symlink"}
        ``"exists"``: it exists and ``overwrite`` is false; ``"foreign"``: ``overwrite`` is true
        but liberation did not write it; ``"symlink"``: it is a symbolic link.
    """
    if reason == "exists":
        return f"{what} {path} already exists; pass --overwrite (overwrite=True) to replace it"
    if reason == "symlink":
        return (f"{what} {path} already exists and is a symbolic link; --overwrite replaces only outputs "
                "written by liberation: choose another path")
    if reason == "foreign":
        return (f"{what} {path} already exists and was not written by liberation; --overwrite replaces only "
                "outputs written by liberation: choose another path or remove it yourself")
    raise ValueError(f"reason={reason!r}")


def overwrite_error(path: str | os.PathLike, *, what: str = "output", reason: str = "exists") -> OverwriteError:
    """An :class:`OverwriteError` with the message of :func:`overwrite_message`."""
    return OverwriteError(overwrite_message(path, what=what, reason=reason))


# --------------------------------------------------------------------------- markers
def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _version() -> str:
    from liberation import __version__

    return __version__


def file_marker_path(path: str | os.PathLike) -> Path:
    """The sibling marker ``.NAME.liberation-output.json`` of a single output file."""
    path = Path(path)
    return path.with_name(f".{path.name}.liberation-output.json")


def _write_json_atomically(path: Path, content: dict) -> None:
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_output_marker(path: str | os.PathLike, *, kind: str) -> Path:
    """Mark ``path`` (a folder or a file) as written by liberation; return the marker path.

    A folder gets :data:`MARKER_NAME` inside it; a file gets the sibling
    ``.NAME.liberation-output.json`` that records its size and modification time, so a file
    replaced by someone else later is no longer taken for liberation's.

    Parameters
    ----------
    path : str or Path
        The output, existing.
    kind : str
        What it is, e.g. ``"report folder"``; recorded in the marker.
    """
    path = Path(path)
    content = {"format": _MARKER_FORMAT, "kind": str(kind), "version": _version(), "time": _now()}
    if path.is_dir():
        marker = path / MARKER_NAME
    else:
        st = path.stat()
        content.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
        marker = file_marker_path(path)
    _write_json_atomically(marker, content)
    return marker


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _is_liberation_store(path: Path) -> bool:
    meta = _read_json(path / "zarr.json")
    if meta is not None:
        attrs = meta.get("attributes")
        return isinstance(attrs, dict) and "liberation" in attrs
    attrs = _read_json(path / ".zattrs")
    return attrs is not None and "liberation" in attrs and (path / ".zgroup").is_file()


def is_liberation_output(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an output that liberation wrote (and may replace with ``overwrite``).

    True for a folder holding :data:`MARKER_NAME`, a zarr group whose attributes carry the
    ``liberation`` namespace (a sample store or one of its label groups), an empty folder
    (nothing to lose) and a file whose sibling marker matches its size and modification time.
    False for a symbolic link and for anything else.
    """
    path = Path(path)
    if path.is_symlink() or not path.exists():
        return False
    if path.is_dir():
        marker = _read_json(path / MARKER_NAME)
        if marker is not None and marker.get("format") == _MARKER_FORMAT:
            return True
        if _is_liberation_store(path):
            return True
        return not any(path.iterdir())
    marker = _read_json(file_marker_path(path))
    if marker is None or marker.get("format") != _MARKER_FORMAT:
        return False
    st = path.stat()
    return marker.get("size") == st.st_size and marker.get("mtime_ns") == st.st_mtime_ns


# --------------------------------------------------------------------------- checks
def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def check_output_not_input(
    output: str | os.PathLike, inputs: Iterable[str | os.PathLike] | str | os.PathLike | None, *, what: str = "output"
) -> None:
    """Refuse an output that is, contains or lies inside one of the inputs.

    Symbolic links are resolved, so ``scan/slices`` and a link to it are the same path.

    Parameters
    ----------
    output : str or Path
        The output path (need not exist).
    inputs : path or iterable of paths
        Files or folders the command reads.
    what : str
        Name of the output in the error message, e.g. ``"--out"``.

    Raises
    ------
    OutputOverlapError
        Naming the output and the input it overlaps.
    """
    if inputs is None:
        return
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out = _real(output)
    for item in inputs:
        if item is None:
            continue
        inp = _real(item)
        if out == inp:
            raise OutputOverlapError(f"{what} {output} is the input {item}; choose an output path outside the inputs")
        if inp in out.parents:
            raise OutputOverlapError(f"{what} {output} lies inside the input {item}; choose an output path outside it")
        if out in inp.parents:
            raise OutputOverlapError(f"{what} {output} contains the input {item}; choose an output path that does not")


def check_new_output(
    path: str | os.PathLike,
    *,
    overwrite: bool,
    what: str = "output",
    inputs: Iterable[str | os.PathLike] | str | os.PathLike | None = None,
) -> Path:
    """Check that ``path`` may be written; return it as a Path.

    Parameters
    ----------
    path : str or Path
        The output to write.
    overwrite : bool
        Whether an existing output may be replaced; it still must be liberation's own
        (:func:`is_liberation_output`).
    what : str
        Name of the output in the error message.
    inputs : path or iterable of paths, optional
        The command's inputs; an output that is, contains or lies inside one is refused.

    Raises
    ------
    OverwriteError
        ``path`` exists and ``overwrite`` is false, or it is not liberation's output.
    OutputOverlapError
        ``path`` overlaps one of ``inputs``.
    """
    path = Path(path)
    check_output_not_input(path, inputs, what=what)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise overwrite_error(path, what=what, reason="exists")
        if path.is_symlink():
            raise overwrite_error(path, what=what, reason="symlink")
        if not is_liberation_output(path):
            raise overwrite_error(path, what=what, reason="foreign")
    return path


# --------------------------------------------------------------------------- temporaries
def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def temp_sibling(final: str | os.PathLike, tag: str = "tmp") -> Path:
    """A fresh hidden sibling name ``.NAME.<tag>-HOST-PID-XXXXXXXX`` of ``final``.

    ``HOST`` is a hash of this machine's host name and ``PID`` this process's id, so a later run
    can tell whether the writer of a leftover temporary is still alive.
    """
    final = Path(final)
    return final.with_name(f".{final.name}.{tag}-{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


_TEMP_RE = re.compile(r"^(?P<tag>tmp|old)-(?:(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-)?[0-9a-f]{8}$")


def find_temporaries(final: str | os.PathLike) -> list[tuple[Path, str, str | None, int | None]]:
    """Hidden temporaries of ``final`` beside it: ``(path, tag, host, pid)`` per temporary.

    ``tag`` is ``"tmp"`` (a write in progress or interrupted) or ``"old"`` (a replaced output
    not yet removed); ``host`` and ``pid`` are None for temporaries of older versions.
    """
    final = Path(final)
    prefix = f".{final.name}."
    try:
        entries = list(final.parent.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        m = _TEMP_RE.match(entry.name[len(prefix):])
        if m:
            pid = m.group("pid")
            found.append((entry, m.group("tag"), m.group("host"), None if pid is None else int(pid)))
    return sorted(found)


def _process_start(pid: int) -> float | None:
    """Start time (seconds since the epoch) of process ``pid`` from /proc, or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":  # a zombie: its writer is gone
            return float("inf")
        ticks = int(fields[19])
        btime = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                     if line.startswith("btime"))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _writer_alive(pid: int, temp: Path) -> bool:
    """Whether process ``pid`` of this host may still be writing ``temp`` (conservative: True when unsure)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except OSError:
        return True
    start = _process_start(pid)
    if start is None:
        return True
    try:
        changed = temp.lstat().st_ctime
    except OSError:
        return True
    # a process that started after the temporary last changed is not its writer (pid reused)
    return not start > changed + 2.0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def remove_stale_temporaries(final: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of ``final`` whose writer is gone; return the removed paths.

    A temporary is stale when it was made on this host by a process that no longer runs
    (``os.kill(pid, 0)`` fails, or the process with that id started after the temporary was
    last changed). Temporaries of running writers, of other hosts and of older versions
    (no writer recorded) are left alone. A stale ``old`` sibling (an output moved aside just
    before an interruption) is moved back when ``final`` is missing, else removed. Each action
    is logged as one warning line.
    """
    final = Path(final)
    host = _host_tag()
    removed = []
    for temp, tag, temp_host, pid in find_temporaries(final):
        if pid is None:
            log.warning("left temporary %s alone: it has no writer recorded (an older liberation version); "
                        "remove it by hand if no run is writing %s", temp, final)
            continue
        if temp_host != host or _writer_alive(pid, temp):
            continue
        if tag == "old" and not (final.exists() or final.is_symlink()):
            os.replace(temp, final)
            log.warning("restored %s from %s left by an interrupted run (pid %d)", final, temp.name, pid)
            continue
        _remove(temp)
        removed.append(temp)
        log.warning("removed stale temporary %s from an interrupted run (pid %d)", temp, pid)
    return removed


# --------------------------------------------------------------------------- writers
def replace_path(tmp: Path, final: Path, *, overwrite: bool, what: str = "output") -> None:
    """Move ``tmp`` to ``final``; an existing ``final`` is replaced only with ``overwrite`` and
    only when liberation wrote it (:func:`check_new_output`)."""
    tmp, final = Path(tmp), Path(final)
    if final.exists() or final.is_symlink():
        check_new_output(final, overwrite=overwrite, what=what)
        old = temp_sibling(final, "old")
        os.replace(final, old)
        try:
            os.replace(tmp, final)
        except BaseException:
            os.replace(old, final)
            raise
        _remove(old)
        if final.is_dir():  # a file replaced by a folder: its file marker no longer applies
            file_marker_path(final).unlink(missing_ok=True)
    else:
        os.replace(tmp, final)


def _cannot_write(exc: OSError, final: Path, what: str) -> StoreError:
    reason = exc.strerror or str(exc)
    return StoreError(f"cannot write {what} {final}: {reason}")


@contextmanager
def _writing(tmp: Path, final: Path, what: str) -> Iterator[None]:
    """Remove ``tmp`` on any failure; turn 'cannot write here' OS errors into one-line StoreErrors."""
    try:
        yield
    except OverwriteError:
        _remove(tmp)
        raise
    except OSError as exc:
        _remove(tmp)
        if exc.errno in _WRITE_ERRNOS and not isinstance(exc, StoreError):
            raise _cannot_write(exc, final, what) from exc
        raise
    except BaseException:
        _remove(tmp)
        raise


def _prepare(final: Path, what: str, *, overwrite: bool) -> None:
    """Create the parent folder, remove stale temporaries of ``final`` and check it again (a
    restored ``old`` sibling may now stand under the final name)."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if isinstance(exc, FileExistsError) or exc.errno in _WRITE_ERRNOS:
            raise _cannot_write(exc, final, what) from exc
        raise
    remove_stale_temporaries(final)
    check_new_output(final, overwrite=overwrite, what=what)


@contextmanager
def atomic_dir(
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    what: str = "output folder",
    inputs: Iterable[str | os.PathLike] | str | os.PathLike | None = None,
    kind: str | None = None,
) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; move it to ``path`` when the block succeeds.

    The folder gets liberation's marker (:data:`MARKER_NAME`) before it is moved into place.
    Stale temporaries of ``path`` left by interrupted runs are removed first.

    Parameters
    ----------
    path : str or Path
        The folder to produce.
    overwrite : bool
        Replace an existing folder written by liberation. Checked before the block runs, so
        no work is wasted.
    what : str
        Name of the output in error messages.
    inputs : path or iterable of paths, optional
        Inputs of the step; an output that is, contains or lies inside one is refused.
    kind : str, optional
        Kind recorded in the marker; default ``what``.

    Raises
    ------
    OverwriteError, OutputOverlapError
        See :func:`check_new_output`.
    StoreError
        The folder cannot be written there (read-only file system, full disk, under a file).
    """
    final = check_new_output(path, overwrite=overwrite, what=what, inputs=inputs)
    _prepare(final, what, overwrite=overwrite)
    tmp = temp_sibling(final)
    with _writing(tmp, final, what):
        tmp.mkdir()
        yield tmp
        if not (tmp / MARKER_NAME).exists():
            write_output_marker(tmp, kind=kind or what)
        replace_path(tmp, final, overwrite=overwrite, what=what)


@contextmanager
def atomic_file(
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    what: str = "output file",
    inputs: Iterable[str | os.PathLike] | str | os.PathLike | None = None,
    kind: str | None = None,
) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; move it to ``path`` when the block succeeds.

    The file gets the sibling marker ``.NAME.liberation-output.json`` (:func:`write_output_marker`),
    which lets a later ``overwrite=True`` replace it. Parameters as :func:`atomic_dir`.
    """
    final = check_new_output(path, overwrite=overwrite, what=what, inputs=inputs)
    _prepare(final, what, overwrite=overwrite)
    tmp = temp_sibling(final)
    with _writing(tmp, final, what):
        yield tmp
        replace_path(tmp, final, overwrite=overwrite, what=what)
        write_output_marker(final, kind=kind or what)
