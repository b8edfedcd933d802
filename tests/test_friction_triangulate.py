"""Triangulation of the three sources, the planted friction point, and satisfaction by path."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import parcours_research as pr
from parcours_research.errors import AnalysisError, StudyError


@pytest.fixture(scope="module")
def tri(sample_study):
    return pr.friction.triangulate(sample_study)


def test_the_planted_friction_is_confirmed_for_the_right_persona_only(tri, sample_study):
    truth = {(f["touchpoint"], f["persona"]) for f in sample_study.truth["friction"]}
    confirmed = set(zip(tri.confirmed["touchpoint"], tri.confirmed["persona"]))
    assert confirmed == truth == {("id_verification", "senior")}
    row = tri.confirmed.iloc[0]
    assert row["traces_evidence"] == "friction" and row["survey_evidence"] == "friction"
    assert row["agree"] and row["n_contradict"] == 0
    assert row["traces_effect"] < -0.25  # completion about 0.6 against 0.9


def test_the_no_effect_touchpoint_is_not_flagged(tri, sample_study):
    for tp in sample_study.truth["no_effect_touchpoints"]:
        rows = tri.summary[tri.summary["touchpoint"] == tp]
        assert len(rows) == 4 and not rows["confirmed"].any()
        # no trace step, no interview friction, and on target in the survey for every persona
        assert rows["traces_evidence"].isna().all()
        assert (rows["qual_evidence"] != "friction").all()
        t = tri.tests
        on_target = t[(t["touchpoint"] == tp) & (t["test"] == "vs_target")]
        assert not on_target["significant"].any()


def test_summary_columns(tri):
    s = tri.summary
    assert len(s) == 16 * 4
    for src in ("traces", "survey", "qual"):
        for k in (
            "evidence",
            "test",
            "p_adj",
            "effect",
            "ci_low",
            "ci_high",
            "std_effect",
            "direction",
            "n",
            "mde",
        ):
            assert f"{src}_{k}" in s.columns
    for c in ("n_sources", "n_friction", "n_contradict", "agree", "confirmed", "quotes"):
        assert c in s.columns
    assert s["confirmed"].dtype == bool
    assert set(tri.tests["family"]) == {"traces", "survey", "qual"}


def test_quotes_are_scrubbed_and_pseudonymised(tri):
    q = tri.quotes[
        (tri.quotes["touchpoint"] == "id_verification") & (tri.quotes["persona"] == "senior")
    ]
    assert 1 <= len(q) <= 3
    assert (q["valence"] < 0).all()
    assert q["participant"].str.startswith("P-").all()
    text = " ".join(tri.quotes["text"])
    assert not re.search(r"[\w.]+@[\w.]+", text) and not re.search(r"0\d( ?\d\d){4}", text)
    assert isinstance(tri.confirmed["quotes"].iloc[0], str)


def test_repr_and_html(tri):
    r = repr(tri)
    assert "id_verification / senior" in r and "0x" not in r
    assert "<table" in tri._repr_html_()


def _tables():
    """Hand-made test tables for two cells: (t1, a) with friction in traces and survey;
    (t2, a) with friction in survey only and qual contradicting."""
    rows = []
    for src, tp, p, sig, direction in [
        ("traces", "t1", "a", True, "worse"),
        ("survey", "t1", "a", True, "worse"),
        ("qual", "t1", "a", False, "worse"),
        ("traces", "t2", "a", False, "worse"),
        ("survey", "t2", "a", True, "worse"),
        ("qual", "t2", "a", True, "better"),
        ("traces", "t3", "a", False, "worse"),
        ("survey", "t3", "a", True, "worse"),
        ("qual", "t3", "a", False, "worse"),
    ]:
        rows.append(
            {
                "touchpoint": tp,
                "persona": p,
                "source": src,
                "test": "x",
                "statistic": 1.0,
                "p_value": 1e-6 if sig else 0.4,
                "p_adj": np.nan,
                "family": src,
                "effect_size": (-0.2 if direction == "worse" else 0.2)
                * (1 if src != "qual" else -1),
                "ci_low": -0.3,
                "ci_high": -0.1,
                "n": 100,
                "significant": sig,
                "direction": direction,
                "std_effect": -0.3,
                "mde": 0.1,
            }
        )
    t = pd.DataFrame(rows)
    return {s: t[t["source"] == s] for s in ("traces", "survey", "qual")}


def test_rules():
    tr = pr.friction.triangulate(tables=_tables(), n_quotes=0)
    s = tr.summary.set_index("touchpoint")
    assert (
        s.loc["t1", "confirmed"] and not s.loc["t2", "confirmed"] and not s.loc["t3", "confirmed"]
    )
    assert s.loc["t2", "qual_evidence"] == "contradicts" and not s.loc["t2", "agree"]
    one = pr.friction.triangulate(
        tables=_tables(), rule="one_source_uncontradicted", n_quotes=0
    ).summary
    one = one.set_index("touchpoint")
    # t3: survey friction, traces and qual point the same way though not significantly
    assert (
        one.loc["t1", "confirmed"] and one.loc["t3", "confirmed"] and not one.loc["t2", "confirmed"]
    )
    three = pr.friction.triangulate(tables=_tables(), min_sources=3, n_quotes=0).summary
    assert not three["confirmed"].any()
    custom = pr.friction.triangulate(
        tables=_tables(), rule=lambda r: r["survey_evidence"] == "friction", n_quotes=0
    ).summary
    assert custom["confirmed"].sum() == 3
    assert "custom rule" in repr(
        pr.friction.triangulate(tables=_tables(), rule=lambda r: False, n_quotes=0)
    )


def test_triangulate_argument_checks():
    with pytest.raises(StudyError, match="rule"):
        pr.friction.triangulate(tables=_tables(), rule="majority")
    with pytest.raises(AnalysisError, match="study or tables"):
        pr.friction.triangulate()
    with pytest.raises(AnalysisError, match="lacks columns"):
        pr.friction.triangulate(tables={"survey": pd.DataFrame({"touchpoint": ["x"]})})


def test_test_dispatches(sample_study):
    qual = pr.friction.test(sample_study, source="qual")
    assert set(qual["source"]) == {"qual"}
    with pytest.raises(StudyError, match="source"):
        pr.friction.test(sample_study, source="crm")
    with pytest.raises(AnalysisError, match="loaded study"):
        pr.friction.test(pd.DataFrame(), source="all")


# ---------------------------------------------------------------------------- paths
def test_satisfaction_by_path_matches_a_closed_form():
    rng = np.random.default_rng(11)
    n = 400
    resp = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "overall_sat": rng.integers(1, 6, n).astype(float),
            "nps": rng.integers(0, 11, n).astype(float),
        }
    )
    took = rng.random(n) < 0.3
    resp.loc[took, "nps"] = np.clip(resp.loc[took, "nps"] - 4, 0, 10)
    paths = pd.DataFrame(
        {
            "customer_id": resp["customer_id"],
            "kind": "variant",
            "value": np.where(took, "a > b > stop", "a > b > c"),
        }
    )
    paths = pd.concat(
        [
            paths,
            pd.DataFrame(
                {
                    "customer_id": resp.loc[took, "customer_id"],
                    "kind": "transition",
                    "value": "b → stop",
                    "touchpoint": "stop",
                }
            ),
        ]
    )
    out = pr.friction.test_paths(resp, paths, weight=None)
    r = out[(out["group"] == "a > b > stop") & (out["test"] == "variant:nps")].iloc[0]
    points = np.where(resp["nps"] >= 9, 100.0, np.where(resp["nps"] <= 6, -100.0, 0.0))
    g1, g2 = points[took], points[~took]
    assert r["estimate"] == pytest.approx(g1.mean()) and r["reference"] == pytest.approx(g2.mean())
    # unweighted, each respondent a PSU: se^2 = n/(n-1) sum over domains of sum (y - ybar_d)^2 / n_d^2
    se = np.sqrt(
        n
        / (n - 1)
        * (
            ((g1 - g1.mean()) ** 2).sum() / len(g1) ** 2
            + ((g2 - g2.mean()) ** 2).sum() / len(g2) ** 2
        )
    )
    assert r["effect_size"] / r["statistic"] == pytest.approx(se, rel=1e-9)
    assert r["p_value"] == pytest.approx(2 * stats.t.sf(abs(r["statistic"]), n - 1))
    assert r["significant"] and r["direction"] == "worse"
    tr = out[out["test"] == "transition:nps"].iloc[0]
    assert tr["touchpoint"] == "stop" and tr["effect_size"] == pytest.approx(r["effect_size"])
    assert set(out["family"]) == {
        "paths:variant:overall_sat",
        "paths:variant:nps",
        "paths:transition:overall_sat",
        "paths:transition:nps",
    }


def test_sample_satisfaction_by_path(sample_study):
    paths = pr.friction.customer_paths(sample_study)
    assert set(paths["kind"]) == {"variant", "transition"}
    assert paths.loc[paths["kind"] == "variant", "customer_id"].is_unique
    out = pr.friction.test_paths(sample_study, paths, outcomes=["overall_sat", "nps", "ces"])
    # customers stuck at the identity check (mostly seniors) report more effort (lower CES)
    stuck = out[(out["test"] == "variant:ces") & out["group"].str.endswith("> id_verification")]
    assert len(stuck) >= 1 and (stuck["effect_size"] < 0).all() and stuck["significant"].any()


def test_repr_of_a_confirmed_cell_with_an_untested_source(sample_study):
    # a looser rule confirms cells that one source did not test (<NA> evidence): the repr
    # names the sources that found friction and skips the missing ones
    tri = pr.friction.triangulate(sample_study, rule="one_source_uncontradicted", include_overall=True)
    text = repr(tri)
    assert "friction in" in text
    untested = tri.confirmed[tri.confirmed[[f"{s}_evidence" for s in tri.sources]].isna().any(axis=1)]
    assert len(untested), "the case this test is about did not occur"
