"""The small precise pieces behind the friction tests (private; vectorised over rows).

Intervals for proportions and their differences, effect sizes with intervals, the exact and
score tests for two proportions, and minimum detectable effects. Everything a library does
well is delegated (scipy for the exact binomial and Fisher tests and the conditional odds
ratio); what no library offers vectorised is written here and checked in the tests against
closed forms, ``statsmodels.stats.proportion`` and published tables.

Conventions: ``k`` successes out of ``n`` trials; differences are group minus reference;
``confidence`` is the two-sided confidence level of every interval; ``alpha`` is only ever a
significance level (of a test or a minimum detectable effect).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import stats

__all__ = [
    "ALTERNATIVES",
    "wilson_interval",
    "newcombe_interval",
    "cohens_h",
    "h_interval",
    "odds_ratio_woolf",
    "odds_ratio_exact",
    "binom_exact",
    "two_proportions",
    "mde_h",
    "h_to_difference",
    "mde_t",
    "t_pvalue",
    "one_sided",
]

#: ``"worse"``: one-sided, in the direction that means friction; ``"two-sided"``.
ALTERNATIVES = ("worse", "two-sided")


@lru_cache(maxsize=64)
def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def one_sided(alternative: str, worse_sign: int) -> str:
    """scipy's ``alternative`` for a test whose bad direction has sign ``worse_sign``.

    ``worse_sign=-1`` (lower is worse: conversion, satisfaction) gives ``"less"``;
    ``+1`` (higher is worse: share of negative excerpts) gives ``"greater"``.
    """
    if alternative == "two-sided":
        return "two-sided"
    return "less" if worse_sign < 0 else "greater"


# ---------------------------------------------------------------------------------------------
# intervals
# ---------------------------------------------------------------------------------------------
def wilson_interval(k, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k / n`` (Wilson 1927; Newcombe 1998a, method 3).

    ``(p + z²/2n ± z √(p(1−p)/n + z²/4n²)) / (1 + z²/n)``. ``n = 0`` gives NaN.
    """
    k, n = _arr(k), _arr(n)
    z = _z(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        low = np.clip(centre - half, 0.0, 1.0)
        high = np.clip(centre + half, 0.0, 1.0)
    # exact bounds at the edges (avoid 1e-17 rounding)
    low = np.where(k == 0, 0.0, low)
    high = np.where(k == n, 1.0, high)
    bad = ~(n > 0)
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def newcombe_interval(k1, n1, k2, n2, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for ``p1 − p2`` (Newcombe 1998b, method 10).

    Combines the Wilson intervals ``(l1, u1)`` and ``(l2, u2)``:
    ``δ − √((p1−l1)² + (u2−p2)²)`` to ``δ + √((u1−p1)² + (p2−l2)²)``.
    """
    k1, n1, k2, n2 = map(_arr, (k1, n1, k2, n2))
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = k1 / n1, k2 / n2
        d = p1 - p2
        low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


# ---------------------------------------------------------------------------------------------
# effect sizes
# ---------------------------------------------------------------------------------------------
def cohens_h(p1, p2) -> np.ndarray:
    """Cohen's h, ``2 asin √p1 − 2 asin √p2`` (Cohen 1988, ch. 6)."""
    with np.errstate(invalid="ignore"):
        return 2 * np.arcsin(np.sqrt(_arr(p1))) - 2 * np.arcsin(np.sqrt(_arr(p2)))


def h_interval(h, n1, n2=None, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Interval for Cohen's h from the variance-stabilising arcsine transform.

    ``var(2 asin √p̂) ≈ 1/n``, so ``h ± z √(1/n1 + 1/n2)``; without ``n2`` (a proportion
    against a fixed value) ``h ± z / √n1``.
    """
    h, n1 = _arr(h), _arr(n1)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = 1 / n1 if n2 is None else 1 / n1 + 1 / _arr(n2)
        half = _z(confidence) * np.sqrt(var)
    return h - half, h + half


def odds_ratio_woolf(k1, n1, k2, n2, confidence: float = 0.95):
    """Sample odds ratio of group 1 vs group 2 and Woolf's logit interval.

    When a cell is zero, 0.5 is added to the four cells of that table (Haldane–Anscombe).
    Returns ``(or, low, high)``.
    """
    a, b = _arr(k1), _arr(n1) - _arr(k1)
    c, d = _arr(k2), _arr(n2) - _arr(k2)
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    a, b, c, d = (np.where(zero, x + 0.5, x) for x in (a, b, c, d))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_or = np.log(a * d / (b * c))
        se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    z = _z(confidence)
    return np.exp(log_or), np.exp(log_or - z * se), np.exp(log_or + z * se)


def odds_ratio_exact(k1, n1, k2, n2, confidence: float = 0.95):
    """Conditional maximum-likelihood odds ratio and its exact interval (scipy), per row."""
    from scipy.stats.contingency import odds_ratio

    k1, n1, k2, n2 = (np.atleast_1d(_arr(x)) for x in (k1, n1, k2, n2))
    out = np.full((3, k1.size), np.nan)
    for i in range(k1.size):
        table = np.array([[k1[i], n1[i] - k1[i]], [k2[i], n2[i] - k2[i]]], dtype=int)
        if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
            continue
        res = odds_ratio(table, kind="conditional")
        ci = res.confidence_interval(confidence_level=confidence)
        out[:, i] = res.statistic, ci.low, ci.high
    return out[0], out[1], out[2]


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------
def binom_exact(k, n, p0, alternative: str = "two-sided") -> np.ndarray:
    """Exact binomial test p-values (scipy ``binomtest``), one per row; NaN when ``n = 0``."""
    k, n, p0 = np.broadcast_arrays(*(np.atleast_1d(_arr(x)) for x in (k, n, p0)))
    out = np.full(k.shape, np.nan)
    for i in range(k.size):
        if n[i] > 0 and 0 <= p0[i] <= 1:
            out[i] = stats.binomtest(
                int(k[i]), int(n[i]), float(p0[i]), alternative=alternative
            ).pvalue
    return out


def two_proportions(
    k1, n1, k2, n2, alternative: str = "two-sided", method: str = "auto", min_expected: float = 5.0
):
    """Compare two independent proportions, group 1 against group 2.

    ``method="auto"`` uses Fisher's exact test when a cell of the 2×2 table has an expected
    count under ``min_expected`` (Cochran's rule) and the pooled score z test otherwise;
    ``"fisher"`` and ``"z"`` force one. Returns ``(statistic, p_value, method_used)`` arrays;
    the statistic is z for the score test and the sample odds ratio for Fisher's test.
    """
    k1, n1, k2, n2 = np.broadcast_arrays(*(np.atleast_1d(_arr(x)) for x in (k1, n1, k2, n2)))
    n = n1 + n2
    k = k1 + k2
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = k / n
        expected = np.minimum.reduce(
            [n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled)]
        )
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (k1 / n1 - k2 / n2) / se
    if alternative == "less":
        p_z = stats.norm.cdf(z)
    elif alternative == "greater":
        p_z = stats.norm.sf(z)
    else:
        p_z = 2 * stats.norm.sf(np.abs(z))
    use_fisher = np.full(k1.shape, method == "fisher")
    if method == "auto":
        use_fisher = expected < min_expected
    valid = (n1 > 0) & (n2 > 0)
    # a table with no success or no failure at all: nothing to test, p = 1
    p_z = np.where(valid & (se == 0), 1.0, p_z)
    z = np.where(valid & (se == 0), 0.0, z)
    stat = z.copy()
    p = p_z.copy()
    for i in np.flatnonzero(use_fisher & valid):
        table = [[int(k1[i]), int(n1[i] - k1[i])], [int(k2[i]), int(n2[i] - k2[i])]]
        res = stats.fisher_exact(table, alternative=alternative)
        stat[i], p[i] = res.statistic, res.pvalue
    used = np.where(use_fisher, "fisher", "z")
    p = np.where(valid, p, np.nan)
    stat = np.where(valid, stat, np.nan)
    return stat, p, used


def t_pvalue(t, df, alternative: str) -> np.ndarray:
    """p-value of a t statistic (``df`` may be inf for the normal)."""
    t, df = _arr(t), _arr(df)
    if alternative == "less":
        return stats.t.cdf(t, df)
    if alternative == "greater":
        return stats.t.sf(t, df)
    return 2 * stats.t.sf(np.abs(t), df)


# ---------------------------------------------------------------------------------------------
# minimum detectable effects
# ---------------------------------------------------------------------------------------------
def mde_h(
    n1, n2=None, alpha: float = 0.05, power: float = 0.8, alternative: str = "worse"
) -> np.ndarray:
    """Smallest Cohen's h a z test detects with probability ``power``.

    ``h = (z_{1−α'} + z_{power}) √(1/n1 + 1/n2)`` with ``α' = α`` one-sided, ``α/2`` two-sided
    (Cohen 1988, eq. 6.3.1; without ``n2``, ``√(1/n1)``: a proportion against a fixed value).
    The two-sided formula neglects the far tail, as statsmodels' ``NormalIndPower`` does not;
    the difference is below 1e-6 at power 0.8.
    """
    a = alpha if alternative != "two-sided" else alpha / 2
    mult = stats.norm.ppf(1 - a) + stats.norm.ppf(power)
    n1 = _arr(n1)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = 1 / n1 if n2 is None else 1 / n1 + 1 / _arr(n2)
        return mult * np.sqrt(var)


def h_to_difference(p_ref, h, worse_sign: int) -> np.ndarray:
    """Turn a Cohen's h into a difference in proportion from ``p_ref`` (in the worse direction).

    The proportion ``p`` with ``2 asin √p = 2 asin √p_ref + worse_sign·h`` (bounded to [0, 1]),
    returned as ``|p − p_ref|``.
    """
    p_ref, h = _arr(p_ref), _arr(h)
    with np.errstate(invalid="ignore"):
        phi = np.clip(2 * np.arcsin(np.sqrt(p_ref)) + worse_sign * h, 0.0, np.pi)
        p = np.sin(phi / 2) ** 2
    return np.abs(p - p_ref)


def mde_t(
    se, df, alpha: float = 0.05, power: float = 0.8, alternative: str = "worse"
) -> np.ndarray:
    """Minimum detectable effect of a t test with standard error ``se`` and ``df`` degrees of
    freedom: ``(t_{1−α', df} + t_{power, df}) × se`` (Bloom 1995, *Evaluation Review* 19:547).
    """
    a = alpha if alternative != "two-sided" else alpha / 2
    df = _arr(df)
    mult = stats.t.ppf(1 - a, df) + stats.t.ppf(power, df)
    return mult * _arr(se)
