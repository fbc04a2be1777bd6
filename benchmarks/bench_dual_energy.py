"""Benchmark: dual-energy ore/waste classification on synthetic data where thickness and grade are confounded.

Compares, over several seeds (train and test sets drawn fresh per seed):

- the classical R-value (ratio of low- to high-energy log attenuation) with an accuracy-optimal
  threshold fitted on the training set: what a sorter without a learned model uses;
- a thickness-corrected R-value (logistic regression on the R-value and the mean high-energy
  log attenuation), the usual calibration-curve refinement;
- the dual-tower network with hybrid fusion, and the same tower on one energy only (high, low).

Prints AUC, accuracy, F1, recall, precision per seed and as mean ± std, and the network's gain over
the R-value. Run with one thread (the machine is shared)::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_dual_energy.py

By default the multi-seed comparison uses a narrow network (widths 8-16-32-64, ~0.17 M
parameters) so it runs in minutes on one CPU core; ``--full-seeds N`` also trains the default
1.33 M-parameter model on the first N seeds.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def _r_features(s):
    from liberation.deploy.dual_energy.baseline import fragment_mask, log_attenuation, r_value

    m = fragment_mask(s.high)
    ah = (log_attenuation(s.high) * m).sum((1, 2)) / np.maximum(m.sum((1, 2)), 1)
    r = r_value(s.high, s.low)
    r = np.where(np.isfinite(r), r, np.nanmedian(r))
    return np.stack([r, ah, r * ah], axis=1)


def _fmt(m):
    return f"auc {m['auc']:.3f}  acc {m['accuracy']:.3f}  f1 {m['f1']:.3f}  rec {m['recall']:.3f}  prec {m['precision']:.3f}"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--widths", default="8,16,32,64", help="Tower widths of the benchmark network.")
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--fusions", default="hybrid,high,low")
    p.add_argument("--full-seeds", type=int, default=0, help="Also train the default 1.33 M model on this many seeds.")
    p.add_argument("--json", default=None, help="Write all results here.")
    p.add_argument("--speed", action="store_true", help="Only time inference (R-value, torch, onnxruntime).")
    p.add_argument("--fragments", action="store_true", help="Only the fragment-sizing accuracy and timing.")
    a = p.parse_args(argv)
    if a.speed:
        return speed(a)
    if a.fragments:
        return fragments_bench()

    import torch

    torch.set_num_threads(1)
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from liberation.deploy.dual_energy.baseline import RValueClassifier
    from liberation.deploy.dual_energy.metrics import classification_metrics, summarize_runs
    from liberation.deploy.dual_energy.model import build_dual_energy_net, count_parameters
    from liberation.deploy.dual_energy.synthetic import make_dual_energy_set
    from liberation.deploy.dual_energy.train import evaluate_model, train_dual_energy

    widths = tuple(int(w) for w in a.widths.split(","))
    small = {"widths": widths, "hidden": a.hidden}
    fusions = a.fusions.split(",")
    print(f"default model: {count_parameters(build_dual_energy_net()):,} parameters; "
          f"benchmark model (widths {widths}): {count_parameters(build_dual_energy_net(**small)):,} (hybrid)")
    print(f"data: {a.n_train} train / {a.n_test} test fragments per seed, {a.size}x{a.size} px, {a.epochs} epochs")
    runs: dict[str, list] = {}
    times: dict[str, list] = {}

    def save():
        if a.json:
            with open(a.json, "w") as fh:
                json.dump({"args": vars(a), "runs": runs, "train_seconds": times}, fh, indent=2, default=float)

    jobs = [(seed, f"net {f} (small)", {**small, "fusion": f}) for seed in a.seeds for f in fusions]
    jobs += [(seed, "net hybrid (default 1.33M)", {}) for seed in a.seeds[: a.full_seeds]]
    data = {}
    for seed in a.seeds:
        tr = make_dual_energy_set(a.n_train, size=a.size, seed=1000 + seed)
        te = make_dual_energy_set(a.n_test, size=a.size, seed=2000 + seed)
        data[seed] = (tr, te)
        base = RValueClassifier().fit(tr.high, tr.low, tr.label)
        runs.setdefault("R-value", []).append(base.evaluate(te.high, te.low, te.label))
        sc = StandardScaler().fit(_r_features(tr))
        lr = LogisticRegression(max_iter=1000).fit(sc.transform(_r_features(tr)), tr.label)
        p_lr = lr.predict_proba(sc.transform(_r_features(te)))[:, 1]
        runs.setdefault("R-value + thickness (logistic)", []).append(classification_metrics(te.label, p_lr))
        print(f"seed {seed}: ore share train {tr.label.mean():.2f}, test {te.label.mean():.2f}")
        for name in ("R-value", "R-value + thickness (logistic)"):
            print(f"  {name:34s} {_fmt(runs[name][-1])}", flush=True)
    for seed, name, cfg in jobs:
        tr, te = data[seed]
        t0 = time.perf_counter()
        res = train_dual_energy(tr.stack(), tr.label, config=cfg, epochs=a.epochs, seed=seed, show_progress=False)
        runs.setdefault(name, []).append(evaluate_model(res.model, te.stack(), te.label))
        times.setdefault(name, []).append(time.perf_counter() - t0)
        print(f"seed {seed}: {name:34s} {_fmt(runs[name][-1])}  ({times[name][-1]:.0f} s)", flush=True)
        save()
    print("\nmean ± std over seeds (test sets)")
    summary = {}
    for name, rs in runs.items():
        s = summarize_runs(rs)
        summary[name] = {"n_seeds": len(rs), **{k: list(v) for k, v in s.items()}}
        t = f"  train {np.mean(times[name]):.0f} s" if name in times else ""
        print(f"  {name:34s} " + "  ".join(f"{k} {v[0]:.3f}±{v[1]:.3f}" for k, v in s.items()) + t)
    ref = summary["R-value"]
    for name in summary:
        if name.startswith("net"):
            print(f"  {name}: AUC {summary[name]['auc'][0] / ref['auc'][0]:.2f}x, "
                  f"accuracy {summary[name]['accuracy'][0] / ref['accuracy'][0]:.2f}x the R-value's")
    save()
    return summary


def fragments_bench() -> dict:
    """Fragment sizing on synthetic belt images: accuracy vs exact truth, time vs skimage regionprops_table."""
    from skimage.measure import regionprops_table

    from liberation.deploy.fragments.distribution import percentile_size
    from liberation.deploy.fragments.sizing import (
        box_sizes,
        calibrate_box_factor,
        fragment_sizes,
        pixel_size_from_ruler,
    )
    from liberation.deploy.fragments.synthetic import make_fragment_image

    out = {}
    for seed, shape, n in ((0, (512, 512), 40), (1, (1024, 1024), 150), (2, (2048, 2048), 600)):
        sc = make_fragment_image(shape, n_fragments=n, pixel_size_um=2000.0, x63_cm=6.0, seed=seed)
        ps = pixel_size_from_ruler(*sc.ruler)
        t0 = time.perf_counter()
        df = fragment_sizes(sc.labels, pixel_size_um=ps)
        t_lib = time.perf_counter() - t0
        t0 = time.perf_counter()
        regionprops_table(sc.labels, properties=("label", "area", "feret_diameter_max", "axis_major_length",
                                                 "axis_minor_length", "bbox", "centroid"))
        t_sk = time.perf_counter() - t0
        rel = np.abs(df["area_cm2"].to_numpy() / sc.area_cm2 - 1)
        p80 = percentile_size(df["ecd_cm"], 80) / percentile_size(sc.ecd_cm, 80) - 1
        half = np.arange(len(df)) < len(df) // 2
        k = calibrate_box_factor(sc.boxes[half], df["area_px"].to_numpy()[half])
        est = box_sizes(sc.boxes[~half], pixel_size_um=ps, k=k)["area_cm2"].to_numpy()
        box_err = np.abs(est / sc.area_cm2[~half] - 1)
        row = {"fragments": len(df), "area_err_max_pct": 100 * rel.max(), "p80_err_pct": 100 * p80, "k": k,
               "box_err_median_pct": 100 * np.median(box_err), "box_err_max_pct": 100 * box_err.max(),
               "seconds_library": t_lib, "seconds_skimage_regionprops": t_sk}
        out[f"{shape[0]}x{shape[1]}"] = row
        print(f"{shape[0]}x{shape[1]}, {len(df)} fragments: area error max {row['area_err_max_pct']:.2f} %, "
              f"P80 error {row['p80_err_pct']:+.2f} %, k={k:.3f}, box error median {row['box_err_median_pct']:.1f} % "
              f"(max {row['box_err_max_pct']:.1f} %); time library {t_lib:.3f} s vs skimage regionprops_table "
              f"{t_sk:.3f} s (ratio {t_sk / t_lib:.2f})")
    return out


def speed(a, n: int = 256) -> dict:
    """Inference time per fragment of the default model (torch and onnxruntime, 1 thread) vs the R-value."""
    import tempfile

    import onnxruntime as ort
    import torch

    torch.set_num_threads(1)
    from liberation.deploy.dual_energy.baseline import r_value
    from liberation.deploy.dual_energy.export import export_onnx
    from liberation.deploy.dual_energy.model import build_dual_energy_net
    from liberation.deploy.dual_energy.synthetic import make_dual_energy_set

    s = make_dual_energy_set(n, size=a.size, seed=0)
    x = s.stack()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_dual_energy_net().eval()

    def best(fn, reps=3):
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return min(ts) / n * 1e3

    t_r = best(lambda: r_value(s.high, s.low))
    with torch.no_grad():
        t_torch = best(lambda: [model(torch.from_numpy(x[i : i + 64])) for i in range(0, n, 64)])
    with tempfile.TemporaryDirectory() as d:
        path = export_onnx(model, f"{d}/m.onnx", image_size=(a.size, a.size))
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        t_ort = best(lambda: [sess.run(None, {"transmission": x[i : i + 64]}) for i in range(0, n, 64)])
    out = {"size": a.size, "n": n, "ms_per_fragment": {"r_value": t_r, "torch": t_torch, "onnxruntime": t_ort}}
    print(f"{n} fragments {a.size}x{a.size}, 1 thread, batches of 64: R-value {t_r:.3f} ms, "
          f"torch {t_torch:.2f} ms, onnxruntime {t_ort:.2f} ms per fragment; "
          f"torch/onnxruntime {t_torch / t_ort:.2f}x, network/R-value {t_ort / t_r:.0f}x")
    return out


if __name__ == "__main__":
    main()
