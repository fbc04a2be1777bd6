"""Texture features for the pixel classifier: oriented structure and least-variance (Kuwahara) windows.

The pixel classifier's filter features (Gaussian, local standard deviation, gradient
magnitude, Laplacian of Gaussian at 0.7-2.5 voxels) are isotropic. Two kinds of texture
feature are offered here, all rotation-invariant (eigenvalues, not tensor components; minima
over a symmetric set of windows):

*Least-variance windows* (the default, :data:`TEXTURE_FEATURES`). Inside a grain the filter
features already separate quartz from twinned albite on the zoo's texture kinds (about 99 %
of the voxels 3 or more voxels from a phase boundary, 64³, ``mount-coarse``); the errors sit
within 1-2 voxels of a boundary, where every Gaussian window centred on the voxel also covers
the neighbouring grain, whose grey step or texture enters the local standard deviation. As in
the Kuwahara filter, the Gaussian windows shifted by ``round(1.5 sigma)`` voxels in 26
directions (the axes, face and space diagonals; 6 axis directions alone gained about 0.01
less accuracy) are compared with the centred one and the one with the smallest variance (the
one inside a single grain) is used:

- ``kstd<sigma>``: the smallest local standard deviation of the 27 Gaussian windows;
- ``kmean<sigma>``: the mean grey value of that window (an edge-preserving mean);
- ``kbp<sigma>``: the smallest band-pass energy ``sqrt(G_sigma * b^2)`` of the 27 windows
  (``b`` the difference of Gaussians below).

*Oriented structure* (measured, not in the default set: see docs/segmentation.md):

- ``st<rho>_l1``, ``st<rho>_l2``, ``st<rho>_l3``, ``st<rho>_coh``: the structure tensor
  ``J = G_rho * (grad v grad v^T)`` (gradient of Gaussian at ``ST_SIGMA`` voxels, integrated
  by a Gaussian of ``rho`` voxels), the square roots of its sorted eigenvalues
  (``l1 >= l2 >= l3``) and the coherence ``(l1 - l2) / (l1 + l2)``. Planar lamellae put their
  gradient energy along their normal (``l1``); white noise adds the same to all three;
- ``hess<sigma>_l1``, ``_l2``, ``_l3``: the eigenvalues of the Hessian of Gaussian at
  ``sigma`` voxels, sorted by value;
- ``bt<rho>_l1``, ``_l2``, ``_l3``, ``_coh``: eigenvalues (square roots) of the integrated
  *boundary tensor* ``G_rho * (w^2 grad v grad v^T + H H)`` at ``BT_SIGMA`` (``H`` the
  Hessian, ``w = 2 pi / BT_PERIOD``): gradient and Hessian respond in quadrature to a wave
  along its normal, so the sum is a local energy independent of the wave's phase;
- ``bp<rho>``: band-pass energy ``sqrt(G_rho * b^2)`` of the difference of Gaussians
  ``b = G_BP_SIGMA v - G_(2 BP_SIGMA) v`` (peaks at a period of about 4-5 voxels);
  ``bpstd<rho>``: the local standard deviation of ``b`` in a Gaussian window of ``rho``.

On the zoo's albite the oriented features add little: its lamellae (period 4 voxels, a
square wave drawn on the voxel grid, then blurred) alias into several directions, and the
blur (0.4-0.8 voxel) takes most of the fundamental, so the gradient's coherence is low.

All are separable ``scipy.ndimage`` filters (``mode="reflect"``) and array shifts. They nest
two filters (or a filter and a shift): :func:`texture_features` computes them on the block
extended along z by :func:`texture_halo` planes (numpy ``"symmetric"``, the edge voxel
repeated, as scipy's ``"reflect"``), so the features of a slab cut with that halo from a
longer volume equal those of the whole volume at the slab's planes
(:func:`~liberation.segmentation.pixel_classifier.plane_features`).
"""

from __future__ import annotations

import re

import numpy as np
from scipy import ndimage

from liberation.errors import InputError

__all__ = ["BP_SIGMA", "BT_PERIOD", "BT_SIGMA", "ST_SIGMA", "TEXTURE_FEATURES", "parse_texture_feature",
           "sorted_eigenvalues", "structure_tensor", "texture_features", "texture_halo"]

#: Gradient (derivative of Gaussian) scale of the structure tensor, in voxels.
ST_SIGMA = 0.7
#: Derivative scale of the boundary tensor, in voxels.
BT_SIGMA = 1.0
#: Period (voxels) the boundary tensor weighs gradient against Hessian for.
BT_PERIOD = 4.0
#: Inner scale of the difference-of-Gaussians band-pass (``G_s - G_2s``), in voxels.
BP_SIGMA = 0.6
_TRUNCATE = 4.0  # scipy.ndimage default

