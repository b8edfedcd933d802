"""Bootstrap replicates raked all at once (``weighting._rake_rows``) give the same weights, to
the last bit, as raking them one by one with ``weighting.rake``, the reference here; and the
same replicates fail (a level left without respondent, no convergence)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from parcours_research import curves, weighting
from parcours_research._design import bootstrap_weights
from parcours_research.errors import ParcoursWarning, WeightingError

MARGINS = {
    "persona": {"a": 0.4, "b": 0.35, "c": 0.2, "rare": 0.05},
    "region": {"n": 0.3, "s": 0.45, "e": 0.25},
}


def _respondents(n: int, seed: int, rare: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    persona = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2]).astype(object)
    persona[rng.choice(n, size=rare, replace=False)] = "rare"
    region = rng.choice(["n", "s", "e"], size=n, p=[0.2, 0.5, 0.3])
    return pd.DataFrame({"persona": pd.array(persona, dtype="string"), "region": region})


def _one_by_one(data, margins, starts, **kw):
    """The reference: ``weighting.rake`` on the rows with a positive start, one vector at a
    time; None for a vector it cannot rake."""
    out = []
    for s in starts:
        pos = s > 0
        frame = data.loc[pos, list(margins)].assign(_w0=s[pos])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", ParcoursWarning)
                res = weighting.rake(frame, margins, weight="_w0", **kw)
        except (WeightingError, ParcoursWarning):
            out.append(None)
            continue
        w = np.zeros(len(data))
        w[pos] = res.weights.to_numpy()
        out.append(w)
    return out


def _check_same(data, margins, starts, **kw):
    got = weighting._rake_rows(data, margins, starts, **kw)
    assert got is not None
    weights, ok = got
    ref = _one_by_one(data, margins, starts, **kw)
    assert ok.tolist() == [r is not None for r in ref]
    expected = [r for r in ref if r is not None]
    assert weights.shape == (len(expected), len(data))
    for a, b in zip(weights, expected):
        assert np.array_equal(a, b)  # bit for bit, not approximately
    return ok


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_replicates_raked_at_once_equal_one_by_one(seed):
    data = _respondents(400, seed, rare=3)
    w0 = np.random.default_rng(seed).uniform(0.5, 2.0, size=len(data))
    reps = bootstrap_weights(w0, 60, strata=data["region"].to_numpy(), seed=seed)
    ok = _check_same(data, MARGINS, reps)
    assert ok.sum() >= 1  # and some replicates lose every "rare" respondent
    assert (~ok).sum() >= 1


def test_replicates_that_do_not_converge_fail_as_one_by_one():
    data = _respondents(300, 5, rare=10)
    reps = bootstrap_weights(np.ones(len(data)), 30, seed=5)
    ok = _check_same(data, MARGINS, reps, max_iter=2, tol=1e-14)
    assert not ok.all()
    _check_same(data, MARGINS, reps, max_iter=3)


def test_curves_replicates_fall_back_when_the_margins_do_not_fit():
    data = _respondents(200, 7, rare=5)
    margins = {"persona": {"a": 0.5, "b": 0.3, "c": 0.2}}  # no share for "rare"
    reps = bootstrap_weights(np.ones(len(data)), 20, seed=7)
    assert weighting._rake_rows(data, margins, reps) is None
    w, failed = curves._rake_replicates(data, margins, reps)
    w1, failed1 = curves._rake_replicates_one_by_one(data, margins, reps)
    assert failed == failed1 == 20 and w.shape == w1.shape == (0, 200)


def test_curves_replicates_equal_one_by_one():
    data = _respondents(500, 11, rare=4)
    reps = bootstrap_weights(np.ones(len(data)), 40, strata=data["persona"].to_numpy(), seed=11)
    w, failed = curves._rake_replicates(data, MARGINS, reps)
    w1, failed1 = curves._rake_replicates_one_by_one(data, MARGINS, reps)
    assert failed == failed1
    assert np.array_equal(w, w1)
