"""Representativeness weights: raking survey respondents to known population margins.

>>> import parcours_research as pr
>>> res = pr.weighting.rake(responses, margins={"persona": {...}, "region": {...}})  # doctest: +SKIP
>>> responses["weight"] = res.weights                                                # doctest: +SKIP

Margins come from ``study.yml`` (``study.margins``) or from data, e.g. the real mix of personas
among active customers in the digital traces (:func:`margins_from`).

Raking is iterative proportional fitting (Deming & Stephan 1940): each margin in turn, the
weights of every level are multiplied by target total / current total, until every margin is
met. Bounded raking clips the adjustment factor ``g = w / w0`` to ``bounds`` inside every step
and trimming caps the weights at multiples of the mean weight the same way, so the result
meets the margins *and* the limits when both can hold. The engine is a few vectorised lines of
numpy (written here rather than calling ``svy``'s raking because svy only *checks* bounds after
raking and does not report iterations); the tests compare it with a plain IPF and with svy.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._calibration import CAL_METHODS, calibrate_g, indicator_matrix
from ._design import check_frame, kish, weight_problems
from .errors import ParcoursWarning, Problem, WeightingError, check_one_of

__all__ = [
    "rake",
    "RakeResult",
    "calibrate",
    "post_stratify",
    "CalibrationResult",
    "study_weights",
    "StudyWeights",
    "WEIGHT_RULES",
    "margins_from",
    "kish_design_effect",
    "effective_n",
]


# ---------------------------------------------------------------------------------------------
# Kish
# ---------------------------------------------------------------------------------------------
def kish_design_effect(weights) -> float:
    """Kish's design effect due to unequal weights, ``n * sum(w^2) / sum(w)^2``.

    Kish (1965), *Survey Sampling*, eq. 11.7.6. Equal weights give 1.
    """
    return kish(np.asarray(weights, dtype=float))[0]


def effective_n(weights) -> float:
    """Kish's effective sample size, ``sum(w)^2 / sum(w^2)`` (``n / deff``)."""
    return kish(np.asarray(weights, dtype=float))[1]


# ---------------------------------------------------------------------------------------------
# margins
# ---------------------------------------------------------------------------------------------
def margins_from(
    data: pd.DataFrame,
    columns: str | Sequence[str],
    *,
    weight: str | None = None,
    dropna: bool = False,
) -> dict[str, dict]:
    """Population margins ``{column: {level: share}}`` computed from a table.

    Use it on a frame that describes the population, e.g. one row per active customer built
    from the digital traces or the CRM, to rake the survey to the real mix of personas or
    channels.

    Parameters
    ----------
    data : DataFrame
        One row per population unit.
    columns : str or list of str
        The margin columns.
    weight : str, optional
        A column of unit weights (counts, or sampling weights of the population file).
    dropna : bool, default False
        Leave out rows with a missing value in a margin column (per column). By default they
        raise, since a share computed without them may not describe the population.

    Returns
    -------
    dict
        ``{column: {level: share}}``, shares summing to 1, levels in sorted order.

    Raises
    ------
    WeightingError
        A column is missing, has missing values (unless ``dropna``), or weights are invalid.
    """
    where = "margins_from"
    data = check_frame(data, where, WeightingError)
    cols = [columns] if isinstance(columns, str) else list(columns)
    problems = [
        Problem(f"column {c!r} is not in the data", column=str(c), fix="pass a column of the data")
        for c in cols
        if c not in data.columns
    ]
    if weight is not None:
        if weight not in data.columns:
            problems.append(
                Problem(
                    f"weight column {weight!r} is not in the data",
                    column=weight,
                    fix="pass a column of the data or weight=None",
                )
            )
        else:
            problems += weight_problems(data[weight], weight, where)
    for c in cols:
        if c in data.columns and not dropna:
            n_na = int(data[c].isna().sum())
            if n_na:
                problems.append(
                    Problem(
                        f"{n_na} row(s) have no value in margin column {c!r}",
                        column=str(c),
                        fix="fill them with a level of their own, or pass dropna=True",
                    )
                )
    if problems:
        raise WeightingError("Cannot compute margins from the data.", problems)
    w = (
        pd.Series(1.0, index=data.index)
        if weight is None
        else pd.to_numeric(data[weight]).astype(float)
    )
    out: dict[str, dict] = {}
    for c in cols:
        ok = data[c].notna()
        totals = w[ok].groupby(data.loc[ok, c], sort=True, observed=True).sum()
        s = float(totals.sum())
        if s <= 0:
            raise WeightingError(
                "Cannot compute margins from the data.",
                [Problem(f"margin column {c!r} has no weighted row", column=str(c))],
            )
        out[str(c)] = {_plain(k): float(v) / s for k, v in totals.items()}
    return out


