"""One 2D image reader: TIFF, PNG/JPEG/BMP and ``.npy`` frames, one colour-to-grey rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liberation.errors import FileFormatError, InputError

__all__ = ["COLOUR_RULES", "IMAGE_SUFFIXES", "read_image", "rgb_to_grey"]

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".npy")

# ITU-R BT.709 luma weights, the rule of skimage.color.rgb2gray
_LUMA = np.array([0.2125, 0.7154, 0.0721])


COLOUR_RULES = ("luma", "max")


def rgb_to_grey(image: np.ndarray, *, rule: str = "luma") -> np.ndarray:
    """Grey values of an RGB(A) image (alpha dropped).

    Parameters
    ----------
    image : numpy.ndarray, shape (y, x, 3) or (y, x, 4)
    rule : {"luma", "max"}
        ``"luma"``: BT.709 luma (0.2125 R + 0.7154 G + 0.0721 B, as skimage.color.rgb2gray),
        for photographs and detector frames saved in colour. ``"max"``: the brightest
        channel, for false-colour maps whose tint scales with the signal (a red-tinted
        micro-XRF element map at level 200 reads 200, not 42.5).

    Returns
    -------
    numpy.ndarray of float64, shape (y, x), in the units of the input.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise FileFormatError(f"image has shape {image.shape}; expected (y, x, 3) or (y, x, 4) colour")
    if rule == "luma":
        return image[..., :3].astype(np.float64) @ _LUMA
    if rule == "max":
        return image[..., :3].max(axis=-1).astype(np.float64)
    raise InputError(f"rule={rule!r} is not a colour-to-grey rule; expected one of {COLOUR_RULES}")


def read_image(path, *, grey: bool = True, colour_rule: str = "luma") -> np.ndarray:
    """Read one 2D frame.

    Parameters
    ----------
    path : str or Path
        A TIFF, PNG, JPEG, BMP or ``.npy`` file.
    grey : bool
        Colour images become grey by :func:`rgb_to_grey` (float64); with ``grey=False``
        a colour image is refused (class masks must be single-channel).
    colour_rule : {"luma", "max"}
        The :func:`rgb_to_grey` rule for colour images. Palette images are expanded to
        RGB first.

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
                if im.mode in ("P", "PA"):
                    im = im.convert("RGB")
                arr = np.array(im)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise FileFormatError(f"cannot read image {path}: {exc}") from None
    arr = np.squeeze(np.asarray(arr))
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        if not grey:
            raise FileFormatError(f"image {path} is a colour image {arr.shape}; expected one channel")
        arr = rgb_to_grey(arr, rule=colour_rule)
    if arr.ndim != 2:
        raise FileFormatError(f"image {path} has shape {arr.shape}; expected a 2D image")
    return arr
