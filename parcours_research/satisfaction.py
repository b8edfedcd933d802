"""Touchpoint satisfaction: scores with design-based uncertainty, and what drives satisfaction.

Two meanings of "weighting satisfaction per touchpoint" live here and in
:mod:`parcours_research.weighting`:

* *representativeness*: survey weights (:func:`parcours_research.weighting.rake`) enter every
  function below through ``weight=`` (with optional ``strata=`` and ``cluster=``);
* *importance*: how much each touchpoint matters to overall satisfaction (:func:`drivers`,
  :func:`penalty_reward`, :func:`kano`), set against performance in
  :func:`importance_performance`.

Ratings are analysed in long format (:func:`to_long`: one row per respondent and rated
touchpoint). Several ratings by one person are not independent, so the respondent is the
cluster of the design whenever a respondent has several rows (see :func:`scores`).

Variances are design-based and confidence intervals use the design degrees of freedom. For
one-stage designs with fixed weights, the means and shares come from ``svy`` (Taylor
linearisation); finite population corrections, multistage designs, replicate weights, totals,
ratios, quantiles and calibrated weights go through the kit's own engine
(:mod:`._estimators`, :mod:`._variance`, :mod:`._replicates`), written after R ``survey`` and
tested against its printed outputs (and against svy where both apply). Do not use
statsmodels' weighted statistics for survey data: they treat weights as frequencies.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from . import _importance as imp
from ._compat import deprecated_args, warn_deprecated
from ._design import (
    as_list,
    bootstrap_weights,
    check_columns,
    check_frame,
    kish,
    sampling_fractions,
    svy_errors,
    svy_sample,
    weight_problems,
    weights_of,
)
from ._estimators import (
    engine_problems,
    is_calibration,
    make_engine,
    mean_interval,
    quantile_estimate,
    ratio_estimate,
    share_interval,
    warn_df,
)
from ._variance import LONELY_PSU, lonely_from_singleton
from .contact import channel_fit  # purpose x channel (one purpose per interaction)
from .errors import AnalysisError, Problem, check_one_of

__all__ = [
    "answer_shares",
    "channel_fit",
    "study_scores",
    "METRICS",
    "KANO_TABLE",
    "QUADRANTS",
    "to_long",
    "scores",
    "drivers",
    "DriverResult",
    "penalty_reward",
    "kano",
    "kano_category",
    "importance_performance",
    "moments_of_truth",
    "MomentsResult",
]

METRICS = ("mean", "top2", "csat", "nps", "ces", "total", "ratio", "quantile")
_SVY_METRICS = ("mean", "top2", "csat", "nps", "ces")
SCORE_COLUMNS = ["metric", "estimate", "se", "ci_low", "ci_high", "df", "n", "n_eff"]
_PROP_CI = ("korn-graubard", "beta", "logit", "wilson")
_DEFAULT_SCALE = {"top2": (1, 5), "csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}


# ---------------------------------------------------------------------------------------------
# long format
# ---------------------------------------------------------------------------------------------
@deprecated_args(positional=("columns",))
def to_long(
    responses: pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    id: str = "respondent_id",  # noqa: A002 - the survey's own word
    keep: Sequence[str] | None = None,
    prefix: str = "sat_",
) -> pd.DataFrame:
    """Melt wide touchpoint ratings into one row per respondent and rated touchpoint.

    A blank rating means the respondent did not experience the touchpoint: it is not an answer,
    so it does not become a row.

    Parameters
    ----------
    responses : DataFrame
        One row per respondent.
    columns : dict, optional
        ``{touchpoint: column}`` (``instrument.touchpoint_columns()``). Default: every column
        starting with ``prefix``, the touchpoint being the rest of the name.
    id : str, default "respondent_id"
        The respondent identifier column (must be unique).
    keep : list of str, optional
        Respondent-level columns to carry to every row (``persona``, ``weight``, strata...).
    prefix : str, default "sat_"
        Used only when ``columns`` is None.

    Returns
    -------
    DataFrame
        Columns ``respondent_id``, the ``keep`` columns, ``touchpoint``, ``score`` (float);
        rows ordered by touchpoint (in the order of ``columns``) then respondent.

    Raises
    ------
    AnalysisError
        A named column is missing, identifiers are duplicated or missing, or a rating is not
        a number.
    """
    where = "to_long"
    responses = check_frame(responses, where)
    if columns is None:
        columns = _prefixed_columns(responses, prefix, where)
    keep = [c for c in as_list(keep) if c != id]
    problems = _to_long_problems(responses, columns, id, keep, where)
    if problems:
        raise AnalysisError("Cannot reshape the responses to long format.", problems)
    parts = []
    for tp, col in columns.items():
        score = pd.to_numeric(responses[col], errors="coerce").astype(float)
        ok = score.notna().to_numpy()
        part = {"respondent_id": responses[id].to_numpy()[ok]}
        part.update({k: responses[k].to_numpy()[ok] for k in keep})
        part["touchpoint"] = str(tp)
        part["score"] = score.to_numpy()[ok]
        parts.append(pd.DataFrame(part))
    out = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["respondent_id", *keep, "touchpoint", "score"])
    )
    return out[["respondent_id", *keep, "touchpoint", "score"]]


def _prefixed_columns(responses: pd.DataFrame, prefix: str, where: str) -> dict:
    """``{touchpoint: column}`` of the columns starting with ``prefix``; raises when none does."""
    columns = {
        c[len(prefix) :]: c
        for c in responses.columns
        if isinstance(c, str) and c.startswith(prefix)
    }
    if not columns:
        raise AnalysisError(
            f"{where}: no column starts with {prefix!r}.",
            [
                Problem(
                    "no touchpoint rating columns found",
                    fix="pass columns={touchpoint: column}",
                )
            ],
        )
    return columns


def _to_long_problems(responses, columns, id, keep, where) -> list[Problem]:  # noqa: A002
    """Problems of the wide responses: missing columns (alone, when any), then missing or
    duplicated identifiers and ratings that are not numbers."""
    problems = check_columns(
        responses, {"id": id, "keep": keep, "columns": list(columns.values())}, where
    )
    if problems:
        return problems
    ids = responses[id]
    if ids.isna().any():
        problems.append(
            Problem(
                f"{int(ids.isna().sum())} respondent(s) have no identifier",
                column=id,
                fix="give every respondent an identifier",
            )
        )
    dup = ids[ids.duplicated(keep=False) & ids.notna()]
    if len(dup):
        shown = ", ".join(map(str, dup.unique()[:5]))
        problems.append(
            Problem(
                f"{dup.nunique()} identifier(s) appear on several rows ({shown})",
                column=id,
                fix="one row per respondent: remove the duplicates",
            )
        )
    for tp, col in columns.items():
        vals = responses[col]
        num = pd.to_numeric(vals, errors="coerce")
        bad = vals.notna() & num.isna()
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            problems.append(
                Problem(
                    f"{int(bad.sum())} rating(s) of touchpoint {tp!r} are not numbers "
                    f"(e.g. {vals[bad].iloc[0]!r})",
                    row=first + 2,
                    column=col,
                    fix="ratings must be numbers; leave blank when not experienced",
                )
            )
    return problems


# ---------------------------------------------------------------------------------------------
# scores
# ---------------------------------------------------------------------------------------------
@deprecated_args(renamed={"level": "confidence"})
def scores(
    data: pd.DataFrame,
    score: str = "score",
    *,
    touchpoint: str | None = "touchpoint",
    by: str | Sequence[str] | None = "persona",
    metric: str | Sequence[str] = "mean",
    weight=None,
    strata: str | None = None,
    cluster: str | Sequence[str] | None = None,
    fpc: str | Sequence[str] | None = None,
    respondent: str | None = "respondent_id",
    confidence: float = 0.95,
    scale: tuple[float, float] | None = None,
    satisfied: float | None = None,
    ci: str | None = None,
    singleton: str | None = None,
    domain_singleton: bool = False,
    variance: str = "taylor",
    replicate_weights: str | Sequence[str] | None = None,
    replicate_scale: float | None = None,
    replicate_rscales: Sequence[float] | None = None,
    mse: bool = False,
    fay: float = 0.0,
    n_boot: int = 200,
    seed: int | None = 0,
    denominator: str | None = None,
    quantile: float = 0.5,
) -> pd.DataFrame:
    """Satisfaction scores per touchpoint (and group) with design-based uncertainty.

    Parameters
    ----------
    data : DataFrame
        Ratings, usually long format (:func:`to_long`): one row per respondent and rated
        touchpoint. Wide data works too with ``touchpoint=None`` (e.g. ``score="nps"``).
        Missing scores are left out of the estimates but kept in the design.
    score : str, default "score"
        The rating column (the numerator of ``metric="ratio"``).
    touchpoint : str or None, default "touchpoint"
        The touchpoint column (first grouping column); None for a score over all rows.
    by : str or list of str or None, default "persona"
        Further grouping columns (domains). Rows must all have a value.
    metric : str or list of str, default "mean"
        * ``"mean"``: mean rating.
        * ``"top2"``: share of ratings in the top two points of ``scale`` (default 1-5).
        * ``"csat"``: share of satisfied ratings, at or above ``satisfied`` (default: the top
          two points of ``scale``, so equal to ``"top2"`` unless set).
        * ``"nps"``: Net Promoter Score on 0-10 answers: % promoters (9-10) minus % detractors
          (0-6), in points from -100 to 100.
        * ``"ces"``: Customer Effort Score, the mean on a 1-7 scale (checked).
        * ``"total"``: the estimated population total of ``score`` (R's ``svytotal``), e.g.
          total complaints; needs weights that sum to the population.
        * ``"ratio"``: ``total(score) / total(denominator)`` (R's ``svyratio``), e.g.
          complaints per contact.
        * ``"quantile"``: the ``quantile`` (default the median) of ``score`` with Woodruff's
          interval (R's ``svyquantile(..., ci=TRUE)`` defaults: ``qrule="math"``,
          ``interval.type="mean"``); ``se`` is the interval width over ``2 t``, as R reports.
          A limit whose share interval leaves [0, 1] is missing (NaN), as in R.
        A list gives one block of rows per metric.
    weight : str, RakeResult or CalibrationResult, optional
        Survey weights: a column, or the result of :func:`parcours_research.weighting.rake`,
        :func:`~parcours_research.weighting.calibrate` or
        :func:`~parcours_research.weighting.post_stratify` on the same rows (same index). With
        a result, the standard errors account for the calibration (residuals of the weighted
        regression on the calibration variables, as R's ``calibrate()``/``rake()``/
        ``postStratify()`` designs; the estimates are those of the fixed weights). Without
        ``weight`` but with ``fpc`` for every stage, the weights are the product of population
        over sample sizes of the stages (R).
    strata : str, optional
        First-stage strata.
    cluster : str or list of str, optional
        Clusters (primary sampling units), or one column per sampling stage
        (``[agency, customer]``: a two-stage design). Without ``cluster``, if ``respondent``
        names a column in which a respondent has several rows, the respondent is the cluster;
        otherwise each row is its own cluster. Codes are read within strata, and stage-2 codes
        within stage-1 clusters (R's ``nest=TRUE``).
    fpc : str or list of str, optional
        Finite population correction, one column per stage, as R's ``svydesign(fpc=)``: the
        population size of the row's stratum at that stage (number of clusters, or of
        respondents without clusters), or the sampling fraction when every value is <= 1.
        Stages after the last fpc column are sampled with replacement. With fpc on the first
        stage, later stages add their variance times the first-stage sampling fraction.
    respondent : str or None, default "respondent_id"
        The respondent identifier of long data.
    confidence : float, default 0.95
        Confidence level of the intervals (``level=`` before 0.2, deprecated).
    scale : (min, max), optional
        The answer scale; ratings outside it raise. Defaults: 1-5 for top2/csat, 0-10 for nps,
        1-7 for ces, not checked for the other metrics.
    satisfied : float, optional
        Lowest satisfied rating for ``"csat"``.
    ci : str, optional
        Interval method. Means, totals, ratios: Student t with the design degrees of freedom.
        Shares: ``"korn-graubard"`` (default; Korn & Graubard 1998 as in the NCHS Data
        Presentation Standards for Proportions, Parker et al. 2017: good for small domains and
        shares near 0 or 1), ``"beta"`` (the same without truncating the effective n at n, as
        R's ``svyciprop(method="beta")``), ``"logit"`` (Stata's default) or ``"wilson"``: the
        survey Wilson interval, Wilson's score interval on the effective sample size ``n* = p (1
        - p) / se^2 * (t_{n-1} / t_df)^2`` with the Student t quantile of the design df in place
        of z. At a share of 0 or 1 every method gives an interval from the sample size (design
        effect 1): Wilson ``[0, t^2 / (n + t^2)]``, the others the exact Clopper–Pearson bound
        ``[0, 1 - (alpha/2)^(1/n)]`` (mirrored at 1). NPS: ``"adjusted_wald"`` (default;
        Rocks 2016) or ``"wald"``.
    singleton : str, optional
        Strata with a single cluster: R's ``options(survey.lonely.psu=)`` rules ``"fail"``,
        ``"adjust"`` (centre on the grand mean), ``"average"``, ``"certainty"``, ``"remove"``,
        or svy's names (``"center"`` = ``"adjust"``, ...).
    domain_singleton : bool, default False
        Apply ``singleton`` also to strata with a single cluster *inside a domain* (R's
        ``options(survey.adjust.domain.lonely=TRUE)``), with a warning naming them.
    variance : {"taylor", "jk1", "jkn", "bootstrap", "brr"}, default "taylor"
        Taylor linearisation, or replicate weights built from the design as R's
        ``as.svrepdesign``: delete-one-cluster jackknife (``"jk1"`` unstratified, ``"jkn"``
        stratified, with the first-stage fpc), Rao–Wu rescaled bootstrap (``n_boot``
        replicates, ``seed``), balanced repeated replication (two clusters per stratum; Fay's
        method with ``fay`` > 0). With ``replicate_weights``, the kind of those weights (also
        ``"other"``).
    replicate_weights : str or list of str, optional
        Columns of replicate weights shipped with the data (full replicate weights, R's
        ``combined.weights=TRUE``); a string names every column starting with it.
    replicate_scale, replicate_rscales, mse : optional
        As R's ``svrepdesign(scale=, rscales=, mse=)``: the variance is ``scale * sum_r
        rscales_r (theta_r - centre)^2``, centred on the replicates' mean (``mse=False``, R's
        default) or on the estimate (``mse=True``). Default scales: JK1 ``(R-1)/R``, BRR
        ``1/(R (1-fay)^2)``, bootstrap ``1/(R-1)``.
    fay : float, default 0
        Fay's rho for ``variance="brr"``.
    n_boot, seed : int
        Bootstrap replicates and seed for ``variance="bootstrap"``.
    denominator : str, optional
        The denominator column of ``metric="ratio"``.
    quantile : float, default 0.5
        The probability of ``metric="quantile"``.

    Returns
    -------
    DataFrame
        Grouping columns (``touchpoint`` and ``by``) then ``metric, estimate, se, ci_low,
        ci_high, df, n, n_eff``: ``se`` the design-based standard error, ``df`` the design
        degrees of freedom of the domain (clusters minus strata; replicate designs: the rank
        of the replicate weights minus one), ``n`` the ratings in the group, ``n_eff`` Kish's
        effective sample size of their weights. Shares are proportions (0-1), NPS is in
        points. A domain with 0 degrees of freedom has no interval (with a warning).

    Raises
    ------
    AnalysisError
        Missing columns, non-numeric or out-of-scale ratings, missing group values, invalid
        weights or fpc, one respondent rating a touchpoint twice, or a design that cannot be
        estimated.
    """
    where = "scores"
    data = check_frame(data, where)
    if not isinstance(cluster, str) and cluster is not None and len(cluster) == 1:
        cluster = cluster[0]
    metrics = _score_metrics(metric, confidence)
    groups = as_list(touchpoint) + [g for g in as_list(by) if g not in as_list(touchpoint)]
    rep_cols = _replicate_columns(data, replicate_weights)
    wname = None if is_calibration(weight) else weight
    problems = check_columns(
        data,
        {
            "score": score,
            "touchpoint": touchpoint,
            "by": by,
            "weight": wname,
            "strata": strata,
            "cluster": cluster,
            "fpc": fpc,
            "denominator": denominator,
        },
        where,
    )
    if problems:
        raise AnalysisError("Cannot compute scores.", problems)

    y_all = pd.to_numeric(data[score], errors="coerce")
    design_cluster = _respondent_cluster(data, cluster, respondent)
    problems = _score_problems(
        data, y_all, score, touchpoint, groups, wname, strata, cluster, design_cluster, respondent
    )
    scales = {m: scale if scale is not None else _DEFAULT_SCALE.get(m) for m in metrics}
    problems += _scale_problems(y_all, score, metrics, scales)
    problems += _new_metric_problems(metrics, denominator, quantile, data)
    _check_score_ci(ci, metrics)
    plain = _plain_design(
        metrics, weight, cluster, fpc, variance, rep_cols, singleton, domain_singleton
    )
    engine = _score_engine(
        data,
        plain,
        problems,
        weight=weight,
        strata=strata,
        cluster=as_list(design_cluster),
        fpc=as_list(fpc),
        variance=variance,
        replicate_weights=rep_cols,
        replicate_scale=replicate_scale,
        replicate_rscales=replicate_rscales,
        mse=mse,
        fay=fay,
        n_boot=n_boot,
        seed=seed,
        singleton=singleton,
        domain_singleton=domain_singleton,
    )
    if engine is not None:
        data = data.assign(__w=engine.design.weights)
        wname = "__w"
    opts = {
        "confidence": confidence,
        "satisfied": satisfied,
        "ci": ci,
        "singleton": singleton,
        "engine": engine,
        "denominator": denominator,
        "quantile": quantile,
    }
    frames = [
        _score_one(data, y_all, m, groups, wname, strata, design_cluster, scales[m], opts)
        for m in metrics
    ]
    out = pd.concat(frames, ignore_index=True)
    return out[[*groups, *SCORE_COLUMNS]]


def _score_engine(data, plain: bool, problems: list, **design):
    """Raise with every problem found (``problems`` and those of the variance arguments);
    then the kit's own estimation engine for a design svy cannot describe (None when svy
    does)."""
    if not plain:
        problems += engine_problems(
            data,
            fpc=design["fpc"],
            variance=design["variance"],
            replicate_weights=design["replicate_weights"],
            replicate_scale=design["replicate_scale"],
            replicate_rscales=design["replicate_rscales"],
            fay=design["fay"],
            where="scores",
        )
    if problems:
        raise AnalysisError("Cannot compute scores.", problems)
    if plain:
        return None
    design["lonely_psu"] = lonely_from_singleton(design.pop("singleton"))
    with svy_errors("declaring the survey design"):
        return make_engine(data, **design)


def _replicate_columns(data, replicate_weights) -> list[str]:
    """The replicate weight columns: a list, or every column starting with a string."""
    if replicate_weights is None:
        return []
    if isinstance(replicate_weights, str):
        cols = [c for c in data.columns if isinstance(c, str) and c.startswith(replicate_weights)]
        if not cols:
            raise AnalysisError(
                f"scores: no column starts with {replicate_weights!r}.",
                [Problem("no replicate weight column", fix="pass replicate_weights=[columns]")],
            )
        return cols
    cols = list(replicate_weights)
    missing = check_columns(data, {"replicate_weights": cols}, "scores")
    if missing:
        raise AnalysisError("Cannot compute scores.", missing)
    return cols


def _plain_design(metrics, weight, cluster, fpc, variance, rep_cols, singleton, domain_singleton):
    """Whether svy describes the design: one cluster level, no fpc, Taylor variance, fixed
    weights, svy's metrics and singleton rules (otherwise the kit's own engine,
    :mod:`._estimators`, estimates everything)."""
    return (
        all(m in _SVY_METRICS for m in metrics)
        and not is_calibration(weight)
        and len(as_list(cluster)) <= 1
        and fpc is None
        and variance == "taylor"
        and not rep_cols
        and not domain_singleton
        and (singleton is None or singleton not in LONELY_PSU)
    )


def _new_metric_problems(metrics, denominator, quantile, data) -> list[Problem]:
    """Problems of ``denominator`` (ratio) and ``quantile``."""
    problems = []
    if "ratio" in metrics:
        if denominator is None:
            problems.append(
                Problem(
                    "metric='ratio' needs denominator= (a column)", fix="denominator='contacts'"
                )
            )
        elif denominator in data.columns:
            d = pd.to_numeric(data[denominator], errors="coerce")
            if (data[denominator].notna() & d.isna()).any():
                problems.append(
                    Problem(f"{denominator!r} has values that are not numbers", column=denominator)
                )
    if "quantile" in metrics and not (isinstance(quantile, float | int) and 0 < quantile < 1):
        problems.append(Problem(f"quantile={quantile!r} must be a probability in (0, 1)"))
    return problems


def _score_metrics(metric, confidence) -> list[str]:
    """The requested metrics, checked with the confidence level (raises at the first error)."""
    metrics = as_list(metric)
    if not metrics:
        raise AnalysisError("scores needs at least one metric.", [Problem("metric=[]")])
    for m in metrics:
        check_one_of("metric", m, METRICS)
    if not (0 < confidence < 1):
        raise AnalysisError(f"confidence={confidence!r} must be between 0 and 1 (e.g. 0.95).")
    return metrics


def _respondent_cluster(data, cluster, respondent) -> str | None:
    """The cluster of the design: ``cluster``, else the respondent when a respondent has
    several rows, else None (each row its own cluster)."""
    if cluster is None and respondent is not None and respondent in data.columns:
        if data[respondent].duplicated().any():
            return respondent
    return cluster


def _score_problems(
    data, y_all, score, touchpoint, groups, weight, strata, cluster, design_cluster, respondent
) -> list[Problem]:
    """Problems of the ratings and the design: non-numeric ratings, a respondent rating a
    touchpoint twice, missing group or design values, invalid weights, a respondent in
    several strata."""
    where = "scores"
    problems: list[Problem] = []
    bad = data[score].notna() & y_all.isna()
    if bad.any():
        problems.append(
            Problem(
                f"{int(bad.sum())} value(s) of {score!r} are not numbers "
                f"(e.g. {data.loc[bad, score].iloc[0]!r})",
                column=score,
                fix="ratings must be numbers (blank when not answered)",
            )
        )
    if cluster is None and design_cluster is not None and touchpoint is not None:
        key = [respondent, *as_list(touchpoint)]
        dup = data.duplicated(subset=key, keep=False) & data[score].notna()
        if dup.any():
            problems.append(
                Problem(
                    f"{int(dup.sum())} rows repeat a respondent and touchpoint",
                    column=respondent,
                    fix="keep one rating per respondent and touchpoint",
                )
            )
    for g in groups + as_list(strata) + as_list(design_cluster):
        n_na = int(data[g].isna().sum())
        if n_na:
            problems.append(
                Problem(
                    f"{n_na} row(s) have no value in {g!r}",
                    column=g,
                    fix="fill them (e.g. 'unknown') or filter the data first",
                )
            )
    if weight is not None:
        problems += weight_problems(data[weight], weight, where)
    if strata is not None and design_cluster is not None and design_cluster == respondent:
        per = data.groupby(design_cluster, observed=True)[strata].nunique()
        if (per > 1).any():
            problems.append(
                Problem(
                    f"{int((per > 1).sum())} respondent(s) are in several strata",
                    column=strata,
                    fix="a respondent belongs to one stratum",
                )
            )
    return problems


def _scale_problems(y_all, score, metrics, scales: dict) -> list[Problem]:
    """Ratings outside each metric's scale, and non-whole ratings for the share metrics."""
    problems: list[Problem] = []
    for m in metrics:
        sc = scales[m]
        if sc is not None:
            lo, hi = sc
            out = y_all.notna() & ((y_all < lo) | (y_all > hi))
            if out.any():
                problems.append(
                    Problem(
                        f"metric {m!r}: {int(out.sum())} rating(s) of {score!r} are outside the scale "
                        f"{lo}-{hi} (e.g. {y_all[out].iloc[0]:g})",
                        column=score,
                        fix="pass scale=(min, max) of the question, or check the data",
                    )
                )
        if m in ("top2", "csat", "nps"):
            y_nn = y_all.dropna()
            if (y_nn != np.round(y_nn)).any():
                problems.append(Problem(f"metric {m!r} needs whole-number ratings", column=score))
    return problems


