"""The time rules of :func:`~.io.read_events`: how a column of the file becomes an instant.

One rule set, written once as SQL for every engine (DuckDB and Spark):

Native timestamps
    A time-zone-aware timestamp (Parquet ``TIMESTAMP`` with ``isAdjustedToUTC``, in s, ms, us or
    ns, as pandas and pyarrow write them; Arrow ``timestamp[.., tz=...]``; Spark ``TIMESTAMP``;
    legacy Parquet ``INT96``, which Spark, Hive and pyarrow write in UTC) is an instant and is
    read as it is. A naive one (``TIMESTAMP`` without zone, ``DATE``) is a local time in the
    study's ``timezone``.
Numbers (epochs)
    Integers, decimals and text made of digits are times since 1970-01-01 UTC. The unit is the
    one declared (``timestamp_unit``: ``s``, ``ms``, ``us``, ``ns``) or, when none is declared,
    the one that puts the value in the plausible window below: a value is nanoseconds from
    631,152,000,000,000,000 (1990-01-01 in ns), microseconds from 631,152,000,000,000,
    milliseconds from 631,152,000,000, seconds from 631,152,000. The four windows do not
    overlap, so the reading of a value is never ambiguous.
Text
    ISO 8601 (``2026-01-05``, ``2026-01-05 10:00``, ``2026-01-05T10:00:00.250``) followed by an
    optional zone: ``Z``, an offset ``+02:00`` / ``+0200`` / ``+02`` (hours 00-18, minutes
    00-59; ``+25:00`` is refused), an abbreviation of :data:`ZONE_ABBREVIATIONS` (``PST`` is
    -08:00 as in RFC 5322; ambiguous ones such as ``CST``, ``IST``, ``BST`` are refused), or the
    name of the study's own zone. A Java-style ``[Europe/Paris]`` after an offset is ignored.
    Without a zone the text is local time in the study's ``timezone``: dates alone too
    (midnight there). Other layouts need a declared ``timestamp_format`` (strftime codes, e.g.
    ``%d/%m/%Y %H:%M``); values that do not match it are unparseable.
Daylight saving time
    A naive local time is resolved as Python's :mod:`zoneinfo` does with ``fold=0`` (PEP 495):
    a time that does not exist (the clock jumps from 02:00 to 03:00 on 2026-03-29 in Paris) is
    read with the offset in force before the change, i.e. moved forward by the length of the
    gap (02:30 -> 03:30+02:00), which keeps the order and spacing of events; a time that occurs
    twice (02:30 on 2025-10-26) is read as its first occurrence (02:30+02:00, summer time).
    ``clean`` counts both in its log (``log.time``).
Plausible window
    Instants before 1990-01-01 or from 2100-01-01 on (UTC) are refused (unparseable, counted as
    ``out_of_range``): years 1, 1900, 9999 or 12026 are export errors, not events.

Anything refused becomes a missing timestamp, which :func:`~.clean.clean` counts as
``unparseable`` with its cause in ``log.time`` (:class:`Notes`). A file's column of which
nothing can be read is an error of ``clean`` naming the file, the column, examples and the fix
(:func:`hint` recognises day/month, RFC 2822, ISO week and compact layouts); a column whose type
holds no time (booleans...) is an error of ``read_events``; more than :data:`WARN_SHARE` of rows
without a readable timestamp is a :class:`~parcours_research.errors.DataQualityWarning`.

Speed: the conversion of local times is a lookup in one constant list per zone (by bucket of
wall time, at most one clock change per bucket), computed once per row in a view under the log
(:func:`prepare`), not a per-row ICU call; tz-aware timestamps get one range comparison.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import pandas as pd

from ..errors import DataQualityWarning, Problem, TraceDataError

#: First and last+1 year of the plausible window (instants in UTC).
YEARS = (1990, 2100)
#: Units of ``timestamp_unit`` and their number of microseconds (ns: 1/1000).
UNITS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}
#: Share of rows without a readable timestamp above which ``clean`` warns loudly.
WARN_SHARE = 0.01
#: Largest accepted UTC offset, in hours (as java.time and Oracle).
MAX_OFFSET_HOURS = 18
#: Zone abbreviations read as fixed offsets (hours): the UTC names, the European ones, and the
#: North American ones of RFC 5322 section 4.3. Any other word after a time is refused.
ZONE_ABBREVIATIONS = {
    "Z": 0,
    "UT": 0,
    "UTC": 0,
    "GMT": 0,
    "WET": 0,
    "WEST": 1,
    "CET": 1,
    "CEST": 2,
    "EET": 2,
    "EEST": 3,
    "EST": -5,
    "EDT": -4,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
}
#: Abbreviations refused because they name several zones.
AMBIGUOUS_ABBREVIATIONS = {
    "CST": "US Central (-06:00), China (+08:00) or Cuba (-05:00)",
    "IST": "India (+05:30), Ireland (+01:00) or Israel (+02:00)",
    "BST": "British Summer (+01:00) or Bangladesh (+06:00)",
    "AST": "Atlantic (-04:00) or Arabia (+03:00)",
}
#: Outcomes counted in ``CleaningLog.time``, in this order.
RULES = {
    "dst_gap": ("kept", "local time skipped by the clock change; moved forward by the gap"),
    "dst_overlap": ("kept", "local time that occurs twice; read as the first (summer time)"),
    "missing": ("unparseable", "no timestamp (empty cell)"),
    "out_of_range": ("unparseable", f"outside {YEARS[0]}-01-01 .. {YEARS[1]}-01-01 (UTC)"),
    "bad_offset": ("unparseable", f"UTC offset beyond +/-{MAX_OFFSET_HOURS}:00 or minutes >= 60"),
    "unknown_zone": ("unparseable", "zone word that is unknown or ambiguous (e.g. CST, IST)"),
    "unknown_format": ("unparseable", "text in no accepted layout"),
}
_US = 1_000_000
_LO_S = int(dt.datetime(YEARS[0], 1, 1, tzinfo=dt.UTC).timestamp())
_HI_S = int(dt.datetime(YEARS[1], 1, 1, tzinfo=dt.UTC).timestamp())
LO_US, HI_US = _LO_S * _US, _HI_S * _US
# local wall times handled by the zone tables: one day of margin around the window
_WALL_LO, _WALL_HI = LO_US - 86_400 * _US, HI_US + 86_400 * _US
_ISO = (
    r"^([0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?)"
    r"\s*(.*)$"
)
_OFFSET = r"^[+-][0-9]{2}(:?[0-9]{2})?(\[[^\]]*\])?$"
_NUMBER = r"^-?[0-9]+(\.[0-9]*)?$"


# -- zones ---------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def transitions(timezone: str) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    """``(offset_us, ((instant_us, before_us, after_us), ...))``: the UTC offset in force at the
    start of the window and every change of offset of ``timezone`` in it (from zoneinfo)."""
    zone = ZoneInfo(timezone)

    def off(t: int) -> int:
        return int(dt.datetime.fromtimestamp(t, zone).utcoffset().total_seconds())

    start, end = _WALL_LO // _US, _WALL_HI // _US
    first = o = off(start)
    out = []
    t, step = start, 7 * 86_400
    while t < end:
        t2 = min(t + step, end)
        o2 = off(t2)
        if o2 != o:
            a, b = t, t2
            while b - a > 1:
                m = (a + b) // 2
                a, b = (m, b) if off(m) == o else (a, m)
            out.append((b * _US, o * _US, o2 * _US))
            o = o2
        t = t2
    return first * _US, tuple(out)


@lru_cache(maxsize=64)
def _buckets(timezone: str):
    """The zone's changes as one list of packed integers, one per bucket of ``size`` us of
    local wall time (at most one change per bucket). ``None`` for a fixed offset.

    Returns ``(size, k0, conv, kinds)``: bucket ``k`` (list position ``k - k0 + 1``) packs in
    ``conv`` the wall time at which the offset changes (fold=0; seconds from the bucket start,
    << 22) and the offsets before and after (minutes + 1024, 11 bits each); ``kinds`` packs
    the skipped or repeated span in the bucket (start and end seconds, << 27 and << 2) and its
    kind (1 gap, 2 overlap, 0 none). One list, so that the SQL names it once per use."""
    first, trans = transitions(timezone)
    if not trans:
        return None
    walls = [(t + max(ob, oa), ob, oa, t + min(ob, oa)) for t, ob, oa in trans]
    size = 366 * 86_400 * _US
    while size > 86_400 * _US:
        keys = [w // size for w, *_ in walls]
        if len(set(keys)) == len(keys):
            break
        size = size * 9 // 10 // _US * _US
    k0 = _WALL_LO // size
    n = _WALL_HI // size - k0 + 1
    conv, kinds = [], []
    offset, j = first, 0
    minute = 60 * _US
    for k in range(k0, k0 + n):
        start, end = k * size, (k + 1) * size
        while j < len(walls) and walls[j][0] < start:
            offset = walls[j][2]
            j += 1
        inside = [x for x in walls[j:] if x[0] < end]
        w, _, after, _ = inside[0] if inside else (end, offset, offset, end)
        conv.append(
            ((w - start) // _US << 22)
            | ((offset // minute + 1024) << 11)
            | (after // minute + 1024)
        )
        # the skipped/repeated span [low, w) may start in an earlier bucket: clip to this one
        touching = [x for x in walls if x[3] < end and x[0] > start]
        if touching:
            wx, obx, oax, lowx = touching[0]
            lo, hi = (max(lowx, start) - start) // _US, (min(wx, end) - start) // _US
            kinds.append((lo << 27) | (hi << 2) | (1 if oax > obx else 2))
        else:
            kinds.append(0)
    return size, k0, conv, kinds


def fixed_offset(timezone: str) -> int:
    """The zone's offset in us when it never changes in the window (0 for UTC)."""
    return transitions(timezone)[0]


