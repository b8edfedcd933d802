"""The faster `pr.outcomes.at_stake` gives exactly what 0.4.2's code gave.

References: the functions below marked "0.4.2" are 0.4.2's code (commit ca38450), kept here as
it was. The new bootstrap (draws counted row by row by a compiled loop, written straight into
the weight matrix) must give the same replicates bit for bit and leave the generator in the
same state; the coded exposure (customer positions instead of ids as text, the funnels read
from the log's sorted arrays) must give the same table and the same joined rows, in the same
order; the whole result must not change by a digit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import parcours_research as pr
from parcours_research import outcomes as oc


# ---------------------------------------------------------------------------------------------
# 0.4.2's code
# ---------------------------------------------------------------------------------------------
def _resample_counts_042(n, n_boot, rng):
    if n == 0:
        return np.zeros((n_boot, 0))
    draws = rng.integers(0, n, size=(n_boot, n)) + (np.arange(n_boot) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n)


def _bootstrap_042(y, met, x, n_boot, rng, binary=False):
    center = x.mean(axis=0) if x.shape[1] else None
    if binary:
        y, met, x = oc._with_pseudo(y, met, x)
    d = oc._design(met, x, center)
    w = np.zeros((n_boot, len(y)))
    for grp in (met, ~met):
        idx = np.flatnonzero(grp)
        w[:, idx] = _resample_counts_042(len(idx), n_boot, rng)
    k = d.shape[1]
    xtx = (w @ (d[:, :, None] * d[:, None, :]).reshape(len(y), k * k)).reshape(n_boot, k, k)
    xty = w @ (d * y[:, None])
    beta = np.einsum("bij,bj->bi", np.linalg.pinv(xtx), xty)
    return beta[:, 1]


def _stack_042(parts):
    cols = {"customer_id": "string", "touchpoint": "string", "met": "bool"}
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    return pd.concat(parts, ignore_index=True).astype(cols)


def _known_042(ids, index):
    return index.get_indexer(ids.to_numpy(object)) >= 0


def _trace_exposure_042(study):
    from parcours_research.evidence import prepare
    from parcours_research.traces import funnel_users

    log = prepare(study).traces.log
    window = getattr(study.traces, "funnel_window", None) or "7D"
    known = oc._id_index(study.customers["customer_id"])
    parts, cache, last = [], {}, (None, None)
    for tp, (seq, i) in oc._trace_steps(study).items():
        if seq not in cache:
            f = funnel_users(log, steps=list(seq), window=window)
            ids = f["user_id"].astype(str).reset_index(drop=True)
            if last[0] is None or not ids.equals(last[0]):
                last = (ids, _known_042(ids, known))
            f = pd.DataFrame({"user_id": ids, "furthest_step": f["furthest_step"].to_numpy()})
            cache[seq] = f[last[1]]
        f = cache[seq]
        f = f[f["furthest_step"] >= i]
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": f["user_id"].reset_index(drop=True),
                    "touchpoint": tp,
                    "met": (f["furthest_step"] < i + 1).to_numpy(),
                }
            )
        )
    return _stack_042(parts)


def _survey_exposure_042(study, low):
    cid = getattr(study.survey, "customer_id", None) or "customer_id"
    if study.responses is None or cid not in study.responses.columns:
        return _stack_042([])
    long = study.ratings_long(keep=[cid])
    long = long[long[cid].notna()]
    long = long[_known_042(long[cid].astype(str), oc._id_index(study.customers["customer_id"]))]
    out = pd.DataFrame(
        {
            "customer_id": long[cid].astype(str).to_numpy(),
            "touchpoint": long["touchpoint"].to_numpy(),
            "met": (long["score"] <= low).to_numpy(),
        }
    )
    return out.groupby(["customer_id", "touchpoint"], as_index=False, sort=False)["met"].max()


def _exposure_042(study, met="auto", low=2):
    steps = oc._trace_steps(study) if study.traces is not None else {}
    tr = _trace_exposure_042(study) if steps and met != "survey" else _stack_042([])
    sv = _survey_exposure_042(study, low) if met != "traces" else _stack_042([])
    if met == "auto":
        sv = sv[~sv["touchpoint"].isin(list(steps))]
        out = pd.concat([tr.assign(rule="traces"), sv.assign(rule="survey")], ignore_index=True)
    elif met == "either":
        both = pd.concat([tr, sv], ignore_index=True)
        out = both.groupby(["customer_id", "touchpoint"], as_index=False, sort=False)["met"].max()
        out = out.assign(rule="either")
    else:
        out = (tr if met == "traces" else sv).assign(rule=met)
    return out[["customer_id", "touchpoint", "rule", "met"]].reset_index(drop=True)


def _joined_042(ex, customers):
    ids = pd.Index(customers["customer_id"].to_numpy(object))
    if not ids.is_unique:
        return ex.merge(customers, on="customer_id", how="inner")
    at = ids.get_indexer(ex["customer_id"].to_numpy(object))
    found = np.flatnonzero(at >= 0)
    right = customers.drop(columns="customer_id").iloc[at[found]].reset_index(drop=True)
    return pd.concat([ex.iloc[found].reset_index(drop=True), right], axis=1)


# ---------------------------------------------------------------------------------------------
# the bootstrap
# ---------------------------------------------------------------------------------------------
def _cell(g, n, share, n_x):
    y = (g.random(n) < 0.2).astype(float)
    met = g.random(n) < share
    x = g.normal(5, 2, (n, n_x))
    return y, met, x


@pytest.mark.parametrize(
    "n, share, n_x, n_boot, binary",
    [
        (3000, 0.3, 1, 200, True),
        (500, 0.05, 2, 60, False),
        (40, 0.5, 0, 50, True),
        (25, 0.5, 1, 3, False),
        (12, 0.0, 1, 7, False),  # nobody met: one group empty, no draw for it
        (12, 1.0, 0, 7, False),  # everybody met
    ],
)
def test_bootstrap_equals_042_bit_for_bit(n, share, n_x, n_boot, binary):
    y, met, x = _cell(np.random.default_rng(n + n_boot), n, share, n_x)
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    got = oc._bootstrap(y, met, x, n_boot, a, binary)
    want = _bootstrap_042(y, met, x, n_boot, b, binary)
    assert got.tobytes() == want.tobytes() or np.array_equal(got, want, equal_nan=True)
    assert a.bit_generator.state == b.bit_generator.state  # the next cell's draws too
    assert a.integers(0, 10**9) == b.integers(0, 10**9)


def test_resample_counts_equal_042_and_the_int32_draws_equal_numpys():
    for n, n_boot in [(1, 4), (9, 50), (1000, 30), (70_000, 2)]:
        a, b = np.random.default_rng(n), np.random.default_rng(n)
        got = oc._resample_counts(n, n_boot, a)
        np.testing.assert_array_equal(got, _resample_counts_042(n, n_boot, b))
        assert got.dtype == np.int64 and a.bit_generator.state == b.bit_generator.state
    assert oc._resample_counts(0, 4, np.random.default_rng(0)).shape == (4, 0)


def test_resample_into_writes_only_its_columns():
    w = np.full((5, 8), -1.0)
    idx = np.array([1, 4, 6])
    oc._resample_into(w, idx, np.random.default_rng(2))
    want = _resample_counts_042(3, 5, np.random.default_rng(2))
    np.testing.assert_array_equal(w[:, idx], want)
    assert (np.delete(w, idx, axis=1) == -1).all()


# ---------------------------------------------------------------------------------------------
# the exposure and the joined rows
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("met", ["auto", "traces", "survey", "either"])
def test_exposure_equals_042(sample_study, met):
    got = pr.outcomes.exposure(sample_study, met=met, low=3 if met == "either" else 2)
    want = _exposure_042(sample_study, met=met, low=3 if met == "either" else 2)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


@pytest.mark.parametrize("met", ["auto", "traces", "survey", "either"])
def test_exposure_equals_042_without_matching_customers_or_survey_ids(sample_dir, met):
    """Empty tables keep 0.4.2's column types too."""
    st = pr.load_study(sample_dir)
    st.customers = st.customers.assign(customer_id="X" + st.customers["customer_id"].astype(str))
    got, want = pr.outcomes.exposure(st, met=met), _exposure_042(st, met=met)
    assert got.empty
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    st = pr.load_study(sample_dir)
    st.responses = st.responses.drop(columns="customer_id")
    pd.testing.assert_frame_equal(pr.outcomes.exposure(st, met=met), _exposure_042(st, met=met))


