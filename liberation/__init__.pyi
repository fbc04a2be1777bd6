"""Type stub of liberation: the subpackages (imported on first use) and the eager names."""

# Subpackages, imported on first access (a missing one fails only then), and the modules errors
# and minerals (imported eagerly by __init__.py, reachable as attributes, not in __all__).
from . import (
    deploy,
    io,
    labels,
    registration,
    report,
    segmentation,
    stats,
    synthetic,
    workflows,
)
from . import errors as errors
from . import minerals as minerals
from .errors import (
    DependencyError,
    FileFormatError,
    InputError,
    LiberationError,
    OverwriteError,
    StoreError,
)
from .minerals import Mineral, MineralList

__version__: str

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
    "deploy",
    "io",
    "labels",
    "registration",
    "report",
    "segmentation",
    "stats",
    "synthetic",
    "workflows",
]