def _check_score_ci(ci, metrics) -> None:
    """``ci`` must be an interval method of every requested metric (raises otherwise)."""
    if ci is None:
        return
    allowed = set()
    for m in metrics:
        allowed |= {
            "mean": {"t"},
            "ces": {"t"},
            "top2": set(_PROP_CI),
            "csat": set(_PROP_CI),
            "nps": {"adjusted_wald", "wald"},
            "total": {"t"},
            "ratio": {"t"},
            "quantile": {"woodruff"},
        }[m]
    check_one_of("ci", ci, sorted(allowed))


def _score_one(data, y_all, metric, groups, weight, strata, cluster, scale, opts) -> pd.DataFrame:
    """The rows of one metric of :func:`scores` (domains, estimates, n and n_eff)."""
    confidence, ci = opts["confidence"], opts["ci"]
    frame, keys = _metric_frame(
        data, y_all, metric, groups, weight, strata, cluster, scale, opts["satisfied"]
    )
    if metric == "ratio":
        den = pd.to_numeric(data[opts["denominator"]], errors="coerce").to_numpy(float)
        frame["__den"] = den
        frame.loc[~np.isfinite(den), "__y"] = np.nan
    if opts["engine"] is None:
        est = _svy_estimates(
            frame, keys, metric, weight, strata, cluster, confidence, ci, opts["singleton"]
        )
    else:
        est = _engine_estimates(frame, keys, metric, opts["engine"], confidence, ci, opts)
    est = _share_boundaries(est, frame, keys, metric, weight, ci, confidence)

    # the domains, in order of first appearance, with n and Kish's n_eff
    used = frame[frame["__y"].notna()]
    w = used[weight] if weight is not None else pd.Series(1.0, index=used.index)
    dom = _domains(used, keys, w, data, groups)
    if metric == "nps":
        pos = (used["__y"] == 1).astype(float) * w
        neg = (used["__y"] == -1).astype(float) * w
        agg = pd.DataFrame({"w": w, "pos": pos, "neg": neg})
        if keys:
            sums = agg.groupby([used[k] for k in keys], sort=False).sum().reset_index()
        else:
            sums = agg.sum().to_frame().T
        dom = dom.merge(sums, on=keys, how="left") if keys else dom.assign(**sums.iloc[0].to_dict())
    out = (
        dom.merge(est[[*keys, "estimate", "se", "ci_low", "ci_high", "df"]], on=keys, how="left")
        if keys
        else dom.assign(**est[["estimate", "se", "ci_low", "ci_high", "df"]].iloc[0].to_dict())
    )
    if metric == "nps":
        _nps_points(out, ci, confidence)
    _warn_zero_df(out, groups)
    out["metric"] = metric
    out["df"] = out["df"].astype("Int64")
    return out.drop(columns=keys).reset_index(drop=True)


