"""The plot of a sieve-fraction report: liberated fraction per size class, per fraction and combined."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FIGURE_NAME", "CAPTION", "plot_fraction_liberation"]

#: Image name in the fraction report folder (``fraction_liberation.png``).
FIGURE_NAME = "fraction_liberation"

CAPTION = ("Liberated fraction (3D, by mass) of each mineral per size class: one bar per sieve fraction and the "
           "combined sample (the fractions weighted by their mass fractions); 'all' = every size of the "
           "fraction. A size class a fraction has no particle of has no bar.")


def plot_fraction_liberation(per_fraction: pd.DataFrame, combined: pd.DataFrame):
    """Bars of the 3D liberated fraction per size class: each fraction and the combined sample, one panel per mineral.

    Parameters
    ----------
    per_fraction, combined : DataFrame
        ``fractions.csv`` and ``combined.csv`` (:func:`liberation.stats.sieve.merge_fractions`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from liberation.report.plots import _figure
    from liberation.stats.particles import size_class_sort_key

    minerals = list(dict.fromkeys(combined["mineral"]))
    sizes = [s for s in dict.fromkeys(combined["size_class"].astype(str)) if s != "all"]
    sizes = ["all"] + sorted(sizes, key=size_class_sort_key)
    fractions = list(dict.fromkeys(per_fraction["fraction"]))
    series = [(f, per_fraction[per_fraction["fraction"] == f]) for f in fractions] + [("combined", combined)]
    n = max(1, len(minerals))
    fig = _figure(min(5.0 + 1.2 * len(sizes), 12.0), 2.8 + 2.4 * n)
    axes = np.atleast_1d(fig.subplots(n, 1, squeeze=False)[:, 0])
    x = np.arange(len(sizes))
    width = 0.8 / len(series)
    colors = ["#1f77b4", "#e07b39", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22"]
    for ax, mineral in zip(axes, minerals):
        for k, (label, table) in enumerate(series):
            t = table[table["mineral"] == mineral].assign(size_class=lambda d: d["size_class"].astype(str))
            values = t.set_index("size_class")["liberated_fraction_3d"].reindex(sizes).to_numpy(dtype=float)
            color = "#333333" if label == "combined" else colors[k % len(colors)]
            ax.bar(x + (k - (len(series) - 1) / 2) * width, 100 * values, width, label=label, color=color)
        ax.set_xticks(x, sizes)
        ax.set_ylim(0, 100)
        ax.set_ylabel(f"liberated {mineral} (%)")
        ax.set_title(f"{mineral}", fontsize=10)
    axes[-1].set_xlabel("size class (µm)")
    axes[0].legend(fontsize=8, ncols=min(len(series), 3))
    fig.suptitle("Liberated fraction per size class: fractions and combined")
    return fig
