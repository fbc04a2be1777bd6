"""Monte-Carlo model of the semi-industrial XRT sorting trials (Table 3 of Mineral-DeepLabV3+).

For one operating point (size class, feed rate, belt speed) fragments are drawn and
followed through the machine:

1. **Feed.** Equivalent diameters uniform in the size class (at least 1 mm); mass
   ``rho * shape * pi/6 * d^3``. Fragments per second = feed rate / mean mass.
2. **Belt.** Fragments spread over ``belt_width_mm`` at belt speed ``v``: belt coverage
   ``c = N * mean projected area / (v * W)``; a fragment touches or overlaps another with
   probability ``1 - exp(-4 c k)`` (Poisson discs; ``k = clustering`` > 1 because the
   vibrating feeder delivers fragments in clusters, not independently).
3. **Liberation.** Ore-mineral fraction per fragment ~ Beta with the feed's mean and a
   concentration ``kappa0 * (d / 5 mm)^alpha``: fine fragments are well liberated
   (U-shaped), coarse ones near the feed grade. Li2O grade = fraction * ``li2o_in_ore``.
4. **Detection in time.** Frames needed per second ``v / (frame_rows * pixel)``; the
   machine's time budget per second is ``needed / fps + N * ms_per_fragment`` and it
   handles ``min(1, 1 / budget)`` of the fragments; fragments below its
   detection size (``1 - exp(-(d / fine_detect_mm)^2)``) are missed. Undetected
   fragments pass to the concentrate.
5. **Classification.** Waste is ejected when recognised as waste; a fragment is
   misclassified with probability ``error`` (+ ``overlap_error`` when touching another).
6. **Air jets.** An ejection hits with ``hit_max * (1 - exp(-d / 3 mm)) * exp(-v / v_hit)``
   (timing scatter grows with belt speed); an ejected
   fragment drags a touching neighbour with probability ``drag``; when another fragment
   reaches the same valves within ``valve_cycle_ms`` (rate per valve * cycle, Poisson)
   the blast also takes it.

Outputs: concentrate Li2O grade, Li2O recovery, waste rejection rate
``gamma = m_rejected / m_feed`` (the paper's formula 4), and the intermediate rates.
The parameters are illustrative (not fitted to the paper's curves); the model shows the
paper's trends: grade and rejection peak at intermediate sizes and fall with feed rate
and belt speed, and a faster, more accurate segmenter keeps them up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from liberation._validation import make_rng
from liberation.errors import InputError

__all__ = ["PAPER_TRIAL_SERIES", "SegmenterProfile", "default_profiles", "plot_trials", "simulate_paper_trials",
           "simulate_sorting"]

#: The three experiment series of the paper's Table 3.
PAPER_TRIAL_SERIES: dict[str, dict] = {
    "size": {"size_class_mm": [(0, 5), (5, 10), (10, 15), (15, 20), (20, 25)], "feed_kg_h": [50.0],
             "belt_speed_m_s": [4.0]},
    "feed": {"size_class_mm": [(10, 15)], "feed_kg_h": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0],
             "belt_speed_m_s": [4.0]},
    "speed": {"size_class_mm": [(10, 15)], "feed_kg_h": [50.0],
              "belt_speed_m_s": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]},
}


@dataclass(frozen=True)
class SegmenterProfile:
    """What the sorting model needs to know about a segmenter.

    Attributes
    ----------
    name : str
    error : float
        Probability of misclassifying a well separated fragment (e.g. ``1 - mIoU`` as a
        conservative proxy).
    fps : float
        Frames per second on the sorting machine's computer.
    fine_detect_mm : float
        Fragment size detected with probability ``1 - 1/e``.
    overlap_error : float
        Extra misclassification probability of touching/overlapping fragments.
    ms_per_fragment : float
        Decision and valve-cycle time per fragment, ms (limits fragments per second).
    """

    name: str
    error: float
    fps: float
    fine_detect_mm: float = 2.0
    overlap_error: float = 0.15
    ms_per_fragment: float = 1.0

    @classmethod
    def from_measurements(cls, name: str, *, miou: float, fps: float, **kwargs) -> SegmenterProfile:
        """Profile from a measured held-out mIoU and throughput."""
        if not (0 < miou <= 1) or fps <= 0:
            raise InputError(f"miou={miou!r} must be in (0, 1] and fps={fps!r} positive")
        return cls(name=name, error=1.0 - miou, fps=fps, **kwargs)


def default_profiles(*, miou: float = 0.95, fps: float = 25.0) -> list[SegmenterProfile]:
    """A deep-learning segmenter (from measured mIoU/fps) and a conventional threshold-based XRT sorter."""
    return [
        SegmenterProfile.from_measurements("mineral-deeplabv3plus", miou=miou, fps=fps, fine_detect_mm=2.0,
                                           overlap_error=0.20, ms_per_fragment=1.0),
        SegmenterProfile("conventional-xrt", error=0.15, fps=40.0, fine_detect_mm=4.0, overlap_error=0.40,
                         ms_per_fragment=2.0),
    ]


def simulate_sorting(
    *,
    size_class_mm: tuple[float, float],
    feed_kg_h: float,
    belt_speed_m_s: float,
    profile: SegmenterProfile,
    n_fragments: int = 20000,
    feed_grade_li2o: float = 1.01,
    li2o_in_ore: float = 8.03,
    cutoff_li2o: float = 0.8,
    belt_width_mm: float = 100.0,
    frame_rows: int = 512,
    pixel_size_um: float = 500.0,
    density_g_cm3: float = 2.7,
    shape_factor: float = 0.6,
    kappa0: float = 0.5,
    alpha: float = 1.6,
    hit_max: float = 0.95,
    drag: float = 0.1,
    v_hit_m_s: float = 25.0,
    clustering: float = 20.0,
    n_valves: int = 32,
    valve_cycle_ms: float = 15.0,
    seed=None,
) -> dict:
    """Simulate one operating point; see the module notes for the model.

    Parameters
    ----------
    size_class_mm : (float, float)
        Sieve interval, mm.
    feed_kg_h : float
        Feed rate, kg/h.
    belt_speed_m_s : float
        Belt speed, m/s.
    profile : SegmenterProfile
        Segmenter accuracy and throughput.
    n_fragments : int
        Fragments simulated.
    feed_grade_li2o : float
        Feed grade, % Li2O (paper: 1.01).
    li2o_in_ore : float
        Li2O of the pure ore mineral, % (spodumene 8.03).
    cutoff_li2o : float
        Fragments at or above this grade (% Li2O) are ore; the rest are waste.
    belt_width_mm, frame_rows, pixel_size_um
        Belt and camera geometry.
    density_g_cm3, shape_factor : float
        Fragment mass model.
    kappa0, alpha : float
        Liberation model (Beta concentration at 5 mm and its size exponent).
    hit_max, drag, v_hit_m_s, n_valves, valve_cycle_ms : float
        Air-jet model.
    clustering : float
        Feeder clustering factor of the overlap probability.
    seed : int or Generator, optional

    Returns
    -------
    dict
        ``concentrate_grade`` (% Li2O), ``recovery`` (0..1), ``gamma`` (waste rejection rate
        m_rejected / m_feed), ``fragments_per_s``, ``coverage``, ``overlap``, ``fps_needed``,
        ``processed`` (share of fragments decided in time), ``detected``, ``misclassified``.
    """
    lo, hi = (float(v) for v in size_class_mm)
    if not (0 <= lo < hi) or feed_kg_h <= 0 or belt_speed_m_s <= 0 or n_fragments < 10:
        raise InputError(f"size_class_mm={size_class_mm!r}, feed_kg_h={feed_kg_h!r}, belt_speed_m_s="
                         f"{belt_speed_m_s!r}, n_fragments={n_fragments!r}: expected an interval, positive rates "
                         "and at least 10 fragments")
    rng = make_rng(seed)
    n = int(n_fragments)
    d = rng.uniform(max(lo, 1.0), hi, n)
    mass = density_g_cm3 * shape_factor * np.pi / 6.0 * (d / 10.0) ** 3  # g
    per_s = feed_kg_h * 1000.0 / 3600.0 / mass.mean()
    coverage = per_s * np.mean(np.pi / 4.0 * d**2) / (belt_speed_m_s * 1000.0 * belt_width_mm)
    p_overlap = 1.0 - np.exp(-4.0 * coverage * clustering)
    overlap = rng.random(n) < p_overlap

    mean_f = feed_grade_li2o / li2o_in_ore
    kappa = kappa0 * (d / 5.0) ** alpha
    f = rng.beta(mean_f * kappa, (1.0 - mean_f) * kappa)
    grade = f * li2o_in_ore
    is_ore = grade >= cutoff_li2o

    fps_needed = belt_speed_m_s * 1000.0 / (frame_rows * pixel_size_um / 1000.0)
    budget = fps_needed / profile.fps + per_s * profile.ms_per_fragment / 1000.0
    processed = min(1.0, 1.0 / budget)
    p_detect = processed * (1.0 - np.exp(-((d / profile.fine_detect_mm) ** 2)))
    detected = rng.random(n) < p_detect
    p_err = np.clip(profile.error + np.where(overlap, profile.overlap_error, 0.0), 0.0, 0.5)
    wrong = rng.random(n) < p_err
    called_waste = detected & (is_ore == wrong)
    hit = rng.random(n) < hit_max * (1.0 - np.exp(-d / 3.0)) * np.exp(-belt_speed_m_s / v_hit_m_s)
    ejected = called_waste & hit
    dragged = overlap & ~ejected & (rng.random(n) < drag * ejected.mean() / max(p_overlap, 1e-9))
    pitch = belt_width_mm / n_valves
    valve_rate = per_s * (np.mean(d) / pitch + 1.0) / n_valves
    p_conflict = 1.0 - np.exp(-valve_rate * valve_cycle_ms / 1000.0)
    n_conflict = int((ejected & (rng.random(n) < p_conflict)).sum())
    co_ejected = np.zeros(n, bool)
    if n_conflict:
        co_ejected[rng.choice(n, size=min(n_conflict, n), replace=False)] = True
    rejected = ejected | dragged | co_ejected

    m_feed = mass.sum()
    m_conc = mass[~rejected].sum()
    li_feed = (mass * grade).sum()
    li_conc = (mass * grade)[~rejected].sum()
    return {
        "concentrate_grade": float(li_conc / m_conc) if m_conc > 0 else float("nan"),
        "recovery": float(li_conc / li_feed) if li_feed > 0 else float("nan"),
        "gamma": float(mass[rejected].sum() / m_feed),
        "feed_grade_sim": float(li_feed / m_feed),
        "waste_mass_share": float(mass[~is_ore].sum() / m_feed),
        "fragments_per_s": float(per_s),
        "coverage": float(coverage),
        "overlap": float(overlap.mean()),
        "fps_needed": float(fps_needed),
        "processed": float(processed),
        "detected": float(detected.mean()),
        "misclassified": float((detected & wrong).sum() / max(detected.sum(), 1)),
        "valve_conflict": float(p_conflict),
    }


def simulate_paper_trials(profiles=None, *, series=("size", "feed", "speed"), n_fragments: int = 20000, seed: int = 0,
                          **kwargs):
    """Run the three experiment series of the paper's Table 3 for each segmenter profile.

    Parameters
    ----------
    profiles : list of SegmenterProfile, optional
        Default :func:`default_profiles`.
    series : sequence of str
        Keys of :data:`PAPER_TRIAL_SERIES`.
    n_fragments : int
        Fragments per operating point.
    seed : int
        Seed; every operating point gets its own stream.
    **kwargs
        Passed to :func:`simulate_sorting`.

    Returns
    -------
    pandas.DataFrame
        One row per series, operating point and profile: ``series``, ``profile``,
        ``size_class``, ``feed_kg_h``, ``belt_speed_m_s`` and the outputs of
        :func:`simulate_sorting`.
    """
    import pandas as pd

    profiles = profiles or default_profiles()
    rows = []
    ss = np.random.SeedSequence(seed)
    for name in series:
        if name not in PAPER_TRIAL_SERIES:
            raise InputError(f"series={name!r} is not known; expected some of {sorted(PAPER_TRIAL_SERIES)}")
        spec = PAPER_TRIAL_SERIES[name]
        for sc in spec["size_class_mm"]:
            for feed in spec["feed_kg_h"]:
                for v in spec["belt_speed_m_s"]:
                    child = ss.spawn(1)[0]
                    for prof in profiles:
                        out = simulate_sorting(size_class_mm=sc, feed_kg_h=feed, belt_speed_m_s=v, profile=prof,
                                               n_fragments=n_fragments, seed=np.random.default_rng(child), **kwargs)
                        rows.append({"series": name, "profile": prof.name, "size_class": f"{sc[0]:g}-{sc[1]:g}",
                                     "feed_kg_h": feed, "belt_speed_m_s": v, **out})
    df = pd.DataFrame(rows)
    df.attrs["profiles"] = [asdict(p) for p in profiles]
    return df


def plot_trials(table):
    """Concentrate grade and waste rejection rate over the three series (a 2 x 3 matplotlib Figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = {"size": ("size_class", "size class / mm"), "feed": ("feed_kg_h", "feed rate / (kg/h)"),
          "speed": ("belt_speed_m_s", "belt speed / (m/s)")}
    series = [s for s in xs if s in set(table["series"])]
    fig, axes = plt.subplots(2, len(series), figsize=(4.2 * len(series), 6.5), squeeze=False)
    for j, s in enumerate(series):
        sub = table[table["series"] == s]
        col, label = xs[s]
        for prof, grp in sub.groupby("profile", sort=False):
            axes[0, j].plot(grp[col].astype(str) if s == "size" else grp[col], grp["concentrate_grade"], "o-",
                            label=prof)
            axes[1, j].plot(grp[col].astype(str) if s == "size" else grp[col], 100 * grp["gamma"], "o-", label=prof)
        axes[0, j].set_ylabel("concentrate Li$_2$O / %")
        axes[1, j].set_ylabel("waste rejection rate γ / %")
        axes[1, j].set_xlabel(label)
        axes[0, j].set_title(f"series: {s}")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig
