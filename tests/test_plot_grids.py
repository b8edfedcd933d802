"""The seaborn figures: they draw the analyses' numbers as they are (checked by reading the
drawn artists back), in the kit's persona colours; ``answer_shares`` against a count by hand."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import parcours_research as pr  # noqa: E402
from parcours_research.errors import AnalysisError  # noqa: E402
from parcours_research.plot._style import group_colors  # noqa: E402


@pytest.fixture(scope="module")
def evidence(sample_study):
    return pr.prepare(sample_study)


def test_answer_shares_against_a_count_by_hand():
    d = pd.DataFrame({"touchpoint": ["a"] * 5 + ["b"] * 2, "persona": ["x"] * 7,
                      "score": [1, 1, 2, 5, np.nan, 3, 3], "weight": [1.0, 3.0, 2.0, 2.0, 9.0, 1.0, 5.0]})
    t = pr.satisfaction.answer_shares(d).set_index(["touchpoint", "score"])
    # a: weights 1+3 on "1", 2 on "2", 2 on "5" (the missing score is left out): total 8
    assert t.loc[("a", 1.0), "share"] == pytest.approx(4 / 8)
    assert t.loc[("a", 2.0), "share"] == pytest.approx(2 / 8)
    assert t.loc[("a", 5.0), "n"] == 1
    assert t.loc[("b", 3.0), "share"] == pytest.approx(1.0)
    unweighted = pr.satisfaction.answer_shares(d, weight=None).set_index(["touchpoint", "score"])
    assert unweighted.loc[("a", 1.0), "share"] == pytest.approx(2 / 4)
    with pytest.raises(AnalysisError, match="lacks column"):
        pr.satisfaction.answer_shares(d.drop(columns="weight"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from("xy"), st.integers(1, 5),
                          st.floats(0.1, 10)), min_size=1, max_size=40))
def test_answer_shares_add_up_to_one_per_group(rows):
    d = pd.DataFrame(rows, columns=["touchpoint", "persona", "score", "weight"])
    t = pr.satisfaction.answer_shares(d)
    assert np.allclose(t.groupby(["touchpoint", "persona"])["share"].sum(), 1.0)
    assert t["n"].sum() == len(d)


def test_gap_heatmap_draws_the_curve_gaps(sample_study):
    curves = pr.curves.journey_curves(sample_study, n_boot=0, band="pointwise")
    fig = pr.plot.gap_heatmap(curves, journey=sample_study)
    mesh = fig.axes[0].collections[0]
    j = sample_study.journey
    tps = curves.sort_values("order")["touchpoint"].drop_duplicates().tolist()
    expected = curves.pivot_table(index="persona", columns="touchpoint", values="gap").reindex(
        index=j.persona_ids, columns=tps)
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(expected.shape), expected.to_numpy())
    outlined = [p for p in fig.axes[0].patches if isinstance(p, plt.Rectangle) and not p.get_fill()]
    assert len(outlined) == int(curves["below_target"].sum())
    # centred on no gap: limits symmetric about 0, a gap of 0 drawn in RdBu's middle colour
    # (matplotlib's colormap read directly) and the largest absolute gap at an end
    lim = float(np.nanmax(np.abs(expected.to_numpy())))
    assert (mesh.norm.vmin, mesh.norm.vmax) == pytest.approx((-lim, lim))
    np.testing.assert_allclose(mesh.cmap(mesh.norm(0.0)), matplotlib.colormaps["RdBu"](0.5))
    plt.close(fig)


def test_gap_heatmap_raises_no_deprecation(sample_study):
    """seaborn's ``center=`` recolours through matplotlib's deprecated ``Colormap.set_bad``;
    the figure does without it."""
    import warnings

    curves = pr.curves.journey_curves(sample_study, n_boot=0, band="pointwise")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PendingDeprecationWarning)
        warnings.simplefilter("error", DeprecationWarning)
        plt.close(pr.plot.gap_heatmap(curves, journey=sample_study))


def test_transition_matrix_draws_the_shares(sample_study, evidence):
    t = pr.traces.transitions(evidence.traces.log, node="touchpoint")
    fig = pr.plot.transition_matrix(t, journey=sample_study, lang="en")
    values = np.asarray(fig.axes[0].collections[0].get_array())
    assert np.nansum(values) == pytest.approx(t["share"].sum())
    assert fig.axes[0].get_xlabel() == "To"
    plt.close(fig)


def test_rating_distributions_draw_the_shares_in_persona_colours(sample_study, evidence):
    shares = pr.satisfaction.answer_shares(evidence.ratings)
    fig = pr.plot.rating_distributions(shares, journey=sample_study, touchpoints=["id_verification"])
    bars = [p for p in fig.axes[0].patches if p.get_height() > 0]
    heights = sorted(round(b.get_height(), 12) for b in bars)
    expected = sorted(round(v, 12) for v in shares.query("touchpoint == 'id_verification'")["share"])
    assert heights == expected
    colors = group_colors(sample_study.journey.persona_ids, sample_study.journey)
    drawn = {mcolors.to_hex(b.get_facecolor()) for b in bars}
    assert drawn == {mcolors.to_hex(c) for c in colors.values()}
    plt.close(fig)


def test_a_table_from_elsewhere_is_refused_clearly():
    with pytest.raises(AnalysisError, match="journey_curves"):
        pr.plot.gap_heatmap(pd.DataFrame({"x": [1]}))
