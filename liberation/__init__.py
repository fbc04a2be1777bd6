"""liberation: correlative 3D mineral liberation analysis (micro-CT + micro-XRF / SEM).

The top-level import is light: it does not import torch, MONAI or the I/O stack.
Subpackages are loaded on first use (:mod:`liberation._lazy`, names in ``__init__.pyi``)::

    import liberation

    sample = liberation.synthetic.make_sample(shape=(96, 96, 96), seed=1)
    table = liberation.stats.particle_table(sample.particles, sample.phases, voxel_size_um=10.0,
                                            minerals=sample.minerals)
"""

from __future__ import annotations

from liberation._lazy import attach_stub
from liberation.errors import (  # noqa: F401  (eager public names, see __init__.pyi)
    DependencyError,
    FileFormatError,
    InputError,
    LiberationError,
    OverwriteError,
    StoreError,
)
from liberation.minerals import Mineral, MineralList  # noqa: F401

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
