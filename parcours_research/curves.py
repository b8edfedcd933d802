"""Persona journey curves: the measured satisfaction curve of each persona, with its uncertainty.

>>> import parcours_research as pr
>>> study = pr.load_study("data/sample")                                   # doctest: +SKIP
>>> curves = pr.curves.journey_curves(study, weight="rake", band="simultaneous")  # doctest: +SKIP
>>> pr.plot.journey_curves(curves, friction=...)                            # doctest: +SKIP

A journey curve is one design-based mean satisfaction per touchpoint (or per stage) for one
persona, drawn in journey order beside the target curve of ``study.yml`` ("as it should be").
Every point carries a confidence interval; the band can be

* ``"pointwise"``: each interval covers its own point with probability ``confidence``;
* ``"simultaneous"``: the sup-t band (Montiel Olea & Plagborg-Møller 2019, *J. Applied
  Econometrics* 34(1)): the critical value is the ``confidence`` quantile of the largest
  studentised deviation along the curve across bootstrap replicates, so that the whole curve
  lies inside its band with probability ``confidence``;
* ``"bonferroni"``: the conservative simultaneous band, ``t_{1 - alpha / (2 J)}`` (design
  degrees of freedom) for ``J`` points.

Point estimates, standard errors and pointwise intervals come from
:func:`parcours_research.satisfaction.scores` (Taylor linearisation with the respondent as the
cluster); bootstrap replicates come from :func:`parcours_research._design.bootstrap_weights`
(Rao–Wu rescaled bootstrap), re-raked replicate by replicate when the weights are raked.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats

from ._compat import deprecated_args
from ._design import bootstrap_weights
from .errors import (
    AnalysisError,
    ParcoursWarning,
    Problem,
    StudyError,
    WeightingError,
    check_one_of,
)

__all__ = [
    "journey_curves",
    "sup_t_critical",
    "bonferroni_critical",
    "CURVE_COLUMNS",
]

#: Columns of the table returned by :func:`journey_curves`, in order (``persona`` is replaced
#: by the name of the ``by`` column).
CURVE_COLUMNS = (
    "persona",
    "stage",
    "stage_label",
    "stage_order",
    "touchpoint",
    "label",
    "order",
    "moment_of_truth",
    "target",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n",
    "n_eff",
    "gap",
    "below_target",
    "valence",
    "n_excerpts",
    "band",
    "level_ci",
    "crit",
    "grain",
    "weighting",
)

_LEVELS = ("touchpoint", "stage")
_BANDS = ("pointwise", "simultaneous", "bonferroni")
_FAMILIES = ("group", "all")
ALL = "all"


# ---------------------------------------------------------------------------------------------
# critical values
# ---------------------------------------------------------------------------------------------
@deprecated_args(renamed={"level": "confidence"}, positional=("estimates", "confidence"))
def sup_t_critical(replicates, *, estimates=None, confidence: float = 0.95) -> float:
    """Critical value of the sup-t simultaneous band from bootstrap replicates.

    ``c`` is the ``confidence`` quantile over replicates ``b`` of ``max_j |theta*_bj - theta_j| /
    sd_j``, where ``sd_j`` is the standard deviation of the replicates of point ``j``
    (Montiel Olea & Plagborg-Møller 2019, eq. 6). The band ``theta_j +/- c * se_j`` then covers
    the whole vector with probability ``confidence`` asymptotically.

    Parameters
    ----------
    replicates : array of shape (B, J)
        Bootstrap (or replicate-weight) estimates of the ``J`` points. Missing values (a
        replicate where a point has no data) are left out of that replicate's maximum.
    estimates : array of shape (J,), optional
        The full-sample estimates the replicates are centred on; default the replicate mean.
    confidence : float, default 0.95

    Returns
    -------
    float
        The critical value (``nan`` when no point has replicate variance).
    """
    r = np.asarray(replicates, dtype=float)
    if r.ndim != 2:
        raise AnalysisError(
            f"replicates must be a 2-D array (replicates x points), got shape {r.shape}."
        )
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence={confidence!r} must be between 0 and 1.")
    centre = np.nanmean(r, axis=0) if estimates is None else np.asarray(estimates, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(r, axis=0, ddof=1)
    keep = np.isfinite(sd) & (sd > 0) & np.isfinite(centre)
    if not keep.any():
        return float("nan")
    t = np.abs(r[:, keep] - centre[keep]) / sd[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        tmax = np.nanmax(t, axis=1)
    tmax = tmax[np.isfinite(tmax)]
    if tmax.size == 0:
        return float("nan")
    return float(np.quantile(tmax, confidence, method="higher"))


@deprecated_args(renamed={"level": "confidence"}, positional=("confidence", "df"))
def bonferroni_critical(
    n_points: int, *, confidence: float = 0.95, df: float | None = None
) -> float:
    """Critical value of a Bonferroni simultaneous band over ``n_points`` points:
    ``z_{1 - (1 - confidence) / (2 n_points)}``, or Student's t with ``df`` degrees of freedom
    (the design degrees of freedom) when given."""
    if n_points < 1:
        return float("nan")
    q = 1 - (1 - confidence) / (2 * n_points)
    if df is not None and np.isfinite(df) and df > 0:
        return float(stats.t.ppf(q, df))
    return float(stats.norm.ppf(q))


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
@dataclass
class _Inputs:
    """What an analysis needs, whatever the input was.

    ``respondents``: one row per respondent (index 0..n-1) with ``_rid``, ``_group`` and the
    weight, strata, cluster and margin columns; ``ratings``: one row per rating with ``_pos``
    (the respondent's row), ``touchpoint``, ``score`` (and ``stage``, ``order``, ``target``
    when a table brings them). ``weight_col`` holds the point-estimate weights (None: equal);
    when ``margins`` is set, bootstrap replicates start from ``start_col`` (None: equal) and
    are re-raked to them. ``weighting`` names the rule (``rake, design, column, none``).
    """

    respondents: pd.DataFrame
    ratings: pd.DataFrame
    group_col: str
    journey: object
    weight_col: str | None
    strata_col: str | None
    cluster_col: str | None
    margins: Mapping | None
    start_col: str | None = None
    weighting: str = "none"
    study: object = None
    fpc_col: str | None = None


def _no_survey(study) -> StudyError:
    return StudyError(
        f"journey_curves: the study {study.name!r} has no survey responses.",
        [
            Problem(
                "no responses loaded",
                "study.yml",
                column="survey",
                fix="add `survey: {instrument: ..., responses: ...}` to study.yml",
            )
        ],
    )


def _from_study(ev, by, weight, strata, cluster, margins, problems) -> _Inputs | None:
    """Inputs from a study's prepared evidence: responses weighted by the study's rule."""
    study = ev.study
    if study.responses is None or study.instrument is None:
        raise _no_survey(study)
    problems += _study_argument_problems(study, by, weight, margins)
    try:
        sw = ev.weighting
        resp = ev.responses
    except WeightingError as exc:
        problems.extend(exc.problems or [Problem(str(exc), column="weight")])
        return None
    strata = strata if strata is not None else ev.design["strata"]
    cluster = cluster if cluster is not None else ev.design["cluster"]
    problems += _design_column_problems(resp, strata, cluster)
    if problems:
        return None
    rid = study.instrument.respondent_id
    raked = sw.rule == "rake"
    start_col = sw.column if raked else None
    margin_cols = list(study.margins) if raked else []
    extra = [c for c in dict.fromkeys(["weight", start_col, strata, cluster, *margin_cols]) if c]
    cols = [rid, *([by] if by else []), *[c for c in extra if c not in (rid, by)]]
    R = resp[cols].rename(columns={rid: "_rid"}).reset_index(drop=True)
    R["_group"] = R[by] if by else ALL
    long = ev.ratings
    L = pd.DataFrame(
        {
            "_pos": _positions(R["_rid"], long["respondent_id"]),
            "touchpoint": long["touchpoint"].astype(str).array,
            "score": long["score"].astype(float).to_numpy(),
        }
    )
    return _Inputs(
        R,
        L,
        by or "persona",
        study.journey,
        "weight",
        strata,
        cluster,
        study.margins if raked else None,
        start_col,
        sw.rule,
        study,
    )


def _positions(rid: pd.Series, ids: pd.Series) -> np.ndarray:
    """The row of ``rid`` of every id of ``ids`` (matched as text; NaN when absent)."""
    index = pd.Index(rid.astype(str))
    if not index.is_unique:  # let reindex say so
        pos = pd.Series(np.arange(len(rid)), index=rid.astype(str).to_numpy())
        return pos.reindex(ids.astype(str).to_numpy()).to_numpy()
    got = index.get_indexer(ids.astype(str))
    return got if (got >= 0).all() else np.where(got >= 0, got, np.nan)


def _study_argument_problems(study, by, weight, margins) -> list[Problem]:
    """margins= with a study's weighting rule, or a ``by`` column the responses lack."""
    problems = []
    if margins is not None and weight in ("default", "rake"):
        problems.append(
            Problem(
                "margins= cannot be combined with a study's weighting rule",
                column="margins",
                fix="put the margins in study.yml, or pass study.ratings_long() with margins=",
            )
        )
    if by is not None and by not in study.responses.columns:
        problems.append(
            Problem(
                f"column {by!r} (argument by=) is not in the responses",
                column=str(by),
                fix=f"use one of the responses' columns ({', '.join(map(str, study.responses.columns[:15]))}, ...)",
            )
        )
    return problems


