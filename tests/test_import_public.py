"""Every public name of every package imports, in a fresh process, without loading torch unless it is an ML name.

The public names are read from the ``__init__.pyi`` stubs (the lazy-import mechanism of
:mod:`liberation._lazy`), not from a hand list. One subprocess per package imports the
names one at a time, the non-ML names first, and reports which heavy modules got loaded
after each.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "liberation"

#: Modules that only the ML names may load.
HEAVY = ("torch", "monai", "onnx", "onnxruntime", "tensorrt")

#: package -> names allowed (not required) to load torch / MONAI / ONNX. Everything else must not.
ML_NAMES: dict[str, set[str]] = {
    "liberation.segmentation": {
        # models, losses, training, checkpoints, inference, evaluation of a trained model
        "build_network", "masked_loss", "TrainResult", "train_model", "save_model", "load_model",
        "predict_probabilities", "predict_volume", "predict_slices_2d", "predict_face_matched",
        "segment_phases", "segment_particles", "evaluate_planes",
    },
    # the deploy wings: names of the modules that import torch at import time
    # (belt.layers, belt.model; dual_energy.model, .train, .export), and those modules
    "liberation.deploy": {
        "ASPP", "AttentionResidualBlock", "BeltBackbone", "BeltSegmenter", "ChannelAttention", "ChebyKANLayer",
        "CrossShapedWindowAttention", "DEFAULT_CONFIG", "DualEnergyNet", "FUSIONS", "HEADS", "SpatialAttention",
        "Tower", "TrainResult", "UniversalInvertedBottleneck", "build_belt_segmenter", "build_dual_energy_net",
        "check_images", "count_parameters", "evaluate_model", "export_onnx", "load_checkpoint", "make_head",
        "onnx_predict", "predict_proba", "save_checkpoint", "train_dual_energy", "verify_onnx",
    },
    "liberation.deploy.belt": {
        "ASPP", "BeltBackbone", "BeltSegmenter", "ConvBNAct", "CrossShapedWindowAttention", "SeparableConv",
        "UniversalInvertedBottleneck", "build_belt_segmenter", "count_parameters", "layers", "model",
    },
    "liberation.deploy.dual_energy": {
        "AttentionResidualBlock", "ChannelAttention", "ChebyKANLayer", "DEFAULT_CONFIG", "DualEnergyNet", "FUSIONS",
        "HEADS", "SpatialAttention", "Tower", "TrainResult", "build_dual_energy_net", "check_images",
        "count_parameters", "evaluate_model", "export", "export_onnx", "load_checkpoint", "make_head", "model",
        "onnx_predict", "predict_proba", "save_checkpoint", "train", "train_dual_energy", "verify_onnx",
    },
}

#: Packages none of whose names may load an ML module (on top of ML_NAMES having no entry for them).
NEVER_ML = {"liberation", "liberation.io", "liberation.stats", "liberation.report"}

#: Stub entries whose module arrives with another branch of issue 14: tolerated while the
#: module's folder / file is absent here; the lead empties this after the merge.
PENDING_MERGE: set[str] = set()


def _stub_packages() -> dict[str, tuple[list[str], list[str], list[str]]]:
    """package -> (__all__ of the stub, every name it declares, submodules) for each __init__.pyi."""
    packages = {}
    for stub in sorted(ROOT.rglob("__init__.pyi")):
        package = ".".join(stub.parent.relative_to(ROOT.parent).parts)
        tree = ast.parse(stub.read_text(encoding="utf-8"), filename=str(stub))
        imported, submodules, declared = [], [], None
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                assert node.level == 1, f"{stub}: only relative imports (from .x import y) are allowed"
                for alias in node.names:
                    assert alias.asname in (None, alias.name), f"{stub}: no renaming ({alias.name} as {alias.asname})"
                    imported.append(alias.name)
                    if node.module is None:
                        submodules.append(alias.name)
            elif isinstance(node, ast.Import):
                raise AssertionError(f"{stub}: plain `import` is not read by lazy_loader")
            elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                declared = list(ast.literal_eval(node.value))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                imported.append(node.target.id)  # a name __init__.py defines itself (__version__)
        assert declared is not None, f"{stub} has no __all__"
        packages[package] = (declared, imported, submodules)
    return packages


PACKAGES = _stub_packages()


def _pending(qualname: str) -> bool:
    if qualname not in PENDING_MERGE:
        return False
    path = ROOT.parent.joinpath(*qualname.split("."))
    return not (path.is_dir() or path.with_suffix(".py").is_file())


_PROBE = r"""
import importlib, json, sys
HEAVY = {heavy!r}
def heavy():
    return sorted(m for m in HEAVY if m in sys.modules)