def _plain(value):
    """numpy scalars -> Python scalars (so margins print and serialise cleanly)."""
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class RakeResult:
    """Raked weights and how they were obtained.

    Attributes
    ----------
    weights : Series
        The raked weights, aligned with the rows (index) of ``data``, named ``"weight"``. They
        sum to ``total`` (the sum of the starting weights, or ``n`` without them).
    converged : bool
        Whether every margin was met within ``tol`` (and the bounds and trimming held).
    n_iter : int
        Full raking sweeps (all margins once) performed.
    max_error : float
        Largest absolute difference between a weighted share and its target after the last
        sweep.
    summary : DataFrame
        One row per margin level: ``column, level, n, sample_share, target_share,
        weighted_share`` (``n`` respondents in the level; ``sample_share`` unweighted;
        ``weighted_share`` with the raked weights).
    start_weights : Series
        The starting (design) weights rescaled to ``total``.
    bounds, trim : tuple or None
        The limits used.
    """

    weights: pd.Series
    converged: bool
    n_iter: int
    max_error: float
    summary: pd.DataFrame
    start_weights: pd.Series
    tol: float
    bounds: tuple | None = None
    trim: tuple | None = None
    margins: dict = field(default_factory=dict)

    @property
    def design_effect(self) -> float:
        """Kish's design effect of the raked weights, ``n sum(w^2) / sum(w)^2``."""
        return kish(self.weights.to_numpy())[0]

    @property
    def n_eff(self) -> float:
        """Kish's effective sample size of the raked weights."""
        return kish(self.weights.to_numpy())[1]

    @property
    def adjustment(self) -> pd.Series:
        """The adjustment factors ``g = weight / start weight``."""
        return (self.weights / self.start_weights).rename("g")

    def weight_stats(self) -> pd.DataFrame:
        """Distribution of the weights as a two-column table (``statistic, value``)."""
        w = self.weights.to_numpy()
        g = self.adjustment.to_numpy()
        rows = [
            ("n", float(w.size)),
            ("sum", float(w.sum())),
            ("min", float(w.min())),
            ("max", float(w.max())),
            ("max / min", float(w.max() / w.min()) if w.min() > 0 else float("inf")),
            ("min g", float(g.min())),
            ("max g", float(g.max())),
            ("design_effect", self.design_effect),
            ("n_eff", self.n_eff),
        ]
        return pd.DataFrame(rows, columns=["statistic", "value"])

    def _lines(self) -> list[str]:
        w = self.weights.to_numpy()
        cols = self.summary.groupby("column", sort=False).size()
        margins = ", ".join(f"{c} ({k} levels)" for c, k in cols.items())
        if self.converged:
            status = f"converged in {self.n_iter} iterations (max share error < {self.tol:g})"
        else:
            status = (
                f"DID NOT CONVERGE after {self.n_iter} iterations "
                f"(max share error {self.max_error:.2g})"
            )
        limits = []
        if self.bounds is not None:
            limits.append(f"g = w / w0 within {_pair(self.bounds)}")
        if self.trim is not None:
            limits.append(f"weights within {_pair(self.trim)} x mean weight")
        lines = [
            f"RakeResult: {w.size:,} respondents raked on {margins}",
            status + (f"; {', '.join(limits)}" if limits else ""),
            f"weights: min {w.min():.3f}, max {w.max():.3f}, sum {w.sum():,.1f}; "
            f"Kish design effect {self.design_effect:.3f}, effective n {self.n_eff:,.1f}",
        ]
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        head = "<br>".join(html.escape(line) for line in self._lines())
        table = self.summary.to_html(index=False, float_format=lambda x: f"{x:.4f}")
        return f"<p>{head}</p>{table}"


# ---------------------------------------------------------------------------------------------
# raking
# ---------------------------------------------------------------------------------------------
def rake(
    data: pd.DataFrame,
    margins: Mapping[str, Mapping] | None = None,
    *,
    weight: str | None = None,
    bounds: tuple[float | None, float | None] | None = None,
    trim: float | tuple[float | None, float | None] | None = None,
    total: float | None = None,
    max_iter: int = 1000,
    tol: float = 1e-10,
    share_tol: float = 1e-3,
    on_nonconvergence: str = "warn",
) -> RakeResult:
    """Rake respondents to population margins (iterative proportional fitting).

    Parameters
    ----------
    data : DataFrame or Study
        One row per respondent, with a column per margin. A loaded ``Study`` stands for its
        responses, and its ``margins`` are used when ``margins`` is None.
    margins : dict
        ``{column: {level: share}}``: the population share of every level of every margin
        column. Shares of a margin must sum to 1 (within ``share_tol``; they are then rescaled
        to sum to exactly 1). Every level present in the data must have a share, and every
        level with a positive share must have at least one respondent.
    weight : str, optional
        Column of starting (design) weights; raking adjusts them. Default: equal weights.
    bounds : (low, high), optional
        Bounded raking: limits on the adjustment factor ``g = w / w0`` (w0 the starting
        weights rescaled to ``total``), e.g. ``(0.3, 3)``. Either side may be None.
    trim : float or (low, high), optional
        Trimming: limits on the weights as multiples of the mean weight, e.g. ``5`` caps every
        weight at five times the mean, ``(0.2, 5)`` also floors them. Applied inside the
        raking, so the margins still hold when the caps allow it.
    total : float, optional
        What the weights sum to (e.g. the population size). Default: the sum of the starting
        weights (``n`` without them).
    max_iter : int, default 1000
        Maximum number of sweeps over all margins.
    tol : float, default 1e-10
        Convergence: the largest absolute difference between a weighted share and its target.
    share_tol : float, default 1e-3
        How far the given shares of a margin may sum from 1.
    on_nonconvergence : {"warn", "error"}
        What to do when the margins cannot be met within ``max_iter`` (usually because the
        bounds or the trimming are too tight for them).

    Returns
    -------
    RakeResult
        ``.weights`` (Series aligned with ``data``), ``.converged``, ``.n_iter``,
        ``.design_effect`` and ``.n_eff`` (Kish), ``.summary`` with columns ``column, level,
        n, sample_share, target_share, weighted_share``.

    Raises
    ------
    WeightingError
        Listing every impossible margin at once: a column that is missing or has missing
        values, a level in the data without a share, a level with a share but no respondent,
        shares that are not numbers, negative, or do not sum to 1; invalid weights or limits.
    """
    where = "rake"
    if margins is None and hasattr(data, "margins") and hasattr(data, "responses"):
        margins = data.margins
    if hasattr(data, "responses") and not isinstance(data, pd.DataFrame):
        data = data.responses
    data = check_frame(data, where, WeightingError)
    check_one_of("on_nonconvergence", on_nonconvergence, ["warn", "error"])
    problems = _rake_argument_problems(margins, max_iter, tol)
    n = len(data)
    if n == 0:
        raise WeightingError("Cannot rake an empty table.", [Problem("data has no rows")])
    w0 = _start_weights(data, weight, problems)
    codes, targets, levels, counts = [], [], [], []
    for col, spec in margins.items():
        parsed = _parse_margin(data, col, spec, share_tol, problems)
        if parsed is not None:
            codes.append(parsed[0])
            targets.append(parsed[1])
            levels.append(parsed[2])
            counts.append(parsed[3])
    total_ = _rake_total(total, w0, problems)
    bounds_t = _limits("bounds", bounds, problems)
    trim_t = _limits("trim", (None, trim) if isinstance(trim, int | float) else trim, problems)
    if problems:
        raise WeightingError("Cannot rake to these margins.", problems)

    start = w0 * (total_ / w0.sum())
    lo, hi = _weight_box(start, total_, bounds_t, trim_t)
    limited = bounds_t is not None or trim_t is not None
    target_totals = [t * total_ for t in targets]
    w, converged, n_iter, err = _ipf(
        start,
        codes,
        target_totals,
        total_,
        lo if limited else None,
        hi if limited else None,
        int(max_iter),
        float(tol),
    )
    summary = _summary(list(margins), codes, targets, levels, counts, w, n)
    if not converged:
        _not_converged(summary, n_iter, err, limited, on_nonconvergence)
    return RakeResult(
        weights=pd.Series(w, index=data.index, name="weight"),
        converged=converged,
        n_iter=n_iter,
        max_error=err,
        summary=summary,
        start_weights=pd.Series(start, index=data.index, name="start_weight"),
        tol=float(tol),
        bounds=bounds_t,
        trim=trim_t,
        margins={str(c): dict(zip(lv, t.tolist())) for c, lv, t in zip(margins, levels, targets)},
    )


