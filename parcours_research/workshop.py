"""Staff against customers: what the organisation believes customers feel, against what
customers say in the workshop and what the survey measures.

The seeds' co-construction workshops put staff and customers in one room; the gap between
what staff predict and what customers rate is the finding. :func:`staff_vs_customers` measures
it per touchpoint, with tests corrected for the number of touchpoints.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ._inputs import study_of
from .errors import AnalysisError, Problem

__all__ = ["staff_vs_customers", "COMPARISON_COLUMNS"]

#: Columns of :func:`staff_vs_customers`.
COMPARISON_COLUMNS = (
    "touchpoint", "label", "order", "n_staff", "staff_mean", "n_customers", "customer_mean",
    "survey_estimate", "survey_ci_low", "survey_ci_high",
    "gap_customers", "p_customers", "p_customers_adj", "gap_survey", "p_survey", "p_survey_adj",
)


def staff_vs_customers(study, ratings: pd.DataFrame, *, confidence: float = 0.95,
                       correction: str = "holm", lang: str = "fr") -> pd.DataFrame:
    """Staff-predicted ratings per touchpoint beside customers' workshop ratings and the survey.

    Parameters
    ----------
    study : Study or Evidence
        The study; its survey score per touchpoint is
        :func:`~parcours_research.satisfaction.study_scores` (the report's ``scores_touchpoint``
        table), with its design-based interval.
    ratings : DataFrame
        Workshop ratings (:func:`~parcours_research.ratings.read_ratings`), with ``role``
        ``"staff"`` or ``"customer"``; ratings without a role are left out.
    confidence : float, default 0.95
        Level of the survey interval.
    correction : str, default "holm"
        Multiple-testing correction over touchpoints (any ``correction`` of
        :func:`parcours_research.friction.correct`).
    lang : {"fr", "en"}
        Language of the labels.

    Returns
    -------
    DataFrame
        One row per touchpoint in journey order, columns :data:`COMPARISON_COLUMNS`:

        * ``n_staff``, ``staff_mean``, ``n_customers``, ``customer_mean``: workshop ratings
          (plain means: participants are not a sample);
        * ``survey_estimate``, ``survey_ci_low``, ``survey_ci_high``: the survey's score;
        * ``gap_customers`` = staff − customers, with Welch's two-sample t-test ``p_customers``;
        * ``gap_survey`` = staff − survey, tested with Welch's statistic where the survey mean's
          design variance replaces a second sample variance (Satterthwaite degrees of freedom
          with the survey's design df);
        * ``*_adj``: p-values corrected over the touchpoints tested.
        Gaps and p-values are NaN where a side has fewer than two ratings.
    """
    from .friction import correct
    from .satisfaction import study_scores

    st = study_of(study)
    if st is None:
        raise AnalysisError("staff_vs_customers needs a study",
                            [Problem("not a study", fix="pass pr.load_study(folder)")])
    _check_ratings(ratings)
    survey = study_scores(study, confidence=confidence).set_index("touchpoint")
    tps = st.journey.touchpoints_frame(lang)[["touchpoint", "label", "order"]]
    rows = [_compare(tp, ratings, survey) for tp in tps["touchpoint"]]
    out = tps.merge(pd.DataFrame(rows), on="touchpoint", how="left")
    for gap in ("customers", "survey"):
        tests = pd.DataFrame({"p_value": out[f"p_{gap}"], "family": gap})
        out[f"p_{gap}_adj"] = correct(tests, correction=correction)["p_adj"].to_numpy()
    return out.sort_values("order").reset_index(drop=True)[list(COMPARISON_COLUMNS)]


def _check_ratings(ratings: pd.DataFrame) -> None:
    missing = {"role", "touchpoint", "score"} - set(ratings.columns)
    if missing:
        raise AnalysisError("The workshop ratings lack columns", [
            Problem(f"missing column {c!r}", column=c, fix="read them with pr.ratings.read_ratings")
            for c in sorted(missing)])


def _compare(tp: str, ratings: pd.DataFrame, survey: pd.DataFrame) -> dict:
    here = ratings[ratings["touchpoint"] == tp]
    staff = here.loc[here["role"] == "staff", "score"].to_numpy(dtype=float)
    cust = here.loc[here["role"] == "customer", "score"].to_numpy(dtype=float)
    row = {"touchpoint": tp, "n_staff": len(staff), "n_customers": len(cust),
           "staff_mean": staff.mean() if len(staff) else np.nan,
           "customer_mean": cust.mean() if len(cust) else np.nan,
           "gap_customers": np.nan, "p_customers": np.nan, "gap_survey": np.nan, "p_survey": np.nan}
    s = survey.loc[tp] if tp in survey.index else None
    row.update(survey_estimate=s["estimate"] if s is not None else np.nan,
               survey_ci_low=s["ci_low"] if s is not None else np.nan,
               survey_ci_high=s["ci_high"] if s is not None else np.nan)
    if len(staff) >= 2 and len(cust) >= 2:
        row["gap_customers"] = staff.mean() - cust.mean()
        if staff.var(ddof=1) + cust.var(ddof=1) > 0:
            row["p_customers"] = stats.ttest_ind(staff, cust, equal_var=False).pvalue
    if len(staff) >= 2 and s is not None and np.isfinite(s["se"]):
        row["gap_survey"] = staff.mean() - s["estimate"]
        row["p_survey"] = _welch_against_estimate(staff, s["estimate"], s["se"], s["df"])
    return row


def _welch_against_estimate(x: np.ndarray, estimate: float, se: float, df_est: float) -> float:
    """Two-sided p-value of mean(x) = estimate, where the estimate has standard error ``se``
    on ``df_est`` degrees of freedom: Welch's statistic and Satterthwaite's df."""
    a, b = x.var(ddof=1) / len(x), se**2
    if a + b == 0:
        return np.nan
    t = (x.mean() - estimate) / np.sqrt(a + b)
    df = (a + b) ** 2 / (a**2 / (len(x) - 1) + (b**2 / df_est if df_est > 0 else 0.0))
    return float(2 * stats.t.sf(abs(t), df))
