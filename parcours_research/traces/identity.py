"""Identity stitching: give anonymous device events to the customer who owns the device.

Evidence that device ``d`` belongs to customer ``c`` comes from the identity map (a CRM file
with ``device_id, customer_id``) and from login events (rows that carry both ids). A device
linked to exactly one customer is stitched: its anonymous rows get that customer's id. A device
linked to two or more customers (a shared tablet, a family computer) is a *conflict*: it is
reported in the conflicts table and its anonymous rows are left unstitched (their ``user_id``
is the device id); rows that carry a customer id keep it. Nothing is guessed.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from .._compat import deprecated_args
from ..errors import Problem, TraceDataError
from .eventlog import as_log, output, select_list

__all__ = ["stitch", "Stitched", "read_identity_map"]


class Stitched(NamedTuple):
    """What :func:`stitch` returns: the stitched events and the identity conflicts (unpacks
    as ``events, conflicts = stitch(...)``)."""

    events: object
    conflicts: pd.DataFrame

    @property
    def summary(self) -> pd.DataFrame:
        """The identity conflicts (``device_id, user_id, source, n_events, n_customers``)."""
        return self.conflicts

    def __repr__(self) -> str:
        n_dev = self.conflicts["device_id"].nunique() if len(self.conflicts) else 0
        return f"Stitched({n_dev} devices linked to more than one customer, left unstitched)"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>" + self.conflicts.head(20).to_html(index=False)


def _read_map_file(file: str) -> pd.DataFrame:
    """The identity map CSV, after the file checks of :mod:`parcours_research._files`."""
    from .._files import safe_path

    real = safe_path(file, label=file, missing_cls=TraceDataError)
    try:
        from .._text_files import read_csv_checked  # encodings and quotes checked

        return read_csv_checked(real, file, sep=",", error=TraceDataError, dtype=str,
                                keep_default_na=False)[0]
    except TraceDataError:  # already says what is wrong, where, and what to do
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise TraceDataError(
            "Cannot read the identity map",
            [Problem(f"not a readable CSV file ({type(e).__name__})", file=file,
                     fix="export it again as a CSV with columns device_id, customer_id (UTF-8)")],
        ) from None


@deprecated_args(positional=("device_column", "customer_column"))
def read_identity_map(
    source, *, device_column: str | None = None, customer_column: str | None = None
) -> pd.DataFrame:
    """Read an identity map (CSV path or DataFrame) into ``device_id, user_id`` (strings).

    The device column is ``device_id`` (or ``device_column``); the customer column is the first of
    ``customer_id`` / ``user_id`` found (or ``customer_column``). Blank ids are dropped.
    """
    file = None
    if isinstance(source, str | Path):
        file = str(source)
        if not Path(file).exists():
            raise TraceDataError(
                "Cannot read the identity map",
                [Problem("file not found", file=file, fix="check identity_map in study.yml")],
            )
        frame = _read_map_file(file)
    elif isinstance(source, pd.DataFrame):
        frame = source
    else:
        raise TraceDataError(
            f"identity_map must be a CSV path or a DataFrame, not {type(source).__name__}."
        )
    dev = device_column or "device_id"
    cust = customer_column or next(
        (c for c in ("customer_id", "user_id") if c in frame.columns), None
    )
    problems = []
    if dev not in frame.columns:
        problems.append(
            Problem(
                f"no column {dev!r}",
                file=file,
                column=dev,
                fix="name the device column device_id (or pass device_column=)",
            )
        )
    if cust is None or cust not in frame.columns:
        problems.append(
            Problem(
                "no customer id column (customer_id or user_id)",
                file=file,
                column=cust or "customer_id",
                fix="name it customer_id (or pass customer_column=)",
            )
        )
    if problems:
        raise TraceDataError("The identity map cannot be used", problems)
    out = pd.DataFrame(
        {
            "device_id": frame[dev].astype("string").str.strip(),
            "user_id": frame[cust].astype("string").str.strip(),
        }
    )
    out = out[(out["device_id"].fillna("") != "") & (out["user_id"].fillna("") != "")]
    return out.drop_duplicates().reset_index(drop=True)


@deprecated_args(positional=("login_events",))
def stitch(events, identity_map=None, *, login_events=True):
    """Stitch devices to customers; report conflicting devices instead of guessing.

    Parameters
    ----------
    events : EventLog or DataFrame
        Events with ``user_id`` (customer id when logged in, missing otherwise) and
        ``device_id``.
    identity_map : path, DataFrame, None or False
        ``device_id, customer_id`` pairs (see :func:`read_identity_map`). ``None`` uses the
        study's identity map when the log was read from a study; ``False`` uses none.
    login_events : bool, str or list of str, default True
        Which rows count as evidence of a link: ``True`` any row with both ids (the study's
        ``login_events`` when configured), a name or list of names only those events,
        ``False`` none.

    Returns
    -------
    Stitched
        Unpacks as ``stitched, conflicts``; ``.summary`` is the conflicts table.
    stitched : EventLog or DataFrame
        Same rows and columns, ``user_id`` filled: the row's own customer id, else the device's
        customer when the device has exactly one, else the device id; plus ``identified``
        (True when ``user_id`` is a customer id).
    conflicts : DataFrame
        One row per (conflicting device, customer): ``device_id, user_id, source``
        (``identity_map``, ``events`` or ``both``), ``n_events`` (rows of that device carrying
        that customer id), ``n_customers`` (customers linked to the device). Empty when there is
        no conflict.
    """
    log, was_frame = as_log(events)
    eng = log.engine
    q = eng.q
    if identity_map is None:
        identity_map = log.meta.get("identity_map")
    if login_events is True and log.meta.get("login_events"):
        login_events = list(log.meta["login_events"])
    from . import _clean_arrays as ca

    enc = log._arrays if eng.fast and isinstance(log._arrays, ca.Encoded) else None
    links, event_pairs = _links(log, enc, identity_map, login_events)
    conflicts = eng.fetch(
        f"SELECT device_id, user_id, source, n_events, n_customers FROM {q(links)} "
        "WHERE n_customers > 1 ORDER BY device_id, user_id"
    )
    for c in ("n_events", "n_customers"):
        conflicts[c] = conflicts[c].astype("int64")
    unique = f"(SELECT device_id, user_id FROM {q(links)} WHERE n_customers = 1)"
    # Spark: the device -> customer table goes to the executors once, as a broadcast join
    hint = "/*+ BROADCAST(m) */ " if eng.name == "spark" else ""
    view = eng.view(
        f"SELECT {hint}{select_list(log, alias='e', replace={'user_id': 'coalesce(e.user_id, m.user_id, e.device_id)'}, add={'identified': '(e.user_id IS NOT NULL OR m.user_id IS NOT NULL)'})} "
        f"FROM {log.ref} AS e LEFT JOIN {unique} AS m ON e.device_id = m.device_id",
        "stitched",
    )
    arrays = None
    if event_pairs is not None:
        arrays = ca.stitched_from_events(enc, *event_pairs)
    elif enc is not None:
        arrays = ca.stitched(enc, eng.arrow(f"SELECT device_id, user_id FROM {unique} AS u"))
    return Stitched(output(log.derive(view, arrays=arrays), was_frame), conflicts)


def _links(log, enc, identity_map, login_events):
    """The table of device-customer links (``device_id, user_id, source, n_events,
    n_customers``) from the identity map and the login events; and, when the events' own
    pairs counted on the arrays are the only evidence, those pairs' device and customer codes
    (else None)."""
    eng = log.engine
    q = eng.q
    parts = []
    if identity_map is not None and identity_map is not False:
        idm = read_identity_map(identity_map)
        name = eng.register(idm, "identity")
        parts.append(f"SELECT device_id, user_id, 'identity_map' AS src, 0 AS n FROM {q(name)}")
    use_events = login_events is not False and login_events is not None
    if enc is not None and use_events:
        from . import _clean_arrays as ca

        login_codes = None
        if not isinstance(login_events, bool):
            names = {login_events} if isinstance(login_events, str) else set(login_events)
            login_codes = [i for i, e in enumerate(enc.events) if e in names]
        pairs, pair_dev, pair_user = ca.event_links(enc, login_codes)
        if not parts:  # the array path with the events' own pairs as the only links: no SQL
            return _links_from_pairs(eng, pairs, pair_dev), (pair_dev, pair_user)
        name = eng.register(pairs, "event_links")
        parts.append(f"SELECT device_id, user_id, 'events' AS src, n FROM {q(name)}")
    elif use_events:
        where = "device_id IS NOT NULL AND user_id IS NOT NULL"
        if not isinstance(login_events, bool):
            names = [login_events] if isinstance(login_events, str) else list(login_events)
            where += f" AND event IN ({', '.join(eng.lit(n) for n in names)})"
        parts.append(
            f"SELECT device_id, user_id, 'events' AS src, count(*) AS n FROM {log.ref} "
            f"WHERE {where} GROUP BY device_id, user_id"
        )
    return _links_table(eng, parts), None


def _links_from_pairs(eng, pairs, pair_dev) -> str:
    """The links when the event pairs are the only evidence: each device's customers counted
    from the pairs."""
    import numpy as np
    import pyarrow as pa

    per_dev = np.bincount(pair_dev.astype(np.int64), minlength=1)
    return eng.register(
        pa.table(
            {
                "device_id": pairs.column("device_id"),
                "user_id": pairs.column("user_id"),
                "source": pa.repeat(pa.scalar("events", pa.string()), len(pair_dev)),
                "n_events": pairs.column("n"),
                "n_customers": pa.array(per_dev[pair_dev].astype(np.int64)),
            }
        ),
        "links",
    )


def _links_table(eng, parts: list[str]) -> str:
    """The links from the union of the evidence queries (an empty table when none)."""
    if not parts:
        return eng.table(
            "SELECT CAST(NULL AS STRING) AS device_id, CAST(NULL AS STRING) AS user_id, "
            "'none' AS source, 0 AS n_events, 0 AS n_customers WHERE 1 = 0",
            "links",
        )
    return eng.table(
        f"""
        SELECT device_id, user_id, source, n_events,
               count(*) OVER (PARTITION BY device_id) AS n_customers
        FROM (SELECT device_id, user_id,
                     CASE WHEN min(src) = max(src) THEN min(src) ELSE 'both' END AS source,
                     CAST(sum(n) AS BIGINT) AS n_events
              FROM ({" UNION ALL ".join(parts)}) AS u GROUP BY device_id, user_id) AS l""",
        "links",
    )
