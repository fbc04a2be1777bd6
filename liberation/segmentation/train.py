"""Training of a 3D U-Net on sparse labels (loss on labelled voxels only). Imports torch."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from liberation._progress import progress
from liberation._validation import as_voxel_size, make_rng
from liberation.errors import InputError, require
from liberation.segmentation.card import ModelCard
from liberation.segmentation.config import TrainConfig, get_preset
from liberation.segmentation.metrics import confusion_matrix, phase_metrics
from liberation.segmentation.normalize import apply_normalization, robust_percentiles
from liberation.segmentation.patches import extract_patch, sample_patch_origins, split_validation
from liberation.segmentation.targets import IGNORE, encode_targets, phase_classes

__all__ = ["TrainResult", "train_model", "resolve_device", "baseline_verdict", "choose_delivered", "DELIVER_CHOICES"]

#: Values of ``train_model(deliver=...)``.
DELIVER_CHOICES = ("best", "network", "pixel-classifier")

#: Clock of the training loop (seconds); a module attribute so tests can simulate a slow machine.
_clock = time.perf_counter

#: Wall-clock budget (seconds) of the pixel classifier's auto-context candidate when the config
#: names none (``config.extra["context_budget_s"]``; 0 = never tried). The cpu preset's whole run
#: is meant to take under 10 minutes on 2 quiet cores, the network about 8 of them.
CONTEXT_BUDGET_S = 120.0

#: Estimated cost of the auto-context stage added to the one-stage classifier, as a multiple of the
#: one-stage training time (the added part measured 1.8-3.4x on the sample zoo at 96^3, CPU time, docs/segmentation.md;
#: an estimate, used only to skip the candidate on a slow machine or a large labelled area).
CONTEXT_COST_RATIO = 3.0

#: The same estimate for the 3D auto-context stage (``context_axes="zyx"``: stage 1 on the planes within the
#: smoothing reach of the labelled ones), the added part measured 4.3-12.4x at 96^3 (session 8, CPU time).
CONTEXT_3D_COST_RATIO = 10.0

#: The auto-context candidates ``train`` tries, in order (cheapest first: it wins ties): in-plane, then 3D
#: smoothing of the stage-1 probabilities, each with 2 folds and ``CONTEXT_SIGMAS``.
CONTEXT_CANDIDATES = ("yx", "zyx")


@dataclass
class TrainResult:
    """Outcome of :func:`train_model`.

    Attributes
    ----------
    network : torch.nn.Module
        The network with the best weights loaded (on the CPU, eval mode).
    card : ModelCard
    history : list of dict
        Per-epoch metrics: epoch, train_loss, val_loss, val_accuracy, val_miou, lr, time_s.
    checkpoints : list of dict
        The best ``keep_best`` checkpoints: ``{"epoch", "val_loss", "state_dict"}``, best first.
    notes : list of str
        Warnings for the user, one line each: stopped by ``max_time_s`` before the defined
        work was done, or a model that does not beat the classical baseline on validation.
    classifier : PixelClassifier or None
        The delivered classical method when it is not the network: the pixel classifier
        (``card.validation["delivered"] == "pixel-classifier"``) or the grey-value GMM as a
        pixel classifier on the grey value (``"grey-gmm"``,
        :func:`liberation.segmentation.baseline.grey_gmm_classifier`); else None.
    candidates : dict
        The classical candidates validated beside the network, delivered or not:
        ``"pixel-classifier"`` and ``"grey-gmm"`` -> PixelClassifier (empty with ``baseline=False``).
    """

    network: object
    card: ModelCard
    history: list = field(default_factory=list)
    checkpoints: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    classifier: object = None
    candidates: dict = field(default_factory=dict)

    @property
    def best_epoch(self) -> int | None:
        return self.checkpoints[0]["epoch"] if self.checkpoints else None


def resolve_device(device: str | None = None) -> str:
    """``"cuda"`` when available (or asked), else ``"cpu"``."""
    torch = require("torch", "ml")
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise InputError(f"device={device!r}; expected 'auto', 'cpu' or 'cuda'")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device={device!r} but CUDA is not available; use device='cpu' or 'auto'")
    return str(device)


def baseline_verdict(model: dict, baseline: dict | None) -> str | None:
    """A warning line when a model does not beat the classical baseline, else None.

    Parameters
    ----------
    model, baseline : dict
        Validation metrics with ``accuracy`` and ``miou`` (fractions); ``baseline`` None = no
        baseline (no warning).

    Returns
    -------
    str or None
        The model beats the baseline when its validation accuracy and mIoU both reach the
        baseline's; otherwise a one-line warning naming both pairs of numbers.
    """
    if not baseline or "accuracy" not in baseline:
        return None
    acc, miou = float(model["accuracy"]), float(model["miou"])
    b_acc, b_miou = float(baseline["accuracy"]), float(baseline["miou"])
    if acc >= b_acc and miou >= b_miou:
        return None
    return (f"the model (validation accuracy {acc:.3f}, mIoU {miou:.3f}) does not beat the classical baseline, "
            f"a pixel classifier trained on the same planes ({b_acc:.3f}, {b_miou:.3f}); train longer (--epochs), "
            "label more planes or check the labels")


def choose_delivered(model: dict, baseline: dict | None, *, task: str = "phases",
                     deliver: str = "best", gmm: dict | None = None) -> tuple[str, str]:
    """Which method a phase model folder delivers: the network, the pixel classifier or the grey-value GMM.

    Parameters
    ----------
    model, baseline : dict
        Validation metrics (``accuracy``, ``miou``, fractions) of the network and of the
        pixel classifier on the same validation voxels; ``baseline`` None or without
        ``accuracy`` = no classifier.
    task : {"phases", "particles"}
        Particle models always deliver the network (their classes feed a watershed).
    deliver : {"best", "network", "pixel-classifier"}
        ``best``: the candidate with the highest validation mIoU, then accuracy; ties go to
        the network, then the pixel classifier. The other two force the method (the
        classifier only when there is one).
    gmm : dict, optional
        Validation metrics of the grey-value Gaussian mixture on the same voxels, a third
        candidate of ``best`` (None or without ``accuracy`` = none). So the delivered method
        scores at least as high as each candidate on the validation voxels, by construction.

    Returns
    -------
    method : {"network", "pixel-classifier", "grey-gmm"}
    reason : str
        One sentence, with the numbers of every validated candidate.
    """
    if deliver not in DELIVER_CHOICES:
        raise InputError(f"deliver={deliver!r}; expected one of {', '.join(DELIVER_CHOICES)}")
    if task != "phases":
        return "network", f"a {task} model always delivers the network"
    candidates = [("network", model)]
    if baseline and "accuracy" in baseline:
        candidates.append(("pixel-classifier", baseline))
    elif deliver == "pixel-classifier":
        raise InputError("deliver='pixel-classifier' but no pixel classifier was trained "
                         f"({(baseline or {}).get('skipped', 'baseline off')})")
    if gmm and "accuracy" in gmm:
        candidates.append(("grey-gmm", gmm))
    if len(candidates) == 1:
        return "network", "no pixel classifier was validated"
    names = {"network": "the network", "pixel-classifier": "the pixel classifier", "grey-gmm": "the grey-value GMM"}

    scores = ", ".join(f"{float(m['miou']):.4f} / {float(m['accuracy']):.4f} for {names[n]}" for n, m in candidates)
    scores = f"validation mIoU / accuracy {scores}, on the same validation voxels"
    if baseline and (baseline.get("context") or {}).get("kept"):
        scores += "; the pixel classifier includes its auto-context stage (kept on the validation voxels)"
    if deliver != "best":
        return deliver, f"forced (deliver={deliver!r}); {scores}"
    # max() keeps the first of equal keys: ties go to the network, then the pixel classifier
    best = max(candidates, key=lambda c: (float(c[1]["miou"]), float(c[1]["accuracy"])))[0]
    if best == "network":
        return "network", f"the network scored at least as high: {scores}"
    return best, f"{names[best]} scored higher: {scores}"


def _validation_metrics(predicted, coords, val_t, val_origins, patch, *, class_ids, class_names) -> dict:
    """Metrics of label values predicted at the validation voxels ``coords``, on the network's validation patches."""
    pred_vol = np.full(val_t.shape, IGNORE, dtype=np.uint8)
    pred_vol[tuple(coords.T)] = encode_targets(predicted, class_ids)
    truth = np.stack([extract_patch(val_t, o, patch, fill=IGNORE) for o in val_origins])
    pred = np.stack([extract_patch(pred_vol, o, patch, fill=IGNORE) for o in val_origins])
    cm = confusion_matrix(truth, pred, class_ids=range(len(class_ids)), mask=truth != IGNORE)
    m = phase_metrics(cm, class_names=class_names, void_index=0)
    return {k: v for k, v in m.items() if k != "confusion"}


