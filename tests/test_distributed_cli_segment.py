"""Sliding-window inference on Dask distributed (``liberation segment --workers/--scheduler``), issue 22.

Truth: the whole-volume run (:func:`predict_probabilities` / :func:`predict_volume` and the local
``liberation segment``). A slab computed alone runs the windows of the whole-volume grid that
reach it, so its probabilities are those of the whole run up to float rounding of the softmax
(measured: <= 6e-8) and the labels are the same.
"""

from __future__ import annotations

import os
import signal
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
distributed = pytest.importorskip("distributed")

from liberation.cli import main  # noqa: E402
from liberation.errors import InputError  # noqa: E402
from liberation.segmentation.distributed_inference import (  # noqa: E402
    predict_planes,
    predict_volume_distributed,
    slab_bounds,
)
from liberation.segmentation.inference import predict_probabilities, predict_volume  # noqa: E402

ROI = (8, 12, 12)


@pytest.fixture(scope="module")
def model():
    from liberation.segmentation.config import get_preset
    from liberation.segmentation.model import build_network, network_params

    torch.manual_seed(0)
    net = build_network(network_params(get_preset("tiny"), in_channels=1, out_channels=3)).eval()
    # larger weights than at initialisation: class probabilities far from uniform, no near-ties
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
    card = SimpleNamespace(patch_size=ROI, class_ids=[1, 2, 5],
                           normalization={"method": "percentile", "low": 0.5, "high": 99.5,
                                          "value_low": 0.0, "value_high": 1.0})
    img = np.random.default_rng(0).normal(size=(29, 15, 17)).astype(np.float32)
    return net, card, img


@pytest.fixture
def thread_cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as c:
        yield c


