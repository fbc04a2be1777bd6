"""A measured section (registered mineral label map) against the store (``liberation report --section``).

Reads the label map (TIFF or ``.npy``; a ``minerals.csv`` beside it maps its ids to mineral names)
and the ``transform.json`` of ``liberation register``, samples the store's phases and particles at
the map pixel centres and compares the three views
(:func:`liberation.stats.compare_measured_section`). Also writes the synthetic measured section
of the demo sample.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from liberation.errors import FileFormatError, InputError


def read_transform(path: str | os.PathLike) -> tuple[np.ndarray, float, tuple[int, int] | None]:
    """The pose of a registered map from a ``transform.json`` (``liberation register``).

    Parameters
    ----------
    path : str or Path
        The JSON file: ``matrix`` (4x4, map-frame (z, y, x) µm -> CT (z, y, x) µm),
        ``pixel_size_um`` and optionally ``map_shape``.

    Returns
    -------
    matrix : numpy.ndarray, shape (4, 4)
    pixel_size_um : float
    map_shape : (int, int) or None

    Raises
    ------
    FileFormatError
        Missing or unreadable file, no ``matrix``.
    InputError
        A matrix that is not a 4x4 affine with an invertible 3x3 part, a bad pixel size.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"--transform {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"--transform {path} is not a readable JSON file ({exc})") from None
    if not isinstance(data, dict) or "matrix" not in data:
        raise FileFormatError(f"--transform {path} has no 'matrix'; expected the transform.json of liberation register")
    try:
        matrix = np.asarray(data["matrix"], dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"--transform {path}: 'matrix' is not numeric; expected a 4x4 affine") from None
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise InputError(f"--transform {path}: 'matrix' has shape {matrix.shape}; expected a finite 4x4 affine "
                         "(map-frame (z, y, x) µm -> CT (z, y, x) µm)")
    if not np.allclose(matrix[3], [0, 0, 0, 1]) or abs(np.linalg.det(matrix[:3, :3])) < 1e-9:
        raise InputError(f"--transform {path}: 'matrix' is not an invertible affine (last row {matrix[3].tolist()}, "
                         "expected [0, 0, 0, 1] and a non-singular 3x3 part)")
    try:
        pixel = float(data.get("pixel_size_um"))
    except (TypeError, ValueError):
        pixel = float("nan")
    if not np.isfinite(pixel) or pixel <= 0:
        raise InputError(f"--transform {path}: pixel_size_um={data.get('pixel_size_um')!r}; expected the map pixel "
                         "size in µm (> 0)")
    shape = data.get("map_shape")
    map_shape = None
    if shape is not None:
        try:
            map_shape = (int(shape[0]), int(shape[1]))
        except (TypeError, ValueError, IndexError):
            raise InputError(f"--transform {path}: map_shape={shape!r}; expected [rows, columns]") from None
    return matrix, pixel, map_shape


