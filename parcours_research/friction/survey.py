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
  domain contrast with its design standard error: svy's contrast, or, when the two groups
  share no cluster and no stratum, ``hypot(se1, se2)``, which is then exact because the two
  domain means are uncorrelated; the tests check it against svy's contrast);
* ``persona_distribution``: the persona's distribution of answers against the other
  personas' (Rao–Scott second-order corrected F test of the persona × answer table, as
  R ``survey::svychisq(statistic="F")``); the effect size is the difference in the share of
  dissatisfied answers (the bottom two points of the scale).

Effect sizes: the difference in rating points with its interval, a standardised mean
difference (``smd``: the difference over the rating SD; ``d_z`` for the paired test) with
its interval, and the minimum detectable difference for the design at hand (Bloom 1995).
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .._compat import deprecated_args
from .._design import (
    check_columns,
    check_frame,
    sampling_fractions,
    svy_errors,
    svy_sample,
    weight_problems,
)
from .._inputs import study_of
from ..errors import AnalysisError, Problem, check_one_of
from . import _stats as st
from ._table import ALL, BY, check_common, finish, in_order

__all__ = ["test_survey", "rao_scott", "RaoScott", "SURVEY_TESTS", "survey_design"]

SURVEY_TESTS = ("vs_target", "vs_journey", "persona_means", "persona_distribution")
_NONE = "__no_persona__"
_GROUP, _REST = "group", "rest"
_BY = BY
_SEP = "\x1f"


# ---------------------------------------------------------------------------------------------
# Rao–Scott
# ---------------------------------------------------------------------------------------------
class RaoScott(Mapping):
    """The Rao–Scott test of a two-way table: read it as a mapping (``r["p_value"]``) or as a
    one-row table (``r.summary``: ``f, df_num, df_den, p_value, chisq, chisq_df,
    chisq_p_value, pearson, pearson_p_value, chisq_rs, chisq_rs_p_value, n``)."""

    def __init__(self, values: dict):
        self._values = dict(values)

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([self._values])

    def __repr__(self) -> str:
        v = self._values
        return (
            f"RaoScott(F = {v['f']:.3f} on ({v['df_num']:.2f}, {v['df_den']:.1f}) df, "
            f"p = {v['p_value']:.3g}; first-order corrected chi2 = {v['chisq_rs']:.2f}, "
            f"Pearson chi2 = {v['pearson']:.2f}, n = {v['n']:,})"
        )

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>" + self.summary.to_html(index=False)


def rao_scott(
    data: pd.DataFrame,
    row: str,
    col: str,
    *,
    weight: str | None = None,
    strata: str | None = None,
    cluster: str | None = None,
    fpc: str | None = None,
    singleton: str | None = None,
    drop_nulls: bool = True,
) -> dict:
    """Rao–Scott test of independence of two categorical variables in a complex survey.

    The second-order corrected F test (Rao & Scott 1984; R ``survey::svychisq(~row + col,
    design, statistic = "F")``) and the first-order corrected chi-square (R ``statistic =
    "Chisq"``), from ``svy``'s two-way table. The Pearson statistic of the weighted table
    scaled to the ``n`` rows (R's ``chisq.test(svytable(..., Ntotal = n))`` inside
    ``svychisq``) is reported too: it ignores the design, and is the base both corrections
    divide (by ``sum(delta)`` for F, by ``mean(delta)`` for the first-order chi-square, the
    ``delta`` being the generalised design effects).

    Parameters
    ----------
    data : DataFrame
        One row per respondent.
    row, col : str
        The two categorical columns.
    weight, strata, cluster : str, optional
        The survey design.
    fpc : str, optional
        Finite population correction: the population size of the row's stratum (or the
        sampling fraction), as R's ``svydesign(fpc=)``.
    singleton : str, optional
        svy's rule for strata with a single cluster.
    drop_nulls : bool, default True
        Leave rows with a missing ``row`` or ``col`` out of the table (they stay in the design).

    Returns
    -------
    RaoScott
        A mapping (and ``.summary``, a one-row table) of ``f, df_num, df_den, p_value``
        (second-order corrected F: the test to read), ``chisq_rs, chisq_df,
        chisq_rs_p_value`` (first-order Rao–Scott corrected chi-square, ``chisq_df = (r - 1)(c
        - 1)``), ``pearson, pearson_p_value`` (the uncorrected Pearson statistic and its naive
        chi-square p-value, for reference only), ``n`` (rows used). ``chisq`` and
        ``chisq_p_value`` are the names ``pearson`` and ``pearson_p_value`` had before 0.3
        (documented then as corrected, which they never were); they keep their values.
    """
    data = check_frame(data, "rao_scott")
    problems = check_columns(
        data,
        {
            "row": row,
            "col": col,
            "weight": weight,
            "strata": strata,
            "cluster": cluster,
            "fpc": fpc,
        },
        "rao_scott",
    )
    if weight is not None and weight in data.columns:
        problems += weight_problems(data[weight], weight, "rao_scott")
    if problems:
        raise AnalysisError("Cannot run the Rao–Scott test.", problems)
    cols = list(dict.fromkeys(c for c in (row, col, weight, strata, cluster, fpc) if c is not None))
    frame = data[cols].copy()
    for c in (row, col):
        frame[c] = frame[c].astype("string").astype(object).where(frame[c].notna(), None)
    sample = svy_sample(
        frame, weight=weight, strata=strata, cluster=cluster, singleton=singleton, fpc=fpc
    )
    with svy_errors(f"tabulating {row} by {col}"):
        tab = sample.categorical.tabulate(row, col, drop_nulls=drop_nulls)
    s = tab.stats
    n = int((frame[row].notna() & frame[col].notna()).sum())
    return RaoScott(
        {
            "f": float(s.f.value),
            "df_num": float(s.f.df_num),
            "df_den": float(s.f.df_den),
            "p_value": float(s.f.p_value),
            "chisq": float(s.chisq.value),
            "chisq_df": float(s.chisq.df),
            "chisq_p_value": float(s.chisq.p_value),
            "pearson": float(s.chisq.value),
            "pearson_p_value": float(s.chisq.p_value),
            # first-order Rao-Scott: X2 / mean(delta) = F * (r - 1)(c - 1), as F = X2 / sum(delta)
            "chisq_rs": float(s.f.value) * float(s.chisq.df),
            "chisq_rs_p_value": float(
                stats.chi2.sf(float(s.f.value) * float(s.chisq.df), float(s.chisq.df))
            ),
            "n": n,
        }
    )


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
def survey_design(study, weight="default") -> tuple[pd.DataFrame, dict]:
    """The responses of a study with the weights of its one weighting rule, and the design.

    The responses come from the study's prepared evidence
    (:func:`parcours_research.evidence.prepare`), with the weights of
    :func:`parcours_research.weighting.study_weights` in column ``weight``; the design dict
    names the ``weight``, ``strata`` and ``cluster`` columns.
    """
    from ..evidence import evidence_of

    ev = evidence_of(study, weight=study_rule(weight))
    if ev is None or ev.study.responses is None or ev.study.instrument is None:
        raise AnalysisError(
            f"The study {getattr(study, 'name', '')!r} has no survey responses.",
            [
                Problem(
                    "no survey",
                    "study.yml",
                    column="survey",
                    fix="add `survey: {instrument: ..., responses: ...}`",
                )
            ],
        )
    return ev.responses, ev.design


