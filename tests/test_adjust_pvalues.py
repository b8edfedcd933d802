"""`pr.friction.correction.adjust_pvalues`: the one NaN-aware p-value adjustment every analysis uses."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parcours_research.friction.correction import adjust_pvalues


def test_matches_r_p_adjust_and_skips_missing():
    # R 4.3: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "BH") = 0.05 0.05 0.05 0.05 0.05
    #        p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") = 0.05 0.08 0.09 0.09 0.09
    p = [0.01, np.nan, 0.02, 0.03, None, 0.04, 0.05]
    bh = adjust_pvalues(p, "bh")
    holm = adjust_pvalues(p, "holm")
    assert np.isnan(bh[[1, 4]]).all() and np.isnan(holm[[1, 4]]).all()
    np.testing.assert_allclose(bh[[0, 2, 3, 5, 6]], [0.05] * 5)
    np.testing.assert_allclose(holm[[0, 2, 3, 5, 6]], [0.05, 0.08, 0.09, 0.09, 0.09])
    np.testing.assert_allclose(adjust_pvalues(p, "none")[[0, 6]], [0.01, 0.05])


def test_all_missing_and_unknown_method():
    assert np.isnan(adjust_pvalues([np.nan, np.nan], "bh")).all()
    with pytest.raises(ValueError, match="holmes"):
        adjust_pvalues([0.1], "holmes")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.01, 0.05, 1.0])),
        min_size=1,
        max_size=40,
    )
)
def test_holm_equals_statsmodels(p):
    # the reference: statsmodels' multipletests(method="holm"), used only here (the kit writes
    # Holm itself because statsmodels' version calls gc.collect() on every call)
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=float)
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), multipletests(p, method="holm")[1])
