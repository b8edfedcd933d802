"""Read survey responses and validate them against their instrument.

Formats:

- CSV in UTF-8, UTF-8 with BOM, UTF-16 (Excel "Unicode text") or cp1252 (Windows), with ``,``,
  ``;`` or tab separators; a French Excel export (``;`` separator, decimal comma) is recognised
  from its separator, a tab-separated file from its numbers. Blank lines are skipped, and empty
  cells Excel writes past the last column are ignored; a row with more filled cells than the
  header is an error, never truncated.
- Qualtrics CSV exports: the two extra header rows Qualtrics writes (question texts and
  ``{"ImportId": ...}``) are recognised and skipped; its metadata columns are accepted, and the
  ones that identify a person (IP address, name, e-mail, location) are dropped with a warning.
- SPSS ``.sav`` and Stata ``.dta`` through pyreadstat; value labels turn coded answers of
  single-choice questions back into their options.

Every problem is collected and reported at once in one
:class:`~parcours_research.errors.SurveyDataError`, each with file, row (as a spreadsheet numbers
it: the header is row 1, a blank line is a row, a cell spanning lines stays in one row),
column and what to do. Nothing is dropped silently; codes such as -99 are not read as "missing"
(they are reported as out of scale).
"""

from __future__ import annotations

import csv
import difflib
import io
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ParcoursWarning, Problem, SurveyDataError
from .instrument import Instrument

__all__ = [
    "read_responses",
    "read_table",
    "validate_responses",
    "QUALTRICS_METADATA",
    "QUALTRICS_PERSONAL",
]

#: Columns Qualtrics adds to every export.
QUALTRICS_METADATA = (
    "StartDate",
    "EndDate",
    "Status",
    "IPAddress",
    "Progress",
    "Duration (in seconds)",
    "Finished",
    "RecordedDate",
    "ResponseId",
    "RecipientLastName",
    "RecipientFirstName",
    "RecipientEmail",
    "ExternalReference",
    "LocationLatitude",
    "LocationLongitude",
    "DistributionChannel",
    "UserLanguage",
)
#: Qualtrics metadata that identify a person: dropped on reading (privacy by default).
QUALTRICS_PERSONAL = (
    "IPAddress",
    "RecipientLastName",
    "RecipientFirstName",
    "RecipientEmail",
    "LocationLatitude",
    "LocationLongitude",
)
#: Cells read as "not answered". Codes such as -99 are not in it: a sentinel number would turn
#: an answer into a blank silently; it is reported as out of scale instead.
_MISSING = {"", "na", "n/a", "nan", "null", "none", "#n/a", "."}
_MAX_ROW_PROBLEMS_PER_COLUMN = 20


def _decode(raw: bytes, path: Path, name: str | None = None) -> tuple[str, str]:
    name = name or path.name
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        raise SurveyDataError(
            f"{name} is neither UTF-8 nor Windows-1252 text",
            [
                Problem(
                    "cannot decode the file", name, fix="save it as CSV UTF-8 from your spreadsheet"
                )
            ],
        ) from None


def _sniff_sep(text: str) -> str:
    head = text.split("\n", 1)[0]
    counts = {sep: head.count(sep) for sep in (";", ",", "\t")}
    # quoted fields may hold separators: count outside quotes with the csv module
    try:
        dialect = csv.Sniffer().sniff(text[:20000], delimiters=";,\t")
        return dialect.delimiter
    except csv.Error:
        return max(counts, key=counts.get)