@pytest.mark.parametrize("kw", [{}, {"mirror": True}, {"edge": "inside"}, {"edge": "z-ends"}, {"sw_batch_size": 3}])
def test_planes_alone_equal_the_whole_volume_run(model, kw):
    net, card, img = model
    torch.set_num_threads(1)
    whole = predict_probabilities(img, net, card, device="cpu", **kw)
    ranges = [(5, 13), (28, 29)] if kw.get("mirror") else [(0, 5), (5, 13), (13, 29), (28, 29), (10, 11), (0, 29)]
    for z0, z1 in ranges:
        part = predict_planes(img, net, card, z0, z1, device="cpu", **kw)
        assert part.shape == (3, z1 - z0, 15, 17)
        np.testing.assert_allclose(part, whole[:, z0:z1], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(part.argmax(0), whole[:, z0:z1].argmax(0))


def test_slab_bounds_and_bad_planes(model):
    net, card, img = model
    assert slab_bounds(37, 8, 2) == [(0, 10), (10, 20), (20, 30), (30, 37)]  # ~ 37 / 4, >= 8
    assert slab_bounds(1000, 8, 2) == [(z, z + 32) for z in range(0, 992, 32)] + [(992, 1000)]  # <= 4 x 8
    assert slab_bounds(37, 8, 64) == [(z, min(z + 8, 37)) for z in range(0, 37, 8)]  # >= 1 patch depth
    assert slab_bounds(5, 8, 2, slab=2) == [(0, 2), (2, 4), (4, 5)]
    with pytest.raises(InputError, match="slab=0"):
        slab_bounds(5, 8, 2, slab=0)
    for z0, z1 in [(-1, 3), (3, 3), (30, 38)]:
        with pytest.raises(InputError, match="planes"):
            predict_planes(img, net, card, z0, z1, device="cpu")


@pytest.mark.parametrize("as_zarr", [False, True])
def test_distributed_volume_equals_local(model, thread_cluster, tmp_path, as_zarr):
    import zarr

    net, card, img = model
    torch.set_num_threads(1)
    ref = predict_volume(img, net, card, device="cpu", show_progress=False)
    ref_p = np.zeros((3, *img.shape), np.uint8)
    predict_volume(img, net, card, prob_out=ref_p, device="cpu", show_progress=False)
    image = img
    if as_zarr:  # the workers read their planes from the array's path
        image = zarr.open_array(str(tmp_path / "img.zarr"), mode="w", shape=img.shape, dtype=img.dtype,
                                chunks=(8, 15, 17))
        image[...] = img
    got_p = np.zeros_like(ref_p)
    with distributed.Client(thread_cluster) as client:
        got = predict_volume_distributed(image, net, card, client=client, prob_out=got_p, slab=7, device="cpu",
                                         threads=1, show_progress=False)
    np.testing.assert_array_equal(got, ref)
    assert np.abs(got_p.astype(int) - ref_p).max() <= 1  # 0..255: a rounding boundary may fall between


# ------------------------------------------------------------------------------ the command
@pytest.fixture(scope="module")
def segment_case(tmp_path_factory):
    """A store of 3 phases and a briefly trained tiny phase model folder (the network is delivered)."""
    from liberation import io
    from liberation.segmentation.checkpoint import save_model
    from liberation.segmentation.config import get_preset
    from liberation.segmentation.train import train_model

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    shape = (30, 20, 20)
    phases = np.zeros(shape, np.uint8)
    phases[:, 3:-3, 3:10] = 1
    phases[:, 3:-3, 10:-3] = 2
    grey = (np.array([100.0, 1000.0, 2000.0])[phases] + rng.normal(0, 150, shape)).astype(np.float32)
    sparse = np.full(shape, 255, np.uint8)
    sparse[[0, -1]] = phases[[0, -1]]
    tmp = tmp_path_factory.mktemp("seg")
    io.create_store(tmp / "s.zarr", grey.astype(np.uint16), voxel_size_um=5.0, chunks=(8, 20, 20))
    cfg = get_preset("tiny", max_epochs=1, steps_per_epoch=3)
    result = train_model(grey, sparse, voxel_size_um=5.0, config=cfg, seed=3, device="cpu", show_progress=False,
                         baseline=False)
    model = save_model(result, tmp / "model")
    local = tmp / "local.zarr"
    import shutil

    shutil.copytree(tmp / "s.zarr", local)
    assert main(["-q", "segment", str(local), "--model", str(model), "--threads", "1", "--probabilities"]) == 0
    return tmp / "s.zarr", model, io.open_store(local)


def _labels(path):
    from liberation.io import open_store

    s = open_store(path)
    return {name: np.asarray(s.label(name)[...]) for name in s.label_names}


@pytest.mark.slow  # trains a tiny model (module fixture) and segments twice: ~3 s quiet
def test_segment_on_a_running_scheduler_equals_local(segment_case, thread_cluster, tmp_path):
    import shutil

    store, model, local = segment_case
    path = tmp_path / "d.zarr"
    shutil.copytree(store, path)
    assert main(["-q", "segment", str(path), "--model", str(model), "--threads", "1", "--probabilities",
                 "--slab", "8", "--scheduler", thread_cluster.scheduler_address]) == 0
    got, ref = _labels(path), _labels(local.path)
    assert sorted(got) == sorted(ref) and "phases" in got
    np.testing.assert_array_equal(got["phases"], ref["phases"])
    for name in ref:
        assert np.abs(got[name].astype(int) - ref[name]).max() <= 1, name
    assert thread_cluster.scheduler.transition_counter > 0


class KillOneWorker(distributed.diagnostics.plugin.SchedulerPlugin):
    """Kill the process of one worker (SIGKILL) as soon as the first slab task is done."""

    def __init__(self, pids):
        self.pids, self.killed, self.removed, self.done_after_kill = pids, None, [], 0

    def transition(self, key, start, finish, *args, **kwargs):
        if finish != "memory" or "_slab_task" not in str(key):
            return
        if self.killed is None:
            self.killed = next(iter(self.pids))
            os.kill(self.pids[self.killed], signal.SIGKILL)
        else:
            self.done_after_kill += 1

    def remove_worker(self, scheduler, worker, **kwargs):
        self.removed.append(worker)


@pytest.mark.slow
def test_segment_survives_a_killed_worker(segment_case, tmp_path):
    """2 worker processes, one killed after the first slab: the labels are those of the local run (~20 s)."""
    import shutil

    store, model, local = segment_case
    path = tmp_path / "d.zarr"
    shutil.copytree(store, path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        with distributed.Client(c) as client:
            pids = client.run(os.getpid)
        plugin = KillOneWorker(pids)
        c.scheduler.add_plugin(plugin)
        assert main(["-q", "segment", str(path), "--model", str(model), "--threads", "1", "--probabilities",
                     "--slab", "4", "--scheduler", c.scheduler_address]) == 0
    assert plugin.killed is not None and plugin.killed in plugin.removed
    assert plugin.done_after_kill > 0  # the run went on after the kill
    got, ref = _labels(path), _labels(local.path)
    np.testing.assert_array_equal(got["phases"], ref["phases"])
