"""Read survey responses and validate them against their instrument.

Formats:

- CSV in UTF-8, UTF-8 with BOM, UTF-16 (Excel "Unicode text") or cp1252 (Windows), or in the
  encoding declared in study.yml (``survey: encoding:``), with ``,``, ``;`` or tab separators
  (the decoding rule, the refusal of files mixing encodings, the mojibake warning and the check
  for quotes that swallow rows are in :mod:`parcours_research._text_files`); a French Excel export (``;`` separator, decimal comma) is recognised
  from its separator, a tab-separated file from its numbers. Blank lines are skipped, and empty
  cells Excel writes past the last column are ignored; a row with more filled cells than the
  header is an error, never truncated.
- Qualtrics CSV exports: the two extra header rows Qualtrics writes (question texts and
  ``{"ImportId": ...}``) are recognised and skipped; its metadata columns are accepted, and the
  ones that identify a person (IP address, name, e-mail, location) are dropped with a warning.
- SPSS ``.sav`` and Stata ``.dta`` through pyreadstat; value labels turn coded answers of
  single-choice questions back into their options. Declared user-missing values are blank;
  other codes are declared with ``missing_codes`` (:mod:`.missing`); a labelled code outside
  the scale is reported once per code, quoting its label (``98 = 'NSP'``).
- Excel ``.xlsx``: the first sheet (:mod:`.excel`: header found below a title, merged cells and
  unsaved formulas refused with their cells).

Every problem is collected and reported at once in one
:class:`~parcours_research.errors.SurveyDataError`, each with file, row (as a spreadsheet numbers
it: the header is row 1, a blank line is a row, a cell spanning lines stays in one row),
column and what to do. Nothing is dropped silently; codes such as -99 are not read as "missing"
unless declared in ``missing_codes`` (they are reported as out of scale).
"""

from __future__ import annotations

import csv
import difflib
import io
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import _files
from .._text_files import decode_bytes, quote_problems
from ..errors import DataQualityWarning, ParcoursWarning, Problem, SurveyDataError
from .instrument import Instrument
from .missing import apply_missing_codes, parse_missing_codes

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


def _decode(raw: bytes, path: Path, name: str | None = None, encoding: str | None = None):
    """The text of a response file by the rule of :mod:`parcours_research._text_files`
    (declared encoding, BOM, UTF-8, mixed lines refused, Windows-1252), with its notes."""
    return decode_bytes(raw, name or path.name, encoding=encoding, error=SurveyDataError)


def _sniff_sep(text: str) -> str:
    head = text.split("\n", 1)[0]
    counts = {sep: head.count(sep) for sep in (";", ",", "\t")}
    # quoted fields may hold separators: count outside quotes with the csv module
    try:
        dialect = csv.Sniffer().sniff(text[:20000], delimiters=";,\t")
        return dialect.delimiter
    except csv.Error:
        return max(counts, key=counts.get)


def read_table(
    path: str | Path, *, display_name: str | None = None, encoding: str | None = None,
    limits=None,
) -> tuple[pd.DataFrame, dict]:
    """Read a response file as text cells, without validation.

    Returns the table (every cell a string, blank when not answered; for SPSS/Stata numeric
    cells stay numbers) and a dict describing how it was read: ``format, encoding, separator,
    decimal, header_rows, value_labels``, and for text files ``rows`` (the spreadsheet row
    number of each table row), ``blank_rows`` (blank lines skipped) and
    ``unnamed_empty_columns`` (columns with neither a name nor any value, skipped).
    ``display_name`` is the file name used in error messages (default: the file's name).
    ``encoding`` is the declared encoding (``survey: encoding:`` in study.yml), else the rule of
    :mod:`parcours_research._text_files` decides; ``notes`` lists the warnings found (mojibake).
    ``limits`` (:class:`parcours_research._files.FileLimits`) bounds the file's size; only
    regular files are read.
    """
    path = Path(path)
    name = display_name or path.name
    if not path.exists():
        raise SurveyDataError(
            f"Response file {name} does not exist",
            [Problem("file not found", name, fix="check survey.responses in study.yml")],
        )
    _files.safe_path(path, limits=limits, label=name, missing_cls=SurveyDataError)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":  # a zip container: no decompression bomb, no traversal
        _files.check_zip(path, limits=limits, label=name)
    if suffix in (".sav", ".zsav", ".dta"):
        return _read_stat_file(path, name, stata=suffix == ".dta", encoding=encoding)
    if suffix == ".xlsx":  # the first sheet; merged cells and unsaved formulas refused
        from .excel import read_xlsx_table

        return read_xlsx_table(path, name)
    if suffix == ".xls":
        raise SurveyDataError(
            f"Cannot read {name}",
            [
                Problem(
                    "old Excel 97-2003 workbooks (.xls) are not read",
                    name,
                    fix="save it as .xlsx, or the sheet as CSV (UTF-8 or CSV ';' as Excel "
                    "writes it)",
                )
            ],
        )
    return _read_text_table(path, name, encoding)