def _warn_zero_df(out: pd.DataFrame, groups) -> None:
    """Warn about the domains whose design degrees of freedom are 0 (no interval)."""
    zero = out["df"].notna() & (out["df"] <= 0)
    if zero.any():
        rows = out.loc[zero, groups] if groups else pd.DataFrame(index=out.index[zero])
        labels = [" / ".join(map(str, r)) or "all rows" for r in rows.itertuples(index=False)]
        warn_df("scores", labels or ["all rows"])


def _engine_estimates(frame, keys, metric, engine, confidence, ci, opts) -> pd.DataFrame:
    """The kit's own domain estimates of ``__y`` (see :mod:`._estimators`): ``keys``,
    ``estimate, se, ci_low, ci_high, df``."""
    y = frame["__y"].to_numpy(float)
    n_rows = len(frame)
    if keys:
        groups = frame.groupby(keys, sort=False).indices.items()
    else:
        groups = [((), np.arange(n_rows))]
    rows = []
    for key, idx in groups:
        key = key if isinstance(key, tuple) else (key,)
        dom = np.zeros(n_rows, dtype=bool)
        dom[idx] = True
        rec = dict(zip(keys, key))
        present = dom & np.isfinite(y)
        if not present.any():
            continue
        if metric == "quantile":
            est, se, lo, hi, df = quantile_estimate(engine, y, dom, opts["quantile"], confidence)
        else:
            b = (
                frame["__den"].to_numpy(float)
                if metric == "ratio"
                else (None if metric == "total" else np.ones(n_rows))
            )
            est, var = ratio_estimate(engine, y, b, dom)
            se = float(np.sqrt(var)) if var >= 0 else np.nan
            df = engine.df(present)
            if metric in ("top2", "csat"):
                n = int((present & (engine.design.weights != 0)).sum())
                lo, hi = share_interval(est, se, df, n, ci or "korn-graubard", confidence)
            else:
                lo, hi = mean_interval(est, se, df, confidence)
        rec.update(estimate=est, se=se, ci_low=lo, ci_high=hi, df=df)
        rows.append(rec)
    est = pd.DataFrame(rows, columns=[*keys, "estimate", "se", "ci_low", "ci_high", "df"])
    for k in keys:
        est[k] = est[k].astype(str)
    return est


def _share_boundaries(est, frame, keys, metric, weight, ci, confidence) -> pd.DataFrame:
    """Intervals of shares observed at 0 or 1 (svy leaves them empty): the closed forms of
    :func:`._estimators.share_interval` on the domain's ``n`` rows."""
    if metric not in ("top2", "csat") or est.empty:
        return est
    at_edge = (est["estimate"] <= 1e-12) | (est["estimate"] >= 1 - 1e-12)
    todo = at_edge & est["ci_low"].isna()
    if not todo.any():
        return est
    used = frame[frame["__y"].notna()]
    if weight is not None:
        used = used[used[weight] != 0]
    counts = used.groupby(keys, sort=False).size() if keys else pd.Series([len(used)])
    est = est.copy()
    for i in np.flatnonzero(todo.to_numpy()):
        n = int(
            counts.loc[tuple(est.iloc[i][keys])]
            if len(keys) > 1
            else (counts.loc[est.iloc[i][keys[0]]] if keys else counts.iloc[0])
        )
        df = est.iloc[i]["df"]
        lo, hi = share_interval(
            float(est.iloc[i]["estimate"]), 0.0, df, n, ci or "korn-graubard", confidence
        )
        est.iloc[i, est.columns.get_loc("ci_low")] = lo
        est.iloc[i, est.columns.get_loc("ci_high")] = hi
    return est


