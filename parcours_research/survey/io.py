"""Read survey responses and validate them against their instrument.

Formats:

- CSV in UTF-8, UTF-8 with BOM or cp1252 (Windows), with ``,``, ``;`` or tab separators; a French
  Excel export (``;`` separator, decimal comma) is recognised from its separator.
- Qualtrics CSV exports: the two extra header rows Qualtrics writes (question texts and
  ``{"ImportId": ...}``) are recognised and skipped; its metadata columns are accepted, and the
  ones that identify a person (IP address, name, e-mail, location) are dropped with a warning.
- SPSS ``.sav`` and Stata ``.dta`` through pyreadstat; value labels turn coded answers of
  single-choice questions back into their options.

Every problem is collected and reported at once in one
:class:`~parcours_research.errors.SurveyDataError`, each with file, row (as a spreadsheet numbers
it: the header is row 1), column and what to do. Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ParcoursWarning, Problem, SurveyDataError
from .instrument import Instrument

__all__ = ["read_responses", "read_table", "validate_responses", "QUALTRICS_METADATA", "QUALTRICS_PERSONAL"]

#: Columns Qualtrics adds to every export.
QUALTRICS_METADATA = (
    "StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)", "Finished",
    "RecordedDate", "ResponseId", "RecipientLastName", "RecipientFirstName", "RecipientEmail",
    "ExternalReference", "LocationLatitude", "LocationLongitude", "DistributionChannel", "UserLanguage",
)
#: Qualtrics metadata that identify a person: dropped on reading (privacy by default).
QUALTRICS_PERSONAL = (
    "IPAddress", "RecipientLastName", "RecipientFirstName", "RecipientEmail", "LocationLatitude",
    "LocationLongitude",
)
_MISSING = {"", "na", "n/a", "nan", "null", "none", "#n/a", ".", "-99"}
_MAX_ROW_PROBLEMS_PER_COLUMN = 20


def _decode(raw: bytes, path: Path) -> tuple[str, str]:
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
            f"{path.name} is neither UTF-8 nor Windows-1252 text", [
                Problem("cannot decode the file", path.name, fix="save it as CSV UTF-8 from your spreadsheet")]
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


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """Read a response file as text cells, without validation.

    Returns the table (every cell a string, missing as ``NA``; for SPSS/Stata numeric cells stay
    numbers) and a dict describing how it was read: ``format, encoding, separator, decimal,
    header_rows, value_labels``.
    """
    path = Path(path)
    if not path.exists():
        raise SurveyDataError(f"Response file {path} does not exist", [
            Problem("file not found", str(path), fix="check survey.responses in study.yml")])
    suffix = path.suffix.lower()
    if suffix in (".sav", ".zsav", ".dta"):
        import pyreadstat

        reader = pyreadstat.read_sav if suffix != ".dta" else pyreadstat.read_dta
        try:
            df, meta = reader(str(path), apply_value_formats=False, user_missing=False)
        except Exception as e:  # noqa: BLE001 - turned into a readable error
            raise SurveyDataError(f"Cannot read {path.name}", [
                Problem(f"not a readable {'Stata' if suffix == '.dta' else 'SPSS'} file ({type(e).__name__}: {e})",
                        path.name, fix="re-export it from the statistics package")]) from None
        labels = {col: meta.value_labels.get(name, {}) for col, name in meta.variable_to_label.items()}
        return df, {"format": "stata" if suffix == ".dta" else "spss", "encoding": meta.file_encoding,
                    "separator": None, "decimal": ".", "header_rows": 1, "value_labels": labels}
    if suffix in (".xlsx", ".xls"):
        raise SurveyDataError(f"Cannot read {path.name}", [
            Problem("Excel workbooks are not read directly", path.name,
                    fix="save the sheet as CSV (UTF-8 or CSV ';' as Excel writes it)")])
    raw = path.read_bytes()
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SurveyDataError(f"Cannot read {path.name}", [
            Problem("the file is binary, not CSV text", path.name, fix="export the responses as CSV")])
    text, encoding = _decode(raw, path)
    if not text.strip():
        raise SurveyDataError(f"Cannot read {path.name}", [Problem("the file is empty", path.name)])
    sep = _sniff_sep(text)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, csv.Error) as e:
        raise SurveyDataError(f"Cannot read {path.name}", [
            Problem(f"not a well-formed CSV file: {e}", path.name,
                    fix="check that every row has as many fields as the header")]) from None
    header_rows = 1
    # Qualtrics: row 2 holds question texts, row 3 JSON import ids
    if len(df) >= 2 and any(str(v).startswith('{"ImportId"') for v in df.iloc[1].tolist()):
        df = df.iloc[2:].reset_index(drop=True)
        header_rows = 3
        fmt = "qualtrics"
    else:
        fmt = "csv"
    df.columns = [str(c).strip() for c in df.columns]
    return df, {"format": fmt, "encoding": encoding, "separator": sep, "decimal": "," if sep == ";" else ".",
                "header_rows": header_rows, "value_labels": {}}


def _is_missing(values: pd.Series) -> np.ndarray:
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        s = values.astype("string").str.strip().str.lower()
        return (s.isna() | s.isin(list(_MISSING))).to_numpy(bool)
    return values.isna().to_numpy(bool)


def _to_number(values: pd.Series, decimal: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    s = values.astype("string").str.strip().str.replace("\u00a0", "", regex=False)
    if decimal == ",":  # French exports: "4,5" and "1 234,5"
        s = s.str.replace(" ", "", regex=False).str.replace(",", ".", regex=False)
    return pd.to_numeric(s, errors="coerce").astype(float)


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
        problems.append(Problem("the column appears more than once in the header", file, column=c,
                                fix="rename or remove the duplicate column"))
    for c in df.columns:
        if c not in known:
            problems.append(Problem("unknown column: the instrument does not define it", file, column=c,
                                    fix="declare it under survey.extra_columns in study.yml, fix its name, or remove it"))
    required = [rid, *(c for c, req in instrument.id_columns.items() if req),
                *(q.id for q in instrument.questions if q.required), *design]
    for c in required:
        if c not in df.columns:
            problems.append(Problem("required column is missing", file, column=c,
                                    fix="add the column (check its spelling against the codebook)"))
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
            problems.append(Problem("respondent id is blank", file, row=int(i) + offset, column=rid,
                                    fix="give every respondent a unique id"))
        dup = ids.duplicated(keep=False) & ~miss
        for value, grp in ids[dup].groupby(ids[dup]):
            rows = ", ".join(str(int(i) + offset) for i in grp.index[:10])
            problems.append(Problem(f"respondent id {value!r} appears {len(grp)} times (rows {rows})", file,
                                    row=int(grp.index[0]) + offset, column=rid,
                                    fix="each respondent must appear once; remove duplicate submissions"))
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
        if q.required:
            for i in np.flatnonzero(miss)[:_MAX_ROW_PROBLEMS_PER_COLUMN]:
                problems.append(Problem("required answer is missing", file, row=int(i) + offset, column=q.id,
                                        fix="complete the answer or exclude the respondent explicitly"))
            if miss.sum() > _MAX_ROW_PROBLEMS_PER_COLUMN:
                problems.append(Problem(f"... {int(miss.sum()) - _MAX_ROW_PROBLEMS_PER_COLUMN} more missing answers",
                                        file, column=q.id))
        if q.numeric:
            num = _to_number(col, info.get("decimal", "."))
            bad = ~miss & num.isna().to_numpy()
            for i in np.flatnonzero(bad)[:_MAX_ROW_PROBLEMS_PER_COLUMN]:
                problems.append(Problem(f"{str(col.iloc[i])!r} is not a number", file, row=int(i) + offset,
                                        column=q.id, fix="enter a number (or leave blank when not answered)"))
            vals = num.to_numpy()
            lo = -np.inf if q.min is None else q.min
            hi = np.inf if q.max is None else q.max
            out_of = ~np.isnan(vals) & ((vals < lo) | (vals > hi))
            if q.type != "number":
                out_of |= ~np.isnan(vals) & (vals != np.round(vals))
            n_out = int(out_of.sum())
            for i in np.flatnonzero(out_of)[:_MAX_ROW_PROBLEMS_PER_COLUMN]:
                problems.append(Problem(f"{vals[i]:g} is outside the scale {q.min:g}..{q.max:g}" if q.type != "number"
                                        else f"{vals[i]:g} is outside {lo:g}..{hi:g}", file, row=int(i) + offset,
                                        column=q.id, fix="correct the value or leave it blank; check the codebook"))
            if n_out > _MAX_ROW_PROBLEMS_PER_COLUMN:
                problems.append(Problem(f"... {n_out - _MAX_ROW_PROBLEMS_PER_COLUMN} more out-of-scale values",
                                        file, column=q.id))
            out[q.id] = num.where(~pd.Series(miss, index=num.index), np.nan)
        elif q.type in ("single", "multi"):
            vl = labels.get(q.id) or {}
            if vl and pd.api.types.is_numeric_dtype(col):
                col = col.map(lambda v, vl=vl: vl.get(v, vl.get(int(v), v) if pd.notna(v) and float(v).is_integer() else v))
            s = col.astype("string").str.strip().mask(miss)
            allowed = set(q.options)
            if q.type == "single":
                bad = s.notna() & ~s.isin(list(allowed))
            else:
                bad = s.notna() & ~s.fillna("").str.split(";").map(lambda xs, ok=allowed: all(x.strip() in ok for x in xs))
            bad_idx = np.flatnonzero(bad.to_numpy(bool))
            for i in bad_idx[:_MAX_ROW_PROBLEMS_PER_COLUMN]:
                problems.append(Problem(f"{s.iloc[i]!r} is not an option", file, row=int(i) + offset, column=q.id,
                                        fix=f"use one of {', '.join(q.options)}"))
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
        ``.attrs["read"]`` records the format, encoding, separator and decimal mark used.

    Raises
    ------
    SurveyDataError
        Listing every problem (unknown columns, out-of-scale values, duplicate respondent ids,
        missing required answers, unreadable file), each with file, row, column and what to do.
    """
    path = Path(path)
    file = str(path.relative_to(display_root)) if display_root and path.is_relative_to(display_root) else path.name
    df, info = read_table(path)
    out, problems = validate_responses(df, instrument, info, file, extra_columns, (weight, strata, cluster))
    if weight and weight in df.columns and not any(p.column == weight for p in problems):
        w = _to_number(df[weight], info.get("decimal", "."))
        bad = w.isna() | (w <= 0)
        for i in np.flatnonzero(bad.to_numpy())[:_MAX_ROW_PROBLEMS_PER_COLUMN]:
            problems.append(Problem(f"weight {df[weight].iloc[i]!r} is not a positive number", file,
                                    row=int(i) + info["header_rows"] + 1, column=weight,
                                    fix="design weights must be positive numbers"))
        out[weight] = w
    if problems:
        raise SurveyDataError(f"The survey responses in {file} do not match the instrument {instrument.id!r}", problems)
    if info.get("format") == "qualtrics":
        dropped = [c for c in QUALTRICS_PERSONAL if c in df.columns]
        if dropped:
            warnings.warn(f"{file}: Qualtrics columns {dropped} identify people and were not loaded.",
                          ParcoursWarning, stacklevel=2)
    out.attrs["read"] = {k: v for k, v in info.items() if k != "value_labels"} | {"file": file}
    return out.reset_index(drop=True)