_PATTERN = re.compile(r"^(?:(st|bt)(\d+(?:\.\d+)?)_(l1|l2|l3|coh)|(hess)(\d+(?:\.\d+)?)_(l1|l2|l3)|"
                      r"(bp|bpstd|kstd|kmean|kbp)(\d+(?:\.\d+)?))$")

#: The texture features the pixel classifier adds by default (see the module docstring).
TEXTURE_FEATURES = ("kstd0.7", "kstd1", "kstd1.6", "kmean0.7", "kmean1", "kmean1.6", "kbp0.7", "kbp1", "kbp1.6")


def parse_texture_feature(name: str) -> tuple[str, float, str]:
    """Split a texture feature name into (kind, scale in voxels, part): ``"st3_coh"`` -> ``("st", 3.0, "coh")``."""
    m = _PATTERN.match(str(name))
    if not m:
        raise InputError(f"texture feature {name!r} is not known; expected 'kstd<sigma>', 'kmean<sigma>', "
                         "'kbp<sigma>', 'st<rho>_l1|l2|l3|coh', 'bt<rho>_l1|l2|l3|coh', 'hess<sigma>_l1|l2|l3', "
                         "'bp<rho>' or 'bpstd<rho>', e.g. 'kstd1.6', 'st3_coh'")
    if m.group(1):
        kind, scale, part = m.group(1), float(m.group(2)), m.group(3)
    elif m.group(4):
        kind, scale, part = m.group(4), float(m.group(5)), m.group(6)
    else:
        kind, scale, part = m.group(7), float(m.group(8)), ""
    if not 0.0 < scale <= 8.0:
        raise InputError(f"texture feature {name!r}: scale {scale:g} voxels; expected 0 < scale <= 8")
    return kind, scale, part


def _radius(sigma: float) -> int:
    return int(_TRUNCATE * float(sigma) + 0.5)


def _shift(sigma: float) -> int:
    # offset (voxels) of the shifted windows of the Kuwahara-style features
    return max(1, int(round(1.5 * float(sigma))))


def _shifted(a: np.ndarray, axis: int, d: int) -> np.ndarray:
    """``a`` moved by ``d`` voxels along ``axis`` (out[i] = a[i + d]), reflected at the ends (numpy "symmetric")."""
    n = a.shape[axis]
    index = np.pad(np.arange(n), abs(d), mode="symmetric")[abs(d) + d:abs(d) + d + n]
    return np.take(a, index, axis=axis)


def _least_variance(v: np.ndarray, sigma: float, z_index):
    """Over the Gaussian window of ``sigma`` at the voxel and the 26 windows shifted by ``_shift(sigma)``
    voxels (:func:`_offsets`): the smallest local standard deviation and the mean of that window (the
    Kuwahara filter's choice: the window that lies inside one grain)."""
    mean = ndimage.gaussian_filter(v, sigma)
    var = np.maximum(ndimage.gaussian_filter(v * v, sigma) - mean * mean, 0.0)
    d = _shift(sigma)
    shifted_var, shifted_mean = _Shifts(var, z_index, d), _Shifts(mean, z_index, d)
    best_var, best_mean = np.array(var[z_index]), np.array(mean[z_index])
    take = np.empty(best_var.shape, dtype=bool)
    for offset in _offsets(sigma):
        sv = shifted_var.at(offset)
        np.less(sv, best_var, out=take)
        np.copyto(best_var, sv, where=take)
        np.copyto(best_mean, shifted_mean.at(offset), where=take)
    return np.sqrt(best_var), best_mean


def _offsets(sigma: float) -> list:
    """The 26 shifts of the Kuwahara-style windows: ``_shift(sigma)`` voxels along the axes, face and
    space diagonals (each direction scaled to that length, rounded to whole voxels)."""
    d = _shift(sigma)
    out = []
    for o in np.ndindex(3, 3, 3):
        u = np.array(o) - 1
        if u.any():
            out.append(tuple(int(round(x)) for x in u * d / np.linalg.norm(u)))
    return out


