"""Friction in surveys: touchpoint satisfaction below target, below the journey, by persona.

Design-based throughout: the survey weights (and strata and clusters when the design has
them) enter every estimate and standard error through ``svy`` (Taylor linearisation), via
:func:`parcours_research.satisfaction.scores` for domain means. Tests, for each touchpoint,
overall and per persona:

* ``vs_target``: the mean rating against the touchpoint's ``target_satisfaction``
  (design-based one-sample t test: ``t = (mean − target) / se`` on the design degrees of
  freedom);
* ``vs_journey``: the rating against the same respondent's *journey level*, the mean of
  their ratings of the other touchpoints (paired within respondent: the design-based mean of
  the differences against 0). A touchpoint rated below the rest of the journey by the same
  people is a friction point even when everyone rates generously;
* ``persona_means``: the persona's mean against the other personas' (Wald t test of the
  domain contrast with its design standard error);
* ``persona_distribution``: the persona's distribution of answers against the other
  personas' (Rao–Scott second-order corrected F test of the persona × answer table, as
  R ``survey::svychisq(statistic="F")``); the effect size is the difference in the share of
  dissatisfied answers (the bottom two points of the scale).

Effect sizes: the difference in rating points with its interval, a standardised mean
difference (``smd``: the difference over the rating SD; ``d_z`` for the paired test) with
its interval, and the minimum detectable difference for the design at hand (Bloom 1995).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .._design import check_columns, check_frame, svy_errors, svy_sample, weight_problems
from ..errors import AnalysisError, Problem, check_one_of
from . import _stats as st
from ._table import ALL, check_common, finish

__all__ = ["test_survey", "rao_scott", "SURVEY_TESTS", "survey_design"]

SURVEY_TESTS = ("vs_target", "vs_journey", "persona_means", "persona_distribution")
_NONE = "__no_persona__"
_GROUP, _REST = "group", "rest"


# ---------------------------------------------------------------------------------------------
# Rao–Scott
# ---------------------------------------------------------------------------------------------
def rao_scott(data: pd.DataFrame, row: str, col: str, *, weight: str | None = None,
              strata: str | None = None, cluster: str | None = None, singleton: str | None = None,
              drop_nulls: bool = True) -> dict:
    """Rao–Scott test of independence of two categorical variables in a complex survey.

    The second-order corrected F test (Rao & Scott 1984; R ``survey::svychisq(~row + col,
    design, statistic = "F")``) and the first-order corrected chi-square, from ``svy``'s
    two-way table.

    Parameters
    ----------
    data : DataFrame
        One row per respondent.
    row, col : str
        The two categorical columns.
    weight, strata, cluster : str, optional
        The survey design.
    singleton : str, optional
        svy's rule for strata with a single cluster.
    drop_nulls : bool, default True
        Leave rows with a missing ``row`` or ``col`` out of the table (they stay in the design).

    Returns
    -------
    dict
        ``f, df_num, df_den, p_value`` (second-order F) and ``chisq, chisq_df,
        chisq_p_value`` (first-order corrected chi-square), ``n`` (rows used).
    """
    data = check_frame(data, "rao_scott")
    problems = check_columns(data, {"row": row, "col": col, "weight": weight, "strata": strata,
                                    "cluster": cluster}, "rao_scott")
    if weight is not None and weight in data.columns:
        problems += weight_problems(data[weight], weight, "rao_scott")
    if problems:
        raise AnalysisError("Cannot run the Rao–Scott test.", problems)
    cols = list(dict.fromkeys(c for c in (row, col, weight, strata, cluster) if c is not None))
    frame = data[cols].copy()
    for c in (row, col):
        frame[c] = frame[c].astype("string").astype(object).where(frame[c].notna(), None)
    sample = svy_sample(frame, weight=weight, strata=strata, cluster=cluster, singleton=singleton)
    with svy_errors(f"tabulating {row} by {col}"):
        tab = sample.categorical.tabulate(row, col, drop_nulls=drop_nulls)
    s = tab.stats
    n = int((frame[row].notna() & frame[col].notna()).sum())
    return {"f": float(s.f.value), "df_num": float(s.f.df_num), "df_den": float(s.f.df_den),
            "p_value": float(s.f.p_value), "chisq": float(s.chisq.value), "chisq_df": float(s.chisq.df),
            "chisq_p_value": float(s.chisq.p_value), "n": n}


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
def survey_design(study, weight="auto") -> tuple[pd.DataFrame, dict]:
    """The responses of a study with their weight column, and the design arguments.

    ``weight="auto"``: the survey's declared weight when there is one, otherwise weights
    raked to the study's margins (:func:`parcours_research.weighting.rake`) when it has
    margins, otherwise none. A column name or None forces the choice; ``"rake"`` rakes.
    """
    if study.responses is None or study.instrument is None:
        raise AnalysisError(f"The study {study.name!r} has no survey responses.",
                            [Problem("no survey", "study.yml", column="survey",
                                     fix="add `survey: {instrument: ..., responses: ...}`")])
    resp = study.responses
    cfg = study.survey
    design = {"weight": None, "strata": getattr(cfg, "strata", None), "cluster": getattr(cfg, "cluster", None)}
    declared = getattr(cfg, "weight", None)
    if weight == "auto":
        weight = declared if declared else ("rake" if study.margins else None)
    if weight == "rake":
        from ..weighting import rake

        res = rake(resp, study.margins, weight=declared)
        resp = resp.assign(__rake_weight__=res.weights.to_numpy())
        design["weight"] = "__rake_weight__"
    else:
        design["weight"] = weight
    return resp, design


def _targets_of(study) -> dict[str, float]:
    return {t.id: t.target_satisfaction for t in study.journey.touchpoints if t.target_satisfaction is not None}


def _wsd(y: np.ndarray, w: np.ndarray) -> float:
    ok = np.isfinite(y)
    y, w = y[ok], w[ok]
    if y.size < 2 or w.sum() <= 0:
        return np.nan
    m = np.average(y, weights=w)
    return float(np.sqrt(np.average((y - m) ** 2, weights=w)))


def _t_interval(est, se, df, conf):
    q = stats.t.ppf(0.5 + conf / 2, np.asarray(df, dtype=float))
    return est - q * se, est + q * se


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------
def test_survey(
    data,
    *,
    columns: Mapping[str, str] | None = None,
    targets: Mapping[str, float] | None = None,
    persona: str | None = "persona",
    weight: str | None = "auto",
    strata: str | None = None,
    cluster: str | None = None,
    respondent: str = "respondent_id",
    tests: Sequence[str] = SURVEY_TESTS,
    dissatisfied: float | None = None,
    scale: tuple[float, float] = (1, 5),
    min_n: int = 5,
    alternative: str = "worse",
    conf: float = 0.95,
    alpha: float = 0.05,
    power: float = 0.8,
    correction: str = "bh",
    family: str = "test",
    singleton: str | None = None,
) -> pd.DataFrame:
    """Test touchpoint satisfaction for friction: against target, the journey, other personas.

    Parameters
    ----------
    data : Study or DataFrame
        A loaded study (its responses, touchpoint columns, targets and design are used), or
        survey responses with one row per respondent.
    columns : dict, optional
        ``{touchpoint: rating column}``; default for a study: its instrument's touchpoint
        columns, for a DataFrame: every ``sat_<touchpoint>`` column.
    targets : dict, optional
        ``{touchpoint: target mean rating}``; default for a study: ``target_satisfaction``.
        Touchpoints without a target get no ``vs_target`` row.
    persona : str or None, default "persona"
        The persona column (None: overall rows only).
    weight : str, None or "auto", default "auto"
        Weight column. ``"auto"``: for a study, the declared survey weight, otherwise weights
        raked to the study's margins; for a DataFrame, no weights. ``"rake"``: rake a study.
    strata, cluster : str, optional
        Design columns (a study's declared ones by default).
    respondent : str, default "respondent_id"
    tests : sequence of str
        Among ``"vs_target", "vs_journey", "persona_means", "persona_distribution"``.
    dissatisfied : float, optional
        Highest rating counted as dissatisfied for the effect size of
        ``persona_distribution``; default the second point of ``scale`` (2 on 1-5).
    scale : (low, high), default (1, 5)
    min_n : int, default 5
        Domains with fewer ratings are not tested (no row).
    alternative : {"worse", "two-sided"}, default "worse"
        ``"worse"``: one-sided t tests for a *lower* rating. The Rao–Scott test is omnibus
        (two-sided) in either case; its ``direction`` comes from the effect size.
    conf, alpha, power, correction, family
        As in :func:`parcours_research.friction.test_traces`.
    singleton : str, optional
        svy's rule for strata with a single cluster.

    Returns
    -------
    DataFrame
        The test table (see :func:`parcours_research.friction.test_traces`): ``estimate`` is
        the mean rating (or the dissatisfied share for ``persona_distribution``),
        ``reference`` the target, the journey level, or the other personas' value;
        ``effect_size`` their difference in rating points (in share for
        ``persona_distribution``) with a design-based interval; ``std_effect`` the
        standardised difference (``smd``, ``d_z`` or ``cohen_h``) with its interval;
        ``odds_ratio`` for ``persona_distribution``; ``mde`` the smallest drop detectable at
        ``alpha`` with ``power``; ``df`` (and ``df2`` for F) the design degrees of freedom.
    """
    check_common(alternative, conf, alpha, power, correction, family)
    tests = (tests,) if isinstance(tests, str) else tuple(tests)
    for t in tests:
        check_one_of("tests", t, SURVEY_TESTS)
    if not isinstance(data, pd.DataFrame) and hasattr(data, "journey"):
        study = data
        data, design = survey_design(study, weight)
        weight = design["weight"]
        strata = strata if strata is not None else design["strata"]
        cluster = cluster if cluster is not None else design["cluster"]
        columns = columns if columns is not None else study.touchpoint_columns
        targets = targets if targets is not None else _targets_of(study)
        respondent = study.instrument.respondent_id if study.instrument else respondent
    else:
        data = check_frame(data, "test_survey")
        if weight == "auto" or weight == "rake":
            weight = None
    if columns is None:
        columns = {c[4:]: c for c in data.columns if isinstance(c, str) and c.startswith("sat_")}
    columns = dict(columns)
    problems = check_columns(data, {"columns": list(columns.values()), "persona": persona, "weight": weight,
                                    "strata": strata, "cluster": cluster, "respondent": respondent},
                             "test_survey")
    if not columns:
        problems.append(Problem("no touchpoint rating column", fix="pass columns={touchpoint: column}"))
    if weight is not None and weight in data.columns:
        problems += weight_problems(data[weight], weight, "test_survey")
    if problems:
        raise AnalysisError("Cannot run the survey friction tests.", problems)
    for tp, col in columns.items():
        v = pd.to_numeric(data[col], errors="coerce")
        bad = data[col].notna() & v.isna()
        out = v.notna() & ((v < scale[0]) | (v > scale[1]))
        if bad.any() or out.any():
            i = int(np.flatnonzero((bad | out).to_numpy())[0])
            problems.append(Problem(f"{int(bad.sum() + out.sum())} rating(s) of {tp!r} are not numbers on the "
                                    f"scale {scale[0]}-{scale[1]} (e.g. {data[col].iloc[i]!r})", row=i + 2,
                                    column=col, fix="ratings are numbers on the scale; blank when not experienced"))
    if problems:
        raise AnalysisError("Cannot run the survey friction tests.", problems)
    targets = {str(k): float(v) for k, v in (targets or {}).items()}
    cut = float(dissatisfied) if dissatisfied is not None else float(scale[0] + 1)

    # a clean frame: ratings as floats, persona as text, design columns
    frame = pd.DataFrame(index=data.index)
    frame["respondent_id"] = data[respondent].astype("string").to_numpy()
    if persona is not None:
        frame["persona"] = data[persona].astype("string").fillna(_NONE).to_numpy()
    for k, c in (("__w", weight), ("__s", strata), ("__c", cluster)):
        if c is not None:
            frame[k] = pd.to_numeric(data[c]).astype(float).to_numpy() if k == "__w" else \
                data[c].astype("string").to_numpy()
    wcol = "__w" if weight is not None else None
    scol = "__s" if strata is not None else None
    ccol = "__c" if cluster is not None else None
    ratings = pd.DataFrame({tp: pd.to_numeric(data[c], errors="coerce").astype(float).to_numpy()
                            for tp, c in columns.items()}, index=data.index)
    w = frame["__w"].to_numpy() if wcol else np.ones(len(frame))
    personas = [p for p in pd.unique(frame["persona"]) if p != _NONE] if persona is not None else []
    parts = []
    common = dict(wcol=wcol, scol=scol, ccol=ccol, conf=conf, alpha=alpha, power=power,
                  alternative=alternative, min_n=min_n, singleton=singleton)
    if "vs_target" in tests and targets:
        parts.append(_vs_reference(frame, ratings, w, personas, targets=targets, **common))
    if "vs_journey" in tests and ratings.shape[1] >= 2:
        parts.append(_vs_reference(frame, ratings, w, personas, targets=None, **common))
    if len(personas) >= 2 and ("persona_means" in tests or "persona_distribution" in tests):
        parts.append(_persona_tests(frame, ratings, w, personas, tests, cut=cut, **common))
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return finish(None, worse_sign=-1, alternative=alternative, correction=correction, alpha=alpha,
                      family=family)
    out = pd.concat(parts, ignore_index=True)
    out["source"] = "survey"
    order = {tp: i for i, tp in enumerate(columns)}
    rank_t = {t: i for i, t in enumerate(SURVEY_TESTS)}
    out = out.assign(_t=out["test"].map(rank_t), _tp=out["touchpoint"].map(order),
                     _p=(out["persona"] != ALL).astype(int))
    out = out.sort_values(["_t", "_tp", "_p"], kind="stable").drop(columns=["_t", "_tp", "_p"])
    worse = np.where(out["test"] == "persona_distribution", 1, -1)
    return finish(out, worse_sign=worse, alternative=alternative, correction=correction, alpha=alpha,
                  family=family)


test_survey.__test__ = False  # not a pytest test


def _scores(long, score, by, wcol, scol, ccol, conf, singleton):
    from ..satisfaction import scores

    return scores(long, score, touchpoint="touchpoint", by=by, metric="mean", weight=wcol, strata=scol,
                  cluster=ccol, respondent="respondent_id", level=conf, singleton=singleton)


def _vs_reference(frame, ratings, w, personas, *, targets, wcol, scol, ccol, conf, alpha, power,
                  alternative, min_n, singleton):
    """One-sample (``targets``) or paired (``targets=None``: against the journey level) tests."""
    keep = [c for c in ("persona", "__w", "__s", "__c") if c in frame.columns]
    tps = list(ratings.columns)
    if targets is not None:
        tps = [tp for tp in tps if tp in targets]
        if not tps:
            return None
    r = ratings[tps]
    if targets is None:
        # journey level: mean of the respondent's other ratings
        full = ratings.to_numpy()
        tot = np.nansum(full, axis=1, keepdims=True)
        cnt = np.sum(np.isfinite(full), axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            other = (tot - np.nan_to_num(full)) / (cnt - np.isfinite(full))
        values = np.where(np.isfinite(full) & (cnt > 1), full - other, np.nan)
        levels = np.where(np.isfinite(values), other, np.nan)
        r = pd.DataFrame(values, columns=ratings.columns, index=ratings.index)
        lvl = pd.DataFrame(levels, columns=ratings.columns, index=ratings.index)
    long = _long(frame, r, keep)
    if long.empty:
        return None
    rows = []
    by_sets = [(None, ALL)] + ([("persona", None)] if personas else [])
    for by, label in by_sets:
        sc = _scores(long, "score", by, wcol, scol, ccol, conf, singleton)
        if by is None:
            sc["persona"] = label
        rows.append(sc)
    sc = pd.concat(rows, ignore_index=True)
    sc = sc[(sc["persona"] != _NONE) & (sc["n"] >= min_n)].reset_index(drop=True)
    if sc.empty:
        return None
    # standardiser: the weighted SD of the analysed values in the domain
    sds = []
    means_ref = []
    for tp, p in zip(sc["touchpoint"], sc["persona"]):
        mask = np.ones(len(frame), dtype=bool) if p == ALL else (frame["persona"] == p).to_numpy()
        y = r[tp].to_numpy()
        sds.append(_wsd(np.where(mask, y, np.nan), w))
        if targets is None:
            lv = lvl[tp].to_numpy()
            ok = mask & np.isfinite(lv)
            means_ref.append(float(np.average(lv[ok], weights=w[ok])) if ok.any() else np.nan)
    est = sc["estimate"].to_numpy(float)
    se = sc["se"].to_numpy(float)
    df = sc["df"].astype(float).to_numpy()
    ref = sc["touchpoint"].map(targets).to_numpy(float) if targets is not None else np.zeros(len(sc))
    diff = est - ref
    with np.errstate(divide="ignore", invalid="ignore"):
        t = diff / se
    alt = st.one_sided(alternative, -1)
    lo, hi = _t_interval(diff, se, df, conf)
    sd = np.asarray(sds)
    mde = st.mde_t(se, df, alpha, power, alternative)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame({
            "touchpoint": sc["touchpoint"].astype(str), "persona": sc["persona"].astype(str),
            "test": "vs_target" if targets is not None else "vs_journey",
            "statistic": t, "p_value": st.t_pvalue(t, df, alt), "effect_size": diff, "ci_low": lo, "ci_high": hi,
            "n": sc["n"].to_numpy(), "df": df,
            "estimate": est if targets is not None else np.asarray(means_ref) + diff,
            "reference": ref if targets is not None else np.asarray(means_ref),
            "comparison": "target satisfaction" if targets is not None else "own journey level (paired)",
            "method": "design-based t", "effect_measure": "difference in rating points",
            "std_effect": diff / sd, "std_ci_low": lo / sd, "std_ci_high": hi / sd,
            "std_measure": "smd" if targets is not None else "d_z",
            "mde": mde, "mde_std": mde / sd,
        })
    return out


def _long(frame, r, keep):
    parts = []
    for tp in r.columns:
        y = r[tp].to_numpy()
        ok = np.isfinite(y)
        part = frame.loc[ok, ["respondent_id", *keep]].copy()
        part["touchpoint"] = tp
        part["score"] = y[ok]
        parts.append(part)
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def group_differences(sample, frame, y_cols, flag, w, min_n, conf, alpha, power, alternative, what="group"):
    """Design-based difference of means between the rows flagged ``group`` and ``rest``.

    One svy call estimates every column's domain means; each difference is the domain
    contrast with its design standard error and degrees of freedom. Returns one dict per
    column with at least ``min_n`` ratings on each side: ``y, statistic, p_value,
    effect_size, ci_low, ci_high, n, n_ref, df, estimate, reference, std_effect,
    std_ci_low, std_ci_high, mde, mde_std`` (standardised by the pooled weighted SD).
    """
    import svy

    in_p = (frame[flag] == _GROUP).to_numpy()
    in_r = (frame[flag] == _REST).to_numpy()
    with svy_errors(f"estimating means for {what} and the others"):
        res = sample.estimation.mean(list(y_cols), by=flag, drop_nulls=True)
    res = res if isinstance(res, list) else [res]
    alt = st.one_sided(alternative, -1)
    out = []
    for ycol, rr in zip(y_cols, res):
        y = frame[ycol].to_numpy(dtype=float)
        n1 = int(np.isfinite(y[in_p]).sum())
        n2 = int(np.isfinite(y[in_r]).sum())
        if n1 < min_n or n2 < min_n:
            continue
        tab = rr.to_polars().to_pandas().set_index(flag)
        with svy_errors(f"contrasting {what} with the others on {ycol!r}"):
            con = rr.contrast(svy.estd(_GROUP) - svy.estd(_REST)).to_polars().to_pandas().iloc[0]
        diff, se, df = float(con["est"]), float(con["se"]), float(con["df"])
        t = diff / se if se > 0 else np.nan
        lo, hi = _t_interval(diff, se, df, conf)
        s1, s2 = _wsd(np.where(in_p, y, np.nan), w), _wsd(np.where(in_r, y, np.nan), w)
        w1, w2 = w[in_p & np.isfinite(y)].sum(), w[in_r & np.isfinite(y)].sum()
        sd = float(np.sqrt((w1 * s1**2 + w2 * s2**2) / (w1 + w2)))
        mde = float(st.mde_t(se, df, alpha, power, alternative))
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append({"y": ycol, "statistic": t, "p_value": float(st.t_pvalue(t, df, alt)),
                        "effect_size": diff, "ci_low": lo, "ci_high": hi, "n": n1, "n_ref": n2, "df": df,
                        "estimate": float(tab.loc[_GROUP, "est"]), "reference": float(tab.loc[_REST, "est"]),
                        "std_effect": diff / sd, "std_ci_low": lo / sd, "std_ci_high": hi / sd,
                        "mde": mde, "mde_std": mde / sd})
    return out


def _persona_tests(frame, ratings, w, personas, tests, *, cut, wcol, scol, ccol, conf, alpha, power,
                   alternative, min_n, singleton):
    import svy

    tps = list(ratings.columns)
    f = frame.copy()
    names = {}
    for i, tp in enumerate(tps):
        names[tp] = f"__y{i}"
        f[names[tp]] = ratings[tp].to_numpy()
        f[f"__d{i}"] = np.where(np.isfinite(ratings[tp].to_numpy()),
                                (ratings[tp].to_numpy() <= cut).astype(float), np.nan)
        f[f"__k{i}"] = pd.Series(ratings[tp].to_numpy()).map(lambda v: None if pd.isna(v) else f"{v:g}").to_numpy()
    flags = {}
    for j, p in enumerate(personas):
        flags[p] = f"__f{j}"
        f[flags[p]] = np.where(f["persona"] == p, _GROUP, np.where(f["persona"] == _NONE, None, _REST))
    f = f.drop(columns=["persona", "respondent_id"])
    sample = svy_sample(f, weight=wcol, strata=scol, cluster=ccol, singleton=singleton)
    alt = st.one_sided(alternative, -1)
    rows = []
    y_cols = [names[tp] for tp in tps]
    d_cols = [f"__d{i}" for i in range(len(tps))]
    for p in personas:
        flag = flags[p]
        in_p = (f[flag] == _GROUP).to_numpy()
        in_r = (f[flag] == _REST).to_numpy()
        if "persona_means" in tests:
            for r in group_differences(sample, f, y_cols, flag, w, min_n, conf, alpha, power, alternative,
                                       what=f"persona {p!r}"):
                tp = tps[y_cols.index(r.pop("y"))]
                rows.append({"touchpoint": tp, "persona": p, "test": "persona_means", **r,
                             "comparison": "other personas", "method": "design-based Wald t",
                             "effect_measure": "difference in rating points", "std_measure": "smd"})
        if "persona_distribution" in tests:
            with svy_errors(f"estimating dissatisfied shares for persona {p!r} and the others"):
                res = sample.estimation.mean(d_cols, by=flag, drop_nulls=True)
            res = res if isinstance(res, list) else [res]
            for i, (tp, rr) in enumerate(zip(tps, res)):
                y = ratings[tp].to_numpy()
                n1 = int(np.isfinite(y[in_p]).sum())
                n2 = int(np.isfinite(y[in_r]).sum())
                if n1 < min_n or n2 < min_n:
                    continue
                kcol = f"__k{i}"
                levels = pd.Series(f.loc[in_p | in_r, kcol]).dropna().nunique()
                if levels < 2:
                    fs = {"f": np.nan, "df_num": np.nan, "df_den": np.nan, "p_value": 1.0}
                else:
                    with svy_errors(f"tabulating answers to {tp!r} by persona {p!r}"):
                        tab2 = sample.categorical.tabulate(kcol, flag, drop_nulls=True)
                    s = tab2.stats.f
                    fs = {"f": float(s.value), "df_num": float(s.df_num), "df_den": float(s.df_den),
                          "p_value": float(s.p_value)}
                tab = rr.to_polars().to_pandas().set_index(flag)
                p1, se1 = float(tab.loc[_GROUP, "est"]), float(tab.loc[_GROUP, "se"])
                p2, se2 = float(tab.loc[_REST, "est"]), float(tab.loc[_REST, "se"])
                with svy_errors(f"contrasting dissatisfied shares of persona {p!r} on {tp!r}"):
                    con = rr.contrast(svy.estd(_GROUP) - svy.estd(_REST)).to_polars().to_pandas().iloc[0]
                diff, se, df = float(con["est"]), float(con["se"]), float(con["df"])
                lo, hi = _t_interval(diff, se, df, conf)
                # effective sample sizes (Korn & Graubard 1998): p(1 - p) / se^2, the count when
                # the share is 0 or 1; Cohen's h and the odds ratio get their intervals from them
                ne1 = p1 * (1 - p1) / se1**2 if 0 < p1 < 1 and se1 > 0 else float(n1)
                ne2 = p2 * (1 - p2) / se2**2 if 0 < p2 < 1 and se2 > 0 else float(n2)
                h = float(st.cohens_h(p1, p2))
                h_lo, h_hi = (float(x) for x in st.h_interval(h, ne1, ne2, conf))
                orr, or_lo, or_hi = (float(x) for x in st.odds_ratio_woolf(p1 * ne1, ne1, p2 * ne2, ne2, conf))
                mde = float(st.mde_t(se, df, alpha, power, alternative))
                rows.append({"touchpoint": tp, "persona": p, "test": "persona_distribution",
                             "statistic": fs["f"], "p_value": fs["p_value"], "df": fs["df_num"],
                             "df2": fs["df_den"], "effect_size": diff, "ci_low": lo, "ci_high": hi,
                             "n": n1, "n_ref": n2, "estimate": p1, "reference": p2,
                             "comparison": "other personas", "method": "Rao-Scott F (2nd order)",
                             "effect_measure": f"difference in share rating <= {cut:g}", "std_measure": "cohen_h",
                             "std_effect": h, "std_ci_low": h_lo, "std_ci_high": h_hi,
                             "odds_ratio": orr, "or_ci_low": or_lo, "or_ci_high": or_hi,
                             "mde": mde, "mde_std": float(st.mde_h(ne1, ne2, alpha, power, alternative))})
    return pd.DataFrame(rows) if rows else None
