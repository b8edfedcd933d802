"""The journey model: stages, touchpoints, personas and targets ("the journey as it should be").

All classes are frozen dataclasses: a :class:`JourneyMap` is read once from ``study.yml`` and
shared by every analysis. Ids are the keys that join the three evidence sources (survey columns,
trace events, qualitative codes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import StudyError

__all__ = [
    "CHANNELS",
    "NATURES",
    "Label",
    "Stage",
    "Touchpoint",
    "Persona",
    "Condition",
    "PersonaRule",
    "PersonaAssignment",
    "JourneyMap",
    "DesignedJourney",
    "DEFAULT_DESIGN",
    "assign_personas",
    "conformance",
]

#: Channels a touchpoint may use. ``call_centre`` is spelled the British way in ids.
CHANNELS = ("web", "app", "email", "sms", "store", "call_centre", "post", "social", "other")
#: A touchpoint is tangible (a shop, a letter, a person on the phone) or digital.
NATURES = ("digital", "tangible")
LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class Label:
    """A label in French and English. ``str()`` gives the French one."""

    fr: str
    en: str

    def get(self, lang: str = "fr") -> str:
        return self.en if lang == "en" else self.fr

    def __str__(self) -> str:
        return self.fr

    @classmethod
    def parse(cls, value: Any, default: str = "") -> Label:
        """Read ``{"fr": ..., "en": ...}`` or a plain string (used for both languages)."""
        if value is None:
            return cls(default, default)
        if isinstance(value, Mapping):
            fr = str(value.get("fr", value.get("en", default)))
            en = str(value.get("en", value.get("fr", default)))
            return cls(fr, en)
        return cls(str(value), str(value))


@dataclass(frozen=True)
class Stage:
    """One stage of the journey.

    Attributes
    ----------
    id : str
        Stable identifier (``acquerir``).
    label : Label
        Display label in French and English.
    order : int
        Position along the journey, 1-based.
    target_conversion : float or None
        Target share of the customers who reached the previous stage that reach this one (the
        "intermediate indicator" of the conversion pyramid; for the first stage, of everyone
        seen). :func:`parcours_research.traces.pyramid` tests it; it is never compared with
        step-to-step rates inside a stage.
    """

    id: str
    label: Label
    order: int
    target_conversion: float | None = None


@dataclass(frozen=True)
class Touchpoint:
    """A point of contact between the customer and the company.

    Attributes
    ----------
    id : str
        Stable identifier; survey columns and qualitative codes refer to it.
    label : Label
    stage : str
        Id of the stage it belongs to.
    channel : str
        One of :data:`CHANNELS`.
    nature : str
        ``"digital"`` or ``"tangible"``.
    moment_of_truth : bool
        A privileged moment that shapes the customer's memory of the experience.
    events : tuple of str
        Trace event names that mark a visit of this touchpoint.
    target_satisfaction : float or None
        Target mean satisfaction on the instrument's 1-5 scale ("as it should be").
    order : int
        Position along the whole journey, 1-based (stage order first, then file order).
    """

    id: str
    label: Label
    stage: str
    channel: str
    nature: str = "digital"
    moment_of_truth: bool = False
    events: tuple[str, ...] = ()
    target_satisfaction: float | None = None
    order: int = 0

    @property
    def tangible(self) -> bool:
        return self.nature == "tangible"


@dataclass(frozen=True)
class Persona:
    """A persona: a typology of customers whose journey is read on its own."""

    id: str
    label: Label
    description: str = ""


#: Operators a persona rule may use over profile answers. Values are data, never code.
RULE_OPERATORS = ("in", "not_in", "min", "max", "missing")


@dataclass(frozen=True)
class Condition:
    """``column`` satisfies ``op`` with ``values`` (``in``/``not_in`` a list, ``min``/``max``
    inclusive bounds, ``missing`` true or false)."""

    column: str
    op: str
    values: tuple = ()

    def mask(self, data: pd.DataFrame) -> np.ndarray:
        col = data[self.column]
        if self.op == "in":
            return self._isin(col)
        if self.op == "not_in":
            return ~self._isin(col) & col.notna().to_numpy()
        num = pd.to_numeric(col, errors="coerce")
        if self.op == "min":
            return (num >= float(self.values[0])).fillna(False).to_numpy(bool)
        if self.op == "max":
            return (num <= float(self.values[0])).fillna(False).to_numpy(bool)
        if self.op == "missing":
            return (col.isna() == bool(self.values[0])).to_numpy(bool)
        raise StudyError(f"Unknown persona rule operator {self.op!r}.")

    def _isin(self, col: pd.Series) -> np.ndarray:
        """Equality with any listed value: as text, and as numbers for a numeric column (so that
        the rule value ``1`` matches an answer read as ``1.0``)."""
        m = col.astype("string").isin([str(v) for v in self.values]).fillna(False).to_numpy(bool)
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            nums = [
                float(v)
                for v in self.values
                if not isinstance(v, bool) and pd.notna(pd.to_numeric(str(v), errors="coerce"))
            ]
            if nums:
                m = m | col.astype(float).isin(nums).to_numpy(bool)
        return m


@dataclass(frozen=True)
class PersonaRule:
    """Assign ``persona`` when every condition holds (conditions are AND-ed)."""

    persona: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class PersonaAssignment:
    """How respondents get a persona: a ``column`` that holds persona ids, or ordered
    ``rules`` over profile answers (first match wins) with a ``default``."""

    column: str | None = None
    rules: tuple[PersonaRule, ...] = ()
    default: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns the assignment reads."""
        if self.column:
            return (self.column,)
        seen: dict[str, None] = {}
        for r in self.rules:
            for c in r.conditions:
                seen[c.column] = None
        return tuple(seen)


