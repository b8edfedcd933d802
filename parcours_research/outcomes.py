"""What a friction costs: the outcomes of the customers who met it.

With outcome columns in the customer file, declared in study.yml (``outcomes: {churned: binary,
revenue: amount}``), :func:`at_stake` compares, per touchpoint × persona, the outcome of the
customers who *met the friction* with that of the other customers who went through the
touchpoint, adjusted for the customers' tenure (and, per touchpoint, their persona), and says
how many customers and how much value are at stake if the touchpoint reached its target.

>>> import parcours_research as pr
>>> res = pr.outcomes.at_stake(pr.load_study("data/sample"), outcome="churned")  # doctest: +SKIP
>>> res.flagged                                                                  # doctest: +SKIP
>>> pr.plot.at_stake(res)                                                        # doctest: +SKIP

Who met the friction (``met=``, :func:`exposure`)
-------------------------------------------------
``"traces"``
    A customer *went through* a touchpoint when their (cleaned, stitched) traces reach the start
    of its trace step, and *met the friction* when they never reach its end: the step of a
    touchpoint with a start and an end event (``events: [kyc_upload, kyc_done]``), else the
    funnel step ending at its event (``traces: funnel``), with the study's funnel window: the
    per-person table of :func:`parcours_research.traces.funnel_users`, the one funnel of the kit.
    Every customer in the log counts (a census, no weights). Unlike
    :func:`parcours_research.friction.trace_counts`, customers who started the step late in the
    period are not left out (no right censoring): the outcome is observed for them too.
``"survey"``
    A respondent went through a touchpoint when they rated it, and met the friction when they
    rated it ``low`` or less (default 2 on the 1-5 scale); respondents without a customer id in
    the customer file are left out. Unweighted (the comparison is within a persona).
``"either"``
    Went through it by either source; met it by either.
``"auto"`` (default)
    ``"traces"`` for the touchpoints with a trace step, ``"survey"`` for the others.

The comparison (per touchpoint × persona, ``by="persona"``)
-----------------------------------------------------------
Among the customers who went through the touchpoint, ``estimate`` is the difference of the mean
outcome of those who met the friction and those who did not, adjusted by regression: the
interacted linear regression ``y ~ met + x + met·x`` on the covariates ``x`` centred at the
cell's means, whose coefficient of ``met`` is the difference standardised to the cell's
covariate mix (Lin 2013, *Ann. Appl. Stat.* 7:295; Imbens & Rubin 2015, ch. 7). For a binary
outcome it is a difference of probabilities (risk difference, in probability points). The
covariates (``adjust=``) default to the customer file's tenure column; ``by=None`` compares per
touchpoint over every persona, with the persona's indicators among the covariates.

Intervals come from a seeded bootstrap stratified by group (customers resampled within the met
and the other group: ``n_boot`` replicates; percentile intervals, Efron & Tibshirani 1993,
ch. 13). For a binary outcome each group's pool also holds two pseudo-customers, one with and
one without the event, at the group's covariate means (Agresti & Caffo 2000, *Am. Stat.*
54:280): without them a small group where nobody churned would not vary from replicate to
replicate and its interval would be falsely narrow. The p-value is the two-sided p-value of ``estimate / se`` on Student's t with the smaller group's
size minus one degrees of freedom (a conservative choice for two groups of unequal size and
variance, Welch's df bounded below; it matters only for small groups), ``se`` the classical
least-squares standard error from the pooled residual variance (:func:`null_se`: valid under the
null, where both groups share one distribution; without covariates it is the pooled two-sample
z test), which stays honest for small groups of a binary outcome. P-values are corrected over all the cells of the call with
:func:`parcours_research.friction.correction.adjust_pvalues` (Benjamini–Hochberg by default) and a cell is
``flagged`` when ``p_adj < alpha``. Cells with fewer than ``min_n`` customers in either group
are reported without a test.

At stake
--------
``target_share`` is the share of customers who would meet the friction if the touchpoint
reached its target: the share among the other personas' customers (the touchpoint working for
this persona as it does for the others; with ``by=None`` the lowest persona's share), or
``target=`` (a share, or one per touchpoint). ``excess_met = n × max(met_share −
target_share, 0)`` customers meet the friction beyond it. For a binary outcome,
``customers_at_stake = excess_met × estimate`` (e.g. churners that reaching the target would
keep) and ``value_at_stake = customers_at_stake × `` the cell's mean of the ``value=`` amount
column (default the first ``amount`` outcome declared, e.g. revenue); for an amount outcome,
``customers_at_stake = excess_met`` and ``value_at_stake = excess_met × estimate``. Their
intervals are the bootstrap percentiles of the same products.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._accounting import accounting, left_out
from .errors import AnalysisError, Problem, check_one_of

__all__ = [
    "at_stake",
    "exposure",
    "AtStake",
    "MET_RULES",
    "SUMMARY_COLUMNS",
    "adjusted_difference",
    "null_se",
]

#: Accepted values of ``met=``.
MET_RULES = ("auto", "traces", "survey", "either")
#: Columns of :attr:`AtStake.summary`.
SUMMARY_COLUMNS = [
    "touchpoint",
    "persona",
    "rule",
    "n",
    "n_met",
    "met_share",
    "outcome_met",
    "outcome_others",
    "estimate",
    "ci_low",
    "ci_high",
    "se",
    "p_value",
    "p_adj",
    "flagged",
    "target_share",
    "excess_met",
    "customers_at_stake",
    "customers_at_stake_low",
    "customers_at_stake_high",
    "value_at_stake",
    "value_at_stake_low",
    "value_at_stake_high",
]
_TENURE = ("tenure_years", "tenure", "tenure_months", "seniority", "anciennete")
ALL = "all"


# ---------------------------------------------------------------------------------------------
# who met the friction
# ---------------------------------------------------------------------------------------------
def _trace_steps(study) -> dict[str, tuple]:
    """``{touchpoint: (events in funnel order, index of the end event)}``: a touchpoint's own
    step (start and end events), else the funnel step ending at one of its events."""
    tps = study.journey.touchpoints
    funnel = list(study.traces.funnel) if study.traces is not None else []
    out = {}
    for t in tps:
        if len(t.events) >= 2 and t.events[0] != t.events[-1]:
            out[t.id] = ((t.events[0], t.events[-1]), 1)
        else:
            ends = [i for i, e in enumerate(funnel) if i > 0 and e in t.events]
            if ends:
                out[t.id] = (tuple(funnel), ends[0])
    return out


def _trace_exposure(study, known: pd.Index) -> pd.DataFrame:
    """``code, touchpoint, met`` from the prepared event log (see the module notes); ``code``
    the customer's position in ``known``."""
    from .evidence import prepare

    log = prepare(study).traces.log
    window = getattr(study.traces, "funnel_window", None) or "7D"
    steps = _trace_steps(study)
    persons = _funnel_persons(log, list(dict.fromkeys(s for s, _ in steps.values())), window, known)
    parts = []
    for tp, (seq, i) in steps.items():
        codes, furthest = persons[seq]
        keep = (codes >= 0) & (furthest >= i)  # the customer file's customers at the step's start
        parts.append(
            pd.DataFrame({"code": codes[keep], "touchpoint": tp, "met": furthest[keep] < i + 1})
        )
    return _stack(parts)


