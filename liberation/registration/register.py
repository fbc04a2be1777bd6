"""Register a 2D map (micro-XRF element map, SEM image, label map) into a 3D CT volume.

:func:`register_map` runs the coarse automatic search
(:func:`~liberation.registration.coarse.coarse_search`) and refines the best candidates with
SimpleITK (:func:`~liberation.registration.fine.refine_pose`), then measures the quality of
the best one. A registration whose quality is low is flagged (``poor_quality``) and a
warning is issued, so that wrong labels are not written silently.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from liberation._json import to_jsonable
from liberation._validation import as_voxel_size
from liberation.errors import InputError
from liberation.registration.coarse import coarse_search
from liberation.registration.fine import ClassFractionPolish, polish_bins, prepare_levels, refine_pose
from liberation.registration.geometry import AXIS_FRAMES, apply_affine, decompose_pose, pixel_centre_rms_error
from liberation.registration.resample import ct_on_map_grid
from liberation.registration.similarity import map_structure_pixels, mutual_information, quantile_bins

__all__ = ["RegistrationResult", "RegistrationWarning", "register_map", "registration_quality", "AXIS_NAMES"]

log = logging.getLogger(__name__)

AXIS_NAMES = {"z": 0, "y": 1, "x": 2}


class RegistrationWarning(UserWarning):
    """Issued when a registration's quality is poor."""


