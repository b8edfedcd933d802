"""Check a study folder end to end: every source the report reads, every problem at once.

:func:`validate` is what ``parcours validate STUDY`` prints and what a notebook can call
before an analysis: it loads ``study.yml`` (every path checked by :mod:`._files`), then reads
each source the report will read — survey responses, customer file, ``truth.json``, the whole
event log (every row scanned: row count, unreadable timestamps, events that mark no
touchpoint), the identity map and the coded excerpts — and collects every problem, each with
its source, file, row or key and what to do. A source that cannot be read does not stop the
others.

Warnings the readers emit (:class:`~parcours_research.errors.ParcoursWarning`, e.g. mojibake,
events mapped to no touchpoint) are collected as problems of severity ``"warning"``.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ._files import is_uri
from .errors import ParcoursWarning, Problem, StudyError

__all__ = ["validate", "Validation", "CHECKS"]

PROBLEM_COLUMNS = ["source", "severity", "file", "row", "column", "message", "fix"]
SOURCE_COLUMNS = ["source", "status", "detail"]
_MAX_TEXT = 300


@dataclass
class Validation:
    """What :func:`validate` found.

    Attributes
    ----------
    root : Path
        The study folder.
    study : Study or None
        The loaded study (None when study.yml itself has problems).
    summary : DataFrame
        One row per problem: ``source, severity ("error" or "warning"), file, row, column,
        message, fix``. Empty when everything was read cleanly.
    sources : DataFrame
        One row per source: ``source, status ("ok", "warning", "error", "absent"), detail``
        (what was read, e.g. ``"800 respondents"``).
    """

    root: Path
    study: object = None
    summary: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROBLEM_COLUMNS))
    sources: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SOURCE_COLUMNS))

    @property
    def n_errors(self) -> int:
        return int((self.summary["severity"] == "error").sum())

    @property
    def n_warnings(self) -> int:
        return int((self.summary["severity"] == "warning").sum())

    @property
    def ok(self) -> bool:
        """True when no source has an error (warnings allowed)."""
        return self.n_errors == 0

    def problems(self, severity: str | None = None) -> list[Problem]:
        """The problems as :class:`~parcours_research.errors.Problem` objects."""
        rows = (
            self.summary if severity is None else self.summary[self.summary["severity"] == severity]
        )
        return [
            Problem(r.message, r.file, None if pd.isna(r.row) else int(r.row), r.column, r.fix)
            for r in rows.itertuples(index=False)
        ]

    def raise_for_errors(self) -> None:
        """Raise one :class:`~parcours_research.errors.StudyError` listing every error."""
        if not self.ok:
            raise StudyError(f"The study in {self.root} has problems", self.problems("error"))

    def __repr__(self) -> str:
        return (
            f"Validation({self.root.name!r}, {self.n_errors} error(s), {self.n_warnings} "
            f"warning(s), sources: {', '.join(f'{s} {t}' for s, t in zip(self.sources['source'], self.sources['status']))})"
        )

    def _repr_html_(self) -> str:
        head = f"<p><b>{html.escape(self.root.name)}</b>: {self.n_errors} error(s), {self.n_warnings} warning(s)</p>"
        return (
            head
            + self.sources.to_html(index=False)
            + (self.summary.to_html(index=False) if len(self.summary) else "")
        )


class _Run:
    """The state of one validation: the study, the problems and the source table."""

    def __init__(self, root: Path):
        self.root = root
        self.study = None
        self.sections = None
        self.customers_path = None
        self.problems: list[dict] = []
        self.sources: list[dict] = []

    @classmethod
    def start(cls, study_dir: str | Path) -> _Run:
        """A validation of ``study_dir`` (a folder or its study.yml) with study.yml read."""
        p = Path(study_dir)
        r = cls(p.parent if p.name.endswith((".yml", ".yaml")) and p.is_file() else p)
        r.run("study.yml", _config)
        return r

    def add(self, source: str, severity: str, p: Problem) -> None:
        self.problems.append(
            {
                "source": source,
                "severity": severity,
                "file": p.file,
                "row": p.row,
                "column": p.column,
                "message": _short(p.message),
                "fix": p.fix,
            }
        )

    def run(self, source: str, check: Callable[[_Run], str | None]) -> None:
        """Run one check; its exceptions and warnings become problems of ``source``."""
        before = len(self.problems)
        detail, caught = self.attempt(source, check)
        self.close(source, before, detail, caught)

    def attempt(self, source: str, check: Callable[[_Run], str | None]) -> tuple:
        """Run ``check``: its exceptions become problems of ``source`` now; returns its detail
        (None after an exception) and the warnings it emitted, for :meth:`close`."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ParcoursWarning)
            try:
                detail = check(self)
            except StudyError as e:
                detail = None
                for p in e.problems or [Problem(e.summary, fix=_DEFAULT_FIX)]:
                    self.add(source, "error", p if p.fix else _with_fix(p))
            except Exception as e:  # noqa: BLE001 - a reader failed in a way nobody foresaw
                detail = None
                self.add(
                    source,
                    "error",
                    Problem(
                        f"could not be read ({type(e).__name__}: {_short(str(e))})",
                        fix=_DEFAULT_FIX,
                    ),
                )
        return detail, list(caught)

    def close(self, source: str, before: int, detail, caught: list) -> None:
        """The warnings ``caught`` become problems of ``source`` (others are shown again), and
        its row of the source table says how it went (problems from index ``before`` on)."""
        for w in caught:
            if issubclass(w.category, ParcoursWarning):
                self.add(
                    source,
                    "warning",
                    Problem(
                        str(w.message),
                        fix="read the message; fix the file if the count is not expected",
                    ),
                )
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if detail == _ABSENT:
            return self.sources.append({"source": source, "status": "absent", "detail": ""})
        mine = [p["severity"] for p in self.problems[before:]]
        status = "error" if "error" in mine else "warning" if mine else "ok"
        self.sources.append({"source": source, "status": status, "detail": detail or ""})

    def result(self) -> Validation:
        return Validation(
            root=self.root,
            study=self.study,
            summary=pd.DataFrame(self.problems, columns=PROBLEM_COLUMNS),
            sources=pd.DataFrame(self.sources, columns=SOURCE_COLUMNS),
        )


