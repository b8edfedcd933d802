"""``drivers()`` in a small group with pairwise deletion: bootstrap correlation matrices that
are not positive definite are repaired (the repair ``moments`` uses), so no interval leaves
[0, 1].

Independent reference, written here without the package's importance code: weighted pairwise
Pearson correlations (``numpy.cov`` with ``aweights``) of each bootstrap replicate, repaired by
statsmodels' ``corr_clipped`` (eigenvalues clipped, unit diagonal restored: the same rule),
Shapley values by brute force over the subsets of drivers (R² = r' R⁻¹ r), and percentile
limits by ``numpy.nanquantile``. Higham's nearest correlation matrix (statsmodels'
``corr_nearest``) gives intervals close to these.
"""

from __future__ import annotations

import itertools
import warnings
from math import factorial

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.correlation_tools import corr_clipped, corr_nearest

import parcours_research as pr
from parcours_research import _importance, moments
from parcours_research._design import bootstrap_weights
from parcours_research.errors import DataQualityWarning

DRIVERS = ["t0", "t1", "t2"]
N_BOOT = 200


def _small_group(seed: int, n: int = 14, missing: float = 0.35) -> pd.DataFrame:
    """14 respondents rating 3 correlated touchpoints (1-5), a third of ratings missing."""
    rng = np.random.default_rng(seed)
    x = 0.8 * rng.normal(size=(n, 1)) + 0.6 * rng.normal(size=(n, 3))
    y = x @ np.array([0.5, 0.3, 0.2]) + 0.5 * rng.normal(size=n)
    df = pd.DataFrame(np.round(x * 1.2 + 3).clip(1, 5), columns=DRIVERS)
    df["sat"] = np.round(y * 1.2 + 3).clip(1, 5)
    for c in DRIVERS:
        df.loc[rng.random(n) < missing, c] = np.nan
    return df


def _pairwise_corr(arr: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted Pearson correlation of each pair on the rows where both are observed; 0 when
    undefined (a variable constant on those rows)."""
    k = arr.shape[1]
    out = np.eye(k)
    for i, j in itertools.combinations(range(k), 2):
        ok = ~np.isnan(arr[:, i]) & ~np.isnan(arr[:, j]) & (w > 0)
        if ok.sum() < 2:
            continue
        c = np.cov(arr[ok, i], arr[ok, j], aweights=w[ok])
        r = c[0, 1] / np.sqrt(c[0, 0] * c[1, 1]) if c[0, 0] > 0 and c[1, 1] > 0 else 0.0
        out[i, j] = out[j, i] = r if np.isfinite(r) else 0.0
    return out


def _shapley(corr: np.ndarray) -> np.ndarray:
    """Shapley decomposition of R² (outcome first), by brute force over subsets."""
    p = corr.shape[0] - 1

    def r2(s):
        if not s:
            return 0.0
        idx = [i + 1 for i in s]
        r = corr[idx, 0]
        return float(r @ np.linalg.solve(corr[np.ix_(idx, idx)], r))

    out = np.zeros(p)
    for j in range(p):
        others = [i for i in range(p) if i != j]
        for size in range(p):
            for s in itertools.combinations(others, size):
                wt = factorial(size) * factorial(p - size - 1) / factorial(p)
                out[j] += wt * (r2(sorted((*s, j))) - r2(list(s)))
    return out


def _reference(df: pd.DataFrame, repair) -> tuple[np.ndarray, np.ndarray]:
    """Point importance and the (2, p) percentile limits, replicate matrices through
    ``repair``."""
    x = df[["sat", *DRIVERS]]
    arr = x[x["sat"].notna()].to_numpy(float)
    w = np.ones(len(arr))
    reps = bootstrap_weights(w, N_BOOT, seed=1)  # the resampling the analysis draws
    point = _shapley(repair(_pairwise_corr(arr, w)))
    boot = np.array([_shapley(repair(_pairwise_corr(arr, r))) for r in reps])
    return point, np.nanquantile(boot, [0.025, 0.975], axis=0)


def _clipped(c):
    return corr_clipped(c, threshold=1e-6)


def _result(df):
    r = pr.satisfaction.drivers(df, outcome="sat", drivers=DRIVERS, n_boot=N_BOOT, seed=1)
    return r, r.summary.set_index("driver").loc[DRIVERS]


def test_small_group_intervals_stay_in_0_1_and_match_the_reference(monkeypatch):
    df = _small_group(0)
    with monkeypatch.context() as m:  # without the repair (drivers() before 0.4.1)
        m.setattr(_importance, "nearest_correlation", lambda c, eps=1e-6: c)
        _, before = _result(df)
    assert before["ci_high"].max() > 1.2 and before["ci_low"].min() < -0.1  # absurd
    r, s = _result(df)
    point, limits = _reference(df, _clipped)
    np.testing.assert_allclose(s["importance"], point, atol=1e-9)
    np.testing.assert_allclose(s[["ci_low", "ci_high"]].to_numpy().T, limits, atol=1e-7)
    assert s[["ci_low", "ci_high"]].notna().all().all()
    assert ((s["ci_low"] >= 0) & (s["ci_high"] <= 1) & (s["ci_low"] <= s["importance"])).all()
    assert 0 <= r.r2_ci[0] <= r.r2 <= r.r2_ci[1] <= 1 + 1e-9
    assert r.replicates["importance"].between(0, 1).all()
    # Higham's nearest correlation matrix gives nearly the same limits
    with warnings.catch_warnings():  # its iterations stop at statsmodels' limit
        warnings.simplefilter("ignore")
        _, higham = _reference(df, lambda c: corr_nearest(c, threshold=1e-6))
    np.testing.assert_allclose(s[["ci_low", "ci_high"]].to_numpy().T, higham, atol=0.02)


def test_a_point_matrix_that_is_not_positive_definite_is_repaired_with_a_warning():
    df = _small_group(3)  # its pairwise R² would be 1.36
    with pytest.warns(DataQualityWarning, match=r"not positive definite; R² would be 1\.3"):
        r, s = _result(df)
    point, _ = _reference(df, _clipped)
    np.testing.assert_allclose(s["importance"], point, atol=1e-9)
    assert r.r2 <= 1 + 1e-9


def test_a_valid_group_is_unchanged_and_warns_nothing():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 3))
    df = pd.DataFrame(np.round(x + 3).clip(1, 5), columns=DRIVERS)
    df["sat"] = np.round(x @ [0.6, 0.3, 0.1] + 3 + rng.normal(size=300)).clip(1, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        _, s = _result(df)
    point, limits = _reference(df, lambda c: c)
    np.testing.assert_allclose(s["importance"], point, atol=1e-9)
    np.testing.assert_allclose(s[["ci_low", "ci_high"]].to_numpy().T, limits, atol=1e-7)


def test_one_repair_for_drivers_and_moments():
    assert moments._nearest_correlation is _importance.nearest_correlation
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, size=(20, 4, 4))
    a = (a + np.swapaxes(a, 1, 2)) / 2
    a[:, range(4), range(4)] = 1.0
    got = _importance.nearest_correlation(a)
    for g, m in zip(got, a):
        np.testing.assert_allclose(g, _clipped(m), atol=1e-12)
        assert np.linalg.eigvalsh(g).min() > 0
    # a matrix with an undefined correlation (NaN) is read with 0 there
    m = np.array([[1.0, 0.5, np.nan], [0.5, 1.0, 0.2], [np.nan, 0.2, 1.0]])
    np.testing.assert_allclose(_importance.nearest_correlation(m), np.nan_to_num(m))