def _design_column_problems(resp: pd.DataFrame, strata, cluster) -> list[Problem]:
    """Design columns (strata, cluster) the responses lack."""
    return [
        Problem(
            f"column {col!r} (argument {arg}=) is not in the responses",
            column=str(col),
            fix="name a column of the responses",
        )
        for arg, col in {"strata": strata, "cluster": cluster}.items()
        if col is not None and col not in resp.columns
    ]


def _from_frame(
    data, by, respondent, touchpoint, score, weight, strata, cluster, margins, journey, problems
) -> _Inputs | None:
    """Inputs from a table of ratings (one row per respondent and touchpoint)."""
    if weight == "default":  # a table's rule: raked when margins are given, else unweighted
        weight = "rake" if margins else None
    weight_col = None if weight in (None, "none", "rake") else weight
    problems += _frame_column_problems(
        data, respondent, touchpoint, score, by, weight, weight_col, strata, cluster, margins
    )
    if problems:
        return None
    sc = pd.to_numeric(data[score], errors="coerce")
    rid = data[respondent].astype("string")
    resp_cols = [
        c
        for c in dict.fromkeys(
            [by, weight_col, strata, cluster, *((margins or {}) if weight == "rake" else {})]
        )
        if c
    ]
    resp_cols = [c for c in resp_cols if c != respondent]
    problems += _frame_value_problems(data, score, sc, respondent, rid, resp_cols)
    if problems:
        return None
    R = data.assign(_rid=rid).drop_duplicates("_rid")[["_rid", *resp_cols]].reset_index(drop=True)
    R["_group"] = R[by] if by else ALL
    L = _frame_ratings(data, touchpoint, sc, rid, R, journey)
    if weight == "rake":
        R["_raked"] = _rake_or_fail(R, margins, np.ones(len(R)))
        return _Inputs(
            R, L, by or "persona", journey, "_raked", strata, cluster, margins, None, "rake"
        )
    rule = "none" if weight_col is None else "column"
    return _Inputs(R, L, by or "persona", journey, weight_col, strata, cluster, None, None, rule)


