"""REFI-QDA project exchange files (``.qdpx``): safe import of coded text, and export.

A ``.qdpx`` file is a zip archive holding ``project.qde`` (XML in the namespace
``urn:QDA-XML:project:1.0``, schema ``Project.xsd`` of the REFI-QDA standard 1.0/1.5) and a
``sources/`` folder with the documents. NVivo, ATLAS.ti, MAXQDA, QualCoder, Quirkos and
Transana export it. The parts read here:

- ``Users/User`` (``guid``, ``name``): who coded (``coder``);
- ``CodeBook/Codes/Code`` (``guid``, ``name``, ``isCodable``, nested ``Code`` children): the
  code tree. A code's parents are its *families*: a family named after a touchpoint or a
  stage maps the code to it; a family named ``Valence`` (or ``Émotion``, ``Tonalité`` ...)
  holds valence values as child codes (``-2``, ``négatif``, ``+1``, ``très positif`` ...);
- ``Variables/Variable`` and ``Cases/Case`` (``SourceRef``, ``SelectionRef``,
  ``VariableValue``): the participants and their variables (persona, customer id, ...);
- ``Sources/TextSource`` (``plainTextPath`` = ``internal://file.txt`` in ``sources/``, or
  inline ``PlainTextContent``) and ``PDFSource/Representation``, with
  ``PlainTextSelection`` (``startPosition``, ``endPosition``: character offsets, end
  excluded) holding ``Coding/CodeRef`` (``targetGUID``; ``creatingUser`` is the coder).

Pictures, audio and video selections and whole-document codings are counted and reported
in a warning, not read. Everything is read through :mod:`parcours_research.qual.safety`.
"""

from __future__ import annotations

import uuid
import warnings
import zipfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement, indent, tostring

import numpy as np
import pandas as pd

from ..errors import ParcoursWarning, Problem, QualDataError, StudyError
from .safety import Limits, SafeZip, parse_xml
from .schema import (
    DEFAULT_VALENCE_FAMILIES,
    EXCERPT_COLUMNS,
    CodeMapper,
    PersonaLookup,
    finalise,
    normalise_key,
    parse_valence,
)

__all__ = ["read_qdpx", "write_qdpx", "NAMESPACE"]

NAMESPACE = "urn:QDA-XML:project:1.0"
_UUID_NS = uuid.UUID("9a3f1c52-5b8e-4c1e-9d0a-6f1f2f7e4c11")


# ================================================================================ reading
@dataclass
class _Code:
    guid: str
    name: str
    ancestors: tuple[str, ...]  # nearest parent first
    codable: bool = True


@dataclass
class _Case:
    guid: str
    name: str
    variables: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    selections: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self, label: str):
        self.label = label
        self.problems: list[Problem] = []
        self.ns = ""

    def tag(self, name: str) -> str:
        return f"{{{self.ns}}}{name}" if self.ns else name

    def children(self, el: Element | None, name: str) -> list[Element]:
        return [] if el is None else el.findall(self.tag(name))

    def child(self, el: Element | None, name: str) -> Element | None:
        return None if el is None else el.find(self.tag(name))

    def add(self, message: str, where: str | None = None, fix: str | None = None) -> None:
        self.problems.append(Problem(message, self.label, column=where, fix=fix))

    def attr(self, el: Element, name: str, where: str, required: bool = True) -> str | None:
        v = el.get(name)
        if (v is None or not v.strip()) and required:
            self.add(
                f"{el.tag.split('}')[-1]} has no {name!r} attribute",
                where,
                "the file does not follow the REFI-QDA schema; export it again",
            )
            return None
        return v.strip() if v is not None else None


def _variable_value(
    r: _Reader, vv: Element, variables: Mapping[str, str]
) -> tuple[str, str | None] | None:
    ref = r.child(vv, "VariableRef")
    if ref is None or ref.get("targetGUID") is None:
        return None
    name = variables.get(ref.get("targetGUID").strip())
    if name is None:
        r.add(f"a VariableValue refers to unknown variable {ref.get('targetGUID')!r}", "Cases")
        return None
    for kind in (
        "TextValue",
        "IntegerValue",
        "FloatValue",
        "BooleanValue",
        "DateValue",
        "DateTimeValue",
    ):
        v = r.child(vv, kind)
        if v is not None:
            return name, (v.text or "").strip() or None
    return name, None


def _walk_codes(
    r: _Reader, el: Element, ancestors: tuple[str, ...], out: dict[str, _Code], path: str
):
    for i, c in enumerate(r.children(el, "Code")):
        where = f"{path}/Code[{i + 1}]"
        guid = r.attr(c, "guid", where)
        name = r.attr(c, "name", where)
        if guid is None or name is None:
            continue
        if guid in out:
            r.add(f"code guid {guid} is used twice", where)
        codable = (c.get("isCodable") or "true").strip().lower() in ("true", "1")
        out[guid] = _Code(guid, name, ancestors, codable)
        _walk_codes(r, c, (name, *ancestors), out, f"{where}[{name}]")


