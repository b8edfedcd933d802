"""Replicate-weight variance as R ``survey``'s ``svrepdesign`` computes it (private).

A replicate design is the full-sample weights, a matrix of replicate *analysis* weights (n, R),
an overall ``scale`` and per-replicate ``rscales``; the variance of an estimator is
``scale * sum_r rscales_r (theta_r - centre)^2`` with the centre the mean of the replicates
(``mse=False``, R's default) or the full-sample estimate (``mse=True``) (R ``svrVar``).

The replicate weights built here follow ``R/surveyrep.R`` and ``R/bootstrap.R``:

* ``"jk1"`` (``jk1weights``): drop one first-stage cluster at a time, the others times
  ``n / (n - 1)``; ``scale = (1 - f) (n - 1) / n`` with ``f`` the first-stage sampling
  fraction (from the fpc, 0 without it), ``rscales = 1``. Unstratified designs only.
* ``"jkn"`` (``jknweights``): the same within each stratum; ``scale = 1``, ``rscales_h =
  (1 - f_h) (n_h - 1) / n_h``.
* ``"brr"`` (``brrweights``) with Fay's factor ``rho``: two clusters per stratum; replicate r
  multiplies the half picked by a Hadamard matrix by ``2 - rho`` and the other by ``rho``;
  ``scale = 1 / (R (1 - rho)^2)``. Any Hadamard matrix of order >= strata gives the same
  variance of a linear estimator (full orthogonal balance); here Sylvester's (scipy), whose
  order is the next power of two above the number of strata (R picks the smallest known).
* ``"bootstrap"``: the Rao–Wu rescaled bootstrap (``n_h - 1`` clusters drawn with replacement
  per stratum; drawn by svy, see :func:`._design.bootstrap_weights`), ``scale = 1 / (B - 1)``,
  ``rscales = 1``: R's ``as.svrepdesign(type="subbootstrap")`` (``subbootweights``); with a
  first-stage fpc, Rao, Wu & Yue's factor ``sqrt(1 - f_h)`` (R's subbootstrap ignores the fpc).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .errors import AnalysisError, Problem

__all__ = ["Replicates", "REPLICATE_METHODS", "make_replicates", "replicate_variance"]

REPLICATE_METHODS = ("jk1", "jkn", "bootstrap", "brr")


@dataclass(frozen=True)
class Replicates:
    """Replicate analysis weights ``weights`` (n, R), ``scale``, ``rscales`` (R,), ``mse``."""

    weights: np.ndarray
    scale: float
    rscales: np.ndarray
    mse: bool
    method: str
    #: one row of replicate factors per first-stage cluster (built replicates): same rank
    factors: np.ndarray | None = None
    #: the rank of the weights when known in closed form (the jackknife's)
    rank: int | None = None

    @cached_property
    def df(self) -> int:
        """R's ``degf.svyrep.design``: the rank of the replicate weights minus one (computed
        on one row of factors per cluster when the replicates were built here, else on the
        distinct rows, which span the same space)."""
        if self.weights.shape[1] == 0:
            return 0
        if self.rank is not None:
            return self.rank - 1
        rows = self.factors
        if rows is None:
            rows = np.unique(np.round(self.weights, 12), axis=0)
        return int(np.linalg.matrix_rank(rows, tol=1e-5)) - 1


def replicate_variance(thetas: np.ndarray, full: np.ndarray, rep: Replicates) -> np.ndarray:
    """``scale * sum_r rscales_r (theta_r - centre)^2`` (R ``svrVar``), per column of
    ``thetas`` (R, k); replicates with a missing estimate are left out, as R does."""
    thetas = np.asarray(thetas, dtype=float).reshape(len(rep.rscales), -1)
    full = np.asarray(full, dtype=float).reshape(-1)
    out = np.empty(thetas.shape[1])
    for j in range(thetas.shape[1]):
        t = thetas[:, j]
        ok = np.isfinite(t)
        rs = rep.rscales[ok]
        if not ok.any():
            out[j] = np.nan
            continue
        centre = full[j] if rep.mse else t[ok][rs > 0].mean()
        out[j] = rep.scale * float(np.sum((t[ok] - centre) ** 2 * rs))
    return out


def make_replicates(
    design,
    method: str,
    *,
    rho: float = 0.0,
    n_boot: int = 200,
    seed: int | None = 0,
    mse: bool = False,
) -> Replicates:
    """Replicate weights of a :class:`._variance.Design` (first stage; later stages are
    represented by their first-stage cluster totals, as R's ``as.svrepdesign`` does)."""
    strata = design.strata[:, 0]
    clusters = design.clusters[:, 0]
    f = _first_stage_fraction(design)
    rank = None
    if method == "jk1":
        if len(np.unique(strata)) > 1:
            raise AnalysisError(
                "JK1 is for unstratified designs.",
                [
                    Problem(
                        "the design has strata", fix="use variance='jkn' (or 'brr', 'bootstrap')"
                    )
                ],
            )
        factors, scale, rscales, _ = _jk(clusters, strata, f, stratified=False)
        rank = factors.shape[1]
    elif method == "jkn":
        factors, scale, rscales, handled = _jk(
            clusters, strata, f, stratified=True, lonely=design.lonely_psu
        )
        # the columns of a stratum sum to n_h times the constant: one dependency per extra
        # stratum, so the rank is the number of clusters minus the strata plus one (R's qr rank)
        sampled = len(np.unique(strata[f < 1 - 1e-12]))
        rank = None if handled else factors.shape[1] - (sampled - 1)
    elif method == "brr":
        factors, scale, rscales = _brr(clusters, strata, rho)
    elif method == "bootstrap":
        from ._design import bootstrap_weights

        reps = bootstrap_weights(
            design.weights, int(n_boot), strata=strata, cluster=clusters, seed=seed, fraction=f
        )
        w = design.weights
        with np.errstate(divide="ignore", invalid="ignore"):
            factors = np.where(w[None, :] > 0, reps / w[None, :], 0.0).T
        scale, rscales = 1.0 / (n_boot - 1), np.ones(int(n_boot))
    else:  # pragma: no cover - checked by the caller
        raise AnalysisError(f"unknown replicate method {method!r}")
    weights = design.weights[:, None] * factors
    _, first = np.unique(clusters, return_index=True)
    return Replicates(
        weights,
        float(scale),
        np.asarray(rscales, dtype=float),
        bool(mse),
        method,
        factors[first],
        rank,
    )


def _first_stage_fraction(design) -> np.ndarray:
    """The first-stage sampling fraction per row (0 without a population size)."""
    if design.popsize is None:
        return np.zeros(design.n)
    pop = design.popsize[:, 0]
    return np.where(np.isfinite(pop), design.sampsize[:, 0] / pop, 0.0)


def _jk(clusters, strata, f, stratified: bool, lonely: str = "fail"):
    """Delete-one-cluster jackknife factors (n, R), scale, rscales and whether a lonely
    stratum was handled (R's ``jk1weights`` and ``jknweights``); strata sampled exhaustively
    get no replicate; a stratum with one cluster follows ``lonely`` as R's ``jknweights``:
    "fail" raises, "remove", "certainty" and "average" give it no replicate ("average" then
    scales the variance by clusters / replicates), "adjust" gives it one replicate that zeroes
    it and multiplies the other strata by ``H / (H - 1)``, with rscale ``(H - 1) / H``."""
    cols, rscales = [], []
    ustrata = np.unique(strata)
    groups = [ustrata] if not stratified else [[h] for h in ustrata]
    handled = False
    for hs in groups:
        in_h = np.isin(strata, hs)
        members = np.unique(clusters[in_h])
        nh = len(members)
        fh = float(f[in_h][0])
        if fh >= 1 - 1e-12:
            continue
        if nh == 1:
            handled = True
            col = _lonely_column(in_h, len(ustrata), lonely)
            if col is not None:
                cols.append(col)
                rscales.append((len(ustrata) - 1) / len(ustrata))
            continue
        for c in members:
            col = np.ones(len(clusters))
            col[in_h] = nh / (nh - 1)
            col[clusters == c] = 0.0
            cols.append(col)
            rscales.append((1 - fh) * (nh - 1) / nh)
    if not cols:
        raise AnalysisError(
            "Every stratum was sampled exhaustively: there is no sampling variance.",
            [Problem("the fpc says the sample is the whole population")],
        )
    factors = np.column_stack(cols)
    scale = 1.0
    if not stratified:
        scale, rscales = rscales[0], [1.0] * len(rscales)
    elif lonely == "average" and handled:
        scale = len(np.unique(clusters)) / factors.shape[1]
    return factors, scale, rscales, handled


def _lonely_column(in_h, n_strata: int, lonely: str):
    """The replicate of a stratum with a single cluster (None: no replicate)."""
    if lonely == "fail":
        raise AnalysisError(
            "A stratum has a single cluster: the jackknife cannot drop it.",
            [
                Problem(
                    "stratum with one cluster",
                    fix="merge it with another stratum, or pass singleton='adjust' (or "
                    "'average', 'certainty', 'remove'), as R's options(survey.lonely.psu=)",
                )
            ],
        )
    if lonely != "adjust":
        return None
    return np.where(in_h, 0.0, n_strata / (n_strata - 1))


def _brr(clusters, strata, rho: float):
    """Balanced repeated replication (Fay's factor ``rho``) over two clusters per stratum."""
    from scipy.linalg import hadamard

    hs = np.unique(strata)
    per = pd.Series(clusters).groupby(strata).nunique()
    if (per != 2).any():
        raise AnalysisError(
            "BRR needs exactly two clusters (PSUs) per stratum.",
            [
                Problem(
                    f"{int((per != 2).sum())} stratum(s) have another number of clusters",
                    fix="use variance='jkn' or 'bootstrap', or pair the clusters into strata",
                )
            ],
        )
    size = 1
    while size < len(hs) + 1:
        size *= 2
    h = hadamard(size)[:, 1 : len(hs) + 1]  # drop the constant column (R does the same)
    factors = np.empty((len(clusters), size))
    for j, s in enumerate(hs):
        in_h = strata == s
        first = np.unique(clusters[in_h])[0]
        half = np.where(clusters[in_h] == first, 1, -1)
        factors[in_h, :] = np.where(half[:, None] * h[None, :, j] > 0, 2 - rho, rho)
    return factors, 1.0 / (size * (1 - rho) ** 2), np.ones(size)
