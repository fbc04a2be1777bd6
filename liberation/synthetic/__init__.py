"""Synthetic samples with exact truth: particles, mineral grains, CT, micro-XRF/SEM maps.

Used by the tests, the examples, the demo and the benchmarks. Every generator takes an
explicit ``seed``. The public names are listed in ``__init__.pyi`` and imported on first use
(:mod:`liberation._lazy`).

The XRT belt, dual-energy and fragment phantoms moved to the deploy wings
(``liberation.deploy.belt.synthetic``, ``liberation.deploy.dual_energy.synthetic``,
``liberation.deploy.fragments.synthetic``); their old names here still resolve, with a
DeprecationWarning, for one release. ``attenuation_coefficient`` here is the CT one.
"""

from liberation._lazy import attach_stub

_BELT = "liberation.deploy.belt.synthetic"
_DUAL = "liberation.deploy.dual_energy.synthetic"
_FRAGMENTS = "liberation.deploy.fragments.synthetic"

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__,  # noqa: E501
    deprecated={
        **{name: f"{_BELT}:{name}" for name in (
            "BELT_CLASSES", "SIZE_CLASSES_MM", "BeltImage", "belt_attenuation", "make_belt_dataset",
            "make_belt_image")},
        **{name: f"{_DUAL}:{name}" for name in (
            "DE_ENERGIES_KEV", "DE_MASS_ATTENUATION", "DE_DENSITY", "DualEnergySet", "make_dual_energy_set")},
        **{name: f"{_FRAGMENTS}:{name}" for name in ("FragmentImage", "make_fragment_image")},
        "belt": _BELT,
        "dual_energy": _DUAL,
        "fragments": _FRAGMENTS,
        "TexturePhantom": "liberation.synthetic._result:SyntheticSample",
        "PhantomVolume": "liberation.synthetic._result:SyntheticSample",
    },
)