def _int(r: _Reader, el: Element, name: str, where: str) -> int | None:
    raw = r.attr(el, name, where)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        r.add(f"{name}={raw!r} is not an integer", where)
        return None


def _load(path: Path, limits: Limits | None) -> tuple[Element, SafeZip | None, str]:
    label = path.name
    if not path.exists():
        raise QualDataError(f"{label}: file not found ({path}).")
    from .._files import safe_path  # a regular file (a FIFO would hang the read below)

    safe_path(path, label=label, missing_cls=QualDataError)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic.startswith(b"PK") or zipfile.is_zipfile(path):
        z = SafeZip(path, limits, label)  # a damaged or truncated zip fails here, clearly
        try:
            member = z.find("project.qde")
            if member is None:
                qde = [n for n in z.names() if n.lower().endswith(".qde")]
                if len(qde) != 1:
                    raise QualDataError(
                        f"{label}: no project.qde in the archive (entries: {z.names()[:10]}). "
                        "This is not a REFI-QDA project export."
                    )
                member = z.find(qde[0])
            root = parse_xml(z.read(member), f"{label}: {member}")
        except Exception:
            z.close()
            raise
        return root, z, label
    lim = limits or Limits()
    size = path.stat().st_size
    if size > lim.max_member_size:
        raise QualDataError(
            f"{label}: {size:,} bytes, more than the limit of {lim.max_member_size:,}."
        )
    data = path.read_bytes()
    head = data.lstrip()[:64]
    if path.suffix.lower() == ".qdpx" or not (
        head.startswith(b"<") or head.startswith(b"\xef\xbb\xbf<")
    ):
        raise QualDataError(
            f"{label}: not a zip archive, so not a .qdpx project (it may be truncated or another "
            "format). Export a REFI-QDA project (.qdpx) from the QDA software."
        )
    return parse_xml(data, label), None, label


@dataclass(frozen=True)
class _Options:
    """The reading options of :func:`read_qdpx` (see its parameters)."""

    code_map: object
    journey: object
    personas: object
    valence_family: Sequence[str]
    valence_variable: str | None
    valence_labels: Mapping[str, float] | None
    valence_scale: tuple[float, float]
    participant_variable: str | None
    persona_variable: str
    customer_variable: str
    excerpt_id: str

    def __post_init__(self):
        if self.excerpt_id not in ("guid", "name"):
            raise StudyError(
                f"excerpt_id={self.excerpt_id!r} is not valid: it must be one of 'guid', 'name'."
            )


def read_qdpx(
    path,
    code_map=None,
    *,
    journey=None,
    personas=None,
    valence_family: Sequence[str] = DEFAULT_VALENCE_FAMILIES,
    valence_variable: str | None = None,
    valence_labels: Mapping[str, float] | None = None,
    valence_scale: tuple[float, float] = (-2, 2),
    participant_variable: str | None = None,
    persona_variable: str = "persona",
    customer_variable: str = "customer_id",
    excerpt_id: str = "guid",
    limits: Limits | None = None,
) -> pd.DataFrame:
    """Read the coded text of a REFI-QDA project (``.qdpx``, or a bare ``project.qde``).

    Parameters
    ----------
    path : str or Path
    code_map : dict, DataFrame or path, optional
        Code-to-touchpoint table. Without it (and for codes it lacks) a code equal to a
        touchpoint id or label, or whose nearest family is, maps to that touchpoint.
    journey : JourneyMap, optional
    personas : DataFrame or dict, optional
        Persona per customer id or participant, for cases without a persona variable.
    valence_family : sequence of str
        Names of the code family holding valence codes (compared without case or accents).
    valence_variable : str, optional
        A case or document variable holding the valence, used when a coded excerpt has no
        valence code.
    valence_labels : dict, optional
        Extra valence code names (``{"frustration": -2}``).
    valence_scale : (low, high), default (-2, 2)
    participant_variable : str, optional
        Case variable naming the participant (default: the case name, else the document name).
    persona_variable, customer_variable : str
        Case (or document) variables holding the persona id and the customer id.
    excerpt_id : {"guid", "name"}, default "guid"
        Identify excerpts by the selection's guid, or by its name (files written by
        :func:`write_qdpx` store the original excerpt ids as names).
    limits : Limits, optional
        Size, ratio and count ceilings for the archive (:class:`~.safety.Limits`).

    Returns
    -------
    DataFrame
        One row per coder and code applied to a text selection; columns as
        :func:`read_excerpts` (``source`` is the document name, ``start``/``end`` the offsets).
        A selection that a coder gave only a valence code yields one row with ``code`` missing.

    Raises
    ------
    UnsafeFileError
        Path traversal, zip bomb, XML entities (see :mod:`~.safety`).
    QualDataError
        Damaged file, or every problem found in the project (unknown references, offsets
        outside the text, unreadable valence codes, unknown personas), each located.
    """
    opts = _Options(
        code_map,
        journey,
        personas,
        valence_family,
        valence_variable,
        valence_labels,
        valence_scale,
        participant_variable,
        persona_variable,
        customer_variable,
        excerpt_id,
    )
    root, z, label = _load(Path(path), limits)
    try:
        return _read_project(root, z, label, opts)
    finally:
        if z is not None:
            z.close()