def _read_stat_file(
    path: Path, name: str, stata: bool, encoding: str | None = None
) -> tuple[pd.DataFrame, dict]:
    """An SPSS or Stata file through pyreadstat, with its value labels."""
    import pyreadstat

    reader = pyreadstat.read_dta if stata else pyreadstat.read_sav
    try:
        df, meta = reader(
            str(path), apply_value_formats=False, user_missing=False, encoding=encoding
        )
    except Exception as e:  # noqa: BLE001 - turned into a readable error
        raise SurveyDataError(
            f"Cannot read {name}",
            [
                Problem(
                    f"not a readable {'Stata' if stata else 'SPSS'} file ({type(e).__name__}: {e})",
                    name,
                    fix="re-export it from the statistics package",
                )
            ],
        ) from None
    labels = {
        col: meta.value_labels.get(label, {}) for col, label in meta.variable_to_label.items()
    }
    return df, {
        "format": "stata" if stata else "spss",
        "encoding": meta.file_encoding,
        "separator": None,
        "decimal": ".",
        "header_rows": 1,
        "value_labels": labels,
    }


def _read_text_table(
    path: Path, name: str, encoding: str | None = None
) -> tuple[pd.DataFrame, dict]:
    """A CSV (or tab-separated) file: encoding, separator and decimal mark recognised."""
    raw = path.read_bytes()
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SurveyDataError(
            f"Cannot read {name}",
            [Problem("the file is binary, not CSV text", name, fix="export the responses as CSV")],
        )
    decoded = _decode(raw, path, name, encoding)
    text, encoding = decoded.text, decoded.encoding
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
    problems = quote_problems(text, sep, name, header_rows=info["header_rows"]) + problems
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
        "notes": list(decoded.notes),
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
    records = _csv_records(text, sep, name)
    header = [c.strip() for c in records[0]]
    fmt, header_rows = "csv", 1
    if len(records) >= 3 and any(v.startswith('{"ImportId"') for v in records[2]):
        # Qualtrics: row 2 holds question texts, row 3 JSON import ids
        fmt, header_rows = "qualtrics", 3
    body, rows, blank = _csv_body(records, header_rows, len(header), name, problems)
    df = (
        pd.DataFrame(body, columns=header, dtype="string")
        if body
        else pd.DataFrame(
            {c: pd.Series(dtype="string") for c in dict.fromkeys(header)}, columns=header
        )
    )
    df, n_unnamed = _drop_unnamed_empty(df, header, name, problems)
    info = {
        "format": fmt,
        "header_rows": header_rows,
        "blank_rows": blank,
        "unnamed_empty_columns": n_unnamed,
    }
    return df, np.asarray(rows, dtype=int), info, problems


def _csv_records(text: str, sep: str, name: str) -> list[list[str]]:
    records: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
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
    return records


def _csv_body(records, header_rows: int, n: int, name: str, problems: list[Problem]):
    """The data records cut or padded to ``n`` cells, their spreadsheet rows, and the number
    of blank lines skipped; a record with more filled cells than the header is a problem."""
    body, rows, blank = [], [], 0
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
    return body, rows, blank


