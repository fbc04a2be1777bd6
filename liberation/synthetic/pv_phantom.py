"""A partial-volume phantom with exact sub-voxel truth: inclusions, rims and small grains rendered finely.

The phase labels are drawn on a grid ``supersample`` times finer than the CT voxel (analytic spheres
and shells at random sub-voxel positions), the CT forward model (:func:`liberation.synthetic.ct.ct_forward`,
Gaussian blur, no noise) is applied at that resolution, the result is block-averaged to the CT voxel
(a detector integrates over its voxel) and noise is added at the CT resolution. The true fraction of
every phase in every CT voxel and the true phase volume of every particle are the fine-grid counts,
so they are exact for this image. The hard labels are the best any per-voxel classifier can give:
the majority phase of each CT voxel (and its particle where that phase is a mineral).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liberation._validation import make_rng
from liberation.errors import InputError
from liberation.minerals import MineralList, spodumene_ore
from liberation.synthetic._result import SyntheticSample

__all__ = ["partial_volume_phantom"]


def partial_volume_phantom(
    *,
    inclusion_radii=(1, 2, 3, 4, 5, 6),
    per_radius: int = 3,
    rims=(0.75, 1.0, 1.5, 2.0),
    grain_radii=(2, 3, 4),
    host_radius: float = 9.0,
    supersample: int = 4,
    blur_sigma_vox: float = 0.7,
    noise: float = 0.02,
    voxel_size_um: float = 2.0,
    minerals: MineralList | None = None,
    host: str = "quartz",
    target: str = "spodumene",
    seed=0,
) -> SyntheticSample:
    """Spherical host particles with one target inclusion each, rimmed hosts and free target grains.

    Parameters
    ----------
    inclusion_radii : sequence of float
        Radii (CT voxels) of the target inclusions; ``per_radius`` hosts each.
    per_radius : int
        Hosts per inclusion radius (and free grains per grain radius).
    rims : sequence of float
        Thicknesses (CT voxels) of target rims around hosts, one host each.
    grain_radii : sequence of float
        Radii (CT voxels) of free (liberated) target grains.
    host_radius : float
        Radius of the host particles in CT voxels (varied by +-10 %).
    supersample : int
        Fine grid steps per CT voxel (>= 2).
    blur_sigma_vox : float
        Sigma of the CT point-spread function in CT voxels.
    noise : float
        Noise relative to the highest attenuation (``ct_forward``'s ``noise``), added at the CT resolution.
    voxel_size_um : float
        CT voxel size in µm.
    minerals : MineralList, optional
        Default :func:`liberation.minerals.spodumene_ore`.
    host, target : str
        Host and target mineral names.
    seed : int or Generator
        Random seed (positions, sizes, noise).

    Returns
    -------
    SyntheticSample
        ``ct`` (uint16 grey values at the CT resolution), ``phases`` (hard labels: the majority
        phase of each voxel, 0 = void), ``particles`` (hard particle ids: the particle of each
        voxel whose majority phase is a mineral), ``minerals``, ``voxel_size_um``;
        ``params``: ``host``, ``target``, ``supersample``, ``blur_sigma_vox``, ``noise``,
        ``noise_grey`` (the noise in grey values); ``truth``: ``fractions`` (float32, shape
        (n_phases, z, y, x): the true fraction of each phase id in each voxel, summing to 1),
        ``true_counts`` (float64, shape (n_particles + 1, n_phases): the true volume of each
        phase in each particle in CT voxels, row 0 the background) and ``objects`` (DataFrame,
        one row per particle: ``particle_id``, ``kind`` = inclusion / rim / grain,
        ``radius_vox``, ``rim_vox``, ``host_radius_vox``).
    """
    from liberation.synthetic.ct import attenuation_lut, ct_forward, grey_levels

    minerals = spodumene_ore() if minerals is None else minerals
    for name, value in (("host", host), ("target", target)):
        if value not in minerals:
            raise InputError(f"{name}={value!r} is not a mineral; known: {', '.join(minerals.names)}")
    if not (isinstance(supersample, (int, np.integer)) and 2 <= supersample <= 8):
        raise InputError(f"supersample={supersample!r} must be an integer in 2..8")
    if not (isinstance(per_radius, (int, np.integer)) and per_radius >= 1):
        raise InputError(f"per_radius={per_radius!r} must be a positive integer")
    rng = make_rng(seed)
    s = int(supersample)
    h_id, t_id = minerals[host].id, minerals[target].id
    specs = [("inclusion", float(r), 0.0) for r in inclusion_radii for _ in range(per_radius)]
    specs += [("rim", host_radius, float(t)) for t in rims]
    specs += [("grain", float(r), 0.0) for r in grain_radii for _ in range(per_radius)]
    if not specs:
        raise InputError("the phantom has no objects; give inclusion_radii, rims or grain_radii")
    big = max(float(host_radius) * 1.1, max(r for k, r, _ in specs if k == "grain") if grain_radii else 0.0)
    cell = int(np.ceil(2 * big + 4))
    n = len(specs)
    ny = nx = int(np.ceil(np.sqrt(n / 2)))
    nz = int(np.ceil(n / (ny * nx)))
    shape = (nz * cell, ny * cell, nx * cell)
    fine_ph = np.zeros(tuple(d * s for d in shape), np.uint8)
    fine_pid = np.zeros(fine_ph.shape, np.uint32)
    # fine voxel centres in CT-voxel units within one cell
    c = (np.arange(cell * s) + 0.5) / s
    rows = []
    order = rng.permutation(n)
    for pid, k in enumerate(order, start=1):
        kind, r, t = specs[k]
        iz, rem = divmod(pid - 1, ny * nx)
        iy, ix = divmod(rem, nx)
        centre = cell / 2 + rng.uniform(-0.5, 0.5, 3)
        zz, yy, xx = np.meshgrid(c - centre[0], c - centre[1], c - centre[2], indexing="ij")
        d2 = zz**2 + yy**2 + xx**2
        sl = (slice(iz * cell * s, (iz + 1) * cell * s), slice(iy * cell * s, (iy + 1) * cell * s),
              slice(ix * cell * s, (ix + 1) * cell * s))
        ph = np.zeros(d2.shape, np.uint8)
        if kind == "grain":
            inside = d2 <= r * r
            ph[inside] = t_id
            hr = r
        else:
            hr = float(host_radius) * rng.uniform(0.9, 1.1)
            inside = d2 <= hr * hr
            ph[inside] = h_id
            if kind == "inclusion":
                u = rng.normal(size=3)
                off = u / np.linalg.norm(u) * rng.uniform(0, max(hr - r - 1.5, 0))
                d2i = (zz - off[0]) ** 2 + (yy - off[1]) ** 2 + (xx - off[2]) ** 2
                ph[d2i <= r * r] = t_id
            else:
                ph[inside & (d2 > (hr - t) ** 2)] = t_id
        fine_ph[sl] = ph
        fine_pid[sl] = np.where(inside, pid, 0).astype(np.uint32)
        rows.append({"particle_id": pid, "kind": kind, "radius_vox": float(hr if kind == "rim" else r),
                     "rim_vox": float(t), "host_radius_vox": float(hr)})
    vs = float(voxel_size_um)
    fine_grey = ct_forward(fine_ph, minerals=minerals, voxel_size_um=vs / s, blur_sigma_um=float(blur_sigma_vox) * vs,
                           noise=0.0, seed=rng)

    def blocks(a):
        return a.reshape(shape[0], s, shape[1], s, shape[2], s)

    grey = blocks(fine_grey.astype(np.float32)).mean(axis=(1, 3, 5), dtype=np.float64)
    lut = attenuation_lut(minerals)
    lo, hi = grey_levels(lut)
    noise_grey = float(noise) * float(lut[1:].max()) * 40000.0 / (hi - lo)
    grey = grey + rng.standard_normal(shape) * noise_grey
    image = np.rint(np.clip(grey, 0, 65535)).astype(np.uint16)
    n_phases = minerals.max_id + 1
    fb = blocks(fine_ph)
    fractions = np.stack([(fb == p).mean(axis=(1, 3, 5), dtype=np.float64).astype(np.float32)
                          for p in range(n_phases)])
    phases = np.argmax(fractions, axis=0).astype(np.uint8)
    # one particle per cell, so a voxel meets at most one: it belongs to it when its majority phase is a mineral
    best = np.where(phases > 0, blocks(fine_pid).max(axis=(1, 3, 5)), 0).astype(np.uint32)
    keys = fine_pid.astype(np.int64).ravel() * n_phases + fine_ph.ravel()
    true_counts = np.bincount(keys, minlength=(n + 1) * n_phases).reshape(n + 1, n_phases) / s**3
    return SyntheticSample(
        ct=image, phases=phases, voxel_size_um=(vs, vs, vs),
        particles=best, minerals=minerals,
        params={"host": host, "target": target, "supersample": s, "blur_sigma_vox": float(blur_sigma_vox),
                "noise": float(noise), "noise_grey": float(noise_grey)},
        truth={"fractions": fractions, "true_counts": true_counts, "objects": pd.DataFrame(rows)},
    )
