"""The accounting of left-out units (``parcours_research._accounting``): against a count unit
by unit (each unit under the first reason it fails), and the counts add up to the input."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from parcours_research._accounting import accounting, left_out


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40).flatmap(
    lambda n: st.lists(st.lists(st.booleans(), min_size=n, max_size=n), min_size=0, max_size=4)
    .map(lambda masks: (n, masks))))
def test_each_unit_counts_under_its_first_failed_reason(data):
    n, masks = data
    checks = {f"reason {i}": np.array(m, dtype=bool) for i, m in enumerate(masks)}
    table, keep = accounting(checks, n, read="read", kept="kept", unit="units")
    expected = {name: 0 for name in checks}
    kept = []
    for u in range(n):  # unit by unit, in plain Python
        first = next((name for name, m in checks.items() if not m[u]), None)
        if first is None:
            kept.append(u)
        else:
            expected[first] += 1
    assert table["step"].tolist() == ["read", *checks, "kept"]
    assert table["units"].tolist() == [n, *expected.values(), len(kept)]
    assert np.flatnonzero(keep).tolist() == kept
    assert left_out(table).sum() + table["units"].iloc[-1] == n
    assert left_out(table).to_dict() == expected
