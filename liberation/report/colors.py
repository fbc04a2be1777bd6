"""Report colours that stay apart from the CT grey and for colour-blind readers (pure, no I/O).

Colours are compared in CIELAB with the CIEDE2000 difference (:func:`skimage.color.deltaE_ciede2000`)
as seen with normal vision and as simulated for protanopia and deuteranopia with the matrices of
Machado, Oliveira and Fernandes (2009, severity 1.0; applied in linear RGB). A mineral colour of
the store is kept for the report when it clears :data:`MIN_DELTA_E` against every grey of the CT
and every colour already chosen, in all three visions; otherwise the report substitutes the next
colour of :data:`REPORT_PALETTE` that does (the store's colour is not changed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "CVD_MATRICES",
    "GREYS",
    "MIN_DELTA_E",
    "REPORT_PALETTE",
    "delta_e",
    "min_separation",
    "report_colors",
    "simulate_cvd",
    "to_lab",
]

#: Machado et al. (2009) simulation matrices at severity 1.0, acting on linear RGB column vectors.
CVD_MATRICES: dict[str, np.ndarray] = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
}

#: Visions every check runs under.
VISIONS = ("normal", "protanopia", "deuteranopia")

#: The greys of the CT display (``cmap="gray"``) the overlay colours must stand apart from: black to white.
GREYS: tuple[str, ...] = tuple(f"#{v:02x}{v:02x}{v:02x}" for v in np.linspace(0, 255, 11).round().astype(int))

#: Smallest CIEDE2000 difference between two report colours, and between a colour and any CT grey,
#: in every vision of :data:`VISIONS` (about 10 is "clearly different at a glance").
MIN_DELTA_E = 10.0

#: Default mineral palette of the report, in order of use: chosen so that every pair and every colour
#: against every grey of :data:`GREYS` clears :data:`MIN_DELTA_E` in normal, protanope and deuteranope
#: vision (tests/test_report_colors.py checks it).
REPORT_PALETTE: tuple[str, ...] = ("#0072b2", "#e69f00", "#f0e442", "#56b4e9", "#d55e00", "#aaffc3", "#8c564b",
                                   "#800000", "#004488", "#000075")


def _rgb(colors) -> np.ndarray:
    from matplotlib.colors import to_rgb

    if isinstance(colors, str):
        colors = [colors]
    return np.array([to_rgb(c) for c in colors], dtype=float).reshape(-1, 3)


def _to_linear(srgb: np.ndarray) -> np.ndarray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _to_srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def simulate_cvd(colors, vision: str = "deuteranopia") -> np.ndarray:
    """sRGB colours as seen with a colour vision deficiency (Machado et al. 2009, severity 1).

    Parameters
    ----------
    colors : str or sequence of str or array, shape (n, 3)
        Colours (matplotlib colour specs or sRGB in [0, 1]).
    vision : {"normal", "protanopia", "deuteranopia"}
        The vision to simulate.

    Returns
    -------
    ndarray, shape (n, 3)
        Simulated sRGB in [0, 1].
    """
    rgb = np.asarray(colors, dtype=float) if isinstance(colors, np.ndarray) else _rgb(colors)
    rgb = rgb.reshape(-1, 3)
    if vision == "normal":
        return rgb.copy()
    if vision not in CVD_MATRICES:
        raise ValueError(f"vision={vision!r}; expected one of {', '.join(VISIONS)}")
    return _to_srgb(_to_linear(rgb) @ CVD_MATRICES[vision].T)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB colours in [0, 1], shape (n, 3) -> (n, 3)."""
    from skimage.color import rgb2lab

    return rgb2lab(np.asarray(rgb, dtype=float).reshape(1, -1, 3))[0]


def delta_e(a, b, *, vision: str = "normal") -> np.ndarray:
    """CIEDE2000 difference between every colour of ``a`` and every colour of ``b`` under ``vision``.

    Returns
    -------
    ndarray, shape (len(a), len(b))
    """
    from skimage.color import deltaE_ciede2000

    la = to_lab(simulate_cvd(_rgb(a), vision))
    lb = to_lab(simulate_cvd(_rgb(b), vision))
    return deltaE_ciede2000(la[:, None, :], lb[None, :, :])


def min_separation(colors: Sequence[str], *, greys: Iterable[str] = GREYS) -> dict[str, float]:
    """Smallest CIEDE2000 difference within ``colors`` and against ``greys``, per vision.

    Returns
    -------
    dict
        ``{"normal": d, "protanopia": d, "deuteranopia": d}``: the minimum over every pair of
        colours and every colour-grey pair (inf for one colour and no greys).
    """
    colors, greys = list(colors), list(greys)
    out = {}
    for vision in VISIONS:
        values = [np.inf]
        if len(colors) > 1:
            d = delta_e(colors, colors, vision=vision)
            values.append(float(d[np.triu_indices(len(colors), 1)].min()))
        if colors and greys:
            values.append(float(delta_e(colors, greys, vision=vision).min()))
        out[vision] = min(values)
    return out


def _fits(color: str, chosen: list[str], greys: list[str], threshold: float) -> bool:
    return all(v >= threshold for v in min_separation([color], greys=greys + chosen).values())


def report_colors(colors: Mapping[str, str], *, greys: Iterable[str] = GREYS,
                  palette: Sequence[str] = REPORT_PALETTE, threshold: float = MIN_DELTA_E) -> dict[str, str]:
    """The colour of each mineral in the report figures.

    A mineral keeps its own colour when it clears ``threshold`` against every grey and every own
    colour kept before it (in mineral order) in normal, protanope and deuteranope vision; the others
    then get, in mineral order, the first colour of ``palette`` that clears it against the greys and
    every colour chosen so far (or, when none does, the palette colour farthest from them).

    Parameters
    ----------
    colors : mapping of str to str
        Mineral name -> its colour in the mineral list (``"#RRGGBB"``), in mineral order.
    greys : iterable of str
        The CT greys to avoid.
    palette : sequence of str
        Substitute colours, in order of preference.
    threshold : float
        Smallest CIEDE2000 difference.

    Returns
    -------
    dict
        Mineral name -> colour (lower-case hex).
    """
    from matplotlib.colors import to_hex

    greys = list(greys)
    own = {name: to_hex(c) for name, c in colors.items()}
    kept: dict[str, str] = {}
    for name, color in own.items():  # first pass: the mineral list's own colours that are fine
        if _fits(color, list(kept.values()), greys, threshold):
            kept[name] = color
    for name in own:  # second pass: substitutes for the others
        if name in kept:
            continue
        taken = list(kept.values())
        free = [to_hex(c) for c in palette if to_hex(c) not in taken]
        pick = next((c for c in free if _fits(c, taken, greys, threshold)), None)
        if pick is None and free:
            pick = max(free, key=lambda c: min(min_separation([c], greys=greys + taken).values()))
        kept[name] = pick or own[name]
    return {name: kept[name] for name in own}