def _funnel_persons(log, seqs: list, window, known: pd.Index) -> dict:
    """``{seq: (codes, furthest)}``: the persons of the log in the order of their id (as
    :func:`parcours_research.traces.funnel_users` lists them), each person's position in
    ``known`` (-1: not a customer) and furthest step of the funnel ``seq``. On an in-memory log,
    from the log's sorted arrays, the funnels kept with them (shared with
    :func:`parcours_research.friction.trace_counts`) and one look-up of the ids; else from
    :func:`parcours_research.traces.funnel_users`."""
    if log.engine.fast:
        import pyarrow.compute as pc

        from .friction.counts import _furthest_codes
        from .traces import _arrays
        from .traces._frames import prime

        prime(log)  # as funnel_users: the events in memory, sorted from their own buffers
        s = _arrays.get_sorted(log)
        order = pc.array_sort_indices(s.persons).to_numpy()  # ids: one each, sorted as text
        codes = known.get_indexer(s.persons.take(order).to_numpy(zero_copy_only=False))
        return {q: (codes, _furthest_codes(log, s, list(q), window)[order]) for q in seqs}
    from .traces import funnel_users

    out, last = {}, (None, None)
    for q in seqs:
        f = funnel_users(log, steps=list(q), window=window)
        ids = f["user_id"].astype(str).reset_index(drop=True)
        if last[0] is None or not ids.equals(last[0]):  # the funnels list the same persons
            last = (ids, known.get_indexer(ids.to_numpy(object)))
        out[q] = (last[1], f["furthest_step"].to_numpy())
    return out


def _survey_exposure(study, low: float, known: pd.Index) -> pd.DataFrame:
    """``code, touchpoint, met`` from the survey: rated it; rated it ``low`` or less."""
    cid = _survey_ids(study)
    if cid is None:
        return _stack([])
    long = study.ratings_long(keep=[cid])
    long = long[long[cid].notna()]
    code = known.get_indexer(long[cid].astype(str).to_numpy(object))
    keep = code >= 0
    out = pd.DataFrame(
        {
            "code": code[keep],
            "touchpoint": long["touchpoint"].to_numpy()[keep],
            "met": (long["score"] <= low).to_numpy()[keep],
        }
    )
    return out.groupby(["code", "touchpoint"], as_index=False, sort=False)["met"].max()


def _survey_ids(study) -> str | None:
    """The responses' customer id column; None when they have none."""
    cid = getattr(study.survey, "customer_id", None) or "customer_id"
    return None if study.responses is None or cid not in study.responses.columns else cid