def _grey_gmm_candidate(image, train_labels, val_t, val_origins, patch, *, class_ids, class_names, norm,
                        seed) -> tuple[dict, object]:
    """Validation metrics of a grey-value Gaussian mixture trained on the training labels, and the mixture as a
    :class:`~liberation.segmentation.pixel_classifier.PixelClassifier` (what a model folder stores)."""
    from liberation.segmentation.baseline import fit_grey_gmm, grey_gmm_classifier
    from liberation.segmentation.pixel_classifier import classify_labelled_voxels

    t0 = _clock()
    labels = np.where(np.isin(train_labels, class_ids), train_labels, IGNORE).astype(np.uint8)
    coords = np.argwhere(labels != IGNORE)
    y = labels[tuple(coords.T)]
    if len(np.unique(y)) < 2:
        return {"method": "grey-gmm", "skipped": "the training labels hold a single class"}, None
    rng = make_rng(seed)
    if len(coords) > 200_000:
        keep = np.sort(rng.choice(len(coords), size=200_000, replace=False))
        coords, y = coords[keep], y[keep]
    values = _values_at(image, coords)
    model = fit_grey_gmm(apply_normalization(values, norm), y, seed=rng)
    classifier = grey_gmm_classifier(model, norm, info={"samples": int(len(y))})
    predicted, vcoords = classify_labelled_voxels(image, classifier, val_t)
    out = {"method": "grey-gmm",
           "description": "Gaussian mixture on the grey value alone, one component per class, trained on the "
                          "training labels (liberation.segmentation.baseline.fit_grey_gmm)",
           **_validation_metrics(predicted, vcoords, val_t, val_origins, patch, class_ids=class_ids,
                                 class_names=class_names),
           "training_samples": int(len(y)), "seconds": float(_clock() - t0)}
    return out, classifier


