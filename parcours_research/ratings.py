"""Live workshop ratings: an append-only CSV that survives a dead kernel.

During a workshop, participants rate touchpoints (1-5) and leave comments. Every rating is
appended to a CSV file and flushed to disk at once (``os.fsync``), so nothing is lost if the
kernel dies; the file is never rewritten. :func:`read_ratings` reads it back, reporting (not
hiding) a last line cut short by a crash, and :func:`ratings_long` turns it into the long format
the journey curves take as a fourth evidence source (``source = "workshop"``).
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from .errors import ParcoursWarning, Problem, StudyError
from .journey import JourneyMap

__all__ = ["RatingLog", "read_ratings", "ratings_long", "running_means", "RATING_COLUMNS"]

#: Columns of the workshop rating file, in order.
RATING_COLUMNS = ("recorded_at", "session", "participant", "persona", "touchpoint", "score", "comment")


@dataclass
class RatingLog:
    """An append-only workshop rating file.

    Parameters
    ----------
    path : str or Path
        The CSV file; created with its header on the first rating.
    journey : JourneyMap, optional
        When given, touchpoints and personas are checked against it.
    session : str
        A label for this workshop session, written on every row.
    scale : tuple of int
        Inclusive bounds of the rating scale (default 1-5, as the survey).
    """

    path: Path
    journey: JourneyMap | None = None
    session: str = "workshop"
    scale: tuple[int, int] = (1, 5)

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    def add(self, participant: str, touchpoint: str, score: int, comment: str = "", persona: str | None = None,
            when: datetime | None = None) -> dict:
        """Validate and append one rating; returns the row written.

        Raises
        ------
        StudyError
            When the touchpoint or persona is unknown, the score is off the scale, or the
            participant is blank. Nothing is written then.
        """
        problems = []
        participant = str(participant or "").strip()
        if not participant:
            problems.append(Problem("participant is blank", column="participant", fix="type a name or a code"))
        if self.journey is not None:
            if touchpoint not in self.journey.touchpoint_ids:
                problems.append(Problem(f"unknown touchpoint {touchpoint!r}", column="touchpoint",
                                        fix=f"use one of {self.journey.touchpoint_ids}"))
            if persona and persona not in self.journey.persona_ids:
                problems.append(Problem(f"unknown persona {persona!r}", column="persona",
                                        fix=f"use one of {self.journey.persona_ids}"))
        try:
            s = int(score)
            if s != float(score) or not self.scale[0] <= s <= self.scale[1]:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(Problem(f"score {score!r} is not on the {self.scale[0]}-{self.scale[1]} scale", column="score"))
            s = None
        if problems:
            raise StudyError("The rating was not recorded", problems)
        row = {
            "recorded_at": (when or datetime.now(UTC)).isoformat(timespec="seconds"),
            "session": self.session,
            "participant": participant,
            "persona": persona or "",
            "touchpoint": touchpoint,
            "score": s,
            "comment": " ".join(str(comment or "").split()),
        }
        self._append(row)
        return row

    def _append(self, row: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=RATING_COLUMNS, lineterminator="\n")
        if new:
            w.writeheader()
        w.writerow(row)
        # one write of whole lines, then flush to the disk: a crash loses at most this row
        with self.path.open("a", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())

    def read(self) -> pd.DataFrame:
        """All ratings recorded so far (see :func:`read_ratings`)."""
        return read_ratings(self.path)

    def __repr__(self) -> str:
        n = len(self.read()) if self.path.exists() else 0
        return f"RatingLog({self.path.name!r}, session={self.session!r}, {n} ratings)"


def read_ratings(path: str | Path) -> pd.DataFrame:
    """Read a workshop rating file.

    A last line cut short (the kernel died while writing) is left out with a
    :class:`~parcours_research.errors.ParcoursWarning` naming it; any other malformed line is an
    error listing every such line.

    Returns
    -------
    DataFrame
        Columns :data:`RATING_COLUMNS`; ``score`` is an integer, ``recorded_at`` a UTC timestamp.
    """
    path = Path(path)
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype="string") for c in RATING_COLUMNS}).astype({"score": "Int64"})
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if not lines:
        return read_ratings(path.with_name(path.name + ".does-not-exist"))
    rows = list(csv.reader(lines))
    header = rows[0]
    if tuple(header) != RATING_COLUMNS:
        raise StudyError(f"{path.name} is not a workshop rating file", [
            Problem(f"header is {header}", path.name, row=1, fix=f"expected {list(RATING_COLUMNS)}")])
    good, problems = [], []
    for i, r in enumerate(rows[1:], start=2):
        ok = len(r) == len(RATING_COLUMNS) and r[5].strip().isdigit()
        if ok:
            good.append(r)
        elif i == len(rows) and not text.endswith("\n"):
            warnings.warn(f"{path.name}: the last line (row {i}) was cut short, probably by a crash, and is left out.",
                          ParcoursWarning, stacklevel=2)
        else:
            problems.append(Problem(f"malformed line: {r}", path.name, row=i, fix="fix or delete the line"))
    if problems:
        raise StudyError(f"{path.name} has malformed lines", problems)
    df = pd.DataFrame(good, columns=list(RATING_COLUMNS))
    df["score"] = df["score"].astype(int)
    df["recorded_at"] = pd.to_datetime(df["recorded_at"], utc=True)
    df["persona"] = df["persona"].replace("", pd.NA)
    return df


def ratings_long(ratings: pd.DataFrame, journey: JourneyMap | None = None) -> pd.DataFrame:
    """Workshop ratings in the long format of survey ratings, as a fourth evidence source.

    Returns
    -------
    DataFrame
        ``respondent_id`` (the participant), ``persona``, ``touchpoint``, ``stage``, ``order``,
        ``score``, ``source`` (``"workshop"``), ``session``.
    """
    out = ratings.rename(columns={"participant": "respondent_id"})[
        ["respondent_id", "persona", "touchpoint", "score", "session"]].copy()
    out["score"] = out["score"].astype(float)
    out["source"] = "workshop"
    if journey is not None:
        tps = journey.touchpoints_frame()[["touchpoint", "stage", "order"]]
        out = out.merge(tps, on="touchpoint", how="left")
    return out


def running_means(ratings: pd.DataFrame, journey: JourneyMap, lang: str = "fr") -> pd.DataFrame:
    """Count and plain mean of the workshop ratings per touchpoint, in journey order.

    A live display for the room, not an estimate: workshop participants are not a sample.

    Returns
    -------
    DataFrame
        ``touchpoint, label, order, n, mean`` (``mean`` is NaN where nobody rated yet).
    """
    tps = journey.touchpoints_frame(lang)[["touchpoint", "label", "order"]]
    if ratings.empty:
        return tps.assign(n=0, mean=float("nan"))
    agg = ratings.groupby("touchpoint")["score"].agg(n="size", mean="mean").reset_index()
    out = tps.merge(agg, on="touchpoint", how="left").fillna({"n": 0})
    out["n"] = out["n"].astype(int)
    return out.sort_values("order").reset_index(drop=True)
