"""Loss on labelled voxels only: cross-entropy (ignore index 255) plus a masked soft Dice."""

from __future__ import annotations

from liberation.errors import require
from liberation.segmentation.targets import IGNORE

__all__ = ["masked_loss"]


def masked_loss(logits, target, *, dice_weight: float = 1.0, ignore_index: int = IGNORE, eps: float = 1e-5):
    """Cross-entropy + masked Dice over labelled voxels.

    Parameters
    ----------
    logits : torch.Tensor, shape (b, c, z, y, x)
    target : torch.Tensor of int64, shape (b, z, y, x)
        Class indices; ``ignore_index`` marks unlabelled voxels.
    dice_weight : float
        Weight of the Dice term.

    Returns
    -------
    torch.Tensor
        Scalar loss (0 with a gradient when no voxel is labelled).
    """
    torch = require("torch", "ml")
    functional = torch.nn.functional
    mask = target != ignore_index
    if not bool(mask.any()):
        return logits.sum() * 0.0
    logits = logits.float()
    ce = functional.cross_entropy(logits, target, ignore_index=ignore_index)
    if dice_weight <= 0:
        return ce
    n_classes = logits.shape[1]
    probs = torch.softmax(logits, dim=1)
    safe = torch.where(mask, target, torch.zeros_like(target))
    onehot = functional.one_hot(safe, n_classes).movedim(-1, 1).to(probs.dtype)
    m = mask.unsqueeze(1).to(probs.dtype)
    dims = (0, 2, 3, 4)
    inter = (probs * onehot * m).sum(dims)
    denom = (probs * m).sum(dims) + (onehot * m).sum(dims)
    present = (onehot * m).sum(dims) > 0
    dice = (2.0 * inter + eps) / (denom + eps)
    dice_loss = 1.0 - dice[present].mean()
    return ce + dice_weight * dice_loss