def read_table(path: str | Path, *, display_name: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Read a response file as text cells, without validation.

    Returns the table (every cell a string, blank when not answered; for SPSS/Stata numeric
    cells stay numbers) and a dict describing how it was read: ``format, encoding, separator,
    decimal, header_rows, value_labels``, and for text files ``rows`` (the spreadsheet row
    number of each table row), ``blank_rows`` (blank lines skipped) and
    ``unnamed_empty_columns`` (columns with neither a name nor any value, skipped).
    ``display_name`` is the file name used in error messages (default: the file's name).
    """
    path = Path(path)
    name = display_name or path.name
    if not path.exists():
        raise SurveyDataError(
            f"Response file {name} does not exist",
            [Problem("file not found", name, fix="check survey.responses in study.yml")],
        )
    suffix = path.suffix.lower()
    if suffix in (".sav", ".zsav", ".dta"):
        import pyreadstat

        reader = pyreadstat.read_sav if suffix != ".dta" else pyreadstat.read_dta
        try:
            df, meta = reader(str(path), apply_value_formats=False, user_missing=False)
        except Exception as e:  # noqa: BLE001 - turned into a readable error
            raise SurveyDataError(
                f"Cannot read {name}",
                [
                    Problem(
                        f"not a readable {'Stata' if suffix == '.dta' else 'SPSS'} file ({type(e).__name__}: {e})",
                        name,
                        fix="re-export it from the statistics package",
                    )
                ],
            ) from None
        labels = {
            col: meta.value_labels.get(name, {}) for col, name in meta.variable_to_label.items()
        }
        return df, {
            "format": "stata" if suffix == ".dta" else "spss",
            "encoding": meta.file_encoding,
            "separator": None,
            "decimal": ".",
            "header_rows": 1,
            "value_labels": labels,
        }
    if suffix in (".xlsx", ".xls"):
        raise SurveyDataError(
            f"Cannot read {name}",
            [
                Problem(
                    "Excel workbooks are not read directly",
                    name,
                    fix="save the sheet as CSV (UTF-8 or CSV ';' as Excel writes it)",
                )
            ],
        )
    raw = path.read_bytes()
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SurveyDataError(
            f"Cannot read {name}",
            [Problem("the file is binary, not CSV text", name, fix="export the responses as CSV")],
        )
    text, encoding = _decode(raw, path, name)
    if not text.strip():
        raise SurveyDataError(
            f"Cannot read {name}",
            [
                Problem(
                    "the file is empty", name, fix="export the responses again (with a header row)"
                )
            ],
        )
    sep = _sniff_sep(text)
    df, rows, info, problems = _parse_csv(text, sep, name)
    if problems:
        raise SurveyDataError(f"Cannot read {name}", problems)
    decimal = "," if sep == ";" else "." if sep == "," else _guess_decimal(df)
    return df, {
        "format": info.pop("format"),
        "encoding": encoding,
        "separator": sep,
        "decimal": decimal,
        "value_labels": {},
        "rows": rows,
        **info,
    }


_COMMA_DECIMAL = r"^\s*[-+]?\d+,\d+\s*$"
_DOT_DECIMAL = r"^\s*[-+]?\d+\.\d+\s*$"


def _guess_decimal(df: pd.DataFrame) -> str:
    """``","`` when numbers are written with decimal commas (and none with points)."""
    comma = dot = False
    for c in df.columns.unique():
        col = df[c]
        if isinstance(col, pd.DataFrame):
            col = col.iloc[:, 0]
        s = col.astype("string")
        comma |= bool(s.str.match(_COMMA_DECIMAL).fillna(False).any())
        dot |= bool(s.str.match(_DOT_DECIMAL).fillna(False).any())
    return "," if comma and not dot else "."


def _parse_csv(
    text: str, sep: str, name: str
) -> tuple[pd.DataFrame, np.ndarray, dict, list[Problem]]:
    """Parse CSV text with the csv module, keeping spreadsheet row numbers.

    Blank lines are skipped (they hold nothing) but still count in row numbers, as a
    spreadsheet shows them; empty trailing cells (Excel writes them for stray formatted cells)
    are ignored; columns with no header name are dropped only when they hold nothing.
    """
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    records: list[list[str]] = []
    try:
        for rec in reader:
            records.append(rec)
    except csv.Error as e:
        raise SurveyDataError(
            f"Cannot read {name}",
            [
                Problem(
                    f"not a well-formed CSV file: {e}",
                    name,
                    row=len(records) + 1,
                    fix="check the quotes on this row; re-export the file as CSV",
                )
            ],
        ) from None
    header = [c.strip() for c in records[0]]
    n = len(header)
    body, rows, blank = [], [], 0
    fmt, header_rows = "csv", 1
    if len(records) >= 3 and any(v.startswith('{"ImportId"') for v in records[2]):
        # Qualtrics: row 2 holds question texts, row 3 JSON import ids
        fmt, header_rows = "qualtrics", 3
    for k, rec in enumerate(records[header_rows:], header_rows + 1):
        if not any(c.strip() for c in rec):
            blank += 1
            continue
        if len(rec) > n:
            if any(c.strip() for c in rec[n:]):
                problems.append(
                    Problem(
                        f"the row has {len(rec)} fields but the header has {n}",
                        name,
                        row=k,
                        fix="remove the extra cells or add their column names to the header",
                    )
                )
                continue
            rec = rec[:n]
        elif len(rec) < n:
            rec = rec + [""] * (n - len(rec))
        body.append(rec)
        rows.append(k)
    df = (
        pd.DataFrame(body, columns=header, dtype="string")
        if body
        else pd.DataFrame(
            {c: pd.Series(dtype="string") for c in dict.fromkeys(header)}, columns=header
        )
    )
    unnamed = [j for j, c in enumerate(header) if c == ""]
    keep = [j for j in range(n) if j not in unnamed]
    for j in unnamed:
        col = df.iloc[:, j]
        if (col.fillna("").str.strip() != "").any():
            problems.append(
                Problem(
                    f"column {j + 1} has answers but no name in the header",
                    name,
                    column=f"#{j + 1}",
                    fix="give the column a name, or delete it",
                )
            )
    if unnamed:
        df = df.iloc[:, keep]
    info = {
        "format": fmt,
        "header_rows": header_rows,
        "blank_rows": blank,
        "unnamed_empty_columns": len(unnamed),
    }
    return df, np.asarray(rows, dtype=int), info, problems


def _is_missing(values: pd.Series) -> np.ndarray:
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        s = values.astype("string").str.strip().str.lower()
        return (s.isna() | s.isin(list(_MISSING))).to_numpy(bool)
    return values.isna().to_numpy(bool)


def _to_number(values: pd.Series, decimal: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    s = values.astype("string").str.strip().str.replace("[\u00a0\u202f]", "", regex=True)
    if decimal == ",":  # French exports: "4,5" and "1 234,5" (space or no-break space thousands)
        s = s.str.replace(" ", "", regex=False).str.replace(",", ".", regex=False)
    return pd.to_numeric(s, errors="coerce").astype(float)


def _more(problems: list[Problem], n: int, what: str, file: str, column: str) -> None:
    if n > _MAX_ROW_PROBLEMS_PER_COLUMN:
        problems.append(
            Problem(
                f"... and {n - _MAX_ROW_PROBLEMS_PER_COLUMN} more {what}",
                file,
                column=column,
                fix="fix the rows listed above the same way",
            )
        )


def _code_label(value, labels: dict):
    """The label of an SPSS/Stata code (the code itself, as ``"9"``, when it has no label)."""
    if pd.isna(value):
        return value
    if value in labels:
        return labels[value]
    if float(value).is_integer():
        return labels.get(int(value), str(int(value)))
    return str(value)


def validate_responses(
    df: pd.DataFrame,
    instrument: Instrument,
    info: dict,
    file: str,
    extra_columns: Iterable[str] = (),
    design_columns: Iterable[str | None] = (),
) -> tuple[pd.DataFrame, list[Problem]]:
    """Type and check every column of ``df`` against ``instrument``.

    Returns the typed table and the list of problems (empty when the file is valid).
    """
    problems: list[Problem] = []
    offset = info.get("header_rows", 1) + 1  # spreadsheet row of df.iloc[0]
    rows_of = info.get("rows")
    row_no = (
        np.asarray(rows_of, dtype=int)
        if rows_of is not None and len(rows_of) == len(df)
        else np.arange(len(df)) + offset
    )  # spreadsheet row of each table row
    rid = instrument.respondent_id
    design = [c for c in design_columns if c]
    known = set(instrument.columns) | set(extra_columns) | set(design)
    if info.get("format") == "qualtrics":
        known |= set(QUALTRICS_METADATA)
        if rid not in df.columns and "ResponseId" in df.columns:
            df = df.rename(columns={"ResponseId": rid})
    # duplicated header names
    dup_cols = [c for c in pd.Index(df.columns)[pd.Index(df.columns).duplicated()].unique()]
    for c in dup_cols:
        problems.append(
            Problem(
                "the column appears more than once in the header",
                file,
                column=c,
                fix="rename or remove the duplicate column",
            )
        )
    for c in dict.fromkeys(df.columns):
        if c not in known:
            near = difflib.get_close_matches(str(c), sorted(known), n=1)
            hint = f"did you mean {near[0]!r}? Otherwise " if near else ""
            problems.append(
                Problem(
                    "unknown column: the instrument does not define it",
                    file,
                    column=c,
                    fix=f"{hint}declare it under survey.extra_columns in study.yml, fix its name, "
                    "or remove it",
                )
            )
    required = [
        rid,
        *(c for c, req in instrument.id_columns.items() if req),
        *(q.id for q in instrument.questions if q.required),
        *design,
    ]
    for c in required:
        if c not in df.columns:
            problems.append(
                Problem(
                    "required column is missing",
                    file,
                    column=c,
                    fix="add the column (check its spelling against the codebook)",
                )
            )
    if len(df) == 0:
        problems.append(
            Problem(
                "the file has a header but no responses",
                file,
                fix="export the responses again, with at least one respondent",
            )
        )
    if dup_cols:
        return df, problems
    out = pd.DataFrame(index=df.index)
    # respondent ids
    if rid in df.columns:
        ids = df[rid]
        if pd.api.types.is_float_dtype(ids) and np.all(np.isnan(ids) | (ids == np.round(ids))):
            ids = ids.astype("Int64")
        ids = ids.astype("string").str.strip()
        miss = _is_missing(ids)
        for i in np.flatnonzero(miss)[:_MAX_ROW_PROBLEMS_PER_COLUMN]:
            problems.append(
                Problem(
                    "respondent id is blank",
                    file,
                    row=int(row_no[i]),
                    column=rid,
                    fix="give every respondent a unique id",
                )
            )
        dup = (ids.duplicated(keep=False) & ~miss).to_numpy(bool)
        dup_pos = np.flatnonzero(dup)
        for value in dict.fromkeys(ids.iloc[dup_pos].tolist()):
            pos = dup_pos[(ids.iloc[dup_pos] == value).to_numpy(bool)]
            rows = ", ".join(str(int(row_no[i])) for i in pos[:10])
            problems.append(
                Problem(
                    f"respondent id {value!r} appears {len(pos)} times (rows {rows})",
                    file,
                    row=int(row_no[pos[0]]),
                    column=rid,
                    fix="each respondent must appear once; remove duplicate submissions",
                )
            )
        out[rid] = ids
    for c in instrument.id_columns:
        if c in df.columns:
            v = df[c]
            if pd.api.types.is_float_dtype(v) and np.all(np.isnan(v) | (v == np.round(v))):
                v = v.astype("Int64")
            out[c] = v.astype("string").str.strip().mask(_is_missing(v))
    labels = info.get("value_labels") or {}
    for q in instrument.questions:
        if q.id not in df.columns:
            continue
        col = df[q.id]
        miss = _is_missing(col)
        if q.options:  # an option spelled like a missing-value token ("None") is an answer
            miss = miss & ~col.astype("string").str.strip().isin(list(q.options)).fillna(
                False
            ).to_numpy(bool)
        if q.required:
            for i in np.flatnonzero(miss)[:_MAX_ROW_PROBLEMS_PER_COLUMN]:
                problems.append(
                    Problem(
                        "required answer is missing",
                        file,
                        row=int(row_no[i]),
                        column=q.id,
                        fix="complete the answer or exclude the respondent explicitly",
                    )
                )
            _more(problems, int(miss.sum()), "missing answers", file, q.id)
        if q.numeric:
            num = _to_number(col, info.get("decimal", "."))
            bad = ~miss & num.isna().to_numpy()
            for i in np.flatnonzero(bad)[:_MAX_ROW_PROBLEMS_PER_COLUMN]:
                problems.append(
                    Problem(
                        f"{str(col.iloc[i])!r} is not a number",
                        file,
                        row=int(row_no[i]),
                        column=q.id,
                        fix="enter a number (or leave blank when not answered)",
                    )
                )
            _more(problems, int(bad.sum()), "answers that are not numbers", file, q.id)
            vals = num.to_numpy()
            lo = -np.inf if q.min is None else q.min
            hi = np.inf if q.max is None else q.max
            out_of = ~np.isnan(vals) & ((vals < lo) | (vals > hi))
            between = np.zeros(len(vals), dtype=bool)
            if q.type != "number":  # a scale answer is a whole point of the scale
                between = ~np.isnan(vals) & ~out_of & (vals != np.round(vals))
            n_out = int((out_of | between).sum())
            for i in np.flatnonzero(out_of | between)[:_MAX_ROW_PROBLEMS_PER_COLUMN]:
                if between[i]:
                    msg = f"{vals[i]:g} is not a point of the scale {q.min:g}..{q.max:g}"
                elif q.type != "number":
                    msg = f"{vals[i]:g} is outside the scale {q.min:g}..{q.max:g}"
                else:
                    msg = f"{vals[i]:g} is outside {lo:g}..{hi:g}"
                problems.append(
                    Problem(
                        msg,
                        file,
                        row=int(row_no[i]),
                        column=q.id,
                        fix="correct the value or leave it blank; check the codebook",
                    )
                )
            _more(problems, n_out, "out-of-scale values", file, q.id)
            out[q.id] = num.where(~pd.Series(miss, index=num.index), np.nan)
        elif q.type in ("single", "multi"):
            vl = labels.get(q.id) or {}
            if vl and pd.api.types.is_numeric_dtype(col):
                col = col.map(lambda v, vl=vl: _code_label(v, vl))
            s = col.astype("string").str.strip().mask(miss)
            allowed = set(q.options)
            if q.type == "single":
                bad = s.notna() & ~s.isin(list(allowed))
            else:
                bad = s.notna() & ~s.fillna("").str.split(";").map(
                    lambda xs, ok=allowed: all(x.strip() in ok for x in xs)
                )
            bad_idx = np.flatnonzero(bad.to_numpy(bool))
            for i in bad_idx[:_MAX_ROW_PROBLEMS_PER_COLUMN]:
                problems.append(
                    Problem(
                        f"{s.iloc[i]!r} is not an option",
                        file,
                        row=int(row_no[i]),
                        column=q.id,
                        fix=f"use one of {', '.join(q.options)}"
                        + ("; separate several answers with ';'" if q.type == "multi" else ""),
                    )
                )
            _more(problems, len(bad_idx), "answers that are not options", file, q.id)
            out[q.id] = s
        else:
            out[q.id] = col.astype("string").mask(miss)
    for c in [*extra_columns, *design]:
        if c in df.columns and c not in out.columns:
            out[c] = df[c]
    if info.get("format") == "qualtrics":
        for c in QUALTRICS_METADATA:
            if c in df.columns and c not in QUALTRICS_PERSONAL and c not in out.columns:
                out[c] = df[c]
    return out, problems


def read_responses(
    path: str | Path,
    instrument: Instrument,
    *,
    extra_columns: Iterable[str] = (),
    weight: str | None = None,
    strata: str | None = None,
    cluster: str | None = None,
    display_root: str | Path | None = None,
) -> pd.DataFrame:
    """Read a response file and validate it against ``instrument``.

    Parameters
    ----------
    path : str or Path
        CSV (any of the encodings and separators above, Qualtrics exports included), ``.sav`` or
        ``.dta``.
    instrument : Instrument
        The questionnaire the file answers (see :func:`~parcours_research.survey.instrument.load_instrument`).
    extra_columns : iterable of str
        Columns the instrument does not define but that should be kept (interview date, ...).
    weight, strata, cluster : str, optional
        Survey design columns; they must be present, and weights positive.
    display_root : path, optional
        Folder that file names in error messages are relative to.

    Returns
    -------
    DataFrame
        One row per respondent; numeric answers as float (blank = NaN), choices as strings.
        ``.attrs["read"]`` records how the file was read: format, encoding, separator, decimal
        mark, header rows, and the blank lines and empty unnamed columns skipped.

    Raises
    ------
    SurveyDataError
        Listing every problem (unknown columns, out-of-scale values, duplicate respondent ids,
        missing required answers, unreadable file), each with file, row, column and what to do.
    """
    path = Path(path)
    file = (
        str(path.relative_to(display_root))
        if display_root and path.is_relative_to(display_root)
        else path.name
    )
    df, info = read_table(path, display_name=file)
    rows = info.get("rows")
    out, problems = validate_responses(
        df, instrument, info, file, extra_columns, (weight, strata, cluster)
    )
    if weight and weight in df.columns and not any(p.column == weight for p in problems):
        w = _to_number(df[weight], info.get("decimal", "."))
        bad = w.isna() | (w <= 0)
        for i in np.flatnonzero(bad.to_numpy())[:_MAX_ROW_PROBLEMS_PER_COLUMN]:
            problems.append(
                Problem(
                    f"weight {df[weight].iloc[i]!r} is not a positive number",
                    file,
                    row=int(rows[i]) if rows is not None else int(i) + info["header_rows"] + 1,
                    column=weight,
                    fix="design weights must be positive numbers",
                )
            )
        out[weight] = w
    if problems:
        raise SurveyDataError(
            f"The survey responses in {file} do not match the instrument {instrument.id!r}",
            problems,
        )
    if info.get("format") == "qualtrics":
        dropped = [c for c in QUALTRICS_PERSONAL if c in df.columns]
        if dropped:
            warnings.warn(
                f"{file}: Qualtrics columns {dropped} identify people and were not loaded.",
                ParcoursWarning,
                stacklevel=2,
            )
    out.attrs["read"] = {k: v for k, v in info.items() if k not in ("value_labels", "rows")} | {
        "file": file
    }
    return out.reset_index(drop=True)