def _rake_argument_problems(margins, max_iter, tol) -> list[Problem]:
    """Raises without margins; problems of ``max_iter`` and ``tol``."""
    if not isinstance(margins, Mapping) or not margins:
        raise WeightingError(
            "rake needs margins: a dict {column: {level: share}}.",
            [
                Problem(
                    "no margins given",
                    fix="pass margins={'persona': {'connecte': 0.4, ...}, ...} "
                    "or the study's margins (study.margins)",
                )
            ],
        )
    problems: list[Problem] = []
    if not isinstance(max_iter, int | np.integer) or max_iter < 1:
        problems.append(Problem(f"max_iter={max_iter!r} must be a positive integer"))
    if not (isinstance(tol, float | int) and tol > 0):
        problems.append(Problem(f"tol={tol!r} must be a positive number"))
    return problems


def _start_weights(data: pd.DataFrame, weight, problems: list[Problem]) -> np.ndarray:
    """The starting (design) weights, or ones (also when they are invalid: ``problems`` then
    says why)."""
    n = len(data)
    if weight is None:
        return np.ones(n)
    if weight not in data.columns:
        problems.append(
            Problem(
                f"weight column {weight!r} is not in the data",
                column=str(weight),
                fix="pass a column of the data, or weight=None for equal weights",
            )
        )
        return np.ones(n)
    wp = weight_problems(data[weight], str(weight), "starting weights", allow_zero=False)
    problems += wp
    return np.ones(n) if wp else pd.to_numeric(data[weight]).to_numpy(dtype=float)


def _rake_total(total, w0: np.ndarray, problems: list[Problem]) -> float:
    """What the weights sum to: ``total``, else (or when invalid) the starting weights' sum."""
    if total is None:
        return float(w0.sum())
    if not (isinstance(total, int | float) and np.isfinite(total) and total > 0):
        problems.append(Problem(f"total={total!r} must be a positive number"))
        return float(w0.sum())
    return float(total)


def _weight_box(start: np.ndarray, total: float, bounds_t, trim_t):
    """Per-respondent limits ``(lo, hi)`` on the weights from the bounds (times the start
    weights) and the trimming (times the mean weight); raises when they leave no room."""
    n = len(start)
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    if bounds_t is not None:
        if bounds_t[0] is not None:
            lo = np.maximum(lo, bounds_t[0] * start)
        if bounds_t[1] is not None:
            hi = np.minimum(hi, bounds_t[1] * start)
    if trim_t is not None:
        mean_w = total / n
        if trim_t[0] is not None:
            lo = np.maximum(lo, trim_t[0] * mean_w)
        if trim_t[1] is not None:
            hi = np.minimum(hi, trim_t[1] * mean_w)
    clash = int((lo > hi).sum())
    if clash:
        raise WeightingError(
            "Cannot rake to these margins.",
            [
                Problem(
                    f"the bounds and the trimming leave no admissible weight for {clash} respondent(s)",
                    fix="widen bounds= or trim=",
                )
            ],
        )
    return lo, hi


def _not_converged(summary: pd.DataFrame, n_iter, err, limited, on_nonconvergence) -> None:
    """Warn (or raise) that the margins were not met, naming the three worst levels."""
    worst = summary.assign(gap=(summary["weighted_share"] - summary["target_share"]).abs())
    worst = worst.sort_values("gap", ascending=False).head(3)
    where_off = "; ".join(
        f"{r.column}={r.level!r}: {r.weighted_share:.4f} vs target {r.target_share:.4f}"
        for r in worst.itertuples()
    )
    msg = (
        f"Raking did not converge after {n_iter} iterations (largest share error {err:.2g}): "
        f"{where_off}."
    )
    fix = (
        "widen bounds= or trim=, collapse sparse levels, or raise max_iter"
        if limited
        else "collapse sparse levels or raise max_iter"
    )
    if on_nonconvergence == "error":
        raise WeightingError(msg, [Problem("margins not met", fix=fix)])
    warnings.warn(f"{msg} -> {fix}", ParcoursWarning, stacklevel=3)  # the caller of rake


def _pair(pair) -> str:
    return "[" + ", ".join("-" if v is None else f"{v:g}" for v in pair) + "]"


def _limits(name: str, value, problems: list[Problem]) -> tuple | None:
    """Validate a (low, high) pair of positive numbers or None sides."""
    if value is None:
        return None
    if not isinstance(value, tuple | list) or len(value) != 2:
        problems.append(Problem(f"{name}={value!r} must be a number or a pair (low, high)"))
        return None
    out = []
    for side in value:
        if side is None:
            out.append(None)
        elif (
            isinstance(side, bool)
            or not isinstance(side, int | float | np.number)
            or not np.isfinite(side)
            or side <= 0
        ):
            problems.append(
                Problem(f"{name}={tuple(value)!r}: each side must be a positive number or None")
            )
            return None
        else:
            out.append(float(side))
    if out[0] is not None and out[1] is not None and out[0] > out[1]:
        problems.append(Problem(f"{name}={tuple(value)!r}: low is above high"))
        return None
    if (out[0] is not None and out[0] > 1) or (out[1] is not None and out[1] < 1):
        what, fix = (
            (
                "g = 1 (no adjustment)",
                "bounds limit g = w / w0; use low <= 1 <= high, e.g. (0.3, 3)",
            )
            if name == "bounds"
            else (
                "the mean weight",
                "trim limits w / mean(w); use low <= 1 <= high, e.g. 5 or (0.2, 5)",
            )
        )
        problems.append(Problem(f"{name}={tuple(value)!r} exclude {what}", fix=fix))
        return None
    return tuple(out)


