"""3D segmentation of mineral phases and particles from sparse labels (MONAI U-Nets; extra ``ml``).

A 3D U-Net is trained on a few labelled planes (``labels/sparse``, 255 = unlabelled),
then applied to the whole CT volume by sliding windows, slab by slab with bounded memory.
Particles are predicted as foreground + contact zones and split into instances by a
seeded watershed. Metrics, a per-voxel grey-value baseline and a 2D slice-by-slice
comparison are included.

Nothing here imports torch or MONAI at package import time: names are resolved lazily,
and only the modules that need torch (``model``, ``losses``, ``augment``, ``train``,
``inference``, ``checkpoint``) import it.
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
