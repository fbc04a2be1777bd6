"""Render report.html in a real headless Chromium: no missing images, a screenshot is produced.

The demo report (a small synthetic demo sample) is also checked as a reader's browser shows it:
the particle gallery with one panel per non-empty class, alt text and scale bars on every image,
and no request to, or link to, anything outside the page.

Skipped where Chromium is not installed (Debian: ``apt-get install -y chromium``). The environment
variable ``LIBERATION_CHROMIUM`` names the browser to use instead of the one found on the path (a
missing file skips these tests too).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from liberation.report import write_report


def find_chromium() -> str | None:
    """The headless browser: ``$LIBERATION_CHROMIUM`` if set (None when that file is missing), else Chromium."""
    override = os.environ.get("LIBERATION_CHROMIUM")
    if override is not None:
        return override if os.path.isfile(override) else None
    return next((c for c in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
                 if c and os.path.exists(c)), None)


CHROMIUM = find_chromium()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,  # renders a demo report in headless Chromium
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium) or $LIBERATION_CHROMIUM is missing"),
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


# ---------------------------------------------------------------- the demo report, as a browser shows it

DEMO_PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = [];
  for (var i = 0; i < document.images.length; i++) {
    var im = document.images[i];
    imgs.push({w: im.naturalWidth, h: im.naturalHeight, complete: im.complete});
  }
  var res = performance.getEntriesByType('resource').map(function (e) { return e.name; });
  var pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify({images: imgs, resources: res});
  document.body.appendChild(pre);
});
</script>"""

# Links the report may carry to the outside world (none today): href values allowed to be http(s).
ALLOWED_EXTERNAL_HREFS: frozenset[str] = frozenset()