_ABSENT = "absent"
_DEFAULT_FIX = "fix the file named, or its entry in study.yml"


def _short(text: str) -> str:
    """One line of at most 300 characters (never a whole file's worth of message)."""
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return first if len(first) <= _MAX_TEXT else first[: _MAX_TEXT - 3] + "..."


def _with_fix(p: Problem) -> Problem:
    return Problem(p.message, p.file, p.row, p.column, _DEFAULT_FIX)


# ---- the checks, one per source, in the order the report reads them --------------------------
def _config(r: _Run) -> str:
    from .study import _load_config

    r.study, r.sections, r.customers_path = _load_config(r.root)
    j = r.study.journey
    return f"{len(j.stages)} stages, {len(j.touchpoints)} touchpoints, {len(j.personas)} personas"


def _responses(r: _Run) -> str:
    from .study import _has_responses, _study_responses

    if not _has_responses(r.sections):
        return _ABSENT
    r.study.responses = _study_responses(r.root, r.sections, r.study.journey)
    n = len(r.study.responses)
    if n == 0:
        raise StudyError(
            "no respondents",
            [
                Problem(
                    "the response file holds no respondent (header only)",
                    str(r.study.survey.responses.name),
                    fix="export the responses again, with their rows",
                )
            ],
        )
    unassigned = int(r.study.responses["persona"].isna().sum())
    if unassigned:
        r.add(
            "survey",
            "warning",
            Problem(
                f"{unassigned:,} respondents match no persona rule",
                str(r.study.survey.responses.name),
                column="persona",
                fix="add a rule or a `default:` under persona_assignment in study.yml",
            ),
        )
    return f"{n:,} respondents"


def _customers(r: _Run) -> str:
    from .study import _read_customers

    if r.customers_path is None:
        return _ABSENT
    r.study.customers = _read_customers(
        r.customers_path, r.root, r.sections.assignment, r.study.journey
    )
    return f"{len(r.study.customers):,} customers"


def _truth(r: _Run) -> str:
    from .study import _read_truth

    r.study.truth = _read_truth(r.root)
    return _ABSENT if r.study.truth is None else "planted effects of a synthetic study"


def _events(r: _Run) -> str:
    from .evidence import raw_events

    if r.study.traces is None:
        return _ABSENT
    log = raw_events(r.study)  # read once: the report's prepared evidence reuses it
    return _events_counted(r, log, _by_event(log))


def _by_event(log) -> pd.DataFrame:
    """One pass over the log: the rows and the rows with a readable timestamp, per event name."""
    return log.engine.fetch(
        f"SELECT event, count(*) AS n, count(timestamp) AS n_ts FROM {log.ref} GROUP BY event"
    )