# -- SQL spellings ---------------------------------------------------------------------------------
class _Sql:
    """The few spellings that differ between DuckDB and Spark."""

    def __init__(self, eng):
        self.eng = eng
        self.spark = eng.name == "spark"

    def lit(self, v) -> str:
        return self.eng.lit(v)

    def text(self, ref: str) -> str:
        return f"NULLIF(trim({self.eng.cast_str(ref)}), '')"

    def match(self, e: str, pattern: str) -> str:
        if self.spark:
            return f"({e} RLIKE {self.lit(pattern)})"
        return f"regexp_matches({e}, {self.lit(pattern)})"

    def full(self, e: str, pattern: str) -> str:
        """Whether the whole of ``e`` matches ``pattern``."""
        if self.spark:
            return f"({e} RLIKE {self.lit('^(?:' + pattern + ')$')})"
        return f"regexp_full_match({e}, {self.lit(pattern)})"

    def group(self, e: str, pattern: str, i: int) -> str:
        return f"regexp_extract({e}, {self.lit(pattern)}, {i})"

    def try_cast(self, e: str, typ: str) -> str:
        return f"TRY_CAST({e} AS {typ})"

    def naive_us(self, e: str) -> str:
        """Wall-clock microseconds of ISO text without zone (NULL when unreadable)."""
        if self.spark:
            return f"unix_micros(try_to_timestamp({e}))"
        return f"epoch_us(TRY_CAST({e} AS TIMESTAMP))"

    def strptime_us(self, e: str, fmt: str) -> str:
        if self.spark:
            return f"unix_micros(try_to_timestamp({e}, {self.lit(_java_pattern(fmt))}))"
        return f"epoch_us(try_strptime({e}, {self.lit(fmt)}))"

    def us(self, e: str) -> str:
        return self.eng.us(e)

    def from_us(self, u: str) -> str:
        if self.spark:
            return f"timestamp_micros({u})"
        if _has_make_timestamptz(self.eng):
            return f"make_timestamptz(CAST({u} AS BIGINT))"
        return f"CAST(make_timestamp(CAST({u} AS BIGINT)) AS TIMESTAMPTZ)"

    def shr(self, a: str, n: int) -> str:
        return f"shiftright({a}, {n})" if self.spark else f"({a} >> {n})"

    def idiv(self, a: str, b: int) -> str:
        return f"({a} div {b})" if self.spark else f"({a} // {b})"

    def at(self, values: list[int], idx: str) -> str:
        items = ", ".join(str(int(v)) for v in values)
        if self.spark:
            # Spark refuses position 0 (DuckDB gives NULL): NULL instead
            return f"try_element_at(array({items}), NULLIF(CAST({idx} AS INT), 0))"
        return f"([{items}]::BIGINT[])[{idx}]"


def _has_make_timestamptz(eng) -> bool:
    """Whether this DuckDB has ``make_timestamptz(us)`` (a cast from TIMESTAMP goes through the
    ICU calendar, about 50 ns a row)."""
    cached = getattr(eng, "_pr_make_tstz", None)
    if cached is None:
        try:
            eng.con.sql("SELECT make_timestamptz(CAST(0 AS BIGINT))").fetchall()
            cached = True
        except Exception:  # noqa: BLE001 - older DuckDB
            cached = False
        eng._pr_make_tstz = cached
    return cached


