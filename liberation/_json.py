"""One JSON sanitiser for the whole package: numpy values, paths and non-finite floats."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Convert a value into plain JSON types.

    Mappings become dicts with string keys; lists, tuples, sets and arrays become lists;
    numpy scalars become Python scalars; paths become strings; NaN and +-inf become
    ``None`` (JSON has no such numbers). Any other object becomes its ``str``.

    Parameters
    ----------
    value : Any
        Nested structure of mappings, sequences, numpy values and scalars.

    Returns
    -------
    Any
        The same structure made of ``dict``, ``list``, ``str``, ``int``, ``float``,
        ``bool`` and ``None``.
    """
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)
