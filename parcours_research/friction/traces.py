"""Friction in digital traces: drop-off at each funnel step and touchpoint.

A *step* is a move from one event to the next: a funnel step (``quote_done → signup_done``)
or the completion of a touchpoint that has a start and an end event (``kyc_upload →
kyc_done``). For each step, overall and per persona, :func:`test_traces` compares the share
of users who went on (the conversion; drop-off is one minus it):

* ``vs_target``: with a target conversion *of the step* (exact binomial test; Wilson interval
  for the conversion), given as ``targets=`` or in a ``target`` column of the counts. The
  stage targets of ``study.yml`` (``targets.conversion``) are not step targets: they are
  tested on the stage pyramid (:func:`parcours_research.traces.pyramid`), so steps counted
  from a study have no target and no ``vs_target`` row unless ``targets=`` gives one;
* ``vs_personas``: with the users of the other personas together (Fisher's exact test when
  an expected count is under 5, the pooled score z test otherwise; Newcombe's hybrid score
  interval for the difference);
* ``vs_previous_period``: with the previous period, when the counts have a ``period`` column
  with two levels or more (last period against the one before).

The ``"all"`` rows count every user, including those without a persona (anonymous
prospects): a change between periods in ``"all"`` may be a change of mix (more prospects, fewer
customers) rather than of conversion; the persona rows tell them apart.

Effect sizes: the difference in conversion (proportion; ×100 for points) with its interval,
Cohen's h and the odds ratio with theirs, and the minimum detectable difference for the
counts at hand.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._compat import deprecated_args
from ..errors import AnalysisError, Problem, check_one_of
from . import _stats as st
from ._table import ALL, check_common, finish

__all__ = ["test_traces", "COUNT_COLUMNS"]

#: Columns of a step-count table (``period`` and ``target`` optional).
COUNT_COLUMNS = ["step", "touchpoint", "persona", "n", "k"]
_TESTS = ("vs_target", "vs_personas", "vs_previous_period")
_KEYS = ["step", "touchpoint", "persona"]


def _check_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """The step counts checked, with ``n`` and ``k`` as floats (raises AnalysisError)."""
    _check_count_columns(counts)
    c = counts.copy()
    problems = _count_value_problems(c)
    problems += _count_key_problems(c)
    if problems:
        raise AnalysisError("test_traces: the step counts have problems.", problems)
    c["n"] = c["n"].astype(float)
    c["k"] = c["k"].astype(float)
    return c


def _check_count_columns(counts) -> None:
    """Raise when ``counts`` is not a DataFrame with the :data:`COUNT_COLUMNS`."""
    if not isinstance(counts, pd.DataFrame):
        raise AnalysisError(
            "test_traces: data must be a Study or a DataFrame of step counts.",
            [
                Problem(
                    f"got {type(counts).__name__}",
                    fix="pass the study, or pr.friction.trace_counts(study)",
                )
            ],
        )
    missing = [c for c in COUNT_COLUMNS if c not in counts.columns]
    if missing:
        raise AnalysisError(
            "test_traces: the step counts lack columns.",
            [
                Problem(
                    f"missing column(s) {missing}",
                    fix=f"a count table has columns {', '.join(COUNT_COLUMNS)} "
                    "(+ period, target): one row per step, persona (and period)",
                )
            ],
        )


def _count_value_problems(c: pd.DataFrame) -> list[Problem]:
    """Problems with the ``n`` and ``k`` values; converts them to numbers in ``c``."""
    problems = []
    for col in ("n", "k"):
        v = pd.to_numeric(c[col], errors="coerce")
        bad = v.isna() | (v < 0) | (v != np.round(v))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            problems.append(
                Problem(
                    f"{int(bad.sum())} value(s) of {col!r} are not counts "
                    f"(e.g. {c[col].iloc[i]!r})",
                    row=i + 2,
                    column=col,
                    fix="counts are whole numbers >= 0",
                )
            )
        c[col] = v
    over = c["k"] > c["n"]
    if over.any():
        i = int(np.flatnonzero(over.to_numpy())[0])
        problems.append(
            Problem(
                f"{int(over.sum())} row(s) have more conversions (k) than users (n)",
                row=i + 2,
                column="k",
                fix="k counts the users of n who went on",
            )
        )
    return problems


def _count_key_problems(c: pd.DataFrame) -> list[Problem]:
    """Problems with the keys (step, persona, period) and the targets of the counts."""
    problems = []
    for col in ("step", "persona"):
        if c[col].isna().any():
            problems.append(
                Problem(
                    f"{int(c[col].isna().sum())} row(s) have no {col}",
                    column=col,
                    fix=f"every row needs a {col} (persona {ALL!r} for everyone)",
                )
            )
    keys = ["step", "persona"] + (["period"] if "period" in c.columns else [])
    dup = c.duplicated(subset=keys, keep=False)
    if dup.any():
        problems.append(
            Problem(
                f"{int(dup.sum())} rows repeat a {', '.join(keys)} combination",
                column="step",
                fix="one row per " + ", ".join(keys),
            )
        )
    if "target" in c.columns:
        t = pd.to_numeric(c["target"], errors="coerce")
        bad = t.notna() & ((t < 0) | (t > 1))
        if bad.any():
            problems.append(
                Problem("targets must be conversion shares between 0 and 1", column="target")
            )
    return problems


def _two_group_rows(k1, n1, k2, n2, *, alternative, conf, exact, odds_ratio="auto", worse_sign=-1):
    """Columns of a two-group proportion comparison (group 1 minus group 2)."""
    alt = st.one_sided(alternative, worse_sign)
    stat, p, used = st.two_proportions(k1, n1, k2, n2, alternative=alt, method=exact)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = k1 / n1, k2 / n2
    lo, hi = st.newcombe_interval(k1, n1, k2, n2, conf)
    h = st.cohens_h(p1, p2)
    h_lo, h_hi = st.h_interval(h, n1, n2, conf)
    orr, or_lo, or_hi = st.odds_ratio_woolf(k1, n1, k2, n2, conf)
    fisher = used == "fisher"
    if fisher.any() and odds_ratio == "auto":
        e_or, e_lo, e_hi = st.odds_ratio_exact(k1[fisher], n1[fisher], k2[fisher], n2[fisher], conf)
        orr, or_lo, or_hi = orr.copy(), or_lo.copy(), or_hi.copy()
        orr[fisher], or_lo[fisher], or_hi[fisher] = e_or, e_lo, e_hi
    return {
        "statistic": stat,
        "p_value": p,
        "method": np.where(fisher, "Fisher exact", "score z"),
        "estimate": p1,
        "reference": p2,
        "effect_size": p1 - p2,
        "ci_low": lo,
        "ci_high": hi,
        "std_effect": h,
        "std_ci_low": h_lo,
        "std_ci_high": h_hi,
        "odds_ratio": orr,
        "or_ci_low": or_lo,
        "or_ci_high": or_hi,
    }


def _mde(rows: dict, n1, n2, p_ref, alpha, power, alternative, worse_sign=-1):
    h = st.mde_h(n1, n2, alpha, power, alternative)
    rows["mde_std"] = h
    rows["mde"] = st.h_to_difference(p_ref, h, worse_sign)


@deprecated_args(renamed={"conf": "confidence"})
def test_traces(
    data,
    *,
    targets: Mapping[str, float] | None = None,
    tests=("vs_target", "vs_personas", "vs_previous_period"),
    alternative: str = "worse",
    exact: str = "auto",
    odds_ratio: str = "auto",
    confidence: float = 0.95,
    alpha: float = 0.05,
    power: float = 0.8,
    correction: str = "bh",
    family: str = "test",
    **count_options,
) -> pd.DataFrame:
    """Test drop-off at every funnel step and touchpoint, overall and per persona.

    Parameters
    ----------
    data : Study, Evidence, EventLog or DataFrame
        A loaded study or its prepared evidence (its prepared event log,
        :func:`parcours_research.prepare`, counted with :func:`trace_counts`, passing
        ``count_options``), an event log (counted the same way), or a table of step counts with
        columns ``step, touchpoint, persona, n, k`` and optionally ``period`` and ``target``:
        ``n`` users reached the start of the step, ``k`` of them went on. Rows with persona
        ``"all"`` count everyone (including users without a persona).
    targets : dict, optional
        Target conversion per step or touchpoint (``{"kyc_upload→kyc_done": 0.9}`` or
        ``{"id_verification": 0.9}``), over the ``target`` column. Rows without a target
        (every row counted from a study, unless given here) have no ``vs_target`` test.
    tests : sequence of str
        Which comparisons to run: ``"vs_target"``, ``"vs_personas"``, ``"vs_previous_period"``.
    alternative : {"worse", "two-sided"}, default "worse"
        ``"worse"`` tests one-sided for a *lower* conversion (friction); intervals stay
        two-sided at ``confidence``.
    exact : {"auto", "fisher", "z"}, default "auto"
        Two-group test: Fisher's exact test when an expected count is under 5 (``"auto"``),
        always, or never. The one-sample test against a target is always exact (binomial).
    odds_ratio : {"auto", "woolf"}, default "auto"
        Odds ratio and interval: the conditional maximum-likelihood estimate with its exact
        interval where Fisher's test is used (``"auto"``), else the sample odds ratio with
        Woolf's logit interval (0.5 added to every cell of a table with a zero); ``"woolf"``
        everywhere (faster).
    confidence : float, default 0.95
        Confidence level of the intervals.
    alpha : float, default 0.05
        Significance level after correction, and of the minimum detectable effects.
    power : float, default 0.8
        Power of the minimum detectable effects.
    correction : {"bh", "holm", "bonferroni", "by", "none"}, default "bh"
    family : {"test", "source", "all"}, default "test"
        Families of the correction: one per test (``traces:vs_target`` ...), one for all trace
        tests, or one for everything in the table.

    Returns
    -------
    DataFrame
        One row per step, persona and test with the columns ``touchpoint, persona, source,
        test, statistic, p_value, p_adj, family, effect_size, ci_low, ci_high, n,
        significant`` then ``direction, friction, step, group, comparison, method, estimate,
        reference, n_ref, effect_measure, std_effect, std_measure, std_ci_low, std_ci_high,
        odds_ratio, or_ci_low, or_ci_high, mde, mde_std, df, df2, alternative, correction``.
        ``estimate`` is the conversion, ``reference`` the target, the other personas' or the
        previous period's conversion; ``effect_size`` their difference (negative: more
        drop-off) with its interval (Wilson-based against a target, Newcombe's against a
        group); ``std_effect`` is Cohen's h; ``mde`` the smallest drop in conversion
        detectable at ``alpha`` with ``power`` (and ``mde_std`` in h). ``friction`` is
        ``significant`` and in the worse direction.
    """
    conf = confidence  # the internal name
    tests = _check_args(
        tests, alternative, conf, alpha, power, correction, family, exact, odds_ratio
    )
    c = _with_targets(_check_counts(_counts_of(data, count_options)), targets)
    compare = dict(alternative=alternative, conf=conf, exact=exact, odds_ratio=odds_ratio)
    mde = dict(alpha=alpha, power=power, alternative=alternative)
    tot = _totals(c)
    parts = []
    if "vs_target" in tests:
        parts.append(_vs_target(tot, conf=conf, **mde))
    if "vs_personas" in tests:
        parts.append(_vs_personas(tot, compare, mde))
    if "vs_previous_period" in tests:
        parts.append(_vs_previous_period(c, compare, mde))
    parts = [p for p in parts if p is not None]
    out = _ordered(parts, c.drop_duplicates("step")["step"].tolist()) if parts else None
    return finish(
        out,
        worse_sign=-1,
        alternative=alternative,
        correction=correction,
        alpha=alpha,
        family=family,
    )


def _check_args(tests, alternative, conf, alpha, power, correction, family, exact, odds_ratio):
    """Check the arguments of :func:`test_traces`; the tests as a tuple."""
    check_common(alternative, conf, alpha, power, correction, family)
    check_one_of("exact", exact, ("auto", "fisher", "z"))
    check_one_of("odds_ratio", odds_ratio, ("auto", "woolf"))
    tests = (tests,) if isinstance(tests, str) else tuple(tests)
    for t in tests:
        check_one_of("tests", t, _TESTS)
    return tests


def _counts_of(data, count_options: dict):
    """The step counts of ``data``: counted from a study, its evidence or an event log, or
    ``data`` itself when it is a DataFrame (then no count option may be given)."""
    if not isinstance(data, pd.DataFrame):  # a study, its evidence or an event log
        from .counts import trace_counts

        return trace_counts(data, **count_options)
    if count_options:
        raise AnalysisError(f"test_traces got unexpected argument(s) {sorted(count_options)}.")
    return data


def _with_targets(c: pd.DataFrame, targets) -> pd.DataFrame:
    """``c`` with a float ``target`` column: ``targets`` by step, else by touchpoint, else the
    column's own value."""
    if targets:
        tmap = {str(k): float(v) for k, v in targets.items()}
        by_step = pd.to_numeric(c["step"].astype(str).map(tmap), errors="coerce").astype(float)
        by_tp = pd.to_numeric(c["touchpoint"].astype(str).map(tmap), errors="coerce").astype(float)
        given = by_step.fillna(by_tp)
        c["target"] = (
            given.fillna(pd.to_numeric(c["target"], errors="coerce"))
            if "target" in c.columns
            else given
        )
    if "target" not in c.columns:
        c["target"] = np.nan
    c["target"] = pd.to_numeric(c["target"], errors="coerce").astype(float)
    return c


