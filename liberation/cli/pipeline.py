"""``liberation pipeline``: the whole correlative chain on the synthetic correlative sample.

CT + micro-XRF maps of the top and bottom faces -> K-means mineral labels -> MI
registration into the CT -> ``labels/sparse`` -> 3D U-Net training (phases and particles)
-> segmentation -> evaluation on interior planes against the known truth -> report.
Everything is written under OUT_DIR::

    sample.zarr/          CT, labels/sparse, labels/phases, labels/particles
    model_phases/         checkpoint + model card, metrics.csv, learning_curve.png
    model_particles/
    evaluation.json       interior-plane metrics (3D, 2D slice-by-slice, grey-value GMM), particle counts
    confusion_3d.png
    report/               liberation report
    pipeline.json         what was run, with timings
"""

from __future__ import annotations

import json
import time
import warnings

import click
import numpy as np

from liberation._atomic import atomic_dir
from liberation.errors import InputError


def _status(text: str) -> None:
    from liberation import _progress

    if _progress._ENABLED:
        click.echo(text, err=True)


def run_pipeline(out_dir, *, size: int = 96, seed: int = 0, preset: str = "cpu", max_time: float | None = None,
                 particles: bool = True, report: bool = True, register: bool = True, voxel_size_um: float = 10.0, device: str = "auto",
                 context: str = "volume", overwrite: bool = False) -> dict:
    """Run the correlative chain on a synthetic sample and write everything to ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Output folder (created atomically: written to a temporary folder, then renamed).
    size : int
        Edge of the cubic synthetic sample in voxels.
    seed : int
    preset : str
        Training preset (``cpu``, ``gpu``, ``deep-xfct``, ``tiny``).
    max_time : float, optional
        Training time budget per model in seconds.
    particles : bool
        Also train and apply the particles model.
    report : bool
        Run ``liberation report`` at the end.
    register : bool
        Register the face maps by mutual information; when False, or when a registration is
        flagged poor, the known pose of the synthetic face is used (recorded in ``pipeline.json``).
    voxel_size_um : float
    device : {"auto", "cpu", "cuda"}
    context : {"volume", "face-matched"}
        Phase inference by sliding windows over the volume, or face-matched (each plane with
        mirrored z context, as the face-trained model saw it; see
        :func:`liberation.segmentation.inference.predict_face_matched`; ~30x slower).
    overwrite : bool

    Returns
    -------
    dict
        The content of ``pipeline.json``.
    """
    from liberation.io import create_store, open_store
    from liberation.labels import xrf_labels
    from liberation.registration import accumulate_sparse_labels, apply_affine, register_map
    from liberation.segmentation import (
        classical_particles,
        evaluate_planes,
        get_preset,
        grey_value_baseline,
        instance_metrics,
        particle_targets,
        predict_volume,
        segment_phases,
        train_model,
    )
    from liberation.segmentation.checkpoint import save_model
    from liberation.segmentation.particles import instances_from_prediction
    from liberation.segmentation.plots import plot_confusion_matrix
    from liberation.synthetic import make_sample
    from liberation.synthetic.xrf import make_xrf_maps, signatures_from_minerals

    times: dict[str, float] = {}
    if context not in ("volume", "face-matched"):
        raise InputError(f"context={context!r}; expected 'volume' or 'face-matched'")
    summary: dict = {"size": size, "seed": seed, "preset": preset, "voxel_size_um": voxel_size_um, "context": context}
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        t = time.perf_counter()
        _status("1/7 synthetic sample (CT, truth)")
        sample = make_sample((size, size, size), voxel_size_um=voxel_size_um, border="cut", packing_fraction=0.4, seed=seed)
        minerals = sample.minerals
        store = create_store(tmp / "sample.zarr", sample.ct, voxel_size_um=sample.voxel_size_um,
                             parameters={"synthetic": sample.params})
        store = open_store(tmp / "sample.zarr", mode="r+")
        times["sample_s"] = time.perf_counter() - t

        t = time.perf_counter()
        _status("2/7 micro-XRF maps of the top and bottom faces -> K-means mineral labels")
        signatures = signatures_from_minerals(minerals)
        faces = {"top": 0, "bottom": size - 1}
        label_maps = {}
        for k, (face, z) in enumerate(faces.items()):
            xrf = make_xrf_maps(sample.phases[z], signatures, minerals=minerals, block=4,
                                pixel_size_um=float(sample.voxel_size_um[1]), seed=seed + k)
            lab = xrf_labels(xrf.maps, n_clusters=len(minerals), reference=signatures, minerals=minerals,
                             pixel_size_um=xrf.pixel_size_um, seed=seed)
            agreement = float((lab.labels == xrf.truth).mean())
            label_maps[face] = (lab.labels, xrf.pixel_size_um, agreement)
        summary["label_agreement_with_truth"] = {f: v[2] for f, v in label_maps.items()}
        times["labels_s"] = time.perf_counter() - t

        t = time.perf_counter()
        _status("3/7 registration of the label maps into the CT (mutual information)")
        planes, registrations = [], {}
        ct = np.asarray(sample.ct)
        density = minerals.density_lut()
        sz = float(sample.voxel_size_um[0])
        for face, (labels, pixel, _) in label_maps.items():
            centre = np.array([[0.0, labels.shape[0] * pixel / 2, labels.shape[1] * pixel / 2]])
            # the map as densities (correlates with CT grey values); the face is known to be an end of the scan
            z = faces[face]
            window = (max(0.0, (z - 3) * sz), min((size - 1) * sz, (z + 3) * sz))
            # the synthetic map pixel (r, c) averages CT pixels 4r..4r+3: its centre is 1.5 voxels in
            known = np.eye(4)
            known[:3, 3] = (z * sz, 1.5 * float(sample.voxel_size_um[1]), 1.5 * float(sample.voxel_size_um[2]))
            entry = {"method": "known pose"}
            matrix = known
            if register:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    reg = register_map(ct, density[labels].astype(np.float32), voxel_size_um=sample.voxel_size_um,
                                       pixel_size_um=pixel, axis="z", face=face, slice_range_um=window,
                                       show_progress=False)
                centre_error = float(np.abs(apply_affine(np.asarray(reg.matrix), centre) - apply_affine(known, centre)).max())
                entry = {"method": "mutual information", "poor_quality": bool(reg.poor_quality), "nmi": float(reg.nmi),
                         "contrast": float(reg.contrast), "max_error_um_at_map_centre": centre_error,
                         "messages": list(reg.messages)}
                if reg.poor_quality:
                    entry["method"] = "known pose (MI registration flagged poor; its labels were not used)"
                    click.echo(f"note: the MI registration of the {face} face was flagged poor "
                               f"({'; '.join(reg.messages)}); the known pose of the synthetic face is used", err=True)
                else:
                    matrix = np.asarray(reg.matrix)
            planes.append((labels, matrix, pixel))
            registrations[face] = {"matrix": np.asarray(matrix).tolist(), **entry}
        sparse = accumulate_sparse_labels(planes, ct_shape=sample.ct.shape, voxel_size_um=sample.voxel_size_um)
        store.write_label("sparse", sparse, minerals=minerals, step="pipeline:register",
                          parameters={"faces": list(faces)})
        store.set_metadata("registrations", registrations)
        summary["registrations"] = registrations
        labelled = sparse != 255
        summary["sparse_label_agreement_with_truth"] = float((sparse[labelled] == sample.phases[labelled]).mean())
        summary["sparse_planes"] = [int(z) for z in np.flatnonzero(labelled.any(axis=(1, 2)))]
        times["register_s"] = time.perf_counter() - t

        config = get_preset(preset, max_time_s=max_time) if max_time else get_preset(preset)
        t = time.perf_counter()
        _status("4/7 training the phases model")
        result = train_model(sample.ct, sparse, voxel_size_um=sample.voxel_size_um, config=config, minerals=minerals,
                             seed=seed, device=device)
        save_model(result, tmp / "model_phases")
        times["train_phases_s"] = time.perf_counter() - t

        t = time.perf_counter()
        _status("5/7 segmenting the phases")
        phases = segment_phases(store.image(), result.network, result.card, context=context, device=device)
        store.write_label("phases", phases, minerals=minerals, step="pipeline:segment",
                          parameters={"model": "model_phases", "context": context})
        times["segment_phases_s"] = time.perf_counter() - t

        if particles:
            t = time.perf_counter()
            _status("6/7 particles: classical bootstrap, training, seeded watershed")
            boot = classical_particles(sample.ct, voxel_size_um=sample.voxel_size_um)
            targets = particle_targets(sparse, instances=boot)
            pres = train_model(sample.ct, targets, voxel_size_um=sample.voxel_size_um, task="particles",
                               config=config, class_ids=[0, 1, 2], class_names=["outside", "particle", "contact"],
                               seed=seed, device=device)
            pres.card.training["bootstrap"] = {"classical": True, "bootstrap_planes": 0}
            save_model(pres, tmp / "model_particles")
            classes = predict_volume(store.image(), pres.network, pres.card, device=device)
            inst = instances_from_prediction(classes, voxel_size_um=sample.voxel_size_um)
            store.write_label("particles", inst, step="pipeline:segment", parameters={"model": "model_particles"})
            summary["particles"] = {"network": instance_metrics(sample.particles, inst),
                                    "classical_bootstrap": instance_metrics(sample.particles, boot)}
            times["particles_s"] = time.perf_counter() - t
        else:
            store.write_label("particles", sample.particles, step="pipeline:truth",
                              parameters={"note": "particles from the synthetic truth (--no-particles)"})

        _status("7/7 evaluation on interior planes and report")
        eval_planes = [size // 4, size // 2, 3 * size // 4]
        ids, names = result.card.class_ids, result.card.class_names
        ev = evaluate_planes(phases, sample.phases, class_ids=ids, class_names=names, planes=eval_planes)
        gmm = grey_value_baseline(sample.ct, sparse, method="gmm", seed=seed)
        evg = evaluate_planes(gmm, sample.phases, class_ids=ids, class_names=names, planes=eval_planes)
        summary["evaluation"] = {"planes": eval_planes, "3d": ev, "grey_gmm": evg}
        fig = plot_confusion_matrix(ev["confusion_normalized"], names, title="3D U-Net, interior planes")
        fig.savefig(tmp / "confusion_3d.png", dpi=100)
        import matplotlib.pyplot as plt

        plt.close(fig)
        (tmp / "evaluation.json").write_text(json.dumps(summary["evaluation"], indent=2, default=float))
        if report:
            from liberation.cli.report import report as report_cmd

            t = time.perf_counter()
            report_cmd.main(args=[str(tmp / "sample.zarr"), "--out", str(tmp / "report")], standalone_mode=False)
            times["report_s"] = time.perf_counter() - t
        summary["times"] = times
        (tmp / "pipeline.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary


@click.command("pipeline")
@click.argument("out_dir", type=click.Path())
@click.option("--size", type=int, default=96, show_default=True, help="Edge of the synthetic sample (voxels).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--preset", type=click.Choice(["cpu", "gpu", "deep-xfct", "tiny"]), default="cpu", show_default=True)
@click.option("--max-time", type=float, default=None, help="Training budget per model (s).")
@click.option("--particles/--no-particles", default=True, show_default=True)
@click.option("--report/--no-report", default=True, show_default=True)
@click.option("--register/--known-pose", default=True, show_default=True,
              help="MI registration of the face maps, or the known pose of the synthetic faces.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=int, default=None, help="CPU threads for torch.")
@click.option("--context", type=click.Choice(["volume", "face-matched"]), default="volume", show_default=True,
              help="Phase inference: sliding windows, or face-matched (mirrored z context; slower, more accurate "
                   "for models trained on end faces).")
@click.option("--overwrite", is_flag=True)
def pipeline(out_dir, size, seed, preset, max_time, particles, report, register, device, threads, context, overwrite):
    """Synthetic correlative sample: labels -> register -> train -> segment -> report, into OUT_DIR."""
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    summary = run_pipeline(out_dir, size=size, seed=seed, preset=preset, max_time=max_time, particles=particles,
                           report=report, register=register, device=device, context=context, overwrite=overwrite)
    ev = summary["evaluation"]
    click.echo(f"interior planes {ev['planes']}: 3D U-Net accuracy {ev['3d']['accuracy']:.3f} mIoU {ev['3d']['miou']:.3f}; "
               f"grey-value GMM accuracy {ev['grey_gmm']['accuracy']:.3f} mIoU {ev['grey_gmm']['miou']:.3f}")
    if "particles" in summary:
        p = summary["particles"]["network"]
        click.echo(f"particles: {p['n_pred']} found, {p['n_true']} true (count error {p['count_error']:+.1%})")
    click.echo(f"written to {out_dir}")