def _parse_margin(data, col, spec, share_tol, problems):
    """Codes of every row, target shares, level keys and respondent counts of one margin."""
    label = f"margins.{col}"
    if col not in data.columns:
        problems.append(
            Problem(
                f"margin column {col!r} is not in the data",
                column=label,
                fix="name margins after columns of the responses",
            )
        )
        return None
    if not isinstance(spec, Mapping) or not spec:
        problems.append(Problem("expected a non-empty dict {level: share}", column=label))
        return None
    keys = list(spec)
    str_keys = [str(k) for k in keys]
    shares, bad = _margin_shares(spec, label, share_tol, problems)
    codes, counts, unknown = _margin_codes(data[col], str_keys)
    bad |= _margin_level_problems(data[col], col, str_keys, unknown, label, problems)
    if not bad:
        bad = _margin_count_problems(keys, shares, counts, label, problems)
    if bad:
        return None
    t = np.asarray(shares, dtype=float)
    return codes, t / t.sum(), [_plain(k) for k in keys], counts


def _margin_shares(spec: Mapping, label: str, share_tol, problems) -> tuple[list[float], bool]:
    """The shares of one margin, and whether one is not a number, is negative, or they do not
    sum to 1 (``problems`` then says which)."""
    shares = []
    bad = False
    for k, v in spec.items():
        if isinstance(v, bool) or not isinstance(v, int | float | np.number) or not np.isfinite(v):
            problems.append(
                Problem(
                    f"the share of level {k!r} is {v!r}, not a number",
                    column=label,
                    fix="give a share between 0 and 1",
                )
            )
            bad = True
        elif v < 0:
            problems.append(
                Problem(
                    f"the share of level {k!r} is negative ({v})",
                    column=label,
                    fix="give a share between 0 and 1",
                )
            )
            bad = True
        else:
            shares.append(float(v))
    if not bad:
        s = sum(shares)
        if abs(s - 1) > share_tol:
            fix = (
                "these look like percentages: divide them by 100"
                if abs(s - 100) <= 100 * share_tol
                else "shares of one margin must sum to 1"
            )
            problems.append(Problem(f"the shares sum to {s:g}, not 1", column=label, fix=fix))
            bad = True
    return shares, bad


def _margin_codes(values: pd.Series, str_keys) -> tuple[np.ndarray | None, np.ndarray, list]:
    """The level index of every row (-1 when missing), the respondents per level (levels
    matched as text) and the values without a level with their respondents; the codes are
    None (and the counts 0) when a value has no level."""
    codes_u, uniques = pd.factorize(values, use_na_sentinel=True)
    index_of = {k: i for i, k in enumerate(str_keys)}
    unknown = [
        (u, int((codes_u == j).sum())) for j, u in enumerate(uniques) if str(u) not in index_of
    ]
    if unknown:
        return None, np.zeros(len(str_keys), dtype=np.int64), unknown
    map_u = np.array([index_of[str(u)] for u in uniques], dtype=np.int64)
    valid = codes_u >= 0
    codes = np.full(len(codes_u), -1, dtype=np.int64)
    codes[valid] = map_u[codes_u[valid]]
    return codes, np.bincount(codes[valid], minlength=len(str_keys)), unknown


def _margin_level_problems(values: pd.Series, col, str_keys, unknown, label, problems) -> bool:
    """Whether the levels clash with the data: a level given twice, respondents without a
    value, values without a share (``problems`` then says which)."""
    bad = False
    if len(set(str_keys)) < len(str_keys):
        dup = sorted({k for k in str_keys if str_keys.count(k) > 1})
        problems.append(
            Problem(f"level(s) {dup} are given twice (e.g. as 1 and '1')", column=label)
        )
        bad = True
    n_na = int(values.isna().sum())
    if n_na:
        problems.append(
            Problem(
                f"{n_na} respondent(s) have no value in column {col!r}",
                column=label,
                fix="raking needs a level for every respondent: fill them (e.g. a level 'unknown' with "
                "its own share) or drop those rows",
            )
        )
        bad = True
    if unknown:
        shown = ", ".join(f"{_plain(u)!r} ({c} respondents)" for u, c in unknown[:10])
        problems.append(
            Problem(
                f"level(s) in the data have no share: {shown}",
                column=label,
                fix="add them to the margin, or recode/collapse them into a level that has a share",
            )
        )
        bad = True
    return bad


def _margin_count_problems(keys, shares, counts, label, problems) -> bool:
    """Whether a level has a share but no respondent, or respondents but a zero share."""
    bad = False
    for i, k in enumerate(keys):
        if counts[i] == 0 and shares[i] > 0:
            problems.append(
                Problem(
                    f"level {k!r} has a target share of {shares[i]:g} but no respondent",
                    column=label,
                    fix="collapse it with a neighbouring level (summing their shares), or drop it "
                    "and rescale the other shares",
                )
            )
            bad = True
        elif counts[i] > 0 and shares[i] == 0:
            problems.append(
                Problem(
                    f"level {k!r} has a target share of 0 but {counts[i]} respondent(s)",
                    column=label,
                    fix="give it a positive share, or drop those respondents",
                )
            )
            bad = True
    return bad


def _ipf(w, codes, targets, total, lo, hi, max_iter, tol):
    """Iterative proportional fitting, optionally clipped to the box [lo, hi] after each step."""
    w = w.copy()
    sizes = [len(t) for t in targets]
    err = np.inf
    for it in range(1, max_iter + 1):
        for c, t, k in zip(codes, targets, sizes):
            s = np.bincount(c, weights=w, minlength=k)
            f = np.divide(t, s, out=np.ones(k), where=s > 0)
            w *= f[c]
            if lo is not None:
                np.clip(w, lo, hi, out=w)
        err = max(
            float(np.max(np.abs(np.bincount(c, weights=w, minlength=k) - t))) / total
            for c, t, k in zip(codes, targets, sizes)
        )
        if err <= tol:
            return w, True, it, err
    return w, False, max_iter, err


