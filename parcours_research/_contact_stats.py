"""Group means and their comparisons (private): the weighted least-squares band and channel
means with a robust covariance, Hsu's multiple comparison with the best, the step tests of
"too few" and "too many", and the contact bands. Shared by :func:`contact_pressure` and
:func:`channel_fit` (:mod:`parcours_research.contact` describes the model).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtr

__all__ = [
    "compare_with_best",
    "group_fit",
    "step_tests",
    "contact_bands",
    "band_of",
    "band_label",
]


# ---------------------------------------------------------------------------------------------
# comparison with the best (shared by contact bands and channels)
# ---------------------------------------------------------------------------------------------
def compare_with_best(y, w, group, *, cluster=None, confidence: float = 0.95) -> pd.DataFrame:
    """Weighted group means (WLS on group indicators, robust covariance) and each group's
    multiple comparison with the best (Bonferroni form of Hsu's MCB).

    Parameters
    ----------
    y, w : array-like
        Outcome and survey weights (one per row).
    group : array-like of int
        Group index of each row, 0 .. K-1 (every group present).
    cluster : array-like, optional
        Primary sampling unit (or respondent) of each row: cluster-robust covariance; else HC1.
    confidence : float

    Returns
    -------
    DataFrame
        One row per group: ``group, n, n_eff, estimate, se, ci_low, ci_high, diff_best,
        diff_low, diff_high, p_value`` (``p_value``: "this group is the best" rejected).
    """
    y, w, group = np.asarray(y, float), np.asarray(w, float), np.asarray(group, int)
    mean, cov = group_fit(y, w, group, cluster=cluster)
    return _best_table(mean, cov, w, group, confidence)


def _best_table(mean, cov, w, group, confidence: float) -> pd.DataFrame:
    """:func:`compare_with_best`'s table from the fitted means and covariance."""
    k = len(mean)
    z = stats.norm.ppf(0.5 + confidence / 2)
    se = np.sqrt(np.diag(cov))
    best = int(np.argmax(mean))
    rows = []
    for j in range(k):
        in_j = group == j
        sd = np.sqrt(max(cov[j, j] + cov[best, best] - 2 * cov[j, best], 0.0))
        d = mean[j] - mean[best]
        rows.append(
            {
                "group": j,
                "n": int(in_j.sum()),
                "n_eff": _kish(w[in_j]),
                "estimate": mean[j],
                "se": se[j],
                "ci_low": mean[j] - z * se[j],
                "ci_high": mean[j] + z * se[j],
                "diff_best": d,
                "diff_low": d - z * sd if j != best else 0.0,
                "diff_high": d + z * sd if j != best else 0.0,
                "p_value": _mcb_p(mean, cov, j),
            }
        )
    return pd.DataFrame(rows)


def group_fit(y, w, group, *, cluster=None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted group means and their robust covariance: statsmodels WLS of ``y`` on the group
    indicators (no intercept) with weights ``w``, HC1 or clustered on ``cluster``."""
    # the model module alone: ``statsmodels.api`` imports much more (about 1.5 s)
    from statsmodels.regression.linear_model import WLS

    y, w, group = np.asarray(y, float), np.asarray(w, float), np.asarray(group, int)
    x = np.eye(int(group.max()) + 1)[group]
    # the indicators sum to one: an implicit constant, stated instead of detected (the
    # detection is a rank computation; it changes neither the means nor their covariance)
    model = WLS(y, x, weights=w, hasconst=False)
    if cluster is not None:
        codes = pd.factorize(pd.Series(np.asarray(cluster)).astype(str))[0]
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": codes})
    else:
        fit = model.fit(cov_type="HC1")
    return np.asarray(fit.params), np.asarray(fit.cov_params())


def step_tests(mean, cov, totals, *, confidence: float = 0.95) -> pd.DataFrame:
    """The best step of each side: is satisfaction lower above a cut ("too many") or below it
    ("too few")?

    For each cut ``c`` between ordered groups (1 .. K-1), the difference between the weighted
    mean of the groups from ``c`` on and that of the groups before it (a linear combination of
    the group means, weights ``totals``: the groups' sums of weights) with its variance from
    ``cov``; one-sided p-values. Per side, the cut with the smallest p-value is kept and its
    p-value multiplied by the K-1 cuts scanned (Bonferroni).

    Returns
    -------
    DataFrame
        Two rows, ``side`` ``"too few"`` and ``"too many"``: ``side, cut`` (first group of the
        upper part), ``diff`` (mean of the zone minus mean of the rest), ``diff_low,
        diff_high``, ``p_value``.
    """
    mean, cov, totals = np.asarray(mean, float), np.asarray(cov, float), np.asarray(totals, float)
    k = len(mean)
    z = stats.norm.ppf(0.5 + confidence / 2)
    rows = []
    for cut in range(1, k):
        a = np.zeros(k)
        a[cut:] = totals[cut:] / totals[cut:].sum()
        a[:cut] = -totals[:cut] / totals[:cut].sum()
        d, sd = float(a @ mean), float(np.sqrt(max(a @ cov @ a, 1e-300)))
        # too many: the upper part is worse (d < 0); too few: the lower part is (d > 0)
        rows.append(("too many", cut, d, sd, ndtr(d / sd)))
        rows.append(("too few", cut, -d, sd, ndtr(-d / sd)))
    out = []
    for side in ("too few", "too many"):
        side_rows = [r for r in rows if r[0] == side]
        if not side_rows:
            out.append(
                {
                    "side": side,
                    "cut": np.nan,
                    "diff": np.nan,
                    "diff_low": np.nan,
                    "diff_high": np.nan,
                    "p_value": np.nan,
                }
            )
            continue
        _, cut, d, sd, p = min(side_rows, key=lambda r: r[4])
        out.append(
            {
                "side": side,
                "cut": cut,
                "diff": d,
                "diff_low": d - z * sd,
                "diff_high": d + z * sd,
                "p_value": min(1.0, (k - 1) * p),
            }
        )
    return pd.DataFrame(out)


def _mcb_p(mean, cov, j: int) -> float:
    """p-value of "group j is the best": Bonferroni over the one-sided comparisons with every
    other group (small when some group is significantly better than j)."""
    k = len(mean)
    ps = []
    for other in range(k):
        if other == j:
            continue
        sd = np.sqrt(max(cov[j, j] + cov[other, other] - 2 * cov[j, other], 1e-300))
        ps.append(ndtr((mean[j] - mean[other]) / sd))
    return float(min(1.0, (k - 1) * min(ps))) if ps else 1.0


def _kish(w) -> float:
    w = np.asarray(w, float)
    return float(w.sum() ** 2 / (w**2).sum()) if len(w) and (w**2).sum() > 0 else 0.0


def _adjust(p: pd.Series, correction: str) -> np.ndarray:
    from .friction.correction import adjust_pvalues

    return adjust_pvalues(p.to_numpy(), correction)


# ---------------------------------------------------------------------------------------------
# contact bands
# ---------------------------------------------------------------------------------------------
def contact_bands(contacts, min_n: int) -> list[tuple[int, int]]:
    """Bands of whole contact counts, ``[(low, high), ...]``: counts pooled from the lowest up
    until a band holds ``min_n`` values (the last band takes what is left)."""
    v = np.floor(np.asarray(contacts, float)).astype(int)
    values, counts = np.unique(v, return_counts=True)
    bands, cur, n = [], [], 0
    for val, c in zip(values.tolist(), counts.tolist(), strict=True):
        cur.append(val)
        n += c
        if n >= min_n:
            bands.append(cur)
            cur, n = [], 0
    if cur:
        if bands:
            bands[-1].extend(cur)
        else:
            bands.append(cur)
    return [(b[0], b[-1]) for b in bands]


def band_of(contacts, bands) -> np.ndarray:
    """Index of the band of each contact count (counts below the first band go to it)."""
    lows = np.array([lo for lo, _ in bands])
    v = np.floor(np.asarray(contacts, float)).astype(int)
    return np.clip(np.searchsorted(lows, v, side="right") - 1, 0, len(bands) - 1)


def band_label(band: tuple[int, int], last: bool) -> str:
    lo, hi = band
    if last and hi > lo:
        return f"{lo}+"
    return str(lo) if lo == hi else f"{lo}-{hi}"
