"""Type stub of liberation.viewer: the public names, resolved lazily at run time (lazy_loader.attach_stub)."""

from ._layers import is_store, label_colormap, label_features, store_layers
from ._napari import get_reader, read_store, view_store

__all__ = [
    "get_reader",
    "is_store",
    "label_colormap",
    "label_features",
    "read_store",
    "store_layers",
    "view_store",
]
