"""Survey responses in an Excel workbook (``.xlsx``), read without silent loss.

The first sheet is read (or the one named). What a spreadsheet hides is made explicit:

- the header is the first row with the most filled cells among the first 20 rows, so a title
  above it (``Enquête satisfaction 2026`` in A1, a blank row) is skipped; row numbers in errors
  are the sheet's own row numbers;
- merged cells below the header (``B5:B7`` holds one value for three respondents) are an error
  naming the sheet and the range: unmerged, each row would silently get a blank;
- a formula whose result was never saved (a workbook written by a script and never opened in
  Excel) is an error naming the cell, not a blank;
- numbers stored as text (``'4``, Excel's green triangle) are read as the numbers they spell,
  like every other cell: the table is text and is typed by the instrument, as a CSV is. Whole
  numbers stored as numbers read without ``.0``.

The workbook is opened only after the zip container was checked
(:func:`parcours_research._files.check_zip`, in :func:`~.io.read_table`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import Problem, SurveyDataError

__all__ = ["read_xlsx_table"]

#: Rows looked at to find the header.
HEADER_SEARCH_ROWS = 20


def _text(value) -> str:
    """A cell as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _column_letter(j: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(j)


def _open(path: Path, name: str, sheet: str | None):
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - openpyxl is a dependency
        raise SurveyDataError(
            f"Cannot read {name}",
            [Problem("reading Excel workbooks needs openpyxl", name, fix="pip install openpyxl")],
        ) from None
    try:
        values = openpyxl.load_workbook(path, data_only=True)
        formulas = openpyxl.load_workbook(path, data_only=False)
    except Exception as e:  # noqa: BLE001 - a damaged workbook, reported with its name
        raise SurveyDataError(
            f"Cannot read {name}",
            [
                Problem(
                    f"not a readable Excel workbook ({type(e).__name__})",
                    name,
                    fix="save it again from Excel, or export the sheet as CSV UTF-8",
                )
            ],
        ) from None
    names = values.sheetnames
    chosen = sheet if sheet is not None else names[0]
    if chosen not in names:
        raise SurveyDataError(
            f"Cannot read {name}",
            [
                Problem(
                    f"no sheet {chosen!r}; the workbook has {names}",
                    name,
                    fix="name one of its sheets",
                )
            ],
        )
    return values[chosen], formulas[chosen]


def _header_row(ws) -> int:
    """The 1-based row of the header: most filled cells among the first rows."""
    best, best_n = 1, -1
    for r, row in enumerate(ws.iter_rows(max_row=HEADER_SEARCH_ROWS, values_only=True), 1):
        n = sum(v is not None and str(v).strip() != "" for v in row)
        if n > best_n:
            best, best_n = r, n
    return best


def _merged_problems(ws, header: int, label: str) -> list[Problem]:
    out = []
    for rng in ws.merged_cells.ranges:
        if rng.max_row < header:  # a title above the header
            continue
        where = "the header" if rng.min_row <= header else "the answers"
        out.append(
            Problem(
                f"cells {rng.coord} of sheet {ws.title!r} are merged in {where}: only "
                f"{rng.start_cell.coordinate} holds a value, the other cells would be read as blank",
                label,
                row=rng.min_row,
                fix="unmerge them (Home > Merge & Center > Unmerge Cells) and fill every cell, "
                "or export the sheet as CSV UTF-8 after filling them",
            )
        )
    return out


def _formula_problems(ws_values, ws_formulas, header: int, label: str) -> list[Problem]:
    out = []
    for row_v, row_f in zip(
        ws_values.iter_rows(min_row=header), ws_formulas.iter_rows(min_row=header)
    ):
        for cv, cf in zip(row_v, row_f):
            if cv.value is None and isinstance(cf.value, str) and cf.value.startswith("="):
                out.append(
                    Problem(
                        f"cell {cf.coordinate} of sheet {ws_values.title!r} holds a formula "
                        f"({cf.value[:40]}) whose result was never saved",
                        label,
                        row=cf.row,
                        fix="open the workbook in Excel or LibreOffice and save it (results are "
                        "computed then), or paste the values",
                    )
                )
    return out[:20]


def read_xlsx_table(path: str | Path, name: str, *, sheet: str | None = None):
    """Read the responses of a workbook's sheet as text cells (see the module's rules).

    Returns
    -------
    (DataFrame, dict)
        Every cell a string (blank when empty); the dict as :func:`~.io.read_table` gives it:
        ``format="xlsx", sheet, header_rows`` (the header's row number), ``rows`` (the sheet row
        of each table row), ``encoding=None, separator=None, decimal="."``.

    Raises
    ------
    SurveyDataError
        Merged cells in the header or the answers, formulas without a saved result, a missing
        sheet, an empty sheet, a damaged workbook; each naming the sheet and the cells.
    """
    ws, wf = _open(Path(path), name, sheet)
    header_at = _header_row(ws)
    rows = [[_text(v) for v in r] for r in ws.iter_rows(min_row=header_at, values_only=True)]
    if not rows or not any(c.strip() for c in rows[0]):
        raise SurveyDataError(
            f"Cannot read {name}",
            [
                Problem(
                    f"sheet {ws.title!r} is empty",
                    name,
                    fix="name the sheet that holds the responses",
                )
            ],
        )
    problems = _merged_problems(ws, header_at, name) + _formula_problems(ws, wf, header_at, name)
    if problems:
        raise SurveyDataError(f"Cannot read {name}", problems)
    header = [c.strip() for c in rows[0]]
    while header and header[-1] == "":  # formatted but empty columns past the last one
        header.pop()
    body, row_no = [], []
    for k, r in enumerate(rows[1:], header_at + 1):
        extra = [j for j, c in enumerate(r[len(header) :], len(header)) if c.strip()]
        if extra:
            problems.append(
                Problem(
                    f"cell {_column_letter(extra[0] + 1)}{k} of sheet {ws.title!r} has a value but "
                    "its column has no name in the header",
                    name,
                    row=k,
                    fix="give the column a name in the header row, or delete the value",
                )
            )
        if any(c.strip() for c in r):
            body.append((r + [""] * len(header))[: len(header)])
            row_no.append(k)
    if problems:
        raise SurveyDataError(f"Cannot read {name}", problems[:20])
    df = (
        pd.DataFrame(body, columns=header, dtype="string")
        if body
        else pd.DataFrame({c: pd.Series(dtype="string") for c in header})
    )
    info = {
        "format": "xlsx",
        "sheet": ws.title,
        "encoding": None,
        "separator": None,
        "decimal": ".",
        "header_rows": header_at,
        "value_labels": {},
        "rows": np.asarray(row_no, dtype=int),
        "blank_rows": len(rows) - 1 - len(body),
    }
    return df, info