def _rake_rows(
    data: pd.DataFrame,
    margins: Mapping[str, Mapping],
    starts: np.ndarray,
    *,
    max_iter=1000,
    tol=1e-10,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Rake many vectors of starting weights at once (e.g. bootstrap replicates), each as
    :func:`rake` would (``rake(data[s > 0], margins, weight=s[s > 0])``, no bounds or
    trimming), with the same iterations and the same floating-point results (private).

    Parameters
    ----------
    data : DataFrame
        One row per respondent, with the margin columns.
    margins : dict
        ``{column: {level: share}}``, as for :func:`rake`.
    starts : array (B, n)
        Starting weights, one vector per row; 0 leaves a respondent out.

    Returns
    -------
    (weights, ok) or None
        ``weights`` (``ok.sum()`` x n): the raked weights of the vectors that could be raked
        (0 where the start is 0), in order; ``ok`` (B,): whether each could (a level with a
        share lost all its respondents, or raking did not converge, otherwise). None when the
        margins do not fit the whole table (then rake each vector with :func:`rake`, which
        says why).
    """
    starts = np.asarray(starts, dtype=float)
    problems: list[Problem] = []
    if not isinstance(margins, Mapping) or not margins or not np.isfinite(starts).all():
        return None
    parsed = [_parse_margin(data, col, spec, 1e-3, problems) for col, spec in margins.items()]
    if problems or (starts < 0).any():
        return None
    codes = [p[0] for p in parsed]
    shares = [p[1] for p in parsed]
    present = starts > 0
    ok = present.any(axis=1)
    flats = [_row_codes(c, len(t), len(starts)) for c, t in zip(codes, shares)]
    for fl, t in zip(flats, shares):  # a level with a share but no respondent cannot be raked
        counts = _row_bincount(fl, present.astype(float), len(t))
        ok &= ~((counts == 0) & (t > 0)).any(axis=1)
    start = np.zeros((int(ok.sum()), starts.shape[1]))
    totals = np.empty(len(start))
    for i, b in enumerate(np.flatnonzero(ok)):  # as rake: on the rows left in, in order
        w0 = starts[b, present[b]]
        totals[i] = float(w0.sum())
        start[i, present[b]] = w0 * (totals[i] / w0.sum())
    targets = [t[None, :] * totals[:, None] for t in shares]
    w, converged = _ipf_rows(start, flats, targets, totals, int(max_iter), float(tol))
    ok[ok] = converged
    return w[converged], ok


def _row_bincount(flat: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """``np.bincount(c, weights=w[b], minlength=k)`` for every row b of ``w`` (B x k), from
    ``flat`` = :func:`_row_codes` of ``c``; each row's sums are taken in the same order as
    the one-row call."""
    return np.bincount(flat, weights=w.ravel(), minlength=k * w.shape[0]).reshape(-1, k)


def _row_codes(c: np.ndarray, k: int, rows: int) -> np.ndarray:
    """The codes ``c`` of every row, offset by ``k`` per row and flattened."""
    return (c[None, :] + k * np.arange(rows)[:, None]).ravel()


def _ipf_rows(w, flats, targets, totals, max_iter, tol) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_ipf` (no box) on every row of ``w`` at once (``flats``: the codes of each
    margin by :func:`_row_codes`, for at least as many rows): each row stops at the iteration
    where its own error first falls to ``tol``, as the one-row call does. Returns the weights
    and whether each row converged. ``w`` is raked in place."""
    out = wa = w  # wa: the rows still raking (a copy once some have converged)
    converged = np.zeros(len(w), dtype=bool)
    active = np.arange(len(w))
    sizes = [t.shape[1] for t in targets]
    ta: list[np.ndarray] = []
    for _ in range(max_iter):
        if not len(active):
            break
        if not ta or len(ta[0]) != len(active):  # the rows still raking changed
            fls = [fl[: wa.size] for fl in flats]  # row i's codes are offset by k * i
            ta = [t[active] for t in targets]
        for fl, t, k in zip(fls, ta, sizes):
            s = _row_bincount(fl, wa, k)
            f = np.divide(t, s, out=np.ones_like(s), where=s > 0)
            wa *= f.ravel()[fl].reshape(wa.shape)
        err = np.max(
            [
                np.max(np.abs(_row_bincount(fl, wa, k) - t), axis=1) / totals[active]
                for fl, t, k in zip(fls, ta, sizes)
            ],
            axis=0,
        )
        done = err <= tol
        if wa is not out:
            out[active] = wa
        if done.any():
            converged[active[done]] = True
            active, wa = active[~done], wa[~done]
    return out, converged


def _summary(columns, codes, targets, levels, counts, w, n) -> pd.DataFrame:
    rows = []
    total = w.sum()
    for col, c, t, lv, cnt in zip(columns, codes, targets, levels, counts):
        ws = np.bincount(c, weights=w, minlength=len(t)) / total
        for i, level in enumerate(lv):
            rows.append((str(col), level, int(cnt[i]), cnt[i] / n, float(t[i]), float(ws[i])))
    out = pd.DataFrame(
        rows, columns=["column", "level", "n", "sample_share", "target_share", "weighted_share"]
    )
    return out.astype({"level": object})


# ---------------------------------------------------------------------------------------------
# calibration (linear / raking / logit) and post-stratification
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class CalibrationResult:
    """Calibrated weights (Deville & Särndal 1992) and how they were obtained.

    Pass the result itself as ``weight=`` to :func:`parcours_research.satisfaction.scores`: the
    standard errors then account for the calibration, as R's ``calibrate()`` designs do.

    Attributes
    ----------
    weights : Series
        The calibrated weights, aligned with ``data`` (index), named ``"weight"``.
    start_weights : Series
        The starting (design) weights ``w0``.
    method : {"linear", "raking", "logit"}
    bounds : (float, float) or None
        Limits on ``g = w / w0``.
    converged : bool
    n_iter : int
        Newton iterations.
    max_error : float
        Largest ``|target - calibrated total| / (1 + |target|)`` (R's criterion).
    summary : DataFrame
        One row per constraint: ``column, level, n, target, calibrated`` (population totals:
        the level's share times ``total`` for a margin, the given total for a numeric column;
        ``level`` is None for a numeric column).
    margins : dict
        ``{column: {level: share}}``.
    totals : dict
        ``{numeric column: population total}``.
    total : float
        What the weights sum to.
    """

    weights: pd.Series
    start_weights: pd.Series
    method: str
    bounds: tuple | None
    converged: bool
    n_iter: int
    max_error: float
    summary: pd.DataFrame
    margins: dict = field(default_factory=dict)
    totals: dict = field(default_factory=dict)
    total: float = float("nan")

    @property
    def adjustment(self) -> pd.Series:
        """The adjustment factors ``g = weight / start weight``."""
        return (self.weights / self.start_weights).rename("g")

    @property
    def design_effect(self) -> float:
        """Kish's design effect of the calibrated weights."""
        return kish(self.weights.to_numpy())[0]

    @property
    def n_eff(self) -> float:
        """Kish's effective sample size of the calibrated weights."""
        return kish(self.weights.to_numpy())[1]

    def _lines(self) -> list[str]:
        w = self.weights.to_numpy()
        g = self.adjustment.to_numpy()
        on = ", ".join([*map(str, self.margins), *map(str, self.totals)])
        status = (
            f"converged in {self.n_iter} iterations"
            if self.converged
            else f"DID NOT CONVERGE after {self.n_iter} iterations (error {self.max_error:.2g})"
        )
        limits = f"; g within {_pair(self.bounds)}" if self.bounds is not None else ""
        return [
            f"CalibrationResult: {w.size:,} rows calibrated ({self.method}) on {on}",
            status + limits,
            f"weights: min {w.min():.3f}, max {w.max():.3f}, sum {w.sum():,.1f}; g from "
            f"{g.min():.3f} to {g.max():.3f}; Kish design effect {self.design_effect:.3f}",
        ]

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        head = "<br>".join(html.escape(line) for line in self._lines())
        return f"<p>{head}</p>" + self.summary.to_html(
            index=False, float_format=lambda x: f"{x:,.4f}"
        )


def calibrate(
    data: pd.DataFrame,
    *,
    margins: Mapping[str, Mapping] | None = None,
    totals: Mapping[str, float] | None = None,
    weight: str | None = None,
    method: str = "linear",
    bounds: tuple[float | None, float | None] | None = None,
    total: float | None = None,
    max_iter: int = 50,
    tol: float = 1e-7,
    share_tol: float = 1e-3,
    on_nonconvergence: str = "warn",
) -> CalibrationResult:
    """Calibrate weights to population margins and totals (GREG, raking or logit).

    Parameters
    ----------
    data : DataFrame
        One row per respondent.
    margins : dict, optional
        ``{column: {level: share}}`` as for :func:`rake` (shares of one margin sum to 1).
    totals : dict, optional
        ``{numeric column: population total}`` (e.g. the total number of contracts).
    weight : str, optional
        Starting (design) weights ``w0``; default equal weights.
    method : {"linear", "raking", "logit"}, default "linear"
        The distance of Deville & Särndal (1992), as R's ``calibrate(calfun=)``: linear (GREG,
        weights may turn negative without bounds), raking (multiplicative, positive weights;
        the same weights as :func:`rake`) or logit (``g`` kept inside ``bounds``, required).
    bounds : (low, high), optional
        Limits on ``g = w / w0``, e.g. ``(0.5, 2)`` (either side may be None with linear and
        raking).
    total : float, optional
        What the weights sum to, the population size (the margins' shares are multiplied by
        it). Default: the sum of the starting weights.
    max_iter, tol : int, float
        Newton iterations, and the convergence criterion ``|target - total| / (1 + |target|)``
        (R's ``maxit=50, epsilon=1e-7``).
    share_tol : float, default 1e-3
        How far the shares of a margin may sum from 1.
    on_nonconvergence : {"warn", "error"}

    Returns
    -------
    CalibrationResult
        ``.weights``, ``.adjustment`` (g), ``.summary`` (``column, level, n, target,
        calibrated``), ``.converged``; pass it as ``weight=`` to ``scores`` for
        calibration-aware standard errors.

    Raises
    ------
    WeightingError
        Every impossible margin or total at once (as :func:`rake`), invalid weights, method or
        bounds.
    """
    data = check_frame(data, "calibrate", WeightingError)
    check_one_of("method", method, CAL_METHODS)
    check_one_of("on_nonconvergence", on_nonconvergence, ["warn", "error"])
    spec = _calibration_inputs(data, margins, totals, weight, total, share_tol)
    bounds_t = _cal_bounds(bounds, method)
    x, targets, w0 = spec["x"], spec["targets"], spec["w0"]
    g, converged, n_iter, err = calibrate_g(
        x, w0, targets, method, bounds_t, int(max_iter), float(tol)
    )
    w = g * w0
    summary = spec["summary"].assign(calibrated=x.T @ w)
    if not converged:
        msg = f"Calibration did not converge after {n_iter} iterations (error {err:.2g})."
        fix = "widen bounds=, collapse sparse levels, or raise max_iter"
        if on_nonconvergence == "error":
            raise WeightingError(msg, [Problem("targets not met", fix=fix)])
        warnings.warn(f"{msg} -> {fix}", ParcoursWarning, stacklevel=2)
    user_bounds = None if bounds is None else tuple(bounds)
    return CalibrationResult(
        weights=pd.Series(w, index=data.index, name="weight"),
        start_weights=pd.Series(w0, index=data.index, name="start_weight"),
        method=method,
        bounds=user_bounds,
        converged=converged,
        n_iter=n_iter,
        max_error=err,
        summary=summary,
        margins=spec["margins"],
        totals=dict(totals or {}),
        total=spec["total"],
    )


def post_stratify(
    data: pd.DataFrame,
    *,
    margins: Mapping[str, Mapping],
    weight: str | None = None,
    total: float | None = None,
) -> CalibrationResult:
    """Post-stratification: calibration to one margin (the cells of one column, or of several
    columns crossed beforehand), as R's ``postStratify``.

    Parameters
    ----------
    data : DataFrame
    margins : dict
        ``{column: {level: share}}`` with a single column.
    weight : str, optional
        Starting (design) weights.
    total : float, optional
        The population size (default: the sum of the starting weights).

    Returns
    -------
    CalibrationResult
        Within each cell the weights are the design weights times ``target / weighted count``.
    """
    if not isinstance(margins, Mapping) or len(margins) != 1:
        raise WeightingError(
            "post_stratify needs exactly one margin.",
            [Problem("several (or no) margins", fix="cross the columns first, or use calibrate")],
        )
    return calibrate(data, margins=margins, weight=weight, total=total, method="linear")


def _calibration_inputs(data, margins, totals, weight, total, share_tol) -> dict:
    """The calibration matrix (indicators of every margin level, then numeric columns), the
    population targets, the starting weights and the summary skeleton; raises with every
    problem."""
    problems: list[Problem] = []
    if not margins and not totals:
        raise WeightingError(
            "calibrate needs margins= and/or totals=.",
            [Problem("nothing to calibrate to", fix="pass margins={column: {level: share}}")],
        )
    w0 = _start_weights(data, weight, problems)
    total_ = _rake_total(total, w0, problems)
    x_cols, targets, rows, kept = [], [], [], {}
    for col, spec in (margins or {}).items():
        parsed = _parse_margin(data, col, spec, share_tol, problems)
        if parsed is None:
            continue
        codes, shares, levels, counts = parsed
        x_cols.append(indicator_matrix([codes], [len(levels)]))
        targets.extend(shares * total_)
        rows += [
            (str(col), lv, int(c), float(t) * total_) for lv, c, t in zip(levels, counts, shares)
        ]
        kept[str(col)] = dict(zip(levels, shares.tolist()))
    for col, value in (totals or {}).items():
        v = _numeric_column(data, col, value, problems)
        if v is not None:
            x_cols.append(v[:, None])
            targets.append(float(value))
            rows.append((str(col), None, int(np.count_nonzero(v)), float(value)))
    if problems:
        raise WeightingError("Cannot calibrate to these targets.", problems)
    if not margins:  # numeric totals only: keep the population size as a constraint
        x_cols.insert(0, np.ones((len(data), 1)))
        targets.insert(0, total_)
        rows.insert(0, ("(total)", None, len(data), total_))
    summary = pd.DataFrame(rows, columns=["column", "level", "n", "target"]).astype(
        {"level": object}
    )
    return {
        "x": np.hstack(x_cols),
        "targets": np.asarray(targets, dtype=float),
        "w0": w0,
        "summary": summary,
        "margins": kept,
        "total": total_,
    }


def _numeric_column(data, col, value, problems) -> np.ndarray | None:
    """The values of a numeric calibration column (None and a problem when unusable)."""
    if col not in data.columns:
        problems.append(Problem(f"column {col!r} is not in the data", column=f"totals.{col}"))
        return None
    v = pd.to_numeric(data[col], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(v).all():
        problems.append(
            Problem(
                f"{int((~np.isfinite(v)).sum())} value(s) of {col!r} are missing or not numbers",
                column=f"totals.{col}",
                fix="calibration needs a value for every respondent",
            )
        )
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.number)
        or not np.isfinite(value)
    ):
        problems.append(
            Problem(f"the total of {col!r} is {value!r}, not a number", column=f"totals.{col}")
        )
        return None
    return v


