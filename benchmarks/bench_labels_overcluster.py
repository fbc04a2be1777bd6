"""Benchmark: pixel accuracy of named K-means labels when there are more clusters than minerals (issue 17).

Synthetic 512² face with the six Deep-XFCT Table-2 minerals, 128² micro-XRF maps (Poisson, weak
Na/Mg), named with the Table-2 reference at ``n_clusters`` = 6, 7, 8, 10, 12: many-to-one naming
with pixel refinement (default), without refinement, and the former one-to-one naming.

Run::

    PYTHONPATH=. python benchmarks/bench_labels_overcluster.py
"""

from __future__ import annotations

import time


def main() -> None:
    from liberation.labels import compare_abundance, pixel_accuracy, xrf_labels
    from liberation.synthetic.xrf import deep_xfct_minerals, deep_xfct_signatures, make_face, make_xrf_maps

    phases = make_face((512, 512), abundances=[48, 2, 4, 25, 7, 14], grain_size_px=40, seed=1)
    data = make_xrf_maps(phases, deep_xfct_signatures(), minerals=deep_xfct_minerals(), block=4,
                         pixel_size_um=10.0, seed=2)
    truth = dict(zip(data.fractions["name"], data.fractions["percent"]))
    inside = data.truth > 0
    variants = {"nearest+refine": {}, "nearest": {"refine": False}, "one-to-one": {"naming": "one-to-one"}}
    for name, options in variants.items():
        for k in (6, 7, 8, 10, 12):
            t = time.perf_counter()
            r = xrf_labels(data.maps, n_clusters=k, reference=deep_xfct_signatures(), minerals=deep_xfct_minerals(),
                           seed=0, **options)
            acc = pixel_accuracy(r.labels, data.truth, mask=inside)
            diff = compare_abundance(r.labels, truth, names=r.minerals)["difference_pp"].abs().max()
            print(f"{name:15s} k={k:2d}: accuracy {acc:.4f}, worst abundance error {diff:.2f} pp, "
                  f"{time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
