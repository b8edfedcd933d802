"""Missing-value codes of SPSS, Stata and CSV exports (``missing_codes:`` in study.yml).

Survey tools code "don't know" and "refused" as numbers outside the scale (98 = "NSP",
99 = "Refus"). SPSS can declare them *user-missing* (those are read as blank); when they are not
declared they are answers to the reader, and out of the scale. ``missing_codes`` declares them::

    survey:
      missing_codes: [98, 99]                  # every question
      missing_codes: {default: [98, 99], q3: [7], age: []}

``default`` applies to every question that is not free text; a column listed by name uses its
own list instead (``age: []`` exempts a column). A default code that is a valid answer of a question (inside its
scale, or one of its options) is refused: list that column with its own codes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import Problem

__all__ = ["parse_missing_codes", "apply_missing_codes", "MissingCodes"]

#: ``{"default": (98, 99), "q3": (7,)}``: codes per column, ``default`` for the others.
MissingCodes = Mapping[str, tuple]

_KEY = "survey.missing_codes"
_FIX = "write `missing_codes: [98, 99]` or `missing_codes: {default: [98, 99], q3: [7]}`"


def _codes(value, key: str, problems: list[Problem], file: str) -> tuple:
    if not isinstance(value, list | tuple):
        value = [value]
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            problems.append(
                Problem(f"{v!r} is not a code (a number or a text)", file, column=key, fix=_FIX)
            )
        else:
            out.append(v)
    return tuple(out)


def parse_missing_codes(raw, file: str = "study.yml") -> tuple[dict[str, tuple], list[Problem]]:
    """Read ``survey.missing_codes`` from study.yml.

    Returns
    -------
    (codes, problems)
        ``{"default": (...), column: (...)}`` (empty when not given) and the problems found.
    """
    problems: list[Problem] = []
    if raw is None:
        return {}, problems
    if isinstance(raw, Mapping):
        codes = {str(k): _codes(v, f"{_KEY}.{k}", problems, file) for k, v in raw.items()}
    elif isinstance(raw, list | tuple | int | float | str) and not isinstance(raw, bool):
        codes = {"default": _codes(raw, _KEY, problems, file)}
    else:
        problems.append(
            Problem(
                f"must be a list of codes or a mapping, not {raw!r}", file, column=_KEY, fix=_FIX
            )
        )
        codes = {}
    return codes, problems


def check_against_instrument(codes: Mapping, instrument, file: str = "study.yml") -> list[Problem]:
    """Columns of ``missing_codes`` the instrument does not define, and default codes that are
    valid answers of a question."""
    import difflib

    problems = []
    qs = {q.id: q for q in instrument.questions}
    for col in codes:
        if col != "default" and col not in qs:
            near = difflib.get_close_matches(col, sorted(qs), n=1)
            problems.append(
                Problem(
                    f"unknown question {col!r}",
                    file,
                    column=f"{_KEY}.{col}",
                    fix=(f"did you mean {near[0]!r}? " if near else "")
                    + "use `default` or a question id of the instrument",
                )
            )
    for code in codes.get("default", ()):
        for q in instrument.questions:
            if q.id not in codes and _is_valid_answer(code, q):
                problems.append(
                    Problem(
                        f"the default missing code {code!r} is a valid answer of question {q.id!r}",
                        file,
                        column=f"{_KEY}.default",
                        fix=f"give {q.id!r} its own list (`{q.id}: []` when it has no missing codes)",
                    )
                )
    return problems


def _is_valid_answer(code, q) -> bool:
    if q.options and str(code) in {str(o) for o in q.options}:
        return True
    if not q.numeric or isinstance(code, str):
        return False
    lo = -np.inf if q.min is None else q.min
    hi = np.inf if q.max is None else q.max
    return lo <= float(code) <= hi


def _matches(col: pd.Series, codes: tuple) -> np.ndarray:
    nums = [float(c) for c in codes if not isinstance(c, str)]
    texts = {str(c).strip() for c in codes}
    if pd.api.types.is_numeric_dtype(col):
        return col.isin(nums).to_numpy(bool)
    s = col.astype("string").str.strip()
    hit = s.isin(list(texts)).fillna(False).to_numpy(bool)
    if nums:
        as_num = pd.to_numeric(s.str.replace(",", ".", regex=False), errors="coerce")
        hit = hit | as_num.isin(nums).fillna(False).to_numpy(bool)
    return hit


def apply_missing_codes(df: pd.DataFrame, codes: Mapping, columns) -> tuple[pd.DataFrame, dict]:
    """Blank the cells that hold a missing code: the ``default`` codes in ``columns`` (the
    questions that are not free text), a column's own codes in that column.

    Returns
    -------
    (table, counts)
        A copy of ``df`` with those cells missing, and ``{column: {code: n}}`` of the cells
        blanked (columns with none left out).
    """
    if not codes:
        return df, {}
    out, counts = df.copy(), {}
    named = [c for c in codes if c != "default"]
    for c in dict.fromkeys([*columns, *named]):
        col_codes = codes.get(c, codes.get("default", ()))
        if c not in out.columns or not col_codes:
            continue
        col = out[c]
        per = {}
        for code in col_codes:
            n = int(_matches(col, (code,)).sum())
            if n:
                per[code] = n
        if per:
            mask = _matches(col, col_codes)
            out[c] = col.mask(pd.Series(mask, index=col.index))
            counts[c] = per
    return out, counts
