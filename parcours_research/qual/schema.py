"""The excerpts table shared by every qualitative reader, and how codes map to the journey.

One row per coded excerpt (one coder applying one code to one span of text). Columns, in
this order (readers add any extra columns of the source file after them):

=============  ========  ==================================================================
excerpt_id     string    The coded span (a CSV id, or the REFI-QDA selection). Rows of two
                         coders on the same span share it: it is the unit of agreement.
source         string    The file or interview document the excerpt comes from.
participant    string    Who speaks (the REFI-QDA case, or the CSV column).
customer_id    string    Customer id, to join the survey and the traces, when known.
persona        string    Persona id of the participant, when known.
stage          string    Stage id of the touchpoint (from the journey).
touchpoint     string    Touchpoint id, when the code maps to one.
code           string    The code applied.
valence        Float64   Emotional valence, by default on a -2..+2 scale (negative = pain).
coder          string    Who coded it.
text           string    The excerpt, as written (use :func:`parcours_research.privacy.scrub`
                         or :func:`parcours_research.qual.quotes` before showing it).
start, end     Int64     Character offsets in the source text (REFI-QDA), else missing.
=============  ========  ==================================================================
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ParcoursWarning, Problem, QualDataError

__all__ = [
    "EXCERPT_COLUMNS",
    "STRING_COLUMNS",
    "DEFAULT_VALENCE_LABELS",
    "DEFAULT_VALENCE_FAMILIES",
    "normalise_key",
    "parse_valence",
    "CodeMapper",
    "PersonaLookup",
    "finalise",
]

EXCERPT_COLUMNS = (
    "excerpt_id",
    "source",
    "participant",
    "customer_id",
    "persona",
    "stage",
    "touchpoint",
    "code",
    "valence",
    "coder",
    "text",
    "start",
    "end",
)
STRING_COLUMNS = (
    "excerpt_id",
    "source",
    "participant",
    "customer_id",
    "persona",
    "stage",
    "touchpoint",
    "code",
    "coder",
    "text",
)

#: Words read as valence values (keys are compared after :func:`normalise_key`).
DEFAULT_VALENCE_LABELS: dict[str, float] = {
    "tres_negatif": -2,
    "tres_negative": -2,
    "very_negative": -2,
    "--": -2,
    "negatif": -1,
    "negative": -1,
    "neg": -1,
    "-": -1,
    "neutre": 0,
    "neutral": 0,
    "neutralite": 0,
    "0": 0,
    "positif": 1,
    "positive": 1,
    "pos": 1,
    "+": 1,
    "tres_positif": 2,
    "tres_positive": 2,
    "very_positive": 2,
    "++": 2,
}
#: Names of the code family whose children hold valence values.
DEFAULT_VALENCE_FAMILIES = ("valence", "emotion", "emotions", "tonalite", "ressenti", "sentiment")


def normalise_key(value) -> str:
    """Lower case, no accents, words joined by ``_`` (``"Vérification d'identité"`` ->
    ``"verification_d_identite"``). Keeps ``+``/``-`` runs that stand alone (``"++"``)."""
    s = str(value).strip()
    if s and all(c in "+-−" for c in s):
        return s.replace("−", "-")
    nfkd = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in nfkd if not unicodedata.combining(c)).casefold()
    return re.sub(r"[^0-9a-z]+", "_", s).strip("_")


_NUM = re.compile(r"^[+\-−]?\d+(?:[.,]\d+)?$")


def parse_valence(value, labels: Mapping[str, float] | None = None) -> tuple[float | None, bool]:
    """Read one valence: a number (``-2``, ``+1``, ``0,5``, ``−1``) or a word
    (``négatif``, ``very positive``, ``++``).

    Returns
    -------
    (value, ok)
        ``(None, True)`` for an empty cell, ``(None, False)`` when it cannot be read.
    """
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None, True
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value), True
    s = str(value).strip()
    if not s:
        return None, True
    if _NUM.match(s):
        return float(s.replace("−", "-").replace(",", ".")), True
    table = DEFAULT_VALENCE_LABELS if labels is None else {**DEFAULT_VALENCE_LABELS, **labels}
    key = normalise_key(s)
    norm_table = {normalise_key(k): v for k, v in table.items()}
    if key in norm_table:
        return float(norm_table[key]), True
    return None, False


def _as_code_table(code_map, label: str) -> dict[str, str]:
    """``{code: touchpoint}`` from a dict, a Series, a DataFrame or a CSV path."""
    if code_map is None:
        return {}
    if isinstance(code_map, (str, Path)):
        path = Path(code_map)
        try:
            frame = pd.read_csv(
                path, dtype="string", sep=None, engine="python", encoding="utf-8-sig"
            )
        except FileNotFoundError:
            raise QualDataError(f"{label}: code map file not found ({path}).") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as e:
            raise QualDataError(f"{label}: the code map cannot be read as CSV ({e}).") from None
        return _as_code_table(frame, path.name)
    if isinstance(code_map, pd.Series):
        return {str(k): (None if pd.isna(v) else str(v)) for k, v in code_map.items()}
    if isinstance(code_map, pd.DataFrame):
        cols = {normalise_key(c): c for c in code_map.columns}
        missing = [c for c in ("code", "touchpoint") if c not in cols]
        if missing:
            raise QualDataError(
                f"{label}: the code map needs columns code and touchpoint; {missing} missing "
                f"(it has {list(code_map.columns)})."
            )
        out = {}
        for code, tp in zip(code_map[cols["code"]], code_map[cols["touchpoint"]]):
            if pd.isna(code):
                continue
            out[str(code).strip()] = None if pd.isna(tp) or not str(tp).strip() else str(tp).strip()
        return out
    if isinstance(code_map, Mapping):
        return {str(k): (None if v is None else str(v)) for k, v in code_map.items()}
    raise QualDataError(
        f"code_map must be a dict, a Series, a DataFrame (code, touchpoint) or a CSV path, not "
        f"{type(code_map).__name__}."
    )


class CodeMapper:
    """Map a code (and its parent codes) to a touchpoint and a stage.

    In order: the code-to-touchpoint table (``code_map``); the code itself equal to a
    touchpoint id or label (French or English, case and accents ignored); the nearest parent
    code (code family) named after a touchpoint; then a code or family named after a stage
    gives the stage only.

    Parameters
    ----------
    journey : JourneyMap, optional
    code_map : dict, Series, DataFrame or path, optional
        ``{code: touchpoint}`` or a table with columns ``code, touchpoint``.
    label : str
        Name of the code map in error messages.
    """

    def __init__(self, journey=None, code_map=None, label: str = "code_map"):
        self.journey = journey
        raw = _as_code_table(code_map, label)
        self.tp_keys: dict[str, str] = {}
        self.stage_keys: dict[str, str] = {}
        self.stage_of: dict[str, str] = {}
        if journey is not None:
            for t in journey.touchpoints:
                self.stage_of[t.id] = t.stage
                for k in (t.id, t.label.fr, t.label.en):
                    self.tp_keys.setdefault(normalise_key(k), t.id)
            for s in journey.stages:
                for k in (s.id, s.label.fr, s.label.en):
                    self.stage_keys.setdefault(normalise_key(k), s.id)
        problems = []
        self.table: dict[str, str | None] = {}
        for code, tp in raw.items():
            resolved = tp
            if tp is not None and journey is not None:
                resolved = self.resolve_touchpoint(tp)
                if resolved is None:
                    problems.append(
                        Problem(
                            f"code {code!r} maps to unknown touchpoint {tp!r}",
                            label,
                            column="touchpoint",
                            fix=f"use one of {journey.touchpoint_ids}",
                        )
                    )
            self.table[code] = resolved
            self.table.setdefault(normalise_key(code), resolved)
        if problems:
            raise QualDataError("The code map has problems", problems)

    def resolve_touchpoint(self, value) -> str | None:
        """The touchpoint id that ``value`` (an id or a label) names, or ``None``."""
        if value is None or value is pd.NA:
            return None
        if self.journey is None:
            return str(value)
        return self.tp_keys.get(normalise_key(value))

    def stage(self, touchpoint: str | None) -> str | None:
        return self.stage_of.get(touchpoint) if touchpoint else None

    def map(self, code, ancestors: Sequence[str] = ()) -> tuple[str | None, str | None]:
        """``(touchpoint, stage)`` for ``code`` under ``ancestors`` (nearest parent first)."""
        if code is None or code is pd.NA:
            return None, None
        for c in (code, *ancestors):
            for key in (str(c), normalise_key(c)):
                if key in self.table:
                    tp = self.table[key]
                    if tp is not None:
                        return tp, self.stage(tp)
            key = normalise_key(c)
            if key in self.tp_keys:
                tp = self.tp_keys[key]
                return tp, self.stage(tp)
        for c in (code, *ancestors):
            key = normalise_key(c)
            if key in self.stage_keys:
                return None, self.stage_keys[key]
        return None, None


class PersonaLookup:
    """Persona of a participant from the survey (customer id -> persona) or a mapping.

    Parameters
    ----------
    personas : DataFrame, Series or dict, optional
        A table with a ``persona`` column and a ``customer_id`` or ``participant`` column
        (e.g. ``study.responses``), or a mapping ``{customer_id or participant: persona}``.
    """

    def __init__(self, personas=None):
        self.by_customer: dict[str, str] = {}
        self.by_participant: dict[str, str] = {}
        self.ambiguous: set[str] = set()
        if personas is None:
            return
        if isinstance(personas, pd.DataFrame):
            if "persona" not in personas.columns:
                raise QualDataError(
                    f"personas: the table needs a `persona` column; it has {list(personas.columns)}."
                )
            keys = [c for c in ("customer_id", "participant") if c in personas.columns]
            if not keys:
                raise QualDataError(
                    "personas: the table needs a `customer_id` or `participant` column next to "
                    f"`persona`; it has {list(personas.columns)}."
                )
            for key in keys:
                target = self.by_customer if key == "customer_id" else self.by_participant
                self._fill(target, personas[key], personas["persona"])
        elif isinstance(personas, (pd.Series, Mapping)):
            items = personas.items()
            keys, values = zip(*items) if len(personas) else ((), ())
            self._fill(
                self.by_customer, pd.Series(keys, dtype="object"), pd.Series(values, dtype="object")
            )
            self.by_participant = dict(self.by_customer)
        else:
            raise QualDataError(
                "personas must be a DataFrame (customer_id or participant, persona), a Series or a "
                f"dict, not {type(personas).__name__}."
            )

    def _fill(self, target: dict, keys: Iterable, values: Iterable) -> None:
        for k, v in zip(keys, values):
            if k is None or pd.isna(k) or v is None or pd.isna(v):
                continue
            k = str(k).strip()
            v = str(v)
            if k in target and target[k] != v:
                self.ambiguous.add(k)
            target.setdefault(k, v)
        for k in self.ambiguous:
            target.pop(k, None)

    def __bool__(self) -> bool:
        return bool(self.by_customer or self.by_participant)

    def lookup(self, customer_id, participant) -> str | None:
        if customer_id is not None and not pd.isna(customer_id):
            p = self.by_customer.get(str(customer_id).strip())
            if p is not None:
                return p
        if participant is not None and not pd.isna(participant):
            return self.by_participant.get(str(participant).strip())
        return None


def finalise(
    rows: pd.DataFrame,
    mapper: CodeMapper | None = None,
    lookup: PersonaLookup | None = None,
    source_label: str = "",
) -> pd.DataFrame:
    """Put ``rows`` into the standard excerpts table: every column of :data:`EXCERPT_COLUMNS`
    in order with its dtype, the stage filled from the touchpoint, missing personas filled from
    ``lookup`` (with a warning naming participants left without one), extra columns last."""
    df = rows.copy()
    for c in EXCERPT_COLUMNS:
        if c not in df.columns:
            df[c] = pd.NA
    for c in STRING_COLUMNS:
        df[c] = df[c].astype("string")
    df["valence"] = pd.to_numeric(df["valence"], errors="coerce").astype("Float64")
    for c in ("start", "end"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    if mapper is not None and mapper.stage_of:
        stage = df["touchpoint"].map(mapper.stage_of, na_action="ignore").astype("string")
        df["stage"] = df["stage"].fillna(stage)
    if lookup:
        missing = df["persona"].isna()
        if missing.any():
            filled = [
                lookup.lookup(c, p)
                for c, p in zip(df.loc[missing, "customer_id"], df.loc[missing, "participant"])
            ]
            df.loc[missing, "persona"] = pd.array(filled, dtype="string")
        still = df.loc[df["persona"].isna(), "participant"].dropna().unique().tolist()
        if still:
            shown = ", ".join(map(str, still[:10])) + (" ..." if len(still) > 10 else "")
            warnings.warn(
                f"{source_label}: no persona found for {len(still)} participant(s) ({shown}); their "
                "excerpts keep persona <NA>. Check their customer ids against the survey.",
                ParcoursWarning,
                stacklevel=3,
            )
    extra = [c for c in df.columns if c not in EXCERPT_COLUMNS]
    return df[[*EXCERPT_COLUMNS, *extra]].reset_index(drop=True)
