"""Complete synthetic samples: particles + mineral grains + simulated CT, with exact truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from liberation._validation import as_voxel_size
from liberation.errors import InputError
from liberation.minerals import MineralList, spodumene_ore
from liberation.synthetic._result import SyntheticSample
from liberation.synthetic.ct import ct_forward
from liberation.synthetic.grains import add_grains, resolve_textures, resolve_volume_fractions
from liberation.synthetic.particles import check_shape, default_esd_range_um, make_particles

__all__ = ["SyntheticSample", "make_sample", "demo_sample", "DEMO_PARAMETERS"]

#: Parameters of the standard demo sample (``liberation demo``, data_manifest.yaml).
DEMO_PARAMETERS: dict = {"shape": [128, 128, 128], "voxel_size_um": 10.0, "seed": 0}


def _seeds(seed) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed={seed!r} must be a non-negative integer")
    children = np.random.SeedSequence(int(seed)).spawn(3)
    return tuple(np.random.default_rng(c) for c in children)  # type: ignore[return-value]


def make_sample(
    shape: Sequence[int] = (96, 96, 96),
    *,
    voxel_size_um=10.0,
    minerals: MineralList | None = None,
    volume_fractions: Mapping[str, float] | None = None,
    esd_range_um: Sequence[float] | None = None,
    n_particles: int | None = None,
    packing_fraction: float = 0.3,
    irregularity: float = 0.3,
    touching_fraction: float = 0.2,
    border: str = "inside",
    texture="mixed",
    grain_size_um: float | None = None,
    liberated_fraction: float = 0.25,
    energy_kev: float = 80.0,
    blur_sigma_um: float | None = None,
    noise: float = 0.02,
    noise_model: str = "gaussian",
    beam_hardening: float = 0.0,
    rings: float = 0.0,
    indistinguishable="auto",
    background: float = 0.2,
    seed: int = 0,
) -> SyntheticSample:
    """Generate a synthetic sample: particles, mineral grains and a simulated CT volume.

    Parameters
    ----------
    shape : sequence of 3 int
        Volume shape (z, y, x).
    voxel_size_um : float or sequence of 3 float
        Voxel size in µm.
    minerals : MineralList, optional
        Minerals; default :func:`liberation.minerals.spodumene_ore`.
    volume_fractions : mapping of str to float, optional
        Fraction of particle volume per mineral (default: spodumene 0.25, quartz 0.35,
        albite 0.28, muscovite 0.12 for the default list; equal fractions otherwise).
    esd_range_um : (float, float), optional
        Particle ESD range in µm; default 6-40 voxels (60-400 µm at 10 µm).
    n_particles, packing_fraction, irregularity, touching_fraction, border
        See :func:`~liberation.synthetic.make_particles`.
    texture, grain_size_um, liberated_fraction
        See :func:`~liberation.synthetic.add_grains`.
    energy_kev, blur_sigma_um, noise, noise_model, beam_hardening, rings, background
        See :func:`~liberation.synthetic.ct_forward`.
    indistinguishable : "auto", None or (str, str)
        Two minerals with nearly the same attenuation. ``"auto"`` means
        ``("quartz", "albite")`` when both are in the mineral list, else None. With
        ``texture="mixed"`` the first of the pair is made fine-grained and the second
        coarse-grained, so that texture tells them apart.
    seed : int
        Master seed; the particle, grain and CT generators get independent child seeds.

    Returns
    -------
    SyntheticSample
    """
    shape = check_shape(shape)
    vs = as_voxel_size(voxel_size_um)
    minerals = spodumene_ore() if minerals is None else minerals
    if not isinstance(minerals, MineralList):
        raise InputError(f"minerals must be a MineralList, got {type(minerals).__name__}")
    fractions = resolve_volume_fractions(minerals, volume_fractions)
    if isinstance(indistinguishable, str) and indistinguishable == "auto":
        pair = ("quartz", "albite") if ("quartz" in minerals and "albite" in minerals) else None
    elif indistinguishable is None:
        pair = None
    else:
        pair = tuple(indistinguishable)
        if len(pair) != 2 or not all(isinstance(n, str) and n in minerals for n in pair) or pair[0] == pair[1]:
            raise InputError(
                f"indistinguishable={indistinguishable!r} must be 'auto', None or two different mineral names "
                f"from {minerals.names}"
            )
    textures = resolve_textures(minerals, texture)
    if pair is not None and isinstance(texture, str) and texture == "mixed":
        textures[pair[0]] = "fine"
        textures[pair[1]] = "coarse"
    esd = tuple(float(v) for v in (esd_range_um if esd_range_um is not None else default_esd_range_um(shape, vs)))
    if grain_size_um is None:
        grain_size_um = 12.0 * min(vs)
    rng_particles, rng_grains, rng_ct = _seeds(seed)

    particles = make_particles(
        shape, voxel_size_um=vs, esd_range_um=esd, n_particles=n_particles, packing_fraction=packing_fraction,
        irregularity=irregularity, touching_fraction=touching_fraction, border=border, seed=rng_particles,
    )
    phases = add_grains(
        particles, minerals=minerals, volume_fractions=fractions, texture=textures, grain_size_um=grain_size_um,
        voxel_size_um=vs, liberated_fraction=liberated_fraction, seed=rng_grains,
    )
    ct = ct_forward(
        phases, minerals=minerals, voxel_size_um=vs, energy_kev=energy_kev, blur_sigma_um=blur_sigma_um,
        noise=noise, noise_model=noise_model, beam_hardening=beam_hardening, rings=rings,
        indistinguishable=pair, background=background, seed=rng_ct,
    )
    params = {
        "generator": "liberation.synthetic.make_sample",
        "shape": list(shape),
        "voxel_size_um": list(vs),
        "minerals": minerals.to_properties(),
        "volume_fractions": {k: float(v) for k, v in fractions.items()},
        "esd_range_um": list(esd),
        "n_particles": None if n_particles is None else int(n_particles),
        "n_particles_placed": int(particles.max()) if particles.size else 0,
        "packing_fraction": float(packing_fraction),
        "irregularity": float(irregularity),
        "touching_fraction": float(touching_fraction),
        "border": border,
        "texture": texture if isinstance(texture, str) else dict(texture),
        "textures": textures,
        "grain_size_um": float(grain_size_um),
        "liberated_fraction": float(liberated_fraction),
        "energy_kev": float(energy_kev),
        "blur_sigma_um": None if blur_sigma_um is None else float(blur_sigma_um),
        "noise": float(noise),
        "noise_model": noise_model,
        "beam_hardening": float(beam_hardening),
        "rings": float(rings),
        "indistinguishable": None if pair is None else list(pair),
        "background": float(background),
        "seed": int(seed),
    }
    return SyntheticSample(ct=ct, particles=particles, phases=phases, minerals=minerals, voxel_size_um=vs,
                           params=params)


def demo_sample(seed: int = 0) -> SyntheticSample:
    """The standard demo sample: 128³ voxels at 10 µm, spodumene ore, default settings.

    Its parameters are :data:`DEMO_PARAMETERS` (with ``seed`` replaced); ``liberation demo``
    uses it and ``data_manifest.yaml`` records it.
    """
    params = dict(DEMO_PARAMETERS)
    params["seed"] = seed
    return make_sample(tuple(params["shape"]), voxel_size_um=params["voxel_size_um"], seed=params["seed"])
