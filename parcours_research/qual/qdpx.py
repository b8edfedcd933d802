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
    if excerpt_id not in ("guid", "name"):
        raise StudyError(
            f"excerpt_id={excerpt_id!r} is not valid: it must be one of 'guid', 'name'."
        )
    path = Path(path)
    root, z, label = _load(path, limits)
    try:
        return _read_project(
            root,
            z,
            label,
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
    r.add(
        f"its text is outside the archive ({ptp}); external files are not opened",
        where,
        "export the project with its sources embedded (internal://)",
    )
    return None


def _read_project(
    root,
    z,
    label,
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
):
    r = _Reader(f"{label}: project.qde" if z is not None else label)
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
            stacklevel=3,
        )

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

    cases: list[_Case] = []
    for i, c in enumerate(r.children(r.child(root, "Cases"), "Case")):
        where = f"Cases/Case[{i + 1}]"
        g = r.attr(c, "guid", where)
        if not g:
            continue
        case = _Case(g, (c.get("name") or g).strip())
        for vv in r.children(c, "VariableValue"):
            got = _variable_value(r, vv, variables)
            if got:
                case.variables[got[0]] = got[1]
        case.sources = [s.get("targetGUID", "").strip() for s in r.children(c, "SourceRef")]
        case.selections = [s.get("targetGUID", "").strip() for s in r.children(c, "SelectionRef")]
        cases.append(case)
    case_of_source: dict[str, list[_Case]] = defaultdict(list)
    case_of_selection: dict[str, _Case] = {}
    for case in cases:
        for s in case.sources:
            case_of_source[s].append(case)
        for s in case.selections:
            case_of_selection[s] = case

    valence_keys = {normalise_key(f) for f in valence_family}
    lo, hi = valence_scale
    mapper = CodeMapper(journey, code_map, label="code_map")
    lookup = PersonaLookup(personas)
    known_personas = set(journey.persona_ids) if journey is not None else None
    ambiguous_sources: list[str] = []
    reported: set[tuple] = set()
    skipped = defaultdict(int)

    def code_valence(code: _Code, where: str) -> tuple[bool, float | None]:
        """(is a valence code, its value)."""
        chain = (code.name, *code.ancestors)
        if not any(normalise_key(n) in valence_keys for n in chain):
            return False, None
        if normalise_key(code.name) in valence_keys:
            r.add(
                f"a selection is coded with the valence family {code.name!r} itself, not one of its "
                "values",
                where,
                "code it with a value (-2..+2, négatif, positif ...)",
            )
            return True, None
        v, ok = parse_valence(code.name, valence_labels)
        if not ok or v is None:
            r.add(
                f"valence code {code.name!r} is not a number or a known word",
                where,
                "rename it (-2..+2, très négatif .. très positif) or pass valence_labels=",
            )
            return True, None
        if not lo <= v <= hi:
            r.add(
                f"valence code {code.name!r} is outside the scale {lo:g}..{hi:g}",
                where,
                "pass valence_scale=",
            )
            return True, None
        return True, v

    rows = []
    sources_el = r.child(root, "Sources")
    text_sources: list[tuple[Element, str]] = []
    for kind in ("TextSource", "PDFSource", "PictureSource", "AudioSource", "VideoSource"):
        for i, s in enumerate(r.children(sources_el, kind)):
            where = f"Sources/{kind}[{i + 1}]"
            if kind == "TextSource":
                text_sources.append((s, where))
            elif kind == "PDFSource":
                for j, rep in enumerate(r.children(s, "Representation")):
                    rep_where = f"{where}/Representation[{j + 1}]"
                    rep.set("_parent_guid", s.get("guid", ""))
                    rep.set("_parent_name", s.get("name", ""))
                    text_sources.append((rep, rep_where))
                skipped["PDF area selections"] += len(r.children(s, "PDFSelection"))
            else:
                sel_tag = {
                    "PictureSource": "PictureSelection",
                    "AudioSource": "AudioSelection",
                    "VideoSource": "VideoSelection",
                }[kind]
                skipped[f"{kind[:-6].lower()} selections"] += len(r.children(s, sel_tag))
                for tr in r.children(s, "Transcript"):
                    skipped["transcript selections"] += len(r.children(tr, "TranscriptSelection"))

    for src, where in text_sources:
        sguid = src.get("_parent_guid") or r.attr(src, "guid", where)
        sname = (src.get("_parent_name") or src.get("name") or sguid or "").strip()
        where = f"{where}[{sname}]"
        skipped["whole-document codings"] += len(r.children(src, "Coding"))
        selections = r.children(src, "PlainTextSelection")
        if not selections:
            continue
        text = _source_text(r, src, z, where)
        if text is None:
            continue
        src_vars = {}
        for vv in r.children(src, "VariableValue"):
            got = _variable_value(r, vv, variables)
            if got:
                src_vars[got[0]] = got[1]
        src_cases = case_of_source.get(sguid, [])
        for k, sel in enumerate(selections):
            swhere = f"{where}/PlainTextSelection[{k + 1}]"
            sel_guid = r.attr(sel, "guid", swhere)
            start, end = _int(r, sel, "startPosition", swhere), _int(r, sel, "endPosition", swhere)
            if start is None or end is None:
                continue
            if not 0 <= start <= end <= len(text):
                r.add(
                    f"selection {start}..{end} lies outside the text ({len(text)} characters)",
                    swhere,
                    "the source text does not match the codings; export the project again",
                )
                continue
            case = case_of_selection.get(sel_guid)
            if case is None and len(src_cases) == 1:
                case = src_cases[0]
            elif case is None and len(src_cases) > 1:
                ambiguous_sources.append(sname)
            variables_here = {**src_vars, **(case.variables if case else {})}
            if participant_variable and variables_here.get(participant_variable):
                participant = variables_here[participant_variable]
            elif case is not None:
                participant = case.name
            else:
                participant = sname
            persona = variables_here.get(persona_variable)
            if (
                persona is not None
                and known_personas is not None
                and persona not in known_personas
                and (participant, persona) not in reported
            ):
                reported.add((participant, persona))
                r.add(
                    f"unknown persona {persona!r} for participant {participant!r}",
                    f"variable {persona_variable}",
                    f"use one of {sorted(known_personas)}",
                )
            customer = variables_here.get(customer_variable)
            default_valence = None
            if valence_variable and variables_here.get(valence_variable) is not None:
                v, ok = parse_valence(variables_here[valence_variable], valence_labels)
                if not ok or (v is not None and not lo <= v <= hi):
                    r.add(
                        f"valence variable {valence_variable!r} = {variables_here[valence_variable]!r} "
                        f"is not a valence on {lo:g}..{hi:g}",
                        f"{swhere} (participant {participant})",
                    )
                else:
                    default_valence = v
            by_coder: dict[str | None, dict] = {}
            sel_user = sel.get("creatingUser") or src.get("creatingUser")
            for m, coding in enumerate(r.children(sel, "Coding")):
                cwhere = f"{swhere}/Coding[{m + 1}]"
                ref = r.child(coding, "CodeRef")
                target = ref.get("targetGUID", "").strip() if ref is not None else ""
                if not target:
                    r.add("Coding has no CodeRef targetGUID", cwhere)
                    continue
                code = codes.get(target)
                if code is None:
                    r.add(
                        f"CodeRef points to unknown code {target}",
                        cwhere,
                        "the codebook is incomplete",
                    )
                    continue
                user = (coding.get("creatingUser") or sel_user or "").strip() or None
                coder = users.get(user, user) if user else None
                slot = by_coder.setdefault(coder, {"codes": [], "valence": []})
                is_val, v = code_valence(code, cwhere)
                if is_val:
                    if v is not None:
                        slot["valence"].append(v)
                else:
                    slot["codes"].append(code)
            span = text[start:end]
            eid = sel.get("name") if excerpt_id == "name" and sel.get("name") else sel_guid
            for coder, slot in by_coder.items():
                vals = sorted(set(slot["valence"]))
                if len(vals) > 1:
                    r.add(
                        f"coder {coder!r} gave several valences {vals} to one selection",
                        swhere,
                        "keep one valence code per coder and selection",
                    )
                    continue
                val = vals[0] if vals else default_valence
                for code in slot["codes"] or [None]:
                    tp, stage = mapper.map(code.name, code.ancestors) if code else (None, None)
                    rows.append(
                        {
                            "excerpt_id": eid,
                            "source": sname,
                            "participant": participant,
                            "customer_id": customer,
                            "persona": persona,
                            "stage": stage,
                            "touchpoint": tp,
                            "code": code.name if code else None,
                            "valence": val,
                            "coder": coder,
                            "text": span,
                            "start": start,
                            "end": end,
                        }
                    )
    if r.problems:
        raise QualDataError(f"{r.label}: the project has problems", r.problems)
    if ambiguous_sources:
        names = sorted(set(ambiguous_sources))
        warnings.warn(
            f"{label}: document(s) {names} belong to several cases and some selections are not "
            "linked to one; those excerpts take the document name as participant.",
            ParcoursWarning,
            stacklevel=3,
        )
    skipped = {k: v for k, v in skipped.items() if v}
    if skipped:
        shown = ", ".join(f"{v} {k}" for k, v in skipped.items())
        warnings.warn(
            f"{label}: not read (only text selections are): {shown}.", ParcoursWarning, stacklevel=3
        )
    frame = pd.DataFrame(rows, columns=list(EXCERPT_COLUMNS))
    return finalise(frame, mapper, lookup, label)


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
    need = [c for c in ("participant", "code", "text") if c not in excerpts.columns]
    if need:
        raise QualDataError(
            f"write_qdpx: column(s) {need} missing; the table has {list(excerpts.columns)}."
        )
    df = excerpts.reset_index(drop=True).copy()
    for c in ("excerpt_id", "touchpoint", "valence", "coder"):
        if c not in df.columns:
            df[c] = pd.NA
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
    variables = [v for v in variables if v in df.columns]
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

    # Elements are built without a namespace and the root declares it as the default one
    # (ElementTree's default_namespace= option rejects unqualified attributes).
    def E(_parent: Element, _tag: str, **attrs) -> Element:
        return SubElement(_parent, _tag, {k: str(v) for k, v in attrs.items()})

    root = Element("Project", {"xmlns": NAMESPACE, "name": project_name, "origin": origin})

    coders = [c for c in pd.unique(df["coder"].dropna().astype(str))]
    if coders:
        users = E(root, "Users")
        for c in coders:
            E(users, "User", guid=_guid("user", c), name=c)

    # ---- codebook: touchpoint families, free codes, valence family
    codebook = E(root, "CodeBook")
    codes_el = E(codebook, "Codes")
    code_guid: dict[tuple[str | None, str], str] = {}
    families: dict[str, Element] = {}
    pairs = df.dropna(subset=["code"])[["touchpoint", "code"]].astype("object").drop_duplicates()
    for tp, code in pairs.itertuples(index=False):
        tp = None if pd.isna(tp) else str(tp)
        code = str(code)
        if tp is None:
            if (None, code) not in code_guid:
                g = _guid("code", "", code)
                E(codes_el, "Code", guid=g, name=code, isCodable="true")
                code_guid[(None, code)] = g
            continue
        if tp not in families:
            g = _guid("code", tp, tp)
            families[tp] = E(codes_el, "Code", guid=g, name=tp, isCodable="true")
            code_guid[(tp, tp)] = g
        if code != tp and (tp, code) not in code_guid:
            g = _guid("code", tp, code)
            E(families[tp], "Code", guid=g, name=code, isCodable="true")
            code_guid[(tp, code)] = g
    valence_guid: dict[float, str] = {}
    vals = sorted(set(float(v) for v in df["valence"].dropna()))
    if vals:
        fam = E(
            codes_el,
            "Code",
            guid=_guid("valence-family", valence_family),
            name=valence_family,
            isCodable="false",
        )
        for v in vals:
            g = _guid("valence", valence_family, v)
            E(fam, "Code", guid=g, name=_fmt_valence(v), isCodable="true")
            valence_guid[v] = g

    # ---- variables and cases (plain Python records: one pass over the rows)
    recs = [
        {k: (None if _missing(v) else v) for k, v in r.items()}
        for r in df[
            [
                "participant",
                "excerpt_id",
                "text",
                "code",
                "touchpoint",
                "valence",
                "coder",
                *variables,
            ]
        ].to_dict("records")
    ]
    rows_of: dict[str, list[int]] = {}
    for i, r in enumerate(recs):
        r["participant"] = str(r["participant"])
        r["text"] = str(r["text"])
        rows_of.setdefault(r["participant"], []).append(i)
    if variables:
        vars_el = E(root, "Variables")
        for v in variables:
            E(vars_el, "Variable", guid=_guid("variable", v), name=v, typeOfVariable="Text")
    cases_el = E(root, "Cases")
    for p, idx in rows_of.items():
        case = E(cases_el, "Case", guid=_guid("case", p), name=p)
        for v in variables:
            value = next((recs[i][v] for i in idx if recs[i][v] is not None), None)
            if value is not None:
                vv = E(case, "VariableValue")
                E(vv, "VariableRef", targetGUID=_guid("variable", v))
                SubElement(vv, "TextValue").text = str(value)
        E(case, "SourceRef", targetGUID=_guid("source", p))

    # ---- sources: one per participant; a selection per excerpt id (split on valence conflicts)
    sources_el = E(root, "Sources")
    files: dict[str, str] = {}
    for p, idx in rows_of.items():
        sguid = _guid("source", p)
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
        files[f"sources/{sguid}.txt"] = "".join(parts)
        src = E(
            sources_el, "TextSource", guid=sguid, name=p, plainTextPath=f"internal://{sguid}.txt"
        )
        for (eid, t), members in groups.items():
            # split into selections so that each coder has at most one valence per selection
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
            s, e = offsets[t]
            for n, b in enumerate(buckets):
                sel = E(
                    src,
                    "PlainTextSelection",
                    guid=_guid("selection", p, eid, t, n),
                    name=eid,
                    startPosition=s,
                    endPosition=e,
                )
                written_val: set = set()
                for j in b:
                    r = recs[j]
                    coder = r["coder"]
                    user = {"creatingUser": _guid("user", coder)} if coder is not None else {}
                    if r["code"] is not None:
                        tp = r["touchpoint"]
                        cg = code_guid[(None if tp is None else str(tp), str(r["code"]))]
                        coding = E(sel, "Coding", guid=_guid("coding", p, eid, n, j), **user)
                        E(coding, "CodeRef", targetGUID=cg)
                    ckey = None if coder is None else str(coder)
                    if r["valence"] is not None and ckey not in written_val:
                        written_val.add(ckey)
                        coding = E(
                            sel, "Coding", guid=_guid("coding-valence", p, eid, n, j), **user
                        )
                        E(coding, "CodeRef", targetGUID=valence_guid[float(r["valence"])])
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


def _missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
