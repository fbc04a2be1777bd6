"""Why ore/waste transfers worse than the foreground: a one-feature per-fragment diagnostic.

With one X-ray energy, ore and waste differ only in attenuation per thickness, and the
thickness of a fragment is not measured. The simplest thickness-free cue is the mean log
attenuation over the fragment divided by its equivalent diameter (thickness scales with
size). This fits the best ore/waste threshold of that cue on the project's generator and
applies it to the other generators (true fragments, automatic open beam), printing the
per-fragment accuracy with that threshold and with each generator's own best threshold,
and the two error rates. A threshold that moves between generators means the class
decision itself moves (beam hardness, thickness profile), not the image calibration.
Numpy only, about 20 s::

    python benchmarks/diag_belt_ore_waste.py
"""

from __future__ import annotations

import numpy as np

from liberation.deploy.belt.generators import make_angular_frame, make_pebble_frame
from liberation.deploy.belt.preprocess import belt_attenuation, estimate_open_beam
from liberation.deploy.belt.synthetic import make_belt_image


def fragment_features(frames) -> np.ndarray:
    """Rows (label, mean attenuation / equivalent diameter in px, area px) of fragments >= 30 px."""
    rows = []
    for f in frames:
        att = belt_attenuation(f.image, i0=float(estimate_open_beam(f.image[None])[0]))
        for k, fid in enumerate(f.fragments["id"]):
            m = f.instances == fid
            a = int(m.sum())
            if a >= 30:
                rows.append((f.fragments["label"][k], att[m].mean() / (2 * np.sqrt(a / np.pi)), a))
    return np.array(rows)


def best_threshold(r: np.ndarray) -> float:
    return float(max(np.unique(r[:, 1]), key=lambda t: ((r[:, 1] >= t) == (r[:, 0] == 1)).mean()))


def main() -> int:
    rng = np.random.default_rng(0)
    sets = {
        "project-16bit": [make_belt_image((128, 128), size_class_mm=(8, 22), coverage=0.3, seed=rng) for _ in range(40)],
        "angular-8bit": [make_angular_frame((128, 128), bits=8, seed=rng) for _ in range(40)],
        "angular-16bit": [make_angular_frame((128, 128), bits=16, seed=rng) for _ in range(40)],
        "pebble-8bit": [make_pebble_frame((128, 128), bits=8, seed=rng) for _ in range(40)],
        "pebble-16bit": [make_pebble_frame((128, 128), bits=16, seed=rng) for _ in range(40)],
    }
    feats = {k: fragment_features(v) for k, v in sets.items()}
    thr = best_threshold(feats["project-16bit"])
    print(f"threshold of mean attenuation / diameter (per px) fitted on the project's frames: {thr:.4f}")
    for k, r in feats.items():
        ore, waste = r[r[:, 0] == 1], r[r[:, 0] == 2]
        own = best_threshold(r)
        print(f"{k:14s} fragments {len(r):4d}  median ore {np.median(ore[:, 1]):.4f} waste {np.median(waste[:, 1]):.4f}  "
              f"accuracy {((r[:, 1] >= thr) == (r[:, 0] == 1)).mean():.3f} (own threshold {own:.4f}: "
              f"{((r[:, 1] >= own) == (r[:, 0] == 1)).mean():.3f})  ore->waste {(ore[:, 1] < thr).mean():.2f} "
              f"waste->ore {(waste[:, 1] >= thr).mean():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