def _source_text(r: _Reader, src: Element, z: SafeZip | None, where: str) -> str | None:
    content = r.child(src, "PlainTextContent")
    if content is not None:
        return content.text or ""
    ptp = src.get("plainTextPath")
    if not ptp:
        r.add("text source has neither plainTextPath nor PlainTextContent", where)
        return None
    ptp = ptp.strip()
    if ptp.lower().startswith("internal://"):
        return _internal_text(r, ptp, z, where)
    r.add(
        f"its text is outside the archive ({ptp}); external files are not opened",
        where,
        "export the project with its sources embedded (internal://)",
    )
    return None


def _internal_text(r: _Reader, ptp: str, z: SafeZip | None, where: str) -> str | None:
    """The text of an ``internal://`` source, from the archive's ``sources/`` folder."""
    name = ptp[len("internal://") :]
    if z is None:
        r.add(
            f"refers to {ptp} but a bare .qde has no sources folder",
            where,
            "read the .qdpx archive instead",
        )
        return None
    member = z.find(f"sources/{name}") or z.find(name)
    if member is None:
        r.add(
            f"its text {ptp} is missing from the archive's sources/ folder",
            where,
            "export the project again with its sources",
        )
        return None
    return z.read_text(member)


def _read_project(root: Element, z: SafeZip | None, label: str, opts: _Options) -> pd.DataFrame:
    """The excerpts of a parsed ``project.qde``: every problem found is raised at once."""
    r = _Reader(f"{label}: project.qde" if z is not None else label)
    _check_root(r, root)
    project = _parse_project(r, root)
    coded = _CodedText(r, z, project, opts)
    for src, where in _text_sources(r, root, coded.skipped):
        coded.read_source(src, where)
    _report(r, label, coded.ambiguous_sources, coded.skipped)
    frame = pd.DataFrame(coded.rows, columns=list(EXCERPT_COLUMNS))
    return finalise(frame, coded.mapper, coded.lookup, label)


def _check_root(r: _Reader, root: Element) -> None:
    """Set the reader's namespace from a ``<Project>`` root; anything else is not a project."""
    tag = root.tag
    r.ns = tag[1:].split("}")[0] if tag.startswith("{") else ""
    local = tag.split("}")[-1]
    if local != "Project":
        raise QualDataError(
            f"{r.label}: the root element is <{local}>, not <Project>; this is not a "
            "REFI-QDA project file."
        )
    if r.ns and r.ns != NAMESPACE:
        warnings.warn(
            f"{r.label}: namespace {r.ns!r} is not {NAMESPACE!r}; reading it anyway.",
            ParcoursWarning,
            stacklevel=4,  # _check_root < _read_project < read_qdpx < the caller
        )


def _report(r: _Reader, label: str, ambiguous_sources: list[str], skipped: Mapping[str, int]):
    """Raise every problem found; else warn about ambiguous cases and the parts not read."""
    if r.problems:
        raise QualDataError(f"{r.label}: the project has problems", r.problems)
    if ambiguous_sources:
        names = sorted(set(ambiguous_sources))
        warnings.warn(
            f"{label}: document(s) {names} belong to several cases and some selections are not "
            "linked to one; those excerpts take the document name as participant.",
            ParcoursWarning,
            stacklevel=4,  # _report < _read_project < read_qdpx < the caller
        )
    skipped = {k: v for k, v in skipped.items() if v}
    if skipped:
        shown = ", ".join(f"{v} {k}" for k, v in skipped.items())
        warnings.warn(
            f"{label}: not read (only text selections are): {shown}.", ParcoursWarning, stacklevel=4
        )


@dataclass
class _Project:
    """The parts of a project that selections refer to."""

    users: dict[str, str]  # guid -> coder name
    codes: dict[str, _Code]  # guid -> code
    variables: dict[str, str]  # guid -> variable name
    case_of_source: dict[str, list[_Case]]
    case_of_selection: dict[str, _Case]


