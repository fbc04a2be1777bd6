"""The report's hard voxel passes (tables + grains + section planes, then the fast shapes) on a store, two code trees.

    OMP_NUM_THREADS=2 python benchmarks/bench_stats_voxel_passes.py --store /tmp/s7_b512.zarr --other /work/main --repeat 3

Runs ``measure_pass`` as :func:`liberation.stats.analyse` calls it (grains, the z section planes and, where the
tree has it, the shape moments in the same pass) and then ``add_shapes(mode="fast")``, in a fresh process per run,
alternating this tree and ``--other`` (another checkout, put first on ``PYTHONPATH``), and prints each run's CPU
and wall seconds and the minimum per tree (min-of-N interleaved: the machine's load moves both sides alike).
The shape tables of both trees are compared (equal bit for bit, or the script says how they differ).
Stores: ``benchmarks/bench_stats_memory.py --make-store``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import inspect, json, sys, time
import numpy as np
from liberation.io import open_store
from liberation.stats.analyse import measure_pass
from liberation.stats.particles import add_shapes
from liberation.stats.sections import AXES, section_positions
from liberation.workflows.report_store import _minerals_of

store = open_store(sys.argv[1], mode="r")
p, q = store.label("particles"), store.label("phases")
minerals = _minerals_of(store)[0]
planes = [(AXES["z"], pos) for pos in section_positions(p.shape[0], None)]
kw = {"moments": True} if "moments" in inspect.signature(measure_pass).parameters else {}
t, c = time.perf_counter(), time.process_time()
m, _, _ = measure_pass(p, q, voxel_size_um=store.voxel_size_um, minerals=minerals, grains=True, planes=planes, **kw)
t1, c1 = time.perf_counter(), time.process_time()
m, shapes = add_shapes(m, p, q, mode="fast")
t2, c2 = time.perf_counter(), time.process_time()
np.save(sys.argv[2], shapes.to_numpy())
print(json.dumps({"measure_wall": t1 - t, "measure_cpu": c1 - c, "shapes_wall": t2 - t1, "shapes_cpu": c2 - c1,
                  "fused_moments": bool(kw), "particles": int(len(m.ids))}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--other", required=True, help="the other code tree (e.g. /work/main)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parents[1])
    trees = {"this": here, "other": str(Path(args.other).resolve())}
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            for name, tree in trees.items():
                env = dict(os.environ, PYTHONPATH=tree)
                out = Path(tmp) / f"{name}.npy"
                res = subprocess.run([sys.executable, "-c", CHILD, args.store, str(out)], env=env, check=True, cwd=tmp,
                                     capture_output=True, text=True)
                row = json.loads(res.stdout.strip().splitlines()[-1])
                row["load"] = os.getloadavg()[0]
                runs[name].append(row)
                print(f"{name:5s} run {rep}: load {row['load']:.1f}  measure_pass {row['measure_cpu']:6.2f} s CPU "
                      f"({row['measure_wall']:6.2f} wall)  shapes {row['shapes_cpu']:5.2f} s CPU "
                      f"({row['shapes_wall']:5.2f} wall)  fused moments {row['fused_moments']}", flush=True)
        import numpy as np

        a, b = np.load(Path(tmp) / "this.npy"), np.load(Path(tmp) / "other.npy")
        same = a.shape == b.shape and a.tobytes() == b.tobytes()
    for name in trees:
        r = runs[name]
        print(f"{name:5s} min: measure_pass {min(x['measure_cpu'] for x in r):6.2f} s CPU, "
              f"{min(x['measure_wall'] for x in r):6.2f} s wall; shapes {min(x['shapes_cpu'] for x in r):5.2f} s CPU, "
              f"{min(x['shapes_wall'] for x in r):5.2f} s wall; both {min(x['measure_cpu'] + x['shapes_cpu'] for x in r):6.2f}"
              " s CPU")
    print("shape tables bit-identical" if same else "shape tables DIFFER")


if __name__ == "__main__":
    main()
