"""The glossary of the report: every column of its tables, every class and term, in the report itself.

A reader of the report has the report folder, not the library's documentation, so the page and the
PDF explain their own columns here (:func:`glossary_rows`). :func:`explain_header` finds the entry
of a table header (tests check that every header on the page has one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CSV_FILES_TEXT", "Entry", "explain_header", "glossary_entries", "glossary_rows"]


@dataclass(frozen=True)
class Entry:
    """One glossary entry: the term as shown, its meaning, and the table headers it explains (regexes)."""

    term: str
    meaning: str
    headers: tuple[str, ...] = ()


def _names(result) -> str:
    return "|".join(re.escape(n) for n in result.minerals.names) or "(?!)"


def _assay_keys(result) -> str:
    keys = set()
    for m in result.minerals:
        keys.update(getattr(m, "oxides", {}) or {})
        keys.update(getattr(m, "elements", {}) or {})
    return "|".join(re.escape(k) for k in sorted(keys)) or "(?!)"


def glossary_entries(result) -> list[Entry]:
    """The glossary of one report (mineral names filled in)."""
    n = _names(result)
    basis = "mass" if (result.summary or {}).get("basis") == "mass" else "volume"
    return [
        # ----------------------------------------------------------- terms and classes
        Entry("Particle", "A connected piece of solid in the 3D volume (one label of the particle image); it may "
                          "hold several minerals."),
        Entry("Section particle (2D)", "The cut of a particle by one virtual polished-section plane: what a 2D "
                                       "instrument (MLA, QEMSCAN, TIMA) would measure. One particle may give "
                                       "several section particles, or none."),
        Entry("Grade", "Share of a mineral in a particle (3D, by volume or mass) or in a section particle (2D, by "
                       "area or area × density)."),
        Entry("Liberated", f"A particle (or section particle) whose grade of the mineral is at least the "
                           f"liberation threshold ({100 * float(result.threshold):g} % here). The liberated "
                           "fraction is the share of the mineral held by liberated particles."),
        Entry("Grade (liberation) classes", "Particles grouped by their grade of the mineral: class 0 (none of "
                                            "it), (0,10] (more than 0 and at most 10 %), ..., (90,100) (below "
                                            "100 %), and 100 (the particle is only this mineral)."),
        Entry("Locking", "How a mineral occurs: liberated (grade at least the threshold), binary with X (locked "
                         "with exactly one other mineral X), ternary+ (locked with two or more other minerals)."),
        Entry("Free (exposed) surface", "The part of a particle's surface formed by a mineral, i.e. what a reagent "
                                        "or a bubble can reach; the exposed surface class groups particles by it."),
        Entry("Association", "How the boundary of a mineral is shared among its neighbours (other minerals, and "
                             "void = the free surface of the particle), counted over touching voxel faces."),
        Entry("ESD", "Equivalent sphere diameter: the diameter of the sphere with the particle's (or grain's) "
                     "volume, in µm."),
        Entry("ECD", "Equivalent circle diameter: the diameter of the circle with the section particle's area, in "
                     "µm."),
        Entry("Size class", "Particles grouped by ESD between the size class bounds (µm), e.g. <100, 100-200, "
                            ">=200; 'all' is every size together. A size class marked * has fewer than 30 "
                            "particles: its numbers are uncertain."),
        Entry("P50, P80", "The size below which 50 % (80 %) of the material passes on the cumulative size curve, "
                          "in µm (particles weighed on the report basis, sections by area, grains by volume)."),
        Entry("Basis", f"Whether shares are weighed by volume or by mass (volume × density); this report's "
                       f"headline numbers are by {basis}. 2D shares are by area (or area × density)."),
        Entry("95 % interval", "The range that holds the true value with 95 % confidence, from resampling the "
                               "particles (bootstrap, stratified by size class)."),
        Entry("Bias 2D − 3D", "The 2D value minus the 3D value, in percentage points: positive when the "
                              "sections look more liberated than the particles are (stereological bias)."),
        Entry("Grade-recovery", "The concentrate grade against the recovery of the mineral when particles are "
                                "taken from the richest to the poorest: the best a perfect separation could do."),
        Entry("Gallery", "Two particles per class: the largest, and of the others the one whose ESD is closest to "
                         "the median ESD of the class (ties broken by a seeded random choice). Each shows its "
                         "central z section and shaded 3D views along z, y and x."),
        # ------------------------------------------------------------- table columns
        Entry("mineral", "The mineral of the row.", (r"mineral",)),
        Entry("density (g/cm³)", "Mineral density used for the mass basis.", (r"density \(g/cm³\)",)),
        Entry("vol% (3D), wt% (3D)", "Share of each mineral in all analysed particles by volume and by mass.",
              (r"vol% \(3D\)", r"wt% \(3D\)")),
        Entry("area% (2D), wt% (2D)", "The same from the section particles, by area and by area × density.",
              (r"area% \(2D\)", r"wt% \(2D\)")),
        Entry("calculated assay", "Element or oxide content (wt%) computed from the modal wt% and the mineral "
                                  "formulas, as a chemical assay of the sample would give it.",
              (r"calculated assay", rf"(?:{_assay_keys(result)})")),
        Entry("liberated 3D / 2D (%)", "Liberated fraction of the mineral from the 3D particles and from the 2D "
                                       "sections.",
              (r"liberated 3D \(%(?:, by (?:mass|volume))?\)", r"liberated 2D \(%\)")),
        Entry("… 95 % interval, … 95 % low / high", "Bounds of the 95 % interval of the value named before it.",
              (r"(?:3D|2D|bias) 95 % interval", r".+ 95 % (?:low|high)")),
        Entry("bias (pct. points)", "2D minus 3D, in percentage points.",
              (r"bias 2D − 3D \(pct\. points\)", r"bias \(pct\. points\)", r"grade bias \(pct\. points\)")),
        Entry("grade class (%)", "Grade class of the mineral (see Grade classes).", (r"grade class \(%\)",)),
        Entry("share 3D / 2D (%)", "Share of the mineral held by the particles (3D) or section particles (2D) "
                                   "of the class.", (r"share 3D \(%\)", r"share 2D \(%\)")),
        Entry("particles, particles 3D", "Number of analysed particles in the row.",
              (r"particles", r"particles 3D")),
        Entry("section particles 2D", "Number of section particles in the row.", (r"section particles 2D",)),
        Entry("size class (µm)", "ESD size class (see Size class).", (r"size class \(µm\)",)),
        Entry("mean grade 3D / 2D (%)", "Mean grade of the mineral over the particles (sections) holding it.",
              (r"mean grade 3D \(%\)", r"mean grade 2D \(%\)")),
        Entry("exposed surface class (%)", "Share of the particle surface formed by the mineral (see Free "
                                           "surface).", (r"exposed surface class \(%\)",)),
        Entry("share of MINERAL (%)", "Share of the mineral held by the particles of the class.",
              (rf"share of (?:{n}) \(%\)",)),
        Entry("liberated / binary with X / ternary+ (%)", "Share of the mineral (row) in each locking class "
                                                          "(see Locking).",
              (r"liberated \(%\)", rf"binary with (?:{n}) \(%\)", r"ternary\+ \(%\)")),
        Entry("boundary of", "The mineral whose boundary the association row splits.", (r"boundary of",)),
        Entry("MINERAL (%), void (%)", "In the association table: share of the row mineral's boundary touching "
                                       "this mineral (void: the free surface). In the modal mineralogy by size "
                                       "class: share of the mineral in the size class (report basis).",
              (rf"(?:{n}) \(%\)", r"void \(%\)")),
        Entry("share of sample (%)", "Share of all analysed material (report basis) in the size class.",
              (r"share of sample \(%\)",)),
        Entry("distribution, weighed, count", "Which size curve (particles, section particles, grains of a "
                                              "mineral), how it is weighed, and how many items it holds.",
              (r"distribution", r"weighed", r"count")),
        Entry("P50 (µm), P80 (µm)", "See P50, P80.", (r"P50 \(µm\)", r"P80 \(µm\)")),
        Entry("class, particle, why chosen, ESD (µm), grade (%)", "Gallery table: the class, the particle id "
                                                                   "(as in particles.csv), the rule that chose it, "
                                                                   "its ESD and its grade of the mineral.",
              (r"class", r"particle", r"why chosen", r"ESD \(µm\)", r"grade (?:of .+ )?\(%\)")),
        Entry("what, setting", "Parameters table: what was set, and to what.", (r"what", r"setting")),
        Entry("term, meaning", "This glossary.", (r"term", r"meaning")),
    ]


def explain_header(header: str, result) -> Entry | None:
    """The glossary entry explaining a table header (exact match of one of its patterns), or None."""
    header = str(header).strip()
    for entry in glossary_entries(result):
        if any(re.fullmatch(p, header) for p in entry.headers):
            return entry
    return None


#: The files next to the report and what they hold (shown in the glossary).
CSV_FILES_TEXT: tuple[tuple[str, str], ...] = (
    ("particles.csv", "One row per particle: particle_id, voxels, volume_um3, esd_um, mass_ug, bounding box "
                      "(bbox_*), surface_area_um2, sphericity, touches_border, excluded, size_class, then per "
                      "mineral voxels_NAME, grade_NAME (by volume), mass_grade_NAME and surface_NAME (exposed "
                      "surface share)."),
    ("sections_2d.csv", "One row per section particle: the plane (axis, position), particle_id, pixels, "
                        "area_um2, ecd_um, size_class, excluded, and per mineral pixels_NAME and grade_NAME."),
    ("modal.csv", "Modal mineralogy: per mineral voxels, volume_percent, mass_percent (and 2D area_percent_2d)."),
    ("liberation.csv", "Grade class distributions: per dimension (3D/2D), basis, size_class, mineral and class "
                       "the number of particles and the share of the mineral (mineral_share)."),
    ("locking.csv, surface_liberation.csv", "The locking classes and the exposed surface classes in the same "
                                            "layout."),
    ("association.csv", "Per mineral and neighbour the share of the mineral's boundary touching it."),
    ("grade_recovery.csv, cumulative_yield.csv", "The curves of the grade-recovery and cumulative yield plots."),
    ("comparison_2d_3d.csv", "2D against 3D per size class and mineral, with 95 % intervals."),
    ("grain_sizes.csv, size_distribution.csv", "One row per mineral grain (its ESD), and the particle size "
                                               "distribution in ESD bins."),
    ("gallery.csv", "The particles shown in the gallery and why each was chosen."),
    ("summary.json", "The key numbers and parameters, for scripts."),
)


def glossary_rows(result) -> list[tuple[str, str]]:
    """``(term, meaning)`` rows of the glossary section: terms and classes, table columns, then the files."""
    return [(e.term, e.meaning) for e in glossary_entries(result)] + list(CSV_FILES_TEXT)
