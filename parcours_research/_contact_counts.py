"""Contacts per customer, channel and period from the event log (:func:`contact_counts`).

A *contact* is one touchpoint met in one session (each event when the log has no sessions); see
:mod:`parcours_research.contact` for the whole model. Counts come from the engine as one row
per contact; every customer of the population is counted, with zeros.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .errors import AnalysisError, Problem

__all__ = ["contact_counts", "PERIODS", "ALL"]

#: ``period=`` names and the pandas period frequency they stand for.
PERIODS = {"study": None, "day": "D", "week": "W-SUN", "month": "M", "quarter": "Q"}
ALL = "all"


# ---------------------------------------------------------------------------------------------
# counting
# ---------------------------------------------------------------------------------------------
def contact_counts(
    events,
    *,
    channels: Mapping[str, str] | None = None,
    period: str = "study",
    customers: pd.DataFrame | None = None,
    by: str | None = None,
    start=None,
    end=None,
) -> pd.DataFrame:
    """Contacts per customer, channel and period.

    Parameters
    ----------
    events : Study, Evidence, EventLog or DataFrame
        A study (its prepared, cleaned event log) or events with ``user_id, timestamp,
        touchpoint`` (and ``session_id``: without it, each event is a contact).
    channels : mapping, optional
        ``{touchpoint: channel}`` (default for a study: the channel of each touchpoint in
        study.yml; for a table: a ``channel`` column, else each touchpoint is its own channel).
    period : {"study", "day", "week", "month", "quarter"} or pandas frequency, default "study"
        Count per calendar period (in the log's time zone), or over the whole study period.
    customers : DataFrame, optional
        The population, ``customer_id`` (and the ``by`` column): customers with no contact get
        zeros. Default for a study: its customer file; else every user of the log.
    by : str, optional
        Column of ``customers`` (or of the log) to carry, e.g. ``"persona"``.
    start, end : timestamp-like, optional
        The periods counted (default the study's ``period:``, else the log's first and last
        contact); contacts outside them are left out.

    Returns
    -------
    DataFrame
        One row per customer, channel and period: ``customer_id, [by], channel, period,
        contacts`` (``period`` is ``"study"`` or the period's label, e.g. ``2026-01``).
        Channels with no contact at all in the log (a call centre the log does not record)
        are left out: zero there is not evidence.
    """
    from ._inputs import study_of

    freq = _frequency(period)
    if freq is None and study_of(events) is not None:  # one row per customer and channel
        totals = _study_frame(events, channels, start, end)
        if totals[3] is not None and (customers is not None or totals[2].customers is not None):
            return _dense_counts(events, totals, customers, by)
        counted, chans, labels, study = _study_totals(events, channels, totals=totals)
    else:
        counted, chans, labels, study = _counted(events, channels, freq, start, end)
    if customers is None:
        customers = _population(events, study, counted, by)
    customers = _check_population(customers, by)
    grid = pd.MultiIndex.from_product(
        [customers["customer_id"].astype(str).unique(), chans, labels],
        names=["customer_id", "channel", "period"],
    )
    out = counted.reindex(grid, fill_value=0).rename("contacts").reset_index()
    if by is not None:
        out.insert(1, by, _by_values(out, customers, by, len(chans) * len(labels)))
    out["contacts"] = out["contacts"].astype("int64")
    return out


def _dense_counts(events, totals: tuple, customers, by) -> pd.DataFrame:
    """:func:`contact_counts` of a study over its whole period from the log's sorted arrays
    (``totals``: :func:`_study_frame` with its ``dense`` counts), the population given or the
    study's customer file: each customer's row of counts is looked up by position instead of
    reindexing a (customer, channel, period) index. The same table."""
    import pyarrow as pa
    import pyarrow.compute as pc

    _, chans, study, (n, persons, every) = totals
    if customers is None:
        customers = _population(events, study, None, by)
    customers = _check_population(customers, by)
    ids = customers["customer_id"].astype(str).unique()
    at = pc.index_in(pa.array(ids, pa.string()), value_set=persons)
    at = pc.fill_null(at, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    cols = [every.index(c) for c in chans]
    counts = np.zeros((len(ids), len(cols)), dtype=np.int64)
    found = np.flatnonzero(at >= 0)  # the others have no event in the log
    counts[found] = n.reshape(-1, len(every))[:, cols][at[found]]
    grid = pd.MultiIndex.from_product([ids, chans, ["study"]])
    out = pd.DataFrame(
        {
            "customer_id": grid.get_level_values(0),
            "channel": grid.get_level_values(1),
            "period": grid.get_level_values(2),
            "contacts": counts.ravel(),
        }
    )
    if by is not None:
        out.insert(1, by, _by_values(out, customers, by, len(chans)))
    return out


def _by_values(out: pd.DataFrame, customers: pd.DataFrame, by: str, block: int) -> pd.Series:
    """Each row's customer's ``by`` value (the first row of the customer in ``customers``),
    looked up once per customer: the grid repeats each customer in a block of ``block`` rows
    (its channels and periods)."""
    first = customers.drop_duplicates("customer_id").set_index("customer_id")[by]
    mapped = out["customer_id"].iloc[:: max(block, 1)].map(first).repeat(block)
    return mapped.set_axis(out.index)


def _frequency(period: str) -> str | None:
    if isinstance(period, str) and period in PERIODS:
        return PERIODS[period]
    try:
        pd.Period("2026-01-05", freq=period)
    except (ValueError, TypeError):
        raise AnalysisError(
            f"period={period!r} is not a period.",
            [
                Problem(
                    "unknown period",
                    column="period",
                    fix=f"use one of {', '.join(PERIODS)} or a pandas frequency such as '2W'",
                )
            ],
        ) from None
    return str(period)


def _study_channels(study) -> dict[str, str]:
    return {t.id: t.channel for t in study.journey.touchpoints}


def _counted(events, channels, freq, start, end) -> tuple:
    """``(contacts, channels, period labels, study)``: ``contacts`` a Series of counts indexed
    by ``customer_id, channel, period`` (only the counts above zero); the channels with a
    contact in the counted periods, sorted (a channel never recorded is left out)."""
    from ._inputs import study_of

    if freq is None and study_of(events) is not None:
        return _study_totals(events, channels, start, end)
    frame, tz, study = _contact_frame(events, channels)
    start, end = _bounds(study, frame, start, end, tz)
    frame = frame[(frame["t"] >= start) & (frame["t"] <= end)]
    labels = _period_labels(start, end, freq)
    frame = frame.assign(period=_period_of(frame["t"], freq))
    counted = frame.groupby(["customer_id", "channel", "period"], observed=True).size()
    return counted, sorted(pd.unique(frame["channel"]).tolist()), labels, study


def _study_totals(events, channels, start=None, end=None, *, totals=None) -> tuple:
    """:func:`_counted` for a study over its whole period, aggregated on the engine: one row per
    customer and channel comes back instead of one per contact (the same counts: contacts
    between the same bounds, compared in microseconds since the epoch). ``totals``: the
    :func:`_study_frame` already read."""
    df, chans, study, dense = totals or _study_frame(events, channels, start, end)
    if df is None:
        df = _frame_of(dense)
    index = pd.MultiIndex.from_arrays(
        [df["customer_id"].astype(str), df["channel"].astype(str), ["study"] * len(df)],
        names=["customer_id", "channel", "period"],
    )
    counted = pd.Series(df["n"].to_numpy("int64"), index=index)
    return counted, chans, ["study"], study


def _study_frame(events, channels, start=None, end=None) -> tuple:
    """``(frame, channels, study, dense)``: the contacts of :func:`_study_totals` and the
    channels counted (sorted: those with a contact), with the study. From the log's sorted
    arrays, ``dense`` holds them (:func:`_dense_from_arrays`) and ``frame`` is None; else
    ``frame`` holds ``customer_id, channel, n`` from the engine (its text ids may repeat a
    pair) and ``dense`` is None."""
    log, channels, study = _log_of(events, channels)
    eng, tz = log.engine, log.timezone
    contacts = _contacts_sql(log, with_channel=False)
    start, end = _bounds(study, _span(log, contacts, study, start, end), start, end, tz)
    lo, hi = -(-start.value // 1000), end.value // 1000  # ns to whole microseconds inside
    mapping = {
        str(tp): str(ch)
        for tp, ch in dict(channels or {}).items()
        if ch is not None and not (isinstance(ch, float) and ch != ch)
    }
    dense = _dense_from_arrays(log, mapping, lo, hi)
    if dense is not None and dense[2]:
        used = dense[0].reshape(-1, len(dense[2])).any(axis=0)
        return None, [c for c, u in zip(dense[2], used, strict=True) if u], study, dense
    if dense is not None:  # no touchpoint at all
        df = _frame_of(dense)
        return df, sorted(pd.unique(df["channel"].astype(str)).tolist()), study, None
    cases = " ".join(f"WHEN {eng.lit(tp)} THEN {eng.lit(ch)}" for tp, ch in mapping.items())
    tp = eng.cast_str("touchpoint")
    channel = f"CASE {tp} {cases} ELSE {tp} END" if cases else tp
    per = (
        f"SELECT customer_id, {channel} AS channel FROM ({contacts}) AS c "
        f"WHERE {eng.us('t')} BETWEEN {lo} AND {hi}"
    )
    df = eng.fetch(
        f"SELECT {eng.cast_str('customer_id')} AS customer_id, channel, count(*) AS n "
        f"FROM ({per}) AS p GROUP BY customer_id, channel"
    )
    return df, sorted(pd.unique(df["channel"].astype(str)).tolist()), study, None


def _span(log, contacts: str, study, start, end) -> pd.DataFrame:
    """``t``: the first and last contact of the log, read only when the counted period is not
    given in full (by ``start``, ``end`` or the study's ``period:``)."""
    cfg = getattr(study, "traces", None)
    period = getattr(cfg, "period", (None, None)) if cfg is not None else (None, None)
    if (start if start is not None else period[0]) is not None and (
        end if end is not None else period[1]
    ) is not None:
        return pd.DataFrame({"t": pd.Series([], dtype=f"datetime64[us, {log.timezone}]")})
    span = log.engine.fetch(f"SELECT min(t) AS lo, max(t) AS hi FROM ({contacts}) AS c")
    seen = pd.to_datetime(span.iloc[0].dropna(), utc=True)
    return pd.DataFrame({"t": seen.dt.tz_convert(log.timezone) if len(seen) else seen})


def _totals_from_arrays(log, mapping: dict, lo: int, hi: int) -> pd.DataFrame | None:
    """``customer_id, channel, n``: :func:`_study_totals`'s query answered from the log's
    sorted arrays (DuckDB fast path, the kit's sessions): a contact is a session's first event
    of a touchpoint, kept when its time (microseconds) is within ``[lo, hi]``. None
    otherwise."""
    dense = _dense_from_arrays(log, mapping, lo, hi)
    return None if dense is None else _frame_of(dense)


def _frame_of(dense: tuple) -> pd.DataFrame:
    """The rows above zero of :func:`_dense_from_arrays`'s counts: ``customer_id, channel,
    n``."""
    import pyarrow as pa

    n, persons, chans = dense
    k = max(len(chans), 1)
    nz = np.flatnonzero(n)
    return pd.DataFrame(
        {
            "customer_id": persons.take(pa.array(nz // k)).to_numpy(zero_copy_only=False),
            "channel": np.array(chans or [""], dtype=object)[nz % k],
            "n": n[nz],
        }
    )


def _dense_from_arrays(log, mapping: dict, lo: int, hi: int) -> tuple | None:
    """``(n, persons, channels)``: the contacts of :func:`_totals_from_arrays` as counts per
    person and channel (``n[p * len(channels) + c]``; ``persons``: the log's distinct user ids,
    text; ``channels`` sorted), or None."""
    from ._log_rows import kept_rows, sorted_arrays

    s = sorted_arrays(log)
    if s is None:
        return None
    from .traces import _arrays

    tp, names = _arrays._codes(s, log, "touchpoint")
    where = "touchpoint IS NOT NULL AND user_id IS NOT NULL AND timestamp IS NOT NULL"
    kept = kept_rows(log, s, where)
    if kept is None or (tp[kept[0]] < 0).any():
        return None
    idx = kept[0]
    # rows are in time order within a session: a contact's first row is its earliest
    first = np.unique(s.session[idx] * max(len(names), 1) + tp[idx], return_index=True)[1]
    rows = idx[first]
    rows = rows[(s.t[rows] >= lo) & (s.t[rows] <= hi)]
    labels = [mapping.get(n, n) for n in names]
    chans = sorted(set(labels))
    code = np.array([chans.index(c) for c in labels] or [0], dtype=np.int64)
    k = max(len(chans), 1)
    n = np.bincount(s.person[rows] * k + code[tp[rows]], minlength=len(s.persons) * k)
    return n, s.persons, chans


def _log_of(events, channels) -> tuple:
    """The event log, the ``{touchpoint: channel}`` mapping and the study (None for events)."""
    from ._inputs import study_of
    from .evidence import evidence_of

    study = study_of(events)
    if study is not None:
        log = evidence_of(events).traces.log
        channels = {**_study_channels(study), **dict(channels or {})}
    else:
        from .traces.eventlog import as_log

        log, _ = as_log(events)
    missing = [c for c in ("user_id", "timestamp", "touchpoint") if not log.has(c)]
    if missing:
        raise AnalysisError(
            "contact_counts: the events cannot be counted.",
            [
                Problem(
                    f"missing column {c!r}",
                    column=c,
                    fix="map events to touchpoints first (pr.traces.map_touchpoints) or pass a study",
                )
                for c in missing
            ],
        )
    return log, channels, study


def _contact_frame(events, channels) -> tuple[pd.DataFrame, str, object]:
    """``customer_id, touchpoint, channel, t`` (one row per contact), the time zone, the study."""
    log, channels, study = _log_of(events, channels)
    frame = _fetch_contacts(log, with_channel=study is None and channels is None)
    if "channel" not in frame.columns:
        mapped = frame["touchpoint"].astype(str).map(dict(channels or {}))
        frame["channel"] = mapped.where(mapped.notna(), frame["touchpoint"].astype(str)).astype(str)
    frame["t"] = pd.to_datetime(frame["t"], utc=True).dt.tz_convert(log.timezone)
    return frame, log.timezone, study


def _fetch_contacts(log, with_channel: bool) -> pd.DataFrame:
    """One row per contact: the touchpoint's first event in each session (each event without
    sessions), from the engine."""
    frame = log.engine.fetch(_contacts_sql(log, with_channel))
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame


def _contacts_sql(log, with_channel: bool) -> str:
    """SQL of the contacts: ``customer_id, touchpoint, t`` (and ``channel``)."""
    chan = ", min(channel) AS channel" if with_channel and log.has("channel") else ""
    where = "touchpoint IS NOT NULL AND user_id IS NOT NULL AND timestamp IS NOT NULL"
    if log.has("session_id"):
        sql = (
            f"SELECT user_id AS customer_id, touchpoint, min(timestamp) AS t{chan} FROM {log.ref} "
            f"WHERE {where} GROUP BY user_id, touchpoint, session_id"
        )
    else:
        chan = ", channel" if chan else ""
        sql = f"SELECT user_id AS customer_id, touchpoint, timestamp AS t{chan} FROM {log.ref} WHERE {where}"
    return sql


def _population(events, study, counted: pd.Series, by: str | None) -> pd.DataFrame:
    """The customers counted: the study's customer file, else every user of the log
    (``counted``: the counts of :func:`_counted`)."""
    if study is not None and study.customers is not None:
        cols = ["customer_id"] + ([by] if by and by in study.customers.columns else [])
        return study.customers[cols]
    users = _log_users(events, study, by)
    return (
        users
        if users is not None
        else pd.DataFrame({"customer_id": counted.index.get_level_values("customer_id").unique()})
    )


def _log_users(events, study, by) -> pd.DataFrame | None:
    from .evidence import evidence_of
    from .traces.eventlog import as_log

    log = evidence_of(events).traces.log if study is not None else as_log(events)[0]
    cols = "user_id AS customer_id" + (
        f", min({log.engine.q(by)}) AS {log.engine.q(by)}" if by and log.has(by) else ""
    )
    out = log.engine.fetch(
        f"SELECT {cols} FROM {log.ref} WHERE user_id IS NOT NULL GROUP BY user_id"
    )
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def _check_population(customers, by) -> pd.DataFrame:
    if not isinstance(customers, pd.DataFrame) or "customer_id" not in customers.columns:
        raise AnalysisError("contact_counts: customers= must be a DataFrame with customer_id.")
    if by is not None and by not in customers.columns:
        raise AnalysisError(
            f"contact_counts: no column {by!r} to group by.",
            [
                Problem(
                    f"missing column {by!r}",
                    column=by,
                    fix=f"give customers= a {by!r} column, or by=None",
                )
            ],
        )
    out = customers.copy()
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def _bounds(study, frame, start, end, tz):
    """The counted period: arguments, else the study's ``period:``, else the log's span (an
    end given as a date counts that whole day)."""
    cfg = getattr(study, "traces", None)
    period = getattr(cfg, "period", (None, None)) if cfg is not None else (None, None)
    start = start if start is not None else period[0]
    end = end if end is not None else period[1]
    first = frame["t"].min() if len(frame) else pd.Timestamp("1970-01-01", tz=tz)
    start = _stamp(start, tz) if start is not None else first
    if end is None:
        return start, frame["t"].max() if len(frame) else start
    end = _stamp(end, tz)
    if end == end.normalize():
        end = end + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return start, end


def _stamp(value, tz) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)


def _period_labels(start, end, freq) -> list[str]:
    if freq is None:
        return ["study"]
    rng = pd.period_range(start.tz_localize(None), end.tz_localize(None), freq=freq)
    return [str(p) for p in rng]


def _period_of(t: pd.Series, freq) -> pd.Series:
    if freq is None:
        return pd.Series("study", index=t.index)
    return t.dt.tz_localize(None).dt.to_period(freq).astype(str)
