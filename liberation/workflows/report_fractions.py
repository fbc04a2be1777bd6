"""The report of a sample sieved into fractions, one store per fraction, merged by mass
(``liberation report A.zarr B.zarr --fraction-mass 0.4,0.6``).

Each store gets its full report (:func:`liberation.workflows.report_store.run_report`) in a
subfolder of one report folder; the folder also holds ``fractions.csv`` (size by size, per
fraction), ``combined.csv`` (the fractions weighted by their mass fractions,
:func:`liberation.stats.sieve.merge_fractions`), ``fraction_liberation.png`` (liberated fraction
per size class, per fraction and combined; embedded in the page), ``summary.json`` and
``report.html``. The stores
are only read; the folder is written atomically.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from liberation.errors import InputError


@dataclass(frozen=True)
class FractionReportRun:
    """What :func:`run_fraction_report` made.

    Attributes
    ----------
    folder : Path
        The report folder.
    per_fraction : DataFrame
        ``fractions.csv``.
    combined : DataFrame
        ``combined.csv``.
    runs : tuple of ReportRun
        The report of each fraction (in a subfolder).
    labels : tuple of str
        Name of each fraction (its sieve fraction, else its store name).
    """

    folder: Path
    per_fraction: pd.DataFrame
    combined: pd.DataFrame
    runs: tuple
    labels: tuple[str, ...]


def default_fractions_dir(first_store: str | os.PathLike) -> Path:
    """``data/a_63-100.zarr`` -> ``data/a_63-100_fractions_report`` (beside the first store)."""
    path = Path(first_store)
    stem = path.name[: -len(".zarr")] if path.name.endswith(".zarr") else path.name
    return path.with_name(f"{stem}_fractions_report")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "fraction"


def _page(title: str, labels, masses, folders, per: pd.DataFrame, comb: pd.DataFrame, png: bytes | None = None) -> str:
    def table(df: pd.DataFrame) -> str:
        return df.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="n/a", border=0)

    figure = ""
    if png is not None:
        import base64

        from liberation.report.fractions import CAPTION, FIGURE_NAME

        data = base64.b64encode(png).decode("ascii")
        figure = (f'<figure id="fig-{FIGURE_NAME}"><img src="data:image/png;base64,{data}" style="max-width:100%" '
                  'alt="Bar chart of the liberated fraction of each mineral per size class, one bar per sieve '
                  f'fraction and one for the combined sample"><figcaption>{html.escape(CAPTION)}</figcaption></figure>')
    items = "".join(f'<li><a href="{html.escape(f)}/report.html">{html.escape(lab)}</a>: mass fraction {m:.4g}</li>'
                    for lab, m, f in zip(labels, masses, folders))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{padding:2px 8px;text-align:right}}tr:nth-child(even){{background:#f2f2f2}}</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Fractions</h2><ul>{items}</ul>
<h2>Combined (weighted by mass fraction)</h2>
<p>Each fraction's particle-based numbers weighted by its mass fraction w: mass share S = Σ w·s,
grade G = Σ w·s·g / S, liberated fraction L = Σ w·s·g·l / Σ w·s·g (s: mass share of the size class in
the fraction, g: its grade, l: its liberated fraction; mass basis). Tables: combined.csv, fractions.csv.</p>
{figure}
{table(comb)}
<h2>Size by size, per fraction</h2>
{table(per)}
</body></html>
"""