def _metric_frame(data, y_all, metric, groups, weight, strata, cluster, scale, satisfied):
    """The design frame of one metric: group keys ``__g0, __g1, ...`` (as text), the design
    columns and the analysed value ``__y`` (the rating, a 0/1 share indicator, or -1/0/1 for
    NPS); returns ``(frame, keys)``."""
    frame = pd.DataFrame(index=data.index)
    keys = [f"__g{i}" for i in range(len(groups))]
    for k, g in zip(keys, groups):  # as text (the arrays: no round trip through objects)
        frame[k] = data[g].astype(str).array
    for col in [*as_list(weight), *as_list(strata), *as_list(cluster)]:
        if col not in frame.columns:
            frame[col] = data[col].to_numpy() if col == weight else data[col].astype(str).array
    y = y_all.astype(float)
    if metric in ("top2", "csat"):
        lo, hi = scale
        cut = hi - 1 if metric == "top2" or satisfied is None else satisfied
        frame["__y"] = np.where(y.isna(), np.nan, (y >= cut).astype(float))
    elif metric == "nps":
        frame["__y"] = np.where(
            y.isna(), np.nan, np.where(y >= 9, 1.0, np.where(y <= 6, -1.0, 0.0))
        )
    else:
        frame["__y"] = y.to_numpy()
    if weight is not None:
        frame[weight] = pd.to_numeric(data[weight]).astype(float).to_numpy()
    return frame, keys


def _svy_estimates(frame, keys, metric, weight, strata, cluster, confidence, ci, singleton):
    """svy's domain estimates of ``__y``: ``keys`` (as text), ``estimate, se, ci_low,
    ci_high, df``; shares by the ``ci`` method, means (and NPS) with Student t."""
    alpha = 1 - confidence
    sample = svy_sample(frame, weight=weight, strata=strata, cluster=cluster, singleton=singleton)
    by = tuple(keys) if len(keys) > 1 else (keys[0] if keys else None)
    with svy_errors(f"estimating the {metric} of the ratings"):
        if metric in ("top2", "csat"):
            method = ci or "korn-graubard"
            res = sample.estimation.prop(
                "__y", by=by, alpha=alpha, ci_method=method, drop_nulls=True
            )
            est = _share_of_ones(res.to_polars().to_pandas(), keys)
        else:
            res = sample.estimation.mean("__y", by=by, alpha=alpha, drop_nulls=True)
            est = res.to_polars().to_pandas()
    est = est.rename(columns={"est": "estimate", "lci": "ci_low", "uci": "ci_high"})
    for k in keys:
        est[k] = est[k].astype(str)
    return est


def _nps_points(out: pd.DataFrame, ci, confidence) -> None:
    """NPS in points (in place): the adjusted-Wald interval unless ``ci="wald"``, then
    everything times 100, the interval clipped to -100..100."""
    p_pos = (out["pos"] / out["w"]).to_numpy()
    p_neg = (out["neg"] / out["w"]).to_numpy()
    if (ci or "adjusted_wald") == "adjusted_wald":
        lo_, hi_ = _nps_adjusted_wald(
            p_pos, p_neg, out["n"].to_numpy(float), out["se"].to_numpy(float) ** 2, confidence
        )
        out["ci_low"], out["ci_high"] = lo_, hi_
    for c in ("estimate", "se", "ci_low", "ci_high"):
        out[c] = out[c] * 100.0
    out["ci_low"] = out["ci_low"].clip(lower=-100.0)
    out["ci_high"] = out["ci_high"].clip(upper=100.0)