def _drop_unnamed_empty(df: pd.DataFrame, header: list[str], name: str, problems: list):
    """Drop the columns without a header name; one holding answers is a problem."""
    unnamed = [j for j, c in enumerate(header) if c == ""]
    keep = [j for j in range(len(header)) if j not in unnamed]
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
    return df, len(unnamed)


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
    rid = instrument.respondent_id
    design = [c for c in design_columns if c]
    known = set(instrument.columns) | set(extra_columns) | set(design)
    if info.get("format") == "qualtrics":
        known |= set(QUALTRICS_METADATA)
        if rid not in df.columns and "ResponseId" in df.columns:
            df = df.rename(columns={"ResponseId": rid})
    cells = _Cells(file, _row_numbers(info, len(df)))
    dup_cols = cells.check_header(df, known)
    cells.check_required(df, instrument, design)
    if dup_cols:
        return df, cells.problems
    out = pd.DataFrame(index=df.index)
    if rid in df.columns:
        out[rid] = cells.respondent_ids(df[rid], rid)
    for c in instrument.id_columns:
        if c in df.columns:
            v = _whole_numbers_as_int(df[c])
            out[c] = v.astype("string").str.strip().mask(_is_missing(v))
    labels = info.get("value_labels") or {}
    for q in instrument.questions:
        if q.id in df.columns:
            out[q.id] = cells.answers(q, df[q.id], info.get("decimal", "."), labels.get(q.id))
    for c in [*extra_columns, *design]:
        if c in df.columns and c not in out.columns:
            out[c] = df[c]
    if info.get("format") == "qualtrics":
        for c in QUALTRICS_METADATA:
            if c in df.columns and c not in QUALTRICS_PERSONAL and c not in out.columns:
                out[c] = df[c]
    return out, cells.problems


def _row_numbers(info: dict, n: int) -> np.ndarray:
    """The spreadsheet row of each table row."""
    rows_of = info.get("rows")
    if rows_of is not None and len(rows_of) == n:
        return np.asarray(rows_of, dtype=int)
    return np.arange(n) + info.get("header_rows", 1) + 1


def _whole_numbers_as_int(v: pd.Series) -> pd.Series:
    """Float ids that are whole numbers (SPSS/Stata) as integers, so ``12.0`` reads ``12``."""
    if pd.api.types.is_float_dtype(v) and np.all(np.isnan(v) | (v == np.round(v))):
        return v.astype("Int64")
    return v


