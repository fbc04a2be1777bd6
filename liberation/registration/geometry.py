"""Geometry of a 2D map placed in a 3D CT volume.

Coordinate convention (see ``docs/registration.md``):

- The CT voxel with index ``(k, j, i)`` has its centre at physical ``(z, y, x) = (k*sz, j*sy, i*sx)`` µm.
- The map pixel ``(r, c)`` has its centre at ``(0, r*p, c*p)`` µm in the map's own frame.
- A pose is a 4x4 affine ``matrix`` that takes map-frame ``(z, y, x)`` µm to CT physical ``(z, y, x)`` µm.

A pose is parametrised (for synthetic data and for the coarse search) by the CT axis the
map plane is (nearly) perpendicular to, the position along that axis, an in-plane rotation,
a mirror flip, a small tilt and the in-plane position of the map centre. For each axis the
in-plane basis ``(e1, e2)`` is chosen so that ``(e_axis, e1, e2)`` is right-handed:
axis 0 (z): (y, x); axis 1 (y): (x, z); axis 2 (x): (z, y).
"""

from __future__ import annotations

import numpy as np

from liberation.errors import InputError

__all__ = [
    "AXIS_FRAMES",
    "apply_affine",
    "decompose_pose",
    "frame_matrix",
    "map_pixel_centres",
    "pixel_centre_rms_error",
    "pose_matrix",
]

#: For each CT axis: (axis, first in-plane axis, second in-plane axis), a cyclic (right-handed) order.
AXIS_FRAMES: dict[int, tuple[int, int, int]] = {0: (0, 1, 2), 1: (1, 2, 0), 2: (2, 0, 1)}


def frame_matrix(axis: int) -> np.ndarray:
    """3x3 matrix whose columns are the CT (z, y, x) unit vectors of ``(e_axis, e1, e2)``."""
    if axis not in AXIS_FRAMES:
        raise InputError(f"axis={axis!r} is not valid; expected 0 (z), 1 (y) or 2 (x)")
    q = np.zeros((3, 3))
    for col, ax in enumerate(AXIS_FRAMES[axis]):
        q[ax, col] = 1.0
    return q


def _rotation_about(axis_vec: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rodrigues rotation matrix about a unit vector."""
    w = np.asarray(axis_vec, dtype=float)
    w = w / np.linalg.norm(w)
    k = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])
    return np.eye(3) + np.sin(angle_rad) * k + (1 - np.cos(angle_rad)) * (k @ k)


def map_centre_um(map_shape: tuple[int, int], pixel_size_um: float) -> np.ndarray:
    """Map-frame (z, y, x) µm of the centre of the map."""
    h, w = map_shape
    return np.array([0.0, (h - 1) * pixel_size_um / 2.0, (w - 1) * pixel_size_um / 2.0])


def pose_matrix(
    *,
    axis: int,
    centre_um,
    rotation_deg: float,
    mirror: bool,
    map_shape: tuple[int, int],
    pixel_size_um: float,
    tilt_deg: float = 0.0,
    tilt_direction_deg: float = 0.0,
) -> np.ndarray:
    """4x4 affine (map µm -> CT µm) of a map placed with its centre at ``centre_um``.

    Parameters
    ----------
    axis : int
        CT axis the untilted map plane is perpendicular to (0 z, 1 y, 2 x).
    centre_um : sequence of 3 float
        CT physical (z, y, x) µm where the map centre lands.
    rotation_deg : float
        In-plane rotation: the map's row direction is ``cos(t) e1 + sin(t) e2``.
    mirror : bool
        The map is seen from the other side (its column direction is reversed and its normal
        points to ``-e_axis``); still a proper rotation.
    map_shape : (int, int)
        Map (rows, columns).
    pixel_size_um : float
        Map pixel size in µm.
    tilt_deg, tilt_direction_deg : float
        Tilt of the plane about the in-plane direction ``cos(d) e1 + sin(d) e2`` through the map centre.

    Returns
    -------
    numpy.ndarray, shape (4, 4)
    """
    t = np.deg2rad(rotation_deg)
    s = -1.0 if mirror else 1.0
    local = np.array([[s, 0.0, 0.0], [0.0, np.cos(t), -s * np.sin(t)], [0.0, np.sin(t), s * np.cos(t)]])
    q = frame_matrix(axis)
    rot = q @ local
    if tilt_deg:
        d = np.deg2rad(tilt_direction_deg)
        w = q @ np.array([0.0, np.cos(d), np.sin(d)])
        rot = _rotation_about(w, np.deg2rad(tilt_deg)) @ rot
    centre = np.asarray(centre_um, dtype=float)
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = centre - rot @ map_centre_um(map_shape, pixel_size_um)
    return m


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 affine to points of shape (..., 3) (z, y, x) µm."""
    m = np.asarray(matrix, dtype=float)
    return points @ m[:3, :3].T + m[:3, 3]


def map_pixel_centres(map_shape: tuple[int, int], pixel_size_um: float) -> np.ndarray:
    """Map-frame (z, y, x) µm of every pixel centre, shape (rows, columns, 3)."""
    h, w = map_shape
    r, c = np.meshgrid(np.arange(h) * pixel_size_um, np.arange(w) * pixel_size_um, indexing="ij")
    return np.stack([np.zeros_like(r), r, c], axis=-1)


def pixel_centre_rms_error(matrix, true_matrix, map_shape: tuple[int, int], pixel_size_um: float) -> float:
    """RMS distance in µm between the map pixel centres placed by two poses."""
    pts = map_pixel_centres(map_shape, pixel_size_um).reshape(-1, 3)
    diff = apply_affine(matrix, pts) - apply_affine(true_matrix, pts)
    return float(np.sqrt(np.mean(np.sum(diff**2, axis=1))))


def decompose_pose(matrix, map_shape: tuple[int, int], pixel_size_um: float) -> dict:
    """Axis, tilt, in-plane rotation, mirror flag and centre of a pose matrix.

    Returns
    -------
    dict
        ``axis`` (the CT axis closest to the plane normal), ``tilt_deg``, ``rotation_deg``,
        ``mirror``, ``centre_um`` (CT µm of the map centre) and ``normal`` (unit vector, z, y, x).
    """
    m = np.asarray(matrix, dtype=float)
    rot = m[:3, :3]
    normal = rot[:, 0] / np.linalg.norm(rot[:, 0])
    axis = int(np.argmax(np.abs(normal)))
    a, a1, a2 = AXIS_FRAMES[axis]
    mirror = bool(normal[a] < 0)
    tilt = float(np.degrees(np.arccos(min(1.0, abs(normal[a])))))
    row_dir = rot[:, 1]
    rotation = float(np.degrees(np.arctan2(row_dir[a2], row_dir[a1]))) % 360.0
    centre = apply_affine(m, map_centre_um(map_shape, pixel_size_um))
    return {
        "axis": axis,
        "tilt_deg": tilt,
        "rotation_deg": rotation,
        "mirror": mirror,
        "centre_um": [float(v) for v in centre],
        "normal": [float(v) for v in normal],
    }
