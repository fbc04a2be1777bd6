"""The whole correlative chain on a synthetic correlative sample (``liberation pipeline``).

CT + micro-XRF maps of the top and bottom faces -> K-means mineral labels -> MI
registration into the CT -> ``labels/sparse`` -> 3D U-Net training (phases and particles)
-> segmentation -> evaluation on interior planes against the known truth -> report.
Everything is written under ``out_dir``::

    sample.zarr/          CT, labels/sparse, labels/phases, labels/particles
    model_phases/         checkpoint + model card, metrics.csv, learning_curve.png
    model_particles/
    evaluation.json       interior-plane metrics (3D, 2D slice-by-slice, grey-value GMM), particle counts
    confusion_3d.png
    report/               liberation report
    pipeline.json         what was run, with timings
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liberation._atomic import atomic_dir, check_new_output
from liberation._progress import status
from liberation.errors import InputError
from liberation.metrics import IGNORE
from liberation.workflows._torch import set_threads
from liberation.workflows.report_store import ReportRun

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineRun:
    """What :func:`run_pipeline` made.

    Attributes
    ----------
    out_dir : Path
        The output folder.
    summary : dict
        The content of ``pipeline.json``: options, label and registration quality, evaluation
        (``"evaluation"``: interior planes, ``"3d"``, ``"grey_gmm"``), particle counts
        (``"particles"``, when trained) and timings (``"times"``, s).
    report : ReportRun or None
        The report in ``out_dir/report`` (None with ``report=False``).
    notes : tuple of str
        Notes that matter for the results (e.g. a registration flagged poor, replaced by the known pose).
    """

    out_dir: Path
    summary: dict
    report: ReportRun | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _label_faces(sample, faces: dict, *, seed: int) -> dict:
    """K-means label maps of the synthetic micro-XRF maps of the faces: face -> (labels, pixel µm, agreement)."""
    from liberation.labels import xrf_labels
    from liberation.synthetic.xrf import make_xrf_maps, signatures_from_minerals

    minerals = sample.minerals
    signatures = signatures_from_minerals(minerals)
    label_maps = {}
    for k, (face, z) in enumerate(faces.items()):
        xrf = make_xrf_maps(sample.phases[z], signatures, minerals=minerals, block=4,
                            pixel_size_um=float(sample.voxel_size_um[1]), seed=seed + k)
        lab = xrf_labels(xrf.maps, n_clusters=len(minerals), reference=signatures, minerals=minerals,
                         pixel_size_um=xrf.pixel_size_um, seed=seed)
        agreement = float((lab.labels == xrf.truth).mean())
        label_maps[face] = (lab.labels, xrf.pixel_size_um, agreement)
    return label_maps


def _register_faces(sample, label_maps: dict, faces: dict, *, register: bool, notes: list) -> tuple[list, dict]:
    """Place the label maps in the CT: MI registration, or the known pose of the synthetic faces."""
    from liberation.registration import apply_affine, register_map

    size = sample.ct.shape[0]
    planes, registrations = [], {}
    ct = np.asarray(sample.ct)
    density = sample.minerals.density_lut()
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
                notes.append(f"the MI registration of the {face} face was flagged poor "
                             f"({'; '.join(reg.messages)}); the known pose of the synthetic face is used")
                logger.info(notes[-1])
            else:
                matrix = np.asarray(reg.matrix)
        planes.append((labels, matrix, pixel))
        registrations[face] = {"matrix": np.asarray(matrix).tolist(), **entry}
    return planes, registrations


def run_pipeline(out_dir: str | os.PathLike, *, size: int = 96, seed: int = 0, preset: str = "cpu",
                 max_time: float | None = None, particles: bool = True, report: bool = True, register: bool = True,
                 voxel_size_um: float = 10.0, device: str = "auto", threads: int | None = None,
                 context: str = "volume", allow_unassigned: bool = False, overwrite: bool = False) -> PipelineRun:
    """Run the correlative chain on a synthetic sample and write everything to ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created atomically: written to a temporary folder, then renamed).
    size : int
        Edge of the cubic synthetic sample in voxels.
    seed : int
    preset : {"cpu", "gpu", "deep-xfct", "tiny"}
        Training preset.
    max_time : float, optional
        Training time budget per model in seconds.
    particles : bool
        Also train and apply the particles model (otherwise the true particles are written).
    report : bool
        Write the liberation report (:func:`liberation.workflows.report_store.run_report`) at the end.
    allow_unassigned : bool
        Report even when more than 10 % of the particle volume has no phase (the report refuses
        otherwise; the ``tiny`` preset, a smoke test of a few steps, can leave that much).
    register : bool
        Register the face maps by mutual information; when False, or when a registration is
        flagged poor, the known pose of the synthetic face is used (recorded in ``pipeline.json``).
    voxel_size_um : float
        Voxel edge in µm.
    device : {"auto", "cpu", "cuda"}
    threads : int, optional
        CPU threads for torch.
    context : {"volume", "face-matched"}
        Phase inference by sliding windows over the volume, or face-matched (each plane with
        mirrored z context, as the face-trained model saw it; see
        :func:`liberation.segmentation.inference.predict_face_matched`; ~30x slower).
    overwrite : bool
        Replace an existing ``out_dir``.

    Returns
    -------
    PipelineRun
        ``summary`` is the content of ``pipeline.json``.
    """
    from liberation.io import create_store, open_store
    from liberation.registration import accumulate_sparse_labels
    from liberation.segmentation import (
        bootstrap_particles,
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
    from liberation.workflows.report_store import run_report

    times: dict[str, float] = {}
    notes: list[str] = []
    report_run = None
    if context not in ("volume", "face-matched"):
        raise InputError(f"context={context!r}; expected 'volume' or 'face-matched'")
    if int(size) < 32:
        raise InputError(f"--size={size} is too small; expected at least 32 voxels per axis")
    if max_time is not None and not max_time > 0:
        raise InputError(f"--max-time={max_time} must be a positive number of seconds")
    check_new_output(out_dir, overwrite=overwrite, what="output folder")
    set_threads(threads)
    summary: dict = {"size": size, "seed": seed, "preset": preset, "voxel_size_um": voxel_size_um, "context": context}
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        t = time.perf_counter()
        status("1/7 synthetic sample (CT, truth)")
        sample = make_sample((size, size, size), voxel_size_um=voxel_size_um, border="cut", packing_fraction=0.4, seed=seed)
        minerals = sample.minerals
        create_store(tmp / "sample.zarr", sample.ct, voxel_size_um=sample.voxel_size_um,
                     parameters={"synthetic": sample.params})
        store = open_store(tmp / "sample.zarr", mode="r+")
        times["sample_s"] = time.perf_counter() - t

        t = time.perf_counter()
        status("2/7 micro-XRF maps of the top and bottom faces -> K-means mineral labels")
        faces = {"top": 0, "bottom": size - 1}
        label_maps = _label_faces(sample, faces, seed=seed)
        summary["label_agreement_with_truth"] = {f: v[2] for f, v in label_maps.items()}
        times["labels_s"] = time.perf_counter() - t

        t = time.perf_counter()
        status("3/7 registration of the label maps into the CT (mutual information)")
        planes, registrations = _register_faces(sample, label_maps, faces, register=register, notes=notes)
        sparse = accumulate_sparse_labels(planes, ct_shape=sample.ct.shape, voxel_size_um=sample.voxel_size_um)
        store.write_label("sparse", sparse, minerals=minerals, step="pipeline:register",
                          parameters={"faces": list(faces)})
        store.set_metadata("registrations", registrations)
        summary["registrations"] = registrations
        labelled = sparse != IGNORE
        summary["sparse_label_agreement_with_truth"] = float((sparse[labelled] == sample.phases[labelled]).mean())
        summary["sparse_planes"] = [int(z) for z in np.flatnonzero(labelled.any(axis=(1, 2)))]
        times["register_s"] = time.perf_counter() - t

        config = get_preset(preset, max_time_s=max_time) if max_time else get_preset(preset)
        t = time.perf_counter()
        status("4/7 training the phases model")
        result = train_model(sample.ct, sparse, voxel_size_um=sample.voxel_size_um, config=config, minerals=minerals,
                             seed=seed, device=device)
        save_model(result, tmp / "model_phases")
        times["train_phases_s"] = time.perf_counter() - t

        t = time.perf_counter()
        status("5/7 segmenting the phases")
        phases = segment_phases(store.image(), result.network, result.card, context=context, device=device)
        store.write_label("phases", phases, minerals=minerals, step="pipeline:segment",
                          parameters={"model": "model_phases", "context": context})
        times["segment_phases_s"] = time.perf_counter() - t

        if particles:
            t = time.perf_counter()
            status("6/7 particles: classical bootstrap, training, seeded watershed")
            boot = bootstrap_particles(sample.ct, voxel_size_um=sample.voxel_size_um)
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

        status("7/7 evaluation on interior planes and report")
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
            t = time.perf_counter()
            report_run = run_report(tmp / "sample.zarr", tmp / "report", allow_unassigned=allow_unassigned)
            notes.extend(report_run.notes)
            times["report_s"] = time.perf_counter() - t
        summary["times"] = times
        (tmp / "pipeline.json").write_text(json.dumps(summary, indent=2, default=float))
    out_dir = Path(out_dir)
    if report_run is not None:  # the report was written inside the temporary folder, now renamed
        report_run = dataclasses.replace(report_run, folder=out_dir / "report")
    return PipelineRun(out_dir=out_dir, summary=summary, report=report_run, notes=tuple(notes))
