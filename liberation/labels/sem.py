"""SEM/MLA classified images -> mineral label maps (colour lookup), with unknown colours reported."""

from __future__ import annotations

# The colour lookup lives in liberation.minerals (io reads SEM maps without importing labels);
# these names stay importable from here (same objects).
from liberation.minerals import check_colors, labels_from_ids, labels_from_rgb

__all__ = ["check_colors", "labels_from_ids", "labels_from_rgb"]
