"""Design-based variance of R ``survey``'s kind, written out (private).

What svy does not do (finite population corrections at every stage, multistage designs,
calibration-aware residuals, replicate designs with R's scales) lives here, as small numpy
functions that follow R ``survey`` 4.5 line by line:

* :class:`Design`: the design of the analysed rows; stage codes nested as ``svydesign(...,
  nest=TRUE)`` reads them (``R/multistage.R``, ``svydesign.default``), the sample and
  population sizes of every stage as ``as.fpc`` computes them.
* :func:`taylor_variance`: ``svyrecvar`` -> ``multistage`` -> ``onestage`` -> ``onestrat``:
  with-replacement or finite-population variance of the first stage, plus, when the first
  stage has a population size, the later stages' variances times the first-stage sampling
  fraction (the "variance summed over stages" of the classical multistage formula).
* calibration residuals (``svyrecvar``'s ``greg_calibration`` branch) are applied before.

Every estimator of the kit is a ratio of two weighted totals (a total is a ratio to 1, a mean
a ratio to the count, a share a mean of an indicator, a quantile's Woodruff interval a share),
so one linearisation serves them all (see :mod:`._estimators`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import AnalysisError, ParcoursWarning, Problem

__all__ = [
    "Design",
    "Calibration",
    "LONELY_PSU",
    "build_design",
    "fpc_problems",
    "taylor_variance",
    "design_df",
]

#: R's ``options(survey.lonely.psu=)`` values.
LONELY_PSU = ("fail", "remove", "certainty", "adjust", "average")
#: svy's singleton rules that have an R equivalent.
_SVY_SINGLETON = {
    "center": "adjust",
    "skip": "remove",
    "self_representing": "certainty",
    "scale": "average",
}


@dataclass(frozen=True)
class Calibration:
    """What the variance needs of a calibration: the calibration variables ``x`` (n, p), the
    design weights ``w0`` before calibration and the calibrated weights ``w`` (R's
    ``greg_calibration``: ``qr(mm * sqrt(w0))`` and ``w = g * sqrt(w0)``)."""

    x: np.ndarray
    w0: np.ndarray
    w: np.ndarray

    def residuals(self, z: np.ndarray) -> np.ndarray:
        """``w * (u - X b)`` with ``u = z / w`` and ``b`` the ``w0``-weighted least squares fit
        of ``u`` on ``X``: R's ``qr.resid(qr(mm * sqrt(w0)), z / (g sqrt(w0))) * g sqrt(w0)``."""
        z = np.asarray(z, dtype=float).reshape(len(self.w), -1)
        sw = np.sqrt(self.w0)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(self.w[:, None] > 0, z / self.w[:, None], 0.0)
        a = self.x * sw[:, None]
        coef, *_ = np.linalg.lstsq(a, u * sw[:, None], rcond=None)
        return self.w[:, None] * (u - self.x @ coef)


@dataclass(frozen=True)
class Design:
    """A survey design over ``n`` rows.

    ``strata`` and ``clusters`` are (n, stages) integer codes, nested (a stage-k cluster code is
    unique across the whole sample, a stage-k stratum is the stage-(k-1) cluster for k > 1);
    ``sampsize`` the number of stage-k clusters sampled in the row's stage-k stratum,
    ``popsize`` (or None: sampling with replacement) the number in the population (``inf``
    for a with-replacement stage)."""

    weights: np.ndarray
    strata: np.ndarray
    clusters: np.ndarray
    sampsize: np.ndarray
    popsize: np.ndarray | None = None
    lonely_psu: str = "fail"
    domain_lonely: bool = False
    calibration: tuple[Calibration, ...] = field(default=())

    @property
    def n(self) -> int:
        return len(self.weights)

    @property
    def stages(self) -> int:
        return self.clusters.shape[1]

    def with_weights(self, weights: np.ndarray) -> Design:
        """The same design with other analysis weights."""
        return Design(
            np.asarray(weights, dtype=float),
            self.strata,
            self.clusters,
            self.sampsize,
            self.popsize,
            self.lonely_psu,
            self.domain_lonely,
            self.calibration,
        )


