"""One ONNX export-and-verify helper (torch, onnx, onnxruntime; imported lazily), a base module.

Used by the deploy models and by the ONNX Runtime backend of 3D inference
(:mod:`liberation.segmentation.onnx_backend`). :func:`export_onnx_model` traces a torch
module with dynamic axes into an ONNX file (written atomically, checked by
``onnx.checker``); :func:`onnx_session` opens a file with onnxruntime on the CPU and
:func:`run_onnx` runs it once; :func:`onnx_parity` runs torch and onnxruntime on the same
sample and compares the outputs, raising a clear error when they differ by more than a
tolerance. The packages come with the ``deploy`` extra.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from liberation._atomic import atomic_file, check_new_output
from liberation.errors import FileFormatError, InputError, require

# torch.onnx.export keeps global state (and warnings.catch_warnings is process-wide): one export at a time,
# e.g. when several Dask tasks in threads of one worker export their network
_EXPORT_LOCK = threading.Lock()

__all__ = ["export_onnx_model", "onnx_parity", "onnx_session", "run_onnx"]


def export_onnx_model(
    module,
    path: str | os.PathLike,
    *,
    example,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
    opset: int = 17,
    transform: Callable | None = None,
    overwrite: bool = False,
) -> Path:
    """Export a torch module to ONNX (legacy TorchScript exporter) with dynamic axes.

    Parameters
    ----------
    module : torch.nn.Module
        Put in eval mode here.
    path : path-like
        Output ``.onnx`` file; refused if it exists unless ``overwrite=True``.
    example : torch.Tensor
        Tracing input.
    input_names, output_names : sequence of str
        Names of the graph inputs and outputs.
    dynamic_axes : mapping
        ``{name: {axis: axis_name}}`` for the inputs and outputs.
    opset : int
        ONNX opset.
    transform : callable, optional
        ``onnx.ModelProto -> onnx.ModelProto`` applied before the check (e.g. float16 weights).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
    """
    torch = require("torch", "deploy")
    onnx = require("onnx", "deploy")
    path = check_new_output(path, overwrite=overwrite, what="ONNX file")
    module = module.eval()
    with atomic_file(path, overwrite=overwrite, what="ONNX file") as tmp_path:
        tmp = str(tmp_path)
        with _EXPORT_LOCK, warnings.catch_warnings():  # tracer warnings about python control flow on shapes
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), tmp, dynamo=False, opset_version=int(opset),
                              input_names=list(input_names), output_names=list(output_names),
                              do_constant_folding=True,
                              dynamic_axes={k: dict(v) for k, v in dynamic_axes.items()})
        proto = onnx.load(tmp)
        if transform is not None:
            proto = transform(proto)
        try:
            onnx.checker.check_model(proto)
        except Exception as exc:  # noqa: BLE001 - onnx raises its own ValidationError
            raise FileFormatError(f"the ONNX export of {type(module).__name__} to {path} is not valid: {exc}") from None
        onnx.save(proto, tmp)
    return path


def onnx_session(path: str | os.PathLike, *, threads: int | None = None, spin: bool = True):
    """An ``onnxruntime.InferenceSession`` of an ONNX file on the CPU.

    Parameters
    ----------
    path : path-like
    threads : int, optional
        Intra-op threads (one inter-op thread); default onnxruntime's (all cores).
    spin : bool
        Let idle worker threads spin-wait for the next run (onnxruntime's default: lowest
        latency between back-to-back runs). ``False`` when other work (torch, numpy) runs
        between the runs on the same cores, which spinning threads would slow down.
    """
    ort = require("onnxruntime", "deploy")
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own classes for any unloadable file
        raise FileFormatError(f"ONNX model {path} cannot be loaded: {str(exc).strip().splitlines()[0][:200]}") from None


def run_onnx(path: str | os.PathLike, inputs: Mapping[str, np.ndarray], *, threads: int | None = None) -> list:
    """Run an ONNX file with onnxruntime on the CPU; returns the list of outputs."""
    sess = onnx_session(path, threads=threads)
    return sess.run(None, {k: np.ascontiguousarray(v) for k, v in inputs.items()})


def onnx_parity(
    module,
    path: str | os.PathLike,
    sample: np.ndarray,
    *,
    input_name: str,
    output: Callable[[np.ndarray], np.ndarray] | None = None,
    atol: float | None = 1e-4,
    threads: int | None = 1,
) -> dict:
    """Compare a torch module with its ONNX export on one sample.

    Parameters
    ----------
    module : torch.nn.Module
        The reference (put in eval mode here).
    path : path-like
        The exported file.
    sample : numpy.ndarray, float32
        Input of the first graph input (any size allowed by its dynamic axes).
    input_name : str
        Name of that graph input.
    output : callable, optional
        Applied to both first outputs before comparing (e.g. a sigmoid to compare probabilities).
    atol : float or None
        Largest allowed absolute difference; None only measures.
    threads : int, optional
        onnxruntime intra-op threads.

    Returns
    -------
    dict
        ``max_abs_diff``, ``mean_abs_diff``, ``shape`` (of the sample), ``torch`` and
        ``onnx`` (the compared outputs, numpy arrays).

    Raises
    ------
    FileFormatError
        The outputs differ in shape, or by more than ``atol``.
    """
    torch = require("torch", "deploy")
    x = np.ascontiguousarray(np.asarray(sample, dtype=np.float32))
    if atol is not None and not atol >= 0:
        raise InputError(f"atol={atol!r}; expected a non-negative tolerance or None")
    with torch.no_grad():
        ref = module.eval()(torch.from_numpy(x)).numpy()
    out = run_onnx(path, {input_name: x}, threads=threads)[0]
    if output is not None:
        ref, out = output(ref), output(out)
    if ref.shape != out.shape:
        raise FileFormatError(f"ONNX model {path} gives output shape {out.shape} for input {x.shape}; "
                              f"torch gives {ref.shape}")
    diff = np.abs(out.astype(np.float64) - ref.astype(np.float64))
    result = {"max_abs_diff": float(diff.max(initial=0.0)), "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
              "shape": list(x.shape), "torch": ref, "onnx": out}
    if atol is not None and result["max_abs_diff"] > atol:
        raise FileFormatError(f"ONNX model {path} differs from torch by {result['max_abs_diff']:.3g} "
                              f"(> atol={atol}) on an input of shape {tuple(x.shape)}")
    return result
