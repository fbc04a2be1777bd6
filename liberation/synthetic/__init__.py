"""Synthetic samples with exact truth: particles, mineral grains, CT, micro-XRF/SEM maps.

Used by the tests, the examples, the demo and the benchmarks. Every generator takes an
explicit ``seed``. Public names are found lazily: any name in ``__all__`` of a module of
this package is importable as ``liberation.synthetic.<name>``.

The XRT belt, dual-energy and fragment phantoms moved to the deploy wings
(``liberation.deploy.belt.synthetic``, ``liberation.deploy.dual_energy.synthetic``,
``liberation.deploy.fragments.synthetic``); their old names here still resolve, with a
DeprecationWarning, for one release.
"""

from __future__ import annotations

import importlib
import pkgutil


def _module_names() -> list[str]:
    return [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]


# name -> module it moved to (deprecated aliases, resolved by string: the core never imports deploy).
# ``attenuation_coefficient`` is not here: ``liberation.synthetic.attenuation_coefficient`` was and is
# the CT one (synthetic/ct.py); the dual-energy one is ``liberation.deploy.dual_energy.synthetic``'s.
_MOVED = {
    **{n: "liberation.deploy.belt.synthetic" for n in (
        "BELT_CLASSES", "SIZE_CLASSES_MM", "BeltImage", "belt_attenuation", "make_belt_dataset", "make_belt_image")},
    **{n: "liberation.deploy.dual_energy.synthetic" for n in (
        "DE_ENERGIES_KEV", "DE_MASS_ATTENUATION", "DE_DENSITY", "DualEnergySet", "make_dual_energy_set")},
    **{n: "liberation.deploy.fragments.synthetic" for n in ("FragmentImage", "make_fragment_image")},
}
# old submodules -> new modules
_MOVED_MODULES = {"belt": "liberation.deploy.belt.synthetic", "dual_energy": "liberation.deploy.dual_energy.synthetic",
                  "fragments": "liberation.deploy.fragments.synthetic"}


def _moved(name: str):
    import warnings

    if name in _MOVED_MODULES:
        target = _MOVED_MODULES[name]
        warnings.warn(f"liberation.synthetic.{name} moved to {target}; the old name goes in the next release",
                      DeprecationWarning, stacklevel=3)
        return importlib.import_module(target)
    target = _MOVED[name]
    warnings.warn(f"liberation.synthetic.{name} moved to {target}.{name}; the old name goes in the next release",
                  DeprecationWarning, stacklevel=3)
    return getattr(importlib.import_module(target), name)


def __getattr__(name: str):
    if name in _MOVED or name in _MOVED_MODULES:
        return _moved(name)
    for module_name in _module_names():
        module = importlib.import_module(f"{__name__}.{module_name}")
        if name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    names: set[str] = set()
    for module_name in _module_names():
        module = importlib.import_module(f"{__name__}.{module_name}")
        names.update(getattr(module, "__all__", ()))
    return sorted(names)
