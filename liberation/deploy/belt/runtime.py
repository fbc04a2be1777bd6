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
file) gives the classes and the input spec. Detector counts become log attenuation with
the open beam ``i0``: ``"auto"`` (the default) estimates it per frame from the belt
background (:func:`~liberation.deploy.belt.preprocess.estimate_open_beam`), a number fixes
it. Every call checks the frames against the card's input spec and the predicted
foreground share, and warns once (:class:`BeltInputWarning`, one line) when the frames look
unlike the training data. The runtime imports neither the training code nor the phantoms.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from liberation.deploy.belt.fragment_class import classify_fragments
from liberation.deploy.belt.io import read_model_card
from liberation.deploy.belt.preprocess import estimate_open_beam, pad_to_multiple, parse_i0, prepare_belt_inputs
from liberation.deploy.belt.sorting import fragment_class_vote
from liberation.errors import DependencyError, FileFormatError, InputError, require
from liberation.model_folder import card_class_names

__all__ = ["BeltInputWarning", "BeltRuntime", "available_backends", "check_belt_frames", "check_foreground_share"]


class BeltInputWarning(UserWarning):
    """Frames that look unlike the segmenter's training data (scale, dtype, range, foreground share)."""


#: Foreground share above which a prediction is implausible whatever the training data.
_MAX_PLAUSIBLE_FOREGROUND = 0.9


def check_belt_frames(frames, *, spec: dict, i0, counts: bool = True, auto: bool = True) -> list[str]:
    """Ways in which frames differ from the training data described by a model card's input spec.

    Parameters
    ----------
    frames : ndarray, (n, y, x)
        Frames as given to the runtime.
    spec : dict
        The card's ``input`` (``dtype``, ``count_max``, ``attenuation_p99``, ...; missing
        keys skip their check).
    i0 : float, ndarray (n,) or None
        The open beam used (fixed or estimated per frame); None for attenuation frames.
    counts : bool
        Whether the frames are detector counts.
    auto : bool
        Whether ``i0`` was estimated from the frames (then scale and dtype may differ from
        the training data; a fixed ``i0`` must match the frames' belt level and dtype).

    Returns
    -------
    list of str
        Short problem descriptions (empty when the frames look like the training data).
    """
    problems = []
    arr = np.asarray(frames)
    fmax = float(arr.max()) if arr.size else 0.0
    if counts and arr.dtype.kind == "f" and fmax <= 20:
        problems.append(f"float frames with maximum {fmax:.3g} look like attenuation, not detector counts "
                        "(pass counts=False)")
    if counts and arr.dtype.kind in "iu":
        full = float(np.iinfo(arr.dtype).max)
        sat = float(np.mean(arr >= full))
        if sat > 0.02:
            problems.append(f"{100 * sat:.1f} % of the pixels are saturated at {full:.0f} ({arr.dtype})")
    if counts and i0 is not None and not auto:
        level = np.atleast_1d(estimate_open_beam(arr if arr.ndim == 3 else arr[None]))
        fixed = np.broadcast_to(np.asarray(i0, float), level.shape)
        ratio = level / fixed
        if np.any((ratio < 0.6) | (ratio > 1.25)):
            problems.append(f"the bare belt is at {np.median(level):.4g} counts but i0={np.median(fixed):.4g} "
                            f"(ratio {np.median(ratio):.3g}); the open beam does not match these frames "
                            "(use i0='auto')")
        dtype = spec.get("dtype")
        if dtype and str(arr.dtype) != dtype:
            problems.append(f"frames are {arr.dtype}, the model was trained on {dtype} frames (with a fixed i0 "
                            "the scale must match; use i0='auto')")
    att_ref = spec.get("attenuation_p99")
    if att_ref and counts and i0 is not None:
        att = prepare_belt_inputs(arr, i0=i0)
        p99 = float(np.percentile(att, 99))
        if p99 > 2.0 * float(att_ref) + 0.5:
            problems.append(f"attenuation 99th percentile {p99:.3g} is far above the training data's "
                            f"{float(att_ref):.3g} (thicker or denser material, or a wrong open beam)")
    return problems