_JAVA = {
    "%Y": "yyyy",
    "%y": "yy",
    "%m": "MM",
    "%d": "dd",
    "%H": "HH",
    "%I": "hh",
    "%M": "mm",
    "%S": "ss",
    "%f": "SSSSSS",
    "%p": "a",
    "%b": "MMM",
    "%B": "MMMM",
    "%a": "EEE",
    "%A": "EEEE",
    "%z": "XX",
    "%j": "DDD",
    "%%": "%",
}


def _java_pattern(fmt: str) -> str:
    """A strftime format as a Java (Spark) pattern."""
    out, i = [], 0
    while i < len(fmt):
        code = fmt[i : i + 2]
        if fmt[i] == "%":
            if code not in _JAVA:
                raise TraceDataError(
                    f"timestamp_format={fmt!r}: {code} is not supported on Spark; use "
                    f"{', '.join(sorted(_JAVA))}."
                )
            out.append(_JAVA[code])
            i += 2
        else:
            out.append("'" + fmt[i] + "'" if fmt[i].isalpha() else fmt[i])
            i += 1
    return "".join(out)


# -- expressions -----------------------------------------------------------------------------------
def in_window(s: _Sql, u: str) -> str:
    """``u`` (us since the epoch) when it is in the plausible window, else NULL."""
    if s.spark:
        return f"CASE WHEN {u} >= {LO_US} AND {u} < {HI_US} THEN {u} END"
    # DuckDB shares a repeated sub-expression only outside a CASE (NULLIF is one): ``u`` minus
    # element 1 (0) or 0 (NULL) of a constant list is computed with ``u`` evaluated once
    inside = f"CAST({u} >= {LO_US} AS BIGINT) * CAST({u} < {HI_US} AS BIGINT)"
    return f"({u} - ([0]::BIGINT[])[{inside}])"


@lru_cache(maxsize=64)
def _wall_window(timezone: str) -> tuple[int, int]:
    """The local wall-clock microseconds of the two ends of the plausible window."""
    zone = ZoneInfo(timezone)

    def wall(sec: int) -> int:
        return (sec + int(dt.datetime.fromtimestamp(sec, zone).utcoffset().total_seconds())) * _US

    return wall(_LO_S), wall(_HI_S)


def local_to_utc(s: _Sql, wall: str, timezone: str, p: str | None = None) -> str:
    """UTC microseconds of local wall-clock microseconds ``wall`` in ``timezone`` (fold=0),
    NULL outside the plausible window. The offset comes from one constant list of the zone's
    changes by bucket of wall time (see :func:`_buckets`), without a CASE, so that ``wall`` is
    computed once (DuckDB shares repeated sub-expressions only outside a CASE). ``p`` is the
    row's element of that list when already computed (see :func:`prepare`)."""
    lo, hi = _wall_window(timezone)
    inside = f"CAST({wall} >= {lo} AS BIGINT) * CAST({wall} < {hi} AS BIGINT)"
    table = _buckets(timezone)
    if s.spark:
        # Spark's own conversion (java.time: a skipped time moves forward by the gap, a
        # repeated one takes the earlier offset) is the same rule, fold=0; a short expression
        # keeps Spark's plans small
        utc = f"unix_micros(to_utc_timestamp(timestamp_micros({wall}), {s.lit(timezone)}))"
        return f"CASE WHEN {inside} = 1 THEN {utc} END"
    if table is None:  # a fixed offset: element 1 of a one-element list, NULL at index 0
        return f"({wall} - ([{fixed_offset(timezone)}]::BIGINT[])[{inside}])"
    size, k0, conv, _ = table
    p = p or lookup(s, wall, timezone)
    start = f"({s.idiv(wall, size)} * {size})"
    w = f"({start} + {s.shr(p, 22)} * {_US})"
    before = f"(({s.shr(p, 11)} & 2047) - 1024) * {60 * _US}"
    after = f"(({p} & 2047) - 1024) * {60 * _US}"
    return f"({wall} - ({before} + CAST({wall} >= {w} AS BIGINT) * ({after} - {before})))"


def lookup(s: _Sql, wall: str, timezone: str) -> str:
    """The element of the zone's list (see :func:`_buckets`) for wall time ``wall``."""
    lo, hi = _wall_window(timezone)
    inside = f"CAST({wall} >= {lo} AS BIGINT) * CAST({wall} < {hi} AS BIGINT)"
    size, k0, conv, _ = _buckets(timezone)
    # position 0 gives NULL (outside the window); a negative one would count from the end
    return s.at(conv, f"(greatest({s.idiv(wall, size)} - {k0 - 1}, 0) * {inside})")


def in_window_case(u: str) -> str:
    """``u`` when in the plausible window, else NULL (a CASE: for rare branches)."""
    return f"CASE WHEN {u} >= {LO_US} AND {u} < {HI_US} THEN {u} END"


def dst_kind(s: _Sql, wall: str, timezone: str) -> str | None:
    """``'dst_gap'``, ``'dst_overlap'`` or NULL for local wall-clock microseconds ``wall``;
    None when the zone never changes offset."""
    table = _buckets(timezone)
    if table is None:
        return None
    size, k0, _, kinds = table
    i = f"({s.idiv(wall, size)} - {k0 - 1})"
    k = s.at(kinds, f"greatest({i}, 0)")
    rel = f"({wall} - {s.idiv(wall, size)} * {size})"
    lo = f"({s.shr(k, 27)} * {_US})"
    hi = f"(({s.shr(k, 2)} & {(1 << 25) - 1}) * {_US})"
    return (
        f"CASE WHEN {wall} >= {_WALL_LO} AND {wall} < {_WALL_HI} AND {rel} >= {lo} "
        f"AND {rel} < {hi} THEN CASE {k} & 3 WHEN 1 THEN 'dst_gap' WHEN 2 THEN 'dst_overlap' "
        f"END END"
    )


def epoch_us(s: _Sql, x: str, unit: str | None, integer: bool) -> str:
    """Microseconds of a number ``x`` of ``unit`` since the epoch (by magnitude when None), or
    NULL out of the window."""
    windows = {
        "ns": (1000, None),
        "us": (1, 1),
        "ms": (1, 1000),
        "s": (1, _US),
    }
    parts = []
    for u in (unit,) if unit else ("ns", "us", "ms", "s"):
        div, mul = windows[u]
        scale = {"ns": 1000, "us": 1, "ms": 1 / 1000, "s": 1 / _US}[u]
        lo, hi = LO_US * scale, HI_US * scale
        lo, hi = (int(lo), int(hi)) if float(lo).is_integer() else (lo, hi)
        if integer:
            val = s.idiv(x, div) if u == "ns" else f"{x} * {mul}"
        else:
            val = f"CAST(round({x} * {1 / div if u == 'ns' else mul}) AS BIGINT)"
        parts.append(f"WHEN {x} >= {lo} AND {x} < {hi} THEN {val}")
    return f"CASE {' '.join(parts)} END"


