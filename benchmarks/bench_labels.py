"""Benchmark: K-means labels of a 2000 x 2000 micro-XRF map with 9 channels (8 elements + CT).

Compares ``liberation.labels.cluster_features`` (mini-batch K-means above 500 000 pixels,
best of 10 initialisations) with what a user would otherwise write: plain scikit-learn
``KMeans`` full batch (best of 10) on the same feature matrix. Also times the whole
``xrf_labels`` call (bilateral denoising of Na and Mg, scaling, mask, K-means, reference
matching) and reports pixel accuracy against the synthetic truth.

Every side runs under the same thread limit (``--threads``: ``threadpoolctl.threadpool_limits``,
the OpenMP / BLAS pools scikit-learn's K-means uses; the library calls scikit-learn too).

Run::

    python benchmarks/bench_labels.py --threads 2                  # full size, 2 threads on every side
    python benchmarks/bench_labels.py --threads 2 --skip-sklearn-minibatch --skip-xrf   # the K-means ratio only
    python benchmarks/bench_labels.py --size 1000 --n-init-full 3  # quicker
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000, help="map size in pixels (size x size)")
    parser.add_argument("--clusters", type=int, default=6)
    parser.add_argument("--n-init-full", type=int, default=10, help="initialisations of the full-batch baseline")
    parser.add_argument("--skip-full", action="store_true", help="do not run the full-batch baseline")
    parser.add_argument("--skip-sklearn-minibatch", action="store_true", help="do not run sklearn's MiniBatchKMeans")
    parser.add_argument("--skip-xrf", action="store_true", help="do not time xrf_labels end to end")
    parser.add_argument("--threads", type=int, default=None,
                        help="thread limit of every side (threadpoolctl); default: the libraries' own")
    args = parser.parse_args()
    if args.threads is None:
        run(args)
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.threads):
        run(args)


def run(args) -> None:
    from sklearn.cluster import KMeans

    from liberation.labels import cluster_features, feature_stack, pixel_accuracy, sample_mask, xrf_labels
    from liberation.synthetic.xrf import deep_xfct_minerals, deep_xfct_signatures, make_face, make_xrf_maps

    n = args.size
    t0 = time.perf_counter()
    phases = make_face((n, n), abundances=[48, 2, 4, 25, 7, 14], grain_size_px=max(12.0, n / 40), seed=1)
    sig = deep_xfct_signatures(include_ct=True)
    elements = [c for c in sig.columns if c != "CT"]
    data = make_xrf_maps(phases, sig[elements], minerals=deep_xfct_minerals(), block=1, pixel_size_um=40.0, seed=2)
    ct = make_xrf_maps(phases, sig[["CT"]], minerals=deep_xfct_minerals(), block=1, weak={}, seed=3).maps["CT"]
    print(f"synthetic {n} x {n} map, 8 elements + CT: {time.perf_counter() - t0:.1f} s to make")
    from threadpoolctl import threadpool_info

    threads = sorted({(p["internal_api"], p["num_threads"]) for p in threadpool_info()})
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, thread pools {threads}, load {os.getloadavg()}")

    mask = sample_mask(data.maps)
    stack = feature_stack(data.maps, ct=ct, mask=mask, scaling="8bit")
    x = stack.features
    print(f"feature matrix: {x.shape[0]} sample pixels x {x.shape[1]} channels ({x.nbytes / 1e6:.0f} MB float32)")
    inside = data.truth > 0

    def accuracy(labels):
        cmap = np.zeros(mask.shape, np.int64)
        cmap[mask] = labels + 1
        # best one-to-one cluster -> truth mapping (independent of how clusters are named)
        from scipy.optimize import linear_sum_assignment

        k = int(cmap.max())
        cm = np.zeros((k + 1, 7), np.int64)
        np.add.at(cm, (cmap[inside], data.truth[inside]), 1)
        r, c = linear_sum_assignment(-cm[1:, 1:])
        return cm[1:, 1:][r, c].sum() / inside.sum()

    timings = {}
    for method in ("minibatch", "subsample"):
        t = time.perf_counter()
        labels, _, inertia, used = cluster_features(x, n_clusters=args.clusters, seed=0, n_init=10, method=method)
        timings[method] = (time.perf_counter() - t, inertia)
        print(f"liberation cluster_features (method={used}, n_init=10): {timings[method][0]:.2f} s, "
              f"inertia {inertia:.4g}, accuracy {accuracy(labels):.4f}")

    from sklearn.cluster import MiniBatchKMeans

    if not args.skip_sklearn_minibatch:
        t = time.perf_counter()
        mb = MiniBatchKMeans(n_clusters=args.clusters, n_init=10, random_state=0).fit(x)
        print(f"sklearn MiniBatchKMeans defaults (batch 1024, n_init=10): {time.perf_counter() - t:.2f} s, "
              f"inertia {mb.inertia_:.4g}, accuracy {accuracy(mb.labels_):.4f}")

    if not args.skip_full:
        t = time.perf_counter()
        km = KMeans(n_clusters=args.clusters, n_init=args.n_init_full, random_state=0).fit(x)
        t_full = time.perf_counter() - t
        print(f"sklearn KMeans full batch (n_init={args.n_init_full}): {t_full:.2f} s, inertia {km.inertia_:.4g}, "
              f"accuracy {accuracy(km.labels_):.4f}")
        for method, (secs, inertia) in timings.items():
            print(f"ratio full-batch / liberation {method}: {t_full / secs:.1f}x faster; "
                  f"inertia {inertia / km.inertia_:.4f} x full-batch")

    if args.skip_xrf:
        print(f"load {os.getloadavg()}")
        return
    t = time.perf_counter()
    result = xrf_labels(data.maps, n_clusters=args.clusters, ct=ct, reference=sig, minerals=deep_xfct_minerals(),
                        seed=0)
    t_all = time.perf_counter() - t
    acc = pixel_accuracy(result.labels, data.truth, mask=inside)
    print(f"xrf_labels end to end (bilateral Na+Mg, 8-bit scaling, Otsu mask, {result.clusters.method}, "
          f"reference matching): {t_all:.2f} s, pixel accuracy {acc:.4f}, "
          f"doubtful matches {int(result.assignment.table['doubtful'].sum())}")


if __name__ == "__main__":
    main()