class _Shifts:
    """Views of ``a`` moved by offsets of at most ``d`` voxels per axis, at the planes ``z_index``: the
    same values as :func:`_moved` (``a`` padded once along y and x, numpy "symmetric"; z sliced when
    the planes are consecutive and the shift stays inside the block, else reflected)."""

    def __init__(self, a: np.ndarray, z_index, d: int):
        self.a, self.d, self.z_index = a, int(d), z_index
        z = np.atleast_1d(np.asarray(z_index))
        self.scalar = np.ndim(z_index) == 0
        self.z0, self.n = int(z[0]), len(z)
        self.run = bool(np.all(np.diff(z) == 1))
        self.padded = np.pad(a, ((0, 0), (self.d, self.d), (self.d, self.d)), mode="symmetric")
        self.ny, self.nx = a.shape[1], a.shape[2]

    def at(self, offset) -> np.ndarray:
        dz, dy, dx = (int(o) for o in offset)
        if not (self.run and 0 <= self.z0 + dz and self.z0 + dz + self.n <= self.a.shape[0]):
            return _moved(self.a, offset, self.z_index)
        ys = slice(self.d + dy, self.d + dy + self.ny)
        xs = slice(self.d + dx, self.d + dx + self.nx)
        if self.scalar:
            return self.padded[self.z0 + dz, ys, xs]
        return self.padded[self.z0 + dz:self.z0 + dz + self.n, ys, xs]


def _moved(a: np.ndarray, offset, z_index) -> np.ndarray:
    """``a`` moved by ``offset`` (dz, dy, dx) voxels (out[i] = a[i + offset], reflected at the ends), at the
    planes ``z_index`` only (an int or an index array into the first axis)."""
    nz = a.shape[0]
    z = np.asarray(z_index) + int(offset[0])
    # numpy "symmetric" reflection (-1 -> 0, nz -> nz - 1); the z halo keeps shifts inside the block
    z = np.where(z < 0, -1 - z, z)
    z = np.where(z >= nz, 2 * nz - 1 - z, z)
    out = a[z if np.ndim(z) else int(z)]
    first = out.ndim - 2  # the y axis of the selected planes
    for axis, d in ((first, int(offset[1])), (first + 1, int(offset[2]))):
        if d:
            out = _shifted(out, axis, d)
    return out


def texture_halo(names) -> int:
    """Planes a slab needs on each side so that its texture features equal the whole volume's."""
    halo = 0
    for name in names:
        kind, scale, _ = parse_texture_feature(name)
        inner = {"st": _radius(ST_SIGMA), "bt": _radius(BT_SIGMA), "bp": _radius(2 * BP_SIGMA),
                 "bpstd": _radius(2 * BP_SIGMA), "hess": 0, "kstd": _shift(scale), "kmean": _shift(scale),
                 "kbp": _shift(scale) + _radius(2 * BP_SIGMA)}[kind]
        halo = max(halo, inner + _radius(scale) + 1)
    return halo


def sorted_eigenvalues(tensor: dict) -> np.ndarray:
    """Eigenvalues, sorted descending, of symmetric 3x3 tensors given by their 6 components.

    Parameters
    ----------
    tensor : dict
        ``"zz", "yy", "xx", "zy", "zx", "yx"`` -> ndarray of one shape ``S``.

    Returns
    -------
    ndarray of float32, shape S + (3,)
    """
    zz = tensor["zz"]
    m = np.empty(zz.shape + (3, 3), dtype=np.float64)
    for (i, j), key in zip(((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)), ("zz", "yy", "xx", "zy", "zx", "yx")):
        m[..., i, j] = tensor[key]
        m[..., j, i] = tensor[key]
    return np.linalg.eigvalsh(m)[..., ::-1].astype(np.float32)


def _gradients(v: np.ndarray, sigma: float) -> list[np.ndarray]:
    out = []
    for axis in range(3):
        order = [0, 0, 0]
        order[axis] = 1
        out.append(ndimage.gaussian_filter(v, sigma, order=order))
    return out


def _hessian(v: np.ndarray, sigma: float) -> dict:
    out = {}
    for key, (i, j) in (("zz", (0, 0)), ("yy", (1, 1)), ("xx", (2, 2)), ("zy", (0, 1)), ("zx", (0, 2)), ("yx", (1, 2))):
        order = [0, 0, 0]
        order[i] += 1
        order[j] += 1
        out[key] = ndimage.gaussian_filter(v, sigma, order=order)
    return out


_PAIRS = (("zz", 0, 0), ("yy", 1, 1), ("xx", 2, 2), ("zy", 0, 1), ("zx", 0, 2), ("yx", 1, 2))


def structure_tensor(v: np.ndarray, *, sigma: float = ST_SIGMA, rho: float = 1.5) -> dict:
    """Components of the structure tensor ``G_rho * (grad v grad v^T)`` (scipy filters, ``mode="reflect"``).

    Parameters
    ----------
    v : ndarray, shape (z, y, x)
    sigma : float
        Derivative-of-Gaussian scale (voxels).
    rho : float
        Integration scale (voxels).

    Returns
    -------
    dict
        ``"zz", "yy", "xx", "zy", "zx", "yx"`` -> ndarray of float32, shape (z, y, x).
    """
    g = _gradients(np.asarray(v, dtype=np.float32), sigma)
    return {key: ndimage.gaussian_filter(g[i] * g[j], rho) for key, i, j in _PAIRS}


