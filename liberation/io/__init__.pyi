"""Type stub of liberation.io: the public names, resolved lazily at run time (lazy_loader.attach_stub)."""

# Submodules, reachable as attributes (not in __all__).
from . import store as store
from .store import SPARSE_IGNORE, SampleStore, create_store, open_store, provenance_entry
from .tiff import convert_tiff, read_tiff_stack_info

__all__ = [
    "SPARSE_IGNORE",
    "SampleStore",
    "convert_tiff",
    "create_store",
    "open_store",
    "provenance_entry",
    "read_tiff_stack_info",
]
