"""The tidy test table shared by every friction test (private)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import AnalysisError, Problem, check_one_of
from . import _stats as st
from .correction import FAMILIES, correct

__all__ = [
    "TEST_COLUMNS",
    "EXTRA_COLUMNS",
    "ALL",
    "finish",
    "check_common",
    "empty_table",
    "in_order",
]

#: The first columns of every test table, in this order.
TEST_COLUMNS = [
    "touchpoint",
    "persona",
    "source",
    "test",
    "statistic",
    "p_value",
    "p_adj",
    "family",
    "effect_size",
    "ci_low",
    "ci_high",
    "n",
    "significant",
]
#: Further columns, in this order (see :func:`parcours_research.friction.test`).
EXTRA_COLUMNS = [
    "direction",
    "friction",
    "step",
    "group",
    "comparison",
    "method",
    "estimate",
    "reference",
    "n_ref",
    "effect_measure",
    "std_effect",
    "std_measure",
    "std_ci_low",
    "std_ci_high",
    "odds_ratio",
    "or_ci_low",
    "or_ci_high",
    "mde",
    "mde_std",
    "df",
    "df2",
    "alternative",
    "correction",
]
#: The persona label of rows about everyone.
ALL = "all"

_STRING = [
    "touchpoint",
    "persona",
    "source",
    "test",
    "family",
    "direction",
    "step",
    "group",
    "comparison",
    "method",
    "effect_measure",
    "std_measure",
    "alternative",
    "correction",
]
_FLOAT = [
    "statistic",
    "p_value",
    "p_adj",
    "effect_size",
    "ci_low",
    "ci_high",
    "estimate",
    "reference",
    "std_effect",
    "std_ci_low",
    "std_ci_high",
    "odds_ratio",
    "or_ci_low",
    "or_ci_high",
    "mde",
    "mde_std",
    "df",
    "df2",
    "n_ref",
]


def check_common(
    alternative: str, confidence: float, alpha: float, power: float, correction: str, family: str
) -> None:
    """The checks every ``test_*`` function makes on its common arguments."""
    from .correction import CORRECTIONS

    check_one_of("alternative", alternative, st.ALTERNATIVES)
    check_one_of("correction", correction, list(CORRECTIONS))
    check_one_of("family", family, FAMILIES)
    problems = []
    for name, v in (("confidence", confidence), ("alpha", alpha), ("power", power)):
        if not (isinstance(v, float | int) and not isinstance(v, bool) and 0 < v < 1):
            problems.append(Problem(f"{name}={v!r} must be a number between 0 and 1"))
    if problems:
        raise AnalysisError("Invalid arguments.", problems)


def in_order(values: list, order: list) -> list:
    """``values`` in ``order`` first, then the others as they come."""
    return [v for v in order if v in values] + [v for v in values if v not in order]


def empty_table() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="float64") for c in TEST_COLUMNS + EXTRA_COLUMNS})
    for c in _STRING:
        out[c] = out[c].astype("string")
    out["n"] = out["n"].astype("Int64")
    out["significant"] = out["significant"].astype(bool)
    out["friction"] = out["friction"].astype(bool)
    return out


BY = "__by__"


def by_name(by: str | None) -> str | None:
    """The output column holding the levels of ``by=``: its own name unless it clashes."""
    if by is None:
        return None
    return by if by not in TEST_COLUMNS + EXTRA_COLUMNS else "by"


def finish(
    rows: pd.DataFrame,
    *,
    worse_sign,
    alternative: str,
    correction: str,
    alpha: float,
    family: str,
    by: str | None = None,
) -> pd.DataFrame:
    """Add direction, families, corrected p-values and significance; order the columns.

    ``worse_sign`` (scalar or per row): the sign of ``effect_size`` that means friction
    (-1 when lower is worse). With ``by``, ``rows`` has a ``__by__`` column of levels: it
    becomes the first column (named after ``by``) and families are within levels.
    """
    bcol = by_name(by)
    if rows is None or len(rows) == 0:
        out = empty_table()
        if bcol:
            out.insert(0, bcol, pd.Series(dtype="string"))
        return out
    out = rows.reset_index(drop=True).copy()
    for c in TEST_COLUMNS + EXTRA_COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    sign = np.broadcast_to(np.asarray(worse_sign, dtype=float), (len(out),))
    eff = pd.to_numeric(out["effect_size"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    prod = eff * sign
    out["direction"] = np.where(prod > 0, "worse", np.where(prod < 0, "better", "none"))
    out["alternative"] = alternative
    for c in _FLOAT:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    out["n"] = pd.to_numeric(out["n"], errors="coerce").round().astype("Int64")
    for c in _STRING:
        out[c] = out[c].astype("string")
    from .correction import family_names

    out["family"] = family_names(out, family)
    if bcol:
        out[bcol] = out.pop(BY).astype("string")
        out["family"] = (out[bcol] + "|" + out["family"]).astype("string")
    out = correct(out, correction=correction, alpha=alpha)
    return out[([bcol] if bcol else []) + TEST_COLUMNS + EXTRA_COLUMNS]
