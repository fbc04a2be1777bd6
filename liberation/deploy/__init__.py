"""liberation.deploy: the conveyor-belt XRT sorter (extra ``deploy``), in three wings.

- :mod:`liberation.deploy.belt`: the belt segmenter (Mineral-DeepLabV3+ style:
  MobileNetV4-like backbone, S-ASPP, CSWin attention, DeepLabV3+ decoder), training and
  metrics, ONNX export, a runtime over TensorRT / onnxruntime / PyTorch, the per-fragment
  sorting decision and air-jet commands, a belt simulation of the semi-industrial trials
  and synthetic belt frames.
- :mod:`liberation.deploy.dual_energy`: the dual-energy ore/waste classifier (dual tower
  CNN with a Chebyshev-KAN head), its R-value baseline, folders of image pairs and
  synthetic pairs.
- :mod:`liberation.deploy.fragments`: fragment sizing and size distributions (no torch).

Nothing heavy is imported here: the public names (listed in ``__init__.pyi``) are
resolved on first use by ``lazy_loader``, and only the modules that need torch import it.
The core of the library never imports this package.
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