@dataclass
class RegistrationResult:
    """Outcome of :func:`register_map`.

    Attributes
    ----------
    matrix : numpy.ndarray, shape (4, 4)
        Affine taking map-frame (z, y, x) µm to CT physical (z, y, x) µm.
    map_shape, pixel_size_um, ct_shape, voxel_size_um
        Geometry of the inputs.
    axis, rotation_deg, mirror, tilt_deg, centre_um
        The pose (see :func:`~liberation.registration.geometry.decompose_pose`).
    mattes_mi : float
        Final Mattes mutual information of the fine stage (nats, positive).
    mi, nmi : float
        Mutual information and normalised MI (1..2) between the map and the CT sampled at the
        registered pixel centres (16 quantile bins).
    nmi_null : float
        The same NMI with the CT samples flipped / shifted on the map grid (what an unrelated
        pose scores); ``contrast = (nmi - 1) / (nmi_null - 1)``.
    overlap_fraction, overlap_area_um2 : float
        Part of the map inside the CT volume.
    pose_se_vox : float
        Standard error of the pose, voxels RMS over the map pixel centres
        (:meth:`~liberation.registration.fine.ClassFractionPolish.pose_standard_error`, block-robust, from the
        class-fraction model of the map at the pose); NaN when not computed.
    poor_quality : bool
        True when the quality figures are below the thresholds; see ``messages``.
    messages : list of str
    structure_px : int
        Map pixels that stand out from the map's dominant level
        (:func:`~liberation.registration.similarity.map_structure_pixels`); fewer than
        ``min_structure_px`` flag the registration poor (the map shows nearly nothing to place). -1 when
        not computed.
    candidates : list of dict
        Every refined candidate: coarse score, final NMI, matrix.
    timings_s : dict
    fine_slabs : list of [level, axis, lo, hi]
        CT index ranges along ``axis`` read by the fine stage (level 0 block-reduced, 1 full resolution).
    """

    matrix: np.ndarray
    map_shape: tuple[int, int]
    pixel_size_um: float
    ct_shape: tuple[int, int, int]
    voxel_size_um: tuple[float, float, float]
    axis: int
    rotation_deg: float
    mirror: bool
    tilt_deg: float
    centre_um: list[float]
    mattes_mi: float
    mi: float
    nmi: float
    nmi_null: float
    contrast: float
    overlap_fraction: float
    overlap_area_um2: float
    pose_se_vox: float
    poor_quality: bool
    messages: list[str] = field(default_factory=list)
    structure_px: int = -1
    candidates: list[dict] = field(default_factory=list)
    timings_s: dict = field(default_factory=dict)
    fine_slabs: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready dict (the content of ``transform.json``)."""
        d = asdict(self)
        d["matrix"] = np.asarray(self.matrix).tolist()
        d["convention"] = (
            "matrix takes map-frame (z, y, x) um to CT physical (z, y, x) um; map pixel (r, c) is at (0, r*p, c*p) um; "
            "CT voxel (k, j, i) is at (k*sz, j*sy, i*sx) um"
        )
        for c in d["candidates"]:
            c["matrix"] = np.asarray(c["matrix"]).tolist()
        return to_jsonable(d)


def registration_quality(
    ct: np.ndarray,
    map_image: np.ndarray,
    matrix: np.ndarray,
    *,
    voxel_size_um,
    pixel_size_um: float,
    map_mask: np.ndarray | None = None,
    bins: int = 16,
    outside_value=None,
) -> dict:
    """Quality figures of a pose: MI, NMI, a null NMI, contrast and overlap.

    The null NMI is the largest NMI obtained after pairing the map with the same CT
    samples flipped up-down, left-right, both, and shifted by half the map (which keeps the
    overlap and the intensity statistics but destroys the alignment).

    With ``outside_value`` (a 1D array of background grey values, e.g. the lateral border of the
    CT, or one grey), ``nmi_padded`` is the NMI over the whole map where every map pixel beyond
    the volume counts, in the joint histogram, as the bin mix of those values (the expected
    histogram, no random draw; :func:`padded_nmi`). It is the ranking score of
    :func:`register_map`: a pose that hides map content outside the volume gains nothing by it.
    Without it, or with the map wholly inside, ``nmi_padded`` equals ``nmi``.
    """
    vs = np.asarray(voxel_size_um, dtype=float)
    p = float(pixel_size_um)
    samples = ct_on_map_grid(ct, matrix, voxel_size_um=vs, map_shape=map_image.shape, pixel_size_um=p)
    valid = np.isfinite(samples)
    if map_mask is not None:
        valid &= map_mask
    frac = float(valid.sum()) / float(map_image.size if map_mask is None else max(map_mask.sum(), 1))
    q = mutual_information(map_image, samples, bins=bins, mask=valid)
    nulls = []
    h, w = map_image.shape
    for alt in (samples[::-1], samples[:, ::-1], samples[::-1, ::-1], np.roll(samples, (h // 2, w // 2), axis=(0, 1))):
        m2 = np.isfinite(alt) & (np.ones_like(valid) if map_mask is None else map_mask)
        nulls.append(mutual_information(map_image, alt, bins=bins, mask=m2)["nmi"])
    nmi_null = float(max(nulls))
    contrast = (q["nmi"] - 1.0) / max(nmi_null - 1.0, 1e-6)
    nmi_padded = q["nmi"]
    if outside_value is not None:
        nmi_padded = padded_nmi(map_image, samples, outside_value, bins=bins, mask=map_mask)
    return {
        "nmi_padded": float(nmi_padded),
        "mi": q["mi"],
        "nmi": q["nmi"],
        "nmi_null": nmi_null,
        "contrast": float(contrast),
        "overlap_fraction": frac,
        "overlap_area_um2": float(valid.sum()) * p * p,
    }


def padded_nmi(map_image: np.ndarray, samples: np.ndarray, outside_values, *, bins: int = 16,
               mask: np.ndarray | None = None) -> float:
    """NMI of a map and the CT sampled on its grid, with the CT beyond the volume taken as ``outside_values``.

    Map pixels whose CT sample is NaN (beyond the volume) add to the joint histogram, in their map
    bin, the CT-bin fractions of ``outside_values`` (binned at the quantiles of the inside samples,
    as :func:`~liberation.registration.similarity.mutual_information` bins them): the expected
    histogram of a fill drawn from those values. With no pixel outside it equals
    ``mutual_information(map_image, samples, bins=bins, mask=mask)["nmi"]``.

    Parameters
    ----------
    map_image, samples : numpy.ndarray, shape (rows, columns)
    outside_values : float or array-like
        Grey values of the CT's surroundings (e.g. its lateral border).
    bins : int
        Quantile bins per image.
    mask : numpy.ndarray of bool, optional
        Map pixels to use.

    Returns
    -------
    float
        NMI (1 = independent, 2 = identical).
    """
    a = np.asarray(map_image, dtype=np.float64).ravel()
    b = np.asarray(samples, dtype=np.float64).ravel()
    use = np.isfinite(a) if mask is None else np.isfinite(a) & np.asarray(mask, dtype=bool).ravel()
    inside = use & np.isfinite(b)
    outside = use & ~np.isfinite(b)
    if not outside.any() or inside.sum() < 2:
        return mutual_information(map_image, samples, bins=bins, mask=mask)["nmi"]
    ia = quantile_bins(a[use], bins, reference=a[inside]).astype(np.int64)
    in_use = inside[use]
    ib = quantile_bins(b[inside], bins).astype(np.int64)
    ob = quantile_bins(np.atleast_1d(np.asarray(outside_values, dtype=np.float64)), bins, reference=b[inside])
    mix = np.bincount(ob.astype(np.int64), minlength=bins + 1)[: bins + 1].astype(np.float64)
    mix /= max(mix.sum(), 1.0)
    joint = np.bincount(ia[in_use] * (bins + 1) + ib, minlength=(bins + 1) ** 2).astype(np.float64)
    joint = joint.reshape(bins + 1, bins + 1)
    joint += np.bincount(ia[~in_use], minlength=bins + 1)[: bins + 1, None] * mix[None, :]
    joint /= joint.sum()

    def ent(q):
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    hab = ent(joint.ravel())
    return (ent(joint.sum(1)) + ent(joint.sum(0))) / hab if hab > 0 else 1.0


def _check_inputs(ct, map_image, voxel_size_um, pixel_size_um, axes, map_mask):
    ct = np.asarray(ct) if not hasattr(ct, "shape") else ct
    if ct.ndim != 3:
        raise InputError(f"ct has shape {tuple(ct.shape)}; expected a 3D volume (z, y, x)")
    map_image = np.asarray(map_image)
    if map_image.ndim != 2:
        raise InputError(f"map_image has shape {map_image.shape}; expected a 2D map (rows, columns)")
    if min(map_image.shape) < 8:
        raise InputError(f"map_image has shape {map_image.shape}; expected at least 8 x 8 pixels")
    if pixel_size_um is None:
        raise InputError("pixel_size_um is missing: give the map pixel size in µm (e.g. --pixel-size 40)")
    try:
        p = float(pixel_size_um)
    except (TypeError, ValueError):
        raise InputError(f"pixel_size_um={pixel_size_um!r} is not a number; expected the map pixel size in µm") from None
    if not (np.isfinite(p) and p > 0):
        raise InputError(f"pixel_size_um={pixel_size_um!r} must be finite and positive (µm)")
    vs = np.asarray(as_voxel_size(voxel_size_um))
    values = map_image.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise InputError("map_image has NaN or infinite values; give a map_mask for pixels to leave out instead")
    if map_mask is not None:
        map_mask = np.asarray(map_mask, dtype=bool)
        if map_mask.shape != map_image.shape:
            raise InputError(f"map_mask has shape {map_mask.shape}; expected the map's shape {map_image.shape}")
        if map_mask.sum() < 64:
            raise InputError(f"map_mask keeps {int(map_mask.sum())} pixels; expected at least 64")
    used = values if map_mask is None else values[map_mask]
    if float(used.std()) == 0.0:
        raise InputError(f"map_image has zero variance (every pixel = {used.flat[0]:g}); there is nothing to register")
    h, w = map_image.shape
    fits = []
    for ax in axes:
        _, a1, a2 = AXIS_FRAMES[ax]
        e1, e2 = ct.shape[a1] * vs[a1], ct.shape[a2] * vs[a2]
        ok = (h * p) * (w * p) <= e1 * e2 * 1.0001 and max(h, w) * p <= np.hypot(e1, e2)
        fits.append(ok)
        if not ok and len(axes) == 1:
            raise InputError(
                f"map_image of {h} x {w} px at pixel_size_um={p:g} covers {h * p:.0f} x {w * p:.0f} µm, larger than the CT "
                f"section perpendicular to axis {ax} ({e1:.0f} x {e2:.0f} µm); check pixel_size_um and voxel_size_um"
            )
    if not any(fits):
        raise InputError(
            f"map_image of {h} x {w} px at pixel_size_um={p:g} covers {h * p:.0f} x {w * p:.0f} µm, larger than every CT "
            f"section (volume {tuple(ct.shape)} at voxel_size_um={tuple(vs)}); check pixel_size_um and voxel_size_um"
        )
    axes = tuple(a for a, ok in zip(axes, fits) if ok)
    return ct, map_image, vs, p, axes, map_mask


class _Box:
    """A lazily read box of a (z, y, x) array: ``box[z0:z1]`` reads only those slices of the box."""

    def __init__(self, array, slices):
        self.array, self.slices = array, tuple(slices)
        self.shape = tuple(len(range(*sl.indices(n))) for sl, n in zip(self.slices, array.shape))
        self.ndim = 3

    def __getitem__(self, key):
        z = self.slices[0]
        k = key.indices(self.shape[0])
        inner = slice(z.start + k[0], z.start + k[1])
        return np.asarray(self.array[(inner,) + self.slices[1:]])

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self.array[self.slices])
        return out if dtype is None else out.astype(dtype, copy=False)


class _FineSlabs:
    """The fine-stage pyramids, built on CT slabs around the candidate planes.

    Level 0 (block-reduced): one slab per group of overlapping candidates, wide enough for the
    map tilted by up to ``max_tilt_deg`` plus the coarse error. Level 1 (full resolution): per
    refined candidate, the slices the level-0 pose's map plane crosses plus a margin.
    """

    def __init__(self, ct, map_image, cands, *, vs, p, map_mask, coarse_spacing_um, max_tilt_deg):
        self.ct, self.map_image, self.vs, self.p, self.map_mask = ct, map_image, vs, p, map_mask
        h, w = map_image.shape
        self.half_diag = 0.5 * np.hypot(h, w) * p
        margin = self.half_diag * np.sin(np.deg2rad(max_tilt_deg)) + 2.0 * coarse_spacing_um + 2.0 * p
        self.intervals: dict[int, list[list[int]]] = {}
        for c in cands:
            n = ct.shape[c.axis]
            mg = margin + 4.0 * vs[c.axis]
            lo = int(np.clip(np.floor((c.position_um - mg) / vs[c.axis]), 0, n - 1))
            hi = int(np.clip(np.ceil((c.position_um + mg) / vs[c.axis]) + 1, lo + 1, n))
            self.intervals.setdefault(c.axis, []).append([lo, hi])
        for ax, ivs in self.intervals.items():
            ivs.sort()
            merged = [ivs[0]]
            for lo, hi in ivs[1:]:
                if lo <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], hi)
                else:
                    merged.append([lo, hi])
            self.intervals[ax] = merged
        self.cache = {}
        self.used = []

    def _build(self, axis, lo, hi, level):
        key = (axis, lo, hi, level)
        if key not in self.cache:
            sl = [slice(0, n) for n in self.ct.shape]
            sl[axis] = slice(lo, hi)
            origin = [0, 0, 0]
            origin[axis] = lo
            # full resolution at an end face of the scan: 4 slices mirrored beyond it (prepare_levels)
            pad = (4 if lo == 0 else 0, 4 if hi == self.ct.shape[axis] else 0) if level == 1 else (0, 0)
            (lv,) = prepare_levels(_Box(self.ct, sl), self.map_image, voxel_size_um=self.vs, pixel_size_um=self.p,
                                   map_mask=self.map_mask, axis=axis, origin_voxel=origin, levels=(level,),
                                   pad_ends=pad)
            self.cache[key] = lv
            self.used.append([int(level), int(axis), int(lo), int(hi)])
        return self.cache[key]

    def level0(self, cand):
        idx = cand.position_um / self.vs[cand.axis]
        for lo, hi in self.intervals[cand.axis]:
            if lo - 1 <= idx <= hi:
                return self._build(cand.axis, lo, hi, 0)
        return self._build(cand.axis, 0, self.ct.shape[cand.axis], 0)

    def level1(self, matrix, axis, *, tilt_change_deg: float = 2.0):
        """The full-resolution slab around the plane of ``matrix`` (or of every matrix of a list)."""
        h, w = self.map_image.shape
        corners = np.array([[0.0, r * self.p, c * self.p] for r in (0, h - 1) for c in (0, w - 1)])
        matrices = matrix if isinstance(matrix, (list, tuple)) else [matrix]
        depth = np.concatenate([apply_affine(m, corners)[:, axis] for m in matrices])
        mg = 2.0 * self.p + 4.0 * self.vs[axis] + self.half_diag * np.sin(np.deg2rad(tilt_change_deg))
        n = self.ct.shape[axis]
        lo = int(np.clip(np.floor((depth.min() - mg) / self.vs[axis]), 0, n - 1))
        hi = int(np.clip(np.ceil((depth.max() + mg) / self.vs[axis]) + 1, lo + 1, n))
        for a, lo2, hi2, level in self.cache:  # a slab already read that holds this one (local restarts)
            if level == 1 and a == axis and lo2 <= lo and hi <= hi2:
                return self.cache[(a, lo2, hi2, level)]
        return self._build(axis, lo, hi, 1)


def _rotation(k: np.ndarray, angle: float) -> np.ndarray:
    """3x3 rotation by ``angle`` (rad) about the unit vector ``k`` (Rodrigues)."""
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle) * kx + (1.0 - np.cos(angle)) * kx @ kx


def restart_poses(matrix: np.ndarray, *, axis: int, map_shape: tuple[int, int], pixel_size_um: float,
                  voxel_size_um, shift_vox: float = 1.5, tilt_steps_deg=()) -> list[np.ndarray]:
    """Starting poses for the local re-search around a refined pose.

    The plane untilted (its normal turned onto the CT axis), the tilt reflected about the axis
    (same tilt, opposite direction), and the plane shifted by ``shift_vox`` voxels either way
    along its normal; with ``tilt_steps_deg``, also the plane turned by each of those angles either
    way about its row and its column direction (4 starts per angle: a tilt the optimiser stopped
    short of, on maps with little structure); every change is about the map centre.

    Returns
    -------
    list of numpy.ndarray, shape (4, 4)
    """
    from liberation.registration.geometry import map_centre_um

    m = np.asarray(matrix, dtype=float)
    vs = np.asarray(as_voxel_size(voxel_size_um), dtype=float)
    c_ct = apply_affine(m, map_centre_um(map_shape, pixel_size_um)[None])[0]
    normal = m[:3, 0] / np.linalg.norm(m[:3, 0])
    e = np.zeros(3)
    e[axis] = 1.0 if normal[axis] >= 0 else -1.0

    def about_centre(rot, shift=np.zeros(3)):
        t = np.eye(4)
        t[:3, :3] = rot
        t[:3, 3] = c_ct + shift - rot @ c_ct
        return t @ m

    out = []
    cross = np.cross(normal, e)
    sin = float(np.linalg.norm(cross))
    if sin > 1e-6:
        k = cross / sin
        theta = float(np.arctan2(sin, float(normal @ e)))
        out.append(about_centre(_rotation(k, theta)))
        out.append(about_centre(_rotation(k, 2.0 * theta)))
    for sign in (1.0, -1.0):
        out.append(about_centre(np.eye(3), sign * shift_vox * float(vs[axis]) * normal))
    for step in tilt_steps_deg:
        for col in (1, 2):
            k = m[:3, col] / np.linalg.norm(m[:3, col])
            for sign in (1.0, -1.0):
                out.append(about_centre(_rotation(k, sign * np.deg2rad(float(step)))))
    return out


def _polish_rivals(ct, map_image, refined, best_refined, best, polisher, *, vs, p, map_mask, n_classes, max_values,
                   ambiguity_margin, min_overlap_fraction, tol, max_rivals, tilted_out):
    """Polished rivals of the polished best that stay more than ``tol`` µm away and score within the R^2 margin.

    Returns a list of (R^2, distance µm, margin); empty when the pose is determined.
    """
    q_ref = best_refined["quality"]
    margin = ambiguity_margin * max(q_ref["nmi"] - q_ref["nmi_null"], 0.0)
    shape = map_image.shape
    cands = sorted((r for r in refined if r is not best_refined and not r.get("polished") and r["rank_key"][0]
                    and r["overlap_fraction"] >= min_overlap_fraction
                    and r["nmi_padded"] >= best_refined["nmi_padded"] - margin
                    and pixel_centre_rms_error(r["matrix"], best["matrix"], shape, p) > tol),
                   key=lambda r: -r["nmi_padded"])
    margin_r2 = ambiguity_margin * max(best["polish_r2"] - best["polish_r2_null"], 0.0)
    out, done = [], []
    for r in cands:
        if len(done) >= max(0, int(max_rivals)):
            break
        if any(pixel_centre_rms_error(r["matrix"], o, shape, p) < tol for o in done):
            continue  # same basin as a rival already polished
        done.append(r["matrix"])
        axis_r = decompose_pose(r["matrix"], shape, p)["axis"]
        pol = polisher if polisher.contains(r["matrix"]) else _class_polisher(
            ct, map_image, r["matrix"], vs=vs, p=p, axis=axis_r, map_mask=map_mask, n_classes=n_classes,
            max_values=max_values)
        if pol is None:
            continue
        m, r2 = pol(r["matrix"])
        if tilted_out(m, axis_r) or (_inside_fraction(m, shape, p, vs, ct.shape)
                                     < _inside_fraction(r["matrix"], shape, p, vs, ct.shape) - 0.01):
            m, r2 = r["matrix"], pol.score(r["matrix"])
        d = pixel_centre_rms_error(m, best["matrix"], shape, p)
        if d > tol and r2 >= best["polish_r2"] - margin_r2:
            out.append((float(r2), float(d), float(margin_r2)))
    return out


def _inside_fraction(matrix, map_shape, p, vs, ct_shape) -> float:
    """Fraction of the map pixel centres inside the CT volume (within half a voxel of its voxel centres)."""
    from liberation.registration.geometry import map_pixel_centres

    idx = apply_affine(matrix, map_pixel_centres(map_shape, p).reshape(-1, 3)) / vs
    return float(np.mean(np.all((idx > -0.5) & (idx < np.asarray(ct_shape) - 0.5), axis=1)))


def _class_polisher(ct, map_image, matrix, *, vs, p, axis, map_mask, n_classes, max_values):
    """A :class:`ClassFractionPolish` on the CT box around the plane of ``matrix`` (None when too large)."""
    h, w = map_image.shape
    corners = np.array([[0.0, r * p, c * p] for r in (0, h - 1) for c in (0, w - 1)])
    pts = apply_affine(matrix, corners) / vs
    sigma = 0.3 * p / vs
    margin = 8.0 + 3.0 * sigma  # voxels: the polish moves a corner by at most 3 + 3 voxels; the smoothing
    lo = np.maximum(np.floor(pts.min(axis=0) - margin), 0).astype(int)
    hi = np.minimum(np.ceil(pts.max(axis=0) + margin) + 1, np.asarray(ct.shape)).astype(int)
    if np.any(hi <= lo):
        return None
    if float(np.prod(hi - lo)) * n_classes > max_values:
        log.info("class-fraction polish skipped: %d classes x %s voxels > polish_max_values", n_classes, tuple(hi - lo))
        return None
    box = np.asarray(ct[tuple(slice(a, b) for a, b in zip(lo, hi))])
    pol = ClassFractionPolish(box, origin_voxel=lo, map_image=map_image, pixel_size_um=p, voxel_size_um=vs,
                              axis=axis, map_mask=map_mask, n_classes=n_classes)
    pol.open_low, pol.open_high = lo == 0, hi == np.asarray(ct.shape)
    return pol


def _parse_axis(axis) -> tuple[int, ...]:
    if axis is None or (isinstance(axis, str) and axis.lower() in ("any", "all")):
        return (0, 1, 2)
    if isinstance(axis, str):
        if axis.lower() not in AXIS_NAMES:
            raise InputError(f"axis={axis!r}; expected 'z', 'y', 'x', 0, 1, 2 or None (search all)")
        return (AXIS_NAMES[axis.lower()],)
    if isinstance(axis, (int, np.integer)) and int(axis) in (0, 1, 2):
        return (int(axis),)
    raise InputError(f"axis={axis!r}; expected 'z', 'y', 'x', 0, 1, 2 or None (search all)")


def register_map(
    ct: np.ndarray,
    map_image: np.ndarray,
    *,
    voxel_size_um,
    pixel_size_um: float,
    axis=None,
    face: str = "any",
    slice_range_um: tuple[float, float] | None = None,
    map_mask: np.ndarray | None = None,
    n_candidates: int = 8,
    n_final: int = 16,
    angle_step_deg: float | None = None,
    search_mirror: bool = True,
    coarse_size: int = 40,
    coarse_bins: int = 4,
    coarse_binnings=(("levels", None), ("quantile", 6)),
    min_overlap: float = 0.5,
    min_contrast: float = 1.6,
    min_overlap_fraction: float = 0.5,
    iterations: int = 200,
    ct_pyramid=None,
    slab_tilt_deg: float = 10.0,
    local_restarts: bool = True,
    restart_tilts_deg=(2.5,),
    ambiguity_margin: float = 0.1,
    max_spread_vox: float = 1.5,
    min_map_pixels: int = 400,
    outside: str = "background",
    polish: bool = True,
    polish_classes: int = 16,
    polish_max_values: float = 2e8,
    polish_min_r2: float = 0.85,
    max_polish_rivals: int = 4,
    max_pose_se_vox: float | None = 0.55,
    min_structure_px: int = 25,
    workers: int | None = None,
    show_progress: bool | None = None,
) -> RegistrationResult:
    """Find the plane of a 2D map in a CT volume: coarse global search, then Mattes-MI refinement.

    Parameters
    ----------
    ct : numpy.ndarray or lazily sliced array (zarr), shape (z, y, x)
        CT grey values. Never read whole: the coarse search reads it slab by slab along z into a
        block-averaged copy (or reads ``ct_pyramid``), the fine stage reads only slabs around the
        candidate planes, the quality figures only the box around the registered plane.
    map_image : numpy.ndarray, shape (rows, columns)
        The map (element counts, SEM grey values or label ids); any intensity relation to the CT.
    voxel_size_um : float or (float, float, float)
        CT voxel size in µm.
    pixel_size_um : float
        Map pixel size in µm (often 4x the voxel size).
    axis : {None, 'z', 'y', 'x', 0, 1, 2}
        CT axis the map plane is (nearly) perpendicular to; None searches all three.
    face : {'any', 'top', 'bottom'}
        Hint: the plane lies in the low-index half ('top') or the high-index half ('bottom') along the axis.
    slice_range_um : (float, float), optional
        Hint: allowed positions of the plane along the axis, µm.
    map_mask : numpy.ndarray of bool, optional
        Map pixels to use (e.g. the sample, not the mount).
    n_candidates : int
        Distinct coarse poses refined by the fine stage's first level.
    n_final : int
        Of those, how many (best Mattes MI after the first level) are refined at full resolution.
    angle_step_deg : float, optional
        Rotation step of the coarse search over the full circle (level A of the two-level search;
        level B re-scores at half this step around the best level-A poses). Default: 10° with two
        levels, else from the map size (see :func:`~liberation.registration.coarse.coarse_search`).
    search_mirror : bool
        Also search the mirrored map (face imaged from the other side).
    coarse_size : int
        Approximate size of the map's longest side (pixels) at the coarse level.
    coarse_bins : int
        Bins per image for the coarse mutual information (the default for a ``coarse_binnings`` entry
        with ``None`` bins).
    coarse_binnings : sequence of (str, int or None)
        The coarse search runs once per entry, ``(binning, bins)`` with binning ``"levels"`` (natural grey
        levels, :func:`~liberation.registration.similarity.level_bins`: dense cores, whose Fe-free background
        quantile bins split into noise) or ``"quantile"`` (sparse sections: on level bins the void makes one
        bin and a particle matched turned over scores as high as the truth); the ``n_candidates`` best
        poses of each search are refined (multi-start from both feature spaces). Measured in
        docs/registration.md (zoo sweep, session 5).
    min_overlap : float
        Minimum overlapping fraction of the map in the coarse search.
    min_contrast, min_overlap_fraction : float
        Quality thresholds: below either, ``poor_quality`` is set and a warning issued.
    iterations : int
        Optimizer iterations per resolution level.
    ct_pyramid : sequence of (array, (int, int, int)), optional
        Block-averaged copies of ``ct`` with their integer factors (e.g. the pyramid levels of a
        sample store); the coarse search reads the coarsest usable one instead of ``ct``.
    slab_tilt_deg : float
        The fine stage reads the CT slab around each candidate plane that holds the map tilted
        by up to this angle (plus margins for the coarse error and the smoothing).
    local_restarts : bool
        Local re-search around the best refined pose: refine again from that pose untilted, with
        its tilt reflected and shifted by 1.5 voxels either way along its normal
        (:func:`restart_poses`); a restart that ends at a higher NMI replaces it (at most two
        rounds). Catches optimiser stops on a ridge near the maximum (a narrow MI basin).
    restart_tilts_deg : sequence of float
        With ``local_restarts``, also restart from the pose turned by these angles either way about
        its row and column directions (:func:`restart_poses`); sparse sections stopped with the
        tilt 2-4° off (1.7 voxels RMS on a 48 x 48 map) without them.
    ambiguity_margin, max_spread_vox : float
        With ``local_restarts``: the pose is flagged poor when another refined end pose
        (candidate or restart) more than ``max_spread_vox`` voxels (RMS over the map pixel
        centres) from the best scores an NMI within ``ambiguity_margin x (NMI - null NMI)`` of
        the best: the maximum is too flat to fix the pose within a voxel.
    min_map_pixels : int
        Fewer valid map pixels than this (default 400, a 20 x 20 map) are flagged poor: the
        refined NMI of so small a map rises above the null NMI of unrelated poses by fitting
        noise (the 12 x 12 bottom map of the 48^3 example phantom passed ``min_contrast`` on a
        plane tilted 1 to 5 voxels off its true flat face). The project's zoo starts at 36 x 36 maps.
    outside : {"background", "ignore"}
        Map pixels beyond the CT volume: ``"background"`` scores them against the CT's
        background (the bin, or the median grey, of the lateral border of the sections) in the
        coarse search and in the ranking of the refined poses, so a pose that pushes map content
        (a particle) out of the volume is not preferred over one that keeps the whole map inside;
        ``"ignore"`` scores the overlap only. ``"background"`` (default) helps sparse sections (one
        elongated particle matched turned by 180° with the rest of the map outside, flagged poor). In
        session 5 it was withdrawn as the default because the README chain's 24 x 24 bottom map came out
        wrong; the cause was the fine stage at the end face of the scan (fixed in session 6, see
        :func:`~liberation.registration.fine.prepare_levels` ``pad_ends``); since then both settings
        register the end faces of the README-chain samples (seeds 5-8) and ``"background"`` is as
        close or closer on each (docs/registration.md).
    polish : bool
        Last step (session 7): the best pose is polished by fitting the map as a linear mix of the
        footprint-smoothed fractions of ``polish_classes`` CT grey classes
        (:class:`~liberation.registration.fine.ClassFractionPolish`). The Mattes-MI and NMI maxima of
        4x-coarse maps of large grains lie 1-2 voxels from the truth (CT contrast the map does not
        show acts as noise for them); this forward model's maximum lies within about half a voxel
        (docs/registration.md, session 7). The undetermined-pose test is made before the polish.
    polish_classes : int
        CT grey classes of the polish.
    polish_min_r2 : float
        The polish runs only where the class-fraction model explains at least this fraction of the map's variance at
        the refined pose (dense-core Fe maps: 0.96; the zoo's particle and sparse maps, Poisson-noisy: 0.53-0.72,
        where the polish's maximum lay 0.35-1.57 voxels from the truth, no better than the NMI's).
    max_polish_rivals : int
        With ``polish`` and ``local_restarts``, the undetermined-pose test polishes (at most this many) refined
        end poses whose NMI is within the ambiguity margin of the best's and that lie more than
        ``max_spread_vox`` from the polished best; one that stays that far and fits the map with an R^2 within
        ``ambiguity_margin x (R^2 - null R^2)`` of the polished best's flags the pose poor.
    polish_max_values : float
        The polish holds ``polish_classes`` float32 copies of the CT box around the plane; above this many
        values (default 2e8, 800 MB) it is skipped (``timings_s`` has no ``polish``).
    max_pose_se_vox : float or None
        The pose is flagged poor when its standard error (``pose_se_vox``: block-robust, from the curvature and
        the residuals of the class-fraction model of the map at the final pose, whether or not the polish ran)
        exceeds this many voxels RMS; None skips it. The estimate is about 1.8x below the actual errors on the zoo
        (model mismatch beyond a block), so 0.55 flags an estimated error of a voxel: on the zoo's 24 x 24 particle
        maps the one unflagged miss (1.18 voxels) has 0.61, the correct poses 0.22-0.49, correct core poses 0.16-0.37
        (docs/registration.md, session 8).
    min_structure_px : int
        The registration is flagged poor when fewer map pixels than this stand out from the map's dominant level
        (``structure_px``, :func:`~liberation.registration.similarity.map_structure_pixels`): a cut face that shows
        no particle (or a speck) has no pose to find. On the zoo: sparse sections with 0-0.4 % particle pixels give
        11-19, one with a single 40-pixel particle section 77, the sparse kind's sections (two particles of 20 map
        pixels or more) 300-568, every other kind's maps at least 138 (20 poses each; session 9).
    workers : int, optional
        Threads (FFT and SimpleITK); default all CPUs.
    show_progress : bool, optional

    Returns
    -------
    RegistrationResult

    Raises
    ------
    InputError
        Missing pixel size, zero-variance map, map larger than the CT section, bad shapes.
    """
    axes = _parse_axis(axis)
    ct, map_image, vs, p, axes, map_mask = _check_inputs(ct, map_image, voxel_size_um, pixel_size_um, axes, map_mask)
    if face not in ("any", "top", "bottom"):
        raise InputError(f"face={face!r}; expected 'any', 'top' or 'bottom'")
    workers = int(workers) if workers else (os.cpu_count() or 1)
    ranges = {}
    for ax in axes:
        length = ct.shape[ax] * vs[ax]
        lo, hi = 0.0, length
        if face == "top":
            hi = 0.5 * length
        elif face == "bottom":
            lo = 0.5 * length
        if slice_range_um is not None:
            lo, hi = max(lo, float(slice_range_um[0])), min(hi, float(slice_range_um[1]))
        ranges[ax] = (lo, hi)
    timings = {}
    t0 = time.perf_counter()
    if not coarse_binnings:
        raise InputError("coarse_binnings is empty; expected e.g. (('levels', 4), ('quantile', 6))")
    cands, coarse_info = [], {}
    for binning, nb in coarse_binnings:
        if binning not in ("levels", "quantile"):
            raise InputError(f"coarse_binnings has binning {binning!r}; expected 'levels' or 'quantile'")
        found, info = coarse_search(
            ct, map_image, voxel_size_um=tuple(vs), pixel_size_um=p, axes=axes, map_mask=map_mask,
            slice_ranges_um=ranges, n_bins=coarse_bins if nb is None else int(nb), angle_step_deg=angle_step_deg,
            search_mirror=search_mirror, target_size=coarse_size, min_overlap=min_overlap, n_candidates=n_candidates,
            pyramid=ct_pyramid, outside=outside, binning=binning, workers=workers, show_progress=show_progress,
        )
        coarse_info = coarse_info or info
        tol = 2.0 * max(info["spacing_um"])
        for c in found:  # distinct poses only (the searches often agree)
            if not any(o.axis == c.axis and pixel_centre_rms_error(c.matrix, o.matrix, map_image.shape, p) < tol
                       for o in cands):
                cands.append(c)
    timings["coarse"] = time.perf_counter() - t0
    if not cands:
        raise InputError("the coarse search found no pose with enough overlap; check axis, face and slice_range_um hints")
    t1 = time.perf_counter()
    background = coarse_info.get("background_grey", {}) if outside == "background" else {}
    slabs = _FineSlabs(ct, map_image, cands, vs=vs, p=p, map_mask=map_mask,
                       coarse_spacing_um=float(max(coarse_info["spacing_um"])), max_tilt_deg=slab_tilt_deg)
    def tilted_out(matrix, axis) -> bool:
        # the slabs hold the map plane tilted by at most slab_tilt_deg around the candidate's
        # axis; a refined pose beyond that (e.g. swung out of an end face of the volume, where
        # the slab is one-sided) left the data the optimiser was given and is not kept
        pose = decompose_pose(matrix, map_image.shape, p)
        return pose["axis"] != axis or pose["tilt_deg"] > slab_tilt_deg

    coarse_refined = []
    for cand in cands:
        m, metric = refine_pose(
            [slabs.level0(cand)], cand.matrix, map_shape=map_image.shape, pixel_size_um=p, voxel_size_um=vs,
            iterations=iterations, workers=workers,
        )
        if tilted_out(m, cand.axis):
            m, metric = cand.matrix, float(np.finfo(float).max)  # start level 1 from the coarse pose, rank last
        coarse_refined.append((metric, cand, m))
    # only the best candidates after the first level go on to the full-resolution level
    coarse_refined.sort(key=lambda x: x[0])
    refined = []
    for metric0, cand, m0 in coarse_refined[: max(1, n_final)]:
        if not np.isfinite(metric0):
            continue
        m, metric = refine_pose(
            [slabs.level1(m0, cand.axis)], m0, map_shape=map_image.shape, pixel_size_um=p, voxel_size_um=vs,
            iterations=iterations, bins=polish_bins(map_image.shape), workers=workers,
        )
        if tilted_out(m, cand.axis):
            m, metric = m0, metric0
        q = registration_quality(ct, map_image, m, voxel_size_um=vs, pixel_size_um=p, map_mask=map_mask,
                                 outside_value=background.get(cand.axis))
        ok_overlap = q["overlap_fraction"] >= min_overlap_fraction
        refined.append(
            {"coarse_score": cand.score, "mattes_mi": -metric if np.isfinite(metric) else float("nan"),
             "nmi": q["nmi"], "nmi_padded": q["nmi_padded"], "overlap_fraction": q["overlap_fraction"], "matrix": m,
             "quality": q, "rank_key": (ok_overlap and np.isfinite(metric), q["nmi_padded"])}
        )
    if not refined:
        m = coarse_refined[0][2]
        q = registration_quality(ct, map_image, m, voxel_size_um=vs, pixel_size_um=p, map_mask=map_mask,
                                 outside_value=background.get(coarse_refined[0][1].axis))
        refined.append({"coarse_score": coarse_refined[0][1].score, "mattes_mi": float("nan"), "nmi": q["nmi"],
                        "nmi_padded": q["nmi_padded"], "overlap_fraction": q["overlap_fraction"], "matrix": m, "quality": q, "rank_key": (False, 0.0)})
    best = max(refined, key=lambda r: r["rank_key"])
    timings["fine"] = time.perf_counter() - t1
    if local_restarts and np.isfinite(best["mattes_mi"]):
        t2 = time.perf_counter()
        bins = polish_bins(map_image.shape)
        for _round in range(2):
            axis_best = decompose_pose(best["matrix"], map_image.shape, p)["axis"]
            improved = False
            starts = restart_poses(best["matrix"], axis=axis_best, map_shape=map_image.shape, pixel_size_um=p,
                                   voxel_size_um=vs, tilt_steps_deg=restart_tilts_deg)
            slab = slabs.level1(starts, axis_best)  # one slab read for all restarts of the round
            for start in starts:
                m, metric = refine_pose(
                    [slab], start, map_shape=map_image.shape, pixel_size_um=p,
                    voxel_size_um=vs, iterations=iterations, bins=bins, workers=workers,
                )
                if not np.isfinite(metric) or tilted_out(m, axis_best):
                    continue
                q = registration_quality(ct, map_image, m, voxel_size_um=vs, pixel_size_um=p, map_mask=map_mask,
                                         outside_value=background.get(axis_best))
                ok_overlap = q["overlap_fraction"] >= min_overlap_fraction
                entry = {"coarse_score": best["coarse_score"], "mattes_mi": -metric, "nmi": q["nmi"],
                         "nmi_padded": q["nmi_padded"], "overlap_fraction": q["overlap_fraction"], "matrix": m,
                         "quality": q, "rank_key": (ok_overlap, q["nmi_padded"]), "restart": True}
                refined.append(entry)
                if entry["rank_key"] > best["rank_key"]:
                    best, improved = entry, True
            if not improved:
                break
        timings["restarts"] = time.perf_counter() - t2
    best_refined = best
    polished_rivals = None
    se_model = None  # the class-fraction model of the map, for the pose's standard error
    if (polish or max_pose_se_vox is not None) and np.isfinite(best["mattes_mi"]):
        t3 = time.perf_counter()
        axis_best = decompose_pose(best["matrix"], map_image.shape, p)["axis"]
        polisher = _class_polisher(ct, map_image, best["matrix"], vs=vs, p=p, axis=axis_best, map_mask=map_mask,
                                   n_classes=polish_classes, max_values=polish_max_values)
        se_model = polisher
        if not polish:
            polisher = None
        r2_start = polisher.score(best["matrix"]) if polisher is not None else 0.0
        if polisher is not None and r2_start < polish_min_r2:
            # the forward model explains too little of the map (Poisson-noisy particle maps: R^2 0.5-0.7 at the
            # truth, against 0.96 on the Fe maps of cores): its maximum is noise-limited and no better than the NMI's
            log.info("class-fraction polish skipped: R^2 %.3f < polish_min_r2 %.2f", r2_start, polish_min_r2)
            polisher = None
        if polisher is not None:
            m, r2 = polisher(best["matrix"])
            # the class fractions are clamped at the ends of the volume: a polish that moves map pixels out of
            # the CT (an end face: the README chain's bottom map went 2.3 voxels out) is not kept
            inside_before = _inside_fraction(best["matrix"], map_image.shape, p, vs, ct.shape)
            keep = not tilted_out(m, axis_best) and (
                _inside_fraction(m, map_image.shape, p, vs, ct.shape) >= inside_before - 0.01)
            if keep:
                q = registration_quality(ct, map_image, m, voxel_size_um=vs, pixel_size_um=p, map_mask=map_mask,
                                         outside_value=background.get(axis_best))
                # kept only on the NMI maximum's plateau (within ambiguity_margin x (NMI - null NMI) of the refined
                # best): on a sparse section (88 % void) the class-fraction maximum lay 1.5 voxels off, the NMI's 0.7
                q_ref = best_refined["quality"]
                keep = q["nmi_padded"] >= best_refined["nmi_padded"] - ambiguity_margin * max(
                    q_ref["nmi"] - q_ref["nmi_null"], 0.0)
            if keep:
                moved = pixel_centre_rms_error(m, best["matrix"], map_image.shape, p) / float(vs.mean())
                best = dict(best, matrix=m, quality=q, nmi=q["nmi"], nmi_padded=q["nmi_padded"],
                            overlap_fraction=q["overlap_fraction"], polish_r2=float(r2),
                            polish_r2_start=float(r2_start), polish_moved_vox=float(moved),
                            polish_r2_null=float(polisher.null_score(m)), polished=True)
                refined.append(best)
                if local_restarts and "restarts" in timings:
                    polished_rivals = _polish_rivals(
                        ct, map_image, refined, best_refined, best, polisher, vs=vs, p=p, map_mask=map_mask,
                        n_classes=polish_classes, max_values=polish_max_values, ambiguity_margin=ambiguity_margin,
                        min_overlap_fraction=min_overlap_fraction, tol=max_spread_vox * float(vs.mean()),
                        max_rivals=max_polish_rivals, tilted_out=tilted_out)
            timings["polish"] = time.perf_counter() - t3
    pose_se = float("nan")
    if se_model is not None and max_pose_se_vox is not None:
        t4 = time.perf_counter()
        pose_se = se_model.pose_standard_error(best["matrix"]) * float(se_model.vs.mean()) / float(vs.mean())
        # (with the polish skipped, the model's build counts here)
        timings["uncertainty"] = time.perf_counter() - (t4 if "polish" in timings else t3)
    q = best["quality"]
    messages = []
    n_pixels = int(map_image.size if map_mask is None else np.count_nonzero(map_mask))
    if n_pixels < int(min_map_pixels):
        messages.append(
            f"poor registration: the map has {n_pixels} valid pixels, fewer than min_map_pixels={int(min_map_pixels)}; "
            "too few to determine a pose (a refined NMI of so few pixels fits noise)"
        )
    structure = map_structure_pixels(map_image, mask=map_mask)
    if structure < int(min_structure_px):
        messages.append(
            f"poor registration: the map shows (nearly) no structure: {structure} of its {n_pixels} pixels stand out "
            f"from its dominant level, fewer than min_structure_px={int(min_structure_px)}; a face that shows no "
            "particle or grain contrast has no pose to find"
        )
    if q["contrast"] < min_contrast:
        messages.append(
            f"poor registration: NMI {q['nmi']:.4f} is not clearly above that of unrelated poses "
            f"({q['nmi_null']:.4f}; contrast {q['contrast']:.2f} < {min_contrast})"
        )
    if q["overlap_fraction"] < min_overlap_fraction:
        messages.append(f"poor registration: only {100 * q['overlap_fraction']:.0f}% of the map lies inside the CT volume")
    if polished_rivals:
        r2, d, margin_r2 = max(polished_rivals)
        messages.append(
            f"poor registration: the pose is not determined; another refined pose, polished, lies {d / float(vs.mean()):.1f} "
            f"voxels away and fits the map with R^2 {r2:.4f}, within {margin_r2:.4f} of the best {best['polish_r2']:.4f} "
            f"(ambiguity margin {ambiguity_margin:g} x (R^2 - null R^2))"
        )
    elif polished_rivals is None and local_restarts and "restarts" in timings:
        # the pose must be determined: no other end pose of the refinements (candidates and local
        # restarts) that scores nearly as high may lie more than max_spread_vox voxels away; a candidate
        # whose refinement failed (no finite Mattes metric: its coarse pose kept) is no end pose
        q_ref = best_refined["quality"]
        margin = ambiguity_margin * max(q_ref["nmi"] - q_ref["nmi_null"], 0.0)
        tol = max_spread_vox * float(vs.mean())
        # (made on the refined poses, before the polish)
        rivals = [(r["nmi_padded"], pixel_centre_rms_error(r["matrix"], best_refined["matrix"], map_image.shape, p))
                  for r in refined if r is not best_refined and not r.get("polished") and r["rank_key"][0]
                  and r["overlap_fraction"] >= min_overlap_fraction and r["nmi_padded"] >= best_refined["nmi_padded"] - margin]
        far = [(nmi, d) for nmi, d in rivals if d > tol]
        if far:
            nmi, d = max(far)
            messages.append(
                f"poor registration: the pose is not determined; another refined pose {d / float(vs.mean()):.1f} "
                f"voxels away scores NMI {nmi:.4f}, within {margin:.4f} of the best {best_refined['nmi_padded']:.4f} "
                f"(ambiguity margin {ambiguity_margin:g} x (NMI - null NMI))"
            )
    if max_pose_se_vox is not None and not np.isnan(pose_se) and pose_se > float(max_pose_se_vox):
        messages.append(
            f"poor registration: the pose's standard error is {pose_se:.2f} voxels RMS over the map pixel centres, "
            f"above max_pose_se_vox={float(max_pose_se_vox):g} (the error can exceed 1 voxel; the map fixes the pose "
            "too loosely)"
        )
    poor = bool(messages)
    for msg in messages:
        warnings.warn(msg, RegistrationWarning, stacklevel=2)
    pose = decompose_pose(best["matrix"], map_image.shape, p)
    timings["total"] = time.perf_counter() - t0
    cand_list = [{k: v for k, v in r.items() if k not in ("quality", "rank_key")} for r in refined]
    return RegistrationResult(
        matrix=best["matrix"], map_shape=tuple(map_image.shape), pixel_size_um=p, ct_shape=tuple(ct.shape),
        voxel_size_um=tuple(float(v) for v in vs), axis=pose["axis"], rotation_deg=pose["rotation_deg"],
        mirror=pose["mirror"], tilt_deg=pose["tilt_deg"], centre_um=pose["centre_um"], mattes_mi=best["mattes_mi"],
        mi=q["mi"], nmi=q["nmi"], nmi_null=q["nmi_null"], contrast=q["contrast"],
        overlap_fraction=q["overlap_fraction"], overlap_area_um2=q["overlap_area_um2"], pose_se_vox=pose_se,
        poor_quality=poor, messages=messages, structure_px=structure, candidates=cand_list, timings_s=timings,
        fine_slabs=slabs.used,
    )
