# ruff: noqa: E402
# %% [markdown]
# # Correlative pipeline: micro-XRF faces -> registration -> 3D U-Net -> liberation report
#
# A synthetic sample stands in for a scanned core: CT of the whole volume and micro-XRF
# maps of its top and bottom faces. Quartz and albite have nearly the same CT grey value
# and differ in texture only. Run as a script (`python examples/correlative_pipeline.py`)
# or open `correlative_pipeline.ipynb` in Jupyter (the same cells).
# Set `LIBERATION_EXAMPLE_SIZE` / `LIBERATION_EXAMPLE_PRESET` for a quick run.

# %%
import json
import os
import tempfile
from pathlib import Path

import numpy as np

SIZE = int(os.environ.get("LIBERATION_EXAMPLE_SIZE", "96"))
PRESET = os.environ.get("LIBERATION_EXAMPLE_PRESET", "cpu")
OUT = Path(os.environ.get("LIBERATION_EXAMPLE_OUT", tempfile.mkdtemp(prefix="liberation-example-")))

# %% [markdown]
# ## 1. The sample and the micro-XRF maps of its two faces

# %%
from liberation.synthetic import make_sample
from liberation.synthetic.xrf import make_xrf_maps, signatures_from_minerals

sample = make_sample((SIZE, SIZE, SIZE), voxel_size_um=10.0, border="cut", packing_fraction=0.4, seed=0)
minerals = sample.minerals
signatures = signatures_from_minerals(minerals)
faces = {"top": 0, "bottom": SIZE - 1}
xrf = {face: make_xrf_maps(sample.phases[z], signatures, minerals=minerals, block=4, pixel_size_um=10.0, seed=i)
       for i, (face, z) in enumerate(faces.items())}
print({face: sorted(x.maps) for face, x in xrf.items()})

# %% [markdown]
# ## 2. Mineral labels by K-means on the element maps

# %%
from liberation.labels import xrf_labels

labels = {face: xrf_labels(x.maps, n_clusters=len(minerals), reference=signatures, minerals=minerals,
                           pixel_size_um=x.pixel_size_um, seed=0).labels for face, x in xrf.items()}
for face in faces:
    print(face, "agreement with the truth of the map pixels:", float((labels[face] == xrf[face].truth).mean()))

# %% [markdown]
# ## 3. Registration into the CT and sparse labels
#
# Mutual-information registration (coarse global search + refinement). When it is flagged
# poor, this example falls back to the known pose of the synthetic faces and says so.

# %%
import warnings

from liberation.registration import accumulate_sparse_labels, register_map

density = minerals.density_lut()
planes = []
for face, z in faces.items():
    known = np.eye(4)
    known[:3, 3] = (z * 10.0, 15.0, 15.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = register_map(sample.ct, density[labels[face]].astype(np.float32), voxel_size_um=10.0,
                           pixel_size_um=40.0, axis="z", face=face,
                           slice_range_um=(max(0, (z - 3) * 10.0), min((SIZE - 1) * 10.0, (z + 3) * 10.0)),
                           show_progress=False)
    matrix = known if reg.poor_quality else reg.matrix
    print(face, "MI registration poor:", reg.poor_quality, "-> using", "known pose" if reg.poor_quality else "MI")
    planes.append((labels[face], matrix, 40.0))
sparse = accumulate_sparse_labels(planes, ct_shape=sample.ct.shape, voxel_size_um=(10.0, 10.0, 10.0))
print("labelled planes:", np.flatnonzero((sparse != 255).any(axis=(1, 2))).tolist())

# %% [markdown]
# ## 4. The sample store

# %%
from liberation.io import create_store, open_store

store = create_store(OUT / "sample.zarr", sample.ct, voxel_size_um=10.0, overwrite=True)
store = open_store(OUT / "sample.zarr", mode="r+")
store.write_label("sparse", sparse, minerals=minerals, overwrite=True)

# %% [markdown]
# ## 5. Train the 3D U-Net on the two faces (loss on labelled voxels only)

# %%
from liberation.segmentation import get_preset, train_model
from liberation.segmentation.checkpoint import save_model

config = get_preset(PRESET)
result = train_model(sample.ct, sparse, voxel_size_um=10.0, config=config, minerals=minerals, seed=0)
save_model(result, OUT / "model_phases", overwrite=True)
print("validation (held-out band of the faces):", {k: result.card.validation[k] for k in ("accuracy", "miou")})

# %% [markdown]
# ## 6. Segment the whole volume slab by slab and evaluate on interior planes

# %%
from liberation.segmentation import evaluate_planes, grey_value_baseline, predict_volume

phases = predict_volume(store.image(), result.network, result.card, show_progress=False)
store.write_label("phases", phases, minerals=minerals, overwrite=True)
store.write_label("particles", sample.particles, overwrite=True)  # particles from the truth in this example
interior = [SIZE // 4, SIZE // 2, 3 * SIZE // 4]
ids, names = result.card.class_ids, result.card.class_names
ev = evaluate_planes(phases, sample.phases, class_ids=ids, class_names=names, planes=interior)
gmm = evaluate_planes(grey_value_baseline(sample.ct, sparse), sample.phases, class_ids=ids, class_names=names,
                      planes=interior)
print(f"3D U-Net: accuracy {ev['accuracy']:.3f}, mIoU {ev['miou']:.3f}")
print(f"grey-value GMM: accuracy {gmm['accuracy']:.3f}, mIoU {gmm['miou']:.3f}")

# %% [markdown]
# ## 7. The liberation report

# %%
from liberation.workflows.report_store import run_report, summary_lines

# the tiny preset (a smoke test: a few training steps) leaves more than 10 % of the particle volume
# without a phase, which the report refuses unless told; a real run uses the cpu preset
report = run_report(OUT / "sample.zarr", OUT / "report", overwrite=True, allow_unassigned=PRESET == "tiny")
print("\n".join(summary_lines(report.folder, report.result)))
(OUT / "example_summary.json").write_text(json.dumps({"3d": ev["accuracy"], "gmm": gmm["accuracy"]}))
print("report in", report.folder)
