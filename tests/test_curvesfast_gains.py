"""The R² gains behind Shapley importance, written into one reused buffer (pairs of doubles
subtracted as complex numbers), against the definition: ``R²(S + j) - R²(S)`` gathered mask
by mask; and the Shapley values against the brute-force sum over subsets."""

from math import factorial

import numpy as np
import pandas as pd
import pytest

from parcours_research import _importance as imp
from parcours_research import curves


def _gains_by_definition(r2: np.ndarray, p: int, j: int) -> np.ndarray:
    without = [m for m in range(1 << p) if not m >> j & 1]  # masks without j, increasing
    return np.stack([r2[:, m | (1 << j)] - r2[:, m] for m in without], axis=1)


@pytest.mark.parametrize("p", [1, 2, 3, 6])
def test_gains_equal_the_definition_bit_for_bit(p):
    rng = np.random.default_rng(p)
    r2 = rng.random((5, 1 << p))
    buf = np.full((5, 1 << (p - 1)), np.nan)
    for j in range(p):
        ref = _gains_by_definition(r2, p, j)
        assert np.array_equal(imp._gains(r2, p, j), ref)
        assert np.array_equal(imp._gains(r2, p, j, buf), ref)  # the reused buffer
        assert np.array_equal(imp._gains(np.asfortranarray(r2), p, j), ref)


def test_shapley_equals_the_brute_force_sum():
    p = 4
    rng = np.random.default_rng(3)
    r2 = np.sort(rng.random((3, 1 << p)), axis=1)
    r2[:, 0] = 0.0
    size = [bin(m).count("1") for m in range(1 << p)]
    ref = np.zeros((3, p))
    for j in range(p):
        for m in range(1 << p):
            if not m >> j & 1:
                w = factorial(size[m]) * factorial(p - size[m] - 1) / factorial(p)
                ref[:, j] += w * (r2[:, m | (1 << j)] - r2[:, m])
    np.testing.assert_allclose(imp.shapley(r2, p), ref, rtol=1e-12)
    np.testing.assert_allclose(imp.shapley(r2, p).sum(axis=1), r2[:, -1], rtol=1e-12)


def test_curves_positions_and_columns_as_before():
    rid = pd.Series(["r1", "r2", "r3"], dtype="string")
    ids = pd.Series(["r2", "r9", "r1"], dtype="string")
    old = pd.Series(np.arange(3), index=rid.astype(str).to_numpy()).reindex(
        ids.astype(str).to_numpy()
    )
    assert np.array_equal(curves._positions(rid, ids), old.to_numpy(), equal_nan=True)
    assert curves._positions(rid, ids[[0, 2]]).dtype == np.int64
    pos = np.array([2, 0, 0, 1])
    for col in (pd.Series(["a", None, "c"], dtype="string"), pd.Series([1, 2, 3])):
        a = pd.DataFrame({"x": pos}).assign(g=col.to_numpy()[pos])
        b = pd.DataFrame({"x": pos}).assign(g=curves._take(col, pos))
        pd.testing.assert_frame_equal(a, b, check_exact=True)
