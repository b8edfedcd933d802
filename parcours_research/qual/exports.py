"""Coded-segment exports of the QDA tools researchers use: read as they are written.

Each tool writes one row per coded segment (or per segment and code) in CSV or Excel. The
tool is recognised from the header (``format="auto"``) or named (``format="taguette"`` ...),
and its columns are mapped to the kit's excerpt columns as below. A ``columns:`` mapping
(``{standard name: column in the file}``, in study.yml or as ``columns=``) overrides any of
them. Columns not listed are kept, under their own names, after the standard ones.

``taguette`` — Taguette, *Export highlights* (CSV or Excel), read from Taguette's source
    (https://github.com/remram44/taguette at 8415bbc, ``taguette/export.py``,
    ``highlights_csv`` and ``highlights_xslx``; ``tests.py`` shows the CSV with ``\\r\\n``
    line ends). Header
    ``id, document, tag, content``; sheet ``highlights``; UTF-8 without byte-order mark; one
    row per highlight **and tag** (same ``id``); a highlight without tag has an empty ``tag``.
    Mapping: ``id`` -> excerpt_id, ``document`` -> participant and source, ``tag`` -> code,
    ``content`` -> text.

``maxqda`` — MAXQDA, *Overview of coded segments* > *Export* (Excel or CSV). Header ``Color,
    Document group, Document name, Code, Beginning, End, Weight score, Segment, Comment, Area,
    Coverage %, Author, Created`` (the columns shown in the overview; some may be hidden before
    export). Sub-codes are written ``Parent > Child`` (MAXQDA manual, "Importing codes from an
    Excel table"; a public R script reading ``MAXQDA 24 Coded Segments_*.xlsx`` uses the
    columns ``Document name``, ``Code``, ``Segment`` and strips ``.*> ``). German headers
    (``Dokumentname``, ``Anfang``, ``Autor``) are understood. ``Beginning``/``End`` are
    paragraph numbers, not character offsets: they are kept as extra columns.
    Mapping: ``Document name`` -> participant and source, ``Code`` -> code, ``Segment`` ->
    text, ``Author`` -> coder.

``atlasti`` — ATLAS.ti, *Quotation Manager* > *Export* (Excel or CSV). Header ``ID, Quotation
    Name, Document, Document Groups, Quotation Content, Codes, Reference, Density, Start, End,
    Extent, Comment, Created by, Modified by, Created, Modified`` (ATLAS.ti Windows manual,
    "Quotation Manager": ``ID`` is ``document:quotation``, ``Reference`` and ``Start``/``End``
    are paragraphs). Several codes of one quotation share the ``Codes`` cell, one per line;
    ATLAS.ti codes are flat and sub-codes follow the ``Category: code`` convention.
    Mapping: ``ID`` -> excerpt_id, ``Document`` -> participant and source (a ``D3:`` prefix is
    dropped), ``Codes`` -> code (one row per code), ``Quotation Content`` -> text,
    ``Created by`` -> coder.

``nvivo`` — NVivo, coding-reference exports ("Coding Summary" report with coded text, or a
    code's references exported as a table; CSV/XLSX, Windows text exports in UTF-16). NVivo
    names a code by its hierarchical name ``Codes\\Parent\\Child`` (``Nodes\\`` before NVivo
    12) and a file ``Files\\Interview 01``. Column names vary with the version and the
    report; the mapping accepts ``Hierarchical Name``/``Code``/``Node`` -> code,
    ``File``/``File Name``/``Source`` -> participant and source, ``Coded Text``/``Reference
    Text``/``Text`` -> text, ``Coded By``/``Coded By Initials``/``User`` -> coder. When yours
    differ, write ``columns:``.

Every tool: rows without a code are dropped with a warning counting them (a highlight nobody
tagged is not an excerpt about a touchpoint); codes under a valence family (``Valence > -2``,
``Émotion.négatif``) become the ``valence`` of the segment's other codes; the code is written
as its path, parts joined with ``" > "``. CSV files may be UTF-8 (with or without byte-order
mark), UTF-16 (with byte-order mark) or Windows-1252, separated by ``,``, ``;`` or tabs. Excel
files are read with openpyxl after the archive is checked by
:class:`~parcours_research.qual.safety.SafeZip` (a workbook is a zip: member names, sizes
and compression ratios within :class:`~parcours_research.qual.safety.Limits`); openpyxl parses
the workbook's XML with defusedxml (or lxml without entity resolution), so entities are never
expanded.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import ParcoursWarning, Problem, QualDataError
from .codebook import looks_like_codebook, read_codebook
from .codepaths import SEPARATORS, split_code
from .safety import SafeZip
from .schema import DEFAULT_VALENCE_FAMILIES, normalise_key, parse_valence

__all__ = ["ExportFormat", "EXPORT_FORMATS", "FORMATS", "detect_format", "read_table", "to_kit"]


@dataclass(frozen=True)
class ExportFormat:
    """How one tool's export is recognised and mapped (see the module docstring).

    Attributes
    ----------
    name, tool : str
        Short name (``format=``) and what the file is, for messages.
    signatures : tuple of frozenset
        Sets of normalised header names; the file is this tool's when it holds one set whole.
    columns : dict
        ``{standard column: candidate headers (normalised, best first)}``.
    separators : tuple of str
        Separators of hierarchical code names.
    multi_code : str or None
        Regular expression splitting several codes written in one cell.
    """

    name: str
    tool: str
    signatures: tuple[frozenset, ...]
    columns: Mapping[str, tuple[str, ...]]
    separators: tuple[str, ...] = SEPARATORS
    multi_code: str | None = None
    document_prefix: str | None = None
    header: str = ""

    def matches(self, keys: set[str]) -> bool:
        return any(sig <= keys for sig in self.signatures)

    def candidates(self, std: str) -> tuple[str, ...]:
        return self.columns.get(std, ())


_TAGUETTE = ExportFormat(
    "taguette",
    "a Taguette highlights export",
    (frozenset({"id", "document", "tag", "content"}),),
    {
        "excerpt_id": ("id",),
        "participant": ("document",),
        "source": ("document",),
        "code": ("tag",),
        "text": ("content",),
    },
    separators=(".", "\\", "/", " > "),
    header="id, document, tag, content",
)
_MAXQDA = ExportFormat(
    "maxqda",
    "a MAXQDA coded-segments export",
    (
        frozenset({"document_name", "code", "segment"}),
        frozenset({"dokumentname", "code", "segment"}),
        frozenset({"nom_du_document", "code", "segment"}),
    ),
    {
        "participant": ("document_name", "dokumentname", "nom_du_document"),
        "source": ("document_name", "dokumentname", "nom_du_document"),
        "code": ("code",),
        "text": ("segment",),
        "coder": ("author", "autor", "auteur", "created_by"),
    },
    separators=(" > ", "\\"),
    header="Document group, Document name, Code, Beginning, End, Weight score, Segment, ...",
)
_ATLAS = ExportFormat(
    "atlasti",
    "an ATLAS.ti quotations export",
    (
        frozenset({"quotation_content"}),
        frozenset({"document", "codes", "density"}),
        frozenset({"document", "codes", "quotation_name"}),
    ),
    {
        "excerpt_id": ("id",),
        "participant": ("document",),
        "source": ("document",),
        "code": ("codes", "code"),
        "text": ("quotation_content", "content", "quotation"),
        "coder": ("created_by", "creator", "author"),
    },
    separators=("::", ": ", " > "),
    multi_code=r"\r?\n",
    document_prefix=r"^D?\s*\d+\s*:\s*",
    header="ID, Quotation Name, Document, Quotation Content, Codes, ...",
)
_NVIVO = ExportFormat(
    "nvivo",
    "an NVivo coding-reference export",
    (
        frozenset({"hierarchical_name"}),
        frozenset({"coded_by_initials"}),
        frozenset({"number_of_coding_references"}),
        frozenset({"coded_text", "file"}),
        frozenset({"coded_text", "source"}),
        frozenset({"reference_text", "file"}),
    ),
    {
        "participant": ("file", "file_name", "files", "source", "source_name"),
        "source": ("file", "file_name", "files", "source", "source_name"),
        "code": ("hierarchical_name", "code", "node", "codes", "nodes"),
        "text": ("coded_text", "reference_text", "text", "content", "coding_reference"),
        "coder": ("coded_by", "coded_by_initials", "user", "created_by"),
    },
    separators=("\\", " > "),
    document_prefix=r"^(?:Files|Internals|Sources|Fichiers|Dateien)\\+",
    header="Hierarchical Name, File, Coded Text, Coded By, ...",
)
#: The tool exports known to the kit, by ``format=`` name (detection order).
EXPORT_FORMATS: dict[str, ExportFormat] = {f.name: f for f in (_TAGUETTE, _MAXQDA, _ATLAS, _NVIVO)}
#: Every ``format=`` value accepted for excerpts.
FORMATS = ("auto", "csv", "xlsx", "qdpx", *EXPORT_FORMATS)


def detect_format(header: Sequence[str]) -> ExportFormat | None:
    """The tool whose export has this header, or ``None`` (the kit's own columns)."""
    keys = {normalise_key(h) for h in header}
    for fmt in EXPORT_FORMATS.values():
        if fmt.matches(keys):
            return fmt
    return None


# ================================================================ reading the table
def read_table(
    path: Path, *, sep: str | None = None, encoding: str | None = None, sheet=None, decode=None
) -> pd.DataFrame:
    """A CSV or Excel file as a table of strings (empty cells missing), header as written.

    ``decode(raw, label, encoding) -> (text, separator)`` decodes a CSV that has no UTF-16
    byte-order mark (default: UTF-8 with or without BOM, else Windows-1252).

    Raises
    ------
    QualDataError
        The file is a REFI-QDA codebook (not excerpts), cannot be decoded or parsed, or is
        empty.
    """
    label = path.name
    if not path.exists():
        raise QualDataError(f"{label}: file not found ({path}).")
    raw = path.read_bytes()
    if path.suffix.lower() == ".qdc" or looks_like_codebook(raw):
        raise QualDataError(_codebook_message(path))
    if not raw.strip():
        raise QualDataError(f"{label}: the file is empty.")
    if raw[:2] == b"PK" or path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(path, label, sheet)
    if decode is None or encoding or raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = _decode(raw, label, encoding)
        sniffed = _sniff_sep(text)
    else:
        text, sniffed = decode(raw, label, None)
    sep = sep or sniffed
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, dtype="string", keep_default_na=False, na_values=[""]
        )
    except pd.errors.ParserError as e:
        raise QualDataError(
            f"{label}: cannot be read as CSV ({e}). Check quotes and separators on the row named."
        ) from None
    except pd.errors.EmptyDataError:
        raise QualDataError(f"{label}: the file is empty.") from None
    return frame


