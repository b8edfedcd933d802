"""Errors and warnings of parcours_research.

Every error the kit raises on bad input subclasses :class:`ValueError` and says what is wrong,
where (file, row, column or key) and what to do. Loaders collect every problem they find and
raise one :class:`StudyError` listing them all, so that a researcher fixes a file in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "Problem",
    "StudyError",
    "SurveyDataError",
    "TraceDataError",
    "EngineReadError",
    "QualDataError",
    "UnsafeFileError",
    "WeightingError",
    "AnalysisError",
    "ParcoursWarning",
    "DataQualityWarning",
    "check_one_of",
    "raise_if_problems",
]


@dataclass(frozen=True)
class Problem:
    """One problem found while loading or validating study material.

    Parameters
    ----------
    message : str
        What is wrong, in one sentence.
    file : str, optional
        The file where it was found (relative to the study folder when possible).
    row : int, optional
        1-based row number as a spreadsheet shows it (the header is row 1), when it applies.
    column : str, optional
        The column, or for YAML files the key path (``touchpoints[3].stage``).
    fix : str, optional
        What to do about it.
    """

    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None
    fix: str | None = None

    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column!r}" if self.row is not None else str(self.column))
        return ", ".join(parts)

    def __str__(self) -> str:
        loc = self.location()
        text = f"{loc}: {self.message}" if loc else self.message
        if self.fix:
            text += f" -> {self.fix}"
        return text


class StudyError(ValueError):
    """A study folder, a file in it, or an argument is not usable as given.

    Carries every problem found (``.problems``, a list of :class:`Problem`), so the message
    lists them all at once.
    """

    max_listed = 50

    def __init__(self, summary: str, problems: Sequence[Problem] | None = None):
        self.summary = summary
        self.problems = list(problems or [])
        super().__init__(self._format())

    def _format(self) -> str:
        if not self.problems:
            return self.summary
        n = len(self.problems)
        head = f"{self.summary} ({n} problem{'s' if n != 1 else ''} found)"
        lines = [f"  {i}. {p}" for i, p in enumerate(self.problems[: self.max_listed], 1)]
        if n > self.max_listed:
            lines.append(f"  ... and {n - self.max_listed} more (see the .problems attribute)")
        return "\n".join([head, *lines])

    def to_frame(self):
        """The problems as a DataFrame (file, row, column, message, fix)."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"file": p.file, "row": p.row, "column": p.column, "message": p.message, "fix": p.fix}
                for p in self.problems
            ],
            columns=["file", "row", "column", "message", "fix"],
        )


class SurveyDataError(StudyError):
    """Survey responses do not match their instrument."""


class TraceDataError(StudyError):
    """An event log or identity map cannot be read as given."""


class EngineReadError(TraceDataError):
    """The trace engine (DuckDB, or Spark's executors) cannot list or read an event log
    file: the message names the path and the engine, and the engine's own cause (a
    ``FileNotFoundException``, a missing file system for the URI's scheme, credentials)."""


class QualDataError(StudyError):
    """A file of coded qualitative excerpts cannot be read as given."""


class UnsafeFileError(StudyError):
    """A foreign file was refused because reading it could harm the machine (XML bomb,
    external entity, zip or gzip bomb, path traversal, YAML alias bomb), or because it is not
    a regular file (FIFO, device, directory), lies outside the study folder, or exceeds a size
    limit (see :mod:`parcours_research._files`). The message never shows the file's content."""


class WeightingError(StudyError):
    """Weights cannot be computed from the margins and data given."""


class AnalysisError(StudyError):
    """An analysis cannot run on the data given (too few rows, a missing column, ...)."""


class ParcoursWarning(UserWarning):
    """Base class of every warning the kit emits (small cells, weights trimmed, ...)."""


class DataQualityWarning(ParcoursWarning):
    """Data were read but something in them is probably wrong and counted (mojibake, events
    mapped to no touchpoint, a cleaning filter removing most rows): read the message."""


def check_one_of(name: str, value, options: Iterable) -> None:
    """Raise a :class:`StudyError` unless ``value`` is one of ``options``.

    The shared "must be one of" check used by every public function taking a choice.
    """
    options = list(options)
    if value not in options:
        shown = ", ".join(repr(o) for o in options)
        raise StudyError(f"{name}={value!r} is not valid: it must be one of {shown}.")


def raise_if_problems(summary: str, problems: Sequence[Problem], cls: type = StudyError) -> None:
    """Raise ``cls(summary, problems)`` when ``problems`` is not empty."""
    if problems:
        raise cls(summary, problems)
