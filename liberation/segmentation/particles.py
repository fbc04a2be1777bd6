"""Particle instances: training targets, a classical bootstrap, and the seeded watershed."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from liberation._validation import as_voxel_size, check_label_array
from liberation.errors import InputError
from liberation.segmentation.targets import IGNORE

__all__ = ["particle_targets", "classical_particles", "bootstrap_particles", "instances_from_prediction",
           "contact_zone"]

OUTSIDE, PARTICLE, CONTACT = 0, 1, 2


def contact_zone(instances, *, width: int = 1) -> np.ndarray:
    """Voxels within ``width`` voxels of two different instances (where particles touch or nearly do)."""
    instances = np.asarray(instances)
    size = 2 * int(width) + 1
    big = np.iinfo(np.int64).max
    inst = instances.astype(np.int64)
    high = ndimage.maximum_filter(inst, size=size)
    low = ndimage.minimum_filter(np.where(inst > 0, inst, big), size=size)
    return (high > 0) & (low < big) & (high != low)


def particle_targets(sparse, *, instances=None, contact_width: int = 1, bootstrap_planes: int = 0) -> np.ndarray:
    """Training labels of the particles task from sparse phase labels (any mineral = particle).

    Parameters
    ----------
    sparse : ndarray of uint8, shape (z, y, x)
        Sparse phase labels, 255 = unlabelled.
    instances : ndarray of int, shape (z, y, x), optional
        Instances of a classical bootstrap (:func:`classical_particles`); they mark the
        contact zones between particles on the labelled planes (class 2: particle voxels
        within ``contact_width`` of another instance; the void between particles stays
        outside) and, with
        ``bootstrap_planes``, label extra planes.
    contact_width : int
        Half width of the contact zone in voxels.
    bootstrap_planes : int
        Number of extra evenly spaced z planes labelled from the bootstrap alone
        (outside / particle / contact). 0 = labelled planes only.

    Returns
    -------
    ndarray of uint8, shape (z, y, x)
        0 outside, 1 particle, 2 contact zone, 255 unlabelled.
    """
    sparse = np.asarray(sparse)
    check_label_array(sparse, name="sparse", ndim=3)
    labelled = sparse != IGNORE
    out = np.full(sparse.shape, IGNORE, dtype=np.uint8)
    out[labelled & (sparse == 0)] = OUTSIDE
    out[labelled & (sparse > 0)] = PARTICLE
    if instances is not None:
        instances = np.asarray(instances)
        if instances.shape != sparse.shape:
            raise InputError(f"instances have shape {instances.shape}; expected {sparse.shape}")
        # contact voxels are particle voxels next to another particle: the void gap between
        # two particles stays outside, so foreground = particle | contact is the particle set
        contact = contact_zone(instances, width=contact_width)
        out[labelled & (sparse > 0) & contact] = CONTACT
        if bootstrap_planes > 0:
            planes = np.unique(np.linspace(0, sparse.shape[0] - 1, bootstrap_planes + 2).round().astype(int)[1:-1])
            for z in planes:
                if labelled[z].any():
                    continue
                plane = np.where(instances[z] > 0, PARTICLE, OUTSIDE).astype(np.uint8)
                plane[contact[z] & (instances[z] > 0)] = CONTACT
                out[z] = plane
    elif bootstrap_planes:
        raise InputError("bootstrap_planes needs instances= from classical_particles")
    return out


def _seeded_watershed(foreground, core, *, sampling, h: float, min_size_voxels: int) -> np.ndarray:
    """Seeds = maxima (dynamic >= ``h`` voxels) of the distance map of ``core``
    (:func:`liberation.segmentation.classical.h_maxima_markers`, as ``separate_particles(method="h_maxima")``),
    then :func:`_flood`."""
    from liberation.segmentation.classical import distance_map, h_maxima_markers

    voxel = float(min(sampling))
    dist = distance_map(core, sampling).astype(np.float64)
    markers = h_maxima_markers(dist / voxel, core, h, connectivity=1)
    return _flood(foreground, markers, sampling=sampling, min_size_voxels=min_size_voxels)


def _flood(foreground, markers, *, sampling, min_size_voxels: int, keep_unseeded: bool = False) -> np.ndarray:
    """Watershed of the foreground's distance map from ``markers``; small instances dropped, ids 1..n.

    With ``keep_unseeded`` a foreground component that holds no marker becomes an instance.
    """
    from skimage.segmentation import watershed

    from liberation.segmentation.classical import distance_map

    labels = watershed(-distance_map(foreground, sampling).astype(np.float64), markers, mask=foreground)
    if keep_unseeded:
        unseeded, _ = ndimage.label(foreground & (labels == 0))
        labels = np.where(unseeded > 0, unseeded + labels.max(), labels)
    return _relabel(_drop_small(labels, min_size_voxels))


def _drop_small(labels: np.ndarray, min_size_voxels: int) -> np.ndarray:
    """Set labels of fewer than ``min_size_voxels`` voxels to 0, in place."""
    counts = np.bincount(labels.ravel())
    small = counts < min_size_voxels
    small[0] = False
    if small.any():
        labels[small[labels]] = 0
    return labels


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Consecutive ids 1..n (uint32)."""
    ids = np.unique(labels)
    ids = ids[ids > 0]
    lut = np.zeros(int(labels.max()) + 1, dtype=np.uint32)
    lut[ids] = np.arange(1, len(ids) + 1, dtype=np.uint32)
    return lut[labels]


