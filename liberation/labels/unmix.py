"""Mixed pixels labelled by their majority mineral: two-component unmixing with partners from the neighbourhood.

On maps whose grains are a few pixels across most pixels straddle two or three grains. The
nearest mineral centre is then often a third mineral whose signature lies between the two (the
Deep-XFCT laumontite between albite and clinochlore), and the label is not the majority mineral.
:func:`unmix_labels` fits every pixel as a mixture ``(1 - t) a + t b`` of two labels present in
its neighbourhood (or a label and the void outside the sample) and labels it by the dominant
member, a few rounds (the neighbourhood of the new labels); the fitted fractions give an
area-fraction estimate that is unbiased on mixtures (:func:`unmixed_fractions`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from liberation.errors import InputError

__all__ = ["unmix_labels"]


def _centres(rows: np.ndarray, lab: np.ndarray, use: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Mean feature row of each label (its pure rows when it has any)."""
    out = np.zeros((ids.size, rows.shape[1]), dtype=np.float64)
    for j, i in enumerate(ids):
        sel = (lab == i) & use
        if not sel.any():
            sel = lab == i
        out[j] = rows[sel].mean(axis=0, dtype=np.float64)
    return out


def _refit_centres(rows: np.ndarray, k: int, a: np.ndarray, b: np.ndarray, t: np.ndarray,
                   void: np.ndarray | None, old: np.ndarray) -> np.ndarray:
    """Label centres by least squares on the two-component fits: ``x ~ (1 - t) c_a + t c_b`` (the void fixed).

    Index ``k`` in ``a``/``b`` is the void; ``t = 0`` where ``a == b`` (a pure fit). Labels with a total weight
    under 5 pixels keep their ``old`` centre.
    """
    m = k + 1
    wa, wb = 1.0 - t, t
    gram = (np.bincount(a * m + a, weights=wa * wa, minlength=m * m)
            + np.bincount(b * m + b, weights=wb * wb, minlength=m * m)
            + np.bincount(a * m + b, weights=wa * wb, minlength=m * m)
            + np.bincount(b * m + a, weights=wa * wb, minlength=m * m)).reshape(m, m)
    rhs = np.zeros((m, rows.shape[1]))
    for j in range(rows.shape[1]):
        rhs[:, j] = (np.bincount(a, weights=wa * rows[:, j], minlength=m)
                     + np.bincount(b, weights=wb * rows[:, j], minlength=m))
    if void is not None:
        rhs = rhs[:k] - np.outer(gram[:k, k], void)
    else:
        rhs = rhs[:k]
    gram = gram[:k, :k]
    weight = np.bincount(a, weights=wa, minlength=m)[:k] + np.bincount(b, weights=wb, minlength=m)[:k]
    out = old.copy()
    ok = weight >= 5.0
    if ok.any():
        sub = gram[np.ix_(ok, ok)]
        rhs_ok = rhs[ok] - gram[np.ix_(ok, ~ok)] @ old[~ok] if (~ok).any() else rhs[ok]
        try:
            out[ok] = np.linalg.solve(sub + 1e-9 * np.eye(sub.shape[0]), rhs_ok)
        except np.linalg.LinAlgError:
            return old
    return out


def _pooled_sd(rows: np.ndarray, lab: np.ndarray, use: np.ndarray, ids: np.ndarray, floor: float = 0.5) -> np.ndarray:
    """Per-channel pooled within-label standard deviation of the ``use`` rows, at least ``floor``.

    The features are already noise-scaled (one unit ~ the measured pixel noise); the floor keeps a
    channel that is nearly constant (clipped at zero, quantized) from being blown up.
    """
    ss = np.zeros(rows.shape[1])
    dof = 0
    for i in ids:
        sel = (lab == i) & use
        if int(sel.sum()) >= 10:
            block = rows[sel].astype(np.float64)
            ss += ((block - block.mean(axis=0)) ** 2).sum(axis=0)
            dof += block.shape[0] - 1
    if dof == 0:
        return np.ones(rows.shape[1])
    return np.maximum(np.sqrt(ss / dof), floor)