def _totals(c: pd.DataFrame) -> pd.DataFrame:
    """The counts summed over periods, per step, touchpoint and persona."""
    return (
        c.groupby(_KEYS, sort=False, dropna=False)
        .agg(n=("n", "sum"), k=("k", "sum"), target=("target", "first"))
        .reset_index()
    )


def _vs_target(tot: pd.DataFrame, *, alternative, conf, alpha, power) -> pd.DataFrame | None:
    """Exact binomial tests of each step's conversion against its target."""
    d = tot[tot["target"].notna() & (tot["n"] > 0)]
    if not len(d):
        return None
    k, n, p0 = d["k"].to_numpy(), d["n"].to_numpy(), d["target"].to_numpy()
    alt = st.one_sided(alternative, -1)
    lo, hi = st.wilson_interval(k, n, conf)
    p = k / n
    h = st.cohens_h(p, p0)
    h_lo, h_hi = st.h_interval(h, n, None, conf)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds0 = p0 / (1 - p0)
        rows = {
            "statistic": p,
            "p_value": st.binom_exact(k, n, p0, alt),
            "method": "exact binomial",
            "estimate": p,
            "reference": p0,
            "effect_size": p - p0,
            "ci_low": lo - p0,
            "ci_high": hi - p0,
            "std_effect": h,
            "std_ci_low": h_lo,
            "std_ci_high": h_hi,
            "odds_ratio": (p / (1 - p)) / odds0,
            "or_ci_low": (lo / (1 - lo)) / odds0,
            "or_ci_high": (hi / (1 - hi)) / odds0,
        }
    _mde(rows, n, None, p0, alpha, power, alternative)
    return (
        d[_KEYS]
        .reset_index(drop=True)
        .assign(**rows, n=n, n_ref=np.nan, test="vs_target", comparison="target conversion")
    )


