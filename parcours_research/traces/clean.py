"""Remove parasitic signals from an event log, and account for every row removed.

:func:`clean` gives each input row exactly one outcome, by this precedence (the first that
applies wins):

1. ``unparseable``      no readable timestamp, no event name, or neither user nor device id;
2. ``outside_period``   timestamp outside the study period (``start <= t < end``);
3. ``bot_user_agent``   the user agent names a robot (crawler, monitor, scripted client);
4. ``bot_behaviour``    the *actor* (device id, or user id when there is no device) behaves like
                        a robot: more than ``max_per_minute`` events in one calendar minute, or at
                        least ``min_events`` events at inhumanly regular intervals (coefficient
                        of variation of the gaps below ``max_interval_cv``);
5. ``exact_duplicate``  identical to an earlier row (every column but the positions ``row_id``
                        and ``file_row``, timestamps compared as instants); the first occurrence
                        is kept;
6. ``near_duplicate``   (off by default) same actor, same event and identical properties (every
                        other column but the timestamp and transport fields such as GA4's
                        ``batch_*``) as the previous remaining such event, at most
                        ``near_duplicates`` later (a double fire);
7. ``kept``.

Why near duplicates are off by default (measured, 2026-12): on the two public demo logs of
Retentioneering (Apache-2.0; ``simple_shop``, 32,283 events of 3,751 users, and its A/B variant
``ab_test_demo``), the former 1-second rule removed 42 events each, all real repeats of the
same page by a person (27 ``catalog``, 15 ``main``; gaps 0.09 to 0.99 s; 1 under 0.1 s, 12
under 0.5 s); on its ``ecom`` demo log (31,106 events, timestamps to the second) it removed
25 repeats exactly 1 s apart, beside 30 identical rows (a self-loop such as ``catalog`` ->
``catalog`` written within the same second). No tolerance removes only double fires on those
logs, so only exact duplicates go by default; ``near_duplicates="300ms"`` (say) turns the rule
on where a tag is known to fire twice, and :attr:`CleaningLog.duplicates` shows what went, by
event.

Detection runs on the cleanest rows available: robot behaviour is measured on rows that passed
1-3 without their exact duplicates (so that a double-firing tag does not make a person look like
a robot; this holds even when the duplicate filter is off), and near duplicates are looked for
among the rows that remain after 1-5. Every filter but the
first can be turned off to see how sensitive the results are to it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from typing import NamedTuple

import pandas as pd

from ..errors import TraceDataError
from . import _audit, _time
from .eventlog import EventLog, as_log, output, select_list, to_us

__all__ = ["clean", "Cleaned", "CleaningLog", "BotRules", "BOT_PATTERNS", "REASONS"]

#: Outcomes of :func:`clean`, in order of precedence after ``kept``.
REASONS = (
    "kept",
    "unparseable",
    "outside_period",
    "bot_user_agent",
    "bot_behaviour",
    "exact_duplicate",
    "near_duplicate",
)

_DESCRIPTIONS = {
    "kept": "kept for analysis",
    "unparseable": "timestamp, event or identity cannot be read",
    "outside_period": "outside the study period",
    "bot_user_agent": "robot user agent",
    "bot_behaviour": "robot behaviour (rate or regularity)",
    "exact_duplicate": "exact duplicate of an earlier row",
    "near_duplicate": "same event and properties repeated by the same actor within the tolerance",
}

#: Lower-case fragments of user agents that belong to robots (crawlers, monitors, scripts).
BOT_PATTERNS = (
    "bot",
    "crawl",
    "spider",
    "slurp",
    "scrape",
    "headless",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "curl/",
    "wget",
    "httpclient",
    "java/",
    "go-http-client",
    "node-fetch",
    "axios/",
    "scrapy",
    "selenium",
    "puppeteer",
    "playwright",
    "lighthouse",
    "pingdom",
    "uptimerobot",
    "facebookexternalhit",
    "embedly",
    "datadog",
    "newrelic",
    "statuscake",
    "site24x7",
    "ahrefs",
    "semrush",
    "yandex",
    "baiduspider",
    "bingpreview",
)


@dataclass(frozen=True)
class BotRules:
    """Thresholds of the behavioural robot filter.

    Attributes
    ----------
    max_per_minute : int
        An actor with more events than this in one calendar minute is a robot.
    min_events : int
        Regularity is judged only for actors with at least this many events.
    max_interval_cv : float
        An actor whose gaps between consecutive events have a coefficient of variation
        (standard deviation / mean) below this is a robot. People's gaps vary widely (CV near
        or above 1); a script clicking every 2 seconds has CV 0.
    """

    max_per_minute: int = 30
    min_events: int = 20
    max_interval_cv: float = 0.1


@dataclass
class CleaningLog:
    """What :func:`clean` did to every row.

    Attributes
    ----------
    summary : DataFrame
        One row per outcome in :data:`REASONS` order: ``reason, n, share, enabled,
        description``. ``n`` adds up to the number of input rows exactly.
    bots : DataFrame
        Actors flagged by behaviour: ``actor, n_events, max_per_minute, interval_cv, rule``
        (``rule`` is ``rate``, ``regularity`` or ``rate+regularity``).
    settings : dict
        The filters and thresholds used.
    time : DataFrame
        How the timestamps were read (the rules of :mod:`._time`), one row per rule: ``rule,
        n, outcome, description, examples, fix``. ``dst_gap`` and ``dst_overlap`` count kept
        local times moved by a clock change (``outcome`` ``kept``); ``missing``,
        ``out_of_range``, ``bad_offset``, ``unknown_zone`` and ``unknown_format`` count the
        rows without a timestamp by cause (``outcome`` ``unparseable``: they are part of the
        ``unparseable`` row of :attr:`summary`, which also counts rows without an event or an
        id). ``n`` counts input rows, whatever their reason in :attr:`summary`.
    """

    summary: pd.DataFrame
    bots: pd.DataFrame
    settings: dict
    _removed: EventLog | None = None
    _source: EventLog | None = None
    _time_notes: _time.Notes | None = None

    @property
    def time(self) -> pd.DataFrame:
        """How the timestamps were read (see the class docstring); computed when first asked."""
        if self._time_notes is None:
            return _time.empty_table()
        return self._time_notes.table()

    @property
    def n_input(self) -> int:
        return int(self.summary["n"].sum())

    @property
    def n_kept(self) -> int:
        return int(self.summary.loc[self.summary["reason"] == "kept", "n"].sum())

    @property
    def bot_share(self) -> float:
        """Share of input rows removed as robots (user agent or behaviour)."""
        s = self.summary.set_index("reason")["n"]
        return float((s["bot_user_agent"] + s["bot_behaviour"]) / max(self.n_input, 1))

    @property
    def duplicates(self) -> pd.DataFrame:
        """What the duplicate rules removed, by event: ``reason`` (``exact_duplicate`` or
        ``near_duplicate``), ``event``, ``n``; sorted by reason, then ``n`` descending. Its
        ``n`` add up to the two rows of :attr:`summary`."""
        empty = pd.DataFrame(
            {
                "reason": pd.Series(dtype="string"),
                "event": pd.Series(dtype="string"),
                "n": pd.Series(dtype="int64"),
            }
        )
        if self._removed is None or self._source is None:
            return empty
        r, e = self._removed.ref, self._source.ref
        out = self._removed.engine.fetch(
            f"SELECT r.reason, e.event, count(*) AS n FROM {r} AS r JOIN {e} AS e "
            f"ON r.row_id = e.row_id WHERE r.reason IN ('exact_duplicate', 'near_duplicate') "
            f"GROUP BY r.reason, e.event"
        )
        if out.empty:
            return empty
        out = out.astype({"reason": "string", "event": "string", "n": "int64"})
        out = out.sort_values(["reason", "n", "event"], ascending=[True, False, True])
        return out.reset_index(drop=True)

    def removed(self) -> pd.DataFrame:
        """The removed rows: ``row_id, reason`` (sorted by ``row_id``)."""
        if self._removed is None:
            return pd.DataFrame(
                {"row_id": pd.Series(dtype="int64"), "reason": pd.Series(dtype="string")}
            )
        return self._removed.engine.fetch(
            f"SELECT row_id, reason FROM {self._removed.ref} ORDER BY row_id"
        )

    def __repr__(self) -> str:
        parts = ", ".join(f"{r}={n}" for r, n in zip(self.summary["reason"], self.summary["n"]))
        return f"CleaningLog(n_input={self.n_input}, {parts})"

    def _repr_html_(self) -> str:
        shown = self.summary.assign(share=self.summary["share"].map(lambda x: f"{x:.2%}"))
        out = "<p><b>Cleaning log</b></p>" + shown.to_html(index=False)
        dup = self.summary["reason"].isin(["exact_duplicate", "near_duplicate"])
        if self.summary.loc[dup, "n"].sum() > 0:  # what the duplicate rules removed, by event
            out += "<p>Duplicates removed, by event</p>"
            out += self.duplicates.head(10).to_html(index=False)
        return out


class Cleaned(NamedTuple):
    """What :func:`clean` returns: the kept events and the log of what went (unpacks as
    ``events, log = clean(...)``).

    Attributes
    ----------
    events : EventLog or DataFrame
        The kept rows.
    log : CleaningLog
        Every input row counted by outcome.
    """

    events: object
    log: CleaningLog

    @property
    def summary(self) -> pd.DataFrame:
        """The cleaning log's table (``reason, n, share, enabled, description``)."""
        return self.log.summary

    def __repr__(self) -> str:
        return f"Cleaned({self.log.n_kept:,} of {self.log.n_input:,} rows kept; {self.log!r})"

    def _repr_html_(self) -> str:
        return self.log._repr_html_()