def texture_features(block, names=TEXTURE_FEATURES, *, keep=(slice(None),), extended: bool = False) -> np.ndarray:
    """Texture feature channels of a normalised block (see the module docstring).

    Parameters
    ----------
    block : ndarray, shape (z, y, x)
        Normalised grey values.
    names : sequence of str
        Feature names, in output order.
    keep : tuple of index
        Index of the z planes kept (applied to the first axis of every response).
    extended : bool
        The block already holds a halo of :func:`texture_halo` planes on each side of every
        kept plane (a slab cut from a longer volume): skip the z extension.

    Returns
    -------
    ndarray of float32, shape (kept z, y, x, len(names))
    """
    names = list(names)
    v = np.asarray(block, dtype=np.float32)
    if v.ndim != 3:
        raise InputError(f"block has shape {v.shape}; expected (z, y, x)")
    parsed = [parse_texture_feature(n) for n in names]
    pad = 0 if extended or not names else texture_halo(names)
    nz = v.shape[0]
    if pad:
        v = v[np.pad(np.arange(nz), pad, mode="symmetric")]
    kept = np.arange(nz)[keep]
    z_index = (np.atleast_1d(kept) + pad) if np.ndim(kept) else int(kept) + pad
    out = np.empty(np.empty((nz,) + v.shape[1:])[keep].shape + (len(names),), dtype=np.float32)
    cache: dict = {}

    def tensor_eigs(kind: str, rho: float) -> np.ndarray:
        key = (kind, rho)
        if key not in cache:
            if kind == "st":
                if "grad_st" not in cache:
                    cache["grad_st"] = _gradients(v, ST_SIGMA)
                g = cache["grad_st"]
                comps = {k: ndimage.gaussian_filter(g[i] * g[j], rho)[z_index] for k, i, j in _PAIRS}
            else:
                if "bt" not in cache:
                    g = _gradients(v, BT_SIGMA)
                    h = _hessian(v, BT_SIGMA)
                    hm = [[h["zz"], h["zy"], h["zx"]], [h["zy"], h["yy"], h["yx"]], [h["zx"], h["yx"], h["xx"]]]
                    w2 = (2.0 * np.pi / BT_PERIOD) ** 2
                    cache["bt"] = {k: w2 * g[i] * g[j] + sum(hm[i][m] * hm[m][j] for m in range(3))
                                   for k, i, j in _PAIRS}
                comps = {k: ndimage.gaussian_filter(a, rho)[z_index] for k, a in cache["bt"].items()}
            cache[key] = np.maximum(sorted_eigenvalues(comps), 0.0)
        return cache[key]

    def band() -> np.ndarray:
        if "band" not in cache:
            cache["band"] = ndimage.gaussian_filter(v, BP_SIGMA) - ndimage.gaussian_filter(v, 2.0 * BP_SIGMA)
        return cache["band"]

    for c, (kind, scale, part) in enumerate(parsed):
        if kind in ("st", "bt"):
            lam = tensor_eigs(kind, scale)
            if part == "coh":
                out[..., c] = (lam[..., 0] - lam[..., 1]) / (lam[..., 0] + lam[..., 1] + 1e-12)
            else:
                out[..., c] = np.sqrt(lam[..., int(part[1]) - 1])
        elif kind == "hess":
            key = ("hess", scale)
            if key not in cache:
                cache[key] = sorted_eigenvalues({k: a[z_index] for k, a in _hessian(v, scale).items()})
            out[..., c] = cache[key][..., int(part[1]) - 1]
        elif kind in ("kstd", "kmean", "kbp"):
            key = ("k", scale)
            if key not in cache:
                cache[key] = _least_variance(v, scale, z_index)
            if kind == "kbp":
                energy = np.sqrt(np.maximum(ndimage.gaussian_filter(band() ** 2, scale), 0.0))
                shifted = _Shifts(energy, z_index, _shift(scale))
                least = np.array(energy[z_index])
                for offset in _offsets(scale):
                    np.minimum(least, shifted.at(offset), out=least)
                out[..., c] = least
            else:
                out[..., c] = cache[key][0 if kind == "kstd" else 1]
        else:
            b = band()
            energy = ndimage.gaussian_filter(b * b, scale)[z_index]
            if kind == "bp":
                out[..., c] = np.sqrt(np.maximum(energy, 0.0))
            else:
                mean = ndimage.gaussian_filter(b, scale)[z_index]
                out[..., c] = np.sqrt(np.maximum(energy - mean * mean, 0.0))
    return out
