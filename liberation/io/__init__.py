"""Input and output: the OME-Zarr sample store, TIFF stack import, dataset manifest.

Readers for micro-XRF element maps and SEM/MLA mineral maps are in
:mod:`liberation.io.xrf` and :mod:`liberation.io.sem`.
"""

from liberation.io.store import SPARSE_IGNORE, SampleStore, create_store, open_store, provenance_entry

__all__ = ["SPARSE_IGNORE", "SampleStore", "create_store", "open_store", "provenance_entry", "convert_tiff", "read_tiff_stack_info"]


# deprecated aliases of names that moved to the dual-energy wing (resolved by string:
# the core never imports liberation.deploy)
_MOVED = {"dual_energy": "liberation.deploy.dual_energy.io",
          "read_dual_energy_folder": "liberation.deploy.dual_energy.io",
          "write_dual_energy_folder": "liberation.deploy.dual_energy.io"}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib
        import warnings

        target = _MOVED[name]
        warnings.warn(f"liberation.io.{name} moved to {target}; the old name goes in the next release",
                      DeprecationWarning, stacklevel=2)
        module = importlib.import_module(target)
        return module if name == "dual_energy" else getattr(module, name)
    if name in ("convert_tiff", "read_tiff_stack_info"):
        from liberation.io import tiff

        return getattr(tiff, name)
    raise AttributeError(f"module 'liberation.io' has no attribute {name!r}")
