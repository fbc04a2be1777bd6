"""Mineral assignment of clusters: explicit mapping, matching to reference signatures, declarative rules.

Each method returns an :class:`Assignment` whose table reports, per cluster, the mineral, the
distance to its reference (or the rule and its margin), the runner-up and a ``doubtful`` flag,
so that a user can see a weak match. :func:`mineral_map` turns clusters into a mineral label map.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from liberation.errors import InputError
from liberation.minerals import _DEFAULT_COLORS, ELEMENT_SYMBOLS, KNOWN_DENSITIES, MineralList  # tables re-exported

__all__ = [
    "ELEMENT_SYMBOLS",
    "KNOWN_DENSITIES",
    "VOID_NAMES",
    "Assignment",
    "assign_by_rules",
    "assign_explicit",
    "check_reference",
    "match_signatures",
    "mineral_map",
    "parse_rules",
]

# Channels that are not elements but may appear in feature stacks / reference tables.
NON_ELEMENT_CHANNELS = frozenset({"CT"})
#: Pseudo-pixels of pooled within-cluster variance added to each cluster's measured spread.
SHRINK_PIXELS = 10.0
VOID_NAMES = frozenset({"void", "background", "outside", "pore", "air", "resin", "epoxy"})

def _is_void(name) -> bool:
    return isinstance(name, str) and name.strip().lower() in VOID_NAMES


def check_reference(reference: pd.DataFrame, channels: Sequence[str]) -> pd.DataFrame:
    """Validate a reference signature table against the clustered channels.

    Parameters
    ----------
    reference : pandas.DataFrame
        One row per mineral (index = mineral name, or a ``mineral`` column), one column per
        element (or ``"CT"``), numeric.
    channels : sequence of str
        Channels of the centroid table.

    Returns
    -------
    pandas.DataFrame
        The reference indexed by mineral, with float columns (a new frame).

    Raises
    ------
    InputError
        For a column that is not an element symbol, an element without a map, duplicate or
        empty mineral names, or non-numeric values.
    """
    if not isinstance(reference, pd.DataFrame) or reference.empty:
        raise InputError("reference must be a non-empty table: one row per mineral, one column per element")
    ref = reference.copy()
    if "mineral" in ref.columns:
        ref = ref.set_index("mineral")
    ref.index = [str(i).strip() for i in ref.index]
    if any(not n for n in ref.index):
        raise InputError("reference has an empty mineral name")
    dup = sorted({n for n in ref.index if list(ref.index).count(n) > 1})
    if dup:
        raise InputError(f"reference lists minerals {dup} more than once")
    ref.columns = [str(c).strip() for c in ref.columns]
    unknown = [c for c in ref.columns if c not in ELEMENT_SYMBOLS and c not in NON_ELEMENT_CHANNELS]
    if unknown:
        raise InputError(f"reference has columns {unknown} that are not element symbols (e.g. 'Fe', 'Na') "
                         f"or 'CT'; columns must be elements")
    missing = [c for c in ref.columns if c not in channels]
    if missing:
        raise InputError(f"reference has elements {missing} with no map; the maps are {list(channels)}")
    try:
        ref = ref.astype(float)
    except (TypeError, ValueError):
        raise InputError("reference values must be numbers (element levels per mineral)") from None
    if not np.isfinite(ref.to_numpy()).all():
        raise InputError("reference has missing or non-finite values; give every element level of every mineral")
    return ref


@dataclass
class Assignment:
    """Clusters -> minerals.

    Attributes
    ----------
    table : pandas.DataFrame
        Index ``cluster``; columns ``mineral`` (None = not assigned), ``distance``, ``second_mineral``,
        ``second_distance``, ``doubtful`` (bool), ``reason`` (why doubtful, or the rule).
    method : str
        ``"explicit"``, ``"reference"`` or ``"rules"``.
    distances : pandas.DataFrame or None
        Clusters x minerals distance matrix (reference matching).
    """

    table: pd.DataFrame
    method: str
    distances: pd.DataFrame | None = None

    @property
    def mapping(self) -> dict[int, str | None]:
        """Cluster -> mineral name (None = not assigned)."""
        return {int(c): (None if pd.isna(m) else str(m)) for c, m in self.table["mineral"].items()}


def _table(clusters, minerals, distance=None, second=None, second_d=None, doubtful=None, reason=None):
    n = len(clusters)
    return pd.DataFrame(
        {
            "mineral": list(minerals),
            "distance": list(distance) if distance is not None else [np.nan] * n,
            "second_mineral": list(second) if second is not None else [None] * n,
            "second_distance": list(second_d) if second_d is not None else [np.nan] * n,
            "doubtful": list(doubtful) if doubtful is not None else [False] * n,
            "reason": list(reason) if reason is not None else [""] * n,
        },
        index=pd.Index([int(c) for c in clusters], name="cluster"),
    )


def assign_explicit(mapping: Mapping[int, str | None], clusters: Iterable[int]) -> Assignment:
    """Explicit cluster -> mineral mapping.

    Parameters
    ----------
    mapping : mapping of int to str or None
        Cluster id (1..K) -> mineral name; a void name ("void", "background", "pore", ...) sends the
        cluster to 0 (outside); None leaves it unassigned. Several clusters may share a mineral.
    clusters : iterable of int
        All cluster ids; those missing from ``mapping`` stay unassigned (reported as doubtful).
    """
    clusters = [int(c) for c in clusters]
    extra = sorted(set(int(c) for c in mapping) - set(clusters))
    if extra:
        raise InputError(f"mapping names clusters {extra} that do not exist (clusters: {clusters})")
    minerals = [mapping.get(c) for c in clusters]
    doubtful = [c not in mapping for c in clusters]
    reason = ["not in mapping" if c not in mapping else "explicit" for c in clusters]
    return Assignment(_table(clusters, minerals, doubtful=doubtful, reason=reason), "explicit")


def _normalise(table: np.ndarray, how: str) -> np.ndarray:
    if how == "none":
        return table.astype(float)
    if how == "range":
        lo, hi = table.min(axis=0), table.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        return (table - lo) / span
    if how == "zscore":
        mu, sd = table.mean(axis=0), table.std(axis=0)
        return (table - mu) / np.where(sd > 0, sd, 1.0)
    raise InputError(f"normalize={how!r}; expected 'range', 'zscore' or 'none'")


def _calibration_from(x: np.ndarray, r: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel gain and offset taking reference levels ``r`` (M, E) to centroid units ``x`` (K, E)."""
    if how == "none":
        return np.ones(r.shape[1]), np.zeros(r.shape[1])
    if how == "zscore":
        sx, sr = x.std(axis=0), r.std(axis=0)
        gain = np.where(sr > 0, sx / np.where(sr > 0, sr, 1.0), 1.0)
        return gain, x.mean(axis=0) - gain * r.mean(axis=0)
    # "range" (and the start of "fit")
    sx, sr = x.max(axis=0) - x.min(axis=0), r.max(axis=0) - r.min(axis=0)
    gain = np.where(sr > 0, sx / np.where(sr > 0, sr, 1.0), 1.0)
    return gain, x.min(axis=0) - gain * r.min(axis=0)