def _vs_personas(tot: pd.DataFrame, compare: dict, mde: dict) -> pd.DataFrame | None:
    """Each persona's conversion against the other personas' together, step by step."""
    pers = tot[tot["persona"].astype(str) != ALL]
    if pers["persona"].nunique() < 2:
        return None
    sums = pers.groupby("step", sort=False)[["n", "k"]].sum()
    n_all = pers["step"].map(sums["n"]).to_numpy()
    k_all = pers["step"].map(sums["k"]).to_numpy()
    n1, k1 = pers["n"].to_numpy(), pers["k"].to_numpy()
    n2, k2 = n_all - n1, k_all - k1
    ok = (n1 > 0) & (n2 > 0)
    d = pers[ok]
    rows = _two_group_rows(k1[ok], n1[ok], k2[ok], n2[ok], **compare)
    _mde(rows, n1[ok], n2[ok], rows["reference"], mde["alpha"], mde["power"], mde["alternative"])
    return (
        d[_KEYS]
        .reset_index(drop=True)
        .assign(**rows, n=n1[ok], n_ref=n2[ok], test="vs_personas", comparison="other personas")
    )


def _periods(c: pd.DataFrame) -> list:
    """The periods of the counts in order (an ordered categorical's order, else sorted when
    they sort, else as they come)."""
    if isinstance(c["period"].dtype, pd.CategoricalDtype) and c["period"].cat.ordered:
        return [p for p in c["period"].cat.categories if (c["period"] == p).any()]
    periods = list(pd.unique(c["period"].dropna()))
    try:
        periods = sorted(periods)
    except TypeError:
        pass
    return periods


