"""Fixed (not trained) filter channels computed inside the network: a texture stem.

Two minerals with nearly the same grey value differ in texture; a small U-Net trained on
a few labelled planes learns such a texture slowly from the raw grey values alone. The
stem adds classic filter responses as extra input channels, so the network starts from
local mean and local standard deviation (the features of ilastik-style pixel
classifiers) and spends its capacity on context. It is part of the network, so training
patches, sliding windows and exported models compute it the same way.

Feature names: ``gauss<s>`` (Gaussian-smoothed grey value), ``std<s>`` (local standard
deviation in a Gaussian window), ``grad<s>`` (Gaussian gradient magnitude) and ``log<s>``
(Laplacian of Gaussian), ``<s>`` the sigma in voxels (e.g. ``gauss1``, ``std1``, ``std2``,
``grad1.6``, ``log2.5``). Borders are handled by replicating the edge voxel (as
``scipy.ndimage`` ``mode="nearest"``, kernels truncated at 3 sigma). ``CLASSIFIER_FEATURES``
are the filter features of the pixel classifier
(:mod:`liberation.segmentation.pixel_classifier`: Gaussian, local standard deviation,
gradient magnitude and Laplacian at its four sigmas; not its texture features,
:mod:`liberation.segmentation.texture_features`, which the stem does not compute): ``train --input-features classifier``
gives the network the classifier's features as input channels, computed inside the network
so that inference computes the same features with no extra step.
"""

from __future__ import annotations

import re

import numpy as np

from liberation.errors import InputError, require

__all__ = ["parse_feature", "gaussian_kernel_1d", "build_feature_stem", "STD_SCALE", "CLASSIFIER_FEATURES",
           "INPUT_FEATURE_CHOICES", "resolve_input_features"]

_PATTERN = re.compile(r"^(gauss|std|grad|log)(\d+(?:\.\d+)?)$")

#: The pixel classifier's filter features (its ``FEATURE_SIGMAS``), as stem feature names.
CLASSIFIER_FEATURES = tuple(f"{kind}{s:g}" for s in (0.7, 1.0, 1.6, 2.5) for kind in ("gauss", "std", "grad", "log"))

#: Values of ``train --input-features``: the preset's stem, no stem, the classifier's features.
INPUT_FEATURE_CHOICES = ("preset", "none", "classifier")


def resolve_input_features(choice: str, preset_features=()) -> tuple:
    """Stem feature names for ``--input-features`` ``choice`` (``preset``: ``preset_features``)."""
    if choice not in INPUT_FEATURE_CHOICES:
        raise InputError(f"input_features={choice!r}; expected one of {', '.join(INPUT_FEATURE_CHOICES)}")
    if choice == "none":
        return ()
    if choice == "classifier":
        return CLASSIFIER_FEATURES
    return tuple(preset_features)
#: Local standard deviations are multiplied by this factor so that they span a range
#: comparable to the normalised grey values (noise ~0.02 -> ~0.2).
STD_SCALE = 10.0


def parse_feature(name: str) -> tuple[str, float]:
    """Split a feature name into its kind and sigma in voxels (``"std2"`` -> ``("std", 2.0)``)."""
    match = _PATTERN.match(str(name))
    if not match or not 0.0 < float(match.group(2)) <= 8.0:
        raise InputError(
            f"input feature {name!r} is not known; expected 'gauss<sigma>', 'std<sigma>', 'grad<sigma>' or "
            "'log<sigma>' with 0 < sigma <= 8 voxels, e.g. 'gauss1', 'std2', 'log1.6'"
        )
    return match.group(1), float(match.group(2))


def gaussian_kernel_1d(sigma: float, *, truncate: float = 3.0, order: int = 0) -> np.ndarray:
    """1D Gaussian kernel (``order`` 0) or derivative kernel (1, 2) of radius ``round(truncate * sigma)``.

    As ``scipy.ndimage.gaussian_filter1d`` (the Gaussian normalised to sum 1, then multiplied
    by the derivative's polynomial), flipped for correlation (``torch`` convolutions).
    """
    radius = max(1, int(truncate * float(sigma) + 0.5))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    s2 = float(sigma) ** 2
    kernel = np.exp(-0.5 * offsets ** 2 / s2)
    kernel = kernel / kernel.sum()
    if order == 1:
        kernel = kernel * offsets / s2  # scipy: -x / s2, flipped for correlation
    elif order == 2:
        kernel = kernel * (offsets ** 2 / s2 ** 2 - 1.0 / s2)
    elif order != 0:
        raise InputError(f"order={order!r}; expected 0, 1 or 2")
    return kernel.astype(np.float32)


def build_feature_stem(features):
    """A ``torch.nn.Module`` mapping ``(b, 1, z, y, x)`` to ``(b, 1 + len(features), z, y, x)``.

    Channel 0 is the input; the others are the named filter responses (see the module
    docstring). The module has no trainable parameters.
    """
    torch = require("torch", "ml")
    functional = torch.nn.functional
    parsed = [parse_feature(f) for f in features]

    class FeatureStem(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.kinds = [kind for kind, _ in parsed]
            sigmas = sorted({sigma for _, sigma in parsed})
            self.sigma_index = [sigmas.index(sigma) for _, sigma in parsed]
            for k, sigma in enumerate(sigmas):
                for order in (0, 1, 2):
                    name = f"kernel{k}" if order == 0 else f"kernel{k}_d{order}"
                    self.register_buffer(name, torch.from_numpy(gaussian_kernel_1d(sigma, order=order)),
                                         persistent=False)
            self.n_sigmas = len(sigmas)

        def _conv(self, x, kernel, axis: int):
            radius = (kernel.numel() - 1) // 2
            shape = [1, 1, 1, 1, 1]
            shape[2 + axis] = kernel.numel()
            pad = [0, 0, 0, 0, 0, 0]
            pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = radius
            return functional.conv3d(functional.pad(x, pad, mode="replicate"), kernel.view(shape).to(x.dtype))

        def _smooth(self, x, k: int, derivative_axis: int | None = None, order: int = 0):
            for axis in range(3):
                if axis == derivative_axis:
                    kernel = getattr(self, f"kernel{k}_d{order}")
                else:
                    kernel = getattr(self, f"kernel{k}")
                x = self._conv(x, kernel, axis)
            return x

        def forward(self, x):
            means, squares = {}, {}
            channels = [x]
            for kind, k in zip(self.kinds, self.sigma_index):
                if kind == "grad":
                    parts = [self._smooth(x, k, axis, 1) for axis in range(3)]
                    channels.append(torch.sqrt(sum(p * p for p in parts) + 1e-12))
                    continue
                if kind == "log":
                    channels.append(sum(self._smooth(x, k, axis, 2) for axis in range(3)))
                    continue
                if k not in means:
                    means[k] = self._smooth(x, k)
                if kind == "gauss":
                    channels.append(means[k])
                else:
                    if k not in squares:
                        squares[k] = self._smooth(x * x, k)
                    variance = torch.clamp(squares[k] - means[k] * means[k], min=0.0)
                    channels.append(torch.sqrt(variance + 1e-8) * STD_SCALE)
            return torch.cat(channels, dim=1)

    return FeatureStem()