def _fit_calibration(x, r, named, weights, gain, offset):
    """Weighted least-squares line x = gain * r + offset per channel over the named clusters.

    Channels where the named clusters cover fewer than two distinct reference levels, or where the
    fitted gain is not positive, keep the given calibration.
    """
    gain, offset = gain.copy(), offset.copy()
    ok = named >= 0
    if ok.sum() < 2:
        return gain, offset
    w = weights[ok] / weights[ok].sum()
    for e in range(r.shape[1]):
        rr, xx = r[named[ok], e], x[ok, e]
        if np.unique(rr).size < 2:
            continue
        rm, xm = (w * rr).sum(), (w * xx).sum()
        var = (w * (rr - rm) ** 2).sum()
        g = (w * (rr - rm) * (xx - xm)).sum() / var if var > 0 else 0.0
        if g > 0 and np.isfinite(g):
            gain[e], offset[e] = g, xm - g * rm
    return gain, offset


def match_signatures(
    centroids: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    method: str = "nearest",
    normalize: str = "fit",
    spread: pd.DataFrame | None = None,
    sizes: Sequence[float] | pd.Series | None = None,
    max_z: float = 4.0,
    doubt_ratio: float = 0.8,
    doubt_distance: float | None = 0.3,
) -> Assignment:
    """Name cluster centroids after reference mineral signatures.

    ``method="nearest"`` (default, many-to-one): the reference levels are first taken to the
    centroid units by a per-element line ``level = gain * reference + offset``, then each cluster
    gets the reference nearest to its centroid in a noise-aware distance: the per-element
    difference is divided by the cluster's measured within-cluster standard deviation
    (``spread``, the spread of its pixels; without it, the Poisson standard deviation
    ``sqrt(level)`` of a counts map), and the distance is the root mean square of these z-scores
    over the elements. Several clusters may get one mineral (a mineral split by noise,
    or mixed pixels at its boundaries: cluster finely, then name). A cluster whose nearest
    calibrated reference is more than ``max_z`` within-cluster standard deviations away in some
    element is left unnamed (``mineral`` None, doubtful, reason ``unknown: ...``): it is not
    any reference mineral and is not forced onto one. The calibration (``normalize="fit"``)
    starts from the per-table range normalisation and the optimal one-to-one pairing, then is
    refitted by weighted least squares (weights = cluster sizes) over the named clusters, the
    naming redone, until the naming stops changing (at most 20 rounds); the unknown clusters
    do not enter the fit. ``normalize="range"``/``"zscore"`` keep the per-table calibration;
    ``"none"``: reference and centroids are in the same units. The fit is run from a second start
    as well, the reference taken as it is (same units), and the calibration that names more
    pixels (then: nearer) is kept.

    ``method="one-to-one"``: the former optimal one-to-one assignment: both tables normalised per
    channel (``"range"``: min..max of the rows to 0..1; ``"zscore"``; ``"none"``), the distance
    is the root-mean-square difference per channel, :func:`scipy.optimize.linear_sum_assignment`
    minimises the total; with more clusters than minerals the extra clusters are left
    unassigned (doubtful).

    Both tables are restricted to the reference's channels; channels constant in the reference
    carry no information and are dropped. A match is flagged ``doubtful`` when its distance is
    more than ``doubt_ratio`` times the distance to the runner-up (ambiguous); one-to-one also
    flags a cluster closer to another reference than to its own and a distance above
    ``doubt_distance``.

    Parameters
    ----------
    centroids : pandas.DataFrame
        Index cluster id; columns channels (as :attr:`ClusterResult.centroids`), input units.
    reference : pandas.DataFrame
        Index mineral (or a ``mineral`` column); columns elements, any units (8-bit levels,
        counts, wt%).
    method : {"nearest", "one-to-one"}
        See above.
    normalize : {"fit", "range", "zscore", "none"}
        Calibration of the reference to the centroid units (``"fit"`` only with ``"nearest"``;
        one-to-one defaults to ``"range"`` when given ``"fit"``).
    spread : pandas.DataFrame, optional
        Within-cluster standard deviation per cluster and channel, centroid units
        (:attr:`ClusterResult.spread`). Default: Poisson, ``sqrt(max(centroid, 1))``. With
        ``sizes``, each cluster's variance is shrunk towards the size-weighted pooled variance
        with the weight of ``SHRINK_PIXELS`` (10) pixels, so a cluster of a few pixels with no
        spread in a weak element does not make that element infinitely strict.
    sizes : sequence of float or pandas.Series, optional
        Pixels per cluster (weights of the calibration fit; default equal).
    max_z : float
        Nearest method: largest per-element z-score of a named cluster (> 0).
    doubt_ratio : float
        See above (0 < value <= 1).
    doubt_distance : float or None
        One-to-one only, in normalised units (None: no limit).

    Returns
    -------
    Assignment
        ``table.attrs`` holds ``channels``, ``normalize``, ``method`` and (nearest) the
        calibration ``gain`` and ``offset`` per channel; ``distances`` the clusters x minerals
        distance matrix.
    """
    ref = check_reference(reference, list(centroids.columns))
    informative = [c for c in ref.columns if ref[c].max() > ref[c].min()] if len(ref) > 1 else list(ref.columns)
    if not informative:
        raise InputError("reference has no element whose level differs between minerals; cannot match")
    if not 0 < doubt_ratio <= 1:
        raise InputError(f"doubt_ratio={doubt_ratio!r}; expected 0 < value <= 1")
    if method not in ("nearest", "one-to-one"):
        raise InputError(f"method={method!r}; expected 'nearest' (many-to-one) or 'one-to-one'")
    if normalize not in ("fit", "range", "zscore", "none"):
        raise InputError(f"normalize={normalize!r}; expected 'fit', 'range', 'zscore' or 'none'")
    if method == "one-to-one":
        return _match_one_to_one(centroids, ref, informative, "range" if normalize == "fit" else normalize,
                                 doubt_ratio, doubt_distance)
    if not (np.isfinite(max_z) and max_z > 0):
        raise InputError(f"max_z={max_z!r}; expected a positive number of standard deviations")
    clusters = [int(c) for c in centroids.index]
    x = centroids[informative].to_numpy(dtype=float)
    r = ref[informative].to_numpy(dtype=float)
    if spread is not None:
        missing = [c for c in informative if c not in spread.columns]
        if missing or len(spread) != len(centroids):
            raise InputError(f"spread must have one row per cluster ({len(centroids)}) and the channels "
                             f"{informative}; got {len(spread)} rows, missing {missing}")
        sd = spread.loc[centroids.index, informative].to_numpy(dtype=float)
        noise = "measured within-cluster spread"
    else:
        sd = np.sqrt(np.maximum(x, 1.0))
        noise = "Poisson sqrt(level)"
    if sizes is None:
        weights = np.ones(len(clusters))
    else:
        weights = np.asarray(sizes, dtype=float).reshape(-1)
        if weights.shape != (len(clusters),) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise InputError(f"sizes must give one non-negative pixel count per cluster ({len(clusters)})")
        weights = np.maximum(weights, 1e-12)
    sd = np.nan_to_num(sd, nan=0.0)
    if sizes is not None:
        # a small cluster's spread is a poor estimate: shrink its variance towards the pooled
        # within-cluster variance of the element with the weight of SHRINK_PIXELS pixels
        pooled = (weights[:, None] * sd**2).sum(axis=0) / weights.sum()
        sd = np.sqrt((weights[:, None] * sd**2 + SHRINK_PIXELS * pooled[None, :]) / (weights[:, None] + SHRINK_PIXELS))
    # floor: a cluster with (nearly) no spread in a channel must not make that channel infinitely strict
    floor = 1e-3 * np.maximum(np.abs(x).max(axis=0), 1e-12)
    sd = np.maximum(sd, floor[None, :])
    gain, offset = _calibration_from(x, r, "range" if normalize == "fit" else normalize)

    def distances(gain, offset):
        z = (x[:, None, :] - (r * gain + offset)[None, :, :]) / sd[:, None, :]
        return np.sqrt((z**2).mean(axis=2)), np.abs(z)

    if normalize == "fit":
        from scipy.optimize import linear_sum_assignment

        def refit(named, gain, offset):
            start_gain, start_offset = gain, offset
            for _ in range(20):
                gain, offset = _fit_calibration(x, r, named, weights, start_gain, start_offset)
                dist, zabs = distances(gain, offset)
                best = dist.argmin(axis=1)
                new = np.where(zabs[np.arange(len(clusters)), best].max(axis=1) > max_z, -1, best)
                if np.array_equal(new, named):
                    break
                named = new
            dist, zabs = distances(gain, offset)
            best = dist.argmin(axis=1)
            ok = zabs[np.arange(len(clusters)), best].max(axis=1) <= max_z
            # the better calibration names more pixels, then is closer on the named ones
            score = (float(weights[ok].sum()), -float((weights[ok] * dist[ok, best[ok]]).sum()))
            return score, gain, offset

        a = _normalise(x, "range")
        b = _normalise(r, "range")
        rows, cols = linear_sum_assignment(np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).mean(axis=2)))
        named = np.full(len(clusters), -1)
        named[rows] = cols
        starts = [(named, gain, offset)]
        # second start: the reference already in the map units (wt% maps and a wt% table, or
        # counts and expected counts): a mixed-pixel cluster taken for a mineral by the
        # range-normalised pairing must not pull the calibration away from the pure one
        unit, zero = np.ones_like(gain), np.zeros_like(offset)
        dist0, zabs0 = distances(unit, zero)
        best0 = dist0.argmin(axis=1)
        starts.append((np.where(zabs0[np.arange(len(clusters)), best0].max(axis=1) > max_z, -1, best0), unit, zero))
        _, gain, offset = max((refit(*start) for start in starts), key=lambda t: t[0])
    dist, zabs = distances(gain, offset)
    names = list(ref.index)
    minerals, d, second, second_d, doubtful, reason = [], [], [], [], [], []
    for i in range(len(clusters)):
        order = np.argsort(dist[i], kind="stable")
        j = int(order[0])
        runner = int(order[1]) if len(order) > 1 else None
        zrow = zabs[i, j]
        worst = int(np.argmax(zrow))
        d.append(float(dist[i, j]))
        second.append(names[runner] if runner is not None else None)
        second_d.append(float(dist[i, runner]) if runner is not None else np.nan)
        if zrow[worst] > max_z:
            minerals.append(None)
            doubtful.append(True)
            reason.append(f"unknown: nearest reference {names[j]} is {zrow[worst]:.1f} within-cluster standard "
                          f"deviations off in {informative[worst]} (> max_z {max_z:g})")
            continue
        minerals.append(names[j])
        if runner is not None and dist[i, j] > doubt_ratio * dist[i, runner]:
            doubtful.append(True)
            reason.append(f"distance {dist[i, j]:.2f} close to {names[runner]} ({dist[i, runner]:.2f})")
        else:
            doubtful.append(False)
            reason.append("")
    table = _table(clusters, minerals, d, second, second_d, doubtful, reason)
    table.attrs.update({"channels": informative, "normalize": normalize, "method": "nearest", "noise": noise,
                        "max_z": max_z, "gain": dict(zip(informative, gain.tolist())),
                        "offset": dict(zip(informative, offset.tolist()))})
    distances_table = pd.DataFrame(dist, index=pd.Index(clusters, name="cluster"), columns=names)
    return Assignment(table, "reference", distances_table)


