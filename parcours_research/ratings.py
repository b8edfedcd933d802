"""Live workshop ratings: a shared store that every participant's kernel writes to.

During a workshop, participants rate touchpoints (1-5), say whether they are staff or
customers, and leave comments. Every rating goes to one SQLite file in WAL mode, by default
inside the study folder (:func:`workshop_store`), so that every Voila visitor's kernel writes to
and reads from the same store, and the board and explorer of every participant show everyone's
ratings. Each rating is committed to disk before :meth:`RatingLog.add` returns; a kernel killed
during a write leaves the store as it was; names and comments are cleaned of control characters.
:func:`read_ratings` reads the store (and the CSV files of earlier versions), and
:func:`ratings_long` turns ratings into the long format the journey curves take as a fourth
evidence source (``source = "workshop"``).
"""

from __future__ import annotations

import csv
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from . import _ratings_store as store
from .errors import ParcoursWarning, Problem, StudyError
from .journey import JourneyMap

__all__ = ["RatingLog", "read_ratings", "ratings_long", "running_means", "workshop_store",
           "RATING_COLUMNS", "ROLES"]

#: Columns of a table of workshop ratings, in order.
RATING_COLUMNS = store.COLUMNS

#: Who a participant is: a member of staff (predicting customers' ratings) or a customer.
ROLES = ("staff", "customer")

#: Longest participant name (characters) and comment accepted.
MAX_NAME, MAX_COMMENT = 80, 2000


def workshop_store(study) -> Path:
    """The study's shared rating store: ``<study folder>/workshop/ratings.sqlite``."""
    return Path(study.root) / "workshop" / "ratings.sqlite"


def _one_line(text) -> str:
    """``text`` on one line: control, format and separator characters (``\\r``, ``\\x0c``,
    U+2028, zero-width ones…) become spaces, runs of spaces one space."""
    chars = (" " if unicodedata.category(c)[0] in "CZ" else c for c in str(text or ""))
    return " ".join("".join(chars).split())


