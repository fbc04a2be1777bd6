"""Report colours (CIEDE2000 under simulated colour blindness), P50/P80, modal by size, glossary, parameters, PDF."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest
from test_report_unit import hand_result

from liberation.minerals import spodumene_ore
from liberation.report import colors as C
from liberation.report import tables as T


# ---------------------------------------------------------------------------------------------- colours
def test_machado_matrices_keep_greys_and_merge_red_green():
    for m in C.CVD_MATRICES.values():
        assert np.allclose(m.sum(axis=1), 1.0, atol=2e-3)  # greys stay grey (Machado 2009, severity 1)
    greys = np.linspace(0, 1, 5)[:, None].repeat(3, axis=1)
    for vision in ("protanopia", "deuteranopia"):
        assert np.allclose(C.simulate_cvd(greys, vision), greys, atol=3e-3)
    # the classic red/green pair: far apart in normal vision, close for a deuteranope
    d_normal = C.delta_e(["#d62728"], ["#2ca02c"])[0, 0]
    d_deut = C.delta_e(["#d62728"], ["#2ca02c"], vision="deuteranopia")[0, 0]
    assert d_normal > 60 and d_deut < C.MIN_DELTA_E


def test_ciede2000_known_pair():
    # Sharma, Wu & Dalal (2005) test data, pair 1: Lab (50, 2.6772, -79.7751) vs (50, 0, -82.7485): 2.0425
    from skimage.color import deltaE_ciede2000

    assert deltaE_ciede2000(np.array([50, 2.6772, -79.7751]), np.array([50, 0, -82.7485])) == pytest.approx(
        2.0425, abs=1e-4)


def test_default_palette_is_distinguishable():
    sep = C.min_separation(C.REPORT_PALETTE)
    assert set(sep) == {"normal", "protanopia", "deuteranopia"}
    assert all(v >= C.MIN_DELTA_E for v in sep.values()), sep
    # the grey list covers black to white
    assert C.GREYS[0] == "#000000" and C.GREYS[-1] == "#ffffff" and len(C.GREYS) == 11


def test_report_colours_replace_grey_quartz():
    minerals = spodumene_ore()
    own = {m.name: m.color for m in minerals}
    assert C.min_separation([own["quartz"]])["normal"] < C.MIN_DELTA_E  # the issue: quartz is CT grey
    shown = C.report_colors(own)
    assert list(shown) == list(own)
    assert shown["spodumene"] == own["spodumene"]  # a fine colour is kept
    assert shown["quartz"] != own["quartz"] and shown["quartz"] in C.REPORT_PALETTE
    assert all(v >= C.MIN_DELTA_E for v in C.min_separation(list(shown.values())).values())


# -------------------------------------------------------------------------------------------- P50 / P80
def test_percentile_size_matches_numpy_inverted_cdf():
    from liberation.report.plots import percentile_size

    rng = np.random.default_rng(3)
    sizes = rng.lognormal(4.5, 0.6, 400)
    w = rng.random(400) * sizes**3
    for q in (10, 50, 80, 95):
        assert percentile_size(sizes, w, q) == np.percentile(sizes, q, weights=w, method="inverted_cdf")
    # a closed form: two sizes with weights 1 and 3 -> P20 is the small one, P50 and P80 the large one
    assert percentile_size([10.0, 20.0], [1.0, 3.0], 20) == 10.0
    assert percentile_size([10.0, 20.0], [1.0, 3.0], 25) == 10.0
    assert percentile_size([10.0, 20.0], [1.0, 3.0], 50) == 20.0


def test_size_percentiles_table():
    r = hand_result()
    table = T.size_percentiles(r)
    assert list(table.columns) == ["distribution", "weighed", "count", "P50 (µm)", "P80 (µm)"]
    row = table.iloc[0]
    esd = r.particles["esd_um"].to_numpy()
    w = r.particles["volume_um3"].to_numpy()
    assert row["weighed"] == "by volume" and row["count"] == 4
    assert row["P50 (µm)"] == np.percentile(esd, 50, weights=w, method="inverted_cdf")
    assert row["P80 (µm)"] == np.percentile(esd, 80, weights=w, method="inverted_cdf")
    sec = table[table["distribution"].str.startswith("section")].iloc[0]
    ecd, area = r.sections["ecd_um"].to_numpy(), r.sections["area_um2"].to_numpy()
    assert sec["P80 (µm)"] == np.percentile(ecd, 80, weights=area, method="inverted_cdf")
    grains = table[table["distribution"] == "quartz grains, 3D (ESD)"].iloc[0]
    g = r.grain_sizes.loc[r.grain_sizes["mineral"] == "quartz", "esd_um"].to_numpy()
    assert grains["count"] == 2 and grains["P50 (µm)"] == np.percentile(g, 50, weights=g**3, method="inverted_cdf")


def test_size_plot_marks_p50_p80():
    from liberation.report.plots import plot_size_distribution

    esd = np.array([10.0, 20.0, 40.0, 80.0])
    fig = plot_size_distribution(esd, weights=np.ones(4))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "P50 20 µm" in texts and "P80 80 µm" in texts
    assert "P50 20, P80 80 µm" in fig.axes[0].get_legend().get_texts()[0].get_text()


def test_modal_by_size_known_answer():
    r = hand_result()
    table = T.modal_by_size(r)
    assert list(table["size class (µm)"]) == ["<63", ">=63", "all"]
    # particles 2-4 (>=63): spodumene 50+0+10, quartz 50+20+10, albite 0+70+10, muscovite 0+10+70 of 300 voxels
    big = table.iloc[1]
    assert big["particles"] == 3 and big["share of sample (%)"] == pytest.approx(75.0)
    assert [big[f"{n} (%)"] for n in ("spodumene", "quartz", "albite", "muscovite")] == pytest.approx(
        [20.0, 80 / 3, 80 / 3, 80 / 3])
    assert table.iloc[0]["spodumene (%)"] == pytest.approx(100.0)
    cols = [c for c in table.columns if c.endswith("(%)") and c != "share of sample (%)"]
    assert np.allclose(table[cols].sum(axis=1), 100.0)
    # mass basis: weighed by density
    r.summary["basis"] = "mass"
    d = {m.name: m.density for m in r.minerals}
    m_big = T.modal_by_size(r).iloc[1]
    amounts = {"spodumene": 60 * d["spodumene"], "quartz": 80 * d["quartz"], "albite": 80 * d["albite"],
               "muscovite": 80 * d["muscovite"]}
    assert m_big["albite (%)"] == pytest.approx(100 * amounts["albite"] / sum(amounts.values()))


# ------------------------------------------------------------------------------- glossary and parameters
def _page():
    from liberation.report import build_html

    return build_html(hand_result(), {})


def test_every_table_header_is_in_the_glossary():
    from liberation.report.glossary import explain_header

    page = _page()
    headers = set(re.findall(r"<thead><tr>(.*?)</tr></thead>", page))
    names = {h for row in headers for h in re.findall(r"<th>(.*?)</th>", row)}
    assert len(names) > 25
    import html

    missing = [h for h in names if explain_header(html.unescape(h), hand_result()) is None]
    assert not missing, missing
    assert 'id="glossary"' in page and "docs/columns.md" not in page and "docs/" not in page
    for term in ("ESD", "Liberated", "ternary+", "binary with X", "P50, P80", "particles.csv"):
        assert term in page


def test_parameters_in_words_with_units():
    r = hand_result()
    r.summary["parameters"] = {"target": "spodumene", "threshold": 0.9, "classes_percent": list(range(0, 101, 10)),
                               "size_classes_um": [63.0], "section_axes": ["z"], "section_spacing": 10,
                               "exclude_border": True, "by": "mass", "seed": 0, "bootstrap": 1000,
                               "surface_method": "mesh", "pores": True, "random_sections": 0}
    rows = dict(T.parameter_rows(r, "9.9"))
    assert rows["Liberated when"] == "the particle's grade of the mineral is at least 90 %"
    assert rows["Grade classes"].startswith("0 to 100 % in steps of 10")
    assert rows["Size classes (ESD bounds)"] == "63 µm"
    assert rows["Virtual 2D sections"] == "planes normal to z, every 10 voxels (100 µm)"
    assert rows["Confidence intervals"].startswith("95 %, from 1,000 particle bootstrap")
    assert rows["Particles touching the volume border"].startswith("left out")
    text = " ".join(f"{k} {v}" for k, v in rows.items())
    for raw in ("section_spacing", "classes_percent", "exclude_border", "surface_method", "size_classes_um"):
        assert raw not in text


# ------------------------------------------------------------------------------------------------- PDF
def _pdf_text(data: bytes) -> str:
    """Text shown by the PDF's content streams (FlateDecode), the strings of Tj/TJ joined per operator.

    The report's writer ends each stream's data with ``\\nendstream``: a last data byte 0x0D is data (taking it as
    part of a CRLF made the test fail on about one PDF in 256, the ones whose deflated page ended with it).
    """
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\nendstream", data, re.S):
        try:
            body = zlib.decompress(m.group(1))
        except zlib.error:
            continue
        for op in re.finditer(rb"\[(.*?)\]\s*TJ|\((.*?)(?<!\\)\)\s*Tj", body, re.S):
            if op.group(1) is not None:
                parts = re.findall(rb"\((.*?)(?<!\\)\)", op.group(1), re.S)
                out.append(b"".join(parts).decode("latin-1"))
            else:
                out.append(op.group(2).decode("latin-1"))
    return "\n".join(out).replace("\\(", "(").replace("\\)", ")")


def test_pdf_pages_and_headline_text():
    from liberation.report.pdf import build_pdf
    from liberation.report.plots import plot_modal
    from liberation.report.writer import _figure_png

    r = hand_result()
    images = {"modal": _figure_png(plot_modal(["a", "b"], [40.0, 60.0]))}
    outline: dict = {}
    data = build_pdf(r, images, title="Hand report", outline=outline)
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    n_pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", data))
    count = int(re.search(rb"/Type\s*/Pages\b.*?/Count\s+(\d+)", data, re.S).group(1))
    assert n_pages == count >= 4
    assert outline["Sample"] == 1 and outline["Glossary"] <= count
    assert list(outline.values()) == sorted(outline.values())
    text = " ".join(_pdf_text(data).split())
    assert "Hand report" in text
    assert "2D sections overestimate the liberated fraction of spodumene by 12.3 percentage points" in text
    for heading in ("Modal mineralogy", "Particle and grain sizes", "Parameters", "Glossary"):
        assert heading in text
    assert "Size classes (ESD bounds)" in text


def test_pdf_and_html_hold_the_hard_vs_soft_table():
    """With soft statistics (``result.quantification``), the PDF has the hard-vs-soft table page section that the
    HTML has: the heading in the outline, the caption, and the rows' values (text of the PDF's content streams)."""
    import pandas as pd

    from liberation.report.html import build_html
    from liberation.report.pdf import build_pdf

    r = hand_result()
    rows = []
    for name, (h, s) in {"spodumene": (0.5180, 0.5312), "quartz": (0.2500, 0.2444)}.items():
        rows.append({"mineral": name, "basis": "volume", "quantity": "liberated_fraction", "hard": h, "soft": s,
                     "soft_minus_hard": s - h, "relative_difference": (s - h) / h})
    r.quantification = pd.DataFrame(rows)
    outline: dict = {}
    data = build_pdf(r, {}, title="Hand report", outline=outline)
    text = " ".join(_pdf_text(data).split())
    assert T.QUANTIFICATION_HEADING in outline
    assert outline["Modal mineralogy"] <= outline[T.QUANTIFICATION_HEADING] <= outline["Glossary"]
    assert "soft_minus_hard" in text and "The same statistics from whole-voxel phase labels (hard)" in text
    for value in ("0.518", "0.531", "0.013", "-0.006", "liberated_fraction"):
        assert value in text, value
    page = build_html(r, {})
    assert T.QUANTIFICATION_HEADING in page and "0.531" in page
    # without soft statistics there is no such section
    r.quantification = None
    plain: dict = {}
    build_pdf(r, {}, outline=plain)
    assert T.QUANTIFICATION_HEADING not in plain