def _zone_offset_us(s: _Sql, tail: str, timezone: str) -> str:
    """UTC offset in us of a zone written after a time; NULL when refused; the text
    ``'local'`` is handled by the caller (empty tail or the study's zone name)."""
    sign = f"CASE WHEN substr({tail}, 1, 1) = '-' THEN -1 ELSE 1 END"
    hh = f"TRY_CAST(substr({tail}, 2, 2) AS INT)"
    minutes = s.group(tail, r"^[+-][0-9]{2}:?([0-9]{2})?", 1)
    mm = f"COALESCE(TRY_CAST(NULLIF({minutes}, '') AS INT), 0)"
    offset = (
        f"CASE WHEN {hh} < {MAX_OFFSET_HOURS} AND {mm} < 60 OR {hh} = {MAX_OFFSET_HOURS} "
        f"AND {mm} = 0 THEN {sign} * (CAST({hh} AS BIGINT) * 3600 + {mm} * 60) * {_US} END"
    )
    words = " ".join(
        f"WHEN {s.lit(k)} THEN {v * 3600 * _US}" for k, v in ZONE_ABBREVIATIONS.items()
    )
    utc = ", ".join(s.lit(z) for z in ("ETC/UTC", "ETC/GMT", "UTC", "ZULU"))
    return (
        f"CASE WHEN {s.match(tail, _OFFSET)} THEN {offset} "
        f"WHEN upper({tail}) IN ({utc}) THEN 0 "
        f"ELSE CASE upper({tail}) {words} END END"
    )


_D = "[0-9]"
#: ISO 8601 without zone (the common case, read first): date, optional time to the ns.
_NAIVE = (
    rf"{_D}{{4}}-{_D}{{2}}-{_D}{{2}}(?:[T ]{_D}{{2}}:{_D}{{2}}(?::{_D}{{2}}(?:\.{_D}{{1,9}})?)?)?"
)
#: ISO 8601 with ``Z`` or a valid offset glued to the time (the second common case).
_WITH_OFFSET = (
    rf"{_D}{{4}}-{_D}{{2}}-{_D}{{2}}[T ]{_D}{{2}}:{_D}{{2}}(?::{_D}{{2}}(?:\.{_D}{{1,9}})?)?"
    rf"(?:Z|[+-](?:(?:0{_D}|1[0-7])(?::?[0-5]{_D})?|18(?::?00)?))"
)


def _iso_parts(s: _Sql, e: str) -> tuple[str, str]:
    parts = f"regexp_extract({e}, {s.lit(_ISO)}, ['dt', 'tail'])" if not s.spark else None
    if parts:
        return f"{parts}.dt", f"{parts}.tail"
    return s.group(e, _ISO, 1), s.group(e, _ISO, 2)


def text_wall(s: _Sql, e: str, timezone: str) -> str:
    """Local wall-clock microseconds of text read as local time: naive ISO (by far the most
    common, recognised by one full match), or ISO followed by the name of the study's zone;
    NULL for every other text."""
    dt_, tail = _iso_parts(s, e)
    here = s.lit(timezone.upper())
    return (
        f"CASE WHEN {s.full(e, _NAIVE)} THEN {s.naive_us(e)} "
        f"WHEN {s.full(e, _WITH_OFFSET)} OR {s.full(e, _NUMBER[1:-1])} THEN NULL "
        f"WHEN {dt_} <> '' AND ({tail} = '' OR upper({tail}) = {here}) THEN {s.naive_us(dt_)} END"
    )


def text_us(s: _Sql, e: str, timezone: str, unit: str | None, wall: str, p: str | None) -> str:
    """UTC microseconds of trimmed text ``e`` (no declared format): the local time ``wall``
    (:func:`text_wall`, a column) converted, else ISO with ``Z`` or a valid offset by a plain
    cast, a number as an epoch, or ISO followed by a zone word or offset
    (:func:`_zone_offset_us`)."""
    dt_, tail = _iso_parts(s, e)
    here = s.lit(timezone.upper())
    offset = s.us(f"TRY_CAST({e} AS TIMESTAMPTZ)") if not s.spark else s.naive_us(e)
    zoned = f"{s.naive_us(dt_)} - ({_zone_offset_us(s, tail, timezone)})"
    return (
        f"COALESCE({local_to_utc(s, wall, timezone, p)}, "
        f"CASE WHEN {s.full(e, _WITH_OFFSET)} THEN {in_window_case(offset)} "
        f"WHEN {s.full(e, _NUMBER[1:-1])} THEN {_number_us(s, e, unit)} "
        f"WHEN {dt_} <> '' AND {tail} <> '' AND upper({tail}) <> {here} "
        f"THEN {in_window_case(zoned)} END)"
    )


def _number_us(s: _Sql, e: str, unit: str | None) -> str:
    whole = epoch_us(s, s.try_cast(e, "BIGINT"), unit, integer=True)
    frac = epoch_us(s, s.try_cast(e, "DOUBLE"), unit, integer=False)
    return f"CASE WHEN instr({e}, '.') = 0 THEN {whole} ELSE {frac} END"


def format_us(s: _Sql, e: str, fmt: str, timezone: str, wall: str, p: str | None) -> str:
    """UTC microseconds of text ``e`` read with a declared strftime ``fmt``."""
    if "%z" in fmt:
        if s.spark:
            return in_window_case(
                f"unix_micros(try_to_timestamp({e}, {s.lit(_java_pattern(fmt))}))"
            )
        tail = s.group(e, r"([+-][0-9]{2}:?[0-9]{2}|[+-][0-9]{2})\s*$", 1)
        ok = f"({tail} = '' OR ({_zone_offset_us(s, tail, timezone)}) IS NOT NULL)"
        return in_window_case(f"CASE WHEN {ok} THEN epoch_us(try_strptime({e}, {s.lit(fmt)})) END")
    return local_to_utc(s, wall, timezone, p)


# -- the column ------------------------------------------------------------------------------------
_NUMERIC = ("INT", "DOUBLE", "FLOAT", "DECIMAL", "LONG", "REAL", "NUMERIC", "SHORT", "BYTE")


@dataclass(frozen=True)
class TimeSource:
    """How the timestamp column of a log just read is turned into instants (for the counts of
    :func:`~.clean.clean` and the errors)."""

    file: str
    column: str
    type: str
    kind: str  # "instant", "naive", "number", "text"
    timezone: str
    unit: str | None
    format: str | None
    src: str
    view: str = ""


