"""Key-driver importance from (weighted) correlation matrices (private, pure numpy).

Everything is batched over a leading axis of replicates, so one call handles the point
estimate (one replicate: the analysis weights) and every bootstrap replicate at once.

* :func:`weighted_corr` - pairwise-complete weighted Pearson correlations, one matrix per
  weight vector, from four matrix products.
* :func:`subset_r2` - R² of the outcome on every subset of drivers (indexed by bitmask: bit j
  set = driver j in the model), growing a Cholesky factor depth-first over the subsets.
* :func:`shapley` - Shapley value / LMG / general dominance weights from the subset R².
* :func:`conditional_dominance`, :func:`complete_dominance` - Budescu (1993), Azen & Budescu
  (2003) dominance analysis from the same subset R².
* :func:`relative_weights` - Johnson (2000) relative weights.
* :func:`nearest_correlation` - matrices that are not positive definite (pairwise deletion in
  small groups) repaired by clipping their eigenvalues.
"""

from __future__ import annotations

from math import comb, factorial

import numpy as np
from numba import njit

__all__ = [
    "weighted_corr",
    "subset_r2",
    "shapley",
    "conditional_dominance",
    "complete_dominance",
    "relative_weights",
    "nearest_correlation",
    "popcounts",
]

_CHUNK_ROWS = 20_000