def _share_of_ones(est: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The rows of level 1 of svy's two-level proportion table; a domain with no 1 at all
    (svy then has no level-1 row when no row of the data is 1) takes the complement of its
    level-0 row (the intervals used are symmetric under p -> 1 - p)."""
    level = est["__y"].astype(float)
    ones = est[level == 1.0].drop(columns="__y")
    zeros = est[level == 0.0].drop(columns="__y")
    if keys:
        have = (
            pd.MultiIndex.from_frame(ones[keys].astype(str))
            if len(ones)
            else pd.MultiIndex.from_tuples([], names=keys)
        )
        zeros = zeros[~pd.MultiIndex.from_frame(zeros[keys].astype(str)).isin(have)]
    elif len(ones):
        zeros = zeros.iloc[0:0]
    if len(zeros):
        zeros = zeros.assign(est=1.0 - zeros["est"], lci=1.0 - zeros["uci"], uci=1.0 - zeros["lci"])
        ones = pd.concat([ones, zeros], ignore_index=True)
    return ones


def _domains(used, keys, w, data, groups) -> pd.DataFrame:
    """One row per domain (first-appearance order; categorical order when the column is
    categorical): the original group values, ``n`` and Kish's ``n_eff``."""
    if not keys:
        deff, neff = kish(w.to_numpy())
        return pd.DataFrame({"n": [len(used)], "n_eff": [neff]})
    sq = w * w
    agg = pd.DataFrame({"n": 1, "s1": w, "s2": sq}, index=used.index)
    grouped = agg.groupby([used[k] for k in keys], sort=False)
    g = grouped.sum()
    g["n_eff"] = g["s1"] ** 2 / g["s2"]
    g = g.reset_index()
    if data.index.is_unique and _one_text_per_value(data, groups, keys):
        # the group values of each domain's first row (domains in first-appearance order)
        first = np.unique(grouped.ngroup().to_numpy(), return_index=True)[1]
        rows = data.loc[used.index[first], groups].reset_index(drop=True)
        g = pd.concat([g, rows], axis=1)
    else:
        orig = data.loc[used.index, groups].drop_duplicates()
        orig_keys = orig.astype(str)
        orig_keys.columns = keys
        lookup = pd.concat([orig_keys.reset_index(drop=True), orig.reset_index(drop=True)], axis=1)
        g = g.merge(lookup, on=keys, how="left")
    # categorical columns keep their category order
    sort_cols, sort_keys = [], []
    for col in groups:
        if isinstance(data[col].dtype, pd.CategoricalDtype):
            sort_cols.append(col)
            sort_keys.append(pd.Categorical(g[col], categories=data[col].cat.categories).codes)
    if sort_cols:
        order = np.lexsort(sort_keys[::-1])
        g = g.iloc[order]
    return g[[*keys, *groups, "n", "n_eff"]].reset_index(drop=True).astype({"n": int})


def _one_text_per_value(data, groups, keys) -> bool:
    """Whether distinct values of every group column have distinct texts (``astype(str)``):
    text, integers, booleans, and categories of those; not object columns, where ``1`` and
    ``"1"`` would share a domain, nor floats (``0.0`` and ``-0.0``). The group columns must not
    clash with the domain table's."""
    if set(groups) & {"n", "s1", "s2", "n_eff", *keys}:
        return False
    for col in groups:
        dtype = data[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            dtype = dtype.categories.dtype
        if not (
            isinstance(dtype, pd.StringDtype)
            or (isinstance(dtype, np.dtype) and dtype.kind in "biu")
        ):
            return False
    return True


def _nps_adjusted_wald(p_pos, p_neg, n, var, confidence):
    """Rocks (2016) adjusted-Wald interval for NPS (as a difference of shares, -1..1).

    On the design-effective sample size ``n* = n / deff``, ``deff = var / (s2 / (n - 1))`` with
    ``s2 = p+ + p- - (p+ - p-)^2`` (so an unweighted simple random sample uses n itself): add
    3/4 promoter and 3/4 detractor out of 3 pseudo-respondents, then Wald with z.
    """
    s2 = p_pos + p_neg - (p_pos - p_neg) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        n_star = np.where((var > 0) & (n > 1), n * s2 / ((n - 1) * var), n)
    n_star = np.where(np.isfinite(n_star) & (n_star > 0), n_star, n)
    n_adj = n_star + 3
    pp = (n_star * p_pos + 0.75) / n_adj
    pn = (n_star * p_neg + 0.75) / n_adj
    d = pp - pn
    se = np.sqrt((pp + pn - d**2) / n_adj)
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    return np.clip(d - z * se, -1, 1), np.clip(d + z * se, -1, 1)


# ---------------------------------------------------------------------------------------------
# driver importance
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class DriverResult:
    """Importance of each driver of an outcome (key-driver analysis).

    Attributes
    ----------
    summary : DataFrame
        One row per driver, most important first: ``driver, importance, share, rank, ci_low,
        ci_high, n``. ``importance`` is the driver's part of R² (they sum to ``r2``), ``share``
        its part of R² as a proportion, ``ci_low``/``ci_high`` percentile bootstrap limits
        (NaN when ``n_boot=0``), ``n`` the rows where the driver and the outcome are both
        present.
    r2 : float
        R² of the weighted linear regression of the outcome on all drivers.
    r2_ci : (float, float)
        Bootstrap interval of R².
    method, missing, outcome : str
    n : int
        Rows used (outcome present and, for ``missing="listwise"``, every driver).
    n_boot : int
    confidence : float
        Confidence level of the bootstrap intervals (``.level`` before 0.2, deprecated).
    replicates : DataFrame or None
        Bootstrap importance, one row per replicate and driver: ``replicate, driver,
        importance``.
    """

    summary: pd.DataFrame
    r2: float
    r2_ci: tuple[float, float]
    method: str
    missing: str
    outcome: str
    n: int
    n_boot: int
    confidence: float
    replicates: pd.DataFrame | None = None
    _dominance: dict | None = field(default=None)

    @property
    def level(self) -> float:
        """Deprecated: the confidence level, now :attr:`confidence`."""
        warn_deprecated("DriverResult", ".level", ".confidence", stacklevel=3)
        return self.confidence

    def _need_dominance(self) -> dict:
        if self._dominance is None:
            raise AnalysisError(
                "Dominance tables were not computed: call drivers(..., dominance=True)."
            )
        return self._dominance

    @property
    def dominance(self) -> pd.DataFrame:
        """Pairwise dominance (Azen & Budescu 2003): ``driver, other, complete, conditional,
        general`` (True when ``driver`` dominates ``other`` in that sense), plus
        ``complete_repro, conditional_repro, general_repro``: the share of bootstrap replicates
        in which the same relation holds (NaN without bootstrap)."""
        return self._need_dominance()["pairs"]

    @property
    def conditional_dominance(self) -> pd.DataFrame:
        """Mean R² gain of adding each driver to models with ``size`` other drivers:
        ``driver, size, gain``. The mean of ``gain`` over sizes is the Shapley importance."""
        return self._need_dominance()["conditional"]

    def _lines(self) -> list[str]:
        name = {"shapley": "Shapley/LMG", "relative_weights": "Johnson's relative weights"}[
            self.method
        ]
        ci = (
            ""
            if self.n_boot == 0
            else f", {self.confidence:.0%} CI [{self.r2_ci[0]:.3f}, {self.r2_ci[1]:.3f}]"
        )
        lines = [
            f"DriverResult: {name} importance of {len(self.summary)} drivers of {self.outcome!r}",
            f"R2 = {self.r2:.3f}{ci}; n = {self.n:,}, missing = {self.missing}, bootstrap replicates = "
            f"{self.n_boot}",
        ]
        for r in self.summary.itertuples():
            band = "" if self.n_boot == 0 else f"  [{r.ci_low:.3f}, {r.ci_high:.3f}]"
            lines.append(f"  {r.rank:>2}. {r.driver:<24} {r.importance:.3f} ({r.share:.0%}){band}")
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        head = "<br>".join(html.escape(x) for x in self._lines()[:2])
        return f"<p>{head}</p>" + self.summary.to_html(
            index=False, float_format=lambda x: f"{x:.4f}"
        )


def _driver_columns(drivers) -> tuple[list[str], list[str]]:
    """Driver names and their columns: ``{name: column}`` or a list (or one) of columns."""
    if isinstance(drivers, Mapping):
        return [str(d) for d in drivers], list(drivers.values())
    cols = as_list(drivers)
    return [str(c) for c in cols], cols


@deprecated_args(renamed={"level": "confidence"})
def drivers(
    data: pd.DataFrame,
    outcome: str,
    drivers: Sequence[str] | Mapping[str, str],
    *,
    weight: str | None = None,
    strata: str | None = None,
    cluster: str | None = None,
    fpc: str | None = None,
    method: str = "shapley",
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: int | None = 0,
    missing: str = "pairwise",
    dominance: bool = False,
) -> DriverResult:
    """Importance of each driver (e.g. touchpoint satisfaction) to an outcome (overall
    satisfaction), from the weighted correlation matrix.

    Parameters
    ----------
    data : DataFrame
        One row per respondent (wide).
    outcome : str
        The outcome column.
    drivers : list of str or dict
        Driver columns, or ``{name: column}`` (e.g. ``{touchpoint: "sat_<touchpoint>"}``) to
        report drivers by name.
    weight : str, optional
        Survey weights: the correlations are weighted.
    strata, cluster : str, optional
        Design of the bootstrap: clusters are resampled within strata (Rao–Wu rescaled
        bootstrap, drawn by svy).
    fpc : str, optional
        Finite population correction of the first stage (population size of the stratum, or
        the sampling fraction, as R's ``svydesign(fpc=)``): the bootstrap factors are shrunk by
        ``sqrt(1 - f)`` (Rao, Wu & Yue 1992), so the intervals narrow when a large share of
        the population answered.
    method : {"shapley", "relative_weights"}
        ``"shapley"``: Shapley value of R² = LMG = general dominance weight, the average gain
        in R² from adding the driver over all orders (exact over all 2^p subsets; at most 16
        drivers). ``"relative_weights"``: Johnson's (2000) relative weights (any number of
        drivers; close to Shapley in practice). Both sum to R².
    n_boot : int, default 200
        Bootstrap replicates for the intervals; 0 skips them.
    confidence : float, default 0.95
        Confidence level of the percentile intervals (``level=`` before 0.2, deprecated).
    seed : int, optional
        Seed of the bootstrap.
    missing : {"pairwise", "listwise"}
        ``"pairwise"`` (default): each correlation uses the rows where both variables are
        present. Suits journeys, where a driver is blank when the touchpoint was not
        experienced; listwise deletion would keep only respondents who experienced every
        touchpoint. ``"listwise"``: only rows with the outcome and every driver. Rows without
        the outcome are never used.
    dominance : bool, default False
        Also compute complete and conditional dominance (``.dominance``,
        ``.conditional_dominance``).

    Returns
    -------
    DriverResult
        ``.summary`` (``driver, importance, share, rank, ci_low, ci_high, n``), ``.r2``,
        ``.r2_ci``, ``.replicates``, and on request ``.dominance`` and
        ``.conditional_dominance``.

    Raises
    ------
    AnalysisError
        Missing or non-numeric columns, a driver with no variance or too few rows, invalid
        weights, or drivers so collinear that the correlation matrix is singular.
    """
    where = "drivers"
    data = check_frame(data, where)
    check_one_of("method", method, ["shapley", "relative_weights"])
    check_one_of("missing", missing, ["pairwise", "listwise"])
    names, cols = _driver_columns(drivers)
    problems = _driver_argument_problems(
        data, outcome, cols, weight, strata, cluster, method, n_boot, confidence, where
    )
    problems += check_columns(data, {"fpc": fpc}, where)
    if problems:
        raise AnalysisError("Cannot compute driver importance.", problems)
    x = pd.DataFrame({c: pd.to_numeric(data[c], errors="coerce") for c in [outcome, *cols]})
    keep = x[outcome].notna()
    if missing == "listwise":
        keep &= x[cols].notna().all(axis=1)
    problems = _driver_data_problems(
        data, x, keep, outcome, names, cols, weight, strata, cluster, where
    )
    if problems:
        raise AnalysisError("Cannot compute driver importance.", problems)

    x = x[keep]
    n = len(x)
    pair_n = x[cols].notna().sum().to_numpy()
    arr = x.to_numpy(dtype=float)
    w = weights_of(data.loc[keep], weight)
    corr, _ = imp.weighted_corr(arr, w)
    _check_driver_correlations(corr, outcome, names, cols, missing)
    corr = _positive_definite(corr, outcome)
    if n_boot:
        reps = bootstrap_weights(
            w,
            int(n_boot),
            strata=None if strata is None else data.loc[keep, strata].to_numpy(),
            cluster=None if cluster is None else data.loc[keep, cluster].to_numpy(),
            seed=seed,
            fraction=None
            if fpc is None
            else sampling_fractions(data, strata=strata, cluster=cluster, fpc=fpc)[keep.to_numpy()],
        )
        # pairwise-complete replicate matrices of small groups are often not positive
        # definite: repaired as in ``moments`` (R² above 1 and negative parts otherwise)
        boot = imp.nearest_correlation(imp.weighted_corr(arr, reps)[0])
        corr = np.concatenate([corr, boot], axis=0)
    p = len(cols)
    r2_sub = imp.subset_r2(corr) if method == "shapley" or dominance else None
    values = imp.shapley(r2_sub, p) if method == "shapley" else imp.relative_weights(corr)
    summary, r2, r2_ci, replicates = _driver_summary(values, names, pair_n, n_boot, confidence)
    dom = _dominance_tables(r2_sub, p, names, n_boot) if dominance else None
    return DriverResult(
        summary=summary,
        r2=r2,
        r2_ci=r2_ci,
        method=method,
        missing=missing,
        outcome=str(outcome),
        n=int(n),
        n_boot=int(n_boot),
        confidence=confidence,
        replicates=replicates,
        _dominance=dom,
    )


def _driver_argument_problems(
    data, outcome, cols, weight, strata, cluster, method, n_boot, confidence, where
) -> list[Problem]:
    """Problems of the arguments of :func:`drivers`: columns, drivers, n_boot, confidence."""
    problems = check_columns(
        data,
        {
            "outcome": outcome,
            "drivers": cols,
            "weight": weight,
            "strata": strata,
            "cluster": cluster,
        },
        where,
    )
    if not cols:
        problems.append(Problem("no driver given", fix="pass drivers=[column, ...]"))
    if len(set(cols)) < len(cols) or outcome in cols:
        problems.append(Problem("drivers must be distinct columns, other than the outcome"))
    if method == "shapley" and len(cols) > 16:
        problems.append(
            Problem(
                f"{len(cols)} drivers: exact Shapley importance is limited to 16",
                fix="use method='relative_weights' or fewer drivers",
            )
        )
    if not isinstance(n_boot, int | np.integer) or n_boot < 0:
        problems.append(Problem(f"n_boot={n_boot!r} must be a non-negative integer"))
    if not (0 < confidence < 1):
        problems.append(Problem(f"confidence={confidence!r} must be between 0 and 1"))
    return problems


def _driver_data_problems(
    data, x, keep, outcome, names, cols, weight, strata, cluster, where
) -> list[Problem]:
    """Problems of the data of :func:`drivers`: values that are not numbers (``x`` holds the
    numeric values), invalid weights or missing design values among the rows kept, drivers
    with fewer than three rows with the outcome."""
    problems: list[Problem] = []
    for c in [outcome, *cols]:
        bad = data[c].notna() & x[c].isna()
        if bad.any():
            problems.append(
                Problem(f"{int(bad.sum())} value(s) of {c!r} are not numbers", column=c)
            )
    if weight is not None:
        problems += weight_problems(data.loc[keep, weight], weight, where)
    for c in as_list(strata) + as_list(cluster):
        if data.loc[keep, c].isna().any():
            problems.append(
                Problem(f"{int(data.loc[keep, c].isna().sum())} row(s) have no {c!r}", column=c)
            )
    pair_n = x.loc[keep, cols].notna().sum().to_numpy()
    for name, c, k in zip(names, cols, pair_n):
        if k < 3:
            problems.append(
                Problem(
                    f"driver {name!r} has {k} row(s) with the outcome",
                    column=c,
                    fix="drop this driver, or use missing='pairwise'",
                )
            )
    return problems


def _check_driver_correlations(corr, outcome, names, cols, missing) -> None:
    """Raise when a variable has no variance, or the drivers' correlation matrix is singular."""
    problems = []
    for j, (name, c) in enumerate(zip([outcome, *names], [outcome, *cols])):
        if not np.isfinite(corr[0, j]).all() or not np.isfinite(corr[0, :, j]).all():
            problems.append(
                Problem(
                    f"{name!r} has no variance (or no row shared with another variable)",
                    column=c,
                    fix="drop it from the analysis",
                )
            )
    if problems:
        raise AnalysisError("Cannot compute driver importance.", problems)
    rxx = corr[0, 1:, 1:]
    eig = np.linalg.eigvalsh(rxx)
    if eig.min() <= 1e-10:
        off = np.abs(rxx - np.eye(len(cols)))
        i, j = np.unravel_index(np.argmax(off), off.shape)
        raise AnalysisError(
            "Cannot compute driver importance: the drivers' correlation matrix is singular or not "
            "positive definite.",
            [
                Problem(
                    f"e.g. {names[i]!r} and {names[j]!r} correlate at {rxx[i, j]:.3f} "
                    f"(smallest eigenvalue {eig.min():.2g})",
                    fix="drop or merge collinear drivers"
                    + (", or use missing='listwise'" if missing == "pairwise" else ""),
                )
            ],
        )


def _positive_definite(corr: np.ndarray, outcome) -> np.ndarray:
    """The full sample's matrix of the outcome and drivers, made positive definite when
    pairwise deletion left it not (its R² would exceed 1), with a warning; the bootstrap
    replicates are repaired the same way (:func:`parcours_research._importance.nearest_correlation`)."""
    if np.linalg.eigvalsh(corr[0]).min() >= 1e-6:
        return corr
    import warnings

    from .errors import DataQualityWarning

    raw = float(imp.subset_r2(corr)[0, -1])
    warnings.warn(
        f"drivers of {outcome!r}: the pairwise correlations of the outcome and the drivers "
        f"do not form a valid correlation matrix (not positive definite; R² would be "
        f"{raw:.3f}); the nearest valid one is used (eigenvalues clipped). Use "
        "missing='listwise', fewer drivers or a larger group for estimates on one set of rows.",
        DataQualityWarning,
        stacklevel=3,
    )
    return imp.nearest_correlation(corr)


def _driver_summary(values, names, pair_n, n_boot, confidence):
    """``(summary, r2, r2_ci, replicates)`` from the importance of the full sample (row 0 of
    ``values``) and of the bootstrap replicates (the other rows)."""
    p = len(names)
    r2_all = values.sum(axis=1)
    point = values[0]
    r2 = float(r2_all[0])
    alpha = 1 - confidence
    if n_boot:
        boot = values[1:]
        lo, hi = np.nanquantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
        r2_ci = tuple(float(v) for v in np.nanquantile(r2_all[1:], [alpha / 2, 1 - alpha / 2]))
        replicates = pd.DataFrame(
            {
                "replicate": np.repeat(np.arange(1, n_boot + 1), p),
                "driver": np.tile(names, n_boot),
                "importance": boot.reshape(-1),
            }
        )
    else:
        lo = hi = np.full(p, np.nan)
        r2_ci = (float("nan"), float("nan"))
        replicates = None
    rank = pd.Series(point).rank(ascending=False, method="min").astype(int).to_numpy()
    summary = (
        pd.DataFrame(
            {
                "driver": names,
                "importance": point,
                "share": point / r2 if r2 > 0 else np.nan,
                "rank": rank,
                "ci_low": lo,
                "ci_high": hi,
                "n": pair_n.astype(int),
            }
        )
        .sort_values(["rank", "driver"], kind="stable")
        .reset_index(drop=True)
    )
    return summary, r2, r2_ci, replicates


def _dominance_tables(r2_sub, p, names, n_boot) -> dict:
    cond = imp.conditional_dominance(r2_sub, p)  # (B, p, p)
    comp = imp.complete_dominance(r2_sub, p)  # (B, p, p)
    gen = imp.shapley(r2_sub, p)  # (B, p)
    cond_dom = np.all(cond[:, :, None, :] > cond[:, None, :, :], axis=3)  # (B, i, j)
    gen_dom = gen[:, :, None] > gen[:, None, :]
    rows = []
    for i in range(p):
        for j in range(p):
            if i == j:
                continue
            row = {
                "driver": names[i],
                "other": names[j],
                "complete": bool(comp[0, i, j] == 1),
                "conditional": bool(cond_dom[0, i, j]),
                "general": bool(gen_dom[0, i, j]),
            }
            if n_boot:
                row["complete_repro"] = float(np.mean(comp[1:, i, j] == comp[0, i, j]))
                row["conditional_repro"] = float(np.mean(cond_dom[1:, i, j] == cond_dom[0, i, j]))
                row["general_repro"] = float(np.mean(gen_dom[1:, i, j] == gen_dom[0, i, j]))
            else:
                row["complete_repro"] = row["conditional_repro"] = row["general_repro"] = np.nan
            rows.append(row)
    conditional = pd.DataFrame(
        [(names[j], s, float(cond[0, j, s])) for j in range(p) for s in range(p)],
        columns=["driver", "size", "gain"],
    )
    return {"pairs": pd.DataFrame(rows), "conditional": conditional}


# ---------------------------------------------------------------------------------------------
# penalty-reward contrast analysis
# ---------------------------------------------------------------------------------------------
@deprecated_args(renamed={"level": "confidence"})
def penalty_reward(
    data: pd.DataFrame,
    outcome: str,
    drivers: Sequence[str] | Mapping[str, str],
    *,
    weight: str | None = None,
    strata: str | None = None,
    cluster: str | None = None,
    low: float = 2,
    high: float = 4,
    threshold: float = 0.2,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Penalty–reward contrast analysis (Brandt 1987): basic, performance and excitement factors.

    Each driver rating is coded into two dummies, *dissatisfied* (rating <= ``low``) and
    *delighted* (rating >= ``high``), the middle ratings being the reference; the outcome is
    regressed on all dummies (survey-weighted least squares, design-based standard errors from
    svy). The dissatisfied coefficient is the **penalty** (how much overall satisfaction drops
    when the touchpoint disappoints), the delighted coefficient the **reward**.

    The factor follows the impact asymmetry ``IA = (RI - PI) / (RI + PI)`` with ``PI =
    max(-penalty, 0)`` and ``RI = max(reward, 0)`` (Mikulić & Prebežac 2008): ``"basic"`` when
    ``IA < -threshold`` (dissatisfaction hurts, satisfaction is taken for granted),
    ``"excitement"`` when ``IA > threshold``, ``"performance"`` in between, and ``"unclear"``
    when neither coefficient differs from zero at ``1 - confidence``. The threshold is a
    convention, not a test: read the intervals.

    Rows are used when the outcome and every driver are present (listwise), as the regression
    needs all dummies; their number is the column ``n``.

    Parameters
    ----------
    data : DataFrame
        One row per respondent (wide).
    outcome : str
        Overall satisfaction column.
    drivers : list of str or dict
        Driver columns, or ``{name: column}``.
    weight, strata, cluster : str, optional
        Survey design columns (design-based standard errors).
    low, high : float, default 2 and 4
        Ratings at or below ``low`` are "dissatisfied", at or above ``high`` "delighted"; the
        ratings in between are the reference and must occur.
    threshold : float, default 0.2
        Impact-asymmetry threshold of the factor labels.
    confidence : float, default 0.95
        Confidence level; coefficients with ``p < 1 - confidence`` count as significant
        (``level=`` before 0.2, deprecated).

    Returns
    -------
    DataFrame
        One row per driver: ``driver, n_low, n_high, penalty, penalty_se, penalty_p, reward,
        reward_se, reward_p, range_of_impact, impact_asymmetry, factor, n`` (``n``: the complete
        rows used, the same on every row; also in ``.attrs["n"]``, deprecated).
    """
    where = "penalty_reward"
    data = check_frame(data, where)
    names, cols = _driver_columns(drivers)
    problems = check_columns(
        data,
        {
            "outcome": outcome,
            "drivers": cols,
            "weight": weight,
            "strata": strata,
            "cluster": cluster,
        },
        where,
    )
    if not low < high:
        problems.append(Problem(f"low={low} must be below high={high}"))
    if problems:
        raise AnalysisError("Cannot run the penalty-reward analysis.", problems)
    x = pd.DataFrame({c: pd.to_numeric(data[c], errors="coerce") for c in [outcome, *cols]})
    keep = x.notna().all(axis=1)
    n = int(keep.sum())
    frame, terms, counts, middle = _penalty_reward_dummies(x[keep], outcome, names, cols, low, high)
    problems = _penalty_reward_problems(
        data, keep, names, cols, middle, n, terms, low, high, weight, where
    )
    if problems:
        raise AnalysisError("Cannot run the penalty-reward analysis.", problems)
    if weight is not None:
        frame[weight] = pd.to_numeric(data.loc[keep, weight]).astype(float).to_numpy()
    for c in as_list(strata) + as_list(cluster):
        frame[c] = data.loc[keep, c].astype(str).to_numpy()
    sample = svy_sample(frame, weight=weight, strata=strata, cluster=cluster)
    with svy_errors("fitting the penalty-reward regression"):
        model = sample.glm.fit(
            y="__y", x=[t[2] for t in terms], family="gaussian", alpha=1 - confidence
        )
        coef = model.to_polars().to_pandas().set_index("term")
    rows = [
        _penalty_reward_row(name, counts[name], terms, coef, confidence, threshold, n)
        for name in names
    ]
    out = pd.DataFrame(rows)
    out.attrs["n"] = n  # deprecated: read the column n
    return out


def _penalty_reward_dummies(x, outcome, names, cols, low, high):
    """The regression frame (``__y`` and one dummy column per non-empty dummy), the terms
    ``(driver, "low" | "high", column)``, ``{driver: (n_low, n_high)}`` and ``{driver:
    ratings between low and high}`` of the complete rows ``x``."""
    frame = pd.DataFrame({"__y": x[outcome].to_numpy()})
    terms = []
    counts = {}
    middle = {}
    for name, c in zip(names, cols):
        v = x[c].to_numpy()
        lo_d, hi_d = (v <= low).astype(float), (v >= high).astype(float)
        middle[name] = int(((v > low) & (v < high)).sum())
        counts[name] = (int(lo_d.sum()), int(hi_d.sum()))
        for suffix, d in (("low", lo_d), ("high", hi_d)):
            if d.sum() > 0:
                frame[f"__{len(terms)}"] = d
                terms.append((name, suffix, f"__{len(terms)}"))
    return frame, terms, counts, middle


def _penalty_reward_problems(
    data, keep, names, cols, middle, n, terms, low, high, weight, where
) -> list[Problem]:
    """Drivers without a reference rating, too few complete rows, invalid weights."""
    problems = []
    for name, c in zip(names, cols):
        if middle[name] == 0:
            problems.append(
                Problem(
                    f"driver {name!r} has no rating between {low} and {high} (the reference)",
                    column=c,
                    fix="change low= / high=",
                )
            )
    if n <= len(terms) + 1:
        problems.append(
            Problem(f"only {n} complete row(s) for {len(terms)} dummies", fix="use fewer drivers")
        )
    if weight is not None:
        problems += weight_problems(data.loc[keep, weight], weight, where)
    return problems


def _penalty_reward_row(name, counts, terms, coef, confidence, threshold, n) -> dict:
    """One driver's row: penalty and reward with their SE and p, impact range, asymmetry,
    factor."""
    rec = {"driver": name, "n_low": counts[0], "n_high": counts[1]}
    for suffix, label in (("low", "penalty"), ("high", "reward")):
        term = next((t[2] for t in terms if t[0] == name and t[1] == suffix), None)
        if term is None:
            rec[label] = rec[f"{label}_se"] = rec[f"{label}_p"] = np.nan
        else:
            rec[label] = float(coef.loc[term, "estimate"])
            rec[f"{label}_se"] = float(coef.loc[term, "std_err"])
            rec[f"{label}_p"] = float(coef.loc[term, "p_value"])
    pi = max(-rec["penalty"], 0.0) if np.isfinite(rec["penalty"]) else 0.0
    ri = max(rec["reward"], 0.0) if np.isfinite(rec["reward"]) else 0.0
    rios = pi + ri
    ia = (ri - pi) / rios if rios > 0 else np.nan
    rec["range_of_impact"] = rios
    rec["impact_asymmetry"] = ia
    sig = any(
        np.isfinite(rec[f"{k}_p"]) and rec[f"{k}_p"] < 1 - confidence for k in ("penalty", "reward")
    )
    if not sig or not np.isfinite(ia):
        factor = "unclear"
    elif ia < -threshold:
        factor = "basic"
    elif ia > threshold:
        factor = "excitement"
    else:
        factor = "performance"
    rec["factor"] = factor
    rec["n"] = n
    return rec


# ---------------------------------------------------------------------------------------------
# Kano
# ---------------------------------------------------------------------------------------------
#: Kano evaluation table (Berger et al. 1993), answers 1 like, 2 must-be / expect it,
#: 3 neutral, 4 can live with it, 5 dislike. Keys (functional, dysfunctional).
KANO_TABLE: dict[tuple[int, int], str] = {}
_KANO_ROWS = {
    1: ["questionable", "attractive", "attractive", "attractive", "one_dimensional"],
    2: ["reverse", "indifferent", "indifferent", "indifferent", "must_be"],
    3: ["reverse", "indifferent", "indifferent", "indifferent", "must_be"],
    4: ["reverse", "indifferent", "indifferent", "indifferent", "must_be"],
    5: ["reverse", "reverse", "reverse", "reverse", "questionable"],
}
for _f, _row in _KANO_ROWS.items():
    for _d, _cat in enumerate(_row, start=1):
        KANO_TABLE[(_f, _d)] = _cat
KANO_CATEGORIES = (
    "must_be",
    "one_dimensional",
    "attractive",
    "indifferent",
    "reverse",
    "questionable",
)


def kano_category(functional, dysfunctional) -> pd.Series:
    """Kano category of each pair of answers (missing when either answer is missing).

    Answers are on the 1-5 scale of :data:`KANO_TABLE`; other values raise.
    """
    f = pd.Series(functional).reset_index(drop=True)
    d = pd.Series(dysfunctional).reset_index(drop=True)
    fn, dn = pd.to_numeric(f, errors="coerce"), pd.to_numeric(d, errors="coerce")
    ok = fn.notna() & dn.notna()
    bad = ok & ~(fn.isin([1, 2, 3, 4, 5]) & dn.isin([1, 2, 3, 4, 5]))
    bad |= (f.notna() & fn.isna()) | (d.notna() & dn.isna())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise AnalysisError(
            "Kano answers must be 1-5 (1 like, 2 expect, 3 neutral, 4 live with, 5 dislike).",
            [
                Problem(
                    f"{int(bad.sum())} answer pair(s) are not, e.g. ({f.iloc[i]!r}, {d.iloc[i]!r})"
                )
            ],
        )
    out = pd.Series([None] * len(f), dtype=object)
    idx = np.flatnonzero(ok.to_numpy())
    out.iloc[idx] = [KANO_TABLE[(int(a), int(b))] for a, b in zip(fn.iloc[idx], dn.iloc[idx])]
    return out


def kano(
    data: pd.DataFrame,
    pairs: Sequence[tuple[str, str, str]] | Mapping[str, tuple[str, str]],
    *,
    weight: str | None = None,
    by: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Kano classification with Berger's satisfaction coefficients.

    Parameters
    ----------
    data : DataFrame
        One row per respondent.
    pairs : list of (touchpoint, functional, dysfunctional) or dict
        The Kano question pairs (``instrument.kano_pairs()``), or ``{touchpoint: (functional,
        dysfunctional)}``.
    weight : str, optional
        Survey weights: category shares are weighted.
    by : str or list of str, optional
        Grouping columns (e.g. ``"persona"``).

    Returns
    -------
    DataFrame
        One row per touchpoint (and group): ``touchpoint``, the ``by`` columns, ``n``,
        ``n_eff``, the weighted shares ``must_be, one_dimensional, attractive, indifferent,
        reverse, questionable``, ``category`` (the most frequent; ties broken in the order
        must-be > one-dimensional > attractive > indifferent, Berger et al. 1993), ``cs_plus =
        (A + O) / (A + O + M + I)`` and ``cs_minus = -(O + M) / (A + O + M + I)``.
    """
    where = "kano"
    data = check_frame(data, where)
    if isinstance(pairs, Mapping):
        plist = [(tp, fd[0], fd[1]) for tp, fd in pairs.items()]
    else:
        plist = [tuple(p) for p in pairs]
    groups = as_list(by)
    problems = _kano_problems(data, plist, groups, weight, where)
    if problems:
        raise AnalysisError("Cannot classify the Kano answers.", problems)
    w_all = pd.Series(weights_of(data, weight), index=data.index)
    rows = []
    for tp, f, d in plist:
        try:
            cat = kano_category(data[f], data[d])
        except AnalysisError as exc:
            raise AnalysisError(
                f"Kano pair of {tp!r} ({f}, {d}): {exc.summary}", exc.problems
            ) from None
        cat.index = data.index
        ok = cat.notna()
        if groups:
            grouped = data.loc[ok].groupby(groups, sort=False, observed=True).groups.items()
        else:
            grouped = [((), data.index[ok])]
        for key, idx in grouped:
            key = key if isinstance(key, tuple) else (key,)
            group = dict(zip(groups, key))
            rows.append(_kano_row(tp, group, len(idx), w_all.loc[idx], cat.loc[idx]))
    cols_out = [
        "touchpoint",
        *groups,
        "n",
        "n_eff",
        *KANO_CATEGORIES,
        "category",
        "cs_plus",
        "cs_minus",
    ]
    return pd.DataFrame(rows, columns=cols_out)


def _kano_problems(data, plist, groups, weight, where) -> list[Problem]:
    """Problems of the arguments of :func:`kano`: columns, pairs, weights, missing groups."""
    cols = [c for _, f, d in plist for c in (f, d)]
    problems = check_columns(data, {"pairs": cols, "weight": weight, "by": groups}, where)
    if not plist:
        problems.append(Problem("no Kano pair given", fix="pass instrument.kano_pairs()"))
    if weight is not None and not problems:
        problems += weight_problems(data[weight], weight, where)
    for g in groups:
        if g in data.columns and data[g].isna().any():
            problems.append(
                Problem(
                    f"{int(data[g].isna().sum())} row(s) have no value in {g!r}",
                    column=g,
                    fix="fill them (e.g. 'unknown') or filter the data first",
                )
            )
    return problems


def _kano_row(tp, group: dict, n: int, w: pd.Series, c: pd.Series) -> dict:
    """The Kano row of one touchpoint and group (``n`` answers) from their weights ``w`` and
    categories ``c``."""
    tot = float(w.sum())
    share = {k: float(w[c == k].sum()) / tot if tot > 0 else np.nan for k in KANO_CATEGORIES}
    a, o, m, i = (
        share["attractive"],
        share["one_dimensional"],
        share["must_be"],
        share["indifferent"],
    )
    base = a + o + m + i
    ranked = sorted(KANO_CATEGORIES, key=lambda k: -share[k])  # stable: table order on ties
    return {
        "touchpoint": tp,
        **group,
        "n": n,
        "n_eff": kish(w.to_numpy())[1],
        **share,
        "category": ranked[0],
        "cs_plus": (a + o) / base if base > 0 else np.nan,
        "cs_minus": -(o + m) / base if base > 0 else np.nan,
    }


# ---------------------------------------------------------------------------------------------
# importance-performance
# ---------------------------------------------------------------------------------------------
QUADRANTS = ("fix first", "keep up", "possible overkill", "low priority")


@deprecated_args(positional=("targets",))
def importance_performance(
    importance,
    scores: pd.DataFrame,
    *,
    targets=None,
    by: str | Sequence[str] | None = None,
    cut: str | float = "mean",
) -> pd.DataFrame:
    """Place each touchpoint by importance and performance, in one of four quadrants.

    Parameters
    ----------
    importance : DriverResult or DataFrame
        Importance per touchpoint: a :class:`DriverResult` (drivers named by touchpoint), or a
        table with ``touchpoint`` (or ``driver``) and ``importance`` (optionally ``ci_low``,
        ``ci_high``).
    scores : DataFrame
        Performance: output of :func:`scores` (``touchpoint, estimate, ci_low, ci_high``), one
        metric.
    targets : dict, Series, JourneyMap or Study, optional
        Target performance per touchpoint (``target_satisfaction`` of the journey map).
        Without a target, a touchpoint's reference is the mean performance.
    by : str or list of str, optional
        Grouping columns present in both tables (e.g. ``"persona"``).
    cut : "mean", "median" or float, default "mean"
        Where importance is "high" (at or above the cut).

    Returns
    -------
    DataFrame
        One row per touchpoint (and group): ``touchpoint``, the ``by`` columns, ``importance,
        importance_low, importance_high, performance, performance_low, performance_high,
        target, reference, gap, high_importance, below_target, quadrant``, with ``gap =
        performance - reference`` and ``quadrant`` one of "fix first" (important, below
        reference), "keep up" (important, at or above), "possible overkill" (less important,
        at or above), "low priority" (less important, below). Ready to plot. Only touchpoints
        (and groups) in both tables are placed: a :class:`~parcours_research.errors.DataQualityWarning`
        names each one left out and the table it is missing from.
    """
    where = "importance_performance"
    groups = as_list(by)
    imp_t, scores = _importance_performance_tables(importance, scores, groups, where)
    keys = ["touchpoint", *groups]
    left = pd.DataFrame({k: imp_t[k] for k in keys})
    left["importance"] = imp_t["importance"].to_numpy()
    left["importance_low"] = imp_t["ci_low"].to_numpy() if "ci_low" in imp_t else np.nan
    left["importance_high"] = imp_t["ci_high"].to_numpy() if "ci_high" in imp_t else np.nan
    right = pd.DataFrame({k: scores[k] for k in keys})
    right["performance"] = scores["estimate"].to_numpy()
    right["performance_low"] = scores["ci_low"].to_numpy() if "ci_low" in scores else np.nan
    right["performance_high"] = scores["ci_high"].to_numpy() if "ci_high" in scores else np.nan
    out = left.merge(right, on=keys, how="inner")
    missing_tp = sorted(set(left["touchpoint"]) ^ set(right["touchpoint"]))
    if out.empty:
        raise AnalysisError(
            "Cannot build the importance-performance table.",
            [
                Problem(
                    "no touchpoint is in both tables",
                    fix="name drivers by touchpoint: drivers(..., drivers={tp: column})",
                )
            ],
        )
    tmap = _targets(targets)
    out["target"] = out["touchpoint"].map(tmap).astype(float) if tmap else np.nan
    out = _quadrants(out, groups, cut)
    _warn_unmatched(left[keys], right[keys], out[keys], where)
    out.attrs["unmatched_touchpoints"] = missing_tp
    return out.reset_index(drop=True)


def _warn_unmatched(importance: pd.DataFrame, performance: pd.DataFrame, kept: pd.DataFrame,
                    where: str) -> None:
    """Warn (:class:`DataQualityWarning`) naming each touchpoint (and group) that is in one
    table only and so left out of the importance-performance table."""
    def absent(table: pd.DataFrame) -> list[str]:
        rows = table.merge(kept.drop_duplicates(), how="left", indicator=True)
        rows = rows[rows["_merge"] == "left_only"].drop(columns="_merge")
        return [", ".join(f"{k}={v!r}" if k != "touchpoint" else repr(v) for k, v in r.items())
                for r in rows.to_dict("records")]

    no_score, no_importance = absent(importance), absent(performance)
    if not (no_score or no_importance):
        return
    import warnings

    from .errors import DataQualityWarning

    parts = ([f"with an importance but no score: {'; '.join(no_score)}"] if no_score else [])
    parts += ([f"with a score but no importance: {'; '.join(no_importance)}"]
              if no_importance else [])
    warnings.warn(
        f"{where}: {len(no_score) + len(no_importance)} row(s) left out, "
        + " and ".join(parts) + ". Pass an importance and scores over the same touchpoints "
        "(and groups) to place every one.",
        DataQualityWarning,
        stacklevel=4,  # the caller of importance_performance (under its argument wrapper)
    )


def _importance_performance_tables(importance, scores, groups, where):
    """The importance table (``driver`` read as ``touchpoint``) and the scores table, checked:
    columns, one metric, one row per touchpoint and group."""
    if hasattr(importance, "summary") and isinstance(importance.summary, pd.DataFrame):
        imp_t = importance.summary
    else:
        imp_t = check_frame(importance, where)
    imp_t = (
        imp_t.rename(columns={"driver": "touchpoint"})
        if "touchpoint" not in imp_t.columns
        else imp_t
    )
    scores = check_frame(scores, where)
    problems = check_columns(
        imp_t, {"importance table": ["touchpoint", "importance", *groups]}, where
    )
    problems += check_columns(scores, {"scores table": ["touchpoint", "estimate", *groups]}, where)
    if "metric" in scores.columns and scores["metric"].nunique() > 1:
        problems.append(
            Problem(
                "the scores table holds several metrics",
                fix="filter it to one metric (e.g. scores[scores.metric == 'mean'])",
            )
        )
    if problems:
        raise AnalysisError("Cannot build the importance-performance table.", problems)
    if scores.duplicated(["touchpoint", *groups]).any():
        raise AnalysisError(
            "Cannot build the importance-performance table.",
            [
                Problem(
                    "the scores table has several rows per touchpoint",
                    fix="pass by= for its grouping columns, or filter it",
                )
            ],
        )
    return imp_t, scores


def _quadrants(out: pd.DataFrame, groups, cut) -> pd.DataFrame:
    """Reference (target, else the mean performance), gap, high importance (at or above
    ``cut``), below target and quadrant of every row of the joined table."""
    grp = out.groupby(groups, sort=False) if groups else None
    mean_perf = grp["performance"].transform("mean") if groups else out["performance"].mean()
    out["reference"] = out["target"].where(out["target"].notna(), mean_perf)
    out["gap"] = out["performance"] - out["reference"]
    if cut == "mean":
        cut_v = grp["importance"].transform("mean") if groups else out["importance"].mean()
    elif cut == "median":
        cut_v = grp["importance"].transform("median") if groups else out["importance"].median()
    elif isinstance(cut, int | float):
        cut_v = float(cut)
    else:
        raise AnalysisError(f"cut={cut!r} must be 'mean', 'median' or a number.")
    out["high_importance"] = out["importance"] >= cut_v
    out["below_target"] = out["gap"] < 0
    out["quadrant"] = np.select(
        [
            out["high_importance"] & out["below_target"],
            out["high_importance"] & ~out["below_target"],
            ~out["high_importance"] & ~out["below_target"],
        ],
        ["fix first", "keep up", "possible overkill"],
        default="low priority",
    )
    return out


def _targets(targets) -> dict:
    from ._inputs import study_of
    from .journey import JourneyMap

    if targets is None:
        return {}
    study = study_of(targets)
    journey = study.journey if study is not None else targets
    if isinstance(journey, JourneyMap):
        tf = journey.touchpoints_frame()
        return {
            r.touchpoint: r.target_satisfaction
            for r in tf.itertuples()
            if r.target_satisfaction is not None and np.isfinite(float(r.target_satisfaction))
        }
    if isinstance(targets, pd.Series):
        return targets.dropna().to_dict()
    if isinstance(targets, Mapping):
        return {k: v for k, v in targets.items() if v is not None}
    raise AnalysisError(
        "targets must be a dict {touchpoint: target}, a Series, a JourneyMap or a Study."
    )



def study_scores(
    study,
    *,
    by: str | Sequence[str] | None = None,
    metric: str | Sequence[str] = "mean",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """The study's touchpoint scores, as every output of the kit shows them.

    One definition for the report's ``scores_touchpoint`` tables, notebook 3 and the workshop's
    staff-against-customers table: :func:`scores` on the prepared ratings
    (``pr.prepare(study).ratings``) with the study's weighting rule and its declared design
    (``survey: strata / cluster / fpc`` of study.yml); without a declared cluster, each
    respondent is a cluster, since one respondent rates several touchpoints.

    Parameters
    ----------
    study : Study or Evidence
    by : str or list of str, optional
        Domains (e.g. ``"persona"``); None for one score per touchpoint.
    metric : str or list of str, default "mean"
        As in :func:`scores`.
    confidence : float, default 0.95

    Returns
    -------
    DataFrame
        The table of :func:`scores`.
    """
    from .evidence import evidence_of

    ev = evidence_of(study)
    design = ev.design
    return scores(ev.ratings, "score", by=by, metric=metric, weight="weight", strata=design["strata"],
                  cluster=design["cluster"] or "respondent_id", fpc=design["fpc"], confidence=confidence)

def answer_shares(
    data: pd.DataFrame,
    *,
    score: str = "score",
    touchpoint: str = "touchpoint",
    by: str | None = "persona",
    weight: str | None = "weight",
) -> pd.DataFrame:
    """Weighted share of each answer of a rating scale, per touchpoint (and group).

    The distribution behind a mean score: how many rated 1, 2, … 5, with the study's weights
    (``pr.prepare(study).ratings``), so that the figure of the distributions and the mean agree.

    Parameters
    ----------
    data : DataFrame
        Long ratings, one row per respondent and rated touchpoint; missing scores are left out.
    score, touchpoint : str
        Rating and touchpoint columns.
    by : str or None, default "persona"
        Group column (a share per group and touchpoint).
    weight : str or None, default "weight"
        Survey weights; None counts every rating once.

    Returns
    -------
    DataFrame
        ``touchpoint, [by], score, n, share``: the number of ratings with that answer and its
        weighted share of the group's ratings of the touchpoint (shares add up to 1 within each
        touchpoint and group).
    """
    keys = [touchpoint] + ([by] if by else [])
    need = keys + [score] + ([weight] if weight else [])
    missing = [c for c in need if c not in data.columns]
    if missing:
        raise AnalysisError(f"answer_shares: the table lacks column(s) {missing}.",
                            [Problem("missing columns", fix="pass pr.prepare(study).ratings")])
    d = data.dropna(subset=[score])
    d = d.assign(_w=d[weight].astype(float) if weight else 1.0)
    out = d.groupby(keys + [score], observed=True).agg(n=("_w", "size"), _w=("_w", "sum")).reset_index()
    out["share"] = out["_w"] / out.groupby(keys, observed=True)["_w"].transform("sum")
    return out.drop(columns="_w")


# moments of truth from the data (issue 19): their own module, re-exported here
from .moments import MomentsResult, moments_of_truth  # noqa: E402
