"""A study folder: ``study.yml`` and the files it names, loaded and validated as one :class:`Study`.

``load_study(path)`` reads the journey (stages, touchpoints, personas, targets), the survey
instrument and responses, the population margins, and where the event log, identity map and
qualitative file are. It checks everything and raises one :class:`~parcours_research.errors.StudyError`
listing every problem found, each with its file, key or row and what to do.

The event log is not read here (it may be larger than memory): ``study.traces`` holds its
configuration and :func:`parcours_research.traces.read_events` reads it lazily.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from . import _purposes
from ._event_uris import format_from_name, is_uri, uri_files, uri_problems
from ._files import (
    DEFAULT_LIMITS,
    LIMIT_KEYS,
    STUDY_FILE_MAX_BYTES,
    YAML_MAX_NODES,
    FileLimits,
    YAMLExpansionError,
    _expanded_size,
    limits_from_yaml,
    safe_path,
)
from .errors import Problem, StudyError, UnsafeFileError
from .journey import (
    CHANNELS,
    DEFAULT_DESIGN,
    NATURES,
    RULE_OPERATORS,
    Condition,
    DesignedJourney,
    JourneyMap,
    Label,
    Persona,
    PersonaAssignment,
    PersonaRule,
    Stage,
    Touchpoint,
    assign_personas,
)
from .survey.instrument import Instrument, bundled_instruments, load_instrument

__all__ = [
    "Study",
    "SurveyConfig",
    "TracesConfig",
    "QualConfig",
    "load_study",
    "stage_templates",
    "STUDY_FILE",
]

STUDY_FILE = "study.yml"
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TOP_KEYS = {
    "name",
    "description",
    "language",
    "journey",
    "touchpoints",
    "personas",
    "persona_assignment",
    "targets",
    "survey",
    "margins",
    "traces",
    "qual",
    "privacy",
    "period",
    "customers",
    "limits",
    "allow_outside_paths",
    "purposes",
    "plan",
    "outcomes",
    "to_be",
}
TRACE_FORMATS = ("csv", "parquet", "jsonl", "ga4")
CANONICAL_EVENT_COLUMNS = (
    "user_id",
    "device_id",
    "timestamp",
    "event",
    "user_agent",
    "session_id",
    "properties",
)


@dataclass(frozen=True)
class SurveyConfig:
    """Where the survey is and how its design is described (``survey:`` in study.yml)."""

    instrument: str
    responses: Path | None
    respondent_id: str = "respondent_id"
    customer_id: str | None = "customer_id"
    weight: str | None = None
    strata: str | None = None
    cluster: str | None = None
    #: finite population correction column (``fpc:``): population size of the stratum, or the
    #: sampling fraction, as R's ``svydesign(fpc=)``
    fpc: str | None = None
    touchpoints: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    #: codes read as "not answered": ``{"default": (98, 99), "q3": (7,)}`` (``missing_codes:``)
    missing_codes: Mapping[str, tuple] = field(default_factory=dict)
    #: the response file's declared encoding (``encoding:``), else detected
    encoding: str | None = None


@dataclass(frozen=True)
class TracesConfig:
    """Where the event log is and how its columns map to the canonical ones (``traces:``).

    ``columns`` maps canonical names (``user_id, device_id, timestamp, event, user_agent``) to
    the names used in the file.
    """

    #: the file, pattern or folder named by ``events:``; a ``str`` when it is a URI
    #: (``file:///...``, ``s3a://...``), kept as written (see ``parcours_research._event_uris``)
    events: Path | str
    format: str = "csv"
    columns: Mapping[str, str] = field(default_factory=dict)
    timezone: str = "UTC"
    period: tuple[pd.Timestamp | None, pd.Timestamp | None] = (None, None)
    identity_map: Path | None = None
    session_gap: str = "30min"
    funnel: tuple[str, ...] = ()
    funnel_window: str = "7D"
    login_events: tuple[str, ...] = ()
    #: unit of epoch timestamps (s, ms, us, ns; by magnitude when None) and strftime layout of
    #: text timestamps that are not ISO 8601 (see ``parcours_research.traces._time``)
    timestamp_unit: str | None = None
    timestamp_format: str | None = None
    #: every file of the log, in reading order (``events:`` may be a file, a glob pattern, a
    #: list of files, or a folder such as Hive-partitioned ``event_date=.../part-0.parquet``)
    sources: tuple[Path, ...] = ()
    #: ceilings on input files (``limits:`` in study.yml), applied when the log is read
    limits: FileLimits = DEFAULT_LIMITS
    #: where the trace pipeline runs (``engine:``): ``duckdb`` (embedded, the default) or
    #: ``spark``, with its settings (``master``, ``config`` for Spark; ``threads``,
    #: ``memory_limit`` for DuckDB); see :func:`parcours_research.evidence.study_engine`
    engine: str = "duckdb"
    engine_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QualConfig:
    """Where the coded excerpts are (``qual:``): a CSV or Excel file (the kit's columns, or a
    Taguette, NVivo, ATLAS.ti or MAXQDA export, recognised from its header) or a REFI-QDA
    ``.qdpx`` project.

    ``format`` is ``auto`` (recognise the tool), a tool (``taguette``, ``nvivo``, ``atlasti``,
    ``maxqda``) or ``qdpx``; ``columns`` maps standard excerpt columns (``participant, text,
    code, touchpoint, ...``) to the file's columns; ``codebook`` is a REFI-QDA ``.qdc`` whose
    hierarchy completes the codes; ``sheet`` names the Excel sheet.
    """

    excerpts: Path
    format: str = "auto"
    code_map: Path | None = None
    valence: str = "valence"
    columns: Mapping[str, str] = field(default_factory=dict)
    codebook: Path | None = None
    sheet: str | None = None


@dataclass
class Study:
    """A loaded study: the journey map, the survey, the margins, and where the traces and
    qualitative material are.

    Attributes
    ----------
    root : Path
        The study folder.
    name : str
    journey : JourneyMap
    instrument : Instrument or None
    responses : DataFrame or None
        Validated survey responses, one row per respondent, with a ``persona`` column.
    margins : dict
        Population margins ``{column: {level: share}}`` for weighting.
    survey, traces, qual : SurveyConfig, TracesConfig, QualConfig or None
    privacy_salt : str
        Salt for pseudonymising participant and customer ids.
    customers : DataFrame or None
        The customer file (``customers:``, e.g. a CRM extract), one row per ``customer_id``,
        with a ``persona`` column when the persona rules can be applied to it. It gives each
        trace user a persona and the real mix of the customer base.
    truth : dict or None
        Planted effects of a synthetic study (``truth.json``), when present.
    outcomes : dict
        Outcome columns of the customer file and their kind (``outcomes:`` in study.yml,
        ``{"churned": "binary", "revenue": "amount"}``), checked against the file.
    """

    root: Path
    name: str
    journey: JourneyMap
    instrument: Instrument | None = None
    responses: pd.DataFrame | None = None
    margins: dict[str, dict[str, float]] = field(default_factory=dict)
    survey: SurveyConfig | None = None
    traces: TracesConfig | None = None
    qual: QualConfig | None = None
    privacy_salt: str = ""
    truth: dict | None = None
    outcomes: dict = field(default_factory=dict)
    description: str = ""
    customers: pd.DataFrame | None = None
    #: ceilings on input files (``limits:`` in study.yml)
    limits: FileLimits = DEFAULT_LIMITS
    #: ``allow_outside_paths: true`` in study.yml: inputs may resolve outside the folder
    allow_outside_paths: bool = False
    #: prepared evidence per options (:func:`parcours_research.evidence.prepare`)
    _prepared: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    #: ``{touchpoint: purpose}`` (``purpose:`` of the touchpoints) and ``{purpose: Label}``
    purposes: dict = field(default_factory=dict)
    purpose_labels: dict = field(default_factory=dict)
    #: the event log as read, per engine (:func:`parcours_research.evidence.raw_events`)
    _raw_events: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    #: the engine built from ``traces: engine:`` (:func:`parcours_research.evidence.study_engine`)
    _engine: Any = field(default=None, init=False, repr=False, compare=False)

    # ---- convenience ----------------------------------------------------------------------
    @property
    def touchpoint_columns(self) -> dict[str, str]:
        """``{touchpoint: satisfaction column}`` of the survey."""
        return self.instrument.touchpoint_columns() if self.instrument else {}

    def ratings_long(
        self, role: str = "touchpoint_satisfaction", keep: list[str] | None = None
    ) -> pd.DataFrame:
        """Touchpoint ratings in long format, one row per respondent and rated touchpoint.

        Blank answers (touchpoint not experienced) are not rows. Columns: ``respondent_id,
        touchpoint, stage, order, score`` and ``persona`` plus the ``keep`` columns.
        """
        if self.responses is None or self.instrument is None:
            raise StudyError(
                f"The study {self.name!r} has no survey responses; add `survey:` to study.yml."
            )
        cols = self.instrument.touchpoint_columns(role)
        rid = self.instrument.respondent_id
        keep = [c for c in dict.fromkeys(["persona", *(keep or [])]) if c in self.responses.columns]
        wide = self.responses[[rid, *keep, *cols.values()]].rename(columns={rid: "respondent_id"})
        long = wide.melt(
            id_vars=["respondent_id", *keep],
            value_vars=list(cols.values()),
            var_name="_column",
            value_name="score",
        )
        long = long[long["score"].notna()].copy()
        inv = {v: k for k, v in cols.items()}
        long["touchpoint"] = long.pop("_column").map(inv)
        tps = self.journey.touchpoints_frame()[["touchpoint", "stage", "order"]]
        long = long.merge(tps, on="touchpoint", how="left")
        long["score"] = long["score"].astype(float)
        first = ["respondent_id", *keep, "touchpoint", "stage", "order", "score"]
        return (
            long[first]
            .sort_values(["order", "respondent_id"], kind="stable")
            .reset_index(drop=True)
        )

    def summary(self) -> pd.DataFrame:
        """What was loaded, as a two-column table (``item, value``)."""
        rows = [
            ("study", self.name),
            ("stages", len(self.journey.stages)),
            ("touchpoints", len(self.journey.touchpoints)),
            ("moments of truth", len(self.journey.moments_of_truth)),
            ("personas", len(self.journey.personas)),
        ]
        if self.responses is not None:
            rows.append(("respondents", len(self.responses)))
            counts = self.responses["persona"].value_counts(dropna=False)
            for p in self.journey.persona_ids:
                rows.append((f"  persona {p}", int(counts.get(p, 0))))
            n_unassigned = int(self.responses["persona"].isna().sum())
            if n_unassigned:
                rows.append(("  no persona", n_unassigned))
        rows.append(("margins", ", ".join(self.margins) or "none"))
        if self.traces is not None:
            rows.append(
                (
                    "event log",
                    str(
                        self.traces.events.relative_to(self.root)
                        if isinstance(self.traces.events, Path)
                        and self.traces.events.is_relative_to(self.root)
                        else self.traces.events
                    )
                    + (
                        f" ({len(self.traces.sources)} files)"
                        if len(self.traces.sources) > 1
                        else ""
                    ),
                )
            )
        if self.qual is not None:
            rows.append(("excerpts file", str(self.qual.excerpts.name)))
        return pd.DataFrame(rows, columns=["item", "value"]).astype({"value": str})

    def __repr__(self) -> str:
        n = len(self.responses) if self.responses is not None else 0
        return (
            f"Study({self.name!r}, {len(self.journey.stages)} stages, {len(self.journey.touchpoints)} "
            f"touchpoints, {len(self.journey.personas)} personas, {n} respondents, "
            f"traces={'yes' if self.traces else 'no'}, qual={'yes' if self.qual else 'no'})"
        )

    def _repr_html_(self) -> str:
        return f"<p><b>{self.name}</b></p>" + self.summary().to_html(index=False)


# ---------------------------------------------------------------------------------------------
# reading study.yml
# ---------------------------------------------------------------------------------------------
def stage_templates() -> dict[str, Any]:
    """The bundled stage templates (``lifecycle6``, ``purchase4``) as read from YAML."""
    text = (resources.files("parcours_research.templates") / "stages.yml").read_text(
        encoding="utf-8"
    )
    return yaml.safe_load(text)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that records repeated keys in a mapping (plain PyYAML keeps the last
    one silently)."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[tuple[Any, int, int]] = []


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _value in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            loader.duplicates.append((key, line, seen[key]))
        else:
            seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _load_yaml(
    text: str, max_nodes: int = YAML_MAX_NODES
) -> tuple[Any, list[tuple[Any, int, int]]]:
    """Parse YAML safely (no object construction, aliases expanding to at most ``max_nodes``
    values); returns the data and the repeated keys ``(key, line, first line)``."""
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, loader.duplicates
        _expanded_size(node, max_nodes)
        return loader.construct_document(node), loader.duplicates
    finally:
        loader.dispose()


def _names(value: Any) -> tuple[str, ...]:
    """A YAML list of names (a single name is a list of one)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _did_you_mean(value: Any, options) -> str:
    """``"did you mean 'x'? "`` for the closest option, or an empty string."""
    near = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.6)
    return f"did you mean {near[0]!r}? " if near else ""


