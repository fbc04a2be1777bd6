"""Sentences of the report: the stereological bias in plain words (pure functions)."""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["bias_sentence", "generated_time", "headline_mineral"]


def generated_time() -> str:
    """The report's "Generated ..." time, UTC to the minute; ``SOURCE_DATE_EPOCH`` (seconds) when set.

    The environment variable of reproducible builds (matplotlib's PDF honours it too), so that two
    runs can write byte-identical pages.
    """
    import datetime as _dt
    import os

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch
            else _dt.datetime.now(_dt.timezone.utc))
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _finite(value) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def bias_sentence(mineral: str, fraction_2d: float | None, fraction_3d: float | None, *,
                  ci95=None, basis: str | None = None, tolerance_pp: float = 0.05) -> str:
    """State the 2D-vs-3D bias of the liberated fraction in one sentence.

    Parameters
    ----------
    mineral : str
        Mineral name.
    fraction_2d, fraction_3d : float or None
        Liberated fraction of the mineral from the 2D sections and in 3D, in [0, 1]; None or NaN
        where it could not be computed.
    ci95 : (float, float), optional
        95 % bootstrap interval of the difference 2D − 3D (fractions). When given, the difference is
        stated only when the interval excludes 0; otherwise the sentence says it is not significant
        at this sample size. Without it, differences below ``tolerance_pp`` count as agreement.
    basis : {"mass", "volume"}, optional
        Named in the sentence (``"by mass"``).
    tolerance_pp : float
        Differences smaller than this (percentage points) are reported as agreement (no interval).

    Returns
    -------
    str
        E.g. ``"By mass, 2D sections overestimate the liberated fraction of spodumene by 12.3
        percentage points (95 % interval 4.1 to 20.2; 2D 64.1 % vs 3D 51.8 %)."``
    """
    lead = f"By {basis}, " if basis else ""

    def cap(text: str) -> str:
        return lead + text if lead else text[0].upper() + text[1:]

    if not _finite(fraction_3d) and not _finite(fraction_2d):
        return f"The liberated fraction of {mineral} could not be computed (no analysed particle contains it)."
    if not _finite(fraction_2d):
        return (f"No 2D section cuts a particle containing {mineral}, so the 2D liberated fraction is undefined "
                f"(3D {100 * float(fraction_3d):.1f} %).")
    if not _finite(fraction_3d):
        return f"The 3D liberated fraction of {mineral} is undefined (2D {100 * float(fraction_2d):.1f} %)."
    f2, f3 = 100 * float(fraction_2d), 100 * float(fraction_3d)
    diff = f2 - f3
    values = f"2D {f2:.1f} % vs 3D {f3:.1f} %"
    if ci95 is not None and len(ci95) == 2 and _finite(ci95[0]) and _finite(ci95[1]):
        lo, hi = 100 * float(ci95[0]), 100 * float(ci95[1])
        interval = f"95 % interval {lo:+.1f} to {hi:+.1f} pct. points"
        if lo <= 0.0 <= hi:
            return cap(f"the 2D and 3D liberated fractions of {mineral} do not differ significantly at this "
                       f"sample size ({values}; difference {diff:+.1f} pct. points, {interval}).")
        verb = "overestimate" if diff > 0 else "underestimate"
        return cap(f"2D sections {verb} the liberated fraction of {mineral} by {abs(diff):.1f} percentage points "
                   f"({interval}; {values}).")
    if abs(diff) < tolerance_pp:
        return cap(f"2D sections and the 3D volume agree on the liberated fraction of {mineral} ({values}).")
    verb = "overestimate" if diff > 0 else "underestimate"
    return cap(f"2D sections {verb} the liberated fraction of {mineral} by {abs(diff):.1f} percentage points "
               f"({values}).")


def headline_sentence(mineral: str, fraction_2d: Mapping[str, float], fraction_3d: Mapping[str, float],
                      summary: Mapping, *, no_sections: bool, percent=None) -> str:
    """The report's headline: :func:`bias_sentence` of ``mineral``, or the 3D fraction alone without sections.

    Parameters
    ----------
    mineral : str
        The headline mineral (:func:`headline_mineral`).
    fraction_2d, fraction_3d : mapping
        Liberated fraction (0-1) per mineral, 2D sections and 3D particles.
    summary : mapping
        ``summary.json`` content (``bias_2d_minus_3d_ci95``, ``basis``).
    no_sections : bool
        No virtual 2D section was computed.
    percent : callable, optional
        Formats the 3D fraction (0-1) as a percentage; default ``f"{100 * v:.1f} %"``.
    """
    if no_sections:
        fmt = percent or (lambda v: f"{100 * v:.1f} %")
        return ("No virtual 2D sections were computed, so there is no 2D-vs-3D comparison; "
                f"3D liberated fraction of {mineral}: {fmt(fraction_3d.get(mineral, float('nan')))}.")
    return bias_sentence(mineral, fraction_2d.get(mineral), fraction_3d.get(mineral),
                         ci95=(summary.get("bias_2d_minus_3d_ci95") or {}).get(mineral), basis=summary.get("basis"))


def headline_mineral(target: str | None, fraction_2d: Mapping[str, float], fraction_3d: Mapping[str, float],
                     names: list[str]) -> str | None:
    """The mineral whose bias heads the report: the target, else the one with the largest |2D − 3D|.

    Parameters
    ----------
    target : str or None
        Target mineral chosen by the user.
    fraction_2d, fraction_3d : mapping of str to float
        Liberated fractions by mineral name.
    names : list of str
        Mineral names in id order (fallback order).
    """
    if target:
        return target
    best, best_gap = None, -1.0
    for name in names:
        a, b = fraction_2d.get(name), fraction_3d.get(name)
        if _finite(a) and _finite(b) and abs(float(a) - float(b)) > best_gap:
            best, best_gap = name, abs(float(a) - float(b))
    if best is None and names:
        best = names[0]
    return best