def assign_personas(data: pd.DataFrame, assignment: PersonaAssignment) -> pd.Series:
    """Persona id of each row of ``data`` (a string Series aligned with ``data``).

    Rows that match no rule get ``assignment.default`` (missing when there is none). No text
    from the study file is evaluated: rules are lists of values and bounds.
    """
    missing = [c for c in assignment.columns if c not in data.columns]
    if missing:
        raise StudyError(
            f"Persona assignment needs column(s) {missing} that the data lacks; "
            "add them to the responses or change persona_assignment in study.yml."
        )
    if assignment.column:
        return data[assignment.column].astype("string").rename("persona")
    out = np.full(len(data), None, dtype=object)
    done = np.zeros(len(data), dtype=bool)
    for rule in assignment.rules:
        m = np.ones(len(data), dtype=bool)
        for cond in rule.conditions:
            m &= cond.mask(data)
        m &= ~done
        out[m] = rule.persona
        done |= m
    if assignment.default is not None:
        out[~done] = assignment.default
    return pd.Series(out, index=data.index, name="persona", dtype="string")


#: Key of ``to_be:`` whose designed journey applies to every persona without one of its own.
DEFAULT_DESIGN = "default"


@dataclass(frozen=True)
class DesignedJourney:
    """The journey as designed for a persona (``to_be:`` in study.yml): the touchpoints in the
    order the customer should meet them.

    Attributes
    ----------
    persona : str
        Persona id, or ``"default"`` (every persona without a design of its own).
    steps : tuple of str
        Touchpoint ids in the designed order.
    optional : tuple of str
        Touchpoints the customer may skip (those among ``steps``) or meet at any point
        (the others): never a deviation when missing, never "added" when met.
    repeatable : tuple of str
        Touchpoints the customer may meet more than once (app use, bills...).
    """

    persona: str
    steps: tuple[str, ...]
    optional: tuple[str, ...] = ()
    repeatable: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        """The steps that are not optional, in designed order."""
        return tuple(s for s in self.steps if s not in self.optional)

    @property
    def allowed(self) -> frozenset[str]:
        """Every touchpoint the design expects or tolerates."""
        return frozenset(self.steps) | frozenset(self.optional)