class _Checker:
    """Collects problems while reading one YAML file."""

    def __init__(self, file: str, limits: FileLimits = DEFAULT_LIMITS, allow_outside: bool = False):
        self.file = file
        self.problems: list[Problem] = []
        self.limits = limits
        self.allow_outside = allow_outside

    def add(self, key: str, message: str, fix: str | None = None) -> None:
        self.problems.append(Problem(message, self.file, column=key, fix=fix))

    def ident(self, key: str, value: Any) -> str | None:
        if not isinstance(value, str) or not _ID.match(value):
            self.add(
                key,
                f"{value!r} is not a valid id",
                "ids start with a letter and hold only letters, digits and underscores",
            )
            return None
        return value

    def number(
        self,
        key: str,
        value: Any,
        lo: float | None = None,
        hi: float | None = None,
        fix: str | None = None,
    ) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(
                key,
                f"{value!r} is not a number",
                fix or "write a number such as 0.5 (no quotes, no %)",
            )
            return None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.add(
                key,
                f"{value} is outside [{lo}, {hi}]",
                fix or f"write a number between {lo} and {hi}",
            )
            return None
        return float(value)


def _stages(raw: Any, ck: _Checker) -> list[Stage]:
    templates = stage_templates()
    if not isinstance(raw, Mapping):
        ck.add(
            "journey",
            "missing or not a mapping",
            "write `journey: {template: lifecycle6}` or list `stages:`",
        )
        return []
    items = raw.get("stages")
    if items is None:
        tname = raw.get("template")
        if tname not in templates:
            ck.add(
                "journey.template",
                f"unknown template {tname!r}",
                f"{_did_you_mean(tname, templates)}use one of {sorted(templates)} or list `stages:`",
            )
            return []
        items = templates[tname]["stages"]
    if not isinstance(items, list) or not items:
        ck.add("journey.stages", "must be a non-empty list of stages")
        return []
    overrides = raw.get("target_conversion") or {}
    stages, seen = [], set()
    for i, s in enumerate(items, 1):
        key = f"journey.stages[{i - 1}]"
        if isinstance(s, str):
            s = {"id": s}
        if not isinstance(s, Mapping):
            ck.add(key, "must be a mapping with an `id`")
            continue
        sid = ck.ident(f"{key}.id", s.get("id"))
        if sid is None:
            continue
        if sid in seen:
            ck.add(
                f"{key}.id",
                f"stage {sid!r} is listed twice",
                "list each stage once, in journey order",
            )
            continue
        seen.add(sid)
        tc = s.get(
            "target_conversion", overrides.get(sid) if isinstance(overrides, Mapping) else None
        )
        stages.append(
            Stage(
                sid,
                Label.parse(s.get("label"), sid),
                i,
                ck.number(f"{key}.target_conversion", tc, 0, 1),
            )
        )
    return stages