def study_rule(weight):
    """The weighting rule a friction test asks of a study: ``"auto"`` (the old name of the
    default) is read as ``"default"`` with a FutureWarning."""
    if weight == "auto":
        warnings.warn(
            "weight='auto' is now called weight='default' (the study's weighting rule); "
            "'auto' will be removed in the next release.",
            FutureWarning,
            stacklevel=3,
        )
        return "default"
    return weight


def _targets_of(study) -> dict[str, float]:
    return {
        t.id: t.target_satisfaction
        for t in study.journey.touchpoints
        if t.target_satisfaction is not None
    }


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
@deprecated_args(renamed={"conf": "confidence"})
def test_survey(
    data,
    *,
    columns: Mapping[str, str] | None = None,
    targets: Mapping[str, float] | None = None,
    persona: str | None = "persona",
    weight: str | None = "default",
    strata: str | None = None,
    cluster: str | None = None,
    fpc: str | None = None,
    respondent: str = "respondent_id",
    by: str | None = None,
    tests: Sequence[str] = SURVEY_TESTS,
    dissatisfied: float | None = None,
    scale: tuple[float, float] = (1, 5),
    min_n: int = 5,
    alternative: str = "worse",
    confidence: float = 0.95,
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
        The persona column (None: overall rows only). Respondents without a persona count in
        the overall (``"all"``) rows only.
    weight : str or None, default "default"
        For a study, its weighting rule (:func:`parcours_research.weighting.study_weights`:
        ``"default"`` rakes to the margins when the study has some, else uses the declared
        design weights, else none; ``"rake"``, ``"design"``, None or a column). For a
        DataFrame, a weight column (the rule names mean no weights).
    strata, cluster : str, optional
        Design columns (a study's declared ones by default).
    respondent : str, default "respondent_id"
    by : str, optional
        Run every test separately within each level of this column (a survey wave, a country,
        a simulated study): targets are shared, but journey levels, "other personas" and the
        correction families are within the level, and the table gets a ``by`` column. The
        levels are analysed as strata of one design, which gives the estimates, standard
        errors and degrees of freedom of separate analyses in far fewer computations.
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
    confidence, alpha, power, correction, family
        As in :func:`parcours_research.friction.test_traces`.
    singleton : str, optional
        svy's rule for strata with a single cluster.
    fpc : str, optional
        Finite population correction of the respondents' design: the population size of the
        row's stratum (or the sampling fraction), as R's ``svydesign(fpc=)``; for a study, the
        ``fpc:`` declared under ``survey:``. Read as the sampling fraction of the stratum, so
        it holds within the levels of ``by`` too.

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
        ``alpha`` with ``power``; ``df`` (and ``df2`` for F) the design degrees of freedom
        (for ``persona_means`` and ``persona_distribution`` contrasts: clusters with data
        minus strata, as svy for a single analysis).
    """
    conf = confidence  # the internal name
    tests = _check_args(tests, alternative, conf, alpha, power, correction, family)
    inp = _inputs(data, columns, targets, weight, strata, cluster, respondent, fpc)
    data, columns = inp.data, inp.columns
    _check_data(
        data, columns, persona, inp.weight, inp.strata, inp.cluster, inp.respondent, by, inp.fpc
    )
    _check_values(data, columns, by, inp.strata, inp.cluster, scale)
    targets = {str(k): float(v) for k, v in (inp.targets or {}).items()}
    cut = float(dissatisfied) if dissatisfied is not None else float(scale[0] + 1)
    frame, dsg = _clean_frame(
        data, by, inp.respondent, persona, inp.weight, inp.strata, inp.cluster, singleton, inp.fpc
    )
    ratings = pd.DataFrame(
        {
            tp: pd.to_numeric(data[c], errors="coerce").astype(float).to_numpy()
            for tp, c in columns.items()
        },
        index=data.index,
    )
    w = frame["__w"].to_numpy() if inp.weight is not None else np.ones(len(frame))
    personas = in_order([p for p in pd.unique(frame["persona"]) if p != _NONE], inp.personas)
    common = dict(conf=conf, alpha=alpha, power=power, alternative=alternative, min_n=min_n)
    parts = [
        _vs_reference(
            frame,
            ratings,
            w,
            personas,
            dsg,
            targets=targets,
            do_target="vs_target" in tests and bool(targets),
            do_journey="vs_journey" in tests and ratings.shape[1] >= 2,
            **common,
        )
    ]
    if len(personas) >= 2 and ("persona_means" in tests or "persona_distribution" in tests):
        parts.append(_persona_tests(frame, ratings, w, personas, tests, dsg, cut=cut, **common))
    parts = [p for p in parts if p is not None and len(p)]
    out, worse = None, -1
    if parts:
        out = _ordered(pd.concat(parts, ignore_index=True), columns, frame, by)
        worse = np.where(out["test"] == "persona_distribution", 1, -1)
    return finish(
        out,
        worse_sign=worse,
        alternative=alternative,
        correction=correction,
        alpha=alpha,
        family=family,
        by=by,
    )


test_survey.__test__ = False  # not a pytest test


@dataclass(frozen=True)
class Design:
    """Design columns of the internal frame (private)."""

    weight: str | None = None
    strata: str | None = None
    cluster: str | None = None
    by: bool = False
    singleton: str | None = None
    user_strata: bool = True
    fpc: str | None = None


# ---------------------------------------------------------------------------------------------
# test_survey: arguments and inputs
# ---------------------------------------------------------------------------------------------
def _check_args(tests, alternative, conf, alpha, power, correction, family) -> tuple:
    """Check the arguments of :func:`test_survey`; the tests as a tuple."""
    check_common(alternative, conf, alpha, power, correction, family)
    tests = (tests,) if isinstance(tests, str) else tuple(tests)
    for t in tests:
        check_one_of("tests", t, SURVEY_TESTS)
    return tests


@dataclass
class _Inputs:
    """The responses and the study-or-argument defaults of :func:`test_survey` (private)."""

    data: pd.DataFrame
    columns: dict
    targets: Mapping | None
    weight: str | None
    strata: str | None
    cluster: str | None
    respondent: str
    personas: list
    fpc: str | None = None


def _inputs(data, columns, targets, weight, strata, cluster, respondent, fpc=None) -> _Inputs:
    """For a study: its weighted responses, design, touchpoint columns, targets and persona
    order, unless given; for a DataFrame, the arguments (a study weighting rule meaning no
    weights). ``columns`` defaults to every ``sat_<touchpoint>`` column."""
    study = study_of(data)
    if study is not None:
        persona_order = list(study.journey.persona_ids)
        data, design = survey_design(data, weight)
        weight = design["weight"]
        strata = strata if strata is not None else design["strata"]
        cluster = cluster if cluster is not None else design["cluster"]
        fpc = fpc if fpc is not None else design.get("fpc")
        columns = columns if columns is not None else study.touchpoint_columns
        targets = targets if targets is not None else _targets_of(study)
        respondent = study.instrument.respondent_id if study.instrument else respondent
    else:
        persona_order = []
        data = check_frame(data, "test_survey")
        if weight in ("auto", "default", "rake", "design"):
            weight = None
    if columns is None:
        columns = {c[4:]: c for c in data.columns if isinstance(c, str) and c.startswith("sat_")}
    return _Inputs(
        data, dict(columns), targets, weight, strata, cluster, respondent, persona_order, fpc
    )


def _check_data(data, columns, persona, weight, strata, cluster, respondent, by, fpc=None) -> None:
    """Raise when a named column is missing, there is no rating column, or the weights are
    not usable."""
    problems = check_columns(
        data,
        {
            "columns": list(columns.values()),
            "persona": persona,
            "weight": weight,
            "strata": strata,
            "cluster": cluster,
            "respondent": respondent,
            "by": by,
            "fpc": fpc,
        },
        "test_survey",
    )
    if not columns:
        problems.append(
            Problem("no touchpoint rating column", fix="pass columns={touchpoint: column}")
        )
    if weight is not None and weight in data.columns:
        problems += weight_problems(data[weight], weight, "test_survey")
    if problems:
        raise AnalysisError("Cannot run the survey friction tests.", problems)


def _check_values(data, columns, by, strata, cluster, scale) -> None:
    """Raise when a by, strata or cluster value is missing or a rating is off the scale."""
    problems = []
    for name, col in (("by", by), ("strata", strata), ("cluster", cluster)):
        if col is not None and data[col].isna().any():
            problems.append(
                Problem(
                    f"{int(data[col].isna().sum())} row(s) have no {name} value",
                    column=col,
                    fix=f"fill the {name} column or drop those rows",
                )
            )
    for tp, col in columns.items():
        v = pd.to_numeric(data[col], errors="coerce")
        bad = data[col].notna() & v.isna()
        out = v.notna() & ((v < scale[0]) | (v > scale[1]))
        if bad.any() or out.any():
            i = int(np.flatnonzero((bad | out).to_numpy())[0])
            problems.append(
                Problem(
                    f"{int(bad.sum() + out.sum())} rating(s) of {tp!r} are not numbers on the "
                    f"scale {scale[0]}-{scale[1]} (e.g. {data[col].iloc[i]!r})",
                    row=i + 2,
                    column=col,
                    fix="ratings are numbers on the scale; blank when not experienced",
                )
            )
    if problems:
        raise AnalysisError("Cannot run the survey friction tests.", problems)


def _clean_frame(data, by, respondent, persona, weight, strata, cluster, singleton, fpc=None):
    """A clean frame: respondent, level of ``by``, persona as text, design columns (levels of
    ``by`` become strata, clusters are nested in them); with its :class:`Design`."""
    frame = pd.DataFrame(index=data.index)
    level = (
        data[by].astype("string").to_numpy(dtype=object)
        if by is not None
        else np.full(len(data), "", object)
    )
    rid = data[respondent].astype("string").to_numpy(dtype=object)
    frame["respondent_id"] = (level + "|" + rid) if by is not None else rid
    frame[_BY] = level
    frame["persona"] = (
        data[persona].astype("string").fillna(_NONE).to_numpy() if persona is not None else _NONE
    )
    if weight is not None:
        frame["__w"] = pd.to_numeric(data[weight]).astype(float).to_numpy()
    if strata is not None or by is not None:
        s_val = data[strata].astype("string").to_numpy(dtype=object) if strata is not None else ""
        frame["__s"] = level + "|" + s_val
    if cluster is not None:
        frame["__c"] = level + "|" + data[cluster].astype("string").to_numpy(dtype=object)
    if fpc is not None:
        frame["__f"] = sampling_fractions(data, strata=strata, cluster=cluster, fpc=fpc)
    dsg = Design(
        weight="__w" if weight is not None else None,
        strata="__s" if "__s" in frame.columns else None,
        cluster="__c" if cluster is not None else None,
        by=by is not None,
        singleton=singleton,
        user_strata=strata is not None,
        fpc="__f" if fpc is not None else None,
    )
    return frame, dsg


def _ordered(out: pd.DataFrame, columns: dict, frame: pd.DataFrame, by) -> pd.DataFrame:
    """The survey test rows in order: levels of ``by``, tests, touchpoints, ``"all"`` first."""
    out["source"] = "survey"
    order = {tp: i for i, tp in enumerate(columns)}
    rank_t = {t: i for i, t in enumerate(SURVEY_TESTS)}
    lv_order = {lv: i for i, lv in enumerate(pd.unique(frame[_BY]))}
    out = out.assign(
        _l=out[_BY].map(lv_order),
        _t=out["test"].map(rank_t),
        _tp=out["touchpoint"].map(order),
        _p=(out["persona"] != ALL).astype(int),
    )
    out = out.sort_values(["_l", "_t", "_tp", "_p"], kind="stable").drop(
        columns=["_l", "_t", "_tp", "_p"]
    )
    if by is None:
        out = out.drop(columns=_BY)
    return out


def _wstats(frame: pd.DataFrame, keys: list[str], y: str, w: str) -> pd.DataFrame:
    """Weighted mean and SD of ``y`` by ``keys`` (rows with a value)."""
    d = frame[[*keys, y, w]].dropna(subset=[y])
    d = d.assign(_wy=d[w] * d[y], _wy2=d[w] * d[y] ** 2)
    g = d.groupby(keys, sort=False, observed=True)[[w, "_wy", "_wy2"]].sum()
    mean = g["_wy"] / g[w]
    var = (g["_wy2"] / g[w] - mean**2).clip(lower=0)
    return pd.DataFrame({"mean": mean, "sd": np.sqrt(var)})


def _long(frame, r, keep):
    """``r`` (one column per touchpoint) melted to rows with a value, with the ``keep`` columns
    of ``frame`` and ``respondent_id``; columns ``respondent_id, *keep, touchpoint, score``."""
    vals = r.to_numpy(dtype=float)
    # touchpoint by touchpoint, respondents in order: the nonzero cells of the transpose
    cols, rows = np.nonzero(np.isfinite(vals).T)
    # the frame's own arrays taken (no round trip of the text columns through objects)
    out = {"respondent_id": frame["respondent_id"].array.take(rows)}
    for k in keep:
        out[k] = frame[k].array.take(rows)
    out["touchpoint"] = pd.array(list(r.columns), dtype="str").take(cols)
    out["score"] = vals[rows, cols]
    return pd.DataFrame(out)


def _long_scores(r) -> np.ndarray:
    """The ``score`` column of :func:`_long` of ``r`` alone (the same rows in the same
    order)."""
    vals = r.to_numpy(dtype=float)
    cols, rows = np.nonzero(np.isfinite(vals).T)
    return vals[rows, cols]


def _vs_reference(
    frame,
    ratings,
    w,
    personas,
    dsg,
    *,
    targets,
    do_target,
    do_journey,
    conf,
    alpha,
    power,
    alternative,
    min_n,
):
    """One-sample tests against the targets and paired tests against the journey level (the
    mean of the respondent's other ratings), all domains in two svy calls."""
    blocks = _reference_blocks(ratings, targets, do_target, do_journey)
    if not blocks:
        return None
    long = _long_blocks(frame, blocks)
    if long is None:
        return None
    sc = _domain_scores(long, dsg, bool(personas), conf, _wide_blocks(frame, blocks, long, dsg))
    sc = sc[(sc["persona"] != _NONE) & (sc["n"] >= min_n)].reset_index(drop=True)
    if sc.empty:
        return None
    return _reference_rows(sc, targets, conf, alpha, power, alternative)


def _reference_blocks(ratings, targets, do_target, do_journey) -> dict:
    """``{test: (values, reference level or None)}``, one column per touchpoint: the ratings of
    touchpoints with a target, and each rating minus the respondent's journey level."""
    blocks = {}
    if do_target:
        tps = [tp for tp in ratings.columns if tp in targets]
        if tps:
            blocks["vs_target"] = (ratings[tps], None)
    if do_journey:
        full = ratings.to_numpy()
        tot = np.nansum(full, axis=1, keepdims=True)
        cnt = np.sum(np.isfinite(full), axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            other = (tot - np.nan_to_num(full)) / (cnt - np.isfinite(full))
        values = np.where(np.isfinite(full) & (cnt > 1), full - other, np.nan)
        levels = np.where(np.isfinite(values), other, np.nan)
        blocks["vs_journey"] = (
            pd.DataFrame(values, columns=ratings.columns, index=ratings.index),
            pd.DataFrame(levels, columns=ratings.columns, index=ratings.index),
        )
    return blocks


def _long_blocks(frame, blocks: dict) -> pd.DataFrame | None:
    """The blocks melted to one row per value, the touchpoint prefixed by the test, with the
    reference ``level``, and a ``__w`` column (1 without weights); None when empty."""
    keep = [c for c in (_BY, "persona", "__w", "__s", "__c", "__f") if c in frame.columns]
    longs = []
    for kind, (r, lvl) in blocks.items():
        # the test's name prefixed to the touchpoints' names before melting, not to every row
        part = _long(frame, r.set_axis([f"{kind}{_SEP}{c}" for c in r.columns], axis=1), keep)
        if len(part):
            part["level"] = _long_scores(lvl) if lvl is not None else np.nan
            longs.append(part)
    if not longs:
        return None
    long = pd.concat(longs, ignore_index=True)
    if "__w" not in long.columns:
        long["__w"] = 1.0
    return long


def _domain_scores(long, dsg, by_persona: bool, conf, wide=None) -> pd.DataFrame:
    """Design-based means (:func:`parcours_research.satisfaction.scores`) of every test's
    touchpoint overall and per persona (within levels), with the weighted SD and mean
    reference level. With ``wide`` (:func:`_wide_blocks`), the same estimates from svy on one
    row per respondent (:func:`_wide_scores`), the long table giving the domains."""
    from ..satisfaction import scores

    lv = [_BY] if dsg.by else []
    rows = []
    for extra in [[]] + ([["persona"]] if by_persona else []):
        groups = lv + extra
        if wide is None:
            sc = scores(
                long,
                "score",
                touchpoint="touchpoint",
                by=groups or None,
                metric="mean",
                weight=dsg.weight,
                strata=dsg.strata,
                cluster=dsg.cluster,
                respondent="respondent_id",
                confidence=conf,
                singleton=dsg.singleton,
                fpc=dsg.fpc,
            )
        else:
            sc = _wide_scores(wide, long, dsg, groups)
        stats_ = _wstats(long, ["touchpoint", *groups], "score", "__w")
        lvl_ = _wstats(long, ["touchpoint", *groups], "level", "__w")["mean"].rename("ref_level")
        sc = sc.merge(stats_.join(lvl_).reset_index(), on=["touchpoint", *groups], how="left")
        if not extra:
            sc["persona"] = ALL
        if not dsg.by:
            sc[_BY] = ""
        rows.append(sc)
    return pd.concat(rows, ignore_index=True)


@dataclass(frozen=True)
class _Wide:
    """The blocks as one row per respondent (private): svy's ``sample`` of a frame with one
    placeholder row per cluster first (in the long table's order of first appearance, all
    values missing), then the respondents with a value, in order; the value columns ``cols``
    and their long-table touchpoint ``names``."""

    sample: object
    cols: list
    names: list


def _wide_blocks(frame, blocks: dict, long, dsg) -> _Wide | None:
    """The blocks of :func:`_long_blocks` one row per respondent, for :func:`_wide_scores`;
    None when svy's design would differ from the long table's (fpc, a singleton rule, or
    no cluster and no respondent with two rows: each row its own cluster).

    svy's Taylor means add rows' scores in row order (the domain's sums) and clusters'
    totals in the order the clusters first appear (the variance): the respondents in order
    give the first, and the placeholder rows, missing values that svy keeps in the design
    with no weight, the second. A rating of the long table and its cell of the wide table
    have the same score, every other row of the cluster adds a zero, so each domain's
    estimate, standard error and degrees of freedom are svy's on the long table, bit for bit
    (tests/test_frictionsvy_speed.py compares them on awkward designs)."""
    if long is None or dsg.fpc is not None or dsg.singleton is not None:
        return None
    if dsg.cluster is None and not long["respondent_id"].duplicated().any():
        return None
    psu = dsg.cluster or "respondent_id"
    keep = [c for c in (_BY, "persona", "__w", "__s", psu) if c in frame.columns]
    cols, names, values = [], [], {}
    for kind, (r, _lvl) in blocks.items():
        for c in r.columns:
            cols.append(f"__v{len(cols)}")
            names.append(f"{kind}{_SEP}{c}")
            values[cols[-1]] = r[c].to_numpy(dtype=float)
    wide = pd.DataFrame({**{k: frame[k].array for k in keep}, **values})
    wide = wide[np.isfinite(wide[cols].to_numpy()).any(axis=1)]
    pair = [c for c in (dsg.strata, psu) if c]
    one = wide.drop_duplicates(pair)  # a row of each (stratum, cluster)
    at = pd.MultiIndex.from_frame(one[pair]).get_indexer(
        pd.MultiIndex.from_frame(long.drop_duplicates(pair)[pair])
    )
    ph = one.iloc[at].copy()
    ph[cols] = np.nan
    sample = svy_sample(
        pd.concat([ph, wide], ignore_index=True),
        weight=dsg.weight,
        strata=dsg.strata,
        cluster=psu,
    )
    return _Wide(sample, cols, names)


def _wide_scores(wide: _Wide, long, dsg, groups: list) -> pd.DataFrame:
    """The columns of :func:`parcours_research.satisfaction.scores` that the tests read
    (``touchpoint``, the groups, ``estimate, se, df, n``), one row per domain of the long
    table in its order of first appearance, from svy's means of the wide columns."""
    import polars as pl

    from ..satisfaction import _warn_zero_df

    keys = ["touchpoint", *groups]
    dom = long.groupby(keys, sort=False).size().rename("n").reset_index()
    by = tuple(groups) if len(groups) > 1 else (groups[0] if groups else None)
    with svy_errors("estimating the mean of the ratings"):
        res = wide.sample.estimation.mean(list(wide.cols), by=by, drop_nulls=True)
    est = pl.concat(
        [
            rr.to_polars()
            .select([*groups, "est", "se", "df"])
            .with_columns(pl.lit(name).alias("touchpoint"))
            for name, rr in zip(wide.names, res if isinstance(res, list) else [res])
        ],
        how="vertical_relaxed",
    ).to_pandas()
    est = est.rename(columns={"est": "estimate"})
    for k in keys:
        est[k] = est[k].astype(str)
    dkey = dom[keys].astype(str)
    out = dom.join(dkey.merge(est, on=keys, how="left")[["estimate", "se", "df"]])
    _warn_zero_df(out, keys)
    out["df"] = out["df"].astype("Int64")
    return out


def _reference_rows(sc, targets, conf, alpha, power, alternative) -> pd.DataFrame:
    """Test columns of the domain means against their target or journey level."""
    key = sc["touchpoint"].astype(str).str.split(_SEP, n=1, expand=True)
    sc["test"], sc["touchpoint"] = key[0], key[1]
    target = (sc["test"] == "vs_target").to_numpy()
    est = sc["estimate"].to_numpy(float)
    se = sc["se"].to_numpy(float)
    df = sc["df"].astype(float).to_numpy()
    sds = sc["sd"].to_numpy(float)
    ref = np.where(
        target, sc["touchpoint"].map(targets).to_numpy(float), sc["ref_level"].to_numpy(float)
    )
    diff = np.where(target, est - ref, est)
    alt = st.one_sided(alternative, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, diff / se, np.nan)
        lo, hi = _t_interval(diff, se, df, conf)
        mde = st.mde_t(se, df, alpha, power, alternative)
        return pd.DataFrame(
            {
                _BY: sc[_BY].astype(str),
                "touchpoint": sc["touchpoint"].astype(str),
                "persona": sc["persona"].astype(str),
                "test": sc["test"],
                "statistic": t,
                "p_value": st.t_pvalue(t, df, alt),
                "effect_size": diff,
                "ci_low": lo,
                "ci_high": hi,
                "n": sc["n"].to_numpy(),
                "df": df,
                "estimate": np.where(target, est, ref + diff),
                "reference": ref,
                "comparison": np.where(target, "target satisfaction", "own journey level (paired)"),
                "method": "design-based t",
                "effect_measure": "difference in rating points",
                "std_effect": diff / sds,
                "std_ci_low": lo / sds,
                "std_ci_high": hi / sds,
                "std_measure": np.where(target, "smd", "d_z"),
                "mde": mde,
                "mde_std": mde / sds,
            }
        )


def _contrasts(sample, frame, cols, flag, dsg, what) -> pd.DataFrame:
    """Domain means of ``cols`` for the rows flagged ``group`` and ``rest`` (within each level of
    the by-column) and their design-based contrast; one svy call for the means, one contrast
    call per column. Columns ``level, col, n1, n2, est1, se1, est2, se2, diff, se, df``; the
    contrast's df is the number of clusters with data in the level minus its strata (svy's
    for a single analysis)."""
    lv = _levels(frame, flag, dsg)
    independent = _independent(dsg, lv)
    by = (_BY, flag) if dsg.by else flag
    with svy_errors(f"estimating means for {what} and the others"):
        res = sample.estimation.mean(list(cols), by=by, drop_nulls=True)
    res = res if isinstance(res, list) else [res]
    out = []
    for col, rr in zip(cols, res):
        agg = _level_counts(frame[col].to_numpy(dtype=float), lv)
        if not agg:
            continue
        dom = {}
        for r in rr.to_polars().iter_rows(named=True):
            dom[(r[_BY] if dsg.by else "", r[flag])] = r
        levels = [lvl for lvl in agg if (lvl, _GROUP) in dom and (lvl, _REST) in dom]
        if not levels:
            continue
        if independent:
            cmap = _uncorrelated_contrasts(dom, levels)
        else:
            cmap = _svy_contrasts(rr, levels, dsg, f"contrasting {what} with the others on {col!r}")
        for lvl in levels:
            out.append(_contrast_row(lvl, col, agg[lvl], dom, cmap[lvl]))
    return pd.DataFrame(out)


@dataclass(frozen=True)
class _Levels:
    """Per row of the internal frame: the level of the by-column, the flag, the PSU and
    stratum codes (private)."""

    codes: np.ndarray
    names: pd.Index
    has_flag: np.ndarray
    is_group: np.ndarray
    psu: np.ndarray
    stra: np.ndarray


def _levels(frame, flag, dsg) -> _Levels:
    lv_codes, lv_names = pd.factorize(frame[_BY])
    fl = frame[flag].to_numpy()
    psu = pd.factorize(frame[dsg.cluster])[0] if dsg.cluster else np.arange(len(frame))
    stra = pd.factorize(frame[dsg.strata])[0] if dsg.strata else np.zeros(len(frame), dtype=int)
    return _Levels(lv_codes, lv_names, pd.notna(fl), fl == _GROUP, psu, stra)


def _independent(dsg, lv: _Levels) -> bool:
    """Whether group and rest share no stratum (no user strata: the by-levels are strata
    holding whole domains) and no cluster."""
    independent = dsg.user_strata is False
    if independent and dsg.cluster:
        per = (
            pd.DataFrame({"c": lv.psu[lv.has_flag], "g": lv.is_group[lv.has_flag]})
            .groupby("c")["g"]
            .nunique()
        )
        independent = bool((per <= 1).all())
    return independent


def _per_level(lv: _Levels, codes, mask) -> np.ndarray:
    """Number of distinct ``codes`` among ``mask`` rows, per level."""
    n_lv = len(lv.names)
    m = int(codes.max()) + 1
    key = lv.codes[mask].astype(np.int64) * m + codes[mask]
    if n_lv * m <= 4 * len(key) + (1 << 20):  # a table of (level, code) pairs: no sort
        return (np.bincount(key, minlength=n_lv * m) > 0).reshape(n_lv, m).sum(axis=1)
    return np.bincount(np.unique(key) // m, minlength=n_lv)


def _level_counts(y, lv: _Levels) -> dict:
    """``{level: (n group, n rest, contrast df)}`` for the levels where both sides have values
    of ``y``; the df is the number of clusters with data minus the strata."""
    n_lv = len(lv.names)
    ok = np.isfinite(y) & lv.has_flag
    n1 = np.bincount(lv.codes[ok & lv.is_group], minlength=n_lv)
    n = np.bincount(lv.codes[ok], minlength=n_lv)
    n_psu, n_str = _per_level(lv, lv.psu, ok), _per_level(lv, lv.stra, ok)
    keep_lv = np.flatnonzero((n1 > 0) & (n - n1 > 0))
    return {
        lv.names[i]: (int(n1[i]), int(n[i] - n1[i]), float(n_psu[i] - n_str[i])) for i in keep_lv
    }


def _uncorrelated_contrasts(dom: dict, levels: list) -> dict:
    """Group minus rest when they share no cluster and no stratum other than the level: their
    domain means are uncorrelated and se(diff)^2 = se1^2 + se2^2 exactly (the linearised
    values of a domain mean sum to zero within each stratum holding it)."""
    return {
        lvl: {
            "est": dom[(lvl, _GROUP)]["est"] - dom[(lvl, _REST)]["est"],
            "se": float(np.hypot(dom[(lvl, _GROUP)]["se"], dom[(lvl, _REST)]["se"])),
        }
        for lvl in levels
    }


def _svy_contrasts(rr, levels: list, dsg, doing: str) -> dict:
    """Group minus rest in each level, by svy's contrast of the domain estimates ``rr``."""
    import svy

    if dsg.by:
        exprs = {
            str(i): svy.estd((lvl, _GROUP)) - svy.estd((lvl, _REST)) for i, lvl in enumerate(levels)
        }
    else:
        exprs = {"0": svy.estd(_GROUP) - svy.estd(_REST)}
    with svy_errors(doing):
        con = rr.contrast(exprs).to_polars()
    rows_ = list(con.iter_rows(named=True))
    return {lvl: rows_[i] for i, lvl in enumerate(levels)}


def _contrast_row(lvl, col, agg, dom, c) -> dict:
    a1, a2, a_df = agg
    g, r = dom[(lvl, _GROUP)], dom[(lvl, _REST)]
    return {
        "level": lvl,
        "col": col,
        "n1": a1,
        "n2": a2,
        "est1": g["est"],
        "se1": g["se"],
        "est2": r["est"],
        "se2": r["se"],
        "diff": c["est"],
        "se": c["se"],
        "df": a_df,
    }


def _pooled_sd(frame, raw, flag, w) -> np.ndarray:
    """Pooled weighted SD of group and rest for every (level, column) row of ``raw``."""
    out = np.empty(len(raw))
    lv = frame[_BY].to_numpy()
    fl = frame[flag].to_numpy()
    group, rest = fl == _GROUP, fl == _REST
    at = {lvl: lv == lvl for lvl in pd.unique(raw["level"])}
    for i, (lvl, col) in enumerate(zip(raw["level"], raw["col"])):
        y = frame[col].to_numpy(dtype=float)
        base = at[lvl] & np.isfinite(y)
        in_p, in_r = base & group, base & rest
        s1, s2 = _wsd(y[in_p], w[in_p]), _wsd(y[in_r], w[in_r])
        w1, w2 = w[in_p].sum(), w[in_r].sum()
        out[i] = np.sqrt((w1 * s1**2 + w2 * s2**2) / (w1 + w2))
    return out


def _mean_rows(raw: pd.DataFrame, sd, conf, alpha, power, alternative) -> pd.DataFrame:
    """Test columns of group-vs-rest mean differences, vectorised over rows."""
    diff, se, df = raw["diff"].to_numpy(float), raw["se"].to_numpy(float), raw["df"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, diff / se, np.nan)
        lo, hi = _t_interval(diff, se, df, conf)
        mde = st.mde_t(se, df, alpha, power, alternative)
        return pd.DataFrame(
            {
                _BY: raw["level"].to_numpy(),
                "statistic": t,
                "p_value": st.t_pvalue(t, df, st.one_sided(alternative, -1)),
                "effect_size": diff,
                "ci_low": lo,
                "ci_high": hi,
                "n": raw["n1"].to_numpy(),
                "n_ref": raw["n2"].to_numpy(),
                "df": df,
                "estimate": raw["est1"].to_numpy(float),
                "reference": raw["est2"].to_numpy(float),
                "std_effect": diff / sd,
                "std_ci_low": lo / sd,
                "std_ci_high": hi / sd,
                "mde": mde,
                "mde_std": mde / sd,
            }
        )


def group_differences(
    sample,
    frame,
    y_cols,
    flag,
    w,
    min_n,
    conf,
    alpha,
    power,
    alternative,
    what="group",
    design: Design | None = None,
):
    """Design-based difference of means between the rows flagged ``group`` and ``rest``.

    ``frame`` holds a ``__by__`` column (one level when there is no by-grouping) and the
    design columns named by ``design``. One svy call estimates every column's domain means;
    each difference is the domain contrast with its design standard error. Returns a
    DataFrame with one row per level and column with at least ``min_n`` values on each side:
    ``y, __by__, statistic, p_value, effect_size, ci_low, ci_high, n, n_ref, df, estimate,
    reference, std_effect, std_ci_low, std_ci_high, mde, mde_std`` (standardised by the
    pooled weighted SD).
    """
    dsg = design or Design()
    raw = _contrasts(sample, frame, y_cols, flag, dsg, what)
    if raw.empty:
        return raw
    raw = raw[(raw["n1"] >= min_n) & (raw["n2"] >= min_n)].reset_index(drop=True)
    if raw.empty:
        return raw
    out = _mean_rows(raw, _pooled_sd(frame, raw, flag, w), conf, alpha, power, alternative)
    out.insert(0, "y", raw["col"].to_numpy())
    return out


def _persona_tests(
    frame, ratings, w, personas, tests, dsg, *, cut, conf, alpha, power, alternative, min_n
):
    """Each persona against the other personas: the difference of mean ratings
    (``persona_means``) and the Rao–Scott test of the answer distribution with the difference
    in dissatisfied share (``persona_distribution``)."""
    pf = _persona_frame(frame, ratings, personas, cut)
    sample = svy_sample(
        pf.frame[[_BY, *_design_cols(dsg), *pf.y_cols, *pf.d_cols, *pf.k_cols, *pf.flags.values()]],
        weight=dsg.weight,
        strata=dsg.strata,
        cluster=dsg.cluster,
        singleton=dsg.singleton,
        fpc=dsg.fpc,
    )
    do_means = "persona_means" in tests
    do_dist = "persona_distribution" in tests
    cols = (pf.y_cols if do_means else []) + (pf.d_cols if do_dist else [])
    stats_ = dict(conf=conf, alpha=alpha, power=power, alternative=alternative)
    mean_parts, share_parts = _persona_contrasts(sample, pf, cols, personas, dsg, w, min_n, stats_)
    parts = []
    if mean_parts:
        m = pd.concat(mean_parts, ignore_index=True)
        m["test"] = "persona_means"
        m["comparison"] = "other personas"
        m["method"] = "design-based Wald t"
        m["effect_measure"] = "difference in rating points"
        m["std_measure"] = "smd"
        parts.append(m)
    d = pd.concat(share_parts, ignore_index=True) if share_parts else pd.DataFrame()
    if len(d):
        fs = _rao_scott_stats(d, pf, sample, dsg)
        parts.append(_distribution_rows(d, fs, cut, **stats_))
    return pd.concat(parts, ignore_index=True) if parts else None


@dataclass(frozen=True)
class _PersonaFrame:
    """The internal frame with, per touchpoint, the rating (``y``), dissatisfied (``d``) and
    answer-as-text (``k``) columns, and a group/rest flag column per persona (private)."""

    frame: pd.DataFrame
    y_cols: list
    d_cols: list
    k_cols: list
    tp_of: dict
    flags: dict


def _design_cols(dsg) -> list:
    return [c for c in (dsg.weight, dsg.strata, dsg.cluster, dsg.fpc) if c]


def _persona_frame(frame, ratings, personas, cut) -> _PersonaFrame:
    tps = list(ratings.columns)
    y_cols = [f"__y{i}" for i in range(len(tps))]
    d_cols = [f"__d{i}" for i in range(len(tps))]
    k_cols = [f"__k{i}" for i in range(len(tps))]
    # the new columns gathered, then joined to the frame at once (not one insertion each)
    new, tp_of = {}, {}
    for i, tp in enumerate(tps):
        y = ratings[tp].to_numpy()
        new[y_cols[i]] = y
        new[d_cols[i]] = np.where(np.isfinite(y), (y <= cut).astype(float), np.nan)
        new[k_cols[i]] = _as_text(y)
        tp_of[y_cols[i]] = tp_of[d_cols[i]] = tp
    flags = {}
    persona = frame["persona"].to_numpy()
    is_none = persona == _NONE
    for j, p in enumerate(personas):
        flags[p] = f"__f{j}"
        new[flags[p]] = np.where(persona == p, _GROUP, np.where(is_none, None, _REST))
    kept = {c: frame[c].array for c in frame.columns if c not in ("persona", "respondent_id")}
    f = pd.DataFrame({**kept, **new}, index=frame.index)
    return _PersonaFrame(f, y_cols, d_cols, k_cols, tp_of, flags)


def _as_text(y: np.ndarray) -> np.ndarray:
    """Each rating as text (``f"{v:g}"``; None when missing), formatted once per distinct
    value."""
    out = np.full(len(y), None, dtype=object)
    ok = ~np.isnan(y)
    if np.any(ok & (y == 0) & np.signbit(y)):  # -0.0 and 0.0 print apart: one by one
        out[ok] = [f"{v:g}" for v in y[ok]]
        return out
    values, where = np.unique(y[ok], return_inverse=True)
    out[ok] = np.array([f"{v:g}" for v in values], dtype=object)[where]
    return out


def _persona_contrasts(sample, pf: _PersonaFrame, cols, personas, dsg, w, min_n, stats_):
    """Each persona's contrasts with the others on ``cols``: the test rows of the mean ratings,
    and the raw contrasts of the dissatisfied shares (with ``touchpoint, persona, flag``)."""
    mean_parts, share_parts = [], []
    for p in personas:
        flag = pf.flags[p]
        raw = _contrasts(sample, pf.frame, cols, flag, dsg, f"persona {p!r}")
        if raw.empty:
            continue
        raw = raw[(raw["n1"] >= min_n) & (raw["n2"] >= min_n)].reset_index(drop=True)
        raw["touchpoint"] = raw["col"].map(pf.tp_of)
        raw["persona"] = p
        raw["flag"] = flag
        means = raw[raw["col"].isin(pf.y_cols)].reset_index(drop=True)
        if len(means):
            sd = _pooled_sd(pf.frame, means, flag, w)
            part = _mean_rows(
                means, sd, stats_["conf"], stats_["alpha"], stats_["power"], stats_["alternative"]
            )
            part.insert(1, "touchpoint", means["touchpoint"].to_numpy())
            part.insert(2, "persona", p)
            mean_parts.append(part)
        share_parts.append(raw[raw["col"].isin(pf.d_cols)])
    return mean_parts, share_parts


def _rao_scott_stats(d, pf: _PersonaFrame, sample, dsg) -> np.ndarray:
    """Rao–Scott F of the answer distribution, persona against the others, in each level:
    ``f, df_num, df_den, p_value`` per row of ``d``."""
    f, k_cols, d_cols = pf.frame, pf.k_cols, pf.d_cols
    fstats = {}
    lv = f[_BY].to_numpy()
    for lvl, g in d.groupby("level", sort=False):
        smp = (
            sample
            if not dsg.by
            else svy_sample(
                f.loc[lv == lvl, [*_design_cols(dsg), *k_cols, *g["flag"].unique()]],
                weight=dsg.weight,
                strata=dsg.strata,
                cluster=dsg.cluster,
                singleton=dsg.singleton,
                fpc=dsg.fpc,
            )
        )
        sub = f if not dsg.by else f.loc[lv == lvl]
        for r in g.itertuples(index=False):
            kcol = k_cols[d_cols.index(r.col)]
            both = sub[r.flag].notna().to_numpy()
            answers = sub[kcol].to_numpy()[both]
            if len(set(answers[pd.notna(answers)])) < 2:
                fstats[(lvl, r.col, r.flag)] = (np.nan, np.nan, np.nan, 1.0)
                continue
            with svy_errors(f"tabulating answers to {r.touchpoint!r} by persona {r.persona!r}"):
                s = smp.categorical.tabulate(kcol, r.flag, drop_nulls=True).stats.f
            fstats[(lvl, r.col, r.flag)] = (
                float(s.value),
                float(s.df_num),
                float(s.df_den),
                float(s.p_value),
            )
    return np.array(
        [fstats[(lvl, c, fl)] for lvl, c, fl in zip(d["level"], d["col"], d["flag"])],
        dtype=float,
    )


def _distribution_rows(d, fs, cut, *, conf, alpha, power, alternative) -> pd.DataFrame:
    """Test columns of ``persona_distribution``: the Rao–Scott F ``fs`` with the difference in
    dissatisfied share, Cohen's h and the odds ratio."""
    p1, p2 = d["est1"].to_numpy(float), d["est2"].to_numpy(float)
    se1, se2 = d["se1"].to_numpy(float), d["se2"].to_numpy(float)
    diff, se, df = d["diff"].to_numpy(float), d["se"].to_numpy(float), d["df"].to_numpy(float)
    # effective sample sizes (Korn & Graubard 1998): p(1 - p) / se^2, the count when the
    # share is 0 or 1; Cohen's h and the odds ratio get their intervals from them
    with np.errstate(divide="ignore", invalid="ignore"):
        ne1 = np.where(
            (p1 > 0) & (p1 < 1) & (se1 > 0), p1 * (1 - p1) / se1**2, d["n1"].to_numpy(float)
        )
        ne2 = np.where(
            (p2 > 0) & (p2 < 1) & (se2 > 0), p2 * (1 - p2) / se2**2, d["n2"].to_numpy(float)
        )
    h = st.cohens_h(p1, p2)
    h_lo, h_hi = st.h_interval(h, ne1, ne2, conf)
    orr, or_lo, or_hi = st.odds_ratio_woolf(p1 * ne1, ne1, p2 * ne2, ne2, conf)
    lo, hi = _t_interval(diff, se, df, conf)
    return pd.DataFrame(
        {
            _BY: d["level"].to_numpy(),
            "touchpoint": d["touchpoint"].to_numpy(),
            "persona": d["persona"].to_numpy(),
            "test": "persona_distribution",
            "statistic": fs[:, 0],
            "p_value": fs[:, 3],
            "df": fs[:, 1],
            "df2": fs[:, 2],
            "effect_size": diff,
            "ci_low": lo,
            "ci_high": hi,
            "n": d["n1"].to_numpy(),
            "n_ref": d["n2"].to_numpy(),
            "estimate": p1,
            "reference": p2,
            "comparison": "other personas",
            "method": "Rao-Scott F (2nd order)",
            "effect_measure": f"difference in share rating <= {cut:g}",
            "std_measure": "cohen_h",
            "std_effect": h,
            "std_ci_low": h_lo,
            "std_ci_high": h_hi,
            "odds_ratio": orr,
            "or_ci_low": or_lo,
            "or_ci_high": or_hi,
            "mde": st.mde_t(se, df, alpha, power, alternative),
            "mde_std": st.mde_h(ne1, ne2, alpha, power, alternative),
        }
    )
