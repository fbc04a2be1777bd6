"""Input and output: the OME-Zarr sample store, TIFF stack import, dataset manifest.

Readers for micro-XRF element maps and SEM/MLA mineral maps are in
:mod:`liberation.io.xrf` and :mod:`liberation.io.sem`.
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
