"""The dual-energy wing: ore/waste classification from high/low-energy XRT pairs.

Modules: ``model`` (dual-tower CNN, Chebyshev-KAN head), ``train``, ``baseline`` (the
R-value classifier), ``metrics``, ``export`` (model folders, ONNX), ``io`` (folders of
image pairs), ``synthetic`` (pairs with truth) and ``workflow`` (the steps behind
``liberation deploy dual-energy``). Names are resolved lazily (``__init__.pyi``).
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
