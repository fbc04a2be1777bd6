# %% [markdown]
# # A first look without a trained model: classical segmentation
#
# A pack of touching spheres (synthetic, with the true particles known) is written as a sample
# store; `segment --classical` thresholds its grey values (multi-Otsu) and splits the touching
# particles by a watershed on the distance map. The count and F1 score against the truth say
# how well the split worked. Run as a script: `python examples/classical_first_look.py`.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from liberation.io import create_store, open_store
from liberation.segmentation.metrics import instance_metrics
from liberation.synthetic import touching_spheres
from liberation.workflows.classical import classical_segment_store

OUT = Path(os.environ.get("LIBERATION_EXAMPLE_OUT", tempfile.mkdtemp(prefix="liberation-example-")))
pack = touching_spheres(shape=(64, 64, 64), n_particles=20, seed=11)
store = create_store(OUT / "spheres.zarr", pack.ct, voxel_size_um=pack.voxel_size_um, overwrite=True)
print("CT", store.shape, "voxels of", pack.voxel_size_um, "µm;", int(pack.particles.max()), "true particles")

# %% [markdown]
# ## Segment: void / solid by multi-Otsu, particles by a distance-map watershed

# %%
run = classical_segment_store(store.path, classes=2, overwrite=True)
found = np.asarray(open_store(store.path).label("particles")[...])
m = instance_metrics(pack.particles, found)
print(f"{run.n_particles} particles found; count error {m['count_error']:+.1%}, F1 {m['f1']:.3f}")

# %% [markdown]
# ## The middle slice: CT, true particles, found particles

# %%
z = pack.ct.shape[0] // 2
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
axes[0].imshow(pack.ct[z], cmap="gray")
axes[0].set_title("CT")
for ax, labels, title in ((axes[1], pack.particles, "true particles"), (axes[2], found, "found (classical)")):
    shown = np.ma.masked_equal(labels[z], 0)
    ax.imshow(shown % 20, cmap="tab20", interpolation="nearest")
    ax.set_title(title)
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()