def _parse_project(r: _Reader, root: Element) -> _Project:
    users = {}
    for i, u in enumerate(r.children(r.child(root, "Users"), "User")):
        g = r.attr(u, "guid", f"Users/User[{i + 1}]")
        if g:
            users[g] = (u.get("name") or u.get("id") or g).strip()
    codes: dict[str, _Code] = {}
    _walk_codes(r, r.child(r.child(root, "CodeBook"), "Codes"), (), codes, "CodeBook/Codes")
    if not codes:
        r.add("the project has no codebook (CodeBook/Codes/Code)", "CodeBook")
    variables = {}
    for i, v in enumerate(r.children(r.child(root, "Variables"), "Variable")):
        g = r.attr(v, "guid", f"Variables/Variable[{i + 1}]")
        n = r.attr(v, "name", f"Variables/Variable[{i + 1}]")
        if g and n:
            variables[g] = n
    case_of_source: dict[str, list[_Case]] = defaultdict(list)
    case_of_selection: dict[str, _Case] = {}
    for case in _cases(r, root, variables):
        for s in case.sources:
            case_of_source[s].append(case)
        for s in case.selections:
            case_of_selection[s] = case
    return _Project(users, codes, variables, case_of_source, case_of_selection)


def _cases(r: _Reader, root: Element, variables: Mapping[str, str]) -> list[_Case]:
    cases: list[_Case] = []
    for i, c in enumerate(r.children(r.child(root, "Cases"), "Case")):
        g = r.attr(c, "guid", f"Cases/Case[{i + 1}]")
        if not g:
            continue
        case = _Case(g, (c.get("name") or g).strip())
        case.variables = _variable_values(r, c, variables)
        case.sources = [s.get("targetGUID", "").strip() for s in r.children(c, "SourceRef")]
        case.selections = [s.get("targetGUID", "").strip() for s in r.children(c, "SelectionRef")]
        cases.append(case)
    return cases


def _variable_values(r: _Reader, el: Element, variables: Mapping[str, str]) -> dict:
    """``{variable name: value}`` of the ``VariableValue`` children of a case or a source."""
    out = {}
    for vv in r.children(el, "VariableValue"):
        got = _variable_value(r, vv, variables)
        if got:
            out[got[0]] = got[1]
    return out


_MEDIA_SELECTION = {
    "PictureSource": "PictureSelection",
    "AudioSource": "AudioSelection",
    "VideoSource": "VideoSelection",
}


def _text_sources(r: _Reader, root: Element, skipped: dict[str, int]) -> list[tuple]:
    """``(element, where)`` of every text source and PDF text representation; the selections
    that are not read (pictures, audio, video, PDF areas, transcripts) are counted in
    ``skipped``."""
    sources_el = r.child(root, "Sources")
    text_sources: list[tuple[Element, str]] = []
    for kind in ("TextSource", "PDFSource", "PictureSource", "AudioSource", "VideoSource"):
        for i, s in enumerate(r.children(sources_el, kind)):
            where = f"Sources/{kind}[{i + 1}]"
            if kind == "TextSource":
                text_sources.append((s, where))
            elif kind == "PDFSource":
                for j, rep in enumerate(r.children(s, "Representation")):
                    rep.set("_parent_guid", s.get("guid", ""))
                    rep.set("_parent_name", s.get("name", ""))
                    text_sources.append((rep, f"{where}/Representation[{j + 1}]"))
                skipped["PDF area selections"] += len(r.children(s, "PDFSelection"))
            else:
                sel_tag = _MEDIA_SELECTION[kind]
                skipped[f"{kind[:-6].lower()} selections"] += len(r.children(s, sel_tag))
                for tr in r.children(s, "Transcript"):
                    skipped["transcript selections"] += len(r.children(tr, "TranscriptSelection"))
    return text_sources


@dataclass
class _Selection:
    """A text selection being read, with what its source and case say about it."""

    el: Element
    where: str
    guid: str | None
    start: int
    end: int
    source: str  # the document name
    participant: str
    persona: str | None
    customer: str | None
    valence: float | None  # the valence variable's value, for codings without a valence code