def _match_one_to_one(centroids, ref, informative, normalize, doubt_ratio, doubt_distance) -> Assignment:
    from scipy.optimize import linear_sum_assignment

    a = _normalise(centroids[informative].to_numpy(dtype=float), normalize)
    b = _normalise(ref[informative].to_numpy(dtype=float), normalize)
    dist = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).mean(axis=2))
    rows, cols = linear_sum_assignment(dist)
    chosen = dict(zip(rows.tolist(), cols.tolist()))
    names = list(ref.index)
    clusters = [int(c) for c in centroids.index]
    minerals, d, second, second_d, doubtful, reason = [], [], [], [], [], []
    for i in range(len(clusters)):
        order = np.argsort(dist[i], kind="stable")
        if i not in chosen:
            minerals.append(None)
            d.append(np.nan)
            second.append(names[order[0]])
            second_d.append(float(dist[i, order[0]]))
            doubtful.append(True)
            reason.append("more clusters than reference minerals: not assigned")
            continue
        j = chosen[i]
        others = [k for k in order if k != j]
        minerals.append(names[j])
        d.append(float(dist[i, j]))
        runner = others[0] if others else None
        second.append(names[runner] if runner is not None else None)
        second_d.append(float(dist[i, runner]) if runner is not None else np.nan)
        why = []
        if order[0] != j:
            why.append(f"nearest reference is {names[order[0]]}")
        if runner is not None and dist[i, j] > doubt_ratio * dist[i, runner]:
            why.append(f"distance {dist[i, j]:.3f} close to {names[runner]} ({dist[i, runner]:.3f})")
        if doubt_distance is not None and dist[i, j] > doubt_distance:
            why.append(f"distance {dist[i, j]:.3f} > {doubt_distance}")
        doubtful.append(bool(why))
        reason.append("; ".join(why))
    table = _table(clusters, minerals, d, second, second_d, doubtful, reason)
    table.attrs["channels"] = informative
    table.attrs["normalize"] = normalize
    table.attrs["method"] = "one-to-one"
    distances = pd.DataFrame(dist, index=pd.Index(clusters, name="cluster"), columns=names)
    return Assignment(table, "reference", distances)


