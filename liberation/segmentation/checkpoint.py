"""Reading and writing a trained model folder (the file I/O of this subpackage).

A model folder holds ``model.pt`` (the best ``state_dict``), ``model_card.json``,
``checkpoints/epoch_<n>.pt`` (the best k), ``metrics.csv`` (per epoch) and
``learning_curve.png``. Weights are loaded with ``torch.load(weights_only=True)``.
The folder is written to a temporary name beside the target and renamed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from liberation._atomic import atomic_dir
from liberation.errors import FileFormatError, require
from liberation.segmentation.card import ModelCard

__all__ = ["save_model", "load_model", "load_card"]


def save_model(result, directory, *, overwrite: bool = False) -> Path:
    """Write a :class:`~liberation.segmentation.train.TrainResult` to ``directory``.

    Parameters
    ----------
    result : TrainResult
    directory : path
        Model folder to create.
    overwrite : bool
        Replace an existing folder.

    Returns
    -------
    Path
    """
    torch = require("torch", "ml")
    from liberation.segmentation.plots import plot_learning_curve

    final = Path(directory)
    with atomic_dir(final, overwrite=overwrite, what="model folder") as tmp:
        torch.save(result.network.state_dict(), tmp / "model.pt")
        (tmp / "checkpoints").mkdir()
        for ckpt in result.checkpoints:
            torch.save(ckpt["state_dict"], tmp / "checkpoints" / f"epoch_{ckpt['epoch']:04d}.pt")
        card = result.card.to_dict()
        card["checkpoints"] = [{"epoch": c["epoch"], "val_loss": c["val_loss"],
                                "file": f"checkpoints/epoch_{c['epoch']:04d}.pt"} for c in result.checkpoints]
        (tmp / "model_card.json").write_text(json.dumps(card, indent=2, default=float))
        if result.history:
            with open(tmp / "metrics.csv", "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(result.history[0]))
                writer.writeheader()
                writer.writerows(result.history)
            fig = plot_learning_curve(result.history, title=f"{result.card.task}: learning curve")
            fig.savefig(tmp / "learning_curve.png", dpi=100)
            import matplotlib.pyplot as plt

            plt.close(fig)
    return final


def load_card(directory) -> ModelCard:
    """Read ``model_card.json`` of a model folder."""
    path = Path(directory) / "model_card.json"
    if not path.is_file():
        raise FileFormatError(f"{path} not found; expected a model folder written by 'liberation train'")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{path} is not valid JSON: {exc}") from None
    return ModelCard.from_dict(data)


def load_model(directory, *, checkpoint: str | None = None):
    """Load a model folder.

    Parameters
    ----------
    directory : path
    checkpoint : str, optional
        A file under the folder (e.g. ``checkpoints/epoch_0012.pt``) instead of ``model.pt``.

    Returns
    -------
    network : torch.nn.Module (eval mode, CPU)
    card : ModelCard
    """
    torch = require("torch", "ml")
    from liberation.segmentation.model import build_network

    card = load_card(directory)
    weights = Path(directory) / (checkpoint or "model.pt")
    if not weights.is_file():
        raise FileFormatError(f"{weights} not found; expected the weights of the model")
    network = build_network(card.network)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except Exception as exc:  # corrupted or mismatching weights
        raise FileFormatError(f"cannot load weights {weights}: {exc}") from None
    network.eval()
    return network, card
