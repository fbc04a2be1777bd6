"""``liberation labels``: mineral label maps from micro-XRF element maps (K-means) or SEM/MLA maps.

Both subcommands write one output folder (atomically; an existing folder is replaced only
with ``--overwrite``)::

    labels.tif      uint8 mineral ids, 0 = outside the sample, 1..K minerals (ImageJ pixel size in µm)
    minerals.csv    id, name, color, density (g/cm³, empty if unknown), clusters
    abundance.csv   id, name, pixels, percent [, mass_percent]
    labels.png      label map with legend
    parameters.json options and inputs (provenance)

``labels xrf`` adds ``centroids.csv`` (Table 2 of Deep-XFCT: centroid per cluster in input
units, mineral, %), ``assignment.csv`` (distances, doubtful flags), ``clusters.tif``,
``centroids.png`` and, with ``--clusters auto``, ``k_selection.csv``. ``labels sem`` adds
``unknown_colours.csv``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from liberation._atomic import atomic_dir, check_new_output
from liberation.errors import FileFormatError, InputError


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

    from liberation.labels import plot_label_map

    _write_tif(tmp / "labels.tif", labels, pixel_size_um)
    minerals.reset_index().to_csv(tmp / "minerals.csv", index=False)
    abundance.reset_index().to_csv(tmp / "abundance.csv", index=False)
    fig = plot_label_map(labels, minerals, pixel_size_um=pixel_size_um, title=title)
    fig.savefig(tmp / "labels.png", dpi=120)
    plt.close(fig)
    from liberation import __version__

    parameters = {"version": __version__, **parameters}
    (tmp / "parameters.json").write_text(json.dumps(parameters, indent=2, default=str))


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if len(items) == 1 and items[0].lower() in ("none", "off", "no"):
        return []
    return items


@click.group("labels")
def labels() -> None:
    """Mineral labels from micro-XRF element maps (K-means) or SEM/MLA classified maps."""


@labels.command("xrf")
@click.argument("maps_dir", type=click.Path(path_type=Path))
@click.option("--pixel-size", "pixel_size", type=float, default=None,
              help="Map pixel size in µm (default: sidecar pixel_size.txt / metadata).")
@click.option("--clusters", required=True, help="Number of K-means clusters, or 'auto' (silhouette).")
@click.option("--reference", type=click.Path(path_type=Path), default=None,
              help="SIGNATURES.csv: column 'mineral', then one column per element.")
@click.option("--rules", default=None, help="Declarative rules, e.g. 'illite: highest K; quartz: lowest Fe'.")
@click.option("--minerals", "minerals_path", type=click.Path(path_type=Path), default=None,
              help="Mineral list (CSV/YAML) giving ids, colours and densities of the names.")
@click.option("--denoise", default="Na,Mg", show_default=True,
              help="Elements to bilateral-filter before clustering ('none' for none).")
@click.option("--elements", default=None, help="Elements to cluster on, comma-separated (default: all maps).")
@click.option("--ct-slice", "ct_slice", type=click.Path(path_type=Path), default=None,
              help="Co-registered CT slice (same field of view) added as a channel.")
@click.option("--ct-weight", type=float, default=1.0, show_default=True, help="Weight of the CT channel.")
@click.option("--scaling", type=click.Choice(["8bit", "zscore"]), default="8bit", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--n-init", type=int, default=10, show_default=True, help="K-means starts (best kept).")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
def xrf(maps_dir, pixel_size, clusters, reference, rules, minerals_path, denoise, elements, ct_slice, ct_weight,
        scaling, seed, n_init, out, overwrite) -> None:
    """Cluster micro-XRF element maps (K-means) into a mineral label map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from liberation.io.sem import read_mineral_list
    from liberation.io.xrf import read_map_file, read_xrf_maps
    from liberation.labels import plot_centroids, xrf_labels

    check_new_output(out, overwrite=overwrite, what="--out")
    if clusters.strip().lower() == "auto":
        n_clusters: int | str = "auto"
    else:
        try:
            n_clusters = int(clusters)
        except ValueError:
            raise InputError(f"--clusters {clusters!r}; expected a positive integer or 'auto'") from None
    if reference is not None and rules is not None:
        raise InputError("give --reference or --rules, not both")
    source = read_xrf_maps(maps_dir, pixel_size_um=pixel_size, elements=_split(elements))
    if source.pixel_size_um is None:
        raise InputError(f"the pixel size of {maps_dir} is unknown; pass --pixel-size in µm "
                         "(or put pixel_size.txt beside the maps)")
    ref_table = None
    if reference is not None:
        if not Path(reference).is_file():
            raise FileFormatError(f"--reference {reference} does not exist")
        try:
            ref_table = pd.read_csv(reference, sep=None, engine="python")
        except Exception as exc:
            raise FileFormatError(f"cannot read --reference {reference}: {exc}") from None
        if "mineral" not in ref_table.columns:
            ref_table = ref_table.rename(columns={ref_table.columns[0]: "mineral"})
    minerals = read_mineral_list(minerals_path) if minerals_path is not None else None
    ct = read_map_file(ct_slice) if ct_slice is not None else None
    denoise_list = _split(denoise) or None
    result = xrf_labels(
        source.maps, n_clusters=n_clusters, pixel_size_um=source.pixel_size_um, reference=ref_table, rules=rules,
        minerals=minerals, denoise=denoise_list, scaling=scaling, ct=ct, ct_weight=ct_weight, seed=seed,
        n_init=n_init,
    )
    with atomic_dir(out, overwrite=overwrite, what="--out") as tmp:
        parameters = {"command": "labels xrf", "maps": str(maps_dir), "files": {e: str(p) for e, p in
                      source.files.items()}, "reference": str(reference) if reference else None,
                      "minerals": str(minerals_path) if minerals_path else None,
                      "ct_slice": str(ct_slice) if ct_slice else None, **result.parameters}
        _write_common(tmp, result.labels, result.minerals, result.abundance, source.pixel_size_um, parameters,
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
    doubtful = result.assignment.table[result.assignment.table["doubtful"]]
    click.echo(f"{result.clusters.n_clusters} clusters ({result.clusters.method}) -> {len(result.minerals)} "
               f"minerals; wrote {out}")
    for cluster, row in doubtful.iterrows():
        click.echo(f"doubtful: cluster {cluster} -> {row['mineral']}: {row['reason']}", err=True)


@labels.command("sem")
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--minerals", "minerals_path", type=click.Path(path_type=Path), required=True,
              help="Mineral list (CSV or YAML): name, colour, density, optional formula / elements.")