_RULE = re.compile(r"^\s*(highest|lowest|max|min)\s+([A-Za-z]+)\s*$|^\s*(remaining|rest|last)\s*$", re.IGNORECASE)


def parse_rules(rules: str | Sequence[str] | Mapping[str, str]) -> list[tuple[str, str, str | None]]:
    """Parse declarative rules into ``(mineral, kind, channel)`` tuples, in order.

    Accepted forms: a mapping ``{"illite": "highest K"}``, a list of ``"illite: highest K"``
    strings, or one string with one rule per line or separated by ``;``. Kinds: ``highest X``,
    ``lowest X`` (also ``max X`` / ``min X``) and ``remaining`` (the one cluster left).
    """
    if isinstance(rules, str):
        items = [r for r in re.split(r"[;\n]", rules) if r.strip()]
    elif isinstance(rules, Mapping):
        items = [f"{k}: {v}" for k, v in rules.items()]
    else:
        items = list(rules)
    parsed = []
    for item in items:
        if ":" not in item:
            raise InputError(f"rule {item!r} has no ':'; expected 'mineral: highest Element'")
        name, _, body = item.partition(":")
        match = _RULE.match(body)
        if not name.strip() or not match:
            raise InputError(f"rule {item!r} is not understood; expected 'mineral: highest X', "
                             "'mineral: lowest X' or 'mineral: remaining'")
        if match.group(3):
            parsed.append((name.strip(), "remaining", None))
        else:
            kind = "highest" if match.group(1).lower() in ("highest", "max") else "lowest"
            parsed.append((name.strip(), kind, match.group(2)))
    if not parsed:
        raise InputError("rules is empty")
    return parsed