class _TouchpointReader:
    """Reads the entries of ``touchpoints:`` one at a time, remembering the ids and events seen
    so far (repeats are reported in one pass, even when an entry has other problems)."""

    def __init__(self, stages: list[Stage], targets: Mapping, ck: _Checker):
        self.ck = ck
        self.stages = stages
        self.stage_order = {s.id: s.order for s in stages}
        satisfaction = targets.get("satisfaction")
        self.default_target = (
            (satisfaction or {}).get("default") if isinstance(satisfaction, Mapping) else None
        )
        self.per_tp_target = satisfaction if isinstance(satisfaction, Mapping) else {}
        self.seen_ids: set[str] = set()
        self.seen_events: dict[str, str] = {}

    def read(self, t: Any, key: str) -> Touchpoint | None:
        """The touchpoint of one entry, or None when it cannot be built (problems recorded)."""
        if not isinstance(t, Mapping):
            self.ck.add(
                key,
                "must be a mapping",
                "write `- {id: ..., label: ..., stage: ..., channel: ...}`",
            )
            return None
        tid = self._id(t, key)
        stage, channel, nature = self._kind(t, key)
        events = self._events(t, key, tid)
        target = self._target(t, key, tid)
        mot = self._moment_of_truth(t, key)
        if tid and stage in self.stage_order and channel in CHANNELS and nature in NATURES:
            return Touchpoint(
                tid,
                Label.parse(t.get("label"), tid),
                stage,
                channel,
                nature,
                mot,
                tuple(str(e) for e in events),
                target,
            )
        return None

    def _id(self, t: Mapping, key: str) -> str | None:
        tid = self.ck.ident(f"{key}.id", t.get("id"))
        if tid and tid in self.seen_ids:
            self.ck.add(
                f"{key}.id",
                f"touchpoint {tid!r} is listed twice",
                "give each touchpoint its own id (survey columns and codes refer to it)",
            )
            return None
        if tid:
            self.seen_ids.add(tid)  # even if the touchpoint has other problems
        return tid

    def _kind(self, t: Mapping, key: str) -> tuple[Any, Any, Any]:
        """Stage, channel and nature, each checked against the known ones."""
        stage = t.get("stage")
        if stage not in self.stage_order and self.stages:
            self.ck.add(
                f"{key}.stage",
                f"unknown stage {stage!r}",
                f"{_did_you_mean(stage, self.stage_order)}use one of {list(self.stage_order)}",
            )
        channel = t.get("channel")
        if channel not in CHANNELS:
            self.ck.add(
                f"{key}.channel",
                f"unknown channel {channel!r}",
                f"{_did_you_mean(channel, CHANNELS)}use one of {', '.join(CHANNELS)}",
            )
        nature = t.get(
            "nature", "tangible" if channel in ("store", "call_centre", "post") else "digital"
        )
        if nature not in NATURES:
            self.ck.add(
                f"{key}.nature",
                f"must be one of {NATURES}, not {nature!r}",
                "digital for web, app, e-mail, SMS; tangible for a shop, a letter, a person",
            )
        return stage, channel, nature

    def _events(self, t: Mapping, key: str, tid: str | None) -> list:
        events = t.get("events") or []
        if isinstance(events, str):
            events = [events]
        for e in events:
            if e in self.seen_events:
                self.ck.add(
                    f"{key}.events",
                    f"event {e!r} already marks touchpoint {self.seen_events[e]!r}",
                    "an event can mark only one touchpoint",
                )
            elif tid:
                self.seen_events[e] = tid
        return events

    def _target(self, t: Mapping, key: str, tid: str | None) -> float | None:
        target = t.get("target_satisfaction", self.per_tp_target.get(tid) if tid else None)
        if target is None:
            target = self.default_target
        return self.ck.number(f"{key}.target_satisfaction", target, 0, 10)

    def _moment_of_truth(self, t: Mapping, key: str) -> bool:
        mot = t.get("moment_of_truth", False)
        if not isinstance(mot, bool):
            self.ck.add(
                f"{key}.moment_of_truth",
                f"must be true or false, not {mot!r}",
                "write true or false",
            )
            mot = False
        return mot


def _touchpoints(raw: Any, stages: list[Stage], targets: Mapping, ck: _Checker) -> list[Touchpoint]:
    if not isinstance(raw, list) or not raw:
        ck.add(
            "touchpoints",
            "missing or empty",
            "list the touchpoints with id, label, stage and channel",
        )
        return []
    reader = _TouchpointReader(stages, targets, ck)
    out = []
    for i, t in enumerate(raw):
        tp = reader.read(t, f"touchpoints[{i}]")
        if tp is not None:
            out.append(tp)
    # journey order: by stage, then as listed
    out.sort(key=lambda tp: reader.stage_order[tp.stage])
    return [Touchpoint(**{**tp.__dict__, "order": k}) for k, tp in enumerate(out, 1)]


def _personas(raw: Any, ck: _Checker) -> list[Persona]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        ck.add("personas", "must be a list of personas (id, label, description)")
        return []
    out, seen = [], set()
    for i, p in enumerate(raw):
        key = f"personas[{i}]"
        if not isinstance(p, Mapping):
            ck.add(key, "must be a mapping")
            continue
        pid = ck.ident(f"{key}.id", p.get("id"))
        if pid and pid in seen:
            ck.add(f"{key}.id", f"persona {pid!r} is listed twice", "give each persona its own id")
            continue
        if pid:
            seen.add(pid)
            out.append(
                Persona(pid, Label.parse(p.get("label"), pid), str(p.get("description", "") or ""))
            )
    return out


def _assignment(raw: Any, personas: list[Persona], ck: _Checker) -> PersonaAssignment:
    if raw is None:
        return PersonaAssignment()
    if not isinstance(raw, Mapping):
        ck.add("persona_assignment", "must be a mapping with `column` or `rules`")
        return PersonaAssignment()
    ids = {p.id for p in personas}
    if "column" in raw:
        return PersonaAssignment(column=str(raw["column"]))
    rules = []
    for i, r in enumerate(raw.get("rules") or []):
        rule = _rule(r, f"persona_assignment.rules[{i}]", ids, ck)
        if rule is not None:
            rules.append(rule)
    default = raw.get("default")
    if default is not None and default not in ids:
        ck.add(
            "persona_assignment.default",
            f"unknown persona {default!r}",
            f"{_did_you_mean(default, ids)}use one of {sorted(ids)}",
        )
    if not raw.get("rules") and "column" not in raw:
        ck.add(
            "persona_assignment",
            "has neither `column` nor `rules`",
            "name the column holding persona ids, or list rules over profile answers",
        )
    return PersonaAssignment(rules=tuple(rules), default=default)


def _rule(r: Any, key: str, ids: set[str], ck: _Checker) -> PersonaRule | None:
    """One rule of ``persona_assignment.rules``, or None when it is not a rule at all."""
    if not isinstance(r, Mapping) or "persona" not in r or not isinstance(r.get("when"), Mapping):
        ck.add(key, "a rule needs `persona` and a `when` mapping of column: condition")
        return None
    if r["persona"] not in ids:
        ck.add(
            f"{key}.persona",
            f"unknown persona {r['persona']!r}",
            f"{_did_you_mean(r['persona'], ids)}use one of {sorted(ids)} (declared under `personas:`)",
        )
    if not r["when"]:
        ck.add(f"{key}.when", "the rule has no condition", "give at least one `column: condition`")
    conds = []
    for col, spec in r["when"].items():
        conds.extend(_conditions(str(col), spec, f"{key}.when.{col}", ck))
    return PersonaRule(str(r["persona"]), tuple(conds))


def _conditions(col: str, spec: Any, where: str, ck: _Checker) -> list[Condition]:
    """The conditions of one ``column: condition`` entry of a rule's ``when``."""
    if isinstance(spec, Mapping):
        return _operator_conditions(col, spec, where, ck)
    if isinstance(spec, list) and not any(isinstance(x, Mapping | list) for x in spec):
        return [Condition(col, "in", tuple(spec))]
    if isinstance(spec, list):
        ck.add(where, "must be a list of values", "write e.g. `age_band: [55+]`")
        return []
    return [Condition(col, "in", (spec,))]


def _operator_conditions(col: str, spec: Mapping, where: str, ck: _Checker) -> list[Condition]:
    """The conditions of ``column: {operator: value, ...}``."""
    bad = set(spec) - set(RULE_OPERATORS)
    if bad:
        ck.add(
            where,
            f"unknown operator(s) {sorted(map(str, bad))}",
            f"{_did_you_mean(sorted(map(str, bad))[0], RULE_OPERATORS)}use {', '.join(RULE_OPERATORS)}",
        )
        return []
    conds = []
    for op, v in spec.items():
        if op in ("in", "not_in"):
            vals = v if isinstance(v, list) else [v]
            if any(isinstance(x, Mapping | list) for x in vals):
                ck.add(f"{where}.{op}", "must be a list of values", "write e.g. [55+, 35-54]")
                continue
            conds.append(Condition(col, op, tuple(vals)))
        elif op in ("min", "max"):
            if ck.number(f"{where}.{op}", v) is not None:
                conds.append(Condition(col, op, (v,)))
            elif v is None:
                ck.add(f"{where}.{op}", "is empty", "write a number")
        elif not isinstance(v, bool):
            ck.add(f"{where}.{op}", f"must be true or false, not {v!r}", "write `missing: true`")
        else:
            conds.append(Condition(col, op, (v,)))
    return conds


def _path(root: Path, value: Any, key: str, ck: _Checker, must_exist: bool = True) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str):
        ck.add(key, f"must be a path relative to the study folder, not {_show(value)}")
        return None
    p = Path(value)
    if (p.is_absolute() or ".." in p.parts or p.drive) and not ck.allow_outside:
        ck.add(
            key,
            f"{value!r} leaves the study folder",
            "copy the file into the study folder and give its path relative to the folder holding study.yml",
        )
        return None
    full = root / p
    if must_exist and not full.exists():
        near = ""
        if full.parent.is_dir():
            names = [
                str((full.parent / n).relative_to(root)) for n in sorted(os.listdir(full.parent))
            ]
            near = _did_you_mean(value, names)
        ck.add(
            key,
            f"file {value!r} does not exist",
            f"{near}check the path (relative to the study folder)",
        )
        return None
    if must_exist:
        return _safe(full, root, value, key, ck)
    return full


