"""Training, checkpoints, inference and the CLI on tiny volumes and networks (torch + MONAI)."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from liberation.errors import InputError  # noqa: E402
from liberation.segmentation.config import get_preset  # noqa: E402
from liberation.segmentation.losses import masked_loss  # noqa: E402

pytestmark = pytest.mark.ml


def _phantom(shape=(24, 24, 24)):
    """Two phases of clearly different grey value in halves along x, void border."""
    rng = np.random.default_rng(0)
    phases = np.zeros(shape, np.uint8)
    phases[:, 3:-3, 3 : shape[2] // 2] = 1
    phases[:, 3:-3, shape[2] // 2 : -3] = 2
    grey = np.array([100.0, 1000.0, 2000.0])[phases] + rng.normal(0, 20, shape)
    sparse = np.full(shape, 255, np.uint8)
    sparse[0] = phases[0]
    sparse[-1] = phases[-1]
    return grey.astype(np.float32), phases, sparse


@pytest.fixture(scope="module")
def trained():
    from liberation.segmentation.train import train_model

    torch.set_num_threads(1)
    grey, phases, sparse = _phantom()
    cfg = get_preset("tiny", max_epochs=4, steps_per_epoch=6)
    result = train_model(grey, sparse, voxel_size_um=5.0, config=cfg, seed=3, device="cpu", show_progress=False,
                         baseline=False)
    return grey, phases, sparse, cfg, result


def test_masked_loss_ignores_unlabelled():
    logits = torch.zeros(1, 3, 2, 2, 2, requires_grad=True)
    target = torch.full((1, 2, 2, 2), 255, dtype=torch.long)
    assert float(masked_loss(logits, target).detach()) == 0.0
    target[0, 0, 0, 0] = 1
    ce_only = masked_loss(logits, target, dice_weight=0.0).detach()
    assert float(ce_only) == pytest.approx(np.log(3), rel=1e-5)
    # changing logits of unlabelled voxels does not change the loss
    other = logits.detach().clone()
    other[0, :, 1] = torch.randn(3, 2, 2)
    assert float(masked_loss(other, target)) == pytest.approx(float(masked_loss(logits.detach(), target)))


def test_augment_keeps_labels_aligned():
    from liberation.segmentation.augment import augment_batch

    x = torch.zeros(2, 1, 8, 8, 8)
    x[:, :, :, :, :4] = 1.0
    y = (x[:, 0] > 0.5).long()
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        xa, ya = augment_batch(x, y, generator=g, noise=0.0, scale=0.0, shift=0.0, p_affine=0.0)
        assert ((xa[:, 0] > 0.5).long() == ya).all()


def test_training_card_and_validation(trained):
    grey, phases, sparse, cfg, result = trained
    card = result.card
    assert card.task == "phases" and card.class_ids == [0, 1, 2]
    assert card.patch_size == [16, 16, 16] and card.voxel_size_um == [5.0, 5.0, 5.0]
    assert card.training["split"]["mode"] == "region"
    assert len(result.history) >= 1 and len(result.checkpoints) <= cfg.keep_best
    assert result.checkpoints == sorted(result.checkpoints, key=lambda c: c["val_loss"])
    assert {"accuracy", "miou", "confusion_normalized"} <= set(card.validation)


def test_training_is_deterministic_on_cpu():
    from liberation.segmentation.train import train_model

    grey, phases, sparse = _phantom((16, 16, 16))
    cfg = get_preset("tiny", max_epochs=1, steps_per_epoch=2, patch_size=(8, 8, 8), augment=True)
    a = train_model(grey, sparse, voxel_size_um=1, config=cfg, seed=5, device="cpu", show_progress=False, baseline=False)
    b = train_model(grey, sparse, voxel_size_um=1, config=cfg, seed=5, device="cpu", show_progress=False, baseline=False)
    for k, v in a.network.state_dict().items():
        assert torch.equal(v, b.network.state_dict()[k]), k
    assert a.history[0]["train_loss"] == b.history[0]["train_loss"]


def test_save_load_and_slab_inference_equals_whole(trained, tmp_path):
    from liberation.segmentation.checkpoint import load_model, save_model
    from liberation.segmentation.inference import predict_probabilities, predict_volume
    from liberation.segmentation.targets import decode_classes

    grey, phases, sparse, cfg, result = trained
    folder = save_model(result, tmp_path / "model")
    assert {"model.pt", "model_card.json", "metrics.csv", "learning_curve.png", "checkpoints"} <= {
        p.name for p in folder.iterdir()}
    card = json.loads((folder / "model_card.json").read_text())
    assert card["input"]["normalization"]["method"] == "percentile" and card["library_version"]
    assert card["kind"] == "phases-unet" and card["format_version"] == 1
    net, card = load_model(folder)
    with pytest.raises(FileExistsError):
        save_model(result, folder)
    whole = decode_classes(predict_probabilities(grey, net, card, device="cpu").argmax(0), card.class_ids)
    # one window grid over the volume, streamed slab by slab: stitching is exact for any slab
    for slab in (5, 8):
        exact = predict_volume(grey, net, card, slab=slab, device="cpu", show_progress=False)
        np.testing.assert_array_equal(exact, whole)
    prob = np.zeros((3, *grey.shape), np.uint8)
    predict_volume(grey, net, card, prob_out=prob, device="cpu", show_progress=False)
    assert np.abs(prob.astype(int).sum(0) - 255).max() <= 3


def test_2d_slices_shape(trained):
    from liberation.segmentation.inference import predict_slices_2d

    grey, phases, sparse, cfg, result = trained
    out = predict_slices_2d(grey, result.network, result.card, [3, 4, 5], device="cpu")
    assert out.shape == (3, 24, 24) and out.dtype == np.uint8


def test_bad_inputs():
    from liberation.segmentation.train import train_model

    grey, phases, sparse = _phantom((16, 16, 16))
    with pytest.raises(InputError, match="shape"):
        train_model(grey[:8], sparse, voxel_size_um=1, config="tiny")
    with pytest.raises(InputError, match="task"):
        train_model(grey, sparse, voxel_size_um=1, config="tiny", task="grains")
    with pytest.raises(InputError, match="no labelled voxel"):
        train_model(grey, np.full_like(sparse, 255), voxel_size_um=1, config="tiny")


@pytest.mark.slow
def test_cli_train_segment_evaluate(tmp_path):
    from liberation import io
    from liberation.cli import main
    from liberation.minerals import spodumene_ore

    grey, phases, sparse = _phantom()
    store = io.create_store(tmp_path / "s.zarr", grey.astype(np.uint16), voxel_size_um=5.0)
    store = io.open_store(tmp_path / "s.zarr", mode="r+")
    store.write_label("sparse", sparse)
    store.write_label("truth", np.where(np.arange(24)[:, None, None] == 12, phases, 255).astype(np.uint8))
    model = tmp_path / "model"
    # the network path (context, mirror): the pixel classifier would win on this easy phantom
    args = ["train", str(store.path), "--out", str(model), "--preset", "tiny", "--epochs", "2", "--threads", "1",
            "--deliver", "network"]
    assert main(args) == 0
    assert main(args) == 2  # exists, no --overwrite
    assert main(["segment", str(store.path), "--model", str(model), "--threads", "1"]) == 0
    s = io.open_store(tmp_path / "s.zarr")
    assert s.label("phases").shape == grey.shape
    assert main(["segment", str(store.path), "--model", str(model)]) == 2  # exists
    assert main(["segment", str(store.path), "--model", str(model), "--context", "face-matched", "--overwrite",
                 "--threads", "1"]) == 0
    s = io.open_store(tmp_path / "s.zarr")
    assert s.label("phases").shape == grey.shape
    assert "face-matched" in json.dumps(s.provenance)
    out = tmp_path / "eval"
    assert main(["evaluate", str(store.path), "--model", str(model), "--truth", "truth", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["planes"] == [12] and {"3d", "2d", "grey_baseline", "interslice_consistency"} <= set(metrics)
    assert (out / "confusion_3d.png").is_file()
    # particles task with the classical bootstrap
    pmodel = tmp_path / "pmodel"
    assert main(["train", str(store.path), "--task", "particles", "--out", str(pmodel), "--preset", "tiny",
                 "--epochs", "1", "--threads", "1"]) == 0
    assert main(["segment", str(store.path), "--model", str(pmodel), "--context", "face-matched"]) == 2
    assert main(["segment", str(store.path), "--model", str(pmodel), "--threads", "1"]) == 0
    assert io.open_store(tmp_path / "s.zarr").label("particles").dtype == np.uint32
    # the segmented store (phases and particles written from zarr arrays) is valid OME-NGFF 0.5
    from _ngff import assert_valid_ngff

    assert set(assert_valid_ngff(tmp_path / "s.zarr")["labels"]) == {"sparse", "truth", "phases", "particles"}
    assert spodumene_ore()  # minerals list importable for the card


def _smooth_image(shape, seed=0, sigma=3.0):
    from scipy import ndimage

    img = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), sigma)
    return ((img - img.min()) / (img.max() - img.min())).astype(np.float32)


def test_overfits_one_patch():
    """One fixed patch, no augmentation: the loss masking, targets and argmax let a tiny net fit it."""
    from liberation.segmentation.model import build_network, network_params

    torch.manual_seed(0)
    img = _smooth_image((16, 16, 16))
    y = torch.from_numpy(np.floor(img * 2.999).astype(np.int64))[None]
    y[:, :, :, :8] = 255  # half unlabelled
    x = torch.from_numpy(img)[None, None]
    net = build_network(network_params(get_preset("tiny"), in_channels=1, out_channels=3))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss = masked_loss(net(x), y)
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        pred = net(x).argmax(1)
    m = y != 255
    assert float((pred[m] == y[m]).float().mean()) > 0.97


def test_patches_of_image_and_labels_align_with_reflection():
    from liberation.segmentation.patches import extract_patch, sample_patch_origins

    img = _smooth_image((12, 20, 20))
    labels = np.floor(img * 3.999).astype(np.uint8)
    sparse = np.full(labels.shape, 255, np.uint8)
    sparse[0] = labels[0]
    origins = sample_patch_origins(sparse != 255, (8, 8, 8), 20, seed=1)
    for o in origins:
        pi = extract_patch(img, o, (8, 8, 8))
        pl = extract_patch(labels, o, (8, 8, 8))
        ps = extract_patch(sparse, o, (8, 8, 8), fill=255)
        np.testing.assert_array_equal(np.floor(pi * 3.999).astype(np.uint8), pl)
        # the labelled plane z = 0 lies inside the patch (central half) where the sampler put it
        z = -int(o[0])
        assert 2 <= z < 6 and (ps[z] != 255).any()
        assert (np.delete(ps, z, axis=0) == 255).all()  # the reflected copies of the face stay unlabelled
        inside = (ps[z] != 255)
        np.testing.assert_array_equal(ps[z][inside], pl[z][inside])


def test_augment_affine_keeps_image_label_relation():
    """Labels = quantised image; after zoom/shear (bilinear image, nearest labels) the relation still holds
    except at level boundaries, and a one-voxel misalignment would break it much more."""
    from liberation.segmentation.augment import augment_batch

    img = _smooth_image((2, 16, 32, 32), sigma=2.0)
    x = torch.from_numpy(img)[:, None]
    y = torch.from_numpy(np.floor(img * 2.999).astype(np.int64))
    g = torch.Generator().manual_seed(0)
    for _ in range(6):
        xa, ya = augment_batch(x, y, generator=g, scale=0.0, shift=0.0, noise=0.0, p_affine=1.0)
        m = ya != 255
        q = torch.floor(xa[:, 0] * 2.999).clamp(0, 2).long()
        assert float((q[m] == ya[m]).float().mean()) > 0.94
        shifted = torch.roll(ya, 1, dims=3)
        ms = m & (shifted != 255)
        assert float((q[ms] == shifted[ms]).float().mean()) < 0.925


def _random_conv_model(seed):
    """A one-layer 'network': class 0 = a random 3x3x3 correlation, class 1 = 0; 8^3 windows."""
    from types import SimpleNamespace

    conv = torch.nn.Conv3d(1, 2, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0] = torch.from_numpy(np.random.default_rng(seed).normal(size=(1, 3, 3, 3)).astype(np.float32))
    return conv, SimpleNamespace(patch_size=[8, 8, 8])


def test_inference_reflects_volume_ends_like_training():
    """A voxel of an end face is predicted with reflected context, as training patches (extract_patch) see it."""
    from scipy import ndimage

    from liberation.segmentation.inference import predict_probabilities

    conv, card = _random_conv_model(0)
    img = _smooth_image((12, 20, 20)) - 0.5
    probs = predict_probabilities(img, conv, card, device="cpu", normalized=True)
    ref = ndimage.correlate(img.astype(np.float64), conv.weight[0, 0].detach().numpy().astype(np.float64),
                            mode="mirror")
    expected = 1.0 / (1.0 + np.exp(-ref))
    # small differences come from windows whose zero-padded border reaches a voxel (low Gaussian weight)
    np.testing.assert_allclose(probs[0], expected, atol=1e-2)
    # without the reflected context the end faces are predicted differently from training
    plain = predict_probabilities(img, conv, card, device="cpu", normalized=True, reflect=((False, False),) * 3)
    assert np.abs(plain[0, 0] - expected[0]).max() > 0.03


def test_mirror_test_time_augmentation_averages_the_eight_flips():
    from liberation.segmentation.inference import predict_probabilities

    conv, card = _random_conv_model(1)
    img = _smooth_image((16, 16, 16)) - 0.5
    expected = 0.0
    for bits in np.ndindex(2, 2, 2):
        axes = tuple(a for a, bit in enumerate(bits) if bit)
        p = predict_probabilities(np.flip(img, axes).copy(), conv, card, device="cpu", normalized=True)
        expected = expected + np.flip(p, tuple(a + 1 for a in axes))
    expected = expected / 8.0
    got = predict_probabilities(img, conv, card, device="cpu", normalized=True, mirror=True)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    plain = predict_probabilities(img, conv, card, device="cpu", normalized=True)
    assert np.abs(plain - got).max() > 0.01  # the kernel is not symmetric: mirroring changes the result
    # a kernel symmetric under every flip gives the same result with or without mirroring
    with torch.no_grad():
        w = conv.weight[0, 0]
        conv.weight[0, 0] = (w + w.flip(0) + w.flip(1) + w.flip(2) + w.flip(0, 1) + w.flip(0, 2) + w.flip(1, 2)
                             + w.flip(0, 1, 2)) / 8.0
    np.testing.assert_allclose(predict_probabilities(img, conv, card, device="cpu", normalized=True, mirror=True),
                               predict_probabilities(img, conv, card, device="cpu", normalized=True), atol=1e-5)


def test_face_matched_inference(trained):
    from liberation.segmentation.inference import predict_face_matched, predict_probabilities
    from liberation.segmentation.targets import decode_classes

    grey, phases, sparse, cfg, result = trained
    half = int(result.card.patch_size[0]) // 2
    # at an end face both sides give the mirrored stack a training patch had there:
    # planes |d| for d in -half..half-1, the face in the middle
    mirrored = grey[np.abs(np.arange(-half, half))]
    probs = predict_probabilities(mirrored, result.network, result.card, device="cpu",
                                  reflect=((False, False), (True, True), (True, True)))
    expected = decode_classes(probs[:, half].argmax(0), result.card.class_ids)
    got = predict_face_matched(grey, result.network, result.card, z_indices=[0], device="cpu", show_progress=False)
    np.testing.assert_array_equal(got[0], expected)
    # written in place into a full-size output, probabilities too
    out = np.full(grey.shape, 9, np.uint8)
    prob = np.zeros((len(result.card.class_ids), *grey.shape), np.uint8)
    predict_face_matched(grey, result.network, result.card, z_indices=[3], out=out, prob_out=prob, device="cpu",
                         show_progress=False)
    assert set(np.unique(out[3])) <= set(result.card.class_ids) and (out[4] == 9).all()
    assert abs(int(prob[:, 3].astype(int).sum(0).mean()) - 255) <= 3
    with pytest.raises(InputError, match="z_indices"):
        predict_face_matched(grey, result.network, result.card, z_indices=[grey.shape[0]], device="cpu")
    # segment_phases dispatches on context
    from liberation.segmentation.inference import segment_phases

    via = segment_phases(grey, result.network, result.card, context="face-matched", z_indices=[0], slab=4,
                         device="cpu", show_progress=False)
    np.testing.assert_array_equal(via, got)
    with pytest.raises(InputError, match="context"):
        segment_phases(grey, result.network, result.card, context="sideways", device="cpu")


@pytest.mark.slow
def test_pipeline_face_matched_context(tmp_path):
    from liberation.io import open_store
    from liberation.workflows.pipeline import run_pipeline

    torch.set_num_threads(1)
    with pytest.raises(InputError, match="context"):
        run_pipeline(tmp_path / "bad", size=48, preset="tiny", context="sideways")
    assert not (tmp_path / "bad").exists()
    summary = run_pipeline(tmp_path / "run", size=48, preset="tiny", particles=False, report=False, register=False,
                           context="face-matched", device="cpu").summary
    assert summary["context"] == "face-matched"
    store = open_store(tmp_path / "run" / "sample.zarr")
    phases = np.asarray(store.label("phases"))
    assert phases.shape == (48, 48, 48)
    from _ngff import assert_valid_ngff

    assert {"sparse", "phases", "particles"} <= set(assert_valid_ngff(tmp_path / "run" / "sample.zarr")["labels"])
    assert 0.0 <= summary["evaluation"]["3d"]["accuracy"] <= 1.0


def test_training_with_pixel_classifier_bootstrap_planes():
    from liberation.segmentation.train import train_model

    torch.set_num_threads(1)
    grey, phases, sparse = _phantom()
    plain = get_preset("tiny", max_epochs=1, steps_per_epoch=2)
    boot = plain.updated(bootstrap_planes=3, bootstrap_min_probability=0.5)
    r0 = train_model(grey, sparse, voxel_size_um=5.0, config=plain, seed=0, device="cpu", show_progress=False,
                     baseline=False)
    r1 = train_model(grey, sparse, voxel_size_um=5.0, config=boot, seed=0, device="cpu", show_progress=False)
    info = r1.card.training["bootstrap"]
    # the baseline is the bootstrap's classifier (same training labels), on the validation voxels
    assert r1.card.validation["baseline"]["training_samples"] == info["training_samples"]
    assert r1.card.validation["baseline"]["accuracy"] > 0.95
    assert r0.card.training["bootstrap"] is None
    assert info["planes"] == [6, 12, 17]  # evenly spaced, the labelled faces excluded
    assert info["validation_accuracy"] > 0.95  # two clearly different grey values
    # the three whole planes joined the training voxels (confident voxels only), validation unchanged
    added = r1.card.training["n_train_voxels"] - r0.card.training["n_train_voxels"]
    assert 0.9 * 3 * 24 * 24 <= added <= 3 * 24 * 24
    assert r1.card.training["n_val_voxels"] == r0.card.training["n_val_voxels"]
    with pytest.raises(InputError, match="bootstrap_planes"):
        plain.updated(bootstrap_planes=-1)


def test_weight_average_update_is_exact_and_training_keeps_the_average():
    from liberation.segmentation.train import _update_ema, train_model

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 2, 1), torch.nn.BatchNorm3d(2))
    ema = torch.nn.Sequential(torch.nn.Conv3d(1, 2, 1), torch.nn.BatchNorm3d(2))
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    net[1].num_batches_tracked.fill_(7)
    _update_ema(ema, net, decay=0.9)
    for name, value in ema.state_dict().items():
        if value.dtype.is_floating_point:
            torch.testing.assert_close(value, 0.9 * before[name] + 0.1 * net.state_dict()[name])
        else:
            assert int(value) == 7  # integer buffers are copied
    with pytest.raises(InputError, match="ema_decay"):
        get_preset("tiny", ema_decay=1.0)
    # in training, the kept network is the average: it differs from the raw weights of the same run
    rng = np.random.default_rng(0)
    grey = rng.normal(0, 1, (16, 16, 16)).astype(np.float32)
    sparse = np.full(grey.shape, 255, np.uint8)
    sparse[0] = (grey[0] > 0).astype(np.uint8) + 1
    cfg = get_preset("tiny", max_epochs=1, keep_best=1)
    plain = train_model(grey, sparse, voxel_size_um=1.0, config=cfg, seed=0, device="cpu", show_progress=False,
                        baseline=False)
    averaged = train_model(grey, sparse, voxel_size_um=1.0, config=cfg.updated(ema_decay=0.5), seed=0, device="cpu",
                           show_progress=False, baseline=False)
    assert averaged.card.training["config"]["ema_decay"] == 0.5
    w_plain = dict(plain.network.named_parameters())
    w_avg = dict(averaged.network.named_parameters())
    assert any(not torch.equal(w_plain[k], w_avg[k]) for k in w_plain)


def test_segment_refuses_a_model_of_another_voxel_size(trained, tmp_path):
    from liberation.cli import main
    from liberation.io import create_store, open_store
    from liberation.segmentation.checkpoint import save_model

    grey, _, _, _, result = trained  # trained at 5 µm
    model = save_model(result, tmp_path / "model")
    path = tmp_path / "s.zarr"
    create_store(path, grey.astype(np.uint16), voxel_size_um=10.0)
    assert main(["segment", str(path), "--model", str(model), "--threads", "1"]) == 2
    assert not open_store(path).has_label("phases")
    from liberation.workflows.segment import segment_store

    with pytest.raises(InputError, match=r"trained at voxel size 5 x 5 x 5 µm but .*s.zarr has 10 x 10 x 10 µm"):
        segment_store(path, model=model, threads=1)
    assert main(["segment", str(path), "--model", str(model), "--threads", "1", "--ignore-voxel-size"]) == 0
    assert open_store(path).label("phases").shape == grey.shape


@pytest.mark.slow
def test_model_folder_delivers_the_better_method_and_segment_applies_it(tmp_path):
    from liberation.io import create_store, open_store
    from liberation.segmentation.checkpoint import load_model, save_model
    from liberation.segmentation.inference import segment_phases
    from liberation.segmentation.pixel_classifier import (
        CLASSIFIER_ARRAYS,
        load_pixel_classifier,
        predict_pixel_classifier,
    )
    from liberation.segmentation.train import choose_delivered, train_model
    from liberation.workflows.segment import segment_store

    torch.set_num_threads(1)
    grey, _, sparse = _phantom((20, 20, 20))
    grey = np.round(grey).astype(np.float32)  # the store holds uint16 grey values
    cfg = get_preset("tiny", max_epochs=1, steps_per_epoch=1)  # one step: the network has barely learnt
    won = train_model(grey, sparse, voxel_size_um=5.0, config=cfg, seed=0, device="cpu", show_progress=False)
    v = won.card.validation
    assert v["baseline"]["miou"] > v["miou"]  # two grey values 1000 apart: the classifier is ~perfect
    assert v["delivered"] == "pixel-classifier" and won.classifier is not None
    assert v["delivery"]["pixel-classifier"]["miou"] == v["baseline"]["miou"]
    assert v["delivery"]["network"]["miou"] == v["miou"]
    assert "pixel classifier scored higher" in v["delivery"]["reason"]
    assert any("delivers the pixel classifier instead" in n for n in won.notes)
    forced = train_model(grey, sparse, voxel_size_um=5.0, config=cfg, seed=0, device="cpu", show_progress=False,
                         deliver="network")
    assert forced.card.validation["delivered"] == "network" and forced.classifier is None
    assert forced.card.validation["delivery"]["reason"].startswith("forced")

    for name, result in (("won", won), ("forced", forced)):
        model = save_model(result, tmp_path / name)
        assert (model / CLASSIFIER_ARRAYS).is_file() == (name == "won")
        path = tmp_path / f"{name}.zarr"
        create_store(path, grey.astype(np.uint16), voxel_size_um=5.0)
        segment_store(path, model=model, threads=1, probabilities=True, slab=7)
        s = open_store(path)
        phases = np.asarray(s.label("phases")[...])
        image = np.asarray(s.image()[...])
        if name == "won":
            want, _ = predict_pixel_classifier(image, load_pixel_classifier(model), range(grey.shape[0]))
            # the stored classifier predicts as the one validated in training
            fresh, _ = predict_pixel_classifier(image, won.classifier, range(grey.shape[0]))
            np.testing.assert_array_equal(want, fresh)
        else:
            network, card = load_model(model)
            want = segment_phases(image, network, card, device="cpu", slab=7, edge="z-ends",  # segment_store's default
                                      show_progress=False)
        np.testing.assert_array_equal(phases, want)
        record = [r for r in s.provenance if r["step"] == "segment"][-1]["parameters"]
        assert record["method"] == ("pixel-classifier" if name == "won" else "network")

    # the rule: mIoU first, then accuracy, ties to the network; particles always the network
    net, clf = {"accuracy": 0.9, "miou": 0.8}, {"accuracy": 0.95, "miou": 0.8}
    assert choose_delivered(net, clf)[0] == "pixel-classifier"
    assert choose_delivered(net, dict(net))[0] == "network"
    assert choose_delivered({"accuracy": 0.99, "miou": 0.7}, clf)[0] == "pixel-classifier"
    assert choose_delivered(net, clf, task="particles")[0] == "network"
    assert choose_delivered(net, None)[0] == "network"
    with pytest.raises(InputError, match="deliver='best-of'"):
        choose_delivered(net, clf, deliver="best-of")
