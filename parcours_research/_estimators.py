"""Domain estimates of totals, means, ratios, shares and quantiles with design-based standard
errors, for designs svy cannot describe (private; see :mod:`._variance`, :mod:`._replicates`).

Every estimate is a ratio of weighted totals ``sum w d a / sum w d b`` over the rows ``d`` of a
domain with a value (a total: ``b`` absent; a mean: ``b = 1``; a share: ``a`` an indicator). Its
Taylor influence values are ``w d (a - theta b) / sum w d b`` (R's ``svymean``/``svyratio``:
``x * pweights / psum`` centred), then the calibration residuals and the multistage variance
of :func:`._variance.taylor_variance`; with replicate weights the estimate is recomputed with
every replicate and :func:`._replicates.replicate_variance` combines them.

Quantiles follow R's ``svyquantile`` (survey >= 4.1) with its defaults: ``qrule="math"`` (the
smallest value whose weighted distribution function reaches ``p``) and Woodruff's interval with
``interval.type="mean"`` (the Student-t interval of the share of values at or below the
estimate, mapped back through the weighted quantile function); the reported SE is the width of
that interval divided by ``2 t``, as R reports it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ._replicates import Replicates, replicate_variance
from ._variance import Design, design_df, taylor_variance
from .errors import ParcoursWarning, Problem

__all__ = ["Engine", "ratio_estimate", "quantile_estimate", "share_interval", "weighted_quantile"]


@dataclass(frozen=True)
class Engine:
    """A design and, optionally, its replicate weights (then used for the variance)."""

    design: Design
    replicates: Replicates | None = None

    def df(self, present: np.ndarray) -> int:
        if self.replicates is not None:
            return self.replicates.df
        return design_df(self.design, present)


def ratio_estimate(engine: Engine, a, b, domain) -> tuple[float, float]:
    """``(estimate, variance)`` of ``sum w d a / sum w d b`` (``b=None``: the total of ``a``)
    over the rows of ``domain`` where ``a`` (and ``b``) are present."""
    a = np.asarray(a, dtype=float)
    d = np.asarray(domain, dtype=bool) & np.isfinite(a)
    if b is not None:
        b = np.asarray(b, dtype=float)
        d &= np.isfinite(b)
    a0 = np.where(d, a, 0.0)
    b0 = None if b is None else np.where(d, b, 0.0)
    w = engine.design.weights
    if b0 is None:
        theta = float(w @ a0)
        z = w * a0
    else:
        den = float(w @ b0)
        theta = float(w @ a0) / den if den != 0 else np.nan
        z = w * (a0 - theta * b0) / den if den != 0 else np.full_like(w, np.nan)
    if engine.replicates is not None:
        rw = engine.replicates.weights
        num = rw.T @ a0
        if b0 is None:
            thetas = num
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                thetas = num / (rw.T @ b0)
        var = float(replicate_variance(thetas, np.array([theta]), engine.replicates)[0])
        return theta, var
    if not np.isfinite(theta):
        return theta, np.nan
    present = None if engine.design.calibration else d
    return theta, float(taylor_variance(engine.design, z, present)[0, 0])


def weighted_quantile(x: np.ndarray, w: np.ndarray, p: float) -> float:
    """R's ``qrule_math`` (Hyndman–Fan type 1 with weights): the smallest value whose weighted
    distribution function reaches ``p`` (rows with a zero weight left out)."""
    ok = w > 0
    x, w = x[ok], w[ok]
    if x.size == 0:
        return np.nan
    order = np.argsort(x, kind="stable")
    xs, cw = x[order], np.cumsum(w[order])
    target = p * cw[-1]
    below = np.flatnonzero(cw <= target)
    pos = below[-1] if below.size else -1
    if pos >= 0 and p - cw[pos] / cw[-1] <= 0:
        return float(xs[pos])
    return float(xs[min(pos + 1, xs.size - 1)])


def quantile_estimate(engine: Engine, y, domain, p: float, confidence: float):
    """``(estimate, se, ci_low, ci_high, df)`` of the ``p`` quantile with Woodruff's interval
    (R ``svyquantile(..., ci=TRUE)``, ``interval.type="mean"``, ``qrule="math"``)."""
    y = np.asarray(y, dtype=float)
    d = np.asarray(domain, dtype=bool) & np.isfinite(y)
    w = engine.design.weights
    wd = np.where(d, w, 0.0)
    q = weighted_quantile(y[d], wd[d], p)
    df = engine.df(d)
    if not np.isfinite(q) or df <= 0:
        return q, np.nan, np.nan, np.nan, df
    below = np.where(d, (y <= q).astype(float), np.nan)
    share, var = ratio_estimate(engine, below, np.ones_like(y), d)
    t = stats.t.ppf(1 - (1 - confidence) / 2, df)
    lo_p, hi_p = share - t * math.sqrt(var), share + t * math.sqrt(var)
    lo = weighted_quantile(y[d], wd[d], lo_p) if lo_p >= 0 else np.nan
    hi = weighted_quantile(y[d], wd[d], hi_p) if hi_p <= 1 else np.nan
    se = (hi - lo) / (2 * t)
    return q, se, lo, hi, df


def mean_interval(est, se, df, confidence):
    """Student-t interval with ``df`` degrees of freedom (NaN when df <= 0)."""
    if df is None or df <= 0 or not np.isfinite(se):
        return np.nan, np.nan
    t = stats.t.ppf(1 - (1 - confidence) / 2, df)
    return est - t * se, est + t * se


def share_interval(p, se, df, n, method: str, confidence: float) -> tuple[float, float]:
    """Interval of a survey share ``p`` (SE ``se``, design df ``df``, ``n`` rows).

    Inside (0, 1) the formulas are svy's (``Estimation._prop_ci``, the same as R's
    ``svyciprop``): the effective sample size ``n* = p (1 - p) / se^2``, times
    ``(t_{n-1} / t_df)^2`` (Korn & Graubard 1998, eq. 2.2; truncated at ``n`` for
    ``"korn-graubard"``), then Clopper–Pearson on ``(n* p, n*)`` (``"beta"``,
    ``"korn-graubard"``), Wilson's score interval on ``n*`` with the Student t quantile of the
    design df in place of z (``"wilson"``), or a t interval on the logit scale (``"logit"``).

    At ``p = 0`` or ``1`` the design SE is 0 by construction and measures nothing, so the
    effective sample size is ``n`` (design effect 1, as the NCHS standard does for
    Korn–Graubard): Wilson gives ``[0, t^2 / (n + t^2)]`` (and its mirror at 1), the
    beta/Korn–Graubard forms the exact Clopper–Pearson bound ``[0, 1 - (alpha/2)^(1/n)]``;
    the logit interval has no finite limit there and takes the Clopper–Pearson bound too.
    """
    alpha = 1 - confidence
    if df is None or df <= 0 or n < 1:
        return np.nan, np.nan
    tol = 1e-12
    if p <= tol or p >= 1 - tol:
        return _boundary_interval(p >= 1 - tol, n, df, method, alpha)
    if se <= tol:
        return p, p
    t_df = stats.t.ppf(1 - alpha / 2, df)
    if method == "logit":
        lp = math.log(p / (1 - p))
        h = t_df * se / (p * (1 - p))
        return 1 / (1 + math.exp(-(lp - h))), 1 / (1 + math.exp(-(lp + h)))
    n_eff = p * (1 - p) / se**2
    if n > 1:
        n_eff *= (stats.t.ppf(1 - alpha / 2, n - 1) / t_df) ** 2
    if method == "korn-graubard":
        n_eff = min(n, n_eff)
    if method == "wilson":
        z2 = t_df**2
        denom = 1 + z2 / n_eff
        centre = (p + z2 / (2 * n_eff)) / denom
        half = (t_df / denom) * math.sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff**2))
        return max(0.0, centre - half), min(1.0, centre + half)
    x = n_eff * p
    lo = stats.beta.ppf(alpha / 2, x, n_eff - x + 1) if x > 0 else 0.0
    hi = stats.beta.ppf(1 - alpha / 2, x + 1, n_eff - x) if n_eff - x > 0 else 1.0
    return float(lo), float(hi)


def _boundary_interval(at_one: bool, n, df, method, alpha) -> tuple[float, float]:
    """The interval of a share observed at 0 (or, mirrored, at 1) on ``n`` rows."""
    if method == "wilson":
        t2 = stats.t.ppf(1 - alpha / 2, df) ** 2
        hi = t2 / (n + t2)
    else:
        hi = 1 - (alpha / 2) ** (1 / n)
    return (1 - hi, 1.0) if at_one else (0.0, hi)


def warn_df(where: str, labels: list[str]) -> None:
    """Warn that some domains have no design degrees of freedom (no interval)."""
    if labels:
        shown = ", ".join(labels[:5]) + (", ..." if len(labels) > 5 else "")
        warnings.warn(
            f"{where}: {len(labels)} domain(s) have 0 design degrees of freedom (one cluster "
            f"per stratum in the domain), so no interval: {shown}. Pool small domains, or read "
            "the estimate without an interval.",
            ParcoursWarning,
            stacklevel=4,
        )


# ---------------------------------------------------------------------------------------------
# building the engine of an analysis
# ---------------------------------------------------------------------------------------------
VARIANCE_METHODS = ("taylor", "jk1", "jkn", "bootstrap", "brr")


def is_calibration(weight) -> bool:
    """Whether ``weight`` is a raking or calibration result (not a column name)."""
    return hasattr(weight, "weights") and hasattr(weight, "start_weights")


def engine_problems(
    data,
    *,
    fpc: list[str],
    variance: str,
    replicate_weights: list[str],
    replicate_scale,
    replicate_rscales,
    fay: float,
    where: str,
) -> list[Problem]:
    """Problems of the variance arguments: method, replicate columns and scales, Fay's rho."""
    from .errors import check_one_of

    allowed = VARIANCE_METHODS + (("other",) if replicate_weights else ())
    check_one_of("variance", variance, allowed)
    problems: list[Problem] = []
    if replicate_weights:
        if variance == "taylor":
            problems.append(
                Problem(
                    f"{where}: replicate_weights= needs the replicate method",
                    fix="pass variance='jk1', 'jkn', 'bootstrap', 'brr' or 'other' (as R's "
                    "svrepdesign(type=))",
                )
            )
        for c in replicate_weights:
            if c in data.columns:
                v = pd.to_numeric(data[c], errors="coerce")
                if v.isna().any() or (v < 0).any():
                    problems.append(
                        Problem(
                            f"{where}: replicate weight column {c!r} has missing, non-numeric or "
                            "negative values",
                            column=c,
                        )
                    )
        k = len(replicate_weights)
        if replicate_rscales is not None and len(np.atleast_1d(replicate_rscales)) not in (1, k):
            problems.append(
                Problem(f"{where}: replicate_rscales needs {k} values (one per column)")
            )
        if variance == "jkn" and replicate_rscales is None:
            problems.append(
                Problem(
                    f"{where}: JKn replicate weights need replicate_rscales= ((n_h - 1) / n_h of "
                    "the stratum of each replicate)"
                )
            )
        if variance == "other" and replicate_scale is None:
            problems.append(Problem(f"{where}: variance='other' needs replicate_scale="))
    if not (0 <= fay < 1):
        problems.append(Problem(f"{where}: fay={fay!r} must be in [0, 1) (Fay's rho; 0 is BRR)"))
    return problems


