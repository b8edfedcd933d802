"""Step counts from an event log: who reached the start of a step, and who went on.

:func:`trace_counts` turns events (one row per user, time and event) into the table that
:func:`parcours_research.friction.test_traces` tests: one row per step and persona (and
period), with ``n`` users who reached the start of the step and ``k`` of them who reached its
end, in order and within the funnel window.

Steps are

* the **funnel steps** of ``study.yml`` (``traces: funnel``): step *i* goes from funnel event
  *i − 1* to funnel event *i*, for users who reached every earlier event in order, within
  ``funnel_window`` of the first one;
* the **touchpoint steps**: for a touchpoint marked by a start and an end event
  (``events: [kyc_upload, kyc_done]``), from its first to its last event, within the window.

A step belongs to the touchpoint of its end event, and its target conversion is the
``target_conversion`` of that touchpoint's stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import AnalysisError, Problem
from ._table import ALL

__all__ = ["trace_counts", "reach", "ARROW"]

ARROW = "→"


def reach(events: pd.DataFrame, steps: Sequence[str], window=None) -> pd.DataFrame:
    """When each user first reached each step of a sequence, in order.

    Parameters
    ----------
    events : DataFrame
        Columns ``user_id, timestamp, event``.
    steps : sequence of str
        Event names, in order.
    window : str or Timedelta, optional
        Steps after the first count only within this time of the first step.

    Returns
    -------
    DataFrame
        Indexed by ``user_id``: one datetime column per step (NaT when not reached), for every
        user who reached the first step.
    """
    steps = list(steps)
    ev = events[events["event"].isin(steps)][["user_id", "timestamp", "event"]]
    ev = ev[ev["user_id"].notna()]
    first = ev[ev["event"] == steps[0]].groupby("user_id")["timestamp"].min()
    out = pd.DataFrame({steps[0]: first})
    out.index.name = "user_id"
    limit = first + pd.Timedelta(window) if window is not None else None
    prev = first
    for s in steps[1:]:
        cand = ev[ev["event"] == s]
        cand = cand[cand["user_id"].isin(prev.dropna().index)]
        after = cand["timestamp"].to_numpy() >= prev.reindex(cand["user_id"]).to_numpy()
        if limit is not None:
            after &= cand["timestamp"].to_numpy() <= limit.reindex(cand["user_id"]).to_numpy()
        t = cand[after].groupby("user_id")["timestamp"].min()
        out[s] = t.reindex(out.index)
        prev = out[s]
    return out


def _events_of_study(study, clean: bool) -> pd.DataFrame:
    """The study's event log, cleaned and stitched by :mod:`parcours_research.traces`, as a
    DataFrame with ``user_id, timestamp, event``."""
    from ..traces import clean as clean_events
    from ..traces import read_events
    from ..traces.identity import stitch

    log = read_events(study)
    if clean:
        log, _ = clean_events(log)
    log, _ = stitch(log)
    return log.to_pandas()[["user_id", "timestamp", "event"]]


def trace_counts(
    data,
    *,
    funnel: Sequence[str] | None = None,
    window=None,
    touchpoint_steps: bool = True,
    journey=None,
    personas: pd.DataFrame | Mapping | None = None,
    period_split=None,
    complete_window: bool = True,
    observed_until=None,
    clean: bool = True,
) -> pd.DataFrame:
    """Count users at the start and end of every funnel and touchpoint step.

    Parameters
    ----------
    data : Study or DataFrame
        A loaded study (its event log is read, cleaned of bots and duplicates and stitched to
        customers with :mod:`parcours_research.traces`), or events with columns ``user_id,
        timestamp, event`` (and ``persona``).
    funnel : sequence of str, optional
        Funnel events in order; default the study's ``traces: funnel``.
    window : str, optional
        Funnel window (``"30D"``); default the study's ``funnel_window``.
    touchpoint_steps : bool, default True
        Add a step for every touchpoint with a start and an end event.
    journey : JourneyMap, optional
        Maps events to touchpoints and stages (default the study's).
    personas : DataFrame or dict, optional
        Persona of each user: ``{user_id: persona}`` or a table with ``customer_id`` (or
        ``user_id``) and ``persona``; default the study's customer file. Users without one
        count only in the ``"all"`` rows.
    period_split : str or Timestamp, optional
        Split users in two periods (``"before"``/``"after"`` the date) by when they reached
        the start of each step, for the ``vs_previous_period`` test. ``"half"`` splits the
        study period (or the log's span) in its middle.
    complete_window : bool, default True
        Count only users whose whole window was observed: who started the step (the funnel
        for a funnel step) at least ``window`` before the end of the log. Users who started
        late have not had the time to go on; counting them would mistake the end of the log
        for drop-off (right censoring), and most of all in the later period.
    observed_until : str or Timestamp, optional
        End of the observation (default: the last event of the log).
    clean : bool, default True
        Clean a study's log first.

    Returns
    -------
    DataFrame
        ``step, touchpoint, stage, kind, persona, n, k, target`` (and ``period``): ``step``
        is ``"start→end"``; ``kind`` is ``funnel`` or ``touchpoint``; ``n`` users reached the
        start, ``k`` of them the end; ``target`` is the stage's target conversion.
    """
    study = None
    if not isinstance(data, pd.DataFrame) and hasattr(data, "journey"):
        study = data
        if study.traces is None:
            raise AnalysisError(
                f"The study {study.name!r} has no event log.",
                [
                    Problem(
                        "no traces",
                        "study.yml",
                        column="traces",
                        fix="add `traces: {events: ...}` to study.yml",
                    )
                ],
            )
        events = _events_of_study(study, clean)
        journey = journey or study.journey
        funnel = funnel if funnel is not None else study.traces.funnel
        window = window if window is not None else study.traces.funnel_window
        if (
            personas is None
            and study.customers is not None
            and "persona" in study.customers.columns
        ):
            personas = study.customers[["customer_id", "persona"]]
    elif isinstance(data, pd.DataFrame):
        events = data
    else:
        raise AnalysisError(
            "trace_counts: data must be a Study or a DataFrame of events.",
            [Problem(f"got {type(data).__name__}")],
        )
    missing = [c for c in ("user_id", "timestamp", "event") if c not in events.columns]
    if missing:
        raise AnalysisError(
            "trace_counts: the events lack columns.",
            [Problem(f"missing column(s) {missing}", fix="events need user_id, timestamp, event")],
        )
    ev = events[
        ["user_id", "timestamp", "event", *(["persona"] if "persona" in events.columns else [])]
    ].copy()
    ev["timestamp"] = pd.to_datetime(ev["timestamp"], utc=True)
    ev = ev[ev["timestamp"].notna() & ev["user_id"].notna()]
    ev["user_id"] = ev["user_id"].astype("string")
    ev["event"] = ev["event"].astype("string")

    # persona of every user
    if personas is None and "persona" in ev.columns:
        persona_of = ev.dropna(subset=["persona"]).groupby("user_id")["persona"].first()
    elif isinstance(personas, pd.DataFrame):
        key = "user_id" if "user_id" in personas.columns else "customer_id"
        persona_of = personas.dropna(subset=[key]).set_index(
            personas[key].dropna().astype("string")
        )["persona"]
        persona_of = persona_of[~persona_of.index.duplicated()]
    elif isinstance(personas, Mapping):
        persona_of = pd.Series(dict(personas), dtype="string")
    else:
        persona_of = pd.Series(dtype="string")

    # steps
    step_defs: list[tuple[str, str, str]] = []  # (start, end, kind)
    funnel = list(funnel or [])
    for a, b in zip(funnel[:-1], funnel[1:]):
        step_defs.append((a, b, "funnel"))
    ev_tp: dict[str, str] = {}
    stage_of: dict[str, str] = {}
    target_of: dict[str, float] = {}
    if journey is not None:
        ev_tp = (
            {str(k): str(v) for k, v in journey.event_touchpoints().items()}
            if hasattr(journey, "event_touchpoints")
            else {}
        )
        for t in journey.touchpoints:
            stage_of[t.id] = t.stage
            for e in t.events:
                ev_tp.setdefault(e, t.id)
        for s in journey.stages:
            if s.target_conversion is not None:
                target_of[s.id] = float(s.target_conversion)
        if touchpoint_steps:
            for t in journey.touchpoints:
                if len(t.events) >= 2 and (t.events[0], t.events[-1], "funnel") not in step_defs:
                    step_defs.append((t.events[0], t.events[-1], "touchpoint"))
    if not step_defs:
        raise AnalysisError(
            "trace_counts: no step to count.",
            [
                Problem(
                    "no funnel of two events or more and no touchpoint with a start and an end "
                    "event",
                    fix="set `traces: funnel:` in study.yml or pass funnel=[...]",
                )
            ],
        )

    split = None
    if period_split is not None:
        if isinstance(period_split, str) and period_split == "half":
            lo, hi = study.traces.period if study is not None else (None, None)
            lo = pd.Timestamp(lo, tz="UTC") if lo is not None else ev["timestamp"].min()
            hi = pd.Timestamp(hi, tz="UTC") if hi is not None else ev["timestamp"].max()
            split = lo + (hi - lo) / 2
        else:
            split = pd.Timestamp(period_split)
            split = split.tz_localize("UTC") if split.tzinfo is None else split.tz_convert("UTC")

    if observed_until is None:
        end = ev["timestamp"].max()
    else:
        end = pd.Timestamp(observed_until)
        end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    win = pd.Timedelta(window) if window is not None else None

    rows = []
    cache: dict[tuple, pd.DataFrame] = {}
    for a, b, kind in step_defs:
        if kind == "funnel":
            i = funnel.index(b)
            key = tuple(funnel[: i + 1])
            if key not in cache:
                cache[key] = reach(ev, key, window)
            r = cache[key]
            start, start_t, reached = r[a].notna(), r[a], r[b].notna()
            origin = r[funnel[0]]
        else:
            r = reach(ev, [a, b], window)
            start, start_t, reached = r[a].notna(), r[a], r[b].notna()
            origin = r[a]
        if complete_window and win is not None:
            start = start & (origin + win <= end)
        tp = ev_tp.get(b)
        stage = stage_of.get(tp) if tp else None
        frame = pd.DataFrame(
            {
                "start": start.to_numpy(),
                "reached": (start & reached).to_numpy(),
                "persona": persona_of.reindex(r.index).to_numpy(),
            },
            index=r.index,
        )
        frame = frame[frame["start"]]
        if split is not None:
            frame["period"] = np.where(start_t[frame.index] < split, "before", "after")
        present = list(pd.unique(frame["persona"].dropna()))
        known = [p for p in (journey.persona_ids if journey is not None else []) if p in present]
        for p in [ALL, *known, *[p for p in present if p not in known]]:
            sub = frame if p == ALL else frame[frame["persona"] == p]
            base = {
                "step": f"{a}{ARROW}{b}",
                "touchpoint": tp,
                "stage": stage,
                "kind": kind,
                "persona": p,
                "target": target_of.get(stage, np.nan) if stage else np.nan,
            }
            if split is None:
                rows.append({**base, "n": int(len(sub)), "k": int(sub["reached"].sum())})
            else:
                for per in ("before", "after"):
                    s2 = sub[sub["period"] == per]
                    rows.append(
                        {**base, "period": per, "n": int(len(s2)), "k": int(s2["reached"].sum())}
                    )
    out = pd.DataFrame(rows)
    if split is not None:
        out["period"] = pd.Categorical(out["period"], categories=["before", "after"], ordered=True)
    cols = [
        "step",
        "touchpoint",
        "stage",
        "kind",
        "persona",
        *(["period"] if split is not None else []),
        "n",
        "k",
        "target",
    ]
    return out[cols]
