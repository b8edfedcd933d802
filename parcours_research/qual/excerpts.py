"""Read coded excerpts from a CSV file (or a DataFrame, or the study's ``qual:`` file).

A CSV of excerpts has one row per coded excerpt with at least ``participant``, ``text`` and a
``code`` or a ``touchpoint``; optional columns are ``excerpt_id``, ``customer_id``,
``persona``, ``valence`` (a number on the valence scale or a word such as ``négatif``),
``coder`` and ``source``. French headers are understood (``participant·e``, ``verbatim``,
``extrait``, ``texte``, ``codeur``, ``point_de_contact``, ``tonalité`` ...). Semicolon- or
tab-separated files and Windows-1252 exports (Excel in French) are read as well.

The coded-segment exports of Taguette, NVivo, ATLAS.ti and MAXQDA (CSV or Excel) are recognised
from their header and mapped as documented in :mod:`parcours_research.qual.exports`; a
``columns`` mapping overrides any header. Hierarchical codes are matched to touchpoints as
:mod:`parcours_research.qual.codepaths` describes.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .._inputs import study_of
from ..errors import Problem, QualDataError, StudyError
from .codepaths import CodePaths
from .schema import CodeMapper, PersonaLookup, finalise, normalise_key, parse_valence

__all__ = ["read_excerpts", "COLUMN_ALIASES"]

#: Header names understood for each standard column (compared after normalise_key).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "excerpt_id": (
        "excerpt_id",
        "excerpt",
        "id",
        "extrait_id",
        "id_extrait",
        "segment_id",
        "quote_id",
    ),
    "participant": (
        "participant",
        "participante",
        "participant_e",
        "participant_id",
        "interviewee",
        "respondent",
        "enquete",
        "enquetee",
        "interviewe",
        "case",
        "cas",
    ),
    "customer_id": ("customer_id", "client_id", "id_client", "numero_client", "customer"),
    "persona": ("persona", "profil"),
    "touchpoint": ("touchpoint", "point_de_contact", "touchpoint_id", "point_contact"),
    "code": ("code", "codes", "theme", "category", "categorie"),
    "valence": ("valence", "tonalite", "emotion", "sentiment", "ressenti"),
    "coder": ("coder", "codeur", "codeuse", "codeur_euse", "annotator", "analyst", "analyste"),
    "text": (
        "text",
        "texte",
        "verbatim",
        "extrait",
        "quote",
        "citation",
        "excerpt_text",
        "segment",
    ),
    "source": ("source", "document", "fichier", "file", "interview", "entretien"),
}


def _sniff(raw: bytes, label: str) -> tuple[str, str]:
    for enc in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 decodes nearly everything
        raise QualDataError(f"{label}: neither UTF-8 nor Windows-1252 text; save it as UTF-8 CSV.")
    head = text[:20000]
    try:
        sep = csv.Sniffer().sniff(head.split("\n", 1)[0] or head, delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","
    return text, sep


def _rename(frame: pd.DataFrame, columns: Mapping[str, str] | None, label: str) -> pd.DataFrame:
    columns = dict(columns or {})
    unknown = [k for k in columns if k not in COLUMN_ALIASES]
    problems = [
        Problem(
            f"the column mapping (columns: / columns=) names {k!r}, which is not a standard column",
            label,
            fix=f"use one of {sorted(COLUMN_ALIASES)}",
        )
        for k in unknown
    ]
    absent = [v for v in columns.values() if v not in frame.columns]
    problems += [
        Problem(
            f"the column mapping (columns: / columns=) refers to column {v!r}, which the file "
            "lacks",
            label,
            fix=f"the file has {list(frame.columns)}",
        )
        for v in absent
    ]
    if problems:
        raise QualDataError(f"{label}: the column mapping has problems", problems)
    rename = {v: k for k, v in columns.items()}
    taken = set(columns)
    by_norm = {normalise_key(c): c for c in frame.columns if c not in rename}
    for std, aliases in COLUMN_ALIASES.items():
        if std in taken:
            continue
        for a in aliases:
            if a in by_norm and by_norm[a] not in rename:
                rename[by_norm[a]] = std
                taken.add(std)
                break
    return frame.rename(columns=rename)


def _from_study(study, code_map, kwargs):
    if study.qual is None:
        raise StudyError(
            f"The study {study.name!r} has no qualitative material: add `qual: {{excerpts: qual/excerpts.csv}}` "
            "to study.yml."
        )
    cfg = study.qual
    kwargs.setdefault("journey", study.journey)
    if study.responses is not None and "persona" in study.responses.columns:
        cid = getattr(study.survey, "customer_id", None) or "customer_id"
        if cid in study.responses.columns:
            kwargs.setdefault(
                "personas",
                study.responses[[cid, "persona"]].rename(columns={cid: "customer_id"}),
            )
    code_map = code_map if code_map is not None else cfg.code_map
    if cfg.format == "qdpx":
        from .qdpx import read_qdpx

        for k in ("columns", "sep", "encoding", "format", "codebook", "sheet"):
            kwargs.pop(k, None)
        return read_qdpx(cfg.excerpts, code_map, **kwargs)
    cols = {**getattr(cfg, "columns", {}), **dict(kwargs.get("columns") or {})}
    if cfg.valence and cfg.valence != "valence":
        cols.setdefault("valence", cfg.valence)
    if cols:
        kwargs["columns"] = cols
    kwargs.setdefault("format", cfg.format)
    for k in ("codebook", "sheet"):
        if getattr(cfg, k, None) is not None:
            kwargs.setdefault(k, getattr(cfg, k))
    return read_excerpts(cfg.excerpts, code_map, **kwargs)


def read_excerpts(
    source,
    code_map=None,
    *,
    journey=None,
    personas=None,
    columns: Mapping[str, str] | None = None,
    valence_scale: tuple[float, float] = (-2, 2),
    valence_labels: Mapping[str, float] | None = None,
    sep: str | None = None,
    encoding: str | None = None,
    format: str = "auto",
    codebook=None,
    sheet=None,
    **qdpx_options,
) -> pd.DataFrame:
    """Read coded excerpts: one row per coded excerpt, keyed by touchpoint and persona ids.

    Parameters
    ----------
    source : str, Path, DataFrame or Study
        A CSV or Excel file (the kit's columns, or a Taguette, NVivo, ATLAS.ti or MAXQDA
        export as the tool writes it), a DataFrame with the same columns, a REFI-QDA ``.qdpx``
        file (handed to :func:`read_qdpx`), or a loaded :class:`~parcours_research.study.Study`,
        whose ``qual:`` file, column mapping, format, codebook, code map, journey and survey
        personas are used. A REFI-QDA codebook (``.qdc``) is refused with a message saying so.
    code_map : dict, DataFrame or path, optional
        Code-to-touchpoint table (``{code: touchpoint}`` or columns ``code, touchpoint``).
        Without it, a code equal to a touchpoint id or label maps to that touchpoint.
    journey : JourneyMap, optional
        Touchpoint and persona ids are checked against it and stages filled from it.
    personas : DataFrame or dict, optional
        Persona of each participant when the file has none: a table with ``persona`` and
        ``customer_id`` or ``participant`` columns (e.g. the survey responses), or a mapping.
    columns : dict, optional
        ``{standard name: column in the file}`` when headers are not recognised.
    valence_scale : (low, high), default (-2, 2)
        Valid valence range.
    valence_labels : dict, optional
        Extra words read as valence values (``{"frustration": -2}``).
    sep, encoding : str, optional
        CSV separator and encoding (sniffed when omitted).
    format : str, default "auto"
        ``"auto"`` recognises the export of Taguette, NVivo, ATLAS.ti or MAXQDA from the
        header (see :mod:`parcours_research.qual.exports` for each tool's mapping), else reads
        the kit's own columns; ``"taguette"``, ``"nvivo"``, ``"atlasti"``, ``"maxqda"`` force a
        tool; ``"qdpx"`` a REFI-QDA project. ``"csv"``/``"xlsx"`` are the same as ``"auto"``.
    codebook : str, Path or Codebook, optional
        A REFI-QDA codebook (``.qdc``): codes written without their parents get them from it.
        Hierarchical codes (``A > B``, ``A\\B``, ``A.B``) match touchpoints by their leaf,
        then their nearest parent; ambiguous ones are reported (see
        :mod:`parcours_research.qual.codepaths`).
    sheet : str or int, optional
        The Excel sheet to read (default: the first).
    **qdpx_options
        Passed to :func:`read_qdpx` for ``.qdpx`` files.

    Returns
    -------
    DataFrame
        Columns ``excerpt_id, source, participant, customer_id, persona, stage, touchpoint,
        code, valence, coder, text, start, end`` (see :mod:`parcours_research.qual.schema`),
        then any other column of the file.

    Raises
    ------
    QualDataError
        Listing every problem at once (missing columns; rows without participant, text or
        code; unreadable or out-of-range valence; unknown touchpoints or personas), each with
        its file, row and column.
    """
    kwargs = dict(journey=journey, personas=personas, valence_scale=valence_scale)
    kwargs.update(valence_labels=valence_labels, **qdpx_options)
    study = study_of(source)
    if study is not None:
        kwargs.update(columns=columns, sep=sep, encoding=encoding, codebook=codebook, sheet=sheet)
        if format != "auto":
            kwargs["format"] = format
        return _from_study(study, code_map, {k: v for k, v in kwargs.items() if v is not None})
    format = _check_format(format)
    is_path = isinstance(source, (str, Path))
    if format == "qdpx" or (is_path and Path(source).suffix.lower() in (".qdpx", ".qde")):
        from .qdpx import read_qdpx

        return read_qdpx(source, code_map, **kwargs)
    if qdpx_options:
        raise StudyError(
            f"read_excerpts got unexpected argument(s) {sorted(qdpx_options)} for a CSV file."
        )
    frame, label = _table(source, sep, encoding, sheet)
    return _validate(
        frame,
        label,
        code_map,
        journey,
        personas,
        columns,
        valence_scale,
        valence_labels,
        tool=format,
        codebook=codebook,
    )


def _check_format(format) -> str:
    from .exports import FORMATS

    name = str(format or "auto").strip().lower().replace(".", "").replace("-", "")
    if name not in FORMATS:
        raise StudyError(f"format={format!r} is not valid: it must be one of {list(FORMATS)}.")
    return name


def _table(source, sep: str | None, encoding: str | None, sheet=None) -> tuple[pd.DataFrame, str]:
    """The excerpts as a table of strings, and the label naming them in messages."""
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        frame.columns = [str(c) for c in frame.columns]
        return frame.astype("object").where(frame.notna(), None).astype("string"), "excerpts"
    path = Path(source)
    label = path.name
    if not path.exists():
        raise QualDataError(f"{label}: file not found ({path}).")
    from .._files import safe_path  # a regular file, within the size limit

    safe_path(path, label=label, missing_cls=QualDataError)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from .._files import check_zip  # a workbook is a zip: no decompression bomb

        check_zip(path, label=label)
    from .exports import read_table  # CSV (this module's decoding), Excel, codebooks refused

    return read_table(path, sep=sep, encoding=encoding, sheet=sheet, decode=_decode), label


def _decode(raw: bytes, label: str, encoding: str | None) -> tuple[str, str]:
    """The text (in ``encoding``, else sniffed) and the sniffed separator."""
    if not encoding:
        return _sniff(raw, label)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise QualDataError(
            f"{label}: not {encoding} text (byte {e.start}); pass the right "
            "encoding= or save the file as UTF-8."
        ) from None
    return text, _sniff(raw, label)[1]


def _validate(
    frame,
    label,
    code_map,
    journey,
    personas,
    columns,
    valence_scale,
    valence_labels,
    tool="auto",
    codebook=None,
):
    """Check every row (raising all problems at once), then map codes and fill the columns."""
    from .codebook import Codebook, read_codebook
    from .codepaths import SEPARATORS
    from .exports import EXPORT_FORMATS, detect_format, to_kit

    header = list(frame.columns)
    fmt = EXPORT_FORMATS.get(tool) or (detect_format(header) if tool == "auto" else None)
    if fmt is not None:
        if columns:
            _rename(frame, columns, label)  # checks the mapping against the real header
        (frame, names), columns = to_kit(frame, fmt, label, columns, valence_labels), None
    file_rows = frame.pop("_file_row").tolist() if "_file_row" in frame.columns else None
    frame = _rename(frame, columns, label)
    _check_columns(frame, label, header)
    mapper = CodeMapper(journey, code_map, label="code_map")
    if codebook is not None and not isinstance(codebook, Codebook):
        codebook = read_codebook(codebook)
    paths = CodePaths(mapper, fmt.separators if fmt else SEPARATORS, codebook=codebook)
    lookup = PersonaLookup(personas)
    for c in frame.columns:
        if frame[c].dtype == "string":
            frame[c] = frame[c].str.strip().replace("", pd.NA)
    rows = _Rows(frame, label, mapper, journey, valence_scale, valence_labels)
    rows.paths = paths
    if fmt is not None:  # problems name the file's rows and columns, not the kit's
        rows.file_rows, rows.names = file_rows, names
    for i in range(len(frame)):
        rows.check(i)
    rows.check_personas()
    if rows.problems:
        raise QualDataError(f"{label}: the excerpts have problems", rows.problems)
    out = frame.copy()
    out["touchpoint"] = pd.array(rows.touchpoint, dtype="string")
    out["stage"] = pd.array(rows.stage, dtype="string")
    out["valence"] = pd.array(rows.valence, dtype="Float64")
    if "code" not in out.columns:
        out["code"] = out["touchpoint"]
    if "source" not in out.columns:
        out["source"] = label
    if "excerpt_id" not in out.columns:
        out["excerpt_id"] = [f"{label}:{i + 2}" for i in range(len(frame))]
    return finalise(out, mapper, lookup, label)


def _check_columns(frame: pd.DataFrame, label: str, header=None) -> None:
    missing = [c for c in ("participant", "text") if c not in frame.columns]
    if "code" not in frame.columns and "touchpoint" not in frame.columns:
        missing.append("code or touchpoint")
    if missing:
        from .exports import header_error

        header = list(frame.columns) if header is None else list(header)
        found = {  # renaming keeps the order: the file's name of each standard column found
            new: old
            for old, new in zip(header, frame.columns)
            if new in ("participant", "text", "code", "touchpoint")
        }
        raise header_error(label, header, None, missing, aliases=COLUMN_ALIASES, chosen=found)


class _Rows:
    """Row by row checks of an excerpts table: the problems found, and each row's touchpoint,
    stage and valence."""

    def __init__(self, frame, label, mapper, journey, valence_scale, valence_labels):
        self.frame, self.label, self.mapper, self.journey = frame, label, mapper, journey
        self.scale, self.labels = valence_scale, valence_labels
        n = len(frame)
        self.problems: list[Problem] = []
        self.valence, self.touchpoint, self.stage = [None] * n, [None] * n, [None] * n
        self.participant, self.text = self._col("participant"), self._col("text")
        self.code, self.tp_raw = self._col("code"), self._col("touchpoint")
        self.paths = CodePaths(mapper)  # _validate sets the tool's separators and codebook
        self.file_rows, self.names = None, {}  # and, for a tool's export, its rows and columns

    def _col(self, name: str) -> pd.Series:
        frame = self.frame
        if name in frame.columns:
            return frame[name]
        return pd.Series(pd.NA, index=frame.index, dtype="string")

    def add(self, message: str, row: int, column: str, fix: str) -> None:
        if self.file_rows is not None:
            row = self.file_rows[row - 2]
        column = self.names.get(column, column)
        self.problems.append(Problem(message, self.label, row, column, fix))

    def check(self, i: int) -> None:
        row = i + 2
        if pd.isna(self.participant.iat[i]):
            self.add(
                "participant is empty", row, "participant", "name who speaks (an id or a pseudonym)"
            )
        if pd.isna(self.text.iat[i]):
            self.add("text is empty", row, "text", "paste the excerpt or delete the row")
        c, t = self.code.iat[i], self.tp_raw.iat[i]
        if pd.isna(c) and pd.isna(t):
            self.add(
                "neither code nor touchpoint is given",
                row,
                "code",
                "code the excerpt or delete the row",
            )
        if not pd.isna(t):
            resolved = self.mapper.resolve_touchpoint(t)
            if resolved is None:
                self.add(
                    f"unknown touchpoint {t!r}",
                    row,
                    "touchpoint",
                    f"use one of {self.journey.touchpoint_ids}",
                )
            self.touchpoint[i] = resolved
            self.stage[i] = self.mapper.stage(resolved)
        elif not pd.isna(c):
            m = self.paths.match(c)
            if m.ambiguous:
                self.add(
                    f"code {c!r} is ambiguous: {m.ambiguous}",
                    row,
                    "code",
                    self.paths.problem_fix(c),
                )
            self.touchpoint[i], self.stage[i] = m.touchpoint, m.stage
        if "valence" in self.frame.columns:
            self.valence[i] = self._valence(self.frame["valence"].iat[i], row)

    def _valence(self, raw, row: int) -> float | None:
        lo, hi = self.scale
        v, ok = parse_valence(raw, self.labels)
        if not ok:
            self.add(
                f"valence {raw!r} is not a number or a known word",
                row,
                "valence",
                f"use a number from {lo:g} to {hi:g} or a word such as négatif/positif",
            )
            return None
        if v is not None and not lo <= v <= hi:
            self.add(
                f"valence {v:g} is outside the scale {lo:g}..{hi:g}",
                row,
                "valence",
                "fix the value or pass valence_scale=",
            )
            return None
        return v

    def check_personas(self) -> None:
        if self.journey is None or "persona" not in self.frame.columns:
            return
        known = set(self.journey.persona_ids)
        for i, p in enumerate(self.frame["persona"]):
            if not pd.isna(p) and p not in known:
                self.add(f"unknown persona {p!r}", i + 2, "persona", f"use one of {sorted(known)}")
