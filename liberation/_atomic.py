"""Atomic outputs: write into a temporary name beside the target, then move into place.

An interrupted run leaves the old result or none, never half of one; an existing output
is replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from liberation.errors import OverwriteError


def check_new_output(path: str | os.PathLike, *, overwrite: bool, what: str = "output") -> Path:
    """Raise :class:`OverwriteError` if ``path`` exists and ``overwrite`` is false; return it as a Path."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OverwriteError(f"{what} {path} already exists; pass --overwrite (overwrite=True) to replace it")
    return path


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{uuid.uuid4().hex[:8]}")


def replace_path(tmp: Path, final: Path, *, overwrite: bool) -> None:
    """Move ``tmp`` to ``final``; an existing ``final`` is replaced only with ``overwrite``."""
    if final.exists():
        if not overwrite:
            raise OverwriteError(f"{final} already exists; pass --overwrite (overwrite=True) to replace it")
        old = _sibling(final, "old")
        os.replace(final, old)
        try:
            os.replace(tmp, final)
        except BaseException:
            os.replace(old, final)
            raise
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    else:
        os.replace(tmp, final)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = False, what: str = "output folder") -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; move it to ``path`` when the block succeeds.

    Parameters
    ----------
    path : str or Path
        The folder to produce.
    overwrite : bool
        Replace an existing folder. Checked before the block runs, so no work is wasted.
    what : str
        Name of the output in the error message.
    """
    final = check_new_output(path, overwrite=overwrite, what=what)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(final, "tmp")
    tmp.mkdir()
    try:
        yield tmp
        replace_path(tmp, final, overwrite=overwrite)
    except BaseException:
        _remove(tmp)
        raise


@contextmanager
def atomic_file(path: str | os.PathLike, *, overwrite: bool = False, what: str = "output file") -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; move it to ``path`` when the block succeeds."""
    final = check_new_output(path, overwrite=overwrite, what=what)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(final, "tmp")
    try:
        yield tmp
        replace_path(tmp, final, overwrite=overwrite)
    except BaseException:
        _remove(tmp)
        raise
