"""The 0.4.2 array paths of conformance, contact counts and at_stake give exactly what the
grouped SQL and the pandas code of 0.4.1 gave.

Expected values: the 0.4.1 computations themselves, run in the same test. The grouped SQL
(``conformance._journeys_sql``, ``_contact_counts._study_totals``'s query) answers when the
array path is switched off; the string-based reduction of a path (``conformance._deviations``),
``conformance.lived_path`` and the pandas merge, sort and groupby of ``at_stake`` are written out
here as 0.4.1 had them. Every comparison is exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import parcours_research as pr
from parcours_research import _conformance_visits as cv
from parcours_research import _contact_counts as cc
from parcours_research import conformance as conf
from parcours_research import outcomes as oc


@pytest.fixture(scope="module")
def ev(sample_study):
    return pr.prepare(sample_study)


def test_journeys_from_the_arrays_equal_the_grouped_sql(ev, monkeypatch):
    assert cv.from_arrays(ev.traces.log) is not None  # the sample runs on the fast path
    got, visits = conf._lived(ev)
    monkeypatch.setattr(cv, "from_arrays", lambda log: None)
    ref, ref_visits = conf._lived(ev)
    pd.testing.assert_frame_equal(got, ref, check_exact=True)
    # the visits read from the arrays are those of the paths' text
    assert visits.names == ref_visits.names
    np.testing.assert_array_equal(visits.offsets, ref_visits.offsets)
    np.testing.assert_array_equal(visits.codes, ref_visits.codes)
    assert (got["n_visits"].to_numpy() == visits.lengths).all()


def test_reduced_journeys_give_the_deviations_of_each_path(ev):
    journeys, visits = conf._lived(ev)
    journey = ev.study.journey
    observable = {t.id for t in journey.touchpoints if t.events}
    designs = conf._designs(journeys, journey)
    codes, first, reduced = cv.reduced(visits, conf._design_keys(designs))
    cache: dict = {}
    paths = journeys["path"].to_numpy(dtype=object)
    for i in range(len(journeys)):
        if designs[i] is None:
            continue
        want = conf._deviations(paths[i], designs[i], observable, cache)  # 0.4.1's reduction
        got = conf.journey_deviations(reduced[codes[i]], designs[i], observable=observable)
        assert got == want
    assert len(first) == codes.max() + 1 and (codes[first] == np.arange(len(first))).all()


def test_shown_paths_equal_lived_path(ev):
    journeys, visits = conf._lived(ev)
    designs = conf._designs(journeys, ev.study.journey)
    kept = np.flatnonzero([d is not None for d in designs])
    shown = cv.shown_paths(visits.take(kept), designs[kept])
    paths = journeys["path"].to_numpy(dtype=object)[kept]
    want = [" > ".join(conf.lived_path(p.split(" > "), d)) for p, d in zip(paths, designs[kept])]
    assert list(shown) == want


def test_visits_take_and_from_paths():
    v = cv.from_paths(np.array(["a > b > a", "c", "b > c"], dtype=object))
    assert v.names == ["a", "b", "c"]
    assert v.codes.tolist() == [0, 1, 0, 2, 1, 2] and v.offsets.tolist() == [0, 3, 4, 6]
    t = v.take(np.array([2, 0]))
    assert t.codes.tolist() == [1, 2, 0, 1, 0] and t.offsets.tolist() == [0, 2, 5]
    codes, first, reduced = cv.reduced(v, np.zeros(3, dtype=np.int64))
    assert reduced == [["a", "b", "a"], ["c"], ["b", "c"]] and first.tolist() == [0, 1, 2]


def test_contact_totals_from_the_arrays_equal_the_grouped_sql(ev, monkeypatch):
    log = ev.traces.log
    assert cc._totals_from_arrays(log, {}, 0, 2**62) is not None
    got = cc._study_totals(ev, None)
    monkeypatch.setattr(cc, "_totals_from_arrays", lambda *a: None)
    ref = cc._study_totals(ev, None)
    pd.testing.assert_series_equal(got[0].sort_index(), ref[0].sort_index(), check_exact=True)
    assert got[1:] == ref[1:]


def test_contact_totals_read_the_span_only_without_a_period(ev, monkeypatch):
    """With the study's ``period:`` the first and last contacts are not read; the counts are
    those of bounds read from the log's span when the period is open-ended."""
    log = ev.traces.log
    contacts = cc._contacts_sql(log, with_channel=False)
    assert cc._span(log, contacts, ev.study, None, None).empty
    spans = cc._span(log, contacts, None, None, None)
    assert len(spans) == 2 and spans["t"].notna().all()
    got = cc._study_totals(ev, None, start=spans["t"].min(), end=spans["t"].max())
    monkeypatch.setattr(cc, "_totals_from_arrays", lambda *a: None)
    ref = cc._study_totals(ev, None, start=spans["t"].min(), end=spans["t"].max())
    pd.testing.assert_series_equal(got[0].sort_index(), ref[0].sort_index(), check_exact=True)