def _frame_column_problems(
    data, respondent, touchpoint, score, by, weight, weight_col, strata, cluster, margins
) -> list[Problem]:
    """Columns of a table of ratings that are missing, and raking without margins."""
    problems: list[Problem] = []
    need = {
        "respondent": respondent,
        "touchpoint": touchpoint,
        "score": score,
        "by": by,
        "weight": weight_col,
        "strata": strata,
        "cluster": cluster,
    }
    for arg, col in need.items():
        if col is not None and col not in data.columns:
            problems.append(
                Problem(
                    f"column {col!r} (argument {arg}=) is not in the data",
                    column=str(col),
                    fix=f"pass {arg}= naming one of the data's columns "
                    f"({', '.join(map(str, data.columns[:15]))})",
                )
            )
    if weight == "rake":
        if not margins:
            problems.append(
                Problem(
                    "weight='rake' needs margins={column: {level: share}}",
                    fix="pass margins=, or pass the Study instead of a table",
                )
            )
        for col in margins or {}:
            if col not in data.columns:
                problems.append(
                    Problem(
                        f"margin column {col!r} is not in the data",
                        column=str(col),
                        fix="margins must name columns of the data",
                    )
                )
    return problems


def _frame_value_problems(data, score, sc, respondent, rid, resp_cols) -> list[Problem]:
    """The first problem of the values of a table of ratings: scores that are not numbers
    (``sc`` the numeric scores), ratings without a respondent id (``rid``), respondent columns
    that change within a respondent."""
    bad = int((sc.isna() & data[score].notna()).sum())
    if bad:
        return [
            Problem(
                f"{bad} score(s) are not numbers",
                column=score,
                fix="scores must be numbers (blank when the touchpoint was not rated)",
            )
        ]
    if rid.isna().any():
        return [
            Problem(
                f"{int(rid.isna().sum())} row(s) have no respondent id",
                column=respondent,
                fix="give every rating the id of the person who gave it",
            )
        ]
    if not resp_cols:
        return []
    n_var = data.assign(_rid=rid).groupby("_rid", sort=False)[resp_cols].nunique(dropna=False)
    return [
        Problem(
            f"column {c!r} changes within a respondent",
            column=c,
            fix="group, weight, strata, cluster and margin columns describe the "
            "respondent and must be constant across their rows",
        )
        for c in resp_cols
        if (n_var[c] > 1).any()
    ]


def _frame_ratings(data, touchpoint, sc, rid, R, journey) -> pd.DataFrame:
    """The rated rows of a table: ``_pos`` (the respondent's row of ``R``), ``touchpoint``,
    ``score``, and without a journey its ``stage``, ``order``, target and moment-of-truth
    columns."""
    pos = pd.Series(np.arange(len(R)), index=R["_rid"].astype(str).to_numpy())
    keep = sc.notna().to_numpy()
    L = pd.DataFrame(
        {
            "_pos": pos.reindex(rid[keep].astype(str).to_numpy()).to_numpy(),
            "touchpoint": data.loc[keep, touchpoint].astype(str).to_numpy(),
            "score": sc[keep].astype(float).to_numpy(),
        }
    )
    for extra in ("stage", "order", "target", "target_satisfaction", "moment_of_truth"):
        if extra in data.columns and journey is None:
            L[extra] = data.loc[keep, extra].to_numpy()
    return L


#: Columns of the table of units (touchpoints or stages), in order.
_UNIT_COLUMNS = (
    "touchpoint",
    "label",
    "stage",
    "stage_label",
    "stage_order",
    "order",
    "moment_of_truth",
    "target",
)


def _units(inp: _Inputs, level: str, lang: str | None) -> pd.DataFrame:
    """One row per touchpoint (or stage): ids, labels, order, target, moment of truth."""
    j = inp.journey
    tf = _journey_units(j, inp.ratings, lang) if j is not None else _table_units(inp.ratings)
    if level == "touchpoint":
        return tf.reset_index(drop=True)
    if tf["stage"].isna().all():
        raise AnalysisError(
            "journey_curves(level='stage') needs the stage of each touchpoint.",
            [
                Problem(
                    "no stage known",
                    column="stage",
                    fix="pass journey= (or the Study), or add a `stage` column to the data",
                )
            ],
        )
    st = (
        tf.groupby("stage", sort=False)
        .agg(
            stage_label=("stage_label", "first"),
            stage_order=("stage_order", "first"),
            moment_of_truth=("moment_of_truth", "any"),
            target=("target", "mean"),
        )
        .reset_index()
    )
    st = st.sort_values("stage_order", kind="stable").reset_index(drop=True)
    st["touchpoint"] = pd.NA
    st["label"] = st["stage_label"]
    st["order"] = st["stage_order"]
    return st[list(_UNIT_COLUMNS)]


def _journey_units(j, ratings: pd.DataFrame, lang: str | None) -> pd.DataFrame:
    """The touchpoints of the journey map ``j``; raises when the ratings name others."""
    tf = j.touchpoints_frame(lang)
    unknown = sorted(set(ratings["touchpoint"].unique()) - set(tf["touchpoint"]))
    if unknown:
        raise AnalysisError(
            "journey_curves: the ratings name touchpoints the journey does not have.",
            [
                Problem(
                    f"unknown touchpoint(s) {unknown[:10]}",
                    column="touchpoint",
                    fix=f"use the journey's ids ({', '.join(tf['touchpoint'][:8])}, ...)",
                )
            ],
        )
    tf = tf.rename(columns={"target_satisfaction": "target"})
    return tf[list(_UNIT_COLUMNS)]


