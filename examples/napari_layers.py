# %% [markdown]
# # What `liberation view` shows: the napari layers of a store
#
# `liberation view sample.zarr` (and napari's reader plugin, when a store is dropped on its
# window) shows the layers that `liberation.viewer.store_layers` describes: the CT with its
# voxel size in µm, the phases in the mineral colours of the store's mineral table, and the
# particles. The layer descriptions are plain data, so this example draws the same colours
# with matplotlib; with napari installed (`pip install 'liberation[viewer]' "napari[pyqt5]"`)
# `liberation.viewer.view_store(path)` opens them in a window.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from liberation.viewer import store_layers
from liberation.workflows import make_demo_store

OUT = Path(os.environ.get("LIBERATION_EXAMPLE_OUT", tempfile.mkdtemp(prefix="liberation-example-")))
path = make_demo_store(OUT, size=64, overwrite=True)
layers = store_layers(path)
for data, kwargs, layer_type in layers:
    levels = data if kwargs["multiscale"] else [data]
    print(f"{kwargs['name']:10s} {layer_type:7s} scale {kwargs['scale']} µm, level shapes {[lv.shape for lv in levels]}")
phases = {k["name"]: (d, k) for d, k, _ in layers}["phases"][1]
print(dict(zip(phases["features"]["index"], phases["features"]["name"])))

# %% [markdown]
# ## The middle slice in the viewer's colours

# %%
by_name = {k["name"]: (d, k) for d, k, _ in layers}
ct, ct_kw = by_name["CT"]
ph, ph_kw = by_name["phases"]
z = ct.shape[0] // 2
colours = ph_kw["colormap"]
ids = np.arange(max(k for k in colours if k is not None) + 1)
cmap = ListedColormap([colours.get(int(i), colours[None]) for i in ids])
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
axes[0].imshow(np.asarray(ct[z]), cmap="gray", vmin=ct_kw["contrast_limits"][0], vmax=ct_kw["contrast_limits"][1])
axes[0].set_title("CT")
axes[1].imshow(np.asarray(ct[z]), cmap="gray", vmin=ct_kw["contrast_limits"][0], vmax=ct_kw["contrast_limits"][1])
axes[1].imshow(np.asarray(ph[z]), cmap=cmap, vmin=-0.5, vmax=len(ids) - 0.5, alpha=ph_kw["opacity"],
               interpolation="nearest")
axes[1].set_title("phases (" + ", ".join(ph_kw["features"]["name"][1:]) + ")", fontsize=9)
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()
