"""Mineral label folders from micro-XRF element maps (K-means) or SEM/MLA maps (``liberation labels``).

Both workflows write one output folder (atomically; an existing folder is replaced only
with ``overwrite=True``)::

    labels.tif      uint8 mineral ids, 0 = outside the sample, 1..K minerals (ImageJ pixel size in µm)
    minerals.csv    id, name, color, density (g/cm³, empty if unknown), clusters [, formula, elements, oxides
                    (JSON, wt%) when a mineral list is given]; read by ``liberation register --labels``
    abundance.csv   id, name, pixels, percent [, mass_percent] [, unmixed_percent]: percent counts each
                    labelled pixel once for its (majority) mineral; unmixed_percent (micro-XRF) splits
                    mixed pixels between two minerals: the area-fraction estimate to quote on
                    fine-grained maps (docs/labels.md)
    labels.png      label map with legend
    parameters.json options and inputs (provenance)

:func:`xrf_label_folder` adds ``centroids.csv`` (Table 2 of Deep-XFCT: centroid per cluster
in input units, mineral, %), ``assignment.csv`` (distances, doubtful flags), ``clusters.tif``,
``centroids.png`` and, with ``n_clusters="auto"``, ``k_selection.csv``.
:func:`sem_label_folder` adds ``unknown_colours.csv``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liberation._atomic import atomic_dir, check_new_output
from liberation.errors import FileFormatError, InputError


@dataclass(frozen=True)
class XrfLabelsRun:
    """What :func:`xrf_label_folder` made.

    Attributes
    ----------
    out : Path
        The label folder.
    result : XrfLabelResult
        Labels, clusters, mineral assignment (:func:`liberation.labels.xrf_labels`).
    """

    out: Path
    result: Any

    @property
    def doubtful(self):
        """pandas.DataFrame: the assignment rows flagged doubtful (cluster index; mineral, reason)."""
        table = self.result.assignment.table
        return table[table["doubtful"]]


@dataclass(frozen=True)
class SemLabelsRun:
    """What :func:`sem_label_folder` made.

    Attributes
    ----------
    out : Path
        The label folder.
    result : SemMapResult
        Labels, minerals and the colours that matched no mineral (:func:`liberation.io.sem.read_sem_map`).
    """

    out: Path
    result: Any


def _write_tif(path: Path, array, pixel_size_um: float | None) -> None:
    import tifffile

    if pixel_size_um:
        tifffile.imwrite(path, array, imagej=True, resolution=(1.0 / pixel_size_um, 1.0 / pixel_size_um),
                         metadata={"unit": "um"})
    else:
        tifffile.imwrite(path, array)


def _write_common(tmp: Path, labels, minerals, abundance, pixel_size_um, parameters: dict, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from liberation import __version__
    from liberation.labels import plot_label_map

    _write_tif(tmp / "labels.tif", labels, pixel_size_um)
    minerals.reset_index().to_csv(tmp / "minerals.csv", index=False)
    abundance.reset_index().to_csv(tmp / "abundance.csv", index=False)
    fig = plot_label_map(labels, minerals, pixel_size_um=pixel_size_um, title=title)
    fig.savefig(tmp / "labels.png", dpi=120)
    plt.close(fig)
    parameters = {"version": __version__, **parameters}
    (tmp / "parameters.json").write_text(json.dumps(parameters, indent=2, default=str))


def _with_composition(table, minerals):
    """``table`` (index id; name, color, density, ...) with ``formula``, ``elements``, ``oxides`` (JSON, wt%)
    of the minerals of the list ``minerals`` (by name); empty where the list gives none."""
    import pandas as pd

    if minerals is None or table.empty:
        return table
    table = table.copy()

    def field(name, key):
        if name not in minerals:
            return ""
        value = getattr(minerals[name], key)
        if key == "formula":
            return value or ""
        return json.dumps({k: float(v) for k, v in value.items()}) if value else ""

    for key in ("formula", "elements", "oxides"):
        table[key] = pd.Series([field(str(n), key) for n in table["name"]], index=table.index, dtype=object)
    return table


def _read_reference(reference: Path):
    import pandas as pd

    if not Path(reference).is_file():
        raise FileFormatError(f"--reference {reference} does not exist")
    try:
        table = pd.read_csv(reference, sep=None, engine="python")
    except Exception as exc:
        raise FileFormatError(f"cannot read --reference {reference}: {exc}") from None
    if "mineral" not in table.columns:
        table = table.rename(columns={table.columns[0]: "mineral"})
    return table


def xrf_label_folder(
    maps_dir: str | os.PathLike,
    *,
    out: str | os.PathLike,
    n_clusters: int | str,
    pixel_size_um: float | None = None,
    reference: str | os.PathLike | None = None,
    rules: str | None = None,
    minerals: str | os.PathLike | None = None,
    denoise: Sequence[str] | None = ("Na", "Mg"),
    elements: Sequence[str] | None = None,
    ct_slice: str | os.PathLike | None = None,
    ct_weight: float = 1.0,
    scaling: str = "noise",
    seed: int = 0,
    n_init: int = 10,
    naming: str = "many-to-one",
    max_z: float = 4.0,
    normalize: str = "fit",
    refine: bool = True,
    merge_duplicates: bool = True,
    unmix: bool = True,
    overwrite: bool = False,
) -> XrfLabelsRun:
    """Cluster the micro-XRF element maps of a folder (K-means) into a mineral label folder.

    Parameters
    ----------
    maps_dir : str or Path
        Folder of element maps (:func:`liberation.io.xrf.read_xrf_maps`).
    out : str or Path
        Output folder.
    n_clusters : int or "auto"
        Number of K-means clusters, or ``"auto"`` (silhouette).
    pixel_size_um : float, optional
        Map pixel size in µm (default: sidecar ``pixel_size.txt`` / metadata).
    reference : str or Path, optional
        SIGNATURES.csv: column ``mineral``, then one column per element. Not with ``rules``.
    rules : str, optional
        Declarative rules, e.g. ``"illite: highest K; quartz: lowest Fe"``.
    minerals : str or Path, optional
        Mineral list (CSV/YAML) giving ids, colours and densities of the names.
    denoise : sequence of str, optional
        Elements to bilateral-filter before clustering (None or empty for none).
    elements : sequence of str, optional
        Elements to cluster on (default all maps); for a multi-page TIFF whose pages carry no
        names, the element of each page in page order.
    ct_slice : str or Path, optional
        Co-registered CT slice (same field of view) added as a channel.
    ct_weight : float
        Weight of the CT channel.
    scaling : {"noise", "8bit", "zscore", "poisson", "none"}
        Channel scaling before K-means (:func:`liberation.labels.preprocess.scale_maps`); the default
        ``"noise"`` divides each map by its measured pixel noise (works on counts and wt% maps).
    seed : int
    n_init : int
        K-means starts (best kept).
    naming : {"many-to-one", "one-to-one"}
        With ``reference``: each cluster named after its nearest signature, several clusters may
        share a mineral (``"many-to-one"``, also spelt ``"nearest"``), or the optimal one-to-one
        assignment (extra clusters unassigned).
    max_z : float
        Many-to-one naming: a cluster more than ``max_z`` within-cluster standard deviations from
        its nearest signature in some element stays unnamed (doubtful).
    normalize : {"fit", "range", "zscore", "none"}
        Calibration of the reference to the map units.
    refine : bool
        Many-to-one naming: pixels go to the nearest mineral centre (mixed-pixel clusters split).
    merge_duplicates : bool
        Without reference or rules, merge near-duplicate clusters (one population split by noise)
        into one label; they are reported in ``assignment.csv`` in every case.
    unmix : bool
        Relabel mixed pixels by the larger member of their best two-mineral fit with a neighbour's
        label (:func:`liberation.labels.unmix_labels`).
    overwrite : bool
        Replace an existing output folder.

    Returns
    -------
    XrfLabelsRun
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from liberation.io.sem import read_mineral_list
    from liberation.io.xrf import read_map_file, read_xrf_maps
    from liberation.labels import plot_centroids, xrf_labels

    inputs = [p for p in (maps_dir, reference, minerals, ct_slice) if p is not None]
    out = check_new_output(out, overwrite=overwrite, what="--out", inputs=inputs)
    if reference is not None and rules is not None:
        raise InputError("give --reference or --rules, not both")
    namings = {"many-to-one": "nearest", "nearest": "nearest", "one-to-one": "one-to-one"}
    if naming not in namings:
        raise InputError(f"--naming {naming!r}; expected 'many-to-one' or 'one-to-one'")
    if not (np.isfinite(max_z) and max_z > 0):
        raise InputError(f"--max-z {max_z!r}; expected a positive number of standard deviations")
    source = read_xrf_maps(maps_dir, pixel_size_um=pixel_size_um, elements=None if elements is None else list(elements))
    if source.pixel_size_um is None:
        raise InputError(f"the pixel size of {maps_dir} is unknown; pass --pixel-size in µm "
                         "(or put pixel_size.txt beside the maps)")
    ref_table = _read_reference(Path(reference)) if reference is not None else None
    mineral_list = read_mineral_list(minerals) if minerals is not None else None
    ct = read_map_file(ct_slice) if ct_slice is not None else None
    result = xrf_labels(
        source.maps, n_clusters=n_clusters, pixel_size_um=source.pixel_size_um, reference=ref_table, rules=rules,
        minerals=mineral_list, denoise=list(denoise) if denoise else None, scaling=scaling, ct=ct,
        ct_weight=ct_weight, seed=seed, n_init=n_init, naming=namings[naming], max_z=max_z, normalize=normalize,
        refine=refine, merge_duplicates=merge_duplicates, unmix=unmix,
    )
    with atomic_dir(out, overwrite=overwrite, what="--out", inputs=inputs) as tmp:
        parameters = {"command": "labels xrf", "maps": str(maps_dir), "files": {e: str(p) for e, p in
                      source.files.items()}, "reference": str(reference) if reference else None,
                      "minerals": str(minerals) if minerals else None,
                      "ct_slice": str(ct_slice) if ct_slice else None, **result.parameters}
        _write_common(tmp, result.labels, _with_composition(result.minerals, mineral_list), result.abundance,
                      source.pixel_size_um, parameters,
                      title=f"micro-XRF K-means labels ({result.clusters.n_clusters} clusters)")
        _write_tif(tmp / "clusters.tif", result.clusters.cluster_map, source.pixel_size_um)
        centroids = result.centroids
        centroids.reset_index().to_csv(tmp / "centroids.csv", index=False)
        result.assignment.table.reset_index().to_csv(tmp / "assignment.csv", index=False)
        if result.clusters.k_selection is not None:
            result.clusters.k_selection.to_csv(tmp / "k_selection.csv", index=False)
        fig = plot_centroids(centroids, title="cluster centroids (input units)")
        fig.savefig(tmp / "centroids.png", dpi=120)
        plt.close(fig)
    return XrfLabelsRun(out=out, result=result)


