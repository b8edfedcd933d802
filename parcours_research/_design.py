"""Survey-design plumbing shared by :mod:`weighting` and :mod:`satisfaction` (private).

A survey design is optional columns of the analysed frame: ``weight`` (sampling or
raking weights), ``strata``, ``cluster`` (primary sampling units) and ``fpc`` (finite
population correction). Variance estimation of one-stage designs is delegated to
`svy <https://svylab.com>`_ (Taylor linearisation with its single-stage ``pop_size``, Rao–Wu
bootstrap); this module checks the columns, converts the frame for svy, and turns svy's errors
into the kit's errors. What svy cannot describe (several stages, replicate designs,
calibration residuals) lives in :mod:`._variance`, :mod:`._replicates` and :mod:`._estimators`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd

from .errors import AnalysisError, Problem, StudyError

__all__ = [
    "as_list",
    "check_frame",
    "check_columns",
    "weight_problems",
    "weights_of",
    "kish",
    "svy_sample",
    "population_sizes",
    "sampling_fractions",
    "svy_errors",
    "bootstrap_weights",
    "ROW_ID",
    "WEIGHT",
]

ROW_ID = "__row__"
WEIGHT = "__weight__"
FPC = "__fpc__"


def as_list(value: str | Sequence[str] | None) -> list[str]:
    """``None`` -> ``[]``, ``"a"`` -> ``["a"]``, a sequence -> a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def check_frame(data, where: str, cls: type = AnalysisError) -> pd.DataFrame:
    """Raise unless ``data`` is a pandas DataFrame; return a shallow copy without ``attrs``."""
    if not isinstance(data, pd.DataFrame):
        from ._inputs import is_study

        fix = (
            "pass one of the study's tables: pr.prepare(study).ratings (long ratings with "
            "weights) or study.responses"
            if is_study(data)
            else "pass a pandas DataFrame (pd.read_csv(...), study.responses)"
        )
        raise cls(
            f"{where}: data must be a pandas DataFrame, got {type(data).__name__}.",
            [Problem("not a DataFrame", fix=fix)],
        )
    # a shallow copy without ``attrs``: metadata holding arrays breaks pandas' concat/merge
    data = data.copy(deep=False)
    data.attrs = {}
    return data


def check_columns(
    data: pd.DataFrame, columns: Mapping[str, str | Sequence[str] | None], where: str
) -> list[Problem]:
    """Problems for every named column that ``data`` lacks.

    ``columns`` maps an argument name (``"weight"``) to the column(s) it names.
    """
    problems = []
    available = ", ".join(map(str, list(data.columns)[:20]))
    for arg, cols in columns.items():
        for col in as_list(cols):
            if col not in data.columns:
                problems.append(
                    Problem(
                        f"{where}: column {col!r} (argument {arg}=) is not in the data",
                        column=str(col),
                        fix=f"pass one of the data's columns ({available}{', ...' if data.shape[1] > 20 else ''})",
                    )
                )
    return problems


def weight_problems(
    values: pd.Series, name: str, where: str, allow_zero: bool = True
) -> list[Problem]:
    """Problems with a weight column: missing, non-numeric, infinite, negative, all zero."""
    problems = []
    num = pd.to_numeric(values, errors="coerce")
    bad_type = int((num.isna() & values.notna()).sum())
    if bad_type:
        problems.append(
            Problem(
                f"{where}: {bad_type} weight(s) are not numbers",
                column=name,
                fix="weights must be positive numbers",
            )
        )
    n_missing = int(values.isna().sum())
    if n_missing:
        problems.append(
            Problem(
                f"{where}: {n_missing} weight(s) are missing",
                column=name,
                fix="give every row a weight (or drop those rows before the analysis)",
            )
        )
    arr = num.to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(arr)
    n_inf = int((~finite & ~np.isnan(arr)).sum())
    if n_inf:
        problems.append(
            Problem(
                f"{where}: {n_inf} weight(s) are infinite",
                column=name,
                fix="weights must be finite",
            )
        )
    neg = int((arr[finite] < 0).sum())
    if neg:
        problems.append(
            Problem(
                f"{where}: {neg} weight(s) are negative",
                column=name,
                fix="weights must be positive",
            )
        )
    zero = int((arr[finite] == 0).sum())
    if zero and not allow_zero:
        problems.append(
            Problem(
                f"{where}: {zero} weight(s) are zero",
                column=name,
                fix="raking needs positive starting weights; drop those rows first",
            )
        )
    if finite.any() and not problems and float(arr[finite].sum()) <= 0:
        problems.append(
            Problem(
                f"{where}: the weights sum to zero",
                column=name,
                fix="give some rows a positive weight",
            )
        )
    return problems