# ---------------------------------------------------------------------------------------------
# building a design
# ---------------------------------------------------------------------------------------------
def _codes(*columns) -> np.ndarray:
    """Integer codes of the combinations of the given columns (R's ``interaction``)."""
    frame = pd.DataFrame({i: pd.Series(c).astype(str).to_numpy() for i, c in enumerate(columns)})
    return frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()


def fpc_problems(values: np.ndarray, name: str, where: str) -> list[Problem]:
    """Problems of fpc columns (n, stages): missing, non-positive, population sizes mixed
    with sampling fractions (R: "Must have all fpc>=1 or all fpc<=1")."""
    problems = []
    if not np.isfinite(values).all():
        problems.append(
            Problem(
                f"{where}: {int((~np.isfinite(values)).sum())} fpc value(s) are missing or not "
                "numbers",
                column=name,
                fix="give every row the population size of its stratum (or the sampling fraction)",
            )
        )
    elif (values <= 0).any():
        problems.append(
            Problem(
                f"{where}: fpc values must be positive",
                column=name,
                fix="a population size (>= 1) or a sampling fraction (0-1]",
            )
        )
    elif (values > 1).any() and (values < 1).any():
        problems.append(
            Problem(
                f"{where}: fpc mixes population sizes (> 1) and sampling fractions (< 1)",
                column=name,
                fix="use population sizes everywhere, or sampling fractions everywhere",
            )
        )
    return problems


def build_design(
    frame: pd.DataFrame,
    *,
    weight: str | None,
    strata: str | None,
    cluster: list[str],
    fpc: list[str],
    lonely_psu: str = "fail",
    domain_lonely: bool = False,
    where: str = "design",
) -> Design:
    """The :class:`Design` of ``frame`` (columns already checked to exist and be complete).

    Clusters are read within strata, and stage-k clusters within stage-(k-1) clusters (R's
    ``nest=TRUE``). ``fpc`` gives one column per stage (at most as many as cluster stages, at
    least one; stages without one are sampled with replacement, as R warns). Population sizes
    (all >= 1) or sampling fractions (all <= 1: population = sample / fraction; a fraction of
    1 is a census) as R's ``as.fpc``. Without ``weight``, the weights are the product over
    stages of population / sample sizes (R's ``weights(fpc)``), or 1 without fpc.
    """
    n = len(frame)
    stages = max(len(cluster), 1)
    if len(fpc) > stages:
        raise AnalysisError(
            f"{where}: {len(fpc)} fpc columns for {stages} sampling stage(s).",
            [Problem("one fpc column per stage at most", fix="pass cluster=[stage1, stage2, ...]")],
        )
    rowid = np.arange(n)
    s1 = frame[strata].to_numpy() if strata is not None else np.zeros(n, dtype=int)
    ids = [frame[c].to_numpy() for c in cluster] or [rowid]
    clusters = np.empty((n, stages), dtype=np.int64)
    strat = np.empty((n, stages), dtype=np.int64)
    clusters[:, 0] = _codes(s1, ids[0])
    strat[:, 0] = _codes(s1)
    for k in range(1, stages):
        clusters[:, k] = _codes(s1, *ids[: k + 1])
        strat[:, k] = clusters[:, k - 1]
    sampsize = np.empty((n, stages), dtype=float)
    for k in range(stages):
        counts = pd.Series(clusters[:, k]).groupby(strat[:, k]).nunique()
        sampsize[:, k] = counts.reindex(strat[:, k]).to_numpy(dtype=float)
    popsize = _popsize(frame, fpc, sampsize, strat, where) if fpc else None
    if weight is not None:
        w = pd.to_numeric(frame[weight]).to_numpy(dtype=float)
    elif popsize is not None:
        if not np.isfinite(popsize).all():
            raise AnalysisError(
                f"{where}: weights are not given and cannot be computed from the fpc.",
                [Problem("an fpc for every stage is needed", fix="pass weight= or fpc= per stage")],
            )
        w = np.prod(popsize / sampsize, axis=1)
    else:
        w = np.ones(n)
    check_lonely(lonely_psu)
    return Design(w, strat, clusters, sampsize, popsize, lonely_psu, bool(domain_lonely))


