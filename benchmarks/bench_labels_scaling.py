"""Benchmark: the channel scaling before K-means on counts maps and on wt% maps (issue 17).

Sweeps the label kinds of :data:`liberation.synthetic.zoo.LABEL_ZOO` (micro-XRF counts with
Deep-XFCT signatures and weak Na/Mg; SEM-EDS wt% of a gabbro; grains of 3, 8, 15 map pixels,
96 x 96 maps) with ``n_clusters`` = n, n + 1, 2n (n = minerals of the reference), naming by the
reference (many-to-one, the default), for each scaling: 8bit, zscore, noise (divide by the
measured pixel noise), poisson (divide by sqrt(mean)), and for each ``--mixed`` mode (exclude:
mixed pixels left out of K-means, the default; keep: plain K-means) and ``--unmix`` (on: mixed
pixels labelled by the majority member of their best two-component fit, the default; off: the
nearest centre). Prints one markdown row per
kind, scaling and mode: the lowest pixel accuracy and the largest abundance error (percentage
points, against the true area fractions) by pixel counts and by the unmixed abundance
(``unmixed_percent``) over the three cluster counts.

Run::

    PYTHONPATH=. python benchmarks/bench_labels_scaling.py [--seeds 0,1] [--scalings noise,8bit] [--kinds wt%-g8] [--mixed exclude,keep] [--unmix on,off]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def evaluate(case, *, scaling: str, n_clusters: int, seed: int = 0, mixed: str = "exclude",
             unmix: bool = True) -> tuple[float, float, float]:
    """Pixel accuracy, worst abundance error (pp) by pixel counts and by unmixed fractions, of one zoo case."""
    from liberation.labels import compare_abundance, pixel_accuracy, xrf_labels

    r = xrf_labels(case.data.maps, n_clusters=n_clusters, reference=case.reference, scaling=scaling, seed=seed,
                    mixed=mixed, unmix=unmix)
    ids = {name: i for i, name in case.minerals.items()}
    lut = np.zeros(256, np.uint8)
    for i, name in r.minerals["name"].items():
        lut[int(i)] = ids.get(str(name), 0)
    truth = case.data.truth
    accuracy = pixel_accuracy(lut[r.labels], truth, mask=truth > 0)
    reference = dict(zip(case.data.fractions["name"], case.data.fractions["percent"]))
    worst = float(compare_abundance(r.labels, reference, names=r.minerals)["difference_pp"].abs().max())
    unmixed = dict(zip(r.abundance["name"], r.abundance["unmixed_percent"]))
    worst_unmixed = max(abs(unmixed.get(name, 0.0) - p) for name, p in reference.items())
    return float(accuracy), worst, float(worst_unmixed)


def main(argv=None) -> None:
    from liberation.synthetic.zoo import LABEL_ZOO, label_case

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--scalings", default="8bit,zscore,noise,poisson")
    parser.add_argument("--kinds", default=None, help="comma-separated kind names (default all)")
    parser.add_argument("--mixed", default="exclude",
                        help="comma-separated: exclude (mixed pixels left out of K-means, default), keep")
    parser.add_argument("--unmix", default="on",
                        help="comma-separated: on (mixed pixels labelled by their majority member, default), off")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    scalings = args.scalings.split(",")
    t0 = time.perf_counter()
    mixeds = args.mixed.split(",")
    unmixes = args.unmix.split(",")
    print("| kind | scaling | mixed | unmix | min accuracy (n, n+1, 2n clusters) | max abundance error (pp) | "
          "unmixed (pp) |")
    print("|---|---|---|---|---|---|---|")
    for kind in [k for k in LABEL_ZOO if args.kinds is None or k.name in args.kinds.split(",")]:
        cases = [label_case(kind, seed=s) for s in seeds]
        for scaling in scalings:
            for mixed in mixeds:
                for unmix in unmixes:
                    acc, err, err_u = [], [], []
                    for case in cases:
                        n = case.n_minerals
                        for k in (n, n + 1, 2 * n):
                            a, e, u = evaluate(case, scaling=scaling, n_clusters=k, mixed=mixed, unmix=unmix == "on")
                            acc.append(a)
                            err.append(e)
                            err_u.append(u)
                    print(f"| {kind.name} | {scaling} | {mixed} | {unmix} | {min(acc):.3f} | {max(err):.2f} | "
                          f"{max(err_u):.2f} |", flush=True)
    print(f"\nseeds {seeds}; {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