def _bound(value, tz: str, is_end: bool) -> int | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    whole_day = False
    if isinstance(value, str):
        text = value.strip()
        whole_day = re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is not None
        ts = pd.Timestamp(text)
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        whole_day, ts = True, pd.Timestamp(value)
    else:
        ts = pd.Timestamp(value)
        whole_day = ts.tzinfo is None and ts == ts.normalize()
    if ts.tzinfo is None:
        ts = ts.tz_localize(tz)
    if whole_day and is_end:
        ts = (ts.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(tz)
    return int((ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(microseconds=1))


def _period(period, log: EventLog):
    if period is None:
        period = log.meta.get("period")
    if period is None or period is False:
        return None
    try:
        start, end = period
    except (TypeError, ValueError) as exc:
        raise TraceDataError(
            f"period={period!r} must be a pair (start, end); use None for an open end."
        ) from exc
    try:
        lo, hi = _bound(start, log.timezone, False), _bound(end, log.timezone, True)
    except (ValueError, TypeError) as exc:
        raise TraceDataError(
            f"period={period!r}: cannot read the dates ({exc}); write them as "
            "'2026-01-05' or '2026-01-05 08:00'."
        ) from exc
    if lo is not None and hi is not None and lo >= hi:
        raise TraceDataError(f"period={period!r}: the start is not before the end.")
    return lo, hi


def _ua_pattern(bots_ua) -> str | None:
    if bots_ua is False or bots_ua is None:
        return None
    if bots_ua is True:
        tokens = BOT_PATTERNS
    elif isinstance(bots_ua, str):
        return bots_ua.lower()
    else:
        tokens = tuple(str(t).lower() for t in bots_ua)
    return "|".join(re.escape(t) for t in tokens)


def _rules(bots_behaviour) -> BotRules | None:
    if bots_behaviour is False or bots_behaviour is None:
        return None
    if bots_behaviour is True:
        return BotRules()
    if isinstance(bots_behaviour, BotRules):
        return bots_behaviour
    if isinstance(bots_behaviour, dict):
        try:
            return BotRules(**bots_behaviour)
        except TypeError as exc:
            raise TraceDataError(
                f"bots_behaviour={bots_behaviour!r}: {exc}; the keys are "
                "max_per_minute, min_events, max_interval_cv."
            ) from exc
    raise TraceDataError(
        f"bots_behaviour={bots_behaviour!r} must be True, False, a dict or a BotRules."
    )


def clean(
    events,
    *,
    bots_ua=True,
    bots_behaviour=True,
    duplicates: bool = True,
    near_duplicates=None,
    period=None,
):
    """Remove robots, duplicates and unusable rows, and say why each row went.

    Parameters
    ----------
    events : EventLog or DataFrame
        Events with the canonical columns (see :mod:`parcours_research.traces`).
    bots_ua : bool, str or list of str, default True
        Remove rows whose user agent names a robot: ``True`` uses :data:`BOT_PATTERNS`; a list
        gives other lower-case fragments; a string is a regular expression (on the lower-cased
        user agent). ``False`` turns the filter off.
    bots_behaviour : bool, dict or BotRules, default True
        Remove every row of actors that behave like robots (see :class:`BotRules`).
    duplicates : bool, default True
        Remove exact duplicates: rows identical in every column but their position (the first
        occurrence stays).
    near_duplicates : duration or None, default None
        Remove an event repeated by the same actor, with identical properties, within this
        delay (``"300ms"``); ``None`` (the default) keeps fast repeats, which people make (see
        the measurement in the module's documentation).
    period : (start, end), None or False
        Keep ``start <= timestamp < end``. Dates without a time cover the whole day (an end of
        ``"2026-03-29"`` keeps that day); times without a zone are in the log's time zone.
        ``None`` uses the study's period when the log was read from a study; ``False`` keeps
        every date.

    Returns
    -------
    Cleaned
        Unpacks as ``cleaned, log``; ``.summary`` is the log's table.
    cleaned : EventLog or DataFrame
        The kept rows, same columns as ``events`` (a DataFrame for a DataFrame).
    log : CleaningLog
        ``log.summary`` has one row per outcome (``reason, n, share, enabled, description``)
        whose ``n`` add up to the number of input rows; ``log.bots`` lists the actors removed for
        their behaviour.

    Warns
    -----
    DataQualityWarning
        When one filter removes more than half the input rows
        (:data:`~.coverage.MAX_REMOVED_SHARE`), naming the filter and the count.
    """
    _audit.note("clean")
    log, was_frame = as_log(events)
    pattern = _ua_pattern(bots_ua)
    rules = _rules(bots_behaviour)
    tol = None if near_duplicates in (None, False) else to_us(near_duplicates, "near_duplicates")
    bounds = _period(period, log)
    enabled = {
        "kept": True,
        "unparseable": True,
        "outside_period": bounds is not None,
        "bot_user_agent": pattern is not None and log.has("user_agent"),
        "bot_behaviour": rules is not None,
        "exact_duplicate": bool(duplicates),
        "near_duplicate": tol is not None,
    }
    settings = {
        "bots_ua": pattern,
        "bots_behaviour": asdict(rules) if rules else None,
        "duplicates": bool(duplicates),
        "near_duplicates_us": tol,
        "period_us": bounds,
    }
    n_by, bots, removed, arrays = _find(log, pattern, rules, bool(duplicates), tol, bounds)
    q = log.engine.q
    kept = log.derive(
        log.engine.view(
            f"SELECT {select_list(log, alias='e')} FROM {log.ref} AS e "
            f"WHERE NOT EXISTS (SELECT 1 FROM {q(removed)} AS r WHERE r.row_id = e.row_id)",
            "cleaned",
        ),
        arrays=arrays,
    )
    summary = _summary(n_by, enabled)
    notes = _time.Notes(log, int(n_by.get("unparseable", 0)), arrays)
    notes.report(sum(n_by.values()))
    cleaning = CleaningLog(
        summary, _bots_table(bots), settings, log.derive(removed), log, _time_notes=notes
    )
    _warn_large_removals(cleaning)
    return Cleaned(output(kept, was_frame), cleaning)


def _warn_large_removals(cleaning: CleaningLog) -> None:
    """A loud warning per filter removing more than half the rows (see :mod:`.coverage`)."""
    import warnings

    from ..errors import DataQualityWarning
    from .coverage import removal_messages

    for message in removal_messages(cleaning):
        warnings.warn(message, DataQualityWarning, stacklevel=3)


def _find(log: EventLog, pattern, rules, duplicates: bool, tol, bounds):
    """``(counts by reason, bots or None, removed table, kept arrays or None)``: the DuckDB
    array path when it applies, else (or when it gives up) the SQL of every engine."""
    eng = log.engine
    if eng.fast and eng.name == "duckdb":
        from . import _clean_arrays

        try:
            return _clean_fast(log, pattern, rules, duplicates, tol, bounds)
        except _clean_arrays.Fallback:  # a 64-bit hash collision, a source that changed
            pass
    return _clean_sql(log, pattern, rules, duplicates, tol, bounds) + (None,)


def _summary(n_by: dict, enabled: dict) -> pd.DataFrame:
    total = sum(n_by.values())
    return pd.DataFrame(
        {
            "reason": list(REASONS),
            "n": [int(n_by.get(r, 0)) for r in REASONS],
            "share": [n_by.get(r, 0) / total if total else 0.0 for r in REASONS],
            "enabled": [enabled[r] for r in REASONS],
            "description": [_DESCRIPTIONS[r] for r in REASONS],
        }
    )


def _bots_table(bots: pd.DataFrame | None) -> pd.DataFrame:
    """The actors removed for their behaviour, with stable dtypes (empty when none)."""
    if bots is not None:
        bots["n_events"] = bots["n_events"].astype("int64")
        bots["max_per_minute"] = bots["max_per_minute"].astype("int64")
        return bots
    return pd.DataFrame(
        {
            "actor": pd.Series(dtype="string"),
            "n_events": pd.Series(dtype="int64"),
            "max_per_minute": pd.Series(dtype="int64"),
            "interval_cv": pd.Series(dtype="float64"),
            "rule": pd.Series(dtype="string"),
        }
    )


_BOTS_COLUMNS = "actor, n_events, max_per_minute, interval_cv, rule"


def _clean_fast(log: EventLog, pattern, rules, duplicates: bool, tol, bounds):
    """The DuckDB array path: ``(counts by reason, bots, removed table, kept arrays)``."""
    import numpy as np
    import pyarrow as pa

    from . import _clean_arrays as ca

    eng = log.engine
    q = eng.q
    src = log.ref
    enc, ua, ua_values = ca.fetch(log, want_ua=True)
    ua_bot = None
    if pattern is not None and ua_values is not None:
        reg = eng.register(
            pa.table({"i": np.arange(len(ua_values), dtype=np.int64), "user_agent": ua_values}),
            "ua",
        )
        ua_bot = eng.fetch(
            f"SELECT {eng.regex('lower(user_agent)', pattern)} AS b FROM {q(reg)} ORDER BY i"
        )["b"]
        ua_bot = ua_bot.fillna(False).to_numpy(dtype=bool)
        eng.drop(reg)
    extra = [c for c in log.columns if c not in ca.NARROW]
    sql_dups = None
    if extra:
        part_all = ", ".join(q(c) for c in log.columns if c not in POSITION_COLUMNS)

        def sql_dups(row_ids):
            name = eng.register(pa.table({"row_id": np.asarray(row_ids, np.int64)}), "cand")
            res = eng.arrow(
                f"SELECT row_id FROM (SELECT row_id, row_number() OVER (PARTITION BY "
                f"{part_all} ORDER BY row_id) AS _k FROM {src} "
                f"WHERE row_id IN (SELECT row_id FROM {q(name)})) AS w WHERE _k > 1"
            )
            eng.drop(name)
            return np.asarray(res.column("row_id").to_numpy(), dtype=np.int64)

    reason, bots = ca.reasons(enc, ua, ua_bot, bounds, rules, duplicates, None, sql_dups)
    del ua
    if tol is not None:  # near duplicates compare every property: the SQL of every engine
        left = enc.row_id[reason == ca.KEPT].astype(np.int64)
        reg = eng.register(pa.table({"row_id": left}), "remaining")
        near = eng.arrow(_near_sql(log, f"SELECT row_id FROM {q(reg)}", tol))
        eng.drop(reg)
        ids = np.asarray(near.column("row_id").to_numpy(), dtype=np.int64)
        reason[np.isin(enc.row_id, ids) & (reason == ca.KEPT)] = ca.NEAR
    # counted on the removed rows only: ``np.bincount`` of every row would first cast the int8
    # codes to a 64-bit copy of the whole log (80 MB of fresh memory at 1e7 events)
    gone = np.flatnonzero(reason != ca.KEPT)
    gone_reason = reason[gone].astype(np.int32)
    counts = np.bincount(gone_reason, minlength=len(REASONS))
    counts[ca.KEPT] = len(reason) - len(gone)
    n_by = {r: int(c) for r, c in zip(REASONS, counts) if c}
    codes = pa.array(gone_reason)
    removed_arrow = pa.table(
        {
            "row_id": enc.row_id[gone].astype(np.int64),
            "reason": pa.DictionaryArray.from_arrays(codes, pa.array(REASONS)).cast(pa.string()),
        }
    )
    del gone, gone_reason, codes
    reg = eng.register(removed_arrow, "removed_rows")
    removed = eng.table(f"SELECT row_id, reason FROM {q(reg)}", "removed")
    eng.drop(reg)
    del removed_arrow
    bots_df = None
    if bots is not None:
        reg = eng.register(
            pa.table(
                {
                    "actor": bots["actor"].cast(pa.string()),
                    "n_events": pa.array(bots["n_events"], pa.int64()),
                    "max_per_minute": pa.array(bots["max_per_minute"], pa.int64()),
                    "interval_cv": pa.array(bots["interval_cv"], pa.float64(), from_pandas=True),
                    "rule": pa.array(bots["rule"], pa.string()),
                }
            ),
            "bots",
        )
        bots_df = eng.fetch(f"SELECT {_BOTS_COLUMNS} FROM {q(reg)} ORDER BY actor")
        eng.drop(reg)
    return n_by, bots_df, removed, ca.kept(enc, reason)


def _clean_sql(log: EventLog, pattern, rules, duplicates: bool, tol, bounds):
    """The SQL of every engine: ``(counts by reason, bots or None, removed table)``."""
    eng = log.engine
    q = eng.q
    others = [c for c in log.columns if c not in POSITION_COLUMNS]
    f = q(_flagged(log, pattern, bounds, others))
    # exact duplicates are always found (robot behaviour is judged without them); they are
    # removed as such only when ``duplicates`` is on
    every = eng.table(f"SELECT row_id, _actor, _t, event, _r1 FROM {f}", "clean_all")
    d = q(_duplicates(eng, f, q(every), others))
    is_dup = "d._k > 1" if duplicates else "FALSE"
    bots_tab = _bots_sql(eng, d, rules) if rules is not None else None
    bot_join = f"LEFT JOIN {q(bots_tab)} AS bt ON d._actor = bt.actor" if bots_tab else ""
    is_bot = "bt.actor IS NOT NULL" if bots_tab else "FALSE"
    if tol is not None:
        remaining = (
            f"SELECT d.row_id FROM {d} AS d {bot_join} WHERE NOT ({is_dup}) AND NOT ({is_bot})"
        )
        near = f"SELECT row_id, 'near_duplicate' AS reason FROM ({_near_sql(log, remaining, tol)}) AS nd"
    else:
        near = None
    removed_sql = (
        f"SELECT row_id, _r1 AS reason FROM {q(every)} WHERE _r1 IS NOT NULL "
        f"UNION ALL SELECT d.row_id, CASE WHEN {is_bot} THEN 'bot_behaviour' ELSE 'exact_duplicate' END "
        f"FROM {d} AS d {bot_join} WHERE {is_bot} OR {is_dup}"
        + (f" UNION ALL {near}" if near else "")
    )
    removed = eng.table(removed_sql, "removed")
    counts = eng.fetch(
        f"SELECT coalesce(r.reason, 'kept') AS reason, count(*) AS n FROM {q(every)} AS e "
        f"LEFT JOIN {q(removed)} AS r ON e.row_id = r.row_id GROUP BY coalesce(r.reason, 'kept')"
    )
    n_by = dict(zip(counts["reason"], counts["n"].astype("int64")))
    bots = None
    if bots_tab:
        bots = eng.fetch(f"SELECT {_BOTS_COLUMNS} FROM {q(bots_tab)} ORDER BY actor")
    return n_by, bots, removed


#: Columns that place a row rather than describe it: ignored when rows are compared.
POSITION_COLUMNS = ("row_id", "file_row")
#: Columns that differ between two sends of one event (its time, GA4's transport fields):
#: ignored when near duplicates are compared.
TRANSPORT_COLUMNS = (
    "timestamp",
    "batch_page_id",
    "batch_ordering_id",
    "batch_event_index",
    "event_bundle_sequence_id",
    "event_previous_timestamp",
    "event_server_timestamp_offset",
)


def _near_sql(log: EventLog, rows_sql: str, tol: int) -> str:
    """``row_id`` of the near duplicates among the rows of ``rows_sql``: same actor, same
    event, same value in every other column but positions and transport fields, at most
    ``tol`` microseconds after the previous such row."""
    eng = log.engine
    q = eng.q
    same = [c for c in log.columns if c not in POSITION_COLUMNS + TRANSPORT_COLUMNS]
    part = ", ".join(["coalesce(e.device_id, e.user_id)", *(f"e.{q(c)}" for c in same)])
    t = eng.us("e.timestamp")
    return (
        f"SELECT row_id FROM (SELECT e.row_id, {t} - lag({t}) OVER (PARTITION BY {part} "
        f"ORDER BY {t}, e.row_id) AS _g FROM {log.ref} AS e "
        f"JOIN ({rows_sql}) AS k ON e.row_id = k.row_id) AS n WHERE _g <= {int(tol)}"
    )


def _flagged(log: EventLog, pattern, bounds, others: list[str]) -> str:
    """A view of the events with ``_actor``, ``_t`` (us) and ``_r1``, the row-level reason
    (unparseable, outside the period, robot user agent) or NULL."""
    eng = log.engine
    q = eng.q
    src = log.ref
    t = eng.us("timestamp")
    cond = [
        "WHEN timestamp IS NULL OR event IS NULL OR (user_id IS NULL AND device_id IS NULL) "
        "THEN 'unparseable'"
    ]
    if bounds is not None:
        lo, hi = bounds
        tests = ([f"{t} < {lo}"] if lo is not None else []) + (
            [f"{t} >= {hi}"] if hi is not None else []
        )
        if tests:
            cond.append(f"WHEN {' OR '.join(tests)} THEN 'outside_period'")
    ua_join = ""
    if pattern is not None and log.has("user_agent"):
        ua_tab = eng.table(
            f"SELECT user_agent, {eng.regex('lower(user_agent)', pattern)} AS is_bot "
            f"FROM (SELECT DISTINCT user_agent FROM {src}) AS d WHERE user_agent IS NOT NULL",
            "ua",
        )
        ua_join = f"LEFT JOIN {q(ua_tab)} AS ua ON e.user_agent = ua.user_agent"
        cond.append("WHEN ua.is_bot THEN 'bot_user_agent'")
    cols_e = ", ".join(f"e.{q(c)}" for c in others)
    te = eng.us("e.timestamp")
    return eng.view(
        f"SELECT e.row_id, {cols_e}, coalesce(e.device_id, e.user_id) AS _actor, {te} AS _t, "
        f"CASE {' '.join(cond)} END AS _r1 FROM {src} AS e {ua_join}",
        "clean_flag",
    )


def _duplicates(eng, f: str, every: str, others: list[str]) -> str:
    """A view of the rows without a row-level reason, ``_k = 2`` for exact duplicates."""
    q = eng.q
    part_all = ", ".join(q(c) for c in others)
    # candidates first: rows sharing actor and instant with another row (few), so that the
    # window over every column runs on them only
    n_ = f"(SELECT row_id, _actor, _t, event FROM {every} WHERE _r1 IS NULL)"
    tied = f"SELECT _actor, _t FROM {n_} GROUP BY _actor, _t HAVING count(*) > 1"
    k = f"row_number() OVER (PARTITION BY {part_all} ORDER BY row_id)"
    dups = eng.table(
        f"SELECT row_id FROM (SELECT row_id, {k} AS _k "
        f"FROM (SELECT x.* FROM {f} AS x JOIN ({tied}) AS tt ON x._actor = tt._actor AND x._t = tt._t "
        f"WHERE x._r1 IS NULL) AS c) AS w WHERE _k > 1",
        "clean_dups",
    )
    return eng.view(
        f"SELECT a.row_id, a._actor, a._t, a.event, CASE WHEN b.row_id IS NULL THEN 1 ELSE 2 END AS _k "
        f"FROM {n_} AS a LEFT JOIN {q(dups)} AS b ON a.row_id = b.row_id",
        "clean_dup",
    )


def _bots_sql(eng, d: str, rules: BotRules) -> str:
    """A table of the actors that behave like robots (judged without exact duplicates)."""
    return eng.table(
        f"""
        SELECT a.actor, a.n_events, m.max_per_minute, a.interval_cv,
               CASE WHEN m.max_per_minute > {rules.max_per_minute} AND a.regular THEN 'rate+regularity'
                    WHEN m.max_per_minute > {rules.max_per_minute} THEN 'rate'
                    ELSE 'regularity' END AS rule
        FROM (SELECT actor, n_events, interval_cv,
                     (n_events >= {rules.min_events} AND interval_cv < {float(rules.max_interval_cv)!r}) AS regular
              FROM (SELECT _actor AS actor, count(*) AS n_events,
                           CASE WHEN avg(_g) = 0 THEN 0.0 ELSE stddev_pop(_g) / avg(_g) END AS interval_cv
                    FROM (SELECT _actor, _t - lag(_t) OVER (PARTITION BY _actor ORDER BY _t, row_id) AS _g
                          FROM {d} WHERE _k = 1) AS g
                    GROUP BY _actor) AS s) AS a
        JOIN (SELECT _actor AS actor, max(n) AS max_per_minute
              FROM (SELECT _actor, floor(_t / 60000000) AS m, count(*) AS n FROM {d} WHERE _k = 1
                    GROUP BY _actor, floor(_t / 60000000)) AS c
              GROUP BY _actor) AS m ON a.actor = m.actor
        WHERE a.regular OR m.max_per_minute > {rules.max_per_minute}""",
        "bots",
    )