def weights_of(data: pd.DataFrame, weight: str | None) -> np.ndarray:
    """The weights as float array (ones when ``weight`` is None); columns already checked."""
    if weight is None:
        return np.ones(len(data))
    return pd.to_numeric(data[weight], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def kish(weights: Iterable[float]) -> tuple[float, float]:
    """Kish's design effect due to weighting and effective sample size.

    ``deff = n * sum(w**2) / sum(w)**2`` and ``n_eff = sum(w)**2 / sum(w**2)`` (Kish 1965,
    *Survey Sampling*, section 11.7). Returns ``(nan, 0.0)`` for no weights.
    """
    w = np.asarray(weights, dtype=float)
    w = w[np.isfinite(w)]
    if w.size == 0 or not np.any(w):
        return float("nan"), 0.0
    s1, s2 = float(w.sum()), float(np.square(w).sum())
    return w.size * s2 / s1**2, s1**2 / s2


def svy_sample(
    frame: pd.DataFrame,
    *,
    weight: str | None,
    strata: str | None,
    cluster: str | None,
    singleton: str | None = None,
    fpc: str | None = None,
):
    """A ``svy.Sample`` over ``frame`` (pandas) with the given design columns.

    Missing values (NaN) become nulls, which svy leaves out of an estimate with
    ``drop_nulls=True`` while keeping the rows in the design. Without a weight, every row
    weighs one; without a cluster, every row is its own primary sampling unit. ``fpc`` (one
    stage: the population size of the row's stratum, or the sampling fraction, as R's
    ``svydesign(fpc=)``) becomes svy's ``pop_size`` (population sizes; svy's single-stage
    finite population correction reproduces R's).
    """
    import polars as pl
    import svy

    frame = frame.copy()
    pop = None
    if fpc is not None:
        pop = FPC
        frame[FPC] = population_sizes(frame, strata=strata, cluster=cluster, fpc=fpc)
    if weight is None:
        frame[WEIGHT] = 1.0
        weight = WEIGHT
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(str).where(frame[col].notna())
    data = pl.from_pandas(frame, nan_to_null=True)
    kw = {}
    if singleton is not None:
        kw["singleton"] = singleton
    if pop is not None:
        kw["pop_size"] = pop
    design = svy.Design(stratum=strata, psu=cluster, wgt=weight, **kw)
    with svy_errors("declaring the survey design"):
        return svy.Sample(data, design)


def population_sizes(frame: pd.DataFrame, *, strata, cluster, fpc: str) -> np.ndarray:
    """The first-stage population size of every row from an fpc column (population sizes, or
    sampling fractions when every value is <= 1), checked as R's ``as.fpc`` does."""
    from ._variance import build_design

    design = build_design(
        frame, weight=None, strata=strata, cluster=as_list(cluster), fpc=[fpc], where="fpc"
    )
    return design.popsize[:, 0]


def sampling_fractions(frame: pd.DataFrame, *, strata, cluster, fpc: str) -> np.ndarray:
    """The first-stage sampling fraction ``n_h / N_h`` of every row from an fpc column."""
    from ._variance import build_design

    design = build_design(
        frame, weight=None, strata=strata, cluster=as_list(cluster), fpc=[fpc], where="fpc"
    )
    return design.sampsize[:, 0] / design.popsize[:, 0]


@contextmanager
def svy_errors(what: str):
    """Re-raise svy's errors (and numerical failures) as :class:`AnalysisError` saying what
    was being computed."""
    try:
        yield
    except StudyError:
        raise
    except Exception as exc:  # svy raises its own typed errors; keep their message
        import svy.errors as se

        base = getattr(se, "SvyError", None)
        if (
            base is not None
            and not isinstance(exc, base)
            and not isinstance(exc, ValueError | ArithmeticError)
        ):
            raise
        message = " ".join(str(exc).split()).lstrip("❌ ")
        fix = "check the design columns (weights, strata, clusters) and the analysed column"
        if "singleton" in message.lower() or "single psu" in message.lower():
            fix = (
                "a stratum has a single cluster: merge it with a neighbouring stratum, or pass "
                "singleton='center' (R's lonely.psu='adjust')"
            )
        raise AnalysisError(
            f"Survey estimation failed while {what}.", [Problem(message, fix=fix)]
        ) from exc


def bootstrap_weights(
    weights: np.ndarray,
    n_boot: int,
    *,
    strata: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    seed: int | None = 0,
    fraction: np.ndarray | None = None,
) -> np.ndarray:
    """Rao–Wu rescaled bootstrap replicate weights, shape ``(n_boot, n)``.

    Clusters (or rows, without clusters) are resampled with replacement within strata, ``n_h - 1``
    draws per stratum, and weights rescaled by ``n_h / (n_h - 1)`` (Rao, Wu & Yue 1992). Drawn by
    ``svy.Sample.weighting.create_bs_wgts``. With first-stage sampling fractions ``f_h``
    (``fraction``, per row), the factor ``a`` of each replicate becomes ``1 - l + l a`` with
    ``l = sqrt(1 - f_h)`` (Rao, Wu & Yue 1992, eq. 4.1 with ``m_h = n_h - 1``), so a stratum
    sampled exhaustively does not vary.
    """
    import polars as pl
    import svy

    n = len(weights)
    cols = {ROW_ID: np.arange(n), WEIGHT: np.asarray(weights, dtype=float)}
    psu = ROW_ID
    stratum = None
    if cluster is not None:
        cols["__cluster__"] = pd.Series(cluster).astype(str).to_numpy()
        psu = "__cluster__"
    if strata is not None:
        cols["__strata__"] = pd.Series(strata).astype(str).to_numpy()
        stratum = "__strata__"
    data = pl.DataFrame(cols)
    with svy_errors("drawing bootstrap replicate weights"):
        sample = svy.Sample(data, svy.Design(stratum=stratum, psu=psu, wgt=WEIGHT))
        reps = sample.weighting.create_bs_wgts(n_boot, rstate=seed, rep_prefix="__rep")
        rep_cols = [f"__rep{i}" for i in range(1, n_boot + 1)]
        out = reps.data.select(rep_cols).to_numpy()
    out = np.ascontiguousarray(out.T)
    if fraction is not None:
        w = np.asarray(weights, dtype=float)
        lam = np.sqrt(np.clip(1.0 - np.asarray(fraction, dtype=float), 0.0, 1.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(w > 0, out / w, 1.0)
        out = w * (1.0 - lam + lam * a)
    return out
