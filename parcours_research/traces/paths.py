"""Paths through the journey: transitions, variants, and time to reach a step.

Within a *case* (a session, or all of a person's events), events are ordered by timestamp and
then ``row_id``. A *transition* ``a -> b`` is a pair of consecutive events of a case (the
"directly-follows" relation of process mining); a *variant* is the whole ordered sequence of a
case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import AnalysisError, check_one_of
from .eventlog import PERSON, USABLE, EventLog, as_log

__all__ = ["transitions", "variants", "time_to_step", "TimeToStep", "SEPARATOR"]

#: Separator of steps in a variant's text.
SEPARATOR = " > "


def _cases(log: EventLog, by: str, within: str, gap) -> tuple[EventLog, str]:
    """The log (sessionized when needed) and the SQL expression of the case key."""
    check_one_of("by", by, ("event", "touchpoint"))
    check_one_of("within", within, ("session", "user"))
    if by not in log.columns:
        raise AnalysisError(f"The events have no {by!r} column; call map_touchpoints first.")
    if within == "user":
        return log, PERSON
    if not log.has("session_id") or gap is not None:
        from .sessions import sessionize

        log = sessionize(log, gap)
    return log, "session_id"


def transitions(events, by: str = "event", within: str = "session", gap=None) -> pd.DataFrame:
    """Directly-follows counts between events or touchpoints, with median durations.

    Parameters
    ----------
    events : EventLog or DataFrame
    by : {"event", "touchpoint"}
        What the nodes are. With ``"touchpoint"``, events mapped to no touchpoint are skipped.
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
    log, case = _cases(log, by, within, gap)
    eng = log.engine
    if eng.fast:
        from . import _arrays

        raw = _arrays.transitions(log, by, case)
    else:
        t = eng.us("timestamp")
        w = f"OVER (PARTITION BY {case} ORDER BY {t}, row_id)"
        raw = eng.fetch(
            f"SELECT source, target, count(*) AS n, {eng.median('_d')} AS _med FROM ("
            f"SELECT {by} AS source, lead({by}) {w} AS target, lead({t}) {w} - {t} AS _d "
            f"FROM {log.ref} WHERE {by} IS NOT NULL AND {USABLE} AND {case} IS NOT NULL) AS x "
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


def variants(
    events, top: int | None = 10, by: str = "event", within: str = "session", gap=None
) -> pd.DataFrame:
    """The most frequent paths (variants) with their share of cases.

    Parameters
    ----------
    events : EventLog or DataFrame
    top : int or None, default 10
        How many variants to return (None: all).
    by, within, gap
        As in :func:`transitions`.

    Returns
    -------
    DataFrame
        ``variant`` (steps joined by ``" > "``), ``n_steps``, ``n`` (cases following it),
        ``share`` (of all cases with at least one step). Sorted by ``n`` descending, then
        ``variant``.
    """
    log, _ = as_log(events)
    log, case = _cases(log, by, within, gap)
    eng = log.engine
    if eng.fast:
        from . import _arrays

        table, total = _arrays.variants(log, by, case, top, SEPARATOR)
    else:
        t = eng.us("timestamp")
        agg = eng.ordered_concat(eng.cast_str(by), [t, "row_id"], SEPARATOR)
        per_case = (
            f"SELECT {agg} AS variant, count(*) AS n_steps FROM {log.ref} "
            f"WHERE {by} IS NOT NULL AND {USABLE} AND {case} IS NOT NULL GROUP BY {case}"
        )
        limit = f" LIMIT {int(top)}" if top is not None else ""
        table = eng.fetch(
            f"SELECT variant, n_steps, count(*) AS n FROM ({per_case}) AS c "
            f"GROUP BY variant, n_steps ORDER BY n DESC, variant{limit}"
        )
        total = int(
            eng.scalar(
                f"SELECT count(DISTINCT {case}) FROM {log.ref} WHERE {by} IS NOT NULL AND {USABLE}"
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
        (Kaplan-Meier median time to the step in days with its 95% interval; missing when
        fewer than half reach it).
    curve : DataFrame
        ``<by>, days, reached, ci_low, ci_high``: estimated share having reached the step after
        ``days`` (1 - Kaplan-Meier survival) with its 95% interval.
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


def time_to_step(events, step, by=None, start=None, end=None) -> TimeToStep:
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

    Returns
    -------
    TimeToStep
        Kaplan-Meier estimates per group (lifelines' ``KaplanMeierFitter``): a person who
        reaches the step has an event at ``reach - start``; the others are censored at
        ``end - start``.
    """
    from lifelines import KaplanMeierFitter

    log, _ = as_log(events)
    steps = (step,) if isinstance(step, str) else tuple(step)
    by = [] if by is None else [by] if isinstance(by, str) else list(by)
    missing = [c for c in by if c not in log.columns]
    if missing:
        raise AnalysisError(f"time_to_step: the events have no column(s) {missing}.")
    eng = log.engine
    t = eng.us("timestamp")
    lit = ", ".join(eng.lit(s) for s in steps)
    start_cond = (
        "TRUE"
        if start is None
        else (
            f"event IN ({', '.join(eng.lit(s) for s in ([start] if isinstance(start, str) else start))})"
        )
    )
    gcols = "".join(f", {eng.q(c)}" for c in by)
    first = (
        f"SELECT _p{gcols} FROM (SELECT {PERSON} AS _p{gcols}, row_number() OVER (PARTITION BY "
        f"{PERSON} ORDER BY {t}, row_id) AS _rn FROM {log.ref} WHERE {USABLE}) AS g WHERE _rn = 1"
    )
    starts = (
        f"SELECT {PERSON} AS _p, min({t}) AS _st FROM {log.ref} WHERE {start_cond} AND {USABLE} "
        f"GROUP BY {PERSON}"
    )
    reach = (
        f"SELECT s._p, s._st, min(CASE WHEN e.event IN ({lit}) AND {t.replace('timestamp', 'e.timestamp')} >= s._st "
        f"THEN {t.replace('timestamp', 'e.timestamp')} END) AS _rt FROM ({starts}) AS s JOIN {log.ref} AS e "
        f"ON coalesce(e.user_id, e.device_id) = s._p GROUP BY s._p, s._st"
    )
    per = eng.fetch(
        f"SELECT r._p, r._st, r._rt{''.join(f', g.{eng.q(c)}' for c in by)} "
        f"FROM ({reach}) AS r JOIN ({first}) AS g ON r._p = g._p ORDER BY r._p"
    )
    if end is None:
        end_us = int(eng.scalar(f"SELECT max({t}) FROM {log.ref}") or 0)
    else:
        ts = pd.Timestamp(end)
        ts = ts.tz_localize(log.timezone) if ts.tzinfo is None else ts
        end_us = int((ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(microseconds=1))
    st = per["_st"].astype("int64").to_numpy()
    rt = per["_rt"].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    reached = ~np.isnan(rt)
    dur_us = np.where(reached, rt - st, np.maximum(end_us - st, 0))
    per_user = pd.DataFrame({"user_id": per["_p"].astype("string")})
    for c in by:
        per_user[c] = per[c].to_numpy()
    per_user["start"] = pd.to_datetime(st, unit="us", utc=True).tz_convert(log.timezone)
    per_user["duration"] = pd.to_timedelta(dur_us, unit="us")
    per_user["days"] = dur_us / 86_400e6
    per_user["reached"] = reached
    groups = per_user.groupby(by, dropna=False, sort=True) if by else [((), per_user)]
    summ, curves = [], []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        labels = dict(zip(by, key))
        kmf = KaplanMeierFitter().fit(g["days"], event_observed=g["reached"])
        med = float(kmf.median_survival_time_)
        from lifelines.utils import median_survival_times

        ci = median_survival_times(kmf.confidence_interval_)
        summ.append(
            {
                **labels,
                "n": len(g),
                "n_reached": int(g["reached"].sum()),
                "share_reached": float(g["reached"].mean()),
                "median_days": med if np.isfinite(med) else np.nan,
                "ci_low": _finite(ci.iloc[0, 0]),
                "ci_high": _finite(ci.iloc[0, 1]),
            }
        )
        sf = kmf.survival_function_.iloc[:, 0]
        cil = kmf.confidence_interval_.iloc[:, 0]
        cih = kmf.confidence_interval_.iloc[:, 1]
        curves.append(
            pd.DataFrame(
                {
                    **{c: labels[c] for c in by},
                    "days": sf.index.to_numpy(),
                    "reached": 1 - sf.to_numpy(),
                    "ci_low": 1 - cih.to_numpy(),
                    "ci_high": 1 - cil.to_numpy(),
                }
            )
        )
    summary = pd.DataFrame(
        summ, columns=[*by, "n", "n_reached", "share_reached", "median_days", "ci_low", "ci_high"]
    )
    curve = (
        pd.concat(curves, ignore_index=True)
        if curves
        else pd.DataFrame(columns=[*by, "days", "reached", "ci_low", "ci_high"])
    )
    return TimeToStep(summary, curve, per_user, steps, by)


def _finite(x) -> float:
    x = float(x)
    return x if np.isfinite(x) else np.nan