def assign_by_rules(
    centroids: pd.DataFrame,
    rules: str | Sequence[str] | Mapping[str, str],
    *,
    doubt_margin: float = 0.05,
) -> Assignment:
    """Assign minerals with declarative rules applied in order to the clusters not yet assigned.

    ``"illite: highest K"`` gives illite the remaining cluster with the highest K centroid (as in
    Deep-XFCT, section 3.1.2); ``"quartz: lowest Fe"``; ``"laumontite: remaining"`` takes the one
    cluster left. The ``distance`` column holds the margin to the runner-up cluster as a fraction
    of the channel's range over all clusters; a margin below ``doubt_margin`` is flagged doubtful.

    Parameters
    ----------
    centroids : pandas.DataFrame
        Index cluster id; columns channels.
    rules : see :func:`parse_rules`
    doubt_margin : float
        Fraction of the channel range.
    """
    parsed = parse_rules(rules)
    channels = list(centroids.columns)
    clusters = [int(c) for c in centroids.index]
    remaining = list(clusters)
    result: dict[int, tuple] = {}
    for name, kind, channel in parsed:
        if not remaining:
            raise InputError(f"rule for {name!r}: no cluster left to assign ({len(clusters)} clusters)")
        if kind == "remaining":
            if len(remaining) != 1:
                raise InputError(f"rule '{name}: remaining' needs exactly one cluster left; {len(remaining)} are "
                                 f"left ({remaining})")
            result[remaining.pop()] = (name, np.nan, None, False, "remaining")
            continue
        if channel not in channels:
            raise InputError(f"rule for {name!r} uses {channel!r}, which is not a channel; channels are {channels}")
        values = centroids.loc[remaining, channel].to_numpy(dtype=float)
        span = float(centroids[channel].max() - centroids[channel].min()) or 1.0
        order = np.argsort(-values if kind == "highest" else values, kind="stable")
        best = remaining[order[0]]
        margin = abs(values[order[0]] - values[order[1]]) / span if len(order) > 1 else np.nan
        runner = remaining[order[1]] if len(order) > 1 else None
        doubtful = bool(len(order) > 1 and margin < doubt_margin)
        result[best] = (name, margin, runner, doubtful, f"{kind} {channel}")
        remaining.remove(best)
    minerals = [result.get(c, (None,))[0] for c in clusters]
    margin = [result.get(c, (None, np.nan))[1] for c in clusters]
    runner = [None if c not in result or result[c][2] is None else f"cluster {result[c][2]}" for c in clusters]
    doubtful = [result[c][3] if c in result else True for c in clusters]
    reason = [result[c][4] if c in result else "no rule matched" for c in clusters]
    table = _table(clusters, minerals, margin, runner, [np.nan] * len(clusters), doubtful, reason)
    return Assignment(table, "rules")


