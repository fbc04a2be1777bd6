"""Mineral grains inside particles, with coarse grains and fine-grained intergrowths.

Every mineral gets a per-voxel score: a Gaussian-smoothed random field (long correlation
length for coarse minerals, four times shorter for fine ones) plus a random per-particle
offset (so particles differ in grade). Voxels are assigned by sequential quantile
thresholding of score margins (:func:`_assign_by_margin`), which meets the requested
volume fractions exactly (to one voxel). With both textures present the assignment is
hierarchical: (1) coarse minerals and "intergrowth domains" split the particles at the
coarse scale; (2) inside the domains the fine minerals are intergrown at the fine scale
with a host (20 % of the domain volume); (3) host voxels go to the coarse mineral that
dominates there. A chosen fraction of particles is made fully liberated (one mineral).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import ndimage

from liberation._validation import as_voxel_size, check_label_array, make_rng
from liberation.errors import InputError
from liberation.minerals import MineralList, spodumene_ore

__all__ = ["add_grains", "resolve_volume_fractions", "resolve_textures", "smooth_random_field"]

_TEXTURES = ("fine", "coarse")
_DEFAULT_FRACTIONS = {"spodumene": 0.25, "quartz": 0.35, "albite": 0.28, "muscovite": 0.12}


_FINE_FILL = 0.8  # volume fraction of fine minerals inside intergrowth domains


def _split(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` and at most ``weights``."""
    weights = np.asarray(weights, dtype=np.int64)
    if total <= 0 or weights.sum() == 0:
        return np.zeros_like(weights)
    total = min(int(total), int(weights.sum()))
    exact = weights * (total / weights.sum())
    out = np.minimum(np.floor(exact).astype(np.int64), weights)
    rest = total - int(out.sum())
    for i in np.argsort(-(exact - out)):
        if rest == 0:
            break
        if out[i] < weights[i]:
            out[i] += 1
            rest -= 1
    return out