class _Cells:
    """The checks of a response table, collecting the problems found (in ``problems``), each at
    its spreadsheet row (``row_no``) and at most :data:`_MAX_ROW_PROBLEMS_PER_COLUMN` per
    column and kind."""

    def __init__(self, file: str, row_no: np.ndarray):
        self.file, self.row_no = file, row_no
        self.problems: list[Problem] = []

    def add(self, message: str, column: str | None, fix: str, i: int | None = None) -> None:
        row = None if i is None else int(self.row_no[i])
        self.problems.append(Problem(message, self.file, row=row, column=column, fix=fix))

    def rows(self, mask, message, column: str, fix: str, what: str | None = None) -> None:
        """A problem per flagged row (``message(i)``), then "... and N more ``what``"."""
        flagged = np.flatnonzero(mask)
        for i in flagged[:_MAX_ROW_PROBLEMS_PER_COLUMN]:
            self.add(message(i), column, fix, i)
        if what is not None:
            _more(self.problems, len(flagged), what, self.file, column)

    def check_header(self, df: pd.DataFrame, known: set) -> list:
        """Duplicated and unknown column names; returns the duplicated ones."""
        dup_cols = [c for c in pd.Index(df.columns)[pd.Index(df.columns).duplicated()].unique()]
        for c in dup_cols:
            self.add(
                "the column appears more than once in the header",
                c,
                "rename or remove the duplicate column",
            )
        for c in dict.fromkeys(df.columns):
            if c not in known:
                near = difflib.get_close_matches(str(c), sorted(known), n=1)
                hint = f"did you mean {near[0]!r}? Otherwise " if near else ""
                self.add(
                    "unknown column: the instrument does not define it",
                    c,
                    f"{hint}declare it under survey.extra_columns in study.yml, fix its name, "
                    "or remove it",
                )
        return dup_cols

    def check_required(self, df: pd.DataFrame, instrument: Instrument, design: list) -> None:
        """Required columns, and at least one response."""
        required = [
            instrument.respondent_id,
            *(c for c, req in instrument.id_columns.items() if req),
            *(q.id for q in instrument.questions if q.required),
            *design,
        ]
        for c in required:
            if c not in df.columns:
                self.add(
                    "required column is missing",
                    c,
                    "add the column (check its spelling against the codebook)",
                )
        if len(df) == 0:
            self.add(
                "the file has a header but no responses",
                None,
                "export the responses again, with at least one respondent",
            )

    def respondent_ids(self, ids: pd.Series, rid: str) -> pd.Series:
        """The ids as strings; blank and repeated ids are problems."""
        ids = _whole_numbers_as_int(ids).astype("string").str.strip()
        miss = _is_missing(ids)
        self.rows(
            miss, lambda i: "respondent id is blank", rid, "give every respondent a unique id"
        )
        dup_pos = np.flatnonzero((ids.duplicated(keep=False) & ~miss).to_numpy(bool))
        for value in dict.fromkeys(ids.iloc[dup_pos].tolist()):
            pos = dup_pos[(ids.iloc[dup_pos] == value).to_numpy(bool)]
            rows = ", ".join(str(int(self.row_no[i])) for i in pos[:10])
            self.add(
                f"respondent id {value!r} appears {len(pos)} times (rows {rows})",
                rid,
                "each respondent must appear once; remove duplicate submissions",
                pos[0],
            )
        return ids

    def answers(self, q, col: pd.Series, decimal: str, value_labels: dict | None) -> pd.Series:
        """The typed answers to question ``q``."""
        miss = _is_missing(col)
        if q.options:  # an option spelled like a missing-value token ("None") is an answer
            miss = miss & ~col.astype("string").str.strip().isin(list(q.options)).fillna(
                False
            ).to_numpy(bool)
        if q.required:
            self.rows(
                miss,
                lambda i: "required answer is missing",
                q.id,
                "complete the answer or exclude the respondent explicitly",
                "missing answers",
            )
        if q.numeric:
            return self.numbers(q, col, miss, decimal, value_labels or {})
        if q.type in ("single", "multi"):
            return self.choices(q, col, miss, value_labels or {})
        return col.astype("string").mask(miss)

    def numbers(
        self, q, col: pd.Series, miss: np.ndarray, decimal: str, labels: dict | None = None
    ) -> pd.Series:
        num = _to_number(col, decimal)
        self.rows(
            ~miss & num.isna().to_numpy(),
            lambda i: f"{str(col.iloc[i])!r} is not a number",
            q.id,
            "enter a number (or leave blank when not answered)",
            "answers that are not numbers",
        )
        vals = num.to_numpy()
        lo = -np.inf if q.min is None else q.min
        hi = np.inf if q.max is None else q.max
        out_of = ~np.isnan(vals) & ((vals < lo) | (vals > hi))
        between = np.zeros(len(vals), dtype=bool)
        if q.type != "number":  # a scale answer is a whole point of the scale
            between = ~np.isnan(vals) & ~out_of & (vals != np.round(vals))

        def message(i):
            if between[i]:
                return f"{vals[i]:g} is not a point of the scale {q.min:g}..{q.max:g}"
            if q.type != "number":
                return f"{vals[i]:g} is outside the scale {q.min:g}..{q.max:g}"
            return f"{vals[i]:g} is outside {lo:g}..{hi:g}"

        if labels:  # codes with a value label ("98 = 'NSP'"): one problem per code
            scale = f"the scale {q.min:g}..{q.max:g}" if q.type != "number" else "the range"
            out_of = out_of & ~self.labelled_codes(q, vals, out_of, labels, f"outside {scale}")
        self.rows(
            out_of | between,
            message,
            q.id,
            "correct the value or leave it blank; check the codebook",
            "out-of-scale values",
        )
        return num.where(~pd.Series(miss, index=num.index), np.nan)

    def labelled_codes(
        self, q, vals: np.ndarray, bad: np.ndarray, labels: dict, what: str
    ) -> np.ndarray:
        """One problem per bad code that has a value label (``98 = 'NSP' is outside the scale
        1..5``), with its count and first rows; returns the rows so reported."""
        done = np.zeros(len(vals), dtype=bool)
        for v in sorted(set(vals[bad].tolist())):
            label = _code_label(v, labels)
            if label == str(int(v) if float(v).is_integer() else v):  # no label
                continue
            at = np.flatnonzero(bad & (vals == v))
            done[at] = True
            rows = ", ".join(str(int(self.row_no[i])) for i in at[:10])
            more = f" and {len(at) - 10} more" if len(at) > 10 else ""
            self.add(
                f"{v:g} = {label!r} is {what}: {len(at)} answer{'s' if len(at) != 1 else ''} "
                f"(row{'s' if len(at) != 1 else ''} {rows}{more})",
                q.id,
                f"if {label!r} means not answered, declare the code as missing: "
                f"`missing_codes: {{{q.id}: [{v:g}]}}` (or `default: [{v:g}]` for every "
                "question) under `survey:` in study.yml, or mark it user-missing in SPSS "
                "(Variable View > Missing) and export again",
                at[0],
            )
        return done

    def choices(self, q, col: pd.Series, miss: np.ndarray, vl: dict) -> pd.Series:
        codes = None
        if vl and pd.api.types.is_numeric_dtype(col):
            codes = col.to_numpy(float)
            col = col.map(lambda v, vl=vl: _code_label(v, vl))
        s = col.astype("string").str.strip().mask(miss)
        allowed = set(q.options)
        if q.type == "single":
            bad = s.notna() & ~s.isin(list(allowed))
        else:
            bad = s.notna() & ~s.fillna("").str.split(";").map(
                lambda xs, ok=allowed: all(x.strip() in ok for x in xs)
            )
        bad = bad.to_numpy(bool)
        if codes is not None:
            bad = bad & ~self.labelled_codes(q, codes, bad, vl, "not an option")
        self.rows(
            bad,
            lambda i: f"{s.iloc[i]!r} is not an option",
            q.id,
            f"use one of {', '.join(q.options)}"
            + ("; separate several answers with ';'" if q.type == "multi" else ""),
            "answers that are not options",
        )
        return s