package = importlib.import_module({package!r})
report = {{"after_package": heavy(), "names": {{}}}}
for name in {names!r}:
    before = set(sys.modules)
    try:
        getattr(package, name)
        error = None
    except Exception as exc:
        error = f"{{type(exc).__name__}}: {{exc}}"
    new = sorted({{m.split(".")[0] for m in set(sys.modules) - before}})
    report["names"][name] = {{"error": error, "heavy": heavy(), "new": new}}
print("REPORT" + json.dumps(report))
"""


def _probe(package: str, names: list[str]) -> dict:
    code = _PROBE.format(heavy=HEAVY, package=package, names=names)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(line for line in out.stdout.splitlines() if line.startswith("REPORT"))
    return json.loads(line[len("REPORT"):])


def test_stubs_found():
    expected = {"liberation", "liberation.io", "liberation.labels", "liberation.registration",
                "liberation.segmentation", "liberation.stats", "liberation.report", "liberation.synthetic"}
    assert expected <= set(PACKAGES), expected - set(PACKAGES)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_stub_matches_runtime(package):
    declared, imported, submodules = PACKAGES[package]
    assert len(set(declared)) == len(declared), "duplicates in __all__"
    assert set(declared) <= set(imported), f"in __all__ but not imported: {set(declared) - set(imported)}"
    hidden = set(imported) - set(declared) - set(submodules)
    assert not hidden, f"imported in the stub but not in __all__: {hidden}"
    module = importlib.import_module(package)
    assert list(module.__all__) == declared
    assert set(dir(module)) >= set(declared) | set(submodules)


@pytest.mark.slow
@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_public_names_import_without_ml_unless_ml(package):
    declared, imported, submodules = PACKAGES[package]
    ml = ML_NAMES.get(package, set())
    assert not (ml and package in NEVER_ML)
    assert ml <= set(imported), f"ML_NAMES not in the stub: {ml - set(imported)}"
    names = sorted(set(imported))
    ordered = [n for n in names if n not in ml] + [n for n in names if n in ml]
    report = _probe(package, ordered)
    assert report["after_package"] == [], f"import {package} loads {report['after_package']}"
    torch_installed = importlib.util.find_spec("torch") is not None
    problems = []
    for name in ordered:
        entry = report["names"][name]
        if entry["error"] is not None:
            if _pending(f"{package}.{name}"):
                continue
            if name in ml and not torch_installed and ("torch" in entry["error"] or "DependencyError" in entry["error"]):
                continue
            problems.append(f"{package}.{name}: {entry['error']}")
        elif name not in ml and entry["heavy"]:
            problems.append(f"{package}.{name} loads {entry['heavy']} (new modules: {entry['new']})")
    assert not problems, "\n".join(problems)


def test_import_liberation_loads_no_ml():
    report = _probe("liberation", [])
    assert report["after_package"] == []


def test_unknown_name_is_an_import_error():
    code = "from liberation.synthetic import make_sampel"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0 and "ImportError" in out.stderr


def test_every_package_uses_the_one_mechanism():
    """Every package __init__.py (but the click group) has a stub and calls liberation._lazy.attach_stub."""
    pending: set[str] = set()
    offenders = []
    for init in sorted(ROOT.rglob("__init__.py")):
        package = ".".join(init.parent.relative_to(ROOT.parent).parts)
        if package == "liberation.cli":
            continue
        src = init.read_text(encoding="utf-8")
        ok = init.with_suffix(".pyi").is_file() and "attach_stub(__name__, __file__" in src
        ok = ok and "def __getattr__" not in src and "import_module" not in src
        if not ok and not (package in pending and not init.with_suffix(".pyi").is_file()):
            offenders.append(package)
    assert not offenders, f"packages not using liberation._lazy.attach_stub with an __init__.pyi: {offenders}"


def test_stubs_are_shipped():
    """The stubs are read at import time: the wheel must carry them (setuptools package-data)."""
    pyproject = (ROOT.parent / "pyproject.toml").read_text(encoding="utf-8")
    section = pyproject.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    assert '"*" = ["*.pyi"]' in section, section
