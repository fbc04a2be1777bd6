"""Input and output: the OME-Zarr sample store, TIFF stack import, dataset manifest.

Readers for micro-XRF element maps and SEM/MLA mineral maps are in
:mod:`liberation.io.xrf` and :mod:`liberation.io.sem`.
"""

from liberation.io.store import SPARSE_IGNORE, SampleStore, create_store, open_store, provenance_entry

__all__ = ["SPARSE_IGNORE", "SampleStore", "create_store", "open_store", "provenance_entry", "convert_tiff", "read_tiff_stack_info"]


def __getattr__(name: str):
    if name in ("convert_tiff", "read_tiff_stack_info"):
        from liberation.io import tiff

        return getattr(tiff, name)
    raise AttributeError(f"module 'liberation.io' has no attribute {name!r}")