def _safe(full: Path, root: Path, value: str, key: str, ck: _Checker) -> Path | None:
    """``full`` when it is a regular file inside the study folder and within the limits
    (:func:`parcours_research._files.safe_path`); else None, the refusal recorded."""
    try:
        safe_path(value, root=root, allow_outside=ck.allow_outside, limits=ck.limits,
                  events=key == "traces.events", label=value)
    except StudyError as e:
        for p in e.problems:
            ck.add(key, f"{value!r} {p.message}", p.fix)
        return None
    return full


def _margins(raw: Any, root: Path, ck: _Checker) -> dict[str, dict[str, float]]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        path = _path(root, raw, "margins", ck)
        if path is None:
            return {}
        try:
            df = pd.read_csv(path, dtype={"column": "string", "level": "string"})
        except Exception as e:  # noqa: BLE001 - reported, not swallowed
            ck.add("margins", f"cannot read {raw}: {e}")
            return {}
        need = {"column", "level", "share"}
        if not need <= set(df.columns):
            ck.add(
                "margins", f"{raw} must have columns column, level, share (has {list(df.columns)})"
            )
            return {}
        raw = {c: dict(zip(g["level"], g["share"])) for c, g in df.groupby("column", sort=False)}
    if not isinstance(raw, Mapping):
        ck.add("margins", "must map a column to {level: share}, or name a CSV file")
        return {}
    out = {}
    for col, levels in raw.items():
        key = f"margins.{col}"
        if not isinstance(levels, Mapping) or not levels:
            ck.add(key, "must map each level to its population share")
            continue
        shares = {}
        valid = True
        for lvl, v in levels.items():
            x = ck.number(
                f"{key}.{lvl}", v, 0, 1, fix="write a share between 0 and 1 (0.25 for 25%)"
            )
            if x is None:
                valid = False
            else:
                shares[str(lvl)] = x
        total = sum(shares.values())
        if valid and shares and abs(total - 1) > 1e-6:
            ck.add(
                key,
                f"shares sum to {total:.6g}, not 1",
                "population shares of a margin must add up to 1; check for a missing or mistyped level",
            )
        out[str(col)] = shares
    return out


def _period(raw: Any, key: str, ck: _Checker) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    if raw is None:
        return (None, None)
    if not isinstance(raw, Mapping):
        ck.add(key, "must be a mapping with `start` and `end` dates")
        return (None, None)
    out = []
    for part in ("start", "end"):
        v = raw.get(part)
        if v is None:
            out.append(None)
            continue
        try:
            out.append(pd.Timestamp(str(v)))
        except (ValueError, TypeError):
            ck.add(f"{key}.{part}", f"{v!r} is not a date", "write dates as YYYY-MM-DD")
            out.append(None)
    if out[0] is not None and out[1] is not None and out[0] > out[1]:
        ck.add(key, "start is after end")
    return (out[0], out[1])


def _traces(raw: Any, root: Path, ck: _Checker) -> TracesConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        ck.add("traces", "must be a mapping with at least `events`")
        return None
    events, sources = _event_files(root, raw.get("events"), ck)
    if raw.get("events") is None:
        ck.add("traces.events", "missing", "name the event log file")
    fmt = raw.get("format")
    if fmt is None and sources:
        fmt = _event_format(sources[0])
    if fmt is None and sources:  # a URI whose name does not tell
        ck.add("traces.format", f"the format of {sources[0]!r} cannot be told from its name",
               f"add `format:` to traces: one of {', '.join(TRACE_FORMATS)}")
    elif fmt not in TRACE_FORMATS and (fmt is not None or sources):
        ck.add("traces.format", f"unknown format {fmt!r}", f"use one of {', '.join(TRACE_FORMATS)}")
    cols = raw.get("columns") or {}
    if not isinstance(cols, Mapping):
        ck.add("traces.columns", "must map canonical names to the file's column names")
        cols = {}
    bad = set(cols) - set(CANONICAL_EVENT_COLUMNS)
    if bad:
        ck.add(
            "traces.columns",
            f"unknown canonical column(s) {sorted(bad)}",
            f"use {', '.join(CANONICAL_EVENT_COLUMNS)}",
        )
    tz = str(raw.get("timezone", "UTC"))
    try:
        pd.Timestamp("2020-01-01", tz=tz)
    except Exception:  # noqa: BLE001
        ck.add(
            "traces.timezone", f"unknown time zone {tz!r}", "use an IANA name such as Europe/Paris"
        )
    _time_keys(raw, ck)
    ident = _path(root, raw.get("identity_map"), "traces.identity_map", ck)
    for k in ("session_gap", "funnel_window"):
        if k in raw:
            try:
                pd.Timedelta(str(raw[k]))
            except ValueError:
                ck.add(f"traces.{k}", f"{raw[k]!r} is not a duration", "write e.g. 30min, 7D")
    engine, engine_options = _engine_spec(raw.get("engine"), ck)
    if events is None or fmt not in TRACE_FORMATS:
        return None
    return TracesConfig(
        engine=engine,
        engine_options=engine_options,
        events=events,
        format=fmt,
        columns={str(k): str(v) for k, v in cols.items()},
        timezone=tz,
        period=_period(raw.get("period"), "traces.period", ck),
        identity_map=ident,
        session_gap=str(raw.get("session_gap", "30min")),
        funnel=tuple(raw.get("funnel") or ()),
        funnel_window=str(raw.get("funnel_window", "7D")),
        login_events=tuple(raw.get("login_events") or ()),
        timestamp_unit=_opt_text(raw.get("timestamp_unit")),
        timestamp_format=_opt_text(raw.get("timestamp_format")),
        sources=sources,
        limits=ck.limits,
    )


#: the engines ``traces: engine:`` may name, and the settings each takes
TRACE_ENGINES = {"duckdb": ("threads", "memory_limit"), "spark": ("master", "config")}


def _engine_spec(raw: Any, ck: _Checker) -> tuple[str, dict]:
    """``traces.engine``: a name (``spark``) or a mapping (``{name: spark, master: ...,
    config: {...}}``); ``(name, settings)``, ``("duckdb", {})`` when absent."""
    if raw is None:
        return "duckdb", {}
    spec = dict(raw) if isinstance(raw, Mapping) else {"name": raw}
    default = "spark" if {"master", "config"} & set(spec) else "duckdb"
    name = str(spec.pop("name", default)).strip().lower()
    if name not in TRACE_ENGINES:
        ck.add("traces.engine", f"unknown engine {name!r}",
               f"{_did_you_mean(name, TRACE_ENGINES)}use one of {', '.join(TRACE_ENGINES)}")
        return "duckdb", {}
    for k in sorted(set(spec) - set(TRACE_ENGINES[name])):
        ck.add(f"traces.engine.{k}", f"is not a setting of the {name} engine",
               f"{name} takes {', '.join(TRACE_ENGINES[name])}")
        spec.pop(k)
    if "config" in spec:
        spec["config"] = {str(k): str(v).lower() if isinstance(v, bool) else str(v)
                          for k, v in spec["config"].items()}
    return name, spec


def _opt_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _time_keys(raw: Mapping, ck: _Checker) -> None:
    """``traces.timestamp_unit`` and ``traces.timestamp_format`` (the time rules of
    ``traces._time``)."""
    unit = raw.get("timestamp_unit")
    if unit is not None and str(unit) not in ("s", "ms", "us", "ns"):
        ck.add("traces.timestamp_unit", f"unknown unit {unit!r}", "use s, ms, us or ns")
    fmt = raw.get("timestamp_format")
    if fmt is not None and "%" not in str(fmt):
        ck.add(
            "traces.timestamp_format",
            f"{fmt!r} has no strftime code",
            "write it like '%d/%m/%Y %H:%M' (quote it in YAML)",
        )
    elif fmt is not None and "%Z" in str(fmt):
        ck.add(
            "traces.timestamp_format",
            f"{fmt!r}: zone names (%Z) are not read by a format",
            "use %z for offsets such as +0100",
        )


