"""The documentation stays in step with the code."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_current():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_cli_reference.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_docs_index_links_exist():
    import re

    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+\.md)\)", index)
    assert links
    missing = [link for link in links if not (ROOT / "docs" / link).exists()]
    assert not missing, missing
