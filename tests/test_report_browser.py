"""Render report.html in a real headless Chromium: no missing images, a screenshot is produced.

Skipped where Chromium is not installed (Debian: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from liberation.report import write_report

CHROMIUM = next((c for c in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
                 if c and os.path.exists(c)), None)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)"),
]

PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = document.images, broken = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (!imgs[i].complete || imgs[i].naturalWidth === 0 || imgs[i].naturalHeight === 0) broken++;
  }
  document.title = 'images=' + imgs.length + ' broken=' + broken;
});
</script>"""


def _chromium(args, tmp_path: Path) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from test_report_unit import hand_result, hand_slices

    return write_report(hand_result(), tmp_path_factory.mktemp("browser") / "report", slices=hand_slices(),
                        sample_info={"store": "hand.zarr", "shape": [30, 30, 30]})


def test_all_images_load(report, tmp_path):
    page = (report / "report.html").read_text(encoding="utf-8")
    n_img = len(re.findall(r"<img\b", page))
    assert n_img >= 8
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = _chromium(["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    title = re.search(r"<title>(.*?)</title>", proc.stdout, re.S)
    assert title is not None, proc.stdout[:500]
    assert title.group(1).strip() == f"images={n_img} broken=0"


def test_screenshot(report, tmp_path):
    shot = tmp_path / "report.png"
    proc = _chromium([f"--screenshot={shot}", "--window-size=1200,3000", "--virtual-time-budget=10000",
                      (report / "report.html").as_uri()], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
