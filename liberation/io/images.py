"""One 2D image reader: TIFF, PNG/JPEG/BMP and ``.npy`` frames, one colour-to-grey rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liberation.errors import FileFormatError

__all__ = ["IMAGE_SUFFIXES", "read_image", "rgb_to_grey"]

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".npy")

# ITU-R BT.709 luma weights, the rule of skimage.color.rgb2gray
_LUMA = np.array([0.2125, 0.7154, 0.0721])


def rgb_to_grey(image: np.ndarray) -> np.ndarray:
    """Grey values of an RGB(A) image by the BT.709 luma rule (alpha dropped).

    Parameters
    ----------
    image : numpy.ndarray, shape (y, x, 3) or (y, x, 4)

    Returns
    -------
    numpy.ndarray of float64, shape (y, x), in the units of the input.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise FileFormatError(f"image has shape {image.shape}; expected (y, x, 3) or (y, x, 4) colour")
    return image[..., :3].astype(np.float64) @ _LUMA


def read_image(path, *, grey: bool = True) -> np.ndarray:
    """Read one 2D frame.

    Parameters
    ----------
    path : str or Path
        A TIFF, PNG, JPEG, BMP or ``.npy`` file.
    grey : bool
        Colour images become grey by :func:`rgb_to_grey` (float64); with ``grey=False``
        a colour image is refused (class masks must be single-channel).

    Returns
    -------
    numpy.ndarray, shape (y, x)
        The stored values (dtype kept, except colour converted to grey).

    Raises
    ------
    FileFormatError
        Unreadable file, or not a 2D image.
    """
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise FileFormatError(f"image {path}: suffix {path.suffix!r} is not one of {', '.join(IMAGE_SUFFIXES)}")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            arr = tifffile.imread(path)
        elif path.suffix.lower() == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            from PIL import Image

            with Image.open(path) as im:
                arr = np.array(im)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise FileFormatError(f"cannot read image {path}: {exc}") from None
    arr = np.squeeze(np.asarray(arr))
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        if not grey:
            raise FileFormatError(f"image {path} is a colour image {arr.shape}; expected one channel")
        arr = rgb_to_grey(arr)
    if arr.ndim != 2:
        raise FileFormatError(f"image {path} has shape {arr.shape}; expected a 2D image")
    return arr
