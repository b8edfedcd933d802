"""Krippendorff's alpha, checked against a published example and the `krippendorff` package.

Published reference: K. Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability",
University of Pennsylvania, section C ("nominal data, any number of observers, missing
data"): four observers, twelve units, alpha_nominal = 0.743. The same data give ordinal,
interval and ratio alphas of 0.815, 0.849 and 0.797 in the `krippendorff` package (Castro,
used only in these tests).
"""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from parcours_research.errors import AnalysisError, ParcoursWarning, StudyError
from parcours_research.qual import Agreement, agreement, krippendorff_alpha
from parcours_research.qual.agreement import code_presence, coincidence_matrix

nan = np.nan
K2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)


def test_published_nominal_value():
    assert round(krippendorff_alpha(K2011, scale_level="nominal"), 3) == 0.743


def test_coincidence_matrix_of_the_published_example():
    # Krippendorff (2011), section C: the coincidence matrix has n = 40 pairable values and
    # marginals n_1..n_5 = 9, 13, 10, 5, 3 (unit 12 has a single value and is left out)
    o = coincidence_matrix(K2011)
    assert o.to_numpy().sum() == pytest.approx(40)
    assert o.sum(axis=1).to_numpy() == pytest.approx([9, 13, 10, 5, 3])
    assert o.loc[1.0, 1.0] == pytest.approx(7) and o.loc[1.0, 2.0] == pytest.approx(4 / 3)
    assert np.allclose(o.to_numpy(), o.to_numpy().T)


@pytest.mark.parametrize(
    "scale_level, expected",
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_all_levels_on_the_published_example(scale_level, expected):
    ours = krippendorff_alpha(K2011, scale_level=scale_level)
    ref = krippendorff.alpha(reliability_data=K2011, level_of_measurement=scale_level)
    assert ours == pytest.approx(ref, abs=1e-12)
    assert round(ours, 3) == expected


@settings(max_examples=150, deadline=None)
@given(
    data=arrays(
        np.float64,
        st.tuples(st.integers(2, 5), st.integers(2, 15)),
        elements=st.sampled_from([nan, 1.0, 2.0, 3.0, 4.0, 5.0]),
    ),
    scale_level=st.sampled_from(["nominal", "ordinal", "interval", "ratio"]),
)
def test_matches_krippendorff_package(data, scale_level):
    m = (~np.isnan(data)).sum(axis=0)
    values = np.unique(data[:, m >= 2][~np.isnan(data[:, m >= 2])])
    if (m >= 2).sum() == 0 or len(values) < 2:
        return  # alpha undefined; covered below
    ours = krippendorff_alpha(data, scale_level=scale_level)
    ref = krippendorff.alpha(reliability_data=data, level_of_measurement=scale_level)
    assert ours == pytest.approx(ref, abs=1e-9)


def test_undefined_cases_warn():
    with pytest.warns(ParcoursWarning, match="no expected disagreement"):
        assert np.isnan(krippendorff_alpha([[1, 1, 1], [1, 1, 1]]))
    with pytest.warns(ParcoursWarning, match="no unit was coded by two coders"):
        assert np.isnan(krippendorff_alpha([[1, nan], [nan, 2]]))
    with pytest.raises(StudyError, match="scale_level="):
        krippendorff_alpha(K2011, scale_level="cardinal")


def _long(matrix, coders=("A", "B", "C", "D")) -> pd.DataFrame:
    rows = []
    for i, c in enumerate(coders):
        for u in range(matrix.shape[1]):
            if not np.isnan(matrix[i, u]):
                rows.append({"excerpt_id": f"u{u:02d}", "coder": c, "valence": matrix[i, u]})
    return pd.DataFrame(rows)


def test_long_format_agreement():
    res = agreement(_long(K2011), value="valence", scale_level="nominal")
    assert isinstance(res, Agreement)
    assert res.alpha == pytest.approx(krippendorff_alpha(K2011, scale_level="nominal"))
    s = res.summary.iloc[0]
    assert (s["n_units"], s["n_units_single"], s["n_coders"], s["n_pairable"]) == (11, 1, 4, 40)
    assert (
        repr(res) == "Agreement(value='valence', scale_level='nominal', alpha=0.743, units=11, "
        "coders=4)"
    )
    assert "Krippendorff" in res._repr_html_() and "0x" not in repr(res)


def test_nominal_strings_and_groups():
    d = _long(K2011)
    d["label"] = d["valence"].map({1: "un", 2: "deux", 3: "trois", 4: "quatre", 5: "cinq"})
    d["touchpoint"] = np.where(d["excerpt_id"] < "u06", "a", "b")
    res = agreement(d, value="label", by="touchpoint")
    assert res.summary["touchpoint"].tolist() == ["a", "b"]
    for tp, cols in (("a", slice(0, 6)), ("b", slice(6, 12))):
        ref = krippendorff.alpha(reliability_data=K2011[:, cols], level_of_measurement="nominal")
        assert res.summary.set_index("touchpoint").loc[tp, "alpha"] == pytest.approx(ref)
    with pytest.raises(AnalysisError, match="per group"):
        _ = res.alpha


def test_ordered_categorical():
    d = _long(K2011)
    d["v"] = pd.Categorical(
        d["valence"].astype(int).astype(str), categories=list("12345"), ordered=True
    )
    assert agreement(d, value="v", scale_level="ordinal").alpha == pytest.approx(
        krippendorff_alpha(K2011, scale_level="ordinal")
    )
    d["w"] = d["v"].cat.as_unordered()
    with pytest.raises(AnalysisError, match="ordered Categorical"):
        agreement(d, value="w", scale_level="ordinal")


def test_conflicts_and_duplicates():
    d = pd.DataFrame(
        {
            "excerpt_id": ["e1", "e1", "e1", "e2", "e2"],
            "coder": ["A", "A", "B", "A", "B"],
            "valence": [1, 1, 1, 2, 1],
        }
    )
    res = agreement(d, scale_level="interval")  # identical repeat of (e1, A) collapses
    assert res.summary["n_pairable"].iloc[0] == 4
    d.loc[1, "valence"] = -1
    with pytest.raises(
        AnalysisError, match="coder 'A' gave several values of 'valence' to unit 'e1'"
    ):
        agreement(d)
    with pytest.raises(AnalysisError, match="numeric"):
        agreement(d.assign(valence=["x"] * 5), scale_level="interval")
    with pytest.raises(AnalysisError, match="not in the data"):
        agreement(d, value="code")


def test_code_presence():
    d = pd.DataFrame(
        {
            "excerpt_id": ["e1", "e1", "e1", "e2", "e2", "e3"],
            "coder": ["A", "A", "B", "A", "B", "A"],
            "code": ["wait", "price", "wait", "price", "wait", "wait"],
        }
    )
    p = code_presence(d)
    assert set(p["excerpt_id"]) == {"e1", "e2"}  # e3 has one coder
    got = {(r.excerpt_id, r.coder, r.code): r.present for r in p.itertuples()}
    assert (
        got[("e1", "B", "price")] == 0
        and got[("e1", "A", "price")] == 1
        and got[("e2", "B", "wait")] == 1
    )
    res = agreement(p, value="present", by="code")
    # reference: 2 coders x 2 units binary matrices, by code
    wait = np.array([[1, 0], [1, 1]], float)
    price = np.array([[1, 1], [0, 0]], float)
    s = res.summary.set_index("code")
    assert s.loc["wait", "alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=wait, level_of_measurement="nominal")
    )
    assert s.loc["price", "alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=price, level_of_measurement="nominal")
    )