@click.option("--pixel-size", "pixel_size", type=float, required=True, help="Pixel size in µm.")
@click.option("--background", default="#000000", show_default=True,
              help="Background colour(s), comma-separated '#RRGGBB'.")
@click.option("--tolerance", type=int, default=0, show_default=True,
              help="Per-channel colour tolerance (0 = exact colours).")
@click.option("--strict", is_flag=True, help="Fail on colours that match no mineral (default: report them).")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
def sem(image, minerals_path, pixel_size, background, tolerance, strict, out, overwrite) -> None:
    """Turn a classified SEM/MLA image and its mineral list into a mineral label map."""
    import pandas as pd

    from liberation.io.sem import read_sem_map
    from liberation.labels import abundance_table

    check_new_output(out, overwrite=overwrite, what="--out")
    result = read_sem_map(image, minerals_path, pixel_size_um=pixel_size, background=tuple(_split(background) or ()),
                          tolerance=tolerance, unknown="error" if strict else "report")
    table = pd.DataFrame(
        {"name": result.minerals.names, "color": [m.color for m in result.minerals],
         "density": [m.density for m in result.minerals]},
        index=pd.Index(result.minerals.ids, name="id"),
    )
    abundance = abundance_table(result.labels, names=table)
    with atomic_dir(out, overwrite=overwrite, what="--out") as tmp:
        parameters = {"command": "labels sem", "image": str(image), "minerals": str(minerals_path),
                      "pixel_size_um": pixel_size, "background": background, "tolerance": tolerance,
                      "unknown_colours": int(len(result.unknown))}
        _write_common(tmp, result.labels, table, abundance, pixel_size, parameters, title="SEM/MLA mineral labels")
        result.unknown.to_csv(tmp / "unknown_colours.csv", index=False)
    click.echo(f"{len(result.minerals)} minerals; wrote {out}")
    if len(result.unknown):
        click.echo(f"warning: {len(result.unknown)} colours match no mineral ({int(result.unknown['pixels'].sum())} "
                   f"pixels set to 0); see {out / 'unknown_colours.csv'}", err=True)
