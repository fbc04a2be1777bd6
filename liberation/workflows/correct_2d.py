"""Apply a saved stereological kernel to the 2D-only sections of a sister sample (``liberation correct-2d``).

A report of a sample with 3D data writes one ``stereology_kernel_MINERAL.json`` per reported
mineral (fitted on all its particles, :func:`liberation.stats.stereology.stereology_check`). A
sister sample (same ore, same preparation) seen only in 2D, its section particles in a CSV table
with ``pixels_MINERAL`` columns (a report's ``sections_2d.csv``, ``measured_section_particles.csv``,
or any table of that form), gets its uncorrected and corrected liberated fractions per size class
(:func:`liberation.stats.stereology.correct_sections`). The inputs are only read; the output CSV is
written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from liberation.errors import FileFormatError, InputError


def default_correct_out(sections: str | os.PathLike) -> Path:
    """``x/sections_2d.csv`` -> ``x/sections_2d_corrected.csv``."""
    p = Path(sections)
    return p.with_name(f"{p.stem}_corrected.csv")


def read_section_csv(path: str | os.PathLike) -> pd.DataFrame:
    """A section table from CSV (``size_class`` read as text)."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"SECTIONS {path} does not exist")
    try:
        return pd.read_csv(path, dtype={"size_class": str})
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FileFormatError(f"cannot read SECTIONS {path} as a CSV table: {exc}") from None


def run_correct_2d(sections: str | os.PathLike, kernel: str | os.PathLike, out: str | os.PathLike | None = None, *,
                   threshold: float | None = None, size_class: str | None = None,
                   overwrite: bool = False) -> tuple[Path, pd.DataFrame]:
    """Correct the 2D liberated fraction of a section table with a saved kernel and write the table.

    Parameters
    ----------
    sections : str or Path
        CSV section table of the sister sample (``pixels_MINERAL`` for every mineral of the kernel;
        ``excluded`` and ``size_class`` used when present).
    kernel : str or Path
        Kernel JSON (``stereology_kernel_MINERAL.json`` of a report, or
        :func:`liberation.stats.stereology.save_kernel` with ``minerals``).
    out : str or Path, optional
        Output CSV (default :func:`default_correct_out`).
    threshold : float, optional
        Liberation grade (default the one stored in the kernel file, else 0.9).
    size_class : str, optional
        Give every section this size class (e.g. the sister's sieve fraction, when the kernel was
        fitted per that class); default the table's ``size_class`` column, else ``all``.
    overwrite : bool
        Replace an existing output file.

    Returns
    -------
    (Path, DataFrame)
        The written file and the table (``size_class, mineral, weight, n_sections, liberated_2d,
        liberated_corrected``).
    """
    from liberation._atomic import atomic_file, check_new_output
    from liberation.stats.stereology import correct_sections, load_kernel

    out_path = Path(out) if out is not None else default_correct_out(sections)
    check_new_output(out_path, overwrite=overwrite, what="output file", inputs=[sections, kernel])
    k, minerals, extra = load_kernel(kernel)
    if minerals is None:
        raise InputError(f"--kernel {kernel} stores no minerals; write it with save_kernel(..., minerals=...) or "
                         "take the stereology_kernel_*.json of a report")
    thr = float(threshold) if threshold is not None else float(extra.get("threshold", 0.9))
    table = read_section_csv(sections)
    result = correct_sections(k, table, minerals=minerals, threshold=thr, size_class=size_class)
    if size_class is None and "size_class" in table.columns:
        unseen = sorted(set(result["size_class"]) - set(k.kernels) - {"all"})
        if unseen:
            result.attrs["note"] = (f"size class(es) {unseen} were not in the fit sample: corrected with its pooled "
                                    "('all') kernel")
    with atomic_file(out_path, overwrite=overwrite, what="output file", inputs=[sections, kernel]) as tmp:
        result.to_csv(tmp, index=False)
    return out_path, result