def kind_of(eng, typ: str, int96: bool = False) -> str:
    """``instant``, ``naive``, ``number`` or ``text`` for a column type; raises for others."""
    t = typ.upper()
    if int96 or "TIME ZONE" in t or t.startswith("TIMESTAMPTZ") or t == "TIMESTAMP_LTZ":
        return "instant"
    if eng.name == "spark" and t == "TIMESTAMP":
        return "instant"
    if t.startswith("TIMESTAMP") or t in ("DATETIME", "DATE"):
        return "naive"
    if any(k in t for k in _NUMERIC):
        return "number"
    if t in ("VARCHAR", "STRING", "TEXT", "JSON") or t.startswith(("VARCHAR", "CHAR")):
        return "text"
    return "bad"


_WALL, _P = "_pr_wall", "_pr_p"


def wall_sql(eng, src: TimeSource) -> str | None:
    """The SQL of the local wall time of the column (NULL for rows not in local time), or None
    when the column holds no local times."""
    s = _Sql(eng)
    ref = eng.q(src.column)
    if src.format is not None:
        return None if "%z" in src.format else s.strptime_us(s.text(ref), src.format)
    if src.kind == "naive":
        return s.us(f"CAST({ref} AS TIMESTAMP)") if eng.name == "spark" else f"epoch_us({ref})"
    if src.kind == "text":
        return text_wall(s, s.text(ref), src.timezone)
    return None


def expression(eng, col: str, typ: str, src: TimeSource, walls: bool = False) -> str:
    """The SQL of the ``timestamp`` column: a UTC instant, NULL when refused. With ``walls``
    the source has the columns of :func:`prepare` (the local wall time and its list element)."""
    s = _Sql(eng)
    ref = eng.q(col)
    kind = src.kind
    wall = _WALL if walls else wall_sql(eng, src)
    p = _P if walls and _buckets(src.timezone) is not None else None
    if src.format is not None:
        return s.from_us(format_us(s, s.text(ref), src.format, src.timezone, wall, p))
    if kind == "instant":
        if eng.name == "spark":
            inst = f"CAST({ref} AS TIMESTAMP)"
            return f"CASE WHEN {s.us(inst)} >= {LO_US} AND {s.us(inst)} < {HI_US} THEN {inst} END"
        if typ.upper() in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
            inst = ref
        elif "_NS" in typ.upper():  # truncated to the microsecond, as text and numbers are
            return s.from_us(in_window(s, f"(epoch_ns({ref}) // 1000)"))
        elif "TIME ZONE" in typ.upper() or typ.upper().startswith("TIMESTAMPTZ"):
            inst = f"CAST({ref} AS TIMESTAMPTZ)"
        else:  # INT96: naive values that are UTC by convention
            return s.from_us(in_window(s, s.us(ref)))
        lo, hi = _iso(LO_US), _iso(HI_US)
        return (
            f"CASE WHEN {inst} >= TIMESTAMPTZ '{lo}' AND {inst} < TIMESTAMPTZ '{hi}' "
            f"THEN {inst} END"
        )
    if kind == "naive":
        return s.from_us(local_to_utc(s, wall, src.timezone, p))
    if kind == "number":
        integer = "INT" in typ.upper() or "LONG" in typ.upper() or "SHORT" in typ.upper()
        x = s.try_cast(ref, "BIGINT") if integer else s.try_cast(ref, "DOUBLE")
        return s.from_us(epoch_us(s, x, src.unit, integer))
    return s.from_us(text_us(s, s.text(ref), src.timezone, src.unit, wall, p))


def kept_expression(eng, src: TimeSource) -> str | None:
    """The SQL of the ``timestamp`` column over the file's own columns (no view of
    :func:`prepare` under it), for a log read once into memory; None when that is not the
    faster way (anything but ISO text without a declared format, on DuckDB).

    The dominant layout is read first: text with ``Z`` or a valid offset glued to the time
    (``2026-01-05T10:00:00.250+01:00``) is, by the rules of :func:`text_us`, an instant cast
    as it is (its local wall time is NULL, so nothing else applies); the whole rule is
    evaluated only on the other rows, with their wall time inline."""
    if eng.name != "duckdb" or src.kind != "text" or src.format is not None:
        return None
    s = _Sql(eng)
    e = s.text(eng.q(src.column))
    offset = in_window(s, s.us(f"TRY_CAST({e} AS TIMESTAMPTZ)"))
    rest = expression(eng, src.column, src.type, src, walls=False)
    return f"CASE WHEN {s.full(e, _WITH_OFFSET)} THEN {s.from_us(offset)} ELSE {rest} END"


def native_instant(log) -> str | None:
    """The column of a log just read whose values are instants as stored (a time-zone-aware
    timestamp, or INT96), so that the DuckDB fast path reads it as it is -- no expression per
    row -- and applies the window in :func:`instants_into`; None for any other column."""
    info = getattr(log, "_time", None)
    if info is None or log.engine.name != "duckdb":
        return None
    src = info[0]
    if src.view != log.name or src.kind != "instant" or src.format is not None:
        return None
    typ = src.type.upper()
    if typ in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ", "TIMESTAMPTZ_NS", "TIMESTAMP"):
        return src.column  # TIMESTAMP: an INT96 column, UTC by convention (``kind_of``)
    return None


def instants_into(column, out) -> None:
    """Microseconds since the epoch of an Arrow timestamp column (any unit, any zone) into
    ``out``, truncated to the microsecond as :func:`expression` does; missing and out of the
    plausible window as ``-2**63``."""
    import numpy as np

    unit = getattr(column.type, "unit", "us")
    raw = column.to_numpy(zero_copy_only=False).view(np.int64)  # a missing value is NaT
    if unit == "us":
        out[:] = raw
    elif unit == "ns":  # toward zero, as DuckDB's integer division (the window keeps t > 0)
        np.floor_divide(raw, 1000, out=out)
    else:
        np.multiply(raw, {"s": _US, "ms": 1000}[unit], out=out)
    bad = (out < LO_US) | (out >= HI_US) | (raw == _NONE)
    out[bad] = _NONE


def _iso(us: int) -> str:
    return (pd.Timestamp(us, unit="us", tz="UTC")).strftime("%Y-%m-%d %H:%M:%S+00")


def refuse_type(src: TimeSource) -> None:
    """The error for a column whose type holds no time (booleans, lists, structs, times of
    day...)."""
    raise TraceDataError(
        f"The timestamp column of {src.file} holds no times",
        [
            Problem(
                f"column {src.column!r} is of type {src.type}, which is not a date, a time "
                "stamp, a number of seconds since 1970 or text",
                file=src.file,
                column=src.column,
                fix="map the column that holds the event times: columns: {timestamp: <column>}",
            )
        ],
    )