def _values_at(image, coords) -> np.ndarray:
    """Grey values of ``image`` (numpy or zarr) at voxels ``coords`` (m, 3), read plane by plane."""
    out = np.empty(len(coords), dtype=np.float64)
    for z in np.unique(coords[:, 0]):
        rows = np.flatnonzero(coords[:, 0] == z)
        plane = np.asarray(image[int(z)])
        out[rows] = plane[coords[rows, 1], coords[rows, 2]]
    return out


def _pixel_baseline(image, train_labels, val_t, val_origins, patch, *, class_ids, class_names, norm, seed,
                    classifier=None, context_budget_s: float = CONTEXT_BUDGET_S) -> tuple[dict, object]:
    """Validation metrics of a pixel classifier trained on the training labels (the classical baseline).

    Two feature sets are candidates: the default one (filter and texture features) and the plain
    filter features (``texture=()``); the one with the better validation accuracy (then mIoU; the
    plain set on a tie) is kept. The texture features help on textured minerals but, with few
    labelled voxels on simple samples, the trees can split on them at phase boundaries (an exact
    two-phase sample went from 1.000 to 0.979 with them), so the choice is measured per dataset.
    Then the auto-context second stage on the kept feature set (:func:`_context_candidate`:
    within ``context_budget_s``, in-plane smoothing) is kept when it scores higher; the
    ``"context"`` entry of the metrics records whether it was tried, kept, and why.
    Evaluated on exactly the voxels (and patches) the network is validated on. Returns the
    metrics (``{"method", "skipped": reason}`` when the training labels hold a single class)
    and the classifier (None then).
    """
    from liberation.segmentation.pixel_classifier import train_pixel_classifier

    t0 = _clock()
    labels = np.where(np.isin(train_labels, class_ids), train_labels, IGNORE).astype(np.uint8)
    candidates = []
    try:
        if classifier is None:
            classifier = train_pixel_classifier(image, labels, norm=norm, seed=seed)
        candidates.append(classifier)
        if classifier.texture:
            candidates.append(train_pixel_classifier(image, labels, norm=norm, seed=seed, texture=()))
    except InputError as exc:
        return {"method": "pixel-classifier", "skipped": str(exc)}, None
    scored = []

    from liberation.segmentation.pixel_classifier import POTTS_ITERATIONS, POTTS_WEIGHTS, _classify_labelled_potts

    weights = (0.0,) + tuple(float(w) for w in POTTS_WEIGHTS)
    # the validation metrics of every candidate at every Potts weight, from one run of the candidate (the
    # smoothing of the kept classifier is then chosen without classifying the validation voxels again)
    by_weight: dict = {}

    def score_weights(clf, ws=weights):
        if id(clf) not in by_weight:
            # only the validation voxels are classified (they may lie on tilted planes crossing many z)
            preds, coords = _classify_labelled_potts(image, clf, val_t, weights=weights, iterations=POTTS_ITERATIONS)
            by_weight[id(clf)] = (clf, {w: _validation_metrics(p, coords, val_t, val_origins, patch,
                                                               class_ids=class_ids, class_names=class_names)
                                        for w, p in preds.items()})
        return {float(w): by_weight[id(clf)][1][float(w)] for w in ws}

    def score(clf):
        return score_weights(clf, (0.0,))[0.0]

    for clf in candidates:
        scored.append((score(clf), clf))
    # the plain set wins ties (fewer features); max() keeps the first of equal keys, so try it first
    order = sorted(range(len(scored)), key=lambda i: len(scored[i][1].texture))
    best = max(order, key=lambda i: (scored[i][0]["accuracy"], scored[i][0]["miou"]))
    metrics, classifier = scored[best]
    feature_sets = {("texture" if c.texture else "plain"): {"accuracy": m["accuracy"], "miou": m["miou"]}
                    for m, c in scored}
    context = _context_candidate(image, labels, classifier, metrics, score, norm=norm, seed=seed,
                                 budget_s=context_budget_s)
    for clf in candidates:  # the labelled voxels' features kept for add_context_stage: not needed any more
        clf.__dict__.pop("_labelled", None)
    if context.get("kept"):
        metrics, classifier = context.pop("metrics"), context.pop("classifier")
    else:
        context.pop("metrics", None)
        context.pop("classifier", None)

    smoothing = _potts_candidate(classifier, metrics, score_weights)
    by_weight.clear()
    if smoothing.get("kept"):
        metrics, classifier = smoothing.pop("metrics"), smoothing.pop("classifier")
    out = {"method": "pixel-classifier",
           "description": "HistGradientBoosting on multi-scale filter features"
                          + (f" and the texture features {', '.join(classifier.texture)}" if classifier.texture else "")
                          + (" with an auto-context second stage" if classifier.context_model is not None else "")
                          + (f" and an in-plane Potts smoothing (weight {classifier.potts_weight:g})"
                             if classifier.potts_weight else "")
                          + ", trained on the training labels (liberation.segmentation.pixel_classifier); "
                          "feature set and auto-context chosen on the validation voxels",
           **metrics,
           "feature_sets": feature_sets,
           "context": context,
           "smoothing": smoothing,
           "training_samples": int(classifier.info["samples"]), "seconds": float(_clock() - t0)}
    return out, classifier