def _id_index(ids: pd.Series) -> pd.Index:
    """The distinct ids as text, an index to look ids up in (a hash table of Python strings:
    faster than ``Series.isin`` of a set on Arrow-backed text)."""
    return pd.Index(pd.unique(ids.astype(str).to_numpy(object)), dtype=object)


def _stack(parts: list) -> pd.DataFrame:
    cols = {"code": "int64", "touchpoint": "string", "met": "bool"}
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    return pd.concat(parts, ignore_index=True).astype(cols)


def _exposure_parts(study, met: str, low: float) -> tuple:
    """``(ids, steps, traces, survey)``: the customer file's distinct ids, the trace steps and
    the coded tables of the two sources (``code``: the customer's position in ``ids``)."""
    known = _id_index(study.customers["customer_id"])
    steps = _trace_steps(study) if study.traces is not None else {}
    tr = _trace_exposure(study, known) if steps and met != "survey" else _stack([])
    sv = _survey_exposure(study, low, known) if met != "traces" else _stack([])
    return known, steps, tr, sv


def _combined(tr: pd.DataFrame, sv: pd.DataFrame, met: str, steps: dict, key: str):
    """The rows of the rule ``met`` from the two sources' tables, customers in column ``key``."""
    if met == "auto":
        sv = sv[~sv["touchpoint"].isin(list(steps))]
        out = pd.concat([tr.assign(rule="traces"), sv.assign(rule="survey")], ignore_index=True)
    elif met == "either":
        both = pd.concat([tr, sv], ignore_index=True)
        out = both.groupby([key, "touchpoint"], as_index=False, sort=False)["met"].max()
        out = out.assign(rule="either")
    else:
        out = (tr if met == "traces" else sv).assign(rule=met)
    return out[[key, "touchpoint", "rule", "met"]].reset_index(drop=True)


def _coded_exposure(study, met: str, low: float) -> tuple[pd.Index, pd.DataFrame]:
    """``(ids, table)``: the customer file's distinct ids and :func:`exposure`'s table with
    ``code`` (the customer's position in ``ids``) in place of ``customer_id``."""
    known, steps, tr, sv = _exposure_parts(study, met, low)
    return known, _combined(tr, sv, met, steps, "code")


def _with_ids(ids: pd.Index, coded: pd.DataFrame, dtype: str | None = "string") -> pd.DataFrame:
    """``coded`` with the ids as text (``customer_id``, of type ``dtype``; None: as pandas
    infers it) in place of their ``code``."""
    cid = ids.to_numpy(object)[coded["code"].to_numpy()]
    cid = pd.array(cid, dtype=dtype) if dtype else cid
    return pd.concat([pd.DataFrame({"customer_id": cid}), coded.drop(columns="code")], axis=1)


def exposure(study, *, met: str = "auto", low: float = 2) -> pd.DataFrame:
    """Which customers went through each touchpoint, and which of them met its friction.

    Parameters
    ----------
    study : Study or Evidence
    met : {"auto", "traces", "survey", "either"}, default "auto"
        The definition (see the module notes).
    low : float, default 2
        A rating at or below ``low`` counts as meeting the friction (survey rule).

    Returns
    -------
    DataFrame
        ``customer_id, touchpoint, rule, met``: one row per customer and touchpoint they went
        through; ``rule`` says which source decided (``traces``, ``survey`` or ``either``).
    """
    study = _study(study)
    check_one_of("met", met, MET_RULES)
    known, steps, tr, sv = _exposure_parts(study, met, low)
    # the ids as text, typed as the sources gave them ("string", the survey's as pandas infers)
    sv = _with_ids(known, sv, None if met != "traces" and _survey_ids(study) else "string")
    return _combined(_with_ids(known, tr), sv, met, steps, "customer_id")


# ---------------------------------------------------------------------------------------------
# the adjusted difference and its bootstrap
# ---------------------------------------------------------------------------------------------
def _design(met: np.ndarray, x: np.ndarray, center: np.ndarray | None = None) -> np.ndarray:
    """``[1, met, xc, met·xc]`` with ``x`` centred at its mean, or ``center`` (Lin 2013)."""
    m = met.astype(float)[:, None]
    xc = x - (x.mean(axis=0) if center is None else center) if x.size else x
    return np.hstack([np.ones_like(m), m, xc, m * xc])


def adjusted_difference(y, met, covariates=None) -> float:
    """Regression-adjusted difference of means ``met − not met`` (Lin 2013): the coefficient
    of ``met`` in the least-squares fit of ``y ~ met + xc + met·xc``, ``xc`` the covariates
    centred at their means. Without covariates, the difference of the two means."""
    y = np.asarray(y, dtype=float)
    met = np.asarray(met, dtype=bool)
    x = (
        np.empty((len(y), 0))
        if covariates is None
        else np.asarray(covariates, dtype=float).reshape(len(y), -1)
    )
    beta = np.linalg.lstsq(_design(met, x), y, rcond=None)[0]
    return float(beta[1])


