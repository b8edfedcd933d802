"""Figures (parcours_research.plot): artists inspected, and image comparison with baselines.

Baselines live in tests/baseline/ (small PNGs, 60 dpi). After an intended change of a figure,
look at the new image, then regenerate with ``PARCOURS_UPDATE_BASELINE=1 pytest tests/test_plot.py``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402
from matplotlib.testing.compare import compare_images  # noqa: E402

import parcours_research as pr  # noqa: E402
from parcours_research.curves import CURVE_COLUMNS  # noqa: E402
from parcours_research.errors import AnalysisError, StudyError  # noqa: E402

BASELINE = Path(__file__).parent / "baseline"
UPDATE = os.environ.get("PARCOURS_UPDATE_BASELINE") == "1"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------------------------------------
# fixed tables (independent of the estimators, so that baselines only move with the drawing)
# ---------------------------------------------------------------------------------------------
def curves_table() -> pd.DataFrame:
    """A hand-made journey_curves table: 3 personas x 7 touchpoints over 3 stages."""
    tps = [
        ("t1", "Annonce", "s1", "Découvrir", False, 3.8),
        ("t2", "Site web", "s1", "Découvrir", False, 3.9),
        ("t3", "Devis", "s2", "Acheter", False, 3.7),
        ("t4", "Souscription", "s2", "Acheter", True, 3.9),
        ("t5", "Vérification", "s3", "Utiliser", True, 3.8),
        ("t6", "Appli", "s3", "Utiliser", False, 3.9),
        ("t7", "Facture", "s3", "Utiliser", False, 3.7),
    ]
    est = {
        "a": [4.0, 4.1, 3.9, 4.0, 4.0, 4.1, 3.9],
        "b": [3.9, 4.0, 3.8, 3.9, 3.9, 4.0, 3.8],
        "c": [3.8, 3.9, 3.7, 3.8, 2.6, 3.9, 3.7],
    }
    rows = []
    for g, values in est.items():
        for k, ((tp, lab, st, stl, mot, target), e) in enumerate(zip(tps, values), 1):
            se = 0.08 if g != "c" else 0.12
            rows.append(
                {
                    "persona": g,
                    "stage": st,
                    "stage_label": stl,
                    "stage_order": int(st[1]),
                    "touchpoint": tp,
                    "label": lab,
                    "order": k,
                    "moment_of_truth": mot,
                    "target": target,
                    "estimate": e,
                    "se": se,
                    "ci_low": e - 2.6 * se,
                    "ci_high": e + 2.6 * se,
                    "n": 100,
                    "n_eff": 95.0,
                    "gap": e - target,
                    "below_target": e + 2.6 * se < target,
                    "valence": (-1.5 if (g == "c" and tp == "t5") else 0.5) if k % 2 else np.nan,
                    "n_excerpts": 4 if k % 2 else 0,
                    "band": "simultaneous",
                    "level_ci": 0.95,
                    "crit": 2.6,
                    "grain": "touchpoint",
                    "weighting": "none",
                }
            )
    # the table's columns in their documented order (a column added later reads NaN here)
    out = pd.DataFrame(rows).reindex(columns=list(CURVE_COLUMNS))
    out.attrs["by"] = "persona"
    return out


def friction_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "touchpoint": ["t5", "t5", "t3"],
            "persona": ["c", "c", "a"],
            "source": ["survey", "traces", "survey"],
            "effect_size": [-1.2, -0.3, -0.1],
            "p_adj": [1e-6, 0.01, 0.4],
            "significant": [True, True, False],
        }
    )


def by_gid(fig, prefix):
    found = []
    for ax in fig.axes:
        for a in [*ax.lines, *ax.collections, *ax.patches, *ax.texts, *ax.child_axes]:
            gid = a.get_gid()
            if gid and gid.startswith(prefix):
                found.append(a)
    return found


def check_image(fig, name: str, tmp_path, tol: float = 1.0):
    actual = tmp_path / f"{name}.png"
    pr.plot.save(fig, actual.with_suffix(""), formats=("png",), dpi=60)
    expected = BASELINE / f"{name}.png"
    if UPDATE:
        BASELINE.mkdir(exist_ok=True)
        expected.write_bytes(actual.read_bytes())
        pytest.skip(f"baseline {expected.name} written")
    assert expected.exists(), (
        f"no baseline {expected}; run with PARCOURS_UPDATE_BASELINE=1 and look at it"
    )
    diff = compare_images(str(expected), str(actual), tol=tol)
    assert diff is None, diff


def boxes_overlap(a, b) -> bool:
    return a.x0 < b.x1 and a.x1 > b.x0 and a.y0 < b.y1 and a.y1 > b.y0


# ---------------------------------------------------------------------------------------------
# journey curves
# ---------------------------------------------------------------------------------------------
def test_overlay_artists():
    t = curves_table()
    fig = pr.plot.journey_curves(t, friction=friction_table())
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes[0].child_axes) == 1  # the stage labels
    curves = by_gid(fig, "curve:")
    assert sorted(a.get_gid() for a in curves) == ["curve:a", "curve:b", "curve:c"]
    assert all(len(a.get_xdata()) == 7 for a in curves)
    bands = by_gid(fig, "band:")
    assert len(bands) == 3 and all(isinstance(b, PolyCollection) for b in bands)
    target = by_gid(fig, "target")
    assert len(target) == 1 and target[0].get_linestyle() == "--"
    np.testing.assert_allclose(target[0].get_ydata(), t.drop_duplicates("order")["target"])
    mot = by_gid(fig, "moments_of_truth")[0]
    assert mot.get_marker() == "*" and list(mot.get_xdata()) == [3.0, 4.0]
    bold = [tl.get_text() for tl in fig.axes[0].get_xticklabels() if tl.get_fontweight() == "bold"]
    assert bold == ["Souscription", "Vérification"]
    # the significant friction point of persona c, and nothing else; its label is the point's
    # gap to target on the curve's scale: 2.6 - 3.8, interval 2.6 -+ 2.6 * 0.12 minus 3.8
    labels = by_gid(fig, "friction_label:")
    assert [a.get_text() for a in labels] == ["−1,20 pt vs cible\n[−1,51 ; −0,89]"]
    assert labels[0].xy == (4.0, pytest.approx(2.6))
    below = by_gid(fig, "below_target:")
    assert [a.get_gid() for a in below] == ["below_target:c"] and list(below[0].get_xdata()) == [
        4.0
    ]
    # legend outside every axes
    fig.draw_without_rendering()
    leg = fig.legends[0].get_window_extent()
    assert not any(boxes_overlap(leg, ax.get_window_extent()) for ax in fig.axes)
    texts = [x.get_text() for x in fig.legends[0].get_texts()]
    assert "Moment de vérité" in texts and "Bande 95 % simultanée (sup-t)" in texts


def test_facet_artists_and_english():
    fig = pr.plot.journey_curves(curves_table(), facet=True, lang="en", friction=friction_table())
    visible = [
        ax
        for ax in fig.axes
        if ax.get_visible()
        and ax.get_label() != "<colorbar>"
        and ax not in [c for a in fig.axes for c in a.child_axes]
    ]
    assert len(visible) == 4 - 1 + 1 - 1  # three personas on a 2 x 2 grid, one panel hidden
    assert sum(len(by_gid_ax(ax, "curve:")) for ax in visible) == 3
    assert all(len(by_gid_ax(ax, "curve:")) == 1 for ax in visible)
    texts = [x.get_text() for x in fig.legends[0].get_texts()]
    assert "Moment of truth" in texts and "Target (the journey as it should be)" in texts
    assert [a.get_text() for a in by_gid(fig, "friction_label:")] == [
        "−1.20 pt vs target\n[−1.51, −0.89]"
    ]


def by_gid_ax(ax, prefix):
    return [a for a in [*ax.lines, *ax.collections] if (a.get_gid() or "").startswith(prefix)]


def test_friction_from_traces_and_triangulation():
    t = curves_table()
    traces = pd.DataFrame(
        {
            "touchpoint": ["t5"],
            "persona": ["c"],
            "source": ["traces"],
            "effect_size": [-0.32],
            "effect_measure": ["difference in conversion"],
            "friction": [True],
            "significant": [True],
        }
    )
    fig = pr.plot.journey_curves(t, friction=traces, lang="en")
    # the label is the curve point's gap to target, not the traces' effect (a conversion gap)
    assert [a.get_text() for a in by_gid(fig, "friction_label:")] == [
        "−1.20 pt vs target\n[−1.51, −0.89]"
    ]

    class Triangulation:  # the shape of pr.friction.triangulate's result
        summary = pd.DataFrame(
            {
                "touchpoint": ["t5", "t2"],
                "persona": ["c", "a"],
                "survey_effect": [-1.25, -0.2],
                "traces_effect": [-0.3, np.nan],
                "confirmed": [True, False],
            }
        )

    fig = pr.plot.journey_curves(t, friction=Triangulation(), lang="en")
    assert [a.get_text() for a in by_gid(fig, "friction_label:")] == [
        "−1.20 pt vs target\n[−1.51, −0.89]"
    ]
    # a row about everybody ("all") marks no persona curve; a missing persona marks them all
    fr = pd.DataFrame(
        {
            "touchpoint": ["t3", "t6"],
            "persona": ["all", None],
            "effect_size": [-0.2, -0.3],
            "significant": [True, True],
        }
    )
    fig = pr.plot.journey_curves(t, friction=fr, friction_format="{gap:.1f} {unit}")
    assert sorted(a.get_gid() for a in by_gid(fig, "friction:")) == [
        "friction:a",
        "friction:b",
        "friction:c",
    ]
    # t6 (estimate - target): a 4.1 - 3.9, b 4.0 - 3.9, c 3.9 - 3.9
    assert {a.get_text() for a in by_gid(fig, "friction_label:")} == {
        "0,2 pt",
        "0,1 pt",
        "0,0 pt",
    }


def test_stage_level_and_labels_from_journey(sample_study):
    t = pr.curves.journey_curves(sample_study, grain="stage", qual=False)
    fig = pr.plot.journey_curves(t, journey=sample_study, lang="en")
    ax = fig.axes[0]
    assert [tl.get_text() for tl in ax.get_xticklabels()] == [
        sample_study.journey.label(s, "en") for s in sample_study.journey.stage_ids
    ]
    assert all(tl.get_rotation() == 0 for tl in ax.get_xticklabels())
    assert not ax.child_axes  # stage names are the tick labels already
    curves = by_gid(fig, "curve:")
    assert len(curves) == 4 and all(len(c.get_xdata()) == 6 for c in curves)
    assert {c.get_label() for c in curves} == {
        "Busy digital",
        "Cautious",
        "Attentive senior",
        "Explorer",
    }


def test_sample_figure_marks_the_planted_friction(sample_study, tmp_path):
    t = pr.curves.journey_curves(
        sample_study, weight="rake", band="simultaneous", n_boot=300, qual=False
    )
    truth = sample_study.truth["friction"][0]
    fr = t[t.below_target].assign(effect_size=lambda d: d.gap, significant=True)
    fig = pr.plot.journey_curves(t, journey=sample_study, friction=fr)
    x = float(t.loc[t.touchpoint == truth["touchpoint"], "order"].iloc[0]) - 1
    marks = by_gid(fig, "friction:")
    assert [m.get_gid() for m in marks] == [f"friction:{truth['persona']}"]
    assert list(marks[0].get_xdata()) == [x]
    assert [a.get_gid() for a in by_gid(fig, "below_target:")] == [
        f"below_target:{truth['persona']}"
    ]
    assert len(by_gid(fig, "moments_of_truth")[0].get_xdata()) == len(
        sample_study.journey.moments_of_truth
    )
    files = pr.plot.save(fig, tmp_path / "curves")
    assert [f.suffix for f in files] == [".png", ".svg"] and all(
        f.stat().st_size > 10_000 for f in files
    )


def test_stage_labels_do_not_overlap_in_facets(sample_study):
    t = pr.curves.journey_curves(sample_study, qual=False, lang="en")
    fig = pr.plot.journey_curves(t, journey=sample_study, facet=True, lang="en")
    fig.draw_without_rendering()
    r = fig.canvas.get_renderer()
    from matplotlib.transforms import Bbox

    n_sec = 0
    for ax in fig.axes:
        for sec in ax.child_axes:
            n_sec += 1
            labels = [tl for tl in sec.get_xticklabels() if tl.get_text()]
            assert len(labels) == 6
            single = min(tl.get_window_extent(r).height for tl in labels)
            boxes = []
            for (
                tl
            ) in labels:  # the box of the glyphs: a staggered label's text is on its first line
                b = tl.get_window_extent(r)
                boxes.append(Bbox([[b.x0, b.y1 - single], [b.x1, b.y1]]))
            assert any(tl.get_text().endswith("\n") for tl in labels)  # narrow panels: staggered
            for i in range(len(boxes) - 1):
                assert not boxes_overlap(boxes[i], boxes[i + 1])
    assert n_sec == 2  # the top row of panels


def test_other_group_column():
    t = curves_table().rename(columns={"persona": "region"})
    t.attrs = {}
    fig = pr.plot.journey_curves(t, by="region")
    assert len(by_gid(fig, "curve:")) == 3
    with pytest.raises(AnalysisError, match="by='nope'"):
        pr.plot.journey_curves(t, by="nope")


def test_valence_curve():
    fig = pr.plot.valence_curve(curves_table())
    top, bottom = [ax for ax in fig.axes if not ax.get_gid()][:2]
    assert len(by_gid_ax(top, "curve:")) == 3 and len(by_gid_ax(top, "band:")) == 3
    pts = by_gid_ax(bottom, "valence:")
    assert len(pts) == 3
    c = [p for p in pts if p.get_gid() == "valence:c"][0]
    assert len(c.get_offsets()) == 4  # only touchpoints with excerpts
    assert c.get_offsets()[:, 1].min() == pytest.approx(-1.5)
    assert bottom.get_ylim() == pytest.approx((-2.2, 2.2))


def test_errors():
    t = curves_table()
    with pytest.raises(AnalysisError, match="lacks column"):
        pr.plot.journey_curves(t.drop(columns=["estimate", "order"]))
    with pytest.raises(StudyError, match="lang="):
        pr.plot.journey_curves(t, lang="de")
    with pytest.raises(AnalysisError, match="DataFrame"):
        pr.plot.journey_curves([1, 2])
    with pytest.raises(AnalysisError, match="groups"):
        pr.plot.journey_curves(t, groups=["zz"])
    with pytest.raises(AnalysisError, match="friction table lacks"):
        pr.plot.journey_curves(t, friction=pd.DataFrame({"touchpoint": ["t1"]}))
    with pytest.raises(AnalysisError, match="empty"):
        pr.plot.journey_curves(t.iloc[:0])


def test_save_png_and_svg_is_deterministic(tmp_path):
    a = pr.plot.save(pr.plot.journey_curves(curves_table()), tmp_path / "a.png")
    b = pr.plot.save(pr.plot.journey_curves(curves_table()), tmp_path / "sub" / "b")
    assert [p.name for p in a] == ["a.png", "a.svg"] and [p.name for p in b] == ["b.png", "b.svg"]
    assert a[1].read_bytes() == b[1].read_bytes()
    assert a[0].read_bytes() == b[0].read_bytes()


# ---------------------------------------------------------------------------------------------
# image comparisons
# ---------------------------------------------------------------------------------------------
def test_image_overlay(tmp_path):
    check_image(
        pr.plot.journey_curves(curves_table(), friction=friction_table()),
        "journey_curves_overlay",
        tmp_path,
    )


def test_image_facet(tmp_path):
    check_image(
        pr.plot.journey_curves(curves_table(), friction=friction_table(), facet=True, lang="en"),
        "journey_curves_facet",
        tmp_path,
    )


def test_image_comparison_detects_a_change(tmp_path):
    if UPDATE:
        pytest.skip("updating baselines")
    t = curves_table()
    t.loc[(t.persona == "a") & (t.order == 2), ["estimate", "ci_low", "ci_high"]] -= 0.6
    fig = pr.plot.journey_curves(t, friction=friction_table())
    actual = tmp_path / "changed.png"
    pr.plot.save(fig, actual.with_suffix(""), formats=("png",), dpi=60)
    assert (
        compare_images(str(BASELINE / "journey_curves_overlay.png"), str(actual), tol=1.0)
        is not None
    )


# ---------------------------------------------------------------------------------------------
# companion plots
# ---------------------------------------------------------------------------------------------
def funnel_table() -> pd.DataFrame:
    """Columns of pr.traces.funnel(..., by="persona")."""
    rows = []
    for p, keep in (("a", [1000, 800, 600]), ("b", [500, 350, 150])):
        for k, (step, c) in enumerate(zip(["home_view", "quote_done", "kyc_done"], keep), 1):
            entered = keep[k - 2] if k > 1 else 1000 if p == "a" else 500
            rows.append(
                {
                    "step": step,
                    "step_index": k,
                    "persona": p,
                    "optional": False,
                    "entered": entered,
                    "converted": c,
                    "rate_from_first": c / keep[0],
                    "rate_from_previous": c / entered,
                    "drop_off": entered - c,
                }
            )
    return pd.DataFrame(rows)


def test_funnel(sample_study):
    fig = pr.plot.funnel(funnel_table(), journey=sample_study)
    ax = fig.axes[0]
    bars = [
        p
        for p in ax.patches
        if isinstance(p, Rectangle) and (p.get_gid() or "").startswith("funnel:")
    ]
    assert len(bars) == 6
    heights = {(b.get_gid(), round(b.get_x(), 3)): b.get_height() for b in bars}
    b_heights = sorted(h for (g, _), h in heights.items() if g == "funnel:b")
    assert b_heights == pytest.approx([0.3, 0.7, 1.0])
    assert [t.get_text() for t in by_gid(fig, "funnel_label")][:3] == ["100 %", "80 %", "60 %"]
    # events that mark a touchpoint are named after it
    assert ax.get_xticklabels()[2].get_text() == "Vérification d'identité\n(kyc_done)"
    fig = pr.plot.funnel(funnel_table(), value="rate_from_previous", lang="en")
    assert [t.get_text() for t in by_gid(fig, "funnel_label")][3:] == ["100%", "70%", "43%"]
    with pytest.raises(AnalysisError, match="several rows per step"):
        pr.plot.funnel(pd.concat([funnel_table(), funnel_table()]))


def ipa_table() -> pd.DataFrame:
    """Columns of pr.satisfaction.importance_performance."""
    tp = ["t1", "t2", "t3", "t4"]
    imp = np.array([0.30, 0.25, 0.05, 0.04])
    perf = np.array([3.6, 4.2, 4.1, 3.5])
    ref = np.array([3.9, 3.9, 3.8, 3.8])
    q = ["fix first", "keep up", "possible overkill", "low priority"]
    return pd.DataFrame(
        {
            "touchpoint": tp,
            "importance": imp,
            "importance_low": imp - 0.03,
            "importance_high": imp + 0.03,
            "performance": perf,
            "performance_low": perf - 0.1,
            "performance_high": perf + 0.1,
            "target": ref,
            "reference": ref,
            "gap": perf - ref,
            "high_importance": imp >= imp.mean(),
            "below_target": perf < ref,
            "quadrant": q,
        }
    )


def test_importance_performance():
    fig = pr.plot.importance_performance(ipa_table(), lang="en")
    ax = fig.axes[0]
    pts = by_gid_ax(ax, "ipa_points")[0]
    np.testing.assert_allclose(pts.get_offsets()[:, 0], [-0.3, 0.3, 0.3, -0.3], atol=1e-12)
    np.testing.assert_allclose(pts.get_offsets()[:, 1], [0.30, 0.25, 0.05, 0.04])
    cut = [a for a in ax.lines if a.get_gid() == "importance_cut"][0]
    assert cut.get_ydata()[0] == pytest.approx(0.16)
    labels = [t for t in ax.texts if t.get_gid() == "point_label"]
    assert sorted(t.get_text() for t in labels) == ["t1", "t2", "t3", "t4"]
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in labels]
    assert not any(boxes_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["Fix first", "Keep up", "Possible overkill", "Low priority"]


def test_importance_performance_labels_never_overlap_in_a_crowd():
    rng = np.random.default_rng(0)
    n = 16
    t = pd.DataFrame(
        {
            "touchpoint": [f"point de contact {i}" for i in range(n)],
            "importance": np.r_[0.2, 0.18, rng.uniform(0.015, 0.04, n - 2)],
            "performance": 3.9 + rng.normal(0, 0.06, n),
            "reference": 3.8,
        }
    )
    fig = pr.plot.importance_performance(t)
    fig.canvas.draw()
    labels = [x for x in fig.axes[0].texts if x.get_gid() == "point_label"]
    boxes = [matplotlib.text.Text.get_window_extent(x) for x in labels]
    assert len(boxes) == n
    assert not any(boxes_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def transitions_table() -> pd.DataFrame:
    """Columns of pr.traces.transitions(..., node="touchpoint")."""
    return pd.DataFrame(
        {
            "source": ["signup", "welcome_email", "id_verification", "app_usage", "signup"],
            "target": [
                "welcome_email",
                "id_verification",
                "app_onboarding",
                "app_usage",
                "id_verification",
            ],
            "n": [500, 400, 120, 90, 60],
            "share": [0.9, 1, 1, 1, 0.1],
        }
    )


def test_transitions(sample_study):
    fig = pr.plot.transitions(transitions_table(), journey=sample_study, lang="en")
    ax = fig.axes[0]
    arcs = [a for a in ax.lines if (a.get_gid() or "").startswith("arc:")]
    assert sorted(a.get_gid() for a in arcs) == sorted(
        [
            "arc:signup->welcome_email",
            "arc:welcome_email->id_verification",
            "arc:id_verification->app_onboarding",
            "arc:signup->id_verification",
        ]
    )  # no self-loop
    heads = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(heads) == 4
    widths = {a.get_gid(): a.get_linewidth() for a in arcs}
    assert widths["arc:signup->welcome_email"] > widths["arc:signup->id_verification"]
    # nodes in journey order: app_onboarding comes before id_verification
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["Online sign-up", "Welcome e-mail", "App onboarding", "Identity check"]
    back = [a for a in arcs if a.get_gid() == "arc:id_verification->app_onboarding"][0]
    assert back.get_color() == pr.plot.OKABE_ITO["vermillion"]
    assert [t.get_text() for t in ax.texts if t.get_gid() == "arc_label"][:2] == ["500", "400"]
    fig = pr.plot.transitions(transitions_table(), top=2)
    assert len([a for a in fig.axes[0].lines if (a.get_gid() or "").startswith("arc:")]) == 2
    with pytest.raises(AnalysisError, match="lacks column"):
        pr.plot.transitions(transitions_table().drop(columns="n").rename(columns={"share": "x"}))


def test_style_is_scoped():
    before = matplotlib.rcParams["font.size"], matplotlib.rcParams["axes.spines.top"]
    with pr.plot.style():
        assert matplotlib.rcParams["font.family"] == ["DejaVu Sans"]
    assert (matplotlib.rcParams["font.size"], matplotlib.rcParams["axes.spines.top"]) == before
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no missing-glyph warning for the texts used
        fig = pr.plot.journey_curves(curves_table(), friction=friction_table())
        fig.canvas.draw()


def test_a_persona_keeps_its_colour_whichever_personas_are_shown(sample_study):
    """The colour follows the persona's place in study.yml, not its place among those drawn."""
    import matplotlib.colors as mcolors

    from parcours_research.plot._style import GROUP_COLORS, group_colors

    j = sample_study.journey
    everyone = group_colors(j.persona_ids, j)
    assert group_colors(["senior"], j)["senior"] == everyone["senior"]
    assert group_colors(["senior", "connecte"], j) == {p: everyone[p] for p in ("senior", "connecte")}
    assert everyone["senior"] == GROUP_COLORS[j.persona_ids.index("senior")]
    # and in drawn figures: the senior line of a one-persona curve has the senior colour of the four
    curves = pr.curves.journey_curves(sample_study, n_boot=0, band="pointwise")
    fig = pr.plot.journey_curves(curves[curves["persona"] == "senior"], journey=j, facet=False)
    drawn = {mcolors.to_hex(line.get_color()) for ax in fig.axes for line in ax.get_lines()}
    assert mcolors.to_hex(everyone["senior"]) in drawn
