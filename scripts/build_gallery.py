"""Run the examples and write the gallery pages of the documentation site (docs/gallery/).

Every example in ``EXAMPLES`` is executed cell by cell (``# %%`` cells of a script; the code
cells of a notebook, in one Python process: no Jupyter kernel is needed) in a subprocess with a
time limit, with matplotlib's Agg backend and ``LIBERATION_EXAMPLE_OUT`` set to a temporary
folder. The page shows each cell's code, its printed output and the matplotlib figures it drew,
then the PNG files of the output folder that ``EXAMPLES`` names (e.g. the report's plots).

A page is rebuilt only when the example, this script or a ``liberation/`` source file changed
(their hash is recorded in the page); ``--force`` reruns all. ``--no-run`` writes the pages
with the code only (for a quick docs check). Exit status 1 when an example fails or overruns.

Usage::

    python scripts/build_gallery.py [--out docs/gallery] [--timeout 300] [--force] [--no-run]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_OUTPUT_LINES = 40


@dataclass(frozen=True)
class Example:
    """One gallery entry: ``source`` under examples/, extra environment, output PNGs to show."""

    source: str
    env: dict = field(default_factory=dict)
    figures: tuple[str, ...] = ()  # PNG files under LIBERATION_EXAMPLE_OUT, shown after the cells
    needs: tuple[str, ...] = ()  # modules without which the example is shown but not run


EXAMPLES = (
    Example("demo_report.py", env={"LIBERATION_EXAMPLE_SIZE": "64"},
            figures=("report/slices.png", "report/liberation_classes.png", "report/cumulative_yield.png",
                     "report/bias_by_size.png")),
    Example("classical_first_look.py"),
    Example("napari_layers.py"),
    Example("correlative_pipeline.ipynb", env={"LIBERATION_EXAMPLE_SIZE": "48", "LIBERATION_EXAMPLE_PRESET": "tiny",
                                               "OMP_NUM_THREADS": "1"},
            figures=("report/slices.png", "report/modal.png"), needs=("torch", "monai")),
)


# ---------------------------------------------------------------------------------------- cells
def cells_of(path: Path) -> list[dict]:
    """``[{"kind": "markdown" | "code", "source": str}]`` of a ``# %%`` script or a notebook."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        return [{"kind": "markdown" if c["cell_type"] == "markdown" else "code", "source": "".join(c["source"])}
                for c in nb["cells"] if c["cell_type"] in ("markdown", "code")]
    text = path.read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("# ruff:"))
    blocks = re.split(r"^# %%", text, flags=re.M)
    cells = []
    if blocks[0].strip():
        cells.append({"kind": "code", "source": blocks[0].strip("\n")})
    for block in blocks[1:]:
        header, _, body = block.partition("\n")
        if header.strip() == "[markdown]":
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.strip("\n").splitlines()]
            cells.append({"kind": "markdown", "source": "\n".join(lines)})
        elif body.strip():
            cells.append({"kind": "code", "source": body.strip("\n")})
    return cells


def run_cells(source: Path, figure_dir: Path, prefix: str) -> list[dict]:
    """Execute the code cells of ``source`` in one namespace (in this process); record outputs and figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.show = lambda *args, **kwargs: None
    namespace: dict = {"__name__": "__main__", "__file__": str(source)}
    results, n_fig = [], 0
    for cell in cells_of(source):
        entry = dict(cell, output="", figures=[])
        if cell["kind"] == "code":
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile(cell["source"], str(source), "exec"), namespace)  # noqa: S102 - the example's own code
            entry["output"] = buffer.getvalue()
            for num in plt.get_fignums():
                n_fig += 1
                name = f"{prefix}_fig{n_fig}.png"
                plt.figure(num).savefig(figure_dir / name, dpi=90, bbox_inches="tight")
                entry["figures"].append(name)
            plt.close("all")
        results.append(entry)
    return results


# ---------------------------------------------------------------------------------------- pages
def _hash(example: Example) -> str:
    h = hashlib.sha256()
    for path in [ROOT / "examples" / example.source, Path(__file__).resolve(),
                 *sorted((ROOT / "liberation").rglob("*.py"))]:
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    h.update(repr(example).encode())
    return h.hexdigest()[:16]


def _stem(example: Example) -> str:
    return Path(example.source).stem + ("_notebook" if example.source.endswith(".ipynb") else "")


def _title(cells: list[dict], fallback: str) -> str:
    for cell in cells:
        if cell["kind"] == "markdown":
            for line in cell["source"].splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _summary(cells: list[dict]) -> str:
    for cell in cells:
        if cell["kind"] == "markdown":
            body = [line for line in cell["source"].splitlines() if line.strip() and not line.startswith("#")]
            text = " ".join(body)
            return text.split(". ")[0].rstrip(".") + "." if text else ""
    return ""


def _output_block(text: str) -> str:
    lines = text.rstrip("\n").splitlines()
    if len(lines) > MAX_OUTPUT_LINES:
        lines = lines[:MAX_OUTPUT_LINES] + [f"... ({len(lines) - MAX_OUTPUT_LINES} more lines)"]
    return "```text\n" + "\n".join(lines) + "\n```\n"


def write_page(out: Path, example: Example, cells: list[dict], *, key: str, status: str, seconds: float | None,
               output_figures: list[str]) -> None:
    stem = _stem(example)
    kind = "notebook" if example.source.endswith(".ipynb") else "script"
    parts = [f"<!-- generated by scripts/build_gallery.py; key {key}; do not edit -->\n"]
    ran = f"executed in {seconds:.0f} s" if seconds is not None else status
    env = ", ".join(f"`{k}={v}`" for k, v in example.env.items())
    intro = (f"*Source: the {kind} `examples/{example.source}`, {ran} when the site was built"
             + (f" (with {env})" if env else "") + ".*\n")
    first_heading_done = False
    for cell in cells:
        if cell["kind"] == "markdown":
            text = cell["source"].strip("\n")
            if not first_heading_done and text.startswith("# "):
                head, _, rest = text.partition("\n")
                parts.append(head + "\n\n" + intro + rest + "\n")
                first_heading_done = True
            else:
                parts.append(text + "\n")
            continue
        parts.append("```python\n" + cell["source"] + "\n```\n")
        if cell.get("output", "").strip():
            parts.append(_output_block(cell["output"]))
        for name in cell.get("figures", []):
            parts.append(f"![figure]({name})\n")
    if not first_heading_done:
        parts.insert(1, f"# {stem}\n\n{intro}")
    if output_figures:
        parts.append("## Figures written by the example\n")
        for name, src in output_figures:
            parts.append(f"`{src}`\n\n![{src}]({name})\n")
    (out / f"{stem}.md").write_text("\n".join(parts), encoding="utf-8")


def write_index(out: Path, entries: list[dict]) -> None:
    lines = ["<!-- generated by scripts/build_gallery.py; do not edit -->\n", "# Gallery of examples\n",
             "Each example below was executed when this site was built (`make docs`, which runs "
             "`scripts/build_gallery.py` before `mkdocs build --strict`); its page shows the code, what "
             "it printed and the figures it drew. The sources are in `examples/`; run one with "
             "`python examples/<name>.py`.\n"]
    for e in entries:
        lines.append(f"## [{e['title']}]({e['stem']}.md)\n")
        lines.append(f"{e['summary']} *({e['status']})*\n")
        if e["thumbnail"]:
            lines.append(f"[![{e['title']}]({e['thumbnail']}){{ width=\"420\" }}]({e['stem']}.md)\n")
    (out / "index.md").write_text("\n".join(lines), encoding="utf-8")


def _existing(out: Path, stem: str) -> dict | None:
    meta = out / f".{stem}.json"
    return json.loads(meta.read_text()) if meta.is_file() and (out / f"{stem}.md").is_file() else None


def build(out: Path, *, timeout: float, force: bool, run: bool, only: str | None = None) -> int:
    out.mkdir(parents=True, exist_ok=True)
    failures, entries = 0, []
    for example in EXAMPLES:
        if only is not None and only != example.source:
            run_this = False
        else:
            run_this = run
        source = ROOT / "examples" / example.source
        stem, key = _stem(example), _hash(example)
        cells = cells_of(source)
        meta = _existing(out, stem)
        missing = [m for m in example.needs if importlib.util.find_spec(m) is None]
        if (not run_this and run and meta is not None) or (
                run and not missing and not force and meta is not None and meta["key"] == key and meta["status"] == "ok"):
            print(f"{example.source}: {'unchanged' if meta['key'] == key else 'not selected'} (key {meta['key']}), "
                  "page kept")
        elif not run_this or missing:
            status = "not executed: " + (f"needs {', '.join(missing)}" if missing else "--no-run")
            for old in out.glob(f"{stem}_*.png"):
                old.unlink()
            write_page(out, example, cells, key=key, status=status, seconds=None, output_figures=[])
            meta = {"key": key, "status": status, "figures": [], "seconds": None}
            print(f"{example.source}: {status}")
        else:
            for old in out.glob(f"{stem}_*.png"):
                old.unlink()
            with tempfile.TemporaryDirectory(prefix="liberation-gallery-") as tmp:
                env = dict(os.environ, **example.env, LIBERATION_EXAMPLE_OUT=str(Path(tmp) / "out"),
                           MPLBACKEND="Agg", LIBERATION_PROGRESS="0",
                           PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
                (Path(tmp) / "out").mkdir()
                result_file = Path(tmp) / "cells.json"
                start = time.perf_counter()
                try:
                    proc = subprocess.run([sys.executable, __file__, "--run-one", str(source), str(out), stem,
                                           str(result_file)], env=env, cwd=tmp, capture_output=True, text=True,
                                          timeout=timeout)
                    error = None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1]
                except subprocess.TimeoutExpired:
                    error = f"ran over the time limit of {timeout:g} s"
                seconds = time.perf_counter() - start
                if error is not None:
                    failures += 1
                    print(f"{example.source}: FAILED: {error}", file=sys.stderr)
                    status = f"failed: {error}"
                    meta = {"key": key, "status": status, "figures": [], "seconds": seconds}
                    write_page(out, example, cells, key=key, status=status, seconds=None, output_figures=[])
                else:
                    cells = json.loads(result_file.read_text())
                    for cell in cells:  # the temporary output folder, as the example calls it
                        cell["output"] = cell.get("output", "").replace(str(Path(tmp) / "out"), "OUT")
                    shown = []
                    for src in example.figures:
                        path = Path(tmp) / "out" / src
                        if not path.is_file():
                            failures += 1
                            print(f"{example.source}: FAILED: it wrote no {src}", file=sys.stderr)
                            continue
                        name = f"{stem}_{src.replace('/', '_')}"
                        shutil.copyfile(path, out / name)
                        shown.append((name, src))
                    figures = [n for c in cells for n in c.get("figures", [])] + [n for n, _ in shown]
                    write_page(out, example, cells, key=key, status="ok", seconds=seconds, output_figures=shown)
                    meta = {"key": key, "status": "ok", "figures": figures, "seconds": round(seconds, 1)}
                    print(f"{example.source}: executed in {seconds:.1f} s, {len(figures)} figures")
        (out / f".{stem}.json").write_text(json.dumps(meta), encoding="utf-8")
        status = f"executed in {meta['seconds']:.0f} s" if meta["status"] == "ok" else meta["status"]
        entries.append({"stem": stem, "title": _title(cells, stem), "summary": _summary(cells), "status": status,
                        "thumbnail": meta["figures"][0] if meta["figures"] else None})
    write_index(out, entries)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery", help="gallery folder (docs/gallery)")
    parser.add_argument("--timeout", type=float, default=300.0, help="time limit per example, s (300)")
    parser.add_argument("--force", action="store_true", help="rerun every example")
    parser.add_argument("--no-run", action="store_true", help="write the pages without running the examples")
    parser.add_argument("--only", metavar="SOURCE", help="run only this example (e.g. demo_report.py)")
    parser.add_argument("--run-one", nargs=4, metavar=("SOURCE", "FIGDIR", "PREFIX", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_one:
        source, figure_dir, prefix, result = args.run_one
        cells = run_cells(Path(source), Path(figure_dir), prefix)
        Path(result).write_text(json.dumps(cells), encoding="utf-8")
        return 0
    return build(args.out, timeout=args.timeout, force=args.force, run=not args.no_run, only=args.only)


if __name__ == "__main__":
    sys.exit(main())
