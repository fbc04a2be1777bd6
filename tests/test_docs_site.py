"""The documentation site config (mkdocs.yml) stays in step with docs/, without needing mkdocs."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _nav_files(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [f for value in node.values() for f in _nav_files(value)]
    return [f for item in node for f in _nav_files(item)]


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_files(config["nav"])
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert sorted(set(nav)) == pages
    assert len(nav) == len(set(nav)), "a page is listed twice"
    assert config["strict"] is True  # warnings are errors


def test_license_is_bsd_3_clause_as_pyproject_says():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "BSD-3-Clause"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "Neither the name of the copyright holder nor the names of its" in text


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is not None, reason="mkdocs is installed: make docs would build")
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_docs_says_what_is_missing_when_mkdocs_is_not_installed(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    proc = subprocess.run(["make", "-s", "docs", f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "mkdocs" in proc.stderr and "pip install -e '.[docs]'" in proc.stderr
    assert not (ROOT / "site").exists()
