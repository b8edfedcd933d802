"""The bootstrap resampler of `pr.outcomes` draws Multinomial(n, 1/n) counts per replicate.

Expected moments from the closed form of the multinomial: each count has mean 1 and variance
(n - 1)/n, two counts of one replicate have covariance -1/n, and each replicate sums to n.
"""

import numpy as np

from parcours_research.outcomes import _resample_counts


def test_counts_have_the_multinomial_moments():
    n, n_boot = 5, 200_000
    c = _resample_counts(n, n_boot, np.random.default_rng(7))
    assert c.shape == (n_boot, n)
    assert (c.sum(axis=1) == n).all()
    np.testing.assert_allclose(c.mean(axis=0), 1.0, atol=0.01)
    cov = np.cov(c, rowvar=False)
    np.testing.assert_allclose(np.diag(cov), (n - 1) / n, atol=0.015)
    off = cov[~np.eye(n, dtype=bool)]
    np.testing.assert_allclose(off, -1 / n, atol=0.015)


def test_same_seed_same_counts_and_empty_group():
    a = _resample_counts(9, 50, np.random.default_rng(3))
    b = _resample_counts(9, 50, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert _resample_counts(0, 4, np.random.default_rng(0)).shape == (4, 0)
