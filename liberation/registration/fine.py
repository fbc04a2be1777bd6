"""Fine rigid registration of a map plane in CT space with SimpleITK (Mattes mutual information).

The fixed image is the map as a one-slice 3D image (pixel ``(r, c)`` at map-frame
``(0, r*p, c*p)`` µm), the moving image is the CT volume; the optimised
``Euler3DTransform`` takes map-frame points to CT points, which is the registration
matrix itself. Multi-resolution is done with our own pyramid (ITK's smoothing cannot run
on a one-slice image): a first level on a block-reduced, smoothed CT and a smoothed map,
a last level on the CT smoothed to the map's pixel footprint. Linear interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from liberation.registration.coarse import downsample_volume
from liberation.registration.geometry import apply_affine, map_centre_um, map_pixel_centres

__all__ = ["FineLevel", "prepare_levels", "polish_bins", "refine_pose", "to_sitk_matrix", "from_sitk_transform",
           "ClassFractionPolish"]

# numpy (z, y, x) <-> SimpleITK (x, y, z)
_PERM = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)


@dataclass
class FineLevel:
    """One resolution level: the moving CT and fixed map as SimpleITK images."""

    moving: object
    fixed: object
    n_pixels: int


def _sitk():
    import SimpleITK as sitk

    return sitk


def _ct_image(volume: np.ndarray, spacing_zyx, origin_zyx):
    sitk = _sitk()
    img = sitk.GetImageFromArray(np.ascontiguousarray(volume, dtype=np.float32))
    img.SetSpacing([float(v) for v in spacing_zyx[::-1]])
    img.SetOrigin([float(v) for v in origin_zyx[::-1]])
    return img


def _map_image(map_image: np.ndarray, pixel_size_um: float):
    sitk = _sitk()
    img = sitk.GetImageFromArray(np.ascontiguousarray(map_image, dtype=np.float32)[None])
    img.SetSpacing((pixel_size_um, pixel_size_um, pixel_size_um))
    img.SetOrigin((0.0, 0.0, 0.0))
    return img


def prepare_levels(
    ct: np.ndarray,
    map_image: np.ndarray,
    *,
    voxel_size_um,
    pixel_size_um: float,
    map_mask=None,
    axis: int | None = None,
    origin_voxel=(0, 0, 0),
    levels: tuple[int, ...] = (0, 1),
    pad_ends: tuple[int, int] = (0, 0),
) -> list[FineLevel]:
    """Build the two-level pyramid (coarse then fine) used by :func:`refine_pose`.

    At the last level the CT is smoothed to the map's pixel footprint in the plane
    perpendicular to ``axis`` (lightly along it); isotropically when ``axis`` is None.
    Masked-out map pixels are filled with the map median (a fixed mask is also set).

    Parameters
    ----------
    ct : numpy.ndarray or lazily sliced array (zarr), shape (z, y, x)
        The CT volume, or a box of it (e.g. a slab around a candidate plane). Level 0 reads it
        64 slices at a time; level 1 reads it whole (float32 output of the smoothing only).
    origin_voxel : (int, int, int)
        Index in the full CT of ``ct[0, 0, 0]`` (physical positions stay those of the full CT).
    levels : tuple of int
        Which levels to build (0 = block-reduced, 1 = full resolution); the list follows this order.
    pad_ends : (int, int)
        Level 1 only: slices added before the first and after the last slice of ``ct`` along ``axis``
        (where ``ct`` ends at an end face of the scan), mirrored about the end slice (``numpy.pad``
        ``"reflect"``: the measure is symmetric about the end face, so a map of the end face keeps its
        maximum there). Without them a map of the end face lies on the last voxel centres, at the edge
        of the image buffer: the optimiser's first step put the samples outside and the refinement
        failed (the README chain's bottom face, a 24 x 24 map at 20 µm: 29-35 voxels off, its best coarse
        candidate, 1.5 voxels from the truth, dropped). Repeating the end slice instead (``"edge"``)
        made the measure flat beyond the face and the plane drifted 3.5 voxels out.
    """
    vs = np.asarray(voxel_size_um, dtype=float)
    p = float(pixel_size_um)
    o = np.asarray(origin_voxel, dtype=float)
    mimg = map_image.astype(np.float32)
    if map_mask is not None:
        mimg = np.where(map_mask, mimg, np.median(mimg[map_mask]))
    out = []
    for level in levels:
        if level == 0:
            # CT block-reduced to about the map pixel, smoothed; map smoothed
            factors = tuple(max(1, int(round(p / s))) for s in vs)
            red = ndi.gaussian_filter(downsample_volume(ct, factors), 1.0)
            sp = vs * np.asarray(factors)
            img = _ct_image(red, sp, (o + (np.asarray(factors) - 1) / 2) * vs)
            out.append(FineLevel(img, _map_image(ndi.gaussian_filter(mimg, 1.0), p), mimg.size))
        else:
            # CT smoothed to the pixel footprint (box of width p ~ Gaussian sigma 0.3 p)
            sigma = 0.3 * p / vs
            if axis is not None:
                sigma[axis] = 0.5
            data = np.asarray(ct)
            origin = o.copy()
            if axis is not None and any(pad_ends):
                widths = [(0, 0)] * 3
                widths[axis] = (int(pad_ends[0]), int(pad_ends[1]))
                data = np.pad(data, widths, mode="reflect")
                origin[axis] -= int(pad_ends[0])
            if np.any(sigma > 0.3):
                full = ndi.gaussian_filter(data, sigma, output=np.float32)
            else:
                full = data.astype(np.float32, copy=False)
            del data
            out.append(FineLevel(_ct_image(full, vs, origin * vs), _map_image(mimg, p), mimg.size))
    levels = out
    if map_mask is not None:
        sitk = _sitk()
        mk = sitk.GetImageFromArray(np.asarray(map_mask, dtype=np.uint8)[None])
        mk.SetSpacing((p, p, p))
        for lv in levels:
            lv.fixed_mask = mk
    return levels


def to_sitk_matrix(matrix: np.ndarray, centre_map_um_zyx: np.ndarray):
    """Euler3DTransform equal to a 4x4 (z, y, x) affine, with its centre at a map-frame point."""
    sitk = _sitk()
    m = np.asarray(matrix, dtype=float)
    a = _PERM @ m[:3, :3] @ _PERM
    o = _PERM @ m[:3, 3]
    c = _PERM @ np.asarray(centre_map_um_zyx, dtype=float)
    # orthonormalise (the coarse matrices are exact rotations; guard against round-off)
    u, _, vt = np.linalg.svd(a)
    a = u @ vt
    t = sitk.Euler3DTransform()
    t.SetCenter([float(v) for v in c])
    t.SetMatrix([float(v) for v in a.ravel()])
    t.SetTranslation([float(v) for v in (o + a @ c - c)])
    return t


def from_sitk_transform(transform) -> np.ndarray:
    """4x4 (z, y, x) affine of a SimpleITK affine-like transform (matrix, centre, translation)."""
    a = np.asarray(transform.GetMatrix(), dtype=float).reshape(3, 3)
    c = np.asarray(transform.GetCenter(), dtype=float)
    t = np.asarray(transform.GetTranslation(), dtype=float)
    offset = t + c - a @ c
    m = np.eye(4)
    m[:3, :3] = _PERM @ a @ _PERM
    m[:3, 3] = _PERM @ offset
    return m


def polish_bins(map_shape: tuple[int, int]) -> int:
    """Mattes bins for the full-resolution level: ``clip(sqrt(map pixels) / 1.5, 12, 24)``.

    On 36 x 36 maps of a dense core (4x coarser than the CT) 24 bins instead of 12 took the error
    of a refinement started at the true pose from 0.56 to 0.40 voxel RMS (mean of 5 poses).
    """
    return int(np.clip(round(np.sqrt(map_shape[0] * map_shape[1]) / 1.5), 12, 24))


def refine_pose(
    levels: list[FineLevel],
    init_matrix: np.ndarray,
    *,
    map_shape: tuple[int, int],
    pixel_size_um: float,
    voxel_size_um,
    iterations: int = 200,
    bins: int | None = None,
    workers: int = 1,
) -> tuple[np.ndarray, float]:
    """Refine a pose by Mattes-MI rigid registration over the pyramid.

    ``bins``: Mattes histogram bins; default ``clip(sqrt(map pixels) / 3, 12, 32)`` (wide basin, for
    starting poses a few pixels off). More bins (:func:`polish_bins`) give a sharper optimum on the
    final level once the pose is close, at the cost of a smaller basin.

    Returns
    -------
    matrix : numpy.ndarray, shape (4, 4)
        Refined map µm -> CT µm affine.
    metric : float
        Final Mattes metric value (negative MI; lower is better), or ``inf`` if the
        registration failed (e.g. the map left the volume).
    """
    sitk = _sitk()
    vs = np.asarray(voxel_size_um, dtype=float)
    matrix = np.asarray(init_matrix, dtype=float)
    centre = map_centre_um(map_shape, pixel_size_um)
    n = map_shape[0] * map_shape[1]
    bins = int(np.clip(np.sqrt(n) / 3.0, 12, 32)) if bins is None else int(bins)
    # ITK's metric threads follow the GLOBAL default, not only the method's SetNumberOfThreads: with the
    # global default at the CPU count, workers=1 gave run-to-run different poses (up to 0.03 voxel apart on
    # the registration tests' phantom; a borderline rival then flipped the undetermined-pose flag in CI).
    # The global default is set to ``workers`` for the refinement and restored after it.
    threads_before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(workers))
    try:
        return _refine_levels(sitk, levels, matrix, centre, vs, bins, iterations, workers)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads_before)


def _refine_levels(sitk, levels, matrix, centre, vs, bins, iterations, workers) -> tuple[np.ndarray, float]:
    """The pyramid loop of :func:`refine_pose` (same arguments, already checked)."""
    metric = np.inf
    for li, lv in enumerate(levels):
        reg = sitk.ImageRegistrationMethod()
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
        reg.SetMetricSamplingStrategy(reg.NONE)
        # gradients by central differences at the samples: ITK's default computes a smoothed gradient
        # image of the whole moving volume at every Execute (seconds, 3 doubles per voxel)
        reg.SetMetricUseMovingImageGradientFilter(False)
        reg.SetMetricUseFixedImageGradientFilter(False)
        reg.SetInterpolator(sitk.sitkLinear)
        mask = getattr(lv, "fixed_mask", None)
        if mask is not None:
            reg.SetMetricFixedMask(mask)
        step = (4.0 if li == 0 else 1.0) * float(vs.max())
        reg.SetOptimizerAsRegularStepGradientDescent(
            learningRate=step, minStep=0.03 * float(vs.min()), numberOfIterations=iterations,
            relaxationFactor=0.5, gradientMagnitudeTolerance=1e-10,
        )
        reg.SetOptimizerScalesFromPhysicalShift()
        reg.SetNumberOfThreads(int(workers))
        transform = to_sitk_matrix(matrix, centre)
        reg.SetInitialTransform(transform, inPlace=True)
        try:
            reg.Execute(lv.fixed, lv.moving)
        except RuntimeError:
            return matrix, np.inf
        matrix = from_sitk_transform(transform)
        metric = float(reg.GetMetricValue())
    return matrix, metric


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares fit of ``y`` (n,) by the columns of ``x`` (n, k), k small: the fitted values.

    Normal equations summed with ``einsum`` (no BLAS call on the n x k matrix: a threaded BLAS on
    these small products, with the CPUs busy, took 25x longer, 0.25 s instead of 0.01 s per call).
    """
    gram = np.einsum("ij,ik->jk", x, x)
    rhs = np.einsum("ij,i->j", x, y)
    coef = np.linalg.lstsq(gram, rhs, rcond=None)[0]
    return np.einsum("ij,j->i", x, coef)


