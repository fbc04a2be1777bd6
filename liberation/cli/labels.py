"""``liberation labels``: mineral label maps from micro-XRF element maps (K-means) or SEM/MLA maps.

The work, and the layout of the output folder, is in :mod:`liberation.workflows.labels`.
"""

from __future__ import annotations

from pathlib import Path

import click

from liberation.cli._options import minerals_option, out_option, overwrite_option, pixel_size_option, seed_option
from liberation.cli._parse import parse_clusters, parse_names


@click.group("labels")
def labels() -> None:
    """Mineral labels from micro-XRF element maps (K-means) or SEM/MLA classified maps."""


@labels.command("xrf")
@click.argument("maps_dir", metavar="MAPS", type=click.Path(path_type=Path))
@pixel_size_option("Map pixel size in µm (default: sidecar pixel_size.txt / metadata).")
@click.option("--clusters", required=True, help="Number of K-means clusters, or 'auto' (silhouette).")
@click.option("--reference", type=click.Path(path_type=Path), default=None,
              help="SIGNATURES.csv: column 'mineral', then one column per element.")
@click.option("--rules", default=None, help="Declarative rules, e.g. 'illite: highest K; quartz: lowest Fe'.")
@minerals_option("Mineral list (CSV/YAML) giving ids, colours and densities of the names.")
@click.option("--denoise", default="Na,Mg", show_default=True,
              help="Elements to bilateral-filter before clustering ('none' for none).")
@click.option("--elements", default=None,
              help="Elements to cluster on, comma-separated (default: all maps); for a multi-page TIFF "
                   "without page names, the element of each page in page order.")
@click.option("--ct-slice", "ct_slice", type=click.Path(path_type=Path), default=None,
              help="Co-registered CT slice (same field of view) added as a channel.")
@click.option("--ct-weight", type=float, default=1.0, show_default=True, help="Weight of the CT channel.")
@click.option("--scaling", type=click.Choice(["noise", "8bit", "zscore", "poisson", "none"]), default="noise",
              show_default=True,
              help="Channel scaling before K-means: 'noise' divides each map by its measured pixel noise "
                   "(counts and wt% maps alike; see docs/labels.md), '8bit' stretches the 0.5..99.5 "
                   "percentiles to 0..255, 'zscore' median / MAD, 'poisson' divides by sqrt(mean).")
@seed_option()
@click.option("--n-init", type=int, default=10, show_default=True, help="K-means starts (best kept).")
@click.option("--naming", type=click.Choice(["many-to-one", "one-to-one"]), default="many-to-one",
              show_default=True,
              help="With --reference: each cluster named after its nearest signature, several clusters may "
                   "share a mineral (cluster finely, then name), or the optimal one-to-one assignment "
                   "(extra clusters unassigned).")
@click.option("--max-z", type=float, default=4.0, show_default=True,
              help="Many-to-one naming: a cluster further than this many within-cluster standard deviations "
                   "from its nearest signature in some element stays unknown (doubtful).")
@click.option("--normalize", type=click.Choice(["fit", "range", "zscore", "none"]), default="fit",
              show_default=True, help="Calibration of the --reference levels to the map units.")
@click.option("--refine/--no-refine", default=True, show_default=True,
              help="Many-to-one naming: pixels go to the nearest mineral centre (mixed-pixel clusters split).")
@click.option("--merge-duplicates/--keep-duplicates", default=True, show_default=True,
              help="Without --reference/--rules: merge near-duplicate clusters (one population split by "
                   "noise) into one label. They are reported in assignment.csv either way.")
@click.option("--unmix/--no-unmix", default=True, show_default=True,
              help="Relabel mixed pixels (grains a few pixels across) by the larger member of their best "
                   "two-mineral fit with a neighbour's label, instead of the nearest cluster centre.")
@out_option(required=True, path_type=Path)
@overwrite_option()
def xrf(maps_dir, pixel_size, clusters, reference, rules, minerals_path, denoise, elements, ct_slice, ct_weight,
        scaling, seed, n_init, naming, max_z, normalize, refine, merge_duplicates, unmix, out, overwrite) -> None:
    """Cluster micro-XRF / EDS element maps (K-means) into a mineral label map.

    MAPS is a folder with one map per element (TIFF, PNG, CSV/text grid) or one multi-channel /
    multi-page TIFF (one page per element).
    """
    from liberation.workflows.labels import xrf_label_folder

    run = xrf_label_folder(
        maps_dir, out=out, n_clusters=parse_clusters(clusters), pixel_size_um=pixel_size, reference=reference,
        rules=rules, minerals=minerals_path, denoise=parse_names(denoise), elements=parse_names(elements),
        ct_slice=ct_slice, ct_weight=ct_weight, scaling=scaling, seed=seed, n_init=n_init, naming=naming,
        max_z=max_z, normalize=normalize, refine=refine, merge_duplicates=merge_duplicates, unmix=unmix,
        overwrite=overwrite,
    )
    clusters = run.result.clusters
    click.echo(f"{clusters.n_clusters} clusters ({clusters.method}) -> {len(run.result.minerals)} minerals; wrote {out}")
    for cluster, row in run.doubtful.iterrows():
        click.echo(f"doubtful: cluster {cluster} -> {row['mineral']}: {row['reason']}", err=True)


@labels.command("sem")
@click.argument("image", type=click.Path(path_type=Path))
@minerals_option("Mineral list (CSV or YAML): name, colour, density, optional formula / elements.", required=True)
@pixel_size_option("Pixel size in µm.", required=True)
@click.option("--background", default="#000000", show_default=True,
              help="Background colour(s), comma-separated '#RRGGBB'.")
@click.option("--tolerance", type=int, default=0, show_default=True,
              help="Per-channel colour tolerance (0 = exact colours).")
@click.option("--strict", is_flag=True, help="Fail on colours that match no mineral (default: report them).")
@out_option(required=True, path_type=Path)
@overwrite_option()
def sem(image, minerals_path, pixel_size, background, tolerance, strict, out, overwrite) -> None:
    """Turn a classified SEM/MLA image and its mineral list into a mineral label map."""
    from liberation.workflows.labels import sem_label_folder

    run = sem_label_folder(image, minerals=minerals_path, pixel_size_um=pixel_size,
                           background=parse_names(background) or (), tolerance=tolerance, strict=strict,
                           out=out, overwrite=overwrite)
    click.echo(f"{len(run.result.minerals)} minerals; wrote {out}")
    unknown = run.result.unknown
    if len(unknown):
        click.echo(f"warning: {len(unknown)} colours match no mineral ({int(unknown['pixels'].sum())} "
                   f"pixels set to 0); see {out / 'unknown_colours.csv'}", err=True)