def check_foreground_share(masks, *, spec: dict) -> list[str]:
    """A problem when the predicted foreground (class > 0) covers an implausible share of a frame.

    The limit is the larger of 0.9 and the largest training share + 0.25 (``spec`` key
    ``foreground_share``, ``[min, max]``), capped at 0.98.
    """
    m = np.asarray(masks)
    m = m[None] if m.ndim == 2 else m
    share = (m > 0).reshape(len(m), -1).mean(1)
    train = spec.get("foreground_share") or [0.0, 0.0]
    limit = min(0.98, max(_MAX_PLAUSIBLE_FOREGROUND, float(train[1]) + 0.25))
    bad = share > limit
    if bad.any():
        return [f"predicted foreground covers {100 * share.max():.0f} % of {int(bad.sum())}/{len(m)} frame(s) "
                f"(training frames at most {100 * float(train[1]):.0f} %): the input is probably unlike the "
                "training data"]
    return []

_BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch")
#: Ore/waste decisions of :class:`BeltRuntime`.
DECISIONS = ("auto", "hybrid", "features", "fragment", "pixel")


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
    i0 : float or "auto"
        Open beam of the frames: ``"auto"`` (default; estimated per frame from the belt
        background) or a fixed count.
    decision : {"auto", "hybrid", "features", "fragment", "pixel"}
        How ore/waste is decided (the foreground is the pixel argmax in all): per
        predicted fragment (connected components of the foreground, touching fragments
        split), as a sorter accepts or ejects whole fragments, from ``"hybrid"`` the
        fragment's thickness-free features plus the network's vote
        (:func:`~liberation.deploy.belt.fragment_class.classify_fragments`, for models with
        the classes belt, ore, waste), ``"features"`` the features alone, ``"fragment"``
        the network's vote alone (the class of the largest mean probability,
        :func:`~liberation.deploy.belt.sorting.fragment_class_vote`); ``"pixel"`` keeps the
        per-pixel argmax. ``"auto"`` (default): ``"hybrid"`` for belt/ore/waste models,
        else ``"fragment"``.

    Attributes
    ----------
    backend : str
        The backend in use.
    card : dict
        The model card.
    class_names : tuple of str
    i0 : float, "auto" or None
        Open beam of the training frames, from the card (``"auto"`` for models trained with
        domain randomisation).
    open_beam_mode : float or "auto"
        Open beam used for detector counts (the ``i0`` argument).
    last_check : dict
        After :meth:`segment`: ``i0`` (per frame), ``foreground_share`` (per frame),
        ``problems`` (list of str).
    """

    def __init__(self, model_path, *, backend: str = "auto", threads: int | None = None, batch_size: int = 8,
                 i0="auto", decision: str = "auto"):
        if backend not in _BACKENDS:
            raise InputError(f"backend={backend!r} is not known; expected one of {_BACKENDS}")
        self.path = Path(model_path)
        if not self.path.exists():
            raise FileFormatError(f"model {self.path} not found")
        self.card = read_model_card(self.path)
        self.class_names = card_class_names(self.card)
        self.decision = self._check_decision(decision)
        self.spec = dict(self.card.get("input") or {})
        self.i0 = self.spec.get("i0")
        self.open_beam_mode = parse_i0(i0) if i0 is not None else "auto"
        self.last_check: dict = {}
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

    def _check_decision(self, decision: str) -> str:
        """The decision to use: ``"auto"`` is ``"hybrid"`` for belt/ore/waste models, else ``"fragment"``."""
        if decision not in DECISIONS:
            raise InputError(f"decision={decision!r} is not known; expected one of {DECISIONS}")
        ore_waste = [c.lower() for c in self.class_names[1:]] == ["ore", "waste"]
        if decision == "auto":
            return "hybrid" if ore_waste else "fragment"
        if decision in ("features", "hybrid") and not ore_waste:
            raise InputError(f"decision={decision!r} needs a model with the classes background, ore, waste; "
                             f"this one has {list(self.class_names)}")
        return decision

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

    def _pixel_size_um(self) -> float:
        """Pixel size of the training frames (card ``input.pixel_size_um``, default 500 µm)."""
        value = self.spec.get("pixel_size_um")
        return float(value) if isinstance(value, (int, float)) and value > 0 else 500.0

    def open_beam(self, frames, *, i0=None) -> np.ndarray:
        """Open beam per frame ``(n,)``: estimated (``"auto"``) or the fixed value; ``i0`` overrides :attr:`open_beam_mode`."""
        arr = np.asarray(frames)
        arr = arr[None] if arr.ndim == 2 else arr
        mode = self.open_beam_mode if i0 is None else parse_i0(i0)
        if mode == "auto":
            return np.atleast_1d(estimate_open_beam(arr))
        return np.full(len(arr), float(mode))

    def preprocess(self, frames, *, counts: bool = True, i0=None) -> np.ndarray:
        """Detector counts -> log attenuation with the open beam (``counts=False``: frames are attenuation)."""
        if not counts:
            return prepare_belt_inputs(frames, i0=None)
        arr = np.asarray(frames)
        level = self.open_beam(arr, i0=i0)
        return prepare_belt_inputs(arr, i0=level if arr.ndim == 3 else float(level[0]))

    def segment(self, frames, *, counts: bool = True, i0=None, warn: bool = True, decision: str | None = None) -> np.ndarray:
        """Class masks for frames.

        Parameters
        ----------
        frames : array_like, (n, y, x) or (y, x)
            Detector counts (or attenuation with ``counts=False``), any size.
        counts : bool
            Whether the frames are raw counts.
        i0 : float or "auto", optional
            Open beam for this call (default :attr:`open_beam_mode`).
        warn : bool
            Emit one :class:`BeltInputWarning` line when the checks find problems (they are
            always in :attr:`last_check`).
        decision : {"auto", "hybrid", "features", "fragment", "pixel"}, optional
            Ore/waste decision for this call (default :attr:`decision`).

        Returns
        -------
        ndarray, uint8, (n, y, x) or (y, x)
            0 = background, 1.. = classes of the card.
        """
        decision = self.decision if decision is None else self._check_decision(decision)
        raw = np.asarray(frames)
        if raw.ndim not in (2, 3):
            raise InputError(f"frames have shape {raw.shape}; expected (n, y, x) or (y, x)")
        level = self.open_beam(raw, i0=i0) if counts else None
        stack = raw[None] if raw.ndim == 2 else raw
        x = prepare_belt_inputs(stack, i0=level) if counts else prepare_belt_inputs(stack, i0=None)
        auto = (self.open_beam_mode if i0 is None else parse_i0(i0)) == "auto"
        problems = check_belt_frames(stack, spec=self.spec, i0=level, counts=counts, auto=auto)
        single = raw.ndim == 2
        xp, (h, w) = pad_to_multiple(x)
        out = np.empty((len(x), h, w), np.uint8)
        for s in range(0, len(xp), self.batch_size):
            logits = self.logits(xp[s : s + self.batch_size, None])
            logits = logits[:, :, :h, :w]
            if decision in ("features", "hybrid"):
                z = np.exp(logits - logits.max(1, keepdims=True))
                out[s : s + self.batch_size] = classify_fragments(
                    z / z.sum(1, keepdims=True), x[s : s + self.batch_size], pixel_size_um=self._pixel_size_um(),
                    network_weight=1.0 if decision == "hybrid" else 0.0)
            elif decision == "fragment":
                z = np.exp(logits - logits.max(1, keepdims=True))
                out[s : s + self.batch_size] = fragment_class_vote(z / z.sum(1, keepdims=True), rule="mean")
            else:
                out[s : s + self.batch_size] = logits.argmax(1)
        problems += check_foreground_share(out, spec=self.spec)
        self.last_check = {"i0": None if level is None else level.tolist(),
                           "foreground_share": (out > 0).reshape(len(out), -1).mean(1).tolist(),
                           "problems": problems}
        if problems and warn:
            warnings.warn("belt frames look unlike the training data: " + "; ".join(problems), BeltInputWarning,
                          stacklevel=2)
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
