"""The texture kinds of the segmentation zoo (issue 18): truth, the equal-grey texture pair, lamellae, label layouts."""

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from liberation.errors import InputError
from liberation.synthetic.seg_zoo import SEG_ZOO, seg_case, seg_label_planes

N = 32


def _clean(name, **changes):
    """A kind of the zoo without blur and noise (exact grey values)."""
    kind = {k.name: k for k in SEG_ZOO}[name]
    return dataclasses.replace(kind, blur=0.0, noise=0.0, **changes)


@pytest.mark.parametrize("kind", [k.name for k in SEG_ZOO])
def test_every_kind_has_its_truth_labels_and_texture_pair(kind):
    n = 48
    c = seg_case(kind, size=n, seed=0)
    s = c.sample
    assert s.ct.shape == s.phases.shape == c.sparse.shape == (n, n, n)
    assert s.ct.dtype == np.uint16 and s.phases.dtype == np.uint8 and c.sparse.dtype == np.uint8
    ids = {m.name: m.id for m in s.minerals}
    assert {"quartz", "albite"} <= set(ids)
    assert np.array_equal(c.albite, s.phases == ids["albite"])
    # every mineral of the kind is present, quartz and albite with a good share
    fractions = {n: float((s.phases == i).sum() / (s.phases > 0).sum()) for n, i in ids.items()}
    assert fractions["quartz"] > 0.1 and fractions["albite"] > 0.1, fractions
    # the labels are the truth where labelled
    labelled = c.sparse != 255
    assert labelled.any() and np.array_equal(c.sparse[labelled], s.phases[labelled])
    assert c.test_planes == [n // 4, n // 2, 3 * n // 4]
    if c.kind.sample == "mount":
        assert np.array_equal(s.particles > 0, s.phases > 0)
    else:
        assert s.particles is None
        # air only outside the cylinder: every plane has the same solid disc
        assert np.all((s.phases > 0) == (s.phases[0] > 0)[None])
    # same seed, same sample; another seed, another one
    again = seg_case(kind, size=n, seed=0)
    assert np.array_equal(again.sample.ct, s.ct) and np.array_equal(again.sparse, c.sparse)
    assert not np.array_equal(seg_case(kind, size=N, seed=1).sample.phases, seg_case(kind, size=N, seed=0).sample.phases)


@pytest.mark.parametrize("kind", ["core-twins", "mount-twins"])
def test_quartz_and_albite_have_equal_mean_grey_and_the_others_differ(kind):
    c = seg_case(_clean(kind), size=48, seed=2)
    s = c.sample
    grey = s.ct.astype(np.float64)
    means = {m.name: grey[s.phases == m.id].mean() for m in s.minerals if (s.phases == m.id).any()}
    q, a = means.pop("quartz"), means.pop("albite")
    assert q == 22000.0  # 1.0 * 20000 + 2000, no blur, no noise
    # albite: two levels +-8 % in about equal shares (a square wave of zero mean)
    levels = np.unique(s.ct[c.albite])
    assert set(levels.tolist()) <= {2000 + int(round(20000 * 0.92)), 2000 + int(round(20000 * 1.08))}
    assert abs(a - q) / (q - 2000) < 0.01
    for name, m in means.items():  # every other mineral is at least 10 % of quartz's grey away
        assert abs(m - q) / (q - 2000) > 0.1, name


def _peak_frequency(values):
    power = np.abs(np.fft.fftn(values)) ** 2
    power[0, 0, 0] = 0
    k = np.array(np.unravel_index(np.argmax(power), values.shape), dtype=float)
    k = np.where(k > np.array(values.shape) / 2, k - np.array(values.shape), k) / np.array(values.shape)
    return k, power


def test_albite_lamellae_have_a_4_voxel_period_along_each_grains_own_random_normal():
    c = seg_case(_clean("core-twins"), size=64, seed=3)
    s = c.sample
    grains = s.truth["grains"]
    normals = s.truth["lamella_normals"]
    ids, counts = np.unique(grains[c.albite], return_counts=True)
    big = ids[np.argsort(counts)[::-1][:3]]
    found = []
    for g in big:
        mask = (grains == g) & c.albite
        sl = ndimage.find_objects(mask.astype(np.int8))[0]
        values = np.where(mask[sl], s.ct[sl].astype(np.float64) - 22000.0, 0.0)
        pad = np.zeros((48, 48, 48))
        crop = values[:48, :48, :48]
        pad[:crop.shape[0], :crop.shape[1], :crop.shape[2]] = crop
        k, _ = _peak_frequency(pad)
        # independent of the generator's formula: the strongest Fourier peak of the grain
        assert np.linalg.norm(k) == pytest.approx(0.25, abs=0.04)
        assert abs(np.dot(k / np.linalg.norm(k), normals[g])) > 0.9
        found.append(k / np.linalg.norm(k))
    # random directions: the three largest grains do not share one
    assert min(abs(np.dot(found[i], found[j])) for i in range(3) for j in range(i + 1, 3)) < 0.95
    # quartz is smooth: no texture inside its grains
    assert np.unique(s.ct[s.phases == s.minerals["quartz"].id]).tolist() == [22000]


def test_label_layouts_ends_inside_interior_and_tilted_sheets():
    shape = (40, 36, 36)
    for layout, planes in (("ends", [1, 38]), ("inside", [4, 35]), ("interior", [13, 27])):
        mask, info = seg_label_planes(shape, layout)
        assert info["planes"] == planes
        assert np.array_equal(np.flatnonzero(mask.any(axis=(1, 2))), planes) and mask[planes].all()
    mask, info = seg_label_planes(shape, "tilted", seed=4)
    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    assert n == 2 and len(info["sheets"]) == 2
    for i, sheet in enumerate(info["sheets"], 1):
        z, y, x = np.nonzero(lab == i)  # raster order: component 1 is the lower sheet
        assert abs(z.mean() - sheet["centre_z"]) < 1.5
        # one voxel per (y, x) column, a least-squares plane z = a + b y + c x tilted 4-10 degrees
        assert len(set(zip(y.tolist(), x.tolist()))) == len(z) > 0.9 * 36 * 36
        a = np.linalg.lstsq(np.stack([np.ones_like(y), y, x], 1).astype(float), z.astype(float), rcond=None)[0]
        tilt = np.degrees(np.arctan(np.hypot(a[1], a[2])))
        assert 4.0 - 0.5 <= tilt <= 10.0 + 0.5
        assert tilt == pytest.approx(sheet["tilt_deg"], abs=0.5)
    with pytest.raises(InputError, match="layout"):
        seg_label_planes(shape, "diagonal")
    with pytest.raises(InputError, match="kind"):
        seg_case("core-zebra")
    with pytest.raises(InputError, match="size"):
        seg_case("core-twins", size=8)


def test_mount_particles_touch_and_are_cut_by_the_border():
    c = seg_case("mount-twins", size=48, seed=0)
    p = c.sample.particles
    # touching particles: face-adjacent voxels with two different ids
    a, b = p[:, :, :-1], p[:, :, 1:]
    assert np.any((a > 0) & (b > 0) & (a != b))
    assert np.any(p[0] > 0) and np.any(p[:, :, -1] > 0)