def _best_pairs(rows: np.ndarray, centres: np.ndarray, allowed: np.ndarray, penalty: float = 0.0,
                block: int = 131_072):
    """Best two-centre fit of each row among the allowed pairs.

    ``centres`` (M, C); ``allowed`` (n, M) bool: centres a row may be made of. Returns ``a``, ``b``
    (indices into centres; ``a == b`` for a pure fit), ``t`` (fraction of ``b``) and the squared
    residual.
    """
    n, m = rows.shape[0], centres.shape[0]
    best_a = np.zeros(n, dtype=np.int64)
    best_b = np.zeros(n, dtype=np.int64)
    best_t = np.zeros(n, dtype=np.float64)
    best_r = np.full(n, np.inf)
    for start in range(0, n, block):
        sl = slice(start, start + block)
        x = rows[sl].astype(np.float64)
        ok = allowed[sl]
        # pure fits
        d = np.maximum((x * x).sum(axis=1)[:, None] - 2.0 * x @ centres.T + (centres * centres).sum(axis=1)[None, :],
                       0.0)  # (block, M) squared distances
        d_ok = np.where(ok, d, np.inf)
        a0 = d_ok.argmin(axis=1)
        ra, rb, rt = a0.copy(), a0.copy(), np.zeros(x.shape[0])
        rr = d_ok[np.arange(x.shape[0]), a0]
        for a in range(m):
            for b in range(a + 1, m):
                sel = np.flatnonzero(ok[:, a] & ok[:, b])  # only the rows that may mix these two
                if sel.size == 0:
                    continue
                u = centres[b] - centres[a]
                uu = float(u @ u)
                if uu <= 1e-12:
                    continue
                proj = (x[sel] - centres[a]) @ u
                t = np.clip(proj / uu, 0.0, 1.0)
                res = d[sel, a] - 2.0 * t * proj + t * t * uu + penalty
                better = res < rr[sel]
                rows_b = sel[better]
                ra[rows_b], rb[rows_b], rt[rows_b], rr[rows_b] = a, b, t[better], res[better]
        best_a[sl], best_b[sl], best_t[sl], best_r[sl] = ra, rb, rt, rr
    return best_a, best_b, best_t, best_r


def _presence(image: np.ndarray, codes: np.ndarray, radius: int) -> np.ndarray:
    """(H, W, M) bool: label code j occurs within ``radius`` pixels (Chebyshev) of each pixel."""
    from scipy import ndimage

    size = 2 * int(radius) + 1
    out = np.zeros((*image.shape, codes.size), dtype=bool)
    for j, c in enumerate(codes):
        out[..., j] = ndimage.maximum_filter((image == c).astype(np.uint8), size=size, mode="constant") > 0
    return out


