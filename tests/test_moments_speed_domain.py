"""The moments of truth per domain on arrays (0.4.3) against 0.4.2's pandas code, kept below
as the exact reference: which touchpoints are judged, their counts, and every statistic of
the summary rows bit for bit; the groups of ``by`` in the same order with the same rows."""

import numpy as np
import pandas as pd
import pytest

from parcours_research import _importance as imp
from parcours_research import moments as mo
from parcours_research._design import bootstrap_weights


# ----------------------------------------------------------------------------------------------
# parcours_research 0.4.2, moments.py, unchanged (the reference)
# ----------------------------------------------------------------------------------------------
def _judged_042(x, w, cols, min_n, min_share):
    y_ok = x.iloc[:, 0].notna().to_numpy()
    counts = {c: int((x[c].notna().to_numpy() & y_ok).sum()) for c in cols}
    keep = [
        c
        for c in cols
        if counts[c] >= min_n
        and counts[c] >= min_share * y_ok.sum()
        and x.loc[y_ok, c].nunique() > 1
    ]
    while len(keep) > 1:
        corr, _ = imp.weighted_corr(x[[x.columns[0], *keep]].to_numpy(float)[y_ok], w[y_ok])
        if np.isfinite(corr).all() and np.linalg.eigvalsh(corr[0]).min() > 1e-8:
            break
        keep.remove(min(keep, key=lambda c: counts[c]))
    return keep, counts


def _domain_importance_042(x, w, reps, cols, method):
    y_ok = x.iloc[:, 0].notna().to_numpy()
    arr = x[[x.columns[0], *cols]].to_numpy(float)[y_ok]
    corr, _ = imp.weighted_corr(arr, np.vstack([w[y_ok], reps[:, y_ok]]))
    corr[1:] = imp.nearest_correlation(np.nan_to_num(corr[1:], nan=0.0))
    if method == "shapley":
        return imp.shapley(imp.subset_r2(corr), len(cols))
    return imp.relative_weights(corr)


def _outcome_table_042(x, w, reps, cols, judged, confidence, method):
    stats = ["importance", "ci_low", "ci_high", "excess", "p_value"]
    out = pd.DataFrame({"column": cols, **{c: np.nan for c in stats}})
    if len(judged) < 2:
        return out
    values = _domain_importance_042(x, w, reps, judged, method)
    alpha = 1 - confidence
    lo, hi = np.nanquantile(values[1:], [alpha / 2, 1 - alpha / 2], axis=0)
    rows = out["column"].isin(judged).to_numpy()
    order = [judged.index(c) for c in out.loc[rows, "column"]]
    out.loc[rows, "importance"] = values[0][order]
    out.loc[rows, "ci_low"] = lo[order]
    out.loc[rows, "ci_high"] = hi[order]
    out.loc[rows, "excess"] = (values[0] - values[0].mean())[order]
    out.loc[rows, "p_value"] = mo.excess_pvalues(values[0], values[1:])[order]
    return out


def _domain_rows_042(name, x_sat, x_nps, w, reps, tp_cols, declared, opts):
    cols = list(tp_cols.values())
    judged, counts = _judged_042(x_sat, w, cols, opts["min_n"], opts["min_share"])
    sat = _outcome_table_042(x_sat, w, reps, cols, judged, opts["confidence"], opts["method"])
    out = pd.DataFrame(
        {
            "persona": name,
            "touchpoint": list(tp_cols),
            "declared": [declared[t] for t in tp_cols],
            "n": [counts[c] for c in cols],
        }
    )
    out["judged"] = [c in judged for c in cols]
    for c in ("importance", "ci_low", "ci_high", "excess", "p_value"):
        out[c] = sat[c].to_numpy()
    r2 = np.nansum(out["importance"])
    out["share"] = out["importance"] / r2 if r2 > 0 else np.nan
    if x_nps is not None:
        nps_judged = [c for c in judged if x_nps[c].notna().sum() >= opts["min_n"]]
        nps = _outcome_table_042(
            x_nps, w, reps, cols, nps_judged, opts["confidence"], opts["method"]
        )
        for c in ("importance", "ci_low", "ci_high", "p_value"):
            out[f"nps_{c}"] = nps[c].to_numpy()
    else:
        for c in ("importance", "ci_low", "ci_high", "p_value"):
            out[f"nps_{c}"] = np.nan
    return out