def _context_candidate(image, labels, classifier, metrics: dict, score, *, norm, seed, budget_s: float) -> dict:
    """Try the auto-context second stage on the chosen feature set; keep the best only when it scores higher.

    Two candidates (:data:`CONTEXT_CANDIDATES`): the stage-1 probabilities smoothed within each z plane
    (``"yx"``), then in 3D (``"zyx"``: a plane's prediction needs stage 1 on its neighbour planes too;
    on the texture kinds of the sample zoo it corrects grain slivers and boundaries the plane alone
    leaves ambiguous, docs/segmentation.md). Each is skipped (with the reason) when its estimated
    training time, :data:`CONTEXT_COST_RATIO` (in-plane) or :data:`CONTEXT_3D_COST_RATIO` (3D) times the
    one-stage classifier's, exceeds what is left of ``budget_s``. The one with the higher validation
    mIoU (then accuracy: the delivery rule's order) is kept when it beats the one-stage classifier's
    accuracy (then mIoU, as before); ties keep the cheaper (one stage, then in-plane). Returns ``{"tried": bool, "kept": bool, "reason": str, "axes", ...,
    "candidates": {axes: record}}``; ``accuracy``/``miou``/``axes`` are those of the kept candidate
    (else the best tried), ``seconds`` the time of all tried, and ``metrics``/``classifier`` (popped by
    the caller).
    """
    from liberation.segmentation.pixel_classifier import CONTEXT_SIGMAS, add_context_stage

    one_s = float(classifier.info.get("seconds", 0.0))
    ratios = {"yx": CONTEXT_COST_RATIO, "zyx": CONTEXT_3D_COST_RATIO}
    out = {"tried": False, "kept": False, "sigmas": [float(c) for c in CONTEXT_SIGMAS], "axes": CONTEXT_CANDIDATES[0],
           "folds": 2, "estimated_s": ratios[CONTEXT_CANDIDATES[0]] * one_s, "budget_s": float(budget_s)}
    if classifier.context_model is not None:
        return {**out, "reason": "the classifier already has a second stage"}
    if not budget_s > 0:
        return {**out, "reason": f"auto-context off (context budget {budget_s:g} s)"}
    t0 = _clock()
    records, tried = {}, []
    for axes in CONTEXT_CANDIDATES:
        estimate = ratios[axes] * one_s
        left = float(budget_s) - (_clock() - t0)
        rec = {"tried": False, "estimated_s": estimate}
        records[axes] = rec
        if estimate > left:
            rec["reason"] = (f"skipped: estimated {estimate:.0f} s ({ratios[axes]:g} x the one-stage classifier's "
                             f"{one_s:.1f} s) exceeds the budget of {budget_s:g} s ({max(left, 0.0):.0f} s left)")
            continue
        t1 = _clock()
        try:
            # stage 1 is the one-stage classifier already scored; two folds keep the added cost a few
            # times the one-stage training (docs/segmentation.md)
            clf = add_context_stage(image, labels, classifier, context_sigmas=CONTEXT_SIGMAS, context_axes=axes,
                                    context_folds=2, seed=seed)
        except InputError as exc:
            rec["reason"] = f"skipped: {exc}"
            continue
        m = score(clf)
        rec.update(tried=True, accuracy=m["accuracy"], miou=m["miou"], seconds=float(_clock() - t1))
        tried.append((axes, m, clf))
    out["candidates"] = records
    first = records[CONTEXT_CANDIDATES[0]]
    if not tried:
        return {**out, "reason": first.get("reason", "skipped")}
    # the better candidate by the delivery rule's order, mIoU then accuracy (a 3D smoothing that wipes out a
    # thin rare class can gain accuracy and lose mIoU); max() keeps the first of equal keys: the cheaper wins ties
    axes, m, clf = max(tried, key=lambda t: (t[1]["miou"], t[1]["accuracy"]))
    out.update(tried=True, axes=axes, estimated_s=records[axes]["estimated_s"], accuracy=m["accuracy"],
               miou=m["miou"], seconds=float(_clock() - t0))
    one = f"{metrics['accuracy']:.4f} / {metrics['miou']:.4f}"
    scores = ", ".join(f"{a} {r['accuracy']:.4f} / {r['miou']:.4f}" if r["tried"] else f"{a} {r['reason']}"
                       for a, r in records.items())
    where = "in-plane" if axes == "yx" else "3D"
    if (m["accuracy"], m["miou"]) > (metrics["accuracy"], metrics["miou"]):
        return {**out, "kept": True, "metrics": m, "classifier": clf,
                "reason": f"kept ({where} smoothing): validation accuracy / mIoU with auto-context {scores}; "
                          f"{one} without"}
    return {**out, "reason": f"not kept: validation accuracy / mIoU with auto-context {scores}; {one} without "
                             "(ties keep the one-stage classifier)"}


#: A Potts weight is not kept when it lowers any class's validation recall by more than this (the rare-class
#: guard: a smoothing that wipes out a thin rare class can still raise the accuracy).
POTTS_RECALL_DROP = 0.05