def _events_counted(r: _Run, log, by_event: pd.DataFrame) -> str:
    """The event log's problems, from its counts by event name (:func:`_by_event`)."""
    cfg = r.study.traces
    file = _rel(cfg.events, r.root)
    n = int(by_event["n"].sum())
    n_no_ts = n - int(by_event["n_ts"].sum())
    if n == 0:
        raise StudyError(
            "empty event log",
            [
                Problem(
                    "the event log holds no event (an empty, zero-byte or header-only file)",
                    file,
                    fix="export the events again; check the export's date range and filters",
                )
            ],
        )
    if n_no_ts:  # impossible UTC offsets (+25:00): a warning naming file and line
        _bad_offsets(r, log, cfg, file)
    _timestamp_problems(r, file, n, n_no_ts)
    _unmapped_events(r, by_event, file, n)
    no_ts = f"; {n_no_ts:,} without a readable timestamp" if n_no_ts else ""
    return f"{n:,} raw rows ({cfg.format}; not cleaned yet{no_ts})"


#: share of rows without a readable timestamp above which validate warns (below it the
#: count is shown, and the cleaning log counts them as ``unparseable``)
TIMESTAMP_WARN_SHARE = 0.01


def _bad_offsets(r: _Run, log, cfg, file: str) -> None:
    from ._event_uris import local_path
    from .traces._offsets import bad_offset_problem

    files = [local_path(str(p)) or str(p) for p in cfg.sources]
    problem = bad_offset_problem(log, files, cfg.format, file)
    if problem is not None:
        # a warning, like other unreadable timestamps: cleaning drops these rows and its log
        # counts them (``bad_offset``), so nothing is lost silently and the study still runs
        r.add("events", "warning", problem)


def _timestamp_problems(r: _Run, file: str, n: int, n_no_ts: int) -> None:
    if n_no_ts <= TIMESTAMP_WARN_SHARE * n:
        return
    what = f"{n_no_ts:,} of {n:,} rows ({n_no_ts / n:.1%}) have no readable timestamp"
    fix = (
        "check traces.columns.timestamp and the format of its values; declare "
        "timestamp_format (e.g. '%d/%m/%Y %H:%M') for other layouts, or timestamp_unit "
        "(s, ms, us, ns) when epoch numbers are not detected"
    )
    if n_no_ts == n:
        raise StudyError(
            "no readable timestamp",
            [Problem(what + ": cleaning would drop every row", file, column="timestamp", fix=fix)],
        )
    r.add(
        "events",
        "warning",
        Problem(what + "; cleaning drops them", file, column="timestamp", fix=fix),
    )


def _unmapped_events(r: _Run, by_event: pd.DataFrame, file: str, n: int) -> None:
    """Rows whose event marks no touchpoint (only when the journey maps some events);
    ``by_event``: ``event, n`` (rows per event name, the missing name included)."""
    mapped = {e for t in r.study.journey.touchpoints for e in t.events}
    if not mapped:
        return
    mapped |= set(r.study.traces.login_events)
    un = by_event[by_event["event"].notna() & ~by_event["event"].isin(mapped)]
    if un.empty:
        return
    total = int(un["n"].sum())
    top = (
        un.assign(event=un["event"].astype(str))
        .sort_values(["n", "event"], ascending=[False, True])
        .head(5)
    )
    shown = ", ".join(f"{e!s:.40} ({int(k):,})" for e, k in zip(top["event"], top["n"]))
    r.add(
        "events",
        "warning",
        Problem(
            f"{total:,} of {n:,} rows ({total / n:.1%}) have an event that marks no touchpoint: {shown}",
            file,
            column="event",
            fix="add the event names to a touchpoint's `events:` in study.yml if they belong to the journey",
        ),
    )


def _identity_map(r: _Run) -> str:
    from .traces.identity import read_identity_map

    cfg = r.study.traces
    if cfg is None or cfg.identity_map is None:
        return _ABSENT
    idm = read_identity_map(str(cfg.identity_map))
    if idm.empty:
        r.add(
            "identity_map",
            "warning",
            Problem(
                "the identity map holds no device-customer pair",
                _rel(cfg.identity_map, r.root),
                fix="export it again, or remove traces.identity_map from study.yml",
            ),
        )
    return f"{len(idm):,} device-customer pairs"


def _excerpts(r: _Run) -> str:
    from .qual import read_excerpts

    if r.study.qual is None:
        return _ABSENT
    ex = read_excerpts(r.study)
    if len(ex) == 0:
        raise StudyError(
            "no excerpts",
            [
                Problem(
                    "the file holds no coded excerpt",
                    _rel(r.study.qual.excerpts, r.root),
                    fix="export the coded segments again, or remove `qual:` from study.yml",
                )
            ],
        )
    n_part = ex["participant"].nunique() if "participant" in ex.columns else "?"
    return f"{len(ex):,} coded excerpts from {n_part} participants"


