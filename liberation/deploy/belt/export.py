"""ONNX export of the belt segmenter and its parity check against PyTorch.

The exported graph has input ``image`` ``(batch, 1, height, width)`` float32 (log
attenuation, height and width multiples of 32) and output ``logits`` ``(batch, K,
height, width)``; batch, height and width are dynamic. ``fp16=True`` stores the
weights as float16 (half the file) with Cast nodes back to float32 at run time, so the
same file runs on any onnxruntime; on a Jetson, TensorRT builds true FP16 kernels from
either file with ``trtexec --fp16`` (see docs/deploy.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liberation._onnx import export_onnx_model, onnx_parity
from liberation.errors import InputError, require

__all__ = ["convert_onnx_weights_fp16", "export_belt_onnx", "verify_belt_onnx"]


def export_belt_onnx(model, path, *, opset: int = 17, fp16: bool = False, example_shape=(1, 1, 64, 64),
                     overwrite: bool = False) -> Path:
    """Export a segmenter to ONNX with dynamic batch and frame size.

    Parameters
    ----------
    model : torch.nn.Module
        Segmenter (put in eval mode here).
    path : path-like
        Output ``.onnx`` file (written atomically).
    opset : int
        ONNX opset, at least 13. 17 (default) for TensorRT >= 8.6 (Jetson Orin, JetPack 6);
        13 writes the same graph with opset-13 operators (onnxruntime parity measured 3e-8)
        for the Jetson Nano's TensorRT 8.0/8.2, untested there (docs/deploy.md).
    fp16 : bool
        Store weights as float16 (see module notes).
    example_shape : tuple of 4 int
        Shape of the tracing input; height and width multiples of 32.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
    """
    torch = require("torch", "deploy")
    if int(opset) < 13:
        raise InputError(f"opset={opset!r} is too old; expected 13 or newer (17 for Jetson Orin / TensorRT >= 8.6)")
    if len(example_shape) != 4 or example_shape[2] % 32 or example_shape[3] % 32:
        raise InputError(f"example_shape={example_shape!r} must be (n, c, h, w) with h, w multiples of 32")
    axes = {0: "batch", 2: "height", 3: "width"}
    return export_onnx_model(model, path, example=torch.zeros(tuple(example_shape), dtype=torch.float32),
                             input_names=["image"], output_names=["logits"],
                             dynamic_axes={"image": axes, "logits": axes}, opset=int(opset),
                             transform=convert_onnx_weights_fp16 if fp16 else None, overwrite=overwrite)


def convert_onnx_weights_fp16(proto):
    """Store float32 initializers of an ONNX model as float16, each followed by a Cast to float32."""
    onnx = require("onnx", "deploy")
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    new_inits, casts = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            new_inits.append(init)
            continue
        arr = numpy_helper.to_array(init).astype(np.float16)
        half_name = init.name + "__fp16"
        new_inits.append(numpy_helper.from_array(arr, half_name))
        casts.append(helper.make_node("Cast", [half_name], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + "__cast"))
    del graph.initializer[:]
    graph.initializer.extend(new_inits)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return onnx.shape_inference.infer_shapes(proto)


def verify_belt_onnx(model, onnx_path, *, shape=(2, 1, 64, 64), seed: int = 0, threads: int | None = 1,
                     atol: float | None = None) -> dict:
    """Run PyTorch and onnxruntime on the same random input and compare the logits.

    Parameters
    ----------
    model : torch.nn.Module
        Reference model.
    onnx_path : path-like
        Exported file.
    shape : tuple of 4 int
        Input shape (any batch; h, w multiples of 32).
    seed : int
        Seed of the input.
    threads : int, optional
        onnxruntime intra-op threads.
    atol : float, optional
        Raise :class:`~liberation.errors.FileFormatError` when the logits differ by more
        than this (default: only measure; float16 weights differ by ~1e-2).

    Returns
    -------
    dict
        ``max_abs_diff``, ``mean_abs_diff``, ``argmax_agreement`` (fraction of pixels with the
        same class), ``shape``.
    """
    x = np.random.default_rng(seed).uniform(0.0, 3.0, size=tuple(shape)).astype(np.float32)
    r = onnx_parity(model, onnx_path, x, input_name="image", atol=atol, threads=threads)
    return {"max_abs_diff": r["max_abs_diff"], "mean_abs_diff": r["mean_abs_diff"],
            "argmax_agreement": float((r["onnx"].argmax(1) == r["torch"].argmax(1)).mean()), "shape": list(shape)}