class _CodedText:
    """Reads the text selections of a project into excerpt rows (``rows``), collecting the
    problems in the reader, the documents shared by several cases and the parts not read."""

    def __init__(self, r: _Reader, z: SafeZip | None, project: _Project, opts: _Options):
        self.r, self.z, self.project, self.opts = r, z, project, opts
        self.valence_keys = {normalise_key(f) for f in opts.valence_family}
        self.mapper = CodeMapper(opts.journey, opts.code_map, label="code_map")
        self.lookup = PersonaLookup(opts.personas)
        journey = opts.journey
        self.known_personas = set(journey.persona_ids) if journey is not None else None
        self.ambiguous_sources: list[str] = []
        self.reported: set[tuple] = set()
        self.skipped: dict[str, int] = defaultdict(int)
        self.rows: list[dict] = []

    def read_source(self, src: Element, where: str) -> None:
        r = self.r
        sguid = src.get("_parent_guid") or r.attr(src, "guid", where)
        sname = (src.get("_parent_name") or src.get("name") or sguid or "").strip()
        where = f"{where}[{sname}]"
        self.skipped["whole-document codings"] += len(r.children(src, "Coding"))
        selections = r.children(src, "PlainTextSelection")
        if not selections:
            return
        text = _source_text(r, src, self.z, where)
        if text is None:
            return
        src_vars = _variable_values(r, src, self.project.variables)
        src_cases = self.project.case_of_source.get(sguid, [])
        sel_user = src.get("creatingUser")
        for k, el in enumerate(selections):
            sel = self._selection(
                el, f"{where}/PlainTextSelection[{k + 1}]", text, sname, src_vars, src_cases
            )
            if sel is not None:
                by_coder = self._codings(sel, el.get("creatingUser") or sel_user)
                self._add_rows(sel, text[sel.start : sel.end], by_coder)

    def _selection(self, el, where, text, sname, src_vars, src_cases) -> _Selection | None:
        """The selection's offsets and who it is about; None (with a problem) when unusable."""
        r = self.r
        sel_guid = r.attr(el, "guid", where)
        start, end = _int(r, el, "startPosition", where), _int(r, el, "endPosition", where)
        if start is None or end is None:
            return None
        if not 0 <= start <= end <= len(text):
            r.add(
                f"selection {start}..{end} lies outside the text ({len(text)} characters)",
                where,
                "the source text does not match the codings; export the project again",
            )
            return None
        case = self.project.case_of_selection.get(sel_guid)
        if case is None and len(src_cases) == 1:
            case = src_cases[0]
        elif case is None and len(src_cases) > 1:
            self.ambiguous_sources.append(sname)
        here = {**src_vars, **(case.variables if case else {})}
        opts = self.opts
        if opts.participant_variable and here.get(opts.participant_variable):
            participant = here[opts.participant_variable]
        else:
            participant = case.name if case is not None else sname
        persona = here.get(opts.persona_variable)
        self._check_persona(participant, persona)
        valence = self._variable_valence(here, where, participant)
        customer = here.get(opts.customer_variable)
        return _Selection(
            el, where, sel_guid, start, end, sname, participant, persona, customer, valence
        )

    def _check_persona(self, participant: str, persona: str | None) -> None:
        """Report a persona the journey does not know, once per participant."""
        known = self.known_personas
        if persona is None or known is None or persona in known:
            return
        if (participant, persona) in self.reported:
            return
        self.reported.add((participant, persona))
        self.r.add(
            f"unknown persona {persona!r} for participant {participant!r}",
            f"variable {self.opts.persona_variable}",
            f"use one of {sorted(known)}",
        )

    def _variable_valence(self, here: Mapping, where: str, participant: str) -> float | None:
        """The valence variable's value for the selection (None when absent or unreadable)."""
        name = self.opts.valence_variable
        if not name or here.get(name) is None:
            return None
        lo, hi = self.opts.valence_scale
        v, ok = parse_valence(here[name], self.opts.valence_labels)
        if not ok or (v is not None and not lo <= v <= hi):
            self.r.add(
                f"valence variable {name!r} = {here[name]!r} is not a valence on {lo:g}..{hi:g}",
                f"{where} (participant {participant})",
            )
            return None
        return v

    def _codings(self, sel: _Selection, sel_user: str | None) -> dict[str | None, dict]:
        """``{coder: {"codes": [_Code], "valence": [values]}}`` of the selection's codings."""
        r, project = self.r, self.project
        by_coder: dict[str | None, dict] = {}
        for m, coding in enumerate(r.children(sel.el, "Coding")):
            where = f"{sel.where}/Coding[{m + 1}]"
            ref = r.child(coding, "CodeRef")
            target = ref.get("targetGUID", "").strip() if ref is not None else ""
            if not target:
                r.add("Coding has no CodeRef targetGUID", where)
                continue
            code = project.codes.get(target)
            if code is None:
                r.add(
                    f"CodeRef points to unknown code {target}", where, "the codebook is incomplete"
                )
                continue
            user = (coding.get("creatingUser") or sel_user or "").strip() or None
            coder = project.users.get(user, user) if user else None
            slot = by_coder.setdefault(coder, {"codes": [], "valence": []})
            is_valence, v = self._code_valence(code, where)
            if not is_valence:
                slot["codes"].append(code)
            elif v is not None:
                slot["valence"].append(v)
        return by_coder

    def _code_valence(self, code: _Code, where: str) -> tuple[bool, float | None]:
        """(is a valence code, its value)."""
        chain = (code.name, *code.ancestors)
        if not any(normalise_key(n) in self.valence_keys for n in chain):
            return False, None
        if normalise_key(code.name) in self.valence_keys:
            self.r.add(
                f"a selection is coded with the valence family {code.name!r} itself, not one of its "
                "values",
                where,
                "code it with a value (-2..+2, négatif, positif ...)",
            )
            return True, None
        v, ok = parse_valence(code.name, self.opts.valence_labels)
        lo, hi = self.opts.valence_scale
        if not ok or v is None:
            self.r.add(
                f"valence code {code.name!r} is not a number or a known word",
                where,
                "rename it (-2..+2, très négatif .. très positif) or pass valence_labels=",
            )
            return True, None
        if not lo <= v <= hi:
            self.r.add(
                f"valence code {code.name!r} is outside the scale {lo:g}..{hi:g}",
                where,
                "pass valence_scale=",
            )
            return True, None
        return True, v

    def _add_rows(self, sel: _Selection, span: str, by_coder: Mapping) -> None:
        """One row per coder and code (one with ``code`` missing for a valence-only coding)."""
        el = sel.el
        eid = el.get("name") if self.opts.excerpt_id == "name" and el.get("name") else sel.guid
        for coder, slot in by_coder.items():
            vals = sorted(set(slot["valence"]))
            if len(vals) > 1:
                self.r.add(
                    f"coder {coder!r} gave several valences {vals} to one selection",
                    sel.where,
                    "keep one valence code per coder and selection",
                )
                continue
            val = vals[0] if vals else sel.valence
            for code in slot["codes"] or [None]:
                tp, stage = self.mapper.map(code.name, code.ancestors) if code else (None, None)
                self.rows.append(
                    {
                        "excerpt_id": eid,
                        "source": sel.source,
                        "participant": sel.participant,
                        "customer_id": sel.customer,
                        "persona": sel.persona,
                        "stage": stage,
                        "touchpoint": tp,
                        "code": code.name if code else None,
                        "valence": val,
                        "coder": coder,
                        "text": span,
                        "start": sel.start,
                        "end": sel.end,
                    }
                )


