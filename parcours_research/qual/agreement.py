"""Agreement between coders: Krippendorff's alpha from the coincidence matrix.

Krippendorff's alpha (Krippendorff 2011, *Computing Krippendorff's Alpha-Reliability*) is
``1 - D_o / D_e``: observed over expected disagreement, computed from the coincidence matrix
of values that coders gave to the same units. It accepts any number of coders, missing
values, and nominal, ordinal, interval or ratio values. 1 is perfect agreement, 0 is what
chance gives; Krippendorff suggests relying on variables with alpha >= .800 and drawing
tentative conclusions only from .667 up.

Computation (for units ``u`` with ``m_u >= 2`` values):

- coincidences ``o_ck = sum_u (n_uc * n_uk - [c == k] * n_uc) / (m_u - 1)`` where ``n_uc``
  counts the value ``c`` in unit ``u``; ``n_c = sum_k o_ck``; ``n = sum_c n_c``;
- ``alpha = 1 - (n - 1) * sum_ck o_ck d2_ck / sum_ck n_c n_k d2_ck``, with ``d2_ck`` the
  squared difference at the scale level (level of measurement): nominal ``[c != k]``; ordinal
  ``(sum_{g=c..k} n_g - (n_c + n_k) / 2)^2``; interval ``(c - k)^2``; ratio
  ``((c - k) / (c + k))^2``.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._compat import deprecated_args, warn_deprecated
from ..errors import AnalysisError, ParcoursWarning, Problem, check_one_of

__all__ = [
    "SCALE_LEVELS",
    "krippendorff_alpha",
    "coincidence_matrix",
    "agreement",
    "Agreement",
    "code_presence",
]

#: Levels of measurement (``scale_level=``) Krippendorff's alpha accepts.
SCALE_LEVELS = ("nominal", "ordinal", "interval", "ratio")


def __getattr__(name: str):
    if name == "LEVELS":  # the old name of SCALE_LEVELS, kept for one release
        warn_deprecated("pr.qual.agreement", "LEVELS", "SCALE_LEVELS")
        return SCALE_LEVELS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _counts(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values (sorted) and the unit-by-value count matrix of a coders x units array."""
    values = np.unique(data[~np.isnan(data)])
    counts = np.zeros((data.shape[1], len(values)))
    for j, v in enumerate(values):
        counts[:, j] = np.sum(data == v, axis=0)
    return values, counts


def coincidence_matrix(data) -> pd.DataFrame:
    """The coincidence matrix ``o_ck`` of a coders x units reliability array.

    Parameters
    ----------
    data : array-like, shape (coders, units)
        Numeric values, ``NaN`` where a coder did not code a unit.

    Returns
    -------
    DataFrame
        Square, indexed by the values; units with fewer than two values are left out.
    """
    arr = np.asarray(data, dtype=float)
    if arr.ndim != 2:
        raise AnalysisError("reliability data must be a 2-D array of coders x units.")
    values, counts = _counts(arr)
    m = counts.sum(axis=1)
    keep = m >= 2
    counts, m = counts[keep], m[keep]
    o = np.einsum("uc,uk->ck", counts / (m - 1)[:, None], counts)
    o -= np.diag((counts / (m - 1)[:, None]).sum(axis=0))
    return pd.DataFrame(o, index=values, columns=values)


def _delta2(values: np.ndarray, n_c: np.ndarray, scale_level: str) -> np.ndarray:
    c = values[:, None]
    k = values[None, :]
    if scale_level == "nominal":
        return (c != k).astype(float)
    if scale_level == "interval":
        return (c - k) ** 2
    if scale_level == "ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            d = ((c - k) / (c + k)) ** 2
        return np.nan_to_num(d, nan=0.0)
    # ordinal: ranks of the values in sorted order
    cum = np.concatenate([[0.0], np.cumsum(n_c)])
    idx = np.arange(len(values))
    lo = np.minimum(idx[:, None], idx[None, :])
    hi = np.maximum(idx[:, None], idx[None, :])
    between = cum[hi + 1] - cum[lo]  # sum of n_g for g from lo to hi inclusive
    return (between - (n_c[:, None] + n_c[None, :]) / 2) ** 2


