"""mypy on the public API: the ``__init__.pyi`` stubs type-check and a typo in an import is reported.

mypy reads a package's ``__init__.pyi`` instead of its ``__init__.py`` (whose lazy
``__getattr__`` would accept any name), so ``from liberation.synthetic import make_sampel``
is an error. Imported library modules are followed silently (``--follow-imports=silent``):
errors inside the module bodies are counted separately (docs/development.md), these tests
are about what a user of the public API sees.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (it is in the dev extra)"),
    pytest.mark.slow,  # the first mypy run analyses the package (about a minute on an idle 2-core machine)
]

#: Stub entries whose module arrives with another branch of issue 14 (see test_import_public.py).
PENDING_MERGE: dict[str, Path] = {}

USAGE = '''
import liberation
from liberation import InputError, LiberationError, Mineral, MineralList, __version__
from liberation.io import SampleStore, open_store
from liberation.labels import xrf_labels
from liberation.registration import register_map
from liberation.report import write_report
from liberation.segmentation import TrainConfig, train_model
from liberation.stats import LiberationResult, analyse
from liberation.synthetic import SyntheticSample, make_sample

version: str = __version__
error: type[LiberationError] = InputError
functions = (open_store, xrf_labels, register_map, write_report, train_model, analyse, make_sample)
classes = (Mineral, MineralList, SampleStore, TrainConfig, LiberationResult, SyntheticSample)
modules = (liberation.io, liberation.stats, liberation.synthetic, liberation.segmentation)
'''


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """One mypy cache for the module: the first run analyses the package, the others reuse it."""
    return tmp_path_factory.mktemp("mypy_cache")


def _mypy(cache: Path, *targets: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MYPYPATH=str(REPO))
    command = [
        sys.executable, "-m", "mypy",
        "--config-file", str(REPO / "pyproject.toml"),
        "--follow-imports=silent",
        "--cache-dir", str(cache),
        "--show-error-codes",
        "--no-pretty",
        *targets,
    ]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def _errors(result: subprocess.CompletedProcess) -> list[str]:
    lines = [line for line in result.stdout.splitlines() if ": error:" in line]
    for name, path in PENDING_MERGE.items():
        if not path.exists():
            lines = [line for line in lines if f'"{name}"' not in line and f"liberation.{name}" not in line]
    return lines


def test_stubs_type_check(cache_dir):
    stubs = sorted(str(p.relative_to(REPO)) for p in (REPO / "liberation").rglob("__init__.pyi"))
    assert len(stubs) >= 8
    result = _mypy(cache_dir, *stubs)
    assert not _errors(result), result.stdout + result.stderr


def test_public_api_usage_type_checks(tmp_path, cache_dir):
    usage = tmp_path / "usage.py"
    usage.write_text(USAGE)
    result = _mypy(cache_dir, str(usage))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("from liberation.synthetic import make_sampel\n", "make_sampel"),
        ("from liberation.stats import analyze\n", "analyze"),
        ("import liberation\n\nliberation.report.write_reprot\n", "write_reprot"),
        ("from liberation import Minerall\n", "Minerall"),
    ],
)
def test_typo_in_public_name_is_reported(tmp_path, cache_dir, code, name):
    usage = tmp_path / "typo.py"
    usage.write_text(code)
    result = _mypy(cache_dir, str(usage))
    assert result.returncode == 1, result.stdout + result.stderr
    assert any(name in line and "attr-defined" in line for line in _errors(result)), result.stdout