# ================================================================================ writing
def _guid(kind: str, *key) -> str:
    return str(uuid.uuid5(_UUID_NS, "\x1f".join([kind, *map(str, key)])))


def _fmt_valence(v: float) -> str:
    if float(v).is_integer():
        v = int(v)
        return f"+{v}" if v > 0 else str(v)
    return f"+{v:g}" if v > 0 else f"{v:g}"


def write_qdpx(
    excerpts: pd.DataFrame,
    path,
    *,
    project_name: str = "parcours_research",
    valence_family: str = "Valence",
    variables: Sequence[str] = ("persona", "customer_id"),
    origin: str = "parcours_research",
) -> Path:
    """Write coded excerpts as a REFI-QDA project (``.qdpx``) that QDA software can open.

    One text document per participant (named after the participant) holds that participant's
    distinct excerpts, separated by blank lines; one case per participant carries the
    ``variables`` (persona, customer id); each excerpt id becomes a text selection named
    after it, coded by each of its coders (a ``User`` each) with its code and, when known, a
    valence code. Codes that map to a touchpoint are filed under a family named after the
    touchpoint id, valence codes (``-2`` .. ``+2``) under ``valence_family``. GUIDs derive from
    the content, so the same table always gives the same file.

    Parameters
    ----------
    excerpts : DataFrame
        As returned by :func:`read_excerpts` (needs ``participant, code, text``; uses
        ``excerpt_id, touchpoint, valence, coder`` and the ``variables`` when present).
    path : str or Path
        The ``.qdpx`` file to write (overwritten).
    project_name, origin : str
    valence_family : str, default "Valence"
    variables : sequence of str
        Participant-level columns written as case variables.

    Returns
    -------
    Path
        ``path``. Read it back with ``read_qdpx(path, journey=..., excerpt_id="name")`` (the
        journey maps the touchpoint families back to touchpoints).
    """
    df = _writable(excerpts)
    variables = [v for v in variables if v in df.columns]
    _check_writable(df, variables)
    # Elements are built without a namespace and the root declares it as the default one
    # (ElementTree's default_namespace= option rejects unqualified attributes).
    root = Element("Project", {"xmlns": NAMESPACE, "name": project_name, "origin": origin})
    coders = [c for c in pd.unique(df["coder"].dropna().astype(str))]
    if coders:
        users = _el(root, "Users")
        for c in coders:
            _el(users, "User", guid=_guid("user", c), name=c)
    codebook = _el(_el(root, "CodeBook"), "Codes")
    code_guid = _write_codes(codebook, df)
    valence_guid = _write_valence_codes(codebook, df, valence_family)
    recs, rows_of = _records(df, variables)
    _write_cases(root, recs, rows_of, variables)
    files = _write_sources(root, recs, rows_of, code_guid, valence_guid)
    out = Path(path)
    indent(root, space="  ")
    xml = b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(root, encoding="unicode").encode(
        "utf-8"
    )
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("project.qde", xml)
        for name, text in files.items():
            zf.writestr(name, text.encode("utf-8"))
    return out


