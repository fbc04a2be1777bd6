"""Parsers of option text (lists, numbers) into values; errors name the option and what was expected."""

from __future__ import annotations

import numpy as np

from liberation.errors import InputError

AXES = ("z", "y", "x")


def parse_ints(text: str | None, name: str) -> list[int] | None:
    """Parse ``"0,127"`` into integers; None -> None."""
    if text is None:
        return None
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise InputError(f"{name}={text!r}; expected comma-separated integers such as 0,127") from None


def parse_positive_ints(text: str | None, name: str, *, count: int | None = None) -> list[int] | None:
    """Parse ``"8,16,32"`` into positive integers (``count`` of them if given); None -> None."""
    values = parse_ints(text, name)
    if values is None:
        return None
    example = ",".join(["16"] * count) if count else "8,16,32"
    if not values or any(v < 1 for v in values) or (count is not None and len(values) != count):
        what = f"{count} positive integers" if count else "positive integers"
        raise InputError(f"{name}={text!r}; expected {what}, comma-separated, such as {example}")
    return values


def parse_nonnegative_ints(text: str | None, name: str) -> list[int] | None:
    """Parse ``"0,12"`` into integers >= 0 (plane indices); None -> None."""
    values = parse_ints(text, name)
    if values is not None and any(v < 0 for v in values):
        raise InputError(f"{name}={text!r}; expected indices >= 0, comma-separated, such as 0,12")
    return values


def parse_names(text: str | None) -> list[str] | None:
    """Parse ``"Na, Mg"`` into names; None -> None; ``"none"`` (or off, no) -> ``[]``."""
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if len(items) == 1 and items[0].lower() in ("none", "off", "no"):
        return []
    return items


def parse_voxel_size(value: str | None):
    """Parse ``--voxel-size``: one number or three (z,y,x) in µm; None -> None."""
    if value is None:
        return None
    parts = [p for p in value.replace(" ", "").split(",") if p]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"--voxel-size={value!r} is not numeric; expected µm as 2.296 or 'z,y,x'") from None
    if len(numbers) not in (1, 3):
        raise InputError(f"--voxel-size={value!r} must be one number or three (z,y,x) in µm")
    if not all(np.isfinite(n) and n > 0 for n in numbers):
        raise InputError(f"--voxel-size={value!r} must be positive and finite (µm), e.g. 2.296 or 4,2.296,2.296")
    return numbers[0] if len(numbers) == 1 else tuple(numbers)


def parse_clusters(text: str) -> int | str:
    """Parse ``--clusters``: a positive integer or ``"auto"``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"--clusters {text!r}; expected a positive integer or 'auto'") from None
    if value < 1:
        raise InputError(f"--clusters {text!r}; expected a positive integer or 'auto'")
    return value


def parse_size_classes(text: str | None) -> tuple[float, ...]:
    """Parse ``"63,100,250"`` into increasing positive bounds (µm); empty or None -> ``()``."""
    if text is None or not text.strip():
        return ()
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise InputError(f"--size-classes={text!r} is not a list of numbers; expected µm bounds like 63,100,250") from None
    if any(not np.isfinite(v) or v <= 0 for v in values) or any(a >= b for a, b in zip(values, values[1:])):
        raise InputError(f"--size-classes={text!r} must be positive and strictly increasing (µm), e.g. 63,100,250")
    return values


def parse_threshold(text) -> float:
    """Parse ``--liberated-at``: a grade fraction in (0, 1]."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputError(f"--liberated-at={text!r} is not a number; expected a grade fraction in (0, 1], e.g. 0.9") from None
    if not 0.0 < value <= 1.0:
        raise InputError(f"--liberated-at={text!r} must be in (0, 1] (a grade fraction, e.g. 0.9)")
    return value


def parse_spacing(text) -> int | None:
    """Parse ``--section-spacing``: a positive whole number of voxels, or None."""
    if text is None or str(text).strip() == "":
        return None
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InputError(f"--section-spacing={text!r} is not a whole number; expected voxels between planes, e.g. 8") from None
    if value < 1:
        raise InputError(f"--section-spacing={text!r} must be a positive number of voxels")
    return value


def parse_axes(text: str | None) -> tuple[str, ...]:
    """Parse ``"z"`` or ``"z,y"`` into section axes; ``"none"`` or empty -> no sections."""
    if text is None or text.strip().lower() in ("", "none"):
        return ()
    axes = tuple(a.strip().lower() for a in text.split(",") if a.strip())
    bad = [a for a in axes if a not in AXES]
    if bad or len(set(axes)) != len(axes):
        raise InputError(f"--sections={text!r} must be axis names from z, y, x (comma separated, no repeats) or 'none'")
    return axes