def _table_units(L: pd.DataFrame) -> pd.DataFrame:
    """The touchpoints of a table of ratings without a journey, from its ``stage``, ``order``,
    ``target`` (or ``target_satisfaction``) and ``moment_of_truth`` columns when it has them."""
    tf = pd.DataFrame({"touchpoint": pd.unique(L["touchpoint"])})
    first = L.drop_duplicates("touchpoint").set_index("touchpoint")
    tf["label"] = tf["touchpoint"]
    tf["stage"] = tf["touchpoint"].map(first["stage"]) if "stage" in L else pd.NA
    if "order" in L:
        tf["order"] = tf["touchpoint"].map(first["order"]).astype(float)
    else:
        tf["order"] = np.arange(1, len(tf) + 1, dtype=float)
    tcol = (
        "target" if "target" in L else "target_satisfaction" if "target_satisfaction" in L else None
    )
    tf["target"] = tf["touchpoint"].map(first[tcol]).astype(float) if tcol else np.nan
    tf["moment_of_truth"] = (
        tf["touchpoint"].map(first["moment_of_truth"]).astype(bool)
        if "moment_of_truth" in L
        else False
    )
    tf = tf.sort_values("order", kind="stable").reset_index(drop=True)
    tf["order"] = np.arange(1, len(tf) + 1)
    stages = pd.unique(tf["stage"].dropna()) if tf["stage"].notna().any() else []
    so = {s: i for i, s in enumerate(stages, 1)}
    tf["stage_label"] = tf["stage"]
    tf["stage_order"] = tf["stage"].map(so)
    return tf


# ---------------------------------------------------------------------------------------------
# weights and replicates
# ---------------------------------------------------------------------------------------------
def _column_weights(inp: _Inputs, col: str | None) -> np.ndarray:
    R = inp.respondents
    if col is None:
        return np.ones(len(R))
    from ._design import weight_problems

    probs = weight_problems(R[col], col, "journey_curves")
    if probs:
        raise AnalysisError("journey_curves: the weights cannot be used.", probs)
    return pd.to_numeric(R[col]).to_numpy(dtype=float)


def _rake_or_fail(R: pd.DataFrame, margins, start: np.ndarray) -> np.ndarray:
    try:
        return _rake(R, margins, start)
    except ParcoursWarning as warn:
        raise AnalysisError(
            "journey_curves: raking to the margins did not converge.",
            [
                Problem(
                    str(warn),
                    column="margins",
                    fix="collapse sparse levels or pass your own weights",
                )
            ],
        ) from None


def _rake(R: pd.DataFrame, margins, start: np.ndarray) -> np.ndarray:
    """Raked weights of the rows of ``R`` with positive ``start`` weight (others stay 0)."""
    from . import weighting

    out = np.zeros(len(R))
    pos = start > 0
    frame = R.loc[pos, list(margins)].assign(_w0=start[pos])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ParcoursWarning)
        res = weighting.rake(frame, margins, weight="_w0")
    out[pos] = res.weights.to_numpy()
    return out


def _rake_replicates(R, margins, reps: np.ndarray) -> tuple[np.ndarray, int]:
    """Re-rake every replicate; replicates that cannot be raked are dropped (counted). All at
    once (``weighting._rake_rows``, the same weights as raking them one by one) unless the
    margins do not fit the respondents, then one by one."""
    from .weighting import _rake_rows

    many = _rake_rows(R, margins, reps)
    if many is not None:
        return many[0], int((~many[1]).sum())
    return _rake_replicates_one_by_one(R, margins, reps)


def _rake_replicates_one_by_one(R, margins, reps: np.ndarray) -> tuple[np.ndarray, int]:
    """:func:`_rake_replicates` by one call of :func:`weighting.rake` per replicate."""
    out, failed = [], 0
    for b in range(reps.shape[0]):
        try:
            out.append(_rake(R, margins, reps[b]))
        except (WeightingError, ParcoursWarning):
            failed += 1
    return (np.vstack(out) if out else np.empty((0, reps.shape[1]))), failed


# ---------------------------------------------------------------------------------------------
# estimation
# ---------------------------------------------------------------------------------------------
def _cells(inp: _Inputs, level: str, groups: list, units: pd.DataFrame) -> pd.DataFrame:
    """Long table of analysed values: _pos, _group, _unit, score (one per respondent and unit)."""
    L = inp.ratings
    R = inp.respondents
    L = L[L["_pos"].notna()]
    d = pd.DataFrame(
        {
            "_pos": L["_pos"].astype(np.int64).to_numpy(),
            "_unit": L["touchpoint"].array,
            "score": L["score"].to_numpy(),
        }
    )
    if level == "stage":
        stage_of = (
            dict(
                zip(
                    inp.journey.touchpoints_frame()["touchpoint"],
                    inp.journey.touchpoints_frame()["stage"],
                )
            )
            if inp.journey is not None
            else dict(zip(L["touchpoint"], L["stage"]))
        )
        d["_unit"] = d["_unit"].map(stage_of)
        d = d.groupby(["_pos", "_unit"], sort=False, as_index=False)["score"].mean()
    d["_group"] = _take(R["_group"], d["_pos"].to_numpy())
    d = d[d["_group"].notna()]
    d = d[d["_group"].isin(groups)]
    return d.reset_index(drop=True)


