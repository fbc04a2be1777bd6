"""Sorting decision from a segmented belt frame: per-fragment ore share, accept/eject, air-jet commands.

Frame geometry: rows run along the belt (row 0 was scanned first, so it is the farthest
downstream when the frame is complete), columns across it. At the frame's completion
time ``t = 0`` a pixel in row ``r`` is ``(H - 1 - r) * pixel`` past the scan line; it
reaches the valve bar ``valve_distance_mm`` downstream of the scan line after
``(valve_distance_mm - (H - 1 - r) * pixel) / belt speed``. A fragment's valve opens when
its leading edge (smallest row) arrives and closes when its trailing edge (largest row)
has passed; valves cover the fragment's columns. Vectorised over fragments.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from liberation.errors import InputError

__all__ = ["FRAGMENT_RULES", "air_jet_commands", "fragment_class_vote", "fragment_decisions", "split_fragments"]

#: Rules of :func:`fragment_class_vote`.
FRAGMENT_RULES = ("mean", "majority")


def fragment_decisions(
    mask,
    *,
    pixel_size_um: float,
    ore_classes=(1,),
    threshold: float = 0.5,
    eject: str = "waste",
    min_area_mm2: float = 0.0,
    instances=None,
) -> dict:
    """Per-fragment area, ore share and accept/eject decision.

    Parameters
    ----------
    mask : array_like, (y, x) int
        Class mask (0 background; fragments are connected components of ``mask > 0``,
        8-connected).
    pixel_size_um : float
        Belt pixel size, µm.
    ore_classes : sequence of int
        Mask values counted as ore.
    threshold : float
        A fragment is ore when its ore share (ore pixels / fragment pixels) is at least this.
    eject : str
        Which fragments the air jets blow out: ``"waste"`` or ``"ore"``.
    min_area_mm2 : float
        Fragments smaller than this are never ejected (too small to hit).
    instances : array_like, (y, x) int, optional
        Fragment ids to use instead of connected components (0 = none).

    Returns
    -------
    dict of ndarray, one entry per fragment
        ``id``, ``area_px``, ``area_mm2``, ``ore_share``, ``is_ore``, ``eject``,
        ``centroid_row``, ``centroid_col``, ``row_min``, ``row_max``, ``col_min``, ``col_max``.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype.kind not in "ui":
        raise InputError(f"mask has shape {mask.shape} and dtype {mask.dtype}; expected a 2D integer class mask")
    if not (pixel_size_um > 0):
        raise InputError(f"pixel_size_um={pixel_size_um!r} must be positive (µm)")
    if not (0.0 <= threshold <= 1.0):
        raise InputError(f"threshold={threshold!r} must be within [0, 1]")
    if eject not in ("waste", "ore"):
        raise InputError(f"eject={eject!r} must be 'waste' or 'ore'")
    if instances is None:
        labels, n = ndi.label(mask > 0, structure=np.ones((3, 3), bool))
    else:
        labels = np.asarray(instances)
        if labels.shape != mask.shape:
            raise InputError(f"instances has shape {labels.shape}; expected the mask shape {mask.shape}")
        labels = np.where(mask > 0, labels, 0)
        n = int(labels.max(initial=0))
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:].astype(np.int64)
    ore = np.bincount(flat, weights=np.isin(mask, ore_classes).ravel(), minlength=n + 1)[1:]
    rows, cols = np.indices(mask.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(area > 0, ore / np.maximum(area, 1), 0.0)
        cr = np.bincount(flat, weights=rows.ravel(), minlength=n + 1)[1:] / np.maximum(area, 1)
        cc = np.bincount(flat, weights=cols.ravel(), minlength=n + 1)[1:] / np.maximum(area, 1)
    slices = ndi.find_objects(labels, max_label=n) if n else []
    bbox = np.array([[s[0].start, s[0].stop - 1, s[1].start, s[1].stop - 1] if s is not None else [-1, -1, -1, -1]
                     for s in slices], dtype=np.int64).reshape(-1, 4)
    keep = area > 0
    px_mm2 = (pixel_size_um / 1000.0) ** 2
    area_mm2 = area * px_mm2
    is_ore = share >= threshold
    ejected = (~is_ore if eject == "waste" else is_ore) & (area_mm2 >= min_area_mm2)
    ids = np.arange(1, n + 1, dtype=np.int64)
    out = {"id": ids, "area_px": area, "area_mm2": area_mm2, "ore_share": share, "is_ore": is_ore, "eject": ejected,
           "centroid_row": cr, "centroid_col": cc, "row_min": bbox[:, 0], "row_max": bbox[:, 1],
           "col_min": bbox[:, 2], "col_max": bbox[:, 3]}
    return {k: v[keep] for k, v in out.items()}


def split_fragments(foreground, *, min_distance: int = 5, smooth: float = 1.0, min_radius: float = 2.0,
                    connectivity: int = 1, attenuation=None, attenuation_smooth: float = 1.5) -> np.ndarray:
    """Split a foreground mask into fragments: watershed of the distance to the belt, or of the attenuation.

    Touching fragments form one connected component; each gets its own id when its
    (Gaussian-smoothed) distance-to-background map has its own maximum. Components
    without a maximum (thinner than ``min_radius``) keep one id. With ``attenuation``
    the watershed runs on the product of that distance and the attenuation (smoothed
    inside the foreground with sigma ``attenuation_smooth``): a fragment is thickest
    inside, so two touching fragments show two maxima and a valley at their contact
    even where the outline has no neck (angular rock); the distance factor keeps the
    split of touching rounded fragments.

    Parameters
    ----------
    foreground : array_like, (y, x) bool
        Fragment pixels.
    min_distance : int
        Smallest distance between two fragment centres, pixels (about the smallest
        fragment radius to be split off; 5 px = 2.5 mm at 0.5 mm pixels).
    smooth : float
        Gaussian sigma of the distance map, pixels (0: none).
    min_radius : float
        Smallest inscribed radius of a fragment centre, pixels.
    connectivity : int
        1 (4-connected) or 2 (8-connected) components.
    attenuation : array_like, (y, x) float, optional
        Log attenuation of the frame: split on the maxima of distance × attenuation
        (any height) instead of the distance alone.
    attenuation_smooth : float
        Gaussian sigma of the attenuation inside the foreground, pixels (> 0).

    Returns
    -------
    ndarray, (y, x) int32
        Fragment ids 1..n, 0 on the background.
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    fg = np.asarray(foreground, dtype=bool)
    if fg.ndim != 2:
        raise InputError(f"foreground has shape {fg.shape}; expected a 2D (y, x) mask")
    if int(min_distance) < 1 or smooth < 0 or min_radius < 0:
        raise InputError(f"min_distance={min_distance!r} must be >= 1 and smooth={smooth!r}, "
                         f"min_radius={min_radius!r} >= 0 (pixels)")
    structure = ndi.generate_binary_structure(2, connectivity)
    comp, n = ndi.label(fg, structure=structure)
    if n == 0:
        return comp.astype(np.int32)
    dist = ndi.distance_transform_edt(fg)
    if smooth > 0:
        dist = ndi.gaussian_filter(dist, smooth)
    if attenuation is None:
        surface, floor = dist, float(min_radius)
    else:
        att = np.asarray(attenuation, dtype=np.float64)
        if att.shape != fg.shape:
            raise InputError(f"attenuation has shape {att.shape}; expected the foreground's {fg.shape}")
        if not attenuation_smooth > 0:
            raise InputError(f"attenuation_smooth={attenuation_smooth!r} must be positive (pixels)")
        inside = fg.astype(np.float64)
        num = ndi.gaussian_filter(np.where(fg, np.nan_to_num(att), 0.0), attenuation_smooth)
        smoothed = np.where(fg, num / np.maximum(ndi.gaussian_filter(inside, attenuation_smooth), 1e-9), 0.0)
        surface, floor = dist * np.maximum(smoothed, 0.0), 0.0
    peaks = peak_local_max(surface, min_distance=int(min_distance), threshold_abs=floor, labels=comp,
                           exclude_border=False)
    markers = np.zeros(fg.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    # components without a peak keep one marker of their own
    has = np.zeros(n + 1, bool)
    has[comp[tuple(peaks.T)]] = True
    missing = np.flatnonzero(~has[1:]) + 1
    if len(missing):
        first = ndi.maximum_position(dist, comp, missing)
        for j, pos in enumerate(first):
            markers[pos] = len(peaks) + 1 + j
    out = watershed(-surface, markers, mask=fg, connectivity=connectivity)
    return out.astype(np.int32)


def fragment_class_vote(probabilities, *, rule: str = "mean", instances=None, split: bool = True,
                        min_distance: int = 5, connectivity: int = 1) -> np.ndarray:
    """One class per fragment: the fragment-level decision of a belt sorter, from pixel probabilities.

    On a belt sorter ore/waste is a property of the whole fragment (it is accepted or
    ejected as one piece), while a pixel classifier may paint one fragment partly ore,
    partly waste (its thin edges look like waste, a dense vein like ore). This keeps the
    pixel foreground (``argmax != 0``) and gives every pixel of a fragment the fragment
    class with the largest score over the fragment:

    * ``"mean"``: the mean over the fragment's pixels of the class probabilities
      renormalised over the fragment classes, ``p_c / sum_{k >= 1} p_k`` (c >= 1);
    * ``"majority"``: the most frequent pixel class (argmax over the fragment classes;
      ties go to the lower class index).

    Fragments are the connected components of the predicted foreground (``connectivity``
    1: 4-connected, 2: 8-connected), split where fragments touch (``split``, see
    :func:`split_fragments`), or the given ``instances`` restricted to it.

    Parameters
    ----------
    probabilities : array_like, (K, y, x) or (n, K, y, x) float
        Class probabilities (softmax of the logits; class 0 is the background, K >= 2).
        Unnormalised non-negative scores are accepted: only ratios between fragment
        classes and the argmax are used.
    rule : {"mean", "majority"}
        Fragment score, see above.
    instances : array_like, (y, x) or (n, y, x) int, optional
        Fragment ids (0 = none) instead of connected components.
    split : bool
        Split touching fragments (a merged cluster would otherwise take one class).
    min_distance : int
        Smallest distance between fragment centres for the split, pixels.
    connectivity : int
        1 or 2, for the connected components.

    Returns
    -------
    ndarray, uint8, (y, x) or (n, y, x)
        Class mask: 0 where ``argmax`` is the background, else the fragment's class.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim not in (3, 4) or p.shape[-3] < 2:
        raise InputError(f"probabilities have shape {p.shape}; expected (K, y, x) or (n, K, y, x) with K >= 2")
    if rule not in FRAGMENT_RULES:
        raise InputError(f"rule={rule!r} is not known; expected one of {FRAGMENT_RULES}")
    if connectivity not in (1, 2):
        raise InputError(f"connectivity={connectivity!r} must be 1 (4-connected) or 2 (8-connected)")
    if not np.isfinite(p).all() or (p < 0).any():
        raise InputError("probabilities must be finite and non-negative (softmax of the logits)")
    single = p.ndim == 3
    p = p[None] if single else p
    inst = None
    if instances is not None:
        inst = np.asarray(instances)
        inst = inst[None] if inst.ndim == 2 else inst
        if inst.shape != (p.shape[0], *p.shape[2:]) or inst.dtype.kind not in "ui":
            raise InputError(f"instances have shape {inst.shape} and dtype {inst.dtype}; expected integer ids of "
                             f"shape {(p.shape[0], *p.shape[2:])}")
    n_cls = p.shape[1]
    structure = ndi.generate_binary_structure(2, connectivity)
    out = np.zeros((p.shape[0], *p.shape[2:]), np.uint8)
    for i in range(p.shape[0]):
        pix = p[i].argmax(0)
        fg = pix > 0
        if inst is not None:
            labels, n = np.where(fg, inst[i], 0), int(inst[i].max(initial=0))
        elif split:
            labels = split_fragments(fg, min_distance=min_distance, connectivity=connectivity)
            n = int(labels.max(initial=0))
        else:
            labels, n = ndi.label(fg, structure=structure)
        if n == 0:
            continue
        flat = labels.ravel()
        frag = p[i, 1:].reshape(n_cls - 1, -1)
        if rule == "mean":
            w = frag / np.maximum(frag.sum(0, keepdims=True), 1e-300)
        else:
            w = (np.arange(1, n_cls)[:, None] == frag.argmax(0)[None] + 1).astype(np.float64)
        score = np.stack([np.bincount(flat, weights=w[c], minlength=n + 1) for c in range(n_cls - 1)])
        lut = (score.argmax(0) + 1).astype(np.uint8)
        lut[0] = 0
        out[i] = np.where(fg, lut[labels], 0)
    return out[0] if single else out


def air_jet_commands(
    fragments: dict,
    *,
    frame_shape: tuple[int, int],
    pixel_size_um: float,
    belt_speed_m_s: float,
    valve_distance_mm: float,
    n_valves: int,
    belt_width_mm: float | None = None,
    latency_ms: float = 0.0,
) -> dict:
    """Valve indices and timing for the fragments marked ``eject``.

    Parameters
    ----------
    fragments : dict
        Output of :func:`fragment_decisions`.
    frame_shape : (int, int)
        Frame size (rows along the belt, columns across).
    pixel_size_um : float
        Belt pixel size, µm.
    belt_speed_m_s : float
        Belt speed, m/s.
    valve_distance_mm : float
        Distance from the scan line to the valve bar, mm.
    n_valves : int
        Number of air-jet valves evenly spaced across the belt.
    belt_width_mm : float, optional
        Width covered by the valves; default the frame width.
    latency_ms : float
        Time from frame completion until the command is issued (segmentation time).

    Returns
    -------
    dict of ndarray, one entry per ejected fragment
        ``id``, ``valve``, ``valve_first``, ``valve_last`` (0-based, across the belt),
        ``open_delay_s`` (from command issue), ``duration_s``, ``late`` (True if the
        leading edge passed the valves before the command).
    """
    if belt_speed_m_s <= 0 or valve_distance_mm <= 0 or n_valves < 1 or pixel_size_um <= 0:
        raise InputError(f"belt_speed_m_s={belt_speed_m_s!r}, valve_distance_mm={valve_distance_mm!r}, "
                         f"n_valves={n_valves!r}, pixel_size_um={pixel_size_um!r} must all be positive")
    h, w = (int(v) for v in frame_shape)
    px = pixel_size_um / 1000.0
    width = float(belt_width_mm) if belt_width_mm is not None else w * px
    pitch = width / n_valves
    sel = np.asarray(fragments["eject"], bool)
    v_mm_s = belt_speed_m_s * 1000.0

    def valve_of(col):
        return np.clip(np.floor((np.asarray(col, float) + 0.5) * px / pitch), 0, n_valves - 1).astype(np.int64)

    lead = valve_distance_mm - (h - 1 - fragments["row_min"][sel]) * px
    trail = valve_distance_mm - (h - 1 - fragments["row_max"][sel]) * px + px
    open_t = lead / v_mm_s - latency_ms / 1000.0
    close_t = trail / v_mm_s - latency_ms / 1000.0
    return {
        "id": fragments["id"][sel],
        "valve": valve_of(fragments["centroid_col"][sel]),
        "valve_first": valve_of(fragments["col_min"][sel]),
        "valve_last": valve_of(fragments["col_max"][sel]),
        "open_delay_s": np.maximum(open_t, 0.0),
        "duration_s": np.maximum(close_t - np.maximum(open_t, 0.0), 0.0),
        "late": open_t < 0,
    }
