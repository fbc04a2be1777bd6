"""The one result class of the 3D phantom generators (make_sample, make_texture_phantom, textured_phantom,
the particle packs)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from liberation.minerals import MineralList

__all__ = ["SyntheticSample"]


@dataclass(frozen=True)
class SyntheticSample:
    """A synthetic 3D sample with exact truth.

    Attributes
    ----------
    ct : numpy.ndarray of uint16, shape (z, y, x)
        Simulated CT grey values.
    phases : numpy.ndarray of uint8, shape (z, y, x)
        Mineral phase ids (0 void).
    voxel_size_um : tuple of 3 float
        Voxel size (z, y, x) in µm.
    particles : numpy.ndarray of uint32, shape (z, y, x), or None
        Particle ids (0 void, 1..N); None where the generator makes no particle instances.
    minerals : MineralList or None
        Minerals of the phase ids.
    params : dict
        The generator's parameters (JSON-serialisable).
    particle_info : tuple of dict or None
        Per particle, where the generator knows its shape (the packs of
        :mod:`liberation.synthetic.packs`; entry i is particle id i + 1): ``centre_um``
        (z, y, x), ``semi_axes_um`` (longest first), ``aspect``, ``phase``.
    truth : dict
        Further exact truth of a generator, by name (e.g. the partial-volume phantom's
        per-voxel ``fractions`` and per-particle ``true_counts``; see the generator).
    """

    ct: np.ndarray
    phases: np.ndarray
    voxel_size_um: tuple[float, float, float]
    particles: np.ndarray | None = None
    minerals: MineralList | None = None
    params: dict = field(default_factory=dict)
    particle_info: tuple[dict, ...] | None = None
    truth: dict = field(default_factory=dict)

    @property
    def n_particles(self) -> int:
        """Number of particle instances (0 when the generator makes none)."""
        return 0 if self.particles is None else int(np.asarray(self.particles).max(initial=0))

    @property
    def shape(self) -> tuple[int, int, int]:
        """Volume shape (z, y, x)."""
        return tuple(self.ct.shape)  # type: ignore[return-value]


def deprecated_alias(module: str, old: str):
    """A module ``__getattr__`` that serves ``old`` as a deprecated alias of :class:`SyntheticSample`.

    The alias is resolved at access time through ``importlib`` (no static name), and warns with
    :class:`DeprecationWarning`. Kept for one release.
    """

    def __getattr__(name: str):
        if name == old:
            import importlib
            import warnings

            warnings.warn(f"{module}.{old} is deprecated; the phantom generators return "
                          "liberation.synthetic.SyntheticSample", DeprecationWarning, stacklevel=2)
            return importlib.import_module("liberation.synthetic._result").SyntheticSample
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
