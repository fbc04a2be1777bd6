"""The stereological correction in the report: 2D (sections) vs corrected 2D vs 3D, leave-half-out.

Pure functions over a :class:`liberation.stats.stereology.StereologyCheck`: the display table and
the HTML block.
"""

from __future__ import annotations

import html

import pandas as pd

__all__ = ["CSV_NAME", "TABLE_CAPTION", "display_table", "html_block"]

#: File name of the leave-half-out table in the report folder.
CSV_NAME = "stereology_correction.csv"

TABLE_CAPTION = (
    "How wrong 2D is, and how much of it a stereological correction removes, checked on this sample itself: "
    "the particles are split by id parity; the 2D -> 3D liberation-class kernel fitted on one half (its 3D "
    "particles and their virtual sections) corrects the sections of the other half, and the other way round, "
    "so no section is corrected by a kernel that saw its particle. 2D = liberated fraction of the sections, "
    "corrected = after the kernel, 3D = of the particles; errors = estimate minus 3D. The kernel fitted on all "
    "the particles is saved (stereology_kernel_MINERAL.json) for 2D-only sister samples: "
    "liberation correct-2d SECTIONS.csv --kernel stereology_kernel_MINERAL.json.")


def display_table(check) -> pd.DataFrame:
    """The table in percent: size class, mineral, sections, 2D, corrected, 3D, the two errors."""
    t = check.table
    if t is None or len(t) == 0:
        return pd.DataFrame(columns=["size class", "mineral"])
    return pd.DataFrame({
        "size class": t["size_class"], "mineral": t["mineral"], "sections": t["n_sections"],
        "2D liberated %": 100 * t["liberated_2d"], "corrected 2D %": 100 * t["liberated_corrected"],
        "3D liberated %": 100 * t["liberated_3d"], "error 2D %": 100 * t["error_2d"],
        "error corrected %": 100 * t["error_corrected"],
    })


def html_block(check, *, digits: int = 1) -> str:
    """The report section (heading, sentence, table)."""
    from liberation.report.html import df_to_html

    parts = ['<h3 id="stereology">2D vs corrected 2D vs 3D (stereological correction, leave-half-out)</h3>',
             f"<p>{html.escape(TABLE_CAPTION)}</p>", df_to_html(display_table(check), digits=digits)]
    return "\n".join(parts)