def null_se(y, met, covariates=None) -> float:
    """Standard error of :func:`adjusted_difference` from the pooled residual variance (the
    classical least-squares standard error: valid under the null of no difference, where both
    groups share one distribution; without covariates, the pooled two-sample z test's)."""
    y = np.asarray(y, dtype=float)
    met = np.asarray(met, dtype=bool)
    x = (
        np.empty((len(y), 0))
        if covariates is None
        else np.asarray(covariates, dtype=float).reshape(len(y), -1)
    )
    d = _design(met, x)
    beta, *_ = np.linalg.lstsq(d, y, rcond=None)
    resid = y - d @ beta
    s2 = resid @ resid / max(len(y) - d.shape[1], 1)
    return float(np.sqrt(s2 * np.linalg.pinv(d.T @ d)[1, 1]))


def _with_pseudo(y, met, x) -> tuple:
    """``y, met, x`` with two pseudo-customers per group, one with and one without the event,
    at the group's covariate means (the Agresti–Caffo "add one success and one failure per
    group", Agresti & Caffo 2000, *Am. Stat.* 54:280)."""
    ys, ms, xs = [y], [met], [x]
    for g in (True, False):
        xg = x[met == g].mean(axis=0, keepdims=True) if x.shape[1] else np.empty((1, 0))
        ys.append(np.array([1.0, 0.0]))
        ms.append(np.array([g, g]))
        xs.append(np.repeat(xg, 2, axis=0))
    return np.concatenate(ys), np.concatenate(ms), np.vstack(xs)


def _resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """How many times each of ``n`` customers is drawn in each of ``n_boot`` resamples with
    replacement of size ``n``: ``(n_boot, n)`` counts, each row Multinomial(n, 1/n), drawn as
    :func:`_resample_into` draws them."""
    w = np.empty((n_boot, n))
    _resample_into(w, np.arange(n), rng)
    return w.astype(np.int64)


def _resample_into(w: np.ndarray, idx: np.ndarray, rng: np.random.Generator) -> None:
    """Write into the columns ``idx`` of ``w`` (``n_boot`` rows) how many times each of these
    ``n = len(idx)`` customers is drawn in each of ``n_boot`` resamples with replacement of size
    ``n`` (each row Multinomial(n, 1/n)). Drawn as uniform integers,
    ``rng.integers(0, n, size=(n_boot, n))``, and counted row by row: the same distribution as
    ``rng.multinomial`` and about 25 times faster, since NumPy's multinomial draws one binomial
    per customer and replicate. The draws are the same in 32-bit integers (NumPy draws
    ``integers`` below 2**32 from 32-bit words whatever the output type)."""
    n = len(idx)
    if n == 0:
        return
    draws = rng.integers(0, n, size=(w.shape[0], n), dtype=np.int32 if n < 2**31 else np.int64)
    _count_kernel()(w, draws, np.asarray(idx, dtype=np.int64))


def _count_draws(w, draws, idx):  # pragma: no cover - compiled by numba
    """``w[b, idx[j]] = `` how many times ``j`` is among ``draws[b]``, for every row ``b``."""
    n = draws.shape[1]
    counts = np.zeros(n, np.int32)
    for b in range(draws.shape[0]):
        counts[:] = 0
        for j in range(n):
            counts[draws[b, j]] += 1
        for j in range(n):
            w[b, idx[j]] = counts[j]


_KERNEL: list = []


def _count_kernel():
    """:func:`_count_draws` compiled (numba, cached on disk; imported on first use)."""
    if not _KERNEL:
        from numba import njit

        _KERNEL.append(njit(cache=True, nogil=True)(_count_draws))
    return _KERNEL[0]


def _bootstrap(
    y, met, x, n_boot: int, rng: np.random.Generator, binary: bool = False
) -> np.ndarray:
    """``n_boot`` bootstrap replicates of :func:`adjusted_difference`, customers resampled with
    replacement within each group (:func:`_resample_into`; weighted normal equations, batched).
    With ``binary``, each group's pool also holds the two pseudo-customers of
    :func:`_with_pseudo` (a group where nobody churned still varies from replicate to
    replicate)."""
    center = x.mean(axis=0) if x.shape[1] else None
    if binary:
        y, met, x = _with_pseudo(y, met, x)
    d = _design(met, x, center)
    w = np.empty((n_boot, len(y)))  # the two groups fill every column
    for grp in (met, ~met):
        _resample_into(w, np.flatnonzero(grp), rng)
    # the weighted normal equations of every replicate as two matrix products (BLAS): the
    # same sums as an einsum over replicates, customers and design columns, in another order
    k = d.shape[1]
    xtx = (w @ (d[:, :, None] * d[:, None, :]).reshape(len(y), k * k)).reshape(n_boot, k, k)
    xty = w @ (d * y[:, None])
    beta = np.einsum("bij,bj->bi", np.linalg.pinv(xtx), xty)
    return beta[:, 1]