class _Dom(HTMLParser):
    """The elements of a rendered page: (tag, attributes, id of the enclosing h2 section), and the probe text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict, str | None]] = []
        self.section: str | None = None
        self.probe = ""
        self._in_probe = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "h2":
            self.section = attrs.get("id") or ""
        self._in_probe = tag == "pre" and attrs.get("id") == "probe-result"
        self.elements.append((tag, attrs, self.section))

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_probe = False

    def handle_data(self, data):
        if self._in_probe:
            self.probe += data


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo report of a 32³ synthetic sample, rendered by Chromium: (report folder, parsed DOM, netlog)."""
    from liberation.workflows.demo import run_demo

    root = tmp_path_factory.mktemp("browser-demo")
    folder = run_demo(root / "demo", size=32).report.folder
    page = (folder / "report.html").read_text(encoding="utf-8")
    probe = folder / "probe.html"
    probe.write_text(page.replace("</body>", DEMO_PROBE + "</body>"), encoding="utf-8")
    netlog = root / "netlog.json"
    proc = _chromium(["--virtual-time-budget=10000", f"--log-net-log={netlog}", "--net-log-capture-mode=Default",
                      "--dump-dom", probe.as_uri()], root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _Dom()
    dom.feed(proc.stdout)
    dom.close()
    assert dom.probe, "the probe script did not run: " + proc.stdout[:500]
    return folder, dom, netlog


@pytest.mark.slow
def test_demo_gallery_one_panel_per_nonempty_class(demo):
    folder, dom, _ = demo
    gallery = pd.read_csv(folder / "gallery.csv", dtype={"group": str})
    sections = [attrs.get("id") for tag, attrs, _ in dom.elements if tag == "h2"]
    assert "gallery" in sections
    figures = [attrs["id"] for tag, attrs, sec in dom.elements if tag == "figure" and sec == "gallery"]
    # The expected classes come from the statistics tables, not from the gallery code.
    mineral, basis = gallery["mineral"].iloc[0], gallery["basis"].iloc[0]
    lib = pd.read_csv(folder / "liberation.csv", dtype={"class": str})
    lib = lib[(lib["dimension"] == "3D") & (lib["basis"] == basis) & (lib["size_class"] == "all")
              & (lib["mineral"] == mineral) & (lib["n_particles"] > 0)]
    lock = pd.read_csv(folder / "locking.csv", dtype={"partner": str})
    lock = lock[(lock["dimension"] == "3D") & (lock["basis"] == basis) & (lock["size_class"] == "all")
                & (lock["mineral"] == mineral) & (lock["n_particles"] > 0)]
    expected = [("liberation class", c, int(n)) for c, n in zip(lib["class"], lib["n_particles"])]
    expected += [("locking", f"binary with {p}" if k == "binary" else k, int(n))
                 for k, p, n in zip(lock["locking"], lock["partner"], lock["n_particles"])]
    shown = gallery.drop_duplicates(["group_kind", "group"])
    assert sorted(zip(shown["group_kind"], shown["group"], shown["n_in_group"].astype(int))) == sorted(expected)
    assert len(expected) >= 3
    assert figures == [f"fig-gallery_{k:02d}" for k in range(1, len(expected) + 1)]


@pytest.mark.slow
def test_demo_images_alt_text_and_scale_bars(demo):
    folder, dom, _ = demo
    gallery = pd.read_csv(folder / "gallery.csv", dtype={"group": str})
    per_panel = gallery.groupby(["group_kind", "group"], sort=False).size().tolist()
    imgs = [(attrs, sec) for tag, attrs, sec in dom.elements if tag == "img"]
    probe = json.loads(dom.probe)
    assert len(probe["images"]) == len(imgs) >= 10 + len(per_panel)
    for im in probe["images"]:
        assert im["complete"] and im["w"] > 100 and im["h"] > 100, im
    for attrs, _ in imgs:
        assert attrs.get("alt", "").strip(), f"an image without alt text: {attrs.get('src', '')[:60]}"
        assert attrs["src"].startswith("data:image/png;base64,")
    gallery_imgs = [attrs for attrs, sec in imgs if sec == "gallery"]
    assert len(gallery_imgs) == len(per_panel)
    for attrs, n_particles in zip(gallery_imgs, per_panel):
        # One row per particle: its central section and three 3D views, each with its own scale bar.
        assert int(attrs["data-scale-bars"]) == 4 * n_particles
        lengths = [float(v) for v in attrs["data-scale-bar-um"].split()]
        assert len(lengths) == 4 * n_particles and all(v > 0 for v in lengths)
        assert "scale bar" in attrs["alt"]
    # The CT slices with the label overlays carry scale bars too; the plots (axes in µm or %) do not.
    slices = [attrs for attrs, sec in imgs if attrs.get("data-scale-bars") and sec != "gallery"]
    assert slices, "no CT slice figure with a scale bar"
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert sorted(summary["gallery_particle_ids"]) == sorted(set(gallery["particle_id"].astype(int)))


@pytest.mark.slow
def test_demo_no_external_url(demo):
    folder, dom, netlog = demo
    external = re.compile(r"^\s*(https?:|wss?:|ftp:|//)", re.I)
    for tag, attrs, _ in dom.elements:
        for key in ("src", "href", "srcset", "poster", "data", "action", "background"):
            value = attrs.get(key)
            if value is None or not external.match(value):
                continue
            assert key == "href" and value in ALLOWED_EXTERNAL_HREFS, f"<{tag} {key}={value!r}>"
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"url\(\s*['\"]?\s*(https?:|//)", page, re.I), "a CSS url() to the outside"
    assert not re.search(r"@import", page), "a CSS @import"
    # What the page asked for while loading: only the page itself and data: URIs.
    probe = json.loads(dom.probe)
    assert all(not external.match(name) for name in probe["resources"]), probe["resources"]
    # And what Chromium's network stack saw: no http(s) or websocket request made for the page.
    assert not [u for u in page_requests(netlog) if external.match(u)]


def page_requests(netlog: Path) -> list[str]:
    """URLs of the requests a page made, from a Chromium net log (``--log-net-log``).

    Chromium's own background requests (time sync, accounts, ...) have no initiating origin
    (``initiator: "not an origin"``) and are left out; a page opened from a file has the opaque
    origin ``null``.
    """
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    params = [e.get("params") or {} for e in log["events"] if e["type"] == start]
    return [str(p["url"]) for p in params if "url" in p and p.get("initiator") != "not an origin"]


@pytest.mark.slow
def test_page_requests_sees_an_external_image(tmp_path):
    """The net-log check above would see a page's request to the outside (none is answered here)."""
    page = tmp_path / "page.html"
    page.write_text('<!doctype html><html><body><img alt="x" src="https://example.invalid/x.png"></body></html>',
                    encoding="utf-8")
    netlog = tmp_path / "netlog.json"
    proc = _chromium(["--virtual-time-budget=3000", f"--log-net-log={netlog}", "--dump-dom", page.as_uri()],
                     tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "https://example.invalid/x.png" in page_requests(netlog)
