"""Sessions, touchpoints, and per-user attributes on an event log.

A session is a run of one person's events (``user_id``, or ``device_id`` before stitching) in
time order (ties broken by ``row_id``) where no gap exceeds the inactivity ``gap``: an event
more than ``gap`` after the previous one starts a new session (a gap of exactly ``gap`` does
not). ``session_id`` is ``"<person>:<n>"`` with n = 1, 2, ... in time order.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .._compat import deprecated_args
from ..errors import TraceDataError
from .eventlog import PERSON, USABLE, EventLog, as_log, output, select_list, to_us

__all__ = ["sessionize", "map_touchpoints", "attach", "touchpoint_mapping"]


@deprecated_args(positional=("gap",))
def sessionize(events, *, gap=None):
    """Cut each person's events into sessions.

    Parameters
    ----------
    events : EventLog or DataFrame
    gap : duration, default "30min"
        Inactivity that ends a session (the study's ``session_gap`` when the log was read from
        a study and ``gap`` is not given).

    Returns
    -------
    EventLog or DataFrame
        The same rows with ``session_id`` (replaced when it was there): ``"<person>:<n>"``.
    """
    log, was_frame = as_log(events)
    if gap is None:
        gap = log.meta.get("session_gap") or "30min"
    gap_us = to_us(gap, "gap")
    eng = log.engine
    if eng.fast:
        from . import _arrays
        from ._frames import prime

        prime(log)  # events in memory: sorted from their own buffers, not by a query
        out = _arrays.sessionize(log, gap_us)
    else:
        out = log.derive(eng.view(_sessionize_sql(log, gap_us), "sessions"))
    out.meta["session_gap_us"] = gap_us
    return output(out, was_frame)


def _sessionize_sql(log: EventLog, gap_us: int) -> str:
    eng = log.engine
    t = eng.us("timestamp")
    inner = (
        f"SELECT {select_list(log, drop=('session_id',))}, {PERSON} AS _p, {t} AS _t, "
        f"CASE WHEN {USABLE} THEN 1 ELSE 0 END AS _u FROM {log.ref}"
    )
    part = "PARTITION BY _p, _u ORDER BY _t, row_id"
    flagged = (
        f"SELECT *, CASE WHEN _t - lag(_t) OVER ({part}) <= {gap_us} "
        f"THEN 0 ELSE 1 END AS _new FROM ({inner}) AS a"
    )
    numbered = (
        f"SELECT *, sum(_new) OVER ({part} ROWS BETWEEN "
        f"UNBOUNDED PRECEDING AND CURRENT ROW) AS _n FROM ({flagged}) AS b"
    )
    cols = [c for c in log.columns if c != "session_id"]
    keep = ", ".join(eng.q(c) for c in cols)
    return (
        f"SELECT {keep}, CASE WHEN _u = 1 THEN concat(_p, ':', {eng.cast_str('_n')}) END AS session_id "
        f"FROM ({numbered}) AS c"
    )


def touchpoint_mapping(journey_or_mapping) -> dict[str, str]:
    """``{event: touchpoint}`` from a JourneyMap, a Study, or a dict (``{event: touchpoint}``
    or ``{touchpoint: [events]}``)."""
    obj = journey_or_mapping
    if hasattr(obj, "journey") and not hasattr(obj, "event_touchpoints"):
        obj = obj.journey
    if hasattr(obj, "event_touchpoints"):
        return dict(obj.event_touchpoints())
    if isinstance(obj, Mapping):
        out: dict[str, str] = {}
        for k, v in obj.items():
            if isinstance(v, list | tuple | set):
                for e in v:
                    out[str(e)] = str(k)
            else:
                out[str(k)] = str(v)
        return out
    raise TraceDataError(
        "map_touchpoints needs a JourneyMap, a Study or a dict {event: touchpoint}, "
        f"not {type(obj).__name__}."
    )


def map_touchpoints(events, journey_or_mapping=None):
    """Add ``touchpoint``: the touchpoint whose ``events`` (in study.yml) include the event.

    Parameters
    ----------
    events : EventLog or DataFrame
    journey_or_mapping : JourneyMap, Study or dict, optional
        The study's journey when the log was read from a study.

    Returns
    -------
    EventLog or DataFrame
        The same rows with ``touchpoint`` (missing for events mapped to no touchpoint).
    """
    log, was_frame = as_log(events)
    if journey_or_mapping is None:
        journey_or_mapping = log.meta.get("journey")
        if journey_or_mapping is None:
            raise TraceDataError(
                "map_touchpoints needs the journey: pass the study, its journey or "
                "a dict {event: touchpoint}."
            )
    mapping = touchpoint_mapping(journey_or_mapping)
    eng = log.engine
    if mapping:
        cases = " ".join(f"WHEN {eng.lit(e)} THEN {eng.lit(t)}" for e, t in mapping.items())
        expr = f"CASE event {cases} END"
    else:
        expr = "CAST(NULL AS STRING)"
    view = eng.view(
        f"SELECT {select_list(log, add={'touchpoint': expr})} FROM {log.ref}", "touchpoints"
    )
    out = log.derive(view, arrays=log._arrays)
    out.meta["touchpoints"] = mapping
    return output(out, was_frame)


@deprecated_args(positional=("on", "key", "columns"))
def attach(
    events,
    table: pd.DataFrame,
    *,
    on: str = "user_id",
    key: str | None = None,
    columns: list[str] | None = None,
):
    """Add per-person columns (a persona, a segment) from a table keyed by customer id.

    Parameters
    ----------
    events : EventLog or DataFrame
    table : DataFrame
        One row per key, e.g. ``study.customers``.
    on : str, default "user_id"
        Column of the events to join on.
    key : str, optional
        Column of ``table`` to join on (default: ``on``, else ``customer_id``).
    columns : list of str, optional
        Columns of ``table`` to add (default: all but the key).

    Returns
    -------
    EventLog or DataFrame
        The events with the new columns (missing for persons absent from ``table``).
    """
    log, was_frame = as_log(events)
    if key is None:
        key = on if on in table.columns else "customer_id"
    if key not in table.columns:
        raise TraceDataError(
            f"attach: the table has no column {key!r}; pass key= the column "
            "holding the customer id."
        )
    if table[key].duplicated().any():
        raise TraceDataError(
            f"attach: the table has repeated {key!r} values; give one row per person."
        )
    columns = [c for c in (columns or table.columns) if c != key]
    clash = [c for c in columns if c in log.columns]
    if clash:
        raise TraceDataError(
            f"attach: the events already have column(s) {clash}; drop or rename them in the table."
        )
    eng = log.engine
    small = table[[key, *columns]].copy()
    small[key] = small[key].astype("string")
    name = eng.register(small.rename(columns={key: "_key"}), "attach")
    add = ", ".join(f"a.{eng.q(c)}" for c in columns)
    view = eng.view(
        f"SELECT {select_list(log, alias='e')}, {add} FROM {log.ref} AS e "
        f"LEFT JOIN {eng.q(name)} AS a ON e.{eng.q(on)} = a._key",
        "attached",
    )
    # a left join on a unique key keeps every row as it was: the sorted arrays (and sessions)
    # of the log still describe it
    return output(log.derive(view, arrays=log._arrays), was_frame)