@pytest.mark.parametrize("met", ["auto", "either"])
def test_joined_rows_equal_042(sample_study, met):
    cu, _ = oc._customers(sample_study, "churned", "revenue", ["tenure_years"])  # and its accounting
    got = oc._joined(*oc._coded_exposure(sample_study, met, 2), cu)
    want = _joined_042(_exposure_042(sample_study, met=met), cu)
    assert len(got) > 1000
    pd.testing.assert_frame_equal(got.drop(columns="code"), want.drop(columns="customer_id"))


def test_joined_with_ids_twice_in_the_customers_merges():
    ids = pd.Index(["c1", "c2", "c3"], dtype=object)
    ex = pd.DataFrame(
        {
            "code": [2, 0, 1, 0],
            "touchpoint": ["a", "a", "b", "b"],
            "rule": "traces",
            "met": [True, False, True, True],
        }
    )
    cust = pd.DataFrame({"customer_id": ["c1", "c1", "c3"], "y": [1.0, 0.0, 1.0]})
    got = oc._joined(ids, ex, cust)
    want = _joined_042(oc._with_ids(ids, ex), cust)
    pd.testing.assert_frame_equal(got, want)
    assert list(got["customer_id"]) == ["c3", "c1", "c1", "c1", "c1"]


def test_funnel_persons_from_the_arrays_equal_funnel_users(sample_study):
    """The in-memory path against the engine's SQL path of funnel_users (fast=False)."""
    from parcours_research.traces import DuckDBEngine

    known = oc._id_index(sample_study.customers["customer_id"])
    seqs = list(dict.fromkeys(s for s, _ in oc._trace_steps(sample_study).values()))
    fast = pr.prepare(sample_study).traces.log
    slow = pr.prepare(sample_study, engine=DuckDBEngine(fast=False)).traces.log
    assert fast.engine.fast and not slow.engine.fast
    got = oc._funnel_persons(fast, seqs, "7D", known)
    want = oc._funnel_persons(slow, seqs, "7D", known)
    assert len(seqs) >= 2 and got.keys() == want.keys()
    for q in seqs:
        np.testing.assert_array_equal(got[q][0], want[q][0])
        np.testing.assert_array_equal(got[q][1], want[q][1])
    assert (got[seqs[0]][0] >= 0).sum() > 100