# ---------------------------------------------------------------------------------------------
# the analysis
# ---------------------------------------------------------------------------------------------
def _study(study):
    from ._inputs import study_of
    from .study import load_study

    if isinstance(study, str) or hasattr(study, "__fspath__"):
        study = load_study(study)
    st = study_of(study)
    if st is None:
        raise AnalysisError(f"Expected a Study (or a study folder); got {type(study).__name__}.")
    return st


def _check(study, outcome, by, value, adjust, n_boot, confidence, alpha, min_n) -> tuple:
    """Validate the arguments of :func:`at_stake`; returns ``(kind, value column, covariates)``."""
    where = "study.yml"
    if study.customers is None or not study.outcomes:
        raise AnalysisError(
            "at_stake: the study declares no outcome column.",
            [
                Problem(
                    "no `outcomes:`",
                    where,
                    fix="add `customers:` and `outcomes: {churned: binary, "
                    "revenue: amount}` to study.yml (columns of the customer file)",
                )
            ],
        )
    if outcome not in study.outcomes:
        raise AnalysisError(
            f"at_stake: outcome={outcome!r} is not declared.",
            [
                Problem(
                    f"declared outcomes: {', '.join(study.outcomes)}",
                    where,
                    column="outcomes",
                    fix="pass one of them, or declare it under `outcomes:`",
                )
            ],
        )
    if by not in ("persona", None):
        raise AnalysisError(f"by={by!r} must be 'persona' or None (per touchpoint).")
    for name, v in (("confidence", confidence), ("alpha", alpha)):
        if not 0 < v < 1:
            raise AnalysisError(f"{name}={v!r} must be between 0 and 1.")
    if not (isinstance(n_boot, int | np.integer) and n_boot >= 50):
        raise AnalysisError(f"n_boot={n_boot!r} must be an integer of at least 50 (999 is usual).")
    if not (isinstance(min_n, int | np.integer) and min_n >= 2):
        raise AnalysisError(f"min_n={min_n!r} must be an integer of at least 2.")
    amounts = [c for c, k in study.outcomes.items() if k == "amount"]
    if value is None:
        value = amounts[0] if amounts else None
    elif value not in amounts:
        raise AnalysisError(
            f"value={value!r} must be an amount outcome ({', '.join(amounts) or 'none declared'})."
        )
    cols = study.customers.columns
    if adjust is None:
        adjust = [c for c in _TENURE if c in cols][:1]
    adjust = [adjust] if isinstance(adjust, str) else list(adjust)
    missing = [c for c in adjust if c not in cols]
    if missing:
        raise AnalysisError(
            f"adjust: {missing} not in the customer file.",
            [
                Problem(
                    "unknown covariate(s)",
                    fix=f"name numeric columns of the customer file: {', '.join(map(str, cols))}",
                )
            ],
        )
    return study.outcomes[outcome], value, adjust


def _customers(study, outcome: str, value: str | None, adjust: list) -> tuple:
    """``customer_id, persona, y, value`` and the covariates (rows with all of them), and
    where every customer of the file went (:func:`parcours_research._accounting.accounting`)."""
    c = study.customers
    out = pd.DataFrame(
        {
            "customer_id": c["customer_id"].astype(str).to_numpy(),
            "persona": c["persona"].astype(object).to_numpy() if "persona" in c else ALL,
            "y": pd.to_numeric(c[outcome], errors="coerce").to_numpy(),
        }
    )
    out["value"] = pd.to_numeric(c[value], errors="coerce").to_numpy() if value else np.nan
    for i, col in enumerate(adjust):
        out[f"_x{i}"] = pd.to_numeric(c[col], errors="coerce").to_numpy()
    checks = {"no outcome": out["y"].notna().to_numpy(),
              "no persona": out["persona"].notna().to_numpy()}
    for i, col in enumerate(adjust):
        checks[f"no {col}"] = out[f"_x{i}"].notna().to_numpy()
    accounted, keep = accounting(checks, len(out), read="customer file", unit="customers")
    return out[keep], accounted