def _assign_by_margin(scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Assign each column of ``scores`` (K, M) to one of K classes with exactly ``counts`` members.

    Classes are placed from the smallest count up: class k takes the ``counts[k]`` unassigned
    voxels where its score most exceeds the best score of the classes still to place; the
    last class takes the rest. ``counts`` must sum to M.
    """
    n_classes, m = scores.shape
    counts = np.asarray(counts, dtype=np.int64)
    out = np.full(m, -1, dtype=np.int64)
    order = list(np.argsort(counts, kind="stable"))
    free = np.arange(m)
    for rank, k in enumerate(order):
        if rank == n_classes - 1:
            out[free] = k
            break
        need = int(counts[k])
        if need <= 0:
            continue
        others = order[rank + 1 :]
        margin = scores[k, free] - scores[others][:, free].max(axis=0)
        top = np.argpartition(margin, free.size - need)[free.size - need :]
        out[free[top]] = k
        keep = np.ones(free.size, dtype=bool)
        keep[top] = False
        free = free[keep]
    return out


def resolve_volume_fractions(minerals: MineralList, volume_fractions: Mapping[str, float] | None) -> dict[str, float]:
    """Return a fraction for every mineral (name -> fraction of particle volume, summing to 1).

    ``None`` gives a default (for the spodumene ore list: spodumene 0.25, quartz 0.35,
    albite 0.28, muscovite 0.12; otherwise equal fractions). Minerals missing from the
    mapping share the remainder equally.

    Raises
    ------
    InputError
        Unknown mineral names, negative fractions, a sum above 1, or a sum below 1 with no
        mineral left to take the remainder.
    """
    names = minerals.names
    if volume_fractions is None:
        if set(names) == set(_DEFAULT_FRACTIONS):
            return {n: _DEFAULT_FRACTIONS[n] for n in names}
        return {n: 1.0 / len(names) for n in names}
    if not isinstance(volume_fractions, Mapping):
        raise InputError(f"volume_fractions={volume_fractions!r} must be a mapping of mineral name to fraction")
    unknown = [k for k in volume_fractions if k not in names]
    if unknown:
        raise InputError(f"volume_fractions names unknown minerals {unknown}; known: {', '.join(names)}")
    out = {}
    for k, v in volume_fractions.items():
        try:
            value = float(v)
        except (TypeError, ValueError):
            raise InputError(f"volume_fractions[{k!r}]={v!r} is not a number; expected a fraction in [0, 1]") from None
        if not (np.isfinite(value) and 0.0 <= value <= 1.0):
            raise InputError(f"volume_fractions[{k!r}]={v!r} must be in [0, 1]")
        out[k] = value
    total = sum(out.values())
    if total > 1.0 + 1e-6:
        raise InputError(f"volume_fractions={dict(volume_fractions)!r} sum to {total:.4g}; expected at most 1")
    missing = [n for n in names if n not in out]
    if missing:
        share = max(1.0 - total, 0.0) / len(missing)
        out.update({n: share for n in missing})
    elif total < 1.0 - 1e-6:
        raise InputError(
            f"volume_fractions={dict(volume_fractions)!r} sum to {total:.4g}; expected 1 when every mineral is listed"
        )
    total = sum(out.values())
    if total <= 0:
        raise InputError(f"volume_fractions={dict(volume_fractions)!r} are all zero")
    return {n: out[n] / total for n in names}


def resolve_textures(minerals: MineralList, texture) -> dict[str, str]:
    """Return ``"fine"`` or ``"coarse"`` for every mineral.

    ``texture`` is ``"fine"``, ``"coarse"``, ``"mixed"`` (minerals alternate coarse, fine,
    coarse, ... in id order: for the spodumene ore spodumene and albite coarse, quartz and
    muscovite fine) or a mapping name -> ``"fine"``/``"coarse"`` (unlisted minerals follow
    ``"mixed"``).
    """
    names = minerals.names
    mixed = {n: ("coarse" if i % 2 == 0 else "fine") for i, n in enumerate(names)}
    if isinstance(texture, str):
        if texture == "mixed":
            return mixed
        if texture in _TEXTURES:
            return {n: texture for n in names}
        raise InputError(f"texture={texture!r} is not known; expected 'mixed', 'fine', 'coarse' or a mapping")
    if isinstance(texture, Mapping):
        unknown = [k for k in texture if k not in names]
        if unknown:
            raise InputError(f"texture names unknown minerals {unknown}; known: {', '.join(names)}")
        bad = {k: v for k, v in texture.items() if v not in _TEXTURES}
        if bad:
            raise InputError(f"texture={dict(texture)!r}: values {bad} are not 'fine' or 'coarse'")
        return {n: str(texture.get(n, mixed[n])) for n in names}
    raise InputError(f"texture={texture!r} must be 'mixed', 'fine', 'coarse' or a mapping name -> 'fine'/'coarse'")


def _upsample_axis(field: np.ndarray, axis: int, n: int, factor: int) -> np.ndarray:
    """Linear interpolation of ``field`` along ``axis`` at positions ``i / factor``, i = 0..n-1."""
    index = [slice(None)] * field.ndim
    if factor == 1:
        index[axis] = slice(0, n)
        return field[tuple(index)]
    m = -(-n // factor)  # blocks of ``factor`` output samples between input samples j and j + 1
    index[axis] = slice(0, m)
    lo = np.expand_dims(field[tuple(index)], axis + 1)
    index[axis] = slice(1, m + 1)
    hi = np.expand_dims(field[tuple(index)], axis + 1)
    shape = [1] * (field.ndim + 1)
    shape[axis + 1] = factor
    w = (np.arange(factor, dtype=np.float32) / np.float32(factor)).reshape(shape)
    out = lo + (hi - lo) * w
    out = out.reshape(field.shape[:axis] + (m * factor,) + field.shape[axis + 1 :])
    index[axis] = slice(0, n)
    return out[tuple(index)]


def smooth_random_field(shape: Sequence[int], sigma_vox: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """Gaussian-smoothed white noise with zero mean and about unit standard deviation (float32).

    Long correlation lengths are computed on a coarser grid and linearly upsampled, so the
    cost stays close to that of one full-resolution pass.

    Parameters
    ----------
    shape : sequence of 3 int
        Output shape.
    sigma_vox : sequence of 3 float
        Gaussian sigma per axis in voxels.
    rng : numpy.random.Generator
        Random generator.
    """
    shape = tuple(int(s) for s in shape)
    sigma = np.asarray(sigma_vox, dtype=float)
    factor = np.maximum(1, np.floor(sigma / 1.5)).astype(int)
    small = tuple(int(np.ceil(s / f)) + 2 for s, f in zip(shape, factor))
    noise = rng.standard_normal(small, dtype=np.float32)
    field = ndimage.gaussian_filter(noise, sigma / factor, mode="wrap", truncate=3.0)
    # normalise on the coarse grid (cheap; linear upsampling changes the variance a little)
    field -= field.mean()
    std = float(field.std())
    if std > 0:
        field /= std
    for axis in (2, 1, 0):  # last axis first: the big final pass then runs on long contiguous rows
        field = _upsample_axis(field, axis, int(shape[axis]), int(factor[axis]))
    return np.ascontiguousarray(field, dtype=np.float32)


def add_grains(
    particles: np.ndarray,
    *,
    minerals: MineralList | None = None,
    volume_fractions: Mapping[str, float] | None = None,
    texture="mixed",
    grain_size_um: float | None = None,
    voxel_size_um,
    liberated_fraction: float = 0.25,
    particle_variability: float = 0.6,
    seed=None,
) -> np.ndarray:
    """Fill particles with mineral grains.

    Parameters
    ----------
    particles : numpy.ndarray of int, shape (z, y, x)
        Particle labels (0 = void), e.g. from :func:`~liberation.synthetic.make_particles`.
    minerals : MineralList, optional
        Minerals; default :func:`liberation.minerals.spodumene_ore`.
    volume_fractions : mapping of str to float, optional
        Fraction of the particle volume per mineral name (see :func:`resolve_volume_fractions`).
        Met exactly up to rounding to whole voxels.
    texture : {"mixed", "fine", "coarse"} or mapping
        Grain texture per mineral (see :func:`resolve_textures`). Coarse minerals form
        grains of about ``grain_size_um``; fine minerals form an intergrowth about four
        times finer.
    grain_size_um : float, optional
        Size of coarse grains in µm; default 12 voxels (120 µm at 10 µm voxels).
    voxel_size_um : float or sequence of 3 float
        Voxel size in µm.
    liberated_fraction : float
        Fraction of particles made of a single mineral (chosen with probability proportional
        to its volume fraction, at most 60 % of a mineral's volume in liberated particles).
    particle_variability : float
        Standard deviation of the per-particle score offsets, relative to the texture field
        (0 = every particle has the same expected composition).
    seed : int or numpy.random.Generator, optional
        Random seed.

    Returns
    -------
    numpy.ndarray of uint8, shape of ``particles``
        Phase ids (0 void, mineral ids elsewhere); nonzero exactly where ``particles > 0``.
    """
    particles = np.asarray(particles)
    check_label_array(particles, name="particles", ndim=3)
    vs = as_voxel_size(voxel_size_um)
    minerals = spodumene_ore() if minerals is None else minerals
    if not isinstance(minerals, MineralList):
        raise InputError(f"minerals must be a MineralList, got {type(minerals).__name__}")
    fractions = resolve_volume_fractions(minerals, volume_fractions)
    textures = resolve_textures(minerals, texture)
    if grain_size_um is None:
        grain_size_um = 12.0 * min(vs)
    if not (isinstance(grain_size_um, (int, float)) and np.isfinite(grain_size_um) and grain_size_um > 0):
        raise InputError(f"grain_size_um={grain_size_um!r} must be a positive number (µm)")
    if not (0.0 <= float(liberated_fraction) <= 1.0):
        raise InputError(f"liberated_fraction={liberated_fraction!r} must be in [0, 1]")
    if not (0.0 <= float(particle_variability)):
        raise InputError(f"particle_variability={particle_variability!r} must be >= 0")
    rng = make_rng(seed)

    phases = np.zeros(particles.shape, dtype=np.uint8)
    flat_index = np.flatnonzero(particles)
    n_vox = flat_index.size
    if n_vox == 0:
        return phases
    pid = particles.ravel()[flat_index].astype(np.int64)
    if int(pid.max()) > 4 * n_vox:  # sparse ids (e.g. from an external labelling): compact them
        pid = np.unique(pid, return_inverse=True)[1].reshape(-1) + 1
    n_part = int(pid.max())
    sizes = np.bincount(pid, minlength=n_part + 1)

    names = minerals.names
    ids = minerals.ids
    frac = np.array([fractions[n] for n in names])
    counts = np.floor(frac * n_vox).astype(np.int64)
    # distribute the rounding remainder to the largest fractional parts
    rest = n_vox - counts.sum()
    order = np.argsort(-(frac * n_vox - counts))
    counts[order[:rest]] += 1

    # liberated particles: mineral index per particle (-1 = not liberated)
    liberated = np.full(n_part + 1, -1, dtype=np.int64)
    budget = 0.6 * counts.astype(float)
    present = np.flatnonzero(sizes[1:]) + 1
    candidates = rng.permutation(present)
    n_lib = int(round(float(liberated_fraction) * present.size))
    probs = frac / frac.sum()
    for p in candidates:
        if n_lib == 0:
            break
        k = int(rng.choice(len(names), p=probs))
        if sizes[p] <= budget[k]:
            liberated[p] = k
            budget[k] -= sizes[p]
            n_lib -= 1

    coarse_sigma = np.array([grain_size_um / v / 2.5 for v in vs])
    fine_sigma = np.maximum(coarse_sigma / 4.0, 0.7)
    lib_of_voxel = liberated[pid]
    for k, mid in enumerate(ids):
        phases.ravel()[flat_index[lib_of_voxel == k]] = mid
    free = np.flatnonzero(lib_of_voxel < 0)  # voxels of non-liberated particles (indices into flat_index)
    need = counts - np.bincount(lib_of_voxel[lib_of_voxel >= 0], minlength=len(names))
    free_pid = pid[free]
    free_flat = flat_index[free]

    def scores(sigma, n: int, where: np.ndarray) -> np.ndarray:
        out = np.empty((n, where.size), dtype=np.float32)
        for i in range(n):
            field = smooth_random_field(particles.shape, sigma, rng)
            offsets = rng.normal(0.0, float(particle_variability), size=n_part + 1).astype(np.float32)
            out[i] = field.ravel()[free_flat[where]]
            out[i] += offsets[free_pid[where]]
        return out

    coarse = [k for k, n in enumerate(names) if textures[n] == "coarse"]
    fine = [k for k, n in enumerate(names) if textures[n] == "fine"]
    label = np.empty(free.size, dtype=np.int64)  # mineral index per free voxel
    everywhere = np.arange(free.size)
    if not fine or not coarse:
        group = coarse or fine
        sigma = coarse_sigma if coarse else fine_sigma
        label[:] = np.asarray(group)[_assign_by_margin(scores(sigma, len(group), everywhere), need[group])]
    else:
        # 1. coarse grains and intergrowth domains (coarse scale)
        fine_total = int(need[fine].sum())
        domain_total = min(free.size, int(round(fine_total / _FINE_FILL)))
        host = _split(domain_total - fine_total, need[coarse])
        coarse_scores = scores(coarse_sigma, len(coarse) + 1, everywhere)
        level1 = _assign_by_margin(coarse_scores, np.append(need[coarse] - host, domain_total))
        in_domain = np.flatnonzero(level1 == len(coarse))
        label[level1 < len(coarse)] = np.asarray(coarse)[level1[level1 < len(coarse)]]
        # 2. fine minerals intergrown with a host inside the domains (fine scale)
        #    (the host has a constant score: it fills where every fine field is low)
        fine_scores = np.vstack([scores(fine_sigma, len(fine), in_domain), np.zeros((1, in_domain.size), np.float32)])
        level2 = _assign_by_margin(fine_scores, np.append(need[fine], host.sum()))
        label[in_domain[level2 < len(fine)]] = np.asarray(fine)[level2[level2 < len(fine)]]
        # 3. host voxels go to the coarse mineral that dominates there (continuing nearby grains)
        host_vox = in_domain[level2 == len(fine)]
        level3 = _assign_by_margin(coarse_scores[: len(coarse)][:, host_vox], host)
        label[host_vox] = np.asarray(coarse)[level3]
    phases.ravel()[free_flat] = np.asarray(ids, dtype=np.uint8)[label]
    return phases
