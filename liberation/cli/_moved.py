"""Deprecated aliases for names that moved out of ``liberation.cli`` (kept for one release)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def moved_getattr(old_module: str, moved: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``moved`` names (``name -> new module``) with a DeprecationWarning.

    Parameters
    ----------
    old_module : str
        The module the names used to live in (for the messages).
    moved : dict
        ``name -> dotted module`` now holding ``name``; imported by string on first use.
    """

    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
        new = moved[name]
        warnings.warn(f"{old_module}.{name} moved to {new}.{name}; the old name goes in the next release",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(new), name)

    return __getattr__