# -- checks and counts -----------------------------------------------------------------------------
def classify(eng, src: TimeSource, ts: str) -> tuple[str, str]:
    """``(inner, rule)``: a SELECT list over the source (the text ``_e``, the timestamp ``_ts``,
    the ISO date-time ``_dt`` and zone ``_tail``, the naive wall time ``_w``) and the SQL of the
    rule (see :data:`RULES`) a row of it falls under, NULL for a plain reading. The pieces are
    columns so that each is computed once per row."""
    s = _Sql(eng)
    ref = eng.q(src.column)
    e = s.text(ref)
    wall = wall_sql(eng, src)
    wall = "NULL" if wall is None else (wall if eng.name == "spark" else _WALL)
    dt_, tail = (s.group(e, _ISO, 1), s.group(e, _ISO, 2)) if src.kind == "text" else ("''", "''")
    inner = f"{e} AS _e, {ts} AS _ts, {dt_} AS _dt, {tail} AS _tail, {wall} AS _w"
    dst = dst_kind(s, "_w", src.timezone) if dst_possible(src) else None
    dst = dst or "NULL"
    if src.kind in ("instant", "number"):
        return inner, "CASE WHEN _e IS NULL THEN 'missing' WHEN _ts IS NULL THEN 'out_of_range' END"
    if src.kind == "naive":
        return inner, (
            f"CASE WHEN _e IS NULL THEN 'missing' WHEN _ts IS NULL THEN 'out_of_range' "
            f"ELSE {dst} END"
        )
    if src.format is not None:
        return inner, (
            f"CASE WHEN _e IS NULL THEN 'missing' WHEN _ts IS NOT NULL THEN {dst} "
            f"WHEN {s.strptime_us('_e', src.format)} IS NOT NULL THEN "
            f"CASE WHEN {s.match('_e', r'[+-](19|[2-9][0-9])(:?[0-9]{2})?$')} THEN 'bad_offset' "
            f"ELSE 'out_of_range' END ELSE 'unknown_format' END"
        )
    here = s.lit(src.timezone.upper())
    local = f"(_tail = '' OR upper(_tail) = {here})"
    offset = _zone_offset_us(s, "_tail", src.timezone)
    return inner, (
        f"CASE WHEN _e IS NULL THEN 'missing' "
        f"WHEN _ts IS NOT NULL THEN CASE WHEN {local} THEN {dst} END "
        f"WHEN {s.match('_e', _NUMBER)} OR {s.match('_e', '^[0-9]{5,}-')} THEN 'out_of_range' "
        f"WHEN _dt = '' OR {s.naive_us('_dt')} IS NULL THEN 'unknown_format' "
        f"WHEN {local} THEN 'out_of_range' "
        f"WHEN {s.match('_tail', _OFFSET)} THEN "
        f"CASE WHEN ({offset}) IS NULL THEN 'bad_offset' ELSE 'out_of_range' END "
        f"WHEN {s.match('_tail', '^[A-Za-z][A-Za-z0-9_/+-]*$')} THEN "
        f"CASE WHEN ({offset}) IS NULL THEN 'unknown_zone' ELSE 'out_of_range' END "
        f"ELSE 'unknown_format' END"
    )


def nothing_read(src: TimeSource, n: int, examples: list[str], first: bool = False):
    """The error for a column of which no value can be read."""
    where = f"the first {n:,} values" if first else f"all {n:,} rows"
    shown = ", ".join(repr(x) for x in examples) or "(empty cells)"
    return TraceDataError(
        f"No timestamp can be read in {src.file}",
        [
            Problem(
                f"none of {where} of column {src.column!r} ({src.type}) is a time; e.g. {shown}",
                file=src.file,
                column=src.column,
                fix=hint(examples, src) or _GENERIC_FIX,
            )
        ],
    )


_GENERIC_FIX = (
    "map the right column (columns: {timestamp: ...}); write times as ISO 8601 "
    "(2026-01-05 10:00:00+01:00), or declare their layout with timestamp_format= "
    "(strftime codes, e.g. '%d/%m/%Y %H:%M') or their unit with timestamp_unit= (s, ms, us, ns)"
)
_RANGE_FIX = (
    f"only instants from {YEARS[0]}-01-01 to {YEARS[1] - 1}-12-31 are events; dates such as "
    "0001-01-01, 1900-01-01 or 9999-12-31 usually stand for a missing value: fix the export, "
    "or map the column that holds the event time"
)
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_DAYS = "mon|tue|wed|thu|fri|sat|sun"


def hint(examples: list[str], src: TimeSource | None = None) -> str | None:
    """What the unreadable ``examples`` look like, and the fix (None when nothing is known)."""
    for x in examples:
        t = str(x).strip()
        low = t.lower()
        m = re.match(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{2,4})(.*)$", t)
        if m:
            a, sep, b, y, rest = int(m[1]), m[2], int(m[3]), m[4], m[5]
            ydir = "%Y" if len(y) == 4 else "%y"
            clock = _clock(rest)
            if b > 12 and a <= 12:
                fmt = f"%m{sep}%d{sep}{ydir}{clock}"
                what = "month/day/year (US)"
            else:
                fmt = f"%d{sep}%m{sep}{ydir}{clock}"
                what = "day/month/year" if a > 12 else "day/month/year or month/day/year"
            return f"the values look like {what} ({t!r}): pass timestamp_format={fmt!r}"
        if re.match(rf"^({_DAYS})[a-z]*,?\s+\d{{1,2}}\s+({_MONTHS})", low):
            fmt = "%a, %d %b %Y %H:%M:%S %z"
            return f"the values look like RFC 2822 dates ({t!r}): pass timestamp_format={fmt!r}"
        if re.match(r"^\d{4}-?w\d{2}(-?\d)?$", low):
            fmt = "%G-W%V-%u" if "-" in t else "%GW%V%u"
            return (
                f"the values look like ISO week dates ({t!r}), which have no time of day: "
                f"pass timestamp_format={fmt!r} to read each as midnight of that day"
            )
        if re.fullmatch(r"\d{8}", t):
            return f"the values look like compact dates ({t!r}): pass timestamp_format='%Y%m%d'"
        if re.fullmatch(r"\d{14}", t):
            fmt = "%Y%m%d%H%M%S"
            return f"the values look like compact times ({t!r}): pass timestamp_format={fmt!r}"
        if re.fullmatch(r"-?\d+(\.\d*)?", t):
            return (
                f"{t!r} is a number outside {YEARS[0]}-{YEARS[1] - 1} in every unit (s, ms, us, "
                "ns since 1970): check the column and its unit (timestamp_unit=)"
            )
        if re.match(rf"^\d{{1,2}}\s+({_MONTHS})", low) or re.match(rf"^({_MONTHS})", low):
            return (
                f"the values spell the month ({t!r}): pass timestamp_format= such as "
                "'%d %b %Y %H:%M' or '%b %d, %Y %H:%M'"
            )
        tail = re.match(_ISO, t)
        if tail and tail[2]:
            word = tail[2].strip().upper()
            if word in AMBIGUOUS_ABBREVIATIONS:
                return (
                    f"{word} is ambiguous ({AMBIGUOUS_ABBREVIATIONS[word]}): export the times "
                    "with a UTC offset (+01:00) or in UTC"
                )
            if re.fullmatch(r"[+-]\d{2}(:?\d{2})?", word):
                return (
                    f"{word} is not a UTC offset (offsets run from -{MAX_OFFSET_HOURS}:00 to "
                    f"+{MAX_OFFSET_HOURS}:00): fix the export"
                )
            return (
                f"the zone {word!r} is not known: export the times with a UTC offset "
                f"(+01:00) or in UTC; known words: {', '.join(ZONE_ABBREVIATIONS)}"
            )
    return None