#: file names an event-log folder may hold (others, such as ``_SUCCESS``, are skipped)
_EVENT_SUFFIXES = (".parquet", ".pq", ".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".txt")


def _is_event_file(path: Path) -> bool:
    name = path.name.lower()
    for z in (".gz", ".bz2", ".zst"):
        name = name.removesuffix(z)
    return not path.name.startswith((".", "_")) and name.endswith(_EVENT_SUFFIXES)


def _event_files(root: Path, value: Any, ck: _Checker) -> tuple[Path | None, tuple[Path, ...]]:
    """``(events, files)`` for ``traces.events``: one file; a glob pattern
    (``exports/events_*.json``); a list of files (daily exports); or a folder, read whole
    (Hive partitions such as ``event_date=2026-01-01/part-0.parquet``). Files come in sorted
    path order (daily names and ``key=value`` folders sort by date), and each is checked like
    any input file."""
    key = "traces.events"
    if isinstance(value, str) and is_uri(value):  # an explicit opt-out of the study folder
        for message, fix in uri_problems(value):
            ck.add(key, message, fix)
        return (None, ()) if uri_problems(value) else (value, (value,))
    if isinstance(value, list | tuple):
        if not value:
            ck.add(key, "the list of event files is empty", "name at least one file")
            return None, ()
        files = []
        for item in value:  # each a file, a pattern or a folder (problems are recorded)
            files.extend(_event_files(root, item, ck)[1])
        return (files[0] if files else None), tuple(files)
    if isinstance(value, str) and any(ch in value for ch in "*?["):
        p = Path(value)
        if (p.is_absolute() or ".." in p.parts) and not ck.allow_outside:
            ck.add(key, f"{value!r} leaves the study folder", "give a pattern relative to the study folder")
            return None, ()
        found = sorted(q for q in root.glob(value) if q.is_file() or q.is_symlink())
        if not found:
            ck.add(key, f"no file matches {value!r}", "check the folder and the pattern")
            return None, ()
        rels = [str(q.relative_to(root)) for q in found]
        return root / value, tuple(f for f in (_path(root, r, key, ck) for r in rels) if f)
    if isinstance(value, str) and (root / value).is_dir() and not (root / value).is_symlink():
        folder = root / value
        found = sorted(q for q in folder.rglob("*") if _is_event_file(q) and not q.is_dir())
        if not found:
            ck.add(key, f"folder {value!r} holds no event file", "put .parquet, .json or .csv files in it")
            return None, ()
        rels = [str(q.relative_to(root)) for q in found]
        files = tuple(f for f in (_path(root, r, key, ck) for r in rels) if f)
        return folder, files
    full = _path(root, value, key, ck)
    return full, ((full,) if full is not None else ())


def _event_format(path: Path | str) -> str | None:
    """The format of an event file from its content (a GA4 export is recognised), else its
    name; for a URI, the content of a ``file:`` URI's first file, else the URI's name (None
    when it does not tell)."""
    from .traces._ga4 import sniff

    if is_uri(str(path)):
        first = (uri_files(str(path)) or [None])[0]
        found = sniff(first) if first else None
        return found or format_from_name(first or str(path))
    found = sniff(str(path))
    if found is not None:
        return found
    name = path.name.lower()
    return "parquet" if ".parquet" in name else "jsonl" if ".json" in name else "csv"


def _qual(raw: Any, root: Path, ck: _Checker) -> QualConfig | None:
    from .qual.excerpts import COLUMN_ALIASES
    from .qual.exports import FORMATS

    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"excerpts": raw}
    if not isinstance(raw, Mapping):
        ck.add("qual", "must be a mapping with `excerpts`")
        return None
    path = _path(root, raw.get("excerpts"), "qual.excerpts", ck)
    if raw.get("excerpts") is None:
        ck.add("qual.excerpts", "missing", "name the CSV, Excel or .qdpx file of coded excerpts")
    code_map = _path(root, raw.get("code_map"), "qual.code_map", ck)
    codebook = _path(root, raw.get("codebook"), "qual.codebook", ck)
    cols = raw.get("columns") or {}
    bad = sorted(str(k) for k in cols if k not in COLUMN_ALIASES)
    if bad:
        ck.add(
            "qual.columns",
            f"unknown excerpt column(s) {bad}",
            f"map standard names ({', '.join(COLUMN_ALIASES)}) to the file's column names",
        )
    if path is not None and path.suffix.lower() == ".qdc":
        ck.add(
            "qual.excerpts",
            f"{path.name} is a REFI-QDA codebook (codes, no coded text)",
            f"write `codebook: {raw.get('excerpts')}` and point `excerpts:` at the coded "
            "segments export or the .qdpx project",
        )
        return None
    if path is None:
        return None
    fmt = str(raw.get("format") or ("qdpx" if path.suffix.lower() == ".qdpx" else "auto")).lower()
    if fmt not in FORMATS:
        ck.add("qual.format", f"unknown format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    sheet = raw.get("sheet")
    return QualConfig(
        path,
        fmt,
        code_map,
        str(raw.get("valence", "valence")),
        columns={str(k): str(v) for k, v in cols.items() if k in COLUMN_ALIASES},
        codebook=codebook,
        sheet=None if sheet is None else str(sheet),
    )


def _survey(
    raw: Any, root: Path, journey: JourneyMap | None, ck: _Checker
) -> tuple[SurveyConfig | None, Instrument | None]:
    if raw is None:
        return None, None
    if not isinstance(raw, Mapping):
        ck.add("survey", "must be a mapping with `instrument` and `responses`")
        return None, None
    inst_name = raw.get("instrument", "standard_touchpoint")
    inst_ref: str = str(inst_name)
    inst_ok = True
    if isinstance(inst_name, str) and inst_name.endswith((".yml", ".yaml")):
        p = _path(root, inst_name, "survey.instrument", ck)
        if p is None:
            return None, None
        inst_ref = str(p)
    elif inst_ref not in bundled_instruments():
        bundled = bundled_instruments()
        ck.add(
            "survey.instrument",
            f"unknown instrument {inst_name!r}",
            f"{_did_you_mean(inst_name, bundled)}name a bundled questionnaire ({', '.join(bundled)}) "
            "or the path of a YAML file in the study folder",
        )
        inst_ok = False
    tps = _names(raw.get("touchpoints"))
    if journey is not None:
        unknown = [t for t in tps if t not in journey.touchpoint_ids]
        if unknown:
            ck.add(
                "survey.touchpoints",
                f"unknown touchpoint(s) {unknown}",
                "use ids from `touchpoints:`",
            )
            tps = tuple(t for t in tps if t in journey.touchpoint_ids)
    instrument = None
    if journey is not None and inst_ok:
        try:
            instrument = load_instrument(inst_ref, journey, tps or None)
        except StudyError as e:
            shown = str(inst_name)
            for p in e.problems or [
                Problem(e.summary, shown, fix="check survey.instrument in study.yml")
            ]:
                ck.problems.append(
                    Problem(
                        p.message, shown if p.file == inst_ref else p.file, p.row, p.column, p.fix
                    )
                )
    responses = (
        _path(root, raw.get("responses"), "survey.responses", ck) if raw.get("responses") else None
    )
    cfg = SurveyConfig(
        instrument=inst_ref,
        responses=responses,
        respondent_id=instrument.respondent_id
        if instrument
        else str(raw.get("respondent_id", "respondent_id")),
        customer_id=raw.get("customer_id", "customer_id"),
        weight=raw.get("weight"),
        strata=raw.get("strata"),
        cluster=raw.get("cluster"),
        fpc=raw.get("fpc"),
        touchpoints=tps,
        extra_columns=_names(raw.get("extra_columns")),
        **_survey_reading(raw, instrument, ck),
    )
    return cfg, instrument


def _survey_reading(raw: Mapping, instrument: Instrument | None, ck: _Checker) -> dict:
    """``missing_codes`` and ``encoding`` of the ``survey:`` section, checked."""
    import codecs

    from .survey.missing import check_against_instrument, parse_missing_codes

    codes, problems = parse_missing_codes(raw.get("missing_codes"), ck.file)
    if instrument is not None and not problems:
        problems = check_against_instrument(codes, instrument, ck.file)
    ck.problems.extend(problems)
    encoding = raw.get("encoding")
    if encoding is not None:
        try:
            codecs.lookup(str(encoding))
        except LookupError:
            ck.add("survey.encoding", f"unknown encoding {encoding!r}",
                   "use a codec name such as utf-8, cp1252, latin-1 or utf-16")
            encoding = None
    return {"missing_codes": codes, "encoding": None if encoding is None else str(encoding)}


def _read_customers(
    path: Path, root: Path, assignment: PersonaAssignment, journey: JourneyMap
) -> pd.DataFrame:
    from ._text_files import read_csv_checked

    name = str(path.relative_to(root))
    try:  # encodings and quotes checked (nothing lost silently), then pandas
        df, _ = read_csv_checked(path, name, dtype={"customer_id": "string"})
    except StudyError:
        raise
    except Exception as e:  # noqa: BLE001 - reported with the file name
        raise StudyError(f"Cannot read the customer file {name}: {e}") from None
    problems = []
    if "customer_id" not in df.columns:
        problems.append(
            Problem("the customer file needs a `customer_id` column", name, column="customer_id")
        )
    else:
        dup = df["customer_id"].duplicated(keep=False) & df["customer_id"].notna()
        for cid in df.loc[dup, "customer_id"].unique()[:20]:
            rows = [int(i) + 2 for i in df.index[df["customer_id"] == cid][:5]]
            problems.append(
                Problem(
                    f"customer {cid!r} appears on rows {rows}",
                    name,
                    row=rows[0],
                    column="customer_id",
                    fix="each customer must appear once",
                )
            )
    if problems:
        raise StudyError(f"The customer file {name} has problems", problems)
    if (
        "persona" not in df.columns
        and assignment.columns
        and all(c in df.columns for c in assignment.columns)
    ):
        df["persona"] = assign_personas(df, assignment)
    elif "persona" in df.columns:
        df["persona"] = df["persona"].astype("string")
        unknown = sorted(set(df["persona"].dropna()) - set(journey.persona_ids))
        if unknown:
            raise StudyError(
                f"The customer file {name} has problems",
                [
                    Problem(
                        f"unknown persona(s) {unknown}",
                        name,
                        column="persona",
                        fix="declare them under `personas:`",
                    )
                ],
            )
    return df


def _study_file(p: Path) -> Path:
    """The ``study.yml`` of a folder (or the file itself); raises when there is none."""
    file = p if p.is_file() else p / STUDY_FILE
    if file.exists():
        return file
    fix = "create one with `parcours sample OUT` and adapt it, or point to the right folder"
    if not p.exists():
        msg = f"the folder {p} does not exist"
    else:
        msg = f"no {STUDY_FILE} in {p}: this is not a study folder"
        other = [n for n in ("study.yaml", "Study.yml", "study.yml.txt") if (p / n).exists()]
        if other:
            fix = f"rename {other[0]} to {STUDY_FILE}"
    raise StudyError(f"Cannot load a study from {p}", [Problem(msg, STUDY_FILE, fix=fix)])


def _yaml_problem(e: yaml.YAMLError, name: str) -> Problem:
    """Where and why a YAML file could not be parsed, and what to do."""
    mark = getattr(e, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
    what = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    msg = f"not valid YAML: {what}" + (f" ({context})" if context else "")
    if isinstance(e, yaml.constructor.ConstructorError):
        fix = "remove the `!!` tag: study.yml holds plain values only (text, numbers, lists, mappings)"
    else:
        fix = "check the indentation (spaces, not tabs), colons and quotes on this line and the one above"
    return Problem(msg, name, column=where, fix=fix)


def _parse_study_file(file: Path) -> tuple[Mapping, list[tuple[Any, int, int]]]:
    """The mapping held by ``study.yml`` and its repeated keys; raises when it cannot be read
    as UTF-8 YAML holding a mapping."""
    summary = f"Cannot read {file}"
    try:
        safe_path(file, limits=FileLimits(max_file_mb=STUDY_FILE_MAX_BYTES / (1 << 20)),
                  label=file.name)
        raw, duplicates = _load_yaml(file.read_bytes()[:STUDY_FILE_MAX_BYTES].decode("utf-8"))
    except UnsafeFileError as e:
        raise UnsafeFileError(summary, e.problems) from None
    except UnicodeDecodeError:
        raise StudyError(
            summary,
            [
                Problem(
                    "the file is not UTF-8 text", file.name, fix="save it as UTF-8 from your editor"
                )
            ],
        ) from None
    except YAMLExpansionError as e:
        raise UnsafeFileError(summary, [Problem(
            f"refused: {e}", file.name,
            fix="write each value out in full; study.yml does not need anchors (&) and aliases (*)",
        )]) from None
    except yaml.YAMLError as e:
        raise StudyError(summary, [_yaml_problem(e, file.name)]) from None
    if not isinstance(raw, Mapping):
        raise StudyError(
            summary,
            [
                Problem(
                    "the file must hold a mapping of keys (name, journey, touchpoints, "
                    f"personas, ...), not {type(raw).__name__}",
                    file.name,
                    fix="start from the study.yml written by `parcours sample OUT`",
                )
            ],
        )
    return raw, duplicates


def _check_keys(raw: Mapping, duplicates: list[tuple[Any, int, int]], ck: _Checker) -> None:
    """Repeated and unknown top-level keys."""
    for key, line, first in duplicates:
        ck.add(
            f"line {line}",
            f"key {key!r} appears again (first on line {first}); YAML would keep only the last one",
            "merge the two into one entry",
        )
    unknown = sorted(set(raw) - _TOP_KEYS, key=str)
    for k in unknown:
        ck.add(
            str(k),
            "unknown key",
            f"{_did_you_mean(k, _TOP_KEYS)}known keys are {', '.join(sorted(_TOP_KEYS))}",
        )


# ---- the shape of study.yml: known keys and value types at every level ----------------------
# NOTE for every reader of study.yml: a key missing from _SECTIONS is reported as "unknown key"
# (with a did-you-mean) and removed before the section readers run. When a reader learns a new
# key, add it here with its type (_ANY when the reader checks the value itself).
_TEXT, _PATH, _NAMES, _BOOL, _NUM, _MAP, _ANY = "text", "path", "names", "bool", "number", "map", "any"
_LABEL = ("or", _TEXT, {"fr": _TEXT, "en": _TEXT})
_DATES = {"start": _ANY, "end": _ANY}
_STAGE = {"id": _TEXT, "label": _LABEL, "target_conversion": _NUM, "description": _LABEL}
_TOUCHPOINT = {
    "id": _TEXT, "label": _LABEL, "stage": _TEXT, "channel": _TEXT, "nature": _TEXT,
    "moment_of_truth": _BOOL, "events": _NAMES, "target_satisfaction": _NUM, "description": _LABEL,
    "purpose": _TEXT,  # one purpose per interaction (parcours_research._purposes)
}
_SECTIONS: dict[str, Any] = {
    "name": _TEXT,
    "description": _LABEL,
    "language": _TEXT,
    "journey": {"template": _TEXT, "stages": ("list", ("or", _TEXT, _STAGE)), "target_conversion": _MAP},
    "touchpoints": ("list", _TOUCHPOINT),
    "personas": ("list", {"id": _TEXT, "label": _LABEL, "description": _LABEL}),
    "persona_assignment": {
        "column": _TEXT, "default": _TEXT, "rules": ("list", {"persona": _TEXT, "when": _MAP}),
    },
    "targets": {"satisfaction": _MAP, "conversion": _MAP},
    "survey": {
        "instrument": _TEXT, "responses": _PATH, "respondent_id": _TEXT, "customer_id": _TEXT,
        "weight": _TEXT, "strata": _TEXT, "cluster": _TEXT, "fpc": _TEXT, "touchpoints": _NAMES,
        "extra_columns": _NAMES, "missing_codes": _ANY, "encoding": _TEXT,
    },
    "margins": ("or", _PATH, _MAP),
    "traces": {
        "events": ("or", _PATH, ("list", _PATH)), "format": _TEXT, "columns": _MAP,
        "timezone": _TEXT, "period": _DATES, "identity_map": _PATH, "session_gap": _TEXT,
        "funnel": _NAMES, "funnel_window": _TEXT, "login_events": _NAMES,
        "timestamp_unit": _TEXT, "timestamp_format": _TEXT,
        "engine": ("or", _TEXT, {"name": _TEXT, "master": _TEXT, "config": _MAP,
                                 "threads": _NUM, "memory_limit": _TEXT}),
    },
    "qual": (
        "or",
        _PATH,
        {
            "excerpts": _PATH,
            "format": _TEXT,
            "code_map": _PATH,
            "valence": _TEXT,
            "columns": _MAP,
            "codebook": _PATH,
            "sheet": _TEXT,
        },
    ),
    "privacy": {"salt": _TEXT},
    "period": _DATES,
    "customers": _PATH,
    "limits": dict.fromkeys(LIMIT_KEYS, _NUM),
    "allow_outside_paths": _BOOL,
    "purposes": _MAP,  # labels of the touchpoints' purposes (parcours_research._purposes)
    # sample sizes for simulations (pr.plan.power, parcours sample --from); read there
    "plan": {"respondents": _NUM, "customers": _NUM, "participants": _NUM, "prospects": _NUM, "days": _NUM,
             # costs and budget of the next wave (pr.plan.next_wave); read there
             "costs": {"respondent": _NUM, "interview": _NUM, "currency": _TEXT}, "budget": _NUM},
    # outcome columns of the customer file (pr.outcomes.at_stake): {column: binary | amount}
    "outcomes": _MAP,
    # designed journeys per persona (pr.journey.conformance); read by _to_be
    "to_be": _MAP,
}
_BAD = object()


def _show(value: Any) -> str:
    """A value named in a message: short, and never a whole structure."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(spec: Any) -> str:
    if isinstance(spec, dict):
        return "a mapping"
    if isinstance(spec, tuple):
        if spec[0] == "list":
            return "a list"
        return " or ".join(dict.fromkeys(_describe(s) for s in spec[1:]))
    return {
        _TEXT: "a text", _PATH: "a file path", _NAMES: "a name or a list of names",
        _BOOL: "true or false", _NUM: "a number", _MAP: "a mapping", _ANY: "a value",
    }[spec]


def _fits(value: Any, spec: Any) -> bool:
    """Whether ``value`` has the type ``spec`` asks for (contents are checked by _walk)."""
    scalar = isinstance(value, str | int | float) and not isinstance(value, bool)
    if isinstance(spec, dict) or spec == _MAP:
        return isinstance(value, Mapping)
    if isinstance(spec, tuple):
        if spec[0] == "list":
            return isinstance(value, list)
        return any(_fits(value, s) for s in spec[1:])
    return {
        _TEXT: scalar, _PATH: isinstance(value, str), _BOOL: isinstance(value, bool),
        _NUM: isinstance(value, int | float) and not isinstance(value, bool),
        _NAMES: isinstance(value, str) or (isinstance(value, list) and all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)),
        _ANY: True,
    }[spec]


def _walk(value: Any, spec: Any, key: str, ck: _Checker) -> Any:
    """``value`` with its wrong-typed and unknown entries reported and left out (so that the
    section readers see only values of the types they expect)."""
    if value is None or spec == _ANY:
        return value
    if not _fits(value, spec):
        what = _describe(spec)
        ck.add(key, f"must be {what}, not {_show(value)}", f"write {what} here (see the sample study.yml)")
        return _BAD
    if isinstance(spec, tuple) and spec[0] == "or":
        return _walk(value, next(s for s in spec[1:] if _fits(value, s)), key, ck)
    if isinstance(spec, tuple):  # a list: items of the wrong type stay for the reader to name
        return [
            w if (w := _walk(v, spec[1], f"{key}[{i}]", ck)) is not _BAD else v
            for i, v in enumerate(value)
        ]
    if isinstance(spec, dict):
        return _walk_mapping(value, spec, key, ck)
    return value


def _walk_mapping(value: Mapping, spec: dict, key: str, ck: _Checker) -> dict:
    out = {}
    for k, v in value.items():
        where = f"{key}.{k}" if key else str(k)
        if k not in spec:
            if key:  # the top level is checked by _check_keys
                ck.add(where, "unknown key", f"{_did_you_mean(k, spec)}known keys here are "
                       f"{', '.join(sorted(map(str, spec)))}")
            continue
        checked = _walk(v, spec[k], where, ck)
        if checked is not _BAD:
            out[k] = checked
    return out


def _checked(raw: Mapping, ck: _Checker) -> dict:
    """study.yml with every unknown key (at any level) and wrong-typed value reported and
    left out."""
    return _walk_mapping(raw, _SECTIONS, "", ck)


def _safety(raw: Mapping, ck: _Checker) -> None:
    """``limits:`` and ``allow_outside_paths:``, read first (every path check uses them)."""
    limits, problems = limits_from_yaml(raw.get("limits"))
    ck.problems.extend(problems)
    ck.limits = limits
    allow = raw.get("allow_outside_paths", False)
    ck.allow_outside = allow is True


def _language(raw: Mapping, ck: _Checker) -> str:
    language = raw.get("language", "fr")
    if language not in ("fr", "en"):
        ck.add(
            "language",
            f"must be fr or en, not {language!r}",
            "write `language: fr` or `language: en`",
        )
        language = "fr"
    return language


def _targets(raw: Mapping, ck: _Checker) -> Mapping:
    targets = raw.get("targets") or {}
    if not isinstance(targets, Mapping):
        ck.add("targets", "must be a mapping with `satisfaction` and/or `conversion`")
        targets = {}
    return targets


def _journey_stages(raw: Mapping, targets: Mapping, ck: _Checker) -> list[Stage]:
    """The stages (``journey:``), with the stage conversion targets of ``targets.conversion``."""
    journey_raw = raw.get("journey")
    conversion = targets.get("conversion")
    if isinstance(journey_raw, Mapping) and isinstance(conversion, Mapping):
        journey_raw = {**journey_raw, "target_conversion": conversion}
    stages = _stages(journey_raw, ck)
    if isinstance(conversion, Mapping) and stages:
        for s in sorted(set(conversion) - {st.id for st in stages}):
            ck.add(
                f"targets.conversion.{s}",
                f"unknown stage {s!r}",
                f"use one of {[st.id for st in stages]}",
            )
    return stages


def _check_stages_used(raw_touchpoints: Any, stages: list[Stage], ck: _Checker) -> None:
    """A stage is empty only if no touchpoint names it (not if its touchpoints had problems)."""
    named = {t.get("stage") for t in raw_touchpoints or [] if isinstance(t, Mapping)}
    for s in [s.id for s in stages if s.id not in named]:
        ck.add("touchpoints", f"stage {s!r} has no touchpoint", "add one or remove the stage")


_TO_BE_KEYS = ("steps", "optional", "repeatable")


def _to_be(raw: Any, touchpoints: list[Touchpoint], personas: list[Persona], ck: _Checker) -> tuple:
    """The designed journeys (``to_be:``): ``{persona or default: {steps, optional,
    repeatable}}``, or ``{persona: [steps]}`` (all required, none repeatable)."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        ck.add("to_be", "must be a mapping of persona ids (or `default`) to designed journeys",
               "write `to_be: {default: {steps: [touchpoint, ...]}}`")
        return ()
    owners = [DEFAULT_DESIGN, *(p.id for p in personas)]
    out = []
    for pid, spec in raw.items():
        key = f"to_be.{pid}"
        if str(pid) not in owners:
            ck.add(key, f"unknown persona {pid!r}", f"{_did_you_mean(pid, owners)}use one of {owners}")
            continue
        lists = {"steps": spec} if isinstance(spec, list) else spec
        if not isinstance(lists, Mapping):
            ck.add(key, "must be a list of touchpoints or a mapping with steps, optional, repeatable",
                   "write `steps: [touchpoint, ...]` (optional: and repeatable: may follow)")
            continue
        design = _designed(str(pid), lists, {t.id for t in touchpoints}, key, ck)
        if design is not None:
            out.append(design)
    return tuple(out)


def _designed(pid: str, lists: Mapping, tps: set[str], key: str, ck: _Checker):
    """One persona's designed journey, its ids checked against the touchpoints."""
    for k in sorted(set(map(str, lists)) - set(_TO_BE_KEYS)):
        ck.add(f"{key}.{k}", "unknown key", f"{_did_you_mean(k, _TO_BE_KEYS)}known keys here are "
               f"{', '.join(_TO_BE_KEYS)}")
    got = {}
    for k in _TO_BE_KEYS:
        ids = lists.get(k) or []
        ids = [ids] if isinstance(ids, str) else ids
        if not isinstance(ids, list):
            ck.add(f"{key}.{k}", "must be a list of touchpoint ids", "write `[id, id, ...]`")
            return None
        for i, t in enumerate(ids):
            if str(t) not in tps:
                ck.add(f"{key}.{k}[{i}]", f"unknown touchpoint {t!r}",
                       f"{_did_you_mean(t, tps)}use a touchpoint id declared under `touchpoints:`")
        got[k] = tuple(dict.fromkeys(str(t) for t in ids if str(t) in tps))
        if len(got[k]) < len(ids) and all(str(t) in tps for t in ids):
            ck.add(f"{key}.{k}", "a touchpoint is listed twice",
                   "list each touchpoint once; one met more than once goes under `repeatable:`")
    if not lists.get("steps"):
        ck.add(f"{key}.steps", "missing or empty", "list the designed touchpoints in order")
        return None
    stray = [t for t in got["repeatable"] if t not in got["steps"] and t not in got["optional"]]
    if stray:
        ck.add(f"{key}.repeatable", f"{stray} are neither steps nor optional",
               "add them to `steps:` or `optional:` (a repeatable touchpoint is part of the design)")
    return DesignedJourney(pid, got["steps"], got["optional"], got["repeatable"])


def _journey(raw: Mapping, root: Path, ck: _Checker) -> tuple[JourneyMap | None, PersonaAssignment]:
    """The journey map (stages, touchpoints, personas) and how personas are assigned."""
    language = _language(raw, ck)
    targets = _targets(raw, ck)
    stages = _journey_stages(raw, targets, ck)
    touchpoints = _touchpoints(raw.get("touchpoints"), stages, targets, ck)
    personas = _personas(raw.get("personas"), ck)
    assignment = _assignment(raw.get("persona_assignment"), personas, ck)
    if not (stages and touchpoints):
        return None, assignment
    journey = JourneyMap(
        str(raw.get("name", root.name)),
        tuple(stages),
        tuple(touchpoints),
        tuple(personas),
        assignment,
        language,
        to_be=_to_be(raw.get("to_be"), touchpoints, personas, ck),
    )
    _check_stages_used(raw.get("touchpoints"), stages, ck)
    return journey, assignment


@dataclass(frozen=True)
class _Sections:
    """The sections of study.yml, each read and validated."""

    journey: JourneyMap | None
    assignment: PersonaAssignment
    survey: SurveyConfig | None
    instrument: Instrument | None
    margins: dict[str, dict[str, float]]
    traces: TracesConfig | None
    qual: QualConfig | None
    salt: str


def _read_sections(
    raw: Mapping, duplicates: list[tuple[Any, int, int]], root: Path, ck: _Checker
) -> _Sections:
    """Read and validate every section of study.yml (problems go to ``ck``, in file order)."""
    _check_keys(raw, duplicates, ck)
    _safety(raw, ck)
    raw = _checked(raw, ck)
    journey, assignment = _journey(raw, root, ck)
    _purposes.check_purposes(raw, ck)
    survey_cfg, instrument = _survey(raw.get("survey"), root, journey, ck)
    margins = _margins(raw.get("margins"), root, ck)
    traces = _traces(raw.get("traces"), root, ck)
    qual = _qual(raw.get("qual"), root, ck)
    privacy = raw.get("privacy") or {}
    salt = str(privacy.get("salt", "")) if isinstance(privacy, Mapping) else ""
    return _Sections(journey, assignment, survey_cfg, instrument, margins, traces, qual, salt)


def _raise_problems(ck: _Checker, root: Path) -> None:
    if ck.problems:
        raise StudyError(f"The study in {root} has problems", ck.problems)


def _read_truth(root: Path) -> dict | None:
    """The planted effects of a synthetic study (``truth.json``), or None without one."""
    truth = root / "truth.json"
    if not truth.exists():
        return None
    safe_path("truth.json", root=root, label="truth.json")  # a regular file, in the folder
    try:
        return json.loads(truth.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        line = getattr(e, "lineno", None)
        raise StudyError(
            f"The study in {root} has problems",
            [
                Problem(
                    f"not valid JSON: {getattr(e, 'msg', e)}",
                    "truth.json",
                    column=f"line {line}" if line else None,
                    fix="regenerate it with `parcours sample`, or delete it (only synthetic studies have one)",
                )
            ],
        ) from None


def _persona_rule_problems(responses: pd.DataFrame, assignment: PersonaAssignment) -> list:
    """The columns the persona rules need but the responses lack."""
    missing = [c for c in assignment.columns if c not in responses.columns]
    if not missing:
        return []
    return [
        Problem(
            f"persona rules need column(s) {missing}",
            STUDY_FILE,
            column="persona_assignment",
            fix="add them to the instrument and responses, or change the rules",
        )
    ]


def _unknown_persona_problems(
    responses: pd.DataFrame, sections: _Sections, journey: JourneyMap
) -> list:
    """Persona ids read from a persona column that ``personas:`` does not declare."""
    column = sections.assignment.column
    if not column:
        return []
    unknown_p = sorted(set(responses["persona"].dropna()) - set(journey.persona_ids))
    if not unknown_p:
        return []
    return [
        Problem(
            f"persona column holds unknown persona(s) {unknown_p}",
            sections.survey.responses.name,
            column=column,
            fix="declare them under `personas:` in study.yml",
        )
    ]


def _margin_column_problems(responses: pd.DataFrame, margins: Mapping) -> list:
    return [
        Problem(
            f"margin column {col!r} is not in the responses",
            STUDY_FILE,
            column=f"margins.{col}",
            fix="margins must name response columns (or `persona`)",
        )
        for col in margins
        if col not in responses.columns
    ]


def _study_responses(root: Path, sections: _Sections, journey: JourneyMap) -> pd.DataFrame:
    """The validated survey responses with their ``persona`` column."""
    from .survey.io import read_responses as _read

    cfg, assignment = sections.survey, sections.assignment
    responses = _read(
        cfg.responses,
        sections.instrument,
        extra_columns=(*cfg.extra_columns, *([cfg.fpc] if cfg.fpc else [])),
        weight=cfg.weight,
        strata=cfg.strata,
        cluster=cfg.cluster,
        display_root=root,
        missing_codes=cfg.missing_codes,
        encoding=cfg.encoding,
    )
    problems = []
    if assignment.columns:
        problems = _persona_rule_problems(responses, assignment)
        if not problems:
            responses["persona"] = assign_personas(responses, assignment)
            problems = _unknown_persona_problems(responses, sections, journey)
    elif "persona" not in responses.columns:
        responses["persona"] = pd.Series(pd.NA, index=responses.index, dtype="string")
    problems += _margin_column_problems(responses, sections.margins)
    if problems:
        raise StudyError(f"The study in {root} has problems", problems)
    return responses


def _assemble(root: Path, raw: Mapping, sections: _Sections) -> Study:
    """The study built from sections that have no problems."""
    journey = sections.journey
    assert journey is not None
    return Study(
        root=root,
        name=journey.name,
        journey=journey,
        instrument=sections.instrument,
        margins=sections.margins,
        survey=sections.survey,
        traces=sections.traces,
        qual=sections.qual,
        privacy_salt=sections.salt or f"parcours:{journey.name}",
        description=str(raw.get("description", "") or ""),
        purposes=_purposes.touchpoint_purposes(raw),
        purpose_labels=_purposes.purpose_labels(raw),
    )


def load_study(path: str | Path = ".", *, read_responses: bool = True) -> Study:
    """Load and validate a study folder.

    Parameters
    ----------
    path : str or Path
        The study folder (holding ``study.yml``) or the ``study.yml`` file itself.
    read_responses : bool, default True
        Read and validate the survey responses (set False to check only the configuration).

    Returns
    -------
    Study

    Raises
    ------
    StudyError
        One error listing every problem found in ``study.yml`` and in the files it names, each
        with its file, key or row and what to do.
    """
    study, sections, customers_path = _load_config(path)
    root, journey = study.root, study.journey
    if customers_path is not None:
        study.customers = _read_customers(customers_path, root, sections.assignment, journey)
        _check_outcome_columns(study, customers_path.relative_to(root).as_posix())
    study.truth = _read_truth(root)
    if read_responses and _has_responses(sections):
        study.responses = _study_responses(root, sections, journey)
    return study


#: kinds of outcome columns (``outcomes:`` in study.yml)
OUTCOME_KINDS = ("binary", "amount")


def _outcome_kinds(raw: Any, customers: Any, ck: _Checker) -> dict:
    """``outcomes:``: ``{column: kind}`` with known kinds, for a study with a customer file."""
    if not raw:
        return {}
    if not customers:
        ck.add("outcomes", "outcome columns need a customer file",
               "add `customers: crm/customers.csv` holding the outcome columns")
    out = {}
    for col, kind in raw.items():
        if kind not in OUTCOME_KINDS:
            ck.add(f"outcomes.{col}", f"unknown kind {kind!r}",
                   f"{_did_you_mean(kind, OUTCOME_KINDS)}use binary (0/1, e.g. churned) or "
                   "amount (a number, e.g. revenue)")
        else:
            out[str(col)] = str(kind)
    return out


def _check_outcome_columns(study: Study, name: str) -> None:
    """The declared outcome columns are in the customer file, 0/1 or numbers."""
    problems, df = [], study.customers
    for col, kind in study.outcomes.items():
        if col not in df.columns:
            problems.append(Problem(f"outcome column {col!r} is not in the customer file", name,
                                    column=col, fix="add the column or remove it from `outcomes:`"))
            continue
        v = pd.to_numeric(df[col], errors="coerce")
        bad = df.index[(v.isna() & df[col].notna()) | ((kind == "binary") & v.notna() & ~v.isin([0, 1]))]
        if len(bad):
            what = "0 or 1" if kind == "binary" else "a number"
            problems.append(Problem(f"outcome {col!r} must be {what} (or blank)", name,
                                    row=int(bad[0]) + 2, column=col,
                                    fix=f"{len(bad)} row(s) to correct, first shown"))
        else:
            df[col] = v
    if problems:
        raise StudyError(f"The customer file {name} has problems", problems)


def _has_responses(sections: _Sections) -> bool:
    cfg = sections.survey
    return cfg is not None and cfg.responses is not None and sections.instrument is not None


def _load_config(path: str | Path) -> tuple[Study, _Sections, Path | None]:
    """The study as configured (every section of study.yml read and checked, every path it
    names checked by :mod:`._files`), the sections, and the customer file to read; no data
    file is read yet. Raises one StudyError listing the problems."""
    file = _study_file(Path(path))
    root = file.parent
    raw, duplicates = _parse_study_file(file)
    ck = _Checker(STUDY_FILE)
    try:
        sections = _read_sections(raw, duplicates, root, ck)
    except (TypeError, AttributeError, KeyError, IndexError) as e:  # a shape no check foresaw
        ck.add("study.yml", f"a value does not have the expected type ({type(e).__name__})",
               "compare the section with the sample study.yml (`parcours sample OUT`)")
        raise StudyError(f"The study in {root} has problems", ck.problems) from None
    _raise_problems(ck, root)
    study = _assemble(root, raw, sections)
    study.limits, study.allow_outside_paths = ck.limits, ck.allow_outside
    study.outcomes = _outcome_kinds(raw.get("outcomes"), raw.get("customers"), ck)
    customers_path = (
        _path(root, raw.get("customers"), "customers", ck) if raw.get("customers") else None
    )
    _raise_problems(ck, root)
    return study, sections, customers_path
