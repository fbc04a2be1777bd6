"""A trained phase model evaluated on labelled planes of a store (``liberation evaluate``).

Writes one folder (atomically): ``metrics.json`` and ``confusion_<key>.png`` for the 3D
network, the same network applied slice by slice (2D) and the grey-value GMM baseline.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

from liberation._atomic import atomic_dir, check_new_output
from liberation.errors import InputError, StoreError
from liberation.metrics import IGNORE
from liberation.workflows._torch import set_threads


def evaluate_model(
    store: str | os.PathLike,
    *,
    model: str | os.PathLike,
    out: str | os.PathLike,
    truth: str = "sparse",
    planes: Sequence[int] | None = None,
    compare_2d: bool = True,
    baseline: bool = True,
    device: str = "auto",
    threads: int | None = None,
    overwrite: bool = False,
) -> dict:
    """Evaluate a phase model on labelled z planes of a store.

    Each plane is predicted by the 3D network with ``patch depth`` planes of context on both
    sides. Accuracy leaves void out; mIoU and the confusion matrix (rows truth, columns
    predicted) are over the model's classes.

    Parameters
    ----------
    store : str or Path
        The sample store (read only).
    model : str or Path
        A ``phases`` model folder.
    out : str or Path
        Folder for ``metrics.json`` and the confusion plots.
    truth : str
        Label image of the store holding the reference (255 = unknown), e.g. held-out planes.
    planes : sequence of int, optional
        z planes to evaluate (default every labelled plane of ``truth``).
    compare_2d : bool
        Also apply the network slice by slice (2D) and measure the inter-slice consistency.
    baseline : bool
        Also evaluate the grey-value GMM baseline.
    device : {"auto", "cpu", "cuda"}
    threads : int, optional
        CPU threads for torch.
    overwrite : bool
        Replace an existing output folder.

    Returns
    -------
    dict
        The content of ``metrics.json``: ``model``, ``truth``, ``planes`` and the metrics under
        ``"3d"``, ``"2d"`` (with ``interslice_consistency``) and ``"grey_baseline"``.
    """
    from liberation.io import open_store
    from liberation.segmentation.checkpoint import load_model
    from liberation.segmentation.evaluate import evaluate_planes
    from liberation.segmentation.inference import predict_slices_2d, predict_volume
    from liberation.segmentation.metrics import interslice_consistency
    from liberation.segmentation.plots import plot_confusion_matrix

    out = check_new_output(out, overwrite=overwrite, what="output folder", inputs=[store, model])
    set_threads(threads)
    s = open_store(store, mode="r")
    if not s.has_label(truth):
        raise StoreError(f"{store} has no labels/{truth}; expected the reference labels")
    outside = [z for z in planes or [] if not 0 <= int(z) < s.shape[0]]
    if outside:
        raise InputError(f"--planes {outside} lie outside the store's z planes 0..{s.shape[0] - 1}")
    network, card = load_model(model)
    if card.task != "phases":
        raise InputError(f"evaluate needs a 'phases' model; {model} was trained for {card.task!r}")
    ref = np.asarray(s.label(truth)[...])
    z_planes = list(planes or []) or [int(z) for z in range(ref.shape[0]) if (ref[z] != IGNORE).any()]
    if not z_planes:
        raise InputError(f"labels/{truth} holds no labelled plane to evaluate")
    image = s.image()
    pz = int(card.patch_size[0])
    result: dict = {"model": str(model), "truth": truth, "planes": z_planes}
    pred_planes = []
    consistency = []
    for z in z_planes:
        a, b = max(0, z - pz), min(s.shape[0], z + pz + 1)
        pred = predict_volume(image[a:b], network, card, device=device, show_progress=False)
        pred_planes.append(pred[z - a])
        if compare_2d:
            lo, hi = max(0, z - 3), min(s.shape[0], z + 4)
            p2 = predict_slices_2d(image, network, card, range(lo, hi), device=device)
            consistency.append((interslice_consistency(pred[lo - a:hi - a]), interslice_consistency(p2),
                                p2[z - lo]))
    pred_planes = np.stack(pred_planes)
    truth_planes = ref[z_planes]
    ids, names = card.class_ids, card.class_names
    result["3d"] = evaluate_planes(pred_planes, truth_planes, class_ids=ids, class_names=names,
                                   planes=range(len(z_planes)))
    if compare_2d:
        p2 = np.stack([c[2] for c in consistency])
        result["2d"] = evaluate_planes(p2, truth_planes, class_ids=ids, class_names=names, planes=range(len(z_planes)))
        result["interslice_consistency"] = {"3d": float(np.mean([c[0] for c in consistency])),
                                            "2d": float(np.mean([c[1] for c in consistency]))}
    if baseline:
        from liberation.segmentation.baseline import grey_value_baseline

        sparse = np.asarray(s.label("sparse")[...]) if s.has_label("sparse") else ref
        gb = grey_value_baseline(np.asarray(image[...]), sparse)
        result["grey_baseline"] = evaluate_planes(gb[z_planes], truth_planes, class_ids=ids, class_names=names,
                                                  planes=range(len(z_planes)))
    with atomic_dir(out, overwrite=overwrite, inputs=[store, model]) as tmp:
        (tmp / "metrics.json").write_text(json.dumps(result, indent=2, default=float))
        import matplotlib.pyplot as plt

        for key in ("3d", "2d", "grey_baseline"):
            if key in result:
                fig = plot_confusion_matrix(result[key]["confusion_normalized"], names, title=f"{key}: confusion")
                fig.savefig(tmp / f"confusion_{key}.png", dpi=100)
                plt.close(fig)
    return result


def evaluate_line(metrics: dict) -> str:
    """One line of the main figures of :func:`evaluate_model` (``liberation evaluate`` prints it).

    Parameters
    ----------
    metrics : dict
        From :func:`evaluate_model`.

    Returns
    -------
    str
    """
    line = f"3D: accuracy {metrics['3d']['accuracy']:.3f}, mIoU {metrics['3d']['miou']:.3f}"
    if "2d" in metrics:
        line += f"; 2D slice-by-slice: accuracy {metrics['2d']['accuracy']:.3f}, mIoU {metrics['2d']['miou']:.3f}"
    if "grey_baseline" in metrics:
        line += f"; grey-value GMM: accuracy {metrics['grey_baseline']['accuracy']:.3f}"
    return line
