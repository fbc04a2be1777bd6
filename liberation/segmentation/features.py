"""Fixed (not trained) filter channels computed inside the network: a texture stem.

Two minerals with nearly the same grey value differ in texture; a small U-Net trained on
a few labelled planes learns such a texture slowly from the raw grey values alone. The
stem adds classic filter responses as extra input channels, so the network starts from
local mean and local standard deviation (the features of ilastik-style pixel
classifiers) and spends its capacity on context. It is part of the network, so training
patches, sliding windows and exported models compute it the same way.

Feature names: ``gauss<s>`` (Gaussian-smoothed grey value) and ``std<s>`` (local standard
deviation in a Gaussian window), ``<s>`` the sigma in voxels (e.g. ``gauss1``, ``std1``,
``std2``, ``std1.5``). Borders are handled by replicating the edge voxel (as
``scipy.ndimage`` ``mode="nearest"``).
"""

from __future__ import annotations

import re

import numpy as np

from liberation.errors import InputError, require

__all__ = ["parse_feature", "gaussian_kernel_1d", "build_feature_stem", "STD_SCALE"]

_PATTERN = re.compile(r"^(gauss|std)(\d+(?:\.\d+)?)$")
#: Local standard deviations are multiplied by this factor so that they span a range
#: comparable to the normalised grey values (noise ~0.02 -> ~0.2).
STD_SCALE = 10.0


def parse_feature(name: str) -> tuple[str, float]:
    """Split a feature name into its kind and sigma in voxels (``"std2"`` -> ``("std", 2.0)``)."""
    match = _PATTERN.match(str(name))
    if not match or not 0.0 < float(match.group(2)) <= 8.0:
        raise InputError(
            f"input feature {name!r} is not known; expected 'gauss<sigma>' or 'std<sigma>' with 0 < sigma <= 8 "
            "voxels, e.g. 'gauss1', 'std2'"
        )
    return match.group(1), float(match.group(2))


def gaussian_kernel_1d(sigma: float, *, truncate: float = 3.0) -> np.ndarray:
    """Normalised 1D Gaussian kernel of radius ``round(truncate * sigma)`` (as scipy.ndimage)."""
    radius = max(1, int(truncate * float(sigma) + 0.5))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / float(sigma)) ** 2)
    return (kernel / kernel.sum()).astype(np.float32)


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
                self.register_buffer(f"kernel{k}", torch.from_numpy(gaussian_kernel_1d(sigma)), persistent=False)
            self.n_sigmas = len(sigmas)

        def _smooth(self, x, k: int):
            kernel = getattr(self, f"kernel{k}")
            radius = (kernel.numel() - 1) // 2
            for axis in range(3):
                shape = [1, 1, 1, 1, 1]
                shape[2 + axis] = kernel.numel()
                pad = [0, 0, 0, 0, 0, 0]
                pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = radius
                x = functional.conv3d(functional.pad(x, pad, mode="replicate"), kernel.view(shape).to(x.dtype))
            return x

        def forward(self, x):
            means, squares = {}, {}
            channels = [x]
            for kind, k in zip(self.kinds, self.sigma_index):
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