def _el(_parent: Element, _tag: str, **attrs) -> Element:
    return SubElement(_parent, _tag, {k: str(v) for k, v in attrs.items()})


def _writable(excerpts: pd.DataFrame) -> pd.DataFrame:
    """A copy of the excerpts with the optional columns added (missing)."""
    need = [c for c in ("participant", "code", "text") if c not in excerpts.columns]
    if need:
        raise QualDataError(
            f"write_qdpx: column(s) {need} missing; the table has {list(excerpts.columns)}."
        )
    df = excerpts.reset_index(drop=True).copy()
    for c in ("excerpt_id", "touchpoint", "valence", "coder"):
        if c not in df.columns:
            df[c] = pd.NA
    return df


def _check_writable(df: pd.DataFrame, variables: list[str]) -> None:
    """Raise every problem that stops the excerpts being written; name the unnamed excerpts
    ``row<n>`` (in place)."""
    problems = []
    for c in ("participant", "text"):
        empty = df[c].isna() | (df[c].astype("string").fillna("") == "")
        for i in np.flatnonzero(empty.to_numpy()):
            problems.append(Problem(f"{c} is empty", "excerpts", int(i) + 1, c))
    for i in np.flatnonzero((df["code"].isna() & df["valence"].isna()).to_numpy()):
        problems.append(
            Problem("neither code nor valence to write", "excerpts", int(i) + 1, "code")
        )
    df["excerpt_id"] = [
        str(e) if not pd.isna(e) else f"row{i + 1}" for i, e in enumerate(df["excerpt_id"])
    ]
    for v in variables:
        per = df.dropna(subset=[v]).groupby("participant")[v].nunique()
        for p in per[per > 1].index:
            problems.append(
                Problem(
                    f"participant {p!r} has several values of {v!r}; case variables hold one",
                    "excerpts",
                    column=v,
                )
            )
    if problems:
        raise QualDataError("write_qdpx: the excerpts cannot be written", problems)


def _write_codes(codes_el: Element, df: pd.DataFrame) -> dict[tuple[str | None, str], str]:
    """Touchpoint families and free codes; ``{(touchpoint or None, code): guid}``."""
    code_guid: dict[tuple[str | None, str], str] = {}
    families: dict[str, Element] = {}
    pairs = df.dropna(subset=["code"])[["touchpoint", "code"]].astype("object").drop_duplicates()
    for tp, code in pairs.itertuples(index=False):
        tp = None if pd.isna(tp) else str(tp)
        code = str(code)
        if tp is None:
            if (None, code) not in code_guid:
                g = _guid("code", "", code)
                _el(codes_el, "Code", guid=g, name=code, isCodable="true")
                code_guid[(None, code)] = g
            continue
        if tp not in families:
            g = _guid("code", tp, tp)
            families[tp] = _el(codes_el, "Code", guid=g, name=tp, isCodable="true")
            code_guid[(tp, tp)] = g
        if code != tp and (tp, code) not in code_guid:
            g = _guid("code", tp, code)
            _el(families[tp], "Code", guid=g, name=code, isCodable="true")
            code_guid[(tp, code)] = g
    return code_guid


def _write_valence_codes(codes_el: Element, df: pd.DataFrame, family: str) -> dict[float, str]:
    """The valence family and its values; ``{value: guid}``."""
    valence_guid: dict[float, str] = {}
    vals = sorted(set(float(v) for v in df["valence"].dropna()))
    if vals:
        fam = _el(
            codes_el,
            "Code",
            guid=_guid("valence-family", family),
            name=family,
            isCodable="false",
        )
        for v in vals:
            g = _guid("valence", family, v)
            _el(fam, "Code", guid=g, name=_fmt_valence(v), isCodable="true")
            valence_guid[v] = g
    return valence_guid