def make_engine(
    data,
    *,
    weight,
    strata: str | None,
    cluster: list[str],
    fpc: list[str],
    variance: str = "taylor",
    replicate_weights: list[str] | None = None,
    replicate_scale: float | None = None,
    replicate_rscales=None,
    mse: bool = False,
    fay: float = 0.0,
    n_boot: int = 200,
    seed: int | None = 0,
    lonely_psu: str = "fail",
    domain_singleton: bool = False,
    where: str = "scores",
) -> Engine:
    """The :class:`Engine` of ``data``: its design (weights from a column, from the fpc, or a
    raking/calibration result with its calibration residuals) and, unless ``variance`` is
    "taylor", its replicate weights (built from the design, or the given columns; with a
    calibration, every replicate is calibrated again, as R's ``calibrate.svyrep.design``)."""
    import dataclasses

    from ._variance import Calibration, build_design

    frame = data
    cal = None
    wcol = weight
    if is_calibration(weight):
        from .weighting import calibration_spec

        cal = calibration_spec(weight, data)
        frame = data.assign(__calw=cal["w"])
        wcol = "__calw"
    design = build_design(
        frame,
        weight=wcol,
        strata=strata,
        cluster=cluster,
        fpc=fpc,
        lonely_psu=lonely_psu,
        domain_lonely=domain_singleton,
        where=where,
    )
    if cal is not None:
        design = dataclasses.replace(
            design, calibration=(Calibration(cal["x"], cal["w0"], cal["w"]),)
        )
    if variance == "taylor":
        return Engine(design)
    reps = _replicates_of(
        data,
        design,
        cal,
        variance,
        replicate_weights,
        replicate_scale,
        replicate_rscales,
        mse,
        fay,
        n_boot,
        seed,
    )
    return Engine(design, reps)


