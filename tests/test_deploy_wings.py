"""The three deploy wings: import rules, public names, deprecated aliases, older model files."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import liberation

PACKAGE = Path(liberation.__file__).parent

# every name ``from liberation.deploy import ...`` gave before the wings
OLD_DEPLOY_NAMES = (
    "ASPP BeltBackbone BeltRuntime BeltSegmenter BeltSegmenterConfig BeltTrainResult CrossShapedWindowAttention "
    "GEOMETRIC_OPS PAPER_TRIAL_SERIES PIXEL_OPS SegmenterProfile TRAIN_PRESETS UniversalInvertedBottleneck "
    "air_jet_commands available_backends belt_config_preset build_belt_segmenter confusion_matrix count_parameters "
    "evaluate_belt_segmenter export_belt_onnx fragment_decisions load_belt_checkpoint plot_trials predict_belt "
    "prepare_belt_inputs rail_augment read_labelled_folder read_model_card save_belt_checkpoint "
    "segmentation_metrics simulate_paper_trials simulate_sorting train_belt_segmenter verify_belt_onnx "
    "log_attenuation fragment_mask r_value fit_threshold RValueClassifier save_checkpoint load_checkpoint "
    "export_onnx onnx_predict verify_onnx roc_auc classification_metrics summarize_runs METRIC_NAMES FUSIONS HEADS "
    "DEFAULT_CONFIG ChannelAttention SpatialAttention AttentionResidualBlock Tower ChebyKANLayer make_head "
    "DualEnergyNet build_dual_energy_net TrainResult check_images train_dual_energy predict_proba evaluate_model "
    "DEFAULT_BOX_FACTOR pixel_size_from_ruler ruler_area_per_pixel fragment_sizes box_sizes boxes_from_labels "
    "calibrate_box_factor feret_diameters segment_fragments drop_ruler SizeDistribution passing_curve "
    "percentile_size rosin_rammler fit_rosin_rammler oversize_alarm size_distribution plot_size_distribution"
).split()


def _run(code: str) -> None:
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


def test_core_never_imports_deploy():
    """Outside deploy/ and cli/deploy*.py no import statement names liberation.deploy (aliases use strings)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("deploy/") or rel.startswith("cli/deploy"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(n == "liberation.deploy" or n.startswith("liberation.deploy.") for n in names):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_fragment_names_do_not_load_torch():
    _run("import sys; from liberation.deploy import fragment_sizes, size_distribution, make_fragment_image; "
         "import liberation.deploy.fragments.workflow; assert 'torch' not in sys.modules, 'torch imported'")


def test_runtime_imports_neither_training_nor_phantoms():
    _run("import sys; import liberation.deploy.belt.runtime, liberation.deploy.belt.preprocess; "
         "bad = [m for m in ('liberation.deploy.belt.train', 'liberation.deploy.belt.synthetic', "
         "'liberation.deploy.belt.augment', 'liberation.synthetic') if m in sys.modules]; assert not bad, bad")


def test_old_deploy_names_import_without_warning():
    pytest.importorskip("torch")
    import liberation.deploy as deploy

    assert set(OLD_DEPLOY_NAMES) <= set(deploy.__all__)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in OLD_DEPLOY_NAMES:
            assert getattr(deploy, name) is not None
    from liberation.deploy import confusion_matrix, count_parameters
    from liberation.metrics import confusion_matrix as core_cm

    assert confusion_matrix is core_cm and count_parameters.__module__ == "liberation.deploy.belt.model"


def test_wing_stubs_match_modules():
    """Every name of a wing's stub resolves, and the three wings are attributes of liberation.deploy."""
    import liberation.deploy as deploy

    for wing in ("belt", "dual_energy", "fragments"):
        module = getattr(deploy, wing)
        assert module.__name__ == f"liberation.deploy.{wing}"
        if wing != "fragments":
            pytest.importorskip("torch")
        for name in module.__all__:
            getattr(module, name)


@pytest.mark.parametrize("package, name, target", [
    ("liberation.synthetic", "make_belt_image", "liberation.deploy.belt.synthetic"),
    ("liberation.synthetic", "make_dual_energy_set", "liberation.deploy.dual_energy.synthetic"),
    ("liberation.synthetic", "make_fragment_image", "liberation.deploy.fragments.synthetic"),
    ("liberation.io", "read_dual_energy_folder", "liberation.deploy.dual_energy.io"),
])
def test_moved_names_are_deprecated_aliases(package, name, target):
    import importlib

    with pytest.warns(DeprecationWarning, match="deprecated.*use liberation.deploy"):
        value = getattr(importlib.import_module(package), name)
    assert value is getattr(importlib.import_module(target), name)
    with pytest.warns(DeprecationWarning):
        assert importlib.import_module(package).__getattr__(
            {"liberation.io": "dual_energy"}.get(package, "belt")).__name__.startswith("liberation.deploy.")


def test_old_belt_checkpoint_file_still_loads(tmp_path):
    torch = pytest.importorskip("torch")
    from liberation.deploy.belt.config import belt_config_preset
    from liberation.deploy.belt.io import load_belt_checkpoint, read_model_card
    from liberation.deploy.belt.model import build_belt_segmenter
    from liberation.deploy.belt.runtime import BeltRuntime

    model = build_belt_segmenter(belt_config_preset("test"), seed=2).eval()
    path = tmp_path / "old.pt"
    torch.save(model.state_dict(), path)
    old_card = {"format": "liberation-belt-segmenter", "library_version": "0.0.9", "created": "2024-01-01T00:00:00",
                "config": model.config.to_dict(), "class_names": ["background", "ore", "waste"],
                "input": {"kind": "log_attenuation", "i0": 4000.0, "pixel_size_um": 500.0}, "parameters": 123,
                "metrics": {"validation": {"miou": 0.9}}}
    Path(str(path) + ".json").write_text(json.dumps(old_card))
    card = read_model_card(path)
    assert card["kind"] == "belt-segmenter" and card["library_version"] == "0.0.9"
    assert card["input"]["i0"] == 4000.0 and card["extra"]["parameters"] == 123
    assert card["metrics"]["validation"]["miou"] == 0.9
    loaded, _ = load_belt_checkpoint(path)
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))
    rt = BeltRuntime(path)
    assert rt.backend == "torch" and rt.class_names == ("background", "ore", "waste") and rt.i0 == 4000.0
    assert rt.segment(np.full((40, 40), 3000.0)).shape == (40, 40)


