"""The belt wing: XRT belt segmenter, its training, export, runtime, sorting and simulation.

Modules: ``config`` and ``model`` (Mineral-DeepLabV3+-style network), ``layers`` (conv
blocks, UIB, (S-)ASPP, cross-shaped window attention), ``train``, ``augment``,
``metrics``, ``io`` (model folders, cards, labelled folders), ``export`` (ONNX),
``preprocess`` (counts -> network input), ``runtime`` (TensorRT / onnxruntime / torch),
``sorting``, ``simulation``, ``synthetic`` (belt frames with truth) and ``workflow``
(the steps behind ``liberation deploy``). Names are resolved lazily (``__init__.pyi``).
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