def _replicates_of(data, design, cal, variance, columns, scale, rscales, mse, fay, n_boot, seed):
    """Replicate weights from the design (``make_replicates``) or from the given columns (R's
    ``svrepdesign`` default scales), calibrated again when the weights were calibrated."""
    import dataclasses

    from ._calibration import calibrate_g
    from ._replicates import Replicates, make_replicates

    if columns:
        w = np.column_stack([pd.to_numeric(data[c]).to_numpy(float) for c in columns])
        k = w.shape[1]
        default = {
            "jk1": (k - 1) / k,
            "jkn": 1.0,
            "brr": 1.0 / (k * (1 - fay) ** 2),
            "bootstrap": 1.0 / (k - 1),
            "other": 1.0,
        }[variance]
        rs = np.ones(k) if rscales is None else np.broadcast_to(np.asarray(rscales, float), (k,))
        reps = Replicates(
            w, float(default if scale is None else scale), rs.copy(), bool(mse), variance
        )
    else:
        base = design if cal is None else design.with_weights(cal["w0"])
        reps = make_replicates(base, variance, rho=fay, n_boot=n_boot, seed=seed, mse=mse)
    if cal is not None:
        new = np.empty_like(reps.weights)
        for j in range(reps.weights.shape[1]):
            wr = reps.weights[:, j]
            g, *_ = calibrate_g(cal["x"], wr, cal["targets"], cal["method"], cal["bounds"])
            new[:, j] = g * wr
        reps = dataclasses.replace(reps, weights=new)
    return reps
