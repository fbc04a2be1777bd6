"""Synthetic samples with exact truth: particles, mineral grains, CT, micro-XRF/SEM maps, XRT belt images.

Used by the tests, the examples, the demo and the benchmarks. Every generator takes an
explicit ``seed``. Public names are found lazily: any name in ``__all__`` of a module of
this package is importable as ``liberation.synthetic.<name>``.
"""

from __future__ import annotations

import importlib
import pkgutil


def _module_names() -> list[str]:
    return [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]


def __getattr__(name: str):
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