def _domains_042(responses, by, known):
    values = responses[by].astype("string")
    names = [p for p in known if (values == p).any()]
    names += sorted(set(values.dropna()) - set(names))
    return [(str(p), (values == p).fillna(False).to_numpy(dtype=bool)) for p in names]


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------
def _domain(seed: int, n: int = 300, q: int = 7):
    """Ratings 1-10 sharing a mood, with blanks; a rarely rated touchpoint, a constant one and
    a duplicated one (collinear: the loop that drops touchpoints runs)."""
    rng = np.random.default_rng(seed)
    mood = rng.normal(size=(n, 1))
    r = np.clip(np.round(5.5 + 2 * mood + 1.5 * rng.normal(size=(n, q + 1))), 1, 10)
    r[:, 1:][rng.random((n, q)) < 0.15] = np.nan
    r[rng.random(n) < 0.05, 0] = np.nan  # no overall answer
    cols = [f"sat_t{i}" for i in range(q)]
    x = pd.DataFrame(r, columns=["overall", *cols])
    x["sat_t1"] = np.where(rng.random(n) < 0.8, np.nan, x["sat_t1"])  # rarely rated
    x["sat_t2"] = np.where(x["sat_t2"].notna(), 7.0, np.nan)  # constant
    x["sat_t4"] = np.where(rng.random(n) < 0.25, np.nan, x["sat_t3"])  # collinear, rated less
    nps = np.clip(np.round(x["overall"] + rng.normal(size=n)), 0, 10)
    x_nps = x.assign(overall=np.where(rng.random(n) < 0.1, np.nan, nps))
    w = rng.gamma(3.0, 1.0, n)
    tp_cols = {c.removeprefix("sat_"): c for c in cols}
    return x, x_nps, w, bootstrap_weights(w, 60, seed=seed), tp_cols


def _assert_same(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, ref, check_exact=True)
    for c in ref.columns:
        if ref[c].dtype.kind == "f":
            assert np.array_equal(got[c].to_numpy(), ref[c].to_numpy(), equal_nan=True), c


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", ["shapley", "relative_weights"])
@pytest.mark.parametrize("with_nps", [True, False])
def test_domain_rows_bit_for_bit(seed, method, with_nps):
    x, x_nps, w, reps, tp_cols = _domain(seed)
    declared = {t: i % 3 == 0 for i, t in enumerate(tp_cols)}
    opts = {"min_n": 20, "min_share": 0.3, "confidence": 0.95, "method": method}
    args = ("connecte", x, x_nps if with_nps else None, w, reps, tp_cols, declared, opts)
    got, ref = mo._domain_rows(*args), _domain_rows_042(*args)
    _assert_same(got, ref)
    assert not ref["judged"].all() and ref["judged"].sum() >= 2  # the filters were exercised


def test_judged_drops_the_collinear_and_constant_touchpoints_as_before():
    x, _, w, _, tp_cols = _domain(5)
    cols = list(tp_cols.values())
    for min_n, min_share in [(20, 0.3), (3, 0.0), (200, 0.6), (10, 0.95)]:
        assert mo._judged(x, w, cols, min_n, min_share) == _judged_042(x, w, cols, min_n, min_share)


def test_outcome_table_bit_for_bit():
    x, _, w, reps, tp_cols = _domain(3)
    cols = list(tp_cols.values())
    for judged in (cols[:1], [cols[0], cols[3], cols[5]], [cols[6], cols[0]]):
        got = mo._outcome_table(x, w, reps, cols, judged, 0.9, "shapley")
        _assert_same(got, _outcome_table_042(x, w, reps, cols, judged, 0.9, "shapley"))


class _Persona:
    def __init__(self, id):  # noqa: A002
        self.id = id


class _Study:
    class journey:  # noqa: N801
        personas = [_Persona("senior"), _Persona("absent"), _Persona("connecte")]


@pytest.mark.parametrize("by", ["persona", "segment"])
def test_domains_same_groups_same_rows(by):
    rng = np.random.default_rng(9)
    values = rng.choice(["connecte", "senior", "zeta", "alpha", None], 200)
    r = pd.DataFrame({by: pd.Series(values, dtype="string")})
    known = ["senior", "absent", "connecte"] if by == "persona" else []
    got, ref = mo._domains(r, by, _Study), _domains_042(r, by, known)
    assert [g for g, _ in got] == [g for g, _ in ref]
    for (_, a), (_, b) in zip(got, ref, strict=True):
        assert a.dtype == bool and np.array_equal(a, b)
    r = pd.DataFrame({by: [3, 1, np.nan, 3]})  # not text: read as text, as before
    got, ref = mo._domains(r, by, _Study), _domains_042(r, by, known)
    assert [g for g, _ in got] == [g for g, _ in ref]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, ref, strict=True))