def _take(col: pd.Series, pos: np.ndarray):
    """``col.to_numpy()[pos]`` as a column would hold it (text as text, without going through
    Python objects, which is slow for many rows)."""
    if isinstance(col.dtype, pd.StringDtype):
        return col.astype("str").array.take(pos)
    return col.to_numpy()[pos]


def _pointwise(cells: pd.DataFrame, inp: _Inputs, w: np.ndarray, level_ci: float) -> pd.DataFrame:
    """Design-based mean, SE, interval, n and n_eff per (group, unit), by satisfaction.scores."""
    from . import satisfaction

    R = inp.respondents
    pos = cells["_pos"].to_numpy()
    frame = cells.assign(_weight=w[pos], _rid=_take(R["_rid"], pos))
    kw = {}
    if inp.strata_col is not None:
        frame["_strata"] = _take(R[inp.strata_col], pos)
        kw["strata"] = "_strata"
    if inp.cluster_col is not None:
        frame["_cluster"] = _take(R[inp.cluster_col], pos)
        kw["cluster"] = "_cluster"
    else:
        kw["cluster"] = "_rid"
    if inp.fpc_col is not None:
        frame["_fpc"] = R[inp.fpc_col].to_numpy()[pos]
        kw["fpc"] = "_fpc"
    res = satisfaction.scores(
        frame,
        score="score",
        touchpoint="_unit",
        by="_group",
        weight="_weight",
        metric="mean",
        confidence=level_ci,
        respondent=None,
        **kw,
    )
    return res.reset_index(drop=True)


def _replicate_matrix(cells: pd.DataFrame, keys: pd.DataFrame, W: np.ndarray) -> np.ndarray:
    """Weighted domain means of every (group, unit) key under every row of ``W`` (B x n)."""
    col = _key_index(keys, cells)
    pos = cells["_pos"].to_numpy()
    shape = (W.shape[1], len(keys))
    q_y = sparse.csr_matrix((cells["score"].to_numpy(dtype=float), (pos, col)), shape=shape)
    q_1 = sparse.csr_matrix((np.ones(len(pos)), (pos, col)), shape=shape)
    num = np.asarray((q_y.T @ W.T).T)
    den = np.asarray((q_1.T @ W.T).T)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _key_index(keys: pd.DataFrame, cells: pd.DataFrame) -> np.ndarray:
    """The row of ``keys`` of every cell's (``_group``, ``_unit``) pair."""
    pairs = ["_group", "_unit"]
    col = pd.MultiIndex.from_frame(keys[pairs]).get_indexer(pd.MultiIndex.from_frame(cells[pairs]))
    if (col < 0).any():  # a cell without a point cannot happen: the points come from the cells
        raise KeyError("journey_curves: a cell has no point")
    return col.astype(np.int64)


def _valence(qual, inp: _Inputs, level: str, group_col: str, study) -> pd.DataFrame | None:
    """Mean valence per (group, unit) from excerpts, via pr.qual.mean_valence."""
    excerpts = _excerpts(qual, study)
    if excerpts is None:
        return None
    unit = "touchpoint" if level == "touchpoint" else "stage"
    if {"estimate", "n"} <= set(excerpts.columns) and "valence" not in excerpts.columns:
        table = excerpts  # already a mean_valence table
    else:
        table = _mean_valence(excerpts, inp, unit, group_col)
        if table is None:
            return None
    if unit not in table.columns:
        return None
    if group_col not in table.columns:
        table = (
            table.assign(**{group_col: ALL}) if inp.respondents["_group"].eq(ALL).all() else None
        )
        if table is None:
            return None
    return table[[group_col, unit, "estimate", "n"]].rename(
        columns={group_col: "_group", unit: "_unit", "estimate": "valence", "n": "n_excerpts"}
    )


def _excerpts(qual, study) -> pd.DataFrame | None:
    """The excerpts of ``qual=``: the study's (None when it has none), the table given, or
    None for ``qual=False``; raises for anything else."""
    if qual is False:
        return None
    if qual is None:
        if study is None or getattr(study, "qual", None) is None:
            return None
        from .evidence import prepare

        return prepare(study).excerpts  # read once, shared with every analysis
    if isinstance(qual, pd.DataFrame):
        return qual
    raise AnalysisError(
        f"journey_curves: qual= must be None (the study's excerpts), False or a DataFrame, not "
        f"{type(qual).__name__}."
    )


