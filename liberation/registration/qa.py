"""Quality-assurance images of a registration: map edges over the matched CT section, checkerboard."""

from __future__ import annotations

import numpy as np

from liberation.registration.resample import ct_section, map_to_ct_section

__all__ = ["qa_images", "plot_registration_qa"]


def _stretch(img: np.ndarray) -> np.ndarray:
    """Scale to 0..1 by the 1st and 99th percentiles of the finite values (NaN -> 0)."""
    finite = np.isfinite(img)
    if not finite.any():
        return np.zeros(img.shape, dtype=np.float32)
    lo, hi = np.percentile(img[finite], [1, 99])
    out = np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)
    out[~finite] = 0
    return out.astype(np.float32)


def qa_images(ct: np.ndarray, map_image: np.ndarray, result, *, tiles: int = 8, edge_sigma: float | None = None) -> dict:
    """QA images of a registration in the geometry of the matched CT section.

    Parameters
    ----------
    ct : numpy.ndarray, shape (z, y, x)
    map_image : numpy.ndarray, shape (rows, columns)
    result : RegistrationResult
        Or any object with ``matrix``, ``voxel_size_um`` and ``pixel_size_um``.
    tiles : int
        Checkerboard tiles along the longer side.
    edge_sigma : float, optional
        Canny smoothing (section pixels) for the map edges; default one map pixel.

    Returns
    -------
    dict
        ``ct_section`` (float32, n1 x n2, NaN outside), ``map_section`` (float32, NaN outside
        the map), ``edges`` (bool), ``edges_overlay`` (RGB float32 n1 x n2 x 3: the CT section in
        grey with the map's edges in yellow), ``checkerboard`` (float32 n1 x n2: alternating
        tiles of the stretched CT section and map), ``axis`` of the section, ``depth_index``.
    """
    from skimage.feature import canny

    vs = np.asarray(result.voxel_size_um, dtype=float)
    p = float(result.pixel_size_um)
    ct_sec, sp = ct_section(ct, result.matrix, voxel_size_um=vs, pixel_size_um=p)
    map_sec, _ = map_to_ct_section(map_image, result.matrix, ct_shape=ct.shape, voxel_size_um=vs, pixel_size_um=p)
    inside = np.isfinite(map_sec)
    ms = _stretch(map_sec)
    cs = _stretch(ct_sec)
    sigma = edge_sigma if edge_sigma is not None else p / float(np.delete(vs, sp.axis).mean())
    edges = canny(ms, sigma=sigma, mask=inside) if inside.any() else np.zeros(ms.shape, bool)
    overlay = np.repeat(cs[..., None], 3, axis=-1)
    overlay[edges] = (1.0, 0.9, 0.0)
    n1, n2 = cs.shape
    size = max(1, int(np.ceil(max(n1, n2) / tiles)))
    jj, ii = np.meshgrid(np.arange(n1) // size, np.arange(n2) // size, indexing="ij")
    use_map = ((jj + ii) % 2 == 1) & inside
    board = np.where(use_map, ms, cs).astype(np.float32)
    return {
        "ct_section": ct_sec,
        "map_section": map_sec,
        "edges": edges,
        "edges_overlay": overlay.astype(np.float32),
        "checkerboard": board,
        "axis": sp.axis,
        "depth_index": sp.depth_index,
    }


def plot_registration_qa(qa: dict, *, title: str | None = None, quality: dict | None = None):
    """Figure with the CT section, the map edges over it and the checkerboard.

    Parameters
    ----------
    qa : dict
        From :func:`qa_images`.
    title : str, optional
    quality : dict, optional
        Figures to print under the title (e.g. ``{"nmi": ..., "contrast": ...}``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.6), constrained_layout=True)
    axs = fig.subplots(1, 3)
    axs[0].imshow(np.nan_to_num(qa["ct_section"]), cmap="gray")
    axs[0].set_title("matched CT section")
    axs[1].imshow(qa["edges_overlay"])
    axs[1].set_title("map edges (yellow) over CT")
    axs[2].imshow(qa["checkerboard"], cmap="gray")
    axs[2].set_title("checkerboard CT / map")
    for a in axs:
        a.set_xticks([])
        a.set_yticks([])
    text = title or "registration QA"
    if quality:
        text += "\n" + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in quality.items())
    fig.suptitle(text)
    return fig
