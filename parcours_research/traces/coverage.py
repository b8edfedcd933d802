"""What the trace pipeline leaves out, counted: events mapped to no touchpoint, and cleaning
filters that remove most rows.

Both are legitimate in small amounts (a ``scroll`` event no touchpoint lists; a robot share of a
few percent) and silent data loss in large ones (a misspelt event name in study.yml, a filter
that removes 100 % of the rows). They are counted and, above a stated threshold, warned about
with :class:`~parcours_research.errors.DataQualityWarning`:

- every kept event whose name no touchpoint lists (``events:`` of the touchpoints in study.yml)
  is counted, and the warning names the count and the most frequent such names. Events declared
  as ``login_events`` serve identity stitching and are counted apart, without a warning;
- a cleaning filter that removes more than :data:`MAX_REMOVED_SHARE` of the input rows is
  warned about with its count.
"""

from __future__ import annotations

import pandas as pd

from .eventlog import as_log

__all__ = ["unmapped_events", "unmapped_message", "removal_messages", "MAX_REMOVED_SHARE"]

#: A cleaning filter removing more than this share of the input rows is warned about.
MAX_REMOVED_SHARE = 0.5
#: Event names shown in a warning.
TOP_SHOWN = 5
#: What to do about events mapped to no touchpoint.
UNMAPPED_FIX = (
    "list them under a touchpoint's `events:` in study.yml if they belong to one (check the "
    "spelling); the others are left out of every touchpoint analysis"
)


def unmapped_events(events, *, identity_events=None) -> pd.DataFrame:
    """The events that map to no touchpoint, by name.

    Parameters
    ----------
    events : EventLog or DataFrame
        Events with a ``touchpoint`` column (after :func:`~.sessions.map_touchpoints`), or
        read from a study (they are then mapped to its journey first).
    identity_events : list of str, optional
        Event names used for identity (``login_events``): counted with ``role="identity"``.
        Default: the log's ``login_events`` when it was read from a study.

    Returns
    -------
    DataFrame
        ``event, n, share, role``: one row per event name with no touchpoint, most frequent
        first; ``share`` is of all the events given; ``role`` is ``"identity"`` for the
        ``identity_events`` and ``"unmapped"`` for the others.
    """
    log, _ = as_log(events)
    if not log.has("touchpoint"):
        from .sessions import map_touchpoints

        log = map_touchpoints(log)
    if identity_events is None:
        identity_events = log.meta.get("login_events") or ()
    eng = log.engine
    total = int(eng.fetch(f"SELECT count(*) AS n FROM {log.ref}")["n"].iloc[0])
    df = eng.fetch(
        f"SELECT event, count(*) AS n FROM {log.ref} WHERE touchpoint IS NULL GROUP BY event"
    )
    df["event"] = df["event"].astype("string")
    df["n"] = df["n"].astype("int64")
    df = df.sort_values(["n", "event"], ascending=[False, True], kind="stable")
    df["share"] = df["n"] / total if total else 0.0
    ident = set(identity_events)
    df["role"] = ["identity" if e in ident else "unmapped" for e in df["event"]]
    return df.reset_index(drop=True)[["event", "n", "share", "role"]]


def unmapped_message(table: pd.DataFrame, *, with_fix: bool = True) -> str | None:
    """The warning about events mapped to no touchpoint (None when there are none), from the
    table of :func:`unmapped_events`; ``with_fix=False`` leaves out what to do."""
    un = table[table["role"] == "unmapped"]
    if un.empty:
        return None
    n = int(un["n"].sum())
    top = ", ".join(f"{e!r} ({k:,})" for e, k in zip(un["event"].head(TOP_SHOWN), un["n"]))
    more = f" and {len(un) - TOP_SHOWN} other names" if len(un) > TOP_SHOWN else ""
    message = f"{n:,} kept events ({un['share'].sum():.1%}) map to no touchpoint: {top}{more}"
    return f"{message} -> {UNMAPPED_FIX}" if with_fix else message


def removal_messages(cleaning, *, max_share: float = MAX_REMOVED_SHARE) -> list[str]:
    """Warnings about cleaning filters that removed more than ``max_share`` of the rows.

    Parameters
    ----------
    cleaning : CleaningLog
        The log of :func:`~.clean.clean`.
    max_share : float, default :data:`MAX_REMOVED_SHARE`

    Returns
    -------
    list of str
        One message per such filter (empty when none).
    """
    s = cleaning.summary
    n_input = int(s["n"].sum())
    out = []
    for reason, n, share, desc in zip(s["reason"], s["n"], s["share"], s["description"]):
        if reason != "kept" and n and share > max_share:
            out.append(
                f"the cleaning filter {reason!r} ({desc}) removed {int(n):,} of {n_input:,} "
                f"rows ({share:.1%}, more than {max_share:.0%}): check the input (time stamps, "
                "column mapping, period in study.yml) or the filter's settings before reading "
                "any result"
            )
    return out