def _cal_bounds(bounds, method) -> tuple[float, float]:
    """``(low, high)`` limits on g (infinite sides when None); logit needs both, around 1."""
    if bounds is None:
        if method == "logit":
            raise WeightingError(
                "method='logit' needs bounds.",
                [
                    Problem(
                        "no bounds",
                        fix="pass bounds=(low, high) with low < 1 < high, e.g. (0.5, 2)",
                    )
                ],
            )
        return (-np.inf, np.inf)
    problems: list[Problem] = []
    lim = _limits("bounds", bounds, problems)
    if problems:
        raise WeightingError("Cannot calibrate with these bounds.", problems)
    lo = -np.inf if lim[0] is None else lim[0]
    hi = np.inf if lim[1] is None else lim[1]
    if method == "logit" and not (np.isfinite(lo) and np.isfinite(hi) and lo < 1 < hi):
        raise WeightingError(
            "method='logit' needs finite bounds with low < 1 < high.",
            [Problem(f"bounds={bounds!r}", fix="e.g. bounds=(0.5, 2)")],
        )
    return (lo, hi)


def calibration_spec(result, data: pd.DataFrame) -> dict:
    """What variance estimation needs of a :class:`RakeResult` or :class:`CalibrationResult`
    used as ``weight=``: the weights, starting weights and calibration matrix at the rows of
    ``data`` (aligned on the index), the targets, method and bounds (to recalibrate replicate
    weights). Raises when the rows do not match."""
    w = result.weights
    if not w.index.equals(data.index):
        if len(w.index) != len(data.index) or not w.index.isin(data.index).all():
            raise WeightingError(
                "The calibrated weights do not match the rows of the data.",
                [
                    Problem(
                        f"{len(w)} weights for {len(data)} rows (matched by index)",
                        fix="pass the frame that was raked or calibrated (one row per "
                        "respondent), or store the weights in a column (fixed-weight SEs)",
                    )
                ],
            )
    w = w.reindex(data.index).to_numpy(dtype=float)
    w0 = result.start_weights.reindex(data.index).to_numpy(dtype=float)
    total = float(np.sum(w))
    margins = dict(result.margins)
    totals = dict(getattr(result, "totals", {}) or {})
    frame = pd.DataFrame({c: data[c] for c in [*margins, *totals]}, index=data.index)
    spec = _calibration_inputs(frame, margins, totals, None, total, 1e-3)
    if isinstance(result, CalibrationResult):
        method = result.method
        bounds = _cal_bounds(result.bounds, method)
    else:
        method = "raking"
        bounds = (
            (-np.inf, np.inf)
            if result.bounds is None
            else tuple(
                (-np.inf if b is None else b) if i == 0 else (np.inf if b is None else b)
                for i, b in enumerate(result.bounds)
            )
        )
    return {
        "w": w,
        "w0": w0,
        "x": spec["x"],
        "targets": spec["targets"],
        "method": method,
        "bounds": bounds,
    }