def _mean_valence(excerpts, inp: _Inputs, unit: str, group_col: str) -> pd.DataFrame | None:
    """pr.qual.mean_valence of the excerpts per unit (and group, when the curves have groups);
    None when no excerpt names a unit."""
    from . import qual as q

    d = excerpts
    if unit == "stage" and "stage" not in d.columns and inp.journey is not None:
        d = d.assign(stage=d["touchpoint"].map({t.id: t.stage for t in inp.journey.touchpoints}))
    by = [unit] + (
        [group_col] if group_col in d.columns and inp.respondents["_group"].ne(ALL).any() else []
    )
    missing = [c for c in [unit, "valence"] if c not in d.columns]
    if missing:
        raise AnalysisError(
            f"journey_curves: the excerpts lack column(s) {missing}.",
            [
                Problem(
                    "cannot compute the valence",
                    column=str(missing[0]),
                    fix="read them with pr.qual.read_excerpts, or pass qual=False",
                )
            ],
        )
    d = d[d[unit].notna()]
    if d.empty:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParcoursWarning)
        return q.mean_valence(d, by=by)


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
@deprecated_args(renamed={"level": "grain", "level_ci": "confidence"})
def journey_curves(
    data,
    *,
    by: str | None = "persona",
    grain: str = "touchpoint",
    weight: str | None = "default",
    band: str = "pointwise",
    confidence: float = 0.95,
    n_boot: int = 500,
    seed: int | None = 0,
    family: str = "group",
    qual=None,
    margins: Mapping[str, Mapping] | None = None,
    strata: str | None = None,
    cluster: str | None = None,
    fpc: str | None = None,
    journey=None,
    respondent: str = "respondent_id",
    touchpoint: str = "touchpoint",
    score: str = "score",
    groups: Sequence[str] | None = None,
    lang: str | None = None,
) -> pd.DataFrame:
    """The satisfaction curve of each persona along the journey, with its uncertainty.

    Parameters
    ----------
    data : Study, Evidence or DataFrame
        A loaded study (its prepared survey responses and ratings,
        :func:`parcours_research.evidence.prepare`), or ratings in long format: one row per
        respondent and rated touchpoint with the columns ``respondent``, ``touchpoint``,
        ``score`` and ``by`` (e.g. :meth:`Study.ratings_long` or workshop ratings from
        :func:`parcours_research.ratings.ratings_long`). Without ``journey=``, the table may
        carry ``stage``, ``order``, ``target`` and ``moment_of_truth`` columns.
    by : str or None, default "persona"
        The column whose levels get one curve each; ``None`` for one curve of everybody
        (``persona = "all"``).
    grain : {"touchpoint", "stage"}
        One point per touchpoint, or per stage (was ``level=``). At stage level a respondent's stage score is
        the mean of their ratings of the stage's touchpoints, then the design-based mean of
        those is taken; the stage target is the mean of its touchpoints' targets.
    weight : {"default", "rake", "design", None} or str, default "default"
        For a study, its weighting rule (:func:`parcours_research.weighting.study_weights`):
        ``"default"`` rakes to the study's margins when it has some (starting from the design
        weights it declares), else uses the declared design weights, else none; the same
        weights as every other analysis of the study. For a table: ``"default"`` rakes to
        ``margins=`` when given, else none; ``"rake"`` rakes to ``margins=``; None is
        unweighted; a column name uses those weights as they are.
    band : {"pointwise", "simultaneous", "bonferroni"}
        Pointwise intervals (Taylor linearisation), the sup-t simultaneous band from bootstrap
        replicates, or the Bonferroni simultaneous band. Simultaneous bands are never narrower
        than the pointwise ones.
    confidence : float, default 0.95
        Confidence level (pointwise or simultaneous; was ``level_ci=``).
    n_boot : int, default 500
        Bootstrap replicates for the sup-t band (Rao–Wu rescaled bootstrap of respondents,
        stratified by the design strata or else by ``by``; re-raked replicate by replicate
        when ``weight="rake"``). Ignored by the other bands.
    seed : int, optional
        Seed of the bootstrap.
    family : {"group", "all"}
        What the simultaneous band covers at once: each persona's curve (default), or all the
        curves of the table together.
    qual : None, False or DataFrame
        Qualitative valence: ``None`` reads the study's excerpts when it has some; a DataFrame
        of excerpts (:func:`parcours_research.qual.read_excerpts`) or a
        :func:`~parcours_research.qual.mean_valence` table; ``False`` for none.
    margins : dict, optional
        ``{column: {level: share}}`` to rake a table of ratings (a study's come from
        study.yml).
    strata, cluster : str, optional
        Design columns of the respondents (default: the study's ``survey:`` declaration).
        Without a cluster, the respondent is the cluster, so that one person's ratings are not
        treated as independent.
    fpc : str, optional
        Finite population correction of the respondents' first stage: the population size of
        the stratum, or the sampling fraction, as R's ``svydesign(fpc=)`` (default: the
        study's ``survey: fpc:``). Pointwise intervals use it, and the bootstrap factors are
        shrunk by ``sqrt(1 - f)`` (Rao, Wu & Yue 1992).
    journey : JourneyMap or Study, optional
        Order, stages, labels and targets for a DataFrame input.
    respondent, touchpoint, score : str
        Column names of a DataFrame input.
    groups : list of str, optional
        Keep only these levels of ``by`` (default: all; personas in the study's order).
    lang : {"fr", "en"}, optional
        Language of the ``label`` and ``stage_label`` columns (default: the study's).

    Returns
    -------
    DataFrame
        One row per group and touchpoint (or stage), groups in the journey's persona order and
        points in journey order. Columns:

        - ``persona`` (named after ``by``): the group;
        - ``stage``, ``stage_label``, ``stage_order``: the stage of the point;
        - ``touchpoint``, ``label``: the touchpoint id and label (at stage level
          ``touchpoint`` is missing and ``label`` is the stage label);
        - ``order``: position along the journey (1-based);
        - ``moment_of_truth``: the touchpoint is a moment of truth (stage level: the stage
          holds one);
        - ``target``: target satisfaction ("as it should be");
        - ``estimate``, ``se``: design-based mean satisfaction and its standard error;
        - ``ci_low``, ``ci_high``: the band (pointwise or simultaneous, see ``band``);
        - ``n``: respondents who rated it; ``n_eff``: Kish effective sample size;
        - ``gap``: ``estimate - target``;
        - ``below_target``: the whole interval lies below the target;
        - ``valence``, ``n_excerpts``: mean valence of the interview excerpts (-2..+2) and
          their number (``NaN`` and 0 where there is none);
        - ``band``, ``level_ci``, ``crit``: the kind of band, its confidence level, and the
          critical value multiplying ``se`` (for the pointwise band,
          ``(ci_high - estimate) / se``);
        - ``grain``: ``touchpoint`` or ``stage``; ``weighting``: which weights were used
          (``rake``, ``design``, ``column`` or ``none``, see
          :class:`~parcours_research.weighting.StudyWeights`).

        Points rated by fewer than two respondents have no interval (``NaN``).

    Raises
    ------
    AnalysisError
        Listing every problem with the arguments or the data at once.

    References
    ----------
    Montiel Olea, J. L. and Plagborg-Møller, M. (2019). Simultaneous confidence bands: Theory,
    implementation, and an application to SVARs. *Journal of Applied Econometrics*, 34(1), 1-17.
    Rao, J. N. K., Wu, C. F. J. and Yue, K. (1992). Some recent work on resampling methods for
    complex surveys. *Survey Methodology*, 18(2), 209-217.
    """
    problems = _argument_problems(grain, band, family, confidence, n_boot, lang)
    inp = _inputs(
        data, by, weight, strata, cluster, margins, journey, respondent, touchpoint, score, problems
    )
    if inp is not None and not problems:
        inp = _with_fpc(inp, data, fpc, respondent, problems)
    if problems or inp is None:
        raise AnalysisError("journey_curves cannot run with these arguments.", problems)
    order = _group_order(inp, by, groups)
    units = _units(inp, grain, lang)
    cells = _cells(inp, grain, order, units)
    if cells.empty:
        raise AnalysisError(
            "journey_curves: no rating to analyse.",
            [Problem("every score is blank", fix="check the responses and the touchpoint columns")],
        )
    w = _column_weights(inp, inp.weight_col)
    point = _pointwise(cells, inp, w, float(confidence))
    fit = _band(point, cells, inp, w, band, float(confidence), n_boot, seed, family)
    val = _valence(qual, inp, grain, inp.group_col, inp.study)
    return _assemble(fit, units, val, inp, order, grain, band, float(confidence))


