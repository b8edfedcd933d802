"""A friction marker on a journey curve says what the curve plots (issue 14, item 5).

The label of a friction marker is read back from the figure (artists with gid
``friction_label:<group>``) and compared with numbers computed here from the curve table
itself: the point's gap to its target ``estimate - target`` and its interval ``ci_low - target``,
``ci_high - target``, on the curve's own scale (rating points, or percentage points for a
share). The friction table's effect sizes (a share of low ratings, a conversion gap) are on
other scales and must never reach the label.
"""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import parcours_research as pr  # noqa: E402
from parcours_research.errors import AnalysisError  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def curves(metric: str | None = None) -> pd.DataFrame:
    """A hand-made curve table: 2 personas x 4 touchpoints; persona "b" sits 1.35 below the
    target at t3 (interval estimate -+ 0.25), and 0.30 above it at t2."""
    est = {"a": [4.0, 4.1, 3.9, 4.0], "b": [3.9, 4.3, 2.45, 3.8]}
    target = [3.8, 4.0, 3.8, 3.9]
    rows = []
    for g, values in est.items():
        for k, (e, t) in enumerate(zip(values, target), 1):
            rows.append(
                {
                    "persona": g,
                    "stage": "s1" if k <= 2 else "s2",
                    "touchpoint": f"t{k}",
                    "label": f"T{k}",
                    "order": k,
                    "target": t,
                    "estimate": e,
                    "ci_low": e - 0.25,
                    "ci_high": e + 0.25,
                    "below_target": e + 0.25 < t,
                }
            )
    out = pd.DataFrame(rows)
    if metric is not None:  # a curve of shares (0 to 1)
        out[["target", "estimate", "ci_low", "ci_high"]] /= 5
        out["metric"] = metric
    return out


def friction(touchpoint="t3", persona="b", effect=0.47) -> pd.DataFrame:
    """A friction test row whose effect (a share of ratings <= 2) is NOT the curve's gap."""
    return pd.DataFrame(
        {
            "touchpoint": [touchpoint],
            "persona": [persona],
            "source": ["survey"],
            "test": ["low_share"],
            "effect_size": [effect],
            "effect_measure": ["difference in the share of ratings <= 2"],
            "p_adj": [1e-5],
            "significant": [True],
        }
    )


def label_texts(fig) -> dict[str, str]:
    return {
        t.get_gid().split(":", 1)[1]: t.get_text()
        for ax in fig.axes
        for t in ax.texts
        if (t.get_gid() or "").startswith("friction_label:")
    }


_NUMBER = re.compile(r"[−+]?\d+(?:[.,]\d+)?")


def numbers(label: str, lang: str) -> list[float]:
    """The numbers written in a label, read back as floats (− and, in French, the comma)."""
    found = _NUMBER.findall(label)
    if lang == "fr":
        assert not any("." in f for f in found), label
    return [float(f.replace("−", "-").replace(",", ".")) for f in found]


def expected_gap(table, persona, touchpoint, factor=1.0):
    row = table[(table.persona == persona) & (table.touchpoint == touchpoint)].iloc[0]
    return tuple(factor * (row[c] - row["target"]) for c in ("estimate", "ci_low", "ci_high"))


# ---------------------------------------------------------------------------------------------
# hand-made table
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "lang, text",
    [
        ("fr", "−1,35 pt vs cible\n[−1,60 ; −1,10]"),
        ("en", "−1.35 pt vs target\n[−1.60, −1.10]"),
    ],
)
@pytest.mark.parametrize("facet", [False, True])
def test_label_states_the_signed_gap_to_target_with_its_interval(lang, text, facet):
    t = curves()
    fig = pr.plot.journey_curves(t, friction=friction(), lang=lang, facet=facet)
    labels = label_texts(fig)
    assert list(labels) == ["b"]
    assert labels["b"] == text
    gap, low, high = expected_gap(t, "b", "t3")  # 2.45 - 3.8, (2.20, 2.70) - 3.8
    assert numbers(labels["b"], lang) == pytest.approx([gap, low, high], abs=0.005)
    assert gap < 0  # the point sits below its target: the label says so with its sign
    assert "0,47" not in labels["b"] and "0.47" not in labels["b"]  # not the test's effect


def test_label_above_target_is_signed_plus():
    t = curves()
    fig = pr.plot.journey_curves(t, friction=friction("t2"), lang="en")
    gap, low, high = expected_gap(t, "b", "t2")  # 4.3 - 4.0, (4.05, 4.55) - 4.0
    assert label_texts(fig)["b"] == "+0.30 pt vs target\n[+0.05, +0.55]"
    assert numbers(label_texts(fig)["b"], "en") == pytest.approx([gap, low, high], abs=0.005)


def test_label_of_a_share_curve_is_in_percentage_points():
    t = curves(metric="top2")  # b at t3: 0.49 against a target of 0.76
    fig = pr.plot.journey_curves(t, friction=friction(), lang="fr")
    gap, low, high = expected_gap(t, "b", "t3", factor=100)
    assert label_texts(fig)["b"] == "−27 pp vs cible\n[−32 ; −22]"
    assert numbers(label_texts(fig)["b"], "fr") == pytest.approx([gap, low, high], abs=0.5)