# ---------------------------------------------------------------------------------------------
# the study's weighting rule: one rule for every analysis
# ---------------------------------------------------------------------------------------------
WEIGHT_RULES = ("default", "rake", "design", None)
"""The named weighting rules of a study (a column name of the responses is accepted too)."""

_RULE_TEXT = {
    "rake": "raked to the study's margins ({margins}){start}",
    "design": "the survey's design weights (column {column!r})",
    "column": "the weights of column {column!r}, as they are",
    "none": "no weights: every respondent counts once",
}


@dataclass(frozen=True, repr=False)
class StudyWeights:
    """The survey weights of a study under one rule, and which rule it was.

    Attributes
    ----------
    weights : Series
        One weight per respondent, aligned with ``study.responses`` (same index), named
        ``"weight"``. Equal to 1 under the rule ``"none"``.
    rule : {"rake", "design", "column", "none"}
        What the weights are: raked to the margins, the declared design weights, a column
        given by name, or no weighting.
    requested : str or None
        The rule asked for (``"default"``, ``"rake"``, ``"design"``, a column or None).
    column : str or None
        The column the weights (or the raking's starting weights) come from.
    rake : RakeResult or None
        The raking, under the rule ``"rake"``.
    description : str
        One sentence saying which weights were used, for tables and reports.
    """

    weights: pd.Series
    rule: str
    requested: str | None
    column: str | None = None
    rake: RakeResult | None = None
    description: str = ""

    @property
    def summary(self) -> pd.DataFrame:
        """The distribution of the weights: ``statistic, value`` (n, sum, min, max, Kish
        design effect, effective n)."""
        if self.rake is not None:
            return self.rake.weight_stats()
        w = self.weights.to_numpy(dtype=float)
        deff, n_eff = kish(w)
        rows = [
            ("n", float(w.size)),
            ("sum", float(w.sum())),
            ("min", float(w.min(initial=np.nan))),
            ("max", float(w.max(initial=np.nan))),
            ("design_effect", deff),
            ("n_eff", n_eff),
        ]
        return pd.DataFrame(rows, columns=["statistic", "value"])

    def __repr__(self) -> str:
        return f"StudyWeights(rule={self.rule!r}, n={len(self.weights):,}): {self.description}"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>" + self.summary.to_html(
            index=False, float_format=lambda x: f"{x:,.4f}"
        )


