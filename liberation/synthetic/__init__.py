"""Synthetic samples with exact truth: particles, mineral grains, CT, micro-XRF/SEM maps, XRT belt images.

Used by the tests, the examples, the demo and the benchmarks. Every generator takes an
explicit ``seed``. The public names are listed in ``__init__.pyi`` and imported on first use
(:mod:`liberation._lazy`).
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