def _potts_candidate(classifier, metrics: dict, score_weights) -> dict:
    """Score the in-plane Potts smoothing (:func:`~liberation.segmentation.pixel_classifier.potts_mean_field`)
    of the kept classifier's probabilities at :data:`~liberation.segmentation.pixel_classifier.POTTS_WEIGHTS`
    on the validation voxels; keep the weight with the best accuracy (then mIoU) among those that lower
    neither the accuracy nor the mIoU, lower no class's recall by more than :data:`POTTS_RECALL_DROP`, and
    beat the unsmoothed classifier (accuracy, then mIoU; ties keep it unsmoothed, then the smaller weight).

    ``score_weights(classifier, weights)`` returns ``{weight: validation metrics}`` (one run of the
    classifier, every weight). Returns ``{"tried", "kept", "weight", "iterations", "reason", "candidates":
    {weight: {"accuracy", "miou", "eligible", ...}}}`` and, when kept, ``metrics``/``classifier`` (popped
    by the caller). ``train`` scores every candidate at every weight in the one pass that classifies its
    validation voxels, so this choice adds only the smoothing itself (a few in-plane filters per plane).
    """
    from dataclasses import replace

    from liberation.segmentation.pixel_classifier import POTTS_ITERATIONS, POTTS_WEIGHTS

    t0 = _clock()
    out = {"tried": False, "kept": False, "method": "potts-mean-field", "neighbours": "8 in-plane", "weight": 0.0,
           "iterations": int(POTTS_ITERATIONS)}
    if not hasattr(classifier, "potts_weight") or classifier.potts_weight:
        return {**out, "reason": "the classifier already has a smoothing"}
    scored = score_weights(classifier, (0.0,) + tuple(float(w) for w in POTTS_WEIGHTS))
    base = scored.pop(0.0)
    recall0 = base.get("per_class_accuracy", {})
    records, eligible = {}, []
    for w, m in scored.items():
        drops = {c: recall0[c] - r for c, r in m.get("per_class_accuracy", {}).items()
                 if c in recall0 and np.isfinite(r) and np.isfinite(recall0[c])}
        worst = max(drops.items(), key=lambda t: t[1], default=(None, 0.0))
        ok = (m["accuracy"] >= base["accuracy"] and m["miou"] >= base["miou"] and worst[1] <= POTTS_RECALL_DROP
              and (m["accuracy"], m["miou"]) > (base["accuracy"], base["miou"]))
        records[f"{w:g}"] = {"accuracy": m["accuracy"], "miou": m["miou"], "eligible": bool(ok),
                             "largest_recall_drop": float(worst[1]), "class": worst[0]}
        if ok:
            eligible.append((w, m))
    out.update(tried=True, candidates=records, seconds=float(_clock() - t0),
               unsmoothed={"accuracy": base["accuracy"], "miou": base["miou"]})
    scores = ", ".join(f"weight {w} {r['accuracy']:.4f} / {r['miou']:.4f}" for w, r in records.items())
    one = f"{base['accuracy']:.4f} / {base['miou']:.4f}"
    if not eligible:
        return {**out, "reason": f"not kept: validation accuracy / mIoU {scores}; {one} without (a weight is kept "
                                 "only when it raises the accuracy or mIoU, lowers neither, and lowers no class's "
                                 f"recall by more than {POTTS_RECALL_DROP:g})"}
    w, m = max(eligible, key=lambda t: (t[1]["accuracy"], t[1]["miou"]))
    clf = replace(classifier, potts_weight=float(w), potts_iterations=int(POTTS_ITERATIONS))
    return {**out, "kept": True, "weight": float(w), "metrics": m, "classifier": clf,
            "reason": f"kept weight {w:g}: validation accuracy / mIoU {scores}; {one} without"}


def _context_budget(config) -> float:
    """Seconds the auto-context candidate may take: ``config.extra["context_budget_s"]``, else
    :data:`CONTEXT_BUDGET_S` (at most a quarter of ``config.max_time_s`` when that is set)."""
    extra = dict(getattr(config, "extra", None) or {})
    if "context_budget_s" in extra:
        value = float(extra["context_budget_s"])
        if not value >= 0:
            raise InputError(f"context_budget_s={value!r}; expected seconds >= 0 (0 = no auto-context)")
        return value
    budget = CONTEXT_BUDGET_S
    if config.max_time_s is not None:
        budget = min(budget, 0.25 * float(config.max_time_s))
    return budget


def _batch(image, targets, origins, patch, norm):
    xs = [apply_normalization(extract_patch(image, o, patch), norm) for o in origins]
    ts = [extract_patch(targets, o, patch, fill=IGNORE) for o in origins]
    return np.stack(xs)[:, None], np.stack(ts).astype(np.int64)


