"""Viewing a sample store in napari (optional extra ``viewer``).

:func:`store_layers` turns a store into napari layer-data tuples (CT, ``labels/phases`` in the
mineral colours with their names, ``labels/particles``, the other label images), with the
scale in µm and every pyramid level; it needs no napari. :func:`view_store` (the
``liberation view`` command) opens them in a napari window, and the napari reader plugin
(``napari.yaml``, :func:`get_reader`) opens a store dropped on napari the same way::

    from liberation.viewer import store_layers

    for data, kwargs, layer_type in store_layers("sample.zarr"):
        print(layer_type, kwargs["name"], kwargs["scale"])

napari is imported only by :func:`view_store`; a window also needs a Qt backend
(``pip install "napari[pyqt5]"``).
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
