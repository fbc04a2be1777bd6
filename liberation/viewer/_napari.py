"""napari glue: the npe2 reader plugin and :func:`view_store` (the ``liberation view`` command).

napari is an optional dependency (extra ``viewer``); it is imported only by :func:`view_store`.
The reader (:func:`get_reader`) needs no napari import: napari calls it with a path and adds the
layer-data tuples that the returned function gives (:func:`liberation.viewer.store_layers`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from liberation.errors import DependencyError
from liberation.viewer._layers import is_store, store_layers

#: The one-line hint of a missing napari.
NAPARI_MISSING = ("the viewer needs napari, which is not installed; install it with: "
                  "pip install 'liberation[viewer]' \"napari[pyqt5]\" (napari plus a Qt backend for its window)")


def read_store(path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[tuple[Any, dict, str]]:
    """The napari reader function: layer-data tuples of the store at ``path`` (:func:`store_layers`).

    Parameters
    ----------
    path : str or Path or sequence of one path
        The store folder (napari passes a list when several paths are dropped; each is read).

    Returns
    -------
    list of (data, kwargs, layer_type)
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    return [layer for p in paths for layer in store_layers(p)]


def get_reader(path: str | os.PathLike | Sequence[str | os.PathLike]) -> Callable | None:
    """npe2 reader contribution: :func:`read_store` if ``path`` is a sample store (or OME-Zarr image), else None.

    Parameters
    ----------
    path : str or Path or sequence of paths
        What napari was asked to open; every path must be a ``*.zarr`` folder holding an OME-Zarr
        image (``multiscales`` metadata) for this reader to accept it.

    Returns
    -------
    callable or None
        :func:`read_store`, or None (napari then tries its other readers).
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths or not all(str(p).rstrip("/\\").endswith(".zarr") and is_store(p) for p in paths):
        return None
    return read_store


def _napari():
    try:
        import napari
    except ImportError as exc:
        raise DependencyError(NAPARI_MISSING) from exc
    return napari


def view_store(store: str | os.PathLike, *, labels: Sequence[str] | None = None, run: bool = True):
    """Open a sample store in a napari window: CT, phases in the mineral colours with names, particles.

    Parameters
    ----------
    store : str or Path
        The sample store.
    labels : sequence of str, optional
        Label images to show; default all (:func:`liberation.viewer.store_layers`).
    run : bool
        Start napari's event loop (blocks until the window is closed); False returns at once.

    Returns
    -------
    napari.Viewer
        The viewer with the layers added (scale in µm, 3D: z, y, x).

    Raises
    ------
    DependencyError
        napari (extra ``viewer``) is not installed, it has no Qt backend, or (Linux) no display is set.
    """
    layers = store_layers(store, labels=labels)  # store errors before a window opens
    napari = _napari()
    if sys.platform.startswith("linux") and not any(os.environ.get(v) for v in
                                                    ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        raise DependencyError("the napari window needs a display, and none is set (DISPLAY / WAYLAND_DISPLAY); "
                              "run liberation view on a desktop, or open the store in napari there "
                              "(liberation.viewer.store_layers gives the layers without a window)")
    try:
        viewer = napari.Viewer(title=f"liberation: {Path(store).name}")
    except ImportError as exc:  # napari without a Qt backend (qtpy finds no bindings)
        raise DependencyError(f"napari has no Qt backend for its window ({' '.join(str(exc).split())[:120]}); "
                              "install one with: pip install \"napari[pyqt5]\"") from exc
    for data, kwargs, layer_type in layers:
        viewer.add_layer(napari.layers.Layer.create(data, kwargs, layer_type))
    canvas = getattr(viewer, "canvas", None)  # napari >= 0.9; before: viewer.scale_bar
    bar = canvas.overlays.scale_bar if canvas is not None else viewer.scale_bar
    bar.visible = True  # in the layers' unit, micrometer
    if run:
        napari.run()
    return viewer
