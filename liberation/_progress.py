"""Progress bars (tqdm) that respect the global verbosity switch."""

from __future__ import annotations

import os

_ENABLED = os.environ.get("LIBERATION_PROGRESS", "1") != "0"


def set_progress(enabled: bool) -> None:
    """Turn progress bars on or off for the whole process (the CLI's ``-q``)."""
    global _ENABLED
    _ENABLED = bool(enabled)


def progress(iterable=None, *, desc: str = "", total: int | None = None, unit: str = "it", enabled: bool | None = None):
    """Wrap ``iterable`` in a tqdm progress bar written to stderr.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over.
    desc : str
        Short description shown left of the bar.
    total : int, optional
        Number of items when ``iterable`` has no length.
    unit : str
        Unit name of one item.
    enabled : bool, optional
        Force on or off; default follows :func:`set_progress`.
    """
    from tqdm.auto import tqdm

    show = _ENABLED if enabled is None else enabled
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=not show, leave=False, dynamic_ncols=True)


def status(text: str) -> None:
    """Write a one-line progress note to stderr, unless progress is off (the CLI's ``-q``).

    Parameters
    ----------
    text : str
        The note, e.g. ``"3/7 registration of the label maps"``.
    """
    import sys

    if _ENABLED:
        print(text, file=sys.stderr, flush=True)