def weighted_corr(x: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise-complete weighted Pearson correlation matrices.

    Parameters
    ----------
    x : array (n, q)
        Data, NaN where missing.
    weights : array (B, n) or (n,)
        One weight vector per replicate.

    Returns
    -------
    corr : array (B, q, q)
        ``corr[b, i, j]`` is the weighted correlation of columns i and j over the rows where
        both are present, with weights ``weights[b]`` (means and variances also taken over
        those rows, as ``pandas.DataFrame.corr`` does without weights).
    wsum : array (B, q, q)
        The sum of weights over those rows.
    """
    x = np.asarray(x, dtype=float)
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    n, q = x.shape
    m = ~np.isnan(x)
    # centring by the column means reduces cancellation in E[x^2] - E[x]^2
    centre = np.array([np.nanmean(x[:, j]) if m[:, j].any() else 0.0 for j in range(q)])
    x0 = np.where(m, x - centre, 0.0)
    mf = m.astype(float)
    b = w.shape[0]
    s0 = np.zeros((b, q * q))
    s1 = np.zeros((b, q * q))
    s2 = np.zeros((b, q * q))
    s11 = np.zeros((b, q * q))
    for start in range(0, n, _CHUNK_ROWS):
        sl = slice(start, min(n, start + _CHUNK_ROWS))
        xs, ms, ws = x0[sl], mf[sl], w[:, sl]
        k = xs.shape[0]
        s0 += ws @ (ms[:, :, None] * ms[:, None, :]).reshape(k, q * q)
        s1 += ws @ (xs[:, :, None] * ms[:, None, :]).reshape(k, q * q)
        s2 += ws @ ((xs * xs)[:, :, None] * ms[:, None, :]).reshape(k, q * q)
        s11 += ws @ (xs[:, :, None] * xs[:, None, :]).reshape(k, q * q)
    s0, s1, s2, s11 = (a.reshape(b, q, q) for a in (s0, s1, s2, s11))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_ij = s1 / s0  # mean of x_i over rows where i and j are present
        mean_ji = np.swapaxes(mean_ij, 1, 2)
        var_ij = s2 / s0 - mean_ij**2
        var_ji = np.swapaxes(var_ij, 1, 2)
        cov = s11 / s0 - mean_ij * mean_ji
        corr = cov / np.sqrt(var_ij * var_ji)
    idx = np.arange(q)
    corr[:, idx, idx] = 1.0
    return corr, s0


def popcounts(p: int) -> np.ndarray:
    """Number of set bits of every mask 0 .. 2**p - 1."""
    v = np.arange(1 << p)
    out = np.zeros_like(v)
    while v.any():
        out += v & 1
        v >>= 1
    return out


def subset_r2(corr: np.ndarray) -> np.ndarray:
    """R² of the outcome (variable 0) on every subset of the drivers (variables 1..p).

    Parameters
    ----------
    corr : array (B, p + 1, p + 1)
        Correlation matrices, outcome first.

    Returns
    -------
    array (B, 2**p)
        ``r2[b, mask]``; bit j of ``mask`` set means driver j (variable j + 1) is in the model.
        ``r2[:, 0] = 0``.

    Notes
    -----
    Depth-first over the subsets, growing a Cholesky factor one driver at a time: a subset S
    keeps ``M_S = L_S^-1 R[S, :]`` (``L_S`` the Cholesky factor of ``R[S, S]``), so that adding
    driver j costs one row, ``m = (R[j, :] - l' M_S) / sqrt(1 - l'l)`` with ``l = M_S[:, j]``,
    and ``R²(S + j) = R²(S) + m[y]^2``: O(k q) per subset instead of a k x k solve. A driver
    collinear with S (``1 - l'l`` ~ 0) adds nothing. The walk is a compiled loop (numba), four
    replicates at a time (the same operations per replicate as one at a time), the replicates
    shared between two threads.
    """
    corr = np.ascontiguousarray(corr, dtype=float)
    b, q, _ = corr.shape
    out = np.zeros((b, 1 << (q - 1)))
    if b == 0 or q < 2:
        return out
    if b < 8:
        _subset_r2_kernel(corr, out, 0, b)
        return out
    import threading

    mid = b // 8 * 4  # halves of whole groups of four replicates; the second on a thread
    errors: list[BaseException] = []

    def second_half():
        try:
            _subset_r2_kernel(corr, out, mid, b)
        except BaseException as e:  # noqa: BLE001 - raised again in the caller
            errors.append(e)

    other = threading.Thread(target=second_half)
    other.start()
    try:
        _subset_r2_kernel(corr, out, 0, mid)
    finally:
        other.join()
    if errors:
        raise errors[0]
    return out


@njit(cache=True, nogil=True)
def _subset_r2_kernel(corr, out, lo, hi):  # pragma: no cover - compiled
    """Replicates ``lo .. hi`` four at a time: one walk over the subsets, each of the four
    lanes doing exactly the scalar operations of one replicate (same order, no fused
    multiply-add), so that the CPU overlaps four independent chains. Lanes past ``hi`` walk
    an identity matrix and are not written."""
    q = corr.shape[1]
    p = q - 1
    rr = np.zeros((q, q, 4))
    m = np.zeros((p + 1, q, 4))  # rows of M_S along the current chain, one per lane
    cf = np.zeros((p + 1, 4))  # l = M_S[:, v] of the driver being added
    r2s = np.zeros((p + 1, 4))
    masks = np.zeros(p + 1, dtype=np.int64)
    nxt = np.zeros(p + 1, dtype=np.int64)
    for b0 in range(lo, hi, 4):
        nl = min(4, hi - b0)
        for i in range(q):
            for c in range(q):
                for t in range(4):
                    rr[i, c, t] = corr[b0 + t, i, c] if t < nl else (1.0 if i == c else 0.0)
        depth = 0
        nxt[0] = 0
        while True:
            if nxt[depth] >= p:
                if depth == 0:
                    break
                depth -= 1
                continue
            j = nxt[depth]
            nxt[depth] += 1
            v = j + 1
            e0, e1, e2, e3 = 1.0, 1.0, 1.0, 1.0  # 1 - l'l
            for k in range(depth):
                c0, c1, c2, c3 = m[k, v, 0], m[k, v, 1], m[k, v, 2], m[k, v, 3]
                cf[k, 0], cf[k, 1], cf[k, 2], cf[k, 3] = c0, c1, c2, c3
                e0 -= c0 * c0
                e1 -= c1 * c1
                e2 -= c2 * c2
                e3 -= c3 * c3
            # a driver collinear with S adds nothing: its row is 0 (inverse 0, flag off)
            ok0, ok1, ok2, ok3 = e0 > 1e-12, e1 > 1e-12, e2 > 1e-12, e3 > 1e-12
            i0 = 1.0 / np.sqrt(e0) if ok0 else 0.0
            i1 = 1.0 / np.sqrt(e1) if ok1 else 0.0
            i2 = 1.0 / np.sqrt(e2) if ok2 else 0.0
            i3 = 1.0 / np.sqrt(e3) if ok3 else 0.0
            # the later drivers (columns > v), then the outcome (column 0, visited as q)
            for cq in range(v + 1, q + 1):
                c = 0 if cq == q else cq
                a0, a1, a2, a3 = rr[v, c, 0], rr[v, c, 1], rr[v, c, 2], rr[v, c, 3]
                for k in range(depth):
                    a0 -= cf[k, 0] * m[k, c, 0]
                    a1 -= cf[k, 1] * m[k, c, 1]
                    a2 -= cf[k, 2] * m[k, c, 2]
                    a3 -= cf[k, 3] * m[k, c, 3]
                m[depth, c, 0] = a0 * i0 if ok0 else 0.0
                m[depth, c, 1] = a1 * i1 if ok1 else 0.0
                m[depth, c, 2] = a2 * i2 if ok2 else 0.0
                m[depth, c, 3] = a3 * i3 if ok3 else 0.0
            mask = masks[depth] | (np.int64(1) << j)
            for t in range(4):
                r2s[depth + 1, t] = r2s[depth, t] + m[depth, 0, t] * m[depth, 0, t]
            for t in range(nl):
                out[b0 + t, mask] = r2s[depth + 1, t]
            depth += 1
            masks[depth] = mask
            nxt[depth] = j + 1


def _weights_by_size(p: int) -> np.ndarray:
    """Shapley weight of a subset of size s not containing the driver: s!(p-s-1)!/p!."""
    return np.array([factorial(s) * factorial(p - s - 1) / factorial(p) for s in range(p)])


def _gains(r2: np.ndarray, p: int, j: int, out: np.ndarray | None = None) -> np.ndarray:
    """``R²(S + j) - R²(S)`` for every S without j, shape ``(B, 2**(p-1))``, the subsets in
    the order of their masks with bit j removed (a reshape, no gather); written into ``out``
    (C-contiguous, that shape) when given, which saves a large allocation per driver."""
    b = r2.shape[0]
    if out is None:
        out = np.empty((b, 1 << (p - 1)))
    if j == 0 or not r2.flags.c_contiguous:
        view = r2.reshape(b, 1 << (p - 1 - j), 2, 1 << j)
        dest = out.reshape(b, 1 << (p - 1 - j), 1 << j)
    else:  # pairs of doubles as one complex: long inner loops (the same subtractions)
        view = r2.view(np.complex128).reshape(b, 1 << (p - 1 - j), 2, 1 << (j - 1))
        dest = out.view(np.complex128).reshape(b, 1 << (p - 1 - j), 1 << (j - 1))
    np.subtract(view[:, :, 1, :], view[:, :, 0, :], out=dest)
    return out


def shapley(r2: np.ndarray, p: int) -> np.ndarray:
    """Shapley value (LMG, general dominance) of every driver, shape ``(B, p)``.

    ``phi_j = sum over S not containing j of |S|!(p-|S|-1)!/p! * (R²(S + j) - R²(S))``;
    the values sum to the R² of the full model.
    """
    wts = _weights_by_size(p)[popcounts(p - 1)]  # sizes of the subsets of the p - 1 others
    out = np.empty((r2.shape[0], p))
    buf = np.empty((r2.shape[0], 1 << (p - 1)))
    for j in range(p):
        out[:, j] = _gains(r2, p, j, buf) @ wts
    return out


def conditional_dominance(r2: np.ndarray, p: int) -> np.ndarray:
    """Average R² gain of adding each driver to models of each size, shape ``(B, p, p)``.

    ``c[b, j, s]`` is the mean of ``R²(S + j) - R²(S)`` over the subsets S of size ``s``
    without driver j (Azen & Budescu 2003). Their mean over ``s`` is the Shapley value.
    """
    sizes = popcounts(p - 1)
    onehot = (sizes[:, None] == np.arange(p)[None, :]) / np.array(
        [comb(p - 1, s) for s in range(p)]
    )
    out = np.empty((r2.shape[0], p, p))
    buf = np.empty((r2.shape[0], 1 << (p - 1)))
    for j in range(p):
        out[:, j, :] = _gains(r2, p, j, buf) @ onehot
    return out


def complete_dominance(r2: np.ndarray, p: int, tol: float = 0.0) -> np.ndarray:
    """Complete dominance between every pair of drivers, shape ``(B, p, p)``.

    ``d[b, i, j] = 1`` when adding driver i raises R² more than adding driver j to every
    subset containing neither (including the empty one), ``-1`` when j always wins, ``0``
    otherwise (undetermined). The diagonal is 0.
    """
    b = r2.shape[0]
    out = np.zeros((b, p, p), dtype=np.int8)
    for i in range(p):
        for j in range(i + 1, p):
            view = r2.reshape(b, 1 << (p - 1 - j), 2, 1 << (j - 1 - i), 2, 1 << i)
            diff = view[:, :, 0, :, 1, :] - view[:, :, 1, :, 0, :]  # S + i  minus  S + j
            diff = diff.reshape(b, -1)
            i_wins = np.all(diff > tol, axis=1)
            j_wins = np.all(diff < -tol, axis=1)
            out[:, i, j] = np.where(i_wins, 1, np.where(j_wins, -1, 0))
            out[:, j, i] = -out[:, i, j]
    return out


def relative_weights(corr: np.ndarray) -> np.ndarray:
    """Johnson's (2000) relative weights, shape ``(B, p)``; they sum to the full-model R².

    With ``R_xx = V diag(l) V'``, ``L = V diag(sqrt(l)) V'`` (the symmetric square root), the
    drivers' orthogonal counterparts ``Z`` have ``beta = L^-1 r_xy``; the weight of driver j is
    ``sum_k L[j, k]^2 beta[k]^2``.
    """
    corr = np.asarray(corr, dtype=float)
    rxx = corr[:, 1:, 1:]
    rxy = corr[:, 1:, 0]
    vals, vecs = np.linalg.eigh(rxx)
    half = (vecs * np.sqrt(np.clip(vals, 0.0, None))[:, None, :]) @ np.swapaxes(vecs, 1, 2)
    try:
        beta = np.linalg.solve(half, rxy[..., None])[..., 0]
    except np.linalg.LinAlgError:
        beta = (np.linalg.pinv(half) @ rxy[..., None])[..., 0]
    return np.einsum("bjk,bk->bj", half**2, beta**2)


def nearest_correlation(corr: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Correlation matrices made positive definite: the eigenvalues of each matrix below
    ``eps`` are raised to ``eps`` and the unit diagonal restored (Higham 2002's first
    projection, as statsmodels' ``corr_clipped``); positive definite matrices are returned as
    they are. A correlation that cannot be computed (NaN or infinite: a variable constant in a
    bootstrap replicate, or two variables rated together too rarely) is taken as 0, which is
    what a constant variable explains.

    Pairwise-complete matrices of small groups, above all their bootstrap replicates, are
    often not positive definite; R² and Shapley values of such a matrix are meaningless
    (R² above 1, negative parts). One repair serves :func:`parcours_research.satisfaction.drivers`
    and :mod:`parcours_research.moments`.

    Parameters
    ----------
    corr : ndarray, shape ``(B, k, k)`` or ``(k, k)``
        Symmetric matrices with a unit diagonal (NaN where a correlation is undefined).
    eps : float, default 1e-6
        Smallest eigenvalue kept.

    Returns
    -------
    ndarray
        The same shape, non-finite values replaced by 0; unchanged when no matrix needs a
        repair.
    """
    corr = np.asarray(corr, dtype=float)
    corr = np.where(np.isfinite(corr), corr, 0.0)
    stack = corr[None] if corr.ndim == 2 else corr
    vals, vecs = np.linalg.eigh(stack)
    bad = vals.min(axis=1) < eps
    if not bad.any():
        return corr
    fixed = (vecs[bad] * np.clip(vals[bad], eps, None)[:, None, :]) @ np.swapaxes(vecs[bad], 1, 2)
    d = np.sqrt(np.einsum("bii->bi", fixed))
    out = stack.copy()
    out[bad] = fixed / d[:, :, None] / d[:, None, :]
    return out[0] if corr.ndim == 2 else out
