"""Moments of truth from the data: which touchpoints drive each persona's overall satisfaction
and recommendation, a peak–end test, and a verdict against study.yml's ``moment_of_truth`` flag.

A moment of truth is declared by hand in study.yml; seed 004 ("souvenir") says it is the moment
customers remember, the one that drives what they think of the whole experience and what they
recommend. :func:`moments_of_truth` tests the declaration against the survey, per persona:

* **importance**: the touchpoint's Shapley/LMG share of R² in the weighted regression of overall
  satisfaction (and of the likelihood to recommend, NPS question) on the touchpoint ratings,
  computed by the kit's key-driver machinery (:mod:`parcours_research._importance`, the
  estimator behind :func:`parcours_research.satisfaction.drivers`) with the study's weights;
  intervals from the design's Rao–Wu bootstrap replicate weights drawn over the whole sample
  and restricted to the persona (a domain estimate);
* **driver test**: every rating shares the respondent's general mood, so every touchpoint
  correlates with overall satisfaction; a *driver* is a touchpoint whose importance stands out,
  i.e. exceeds the persona's mean importance ``R²/p`` (the "high importance" side of the kit's
  importance–performance matrix). One-sided bootstrap p-value of ``excess = importance − R²/p``,
  Benjamini–Hochberg over every persona × touchpoint cell of the outcome;
* **peak–end test** (:func:`peak_end`): does the respondent's worst rating and the rating of the
  last touchpoint they experienced explain overall satisfaction beyond their mean rating?
  Nested design-based regression ``overall ~ mean + worst + last``, Wald F test of the two
  added terms with Taylor-linearised variance (R's ``svyglm`` + ``regTermTest``).

Verdicts (decision rule: a cell is a driver when the Benjamini–Hochberg adjusted p-value of its
excess importance for overall satisfaction is below ``1 − confidence``):

=========================  ===================================================================
``confirmed``              declared a moment of truth and a driver
``declared, not a driver`` declared, not found to drive (see its interval: maybe too few)
``undeclared driver``      a driver study.yml does not declare: a candidate moment of truth
``not a driver``           neither declared nor a driver
``too few ratings``        rated by fewer than ``min_n`` respondents of the persona or by less
                           than ``min_share`` of them: not judged
=========================  ===================================================================

Recommendation (NPS) is reported beside (``nps_*`` columns, its own correction) and does not
change the verdict: overall satisfaction is the primary outcome.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from . import _importance as imp
from .errors import AnalysisError, Problem, check_one_of

__all__ = [
    "moments_of_truth",
    "peak_end",
    "MomentsResult",
    "VERDICTS",
    "excess_pvalues",
    "verdicts",
]

VERDICTS = (
    "confirmed",
    "declared, not a driver",
    "undeclared driver",
    "not a driver",
    "too few ratings",
)
SUMMARY_COLUMNS = [
    "persona",
    "touchpoint",
    "declared",
    "n",
    "importance",
    "share",
    "ci_low",
    "ci_high",
    "excess",
    "p_value",
    "p_adj",
    "driver",
    "nps_importance",
    "nps_ci_low",
    "nps_ci_high",
    "nps_p_value",
    "nps_p_adj",
    "nps_driver",
    "verdict",
]
PEAK_END_COLUMNS = [
    "persona",
    "n",
    "coef_mean",
    "coef_worst",
    "worst_ci_low",
    "worst_ci_high",
    "coef_last",
    "last_ci_low",
    "last_ci_high",
    "r2_mean",
    "r2_full",
    "f_stat",
    "df_num",
    "df_den",
    "p_value",
    "p_adj",
    "peak_end",
]
_ALL = "all"


# ---------------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class MomentsResult:
    """Moments of truth found in the data (:func:`moments_of_truth`).

    Attributes
    ----------
    summary : DataFrame
        One row per persona × touchpoint, in persona then journey order: ``persona,
        touchpoint, declared, n, importance, share, ci_low, ci_high, excess, p_value, p_adj,
        driver, nps_importance, nps_ci_low, nps_ci_high, nps_p_value, nps_p_adj, nps_driver,
        verdict``. ``importance`` is the touchpoint's Shapley part of R² for overall
        satisfaction within the persona (``share`` its proportion of R²), ``ci_low/ci_high``
        its percentile bootstrap interval, ``excess`` the importance minus the persona's mean
        importance, ``p_value`` the one-sided bootstrap p-value of ``excess > 0``, ``p_adj``
        Benjamini–Hochberg over every cell, ``driver`` = ``p_adj < 1 − confidence``; the
        ``nps_`` columns the same for the likelihood to recommend (NaN without an NPS
        question). ``n``: the persona's respondents who rated the touchpoint and answered the
        overall question. NaN statistics for ``too few ratings``.
    peak_end : DataFrame
        The peak–end test per persona and for all respondents (:func:`peak_end`).
    confidence : float
    n_boot, seed : int
    outcome, nps : str or None
        The overall satisfaction and recommendation questions.
    by : str or None
    """

    summary: pd.DataFrame
    peak_end: pd.DataFrame
    confidence: float
    n_boot: int
    seed: int
    outcome: str
    nps: str | None
    by: str | None

    def verdicts(self, verdict: str) -> pd.DataFrame:
        """The rows with that verdict (one of :data:`VERDICTS`)."""
        check_one_of("verdict", verdict, list(VERDICTS))
        return self.summary[self.summary["verdict"] == verdict].reset_index(drop=True)

    @property
    def group(self) -> str:
        """The name of the group column of the tables (``persona`` unless ``by`` names another)."""
        return self.by if self.by not in (None, "persona") else "persona"

    def _lines(self) -> list[str]:
        s = self.summary.rename(columns={self.group: "persona"})
        counts = s["verdict"].value_counts()
        lines = [
            f"MomentsResult: {s['touchpoint'].nunique()} touchpoints x {s['persona'].nunique()} "
            f"groups, outcome {self.outcome!r}"
            + (f" (recommendation {self.nps!r})" if self.nps else ""),
            "verdicts: " + ", ".join(f"{v} {int(counts.get(v, 0))}" for v in VERDICTS),
        ]
        for r in s[s["verdict"].isin(["confirmed", "undeclared driver"])].itertuples():
            lines.append(
                f"  {r.verdict:<18} {r.persona:<14} {r.touchpoint:<18} share "
                f"{r.share:.0%}, p_adj {r.p_adj:.3g}"
            )
        for r in self.peak_end.rename(columns={self.group: "persona"}).itertuples():
            lines.append(
                f"  peak-end {r.persona:<14} worst {r.coef_worst:+.3f}, last "
                f"{r.coef_last:+.3f}, p_adj {r.p_adj:.3g}: {r.peak_end}"
            )
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        head = "<br>".join(html.escape(x) for x in self._lines()[:2])
        fmt = {"float_format": lambda x: f"{x:.4f}", "index": False}
        return (
            f"<p>{head}</p>"
            + self.summary.to_html(**fmt)
            + "<p><b>Peak–end test</b></p>"
            + self.peak_end.to_html(**fmt)
        )


# ---------------------------------------------------------------------------------------------
# the decision rule (pure functions, tested on hand-built cases)
# ---------------------------------------------------------------------------------------------
def excess_pvalues(point: np.ndarray, replicates: np.ndarray) -> np.ndarray:
    """One-sided bootstrap p-values of ``importance_j > mean importance``.

    Parameters
    ----------
    point : array (p,)
        Importance of each driver on the full sample.
    replicates : array (B, p)
        Importance in each bootstrap replicate.

    Returns
    -------
    array (p,)
        ``(1 + #{b: excess*_bj <= 0}) / (B + 1)`` where ``excess* = importance* − mean``
        (the percentile p-value, never 0); 1.0 where the point excess is not positive.
    """
    point = np.asarray(point, dtype=float)
    reps = np.asarray(replicates, dtype=float)
    ex0 = point - point.mean()
    ex = reps - np.nanmean(reps, axis=1, keepdims=True)
    ok = np.isfinite(ex).all(axis=1)
    ex = ex[ok]
    p = (1.0 + (ex <= 0).sum(axis=0)) / (len(ex) + 1.0)
    return np.where(ex0 > 0, p, 1.0)


def verdicts(declared, driver, judged) -> np.ndarray:
    """The verdict of each cell from three boolean arrays (see the module's table)."""
    declared, driver, judged = (np.asarray(a, dtype=bool) for a in (declared, driver, judged))
    out = np.select(
        [~judged, declared & driver, declared, driver],
        ["too few ratings", "confirmed", "declared, not a driver", "undeclared driver"],
        "not a driver",
    )
    return out.astype(object)


def _bh(p: pd.Series) -> pd.Series:
    from .friction.correction import adjust_pvalues

    return pd.Series(adjust_pvalues(p.to_numpy(), "bh"), index=p.index)


# ---------------------------------------------------------------------------------------------
# importance per persona
# ---------------------------------------------------------------------------------------------
#: replicate matrices made positive definite: the one repair of drivers and moments
_nearest_correlation = imp.nearest_correlation


def _numeric(r: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """The columns as numbers (NaN where missing or not a number), one float array."""
    return np.column_stack(
        [pd.to_numeric(r[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan) for c in cols]
    )


def _ratings(x: pd.DataFrame) -> tuple[np.ndarray, dict]:
    """A domain's ratings as one float array (outcome first, NaN where missing) and the
    position of each column: the arithmetic below reads arrays, not pandas columns."""
    return x.to_numpy(dtype=float, na_value=np.nan), {c: i for i, c in enumerate(x.columns)}


def _judged(x: pd.DataFrame, w: np.ndarray, cols: list[str], min_n: int, min_share: float):
    """The driver columns kept for a domain: enough ratings, and a positive definite matrix
    (dropping the least-rated touchpoint until it is)."""
    a, pos = _ratings(x)
    y_ok = ~np.isnan(a[:, 0])
    rated = a[y_ok]
    counts = {c: int((~np.isnan(a[:, pos[c]]) & y_ok).sum()) for c in cols}

    def varies(c) -> bool:  # more than one distinct rating where the outcome is answered
        v = rated[:, pos[c]]
        return np.unique(v[~np.isnan(v)]).size > 1

    keep = [
        c for c in cols if counts[c] >= min_n and counts[c] >= min_share * y_ok.sum() and varies(c)
    ]
    while len(keep) > 1:
        corr, _ = imp.weighted_corr(rated[:, [0, *(pos[c] for c in keep)]], w[y_ok])
        if np.isfinite(corr).all() and np.linalg.eigvalsh(corr[0]).min() > 1e-8:
            break
        keep.remove(min(keep, key=lambda c: counts[c]))
    return keep, counts


def _domain_importance(x, w, reps, cols, method):
    """Point and replicate importance (B + 1, p) of ``cols`` for the outcome (column 0)."""
    a, pos = _ratings(x)
    y_ok = ~np.isnan(a[:, 0])
    arr = a[y_ok][:, [0, *(pos[c] for c in cols)]]
    corr, _ = imp.weighted_corr(arr, np.vstack([w[y_ok], reps[:, y_ok]]))
    corr[1:] = _nearest_correlation(np.nan_to_num(corr[1:], nan=0.0))
    if method == "shapley":
        return imp.shapley(imp.subset_r2(corr), len(cols))
    return imp.relative_weights(corr)


_TABLE_STATS = ("importance", "ci_low", "ci_high", "excess", "p_value")


def _outcome_stats(x, w, reps, cols, judged, confidence, method) -> dict:
    """``{importance, ci_low, ci_high, excess, p_value: array over cols}`` of one domain
    (NaN for the columns not judged)."""
    out = {k: np.full(len(cols), np.nan) for k in _TABLE_STATS}
    if len(judged) < 2:
        return out
    values = _domain_importance(x, w, reps, judged, method)
    alpha = 1 - confidence
    lo, hi = np.nanquantile(values[1:], [alpha / 2, 1 - alpha / 2], axis=0)
    rows = np.array([c in judged for c in cols], dtype=bool)
    order = [judged.index(c) for c in cols if c in judged]
    out["importance"][rows] = values[0][order]
    out["ci_low"][rows] = lo[order]
    out["ci_high"][rows] = hi[order]
    out["excess"][rows] = (values[0] - values[0].mean())[order]
    out["p_value"][rows] = excess_pvalues(values[0], values[1:])[order]
    return out


def _outcome_table(x, w, reps, cols, judged, confidence, method) -> pd.DataFrame:
    """``touchpoint column, importance, ci_low, ci_high, excess, p_value`` of one domain."""
    stats = _outcome_stats(x, w, reps, cols, judged, confidence, method)
    return pd.DataFrame({"column": cols, **stats})


def _domain_rows(name, x_sat, x_nps, w, reps, tp_cols, declared, opts) -> pd.DataFrame:
    """The summary rows of one persona (before the multiplicity correction)."""
    cols = list(tp_cols.values())
    judged, counts = _judged(x_sat, w, cols, opts["min_n"], opts["min_share"])
    sat = _outcome_stats(x_sat, w, reps, cols, judged, opts["confidence"], opts["method"])
    out = {
        "persona": name,
        "touchpoint": list(tp_cols),
        "declared": [declared[t] for t in tp_cols],
        "n": [counts[c] for c in cols],
        "judged": [c in judged for c in cols],
        **sat,
    }
    r2 = np.nansum(sat["importance"])
    out["share"] = sat["importance"] / r2 if r2 > 0 else np.nan
    nps = {k: np.nan for k in ("importance", "ci_low", "ci_high", "p_value")}
    if x_nps is not None:
        a, pos = _ratings(x_nps)
        nps_judged = [c for c in judged if (~np.isnan(a[:, pos[c]])).sum() >= opts["min_n"]]
        nps = _outcome_stats(x_nps, w, reps, cols, nps_judged, opts["confidence"], opts["method"])
    for c in ("importance", "ci_low", "ci_high", "p_value"):
        out[f"nps_{c}"] = nps[c]
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
def _evidence(study, weight, where: str):
    """The prepared evidence of a study (or Evidence) under the weighting rule ``weight``."""
    from .evidence import evidence_of

    ev = evidence_of(study, weight=weight)
    if ev is None:
        raise AnalysisError(
            f"{where} needs a loaded study (pr.load_study(folder)), not {type(study).__name__}."
        )
    st = ev.study
    overall = st.instrument.first("overall") if st.responses is not None else None
    if not overall or overall not in st.responses.columns:
        raise AnalysisError(
            f"{where}: the study has no survey with an overall satisfaction question.",
            [
                Problem(
                    "no overall question",
                    "study.yml",
                    column="survey",
                    fix="add a survey whose instrument has an `overall` question",
                )
            ],
        )
    return ev, overall


def _domains(responses: pd.DataFrame, by, study) -> list[tuple[str, np.ndarray]]:
    """``(name, row mask)`` of every group of ``by`` (journey order for personas), or one
    group ``"all"`` without ``by``."""
    if by is None:
        return [(_ALL, np.ones(len(responses), dtype=bool))]
    if by not in responses.columns:
        raise AnalysisError(
            f"by={by!r} is not a column of the survey responses.",
            [
                Problem(
                    f"unknown column {by!r}",
                    column=by,
                    fix="pass by='persona' or a column of the responses",
                )
            ],
        )
    codes, uniques = pd.factorize(responses[by].astype("string"))  # -1 where missing
    where = {str(u): i for i, u in enumerate(uniques)}
    known = [p.id for p in study.journey.personas] if by == "persona" else []
    names = [p for p in known if p in where]
    names += sorted(set(where) - set(names))
    return [(str(p), codes == where[p]) for p in names]


def _check_options(confidence, n_boot, method, min_n, min_share) -> None:
    problems = []
    if not (0 < confidence < 1):
        problems.append(Problem(f"confidence={confidence!r} must be between 0 and 1"))
    if not isinstance(n_boot, int | np.integer) or n_boot < 20:
        problems.append(
            Problem(
                f"n_boot={n_boot!r} must be an integer >= 20",
                fix="bootstrap p-values need replicates; 400 is the default",
            )
        )
    if not isinstance(min_n, int | np.integer) or min_n < 3:
        problems.append(Problem(f"min_n={min_n!r} must be an integer >= 3"))
    if not (0 <= min_share <= 1):
        problems.append(Problem(f"min_share={min_share!r} must be between 0 and 1"))
    if problems:
        raise AnalysisError("Cannot look for moments of truth.", problems)
    check_one_of("method", method, ["shapley", "relative_weights"])


def _replicates(ev, n_boot: int, seed: int) -> np.ndarray:
    """Rao–Wu bootstrap replicate weights (n_boot, n) of the whole sample under the study's
    design (domains are then read inside each replicate)."""
    from ._design import as_list, bootstrap_weights, sampling_fractions

    r, d = ev.responses, ev.design
    w = r["weight"].to_numpy(dtype=float)
    fraction = None
    if d["fpc"]:
        fraction = sampling_fractions(r, strata=d["strata"], cluster=d["cluster"], fpc=d["fpc"])
    return bootstrap_weights(
        w,
        int(n_boot),
        seed=seed,
        fraction=fraction,
        strata=None if d["strata"] is None else r[d["strata"]].to_numpy(),
        cluster=None if not as_list(d["cluster"]) else r[as_list(d["cluster"])[0]].to_numpy(),
    )


# ---------------------------------------------------------------------------------------------
# the analysis
# ---------------------------------------------------------------------------------------------
def moments_of_truth(
    study,
    *,
    by: str | None = "persona",
    weight: str | None = "default",
    confidence: float = 0.95,
    n_boot: int = 400,
    seed: int = 0,
    method: str = "shapley",
    min_n: int = 30,
    min_share: float = 0.6,
) -> MomentsResult:
    """Which touchpoints drive each persona's overall satisfaction and recommendation, a
    peak–end test, and a verdict against study.yml's ``moment_of_truth`` flag.

    Parameters
    ----------
    study : Study or Evidence
        A loaded study with a survey (touchpoint ratings and an ``overall`` question; an
        ``nps`` question adds the recommendation columns).
    by : str or None, default "persona"
        Column of the responses giving the groups; None for one group ``"all"``.
    weight : {"default", "rake", "design", None} or str, default "default"
        The study's weighting rule (:func:`parcours_research.prepare`).
    confidence : float, default 0.95
        Level of the intervals; a driver is a cell with ``p_adj < 1 − confidence``.
    n_boot : int, default 400
        Bootstrap replicates (Rao–Wu, the design's strata and clusters) for the intervals
        and the p-values (the smallest p-value is ``1/(n_boot + 1)``).
    seed : int, default 0
        Seed of the bootstrap.
    method : {"shapley", "relative_weights"}
        Importance measure (as :func:`parcours_research.satisfaction.drivers`).
    min_n : int, default 30
        Fewest ratings (with an overall answer) for a touchpoint to be judged in a persona.
    min_share : float, default 0.6
        Smallest share of the persona's respondents who rated the touchpoint for it to be
        judged: pairwise correlations over few overlapping rows are unstable.

    Returns
    -------
    MomentsResult
        ``.summary`` (persona × touchpoint, columns in :class:`MomentsResult`) and
        ``.peak_end`` (:func:`peak_end`).

    Notes
    -----
    The decision rule is documented in :mod:`parcours_research.moments`: driver when the
    Benjamini–Hochberg adjusted one-sided bootstrap p-value of the touchpoint's importance
    above the persona's mean importance is below ``1 − confidence``.
    """
    _check_options(confidence, n_boot, method, min_n, min_share)
    ev, overall = _evidence(study, weight, "moments_of_truth")
    st, r = ev.study, ev.responses
    nps = st.instrument.first("nps")
    nps = nps if nps and nps in r.columns else None
    tp_cols = dict(st.touchpoint_columns)
    declared = {t.id: bool(t.moment_of_truth) for t in st.journey.touchpoints}
    w_all = r["weight"].to_numpy(dtype=float)
    reps = _replicates(ev, n_boot, seed)
    opts = {"min_n": min_n, "min_share": min_share, "confidence": confidence, "method": method}
    frames = []
    cols = [overall, *tp_cols.values()]
    a = _numeric(r, cols)
    a_nps = None if nps is None else _numeric(r, [nps, *tp_cols.values()])
    for name, mask in _domains(r, by, st):
        x = pd.DataFrame(a[mask], columns=cols)
        x_nps = None if nps is None else pd.DataFrame(a_nps[mask], columns=cols)
        frames.append(
            _domain_rows(name, x, x_nps, w_all[mask], reps[:, mask], tp_cols, declared, opts)
        )
    summary = _finish(pd.concat(frames, ignore_index=True), confidence, by)
    _warn_few_replicates(summary, n_boot, confidence)
    pe = peak_end(ev, by=by, weight=weight, confidence=confidence)
    return MomentsResult(summary, pe, confidence, int(n_boot), int(seed), overall, nps, by)


def _warn_few_replicates(summary: pd.DataFrame, n_boot: int, confidence: float) -> None:
    """Warn when even the smallest bootstrap p-value, 1/(n_boot + 1), cannot pass the
    Benjamini–Hochberg correction for a tenth of the cells tested."""
    import warnings

    from .errors import ParcoursWarning

    m = int(summary["p_value"].notna().sum())
    k = max(1, m // 10)
    if m and (1 / (n_boot + 1)) * m / k >= 1 - confidence:
        warnings.warn(
            f"moments_of_truth: with n_boot={n_boot}, the smallest p-value is "
            f"{1 / (n_boot + 1):.3g}; after the correction over {m} cells few or no drivers can be "
            "found. Use n_boot=400 or more.",
            ParcoursWarning,
            stacklevel=3,
        )


def _finish(s: pd.DataFrame, confidence: float, by) -> pd.DataFrame:
    """Corrections, driver flags and verdicts; the documented columns in order."""
    alpha = 1 - confidence
    s["p_adj"] = _bh(s["p_value"].where(s["judged"]))
    s["nps_p_adj"] = _bh(s["nps_p_value"].where(s["judged"]))
    s["driver"] = (s["p_adj"] < alpha).to_numpy()
    s["nps_driver"] = (s["nps_p_adj"] < alpha).to_numpy()
    s["verdict"] = verdicts(s["declared"], s["driver"], s["judged"])
    out = s[SUMMARY_COLUMNS].reset_index(drop=True)
    return out.rename(columns={"persona": by}) if by not in (None, "persona") else out


# ---------------------------------------------------------------------------------------------
# peak–end
# ---------------------------------------------------------------------------------------------
def respondent_profile(ratings: pd.DataFrame) -> pd.DataFrame:
    """Each respondent's mean, worst and last rating from the long ratings.

    Parameters
    ----------
    ratings : DataFrame
        ``respondent_id, touchpoint, order, score`` (``pr.prepare(study).ratings``).

    Returns
    -------
    DataFrame
        Indexed by ``respondent_id``: ``n_rated, mean, worst, last``; ``last`` is the score of
        the rated touchpoint that comes last in the journey (highest ``order``).
    """
    d = ratings.dropna(subset=["score"]).sort_values(["respondent_id", "order"], kind="stable")
    g = d.groupby("respondent_id", sort=False)["score"]
    return pd.DataFrame({"n_rated": g.size(), "mean": g.mean(), "worst": g.min(), "last": g.last()})


def design_wls(y, x, design, present) -> dict:
    """Design-based weighted least squares over the rows ``present`` (a domain).

    ``beta = (X'WX)^-1 X'Wy``; variance ``A^-1 V(U) A^-1`` with ``U_i = w_i x_i e_i`` and
    ``V`` the Taylor variance of totals of the design (R ``svyglm``'s sandwich); degrees of
    freedom of the design in the domain minus the coefficients plus one (R ``svyglm``'s
    ``df.residual``). Returns ``beta, cov, df, r2``.
    """
    from ._variance import design_df, taylor_variance

    w = np.where(present, design.weights, 0.0)
    xw = x.T * w
    a = xw @ x
    beta = np.linalg.solve(a, xw @ y)
    e = np.where(present, y - x @ beta, 0.0)
    ainv = np.linalg.inv(a)
    cov = ainv @ taylor_variance(design, x * (w * e)[:, None], present=present) @ ainv
    ybar = np.sum(w * y) / w.sum()
    r2 = 1 - np.sum(w * e**2) / np.sum(w * (y - ybar) ** 2 * present)
    return {"beta": beta, "cov": cov, "df": design_df(design, present) + 1 - x.shape[1], "r2": r2}


def _peak_end_row(name, y, x, design, present, confidence) -> dict:
    fit = design_wls(y, x, design, present)
    mean_only = design_wls(y, x[:, :2], design, present)
    b, v, df = fit["beta"], fit["cov"], max(fit["df"], 1)
    q = [2, 3]
    wald = float(b[q] @ np.linalg.solve(v[np.ix_(q, q)], b[q]))
    f = wald / len(q)
    se = np.sqrt(np.diag(v))
    t = stats.t.ppf(1 - (1 - confidence) / 2, df)
    return {
        "persona": name,
        "n": int(present.sum()),
        "coef_mean": b[1],
        "coef_worst": b[2],
        "worst_ci_low": b[2] - t * se[2],
        "worst_ci_high": b[2] + t * se[2],
        "coef_last": b[3],
        "last_ci_low": b[3] - t * se[3],
        "last_ci_high": b[3] + t * se[3],
        "r2_mean": mean_only["r2"],
        "r2_full": fit["r2"],
        "f_stat": f,
        "df_num": len(q),
        "df_den": df,
        "p_value": float(stats.f.sf(f, len(q), df)),
    }


def peak_end(
    study,
    *,
    by: str | None = "persona",
    weight: str | None = "default",
    confidence: float = 0.95,
    min_rated: int = 3,
) -> pd.DataFrame:
    """The peak–end test: do the worst rating and the last touchpoint's rating explain overall
    satisfaction beyond the respondent's mean rating?

    Per group and for all respondents, the design-based weighted regression
    ``overall ~ mean + worst + last`` (study weights, the survey's strata and clusters, Taylor
    linearisation as R ``svyglm``) and the Wald F test of ``worst = last = 0`` (R
    ``regTermTest``), Benjamini–Hochberg over the rows.

    Parameters
    ----------
    study : Study or Evidence
    by : str or None, default "persona"
    weight : {"default", "rake", "design", None} or str, default "default"
    confidence : float, default 0.95
    min_rated : int, default 3
        Respondents with fewer rated touchpoints are left out (their worst and last rating
        are their mean).

    Returns
    -------
    DataFrame
        ``persona, n, coef_mean, coef_worst, worst_ci_low, worst_ci_high, coef_last,
        last_ci_low, last_ci_high, r2_mean, r2_full, f_stat, df_num, df_den, p_value, p_adj,
        peak_end``: ``n`` respondents used, the coefficients (overall-satisfaction points per
        rating point) with t intervals on ``df_den`` design degrees of freedom, weighted R² of
        the mean-only and full models, the F statistic, its p-value and adjusted p-value;
        ``peak_end`` is True when ``p_adj < 1 − confidence``. The last row, ``all``, pools
        every respondent.
    """
    from ._design import as_list
    from ._variance import build_design

    ev, overall = _evidence(study, weight, "peak_end")
    r, d = ev.responses, ev.design
    rid = ev.study.instrument.respondent_id
    prof = respondent_profile(ev.ratings).reindex(r[rid].astype(str).to_numpy())
    y = pd.to_numeric(r[overall], errors="coerce").to_numpy(dtype=float)
    x = np.column_stack([np.ones(len(r)), prof[["mean", "worst", "last"]].to_numpy(dtype=float)])
    ok = (
        np.isfinite(y)
        & np.isfinite(x).all(axis=1)
        & (prof["n_rated"].fillna(0) >= min_rated).to_numpy()
    )
    design = build_design(
        r,
        weight="weight",
        strata=d["strata"],
        cluster=as_list(d["cluster"]),
        fpc=as_list(d["fpc"]),
        where="peak_end",
    )
    y, x = np.nan_to_num(y), np.nan_to_num(x)
    groups = _domains(r, by, ev.study) + ([] if by is None else [(_ALL, np.ones(len(r), bool))])
    rows = [
        _peak_end_row(name, y, x, design, mask & ok, confidence)
        for name, mask in groups
        if (mask & ok).sum() > 10
    ]
    out = pd.DataFrame(rows, columns=PEAK_END_COLUMNS[:-2])
    out["p_adj"] = _bh(out["p_value"])
    out["peak_end"] = (out["p_adj"] < 1 - confidence).to_numpy()
    return out.rename(columns={"persona": by}) if by not in (None, "persona") else out