def _codebook_message(path: Path) -> str:
    try:
        cb = read_codebook(path)
        what = f"{len(cb.codes)} codes" + (f" from {cb.origin}" if cb.origin else "")
    except (QualDataError, ValueError):
        what = "codes only"
    return (
        f"{path.name} is a REFI-QDA codebook ({what}), not coded excerpts: it holds the codes "
        "and their hierarchy but no coded text. In study.yml, name it `qual: codebook: "
        f"{path.name}` and point `excerpts:` at the coded segments (the tool's highlights or "
        "coded-segments export, or a .qdpx project); in Python, read it with "
        "parcours_research.qual.codebook.read_codebook()."
    )


def _decode(raw: bytes, label: str, encoding: str | None) -> str:
    if encoding:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as e:
            raise QualDataError(
                f"{label}: not {encoding} text (byte {e.start}); pass the right encoding= or "
                "save the file as UTF-8."
            ) from None
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # NVivo's "Unicode text"
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as e:
            raise QualDataError(f"{label}: damaged UTF-16 text (byte {e.start}).") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _sniff_sep(text: str) -> str:
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(first or text[:2000], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _read_xlsx(path: Path, label: str, sheet) -> pd.DataFrame:
    with SafeZip(path, label=label) as z:  # zip bomb and path checks before openpyxl opens it
        if z.find("[Content_Types].xml") is None or not any(n.startswith("xl/") for n in z.names()):
            raise QualDataError(
                f"{label}: a zip archive but not an Excel workbook (.xlsx). A REFI-QDA project "
                "is read with format: qdpx."
            )
    try:
        frame = pd.read_excel(
            path,
            sheet_name=0 if sheet is None else sheet,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            engine="openpyxl",
        )
    except ImportError:  # pragma: no cover - openpyxl is a dependency
        raise QualDataError(f"{label}: reading Excel files needs openpyxl.") from None
    except (ValueError, KeyError) as e:
        raise QualDataError(f"{label}: cannot be read as an Excel workbook ({e}).") from None
    frame.columns = [str(c) for c in frame.columns]
    return frame.astype("string")


# ================================================================ mapping a tool's columns
def resolve(header: Sequence[str], fmt: ExportFormat, columns: Mapping[str, str] | None):
    """``{standard: file column}`` for ``fmt``, ``columns`` taking precedence."""
    by_key: dict[str, str] = {}
    for c in header:
        by_key.setdefault(normalise_key(c), c)
    chosen = {}
    for std in ("excerpt_id", "participant", "source", "code", "text", "coder"):
        for key in fmt.candidates(std):
            if key in by_key:
                chosen[std] = by_key[key]
                break
    chosen.update(columns or {})
    return chosen


def to_kit(
    frame: pd.DataFrame,
    fmt: ExportFormat,
    label: str,
    columns: Mapping[str, str] | None = None,
    valence_labels: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """A tool's export as the kit's excerpt columns (then the file's other columns), and the
    mapping used (``{standard column: the file's column}``).

    One row per segment and code, codes as ``" > "`` paths, valence codes folded into
    ``valence``; rows without a code are dropped with a warning; ``_file_row`` holds each row's
    line in the file (header = 1). Raises :class:`QualDataError` naming the file's header when
    a needed column is missing.
    """
    header = list(frame.columns)
    chosen = resolve(header, fmt, columns)
    absent = [v for v in (columns or {}).values() if v not in frame.columns]
    missing = [s for s in ("participant", "text") if s not in chosen]
    if "code" not in chosen and "touchpoint" not in chosen:
        missing.append("code")
    if missing or absent:
        raise header_error(label, header, fmt, missing, chosen, absent)
    out = pd.DataFrame(index=frame.index)
    for std, col in chosen.items():
        out[std] = frame[col]
    used = set(chosen.values())
    for c in header:
        if c not in used and c not in out.columns:
            out[c] = frame[c]
    if fmt.document_prefix:  # "D3: Interview" (ATLAS.ti), "Files\\Interview" (NVivo)
        documents = set(resolve(header, fmt, None).values())
        for std in ("participant", "source"):
            if chosen.get(std) in documents and chosen.get(std) != chosen.get("code"):
                out[std] = out[std].str.replace(fmt.document_prefix, "", regex=True)
    # one key per coded segment: the tool's id, else the document and the text
    seg = (
        out["excerpt_id"]
        if "excerpt_id" in out.columns
        else out["source" if "source" in out.columns else "participant"]
    )
    out["_segment"] = seg.astype(str) + "\x1f" + out["text"].astype(str)
    out["_file_row"] = [i + 2 for i in range(len(out))]  # the row in the file, for messages
    if "excerpt_id" not in out.columns:
        out.insert(0, "excerpt_id", [f"{label}:{i + 2}" for i in range(len(out))])
    if "code" in out.columns:
        out = _explode_codes(out, fmt)
        if "touchpoint" not in out.columns:
            out = _drop_uncoded(out, label)
        paths = {
            c: " > ".join(split_code(c, fmt.separators)) for c in out["code"].dropna().unique()
        }
        out["code"] = out["code"].map(paths).astype("string")
        out = _fold_valence(out, label, valence_labels)
    return out.drop(columns="_segment").reset_index(drop=True), chosen


def _explode_codes(out: pd.DataFrame, fmt: ExportFormat) -> pd.DataFrame:
    if not fmt.multi_code:
        return out
    pattern = re.compile(fmt.multi_code)
    codes = [
        [p.strip() for p in pattern.split(str(c)) if p.strip()] or [pd.NA]
        if not pd.isna(c)
        else [pd.NA]
        for c in out["code"]
    ]
    out = out.assign(code=codes).explode("code")
    out["code"] = out["code"].astype("string")
    return out


def _drop_uncoded(out: pd.DataFrame, label: str) -> pd.DataFrame:
    empty = out["code"].isna() | (out["code"].str.strip() == "")
    if empty.any():
        n = int(empty.sum())
        rows = ", ".join(str(i + 2) for i in out.index[empty][:10].tolist())
        warnings.warn(
            f"{label}: {n} segment(s) without a code were not read (row(s) {rows}"
            f"{' ...' if n > 10 else ''}); code them in the QDA tool if they matter.",
            ParcoursWarning,
            stacklevel=4,
        )
    return out[~empty]


def _fold_valence(out: pd.DataFrame, label: str, labels) -> pd.DataFrame:
    """Codes under a valence family become the valence of the segment's other codes."""
    families = {normalise_key(f) for f in DEFAULT_VALENCE_FAMILIES}
    read: dict[str, tuple[bool, tuple]] = {}  # code -> (is a valence code, (value, ok))
    for code in out["code"].dropna().unique():
        parts = code.split(" > ")
        flag = any(normalise_key(q) in families for q in parts[:-1])
        read[code] = (flag, parse_valence(parts[-1], labels) if flag else (None, True))
    is_val = [read[c][0] if not pd.isna(c) else False for c in out["code"]]
    if not any(is_val):
        return out
    values = [read[c][1] if not pd.isna(c) else (None, True) for c in out["code"]]
    bad = [c for c, (_, ok) in zip(out["code"], values) if not ok]
    if bad:
        warnings.warn(
            f"{label}: valence code(s) {sorted(set(bad))} are not numbers or known words; they "
            "are kept as codes. Rename them (-2..+2, négatif, positif) or pass valence_labels=.",
            ParcoursWarning,
            stacklevel=4,
        )
    key = out["_segment"].tolist()
    folded = [flag and ok and v is not None for flag, (v, ok) in zip(is_val, values)]
    by_seg: dict[str, float] = {}
    for k, (v, _), f in zip(key, values, folded):
        if f:
            by_seg.setdefault(k, v)
    has_other = {k for k, f in zip(key, folded) if not f}
    if "valence" not in out.columns:
        out["valence"] = pd.array([pd.NA] * len(out), dtype="string")
    filled = []
    for current, k in zip(out["valence"], key):
        if pd.isna(current) and k in by_seg:
            filled.append(f"{by_seg[k]:g}")
        else:
            filled.append(current)
    out["valence"] = pd.array(filled, dtype="string")
    keep = [not (f and k in has_other) for f, k in zip(folded, key)]
    return out[keep]


# ================================================================ errors naming the real header
def header_error(
    label: str,
    header: Sequence[str],
    fmt: ExportFormat | None,
    missing: Sequence[str],
    chosen: Mapping[str, str] | None = None,
    absent: Sequence[str] = (),
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> QualDataError:
    """An error quoting the file's header, the tool it looks like, and the mapping to write."""
    chosen = dict(chosen or {})
    actual = detect_format(header) if fmt is not None else None
    asked, fmt = fmt, (actual or fmt)
    guess = fmt or _closest(header)
    if asked is not fmt:  # format: X was asked, the header is Y's
        chosen = resolve(header, fmt, {k: v for k, v in chosen.items() if v in header})
        missing = [m for m in missing if m not in chosen]
    if fmt is None and guess is not None:  # say what is missing for the tool it looks like
        chosen = {**resolve(header, guess, None), **chosen}
        missing = [m for m in missing if m.split(" or ")[0] not in chosen] or list(missing)
    looks = (
        f"it looks like {guess.tool} ({guess.header})"
        if guess is not None
        else "it matches no QDA export known to the kit ("
        + "; ".join(f"{f.tool}: {f.header}" for f in EXPORT_FORMATS.values())
        + ")"
    )
    if asked is not fmt:
        looks = (
            f"format {asked.name!r} was asked, but the header is that of {fmt.tool}: remove "
            f"`format:` (or write `format: {fmt.name}`)"
        )
    if not missing and not absent:
        return QualDataError(
            f"{label}: the file's header is {list(header)}; {looks}.",
            [Problem(f"the header is not that of format {asked.name!r}", label, fix=looks)],
        )
    suggestion = dict(chosen)
    for std in missing:
        cand = _guess_column(header, std, guess, aliases)
        key = "code" if std == "code or touchpoint" else std
        suggestion[key] = cand or _PLACEHOLDER[key]
    shown = [k for k in ("participant", "text", "code") if k in suggestion]
    yaml = "qual:\n  columns:\n" + "".join(f"    {k}: {_q(suggestion[k])}\n" for k in shown)
    flow = "{" + ", ".join(f"{k}: {_q(suggestion[k])}" for k in shown) + "}"
    problems = [
        Problem(
            f"no column for {m!r} ({_WHAT[m]}); the file's header is {list(header)}",
            label,
            column=m,
            fix=f"{looks}; map the columns in study.yml, `qual: columns: {flow}` "
            "(or columns= in Python)",
        )
        for m in missing
    ]
    problems += [
        Problem(
            f"columns: refers to column {a!r}, which the file lacks",
            label,
            column=a,
            fix=f"use one of the file's columns {list(header)}",
        )
        for a in absent
    ]
    return QualDataError(
        f"{label}: the file's header is {list(header)}; {looks}. Write in study.yml:\n{yaml}",
        problems,
    )


_PLACEHOLDER = {
    "participant": "<column naming who speaks>",
    "text": "<column of coded text>",
    "code": "<column of codes>",
}
_WHAT = {
    "participant": "who speaks: a participant id, or the document/interview name",
    "text": "the coded text",
    "code": "the code applied",
    "code or touchpoint": "the code applied, or the touchpoint id",
    "touchpoint": "the touchpoint id",
}


def _q(v: str) -> str:
    plain = re.fullmatch(r"[^\s\"'#&*!|>%@`,\[\]{}?:-][^#:]*", v) and v == v.strip()
    if v.startswith("<") or (plain and v.lower() not in ("yes", "no", "true", "false", "null")):
        return v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _closest(header: Sequence[str]) -> ExportFormat | None:
    """The tool sharing at least two header names with the file, if one does."""
    keys = {normalise_key(h) for h in header}
    best, score = None, 1
    for fmt in EXPORT_FORMATS.values():
        s = max(len(sig & keys) for sig in fmt.signatures)
        if s > score:
            best, score = fmt, s
    return best


def _guess_column(header, std, fmt, aliases) -> str | None:
    by_key = {normalise_key(h): h for h in header}
    names = list(fmt.candidates(std)) if fmt is not None else []
    if std == "code or touchpoint":
        std = "code"
    names += [normalise_key(a) for a in (aliases or {}).get(std, ())]
    for n in names:
        if n in by_key:
            return by_key[n]
    return None