@deprecated_args(renamed={"level": "scale_level"}, positional=("scale_level",))
def krippendorff_alpha(data, *, scale_level: str = "nominal") -> float:
    """Krippendorff's alpha of a coders x units reliability array.

    Parameters
    ----------
    data : array-like, shape (coders, units)
        Numeric values (categories coded as numbers for nominal data), ``NaN`` for missing.
    scale_level : {"nominal", "ordinal", "interval", "ratio"}, default "nominal"
        Level of measurement of the values (``level=`` before 0.2, deprecated).

    Returns
    -------
    float
        Alpha; ``NaN`` (with a warning) when there is no expected disagreement (every
        pairable value is the same) or no unit coded twice.

    Examples
    --------
    Krippendorff (2011), section C, four coders and twelve units with missing values:

    >>> import numpy as np
    >>> nan = np.nan
    >>> data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    ...         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    ...         [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    ...         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
    >>> round(krippendorff_alpha(data, scale_level="nominal"), 3)
    0.743
    """
    check_one_of("scale_level", scale_level, SCALE_LEVELS)
    o = coincidence_matrix(data)
    values = o.index.to_numpy(dtype=float)
    o = o.to_numpy()
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n <= 1:
        warnings.warn(
            "Krippendorff's alpha: no unit was coded by two coders; alpha is undefined.",
            ParcoursWarning,
            stacklevel=3,
        )
        return float("nan")
    d2 = _delta2(values, n_c, scale_level)
    expected = float(n_c @ d2 @ n_c)
    if expected == 0:
        warnings.warn(
            "Krippendorff's alpha: every pairable value is the same, so there is no expected "
            "disagreement; alpha is undefined.",
            ParcoursWarning,
            stacklevel=3,
        )
        return float("nan")
    observed = float((o * d2).sum())
    return float(1.0 - (n - 1) * observed / expected)


@dataclass(frozen=True)
class Agreement:
    """Krippendorff's alpha between coders (see :func:`agreement`).

    Attributes
    ----------
    summary : DataFrame
        One row per group: the ``by`` columns, then ``value, scale_level, alpha, n_units,
        n_units_single, n_coders, n_pairable``.
    coincidences : dict
        Coincidence matrix (DataFrame) per group (key ``None`` without ``by``).
    """

    summary: pd.DataFrame
    coincidences: dict = field(default_factory=dict, repr=False)

    @property
    def alpha(self) -> float:
        """Alpha of the single group (raises when ``by`` made several)."""
        if len(self.summary) != 1:
            raise AnalysisError("agreement was computed per group; read .summary for every alpha.")
        return float(self.summary["alpha"].iloc[0])

    def __repr__(self) -> str:
        s = self.summary
        if len(s) == 1:
            r = s.iloc[0]
            return (
                f"Agreement(value={r['value']!r}, scale_level={r['scale_level']!r}, "
                f"alpha={r['alpha']:.3f}, "
                f"units={int(r['n_units'])}, coders={int(r['n_coders'])})"
            )
        return (
            f"Agreement({len(s)} groups, scale_level={s['scale_level'].iloc[0]!r})\n"
            f"{s.to_string(index=False)}"
        )

    def _repr_html_(self) -> str:
        return (
            f"<p><b>Krippendorff's alpha</b> "
            f"({html.escape(str(self.summary['scale_level'].iloc[0]))})</p>"
            + self.summary.to_html(index=False, float_format=lambda x: f"{x:.3f}")
        )


def code_presence(
    data: pd.DataFrame, *, unit: str = "excerpt_id", coder: str = "coder", code: str = "code"
) -> pd.DataFrame:
    """Whether each coder applied each code to each unit they coded (for code agreement).

    A coder may apply several codes to one excerpt, so codes are not one nominal value per
    coder and unit. The usual way out is one binary variable per code: 1 when the coder
    applied it to the unit, 0 when they coded the unit with other codes.

    Returns
    -------
    DataFrame
        Columns ``<unit>, <coder>, <code>, present`` (0/1), for every unit coded by at least
        two coders; pass it to ``agreement(..., value="present", by=code)``.
    """
    _need(data, [unit, coder, code])
    d = data.dropna(subset=[unit, coder])
    n_coders = d.groupby(unit)[coder].nunique()
    d = d[d[unit].isin(n_coders[n_coders >= 2].index)]
    seen = d[[unit, coder]].drop_duplicates()
    codes = pd.DataFrame({code: pd.unique(d[code].dropna())})
    grid = seen.merge(codes, how="cross")
    applied = d.dropna(subset=[code])[[unit, coder, code]].drop_duplicates().assign(present=1)
    out = grid.merge(applied, on=[unit, coder, code], how="left")
    out["present"] = out["present"].fillna(0).astype(int)
    return out.reset_index(drop=True)


