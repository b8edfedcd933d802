"""Friction in interviews: more negative excerpts at a touchpoint than the study's baseline.

For each touchpoint, overall and per persona (a *cell*), :func:`test_qual` compares the
share of negative excerpts (valence below 0) in the cell with the *baseline*: the share among
every other excerpt of the study (``baseline="study"``), or among the same persona's excerpts
at the other touchpoints (``baseline="persona"``).

A double-coded excerpt counts once, with its coders' mean valence.

Clustering. Excerpts of one participant are not independent. With enough participants in the
cell (``min_participants``, default 10) and in the study (20), the difference in shares is
tested with a participant-clustered (CR1) standard error: the linear probability model
``negative ~ in_cell`` with ``statsmodels``' cluster-robust covariance and a t test on
``participants − 1`` degrees of freedom (``method="cluster"``). Smaller cells, the usual case
for a persona in an interview study, use Fisher's exact test on the excerpt counts
(``method="fisher"``). **Caveat**: Fisher's test takes excerpts as independent. It is exact
for the cell when each participant gives at most one excerpt to it (as when a participant
speaks of a touchpoint once), but it understates the variance of the baseline share when some
participants speak much more negatively than others; read its p-values as indicative. The
``n`` column counts excerpts, ``n_participants`` is in ``group``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .._compat import deprecated_args
from ..errors import AnalysisError, Problem, check_one_of
from . import _stats as st
from ._table import ALL, check_common, finish, in_order

__all__ = ["test_qual", "excerpt_level"]


def excerpt_level(data: pd.DataFrame, negative_below: float = 0.0) -> pd.DataFrame:
    """One row per excerpt and touchpoint: ``excerpt_id, participant, persona, touchpoint,
    valence`` (mean over coders) and ``negative`` (valence < ``negative_below``)."""
    need = ["excerpt_id", "participant", "touchpoint", "valence"]
    missing = [c for c in need if c not in data.columns]
    if missing:
        raise AnalysisError(
            "test_qual: the excerpts lack columns.",
            [
                Problem(
                    f"missing column(s) {missing}",
                    fix="read them with pr.qual.read_excerpts (columns excerpt_id, "
                    "participant, touchpoint, valence, persona)",
                )
            ],
        )
    d = data.copy()
    if "persona" not in d.columns:
        d["persona"] = pd.NA
    d["valence"] = pd.to_numeric(d["valence"], errors="coerce")
    d = d[d["valence"].notna() & d["touchpoint"].notna()]
    d = (
        d.groupby(["excerpt_id", "touchpoint"], sort=False, dropna=False)
        .agg(
            participant=("participant", "first"),
            persona=("persona", "first"),
            valence=("valence", "mean"),
        )
        .reset_index()
    )
    d["negative"] = (d["valence"].astype(float) < negative_below).astype(float)
    for c in ("excerpt_id", "participant", "persona", "touchpoint"):
        d[c] = d[c].astype("string")
    return d[["excerpt_id", "participant", "persona", "touchpoint", "valence", "negative"]]


def _cluster_test(y, in_cell, groups, alternative, conf):
    # the two pieces, not statsmodels.api (which imports its time-series models too)
    from statsmodels.regression.linear_model import OLS
    from statsmodels.tools.tools import add_constant

    x = add_constant(in_cell.astype(float), has_constant="add")
    fit = OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    diff, se = float(fit.params[1]), float(fit.bse[1])
    df = float(fit.df_resid_inference)
    t = diff / se if se > 0 else np.nan
    p = float(st.t_pvalue(t, df, alternative)) if se > 0 else (1.0 if diff <= 0 else np.nan)
    q = stats.t.ppf(0.5 + conf / 2, df)
    return t, p, diff, se, df, diff - q * se, diff + q * se


@deprecated_args(renamed={"conf": "confidence"})
def test_qual(
    data,
    *,
    baseline: str = "study",
    method: str = "auto",
    negative_below: float = 0.0,
    min_excerpts: int = 3,
    min_participants: int = 10,
    odds_ratio: str = "auto",
    alternative: str = "worse",
    confidence: float = 0.95,
    alpha: float = 0.05,
    power: float = 0.8,
    correction: str = "bh",
    family: str = "test",
) -> pd.DataFrame:
    """Test whether excerpts about a touchpoint are more often negative than the baseline.

    Parameters
    ----------
    data : Study or DataFrame
        A loaded study (its ``qual:`` excerpts are read with
        :func:`parcours_research.qual.read_excerpts`) or excerpts with columns
        ``excerpt_id, participant, touchpoint, valence`` (and ``persona``).
    baseline : {"study", "persona"}, default "study"
        Compare the cell with every other excerpt of the study, or with the same persona's
        excerpts at other touchpoints (persona rows only; overall rows use the study).
    method : {"auto", "cluster", "fisher"}, default "auto"
        ``"cluster"``: participant-clustered difference in shares (t on participants − 1 df);
        ``"fisher"``: Fisher's exact test on excerpt counts (see the module's caveat);
        ``"auto"``: cluster when the cell has at least ``min_participants`` participants and
        the comparison at least 20, Fisher otherwise.
    negative_below : float, default 0
        An excerpt is negative when its (mean) valence is below this.
    min_excerpts : int, default 3
        Cells with fewer excerpts are not tested.
    min_participants : int, default 10
    odds_ratio : {"auto", "woolf"}, default "auto"
        Conditional maximum-likelihood odds ratio with its exact interval for Fisher rows
        (``"auto"``), or Woolf's everywhere (faster).
    alternative, confidence, alpha, power, correction, family
        As in :func:`parcours_research.friction.test_traces`; ``"worse"`` means *more*
        negative excerpts.

    Returns
    -------
    DataFrame
        The test table (see :func:`parcours_research.friction.test_traces`), one row per
        touchpoint and persona (``"all"`` for everyone), test ``vs_baseline``: ``estimate``
        the cell's negative share, ``reference`` the baseline's, ``effect_size`` their
        difference (positive: more negative excerpts) with Newcombe's interval (Fisher) or
        the cluster-robust one, ``std_effect`` Cohen's h, ``odds_ratio`` (conditional MLE
        with exact interval for Fisher; Woolf otherwise), ``n`` the cell's excerpts,
        ``n_ref`` the baseline's, ``group`` the number of participants in the cell.
    """
    conf = confidence  # the internal name
    _check_args(alternative, conf, alpha, power, correction, family, baseline, method, odds_ratio)
    data, order_tp, order_p = _excerpts_of(data)
    ex = excerpt_level(data, negative_below)
    rows = []
    if not ex.empty:
        options = dict(
            baseline=baseline,
            method=method,
            min_excerpts=min_excerpts,
            min_participants=min_participants,
            odds_ratio=odds_ratio,
            alternative=alternative,
            conf=conf,
            alpha=alpha,
            power=power,
        )
        rows = _cell_rows(ex, order_tp, order_p, **options)
    out = None
    if rows:
        out = pd.DataFrame(rows)
        out["source"] = "qual"
        out["effect_measure"] = "difference in negative share"
        out["std_measure"] = "cohen_h"
    return finish(
        out,
        worse_sign=1,
        alternative=alternative,
        correction=correction,
        alpha=alpha,
        family=family,
    )


def _check_args(alternative, conf, alpha, power, correction, family, baseline, method, odds_ratio):
    """Check the arguments of :func:`test_qual`."""
    check_common(alternative, conf, alpha, power, correction, family)
    check_one_of("baseline", baseline, ("study", "persona"))
    check_one_of("method", method, ("auto", "cluster", "fisher"))
    check_one_of("odds_ratio", odds_ratio, ("auto", "woolf"))


def _excerpts_of(data) -> tuple[pd.DataFrame, list, list]:
    """The excerpts of ``data`` (a study's prepared ones, or ``data`` itself), with the study's
    touchpoint and persona orders (empty for a DataFrame)."""
    from ..evidence import evidence_of

    order_tp, order_p = [], []
    ev = evidence_of(data)
    if ev is not None:
        order_tp = [t.id for t in ev.study.journey.touchpoints]
        order_p = list(ev.study.journey.persona_ids)
        data = ev.excerpts
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(
            "test_qual: data must be a Study or a DataFrame of excerpts.",
            [Problem(f"got {type(data).__name__}", fix="pass pr.qual.read_excerpts(study)")],
        )
    return data, order_tp, order_p


def _cell_rows(ex, order_tp, order_p, *, baseline, min_excerpts, **options) -> list[dict]:
    """One test row per touchpoint and persona (``"all"`` first) with enough excerpts in the
    cell and its baseline."""
    y = ex["negative"].to_numpy()
    tp_arr = ex["touchpoint"].to_numpy(dtype=object)
    pers_arr = ex["persona"].fillna("\x00").to_numpy(dtype=object)
    groups = pd.factorize(ex["participant"].fillna("\x00"))[0]
    tps = in_order(list(pd.unique(ex["touchpoint"])), order_tp)
    personas = in_order(list(pd.unique(ex["persona"].dropna())), order_p)
    rows = []
    for tp in tps:
        for p in [ALL, *personas]:
            cell = (tp_arr == tp) & ((pers_arr == p) if p != ALL else True)
            own = p != ALL and baseline == "persona"
            ref = ((pers_arr == p) & (tp_arr != tp)) if own else ~cell
            if int(cell.sum()) < min_excerpts or int(ref.sum()) < min_excerpts:
                continue
            row = {"touchpoint": tp, "persona": p, "test": "vs_baseline"}
            row.update(_cell_test(y, cell, ref, groups, **options))
            row["comparison"] = "persona baseline" if own else "study baseline"
            rows.append(row)
    return rows


def _cell_test(
    y, cell, ref, groups, *, method, min_participants, odds_ratio, alternative, conf, alpha, power
) -> dict:
    """The test of one cell against its baseline: cluster-robust or Fisher (``method``)."""
    n1, n2 = int(cell.sum()), int(ref.sum())
    k1, k2 = float(y[cell].sum()), float(y[ref].sum())
    g_cell = len(np.unique(groups[cell]))
    g_all = len(np.unique(groups[cell | ref]))
    use = method
    if method == "auto":
        use = "cluster" if (g_cell >= min_participants and g_all >= 20) else "fisher"
    p1, p2 = k1 / n1, k2 / n2
    h = float(st.cohens_h(p1, p2))
    h_lo, h_hi = st.h_interval(h, n1, n2, conf)
    row = {
        "n": n1,
        "n_ref": n2,
        "estimate": p1,
        "reference": p2,
        "std_effect": h,
        "std_ci_low": float(h_lo),
        "std_ci_high": float(h_hi),
        "group": f"{g_cell} participants",
    }
    alt = st.one_sided(alternative, 1)
    mde = dict(alpha=alpha, power=power, alternative=alternative)
    if use == "cluster":
        sub = cell | ref
        row.update(_cluster_cols(y[sub], cell[sub], groups[sub], p2, alt, conf, **mde))
        orr = st.odds_ratio_woolf(k1, n1, k2, n2, conf)
    else:
        row.update(_fisher_cols(k1, n1, k2, n2, alt, conf, **mde))
        orr = (
            st.odds_ratio_exact(k1, n1, k2, n2, conf)
            if odds_ratio == "auto"
            else st.odds_ratio_woolf(k1, n1, k2, n2, conf)
        )
    for name, v in zip(("odds_ratio", "or_ci_low", "or_ci_high"), orr):
        row[name] = float(np.asarray(v).ravel()[0])
    return row


def _cluster_cols(y, in_cell, groups, p2, alt, conf, *, alpha, power, alternative) -> dict:
    """Columns of the participant-clustered difference in shares."""
    t, pv, diff, se, df, lo, hi = _cluster_test(y, in_cell, groups, alt, conf)
    mde = float(st.mde_t(se, df, alpha, power, alternative))
    return {
        "statistic": t,
        "p_value": pv,
        "effect_size": diff,
        "ci_low": lo,
        "ci_high": hi,
        "df": df,
        "method": "cluster-robust t (participants)",
        "mde": mde,
        "mde_std": float(st.cohens_h(min(p2 + mde, 1.0), p2)),
    }


def _fisher_cols(k1, n1, k2, n2, alt, conf, *, alpha, power, alternative) -> dict:
    """Columns of Fisher's exact test on the excerpt counts."""
    res = stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative=alt)
    lo, hi = st.newcombe_interval(k1, n1, k2, n2, conf)
    mh = st.mde_h(n1, n2, alpha, power, alternative)
    return {
        "statistic": float(res.statistic),
        "p_value": float(res.pvalue),
        "effect_size": k1 / n1 - k2 / n2,
        "ci_low": float(lo),
        "ci_high": float(hi),
        "method": "Fisher exact (excerpts)",
        "mde_std": float(mh),
        "mde": float(st.h_to_difference(k2 / n2, mh, 1)),
    }


test_qual.__test__ = False  # not a pytest test