def _with_fpc(inp: _Inputs, data, fpc, respondent, problems) -> _Inputs:
    """The inputs with the respondents' first-stage sampling fraction (``_fpc_fraction``)
    from ``fpc`` (a column of the ratings table, or of a study's responses; a study's
    ``survey: fpc:`` by default)."""
    from ._design import sampling_fractions

    source, rid = data, respondent
    if inp.study is not None:
        cfg = getattr(inp.study, "survey", None)
        fpc = fpc if fpc is not None else getattr(cfg, "fpc", None)
        source = inp.study.responses
        rid = inp.study.instrument.respondent_id
    if fpc is None:
        return inp
    if fpc not in source.columns:
        problems.append(
            Problem(f"column {fpc!r} (argument fpc=) is not in the data", column=str(fpc))
        )
        return inp
    per = source.assign(_rid=source[rid].astype("string")).drop_duplicates("_rid")
    R = inp.respondents.copy()
    R["_fpc_value"] = (
        per.set_index("_rid")[fpc].reindex(R["_rid"].astype("string").to_numpy()).to_numpy()
    )
    try:
        R["_fpc_fraction"] = sampling_fractions(
            R, strata=inp.strata_col, cluster=inp.cluster_col, fpc="_fpc_value"
        )
    except AnalysisError as exc:
        problems.extend(exc.problems or [Problem(exc.summary, column=str(fpc))])
        return inp
    return dataclasses.replace(inp, respondents=R, fpc_col="_fpc_fraction")


def _argument_problems(grain, band, family, confidence, n_boot, lang) -> list[Problem]:
    check_one_of("grain", grain, _LEVELS)
    check_one_of("band", band, _BANDS)
    check_one_of("family", family, _FAMILIES)
    problems: list[Problem] = []
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, float | int)
        or not 0 < confidence < 1
    ):
        problems.append(
            Problem(
                f"confidence={confidence!r} must be between 0 and 1", fix="e.g. confidence=0.95"
            )
        )
    if band == "simultaneous" and (
        isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 50
    ):
        problems.append(
            Problem(
                f"n_boot={n_boot!r} is too small for a simultaneous band",
                fix="use n_boot >= 200 (500 or more for a 95% band)",
            )
        )
    if lang is not None and lang not in ("fr", "en"):
        problems.append(Problem(f"lang={lang!r} must be 'fr' or 'en'"))
    return problems


def _inputs(
    data, by, weight, strata, cluster, margins, journey, respondent, touchpoint, score, problems
):
    """The respondents and ratings of a study (its prepared evidence) or of a table; None
    (and ``problems`` extended) when they cannot be used."""
    from ._inputs import study_of
    from .evidence import evidence_of

    ev = evidence_of(data)
    if ev is not None:
        rule = None if weight == "none" else weight
        inp = _from_study(
            ev.with_options(weight=rule), by, weight, strata, cluster, margins, problems
        )
    elif isinstance(data, pd.DataFrame):
        j = study_of(journey).journey if study_of(journey) is not None else journey
        inp = _from_frame(
            data, by, respondent, touchpoint, score, weight, strata, cluster, margins, j, problems
        )
    else:
        raise AnalysisError(
            f"journey_curves takes a Study or a DataFrame of ratings, not {type(data).__name__}.",
            [Problem("wrong input", fix="pass pr.load_study(...) or study.ratings_long()")],
        )
    return inp


def _group_order(inp: _Inputs, by, groups) -> list:
    """The groups to draw, in the study's persona order (others sorted), checked against
    ``groups=``; warns about respondents without a group."""
    R = inp.respondents
    group_col = by or "persona"
    present = list(pd.unique(R["_group"].dropna()))
    if inp.journey is not None and by == "persona":
        order = [p for p in inp.journey.persona_ids if p in present] + sorted(
            set(present) - set(inp.journey.persona_ids), key=str
        )
    else:
        order = sorted(present, key=str)
    if groups is not None:
        unknown = [g for g in groups if g not in present]
        if unknown:
            raise AnalysisError(
                "journey_curves: some groups= have no respondent.",
                [
                    Problem(
                        f"no respondent in {group_col}={g!r}",
                        column=group_col,
                        fix=f"choose among {order}",
                    )
                    for g in unknown
                ],
            )
        order = [g for g in order if g in set(groups)]
    n_nogroup = int(R["_group"].isna().sum())
    if n_nogroup and by:
        warnings.warn(
            f"journey_curves: {n_nogroup} respondent(s) have no {by!r} and are left out of the curves.",
            ParcoursWarning,
            stacklevel=3,
        )
    return order