def check_lonely(lonely_psu: str) -> None:
    """Raise unless ``lonely_psu`` is one of R's rules."""
    from .errors import check_one_of

    check_one_of("lonely_psu", lonely_psu, LONELY_PSU)


def lonely_from_singleton(singleton: str | None) -> str:
    """R's lonely-PSU rule from the kit's older ``singleton=`` (svy's names)."""
    if singleton is None:
        return "fail"
    if singleton in LONELY_PSU:
        return singleton
    if singleton in _SVY_SINGLETON:
        return _SVY_SINGLETON[singleton]
    raise AnalysisError(
        f"singleton={singleton!r} has no equivalent with this design.",
        [Problem("unknown rule", fix=f"pass lonely_psu= one of {', '.join(LONELY_PSU)}")],
    )


def _popsize(frame, fpc, sampsize, strat, where) -> np.ndarray:
    """Population sizes per row and stage from the fpc columns (R's ``as.fpc``)."""
    n, stages = sampsize.shape
    raw = np.column_stack([pd.to_numeric(frame[c], errors="coerce").to_numpy(float) for c in fpc])
    problems = fpc_problems(raw, ", ".join(fpc), where)
    if problems:
        raise AnalysisError(f"{where}: cannot read the finite population correction.", problems)
    is_pop = bool((raw > 1).any())
    popsize = np.full((n, stages), np.inf)
    popsize[:, : raw.shape[1]] = raw if is_pop else sampsize[:, : raw.shape[1]] / raw
    if raw.shape[1] < stages:
        warnings.warn(
            f"{where}: stages without fpc are treated as sampled with replacement (as R does).",
            ParcoursWarning,
            stacklevel=4,
        )
    small = popsize < sampsize - 1e-9
    if small.any():
        i, k = np.argwhere(small)[0]
        raise AnalysisError(
            f"{where}: the fpc implies more than 100% sampling.",
            [
                Problem(
                    f"row {i + 1}, stage {k + 1}: population {popsize[i, k]:g} < sample "
                    f"{sampsize[i, k]:g} clusters",
                    column=fpc[min(k, len(fpc) - 1)],
                    fix="the fpc is the population size of the stratum (or the sampling fraction)",
                )
            ],
        )
    for k in range(raw.shape[1]):
        varies = pd.Series(popsize[:, k]).groupby(strat[:, k]).nunique()
        if (varies > 1).any():
            raise AnalysisError(
                f"{where}: the fpc varies within a stratum (stage {k + 1}).",
                [Problem("one population size per stratum", column=fpc[k])],
            )
    return popsize


