"""Regenerate the report screenshots of docs/: the demo report page (headless Chromium) and PDF pages.

Usage::

    PYTHONPATH=. python scripts/report_screenshots.py [--out docs/images] [--size 64]

Makes the synthetic demo sample in a temporary folder, writes its report (HTML + PDF), then

- ``report_page.png``: the top of report.html and ``report_gallery.png``: the gallery section,
  rendered by headless Chromium (skipped with a message when Chromium is not installed:
  ``apt-get install -y chromium``);
- ``report_pdf_page1.png`` and ``report_pdf_gallery.png``: the first PDF page and the first
  gallery page, drawn with matplotlib from the same page operations that report.pdf is written from
  (:func:`liberation.report.pdf.build_pdf` with ``png_pages``; Liberation Sans, which has Helvetica's
  widths, where installed).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


# Injected into a copy of report.html: keep only the gallery section (its heading up to the next one),
# so that the screenshot starts at the gallery whatever the length of the page above it.
GALLERY_ONLY = """<script>
document.addEventListener('DOMContentLoaded', function () {
  var start = document.getElementById('gallery'), keep = false, node = document.body.firstElementChild;
  while (node) {
    var next = node.nextElementSibling;
    if (node === start) keep = true; else if (keep && node.tagName === 'H2') keep = false;
    if (!keep && node.tagName !== 'SCRIPT') node.remove();
    node = next;
  }
});
</script>"""


def _shot(browser: str, url: str, out: Path, profile: Path, height: int, *, colors: int = 256) -> None:
    """Screenshot ``url`` 1200 px wide and ``height`` px tall into ``out``, as a palette PNG (small file)."""
    from PIL import Image

    raw = out.with_suffix(".raw.png")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
           "--hide-scrollbars", "--disable-background-networking", "--disable-component-update",
           f"--user-data-dir={profile}", f"--screenshot={raw}", f"--window-size=1200,{height}",
           "--virtual-time-budget=10000", url]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=180)
        with Image.open(raw) as image:
            small = image.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
        small.save(out, optimize=True)
    finally:
        raw.unlink(missing_ok=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/images", help="folder for the PNG files")
    parser.add_argument("--size", type=int, default=None, help="demo sample edge in voxels (default: 128)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from liberation.report.figures import make_figures, make_gallery
    from liberation.report.pdf import build_pdf
    from liberation.report.writer import _figure_png
    from liberation.workflows.demo import run_demo

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = run_demo(tmp / "demo", size=args.size)
        report = run.report.folder
        result = run.report.result
        from liberation.io import open_store

        store = open_store(run.store_path, mode="r")
        figures = make_figures(result)
        table, panels = make_gallery(result, store.label("particles"), store.label("phases"))
        figures.update({name: fig for name, _, _, fig in panels})
        images = {name: _figure_png(fig) for name, fig in figures.items()}
        pages: list[bytes] = []
        outline: dict[str, int] = {}
        build_pdf(result, images, title="Liberation report: synthetic demo sample (spodumene ore)",
                  gallery=(table, [(n, t, a) for n, t, a, _ in panels]), png_pages=pages, outline=outline)
        (out / "report_pdf_page1.png").write_bytes(pages[0])
        (out / "report_pdf_gallery.png").write_bytes(pages[outline.get("Particle gallery", 1) - 1])
        print(f"wrote {out / 'report_pdf_page1.png'} and {out / 'report_pdf_gallery.png'} ({len(pages)} PDF pages)")
        browser = _chromium()
        if browser is None:
            print("Chromium is not installed: the HTML screenshots were not made (apt-get install -y chromium)",
                  file=sys.stderr)
            return 0
        page = report / "report.html"
        gallery_page = tmp / "gallery_only.html"
        html = page.read_text(encoding="utf-8")
        if 'id="gallery"' not in html:
            raise SystemExit("the demo report has no particle gallery section (id=gallery)")
        gallery_page.write_text(html.replace("</head>", GALLERY_ONLY + "</head>", 1), encoding="utf-8")
        _shot(browser, page.as_uri(), out / "report_page.png", tmp / "profile", 1600)
        _shot(browser, gallery_page.as_uri(), out / "report_gallery.png", tmp / "profile", 1600)
        for name in ("report_page.png", "report_gallery.png"):
            print(f"wrote {out / name} ({(out / name).stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
