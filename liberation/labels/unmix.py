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

import numpy as np

from liberation.errors import InputError

__all__ = ["unmix_labels", "unmixed_fractions"]


def _centres(rows: np.ndarray, lab: np.ndarray, use: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Mean feature row of each label (its pure rows when it has any)."""
    out = np.zeros((ids.size, rows.shape[1]), dtype=np.float64)
    for j, i in enumerate(ids):
        sel = (lab == i) & use
        if not sel.any():
            sel = lab == i
        out[j] = rows[sel].mean(axis=0)
    return out


def _refit_centres(rows: np.ndarray, k: int, a: np.ndarray, b: np.ndarray, t: np.ndarray,
                   void: np.ndarray | None, old: np.ndarray) -> np.ndarray:
    """Label centres by least squares on the two-component fits: ``x ~ (1 - t) c_a + t c_b`` (the void fixed).

    Index ``k`` in ``a``/``b`` is the void. Labels with too little weight keep their ``old`` centre.
    """
    n = rows.shape[0]
    w = np.zeros((n, k + 1))
    r = np.arange(n)
    np.add.at(w, (r, a), 1.0 - t)
    np.add.at(w, (r, b), t)
    target = rows.astype(np.float64)
    if void is not None:
        target = target - w[:, k:k + 1] * np.asarray(void, dtype=np.float64)[None, :]
    w = w[:, :k]
    gram = w.T @ w
    rhs = w.T @ target
    weight = w.sum(axis=0)
    out = old.copy()
    ok = weight >= 5.0
    if ok.any():
        sub = gram[np.ix_(ok, ok)]
        # labels left out keep their old centre: move their part to the right-hand side
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
        d = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)  # (b, M)
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


def _dominant_costs(rows: np.ndarray, centres: np.ndarray, n_labels: int, allowed: np.ndarray, penalty: float,
                    block: int = 131_072):
    """Cost of each label as the pixel's majority member: the best squared residual of a pure fit or of a
    mixture ``(1 - t) c_m + t c_b`` with ``t`` in 0..0.5 and ``b`` allowed (plus ``penalty``).

    ``centres`` (M, C) with the first ``n_labels`` rows the labels (the others, e.g. the void, only as
    partners); ``allowed`` (n, M). Returns ``cost`` (n, n_labels), ``partner`` (n, n_labels; ``m``
    itself for a pure fit) and ``t`` (n, n_labels).
    """
    n, m_all = rows.shape[0], centres.shape[0]
    cost = np.empty((n, n_labels))
    partner = np.empty((n, n_labels), dtype=np.int64)
    frac = np.zeros((n, n_labels))
    for start in range(0, n, block):
        sl = slice(start, start + block)
        x = rows[sl].astype(np.float64)
        ok = allowed[sl]
        d = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        c = d[:, :n_labels].copy()
        p = np.broadcast_to(np.arange(n_labels), c.shape).copy()
        f = np.zeros_like(c)
        for a in range(n_labels):
            for b in range(m_all):
                if b == a:
                    continue
                pair_ok = ok[:, b]
                if not pair_ok.any():
                    continue
                u = centres[b] - centres[a]
                uu = float(u @ u)
                if uu <= 1e-12:
                    continue
                proj = (x - centres[a]) @ u
                t = np.clip(proj / uu, 0.0, 0.5)
                res = d[:, a] - 2.0 * t * proj + t * t * uu + penalty
                better = pair_ok & (res < c[:, a])
                c[better, a], p[better, a], f[better, a] = res[better], b, t[better]
        cost[sl], partner[sl], frac[sl] = c, p, f
    return cost, partner, frac


def _neighbour_counts(image: np.ndarray, n_labels: int) -> np.ndarray:
    """(H, W, n_labels) number of 8-neighbours carrying each label index (image holds indices, -1 = none)."""
    from scipy import ndimage

    kernel = np.ones((3, 3))
    kernel[1, 1] = 0
    out = np.zeros((*image.shape, n_labels), dtype=np.float64)
    for j in range(n_labels):
        out[..., j] = ndimage.convolve((image == j).astype(np.float64), kernel, mode="constant")
    return out


def potts_labels(labels: np.ndarray, mask: np.ndarray, features: np.ndarray, *, pure: np.ndarray | None = None,
                 void: np.ndarray | None = None, beta: float = 1.0, penalty: float = 4.0, rounds: int = 4):
    """Majority-mineral labels by iterated conditional modes on mixture-aware data costs and a Potts prior.

    Cost of label ``m`` at a pixel: half the squared residual (noise-scaled features: one unit =
    one noise standard deviation, so this is the negative log-likelihood) of its best fit with
    ``m`` the majority member, pure or mixed with a label found among its 8 neighbours (or the
    void on the rim) at a fraction up to 0.5 (plus ``penalty`` / 2 for a mixture), plus ``beta``
    per 8-neighbour of another label. Updated in four interleaved pixel lattices per round.
    """
    labels = np.asarray(labels)
    mask = np.asarray(mask, dtype=bool)
    image = np.where(mask, labels, 0).astype(np.int64)
    flat = image[mask]
    inside = flat > 0
    rows = np.asarray(features)[inside].astype(np.float64)
    ids = np.unique(flat[inside])
    if ids.size == 0:
        return labels.copy(), None
    ys, xs = np.nonzero(mask)
    ys, xs = ys[inside], xs[inside]
    idx = np.searchsorted(ids, flat[inside])
    use = np.ones(rows.shape[0], dtype=bool) if pure is None else np.asarray(pure, dtype=bool)[mask][inside]
    k = ids.size
    void_near = None
    if void is not None:
        from scipy import ndimage

        void_near = ndimage.maximum_filter((~mask).astype(np.uint8), size=3, mode="constant", cval=1)[ys, xs] > 0
    colour = (ys % 2) * 2 + (xs % 2)
    cost = partner = frac = None
    fixed = _centres(rows, idx, use, np.arange(k))
    for _ in range(int(rounds)):
        centres = fixed.copy()
        current = np.full(mask.shape, -1, dtype=np.int64)
        current[ys, xs] = idx
        allowed = _presence(current, np.arange(k), 1)[ys, xs]
        if void is not None:
            centres = np.vstack([centres, np.asarray(void, dtype=np.float64)[None, :]])
            allowed = np.hstack([allowed, void_near[:, None]])
        cost, partner, frac = _dominant_costs(rows, centres, k, allowed, penalty)
        changed = 0
        for col in range(4):
            counts = _neighbour_counts(current, k)[ys, xs]
            energy = 0.5 * cost - beta * counts
            sel = colour == col
            new = energy[sel].argmin(axis=1)
            changed += int((new != idx[sel]).sum())
            idx[sel] = new
            current[ys[sel], xs[sel]] = new
        # centres of the next round: pixels whose best fit is pure and whose 8 neighbours agree
        counts = _neighbour_counts(current, k)[ys, xs]
        use = (counts[np.arange(idx.size), idx] >= 8) & (partner[np.arange(idx.size), idx] == idx)
        if changed == 0:
            break
    out = labels.copy()
    out[ys, xs] = ids[idx].astype(labels.dtype)
    r = np.arange(idx.size)
    fit = {"ids": ids, "a": idx, "b": partner[r, idx], "t": frac[r, idx], "residual": cost[r, idx]}
    return out, fit


def _presence(image: np.ndarray, codes: np.ndarray, radius: int) -> np.ndarray:
    """(H, W, M) bool: label code j occurs within ``radius`` pixels (Chebyshev) of each pixel."""
    from scipy import ndimage

    size = 2 * int(radius) + 1
    out = np.zeros((*image.shape, codes.size), dtype=bool)
    for j, c in enumerate(codes):
        out[..., j] = ndimage.maximum_filter((image == c).astype(np.uint8), size=size, mode="constant") > 0
    return out


def unmix_labels(labels: np.ndarray, mask: np.ndarray, features: np.ndarray, *, pure: np.ndarray | None = None,
                 void: np.ndarray | None = None, radius: int = 1, rounds: int = 6, penalty: float = 4.0,
                 rewhiten: bool = True, interior: bool = True, support: int = 0, refit: bool = True):
    """Label each pixel by the dominant member of its best two-component mixture.

    Each sample pixel is fitted as ``(1 - t) a + t b`` (least squares in the noise-scaled feature
    space, ``t`` in 0..1) where ``a`` and ``b`` are labels found within ``radius`` pixels of it
    (its own included; with ``void``, the void outside the sample is a member when the pixel
    touches it), or as one pure label; the best fit wins and the pixel takes the member of the
    larger fraction (the void never: a rim pixel keeps its mineral). Label centres are the means of
    their pure pixels (``pure``), recomputed each round; the neighbourhoods come from the labels
    of the previous round.

    Parameters
    ----------
    labels : numpy.ndarray
        (y, x) integer labels, 0 = outside / void.
    mask : numpy.ndarray
        (y, x) bool sample pixels, whose rows are ``features`` (row-major order).
    features : numpy.ndarray
        (mask.sum(), n_channels) noise-scaled features.
    pure : numpy.ndarray, optional
        (y, x) bool pixels that define the label centres (default: all).
    void : numpy.ndarray, optional
        (n_channels,) features of no signal.
    radius : int
        Neighbourhood radius in pixels for the mixture partners.
    rounds : int
        Relabelling rounds (stops early when no label changes).

    Returns
    -------
    labels : numpy.ndarray
        (y, x) new labels (same dtype; 0 kept outside the mask and where the input was 0).
    fit : dict
        ``ids`` (labels, ascending), per labelled sample pixel (row-major): ``a``, ``b`` (indices
        into ``ids``, ``len(ids)`` = the void), ``t`` (fraction of ``b``), ``residual``.
    """
    labels = np.asarray(labels)
    mask = np.asarray(mask, dtype=bool)
    if labels.shape != mask.shape:
        raise InputError(f"labels has shape {labels.shape}, mask {mask.shape}; expected one shape")
    if features.shape[0] != int(mask.sum()):
        raise InputError(f"features has {features.shape[0]} rows; expected one per mask pixel ({int(mask.sum())})")
    if int(radius) < 1 or int(rounds) < 1:
        raise InputError(f"radius={radius!r}, rounds={rounds!r}; expected integers >= 1")
    image = np.where(mask, labels, 0).astype(np.int64)
    flat = image[mask]
    inside = flat > 0
    rows = np.asarray(features)[inside]
    use = np.ones(rows.shape[0], dtype=bool) if pure is None else np.asarray(pure, dtype=bool)[mask][inside]
    ids = np.unique(flat[inside])
    fit = {"ids": ids, "a": np.zeros(0, np.int64), "b": np.zeros(0, np.int64), "t": np.zeros(0), "residual": np.zeros(0)}
    if ids.size == 0:
        return labels.copy(), fit
    ys, xs = np.nonzero(mask)
    ys, xs = ys[inside], xs[inside]
    lab = flat[inside]
    if interior:  # centres from pixels whose 8 neighbours carry their label (grain interiors), where a label has 10
        from scipy import ndimage

        same = np.ones(rows.shape[0], dtype=bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                shifted = ndimage.shift(image, (dy, dx), order=0, mode="constant", cval=-1)
                same &= shifted[ys, xs] == lab
        core = use & same
        enough = np.isin(lab, [i for i in ids if int((core & (lab == i)).sum()) >= 10])
        use = np.where(enough, core, use)
    outside = ~mask
    void_near = None
    if void is not None:
        from scipy import ndimage

        void_near = ndimage.maximum_filter(outside.astype(np.uint8), size=2 * int(radius) + 1,
                                           mode="constant", cval=1)[ys, xs] > 0
    if rewhiten:  # one unit = the pooled within-label standard deviation of the pure pixels, per channel
        sd = _pooled_sd(rows, lab, use, ids)
        rows = rows / sd
        void = None if void is None else np.asarray(void, dtype=np.float64) / sd
    pure_fit = None
    centres0 = _centres(rows, lab, use, ids)
    fitted = None
    for _ in range(int(rounds)):
        if fitted is None or not refit:
            centres = centres0
        else:
            centres = _refit_centres(rows, ids.size, *fitted, void, centres[: ids.size])
        current = np.zeros(mask.shape, dtype=np.int64)
        current[ys, xs] = lab
        allowed = _presence(current, ids, radius)[ys, xs]
        if pure_fit is not None and support:
            # partners: labels of pixels fitted as pure within support pixels (a mixed pixel's own label may
            # be a third mineral between its two members); pixels with none nearby keep the labels around them
            anchored = np.zeros(mask.shape, dtype=np.int64)
            anchored[ys[pure_fit], xs[pure_fit]] = lab[pure_fit]
            near = _presence(anchored, ids, support)[ys, xs]
            has = near.any(axis=1)
            allowed = np.where(has[:, None], near, allowed)
        if void is not None:
            centres = np.vstack([centres, np.asarray(void, dtype=np.float64)[None, :]])
            allowed = np.hstack([allowed, void_near[:, None]])
        a, b, t, res = _best_pairs(rows, centres, allowed, penalty)
        dominant = np.where(t > 0.5, b, a)
        if void is not None:  # the void never wins: the mineral member
            dominant = np.where(dominant == ids.size, np.where(dominant == a, b, a), dominant)
            dominant = np.where(dominant == ids.size, np.searchsorted(ids, lab), dominant)
        new = ids[dominant]
        pure_fit = a == b
        fitted = (a, b, t)
        fit = {"ids": ids, "a": a, "b": b, "t": t, "residual": res}
        if np.array_equal(new, lab):
            break
        lab = new
    out = labels.copy()
    out[ys, xs] = lab.astype(labels.dtype)
    return out, fit


def unmixed_fractions(fit: dict, *, chi2: float | None = None) -> dict[int, float]:
    """Area percent of each label from the two-component fits of :func:`unmix_labels`.

    A pixel fitted as ``(1 - t) a + t b`` counts ``1 - t`` to ``a`` and ``t`` to ``b``; the void's
    share is left out of the total (a rim pixel half in the void counts half a pixel).

    Returns
    -------
    dict of int to float
        Label id -> percent of the sample area.
    """
    ids = fit["ids"]
    if ids.size == 0:
        return {}
    m = ids.size + 1
    share = np.bincount(fit["a"], weights=1.0 - fit["t"], minlength=m)
    share += np.bincount(fit["b"], weights=fit["t"], minlength=m)
    total = share[: ids.size].sum()
    return {int(i): float(100.0 * v / total) for i, v in zip(ids, share[: ids.size])}