def _interior(image: np.ndarray, ys: np.ndarray, xs: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Pixels (at ``ys``, ``xs``, labelled ``lab``) whose 8 neighbours all carry their label."""
    padded = np.pad(image, 1, constant_values=-1)
    same = np.ones(lab.size, dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                same &= padded[ys + 1 + dy, xs + 1 + dx] == lab
    return same


def _mixture_labels(centres: np.ndarray, candidates: np.ndarray, void: np.ndarray | None,
                    fraction: tuple[float, float] = (0.2, 0.8), tolerance: float = 0.15) -> list[int]:
    """Indices of ``candidates`` whose centre lies on the segment between two other centres (or one and the
    void) at a fraction in ``fraction``, within ``tolerance`` x its distance to the nearer end."""
    found = []
    k = centres.shape[0]
    ends = centres if void is None else np.vstack([centres, void[None, :]])
    for u in candidates:
        others = [j for j in range(ends.shape[0]) if j != u and j not in found]
        hit = False
        for ia, a in enumerate(others):
            for b in others[ia + 1:]:
                if a >= k:
                    continue
                vec = ends[b] - ends[a]
                vv = float(vec @ vec)
                if vv <= 1e-12:
                    continue
                t = float((centres[u] - ends[a]) @ vec) / vv
                if not fraction[0] <= t <= fraction[1]:
                    continue
                residual = float(np.linalg.norm(centres[u] - ends[a] - t * vec))
                near = min(float(np.linalg.norm(centres[u] - ends[a])), float(np.linalg.norm(centres[u] - ends[b])))
                if residual <= tolerance * near:
                    hit = True
                    break
            if hit:
                break
        if hit:
            found.append(int(u))
    return found


def unmix_labels(labels: np.ndarray, mask: np.ndarray, features: np.ndarray, *, pure: np.ndarray | None = None,
                 void: np.ndarray | None = None, radius: int = 1, rounds: int = 6, penalty: float = 4.0,
                 unknown: Iterable[int] = ()):
    """Label each pixel by the majority member of its best two-component mixture.

    Every labelled sample pixel ``x`` is fitted as one label's centre ``c_a``, or as a mixture
    ``(1 - t) c_a + t c_b`` (least squares, ``t`` in 0..1) of two labels found within ``radius``
    pixels of it (its own included) or of a label and the void (``void``: a pixel within
    ``radius`` of the outside of the mask); a mixture must lower the squared residual by more
    than ``penalty``. The pixel takes the member of the larger fraction (never the void: a rim
    pixel keeps a mineral). Repeated ``rounds`` times (until no label changes), each round with
    the neighbourhoods of the previous round's labels.

    The fit is done in the features divided per channel by the pooled within-label standard
    deviation of the grain interiors (at least 0.5: the features are already noise-scaled), so
    that one unit is one noise standard deviation of the data at hand. Label centres start as the
    means of the pixels of ``pure`` whose 8 neighbours carry their label (grain interiors; all
    ``pure`` pixels of a label with fewer than 10); each later round refits them by least squares
    on the previous round's mixtures (``x = (1 - t) c_a + t c_b`` is linear in the centres), so
    the centres of minerals found mostly in small grains are not pulled towards their neighbours.

    Parameters
    ----------
    labels : numpy.ndarray
        (y, x) integer labels, 0 = outside / void.
    mask : numpy.ndarray
        (y, x) bool sample pixels, whose rows are ``features`` (row-major order).
    features : numpy.ndarray
        (mask.sum(), n_channels) noise-scaled features (:attr:`ClusterResult.features`).
    pure : numpy.ndarray, optional
        (y, x) bool pixels that may define the label centres (default: all).
    void : numpy.ndarray, optional
        (n_channels,) features of no signal (:attr:`ClusterResult.void`).
    radius : int
        Neighbourhood radius in pixels for the two members.
    rounds : int
        Most relabelling rounds.
    penalty : float
        Least drop of the squared residual (noise units) for a mixture to beat a pure fit.
    unknown : iterable of int
        Labels of unnamed clusters. One whose mean lies on the segment between two other labels'
        centres (or one and the void) at a fraction of 0.2-0.8, within 0.15 x its distance to the
        nearer end, is a cluster of mixed pixels (K-means on grains a few pixels across): it is
        dissolved, its pixels fitted with the other labels only (the labels found around them, or
        any other label when there are none).

    Returns
    -------
    numpy.ndarray
        (y, x) new labels (same dtype; 0 kept outside the mask and where the input was 0).
    """
    labels = np.asarray(labels)
    mask = np.asarray(mask, dtype=bool)
    if labels.shape != mask.shape:
        raise InputError(f"labels has shape {labels.shape}, mask {mask.shape}; expected one shape")
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] != int(mask.sum()):
        raise InputError(f"features has shape {features.shape}; expected one row per mask pixel ({int(mask.sum())})")
    if int(radius) < 1 or int(rounds) < 1 or not penalty >= 0:
        raise InputError(f"radius={radius!r}, rounds={rounds!r}, penalty={penalty!r}; expected radius and rounds "
                         ">= 1 and penalty >= 0")
    image = np.where(mask, labels, 0).astype(np.int64)
    flat = image[mask]
    inside = flat > 0
    ids = np.unique(flat[inside])
    if ids.size == 0:
        return labels.copy()
    rows = features[inside].astype(np.float32)  # float32 like the features: big maps (blocks go to float64)
    use = np.ones(rows.shape[0], dtype=bool) if pure is None else np.asarray(pure, dtype=bool)[mask][inside]
    ys, xs = np.nonzero(mask)
    ys, xs = ys[inside], xs[inside]
    lab = flat[inside]
    core = use & _interior(image, ys, xs, lab)
    enough = [i for i in ids if int((core & (lab == i)).sum()) >= 10]
    use = np.where(np.isin(lab, enough), core, use)
    sd = _pooled_sd(rows, lab, use, ids)
    rows /= sd.astype(np.float32)
    void_near = None
    if void is not None:
        from scipy import ndimage

        void = np.asarray(void, dtype=np.float64) / sd
        void_near = ndimage.maximum_filter((~mask).astype(np.uint8), size=2 * int(radius) + 1, mode="constant",
                                           cval=1)[ys, xs] > 0
    k = ids.size
    centres = _centres(rows, lab, use, ids)
    idx = np.searchsorted(ids, lab)
    unknown_idx = np.searchsorted(ids, [u for u in unknown if u in ids]).astype(np.int64)
    means = np.stack([rows[idx == j].mean(axis=0, dtype=np.float64) for j in range(k)])
    dissolved = np.asarray(_mixture_labels(means, unknown_idx, void), dtype=np.int64)
    free = np.isin(idx, dissolved)
    fit = None
    for _ in range(int(rounds)):
        if fit is not None:
            centres = _refit_centres(rows, k, *fit, void, centres)
        current = np.zeros(mask.shape, dtype=np.int64)
        current[ys, xs] = ids[idx]
        allowed = _presence(current, ids, radius)[ys, xs]
        if dissolved.size:
            allowed[:, dissolved] = False
            lonely = ~allowed.any(axis=1)
            allowed[lonely] = ~np.isin(np.arange(k), dissolved)
        members = centres
        if void is not None:
            members = np.vstack([centres, void[None, :]])
            allowed = np.hstack([allowed, void_near[:, None]])
        a, b, t, _ = _best_pairs(rows, members, allowed, penalty)
        fit = (a, b, t)
        new = np.where(t > 0.5, b, a)
        new = np.where(new == k, np.where(new == a, b, a), new)  # the void is never the label
        new = np.where(new == k, idx, new)
        new = np.where(free & np.isin(new, dissolved), a, new)  # a dissolved label never comes back
        if np.array_equal(new, idx):
            break
        idx = new
    out = labels.copy()
    out[ys, xs] = ids[idx].astype(labels.dtype)
    return out
