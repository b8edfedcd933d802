"""Paths through the journey: transitions, variants, and time to reach a step.

Within a *case* (a session, or all of a person's events), events are ordered by timestamp and
then ``row_id``. A *transition* ``a -> b`` is a pair of consecutive events of a case (the
"directly-follows" relation of process mining); a *variant* is the whole ordered sequence of a
case.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from .._compat import deprecated_args
from ..errors import AnalysisError, check_one_of
from ._frames import prime
from .eventlog import PERSON, USABLE, EventLog, as_log, check_flat

__all__ = ["transitions", "variants", "time_to_step", "TimeToStep", "SEPARATOR"]

#: Separator of steps in a variant's text.
SEPARATOR = " > "


def _cases(log: EventLog, node: str, within: str, gap) -> tuple[EventLog, str]:
    """The log (sessionized when needed) and the SQL expression of the case key."""
    check_one_of("node", node, ("event", "touchpoint"))
    check_one_of("within", within, ("session", "user"))
    if node not in log.columns:
        raise AnalysisError(f"The events have no {node!r} column; call map_touchpoints first.")
    prime(log)  # events in memory: sorted from their own buffers, not by a query
    if within == "user":
        return log, PERSON
    if not log.has("session_id") or gap is not None:
        from .sessions import sessionize

        log = sessionize(log, gap=gap)
    return log, "session_id"


@deprecated_args(renamed={"by": "node"}, positional=("node", "within", "gap"))
def transitions(events, *, node: str = "event", within: str = "session", gap=None) -> pd.DataFrame:
    """Directly-follows counts between events or touchpoints, with median durations.

    Parameters
    ----------
    events : EventLog or DataFrame
    node : {"event", "touchpoint"}
        What the nodes are. With ``"touchpoint"``, events mapped to no touchpoint are skipped.
        (``by=`` before 0.2, deprecated: ``by`` names grouping columns everywhere else.)
    within : {"session", "user"}
        Count pairs of consecutive events within sessions (the log's ``session_id``, computed
        with ``gap`` when absent) or across a person's whole history.
    gap : duration, optional
        Session gap when sessions must be computed (default: the study's, else 30 minutes).

    Returns
    -------
    DataFrame
        ``source, target, n, share, median_duration``: ``n`` pairs; ``share`` of all
        transitions leaving ``source``; ``median_duration`` (Timedelta) between the two events.
        Sorted by ``n`` descending, then ``source``, ``target``.
    """
    log, _ = as_log(events)
    log, case = _cases(log, node, within, gap)
    eng = log.engine
    if eng.fast:
        from . import _arrays

        raw = _arrays.transitions(log, node, case)
    else:
        t = eng.us("timestamp")
        w = f"OVER (PARTITION BY {case} ORDER BY {t}, row_id)"
        raw = eng.fetch(
            f"SELECT source, target, count(*) AS n, {eng.median('_d')} AS _med FROM ("
            f"SELECT {node} AS source, lead({node}) {w} AS target, lead({t}) {w} - {t} AS _d "
            f"FROM {log.ref} WHERE {node} IS NOT NULL AND {USABLE} AND {case} IS NOT NULL) AS x "
            f"WHERE target IS NOT NULL "
            f"GROUP BY source, target"
        )
    return _transitions_table(raw)


def _transitions_table(raw: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "source": raw["source"].astype("string"),
            "target": raw["target"].astype("string"),
            "n": raw["n"].astype("int64"),
        }
    )
    out["share"] = out["n"] / out.groupby("source")["n"].transform("sum")
    out["median_duration"] = pd.to_timedelta(
        np.round(raw["_med"].astype("float64").to_numpy()), unit="us"
    )
    out = out.sort_values(["n", "source", "target"], ascending=[False, True, True], kind="stable")
    return out.reset_index(drop=True)


@deprecated_args(renamed={"by": "node"}, positional=("top", "node", "within", "gap"))
def variants(
    events, *, top: int | None = 10, node: str = "event", within: str = "session", gap=None
) -> pd.DataFrame:
    """The most frequent paths (variants) with their share of cases.

    Parameters
    ----------
    events : EventLog or DataFrame
    top : int or None, default 10
        How many variants to return (None: all).
    node, within, gap
        As in :func:`transitions` (``by=`` before 0.2, deprecated, is ``node=``).

    Returns
    -------
    DataFrame
        ``variant`` (steps joined by ``" > "``), ``n_steps``, ``n`` (cases following it),
        ``share`` (of all cases with at least one step). Sorted by ``n`` descending, then
        ``variant``.
    """
    log, _ = as_log(events)
    log, case = _cases(log, node, within, gap)
    eng = log.engine
    if eng.fast:
        from . import _arrays

        table, total = _arrays.variants(log, node, case, top, SEPARATOR)
    else:
        t = eng.us("timestamp")
        agg = eng.ordered_concat(eng.cast_str(node), [t, "row_id"], SEPARATOR)
        per_case = (
            f"SELECT {agg} AS variant, count(*) AS n_steps FROM {log.ref} "
            f"WHERE {node} IS NOT NULL AND {USABLE} AND {case} IS NOT NULL GROUP BY {case}"
        )
        limit = f" LIMIT {int(top)}" if top is not None else ""
        table = eng.fetch(
            f"SELECT variant, n_steps, count(*) AS n FROM ({per_case}) AS c "
            f"GROUP BY variant, n_steps ORDER BY n DESC, variant{limit}"
        )
        total = int(
            eng.scalar(
                f"SELECT count(DISTINCT {case}) FROM {log.ref} WHERE {node} IS NOT NULL AND {USABLE}"
            )
            or 0
        )
    out = pd.DataFrame(
        {
            "variant": table["variant"].astype("string"),
            "n_steps": table["n_steps"].astype("int64"),
            "n": table["n"].astype("int64"),
        }
    )
    out["share"] = out["n"] / total if total else np.nan
    out = out.sort_values(["n", "variant"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)


@dataclass
class TimeToStep:
    """Time from the start of a journey to a step, with Kaplan-Meier estimates.

    Attributes
    ----------
    summary : DataFrame
        One row per group: ``<by>, n, n_reached, share_reached, median_days, ci_low, ci_high``
        (Kaplan-Meier median time to the step in days with its interval at the ``confidence``
        level, 95% by default; missing when fewer than half reach it, or when the interval
        never reaches one half).
    curve : DataFrame
        ``<by>, days, reached, ci_low, ci_high``: estimated share having reached the step after
        ``days`` (1 - Kaplan-Meier survival) with its pointwise interval (exponential
        Greenwood, "log(-log)"), at day 0 and at every observed duration.
    per_user : DataFrame
        ``user_id, <by>, start, duration, days, reached``; journeys that have not reached the
        step are censored at the end of observation.
    """

    summary: pd.DataFrame
    curve: pd.DataFrame
    per_user: pd.DataFrame
    step: tuple[str, ...]
    by: list[str]

    def __repr__(self) -> str:
        return (
            f"TimeToStep(step={list(self.step)}, groups={len(self.summary)}, "
            f"persons={int(self.summary['n'].sum())})"
        )

    def _repr_html_(self) -> str:
        return (
            f"<p><b>Time to {', '.join(self.step)}</b> (Kaplan-Meier)</p>"
            + self.summary.to_html(index=False)
        )


_SUMMARY = ["n", "n_reached", "share_reached", "median_days", "ci_low", "ci_high"]
_CURVE = ["days", "reached", "ci_low", "ci_high"]


@deprecated_args(positional=("by", "start", "end"))
def time_to_step(
    events, step, *, by=None, start=None, end=None, confidence: float = 0.95
) -> TimeToStep:
    """Time until each person reaches a step, censored for journeys not yet finished.

    Parameters
    ----------
    events : EventLog or DataFrame
    step : str or list of str
        The event(s) that mark the step.
    by : str or list of str, optional
        Groups (persona...); a person's group is the value on the person's earliest event.
    start : str or list of str, optional
        Events that start the clock (default: the person's first event). Persons who never do
        them are left out.
    end : timestamp, optional
        End of observation for censoring (default: the last timestamp in the log).
    confidence : float, default 0.95
        Confidence level of the intervals.

    Returns
    -------
    TimeToStep
        Kaplan-Meier estimates per group (statsmodels' ``SurvfuncRight``): a person who
        reaches the step has an event at ``reach - start``; the others are censored at
        ``end - start``. Pointwise intervals are the exponential Greenwood ("log(-log)")
        intervals; the median is the first time the survival estimate falls to one half or
        below, and its interval runs from the first time the interval's lower bound does so to
        the first time its upper bound does (Brookmeyer-Crowley, read off the same bands).
    """
    log, _ = as_log(events)
    steps = (step,) if isinstance(step, str) else tuple(step)
    by = [] if by is None else [by] if isinstance(by, str) else list(by)
    _check_time_to_step(log, by, confidence)
    per = log.engine.fetch(_time_to_step_sql(log, steps, by, start))
    per_user = _per_user(per, by, _end_us(log, end), log.timezone)
    summary, curve = _kaplan_meier_by(per_user, by, confidence)
    return TimeToStep(summary, curve, per_user, steps, by)


def _check_time_to_step(log: EventLog, by: list[str], confidence: float) -> None:
    missing = [c for c in by if c not in log.columns]
    if missing:
        raise AnalysisError(f"time_to_step: the events have no column(s) {missing}.")
    check_flat(log, by, "time_to_step")
    if not 0 < confidence < 1:
        raise AnalysisError(
            f"time_to_step: confidence={confidence!r} is not a level between 0 and 1; "
            "give for instance confidence=0.95."
        )


def _time_to_step_sql(log: EventLog, steps: tuple[str, ...], by: list[str], start) -> str:
    """One row per person: ``_p`` (person), ``_st`` (clock start, us), ``_rt`` (first reach of
    the step at or after the start, us, NULL if never), and the person's first ``by`` values."""
    eng = log.engine
    t = eng.us("timestamp")
    et = t.replace("timestamp", "e.timestamp")
    lit = ", ".join(eng.lit(s) for s in steps)
    if start is None:
        start_cond = "TRUE"
    else:
        starts = [start] if isinstance(start, str) else start
        start_cond = f"event IN ({', '.join(eng.lit(s) for s in starts)})"
    gcols = "".join(f", {eng.q(c)}" for c in by)
    first = (
        f"SELECT _p{gcols} FROM (SELECT {PERSON} AS _p{gcols}, row_number() OVER (PARTITION BY "
        f"{PERSON} ORDER BY {t}, row_id) AS _rn FROM {log.ref} WHERE {USABLE}) AS g WHERE _rn = 1"
    )
    starts_sql = (
        f"SELECT {PERSON} AS _p, min({t}) AS _st FROM {log.ref} WHERE {start_cond} AND {USABLE} "
        f"GROUP BY {PERSON}"
    )
    reach = (
        f"SELECT s._p, s._st, min(CASE WHEN e.event IN ({lit}) AND {et} >= s._st "
        f"THEN {et} END) AS _rt FROM ({starts_sql}) AS s JOIN {log.ref} AS e "
        f"ON coalesce(e.user_id, e.device_id) = s._p GROUP BY s._p, s._st"
    )
    return (
        f"SELECT r._p, r._st, r._rt{''.join(f', g.{eng.q(c)}' for c in by)} "
        f"FROM ({reach}) AS r JOIN ({first}) AS g ON r._p = g._p ORDER BY r._p"
    )


def _end_us(log: EventLog, end) -> int:
    """End of observation in microseconds since the epoch (default: the log's last event)."""
    if end is None:
        eng = log.engine
        return int(eng.scalar(f"SELECT max({eng.us('timestamp')}) FROM {log.ref}") or 0)
    ts = pd.Timestamp(end)
    ts = ts.tz_localize(log.timezone) if ts.tzinfo is None else ts
    return int((ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(microseconds=1))


def _per_user(per: pd.DataFrame, by: list[str], end_us: int, timezone) -> pd.DataFrame:
    st = per["_st"].astype("int64").to_numpy()
    rt = per["_rt"].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    reached = ~np.isnan(rt)
    dur_us = np.where(reached, rt - st, np.maximum(end_us - st, 0))
    per_user = pd.DataFrame({"user_id": per["_p"].astype("string")})
    for c in by:
        per_user[c] = per[c].to_numpy()
    per_user["start"] = pd.to_datetime(st, unit="us", utc=True).tz_convert(timezone)
    per_user["duration"] = pd.to_timedelta(dur_us, unit="us")
    per_user["days"] = dur_us / 86_400e6
    per_user["reached"] = reached
    return per_user


def _kaplan_meier_by(
    per_user: pd.DataFrame, by: list[str], confidence: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary and curve tables: one Kaplan-Meier fit per group."""
    groups = per_user.groupby(by, dropna=False, sort=True) if by else [((), per_user)]
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    summ, curves = [], []
    for key, g in groups:
        labels = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        reached = g["reached"].to_numpy(dtype=bool)
        km = _kaplan_meier(g["days"].to_numpy(dtype="float64"), reached, z)
        median = _median(km)
        summ.append(
            {
                **labels,
                "n": len(g),
                "n_reached": int(reached.sum()),
                "share_reached": float(reached.mean()),
                "median_days": median[0],
                "ci_low": median[1],
                "ci_high": median[2],
            }
        )
        curve = pd.DataFrame({**labels, "days": km["days"]}, index=km.index)
        curve["reached"] = 1 - km["survival"]
        curve["ci_low"] = 1 - km["ci_high"]
        curve["ci_high"] = 1 - km["ci_low"]
        curves.append(curve)
    summary = pd.DataFrame(summ, columns=[*by, *_SUMMARY])
    if not curves:
        return summary, pd.DataFrame(columns=[*by, *_CURVE])
    return summary, pd.concat(curves, ignore_index=True)


def _kaplan_meier(days: np.ndarray, reached: np.ndarray, z: float) -> pd.DataFrame:
    """Kaplan-Meier survival at day 0 and at every observed duration.

    ``days, survival, se, ci_low, ci_high``: the product-limit estimate and its Greenwood
    standard error from statsmodels' ``SurvfuncRight`` (which reports them at event times only;
    they are carried forward over censoring times), with the exponential Greenwood interval
    ``S ** exp(+-z * sigma)``, ``sigma = se / (S * |log S|)`` (Kalbfleisch & Prentice's
    "log(-log)" interval). The interval is ``[1, 1]`` where ``S = 1`` and
    ``[0, 0]`` where ``S = 0``.
    """
    timeline = np.unique(np.concatenate([[0.0], days]))
    survival = np.ones(len(timeline))
    se = np.zeros(len(timeline))
    if reached.any():
        from statsmodels.duration.survfunc import SurvfuncRight

        sf = SurvfuncRight(days, reached.astype("float64"))
        at = np.searchsorted(sf.surv_times, timeline, side="right") - 1
        known = at >= 0
        survival[known] = sf.surv_prob[at[known]]
        se[known] = sf.surv_prob_se[at[known]]
    low, high = _loglog_interval(survival, se, z)
    return pd.DataFrame(
        {"days": timeline, "survival": survival, "se": se, "ci_low": low, "ci_high": high}
    )


def _loglog_interval(survival: np.ndarray, se: np.ndarray, z: float):
    """Exponential Greenwood interval of a survival probability from its standard error."""
    low, high = survival.copy(), survival.copy()
    inner = (survival > 0) & (survival < 1)
    s = survival[inner]
    sigma = se[inner] / (s * -np.log(s))
    low[inner] = s ** np.exp(z * sigma)
    high[inner] = s ** np.exp(-z * sigma)
    return low, high


def _median(km: pd.DataFrame) -> tuple[float, float, float]:
    """Median and its interval: the first days at which the estimate, the interval's lower
    bound and its upper bound fall to one half or below (NaN when they never do)."""

    def first_at_half(s: pd.Series) -> float:
        below = np.flatnonzero(s.to_numpy() <= 0.5 + _TIE)
        return float(km["days"].iloc[below[0]]) if len(below) else np.nan

    return first_at_half(km["survival"]), first_at_half(km["ci_low"]), first_at_half(km["ci_high"])


#: Rounding slack when the estimate lands exactly on one half (S is a product of fractions).
_TIE = 1e-12
