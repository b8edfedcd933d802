"""Multiple-comparison correction by family of tests.

A friction analysis runs many tests (touchpoints × personas × comparisons). Each *family*
(by default one source and one kind of test, e.g. ``survey:vs_target``) is corrected on its
own, with Benjamini–Hochberg (false discovery rate) by default or Holm, Hochberg, Hommel,
Šidák or Bonferroni (family-wise error) on request, through
``statsmodels.stats.multitest.multipletests`` (Holm's step-down method is written here:
statsmodels' calls ``gc.collect()`` on every call).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._compat import deprecated_args, warn_deprecated
from ..errors import AnalysisError, Problem, check_one_of

__all__ = ["adjust_pvalues", "correct", "CORRECTIONS", "FAMILIES"]

#: Accepted names for ``correction=`` and the statsmodels method they stand for.
CORRECTIONS = {
    "bh": "fdr_bh",
    "fdr_bh": "fdr_bh",
    "holm": "holm",
    "hochberg": "simes-hochberg",
    "simes-hochberg": "simes-hochberg",
    "hommel": "hommel",
    "sidak": "sidak",
    "holm-sidak": "holm-sidak",
    "bonferroni": "bonferroni",
    "by": "fdr_by",
    "fdr_by": "fdr_by",
    "none": None,
}
#: How tests are grouped into families (``family=``): by test (``source:test``), by source, or
#: all together.
FAMILIES = ("test", "source", "all")


def __getattr__(name: str):
    if name == "FAMILY_LEVELS":  # the old name of FAMILIES, kept for one release
        warn_deprecated("pr.friction.correction", "FAMILY_LEVELS", "FAMILIES")
        return FAMILIES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def family_names(table: pd.DataFrame, family: str) -> pd.Series:
    """The family of every row of a test table when tests are grouped by ``family``."""
    check_one_of("family", family, FAMILIES)
    if family == "all":
        return pd.Series("all", index=table.index, dtype="string")
    if family == "source":
        return table["source"].astype("string")
    return (table["source"].astype("string") + ":" + table["test"].astype("string")).astype(
        "string"
    )


def adjust_pvalues(p, correction: str = "bh") -> np.ndarray:
    """Adjusted p-values of one family of tests; missing p-values stay missing and do not count.

    Parameters
    ----------
    p : array-like of float
        The family's p-values (NaN or None where a test could not run).
    correction : str, default "bh"
        A key of :data:`CORRECTIONS` (see :func:`correct`).

    Returns
    -------
    numpy.ndarray
        The adjusted p-values (statsmodels' ``multipletests``, as R's ``p.adjust``), NaN where
        ``p`` is missing.
    """
    check_one_of("correction", correction, list(CORRECTIONS))
    p = pd.to_numeric(pd.Series(p, dtype=object), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    method = CORRECTIONS[correction]
    if not ok.any():
        return out
    if method is None:
        out[ok] = p[ok]
    elif method == "holm":
        out[ok] = _holm(p[ok])
    else:
        from statsmodels.stats.multitest import multipletests

        out[ok] = multipletests(p[ok], method=method)[1]
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment, as R's ``p.adjust(p, "holm")``: the running maximum of the
    sorted ``p_(i) * (m - i + 1)``, capped at 1. Written here because statsmodels' ``holm``
    calls ``gc.collect()`` on every call (0.6 s in a process holding a study's evidence);
    ``tests/test_adjust_pvalues.py`` checks it against R's values and statsmodels'."""
    order = np.argsort(p, kind="stable")
    m = len(p)
    adj = np.minimum(np.maximum.accumulate(p[order] * np.arange(m, 0, -1)), 1.0)
    out = np.empty(m)
    out[order] = adj
    return out


@deprecated_args(positional=("correction", "alpha", "family"))
def correct(
    table: pd.DataFrame,
    *,
    correction: str = "bh",
    alpha: float = 0.05,
    family: str | None = None,
) -> pd.DataFrame:
    """Adjust the p-values of a test table within each family.

    Parameters
    ----------
    table : DataFrame
        A test table with ``p_value`` and ``family`` columns (or ``source`` and ``test`` when
        ``family`` is given).
    correction : str, default "bh"
        ``"bh"`` Benjamini–Hochberg (false discovery rate; ``fdr_bh``), ``"by"``
        Benjamini–Yekutieli (FDR under any dependence), or a family-wise error control:
        ``"holm"``, ``"hochberg"`` (step-up, Hochberg 1988; valid under independence or
        positive dependence; statsmodels' ``simes-hochberg``), ``"hommel"`` (Hommel 1988, the
        most powerful of these under the same conditions), ``"sidak"`` (``1 - (1 - p)^m``),
        ``"holm-sidak"`` (step-down Šidák), ``"bonferroni"``; ``"none"``. The adjusted p-values
        are those of R's ``p.adjust`` for the methods it shares (holm, hochberg, hommel,
        bonferroni, BH, BY).
    alpha : float, default 0.05
        Significance level of the ``significant`` column (``p_adj < alpha``); not a
        confidence level.
    family : {"test", "source", "all"}, optional
        Regroup the rows into families first: one per ``source:test`` (default of the
        ``test_*`` functions), one per source, or a single family. Without it the existing
        ``family`` column is used.

    Returns
    -------
    DataFrame
        A copy with ``family``, ``p_adj``, ``correction`` and ``significant`` set. Rows whose
        ``p_value`` is missing (not enough data) keep a missing ``p_adj`` and are not
        significant; they do not count in their family's size.
    """
    check_one_of("correction", correction, list(CORRECTIONS))
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise AnalysisError(f"alpha={alpha!r} is not valid: it must be between 0 and 1.")
    out = table.copy()
    if family is not None:
        missing = [c for c in ("source", "test") if c not in out.columns]
        if missing:
            raise AnalysisError(
                "correct: the table lacks columns to build families.",
                [Problem(f"missing column(s) {missing}", fix="pass a table made by pr.friction")],
            )
        out["family"] = family_names(out, family)
    for col in ("p_value", "family"):
        if col not in out.columns:
            raise AnalysisError(
                f"correct: the table has no {col!r} column.",
                [Problem(f"missing column {col!r}", fix="pass a table made by pr.friction")],
            )
    p = pd.to_numeric(out["p_value"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    adj = np.full(p.shape, np.nan)
    method = CORRECTIONS[correction]
    fam = out["family"].astype("string").fillna("").to_numpy()
    for name in pd.unique(fam):
        idx = np.flatnonzero(fam == name)
        adj[idx] = adjust_pvalues(p[idx], correction)
    out["p_adj"] = adj
    out["correction"] = "none" if method is None else method
    out["significant"] = np.isfinite(adj) & (adj < alpha)
    if "direction" in out.columns:
        out["friction"] = out["significant"] & (out["direction"] == "worse")
    return out