def _band(point, cells, inp: _Inputs, w, band, confidence, n_boot, seed, family) -> dict:
    """Estimates, standard errors and the band (pointwise, simultaneous or Bonferroni)."""
    keys = point[["_group", "_unit"]].reset_index(drop=True)
    est = point["estimate"].to_numpy(dtype=float)
    se = point["se"].to_numpy(dtype=float)
    ok = np.isfinite(se) & (point["n"].to_numpy() >= 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        q_point = np.where(ok, (point["ci_high"].to_numpy(dtype=float) - est) / se, np.nan)
    crit = q_point.copy()
    lo = np.where(ok, point["ci_low"].to_numpy(dtype=float), np.nan)
    hi = np.where(ok, point["ci_high"].to_numpy(dtype=float), np.nan)
    if band != "pointwise":
        dfs = (
            pd.to_numeric(point["df"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            if "df" in point
            else np.full(len(point), np.nan)
        )
        fam = (
            keys["_group"].to_numpy()
            if family == "group"
            else np.full(len(keys), ALL, dtype=object)
        )
        theta = _replicates(cells, keys, inp, w, n_boot, seed) if band == "simultaneous" else None
        for f in pd.unique(fam):
            m = (fam == f) & ok
            if not m.any():
                continue
            if band == "simultaneous":
                c = sup_t_critical(theta[:, m], estimates=est[m], confidence=confidence)
            else:
                c = bonferroni_critical(
                    int(m.sum()), confidence=confidence, df=float(np.nanmin(dfs[m]))
                )
            crit[m] = np.fmax(c, q_point[m])  # never narrower than the pointwise band
        lo = np.where(ok, est - crit * se, np.nan)
        hi = np.where(ok, est + crit * se, np.nan)
    return {
        "keys": keys,
        "estimate": est,
        "se": np.where(ok, se, np.nan),
        "ci_low": lo,
        "ci_high": hi,
        "n": point["n"].to_numpy(),
        "n_eff": point["n_eff"].to_numpy(dtype=float),
        "crit": np.where(ok, crit, np.nan),
    }


def _replicates(cells, keys, inp: _Inputs, w, n_boot, seed) -> np.ndarray:
    """Bootstrap replicate estimates (B x points): Rao–Wu replicates of the respondents,
    re-raked when the weights are raked."""
    R = inp.respondents
    strata_v = (
        R[inp.strata_col].astype(str).to_numpy()
        if inp.strata_col
        else R["_group"].astype("string").fillna("__none__").to_numpy()
    )
    cluster_v = R[inp.cluster_col].astype(str).to_numpy() if inp.cluster_col else None
    w0 = _column_weights(inp, inp.start_col) if inp.margins else w
    frac = R[inp.fpc_col].to_numpy(dtype=float) if inp.fpc_col else None
    reps = bootstrap_weights(
        w0, int(n_boot), strata=strata_v, cluster=cluster_v, seed=seed, fraction=frac
    )
    if inp.margins:
        reps, failed = _rake_replicates(R, inp.margins, reps)
        if failed:
            warnings.warn(
                f"journey_curves: {failed} of {n_boot} bootstrap replicates could not be raked "
                "(a margin level had no respondent) and were left out.",
                ParcoursWarning,
                stacklevel=4,
            )
    return _replicate_matrix(cells, keys, reps)


def _assemble(fit, units, val, inp: _Inputs, order, grain, band, confidence) -> pd.DataFrame:
    """The curves table: points with their units' ids, labels, targets and valence."""
    keys = fit.pop("keys")
    out = pd.DataFrame(
        {"_group": keys["_group"].to_numpy(), "_unit": keys["_unit"].to_numpy(), **fit}
    )
    unit_key = "touchpoint" if grain == "touchpoint" else "stage"
    out = out.merge(units.assign(_unit=units[unit_key]), on="_unit", how="left")
    if val is not None:
        out = out.merge(val, on=["_group", "_unit"], how="left")
    else:
        out["valence"] = np.nan
        out["n_excerpts"] = 0
    out["valence"] = out["valence"].astype(float)
    out["n_excerpts"] = out["n_excerpts"].fillna(0).astype(np.int64)
    out["target"] = out["target"].astype(float)
    out["gap"] = out["estimate"] - out["target"]
    out["below_target"] = (out["ci_high"] < out["target"]).fillna(False).astype(bool)
    out["band"] = band
    out["level_ci"] = confidence
    out["grain"] = grain
    out["weighting"] = inp.weighting
    group_col = inp.group_col
    out[group_col] = out.pop("_group")
    rank = {g: i for i, g in enumerate(order)}
    out = out.assign(_g=out[group_col].map(rank)).sort_values(["_g", "order"], kind="stable")
    cols = [group_col if c == "persona" else c for c in CURVE_COLUMNS]
    out = out[cols].reset_index(drop=True)
    out["n"] = out["n"].astype(np.int64)
    out["moment_of_truth"] = out["moment_of_truth"].astype(bool)
    out.attrs.update({"by": group_col, "level": grain, "band": band, "level_ci": confidence})
    return out