def _cell_041(frame, xcols, n_boot, rng, min_n, binary):
    """0.4.1's ``outcomes._cell``, as it was (a frame per cell)."""
    m = frame["met"].to_numpy(bool)
    y = frame["y"].to_numpy(float)
    row = {"n": len(frame), "n_met": int(m.sum()), "_boot": None,
           "met_share": float(m.mean()) if len(m) else np.nan,
           "outcome_met": float(y[m].mean()) if m.any() else np.nan,
           "outcome_others": float(y[~m].mean()) if (~m).any() else np.nan}
    if m.sum() < min_n or (~m).sum() < min_n:
        return {**row, "estimate": np.nan}
    x = frame[xcols].to_numpy(float) if xcols else np.empty((len(frame), 0))
    x = x[:, x.std(axis=0) > 0] if x.size else x
    row["estimate"] = oc.adjusted_difference(y, m, x)
    row["se"] = oc.null_se(y, m, x)
    row["_boot"] = oc._bootstrap(y, m, x, n_boot, rng, binary)
    return row


def _cells_041(data, n_boot, rng, min_n, binary):
    """0.4.1's per-persona cells: pandas groupby, one sub-frame per cell."""
    xcols = [c for c in data.columns if c.startswith("_x")]
    rows = []
    for (tp, rule), sub in data.groupby(["touchpoint", "rule"], sort=False):
        for p, frame in sub.groupby("persona", sort=False):
            rows.append(
                {
                    "touchpoint": tp,
                    "persona": p,
                    "rule": rule,
                    **_cell_041(frame, xcols, n_boot, rng, min_n, binary),
                    "_value": frame["value"].mean(),
                    "_ref": float(sub.loc[sub["persona"] != p, "met"].mean()),
                }
            )
    return rows


def test_at_stake_cells_equal_the_pandas_groupby():
    g = np.random.default_rng(7)
    n = 3000
    data = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "touchpoint": g.choice(["kyc", "signup", "claim"], n),
            "rule": g.choice(["traces", "survey"], n),
            "met": g.random(n) < 0.3,
            "persona": g.choice(["p1", "p2", "p3"], n),
            "y": (g.random(n) < 0.2).astype(float),
            "value": g.gamma(2.0, 300.0, n),
            "_x0": g.normal(5, 2, n),
            "_x1": g.normal(0, 1, n),
        }
    )
    got = oc._persona_cells(data, 60, np.random.default_rng(3), 10, True)
    want = _cells_041(data, 60, np.random.default_rng(3), 10, True)
    assert [r["touchpoint"] + r["persona"] + r["rule"] for r in got] == [
        r["touchpoint"] + r["persona"] + r["rule"] for r in want
    ]
    for a, b in zip(got, want, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], np.ndarray):
                np.testing.assert_array_equal(a[k], b[k])
            else:
                assert a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]), k


def test_at_stake_join_and_order_equal_merge_and_sort():
    ex = pd.DataFrame(
        {
            "customer_id": pd.array(["c3", "c1", "c9", "c2", "c1"], dtype="string"),
            "touchpoint": pd.array(["b", "a", "a", "zz", "b"], dtype="string"),
            "rule": "traces",
            "met": [True, False, True, False, True],
        }
    )
    cust = pd.DataFrame(
        {"customer_id": ["c1", "c2", "c3"], "persona": ["q", "p", "q"], "y": [1.0, 0.0, 1.0]}
    )
    ids = pd.Index(["c3", "c1", "c9", "c2"], dtype=object)  # at_stake joins the coded exposure
    coded = ex.assign(code=ids.get_indexer(ex["customer_id"].to_numpy(object)))
    got = oc._with_ids(ids, oc._joined(ids, coded[["code", "touchpoint", "rule", "met"]], cust))
    want = ex.merge(cust, on="customer_id", how="inner")
    # the merge turns the two kinds of text key into objects; the join keeps the exposure's
    pd.testing.assert_frame_equal(got.astype({"customer_id": object}), want)
    rank = {"a": 0, "b": 1, "p": 0, "q": 1}
    order = np.lexsort([oc._ranks(got["persona"], rank), oc._ranks(got["touchpoint"], rank)])
    ref = want.sort_values(["touchpoint", "persona"], key=lambda s: s.map(rank), kind="stable")
    pd.testing.assert_frame_equal(got.iloc[order].astype({"customer_id": object}), ref)
