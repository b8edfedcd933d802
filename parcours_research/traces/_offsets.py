"""Timestamps with an impossible UTC offset, found with their file and line (private).

The time rules (:mod:`._time`) refuse an offset beyond +/-18:00 (``2026-01-05T10:00+25:00``):
the row's timestamp is missing and :func:`~.clean.clean` counts it as ``bad_offset``. Such a
value is never a reading choice but a broken export, so ``validate`` lists these rows as a
warning with their file and line (:func:`bad_offset_problem`), beside every other problem
(a warning, like other unreadable timestamps: cleaning drops them and counts them).

Why +/-18:00 and not +/-14:00 (the widest offset of a zone in use, Kiribati's +14:00): it is
the bound of java.time (Spark), Oracle and PostgreSQL, and the one the kit applies to every
format since 0.3.0; Python's ``datetime`` allows up to 24 hours and ISO 8601 sets none. An
offset between 14 and 18 hours is read as written, as those systems do.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from ..errors import Problem
from . import _time

__all__ = ["bad_offsets", "bad_offset_problem", "SHOWN"]

#: lines named in the problem (the count gives the rest)
SHOWN = 5


def bad_offsets(log, limit: int = SHOWN) -> tuple[int, list[tuple[int, str]]]:
    """``(n, [(row_id, text), ...])``: how many rows of a log just read have a timestamp with
    an impossible UTC offset, and the first ``limit`` of them (``row_id`` order). ``(0, [])``
    for a log whose timestamps are not text, or not straight from
    :func:`~.io.read_events`."""
    info = getattr(log, "_time", None)
    if info is None or info[0].view != log.name or info[0].kind != "text":
        return 0, []
    source, ts = info
    eng = log.engine
    inner, rule = _time.classify(eng, source, ts)
    # a row with a timestamp never falls under 'bad_offset' (see ``classify``): the rule is
    # evaluated on the rows without one only
    bad = (
        f"SELECT row_id, _e FROM (SELECT {rule} AS rule, row_id, _e FROM "
        f"(SELECT {inner}, row_id FROM {eng.q(source.src)} WHERE ({ts}) IS NULL) AS p) AS c "
        f"WHERE rule = 'bad_offset'"
    )
    n = int(eng.scalar(f"SELECT count(*) FROM ({bad}) AS b") or 0)
    if n == 0:
        return 0, []
    first = eng.fetch(f"{bad} ORDER BY row_id LIMIT {int(limit)}")
    return n, [(int(r), str(e)) for r, e in zip(first["row_id"], first["_e"])]


def _jsonl_lines(path: str, records: list[int]) -> dict[int, int]:
    """The 1-based line of each 0-based record of a JSON Lines file (blank lines are not
    records)."""
    want, out, k = set(records), {}, -1
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        for line_no, line in enumerate(fh, 1):
            if line.strip():
                k += 1
                if k in want:
                    out[k] = line_no
                    if len(out) == len(want):
                        break
    return out


def bad_offset_problem(log, files: list[str], fmt: str, label: str) -> Problem | None:
    """The problem (a warning) for the rows of ``log`` whose timestamp has an impossible offset, naming the
    file and its lines (for a log of one local file; the position in the files put end to end
    otherwise), the values and the fix; None when there are none. ``label`` names the log
    (the path as study.yml writes it)."""
    n, rows = bad_offsets(log)
    if n == 0:
        return None
    one_local = len(files) == 1 and Path(files[0]).is_file()
    if one_local and fmt == "jsonl":
        lines = _jsonl_lines(files[0], [r for r, _ in rows])
        where = [f"line {lines.get(r, r + 1)}" for r, _ in rows]
    elif one_local and fmt == "csv":
        where = [f"row {r + 2}" for r, _ in rows]  # the header is row 1
    else:
        where = [f"event {r + 1} of the files read end to end (sorted by path)" for r, _ in rows]
    shown = "; ".join(f"{w}: {e!r}" for w, (_, e) in zip(where, rows))
    more = f" (and {n - len(rows):,} more)" if n > len(rows) else ""
    first_row = int(where[0].split()[1]) if one_local and fmt in ("jsonl", "csv") else None
    return Problem(
        f"{n:,} timestamp(s) with a UTC offset beyond +/-{_time.MAX_OFFSET_HOURS}:00, which no "
        f"clock uses: {shown}{more}; these events would be dropped as unparseable",
        file=label,
        row=first_row,
        column="timestamp",
        fix="fix the export (offsets run from -18:00 to +18:00, e.g. +01:00 for Paris in "
        "winter), or export the times in UTC",
    )