def _plot_png(per: pd.DataFrame, comb: pd.DataFrame) -> bytes | None:
    """``fraction_liberation.png`` (:func:`liberation.report.fractions.plot_fraction_liberation`); None when empty."""
    if len(comb) == 0 or "liberated_fraction_3d" not in comb.columns:
        return None
    import io

    from liberation.report.fractions import plot_fraction_liberation

    fig = plot_fraction_liberation(per, comb)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def run_fraction_report(
    stores: Sequence[str | os.PathLike],
    fraction_mass,
    out_dir: str | os.PathLike | None = None,
    *,
    target: str | None = None,
    threshold: float = 0.9,
    overwrite: bool = False,
    title: str | None = None,
    **report_options,
) -> FractionReportRun:
    """Report every sieve fraction (one store each) and merge them by mass into one report folder.

    Parameters
    ----------
    stores : sequence of str or Path
        One segmented store per sieve fraction.
    fraction_mass : str or sequence of float
        Mass fraction of each store's fraction in the sample, same order, summing to 1 within 1e-6
        (:func:`liberation.stats.sieve.check_fraction_masses`).
    out_dir : str or Path, optional
        The report folder (default :func:`default_fractions_dir` of the first store).
    target : str, optional
        Target mineral (default every mineral).
    threshold : float
        Liberation grade, in (0, 1].
    overwrite : bool
        Replace an existing report folder.
    title : str, optional
        Title of the page.
    **report_options
        Passed to :func:`liberation.workflows.report_store.run_report` for each fraction (size classes,
        ``size_by``, sections, bootstrap, pdf, ...).

    Returns
    -------
    FractionReportRun

    Raises
    ------
    InputError
        Bad mass fractions (count, sign, sum), the same store twice, or a fraction without particles.
    """
    from liberation._atomic import atomic_dir, check_new_output
    from liberation.io import open_store
    from liberation.stats.sieve import check_fraction_masses, fraction_amounts, merge_fractions
    from liberation.workflows.report_store import run_report

    stores = [Path(s) for s in stores]
    if not stores:
        raise InputError("no store given; expected one store per sieve fraction")
    masses = check_fraction_masses(fraction_mass, len(stores))
    real = [os.path.realpath(s) for s in stores]
    if len(set(real)) != len(real):
        raise InputError(f"the same store is given twice among {[str(s) for s in stores]}; give each fraction once")
    out = Path(out_dir) if out_dir is not None else default_fractions_dir(stores[0])
    check_new_output(out, overwrite=overwrite, what="output folder", inputs=stores)
    labels, folders = [], []
    for k, s in enumerate(stores):
        frac = open_store(s, mode="r").sieve_fraction
        name = s.name[: -len(".zarr")] if s.name.endswith(".zarr") else s.name
        labels.append(f"{frac[0]:g}-{frac[1]:g} µm ({name})" if frac is not None else name)
        folders.append(f"fraction_{k + 1}_{_safe(name)}")
    runs, amounts = [], []
    with atomic_dir(out, overwrite=overwrite, what="output folder", inputs=stores) as tmp:
        for s, folder, lab in zip(stores, folders, labels):
            run = run_report(s, tmp / folder, target=target, threshold=threshold, title=f"Liberation report: {lab}",
                             **report_options)
            runs.append(run)
            res = run.result
            amounts.append(fraction_amounts(res.particles, res.sections, minerals=res.minerals, target=target,
                                            threshold=threshold))
        per, comb = merge_fractions(amounts, masses, labels=labels)
        png = _plot_png(per, comb)
        if png is not None:
            (tmp / "fraction_liberation.png").write_bytes(png)
        per.to_csv(tmp / "fractions.csv", index=False)
        comb.to_csv(tmp / "combined.csv", index=False)
        summary = {
            "fractions": [{"store": str(s), "label": lab, "mass_fraction": m, "folder": f}
                          for s, lab, m, f in zip(stores, labels, masses, folders)],
            "target": target, "liberation_threshold": threshold, "basis": "mass",
            "combined": json.loads(comb.to_json(orient="records")),
        }
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        page_title = title or "Liberation report: " + " + ".join(labels)
        (tmp / "report.html").write_text(_page(page_title, labels, masses, folders, per, comb, png), encoding="utf-8")
    return FractionReportRun(folder=out, per_fraction=per, combined=comb, runs=tuple(runs), labels=tuple(labels))


def fraction_summary_lines(run: FractionReportRun) -> list[str]:
    """A short text summary: the folder, and the combined liberated fraction of each mineral (3D, 2D)."""
    lines = [f"report: {run.folder / 'report.html'}"]
    for lab, r in zip(run.labels, run.runs):
        lines.append(f"fraction {lab}: {r.result.summary.get('n_particles')} particles ({r.folder.name}/)")
    c = run.combined[run.combined["size_class"] == "all"]
    for _, row in c.iterrows():
        l2 = row.get("liberated_fraction_2d", float("nan"))
        text = f"combined liberated {row['mineral']}: 3D {100 * row['liberated_fraction_3d']:.1f} %"
        if l2 == l2:
            text += f", 2D {100 * l2:.1f} %"
        lines.append(text + " (by mass, fractions weighted by their mass fractions)")
    return lines
