"""RailAugment: masks move with the image (nearest), pixel ops leave masks alone, inputs untouched."""

import numpy as np
import pytest

from liberation.deploy.belt.augment import rail_augment
from liberation.errors import InputError


def _blocks():
    mask = np.zeros((64, 64), np.uint8)
    mask[10:30, 8:28] = 1
    mask[36:56, 30:60] = 2
    return mask


@pytest.mark.parametrize("seed", range(6))
def test_geometric_moves_mask_with_image(seed):
    mask = _blocks()
    image = mask.astype(np.float32)  # image == class value, so both must stay aligned
    img0, msk0 = image.copy(), mask.copy()
    out, out_mask = rail_augment(image, mask, m_pixel=0, m_geometric=2, seed=seed)
    assert np.array_equal(image, img0) and np.array_equal(mask, msk0)
    assert out_mask.dtype == np.uint8 and set(np.unique(out_mask)) <= {0, 1, 2}
    assert (np.round(out) == out_mask).mean() > 0.97


def test_pixel_ops_keep_mask():
    mask = _blocks()
    image = np.random.default_rng(0).uniform(0, 2, mask.shape).astype(np.float32)
    out, out_mask = rail_augment(image, mask, m_pixel=3, m_geometric=0, seed=1)
    assert np.array_equal(out_mask, mask) and not np.array_equal(out, image)
    assert out.min() >= 0


def test_bad_arguments():
    with pytest.raises(InputError):
        rail_augment(np.zeros((4, 4)), np.zeros((4, 5), np.uint8))
    with pytest.raises(InputError):
        rail_augment(np.zeros((4, 4)), np.zeros((4, 4), np.uint8), m_pixel=9, m_geometric=0)
