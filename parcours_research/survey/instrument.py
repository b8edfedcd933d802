"""Survey instruments: questionnaires defined in YAML, expanded over the study's touchpoints.

An instrument lists questions with a type (rating, nps, ces, single, multi, number, text, kano),
a scale, a role (what analyses use it for) and whether an answer is required. Blocks under
``per_touchpoint`` are repeated for every touchpoint; ``kano`` adds functional/dysfunctional
pairs. See ``surveys/standard_touchpoint.yml`` for the reference questionnaire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..errors import Problem, StudyError
from ..journey import JourneyMap, Label

__all__ = ["Question", "Instrument", "load_instrument", "QUESTION_TYPES", "ROLES", "bundled_instruments"]

QUESTION_TYPES = ("rating", "nps", "ces", "single", "multi", "number", "text", "kano")
ROLES = (
    "overall",
    "nps",
    "effort",
    "touchpoint_satisfaction",
    "touchpoint_effort",
    "kano_functional",
    "kano_dysfunctional",
    "profile",
    "comment",
    "other",
)
_DEFAULT_SCALES = {"nps": (0, 10), "ces": (1, 7), "kano": (1, 5), "rating": (1, 5)}


@dataclass(frozen=True)
class Question:
    """One question (one column of the response file).

    Attributes
    ----------
    id : str
        Column name in the response file.
    type : str
        One of :data:`QUESTION_TYPES`.
    role : str
        One of :data:`ROLES`.
    text : Label
    required : bool
        Whether every respondent must have answered.
    min, max : float or None
        Inclusive bounds of numeric answers.
    options : tuple of str
        Allowed answers of ``single`` and ``multi`` questions.
    value_labels : dict
        Labels of scale points (``{1: Label(...)}``).
    touchpoint : str or None
        The touchpoint a per-touchpoint or Kano question is about.
    """

    id: str
    type: str
    role: str = "other"
    text: Label = field(default_factory=lambda: Label("", ""))
    required: bool = False
    min: float | None = None
    max: float | None = None
    options: tuple[str, ...] = ()
    value_labels: Mapping[Any, Label] = field(default_factory=dict)
    touchpoint: str | None = None

    @property
    def numeric(self) -> bool:
        return self.type in ("rating", "nps", "ces", "number", "kano")


@dataclass(frozen=True)
class Instrument:
    """A questionnaire expanded for one study.

    Use :meth:`touchpoint_columns` to find the satisfaction column of each touchpoint, and
    :meth:`codebook` for a tidy description of every column.
    """

    id: str
    version: int
    title: Label
    respondent_id: str
    questions: tuple[Question, ...]
    id_columns: Mapping[str, bool] = field(default_factory=dict)
    source: str | None = None

    @property
    def columns(self) -> list[str]:
        """Every column a response file may hold, ids first."""
        return [self.respondent_id, *self.id_columns, *(q.id for q in self.questions)]

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise StudyError(f"The instrument {self.id!r} has no question {qid!r}.")

    def by_role(self, role: str) -> list[Question]:
        return [q for q in self.questions if q.role == role]

    def first(self, role: str) -> str | None:
        """Column of the first question with ``role`` (``overall``, ``nps``, ``effort``)."""
        qs = self.by_role(role)
        return qs[0].id if qs else None

    def touchpoint_columns(self, role: str = "touchpoint_satisfaction") -> dict[str, str]:
        """``{touchpoint id: column}`` for the per-touchpoint questions of ``role``."""
        return {q.touchpoint: q.id for q in self.questions if q.role == role and q.touchpoint}

    def kano_pairs(self) -> list[tuple[str, str, str]]:
        """``[(touchpoint, functional column, dysfunctional column), ...]``."""
        f = {q.touchpoint: q.id for q in self.questions if q.role == "kano_functional"}
        d = {q.touchpoint: q.id for q in self.questions if q.role == "kano_dysfunctional"}
        return [(tp, f[tp], d[tp]) for tp in f if tp in d]

    def codebook(self, lang: str = "fr") -> pd.DataFrame:
        """One row per column: ``column, type, role, required, touchpoint, min, max, options,
        value_labels, text``."""
        rows = [
            {
                "column": self.respondent_id,
                "type": "id",
                "role": "respondent_id",
                "required": True,
                "touchpoint": None,
                "min": None,
                "max": None,
                "options": "",
                "value_labels": "",
                "text": "Respondent id (unique)" if lang == "en" else "Identifiant du répondant (unique)",
            }
        ]
        for col, req in self.id_columns.items():
            rows.append(
                {"column": col, "type": "id", "role": "id", "required": req, "touchpoint": None,
                 "min": None, "max": None, "options": "", "value_labels": "", "text": col}
            )
        for q in self.questions:
            rows.append(
                {
                    "column": q.id,
                    "type": q.type,
                    "role": q.role,
                    "required": q.required,
                    "touchpoint": q.touchpoint,
                    "min": q.min,
                    "max": q.max,
                    "options": "; ".join(q.options),
                    "value_labels": "; ".join(f"{k} = {v.get(lang)}" for k, v in q.value_labels.items()),
                    "text": q.text.get(lang),
                }
            )
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return f"Instrument({self.id!r}, version={self.version}, {len(self.questions)} questions)"


def bundled_instruments() -> list[str]:
    """Names of the questionnaires shipped with the package (``surveys/*.yml``)."""
    files = resources.files("parcours_research.instruments")
    return sorted(p.name[:-4] for p in files.iterdir() if p.name.endswith(".yml"))


def _read_yaml(path_or_name: str | Path) -> tuple[dict, str]:
    p = Path(path_or_name)
    if p.suffix in (".yml", ".yaml") or p.exists():
        if not p.exists():
            raise StudyError(f"Instrument file {p} does not exist; check the path in study.yml.")
        text, src = p.read_text(encoding="utf-8"), str(p)
    else:
        name = str(path_or_name)
        res = resources.files("parcours_research.instruments") / f"{name}.yml"
        if not res.is_file():
            raise StudyError(
                f"No bundled instrument named {name!r}; bundled ones are {bundled_instruments()}, "
                "or give the path of a YAML file."
            )
        text, src = res.read_text(encoding="utf-8"), f"<bundled {name}>"
    from .._files import safe_yaml  # aliases bounded: no "billion laughs"

    try:
        data = safe_yaml(text)
    except yaml.YAMLError as e:
        raise StudyError(f"{src} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise StudyError(f"{src} must hold a mapping with `id` and `questions`.")
    return data, src


def _scale(spec: Any, scales: Mapping, qtype: str, where: str, problems: list[Problem], src: str):
    if spec is None:
        lo, hi = _DEFAULT_SCALES.get(qtype, (None, None))
        return lo, hi, {}
    if isinstance(spec, str):
        if spec not in scales:
            problems.append(Problem(f"unknown scale {spec!r}", src, column=where, fix=f"use one of {sorted(scales)}"))
            return None, None, {}
        spec = scales[spec]
    if not isinstance(spec, Mapping) or "min" not in spec or "max" not in spec:
        problems.append(Problem("a scale needs `min` and `max`", src, column=where))
        return None, None, {}
    labels = {k: Label.parse(v) for k, v in (spec.get("labels") or {}).items()}
    return float(spec["min"]), float(spec["max"]), labels


def _question(raw: Mapping, scales: Mapping, where: str, problems: list[Problem], src: str, **fmt) -> Question | None:
    if not isinstance(raw, Mapping) or "id" not in raw:
        problems.append(Problem("a question needs an `id`", src, column=where))
        return None
    qtype = raw.get("type", "rating")
    if qtype not in QUESTION_TYPES:
        problems.append(Problem(f"unknown question type {qtype!r}", src, column=f"{where}.type",
                                fix=f"use one of {', '.join(QUESTION_TYPES)}"))
        return None
    role = raw.get("role", "other")
    if role not in ROLES:
        problems.append(Problem(f"unknown role {role!r}", src, column=f"{where}.role", fix=f"use one of {', '.join(ROLES)}"))
        return None
    qid = str(raw["id"]).format(**fmt) if fmt else str(raw["id"])
    text = Label.parse(raw.get("text"), qid)
    if fmt:
        text = Label(text.fr.format(**{**fmt, "label": fmt.get("label_fr", "")}),
                     text.en.format(**{**fmt, "label": fmt.get("label_en", "")}))
    lo = hi = None
    labels: dict = {}
    if qtype in ("rating", "nps", "ces", "kano"):
        lo, hi, labels = _scale(raw.get("scale"), scales, qtype, f"{where}.scale", problems, src)
    elif qtype == "number":
        lo = float(raw["min"]) if raw.get("min") is not None else None
        hi = float(raw["max"]) if raw.get("max") is not None else None
    options = tuple(str(o) for o in raw.get("options", ()) or ())
    if qtype in ("single", "multi") and not options:
        problems.append(Problem(f"question {qid!r} of type {qtype} lists no `options`", src, column=where))
    return Question(
        id=qid, type=qtype, role=role, text=text, required=bool(raw.get("required", False)),
        min=lo, max=hi, options=options, value_labels=labels, touchpoint=fmt.get("touchpoint"),
    )


def load_instrument(
    path_or_name: str | Path = "standard_touchpoint",
    journey: JourneyMap | None = None,
    touchpoints: Sequence[str] | None = None,
) -> Instrument:
    """Read a questionnaire and expand it over the study's touchpoints.

    Parameters
    ----------
    path_or_name : str or Path
        A YAML file, or the name of a bundled instrument (``"standard_touchpoint"``).
    journey : JourneyMap, optional
        The study's journey; per-touchpoint questions and Kano pairs are expanded over it.
    touchpoints : sequence of str, optional
        Restrict per-touchpoint questions to these touchpoints (default: all of the journey).

    Returns
    -------
    Instrument

    Raises
    ------
    StudyError
        Listing every problem of the file (unknown types, scales, duplicate ids ...).
    """
    data, src = _read_yaml(path_or_name)
    problems: list[Problem] = []
    scales = data.get("scales") or {}
    questions: list[Question] = []
    for i, raw in enumerate(data.get("questions") or []):
        q = _question(raw, scales, f"questions[{i}]", problems, src)
        if q:
            questions.append(q)
    tps = []
    if journey is not None:
        tps = [journey.touchpoint(t) for t in touchpoints] if touchpoints else list(journey.touchpoints)
    for i, raw in enumerate(data.get("per_touchpoint") or []):
        questions += _per_touchpoint(raw, tps, scales, f"per_touchpoint[{i}]", problems, src)
    kano = data.get("kano")
    if kano and tps:
        ktps = _kano_touchpoints(kano, tps, problems, src)
        for part, role in (("functional", "kano_functional"), ("dysfunctional", "kano_dysfunctional")):
            spec = dict(kano.get(part) or {})
            spec.update(type="kano", role=role, scale=kano.get("scale"))
            questions += _per_touchpoint(spec, ktps, scales, f"kano.{part}", problems, src)
    rid = str(data.get("respondent_id", "respondent_id"))
    id_cols = {str(k): bool((v or {}).get("required", False)) for k, v in (data.get("id_columns") or {}).items()}
    _check_ids(questions, rid, id_cols, problems, src)
    if problems:
        raise StudyError(f"The survey instrument {src} is not valid", problems)
    return Instrument(
        id=str(data.get("id", Path(str(path_or_name)).stem)),
        version=int(data.get("version", 1)),
        title=Label.parse(data.get("title"), str(data.get("id", ""))),
        respondent_id=rid,
        questions=tuple(questions),
        id_columns=id_cols,
        source=src,
    )


def _per_touchpoint(raw, tps, scales: Mapping, where: str, problems: list[Problem], src: str) -> list[Question]:
    """A question template expanded over touchpoints (``{touchpoint}``, ``{label}`` filled)."""
    out = []
    for tp in tps:
        q = _question(raw, scales, where, problems, src, touchpoint=tp.id,
                      label_fr=tp.label.fr, label_en=tp.label.en)
        if q:
            out.append(q)
    return out


def _kano_touchpoints(kano: Mapping, tps: list, problems: list[Problem], src: str) -> list:
    """The touchpoints with Kano pairs: ``moments_of_truth`` (default), ``all`` or a list."""
    sel = kano.get("touchpoints", "moments_of_truth")
    if sel == "moments_of_truth":
        return [t for t in tps if t.moment_of_truth]
    if sel == "all":
        return tps
    known = {t.id: t for t in tps}
    unknown = [t for t in sel if t not in known]
    if unknown:
        problems.append(Problem(f"Kano touchpoints {unknown} are not in the journey", src, column="kano.touchpoints"))
    return [known[t] for t in sel if t in known]


def _check_ids(questions: list[Question], rid: str, id_cols: Mapping, problems: list[Problem], src: str) -> None:
    """Every column defined once (questions, respondent id, id columns), and some questions."""
    seen: dict[str, int] = {}
    for q in questions:
        seen[q.id] = seen.get(q.id, 0) + 1
    for qid, n in seen.items():
        if n > 1 or qid == rid or qid in id_cols:
            problems.append(Problem(f"column {qid!r} is defined more than once", src, column=qid,
                                    fix="give each question its own id"))
    if not questions:
        problems.append(Problem("the instrument has no questions", src, column="questions"))