def test_label_without_target_states_the_estimate_and_says_so():
    t = curves()
    t.loc[t.touchpoint == "t3", "target"] = np.nan
    fig = pr.plot.journey_curves(t, friction=friction(), lang="fr")
    assert label_texts(fig)["b"] == "2,45 (sans cible)\n[2,20 ; 2,70]"
    fig = pr.plot.journey_curves(t, friction=friction(), lang="en")
    assert label_texts(fig)["b"] == "2.45 (no target)\n[2.20, 2.70]"


def test_label_without_interval_states_the_gap_only():
    t = curves()
    t.loc[(t.persona == "b") & (t.touchpoint == "t3"), ["ci_low", "ci_high"]] = np.nan
    fig = pr.plot.journey_curves(t, friction=friction(), lang="en")
    assert label_texts(fig)["b"] == "−1.35 pt vs target"


def test_label_ignores_every_friction_effect_column():
    """Triangulation rows carry survey/traces/qual effects on three scales: none is drawn."""
    tri = pd.DataFrame(
        {
            "touchpoint": ["t3"],
            "persona": ["b"],
            "survey_effect": [0.47],
            "traces_effect": [-0.32],
            "qual_effect": [0.85],
            "confirmed": [True],
        }
    )
    t = curves()
    fig = pr.plot.journey_curves(t, friction=tri, lang="en")
    gap, low, high = expected_gap(t, "b", "t3")
    assert numbers(label_texts(fig)["b"], "en") == pytest.approx([gap, low, high], abs=0.005)
    # a friction table without any effect column marks the point just the same
    fig = pr.plot.journey_curves(t, friction=tri[["touchpoint", "persona", "confirmed"]])
    assert label_texts(fig)["b"] == "−1,35 pt vs cible\n[−1,60 ; −1,10]"


def test_stage_level_label_names_the_friction_touchpoint():
    t = curves()
    stage = (
        t.groupby(["persona", "stage"], as_index=False)[["target", "estimate", "ci_low", "ci_high"]]
        .mean()
        .assign(
            touchpoint=np.nan, order=lambda d: d.stage.str[1].astype(int), label=lambda d: d.stage
        )
    )
    fr = friction().assign(stage="s2")
    fig = pr.plot.journey_curves(stage, friction=fr, lang="en")
    # the stage's gap (its own point: mean of t3, t4), then which touchpoint was flagged
    row = stage[(stage.persona == "b") & (stage.stage == "s2")].iloc[0]
    gap = row.estimate - row.target  # (2.45 + 3.8) / 2 - (3.8 + 3.9) / 2
    lines = label_texts(fig)["b"].split("\n")
    assert lines[0] == f"{gap:+.2f} pt vs target".replace("-", "−")
    assert lines[-1] == "friction: t3"


def test_friction_format_and_the_deprecated_effect_format():
    t = curves()
    fig = pr.plot.journey_curves(
        t, friction=friction(), friction_format="{gap:+.2f} {unit} ({estimate:.2f}/{target:.1f})"
    )
    assert label_texts(fig)["b"] == "−1,35 pt (2,45/3,8)"
    with pytest.warns(FutureWarning, match="effect_format= is deprecated; use friction_format="):
        fig = pr.plot.journey_curves(
            t, friction=friction(), effect_format="{effect:.2f}", lang="en"
        )
    assert label_texts(fig)["b"] == "−1.35"  # {effect} is the gap now, not 0.47
    with pytest.raises(AnalysisError, match="unknown field"):
        pr.plot.journey_curves(t, friction=friction(), friction_format="{effect_size:.2f}")
    with pytest.raises(AnalysisError, match="malformed"):
        pr.plot.journey_curves(t, friction=friction(), friction_format="{gap")


def test_label_stays_inside_its_panel():
    """A facet panel is narrow: the label goes on the side where it fits."""
    t = curves()
    fr = pd.concat([friction("t1", "a"), friction("t4", "b")])
    fig = pr.plot.journey_curves(t, friction=fr, facet=True, lang="fr", figsize=(9, 4))
    fig.draw_without_rendering()
    r = fig.canvas.get_renderer()
    n = 0
    for ax in fig.axes:
        box = ax.get_window_extent(r)
        for a in ax.texts:
            if (a.get_gid() or "").startswith("friction_label:"):
                n += 1
                tb = Text.get_window_extent(a, r)
                assert box.x0 <= tb.x0 and tb.x1 <= box.x1, a.get_text()
    assert n == 2


# ---------------------------------------------------------------------------------------------
# the bundled sample: senior x id_verification, planted 1.5 points below the others
# ---------------------------------------------------------------------------------------------
def test_sample_senior_id_verification_label(sample_study):
    truth = sample_study.truth["friction_details"]
    persona, tp = truth["persona"], truth["touchpoint"]
    assert (persona, tp) == ("senior", "id_verification")
    table = pr.curves.journey_curves(sample_study, qual=False)
    tri = pr.friction.triangulate(sample_study)
    fig = pr.plot.journey_curves(table, journey=sample_study, friction=tri, facet=True)
    label = label_texts(fig)[persona]
    gap, low, high = expected_gap(table, persona, tp)
    # truth.json: a -1.5 shift for seniors against targets set 0.10 below the population mean
    assert -1.6 <= gap <= -1.0
    assert label.startswith("−1,") and "pt vs cible" in label
    assert numbers(label, "fr") == pytest.approx([gap, low, high], abs=0.005)
    assert numbers(label, "fr")[0] == pytest.approx(round(gap, 2))