class ClassFractionPolish:
    """Last refinement of a pose by a forward model of the map: a linear mix of CT grey-class fractions.

    The CT box around the plane is cut into ``n_classes`` natural grey levels
    (:func:`~liberation.registration.similarity.level_bins`, 1D k-means); each class indicator is
    smoothed to the map's pixel footprint (Gaussian, sigma ``0.3 p`` in the plane, 0.3 voxel along the
    axis); at a pose the map is fitted, by least squares, as a linear combination of the class fractions
    sampled at its pixel centres, and the score is the fraction of the map's variance explained (R^2).
    This is how an element map forms (counts are linear in the phase fractions of a pixel's footprint);
    the CT classes absorb any intensity relation, non-monotone too, and CT contrast that the map does not
    show (grain boundaries between minerals of equal counts) costs nothing, while Mattes MI and NMI on the
    smoothed CT treat it as noise to be explained: their maxima lie 1-2 voxels from the truth on
    36 x 36 maps of 20-voxel grains at 4x (core-r4-m36-g20), this measure's within 0.4-0.7 voxel
    (docs/registration.md, session 7). Smooth in the pose (the classes are fixed, their smoothed
    fractions are sampled by linear interpolation): Powell over the six rigid parameters about the map
    centre (translations in voxels, rotations in units that move the map corners by one voxel), bounded
    to ``max_step_vox`` either way.

    Parameters
    ----------
    ct_box : numpy.ndarray, shape (z, y, x)
        The full-resolution CT around the plane (a box of the volume).
    origin_voxel : (int, int, int)
        Index in the full CT of ``ct_box[0, 0, 0]``.
    map_image : numpy.ndarray, shape (rows, columns)
    pixel_size_um : float
    voxel_size_um : (float, float, float)
    axis : int
        CT axis nearest the plane normal.
    map_mask : numpy.ndarray of bool, optional
    n_classes : int
        CT grey classes (16: with 5 minerals and the boundary voxels of a 0.7-voxel CT blur, fewer
        classes put partial-volume voxels in a mineral's class: 6 classes gave 0.5-1.0 voxel).
    max_step_vox : float
    """

    def __init__(self, ct_box, *, origin_voxel, map_image, pixel_size_um, voxel_size_um, axis: int, map_mask=None,
                 n_classes: int = 16, max_step_vox: float = 3.0):
        from liberation.registration.similarity import level_bins

        self.vs = np.asarray(voxel_size_um, dtype=float)
        self.p = float(pixel_size_um)
        self.shape = tuple(map_image.shape)
        box = np.asarray(ct_box, dtype=np.float32)
        classes = level_bins(box, int(n_classes))
        sigma = 0.3 * self.p / self.vs
        sigma[axis] = 0.3
        present = [k for k in range(int(classes.max()) + 1) if np.any(classes == k)]
        # channel-last (z, y, x, class): one gather per trilinear corner samples every class at once
        self.stack = np.empty(box.shape + (len(present),), dtype=np.float32)
        for i, k in enumerate(present):
            self.stack[..., i] = ndi.gaussian_filter((classes == k).astype(np.float32), sigma, truncate=3.0)
        self.n_channels = len(present)
        self.origin = np.asarray(origin_voxel, dtype=float)
        valid = np.ones(self.shape, bool) if map_mask is None else np.asarray(map_mask, bool)
        self.valid = valid.ravel()
        self.y = np.asarray(map_image, dtype=np.float64).ravel()[self.valid]
        self.ss = float(((self.y - self.y.mean()) ** 2).sum())
        self.pts = map_pixel_centres(self.shape, self.p).reshape(-1, 3)[self.valid]
        self.centre = map_centre_um(self.shape, self.p)
        self.half_diag = 0.5 * np.hypot(*self.shape) * self.p
        self.max_step = float(max_step_vox)
        self.open_low = np.zeros(3, bool)  # box sides at the end of the CT volume (set by the caller)
        self.open_high = np.zeros(3, bool)
        self.mirror_ends = False  # fractions beyond an end face along ``axis``: clamped (False) or mirrored (True)
        self.axis = int(axis)

    def fractions(self, matrix) -> np.ndarray:
        """Smoothed class fractions at the map pixel centres (trilinear, clamped at the box), shape (pixels, classes)."""
        idx = apply_affine(matrix, self.pts) / self.vs - self.origin
        size = np.asarray(self.stack.shape[:3])
        if self.mirror_ends:  # beyond an end face (along the axis): the CT mirrored about its end slice ("reflect")
            a = self.axis
            if self.open_low[a]:
                idx[:, a] = np.abs(idx[:, a])
            if self.open_high[a]:
                idx[:, a] = np.where(idx[:, a] > size[a] - 1, 2.0 * (size[a] - 1) - idx[:, a], idx[:, a])
        idx = np.clip(idx, 0.0, size - 1.0)
        i0 = np.minimum(np.floor(idx).astype(np.int64), size - 2).clip(0)
        f = (idx - i0).astype(np.float32)
        out = np.zeros((idx.shape[0], self.n_channels), dtype=np.float32)
        for dz in (0, 1):
            wz = f[:, 0] if dz else 1.0 - f[:, 0]
            for dy in (0, 1):
                wy = f[:, 1] if dy else 1.0 - f[:, 1]
                for dx in (0, 1):
                    wx = f[:, 2] if dx else 1.0 - f[:, 2]
                    iz = np.minimum(i0[:, 0] + dz, size[0] - 1)
                    iy = np.minimum(i0[:, 1] + dy, size[1] - 1)
                    ix = np.minimum(i0[:, 2] + dx, size[2] - 1)
                    out += (wz * wy * wx)[:, None] * self.stack[iz, iy, ix]
        return out.astype(np.float64)

    def score(self, matrix) -> float:
        """R^2 of the map fitted by the CT class fractions at the pose ``matrix``."""
        x = self.fractions(matrix)
        res = self.y - _fit(x, self.y)
        return 1.0 - float(np.einsum("i,i->", res, res)) / self.ss if self.ss > 0 else 0.0

    def null_score(self, matrix) -> float:
        """The largest R^2 with the map flipped up-down, left-right, both, or shifted by half (no alignment)."""
        x = self.fractions(matrix)
        full = np.full(self.valid.size, np.nan)
        full[self.valid] = self.y
        full = full.reshape(self.shape)
        h, w = self.shape
        best = 0.0
        for alt in (full[::-1], full[:, ::-1], full[::-1, ::-1], np.roll(full, (h // 2, w // 2), axis=(0, 1))):
            y = alt.ravel()[self.valid]
            ok = np.isfinite(y)
            if ok.sum() < 2:
                continue
            yy = y[ok] - y[ok].mean()
            res = yy - _fit(x[ok], yy)
            tot = float(np.einsum("i,i->", yy, yy))
            if tot > 0:
                best = max(best, 1.0 - float(res @ res) / tot)
        return best

    def residuals(self, matrix) -> np.ndarray:
        """Map minus its least-squares fit by the class fractions at ``matrix``, shape (valid pixels,)."""
        y = self.y
        return y - _fit(self.fractions(matrix), y)

    def pose_standard_error(self, matrix, *, n_blocks: int = 6, step_vox: float = 0.3) -> float:
        """Standard error of the pose that maximises this measure, in voxels RMS over the map pixel centres.

        The measure is a least-squares fit, ``S(x) = sum_i r_i(x)^2`` over the six rigid parameters ``x`` of
        :meth:`pose` (the class coefficients refitted at every ``x``). Its Gauss-Newton Hessian
        ``H = D+^T D+ + D-^T D-`` (``D+``, ``D-``: the residuals' one-sided differences of ``step_vox``; ``2 D^T D``
        where the residuals are smooth, finite on the kink of a map lying on an end face of the volume, where the
        CT is mirrored about the end slice as in :func:`prepare_levels`), ``D = (D+ + D-) / 2``, and the
        block-robust ("sandwich") covariance ``C = H^-1 (sum_b g_b g_b^T) H^-1``, where ``g_b`` is the
        gradient ``2 sum r_i dr_i/dx`` summed over a block of map pixels (the map cut into about
        ``n_blocks x n_blocks`` square blocks): residuals correlated within a block (model mismatch along a
        grain boundary, not only pixel noise) count as one. The pixel-centre displacement ``J x`` is linear
        in ``x``; the result is ``sqrt(trace(G C))`` with ``G = mean_i J_i^T J_i`` / voxel^2, the expected RMS
        error of the pose over the map pixel centres. With independent pixel noise of variance ``s^2`` and an
        exact model it tends to ``sqrt(trace(G 2 s^2 H^-1))`` (tested against the spread of polished poses
        over noise draws).

        Parameters
        ----------
        matrix : numpy.ndarray, shape (4, 4)
            The pose (map µm -> CT µm).
        n_blocks : int
            Blocks per map side.
        step_vox : float
            Finite-difference step (voxels, corner voxels for rotations).

        Returns
        -------
        float
            Voxels (``inf`` when the measure does not fix every parameter: a singular Hessian).
        """
        mirror_before = self.mirror_ends
        # at an end face of the volume, clamped fractions make the measure flat beyond the face (an infinite
        # standard error along the normal); mirrored, it is symmetric about the face, as in prepare_levels
        self.mirror_ends = True
        try:
            return self._standard_error(np.asarray(matrix, dtype=float), int(n_blocks), float(step_vox))
        finally:
            self.mirror_ends = mirror_before

    def _standard_error(self, m, n_blocks, h) -> float:
        """:meth:`pose_standard_error` (arguments checked)."""
        eye = np.eye(6)
        r0 = self.residuals(m)
        # one-sided differences for the Hessian (a map on an end face, mirrored, sits on a kink: a sharp maximum
        # whose central difference is 0), their mean (the central difference) for the gradients
        d_plus = np.stack([(self.residuals(self.pose(m, h * e)) - r0) / h for e in eye], axis=-1)
        d_minus = np.stack([(r0 - self.residuals(self.pose(m, -h * e))) / h for e in eye], axis=-1)
        d = 0.5 * (d_plus + d_minus)
        hess = np.einsum("ij,ik->jk", d_plus, d_plus) + np.einsum("ij,ik->jk", d_minus, d_minus)
        rows, cols = self.shape
        blk = max(1, int(round(max(rows, cols) / max(n_blocks, 1))))
        block_id = ((np.arange(rows)[:, None] // blk) * (-(-cols // blk)) + np.arange(cols)[None] // blk).ravel()
        g = np.zeros((int(block_id.max()) + 1, 6))
        np.add.at(g, block_id[self.valid], 2.0 * r0[:, None] * d)
        try:
            hinv = np.linalg.inv(hess)
        except np.linalg.LinAlgError:
            return float("inf")
        if not np.all(np.isfinite(hinv)) or np.any(np.linalg.eigvalsh(hess) <= 0):
            return float("inf")
        cov = hinv @ np.einsum("bj,bk->jk", g, g) @ hinv
        # pixel-centre displacement (voxels) per unit parameter: the pose is linear to first order
        base = apply_affine(m, self.pts) / self.vs
        eps = 1e-3
        jac = np.stack([(apply_affine(self.pose(m, eps * e), self.pts) / self.vs - base) / eps for e in eye], axis=-1)
        gmat = np.einsum("nai,naj->ij", jac, jac) / jac.shape[0]
        return float(np.sqrt(max(np.trace(gmat @ cov), 0.0)))

    def contains(self, matrix, margin_vox: float = 4.0) -> bool:
        """Whether the map plane at ``matrix``, widened by ``margin_vox``, lies inside the CT box of this polish.

        A side of the box at the end of the CT volume (``open_low`` / ``open_high``, per axis) holds everything beyond.
        """
        h, w = self.shape
        corners = np.array([[0.0, r * self.p, c * self.p] for r in (0, h - 1) for c in (0, w - 1)])
        idx = apply_affine(matrix, corners) / self.vs - self.origin
        size = np.asarray(self.stack.shape[:3])
        low = (idx.min(axis=0) >= margin_vox) | self.open_low
        high = (idx.max(axis=0) <= size - 1 - margin_vox) | self.open_high
        return bool(np.all(low) and np.all(high))

    def pose(self, matrix, x) -> np.ndarray:
        """``matrix`` moved by ``x``: 3 translations (voxels) and a rotation vector (corner voxels) about the map centre."""
        from scipy.spatial.transform import Rotation

        m = np.asarray(matrix, dtype=float)
        v = float(self.vs.mean())
        c_ct = apply_affine(m, self.centre[None])[0]
        rot = Rotation.from_rotvec(np.asarray(x[3:], dtype=float) * v / self.half_diag).as_matrix()
        t = np.eye(4)
        t[:3, :3] = rot
        t[:3, 3] = c_ct + np.asarray(x[:3], dtype=float) * v - rot @ c_ct
        return t @ m

    def __call__(self, matrix) -> tuple[np.ndarray, float]:
        """The polished pose and its R^2."""
        from scipy.optimize import minimize

        m0 = np.asarray(matrix, dtype=float)
        if self.ss <= 0 or self.n_channels < 2:
            return m0, self.score(m0)
        res = minimize(lambda x: -self.score(self.pose(m0, x)), np.zeros(6), method="Powell",
                       bounds=[(-self.max_step, self.max_step)] * 6, options={"xtol": 1e-2, "ftol": 1e-7})
        m = self.pose(m0, res.x)
        return m, self.score(m)
