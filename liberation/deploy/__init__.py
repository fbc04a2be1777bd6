"""liberation.deploy: the conveyor-belt XRT sorter (extra ``deploy``).

Belt segmenter (Mineral-DeepLabV3+ style: MobileNetV4-like backbone, S-ASPP, CSWin
attention, DeepLabV3+ decoder), training and metrics, ONNX export, a runtime over
TensorRT / onnxruntime / PyTorch, the per-fragment sorting decision and air-jet
commands, and a belt simulation of the semi-industrial trials; plus dual-energy
classification and fragment sizing (other modules of this package).

Nothing heavy is imported here: names are resolved on first use, and only the modules
that need torch import it.
"""

from __future__ import annotations

import importlib

# public name -> module under liberation.deploy
_LAZY = {
    "BeltSegmenterConfig": "belt_config",
    "belt_config_preset": "belt_config",
    "BeltSegmenter": "belt_model",
    "BeltBackbone": "belt_model",
    "build_belt_segmenter": "belt_model",
    "count_parameters": "belt_model",
    "ASPP": "belt_aspp",
    "CrossShapedWindowAttention": "belt_attention",
    "UniversalInvertedBottleneck": "belt_layers",
    "confusion_matrix": "belt_metrics",
    "segmentation_metrics": "belt_metrics",
    "rail_augment": "belt_augment",
    "PIXEL_OPS": "belt_augment",
    "GEOMETRIC_OPS": "belt_augment",
    "TRAIN_PRESETS": "belt_train",
    "BeltTrainResult": "belt_train",
    "train_belt_segmenter": "belt_train",
    "evaluate_belt_segmenter": "belt_train",
    "predict_belt": "belt_train",
    "prepare_belt_inputs": "belt_train",
    "save_belt_checkpoint": "belt_io",
    "load_belt_checkpoint": "belt_io",
    "read_model_card": "belt_io",
    "read_labelled_folder": "belt_io",
    "export_belt_onnx": "belt_export",
    "verify_belt_onnx": "belt_export",
    "BeltRuntime": "belt_runtime",
    "available_backends": "belt_runtime",
    "fragment_decisions": "belt_sorting",
    "air_jet_commands": "belt_sorting",
    "SegmenterProfile": "belt_simulation",
    "PAPER_TRIAL_SERIES": "belt_simulation",
    "simulate_sorting": "belt_simulation",
    "simulate_paper_trials": "belt_simulation",
    "plot_trials": "belt_simulation",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None and name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if module is None:
        # Names of other deploy modules (dual-energy, fragments) follow their own __all__.
        import pkgutil

        for info in pkgutil.iter_modules(__path__):
            if info.name.startswith(("_", "belt_")):
                continue
            mod = importlib.import_module(f"{__name__}.{info.name}")
            if name in getattr(mod, "__all__", ()):
                value = getattr(mod, name)
                globals()[name] = value
                return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