# ---------------------------------------------------------------------------------------------
# Taylor (linearisation) variance
# ---------------------------------------------------------------------------------------------
def taylor_variance(design: Design, z: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Variance (k x k) of the totals of the influence values ``z`` (n, k) under ``design``.

    ``present`` marks the rows of the (sub)population analysed (R drops the others from the
    design but keeps the sample sizes of the full design): it matters only for lonely PSUs
    inside a domain.
    """
    z = np.asarray(z, dtype=float).reshape(design.n, -1)
    for cal in design.calibration:
        z = cal.residuals(z)
    if present is None:
        present = np.ones(design.n, dtype=bool)
    rows = np.arange(design.n)
    return _multistage(design, z, rows, 0, present)


def _multistage(design: Design, z, rows, stage, present):
    v = _onestage(design, z[rows], rows, stage, present)
    if design.popsize is None or stage + 1 >= design.stages:
        return v
    cl = design.clusters[rows, stage]
    order = np.argsort(cl, kind="stable")
    splits = np.flatnonzero(np.diff(cl[order])) + 1
    for group in np.split(rows[order], splits):
        first = group[0]
        f = design.sampsize[first, stage] / design.popsize[first, stage]
        if f > 0:
            v = v + _multistage(design, z, group, stage + 1, present) * f
    return v


def _onestage(design: Design, x, rows, stage, present):
    """R's ``onestage``: the sum over strata of ``onestrat``, rescaled for "average"."""
    k = x.shape[1]
    if len(rows) == 0:
        return np.zeros((k, k))
    strata = design.strata[rows, stage]
    clusters = design.clusters[rows, stage]
    npsu = design.sampsize[rows, stage]
    pop = None if design.popsize is None else design.popsize[rows, stage]
    here = present[rows]
    lonely = design.lonely_psu
    keep = np.ones(len(rows), dtype=bool)
    if design.domain_lonely or lonely in ("adjust", "average"):
        # R drops the rows outside the subset: strata without a row of it are not there
        in_sub = pd.Series(here).groupby(strata).transform("any").to_numpy()
        keep = in_sub
    ustr, first = np.unique(strata[keep], return_index=True)
    recenter = np.zeros(k)
    if lonely == "adjust":
        total_psu = npsu[keep][first].sum()
        recenter = x[keep].sum(axis=0) / total_psu
    v = np.zeros((k, k))
    n_ok = 0
    for h in ustr:
        idx = np.flatnonzero((strata == h) & keep)
        vh = _onestrat(
            x[idx],
            clusters[idx],
            npsu[idx[0]],
            None if pop is None else pop[idx[0]],
            here[idx],
            lonely,
            design.domain_lonely,
            recenter,
            stage,
            h,
        )
        if vh is not None:
            v += vh
            n_ok += 1
    if n_ok < len(ustr) and n_ok > 0:
        v *= len(ustr) / n_ok
    return v


def _onestrat(x, clusters, npsu, pop, here, lonely, domain_lonely, recenter, stage, stratum):
    """R's ``onestrat``: the variance of one stratum (None for an "average" lonely stratum)."""
    f = 1.0 if pop is None or not np.isfinite(pop) else (pop - npsu) / pop
    scale = f * npsu / (npsu - 1) if npsu > 1 else f
    if f < 1e-7:  # self-representing stratum: sampled exhaustively
        return np.zeros((x.shape[1], x.shape[1]))
    ucl, inv = np.unique(clusters, return_inverse=True)
    totals = np.zeros((len(ucl), x.shape[1]))
    np.add.at(totals, inv, x)
    nsub = len(np.unique(clusters[here])) if domain_lonely else len(ucl)
    n_pad = max(int(round(npsu)) - len(ucl), 0)
    padded = np.vstack([totals, np.zeros((n_pad, x.shape[1]))])
    lonely_domain = domain_lonely and nsub == 1 and npsu > 1
    if lonely != "adjust" or not (lonely_domain or npsu == 1):
        center = padded.mean(axis=0)
    else:
        center = recenter
    dev = padded - center
    if lonely_domain:
        warnings.warn(
            f"Stratum {stratum} has only one PSU at stage {stage + 1} in this domain.",
            ParcoursWarning,
            stacklevel=6,
        )
        if lonely == "average":
            return None
    if npsu > 1:
        return scale * dev.T @ dev
    if lonely == "fail":
        raise AnalysisError(
            f"Stratum {stratum} has only one PSU at stage {stage + 1}.",
            [
                Problem(
                    "a stratum with a single cluster has no variance estimate",
                    fix="merge it with a neighbouring stratum, or pass lonely_psu='adjust' "
                    "(or 'average', 'certainty', 'remove'), as R's options(survey.lonely.psu=)",
                )
            ],
        )
    if lonely == "average":
        return None
    return scale * dev.T @ dev


def design_df(design: Design, present: np.ndarray | None = None) -> int:
    """R's ``degf``: first-stage clusters minus first-stage strata among the rows with a
    nonzero weight (of the domain, when ``present`` is given)."""
    ok = design.weights != 0
    if present is not None:
        ok = ok & present
    if not ok.any():
        return 0
    return int(len(np.unique(design.clusters[ok, 0])) - len(np.unique(design.strata[ok, 0])))
