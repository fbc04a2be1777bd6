"""``liberation view``: a sample store in napari (extra ``viewer``)."""

from __future__ import annotations

import click


@click.command()
@click.argument("store", type=click.Path(file_okay=False))
@click.option("--label", "labels", multiple=True, metavar="NAME",
              help="Label image to show (repeat for several); default all: phases, particles, sparse, ...")
def view(store: str, labels: tuple[str, ...]) -> None:
    """Open STORE in napari: the CT, labels/phases in the mineral colours (names in the layer's
    features), labels/particles, and the other label images, with the scale in µm and every
    pyramid level. Needs napari and a Qt backend: pip install 'liberation[viewer]' "napari[pyqt5]".
    napari also opens a store dropped on its window (the liberation reader plugin)."""
    from liberation.viewer import view_store

    view_store(store, labels=list(labels) or None, run=True)
