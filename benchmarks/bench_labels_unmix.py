"""Benchmark: mixed pixels labelled by their majority member (issue 17): cost, and the ceiling of a per-pixel fit.

``--timing``: a 512 x 512 micro-XRF map (Deep-XFCT signatures, grains of 6 map pixels), time of
``xrf_labels(unmix=False)`` and of :func:`liberation.labels.unmix_labels` on its result (ratio).

``--oracle KIND``: on a zoo case, the pixel accuracy of the two-component fit given the *true*
mineral centres (means of the pixels of purity 1) and the *true* neighbourhoods (the majority
truth), for penalties 0, 4, 9, with and without the per-channel rewhitening; next to the
nearest true centre and to ``xrf_labels`` with and without ``unmix``: how far a per-pixel fit can go.

Run::

    PYTHONPATH=. python benchmarks/bench_labels_unmix.py --timing
    PYTHONPATH=. python benchmarks/bench_labels_unmix.py --oracle counts-g3 --seed 0
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def timing() -> None:
    from liberation.labels import kmeans_maps, unmix_labels, xrf_labels
    from liberation.synthetic.xrf import deep_xfct_signatures, make_face, make_xrf_maps

    phases = make_face((2048, 2048), abundances=[48, 2, 4, 25, 7, 14], grain_size_px=24, seed=1)
    data = make_xrf_maps(phases, deep_xfct_signatures(), block=4, seed=2)
    t = time.perf_counter()
    r = xrf_labels(data.maps, n_clusters=6, reference=deep_xfct_signatures(), seed=0, unmix=False)
    t_rest = time.perf_counter() - t
    cr = kmeans_maps(data.maps, n_clusters=6, keep_features=True, seed=0)
    t = time.perf_counter()
    unmix_labels(r.labels, cr.mask, cr.features, pure=cr.pure, void=cr.void)
    t_unmix = time.perf_counter() - t
    print(f"512 x 512 map, 6 clusters: xrf_labels(unmix=False) {t_rest:.1f} s, unmix_labels {t_unmix:.1f} s, "
          f"ratio {t_unmix / t_rest:.2f}")


def oracle(kind: str, seed: int) -> None:
    from liberation.labels import kmeans_maps, pixel_accuracy, xrf_labels
    from liberation.labels.unmix import _best_pairs, _presence
    from liberation.synthetic.zoo import label_case

    case = label_case(kind, seed=seed)
    n = case.n_minerals
    truth, purity = case.data.truth, case.data.purity
    cr = kmeans_maps(case.data.maps, n_clusters=n, keep_features=True, seed=0)
    mask, feats = cr.mask, cr.features.astype(np.float64)
    tm, pm = truth[mask], purity[mask]
    inside = tm > 0
    centres = np.stack([feats[(tm == i) & (pm == 1)].mean(axis=0) for i in range(1, n + 1)])
    spread = np.stack([feats[(tm == i) & (pm == 1)].std(axis=0) for i in range(1, n + 1)])
    d2 = ((feats[:, None, :] - centres[None]) ** 2).sum(axis=2)
    print(f"{kind} seed {seed}: nearest true centre {np.mean(d2.argmin(axis=1)[inside] + 1 == tm[inside]):.4f}")
    image = np.zeros(mask.shape, dtype=np.int64)
    image[mask] = tm
    ys, xs = np.nonzero(mask)
    allowed = np.hstack([_presence(image, np.arange(1, n + 1), 1)[ys, xs], np.ones((feats.shape[0], 1), bool)])
    sd = np.maximum(np.sqrt((spread ** 2).mean(axis=0)), 0.5)
    for name, scale in (("noise scaling", np.ones_like(sd)), ("rewhitened", sd)):
        members = np.vstack([centres, cr.void]) / scale
        for penalty in (0.0, 4.0, 9.0):
            a, b, t, _ = _best_pairs(feats / scale, members, allowed, penalty)
            dom = np.where(t > 0.5, b, a)
            dom = np.where(dom == n, np.where(dom == a, b, a), dom)
            print(f"  true centres, true neighbourhoods, {name}, penalty {penalty:g}: "
                  f"{np.mean(dom[inside] + 1 == tm[inside]):.4f}")
    ids = {name: i for i, name in case.minerals.items()}
    for unmix in (False, True):
        r = xrf_labels(case.data.maps, n_clusters=n, reference=case.reference, seed=0, unmix=unmix)
        lut = np.zeros(256, np.uint8)
        for i, name in r.minerals["name"].items():
            lut[int(i)] = ids.get(str(name), 0)
        print(f"  xrf_labels(unmix={unmix}): {pixel_accuracy(lut[r.labels], truth, mask=truth > 0):.4f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--oracle", default=None, help="a LABEL_ZOO kind, e.g. counts-g3")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.timing:
        timing()
    if args.oracle:
        oracle(args.oracle, args.seed)


if __name__ == "__main__":
    main()
