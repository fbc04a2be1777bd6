"""Training does a defined amount of work (issue 16): presets as epochs x steps, --max-time,
an honest progress total, the classical baseline and the work in the model card."""

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from liberation.errors import InputError  # noqa: E402
from liberation.segmentation import train as train_mod  # noqa: E402
from liberation.segmentation.config import PRESETS, get_preset  # noqa: E402
from liberation.segmentation.train import baseline_verdict, train_model  # noqa: E402

pytestmark = pytest.mark.ml


def _phantom(shape=(16, 24, 24), *, contrast=900.0, seed=0):
    """Two phases in halves along x inside a void border; labels on the two end faces."""
    rng = np.random.default_rng(seed)
    phases = np.zeros(shape, np.uint8)
    phases[:, 3:-3, 3 : shape[2] // 2] = 1
    phases[:, 3:-3, shape[2] // 2 : -3] = 2
    grey = np.array([100.0, 1000.0, 1000.0 + contrast])[phases] + rng.normal(0, 20, shape)
    sparse = np.full(shape, 255, np.uint8)
    sparse[0] = phases[0]
    sparse[-1] = phases[-1]
    return grey.astype(np.float32), sparse


class _SlowClock:
    """A clock on which every reading is ``step`` seconds after the previous one (a slow machine)."""

    def __init__(self, step: float):
        self.t = 0.0
        self.step = step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


CFG = get_preset("tiny", max_epochs=3, steps_per_epoch=2, patch_size=(8, 8, 8))


def _train(config=CFG, **kw):
    torch.set_num_threads(1)
    grey, sparse = kw.pop("data", None) or _phantom()
    kw.setdefault("baseline", False)
    return train_model(grey, sparse, voxel_size_um=2.0, config=config, seed=4, device="cpu", show_progress=False, **kw)


def test_presets_define_the_work_and_no_time_budget():
    for name, cfg in PRESETS.items():
        assert cfg.max_time_s is None, name  # no preset stops on the clock
        assert cfg.total_steps == cfg.max_epochs * cfg.steps_per_epoch
    cpu = PRESETS["cpu"]
    assert (cpu.max_epochs, cpu.steps_per_epoch, cpu.batch_size) == (65, 50, 2)
    assert cpu.early_stopping >= cpu.max_epochs  # the cpu preset always does all of its work
    with pytest.raises(InputError, match="max_time_s"):
        get_preset("tiny", max_time_s=0)


def test_same_work_and_same_model_on_a_slow_machine(monkeypatch):
    fast = _train()
    monkeypatch.setattr(train_mod, "_clock", _SlowClock(3600.0))  # every clock reading an hour later
    slow = _train()
    for r in (fast, slow):
        work = r.card.training["work"]
        assert (work["epochs"], work["steps"], work["stopped_by"]) == (3, 6, "work")
        assert work["planned_steps"] == CFG.total_steps == 6 and work["threads"] == 1
        assert not r.notes
    assert slow.card.training["work"]["seconds"] > 3600  # the machine was indeed "slow"
    assert [h["val_accuracy"] for h in fast.history] == [h["val_accuracy"] for h in slow.history]
    for k, v in fast.network.state_dict().items():
        assert torch.equal(v, slow.network.state_dict()[k]), k


def test_max_time_stops_early_with_a_warning(monkeypatch):
    monkeypatch.setattr(train_mod, "_clock", _SlowClock(1.0))
    # clock readings: start, then one per step: the 3rd step ends 3 s after the start
    r = _train(CFG.updated(max_time_s=3.0))
    work = r.card.training["work"]
    assert work["stopped_by"] == "max_time" and work["steps"] == 3 and work["epochs"] == 2
    assert work["max_time_s"] == 3.0 and len(r.history) == 2  # the cut epoch is validated
    assert len(r.notes) == 1 and "--max-time 3 s after 3 of 6 steps" in r.notes[0]


def test_progress_total_is_the_defined_work(monkeypatch):
    bars = []

    class Bar:
        def __init__(self, **kwargs):
            self.kwargs, self.n, self.postfix, self.closed = kwargs, 0, None, False
            bars.append(self)

        def update(self, n=1):
            self.n += n

        def set_postfix(self, **kw):
            self.postfix = kw

        def close(self):
            self.closed = True

    monkeypatch.setattr(train_mod, "progress", lambda iterable=None, **kw: Bar(**kw))
    cfg = CFG.updated(max_epochs=4, steps_per_epoch=3)
    r = _train(cfg)
    (bar,) = bars
    assert bar.kwargs["total"] == cfg.total_steps == 12 and bar.kwargs["unit"] == "step"
    assert bar.n == r.card.training["work"]["steps"] == 12 and bar.closed  # one update per step, to the end
    assert bar.postfix["epoch"] == "4/4"  # the real number of epochs


def test_card_records_model_baseline_and_work(tmp_path):
    from liberation.segmentation.checkpoint import load_card, save_model

    r = _train(baseline=True)
    folder = save_model(r, tmp_path / "model")
    card = json.loads((folder / "model_card.json").read_text())
    metrics, training = card["metrics"], card["training"]
    assert {"accuracy", "miou"} <= set(metrics)
    base = metrics["baseline"]
    assert base["method"] == "pixel-classifier"
    # two phases 900 grey values apart (noise 20): the per-voxel classifier is exact
    assert base["accuracy"] == 1.0 and base["miou"] == 1.0
    assert metrics["beats_baseline"] is (metrics["accuracy"] >= 1.0 and metrics["miou"] >= 1.0)
    assert set(training["work"]) >= {"epochs", "steps", "seconds", "threads", "stopped_by"}
    assert training["work"]["stopped_by"] == "work" and training["work"]["steps"] == 6
    assert load_card(folder).validation["baseline"]["accuracy"] == 1.0
    # both feature sets were scored on the validation voxels; the better one (here the plain set, exact) is kept
    sets = base["feature_sets"]
    assert set(sets) == {"plain", "texture"} and sets["plain"]["accuracy"] == 1.0
    assert base["accuracy"] == max(v["accuracy"] for v in sets.values())
    # the auto-context candidate was tried on the kept (exact) set and not kept: it cannot score higher
    assert base["context"]["tried"] and not base["context"]["kept"] and "not kept" in base["context"]["reason"]
    assert r.candidates["pixel-classifier"].context_model is None


def test_baseline_is_at_chance_on_labels_unrelated_to_the_image():
    rng = np.random.default_rng(1)
    grey = rng.normal(1000, 50, (16, 24, 24)).astype(np.float32)
    sparse = np.full(grey.shape, 255, np.uint8)
    sparse[[0, -1]] = rng.integers(1, 3, (2, 24, 24))  # two classes, independent of the grey values
    r = _train(CFG.updated(val_patches=8), data=(grey, sparse), baseline=True)
    base = r.card.validation["baseline"]
    assert 0.3 < base["accuracy"] < 0.7  # chance is 0.5


def test_warning_when_the_model_does_not_beat_the_baseline():
    # one optimiser step of a tiny network cannot match an exact pixel classifier
    r = _train(CFG.updated(max_epochs=1, steps_per_epoch=1), baseline=True)
    v = r.card.validation
    assert v["baseline"]["accuracy"] == 1.0 and v["accuracy"] < 1.0
    assert v["beats_baseline"] is False
    assert len(r.notes) == 1 and "does not beat the classical baseline" in r.notes[0]
    assert f"{v['accuracy']:.3f}" in r.notes[0] and "(1.000, 1.000)" in r.notes[0]


def test_baseline_verdict():
    assert baseline_verdict({"accuracy": 0.9, "miou": 0.8}, {"accuracy": 0.9, "miou": 0.8}) is None
    assert baseline_verdict({"accuracy": 0.95, "miou": 0.9}, {"accuracy": 0.9, "miou": 0.8}) is None
    assert baseline_verdict({"accuracy": 0.95, "miou": 0.7}, {"accuracy": 0.9, "miou": 0.8}) is not None
    line = baseline_verdict({"accuracy": 0.475, "miou": 0.3}, {"accuracy": 0.9, "miou": 0.8})
    assert "0.475" in line and "0.900" in line and "\n" not in line
    assert baseline_verdict({"accuracy": 0.1, "miou": 0.1}, None) is None
    assert baseline_verdict({"accuracy": 0.1, "miou": 0.1}, {"method": "pixel-classifier", "skipped": "x"}) is None


def test_same_result_beside_a_cpu_hog():
    """Same seed, same threads: identical training with and without a CPU-heavy process beside it."""
    alone = _train()
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy = _train()
    finally:
        hog.kill()
        hog.wait()
    assert [h["val_accuracy"] for h in alone.history] == [h["val_accuracy"] for h in busy.history]
    assert alone.card.validation["accuracy"] == busy.card.validation["accuracy"]
    for k, v in alone.network.state_dict().items():
        assert torch.equal(v, busy.network.state_dict()[k]), k


def test_cli_train_prints_metrics_and_one_warning_line(tmp_path, capsys, monkeypatch):
    from liberation import io
    from liberation.cli import main

    grey, sparse = _phantom()
    io.create_store(tmp_path / "s.zarr", grey.astype(np.uint16), voxel_size_um=2.0)
    store = io.open_store(tmp_path / "s.zarr", mode="r+")
    store.write_label("sparse", sparse)
    monkeypatch.setattr(train_mod, "_clock", _SlowClock(1.0))
    model = tmp_path / "model"
    assert main(["train", str(store.path), "--out", str(model), "--preset", "tiny", "--epochs", "2",
                 "--max-time", "2", "--threads", "1", "--no-bootstrap"]) == 0
    out, err = capsys.readouterr()
    assert "stopped by max_time" in out and "validation: model accuracy" in out
    assert "classical baseline (pixel classifier) accuracy 1.000" in out
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2  # stopped by --max-time; below the baseline
    assert any("--max-time 2 s after 2 of 8 steps" in w for w in warnings)
    card = json.loads((model / "model_card.json").read_text())
    assert card["training"]["work"]["stopped_by"] == "max_time" and card["metrics"]["beats_baseline"] is False
