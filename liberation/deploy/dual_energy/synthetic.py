"""Synthetic dual-energy X-ray transmission (DE-XRT) image pairs of single ore fragments.

Each sample is one fragment on the belt seen by a dual-energy line scanner: a low-energy and a
high-energy transmission image (``I / I0`` in (0, 1]), with ore/waste truth from its copper grade.

Physics (kept simple but honest about what makes the problem hard):

- The fragment is copper sulfide (chalcopyrite, CuFeS2) in silicate/carbonate gangue (quartz with
  a variable share of calcite). Each phase has an energy-dependent linear attenuation
  coefficient ``mu(E) = (mu/rho)(E) * rho`` (mass attenuation coefficients near NIST XCOM values,
  interpolated log-log between 40 and 150 keV).
- Thickness varies from fragment to fragment (independently of the footprint size) and inside
  a fragment (a rounded profile with surface roughness), so one energy alone cannot tell a thick
  barren fragment from a thin rich one.
- Each detector channel integrates a small polychromatic spectrum (three energy bins), so the
  beam hardens: the log attenuation is not proportional to thickness, and the classical R-value
  (ratio of low- to high-energy log attenuation) drifts with thickness.
- Part of the sulfide is disseminated below the pixel size (a uniform raise of attenuation) and
  part forms grains; calcite in the gangue raises the low-energy attenuation like sulfide does,
  a second confounder for the R-value.
- Photon noise (Gaussian approximation, variance ``T / N0``) and a weakly attenuating belt.

Truth: ``cu_pct`` (Cu mass %, from the phase volumes and densities) and ``label`` = 1 (ore) when
``cu_pct >= cutoff_cu_pct``, else 0 (waste). numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from liberation._validation import make_rng
from liberation.errors import InputError

__all__ = [
    "DE_ENERGIES_KEV",
    "DE_MASS_ATTENUATION",
    "DE_DENSITY",
    "DualEnergySet",
    "attenuation_coefficient",
    "make_dual_energy_set",
]

#: Energies (keV) of the tabulated mass attenuation coefficients.
DE_ENERGIES_KEV = np.array([40.0, 60.0, 80.0, 100.0, 150.0])
#: Mass attenuation coefficients (cm²/g) at :data:`DE_ENERGIES_KEV`, close to NIST XCOM (with coherent).
DE_MASS_ATTENUATION = {
    "chalcopyrite": np.array([3.13, 1.05, 0.53, 0.338, 0.186]),
    "quartz": np.array([0.453, 0.246, 0.191, 0.168, 0.140]),
    "calcite": np.array([0.870, 0.359, 0.236, 0.190, 0.147]),
    "belt": np.array([0.240, 0.195, 0.178, 0.166, 0.146]),  # rubber-like
}
#: Densities (g/cm³).
DE_DENSITY = {"chalcopyrite": 4.19, "quartz": 2.65, "calcite": 2.71, "belt": 1.2}
_CU_IN_CHALCOPYRITE = 63.546 / 183.52  # Cu mass fraction of CuFeS2

# detector channels: energy bins (keV) and their weights in the detected spectrum
_LOW_BINS = (np.array([40.0, 60.0, 80.0]), np.array([0.35, 0.45, 0.20]))
_HIGH_BINS = (np.array([80.0, 100.0, 150.0]), np.array([0.25, 0.40, 0.35]))


def attenuation_coefficient(mineral: str, energy_kev) -> np.ndarray:
    """Linear attenuation coefficient (1/cm) of a phase at the given energies (log-log interpolation).

    Parameters
    ----------
    mineral : str
        One of ``chalcopyrite``, ``quartz``, ``calcite``, ``belt``.
    energy_kev : float or array_like
        Photon energies in keV, within 40..150.
    """
    if mineral not in DE_MASS_ATTENUATION:
        raise InputError(f"mineral={mineral!r}; expected one of {sorted(DE_MASS_ATTENUATION)}")
    e = np.asarray(energy_kev, dtype=float)
    if np.any(e < DE_ENERGIES_KEV[0]) or np.any(e > DE_ENERGIES_KEV[-1]):
        raise InputError(f"energy_kev={energy_kev!r}; expected values within 40..150 keV")
    mu_rho = np.exp(np.interp(np.log(e), np.log(DE_ENERGIES_KEV), np.log(DE_MASS_ATTENUATION[mineral])))
    return mu_rho * DE_DENSITY[mineral]


@dataclass
class DualEnergySet:
    """A set of synthetic dual-energy fragment images with truth.

    Attributes
    ----------
    high, low : ndarray of float32, shape (n, y, x)
        High- and low-energy transmission images ``I / I0``.
    label : ndarray of int64, shape (n,)
        1 = ore (``cu_pct >= cutoff``), 0 = waste.
    cu_pct : ndarray, shape (n,)
        Copper grade in mass percent.
    sulfide_fraction : ndarray, shape (n,)
        Chalcopyrite volume fraction of the fragment.
    calcite_fraction : ndarray, shape (n,)
        Calcite share of the gangue volume.
    thickness_cm : ndarray, shape (n,)
        Maximum thickness of each fragment (cm).
    mask : ndarray of bool, shape (n, y, x)
        Fragment footprint.
    params : dict
        The generator's parameters.
    """

    high: np.ndarray
    low: np.ndarray
    label: np.ndarray
    cu_pct: np.ndarray
    sulfide_fraction: np.ndarray
    calcite_fraction: np.ndarray
    thickness_cm: np.ndarray
    mask: np.ndarray
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.label.shape[0])

    def stack(self) -> np.ndarray:
        """Images as ``(n, 2, y, x)`` float32, channel 0 = high energy, channel 1 = low energy."""
        return np.stack([self.high, self.low], axis=1)


def _smooth_noise(rng: np.random.Generator, n: int, size: int, sigma_px: float) -> np.ndarray:
    """Gaussian-filtered white noise (unit std) by FFT, shape (n, size, size)."""
    white = rng.standard_normal((n, size, size))
    f = np.fft.fftfreq(size)
    g = np.exp(-2 * (np.pi * sigma_px) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    out = np.fft.ifft2(np.fft.fft2(white) * g).real
    out /= out.std(axis=(1, 2), keepdims=True) + 1e-12
    return out


def _channel(t_s: np.ndarray, t_q: np.ndarray, t_c: np.ndarray, t_belt: float, bins) -> np.ndarray:
    energies, weights = bins
    out = np.zeros_like(t_s)
    for e, w in zip(energies, weights):
        mu = {m: float(attenuation_coefficient(m, e)) for m in ("chalcopyrite", "quartz", "calcite", "belt")}
        out += w * np.exp(-(mu["chalcopyrite"] * t_s + mu["quartz"] * t_q + mu["calcite"] * t_c + mu["belt"] * t_belt))
    return out / weights.sum()


def _batch(rng, n, size, thickness_range_cm, cu_range_pct, max_calcite, photons, grain_count):
    yy, xx = np.mgrid[:size, :size].astype(float) / size - 0.5  # image coordinates in [-0.5, 0.5)
    # footprint: perturbed rotated ellipse, size independent of thickness
    a = rng.uniform(0.22, 0.42, n)[:, None, None]
    b = a * rng.uniform(0.6, 1.0, n)[:, None, None]
    ang = rng.uniform(0, np.pi, n)[:, None, None]
    cx, cy = (rng.uniform(-0.06, 0.06, (2, n)))[:, :, None, None]
    u = (xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang)
    v = -(xx - cx) * np.sin(ang) + (yy - cy) * np.cos(ang)
    theta = np.arctan2(v, u)
    wobble = 1.0 + sum(
        rng.uniform(0, 0.08, n)[:, None, None] * np.cos(k * theta + rng.uniform(0, 2 * np.pi, n)[:, None, None])
        for k in (3, 4, 5)
    )
    rho2 = ((u / a) ** 2 + (v / b) ** 2) / wobble**2
    mask = rho2 < 1.0
    t_max = rng.uniform(*thickness_range_cm, n)
    rough = 1.0 + 0.12 * _smooth_noise(rng, n, size, sigma_px=size / 16)
    t = t_max[:, None, None] * np.sqrt(np.clip(1.0 - rho2, 0.0, None)) ** 0.7 * np.clip(rough, 0.5, None)
    t = np.where(mask, t, 0.0)
    # composition: Cu grade log-uniform over cu_range_pct -> sulfide volume fraction
    cu = np.exp(rng.uniform(np.log(cu_range_pct[0]), np.log(cu_range_pct[1]), n)) / 100.0
    calcite = rng.uniform(0.0, max_calcite, n)
    rho_g = (1 - calcite) * DE_DENSITY["quartz"] + calcite * DE_DENSITY["calcite"]
    rho_s = DE_DENSITY["chalcopyrite"]
    # cu = f * rho_s * c / (f * rho_s + (1 - f) * rho_g)  ->  solve for f
    c = _CU_IN_CHALCOPYRITE
    f = cu * rho_g / (rho_s * c - cu * rho_s + cu * rho_g)
    dissem = rng.uniform(0.3, 1.0, n)
    grains = np.zeros((n, size, size))
    for _ in range(grain_count):
        gx, gy = rng.uniform(-0.3, 0.3, (2, n))[:, :, None, None]
        gs = rng.uniform(0.03, 0.08, n)[:, None, None]
        amp = rng.uniform(0.0, 1.0, n)[:, None, None]
        grains += amp * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * gs**2))
    grains *= mask
    tot_t = t.sum(axis=(1, 2))
    norm = (grains * t).sum(axis=(1, 2)) / np.maximum(tot_t, 1e-9)
    grains = grains / np.maximum(norm, 1e-9)[:, None, None]
    share = dissem[:, None, None] + (1 - dissem[:, None, None]) * grains
    t_s = np.minimum(t * f[:, None, None] * share, t)
    t_g = t - t_s
    t_q = t_g * (1 - calcite)[:, None, None]
    t_c = t_g * calcite[:, None, None]
    # truth from the actual volumes
    vs, vg = t_s.sum(axis=(1, 2)), t_g.sum(axis=(1, 2))
    cu_true = 100.0 * vs * rho_s * c / (vs * rho_s + vg * rho_g)
    frac = vs / np.maximum(vs + vg, 1e-12)
    t_belt = 0.5
    images = []
    for bins in (_HIGH_BINS, _LOW_BINS):
        tr = _channel(t_s, t_q, t_c, t_belt, bins)
        tr = tr + rng.standard_normal(tr.shape) * np.sqrt(tr / photons)
        images.append(np.clip(tr, 1e-4, 1.0).astype(np.float32))
    return images[0], images[1], cu_true, frac, calcite, t_max, mask


def make_dual_energy_set(
    n: int,
    *,
    size: int = 64,
    cutoff_cu_pct: float = 0.5,
    cu_range_pct: tuple[float, float] = (0.1, 2.5),
    thickness_range_cm: tuple[float, float] = (1.0, 5.0),
    max_calcite: float = 0.15,
    photons: float = 2.0e4,
    grain_count: int = 6,
    seed=None,
    chunk: int = 256,
) -> DualEnergySet:
    """Make ``n`` synthetic dual-energy fragment image pairs with ore/waste truth.

    Parameters
    ----------
    n : int
        Number of fragments.
    size : int
        Image edge in pixels (square images, ``size x size``).
    cutoff_cu_pct : float
        Cu grade (mass %) at and above which a fragment is ore.
    cu_range_pct : (float, float)
        Range of the log-uniform Cu grade distribution (mass %).
    thickness_range_cm : (float, float)
        Range of the uniform maximum fragment thickness (cm).
    max_calcite : float
        Largest calcite share of the gangue volume (uniform from 0).
    photons : float
        Unattenuated photon count per pixel (sets the noise, variance ``T / photons``).
    grain_count : int
        Number of possible sulfide grain clusters per fragment (random strengths).
    seed : int or numpy.random.Generator, optional
        Random seed.
    chunk : int
        Fragments generated per vectorised batch (memory bound).

    Returns
    -------
    DualEnergySet
    """
    if int(n) < 1:
        raise InputError(f"n={n!r}; expected at least 1 fragment")
    if int(size) < 8:
        raise InputError(f"size={size!r}; expected an image edge of at least 8 pixels")
    lo, hi = thickness_range_cm
    if not 0 < lo <= hi:
        raise InputError(f"thickness_range_cm={thickness_range_cm!r}; expected 0 < min <= max (cm)")
    if not 0 < cu_range_pct[0] < cu_range_pct[1] < 30:
        raise InputError(f"cu_range_pct={cu_range_pct!r}; expected 0 < min < max < 30 (Cu mass %)")
    if not 0 <= max_calcite <= 1:
        raise InputError(f"max_calcite={max_calcite!r}; expected a fraction in [0, 1]")
    if photons <= 0:
        raise InputError(f"photons={photons!r}; expected a positive photon count")
    rng = make_rng(seed)
    parts = []
    left = int(n)
    while left > 0:
        m = min(chunk, left)
        parts.append(_batch(rng, m, int(size), (lo, hi), cu_range_pct, max_calcite, photons, int(grain_count)))
        left -= m
    high, low, cu, frac, calc, tmax, mask = (np.concatenate(x) for x in zip(*parts))
    params = dict(n=int(n), size=int(size), cutoff_cu_pct=cutoff_cu_pct, cu_range_pct=tuple(cu_range_pct),
                  thickness_range_cm=(lo, hi), max_calcite=max_calcite, photons=photons, grain_count=grain_count)
    return DualEnergySet(high=high, low=low, label=(cu >= cutoff_cu_pct).astype(np.int64), cu_pct=cu,
                         sulfide_fraction=frac, calcite_fraction=calc, thickness_cm=tmax, mask=mask, params=params)