def _clock(rest: str) -> str:
    r = rest.strip()
    if re.fullmatch(r"\d{1,2}:\d{2}:\d{2}", r):
        return " %H:%M:%S"
    if re.fullmatch(r"\d{1,2}:\d{2}", r):
        return " %H:%M"
    return ""


def counts(eng, src: TimeSource, ts: str, row_ids=None) -> pd.DataFrame:
    """``rule, n, ex1, ex2`` of the rows of the source under each rule of :data:`RULES` (only
    the rows of ``row_ids`` when given: the others read plainly)."""
    inner, rule = classify(eng, src, ts)
    where, reg = "", None
    if row_ids is not None:
        import pyarrow as pa

        reg = eng.register(pa.table({"row_id": pa.array(row_ids, pa.int64())}), "time_rows")
        where = f" WHERE row_id IN (SELECT row_id FROM {eng.q(reg)})"
    try:
        return eng.fetch(
            f"SELECT rule, count(*) AS n, min(_e) AS ex1, max(_e) AS ex2 FROM ("
            f"SELECT {rule} AS rule, _e FROM (SELECT {inner} FROM {eng.q(src.src)}{where}) AS p"
            f") AS c WHERE rule IS NOT NULL GROUP BY rule"
        )
    finally:
        if reg is not None:
            eng.drop(reg)


def near_changes(t, timezone: str):
    """Boolean mask of the UTC microseconds ``t`` that a skipped or repeated local time can
    produce (fold=0): ``[T - repeated, T + skipped)`` around each change ``T`` of the zone."""
    import numpy as np

    _, trans = transitions(timezone)
    if not trans:
        return np.zeros(len(t), dtype=bool)
    lo = np.array([T - max(0, ob - oa) for T, ob, oa in trans], dtype=np.int64)
    hi = np.array([T + max(0, oa - ob) for T, ob, oa in trans], dtype=np.int64)
    i = np.searchsorted(lo, t, side="right") - 1
    ok = i >= 0
    out = np.zeros(len(t), dtype=bool)
    out[ok] = t[ok] < hi[i[ok]]
    return out


def table(found: pd.DataFrame | None, src: TimeSource | None) -> pd.DataFrame:
    """The ``CleaningLog.time`` table: ``rule, n, outcome, description, examples, fix``, one
    row per rule of :data:`RULES` in that order."""
    got = (
        {} if found is None else {r: row for r, row in zip(found["rule"], found.to_dict("records"))}
    )
    rows = []
    for rule, (outcome, desc) in RULES.items():
        r = got.get(rule)
        ex = (
            []
            if r is None
            else [str(v) for v in dict.fromkeys([r["ex1"], r["ex2"]]) if isinstance(v, str) and v]
        )
        fix = ""
        if (
            r is not None
            and rule == "out_of_range"
            and not re.fullmatch(r"-?[\d.]+", ex[0] if ex else "")
        ):
            fix = _RANGE_FIX
        elif r is not None and outcome == "unparseable" and rule != "missing":
            fix = hint(ex, src) or _GENERIC_FIX
        rows.append(
            {
                "rule": rule,
                "n": int(r["n"]) if r is not None else 0,
                "outcome": outcome,
                "description": desc,
                "examples": "; ".join(ex),
                "fix": fix,
            }
        )
    out = pd.DataFrame(rows)
    out["n"] = out["n"].astype("int64")
    return out


def empty_table() -> pd.DataFrame:
    return table(None, None)


def report(time_table: pd.DataFrame, n_input: int, n_no_time: int, src: TimeSource | None):
    """Raise when no row of a file's column has a timestamp; warn when more than
    :data:`WARN_SHARE` of the rows have none."""
    if n_input == 0 or n_no_time == 0:
        return
    where = f"{src.file}, column {src.column!r}" if src else "column 'timestamp'"
    bad = time_table[(time_table["outcome"] == "unparseable") & (time_table["n"] > 0)]
    causes = "; ".join(f"{r.rule}: {r.n:,}" for r in bad.itertuples())
    fixes = [f for f in bad.sort_values("n", ascending=False)["fix"] if f]
    examples = [x for e in bad["examples"] for x in e.split("; ") if x]
    if n_no_time >= n_input and src is not None:
        # a file's column of which nothing is a time; a DataFrame's missing timestamps are
        # the caller's (they are warned about below)
        raise nothing_read(src, n_input, examples[:3])
    if n_no_time / n_input > WARN_SHARE:
        msg = (
            f"{n_no_time:,} of {n_input:,} rows ({n_no_time / n_input:.1%}) have no readable "
            f"timestamp in {where} and are dropped as unparseable"
            + (f" ({causes})" if causes else "")
            + (f"; e.g. {', '.join(repr(x) for x in examples[:3])}" if examples else "")
            + (f". Fix: {fixes[0]}" if fixes else "")
            + " (counts by cause: the cleaning log's .time table)"
        )
        warnings.warn(msg, DataQualityWarning, stacklevel=3)


# -- reading ---------------------------------------------------------------------------------------
@dataclass
class Spec:
    """What the caller declared about the timestamp column, and (once the column is known) how
    it is read."""

    unit: str | None = None
    format: str | None = None
    file_format: str = ""
    paths: tuple[str, ...] = ()
    source: TimeSource | None = None
    view: str = ""
    walls: bool = False


