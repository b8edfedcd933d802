"""Calibration of weights to population totals (Deville & Särndal 1992), as R ``survey``'s
``calibrate()`` computes it (``R/grake.R``: ``grake``, ``cal.linear``, ``cal.raking``,
``cal.logit``) (private).

The calibrated weights are ``w = w0 * F(x' lambda)``, with ``lambda`` solving the calibration
equations ``sum w x = T`` by Newton's method (a generalised inverse handles redundant
constraints, such as the indicators of every level of several margins):

* ``"linear"`` (GREG): ``F(u) = 1 + u``, clipped to the bounds;
* ``"raking"``: ``F(u) = exp(u)``, clipped to the bounds (the same weights as iterative
  proportional fitting when the constraints are margins);
* ``"logit"``: the bounded logistic ``F`` of Deville & Särndal (1992), eq. 2.6 (needs bounds
  ``L < 1 < U``): ``F(u) = (L (U - 1) + U (1 - L) e^{A u}) / ((U - 1) + (1 - L) e^{A u})``,
  ``A = (U - L) / ((1 - L)(U - 1))``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CAL_METHODS", "calibrate_g", "indicator_matrix"]

CAL_METHODS = ("linear", "raking", "logit")


def indicator_matrix(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """The indicators of every level of every margin, side by side (n, sum of sizes)."""
    n = len(codes[0]) if codes else 0
    cols = []
    for c, k in zip(codes, sizes):
        m = np.zeros((n, k))
        ok = c >= 0
        m[np.flatnonzero(ok), c[ok]] = 1.0
        cols.append(m)
    return np.hstack(cols) if cols else np.zeros((n, 0))


def _f(method: str, u: np.ndarray, lo: float, hi: float):
    """``(F(u), F'(u))`` of the calibration function (0 derivative where clipped)."""
    if method == "linear":
        g = 1.0 + u
        d = np.ones_like(u)
    elif method == "raking":
        g = np.exp(np.clip(u, -700, 700))
        d = g.copy()
    else:
        a = (hi - lo) / ((1 - lo) * (hi - 1))
        e = np.exp(np.clip(a * u, -700, 700))
        g = (lo * (hi - 1) + hi * (1 - lo) * e) / ((hi - 1) + (1 - lo) * e)
        d = a * (g - lo) * (hi - g) / (hi - lo)
        return g, d
    out = (g < lo) | (g > hi)
    return np.clip(g, lo, hi), np.where(out, 0.0, d)


def calibrate_g(
    x: np.ndarray,
    w0: np.ndarray,
    totals: np.ndarray,
    method: str = "linear",
    bounds: tuple[float, float] = (-np.inf, np.inf),
    max_iter: int = 50,
    tol: float = 1e-7,
) -> tuple[np.ndarray, bool, int, float]:
    """The adjustment factors ``g`` (calibrated = ``g * w0``), whether they converged, the
    Newton iterations used and the largest relative misfit ``|T - sum w x| / (1 + |T|)`` (R's
    ``grake`` criterion and default ``epsilon=1e-7``)."""
    lo, hi = bounds
    lam = np.zeros(x.shape[1])
    g, d = _f(method, x @ lam, lo, hi)
    err = np.inf
    for it in range(1, max_iter + 1):
        misfit = totals - x.T @ (g * w0)
        step = np.linalg.pinv(x.T @ (x * (w0 * d)[:, None]), rcond=1e-12) @ misfit
        lam = lam + step
        g, d = _f(method, x @ lam, lo, hi)
        halvings = 0
        while not (np.isfinite(g).all() and np.isfinite(d).all()) and halvings < 50:
            step = step / 2
            lam = lam - step
            g, d = _f(method, x @ lam, lo, hi)
            halvings += 1
        err = float(np.max(np.abs(totals - x.T @ (g * w0)) / (1 + np.abs(totals))))
        if err < tol:
            return g, True, it, err
    return g, False, max_iter, err
