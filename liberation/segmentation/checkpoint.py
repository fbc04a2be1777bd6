"""Reading and writing a trained model folder (the file I/O of this subpackage).

A model folder holds ``model.pt`` (the best ``state_dict``), ``model_card.json``,
``checkpoints/epoch_<n>.pt`` (the best k), ``metrics.csv`` (per epoch) and
``learning_curve.png``: the package's one model folder format (:mod:`liberation.model_folder`).
Weights are loaded with ``torch.load(weights_only=True)``. The folder is written to a
temporary name beside the target and renamed. Folders with the older U-Net card still load.
"""

from __future__ import annotations

import csv
from pathlib import Path

from liberation.errors import FileFormatError, require
from liberation.model_folder import CARD_FILE, WEIGHTS_FILE, load_weights, read_card, write_model_folder
from liberation.segmentation.card import ModelCard

__all__ = ["save_model", "load_model", "load_card"]


def save_model(result, directory, *, overwrite: bool = False) -> Path:
    """Write a :class:`~liberation.segmentation.train.TrainResult` to ``directory``.

    The folder is the package's model folder (:mod:`liberation.model_folder`) plus
    ``checkpoints/epoch_<n>.pt``, ``metrics.csv`` and ``learning_curve.png``; when the
    pixel classifier is the delivered method (``result.classifier``), also its trees and
    metadata (:func:`~liberation.segmentation.pixel_classifier.save_pixel_classifier`, no pickle).

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

    checkpoints = [{"epoch": c["epoch"], "val_loss": c["val_loss"], "file": f"checkpoints/epoch_{c['epoch']:04d}.pt"}
                   for c in result.checkpoints]
    card = result.card.to_model_card(extra={"checkpoints": checkpoints})

    classifier = getattr(result, "classifier", None)
    if classifier is not None:
        from liberation.segmentation.pixel_classifier import CLASSIFIER_ARRAYS, CLASSIFIER_META

        card["extra"]["pixel_classifier"] = {"arrays": CLASSIFIER_ARRAYS, "meta": CLASSIFIER_META}

    def write_extra(tmp: Path) -> None:
        if classifier is not None:
            from liberation.segmentation.pixel_classifier import save_pixel_classifier

            save_pixel_classifier(classifier, tmp)
        (tmp / "checkpoints").mkdir()
        for ckpt in result.checkpoints:
            torch.save(ckpt["state_dict"], tmp / "checkpoints" / f"epoch_{ckpt['epoch']:04d}.pt")
        if result.history:
            with open(tmp / "metrics.csv", "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(result.history[0]))
                writer.writeheader()
                writer.writerows(result.history)
            fig = plot_learning_curve(result.history, title=f"{result.card.task}: learning curve")
            fig.savefig(tmp / "learning_curve.png", dpi=100)
            import matplotlib.pyplot as plt

            plt.close(fig)

    return write_model_folder(directory, card, state_dict=result.network.state_dict(), write_extra=write_extra,
                              overwrite=overwrite)


def load_card(directory) -> ModelCard:
    """Read ``model_card.json`` of a model folder (current format or the older U-Net card)."""
    path = Path(directory) / CARD_FILE
    if not path.is_file():
        raise FileFormatError(f"{path} not found; expected a model folder written by 'liberation train'")
    return ModelCard.from_model_card(read_card(path, upgrade=ModelCard.upgrade))


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
    require("torch", "ml")
    from liberation.segmentation.model import build_network

    card = load_card(directory)
    weights = Path(directory) / (checkpoint or WEIGHTS_FILE)
    if not weights.is_file():
        raise FileFormatError(f"{weights} not found; expected the weights of the model")
    network = build_network(card.network)
    state = load_weights(weights)
    try:
        network.load_state_dict(state)
    except Exception as exc:  # mismatching weights
        raise FileFormatError(f"cannot load weights {weights}: {exc}") from None
    network.eval()
    return network, card