def sem_label_folder(
    image: str | os.PathLike,
    *,
    minerals: str | os.PathLike,
    pixel_size_um: float,
    out: str | os.PathLike,
    background: Sequence[str] = ("#000000",),
    tolerance: int = 0,
    strict: bool = False,
    overwrite: bool = False,
) -> SemLabelsRun:
    """Turn a classified SEM/MLA image and its mineral list into a mineral label folder.

    Parameters
    ----------
    image : str or Path
        The classified (colour) image.
    minerals : str or Path
        Mineral list (CSV or YAML): name, colour, density, optional formula / elements.
    pixel_size_um : float
        Pixel size in µm.
    out : str or Path
        Output folder.
    background : sequence of str
        Background colours ``"#RRGGBB"`` (empty for none).
    tolerance : int
        Per-channel colour tolerance (0 = exact colours).
    strict : bool
        Fail on colours that match no mineral (default: report them in ``unknown_colours.csv``).
    overwrite : bool
        Replace an existing output folder.

    Returns
    -------
    SemLabelsRun
    """
    import pandas as pd

    from liberation.io.sem import read_sem_map
    from liberation.labels import abundance_table

    if minerals is None:
        raise InputError("--minerals is missing: give the mineral list (CSV or YAML) of the SEM/MLA colours")
    inputs = [image, minerals]
    out = check_new_output(out, overwrite=overwrite, what="--out", inputs=inputs)
    result = read_sem_map(image, minerals, pixel_size_um=pixel_size_um, background=tuple(background),
                          tolerance=tolerance, unknown="error" if strict else "report")
    table = pd.DataFrame(
        {"name": result.minerals.names, "color": [m.color for m in result.minerals],
         "density": [m.density for m in result.minerals]},
        index=pd.Index(result.minerals.ids, name="id"),
    )
    abundance = abundance_table(result.labels, names=table)
    with atomic_dir(out, overwrite=overwrite, what="--out", inputs=inputs) as tmp:
        parameters = {"command": "labels sem", "image": str(image), "minerals": str(minerals),
                      "pixel_size_um": pixel_size_um, "background": ",".join(background), "tolerance": tolerance,
                      "unknown_colours": int(len(result.unknown))}
        _write_common(tmp, result.labels, _with_composition(table, result.minerals), abundance, pixel_size_um,
                      parameters, title="SEM/MLA mineral labels")
        result.unknown.to_csv(tmp / "unknown_colours.csv", index=False)
    return SemLabelsRun(out=out, result=result)