def _need(data: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise AnalysisError(
            f"column(s) {missing} are not in the data; it has {list(data.columns)}."
        )


@deprecated_args(renamed={"level": "scale_level"})
def agreement(
    data: pd.DataFrame,
    *,
    unit: str = "excerpt_id",
    coder: str = "coder",
    value: str = "valence",
    scale_level: str = "nominal",
    by: str | Sequence[str] | None = None,
) -> Agreement:
    """Krippendorff's alpha between coders, from long-format excerpts.

    Parameters
    ----------
    data : DataFrame
        One row per unit and coder (e.g. the excerpts table).
    unit : str, default "excerpt_id"
        The units coded (excerpts coded by several coders share it).
    coder : str, default "coder"
    value : str, default "valence"
        The value each coder gave the unit: numbers, or categories for nominal data (an
        ordered Categorical may be used for ordinal data). For codes, where a coder may give
        several per excerpt, use :func:`code_presence` and ``value="present", by="code"``.
    scale_level : {"nominal", "ordinal", "interval", "ratio"}, default "nominal"
        Level of measurement of ``value``; valence on -2..+2 is ``"interval"`` or
        ``"ordinal"`` (``level=`` before 0.2, deprecated).
    by : str or list of str, optional
        Compute one alpha per group (e.g. per ``touchpoint`` or per ``code``).

    Returns
    -------
    Agreement
        ``.alpha`` (one group), ``.summary`` with columns ``<by>..., value, scale_level, alpha,
        n_units`` (units with at least two values), ``n_units_single`` (units with one value,
        left out), ``n_coders``, ``n_pairable`` (values in the coincidence matrix).

    Raises
    ------
    AnalysisError
        Missing columns, or a coder giving two different values to one unit (every case listed).
    """
    check_one_of("scale_level", scale_level, SCALE_LEVELS)
    by_cols = [by] if isinstance(by, str) else list(by or [])
    _need(data, [unit, coder, value, *by_cols])
    d = data[[*by_cols, unit, coder, value]].dropna(subset=[unit, coder, value])
    d = _one_value_per_coder(d, [*by_cols, unit, coder], value)
    d = d.assign(_v=_numeric_values(d[value], scale_level, value))
    rows, mats = [], {}
    groups = d.groupby(by_cols, dropna=False, sort=True) if by_cols else [((), d)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        row, mats[key if by_cols else None] = _group_alpha(g, unit, coder, scale_level)
        rows.append({**dict(zip(by_cols, key)), "value": value, "scale_level": scale_level, **row})
    summary = pd.DataFrame(rows)
    undefined = summary[summary["alpha"].isna()]
    if len(undefined):
        warnings.warn(
            f"Krippendorff's alpha is undefined for {len(undefined)} group(s) (no unit coded by two "
            "coders, or a single value used throughout).",
            ParcoursWarning,
            stacklevel=3,
        )
    return Agreement(summary, mats)


def _one_value_per_coder(d: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """One value per (unit, coder): identical repeats collapse, conflicts are errors."""
    nun = d.groupby(keys, dropna=False)[value].nunique()
    conflicts = nun[nun > 1]
    if len(conflicts):
        problems = [
            Problem(
                f"coder {k[-1]!r} gave several values of {value!r} to unit {k[-2]!r}",
                column=value,
                fix="keep one value per coder and unit, or use code_presence()",
            )
            for k in conflicts.index[:200]
        ]
        raise AnalysisError("agreement needs one value per coder and unit", problems)
    return d.drop_duplicates(subset=keys)


def _numeric_values(col: pd.Series, scale_level: str, value: str) -> np.ndarray:
    """The values as numbers: category codes, factorised labels (nominal) or numbers."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        if scale_level != "nominal" and not col.cat.ordered:
            raise AnalysisError(
                f"scale_level={scale_level!r} needs numbers or an ordered Categorical in {value!r}."
            )
        numeric = pd.Series(col.cat.codes.astype(float), index=col.index)
    elif scale_level == "nominal":
        numeric = pd.Series(
            pd.factorize(col.astype("string"), sort=True)[0].astype(float), index=col.index
        )
    else:
        numeric = pd.to_numeric(col, errors="coerce")
        bad = col[numeric.isna()]
        if len(bad):
            raise AnalysisError(
                f"scale_level={scale_level!r} needs numeric values in {value!r}; "
                f"got {bad.unique()[:5].tolist()}."
            )
    return numeric.astype(float).to_numpy()


def _group_alpha(g: pd.DataFrame, unit: str, coder: str, scale_level: str):
    """Alpha and counts of one group (a summary row without its labels), and its coincidence
    matrix."""
    arr = g.pivot(index=coder, columns=unit, values="_v").to_numpy(dtype=float)
    m = (~np.isnan(arr)).sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParcoursWarning)
        alpha = krippendorff_alpha(arr, scale_level=scale_level) if (m >= 2).any() else np.nan
    o = coincidence_matrix(arr)
    row = {
        "alpha": float(alpha),
        "n_units": int((m >= 2).sum()),
        "n_units_single": int((m == 1).sum()),
        "n_coders": int(g[coder].nunique()),
        "n_pairable": float(o.to_numpy().sum()),
    }
    return row, o