def read_section_labels(path: str | os.PathLike, minerals) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A measured mineral label map, renumbered to the store's phase ids.

    With a ``minerals.csv`` beside the map (a ``liberation labels`` folder) its ids are matched to
    the store's minerals by name; a name the store does not have is refused; clusters no
    reference named stay inside their particle as unassigned pixels. Without it, the map's ids
    must be phase ids of the store.

    Parameters
    ----------
    path : str or Path
        2D integer label map (TIFF or ``.npy``), 0 = background.
    minerals : MineralList
        The store's minerals.

    Returns
    -------
    labels : numpy.ndarray, uint8, shape (rows, columns)
        Store phase ids (0 = background or unnamed).
    footprint : numpy.ndarray, bool
        Non-zero pixels of the map as read (the measured particles).
    notes : list of str
    """
    from liberation.workflows._minerals import read_label_minerals

    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"--section {path} does not exist")
    if path.suffix.lower() == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"cannot read --section {path}: {exc}") from None
    else:
        import tifffile

        try:
            data = tifffile.imread(path)
        except Exception as exc:  # tifffile raises many kinds
            raise FileFormatError(f"cannot read --section {path} as a TIFF label map: {exc}") from None
    data = np.squeeze(np.asarray(data))
    if data.ndim != 2 or data.dtype.kind not in "ui":
        raise FileFormatError(f"--section {path} has shape {data.shape} and dtype {data.dtype}; expected a 2D integer "
                              "mineral label map")
    if data.size and (data.min() < 0 or data.max() > 255):
        raise InputError(f"--section {path} has ids {data.min()}..{data.max()}; expected 0..255")
    data = data.astype(np.int64)
    footprint = data > 0
    notes: list[str] = []
    found = read_label_minerals(path)
    store_ids = {m.name: m.id for m in minerals}
    if found is None:
        present = sorted(int(v) for v in np.unique(data) if v > 0)
        unknown = [v for v in present if v not in minerals.ids]
        if unknown:
            raise InputError(f"--section {path} has ids {unknown} that are not phase ids of the store (known: "
                             + ", ".join(f"{m.id} {m.name}" for m in minerals)
                             + "); put a minerals.csv (id, name) beside the map to match them by name")
        notes.append(f"{path.parent / 'minerals.csv'} not found: the ids of {path.name} are taken as the store's "
                     "phase ids")
        return data.astype(np.uint8), footprint, notes
    properties, unnamed = found
    lut = np.zeros(256, dtype=np.uint8)
    missing = [str(p["name"]) for p in properties if str(p["name"]) not in store_ids]
    if missing:
        raise InputError(f"--section {path}: mineral(s) {missing} of {path.parent / 'minerals.csv'} are not minerals "
                         f"of the store ({', '.join(minerals.names)}); the maps must share the mineral list")
    for p in properties:
        lut[int(p["label-value"])] = store_ids[str(p["name"])]
    named = {int(p["label-value"]) for p in properties}
    stray = sorted(int(v) for v in np.unique(data) if v > 0 and int(v) not in named)
    if stray:
        n = int(np.isin(data, stray).sum())
        notes.append(f"{n} pixels of --section {path.name} have ids {stray} that name no mineral (unnamed clusters or "
                     "not in minerals.csv): counted as unassigned pixels of their particles")
    del unnamed
    return lut[data], footprint, notes


def check_section_inputs(section, transform, minerals) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray, float]:
    """Read and check a measured section and its transform (before any long computation).

    Returns
    -------
    (labels, footprint, notes, matrix, pixel_size_um)
        As :func:`read_section_labels` and :func:`read_transform`.

    Raises
    ------
    FileFormatError, InputError
        A missing or unreadable file, a bad transform, minerals that do not match the store's, a
        label map whose shape is not the registered map's.
    """
    matrix, pixel, map_shape = read_transform(transform)
    labels, footprint, notes = read_section_labels(section, minerals)
    if map_shape is not None and tuple(labels.shape) != map_shape:
        raise InputError(f"--section {section} has shape {labels.shape} but --transform {transform} was made for a map "
                         f"of shape {map_shape}; give the label map of the registered map")
    return labels, footprint, notes, matrix, pixel


def compare_store_section(store, particle_table, *, minerals, section, transform, target=None,
                          threshold: float = 0.9, by: str = "volume", particles=None):
    """The three-way comparison of a measured section with an open store.

    Parameters
    ----------
    store : SampleStore
        The store (``labels/phases`` with minerals; particles from ``particles`` or ``labels/particles``).
    particle_table : DataFrame
        The 3D particle table of the report (its ``excluded`` particles are left out).
    minerals : MineralList
        The store's minerals (as the report uses them).
    section, transform : str or Path
        The measured label map and its ``transform.json``.
    target, threshold, by
        As for :func:`liberation.stats.compare_measured_section`.
    particles : array-like, optional
        Particle ids (z, y, x) when the store has no ``labels/particles`` (derived ones).

    Returns
    -------
    (MeasuredSectionComparison, list of str)
        The comparison and notes.
    """
    from liberation.registration import labels_on_map_grid
    from liberation.stats import compare_measured_section
    labels, footprint, notes, matrix, pixel = check_section_inputs(section, transform, minerals)
    vs = store.voxel_size_um
    phases = store.label("phases")
    ids = particles if particles is not None else store.label("particles")
    virtual, inside = labels_on_map_grid(phases, matrix, voxel_size_um=vs, map_shape=labels.shape, pixel_size_um=pixel)
    vp, _ = labels_on_map_grid(ids, matrix, voxel_size_um=vs, map_shape=labels.shape, pixel_size_um=pixel)
    if not inside.any():
        raise InputError(f"--transform {transform} places the map entirely outside the CT volume of {store.path}")
    share = float(inside.mean())
    if share < 0.999:
        notes.append(f"{100 * (1 - share):.1f} % of the measured map lies outside the CT volume: left out of the "
                     "comparison")
    comparison = compare_measured_section(labels, virtual, vp, pixel_size_um=pixel, minerals=minerals,
                                          particle_table=particle_table, valid=inside, measured_footprint=footprint,
                                          target=target, threshold=threshold, by=by)
    # 3D association of only the particles the plane cuts (compares with the 2D association)
    import pandas as pd

    from liberation.stats.measured_section import association_3d_rows, cut_particle_association

    a3 = cut_particle_association(ids, phases, comparison.particles_3d["particle_id"].to_numpy(), voxel_size_um=vs,
                                  minerals=minerals, particle_table=particle_table)
    comparison.association = pd.concat([comparison.association, association_3d_rows(a3)], ignore_index=True)
    return comparison, notes


def write_demo_section(folder: str | os.PathLike, sample, *, noise: float = 0.03, seed: int = 0) -> tuple[Path, Path]:
    """A synthetic measured section of a synthetic sample: truth phases on a tilted plane, with label noise.

    The plane (perpendicular to z within 6°, through the middle of the sample, 10° in-plane
    rotation) is sampled at the CT voxel size (nearest voxel,
    :func:`liberation.synthetic.make_face_map`); then a share ``noise`` of the particle pixels
    takes another mineral at random (mimicking mis-classified MLA pixels).

    Parameters
    ----------
    folder : str or Path
        Folder to write ``map_labels.tif``, ``minerals.csv`` and ``transform.json`` into (created).
    sample : SyntheticSample
        The sample (phases, voxel size, minerals).
    noise : float
        Share of the particle pixels relabelled, in [0, 1).
    seed : int
        Seed of the noise.

    Returns
    -------
    (Path, Path)
        The label map and the transform.
    """
    import tifffile

    from liberation._validation import make_rng
    from liberation.synthetic import make_face_map

    if not 0.0 <= float(noise) < 1.0:
        raise InputError(f"noise={noise!r} must be in [0, 1)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vs = np.asarray(sample.voxel_size_um, dtype=float)
    shape = np.asarray(sample.phases.shape)
    pixel = float(vs.min())
    n = int(0.8 * min(shape[1] * vs[1], shape[2] * vs[2]) / pixel)
    centre = 0.5 * (shape - 1) * vs
    face = make_face_map(sample.phases, vs, pixel_size_um=pixel, map_shape=(n, n), axis=0, centre_um=centre,
                         rotation_deg=10.0, tilt_deg=6.0, tilt_direction_deg=35.0, supersample=1, seed=seed)
    labels = face.labels.copy()
    rng = make_rng(seed)
    ids = np.array(sample.minerals.ids)
    flip = (labels > 0) & (rng.random(labels.shape) < noise)
    shift = rng.integers(1, len(ids), size=int(flip.sum()))
    pos = np.searchsorted(ids, labels[flip])
    labels[flip] = ids[(pos + shift) % len(ids)]
    tifffile.imwrite(folder / "map_labels.tif", labels)
    rows = ["id,name,color,density"] + [f"{m.id},{m.name},{m.color},{m.density}" for m in sample.minerals]
    (folder / "minerals.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    payload = {"matrix": face.matrix.tolist(), "pixel_size_um": pixel, "map_shape": [n, n], "pose": face.pose,
               "source": f"synthetic measured section of the demo sample ({100 * noise:g} % label noise)"}
    (folder / "transform.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return folder / "map_labels.tif", folder / "transform.json"
