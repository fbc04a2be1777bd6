"""Plots: learning curve and the normalised confusion matrix (as Deep-XFCT Fig. 7)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_learning_curve", "plot_confusion_matrix"]


def plot_learning_curve(history: list[dict], *, title: str = "learning curve"):
    """Training and validation loss (left) and validation accuracy / mIoU (right) per epoch.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(epochs, [h["train_loss"] for h in history], label="train")
    a.plot(epochs, [h["val_loss"] for h in history], label="validation")
    a.set_xlabel("epoch")
    a.set_ylabel("loss (CE + Dice)")
    a.legend()
    b.plot(epochs, [h["val_accuracy"] for h in history], label="accuracy (no void)")
    b.plot(epochs, [h["val_miou"] for h in history], label="mIoU")
    b.set_xlabel("epoch")
    b.set_ylim(0, 1)
    b.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(confusion_normalized, class_names, *, title: str = "confusion matrix"):
    """Row-normalised confusion matrix: rows true class, columns predicted, ratios annotated.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion_normalized, dtype=float)
    n = cm.shape[0]
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * n, 0.8 + 0.8 * n))
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center", color="white" if cm[i, j] > 0.5 else "black",
                    fontsize=8)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig
