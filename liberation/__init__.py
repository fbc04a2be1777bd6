"""liberation: correlative 3D mineral liberation analysis (micro-CT + micro-XRF / SEM).

The top-level import is light: it does not import torch, MONAI or the I/O stack.
Subpackages are loaded on first use::

    import liberation
    sample = liberation.synthetic.make_sample(shape=(96, 96, 96), seed=1)
    table = liberation.stats.particle_table(sample.particles, sample.phases, voxel_size_um=10.0,
                                            minerals=sample.minerals)
"""

from __future__ import annotations

import importlib

from liberation.errors import (
    DependencyError,
    FileFormatError,
    InputError,
    LiberationError,
    OverwriteError,
    StoreError,
)
from liberation.minerals import Mineral, MineralList

__version__ = "0.1.0"

_SUBPACKAGES = {"io", "synthetic", "labels", "registration", "segmentation", "stats", "report", "deploy"}

__all__ = [
    "__version__",
    "DependencyError",
    "FileFormatError",
    "InputError",
    "LiberationError",
    "Mineral",
    "MineralList",
    "OverwriteError",
    "StoreError",
    *sorted(_SUBPACKAGES),
]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"liberation.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'liberation' has no attribute {name!r}")