@dataclass(frozen=True)
class JourneyMap:
    """The journey as drawn in ``study.yml``: ordered stages, touchpoints, personas.

    Use :meth:`touchpoints_frame` for a tidy table of touchpoints in journey order and
    :meth:`event_touchpoints` for the event-to-touchpoint mapping used by the traces.
    """

    name: str
    stages: tuple[Stage, ...]
    touchpoints: tuple[Touchpoint, ...]
    personas: tuple[Persona, ...]
    persona_assignment: PersonaAssignment = field(default_factory=PersonaAssignment)
    language: str = "fr"
    #: designed journeys (``to_be:``), one per persona or ``"default"``
    to_be: tuple[DesignedJourney, ...] = ()

    # ---- look-ups -------------------------------------------------------------------------
    @property
    def stage_ids(self) -> list[str]:
        return [s.id for s in self.stages]

    @property
    def touchpoint_ids(self) -> list[str]:
        return [t.id for t in self.touchpoints]

    @property
    def persona_ids(self) -> list[str]:
        return [p.id for p in self.personas]

    def stage(self, stage_id: str) -> Stage:
        for s in self.stages:
            if s.id == stage_id:
                return s
        raise StudyError(f"Unknown stage {stage_id!r}; the journey has {self.stage_ids}.")

    def touchpoint(self, touchpoint_id: str) -> Touchpoint:
        for t in self.touchpoints:
            if t.id == touchpoint_id:
                return t
        raise StudyError(
            f"Unknown touchpoint {touchpoint_id!r}; the journey has {self.touchpoint_ids}."
        )

    def persona(self, persona_id: str) -> Persona:
        for p in self.personas:
            if p.id == persona_id:
                return p
        raise StudyError(f"Unknown persona {persona_id!r}; the study has {self.persona_ids}.")

    def designed_journey(self, persona: str | None) -> DesignedJourney | None:
        """The designed journey of ``persona``: its own under ``to_be:``, else the
        ``default`` one, else None."""
        designs = {d.persona: d for d in self.to_be}
        own = designs.get(str(persona)) if persona is not None else None
        return own if own is not None else designs.get(DEFAULT_DESIGN)

    @property
    def moments_of_truth(self) -> list[str]:
        return [t.id for t in self.touchpoints if t.moment_of_truth]

    def event_touchpoints(self) -> dict[str, str]:
        """Mapping ``event name -> touchpoint id`` from the touchpoints' ``events``."""
        return {e: t.id for t in self.touchpoints for e in t.events}

    def label(self, id_: str, lang: str | None = None) -> str:
        """Label of a stage, touchpoint or persona id in ``lang`` (default: the study's)."""
        lang = lang or self.language
        for group in (self.stages, self.touchpoints, self.personas):
            for item in group:
                if item.id == id_:
                    return item.label.get(lang)
        return id_

    # ---- tidy views -----------------------------------------------------------------------
    def touchpoints_frame(self, lang: str | None = None) -> pd.DataFrame:
        """One row per touchpoint in journey order.

        Columns: ``touchpoint, label, stage, stage_label, stage_order, order, channel, nature,
        moment_of_truth, events, target_satisfaction``.
        """
        lang = lang or self.language
        stage_by_id = {s.id: s for s in self.stages}
        rows = [
            {
                "touchpoint": t.id,
                "label": t.label.get(lang),
                "stage": t.stage,
                "stage_label": stage_by_id[t.stage].label.get(lang),
                "stage_order": stage_by_id[t.stage].order,
                "order": t.order,
                "channel": t.channel,
                "nature": t.nature,
                "moment_of_truth": t.moment_of_truth,
                "events": list(t.events),
                "target_satisfaction": t.target_satisfaction,
            }
            for t in self.touchpoints
        ]
        return pd.DataFrame(rows)

    def stages_frame(self, lang: str | None = None) -> pd.DataFrame:
        """One row per stage: ``stage, label, order, target_conversion, n_touchpoints``."""
        lang = lang or self.language
        return pd.DataFrame(
            [
                {
                    "stage": s.id,
                    "label": s.label.get(lang),
                    "order": s.order,
                    "target_conversion": s.target_conversion,
                    "n_touchpoints": sum(t.stage == s.id for t in self.touchpoints),
                }
                for s in self.stages
            ]
        )

    def personas_frame(self, lang: str | None = None) -> pd.DataFrame:
        """One row per persona: ``persona, label, description``."""
        lang = lang or self.language
        return pd.DataFrame(
            [
                {"persona": p.id, "label": p.label.get(lang), "description": p.description}
                for p in self.personas
            ]
        )

    def __repr__(self) -> str:
        return (
            f"JourneyMap({self.name!r}, {len(self.stages)} stages, {len(self.touchpoints)} touchpoints, "
            f"{len(self.personas)} personas, {len(self.moments_of_truth)} moments of truth)"
        )


def conformance(study, *, by: str | None = "persona", confidence: float = 0.95,
                correction: str = "holm", min_n: int = 20):
    """Designed against lived journeys: each persona's deviations from its ``to_be:`` journey
    found in the traces, with what they cost in satisfaction and NPS.

    A thin entry point to :func:`parcours_research.conformance.conformance` (which documents
    the parameters and the columns of the returned tables).
    """
    from .conformance import conformance as _conformance

    return _conformance(study, by=by, confidence=confidence, correction=correction, min_n=min_n)
