"""An inference-only form of a 3D network that computes the same function faster on the CPU. Imports torch.

:func:`inference_network` rewrites a network of :func:`liberation.segmentation.model.build_network`
(eval mode, fixed window shape) into an equivalent module:

- the texture stem's separable Gaussian filters (21 one-channel convolutions with replicated
  borders for the ``cpu`` preset) become matrix products with banded matrices that hold the
  kernel and the replicated border (one per filter and axis, for the window shape);
- batch norms (eval mode: a per-channel affine map) are folded into the convolution before them.

The outputs equal the original network's up to float32 rounding (a different summation order:
largest logit difference ~1e-6, checked by :func:`inference_network` on random windows).
Both backends of :func:`liberation.segmentation.inference.predict_volume` run it (torch
directly, ONNX Runtime through its export).
"""

from __future__ import annotations

import copy
import threading
import weakref

import numpy as np

from liberation.errors import InputError, require

__all__ = ["cached_inference_network", "inference_network", "replicate_filter_matrix"]

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def replicate_filter_matrix(kernel: np.ndarray, n: int) -> np.ndarray:
    """The ``(n, n)`` matrix of a 1D correlation with ``kernel`` over ``n`` samples, borders replicated.

    ``M @ v`` equals ``correlate(pad(v, radius, mode="edge"), kernel, "valid")`` for a kernel of
    odd length ``2 * radius + 1``.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    radius = (kernel.size - 1) // 2
    m = np.zeros((n, n), dtype=np.float64)
    rows = np.arange(n)
    for t, w in enumerate(kernel):
        np.add.at(m, (rows, np.clip(rows + t - radius, 0, n - 1)), w)
    return m.astype(np.float32)


def _matrix_stem(stem, window):
    """A copy of a feature stem whose ``_smooth`` runs three matrix products for windows of shape ``window``."""
    torch = require("torch", "ml")
    base = type(stem)

    class MatrixStem(base):
        def _smooth(self, x, k: int, derivative_axis: int | None = None, order: int = 0):
            if tuple(x.shape[2:]) != self.window:
                raise InputError(f"stem input has shape {tuple(x.shape)}; expected (batch, 1, *{self.window})")
            b = x.shape[0]
            mz, my, mx = (getattr(self, f"m{k}_{axis}_{order if axis == derivative_axis else 0}") for axis in range(3))
            nz, ny, nx = self.window
            x = torch.matmul(x.reshape(b, nz * ny, nx), mx.t())  # along x
            x = torch.matmul(my, x.reshape(b * nz, ny, nx))  # along y
            x = torch.matmul(mz, x.reshape(b, nz, ny * nx))  # along z
            return x.reshape(b, 1, nz, ny, nx)

    fast = copy.copy(stem)  # shares the (buffer-only) state; new buffers below go to the copy
    fast._buffers = dict(stem._buffers)
    fast.__class__ = MatrixStem
    fast.window = tuple(int(w) for w in window)
    for k in range(stem.n_sigmas):
        for order in (0, 1, 2):
            name = f"kernel{k}" if order == 0 else f"kernel{k}_d{order}"
            kernel = getattr(stem, name).detach().cpu().numpy()
            for axis, n in enumerate(fast.window):
                fast.register_buffer(f"m{k}_{axis}_{order}", torch.from_numpy(replicate_filter_matrix(kernel, n)),
                                     persistent=False)
    return fast


def _fold_batch_norm(conv, bn):
    """Fold an eval-mode ``BatchNorm3d`` into the ``Conv3d`` / ``ConvTranspose3d`` before it (in place)."""
    torch = require("torch", "ml")
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1.0 / torch.sqrt(bn.running_var + bn.eps)
        shift = (bn.bias if bn.affine else 0.0) - bn.running_mean * scale
        out_axis = 1 if isinstance(conv, torch.nn.ConvTranspose3d) else 0
        shape = [1] * conv.weight.dim()
        shape[out_axis] = -1
        conv.weight.mul_(scale.reshape(shape))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
        new_bias = bias * scale + shift
        if conv.bias is None:
            conv.bias = torch.nn.Parameter(new_bias)
        else:
            conv.bias.copy_(new_bias)


def _fold_all(module) -> int:
    """Fold every batch norm that directly follows a convolution (MONAI ``Convolution`` + ``ADN``, ``Sequential``)."""
    torch = require("torch", "ml")
    nn = torch.nn
    convs = (nn.Conv3d, nn.ConvTranspose3d)
    folded = 0
    for m in module.modules():
        adn = getattr(m, "adn", None)
        conv = getattr(m, "conv", None)
        if isinstance(conv, convs) and adn is not None and isinstance(getattr(adn, "N", None), nn.BatchNorm3d) \
                and list(adn._modules)[0] == "N":
            _fold_batch_norm(conv, adn.N)
            adn.N = nn.Identity()
            folded += 1
        if isinstance(m, nn.Sequential):
            names = list(m._modules)
            for a, b in zip(names, names[1:]):
                if isinstance(m._modules[a], convs) and isinstance(m._modules[b], nn.BatchNorm3d):
                    _fold_batch_norm(m._modules[a], m._modules[b])
                    m._modules[b] = nn.Identity()
                    folded += 1
    return folded


def _channels_last_head(network):
    """The per-voxel head network as matrix products over channels-last tensors (no concatenation).

    ``head(cat([stem, unet]))`` of :func:`~liberation.segmentation.model.build_network` (a 1x1x1
    convolution, its folded batch norm, PReLU, a 1x1x1 convolution) becomes
    ``W2 prelu(Wa stem + Wb unet + b) + b2`` on ``(batch, z, y, x, channels)`` views; the U-Net runs
    channels-last (oneDNN's layout). ``None`` when ``network`` is not of that form.
    """
    torch = require("torch", "ml")
    nn = torch.nn
    head = getattr(network, "head", None)
    if not (isinstance(head, nn.Sequential) and hasattr(network, "stem") and hasattr(network, "unet")):
        return None
    layers = [m for m in head if not isinstance(m, nn.Identity)]
    if not (len(layers) == 3 and isinstance(layers[0], nn.Conv3d) and isinstance(layers[1], nn.PReLU)
            and isinstance(layers[2], nn.Conv3d) and all(c.kernel_size == (1, 1, 1) and c.groups == 1
                                                         for c in (layers[0], layers[2]))):
        return None
    first, act, last = layers
    functional = torch.nn.functional

    class ChannelsLastHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.unet, self.act = network.stem, network.unet.to(memory_format=torch.channels_last_3d), act
            self.w1 = nn.Parameter(first.weight.detach().flatten(1).clone(), requires_grad=False)
            self.b1 = nn.Parameter(first.bias.detach().clone(), requires_grad=False)
            self.w2 = nn.Parameter(last.weight.detach().flatten(1).clone(), requires_grad=False)
            self.b2 = nn.Parameter(last.bias.detach().clone(), requires_grad=False)

        def forward(self, x):
            s = self.stem(x).contiguous(memory_format=torch.channels_last_3d)
            u = self.unet(s)
            c = s.shape[1]
            h = functional.linear(u.permute(0, 2, 3, 4, 1), self.w1[:, c:], self.b1)
            h = h.add_(functional.linear(s.permute(0, 2, 3, 4, 1), self.w1[:, :c]))
            return functional.linear(self.act(h), self.w2, self.b2).permute(0, 4, 1, 2, 3)

    return ChannelsLastHead()


def inference_network(network, window, *, fold: bool = True, matrix_stem: bool = True, check: bool = True,
                      channels_last: bool = False, atol: float = 1e-5, seed: int = 0):
    """An eval-mode copy of ``network`` that computes the same logits faster on the CPU, for one window shape.

    Parameters
    ----------
    network : torch.nn.Module
        From :func:`~liberation.segmentation.model.build_network` (any other module is copied
        and only its batch norms are folded).
    window : tuple of 3 int
        The window shape ``(z, y, x)`` it will run on (the stem's matrices are built for it).
    fold : bool
        Fold batch norms into the convolutions before them.
    matrix_stem : bool
        Run the texture stem's filters as matrix products.
    channels_last : bool
        Run the convolutions on channels-last tensors (oneDNN's fast layout in torch), the
        per-voxel head as matrix products over channels (torch only: the logits come back as a
        channels-last view; ONNX exports are faster without).
    check : bool
        Compare the copy with ``network`` on two random windows (uniform 0..1) when anything
        was rewritten; the largest difference is kept as ``max_abs_diff``.
    atol : float
        Largest allowed absolute logit difference in that check.
    seed : int

    Returns
    -------
    torch.nn.Module
        Maps ``(batch, 1, *window)`` float32 to the logits, on the CPU, in eval mode.

    Raises
    ------
    InputError
        The copy differs from ``network`` by more than ``atol``.
    """
    torch = require("torch", "ml")
    window = tuple(int(w) for w in window)
    if len(window) != 3 or min(window) < 1:
        raise InputError(f"window={window}; expected 3 positive sizes (z, y, x)")
    fast = copy.deepcopy(network).cpu().eval()  # the caller's network stays where it is
    stem = getattr(fast, "stem", None)
    changed = 0
    if matrix_stem and stem is not None and hasattr(stem, "_smooth") and hasattr(stem, "n_sigmas"):
        fast.stem = _matrix_stem(stem, window)
        changed += 1
    if fold:
        changed += _fold_all(fast)
    if channels_last:
        head = _channels_last_head(fast)
        changed += head is not None or any(p.dim() == 5 for p in fast.parameters())  # convolutions
        fast = head if head is not None else fast.to(memory_format=torch.channels_last_3d)
    for p in fast.parameters():
        p.requires_grad_(False)
    fast.max_abs_diff = 0.0
    if check and changed:  # nothing rewritten: the copy is the network
        x = torch.from_numpy(np.random.default_rng(seed).random((2, 1, *window), dtype=np.float32))
        on_cpu = all(t.device.type == "cpu" for t in list(network.parameters()) + list(network.buffers()))
        ref = network if on_cpu else copy.deepcopy(network).cpu()
        training = ref.training
        with torch.inference_mode():
            diff = float((fast(x) - ref.eval()(x)).abs().max())
        ref.train(training)
        if not diff <= atol:
            raise InputError(f"the inference form of the network differs from it by {diff:.3g} (> atol={atol})")
        fast.max_abs_diff = diff
    return fast


def _state_key(network):
    """What identifies the weights of ``network`` now: each tensor's storage and in-place version."""
    try:
        return tuple((t.data_ptr(), t._version, t.device.type) for t in network.state_dict(keep_vars=True).values())
    except (RuntimeError, AttributeError):  # e.g. inference tensors have no version counter: no caching
        return None


def cached_inference_network(network, window, **options):
    """:func:`inference_network`, built once per network, window and options while its weights are unchanged.

    The copy is kept (weakly keyed by ``network``) and rebuilt when a weight or buffer of
    ``network`` is replaced or changed in place (its version counter moves), e.g. by training
    between two predictions. Several sliding-window passes (slabs of a distributed run, planes of
    :func:`~liberation.segmentation.inference.predict_face_matched`) then share one copy.
    """
    key = _state_key(network)
    if key is None:
        return inference_network(network, window, **options)
    slot = (tuple(int(w) for w in window), tuple(sorted(options.items())))
    with _CACHE_LOCK:
        try:
            entry = _CACHE.setdefault(network, {}).get(slot)
        except TypeError:  # not weakly referenceable
            return inference_network(network, window, **options)
    if entry is not None and entry[0] == key:
        return entry[1]
    fast = inference_network(network, window, **options)
    with _CACHE_LOCK:
        _CACHE[network][slot] = (key, fast)
    return fast
