"""Plots of K-means labels: centroid heat map and label map with legend (matplotlib, Agg)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from liberation.errors import InputError

__all__ = ["plot_centroids", "plot_label_map"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_centroids(centroids: pd.DataFrame, *, scaled: bool = True, title: str | None = None, ax=None):
    """Heat map of a centroid table (clusters x channels), each channel scaled to 0..1 for the colours.

    Parameters
    ----------
    centroids : pandas.DataFrame
        Index cluster; numeric columns are channels; an optional ``mineral`` column labels the rows.
    scaled : bool
        Colour each channel by its own range (the numbers written are the input values).
    title : str, optional
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    values = centroids.select_dtypes("number").drop(columns=["percent", "pixels"], errors="ignore")
    if values.empty:
        raise InputError("centroids has no numeric channel column to plot")
    data = values.to_numpy(dtype=float)
    colours = data.copy()
    if scaled:
        lo, hi = data.min(axis=0), data.max(axis=0)
        colours = (data - lo) / np.where(hi > lo, hi - lo, 1.0)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 + 0.7 * data.shape[1], 1.0 + 0.45 * data.shape[0]))
    else:
        fig = ax.figure
    ax.imshow(colours, cmap="viridis", aspect="auto")
    rows = [f"{c}" for c in centroids.index]
    if "mineral" in centroids:
        rows = [f"{c}: {m}" for c, m in zip(centroids.index, centroids["mineral"])]
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xticks(range(values.shape[1]), list(values.columns))
    for (i, j), v in np.ndenumerate(data):
        ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7,
                color="white" if colours[i, j] < 0.5 else "black")
    ax.set_title(title or "cluster centroids")
    fig.tight_layout()
    return fig


def plot_label_map(labels: np.ndarray, minerals: pd.DataFrame, *, pixel_size_um: float | None = None,
                   title: str | None = None, ax=None):
    """Label map in mineral colours with a legend (and the extent in µm when the pixel size is known).

    Parameters
    ----------
    labels : numpy.ndarray
        (y, x) integer ids, 0 = outside (white).
    minerals : pandas.DataFrame
        Index id; columns ``name`` and ``color``.
    pixel_size_um : float, optional
    title : str, optional
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    from matplotlib.colors import ListedColormap, to_rgb
    from matplotlib.patches import Patch

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise InputError(f"labels has shape {labels.shape}; expected a 2D map")
    n = max(int(labels.max()), max((int(i) for i in minerals.index), default=0)) + 1
    lut = np.ones((n, 3))
    for i, row in minerals.iterrows():
        lut[int(i)] = to_rgb(row["color"])
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 5.5))
    else:
        fig = ax.figure
    extent = None
    if pixel_size_um:
        extent = (0, labels.shape[1] * pixel_size_um, labels.shape[0] * pixel_size_um, 0)
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("y (µm)")
    ax.imshow(labels, cmap=ListedColormap(lut), vmin=0, vmax=n - 1, interpolation="nearest", extent=extent)
    handles = [Patch(facecolor=row["color"], edgecolor="black", label=f"{i}: {row['name']}")
               for i, row in minerals.iterrows()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title(title or "mineral labels")
    fig.tight_layout()
    return fig