def _relative_landscape(foreground, core, *, sampling, ratio: float, min_size_voxels: int) -> np.ndarray:
    """Relative-dynamic separation on the distance map of the predicted cores.

    The landscape is the Euclidean distance map (µm) of the foreground, smoothed by 0.5
    voxel, and zero on every voxel that is not core (outside *or contact*): a predicted
    contact sheet cuts it to zero, a neck the contact class missed still narrows it, and the
    peaks keep the particle's inscribed radius (a distance map of the cores alone would lower
    a particle's peak by its other contacts and merge it across a missed one). Every regional
    maximum seeds a watershed of the foreground (contact voxels included), and neighbouring
    regions are merged, highest saddle first, while the saddle is at least ``ratio`` x the
    smaller region's peak or less than 0.5 voxel below it
    (:func:`liberation.segmentation.classical.separate_particles`, method ``relative_dynamic``).
    """
    from skimage.segmentation import watershed

    from liberation.segmentation.classical import _merge_by_relative_dynamic

    if not (isinstance(ratio, (int, float)) and 0 < ratio < 1):
        raise InputError(f"ratio={ratio!r} must be in (0, 1)")
    if not foreground.any():
        return np.zeros(foreground.shape, dtype=np.uint32)
    vmin = float(min(sampling))
    dist = ndimage.distance_transform_edt(foreground, sampling=sampling).astype(np.float32)
    height = ndimage.gaussian_filter(dist, [0.5 * vmin / v for v in sampling]) * core
    peaks = (height == ndimage.maximum_filter(height, size=3)) & core & (height > 0)
    markers, _ = ndimage.label(peaks, structure=np.ones((3, 3, 3)))
    regions = watershed(-height, markers, mask=foreground)
    labels = _merge_by_relative_dynamic(regions, height, ratio=float(ratio), h_um=0.5 * float(max(sampling)))
    # foreground without a seed (a particle predicted as contact only) becomes its own instance
    unseeded, _ = ndimage.label(foreground & (labels == 0))
    labels = np.where(unseeded > 0, unseeded + labels.max(), labels)
    return _relabel(_drop_small(labels, int(min_size_voxels)))


def instances_from_prediction(classes, *, voxel_size_um=1.0, min_size_voxels: int = 30, seeds: str = "relative",
                              min_seed_voxels: int = 3, h: float = 2.0, ratio: float = 0.9) -> np.ndarray:
    """Particle instances from predicted classes (0 outside, 1 particle, 2 contact) by a watershed.

    ``seeds="relative"`` (default): the landscape is the distance map of the foreground
    (particle | contact, µm, smoothed by 0.5 voxel) with the predicted contact voxels set to
    zero; every regional maximum seeds a watershed of the foreground, and neighbouring regions
    are merged while the saddle between them is at least ``ratio`` x the smaller peak (the
    relative dynamic of :func:`liberation.segmentation.classical.separate_particles`). A
    predicted contact sheet separates two particles; a neck the contact class missed still
    separates them when it is narrower than ``ratio`` x the particle's inscribed radius; the
    shallow saddles along an elongated grain do not split it. On classes made from the truth
    of touching spheres and 2:1 / 3:1 ellipsoids (radius 4-6 voxels), the count is exact with
    all, half or none of the contacts predicted (benchmarks/bench_particle_counts.py,
    docs/particles_network.md). ``seeds="core"``: every connected core (class 1) of at least
    ``min_seed_voxels`` voxels is one seed; one missed contact merges two particles.
    ``seeds="distance"``: the seeds are the maxima (dynamic >= ``h`` voxels) of the distance
    map of the cores; it over-splits elongated grains. For ``core`` and ``distance`` every
    particle or contact voxel is flooded from the seeds over the distance map of the
    foreground. With every method a foreground component that holds no seed (a small particle
    predicted as contact only) becomes an instance of its own.

    Parameters
    ----------
    classes : ndarray of int, shape (z, y, x)
    voxel_size_um : float or tuple
        Voxel size (µm) for the anisotropic distance map.
    min_size_voxels : int
        Instances smaller than this are dropped.
    seeds : {"relative", "core", "distance"}
        How touching particles are split (see above).
    min_seed_voxels : int
        ``seeds="core"``: smaller core components are not seeds (their voxels are flooded
        from a neighbour or, if isolated, become an instance of their own).
    h : float
        ``seeds="distance"``: seed dynamic in voxels.
    ratio : float
        ``seeds="relative"``: neck-to-peak ratio above which two regions are one particle, in (0, 1).

    Returns
    -------
    ndarray of uint32, shape (z, y, x)
        Instance ids 1..n, 0 outside.
    """
    classes = np.asarray(classes)
    check_label_array(classes, name="classes", ndim=3)
    vs = as_voxel_size(voxel_size_um)
    foreground = classes > 0
    core = classes == PARTICLE
    if seeds == "relative":
        return _relative_landscape(foreground, core, sampling=vs, ratio=ratio, min_size_voxels=int(min_size_voxels))
    if seeds == "distance":
        return _seeded_watershed(foreground, core, sampling=vs, h=h, min_size_voxels=min_size_voxels)
    if seeds != "core":
        raise InputError(f"seeds={seeds!r}; expected 'relative', 'core' or 'distance'")
    if int(min_seed_voxels) < 1:
        raise InputError(f"min_seed_voxels={min_seed_voxels!r}; expected a positive number of voxels")
    markers, _ = ndimage.label(core)
    _drop_small(markers, int(min_seed_voxels))
    return _flood(foreground, markers, sampling=vs, min_size_voxels=int(min_size_voxels), keep_unseeded=True)


