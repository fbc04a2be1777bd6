"""The example notebook runs (nbclient if installed, else its companion script) on a tiny sample."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPT = EXAMPLES / "correlative_pipeline.py"
NOTEBOOK = EXAMPLES / "correlative_pipeline.ipynb"


def _script_code_cells() -> list[str]:
    text = SCRIPT.read_text().split("\n", 1)[1]
    blocks = [b for b in re.split(r"^# %%", text, flags=re.M) if b.strip()]
    return [b.split("\n", 1)[1].strip("\n") for b in blocks if not b.startswith(" [markdown]")]


def test_notebook_matches_script():
    nb = json.loads(NOTEBOOK.read_text())
    code = ["".join(c["source"]).strip("\n") for c in nb["cells"] if c["cell_type"] == "code"]
    assert code == _script_code_cells()


@pytest.mark.ml
@pytest.mark.slow
def test_example_runs_on_tiny_sample(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    env = dict(os.environ, LIBERATION_EXAMPLE_SIZE="48", LIBERATION_EXAMPLE_PRESET="tiny",
               LIBERATION_EXAMPLE_OUT=str(tmp_path), OMP_NUM_THREADS="1", LIBERATION_PROGRESS="0")
    try:
        import nbclient  # noqa: F401
        import nbformat
    except ImportError:
        nbclient = None
    if nbclient is not None:
        old = dict(os.environ)
        os.environ.update(env)
        try:
            nb = nbformat.read(NOTEBOOK, as_version=4)
            nbclient.NotebookClient(nb, timeout=600, kernel_name="python3").execute()
        finally:
            os.environ.clear()
            os.environ.update(old)
    else:  # nbclient/nbformat/ipykernel not installed: run the companion script with the same cells
        subprocess.run([sys.executable, str(SCRIPT)], env=env, check=True, capture_output=True, timeout=600)
    summary = json.loads((tmp_path / "example_summary.json").read_text())
    assert 0.0 <= summary["3d"] <= 1.0
    assert (tmp_path / "report").is_dir() and (tmp_path / "sample.zarr" / "labels" / "phases").is_dir()