def train_model(
    image,
    sparse,
    *,
    voxel_size_um,
    task: str = "phases",
    config: TrainConfig | str = "cpu",
    minerals=None,
    class_ids=None,
    class_names=None,
    val_planes=None,
    seed: int = 0,
    device: str | None = "auto",
    baseline: bool = True,
    deliver: str = "best",
    show_progress: bool = True,
) -> TrainResult:
    """Train a 3D U-Net on sparse labels.

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        CT grey values (numpy or zarr).
    sparse : array-like of uint8, shape (z, y, x)
        Training labels, 255 = unlabelled (label values, e.g. phase ids), on planes in any
        position: end faces, interior planes, tilted planes rasterised from a registration
        pose (:func:`liberation.registration.sparse.labels_to_sparse`).
    voxel_size_um : float or tuple
        Voxel size in µm (recorded in the model card).
    task : {"phases", "particles"}
        Recorded in the card; for ``particles`` pass the targets of
        :func:`liberation.segmentation.particles.particle_targets` (0, 1, 2, 255).
    config : TrainConfig or str
        Configuration or preset name (``cpu``, ``gpu``, ``deep-xfct``, ``tiny``).
    minerals : MineralList, optional
        Minerals of the phase ids (names, densities), copied into the card.
    class_ids, class_names : list, optional
        Classes; default: void + the ids present in ``sparse`` (phases) or
        0/1/2 = outside/particle/contact (particles).
    val_planes : sequence of int, optional
        Labelled z planes kept for validation (default: automatic, whole labelled sheets
        or a band of each, wherever the planes lie and however they are tilted; see
        :func:`liberation.segmentation.patches.split_validation`).
    seed : int
        Seed of weights, patch sampling and augmentation. On the CPU the run is
        deterministic for a given seed and thread count (``torch.set_num_threads``),
        whatever the machine's speed or load: the work is ``config.max_epochs x
        config.steps_per_epoch`` steps unless ``config.max_time_s`` stops it.
    device : {"auto", "cpu", "cuda"}
        Where to train; CUDA trains with mixed precision (``config.amp``).
    baseline : bool
        Also train the classical baseline, a pixel classifier on the training labels
        (:mod:`liberation.segmentation.pixel_classifier`; the bootstrap's own classifier when
        there is one), and validate it on the same voxels as the network. Its metrics go to
        ``card.validation["baseline"]``; a network that does not beat it gets a note. The
        classifier's auto-context stage (in-plane, then 3D: :data:`CONTEXT_CANDIDATES`,
        :func:`~liberation.segmentation.pixel_classifier.add_context_stage`) is tried within ``config.extra["context_budget_s"]`` (default :data:`CONTEXT_BUDGET_S`)
        and kept when it scores higher; ``["baseline"]["context"]`` records whether it was
        tried, kept, and why.
    deliver : {"best", "network", "pixel-classifier"}
        Which method the model delivers (:func:`choose_delivered`): by default the one of
        the network, the pixel classifier and the grey-value GMM (both trained on the same
        training labels, ``baseline=True``) with the best validation mIoU (then accuracy),
        phases only. The choice and its reason go to ``card.validation["delivered"]`` and
        ``["delivery"]``, the GMM's metrics to ``["grey_gmm"]``; a delivered classical method
        is returned in ``TrainResult.classifier``.
    show_progress : bool
        Progress bar over the optimiser steps (total = the defined work), with the epoch.

    Returns
    -------
    TrainResult
        ``card.training["work"]`` records the work done (epochs, steps, seconds, threads,
        ``stopped_by`` = ``"work"``, ``"early_stopping"`` or ``"max_time"``), ``card.validation``
        the kept model's validation metrics and the baseline's, ``notes`` the warnings.
    """
    torch = require("torch", "ml")
    from liberation import __version__
    from liberation.segmentation.augment import augment_batch
    from liberation.segmentation.losses import masked_loss
    from liberation.segmentation.model import build_network, network_params

    if isinstance(config, str):
        config = get_preset(config)
    if deliver not in DELIVER_CHOICES:
        raise InputError(f"deliver={deliver!r}; expected one of {', '.join(DELIVER_CHOICES)}")
    if deliver == "pixel-classifier" and (task != "phases" or not baseline):
        raise InputError(f"deliver='pixel-classifier' needs task='phases' and baseline=True (task={task!r}, "
                         f"baseline={baseline!r})")
    if task not in ("phases", "particles"):
        raise InputError(f"task={task!r}; expected 'phases' or 'particles'")
    vs = as_voxel_size(voxel_size_um)
    if tuple(image.shape) != tuple(sparse.shape) or len(image.shape) != 3:
        raise InputError(f"image shape {tuple(image.shape)} and sparse shape {tuple(sparse.shape)} must be equal (z, y, x)")
    sparse = np.asarray(sparse)
    if class_ids is None:
        if task == "phases":
            class_ids, auto_names = phase_classes(sparse, minerals=minerals)
        else:
            class_ids, auto_names = [0, 1, 2], ["outside", "particle", "contact"]
        class_names = class_names or auto_names
    class_ids = [int(c) for c in class_ids]
    class_names = list(class_names) if class_names is not None else [str(c) for c in class_ids]
    if len(class_names) != len(class_ids):
        raise InputError(f"class_names has {len(class_names)} entries but class_ids has {len(class_ids)}")
    train_labels, val_labels, split = split_validation(sparse, val_fraction=config.val_fraction, val_planes=val_planes)
    rng = make_rng(seed)
    norm = robust_percentiles(image, low=config.percentiles[0], high=config.percentiles[1], seed=rng)
    bootstrap = None
    classifier = None
    true_train_labels = train_labels
    if task == "phases" and config.bootstrap_planes > 0:
        from liberation.segmentation.pixel_classifier import bootstrap_phase_labels, train_pixel_classifier

        # trained on the training part only; validation stays on held-out true labels. The
        # same classifier is the baseline below
        classifier = train_pixel_classifier(image, train_labels, norm=norm, seed=seed)
        extra_labels, bootstrap = bootstrap_phase_labels(
            image, train_labels, planes=config.bootstrap_planes, min_probability=config.bootstrap_min_probability,
            norm=norm, val_labels=val_labels, seed=seed, classifier=classifier)
        extra_labels[val_labels != IGNORE] = IGNORE
        extra_labels[~np.isin(extra_labels, class_ids + [IGNORE])] = IGNORE
        train_labels = np.where(train_labels != IGNORE, train_labels, extra_labels)
    train_t = encode_targets(train_labels, class_ids)
    val_t = encode_targets(val_labels, class_ids)
    train_coords = np.argwhere(train_t != IGNORE)
    val_coords = np.argwhere(val_t != IGNORE)
    if len(train_coords) == 0 or len(val_coords) == 0:
        raise InputError("the training/validation split left one side without labelled voxels; label more planes")
    patch = tuple(int(p) for p in config.patch_size)
    if any(p > 2 * s - 1 for p, s in zip(patch, image.shape)):
        raise InputError(f"patch_size={patch} is too large for a volume of shape {tuple(image.shape)}")
    dev = resolve_device(device)
    use_amp = bool(config.amp) and dev.startswith("cuda")
    params = network_params(config, in_channels=1, out_channels=len(class_ids))

    val_origins = sample_patch_origins(None, patch, config.val_patches, context_margin=config.context_margin,
                                       seed=rng, coords=val_coords)
    val_x, val_y = _batch(image, val_t, val_origins, patch, norm)

    baseline_metrics = baseline_classifier = None
    if baseline:
        baseline_metrics, baseline_classifier = _pixel_baseline(image, true_train_labels, val_t, val_origins, patch,
                                              class_ids=class_ids, class_names=class_names, norm=norm, seed=seed,
                                              classifier=classifier,
                                              context_budget_s=_context_budget(config))
    gmm_metrics = gmm_classifier = None
    if baseline and task == "phases":
        # the third candidate of the delivered method: a grey-value mixture on the same voxels
        gmm_metrics, gmm_classifier = _grey_gmm_candidate(image, true_train_labels, val_t, val_origins, patch,
                                                          class_ids=class_ids, class_names=class_names, norm=norm,
                                                          seed=seed)

    history: list[dict] = []
    kept: list[dict] = []
    total_steps = config.total_steps
    stopped_by = "work"
    step = 0
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    t_start = _clock()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if dev == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            generator = torch.Generator().manual_seed(int(seed))
            net = build_network(params).to(dev)
            # an exponential moving average of the weights (and batch-norm statistics) is
            # what gets validated and kept; with a constant learning rate the raw weights
            # jitter from epoch to epoch
            ema_net = copy.deepcopy(net) if config.ema_decay > 0 else None
            if config.optimizer == "adamw":
                opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            else:
                opt = torch.optim.Adadelta(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=config.plateau_factor,
                                                               patience=config.plateau_patience)
            scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
            vx = torch.from_numpy(val_x)
            vy = torch.from_numpy(val_y)
            best_loss = np.inf
            since_best = 0
            # the bar counts the defined work (optimiser steps), so its ETA is the real one
            bar = progress(desc=f"train {task}", total=total_steps, unit="step",
                           enabled=None if show_progress else False)
            for epoch in range(1, config.max_epochs + 1):
                net.train()
                losses = []
                for _ in range(config.steps_per_epoch):
                    origins = sample_patch_origins(None, patch, config.batch_size,
                                                   context_margin=config.context_margin, seed=rng, coords=train_coords)
                    bx, by = _batch(image, train_t, origins, patch, norm)
                    x = torch.from_numpy(bx)
                    y = torch.from_numpy(by)
                    if config.augment:
                        x, y = augment_batch(x, y, generator=generator, **dict(config.extra.get("augment", {})))
                    x = x.to(dev, non_blocking=True)
                    y = y.to(dev, non_blocking=True)
                    opt.zero_grad(set_to_none=True)
                    with torch.autocast(device_type="cuda" if use_amp else "cpu", enabled=use_amp):
                        logits = net(x)
                    loss = masked_loss(logits, y, dice_weight=config.dice_weight)
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                    losses.append(float(loss.detach()))
                    step += 1
                    if ema_net is not None:
                        _update_ema(ema_net, net, decay=min(config.ema_decay, (1.0 + step) / (10.0 + step)))
                    bar.update(1)
                    if config.max_time_s is not None and _clock() - t_start >= config.max_time_s:
                        stopped_by = "max_time"
                        break
                # validation on held-out labelled voxels
                eval_net = ema_net if ema_net is not None else net
                eval_net.eval()
                val_losses, preds = [], []
                with torch.no_grad():
                    for i in range(0, len(vx), config.sw_batch_size):
                        xb = vx[i:i + config.sw_batch_size].to(dev)
                        yb = vy[i:i + config.sw_batch_size].to(dev)
                        with torch.autocast(device_type="cuda" if use_amp else "cpu", enabled=use_amp):
                            logits = eval_net(xb)
                        val_losses.append(float(masked_loss(logits, yb, dice_weight=config.dice_weight)) * len(xb))
                        preds.append(logits.argmax(1).cpu().numpy())
                val_loss = float(np.sum(val_losses) / len(vx))
                pred = np.concatenate(preds)
                cm = confusion_matrix(val_y, pred, class_ids=range(len(class_ids)))
                m = phase_metrics(cm, class_names=class_names, void_index=0)
                sched.step(val_loss)
                row = {
                    "epoch": epoch,
                    "steps": step,
                    "train_loss": float(np.mean(losses)),
                    "val_loss": val_loss,
                    "val_accuracy": m["accuracy"],
                    "val_miou": m["miou"],
                    "lr": float(opt.param_groups[0]["lr"]),
                    "time_s": _clock() - t_start,
                }
                history.append(row)
                bar.set_postfix(epoch=f"{epoch}/{config.max_epochs}", loss=f"{row['train_loss']:.3f}",
                                val=f"{val_loss:.3f}", acc=f"{m['accuracy']:.3f}")
                state = {k: v.detach().to("cpu").clone() for k, v in eval_net.state_dict().items()}
                kept.append({"epoch": epoch, "val_loss": val_loss, "metrics": m, "state_dict": state})
                kept.sort(key=lambda c: c["val_loss"])
                del kept[config.keep_best:]
                if val_loss < best_loss - 1e-6:
                    best_loss = val_loss
                    since_best = 0
                else:
                    since_best += 1
                if stopped_by == "max_time":
                    break
                if since_best >= config.early_stopping and epoch < config.max_epochs:
                    stopped_by = "early_stopping"
                    break
            bar.close()
        finally:
            torch.use_deterministic_algorithms(deterministic_before)
    seconds = float(_clock() - t_start)
    best = kept[0]
    net = net.to("cpu")
    net.load_state_dict(best["state_dict"])
    net.eval()
    metrics = best["metrics"]
    work = {
        "epochs": len(history),
        "steps": int(step),
        "planned_epochs": int(config.max_epochs),
        "planned_steps": int(total_steps),
        "steps_per_epoch": int(config.steps_per_epoch),
        "batch_size": int(config.batch_size),
        "patch_size": list(patch),
        "seconds": seconds,
        "steps_per_s": step / seconds if seconds > 0 else None,
        "threads": int(torch.get_num_threads()),
        "device": dev,
        "stopped_by": stopped_by,
        "max_time_s": config.max_time_s,
    }
    notes = []
    if stopped_by == "max_time":
        notes.append(f"training stopped by --max-time {config.max_time_s:g} s after {step} of {total_steps} steps "
                     f"({len(history)} of {config.max_epochs} epochs): the model depends on this machine's speed "
                     "and is under-trained; drop --max-time to do the preset's work")
    validation = {"epoch": int(best["epoch"]), "val_loss": float(best["val_loss"]),
                  **{k: v for k, v in metrics.items() if k != "confusion"}}
    if baseline_metrics is not None:
        validation["baseline"] = baseline_metrics
        verdict = baseline_verdict(metrics, baseline_metrics)
        if "accuracy" in baseline_metrics:
            validation["beats_baseline"] = verdict is None
    if gmm_metrics is not None:
        validation["grey_gmm"] = gmm_metrics
    delivered, reason = choose_delivered(metrics, baseline_metrics, task=task, deliver=deliver, gmm=gmm_metrics)
    validation["delivered"] = delivered
    validation["delivery"] = {"rule": deliver, "reason": reason,
                              "network": {k: validation[k] for k in ("accuracy", "miou")}}
    for name, m in (("pixel-classifier", baseline_metrics), ("grey-gmm", gmm_metrics)):
        if m is not None and "accuracy" in m:
            validation["delivery"][name] = {k: m[k] for k in ("accuracy", "miou")}
    if baseline_metrics is not None:
        if verdict is not None:
            if delivered != "network":
                what = "the pixel classifier" if delivered == "pixel-classifier" else "the grey-value GMM"
                verdict += f"; the model folder delivers {what} instead (card metrics.delivered)"
            notes.append(verdict)
    if delivered == "grey-gmm":
        notes.append(f"the model folder delivers the grey-value GMM: {reason}; the network and the pixel classifier "
                     "did worse than grey values alone: train longer (--epochs), label more planes or check the labels")
    delivered_classifier = {"pixel-classifier": baseline_classifier, "grey-gmm": gmm_classifier}.get(delivered)
    card = ModelCard(
        task=task,
        class_ids=class_ids,
        class_names=class_names,
        in_channels=1,
        patch_size=list(patch),
        voxel_size_um=list(vs),
        normalization=norm,
        network=params,
        minerals=minerals.to_properties() if minerals is not None else None,
        training={
            "config": config.to_dict(),
            "seed": int(seed),
            "device": dev,
            "amp": use_amp,
            "split": split,
            "n_train_voxels": int(len(train_coords)),
            "n_val_voxels": int(len(val_coords)),
            "bootstrap": bootstrap,
            "work": work,
            "epochs_run": len(history),
            "best_epoch": int(best["epoch"]),
            "time_s": seconds,
            "torch_version": torch.__version__,
        },
        validation=validation,
        library_version=__version__,
    )
    checkpoints = [{"epoch": c["epoch"], "val_loss": c["val_loss"], "state_dict": c["state_dict"]} for c in kept]
    return TrainResult(network=net, card=card, history=history, checkpoints=checkpoints, notes=notes,
                       classifier=delivered_classifier,
                       candidates={k: v for k, v in (("pixel-classifier", baseline_classifier),
                                                     ("grey-gmm", gmm_classifier)) if v is not None})


def _update_ema(ema_net, net, *, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * current`` for float parameters and buffers; others copied."""
    torch = require("torch", "ml")
    with torch.no_grad():
        current = net.state_dict()
        for name, value in ema_net.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(decay).add_(current[name], alpha=1.0 - decay)
            else:
                value.copy_(current[name])


def clone_network(network):
    """Deep copy of a network (e.g. before fine-tuning)."""
    return copy.deepcopy(network)
