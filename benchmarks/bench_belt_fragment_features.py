"""Per-fragment ore/waste from thickness-free features, on the true fragments of every generator.

Calibrates :func:`~liberation.deploy.belt.fragment_class.calibrate_fragment_classifier`
(the project's generator, physics-randomised) or uses the shipped
``DEFAULT_FRAGMENT_CLASSIFIER``, then classifies the **true** fragments (>= 30 px) of
held-out frames of the project's generator (default physics) and of the ``angular`` and
``pebble`` generators in 8 and 16 bits (automatic open beam), and prints the per-fragment
accuracy, the area-weighted accuracy and the pixel ore/waste mIoU over the true
fragments, next to the single-feature baseline of ``diag_belt_ore_waste.py`` (mean
attenuation / diameter, threshold fitted on the project's frames). Numpy only, about
2 minutes on one core::

    python benchmarks/bench_belt_fragment_features.py            # the shipped calibration
    python benchmarks/bench_belt_fragment_features.py --calibrate  # refit (seed 0) and print the record
    OMP_NUM_THREADS=1 python benchmarks/bench_belt_fragment_features.py --timing   # hybrid vs vote, 512 x 512
    # before/after in one process: the parent commit's library against this one
    mkdir /tmp/parent && git archive HEAD~1 liberation | tar -x -C /tmp/parent
    OMP_NUM_THREADS=1 python benchmarks/bench_belt_fragment_features.py --timing --compare-lib /tmp/parent
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def frames(name: str, n: int, seed: int):
    from liberation.deploy.belt.generators import make_angular_frame, make_pebble_frame
    from liberation.deploy.belt.synthetic import make_belt_image

    rng = np.random.default_rng(seed)
    if name == "project-16bit":
        return [make_belt_image((128, 128), size_class_mm=(8, 22), coverage=rng.uniform(0.15, 0.45), seed=rng)
                for _ in range(n)]
    gen, bits = name.split("-")
    f = {"angular": make_angular_frame, "pebble": make_pebble_frame}[gen]
    return [f((128, 128), bits=int(bits[:-3]), coverage=rng.uniform(0.15, 0.45), seed=rng) for _ in range(n)]


def table(frs, clf):
    """Rows (is_ore, area, P(ore), mean att / diameter) of true fragments >= 30 px."""
    from liberation.deploy.belt.fragment_class import fragment_features
    from liberation.deploy.belt.preprocess import belt_attenuation, estimate_open_beam

    rows = []
    for f in frs:
        att = belt_attenuation(f.image, i0=float(estimate_open_beam(f.image[None])[0]))
        ids, x = fragment_features(att, f.instances, pixel_size_um=f.pixel_size_um, min_pixels=30)
        lut = dict(zip(f.fragments["id"].tolist(), f.fragments["label"].tolist()))
        area = np.bincount(f.instances.ravel())[ids]
        p = clf.predict_proba(x)
        ok = np.isfinite(x).all(1)
        for i in np.flatnonzero(ok):
            rows.append((lut[int(ids[i])] == 1, area[i], p[i], x[i, 8]))
    return np.array(rows, float)


def miou(pred, y, w) -> float:
    """Mean of the ore and waste IoU over the pixels of the true fragments (``w`` = fragment areas)."""
    ious = [(w * (pred & y)).sum() / (w * (pred | y)).sum(), (w * (~pred & ~y)).sum() / (w * (~pred | ~y)).sum()]
    return float(np.mean(ious))


def _load_other_fragment_class(path: str):
    """``fragment_class.py`` of another library tree (e.g. a ``git archive`` of the parent commit), as a module."""
    import importlib.util
    import os

    spec = importlib.util.spec_from_file_location("other_fragment_class",
                                                  os.path.join(path, "liberation", "deploy", "belt", "fragment_class.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def timing(compare: str | None = None) -> int:
    """Median ms of the fragment vote and of the hybrid decision on 512 x 512 frames (probabilities from the truth).

    With ``compare`` (the root of another library tree) that tree's ``classify_fragments`` is timed in the same
    process, interleaved with this one's, and the ratio printed.
    """
    from liberation.deploy.belt.fragment_class import classify_fragments
    from liberation.deploy.belt.generators import make_angular_frame
    from liberation.deploy.belt.preprocess import belt_attenuation, estimate_open_beam
    from liberation.deploy.belt.sorting import fragment_class_vote
    from liberation.deploy.belt.synthetic import make_belt_image

    for name, f in (("angular 512 x 512", make_angular_frame((512, 512), bits=8, coverage=0.3, seed=0)),
                    ("project 512 x 512, 10-15 mm", make_belt_image((512, 512), size_class_mm=(10, 15), coverage=0.3,
                                                                    seed=0))):
        att = belt_attenuation(f.image, i0=float(estimate_open_beam(f.image[None])[0]))
        p = np.stack([(f.mask == c).astype(float) for c in range(3)]) * 0.9 + 0.05
        fns = {"fragment": lambda p=p: fragment_class_vote(p),
               "hybrid": lambda p=p, att=att: classify_fragments(p, att, network_weight=1.0)}
        if compare:
            other = _load_other_fragment_class(compare)
            fns["other"] = lambda p=p, att=att, other=other: other.classify_fragments(p, att, network_weight=1.0)
        runs = {key: [] for key in fns}
        for fn in fns.values():
            fn()
        for _ in range(5):
            for key, fn in fns.items():  # interleaved: the load moves every decision alike
                t0 = time.perf_counter()
                fn()
                runs[key].append(time.perf_counter() - t0)
        ms = {key: 1000 * float(np.median(r)) for key, r in runs.items()}
        line = (f"{name}: {len(f.fragments['id'])} fragments; fragment vote {ms['fragment']:.0f} ms, "
                f"hybrid {ms['hybrid']:.0f} ms (x {ms['hybrid'] / ms['fragment']:.2f})")
        if compare:
            line += f"; {compare}: hybrid {ms['other']:.0f} ms (this / that x {ms['hybrid'] / ms['other']:.2f})"
        print(line, flush=True)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibrate", action="store_true", help="refit the classifier and print its record")
    ap.add_argument("--n-calibrate", type=int, default=400)
    ap.add_argument("--no-detector", action="store_true", help="calibrate without detector randomisation")
    ap.add_argument("--n-test", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timing", action="store_true",
                    help="only time the hybrid decision against the fragment vote on 512 x 512 frames")
    ap.add_argument("--compare-lib", default=None,
                    help="with --timing: root of another library tree (e.g. `git archive` of the parent) timed alike")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.timing:
        return timing(args.compare_lib)

    from liberation.deploy.belt.fragment_class import DEFAULT_FRAGMENT_CLASSIFIER, calibrate_fragment_classifier

    t0 = time.perf_counter()
    clf = DEFAULT_FRAGMENT_CLASSIFIER
    if args.calibrate or clf is None:
        clf = calibrate_fragment_classifier(args.n_calibrate, seed=args.seed, detector=not args.no_detector)
        print(json.dumps(clf.to_dict()))
        print(f"calibrated in {time.perf_counter() - t0:.0f} s", flush=True)
    results = {}
    base = None
    for name in ("project-16bit", "angular-8bit", "angular-16bit", "pebble-8bit", "pebble-16bit"):
        r = table(frames(name, args.n_test, args.seed + 7000), clf)
        y, w, p, f = r[:, 0] > 0, r[:, 1], r[:, 2] >= 0.5, r[:, 3]
        if base is None:  # single-feature threshold fitted on the project's frames
            base = max(np.unique(f), key=lambda t: ((f >= t) == y).mean())
        b = f >= base

        results[name] = {"fragments": int(len(y)), "accuracy": float((p == y).mean()),
                         "area_accuracy": float((w * (p == y)).sum() / w.sum()), "miou_true_fragments": miou(p, y, w),
                         "baseline_accuracy": float((b == y).mean()), "baseline_miou": miou(b, y, w)}
        print(f"{name:14s} n {len(y):4d} features: accuracy {results[name]['accuracy']:.3f} area-weighted "
              f"{results[name]['area_accuracy']:.3f} mIoU {results[name]['miou_true_fragments']:.3f} | "
              f"att/diameter: accuracy {results[name]['baseline_accuracy']:.3f} mIoU {results[name]['baseline_miou']:.3f}",
              flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"classifier": clf.to_dict(), "results": results, "seconds": time.perf_counter() - t0}, fh,
                      indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
