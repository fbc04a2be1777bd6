"""ONNX Runtime backend of 3D sliding-window inference. Imports torch, onnx and onnxruntime when called.

:func:`onnx_network` exports a 3D network (the stem, U-Net and head of
:func:`liberation.segmentation.model.build_network`) to ONNX with a dynamic batch axis and
a fixed window shape, checks ONNX Runtime against torch on random windows (largest absolute
logit difference <= ``atol``, 1e-4 by default) and returns an :class:`OnnxNetwork`, which
:func:`~liberation.segmentation.inference.predict_volume` runs with ``backend="onnxruntime"``.
The export and the check use :mod:`liberation._onnx` (shared with the deploy models).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from liberation._onnx import export_onnx_model, onnx_parity, onnx_session
from liberation.errors import InputError, require

__all__ = ["OnnxNetwork", "export_network_onnx", "onnx_network"]

_INPUT, _OUTPUT = "image", "logits"


class OnnxNetwork:
    """A 3D network in ONNX, run by ONNX Runtime on the CPU.

    Calling it maps a float32 ``(batch, 1, z, y, x)`` tensor (torch or numpy; ``z, y, x`` the
    window shape it was exported for) to the logits ``(batch, n_classes, z, y, x)``, a float32
    ``torch.Tensor``.

    Parameters
    ----------
    path : path-like
        The ONNX file (read when the session opens; it may be deleted afterwards).
    patch_size : tuple of 3 int
        The window shape the file takes.
    threads : int, optional
        ONNX Runtime intra-op threads (default: torch's thread count, so both backends use
        the same cores).
    max_abs_diff : float, optional
        Largest logit difference from torch measured at the export (recorded, not checked here).
    spin : bool
        ONNX Runtime worker threads spin-wait between runs (see :func:`liberation._onnx.onnx_session`).
    """

    def __init__(self, path, *, patch_size, threads: int | None = None, max_abs_diff: float | None = None,
                 spin: bool = False):
        torch = require("torch", "ml")
        self.patch_size = tuple(int(p) for p in patch_size)
        self.threads = int(threads or torch.get_num_threads())
        self.max_abs_diff = max_abs_diff
        # no spin-waiting: the blending (torch) runs on the same cores between the windows
        self._session = onnx_session(path, threads=self.threads, spin=spin)
        self._input = self._session.get_inputs()[0].name

    def __call__(self, x):
        torch = require("torch", "ml")
        arr = x.numpy() if hasattr(x, "numpy") else np.asarray(x)
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if arr.ndim != 5 or tuple(arr.shape[2:]) != self.patch_size:
            raise InputError(f"ONNX network input has shape {arr.shape}; expected (batch, 1, *{self.patch_size})")
        return torch.from_numpy(self._session.run(None, {self._input: arr})[0])

    def __repr__(self) -> str:
        return f"OnnxNetwork(patch_size={self.patch_size}, threads={self.threads}, max_abs_diff={self.max_abs_diff})"


def export_network_onnx(network, card, path, *, opset: int = 17, overwrite: bool = False) -> Path:
    """Export a 3D network to an ONNX file for windows of ``card.patch_size`` (dynamic batch).

    Parameters
    ----------
    network : torch.nn.Module
        Maps ``(batch, 1, z, y, x)`` to logits; moved to the CPU and put in eval mode.
    card : ModelCard
        Its ``patch_size`` (z, y, x) is the window shape.
    path : path-like
        Output ``.onnx`` file, written atomically; refused if it exists unless ``overwrite``.
    opset : int
    overwrite : bool

    Returns
    -------
    Path
    """
    torch = require("torch", "ml")
    patch = tuple(int(p) for p in card.patch_size)
    example = torch.zeros((1, 1, *patch), dtype=torch.float32)
    return export_onnx_model(network.cpu().eval(), path, example=example, input_names=[_INPUT],
                             output_names=[_OUTPUT], dynamic_axes={_INPUT: {0: "batch"}, _OUTPUT: {0: "batch"}},
                             opset=opset, overwrite=overwrite)


def onnx_network(network, card, *, path: str | os.PathLike | None = None, threads: int | None = None,
                 atol: float = 1e-4, seed: int = 0) -> OnnxNetwork:
    """Export ``network`` to ONNX, check it against torch, and open it with ONNX Runtime.

    Parameters
    ----------
    network : torch.nn.Module
    card : ModelCard
        ``patch_size`` gives the window shape.
    path : path-like, optional
        Where the ONNX file is written (kept; refused if it exists). Default: a temporary
        file, deleted once the session is open.
    threads : int, optional
        ONNX Runtime threads (default torch's thread count).
    atol : float
        Largest allowed absolute logit difference between torch and ONNX Runtime on two
        random windows (uniform 0..1, the normalised grey range).
    seed : int
        Seed of the check windows.

    Returns
    -------
    OnnxNetwork

    Raises
    ------
    FileFormatError
        The export differs from torch by more than ``atol``.
    """
    require("onnx", "deploy")
    require("onnxruntime", "deploy")
    torch = require("torch", "ml")
    threads = int(threads or torch.get_num_threads())
    tmp = None
    if path is None:
        tmp = Path(tempfile.mkdtemp(prefix="liberation-onnx-"))
        path = tmp / "network.onnx"
    try:
        # the inference form (batch norms folded, the stem's filters as matrix products): fewer,
        # larger operations; checked below against ``network`` itself
        from liberation.segmentation.fast_network import inference_network

        path = export_network_onnx(inference_network(network, card.patch_size, check=False), card, path)
        sample = np.random.default_rng(seed).random((2, 1, *(int(p) for p in card.patch_size)), dtype=np.float32)
        parity = onnx_parity(network, path, sample, input_name=_INPUT, atol=atol, threads=threads)
        return OnnxNetwork(path, patch_size=card.patch_size, threads=threads, max_abs_diff=parity["max_abs_diff"])
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