def test_old_dual_energy_checkpoint_still_loads(tmp_path):
    torch = pytest.importorskip("torch")
    from liberation.deploy.dual_energy.export import load_checkpoint, save_checkpoint
    from liberation.deploy.dual_energy.model import build_dual_energy_net
    from liberation.model_folder import read_model_folder

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_dual_energy_net(widths=(4, 8), hidden=8, head_layers=2).eval()
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in model.config.items()}
    (tmp_path / "run").mkdir()
    old = tmp_path / "run" / "model.pt"  # the older training folder held this single file
    torch.save({"format": "liberation-dual-energy-v1", "config": config, "state_dict": model.state_dict(),
                "metadata": {"r_value_threshold": 1.5}}, old)
    x = torch.rand(2, 2, 16, 16)
    for path in (old, old.parent):
        loaded, meta = load_checkpoint(path)
        assert meta == {"r_value_threshold": 1.5}
        with torch.no_grad():
            assert torch.allclose(loaded(x), model(x))
    new = save_checkpoint(tmp_path / "new", model, metadata={"r_value_threshold": 1.5, "val_metrics": {"auc": 0.7}})
    card = read_model_folder(new)
    assert card["kind"] == "dual-energy" and [c["name"] for c in card["classes"]] == ["waste", "ore"]
    assert card["metrics"] == {"auc": 0.7}
    for path in (new, new / "model.pt"):
        assert load_checkpoint(path)[1]["r_value_threshold"] == 1.5