def check_spec(unit: str | None, fmt: str | None) -> None:
    """Refuse a unit or a format that cannot be used (all problems at once)."""
    problems = []
    if unit is not None and unit not in UNITS:
        problems.append(
            Problem(
                f"timestamp_unit={unit!r} is not a unit",
                column="timestamp_unit",
                fix=f"use one of {', '.join(UNITS)} (or leave it out: the unit of each number "
                "is told by its size)",
            )
        )
    if fmt is not None:
        if not isinstance(fmt, str) or "%" not in fmt:
            problems.append(
                Problem(
                    f"timestamp_format={fmt!r} has no strftime code",
                    column="timestamp_format",
                    fix="write it with strftime codes, e.g. '%d/%m/%Y %H:%M'",
                )
            )
        elif "%Z" in fmt:
            problems.append(
                Problem(
                    f"timestamp_format={fmt!r}: zone names (%Z) are not read by a format",
                    column="timestamp_format",
                    fix="use %z for offsets (+0100), or leave the format out: ISO times "
                    "followed by a zone word are read by the rules",
                )
            )
    if problems:
        raise TraceDataError("Cannot read the timestamps as declared", problems)


def _is_int96(eng, spec: Spec, col: str) -> bool:
    if eng.name != "duckdb" or spec.file_format != "parquet" or not spec.paths:
        return False
    try:
        got = eng.fetch(
            f"SELECT type FROM parquet_schema({eng.lit(spec.paths[0])}) WHERE name = {eng.lit(col)}"
        )
    except Exception:  # noqa: BLE001 - no schema: not INT96
        return False
    return bool(len(got)) and str(got.iat[0, 0]).upper() == "INT96"


def prepare(eng, src_view: str, col: str, typ: str, timezone: str, spec: Spec, file: str):
    """The view the log reads from: ``src_view``, with the local wall time of the column
    (``_pr_wall``) and its element of the zone's list (``_pr_p``) when the column holds local
    times, so that the (long) conversion names each once. Records how the column is read in
    ``spec``; raises for a column that holds no times."""
    typ = typ.upper()
    kind = kind_of(eng, typ, _is_int96(eng, spec, col) if typ == "TIMESTAMP" else False)
    src = TimeSource(file, col, typ, kind, timezone, spec.unit, spec.format, src_view)
    spec.source, spec.view = src, src_view
    if kind == "bad":
        refuse_type(src)
    wall = wall_sql(eng, src)
    if wall is None or eng.name == "spark":  # Spark converts with a short expression
        return src_view
    view = eng.view(with_walls(eng, src, eng.q(src_view)), "src_time")
    spec.view, spec.walls = view, True
    return view


def with_walls(eng, src: TimeSource, frm: str) -> str:
    """``SELECT`` every column of ``frm`` (the file's columns), the local wall time of the
    timestamp column (``_pr_wall``) and its element of the zone's list (``_pr_p``, for a zone
    with clock changes): the view of :func:`prepare`, on DuckDB."""
    sql = f"SELECT *, {wall_sql(eng, src)} AS {_WALL} FROM {frm}"
    if _buckets(src.timezone) is not None:
        sql = f"SELECT *, {lookup(_Sql(eng), _WALL, src.timezone)} AS {_P} FROM ({sql}) AS w"
    return sql


def column_expression(eng, col: str, typ: str, timezone: str, spec: Spec, file: str) -> str:
    """The SQL of the ``timestamp`` column over the view of :func:`prepare`."""
    if spec.source is None:  # not prepared (a caller of the old signature)
        prepare(eng, "", col, typ, timezone, spec, file)
        spec.walls = False
    return expression(eng, col, typ.upper(), spec.source, walls=spec.walls)


def attach(log, spec: Spec, src_view: str, ts_sql: str) -> None:
    """Keep how the column is read on ``log``, for the counts and errors of
    :func:`~.clean.clean` (no row is read here: reading stays lazy)."""
    if spec.source is None:
        return
    source = TimeSource(**{**spec.source.__dict__, "src": spec.view or src_view, "view": log.name})
    log._time = (source, ts_sql)


def dst_possible(source: TimeSource) -> bool:
    """Whether rows of this column may fall in a clock change (naive times in a zone that
    changes offset)."""
    return (
        source.kind in ("naive", "text")
        and _buckets(source.timezone) is not None
        and not (source.format is not None and "%z" in source.format)
    )


class Notes:
    """How the timestamps of a log were read, for ``clean``: the number of rows without a
    timestamp at once (from the fast path's arrays, or one count), the table by rule
    (:meth:`table`) when asked.

    The table counts the rows by rule on the file's own column when the log comes straight
    from :func:`~.io.read_events` and something is to count (rows without a timestamp, or naive
    times in a zone with clock changes). With the arrays of the DuckDB fast path only the rows
    without a timestamp or within a clock change are read again; nothing is read when there
    are none (the common case)."""

    def __init__(self, log, n_unparseable: int, arrays=None):
        self.log, self.arrays = log, arrays
        info = getattr(log, "_time", None)
        self.source, self.ts = info if info is not None and info[0].view == log.name else (None, "")
        self._table = None
        self.n_no_time = 0
        if n_unparseable and arrays is not None:
            self.n_no_time = int((arrays.t == _NONE).sum())
        elif n_unparseable:
            self.n_no_time = int(
                log.engine.scalar(f"SELECT count(*) FROM {log.ref} WHERE timestamp IS NULL") or 0
            )
        if self.n_no_time == 0 and not (self.source is not None and dst_possible(self.source)):
            self.arrays = None  # nothing to count later: the log's arrays are not kept alive

    def table(self) -> pd.DataFrame:
        if self._table is None:
            self._table = self._compute()
        return self._table

    def _compute(self) -> pd.DataFrame:
        source, arrays = self.source, self.arrays
        need_dst = source is not None and dst_possible(source)
        if self.n_no_time == 0 and not need_dst:
            return empty_table()
        if source is None:
            found = pd.DataFrame({"rule": ["missing"], "n": [self.n_no_time]})
            return table(found.assign(ex1=None, ex2=None), None)
        ids = None
        if arrays is not None:
            import numpy as np

            t = np.asarray(arrays.t)
            mask = t == _NONE if self.n_no_time else np.zeros(len(t), dtype=bool)
            if need_dst:
                mask |= near_changes(t, source.timezone)
            if not mask.any():
                return empty_table()
            ids = np.asarray(arrays.row_id)[mask]
        return table(counts(self.log.engine, source, self.ts, ids), source)

    def report(self, n_input: int) -> None:
        """Raise when no row has a timestamp; warn when more than :data:`WARN_SHARE` have
        none (naming the count, the causes, examples and the fix)."""
        if n_input and self.n_no_time and self.n_no_time / n_input > WARN_SHARE:
            report(self.table(), n_input, self.n_no_time, self.source)


_NONE = -(2**63)