def _rel(path, root: Path) -> str:
    if isinstance(path, str) and is_uri(path):  # a URI as written (Path would drop a slash)
        return path
    p = Path(path)
    return str(p.relative_to(root)) if p.is_relative_to(root) else str(p)


#: ``(source, check)`` run in this order after study.yml; a check returns a one-line detail
#: (or ``"absent"``), raises a StudyError for problems, or records warnings with ``r.add``.
CHECKS: list[tuple[str, Callable[[_Run], str | None]]] = [
    ("survey", _responses),
    ("customers", _customers),
    ("truth", _truth),
    ("events", _events),
    ("identity_map", _identity_map),
    ("excerpts", _excerpts),
]


def validate(study_dir: str | Path = ".") -> Validation:
    """Read every source of a study and list every problem found.

    Parameters
    ----------
    study_dir : str or Path
        The study folder (holding ``study.yml``) or the ``study.yml`` file.

    Returns
    -------
    Validation
        ``.summary`` has one row per problem (columns ``source, severity, file, row, column,
        message, fix``), ``.sources`` one row per source (``source, status, detail``),
        ``.ok`` is True when no source has an error, ``.study`` is the loaded study.

    Examples
    --------
    >>> v = pr.checks.validate("data/sample")       # doctest: +SKIP
    >>> v.ok, v.sources                             # doctest: +SKIP
    """
    r = _Run.start(study_dir)
    if r.study is not None:
        for source, check in CHECKS:
            r.run(source, check)
    return r.result()


class PendingValidation:
    """:func:`validate` in two steps, for the report: everything but the event log's pass
    over its rows is checked now, in the calling thread, then :meth:`count_events` (the
    log kept in the engine's memory and counted by event name, nearly all engine work outside
    the interpreter lock) can run in a thread while the caller goes on, and :meth:`result`
    gives the :class:`Validation` that :func:`validate` gives: the same problems, sources and
    order, the event log's warnings and problems found in the calling thread. ``study`` is the
    loaded study; ``errors_so_far`` whether a source has an error already (then the caller
    asks for the whole result before going on, as after ``validate``). ``loaded``, if given,
    is called with the study as soon as study.yml is read, before its sources are checked
    (the report starts loading its name model there)."""

    def __init__(self, study_dir: str | Path, *, loaded: Callable[[Any], None] | None = None):
        self._r = r = _Run.start(study_dir)
        self._later = None  # (where the event log's rows go, its first warnings)
        self._counts = None
        self._done: Validation | None = None
        if r.study is not None and loaded is not None:
            loaded(r.study)
        if r.study is not None:
            for source, check in CHECKS:
                if source != "events" or not self._begin_events():
                    r.run(source, check)

    @property
    def study(self):
        return self._r.study

    @property
    def errors_so_far(self) -> bool:
        return any(p["severity"] == "error" for p in self._r.problems)

    def _begin_events(self) -> bool:
        """Read the event log without keeping it (checks its files, sniffs it): True when the
        rest of its check is left for later, False when there is no log."""
        from .evidence import raw_events

        r = self._r
        if r.study.traces is None:
            return False
        before = len(r.problems)
        detail, caught = r.attempt("events", lambda x: raw_events(x.study, keep=False))
        if len(r.problems) > before:  # it could not be read: reported as validate reports it
            r.close("events", before, detail, caught)
        else:
            self._later = (before, len(r.sources), caught)
        return True

    def count_events(self) -> None:
        """The event log kept in the engine's memory and counted by event name (once; the
        thread's part). An error is raised here and found again, in its usual words, by
        :meth:`result`."""
        if self._later is not None and self._counts is None:
            from .evidence import raw_events

            self._counts = _by_event(raw_events(self._r.study))

    def result(self) -> Validation:
        """The whole validation (the event log's check finished here if it is pending). Call
        it when no :meth:`count_events` is running."""
        if self._done is None:
            r = self._r
            if self._later is not None:
                at_p, at_s, first = self._later
                done = r.problems[at_p:], r.sources[at_s:]
                del r.problems[at_p:], r.sources[at_s:]
                detail, caught = r.attempt("events", self._counted)
                r.close("events", at_p, detail, first + caught)
                r.problems += done[0]
                r.sources += done[1]
            self._done = r.result()
        return self._done

    def _counted(self, r: _Run) -> str:
        from .evidence import raw_events

        log = raw_events(r.study)
        counts = self._counts if self._counts is not None else _by_event(log)
        return _events_counted(r, log, counts)