def mineral_map(
    cluster_map: np.ndarray,
    assignment: Assignment | Mapping[int, str | None],
    *,
    minerals: MineralList | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Turn a cluster map into a mineral label map.

    Parameters
    ----------
    cluster_map : numpy.ndarray
        (y, x) integer, 0 = outside, 1..K clusters.
    assignment : Assignment or mapping of int to str
        Cluster -> mineral. Unassigned clusters keep a mineral of their own named ``"cluster <c>"``;
        void names map to 0.
    minerals : MineralList, optional
        Ids, colours and densities by name; names not in it get new ids after its largest id.

    Returns
    -------
    label_map : numpy.ndarray
        (y, x) uint8: 0 = outside/void, mineral ids.
    table : pandas.DataFrame
        Index ``id``; columns ``name``, ``color``, ``density`` (g/cm³, NaN if unknown), ``clusters``.
    """
    cluster_map = np.asarray(cluster_map)
    if cluster_map.dtype.kind not in "ui":
        raise InputError(f"cluster_map has dtype {cluster_map.dtype}; expected integer cluster ids")
    mapping = assignment.mapping if isinstance(assignment, Assignment) else {int(k): v for k, v in assignment.items()}
    present = [int(c) for c in np.unique(cluster_map) if c > 0]
    names: dict[int, str | None] = {}
    for c in sorted(set(present) | set(mapping)):
        name = mapping.get(c)
        names[c] = None if _is_void(name) else (name if name is not None else f"cluster {c}")
    by_name: dict[str, int] = {}
    next_id = (minerals.max_id if minerals is not None else 0) + 1
    rows = {}
    for c in sorted(names):
        name = names[c]
        if name is None:
            continue
        if name not in by_name:
            if minerals is not None and name in minerals:
                m = minerals[name]
                by_name[name] = m.id
                rows[m.id] = {"name": name, "color": m.color, "density": m.density, "clusters": []}
            else:
                if next_id > 254:
                    raise InputError("more than 254 minerals; a uint8 label map cannot hold them")
                by_name[name] = next_id
                rows[next_id] = {"name": name, "color": _DEFAULT_COLORS[(next_id - 1) % len(_DEFAULT_COLORS)],
                                 "density": KNOWN_DENSITIES.get(name.lower(), np.nan), "clusters": []}
                next_id += 1
        rows[by_name[name]]["clusters"].append(c)
    lut = np.zeros(max([int(cluster_map.max()), *names.keys(), 0]) + 1, dtype=np.uint8)
    for c, name in names.items():
        lut[c] = 0 if name is None else by_name[name]
    label_map = lut[cluster_map]
    table = pd.DataFrame.from_dict(rows, orient="index")
    if table.empty:
        table = pd.DataFrame(columns=["name", "color", "density", "clusters"])
    table.index.name = "id"
    table = table.sort_index()
    table["clusters"] = [" ".join(str(c) for c in v) for v in table["clusters"]]
    return label_map, table
