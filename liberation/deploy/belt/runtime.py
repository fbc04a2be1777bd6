"""One inference interface over TensorRT, onnxruntime and PyTorch for the belt segmenter.

:class:`BeltRuntime` picks the fastest backend available for the model file:

- ``.engine`` / ``.plan`` (a serialized TensorRT engine, e.g. from ``trtexec``) -> TensorRT
  (``tensorrt`` >= 8.5 and a CUDA torch for the buffers);
- ``.onnx`` -> TensorRT when ``tensorrt`` is importable *and* onnxruntime offers its
  TensorRT execution provider, else onnxruntime (CUDA provider if present, else CPU),
  else PyTorch is not possible for ONNX and a DependencyError is raised;
- a model folder (``model.pt`` + ``model_card.json``) or an older ``.pt`` checkpoint -> PyTorch.

Every backend takes frames of any size (padded to multiples of 32 and cropped back) and
returns class masks. The model card (in the folder, or ``<file>.json`` beside an exported
file) gives the classes and the open-beam counts ``i0`` used to turn detector counts
into log attenuation. The runtime imports neither the training code nor the phantoms.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from liberation.deploy.belt.io import read_model_card
from liberation.deploy.belt.preprocess import pad_to_multiple, prepare_belt_inputs
from liberation.errors import DependencyError, FileFormatError, InputError, require
from liberation.model_folder import card_class_names

__all__ = ["BeltRuntime", "available_backends"]

_BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def available_backends() -> list[str]:
    """Backends whose Python packages are importable here."""
    return [b for b, mod in (("tensorrt", "tensorrt"), ("onnxruntime", "onnxruntime"), ("torch", "torch"))
            if _importable(mod)]


class BeltRuntime:
    """Segment belt frames with a trained model on the best available backend.

    Parameters
    ----------
    model_path : path-like
        Model folder (or older ``.pt`` checkpoint), ``.onnx`` export or ``.engine``/``.plan``
        TensorRT engine with its model card ``<file>.json`` beside it.
    backend : str
        ``"auto"``, ``"tensorrt"``, ``"onnxruntime"`` or ``"torch"``.
    threads : int, optional
        CPU threads (onnxruntime intra-op / torch).
    batch_size : int
        Frames per forward pass in :meth:`segment`.

    Attributes
    ----------
    backend : str
        The backend in use.
    card : dict
        The model card.
    class_names : tuple of str
    i0 : float or None
        Open-beam counts of the training frames.
    """

    def __init__(self, model_path, *, backend: str = "auto", threads: int | None = None, batch_size: int = 8):
        if backend not in _BACKENDS:
            raise InputError(f"backend={backend!r} is not known; expected one of {_BACKENDS}")
        self.path = Path(model_path)
        if not self.path.exists():
            raise FileFormatError(f"model {self.path} not found")
        self.card = read_model_card(self.path)
        self.class_names = card_class_names(self.card)
        self.i0 = (self.card.get("input") or {}).get("i0")
        self.batch_size = int(batch_size)
        self.threads = threads
        suffix = ".pt" if self.path.is_dir() else self.path.suffix.lower()
        if backend == "auto":
            if suffix in (".engine", ".plan"):
                backend = "tensorrt"
            elif suffix == ".onnx":
                backend = "onnxruntime"
            elif suffix == ".pt":
                backend = "torch"
            else:
                raise FileFormatError(f"{self.path} has suffix {suffix!r}; expected a model folder, .pt, .onnx, .engine or .plan")
        self.backend = backend
        if backend == "tensorrt" and suffix in (".engine", ".plan"):
            self._init_tensorrt_engine()
        elif backend in ("tensorrt", "onnxruntime"):
            if suffix != ".onnx":
                raise InputError(f"backend={backend!r} needs an .onnx or TensorRT engine file; got {self.path.name}")
            self._init_onnxruntime(prefer_tensorrt=backend == "tensorrt" or _importable("tensorrt"))
        else:
            if suffix != ".pt":
                raise InputError(f"backend='torch' needs a model folder or .pt checkpoint; got {self.path.name}")
            self._init_torch()

    # -- backends ---------------------------------------------------------------------------
    def _init_torch(self):
        torch = require("torch", "deploy")
        from liberation.deploy.belt.io import load_belt_checkpoint

        if self.threads:
            torch.set_num_threads(int(self.threads))
        self._model, _ = load_belt_checkpoint(self.path)

        def run(x):
            with torch.no_grad():
                return self._model(torch.from_numpy(x)).numpy()

        self._run = run

    def _init_onnxruntime(self, *, prefer_tensorrt: bool):
        ort = require("onnxruntime", "deploy")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            opts.intra_op_num_threads = int(self.threads)
            opts.inter_op_num_threads = 1
        available = ort.get_available_providers()
        wanted = (["TensorrtExecutionProvider"] if prefer_tensorrt else []) + ["CUDAExecutionProvider",
                                                                               "CPUExecutionProvider"]
        providers = [p for p in wanted if p in available] or ["CPUExecutionProvider"]
        try:
            self._session = ort.InferenceSession(str(self.path), opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own classes for any unloadable file
            raise FileFormatError(f"ONNX model {self.path} cannot be loaded: "
                                  f"{str(exc).strip().splitlines()[0][:200]}") from None
        self.providers = self._session.get_providers()
        if self.backend == "tensorrt" and "TensorrtExecutionProvider" not in self.providers:
            raise DependencyError("backend='tensorrt' asked for an .onnx model but onnxruntime has no "
                                  "TensorrtExecutionProvider here; build an engine with trtexec (docs/deploy.md)")
        if "TensorrtExecutionProvider" in self.providers:
            self.backend = "tensorrt"
        name = self._session.get_inputs()[0].name
        self._run = lambda x: self._session.run(None, {name: x})[0]

    def _init_tensorrt_engine(self):  # pragma: no cover - needs an NVIDIA GPU and TensorRT >= 8.5
        trt = require("tensorrt", "deploy")
        torch = require("torch", "deploy")
        if not torch.cuda.is_available():
            raise DependencyError("a TensorRT engine needs a CUDA-enabled torch for its buffers; none found")
        logger = trt.Logger(trt.Logger.WARNING)
        with open(self.path, "rb") as fh:
            engine = trt.Runtime(logger).deserialize_cuda_engine(fh.read())
        if engine is None:
            raise FileFormatError(f"{self.path} is not a TensorRT engine for this TensorRT/GPU")
        context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inp = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        out = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self._engine, self._context = engine, context

        def run(x):
            xt = torch.from_numpy(x).cuda()
            if engine.get_tensor_dtype(inp) == trt.DataType.HALF:
                xt = xt.half()
            context.set_input_shape(inp, tuple(xt.shape))
            shape = tuple(context.get_tensor_shape(out))
            half = engine.get_tensor_dtype(out) == trt.DataType.HALF
            yt = torch.empty(shape, device="cuda", dtype=torch.float16 if half else torch.float32)
            context.set_tensor_address(inp, xt.data_ptr())
            context.set_tensor_address(out, yt.data_ptr())
            stream = torch.cuda.current_stream()
            context.execute_async_v3(stream.cuda_stream)
            stream.synchronize()
            return yt.float().cpu().numpy()

        self._run = run

    # -- public interface -------------------------------------------------------------------
    def logits(self, inputs) -> np.ndarray:
        """Raw logits ``(n, K, H, W)`` for network inputs ``(n, 1, H, W)`` float32 (H, W multiples of 32)."""
        x = np.ascontiguousarray(np.asarray(inputs, dtype=np.float32))
        if x.ndim != 4 or x.shape[2] % 32 or x.shape[3] % 32:
            raise InputError(f"inputs have shape {x.shape}; expected (n, 1, H, W) with H, W multiples of 32")
        return self._run(x)

    def preprocess(self, frames, *, counts: bool = True) -> np.ndarray:
        """Detector counts -> log attenuation with the card's ``i0`` (``counts=False``: frames are attenuation)."""
        if counts and self.i0 is None:
            raise InputError("the model card has no input i0; pass attenuation frames with counts=False")
        return prepare_belt_inputs(frames, i0=self.i0 if counts else None)

    def segment(self, frames, *, counts: bool = True) -> np.ndarray:
        """Class masks for frames.

        Parameters
        ----------
        frames : array_like, (n, y, x) or (y, x)
            Detector counts (or attenuation with ``counts=False``), any size.
        counts : bool
            Whether the frames are raw counts.

        Returns
        -------
        ndarray, uint8, (n, y, x) or (y, x)
            0 = background, 1.. = classes of the card.
        """
        x = self.preprocess(frames, counts=counts)
        single = x.ndim == 2
        if single:
            x = x[None]
        if x.ndim != 3:
            raise InputError(f"frames have shape {x.shape}; expected (n, y, x) or (y, x)")
        xp, (h, w) = pad_to_multiple(x)
        out = np.empty((len(x), h, w), np.uint8)
        for s in range(0, len(xp), self.batch_size):
            logits = self.logits(xp[s : s + self.batch_size, None])
            out[s : s + self.batch_size] = logits[:, :, :h, :w].argmax(1)
        return out[0] if single else out

    def benchmark(self, *, shape=(512, 512), batch: int = 1, warmup: int = 3, repeats: int = 20, seed: int = 0) -> dict:
        """Time :meth:`logits` on random frames.

        Returns
        -------
        dict
            ``backend``, ``shape``, ``batch``, ``ms_per_frame`` (median over repeats / batch),
            ``ms_p90``, ``fps``, ``repeats``.
        """
        if len(shape) != 2 or shape[0] % 32 or shape[1] % 32:
            raise InputError(f"shape={shape!r} must be (H, W) multiples of 32")
        x = np.random.default_rng(seed).uniform(0, 3, size=(int(batch), 1, *shape)).astype(np.float32)
        for _ in range(max(0, int(warmup))):
            self.logits(x)
        times = []
        for _ in range(max(1, int(repeats))):
            t0 = time.perf_counter()
            self.logits(x)
            times.append((time.perf_counter() - t0) * 1000.0 / batch)
        med = float(np.median(times))
        return {"backend": self.backend, "shape": list(shape), "batch": int(batch), "ms_per_frame": med,
                "ms_p90": float(np.percentile(times, 90)), "fps": 1000.0 / med, "repeats": len(times),
                "threads": self.threads}
