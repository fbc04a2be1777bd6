# %% [markdown]
# # The demo: a liberation report of a synthetic spodumene ore
#
# `liberation demo` in Python: a synthetic sample (particles of spodumene, quartz, albite and
# muscovite, 10 µm voxels) is written as a store with its exact phases and particles, and the
# liberation report compares the 3D particle-wise liberation with what 2D sections of the same
# particles give. The figures below are the report's own PNGs.

# %%
import json
import os
import tempfile
from pathlib import Path

from liberation.workflows import run_demo, summary_lines

OUT = Path(os.environ.get("LIBERATION_EXAMPLE_OUT", tempfile.mkdtemp(prefix="liberation-example-")))
run = run_demo(OUT, size=int(os.environ.get("LIBERATION_EXAMPLE_SIZE", "64")), overwrite=True)
print("\n".join(summary_lines(run.report.folder, run.report.result)))

# %% [markdown]
# ## The summary numbers (`summary.json`)

# %%
summary = json.loads((run.report.folder / "summary.json").read_text())
print({k: v for k, v in summary.items() if isinstance(v, (int, float, str))})