def read_responses(
    path: str | Path,
    instrument: Instrument,
    *,
    extra_columns: Iterable[str] = (),
    weight: str | None = None,
    strata: str | None = None,
    cluster: str | None = None,
    display_root: str | Path | None = None,
    missing_codes: Mapping | Sequence | None = None,
    encoding: str | None = None,
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
    missing_codes : list or dict, optional
        Codes read as "not answered" (``survey: missing_codes:`` in study.yml): a list for
        every question, or ``{"default": [98, 99], "q3": [7]}`` (see
        :mod:`parcours_research.survey.missing`). SPSS user-missing values are always blank.
    encoding : str, optional
        The file's encoding when it is declared (``survey: encoding:``); else detected by the
        rule of :mod:`parcours_research._text_files`.

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
    df, info = read_table(path, display_name=file, encoding=encoding)
    codes, code_problems = parse_missing_codes(missing_codes, file="missing_codes")
    if code_problems:
        raise SurveyDataError("missing_codes cannot be used", code_problems)
    closed = [q.id for q in instrument.questions if q.type != "text"]  # default codes: not in texts
    df, info["missing_codes"] = apply_missing_codes(df, codes, closed)
    out, problems = validate_responses(
        df, instrument, info, file, extra_columns, (weight, strata, cluster)
    )
    if weight and weight in df.columns and not any(p.column == weight for p in problems):
        out[weight] = _design_weights(df[weight], info, file, problems)
    if problems:
        raise SurveyDataError(
            f"The survey responses in {file} do not match the instrument {instrument.id!r}",
            problems,
        )
    for note in info.get("notes", ()):
        warnings.warn(str(note), DataQualityWarning, stacklevel=2)
    if info.get("format") == "qualtrics":
        dropped = [c for c in QUALTRICS_PERSONAL if c in df.columns]
        if dropped:
            warnings.warn(
                f"{file}: Qualtrics columns {dropped} identify people and were not loaded.",
                ParcoursWarning,
                stacklevel=2,
            )
    out.attrs["read"] = {k: v for k, v in info.items() if k not in ("value_labels", "rows", "notes")} | {
        "file": file
    }
    return out.reset_index(drop=True)


def _design_weights(raw: pd.Series, info: dict, file: str, problems: list) -> pd.Series:
    """The weights as numbers; one that is not a positive number is a problem."""
    rows = info.get("rows")
    w = _to_number(raw, info.get("decimal", "."))
    bad = w.isna() | (w <= 0)
    for i in np.flatnonzero(bad.to_numpy())[:_MAX_ROW_PROBLEMS_PER_COLUMN]:
        problems.append(
            Problem(
                f"weight {raw.iloc[i]!r} is not a positive number",
                file,
                row=int(rows[i]) if rows is not None else int(i) + info["header_rows"] + 1,
                column=raw.name,
                fix="design weights must be positive numbers",
            )
        )
    return w
