"""Patch augmentation in torch: flips, in-plane 90° rotations, small zoom/shear, intensity, noise.

Labels follow every geometric transform (nearest neighbour); voxels mapped from outside
the patch become unlabelled (255). Random draws come from a ``torch.Generator``.
"""

from __future__ import annotations

from liberation.errors import require
from liberation.segmentation.targets import IGNORE

__all__ = ["augment_batch"]


def _uniform(torch, generator, lo, hi, size=()):
    return lo + (hi - lo) * torch.rand(size, generator=generator)


def augment_batch(image, target, *, generator, zoom: float = 0.1, shear: float = 0.1, p_affine: float = 0.5,
                  scale: float = 0.1, shift: float = 0.1, noise: float = 0.05):
    """Augment a batch in place-free fashion.

    Parameters
    ----------
    image : torch.Tensor, shape (b, c, z, y, x)
        Normalised grey values.
    target : torch.Tensor of int64, shape (b, z, y, x)
        Class indices with 255 = unlabelled.
    generator : torch.Generator
        Source of randomness (CPU).
    zoom, shear : float
        Largest relative zoom and shear.
    p_affine : float
        Probability of the zoom/shear transform per patch.
    scale, shift : float
        Largest intensity scale change and shift.
    noise : float
        Largest Gaussian noise sigma.

    Returns
    -------
    image, target : torch.Tensor
    """
    torch = require("torch", "ml")
    functional = torch.nn.functional
    images, targets = [], []
    for b in range(image.shape[0]):
        x = image[b]
        t = target[b]
        for axis in (1, 2, 3):
            if float(torch.rand((), generator=generator)) < 0.5:
                x = torch.flip(x, dims=(axis,))
                t = torch.flip(t, dims=(axis - 1,))
        k = int(torch.randint(0, 4, (), generator=generator))
        if k and x.shape[2] == x.shape[3]:
            x = torch.rot90(x, k, dims=(2, 3))
            t = torch.rot90(t, k, dims=(1, 2))
        if float(torch.rand((), generator=generator)) < p_affine:
            z = _uniform(torch, generator, 1.0 - zoom, 1.0 + zoom)
            s = _uniform(torch, generator, -shear, shear, (2,))
            theta = torch.tensor(
                [[1.0, 0.0, 0.0, 0.0], [float(s[0]), 1.0, 0.0, 0.0], [0.0, float(s[1]), 1.0, 0.0]],
                dtype=x.dtype,
            )
            theta[:, :3] = theta[:, :3] / float(z)
            grid = functional.affine_grid(theta.unsqueeze(0), [1, *x.shape], align_corners=False)
            x = functional.grid_sample(x.unsqueeze(0), grid, mode="bilinear", padding_mode="reflection",
                                       align_corners=False)[0]
            shifted = (t.to(x.dtype) + 1.0).unsqueeze(0).unsqueeze(0)
            tt = functional.grid_sample(shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False)
            tt = tt[0, 0].round().long() - 1
            t = torch.where(tt < 0, torch.full_like(tt, IGNORE), tt)
        a = _uniform(torch, generator, 1.0 - scale, 1.0 + scale)
        c = _uniform(torch, generator, -shift, shift)
        sigma = _uniform(torch, generator, 0.0, noise)
        x = x * a + c + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        images.append(x)
        targets.append(t)
    return torch.stack(images), torch.stack(targets)
