"""Known-answer tests for the CT forward model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from liberation.errors import InputError
from liberation.minerals import Mineral, MineralList, spodumene_ore
from liberation.synthetic import attenuation_coefficient, attenuation_lut, ct_forward


def _slabs(shape=(24, 40, 40)) -> np.ndarray:
    """Four mineral slabs (ids 1..4) along x with a void margin."""
    phases = np.zeros(shape, dtype=np.uint8)
    for i in range(4):
        phases[:, 4:-4, 4 + 8 * i : 4 + 8 * (i + 1)] = i + 1
    return phases


def _core(mask: np.ndarray) -> np.ndarray:
    """Mask eroded by 2 voxels (away from partial-volume edges)."""
    from scipy import ndimage

    return ndimage.binary_erosion(mask, iterations=2)


def test_attenuation_known_values():
    # quartz at 80 keV: NIST XCOM mu/rho = 0.1935 cm²/g -> mu = 0.513 /cm; the model is within 10 %.
    quartz = spodumene_ore()["quartz"]
    assert attenuation_coefficient(quartz, energy_kev=80) == pytest.approx(0.513, rel=0.1)
    # water at 60 keV: mu/rho = 0.2059 cm²/g
    water = Mineral(1, "water", 1.0, elements={"H": 11.19, "O": 88.81})
    assert attenuation_coefficient(water, energy_kev=60) == pytest.approx(0.2059, rel=0.1)
    # attenuation falls with energy
    assert attenuation_coefficient(quartz, energy_kev=50) > attenuation_coefficient(quartz, energy_kev=120)


def test_attenuation_order_of_default_minerals():
    lut = attenuation_lut(spodumene_ore(), background=0.0)
    # spodumene (3.15 g/cm³) > muscovite (2.83, K) > quartz > albite > void
    assert lut[1] > lut[4] > lut[2] > lut[3] > lut[0] == 0.0


def test_indistinguishable_pair_within_one_percent():
    lut = attenuation_lut(spodumene_ore(), indistinguishable=("quartz", "albite"))
    assert abs(lut[3] / lut[2] - 1) <= 0.01
    natural = attenuation_lut(spodumene_ore())
    assert abs(natural[3] / natural[2] - 1) > 0.01


def test_ct_grey_order_and_range():
    phases = _slabs()
    ct = ct_forward(phases, voxel_size_um=10.0, noise=0.02, seed=0)
    assert ct.dtype == np.uint16 and ct.shape == phases.shape
    lut = attenuation_lut(spodumene_ore())
    means = {i: float(ct[_core(phases == i)].mean()) for i in range(5)}
    order_by_mu = sorted(range(5), key=lambda i: lut[i])
    order_by_grey = sorted(range(5), key=lambda i: means[i])
    assert order_by_mu == order_by_grey
    assert 0 < ct.min() and ct.max() < 65535


def test_ct_noise_level_and_indistinguishable_within_noise():
    phases = _slabs()
    ct = ct_forward(phases, voxel_size_um=10.0, noise=0.02, blur_sigma_um=0.0,
                    indistinguishable=("quartz", "albite"), seed=1).astype(float)
    lut = attenuation_lut(spodumene_ore(), indistinguishable=("quartz", "albite"))
    gain = 40000.0 / (lut.max() - lut.min())
    expected_std = 0.02 * lut[1:].max() * gain
    q, a = ct[phases == 2], ct[phases == 3]
    assert q.std() == pytest.approx(expected_std, rel=0.05)
    assert abs(q.mean() - a.mean()) < 0.5 * expected_std  # the pair is within the noise
    # spodumene is far above the noise
    assert ct[phases == 1].mean() - q.mean() > 3 * expected_std


def test_ct_noiseless_exact_grey_values():
    phases = _slabs()
    ct = ct_forward(phases, voxel_size_um=10.0, noise=0.0, blur_sigma_um=0.0, seed=0)
    lut = attenuation_lut(spodumene_ore())
    lo, hi = lut.min(), lut.max()
    expected = np.rint((lut - lo) / (hi - lo) * 40000 + 8000)
    np.testing.assert_allclose(ct.astype(float), expected[phases], atol=1)


def test_beam_hardening_darkens_centre():
    phases = np.full((8, 64, 64), 2, dtype=np.uint8)
    ct = ct_forward(phases, voxel_size_um=10.0, noise=0.0, beam_hardening=0.2, seed=0).astype(float)
    centre = ct[:, 28:36, 28:36].mean()
    edge = ct[:, :4, :4].mean()
    assert centre < edge - 1000


def test_rings_are_concentric_and_constant_along_z():
    phases = np.full((6, 64, 64), 2, dtype=np.uint8)
    ct = ct_forward(phases, voxel_size_um=10.0, noise=0.0, blur_sigma_um=0.0, rings=0.05, seed=0).astype(float)
    assert ct.std() > 100
    np.testing.assert_array_equal(ct[0], ct[-1])
    np.testing.assert_allclose(ct[0], ct[0].T, atol=1)  # rotational symmetry about the z axis (square grid)


def test_poisson_noise():
    phases = _slabs()
    ct = ct_forward(phases, voxel_size_um=10.0, noise=0.02, noise_model="poisson", blur_sigma_um=0.0, seed=0)
    spread = ct[phases == 1].astype(float).std()
    lut = attenuation_lut(spodumene_ore())
    assert spread == pytest.approx(0.02 * lut[1:].max() * 40000 / (lut.max() - lut.min()), rel=0.1)


def test_ct_reproducible():
    phases = _slabs()
    a = ct_forward(phases, voxel_size_um=10.0, seed=3)
    b = ct_forward(phases, voxel_size_um=10.0, seed=3)
    c = ct_forward(phases, voxel_size_um=10.0, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_explicit_attenuation_override():
    minerals = spodumene_ore()
    lut = attenuation_lut(minerals, attenuation={"quartz": 2.0})
    assert lut[2] == 2.0


def test_unknown_element_raises():
    minerals = MineralList([Mineral(1, "odd", 3.0, elements={"Xx": 50.0, "O": 50.0})])
    with pytest.raises(InputError, match="Xx"):
        attenuation_lut(minerals)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"voxel_size_um": 0.0}, "voxel_size_um"),
        ({"noise": -0.1}, "noise"),
        ({"beam_hardening": 1.5}, "beam_hardening"),
        ({"noise_model": "speckle"}, "noise_model"),
        ({"indistinguishable": ("quartz", "gold")}, "indistinguishable"),
        ({"energy_kev": 2.0}, "energy_kev"),
        ({"blur_sigma_um": -1.0}, "blur_sigma_um"),
    ],
)
def test_ct_bad_input(kwargs, word):
    args = {"voxel_size_um": 10.0, "seed": 0} | kwargs
    with pytest.raises(InputError, match=word):
        ct_forward(_slabs((8, 16, 40)), **args)


def test_ct_bad_phases():
    with pytest.raises(InputError, match="phases"):
        ct_forward(np.zeros((8, 8), dtype=np.uint8), voxel_size_um=10.0)
    with pytest.raises(InputError, match="phases"):
        ct_forward(np.full((8, 8, 8), 9, dtype=np.uint8), voxel_size_um=10.0)


def test_synthetic_never_imports_torch():
    import liberation.synthetic.ct  # noqa: F401
    import liberation.synthetic.grains  # noqa: F401
    import liberation.synthetic.particles  # noqa: F401
    import liberation.synthetic.sample  # noqa: F401

    for module in ("particles", "grains", "ct", "sample"):
        source = sys.modules[f"liberation.synthetic.{module}"].__file__
        text = Path(source).read_text(encoding="utf-8")
        assert "import torch" not in text and "from torch" not in text