def _resolve_rule(study, weight) -> tuple[str, str | None]:
    """(rule, column) for ``weight`` on ``study``; raises WeightingError when it cannot hold."""
    declared = getattr(study.survey, "weight", None)
    if weight == "default":
        if study.margins:
            return "rake", declared
        return ("design", declared) if declared else ("none", None)
    if weight is None or weight == "none":
        return "none", None
    if weight == "rake":
        if not study.margins:
            raise WeightingError(
                "weight='rake' needs population margins, and the study has none.",
                [
                    Problem(
                        "no margins",
                        "study.yml",
                        column="margins",
                        fix="add `margins:` to study.yml, or use weight='default' or None",
                    )
                ],
            )
        return "rake", declared
    if weight == "design":
        if not declared:
            raise WeightingError(
                "weight='design' needs the survey's design weight column, and the study declares none.",
                [
                    Problem(
                        "no design weight",
                        "study.yml",
                        column="survey.weight",
                        fix="add `weight: COLUMN` under `survey:` in study.yml, or use weight='default'",
                    )
                ],
            )
        return "design", declared
    if isinstance(weight, str) and weight in study.responses.columns:
        return "column", weight
    raise WeightingError(
        f"weight={weight!r} is neither a weighting rule nor a column of the responses.",
        [
            Problem(
                f"unknown weight {weight!r}",
                column=str(weight),
                fix=f"use one of {list(WEIGHT_RULES)} or a column of the responses",
            )
        ],
    )


def study_weights(study, *, weight: str | None = "default") -> StudyWeights:
    """The survey weights of a study under one documented rule.

    This is the one weighting rule of the kit: scores, drivers, journey curves, friction
    tests, path tests, the report and the workshop app all weight respondents with it (through
    the study's prepared evidence, :func:`parcours_research.evidence.prepare`).

    Parameters
    ----------
    study : Study
        A loaded study with survey responses.
    weight : {"default", "rake", "design", None} or str, default "default"
        ``"default"``: raked to the study's margins when it has margins (starting from the
        survey's design weights when it declares some), else the design weights when the
        survey declares a weight column, else no weights. ``"rake"``: raked to the margins
        (an error without margins). ``"design"``: the declared design weights (an error
        without). ``None``: no weights (every respondent counts once). A column name of the
        responses: those weights as they are.

    Returns
    -------
    StudyWeights
        ``.weights`` (aligned with ``study.responses``), ``.rule``, ``.description``,
        ``.rake`` (the :class:`RakeResult` when raked), ``.summary``.

    Raises
    ------
    WeightingError
        When the study has no responses, or the rule cannot be applied (no margins, no
        declared weight, an unknown column, margins the responses cannot meet).
    """
    if getattr(study, "responses", None) is None:
        raise WeightingError(
            f"The study {getattr(study, 'name', '')!r} has no survey responses to weight.",
            [
                Problem(
                    "no survey",
                    "study.yml",
                    column="survey",
                    fix="add `survey: {instrument: ..., responses: ...}` to study.yml",
                )
            ],
        )
    rule, column = _resolve_rule(study, weight)
    resp = study.responses
    res = None
    if rule == "rake":
        res = rake(resp, study.margins, weight=column)
        w = res.weights
        start = f", from the design weights of column {column!r}" if column else ""
        text = _RULE_TEXT["rake"].format(margins=", ".join(study.margins), start=start)
    elif rule == "none":
        w = pd.Series(1.0, index=resp.index)
        text = _RULE_TEXT["none"]
    else:
        problems = weight_problems(resp[column], column, "study_weights")
        if problems:
            raise WeightingError(f"The weights of column {column!r} cannot be used.", problems)
        w = pd.to_numeric(resp[column]).astype(float)
        text = _RULE_TEXT[rule].format(column=column)
    return StudyWeights(
        w.rename("weight"), rule, weight, column, res, text[0].upper() + text[1:] + "."
    )