@dataclass
class RatingLog:
    """The shared, append-only store of a workshop's ratings.

    Parameters
    ----------
    path : str or Path
        The SQLite store (see :func:`workshop_store`); created on the first rating. Several
        kernels may write to it at once. A ``.csv`` path (the format of earlier versions) is
        read as before, but new ratings go to an SQLite store beside it, with a FutureWarning.
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
        if self.path.suffix.lower() == ".csv":
            sqlite = self.path.with_suffix(".sqlite")
            warnings.warn(
                f"Workshop ratings are kept in an SQLite store shared by every participant: "
                f"{self.path.name} becomes {sqlite.name}. This stops working in release 0.4: pass "
                "the .sqlite path (pr.ratings.workshop_store(study)); export a CSV with "
                ".export_csv().", FutureWarning, stacklevel=3)
            self.path = sqlite

    def add(self, participant: str, touchpoint: str, score: int, comment: str = "",
            persona: str | None = None, when: datetime | None = None, *,
            role: str | None = None) -> dict:
        """Validate and record one rating; returns the row written.

        Parameters
        ----------
        participant : str
            Initials or a code (at most 80 characters; control characters become spaces).
        touchpoint : str
            A touchpoint id of the journey.
        score : int
            The rating, on ``scale``.
        comment : str
            Free text, kept on one line (at most 2,000 characters).
        persona : str, optional
            The persona the rating is for.
        when : datetime, optional
            The time of the rating (default: now, UTC).
        role : {"staff", "customer"}, optional
            Whether the participant is staff (predicting customers' ratings) or a customer.

        Raises
        ------
        StudyError
            When the participant is blank or too long, the touchpoint, persona or role is
            unknown, the score is off the scale, or the comment too long. Nothing is written then.
        """
        participant, comment = _one_line(participant), _one_line(comment)
        problems = self._problems(participant, touchpoint, persona, role, comment)
        s = self._score(score, problems)
        if problems:
            raise StudyError("The rating was not recorded", problems)
        row = {
            "recorded_at": (when or datetime.now(UTC)).isoformat(timespec="seconds"),
            "session": _one_line(self.session), "participant": participant, "role": role,
            "persona": persona or None, "touchpoint": touchpoint, "score": s, "comment": comment,
        }
        store.append(self.path, row)
        return row

    def _problems(self, participant, touchpoint, persona, role, comment) -> list[Problem]:
        problems = []
        if not participant:
            problems.append(Problem("participant is blank", column="participant", fix="type a name or a code"))
        elif len(participant) > MAX_NAME:
            problems.append(Problem(f"participant name of {len(participant):,} characters", column="participant",
                                    fix=f"use initials or a code of at most {MAX_NAME} characters"))
        if len(comment) > MAX_COMMENT:
            problems.append(Problem(f"comment of {len(comment):,} characters", column="comment",
                                    fix=f"shorten it to at most {MAX_COMMENT:,} characters"))
        if role is not None and role not in ROLES:
            problems.append(Problem(f"unknown role {role!r}", column="role", fix=f"use one of {list(ROLES)}"))
        if self.journey is not None:
            if touchpoint not in self.journey.touchpoint_ids:
                problems.append(Problem(f"unknown touchpoint {touchpoint!r}", column="touchpoint",
                                        fix=f"use one of {self.journey.touchpoint_ids}"))
            if persona and persona not in self.journey.persona_ids:
                problems.append(Problem(f"unknown persona {persona!r}", column="persona",
                                        fix=f"use one of {self.journey.persona_ids}"))
        return problems

    def _score(self, score, problems: list[Problem]) -> int | None:
        try:
            s = int(score)
            if s != float(score) or not self.scale[0] <= s <= self.scale[1]:
                raise ValueError
            return s
        except (TypeError, ValueError, OverflowError):
            problems.append(Problem(f"score {score!r} is not on the {self.scale[0]}-{self.scale[1]} scale",
                                    column="score"))
            return None

    def read(self) -> pd.DataFrame:
        """All ratings recorded so far, by every participant (see :func:`read_ratings`)."""
        return read_ratings(self.path)

    def version(self) -> int:
        """A number that changes exactly when a rating is added (for live refresh)."""
        return store.version(self.path)

    def export_csv(self, path: str | Path) -> Path:
        """Write every rating to a CSV file (UTF-8, one line per rating; cells that a
        spreadsheet would run as formulas are neutralised); returns its path."""
        from ._safe_csv import write_csv

        return write_csv(self.read(), path, lineterminator="\n")

    def __repr__(self) -> str:
        n = store.version(self.path)
        return f"RatingLog({self.path.name!r}, session={self.session!r}, {n} ratings)"


def read_ratings(path: str | Path) -> pd.DataFrame:
    """Read a workshop rating store (SQLite), or a rating CSV of earlier versions.

    In a CSV, a last line cut short (the kernel died while writing) is left out with a
    :class:`~parcours_research.errors.ParcoursWarning` naming it; any other malformed line is an
    error listing every such line.

    Returns
    -------
    DataFrame
        Columns :data:`RATING_COLUMNS` (``role`` is missing, ``<NA>``, in CSVs of earlier
        versions); ``score`` is an integer, ``recorded_at`` a UTC timestamp.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        df = pd.DataFrame({c: pd.Series(dtype="string") for c in RATING_COLUMNS})
        return df.astype({"score": "Int64"})
    if store.is_sqlite(path):
        df = store.read(path)
    else:
        df = _read_csv(path)
    df["score"] = df["score"].astype(int)
    df["recorded_at"] = pd.to_datetime(df["recorded_at"], utc=True)
    for col in ("persona", "role"):
        df[col] = df[col].replace("", None).astype("string")
    return df


_CSV_COLUMNS = ("recorded_at", "session", "participant", "persona", "touchpoint", "score", "comment")


def _read_csv(path: Path) -> pd.DataFrame:
    text = path.read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    header = rows[0]
    if tuple(header) not in (_CSV_COLUMNS, RATING_COLUMNS):
        raise StudyError(f"{path.name} is not a workshop rating file", [
            Problem(f"its first line has {len(header)} columns, not the rating file's", path.name, row=1,
                    fix=f"expected {list(RATING_COLUMNS)}")])
    good, problems = [], []
    for i, r in enumerate(rows[1:], start=2):
        if len(r) == len(header) and r[header.index("score")].strip().isdigit():
            good.append(r)
        elif i == len(rows) and not text.endswith("\n"):
            warnings.warn(f"{path.name}: the last line (row {i}) was cut short, probably by a crash, and is left out.",
                          ParcoursWarning, stacklevel=3)
        else:
            problems.append(Problem(f"malformed line ({len(r)} fields)", path.name, row=i,
                                    fix="fix or delete the line"))
    if problems:
        raise StudyError(f"{path.name} has malformed lines", problems)
    df = pd.DataFrame(good, columns=list(header))
    return df.reindex(columns=list(RATING_COLUMNS))


def ratings_long(ratings: pd.DataFrame, journey: JourneyMap | None = None) -> pd.DataFrame:
    """Workshop ratings in the long format of survey ratings, as a fourth evidence source.

    Returns
    -------
    DataFrame
        ``respondent_id`` (the participant), ``persona``, ``touchpoint``, ``stage``, ``order``,
        ``score``, ``source`` (``"workshop"``), ``session``, ``role``.
    """
    keep = ["respondent_id", "persona", "touchpoint", "score", "session"]
    keep += ["role"] if "role" in ratings.columns else []
    out = ratings.rename(columns={"participant": "respondent_id"})[keep].copy()
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
