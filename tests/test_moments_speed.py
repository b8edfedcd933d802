"""Subset R² four replicates at a time (0.4.3) against 0.4.2's one-replicate-at-a-time walk,
kept below as the exact reference: the same numbers bit for bit, on correlation matrices of
weighted survey data (pairwise deletion, bootstrap replicates), random ones, singular and
collinear ones, and every count of replicates around the groups of four and the two halves.
The brute-force R² (a solve per subset) checks both against the definition."""

import numpy as np
import pytest
from numba import njit

from parcours_research import _importance as imp


@njit(cache=True, nogil=True)
def _subset_r2_kernel_042(corr, out, lo, hi):  # pragma: no cover - compiled
    # parcours_research 0.4.2, _importance._subset_r2_kernel, unchanged
    q = corr.shape[1]
    p = q - 1
    m = np.zeros((p + 1, q))
    r2s = np.zeros(p + 1)
    masks = np.zeros(p + 1, dtype=np.int64)
    nxt = np.zeros(p + 1, dtype=np.int64)
    for b in range(lo, hi):
        r = corr[b]
        depth = 0
        nxt[0] = 0
        while True:
            if nxt[depth] >= p:
                if depth == 0:
                    break
                depth -= 1
                continue
            j = nxt[depth]
            nxt[depth] += 1
            v = j + 1
            d2 = 1.0
            m[depth, 0] = r[v, 0]
            for c in range(v + 1, q):
                m[depth, c] = r[v, c]
            for k in range(depth):
                coef = m[k, v]
                d2 -= coef * coef
                m[depth, 0] -= coef * m[k, 0]
                for c in range(v + 1, q):
                    m[depth, c] -= coef * m[k, c]
            if d2 > 1e-12:
                inv = 1.0 / np.sqrt(d2)
                m[depth, 0] *= inv
                for c in range(v + 1, q):
                    m[depth, c] *= inv
            else:
                m[depth, 0] = 0.0
                for c in range(v + 1, q):
                    m[depth, c] = 0.0
            mask = masks[depth] | (np.int64(1) << j)
            r2 = r2s[depth] + m[depth, 0] * m[depth, 0]
            out[b, mask] = r2
            depth += 1
            r2s[depth] = r2
            masks[depth] = mask
            nxt[depth] = j + 1


def _subset_r2_042(corr: np.ndarray) -> np.ndarray:
    corr = np.ascontiguousarray(corr, dtype=float)
    b, q, _ = corr.shape
    out = np.zeros((b, 1 << (q - 1)))
    if b and q >= 2:
        _subset_r2_kernel_042(corr, out, 0, b)
    return out


def _survey_corr(seed: int, n: int, q: int, b: int) -> np.ndarray:
    """Weighted pairwise-complete correlations of 1-10 ratings sharing a mood, with blanks,
    point estimate then ``b`` bootstrap-like replicates, repaired as drivers/moments do."""
    rng = np.random.default_rng(seed)
    mood = rng.normal(size=(n, 1))
    x = np.clip(np.round(5.5 + 2 * mood + 1.5 * rng.normal(size=(n, q))), 1, 10)
    x[:, 1:][rng.random((n, q - 1)) < 0.3] = np.nan
    w = rng.gamma(2.0, 1.0, n)
    reps = w * rng.poisson(1.0, (b, n))
    corr, _ = imp.weighted_corr(x, np.vstack([w, reps]))
    return imp.nearest_correlation(corr)


def _random_corr(rng, b: int, q: int) -> np.ndarray:
    a = rng.normal(size=(b, q, q + 2))
    c = a @ np.swapaxes(a, 1, 2)
    d = np.sqrt(np.einsum("bii->bi", c))
    return c / d[:, :, None] / d[:, None, :]


@pytest.mark.parametrize("b", [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 17, 41])
def test_replicate_counts_around_the_groups_of_four(b):
    corr = _random_corr(np.random.default_rng(b), b, 6)
    assert np.array_equal(imp.subset_r2(corr), _subset_r2_042(corr))


@pytest.mark.parametrize(
    ("seed", "n", "q", "b"), [(0, 400, 13, 61), (1, 150, 9, 40), (2, 900, 17, 9)]
)
def test_survey_matrices_bit_for_bit(seed, n, q, b):
    corr = _survey_corr(seed, n, q, b)
    assert np.array_equal(imp.subset_r2(corr), _subset_r2_042(corr))


@pytest.mark.parametrize("q", [2, 3, 5, 8])
def test_sizes_bit_for_bit(q):
    corr = _random_corr(np.random.default_rng(100 + q), 10, q)
    assert np.array_equal(imp.subset_r2(corr), _subset_r2_042(corr))


def test_collinear_constant_and_nan_drivers_bit_for_bit():
    rng = np.random.default_rng(7)
    corr = _random_corr(rng, 11, 6)
    corr[:, 3, :] = corr[:, 2, :]  # driver 2 duplicated: 1 - l'l = 0 on the second
    corr[:, :, 3] = corr[:, :, 2]
    corr[:, 3, 3] = 1.0
    corr[2, 5, :] = corr[2, :, 5] = 0.0  # a driver uncorrelated with everything
    corr[2, 5, 5] = 1.0
    corr[4, 1, 4] = corr[4, 4, 1] = np.nan  # an undefined correlation
    got, ref = imp.subset_r2(corr), _subset_r2_042(corr)
    assert np.array_equal(got, ref, equal_nan=True)
    assert not np.isnan(ref[0]).any()


def test_against_the_definition():
    # R²(S) = r_yS' R_SS^-1 r_yS, one solve per subset
    corr = _random_corr(np.random.default_rng(3), 9, 6)
    r2 = imp.subset_r2(corr)
    for mask in range(1, 32):
        s = [j + 1 for j in range(5) if mask >> j & 1]
        ryx = corr[:, 0, s]
        want = np.einsum(
            "bi,bi->b", ryx, np.linalg.solve(corr[:, s][:, :, s], ryx[..., None])[..., 0]
        )
        np.testing.assert_allclose(r2[:, mask], want, rtol=1e-12, atol=1e-14)
    assert (r2[:, 0] == 0).all()


def test_no_replicates_or_no_drivers():
    assert imp.subset_r2(np.zeros((0, 4, 4))).shape == (0, 8)
    assert np.array_equal(imp.subset_r2(np.ones((3, 1, 1))), np.zeros((3, 1)))
