"""The fragments wing: fragment sizing and size distributions (numpy/scipy/scikit-image, no torch).

Modules: ``sizing`` (sizes from masks, labels or boxes, ruler scale), ``distribution``
(passing curve, Rosin-Rammler, oversize alarm), ``synthetic`` (fragment images with
truth) and ``workflow`` (the steps behind ``liberation deploy fragments``). Names are
resolved lazily (``__init__.pyi``).
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
