"""Stereological correction of 2D liberation: the section-to-particle class transformation kernel.

A polished section cuts particles; the composition of a cut (2D grade by area) scatters around
that of its particle (3D grade by volume), and a locked particle often shows a liberated-looking
cut. From a sample scanned in 3D we know both for every cut, so we can *fit*, per size class, the
liberation-class transformation kernel

    K[i, j] = P(the particle is in 3D class j | its section is in 2D class i),

and *apply* it to the 2D-only sections of a sister sample (same ore, same preparation) to estimate
its 3D liberation distribution.

Classes are the composition classes of the target mineral (default ``0``, ``(0,10]``, ...,
``(80,90]``, ``(90,100)``, ``100`` %; :func:`liberation.stats.composition.assign_class`).

**Weights.** A kernel row is a distribution of an *amount*, not of a count:

- ``weight="mineral"`` (default): the target mineral's area (or mass) in the section. By the
  Cavalieri principle the mineral area of parallel sections at spacing ``s`` summed over a
  particle, times ``s``, estimates the particle's mineral volume without bias, so the column sums
  of ``M[i, j] = sum of mineral area of sections in 2D class i whose particle is in 3D class j``
  are proportional to the 3D mineral-volume distribution over the classes. Then
  ``K = M / M.sum(axis=1)`` and, for a sister sample with 2D mineral areas ``A_i`` per class,
  the corrected 3D mineral distribution is ``V_j = sum_i A_i K[i, j]`` (the total is kept).
- ``weight="particle"``: the whole section area (mass) instead, which estimates the
  distribution of *particle* volume over the classes (the ``0`` class included).

A 2D class that holds no weight in the fit sample gets the identity row (taken as is).

**Liberated fraction** of the target mineral = the share of the mineral amount in the classes at
or above the threshold: with ``threshold=0.9`` the classes ``(90,100)`` and ``100``, so a grade of
exactly 90 % counts as locked here (the threshold must be a class bound).

**Size classes.** The kernel is fitted per size class of the sections' ``size_class`` column
(from their parent particle in the fit sample) and applied per size class of the sister's
sections: in practice the sister's size class is its sieve fraction, which every section of a
sieved sample carries; a size class the fit did not see uses the ``all`` kernel. The overall
corrected distribution is the sum of the per-class corrected amounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from liberation.errors import InputError
from liberation.minerals import MineralList
from liberation.stats.composition import (
    _included,
    amounts,
    assign_class,
    check_by,
    check_classes,
    check_threshold,
    class_labels,
)
from liberation.stats.particles import size_class_sort_key

WEIGHTS = ("mineral", "particle")


@dataclass(frozen=True)
class StereologyKernel:
    """Per-size-class liberation-class transformation kernels (:func:`fit_kernel`).

    Attributes
    ----------
    mineral : str
        The target mineral.
    by : {"volume", "mass"}
        Basis of the grades and amounts.
    weight : {"mineral", "particle"}
        What a row distributes (see the module text).
    bounds : tuple of float
        Composition class bounds in percent.
    labels : list of str
        Class labels, ``0``, ``(0,10]``, ..., ``100`` (n_classes = len(bounds) + 1).
    kernels : dict of str to ndarray, shape (n_classes, n_classes)
        Row-stochastic ``K[i, j] = P(3D class j | 2D class i)`` per size class (``"all"``: pooled).
    support : dict of str to ndarray, shape (n_classes,)
        Fit weight in each 2D class (0: identity row).
    """

    mineral: str
    by: str
    weight: str
    bounds: tuple[float, ...]
    labels: list[str]
    kernels: dict[str, np.ndarray] = field(default_factory=dict)
    support: dict[str, np.ndarray] = field(default_factory=dict)

    def kernel(self, size_class: str = "all") -> np.ndarray:
        """The kernel of ``size_class`` (the pooled ``all`` kernel for a class not fitted)."""
        return self.kernels.get(str(size_class), self.kernels["all"])

    def to_frame(self) -> pd.DataFrame:
        """Long table: ``size_class, class_2d, class_3d, probability, support_2d`` (one row per cell)."""
        rows = []
        for sc, k in self.kernels.items():
            for i, li in enumerate(self.labels):
                for j, lj in enumerate(self.labels):
                    rows.append({"size_class": sc, "class_2d": li, "class_3d": lj, "probability": float(k[i, j]),
                                 "support_2d": float(self.support[sc][i])})
        return pd.DataFrame(rows)


def _check_weight(weight: str) -> str:
    if weight not in WEIGHTS:
        raise InputError(f"weight={weight!r}; expected 'mineral' or 'particle'")
    return weight


def _mineral_index(mineral: str, minerals: MineralList) -> int:
    if not isinstance(mineral, str) or mineral not in minerals:
        raise InputError(f"mineral={mineral!r} is not a mineral; known: {', '.join(minerals.names)}")
    return minerals.names.index(mineral)


def class_weights(table: pd.DataFrame, *, minerals: MineralList, mineral: str, by: str = "volume",
                  weight: str = "mineral", classes=None) -> tuple[np.ndarray, np.ndarray]:
    """Composition class index and weight of every row of a particle or section table.

    Parameters
    ----------
    table : DataFrame
        Particle table (3D, ``voxels_*`` columns) or section table (2D, ``pixels_*``).
    minerals : MineralList
        The minerals.
    mineral : str
        The target mineral.
    by : {"volume", "mass"}
        Basis of the grade and the amounts.
    weight : {"mineral", "particle"}
        The target mineral's amount, or the row's total mineral amount.
    classes : sequence of float, optional
        Class bounds in percent (default 0, 10, ..., 100).

    Returns
    -------
    index : ndarray of int, shape (n,)
        Class index, 0 .. len(bounds).
    weights : ndarray of float, shape (n,)
        Amount in voxels (pixels), times g/cm³ on a mass basis.
    """
    check_by(by)
    _check_weight(weight)
    bounds = check_classes(classes)
    j = _mineral_index(mineral, minerals)
    a, tot = amounts(table, minerals, by)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.where(tot > 0, a[:, j] / np.where(tot > 0, tot, 1), 0.0)
    return assign_class(g, bounds), (a[:, j] if weight == "mineral" else tot)


def _size_classes(table: pd.DataFrame) -> np.ndarray:
    if "size_class" in table.columns:
        return table["size_class"].astype(str).to_numpy()
    return np.full(len(table), "all", dtype=object)


def fit_kernel(
    particles_3d: pd.DataFrame,
    sections_2d: pd.DataFrame,
    *,
    minerals: MineralList,
    mineral: str,
    by: str = "volume",
    weight: str = "mineral",
    classes=None,
) -> StereologyKernel:
    """Fit the 2D -> 3D liberation-class kernel of each size class on a sample with 3D data.

    Parameters
    ----------
    particles_3d : DataFrame
        Particle table of the fit sample (``particle_id``, ``voxels_*``; ``excluded`` rows are left out).
    sections_2d : DataFrame
        Section table of the same sample (``particle_id`` of the parent, ``pixels_*``, ``size_class``).
    minerals : MineralList
        The minerals.
    mineral : str
        The target mineral.
    by : {"volume", "mass"}
        Basis of grades and amounts.
    weight : {"mineral", "particle"}
        Row weight (module text).
    classes : sequence of float, optional
        Composition class bounds in percent.

    Returns
    -------
    StereologyKernel
    """
    bounds = check_classes(classes)
    p3 = _included(particles_3d)
    s2 = _included(sections_2d)
    if len(s2) == 0:
        raise InputError("sections_2d has no (included) section; cannot fit a kernel")
    c3, _ = class_weights(p3, minerals=minerals, mineral=mineral, by=by, weight=weight, classes=bounds)
    lut = pd.Series(c3, index=p3["particle_id"].to_numpy())
    parent = lut.reindex(s2["particle_id"].to_numpy())
    if parent.isna().any():
        missing = np.unique(s2["particle_id"].to_numpy()[parent.isna().to_numpy()])[:5]
        raise InputError(f"sections_2d has sections of particles {missing.tolist()} that particles_3d lacks "
                         "(or excludes); use the tables of one analysis")
    j3 = parent.to_numpy(dtype=np.int64)
    i2, w = class_weights(s2, minerals=minerals, mineral=mineral, by=by, weight=weight, classes=bounds)
    nc = len(bounds) + 1
    sc = _size_classes(s2)
    kernels, support = {}, {}
    for name in ["all"] + [c for c in pd.unique(sc) if c != "all"]:
        sel = np.ones(len(s2), bool) if name == "all" else sc == name
        m = np.zeros((nc, nc))
        np.add.at(m, (i2[sel], j3[sel]), w[sel])
        rows = m.sum(axis=1)
        k = np.eye(nc)
        has = rows > 0
        k[has] = m[has] / rows[has, None]
        kernels[str(name)] = k
        support[str(name)] = rows
    return StereologyKernel(mineral=mineral, by=by, weight=weight, bounds=bounds,
                            labels=[lab for lab, _, _ in class_labels(bounds)], kernels=kernels, support=support)


def class_histogram(table: pd.DataFrame, *, minerals: MineralList, mineral: str, by: str = "volume",
                    weight: str = "mineral", classes=None) -> dict[str, np.ndarray]:
    """Amount in each composition class, per size class and ``all`` (included rows).

    Returns
    -------
    dict of str to ndarray, shape (n_classes,)
    """
    bounds = check_classes(classes)
    t = _included(table)
    idx, w = class_weights(t, minerals=minerals, mineral=mineral, by=by, weight=weight, classes=bounds)
    sc = _size_classes(t)
    out = {}
    for name in ["all"] + [c for c in pd.unique(sc) if c != "all"]:
        sel = np.ones(len(t), bool) if name == "all" else sc == name
        out[str(name)] = np.bincount(idx[sel], weights=w[sel], minlength=len(bounds) + 1)
    return out


def apply_kernel(kernel: StereologyKernel, sections_2d: pd.DataFrame, *, minerals: MineralList) -> dict[str, dict]:
    """Correct the 2D class distribution of a sister sample's sections into a 3D estimate.

    Parameters
    ----------
    kernel : StereologyKernel
        From :func:`fit_kernel`.
    sections_2d : DataFrame
        Section table of the sister sample (``pixels_*``, ``size_class``); only its 2D data are used.
    minerals : MineralList
        The minerals.

    Returns
    -------
    dict of str to dict
        Per size class (and ``all`` = the sum of the per-class corrections): ``"2d"`` the 2D amounts per
        class and ``"corrected"`` the estimated 3D amounts per class (same total), ndarrays of shape
        (n_classes,).
    """
    hist = class_histogram(sections_2d, minerals=minerals, mineral=kernel.mineral, by=kernel.by,
                           weight=kernel.weight, classes=kernel.bounds)
    out = {}
    total = np.zeros(len(kernel.labels))
    for name, h in hist.items():
        if name == "all":
            continue
        corr = h @ kernel.kernel(name)
        out[name] = {"2d": h, "corrected": corr}
        total += corr
    if len(out) == 0:  # no size classes: the pooled kernel
        total = hist["all"] @ kernel.kernel("all")
    out["all"] = {"2d": hist["all"], "corrected": total}
    return out


def liberated_share(hist: np.ndarray, *, bounds, threshold: float = 0.9) -> float:
    """Share of the amount in the classes at or above ``threshold`` (NaN when the total is 0).

    ``threshold`` (fraction) must be one of the class bounds (or 1: only the ``100`` class).
    """
    thr = check_threshold(threshold)
    b = [float(x) for x in bounds]
    if not any(abs(100 * thr - x) < 1e-9 for x in b):
        raise InputError(f"threshold={threshold!r} is not a class bound; bounds {b} (percent)")
    labels = class_labels(b)
    keep = np.array([lo >= 100 * thr - 1e-9 for _, lo, _ in labels])
    tot = float(np.sum(hist))
    return float(np.sum(np.asarray(hist)[keep]) / tot) if tot > 0 else float("nan")


def correction_table(
    kernel: StereologyKernel,
    sections_2d: pd.DataFrame,
    *,
    minerals: MineralList,
    particles_3d: pd.DataFrame | None = None,
    threshold: float = 0.9,
) -> pd.DataFrame:
    """Liberated fraction of a sister sample: uncorrected 2D, corrected 2D and (if given) the 3D truth.

    Parameters
    ----------
    kernel : StereologyKernel
        From the fit sample.
    sections_2d : DataFrame
        The sister sample's section table.
    minerals : MineralList
        The minerals.
    particles_3d : DataFrame, optional
        The sister sample's 3D particle table (the truth, for validation).
    threshold : float
        Liberation grade (a class bound, default 0.9).

    Returns
    -------
    DataFrame
        One row per size class (``all`` first): ``size_class, mineral, weight, n_sections,
        liberated_2d, liberated_corrected, liberated_3d, error_2d, error_corrected`` (errors = estimate
        minus 3D, NaN without the truth).
    """
    res = apply_kernel(kernel, sections_2d, minerals=minerals)
    truth = (class_histogram(particles_3d, minerals=minerals, mineral=kernel.mineral, by=kernel.by,
                             weight=kernel.weight, classes=kernel.bounds) if particles_3d is not None else {})
    counts = pd.Series(_size_classes(_included(sections_2d))).value_counts()
    rows = []
    for name in ["all"] + [k for k in res if k != "all"]:
        l2 = liberated_share(res[name]["2d"], bounds=kernel.bounds, threshold=threshold)
        lc = liberated_share(res[name]["corrected"], bounds=kernel.bounds, threshold=threshold)
        l3 = (liberated_share(truth[name], bounds=kernel.bounds, threshold=threshold) if name in truth
              else float("nan"))
        rows.append({"size_class": name, "mineral": kernel.mineral, "weight": kernel.weight,
                     "n_sections": int(counts.sum() if name == "all" else counts.get(name, 0)),
                     "liberated_2d": l2, "liberated_corrected": lc, "liberated_3d": l3,
                     "error_2d": l2 - l3, "error_corrected": lc - l3})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ saved kernels (JSON)

KERNEL_FORMAT = "liberation-stereology-kernel"
KERNEL_VERSION = 1


def kernel_to_dict(kernel: StereologyKernel, *, minerals: MineralList | None = None,
                   threshold: float | None = None, source: str | None = None) -> dict:
    """A JSON-ready dict of a kernel (:func:`save_kernel`); floats kept exactly (``repr`` round trip).

    Parameters
    ----------
    kernel : StereologyKernel
    minerals : MineralList, optional
        The minerals of the fit sample (id, name, density): stored so that a sister's section table
        can be read without its store.
    threshold : float, optional
        The liberation grade the fit sample was reported at (a default for applying).
    source : str, optional
        Where the kernel was fitted (free text).
    """
    out = {
        "format": KERNEL_FORMAT, "version": KERNEL_VERSION, "mineral": kernel.mineral, "by": kernel.by,
        "weight": kernel.weight, "bounds": [float(b) for b in kernel.bounds], "labels": list(kernel.labels),
        "kernels": {sc: np.asarray(k, dtype=float).tolist() for sc, k in kernel.kernels.items()},
        "support": {sc: np.asarray(v, dtype=float).tolist() for sc, v in kernel.support.items()},
    }
    if minerals is not None:
        out["minerals"] = [{"id": int(m.id), "name": m.name, "density": m.density} for m in minerals]
    if threshold is not None:
        out["threshold"] = float(threshold)
    if source is not None:
        out["source"] = str(source)
    return out


def kernel_from_dict(data: dict, *, what: str = "kernel") -> StereologyKernel:
    """The kernel of :func:`kernel_to_dict` (checked: format, shapes, row sums).

    Raises
    ------
    InputError
        Not a kernel of this format, or inconsistent shapes / probabilities.
    """
    if not isinstance(data, dict) or data.get("format") != KERNEL_FORMAT:
        raise InputError(f"{what} is not a stereology kernel (expected \"format\": \"{KERNEL_FORMAT}\", written by "
                         "liberation report or save_kernel)")
    try:
        bounds = check_classes(data["bounds"])
        labels = [str(v) for v in data["labels"]]
        kernels = {str(k): np.asarray(v, dtype=float) for k, v in data["kernels"].items()}
        support = {str(k): np.asarray(v, dtype=float) for k, v in data["support"].items()}
        mineral, by, weight = str(data["mineral"]), str(data["by"]), str(data["weight"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{what} is incomplete or malformed ({type(exc).__name__}: {exc})") from None
    check_by(by)
    _check_weight(weight)
    nc = len(bounds) + 1
    if len(labels) != nc or "all" not in kernels:
        raise InputError(f"{what}: {len(labels)} labels for {nc} classes, or no 'all' kernel")
    for sc, k in kernels.items():
        if k.shape != (nc, nc) or support.get(sc, np.zeros(0)).shape != (nc,):
            raise InputError(f"{what}: size class {sc!r} has a kernel of shape {k.shape}; expected ({nc}, {nc}) "
                             "with a support of the same length")
        if not np.all(np.isfinite(k)) or k.min() < 0 or not np.allclose(k.sum(axis=1), 1.0):
            raise InputError(f"{what}: size class {sc!r} is not row-stochastic (rows must be probabilities)")
    return StereologyKernel(mineral=mineral, by=by, weight=weight, bounds=bounds, labels=labels, kernels=kernels,
                            support=support)


def save_kernel(kernel: StereologyKernel, path, *, minerals: MineralList | None = None,
                threshold: float | None = None, source: str | None = None, overwrite: bool = False) -> None:
    """Write a kernel as JSON (atomically; refuses an existing file unless ``overwrite``)."""
    import json

    from liberation._atomic import atomic_file

    payload = json.dumps(kernel_to_dict(kernel, minerals=minerals, threshold=threshold, source=source), indent=1)
    with atomic_file(path, overwrite=overwrite, what="kernel file") as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(payload + "\n")


def load_kernel(path) -> tuple[StereologyKernel, MineralList | None, dict]:
    """Read a kernel JSON (:func:`save_kernel`, or ``stereology_kernel_*.json`` of a report).

    Returns
    -------
    kernel : StereologyKernel
    minerals : MineralList or None
        The fit sample's minerals, when stored.
    extra : dict
        ``threshold`` and ``source`` when stored.
    """
    import json
    from pathlib import Path

    from liberation.errors import FileFormatError
    from liberation.minerals import Mineral

    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"--kernel {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"--kernel {path} is not a readable JSON file ({exc})") from None
    kernel = kernel_from_dict(data, what=f"--kernel {path}")
    minerals = None
    if "minerals" in data:
        try:
            minerals = MineralList([Mineral(int(m["id"]), str(m["name"]), density=m.get("density"))
                                    for m in data["minerals"]])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"--kernel {path}: malformed 'minerals' ({exc})") from None
    extra = {k: data[k] for k in ("threshold", "source") if k in data}
    return kernel, minerals, extra


# ------------------------------------------------------------- leave-half-out in one sample

def bounds_with_threshold(threshold: float, classes=None) -> tuple[float, ...]:
    """The class bounds (default 0, 10, ..., 100) with ``100 * threshold`` added when it is not one."""
    thr = check_threshold(threshold)
    b = list(check_classes(classes))
    if thr < 1.0 and not any(abs(100 * thr - x) < 1e-9 for x in b):
        b = sorted(b + [100 * thr])
    return tuple(b)


def leave_half_out(
    particles_3d: pd.DataFrame,
    sections_2d: pd.DataFrame,
    *,
    minerals: MineralList,
    mineral: str,
    by: str = "volume",
    weight: str = "mineral",
    threshold: float = 0.9,
    classes=None,
) -> pd.DataFrame:
    """Honest in-sample check of the correction: fit on half the particles, correct the other half.

    The particles are split by id parity. The kernel fitted on the even ids (their 3D particles and
    their sections) corrects the sections of the odd ids, and the other way round; the 2D, corrected
    and 3D amounts per composition class of both halves are summed before the liberated fractions
    are taken. No section is corrected by a kernel that saw its particle.

    Parameters
    ----------
    particles_3d, sections_2d : DataFrame
        The sample's particle table and its (virtual) section table (``particle_id`` of the parent,
        ``size_class``).
    minerals : MineralList
    mineral : str
        Target mineral.
    by : {"volume", "mass"}
    weight : {"mineral", "particle"}
    threshold : float
        Liberation grade; added to the class bounds when it is not one.
    classes : sequence of float, optional
        Class bounds in percent.

    Returns
    -------
    DataFrame
        One row per size class (``all`` first): ``size_class, mineral, n_sections, liberated_2d,
        liberated_corrected, liberated_3d, error_2d, error_corrected`` (errors = estimate minus 3D).
    """
    bounds = bounds_with_threshold(threshold, classes)
    p3 = _included(particles_3d)
    s2 = _included(sections_2d)
    pid3 = p3["particle_id"].to_numpy(dtype=np.int64)
    pid2 = s2["particle_id"].to_numpy(dtype=np.int64)
    sums: dict[str, dict[str, np.ndarray]] = {}
    counts: dict[str, int] = {}
    nc = len(bounds) + 1
    for fold in (0, 1):
        fit_p, fit_s = p3[pid3 % 2 == fold], s2[pid2 % 2 == fold]
        test_p, test_s = p3[pid3 % 2 != fold], s2[pid2 % 2 != fold]
        if len(fit_s) == 0 or len(test_s) == 0:
            continue
        k = fit_kernel(fit_p, fit_s, minerals=minerals, mineral=mineral, by=by, weight=weight, classes=bounds)
        res = apply_kernel(k, test_s, minerals=minerals)
        truth = class_histogram(test_p, minerals=minerals, mineral=mineral, by=by, weight=weight, classes=bounds)
        sc = pd.Series(_size_classes(test_s)).value_counts()
        for name, r in res.items():
            acc = sums.setdefault(name, {"2d": np.zeros(nc), "corrected": np.zeros(nc), "3d": np.zeros(nc)})
            acc["2d"] += r["2d"]
            acc["corrected"] += r["corrected"]
            acc["3d"] += truth.get(name, np.zeros(nc))
            counts[name] = counts.get(name, 0) + int(sc.sum() if name == "all" else sc.get(name, 0))
    order = ["all"] + sorted((n for n in sums if n != "all"), key=size_class_sort_key)
    rows = []
    for name in order:
        if name not in sums:
            continue
        acc = sums[name]
        l2, lc, l3 = (liberated_share(acc[k], bounds=bounds, threshold=threshold) for k in ("2d", "corrected", "3d"))
        rows.append({"size_class": name, "mineral": mineral, "n_sections": counts[name], "liberated_2d": l2,
                     "liberated_corrected": lc, "liberated_3d": l3, "error_2d": l2 - l3, "error_corrected": lc - l3})
    return pd.DataFrame(rows, columns=["size_class", "mineral", "n_sections", "liberated_2d", "liberated_corrected",
                                       "liberated_3d", "error_2d", "error_corrected"])


@dataclass
class StereologyCheck:
    """The stereological correction of one sample checked on itself (:func:`stereology_check`).

    Attributes
    ----------
    table : DataFrame
        :func:`leave_half_out` of each mineral, concatenated (``stereology_correction.csv``).
    kernels : dict of str to StereologyKernel
        Per mineral, the kernel fitted on *all* the sample's particles: the one to apply to a sister
        sample (``stereology_kernel_MINERAL.json``).
    minerals : MineralList
    threshold : float
    source : str or None
        Where the kernels were fitted (stored in the kernel files).
    """

    table: pd.DataFrame
    kernels: dict
    minerals: MineralList
    threshold: float = 0.9
    source: str | None = None

    def kernel_files(self) -> dict[str, dict]:
        """``{file name: JSON-ready dict}`` of the kernels (``stereology_kernel_MINERAL.json``)."""
        import re

        return {f"stereology_kernel_{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.json":
                kernel_to_dict(k, minerals=self.minerals, threshold=self.threshold, source=self.source)
                for name, k in self.kernels.items()}


def stereology_check(particles_3d: pd.DataFrame, sections_2d: pd.DataFrame, *, minerals: MineralList,
                     target: str | None = None, threshold: float = 0.9, by: str = "volume",
                     source: str | None = None) -> StereologyCheck:
    """Leave-half-out correction table and the full-sample kernels, per mineral (the report's table).

    Parameters
    ----------
    particles_3d, sections_2d : DataFrame
        Particle and (virtual) section tables of one sample.
    minerals : MineralList
    target : str, optional
        Only this mineral (default every mineral).
    threshold : float
        Liberation grade (added to the class bounds when it is not one).
    by : {"volume", "mass"}
    source : str, optional
        Stored in the kernel files (where they were fitted).

    Returns
    -------
    StereologyCheck
    """
    names = [target] if target is not None else list(minerals.names)
    bounds = bounds_with_threshold(threshold)
    parts, kernels = [], {}
    for name in names:
        parts.append(leave_half_out(particles_3d, sections_2d, minerals=minerals, mineral=name, by=by,
                                    threshold=threshold, classes=bounds))
        if len(_included(sections_2d)):
            kernels[name] = fit_kernel(particles_3d, sections_2d, minerals=minerals, mineral=name, by=by,
                                       classes=bounds)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return StereologyCheck(table=table, kernels=kernels, minerals=minerals, threshold=float(threshold), source=source)


def correct_sections(kernel: StereologyKernel, sections_2d: pd.DataFrame, *, minerals: MineralList,
                     threshold: float = 0.9, size_class: str | None = None) -> pd.DataFrame:
    """Apply a saved kernel to a 2D-only section table (``liberation correct-2d``).

    Parameters
    ----------
    kernel : StereologyKernel
        From :func:`load_kernel` (fitted on a sample with 3D data).
    sections_2d : DataFrame
        The sister sample's section table: ``pixels_MINERAL`` per mineral (``sections_2d.csv`` of a
        report, ``measured_section_particles.csv``, or any table with these columns); ``excluded`` and
        ``size_class`` used when present.
    minerals : MineralList
        The minerals (the kernel file's).
    threshold : float
        Liberation grade (a class bound of the kernel).
    size_class : str, optional
        Give every section this size class (e.g. the sieve fraction the kernel was fitted per).

    Returns
    -------
    DataFrame
        :func:`correction_table` without truth: ``size_class, mineral, weight, n_sections,
        liberated_2d, liberated_corrected`` per size class (``all`` first).
    """
    t = sections_2d
    missing = [f"pixels_{m.name}" for m in minerals if f"pixels_{m.name}" not in t.columns]
    if missing:
        raise InputError(f"the section table has no column(s) {missing}; expected a section table with pixels_MINERAL "
                         f"for the kernel's minerals ({', '.join(minerals.names)})")
    if size_class is not None:
        t = t.assign(size_class=str(size_class))
    table = correction_table(kernel, t, minerals=minerals, threshold=threshold)
    return table.drop(columns=["liberated_3d", "error_2d", "error_corrected"])