def classical_particles(ct, *, voxel_size_um=1.0, threshold: float | None = None, smooth_sigma: float = 1.0,
                        min_size_voxels: int = 30, h: float = 1.5) -> np.ndarray:
    """Classical particle instances: smoothing, Otsu threshold, distance-map seeded watershed.

    Used as the bootstrap for the particles task (and as a baseline).

    Parameters
    ----------
    ct : ndarray, shape (z, y, x)
        CT grey values.
    voxel_size_um : float or tuple
    threshold : float, optional
        Grey value separating particles from the background; default Otsu on the
        smoothed image.
    smooth_sigma : float
        Gaussian smoothing in voxels before thresholding.
    min_size_voxels : int
    h : float
        Seed dynamic in voxels. The default 1.5 was chosen on two texture phantoms
        (128^3, seeds 1 and 2, 228 and 233 particles): count errors -3.5 % and 0.0 %, against
        +4.8 / +6.4 % at h = 1 and -9.6 / -6.9 % at h = 2 (over- vs under-segmentation).

    Returns
    -------
    ndarray of uint32, shape (z, y, x)
    """
    from skimage.filters import threshold_otsu

    ct = np.asarray(ct, dtype=np.float32)
    if ct.ndim != 3:
        raise InputError(f"ct has shape {ct.shape}; expected (z, y, x)")
    vs = as_voxel_size(voxel_size_um)
    smooth = ndimage.gaussian_filter(ct, smooth_sigma) if smooth_sigma > 0 else ct
    t = float(threshold_otsu(smooth)) if threshold is None else float(threshold)
    foreground = smooth > t
    foreground = ndimage.binary_opening(foreground, iterations=1)
    return _seeded_watershed(foreground, foreground, sampling=vs, h=h, min_size_voxels=min_size_voxels)


def bootstrap_particles(ct, *, voxel_size_um=1.0, smooth_sigma: float = 0.0, min_size_voxels: int = 30) -> np.ndarray:
    """Particle instances from the CT alone, as the contact targets of the particles network.

    Void / solid by Otsu on the CT smoothed by ``smooth_sigma`` voxels
    (:func:`liberation.segmentation.classical.classical_phases`, two classes), then the
    relative-dynamic separation (:func:`liberation.segmentation.classical.separate_particles`,
    its defaults). Unlike :func:`classical_particles` (h-maxima seeds), it does not merge
    touching elongated particles (benchmarks/bench_particle_counts.py,
    docs/particles_network.md); without smoothing (the default) the necks between small
    particles stay open: 1 voxel of smoothing fattened the foreground by 20-35 % of the
    particle volume on packs of radius 4 voxels and merged them (CT noise 2-5 %).

    Parameters
    ----------
    ct : ndarray, shape (z, y, x)
        CT grey values.
    voxel_size_um : float or tuple
        Voxel size in µm (anisotropic voxels respected).
    smooth_sigma : float
        Gaussian smoothing in voxels before the threshold.
    min_size_voxels : int
        Smaller instances are dropped.

    Returns
    -------
    ndarray of uint32, shape (z, y, x)
        Instance ids 1..n, 0 outside.
    """
    from liberation.segmentation.classical import classical_phases, separate_particles

    foreground = classical_phases(ct, classes=2, smooth_sigma=smooth_sigma) > 0
    return separate_particles(foreground, voxel_size_um=voxel_size_um, min_size_voxels=int(min_size_voxels))