def _joined(ids: pd.Index, ex: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """``exposure.merge(customers, on="customer_id", how="inner")`` (the exposure's row order)
    from the coded exposure ``ex`` (:func:`_coded_exposure`) by a look-up of the codes, when
    the ids are unique in ``customers`` (the joined table then has ``code``, not
    ``customer_id``)."""
    cu = pd.Index(customers["customer_id"].to_numpy(object))
    if not cu.is_unique:
        return _with_ids(ids, ex).merge(customers, on="customer_id", how="inner")
    at = cu.get_indexer(ids.to_numpy(object))[ex["code"].to_numpy()]
    found = np.flatnonzero(at >= 0)
    right = customers.drop(columns="customer_id").iloc[at[found]].reset_index(drop=True)
    return pd.concat([ex.iloc[found].reset_index(drop=True), right], axis=1)


def _ranks(values: pd.Series, rank: dict) -> np.ndarray:
    """``values.map(rank)`` as sort keys (values without a rank last, in their order)."""
    codes, uniq = pd.factorize(values)
    r = np.array([rank.get(u, np.inf) for u in uniq] + [np.inf], dtype=float)
    return r[codes]


def _cell(frame: pd.DataFrame, xcols: list, n_boot: int, rng, min_n: int, binary: bool) -> dict:
    """The comparison in one cell: counts, raw means, estimate and bootstrap replicates."""
    x = frame[xcols].to_numpy(float) if xcols else np.empty((len(frame), 0))
    arrays = {"met": frame["met"].to_numpy(bool), "y": frame["y"].to_numpy(float), "x": x}
    return _cell_arrays(arrays, np.arange(len(frame)), n_boot, rng, min_n, binary)


def _cells(data: pd.DataFrame, by, n_boot: int, rng, min_n: int, binary: bool) -> list[dict]:
    """One row per touchpoint (× persona), in journey order."""
    if by is not None:
        return _persona_cells(data, n_boot, rng, min_n, binary)
    xcols = [c for c in data.columns if c.startswith("_x")]
    rows = []
    for (tp, rule), sub in data.groupby(["touchpoint", "rule"], sort=False):
        if by is None:
            dummies = pd.get_dummies(sub["persona"], prefix="_xp", dtype=float).iloc[:, 1:]
            frame = pd.concat([sub, dummies], axis=1)
            rows.append(
                {
                    "touchpoint": tp,
                    "persona": ALL,
                    "rule": rule,
                    **_cell(frame, xcols + list(dummies.columns), n_boot, rng, min_n, binary),
                    "_value": frame["value"].mean(),
                    "_ref": float(sub.groupby("persona")["met"].mean().min()),
                }
            )
            continue
        for p, frame in sub.groupby("persona", sort=False):
            rows.append(
                {
                    "touchpoint": tp,
                    "persona": p,
                    "rule": rule,
                    **_cell(frame, xcols, n_boot, rng, min_n, binary),
                    "_value": frame["value"].mean(),
                    "_ref": float(sub.loc[sub["persona"] != p, "met"].mean()),
                }
            )
    return rows


def _persona_cells(data: pd.DataFrame, n_boot: int, rng, min_n: int, binary: bool) -> list:
    """:func:`_cells` per touchpoint × persona on the columns as arrays: the groups of
    ``groupby(["touchpoint", "rule"], sort=False)`` then ``groupby("persona", sort=False)``
    (order of first appearance), the same cells in the same order (the same draws)."""
    xcols = [c for c in data.columns if c.startswith("_x")]
    arrays = {
        "met": data["met"].to_numpy(bool),
        "y": data["y"].to_numpy(float),
        "x": data[xcols].to_numpy(float) if xcols else np.empty((len(data), 0)),
        "value": data["value"].to_numpy(float),
    }
    tcode, tps = pd.factorize(data["touchpoint"])
    rcode, rules = pd.factorize(data["rule"])
    pcode, personas = pd.factorize(data["persona"])
    ok = (tcode >= 0) & (rcode >= 0) & (pcode >= 0)  # groupby leaves missing keys out
    gcode, pairs = pd.factorize(np.where(ok, tcode * max(len(rules), 1) + rcode, -1))
    rows = []
    for g, pair in enumerate(pairs):
        if pair < 0:
            continue
        sub = np.flatnonzero(gcode == g)
        tp, rule = tps[pair // max(len(rules), 1)], rules[pair % max(len(rules), 1)]
        for p in pd.unique(pcode[sub]):
            here = sub[pcode[sub] == p]
            rows.append(
                {
                    "touchpoint": tp,
                    "persona": personas[p],
                    "rule": rule,
                    **_cell_arrays(arrays, here, n_boot, rng, min_n, binary),
                    "_value": pd.Series(arrays["value"][here]).mean(),
                    "_ref": _mean(arrays["met"][sub[pcode[sub] != p]]),
                }
            )
    return rows


def _mean(values: np.ndarray) -> float:
    """``pd.Series(values).mean()`` of booleans (NaN when empty)."""
    return float(values.sum(dtype=np.float64) / len(values)) if len(values) else np.nan


def _cell_arrays(arrays: dict, rows: np.ndarray, n_boot, rng, min_n, binary) -> dict:
    """:func:`_cell` on the rows ``rows`` of the columns ``arrays``."""
    # the covariates column by column in memory, as ``DataFrame.to_numpy`` gives them (the
    # means over rows then add in the same order)
    m, y, x = arrays["met"][rows], arrays["y"][rows], np.asfortranarray(arrays["x"][rows])
    out = {
        "n": len(rows),
        "n_met": int(m.sum()),
        "met_share": float(m.mean()) if len(m) else np.nan,
        "outcome_met": float(y[m].mean()) if m.any() else np.nan,
        "outcome_others": float(y[~m].mean()) if (~m).any() else np.nan,
        "_boot": None,
    }
    if m.sum() < min_n or (~m).sum() < min_n:
        return {**out, "estimate": np.nan}
    x = x[:, x.std(axis=0) > 0] if x.size else x  # a constant covariate adds nothing
    out["estimate"] = adjusted_difference(y, m, x)
    out["se"] = null_se(y, m, x)
    out["_boot"] = _bootstrap(y, m, x, n_boot, rng, binary)
    return out


def _target_share(row: dict, target) -> float:
    """The met share at the touchpoint's target: ``target=``, else the other personas' (the
    lowest persona's for a touchpoint over every persona)."""
    if isinstance(target, Mapping):
        target = target.get(row["touchpoint"])
    return float(target) if target is not None else row["_ref"]


def _finish(rows: list[dict], kind: str, confidence: float, target) -> pd.DataFrame:
    """Intervals, p-values and the amounts at stake of every cell."""
    from scipy.stats import t as t_dist

    q = [(1 - confidence) / 2, (1 + confidence) / 2]
    out = []
    for r in rows:
        boot = r.pop("_boot")
        ts = _target_share(r, target)
        excess = r["n"] * max(r["met_share"] - ts, 0.0) if np.isfinite(ts) else np.nan
        row = {**r, "target_share": ts, "excess_met": excess}
        if boot is None:
            out.append(row)
            continue
        se, df = r["se"], min(r["n_met"], r["n"] - r["n_met"]) - 1
        row["p_value"] = float(2 * t_dist.sf(abs(r["estimate"]) / se, df)) if se > 0 else np.nan
        row["ci_low"], row["ci_high"] = (float(v) for v in np.quantile(boot, q))
        per = r["_value"] if kind == "binary" else 1.0
        for name, scale in (
            ("customers_at_stake", excess if kind == "binary" else np.nan),
            ("value_at_stake", excess * per),
        ):
            est = r["estimate"] * scale
            lo, hi = np.quantile(boot * scale, q) if np.isfinite(scale) else (np.nan, np.nan)
            row.update({name: est, f"{name}_low": lo, f"{name}_high": hi})
        if kind != "binary":
            row.update(
                customers_at_stake=excess,
                customers_at_stake_low=excess,
                customers_at_stake_high=excess,
            )
        out.append(row)
    return pd.DataFrame(out).reindex(columns=SUMMARY_COLUMNS)


def _correct(table: pd.DataFrame, correction: str, alpha: float) -> pd.DataFrame:
    from .friction.correction import adjust_pvalues

    p = table["p_value"].to_numpy(float)
    ok = np.isfinite(p)
    adj = adjust_pvalues(p, correction)
    table["p_adj"] = adj
    table["flagged"] = np.where(ok, adj < alpha, False).astype(bool)
    return table


def at_stake(
    study,
    *,
    outcome: str = "churned",
    by: str | None = "persona",
    met: str = "auto",
    low: float = 2,
    adjust: str | Sequence[str] | None = None,
    value: str | None = None,
    target: float | Mapping | None = None,
    n_boot: int = 999,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float = 0.05,
    correction: str = "bh",
    min_n: int = 10,
) -> AtStake:
    """The outcome difference of the customers who met each friction, and what is at stake.

    Parameters
    ----------
    study : Study, Evidence or path
        A study whose customer file holds the outcome columns declared under ``outcomes:``.
    outcome : str, default "churned"
        A declared outcome (``binary``: 0/1; ``amount``: a number).
    by : {"persona", None}, default "persona"
        Compare per touchpoint × persona, or per touchpoint (adjusted for persona).
    met : {"auto", "traces", "survey", "either"}, default "auto"
        Who met the friction (:func:`exposure`).
    low : float, default 2
        Survey rule: a rating at or below ``low`` meets the friction.
    adjust : str or list of str, optional
        Numeric covariates of the customer file (default its tenure column).
    value : str, optional
        Amount column valuing a customer, for a binary outcome (default the first ``amount``
        outcome).
    target : float or dict, optional
        The share of customers meeting the friction at the touchpoint's target (default: the
        other personas' share).
    n_boot : int, default 999
    seed : int, default 0
        Seed of the bootstrap (the result depends on it only).
    confidence : float, default 0.95
    alpha : float, default 0.05
        Level of ``flagged`` after correction.
    correction : str, default "bh"
        A correction of :func:`parcours_research.friction.correct` over the cells of the call.
    min_n : int, default 10
        Fewest customers in each group for a cell to be tested.

    Returns
    -------
    AtStake
        ``.summary`` (columns :data:`SUMMARY_COLUMNS`, see :class:`AtStake`), ``.flagged``.
    """
    study = _study(study)
    kind, value, adjust = _check(
        study, outcome, by, value, adjust, n_boot, confidence, alpha, min_n
    )
    check_one_of("met", met, MET_RULES)
    customers, accounted = _customers(study, outcome, value, adjust)
    data = _joined(*_coded_exposure(study, met, low), customers)
    order = {t.id: i for i, t in enumerate(study.journey.touchpoints)}
    rank = {**order, **{p: i for i, p in enumerate(study.journey.persona_ids)}}
    data = data.iloc[np.lexsort([_ranks(data["persona"], rank), _ranks(data["touchpoint"], rank)])]
    rng = np.random.default_rng(seed)
    table = _finish(
        _cells(data, by, int(n_boot), rng, min_n, kind == "binary"), kind, confidence, target
    )
    table = _correct(table, correction, alpha)
    return AtStake(
        summary=table,
        outcome=outcome,
        kind=kind,
        value=value,
        met=met,
        by=by,
        adjust=tuple(adjust),
        n_boot=int(n_boot),
        seed=seed,
        confidence=confidence,
        alpha=alpha,
        correction=correction,
        language=study.journey.language,
        customers=accounted,
    )


@dataclass(frozen=True, repr=False)
class AtStake:
    """The cost of the frictions: the result of :func:`at_stake`.

    Attributes
    ----------
    summary : DataFrame
        One row per touchpoint × persona (``persona`` ``"all"`` with ``by=None``): ``rule``
        (who met the friction: traces or survey), ``n`` customers who went through the
        touchpoint, ``n_met`` who met its friction, ``met_share``, ``outcome_met,
        outcome_others`` (raw means), ``estimate`` (adjusted difference met − others: probability
        points for a binary outcome, currency for an amount), ``ci_low, ci_high`` (bootstrap
        percentile), ``se`` (pooled, :func:`null_se`), ``p_value, p_adj, flagged``, ``target_share``,
        ``excess_met``, ``customers_at_stake`` (with ``_low, _high``), ``value_at_stake`` (with
        ``_low, _high``); see the module notes.
    outcome, kind, value, met, by, adjust, n_boot, seed, confidence, alpha, correction, language
        The settings.
    customers : DataFrame
        Where the customer file's customers went, one row per step: ``step`` (``customer
        file``, then each reason for leaving a customer out, in the order they are checked:
        ``no outcome``, ``no persona``, ``no <covariate>`` for each ``adjust`` column; then
        ``in the model``) and ``customers``. The left-out rows and ``in the model`` add up to
        the file; a customer is counted under the first reason that applies. Each cell of
        ``summary`` then holds those in the model who went through its touchpoint (``n``).
    """

    summary: pd.DataFrame
    outcome: str
    kind: str
    value: str | None
    met: str
    by: str | None
    adjust: tuple
    n_boot: int
    seed: int
    confidence: float
    alpha: float
    correction: str
    language: str = "fr"
    customers: pd.DataFrame | None = None

    @property
    def flagged(self) -> pd.DataFrame:
        """The flagged rows of ``summary``, largest value at stake first."""
        f = self.summary[self.summary["flagged"]]
        return f.sort_values("value_at_stake", ascending=False, key=abs).reset_index(drop=True)

    def _lines(self) -> list[str]:
        s = self.summary
        unit = "points" if self.kind == "binary" else self.value or "units"
        lines = [
            f"Outcome {self.outcome!r} ({self.kind}) of customers who met a friction vs the others: "
            f"{len(s)} cells, {int(s['p_value'].notna().sum())} tested, met={self.met}, adjusted for "
            f"{', '.join(self.adjust) or 'nothing'}{' and persona' if self.by is None else ''}; "
            f"bootstrap {self.n_boot} (seed {self.seed}), {self.correction} at {self.alpha:g}"
        ]
        if self.customers is not None and (out := left_out(self.customers)).sum():
            n = self.customers["customers"]
            why = ", ".join(f"{k:,} {r}" for r, k in out.items() if k)
            lines.append(f"  {n.iloc[-1]:,} of {n.iloc[0]:,} customers in the model ({why})")
        for r in self.flagged.itertuples():
            d = 100 * r.estimate if self.kind == "binary" else r.estimate
            lo = 100 * r.ci_low if self.kind == "binary" else r.ci_low
            hi = 100 * r.ci_high if self.kind == "binary" else r.ci_high
            lines.append(
                f"  - {r.touchpoint} / {r.persona}: {d:+.1f} {unit} [{lo:+.1f}, {hi:+.1f}], "
                f"n_met {r.n_met}, at stake {r.customers_at_stake:.1f} customers, "
                f"{r.value_at_stake:,.0f} {self.value or ''}".rstrip()
            )
        if self.flagged.empty:
            lines.append("  no cell flagged")
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        head = "<br>".join(html.escape(x) for x in self._lines())
        shown = self.summary[self.summary["p_value"].notna()]
        return f"<p>{head}</p>" + shown.round(4).to_html(index=False, na_rep="")