def _records(df: pd.DataFrame, variables: list[str]) -> tuple[list[dict], dict[str, list[int]]]:
    """The rows as plain Python records (missing values None), and the rows of each
    participant (one pass over the rows)."""
    columns = ["participant", "excerpt_id", "text", "code", "touchpoint", "valence", "coder"]
    recs = [
        {k: (None if _missing(v) else v) for k, v in r.items()}
        for r in df[[*columns, *variables]].to_dict("records")
    ]
    rows_of: dict[str, list[int]] = {}
    for i, r in enumerate(recs):
        r["participant"] = str(r["participant"])
        r["text"] = str(r["text"])
        rows_of.setdefault(r["participant"], []).append(i)
    return recs, rows_of


def _write_cases(root: Element, recs: list[dict], rows_of: Mapping, variables: list[str]):
    """The variables, and one case per participant with its variables and document."""
    if variables:
        vars_el = _el(root, "Variables")
        for v in variables:
            _el(vars_el, "Variable", guid=_guid("variable", v), name=v, typeOfVariable="Text")
    cases_el = _el(root, "Cases")
    for p, idx in rows_of.items():
        case = _el(cases_el, "Case", guid=_guid("case", p), name=p)
        for v in variables:
            value = next((recs[i][v] for i in idx if recs[i][v] is not None), None)
            if value is not None:
                vv = _el(case, "VariableValue")
                _el(vv, "VariableRef", targetGUID=_guid("variable", v))
                SubElement(vv, "TextValue").text = str(value)
        _el(case, "SourceRef", targetGUID=_guid("source", p))


def _write_sources(root, recs, rows_of, code_guid, valence_guid) -> dict[str, str]:
    """One text source per participant, a selection per excerpt id (split on valence
    conflicts); ``{archive path: text}`` of the documents."""
    sources_el = _el(root, "Sources")
    files: dict[str, str] = {}
    for p, idx in rows_of.items():
        sguid = _guid("source", p)
        text, offsets, groups = _document(recs, idx)
        files[f"sources/{sguid}.txt"] = text
        src = _el(
            sources_el, "TextSource", guid=sguid, name=p, plainTextPath=f"internal://{sguid}.txt"
        )
        for (eid, t), members in groups.items():
            s, e = offsets[t]
            for n, b in enumerate(_valence_buckets(recs, members)):
                sel = _el(
                    src,
                    "PlainTextSelection",
                    guid=_guid("selection", p, eid, t, n),
                    name=eid,
                    startPosition=s,
                    endPosition=e,
                )
                _write_codings(sel, recs, b, (p, eid, n), code_guid, valence_guid)
    return files


def _document(recs: list[dict], idx: list[int]):
    """A participant's document: the distinct texts joined by blank lines, each text's
    ``(start, end)`` offsets, and the rows of each ``(excerpt id, text)``."""
    offsets: dict[str, tuple[int, int]] = {}
    parts: list[str] = []
    pos = 0
    groups: dict[tuple[str, str], list[int]] = {}
    for i in idx:
        t = recs[i]["text"]
        if t not in offsets:
            if parts:
                parts.append("\n\n")
                pos += 2
            offsets[t] = (pos, pos + len(t))
            parts.append(t)
            pos += len(t)
        groups.setdefault((str(recs[i]["excerpt_id"]), t), []).append(i)
    return "".join(parts), offsets, groups


def _valence_buckets(recs: list[dict], members: list[int]) -> list[list[int]]:
    """Split an excerpt's rows into selections so that each coder has at most one valence per
    selection."""
    buckets: list[list[int]] = []
    for i in members:
        r = recs[i]
        for b in buckets:
            if all(
                recs[j]["valence"] == r["valence"]
                and (recs[j]["code"] is None) == (r["code"] is None)
                for j in b
                if recs[j]["coder"] == r["coder"]
            ):
                b.append(i)
                break
        else:
            buckets.append([i])
    return buckets


def _write_codings(sel: Element, recs, rows, key: tuple, code_guid, valence_guid) -> None:
    """The codings of one selection: each row's code, and each coder's valence once."""
    p, eid, n = key
    written_val: set = set()
    for j in rows:
        r = recs[j]
        coder = r["coder"]
        user = {"creatingUser": _guid("user", coder)} if coder is not None else {}
        if r["code"] is not None:
            tp = r["touchpoint"]
            cg = code_guid[(None if tp is None else str(tp), str(r["code"]))]
            coding = _el(sel, "Coding", guid=_guid("coding", p, eid, n, j), **user)
            _el(coding, "CodeRef", targetGUID=cg)
        ckey = None if coder is None else str(coder)
        if r["valence"] is not None and ckey not in written_val:
            written_val.add(ckey)
            coding = _el(sel, "Coding", guid=_guid("coding-valence", p, eid, n, j), **user)
            _el(coding, "CodeRef", targetGUID=valence_guid[float(r["valence"])])


def _missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