def test_furthest_steps_kept_with_the_sorted_arrays(sample_study):
    from parcours_research.friction.counts import _furthest_codes
    from parcours_research.traces import _arrays

    log = pr.prepare(sample_study).traces.log
    s = _arrays.get_sorted(log)
    seq = list(oc._trace_steps(sample_study)["id_verification"][0])
    a = _furthest_codes(log, s, seq, "7D")
    assert _furthest_codes(log, s, seq, "7D") is a and not a.flags.writeable
    assert _furthest_codes(log, s, seq, "30D") is not a


# ---------------------------------------------------------------------------------------------
# the whole result
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("by, outcome", [("persona", "churned"), (None, "revenue")])
def test_at_stake_equals_042(sample_study, monkeypatch, by, outcome):
    got = pr.outcomes.at_stake(sample_study, outcome=outcome, by=by, n_boot=80, seed=4)
    monkeypatch.setattr(oc, "_bootstrap", _bootstrap_042)
    monkeypatch.setattr(
        oc, "_coded_exposure", lambda st, met, low: (None, _exposure_042(st, met, low))
    )
    monkeypatch.setattr(oc, "_joined", lambda ids, ex, cu: _joined_042(ex, cu))
    want = pr.outcomes.at_stake(sample_study, outcome=outcome, by=by, n_boot=80, seed=4)
    assert want.summary["p_value"].notna().sum() >= 5
    pd.testing.assert_frame_equal(got.summary, want.summary, check_exact=True)