def _vs_previous_period(c: pd.DataFrame, compare: dict, mde: dict) -> pd.DataFrame | None:
    """Each step and persona's conversion in the last period against the period before."""
    if not ("period" in c.columns and c["period"].nunique(dropna=True) >= 2):
        return None
    periods = _periods(c)
    last, prev = periods[-1], periods[-2]
    cur = c[c["period"] == last].set_index(["step", "persona"])
    old = c[c["period"] == prev].set_index(["step", "persona"])
    common = cur.index.intersection(old.index)
    cur, old = cur.loc[common], old.loc[common]
    ok = ((cur["n"] > 0) & (old["n"] > 0)).to_numpy()
    cur, old = cur[ok], old[ok]
    if not len(cur):
        return None
    k1, n1 = cur["k"].to_numpy(), cur["n"].to_numpy()
    k2, n2 = old["k"].to_numpy(), old["n"].to_numpy()
    rows = _two_group_rows(k1, n1, k2, n2, **compare)
    _mde(rows, n1, n2, rows["reference"], mde["alpha"], mde["power"], mde["alternative"])
    part = cur.reset_index()[["step", "persona", "touchpoint"]].assign(
        **rows,
        n=n1,
        n_ref=n2,
        test="vs_previous_period",
        comparison=f"period {last} vs {prev}",
    )
    return part[[*_KEYS, *[x for x in part.columns if x not in _KEYS]]]


def _ordered(parts: list[pd.DataFrame], order: list) -> pd.DataFrame:
    """The test rows together, in journey order: tests, then steps as given, then personas
    (``"all"`` first)."""
    out = pd.concat(parts, ignore_index=True)
    out["source"] = "traces"
    out["effect_measure"] = "difference in conversion"
    out["std_measure"] = "cohen_h"
    step_rank = {s: i for i, s in enumerate(order)}
    test_rank = {t: i for i, t in enumerate(_TESTS)}
    out = out.assign(
        _s=out["step"].map(step_rank),
        _t=out["test"].map(test_rank),
        _p=(out["persona"].astype(str) != ALL).astype(int),
    )
    return out.sort_values(["_t", "_s", "_p"], kind="stable").drop(columns=["_s", "_t", "_p"])


test_traces.__test__ = False  # not a pytest test
