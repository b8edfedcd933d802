"""The survey friction tests' faster paths give the old results to the last bit (issue 20).

``_domain_scores`` used to call :func:`parcours_research.satisfaction.scores` on the long table
(one row per respondent and rated touchpoint, every test's touchpoints stacked): svy's Taylor
kernel then loops over every domain across every row. It now asks svy for the same domain means
on one row per respondent (``_wide_blocks`` / ``_wide_scores``). The reference is the old code,
kept below as it was (``_domain_scores_ref``), and the whole test table with the new path
switched off; both must be equal exactly (``check_exact``), on the sample study and on awkward
designs: strata, clusters, clusters across strata, levels of ``by``, no weights, zero weights,
missing personas and ratings, touchpoints without a target, tiny domains (0 degrees of freedom,
whose warning must be the same), and the designs that keep the old path (fpc, singleton rules).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import parcours_research as pr
from parcours_research.friction import survey as sv
from parcours_research.friction._table import ALL


# ---------------------------------------------------------------- the old code (exact reference)
def _domain_scores_ref(long, dsg, by_persona: bool, conf) -> pd.DataFrame:
    """``survey._domain_scores`` before issue 20's change (0.4.3), verbatim."""
    from parcours_research.satisfaction import scores

    lv = [sv._BY] if dsg.by else []
    rows = []
    for extra in [[]] + ([["persona"]] if by_persona else []):
        groups = lv + extra
        sc = scores(
            long,
            "score",
            touchpoint="touchpoint",
            by=groups or None,
            metric="mean",
            weight=dsg.weight,
            strata=dsg.strata,
            cluster=dsg.cluster,
            respondent="respondent_id",
            confidence=conf,
            singleton=dsg.singleton,
            fpc=dsg.fpc,
        )
        stats_ = sv._wstats(long, ["touchpoint", *groups], "score", "__w")
        lvl_ = sv._wstats(long, ["touchpoint", *groups], "level", "__w")["mean"].rename("ref_level")
        sc = sc.merge(stats_.join(lvl_).reset_index(), on=["touchpoint", *groups], how="left")
        if not extra:
            sc["persona"] = ALL
        if not dsg.by:
            sc[sv._BY] = ""
        rows.append(sc)
    return pd.concat(rows, ignore_index=True)


# ----------------------------------------------------------------------------------- data
def _survey(n=300, seed=0, *, missing=0.3, weights=True, n_tp=5):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "respondent_id": [f"r{i:04d}" for i in range(n)],
            "persona": rng.choice(["a", "b", "c", "d"], n, p=[0.45, 0.3, 0.2, 0.05]),
            "region": rng.choice(["n", "s", "e"], n),
        }
    )
    d["site"] = d["region"] + rng.integers(0, 6, n).astype(str)
    mood = rng.normal(0, 0.6, n)
    for i in range(n_tp):
        v = np.clip(np.round(3.8 + mood + rng.normal(0, 0.9, n)), 1, 5)
        v[rng.random(n) < missing] = np.nan
        d[f"sat_t{i}"] = v
    d["w"] = rng.lognormal(0, 0.4, n) if weights else 1.0
    return d


def _targets(n_tp=5):
    return {f"t{i}": 3.8 for i in range(n_tp) if i != 1}  # t1 has no target


def _both(data, **kw):
    """``test_survey`` with the wide path, then with it switched off; the warnings of each, and
    how many times the wide path ran."""
    calls = []
    real_scores, real_blocks = sv._wide_scores, sv._wide_blocks

    def spy(*a, **k):
        calls.append(1)
        return real_scores(*a, **k)

    out = {}
    try:
        for mode in ("new", "old"):
            sv._wide_scores = spy
            if mode == "old":
                sv._wide_blocks = lambda *a, **k: None
            with warnings.catch_warnings(record=True) as rec:
                warnings.simplefilter("always")
                t = pr.friction.test_survey(data, **kw)
            out[mode] = (t, sorted(str(w.message) for w in rec))
    finally:
        sv._wide_scores, sv._wide_blocks = real_scores, real_blocks
    return out["new"], out["old"], len(calls)


def _assert_same(data, *, wide=True, **kw):
    (new, w_new), (old, w_old), n_wide = _both(data, **kw)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert w_new == w_old
    assert (n_wide > 0) == wide
    return new


# ---------------------------------------------------------------------------------- tests
def test_weighted_ratings_with_gaps():
    d = _survey()
    out = _assert_same(d, targets=_targets(), weight="w")
    assert {"vs_target", "vs_journey"} <= set(out["test"])


def test_strata_and_clusters():
    d = _survey(seed=1)
    _assert_same(d, targets=_targets(), weight="w", strata="region", cluster="site")


def test_clusters_without_strata_and_strata_without_clusters():
    d = _survey(seed=2)
    _assert_same(d, targets=_targets(), weight="w", cluster="site")
    _assert_same(d, targets=_targets(), weight="w", strata="region")


def test_a_cluster_in_two_strata():
    d = _survey(seed=3)
    d.loc[d.index[:40], "site"] = "shared"  # the same cluster label in several regions
    _assert_same(d, targets=_targets(), weight="w", strata="region", cluster="site")


def test_levels_of_by():
    d = pd.concat(
        [_survey(n=160, seed=s).assign(wave=f"w{s}") for s in range(3)], ignore_index=True
    )
    d["respondent_id"] = d["wave"] + d["respondent_id"]
    _assert_same(d, targets=_targets(), weight="w", by="wave")
    _assert_same(d, targets=_targets(), weight="w", by="wave", strata="region", cluster="site")


def test_no_weights_and_zero_weights():
    d = _survey(seed=4, weights=False)
    _assert_same(d, targets=_targets(), weight=None)
    d = _survey(seed=5)
    d.loc[d.index[::17], "w"] = 0.0
    _assert_same(d, targets=_targets(), weight="w")


def test_missing_personas_single_ratings_and_unrated_respondents():
    d = _survey(seed=6, missing=0.6)
    d.loc[d.index[::7], "persona"] = None
    d.loc[d.index[:10], [f"sat_t{i}" for i in range(5)]] = np.nan  # rated nothing
    d.loc[d.index[10:30], [f"sat_t{i}" for i in range(1, 5)]] = np.nan  # rated t0 only
    _assert_same(d, targets=_targets(), weight="w")
    _assert_same(d, targets=_targets(), weight="w", persona=None)


def test_tiny_domains_warn_the_same():
    d = _survey(n=60, seed=7, missing=0.5)
    out = _assert_same(d, targets=_targets(), weight="w", cluster="site", min_n=1)
    assert len(out)
    (_, warned), _, _ = _both(d, targets=_targets(), weight="w", cluster="site", min_n=1)
    assert any("0 design degrees of freedom" in w for w in warned)


def test_only_the_targets_or_only_the_journey():
    d = _survey(seed=8)
    _assert_same(d, targets=_targets(), weight="w", tests=["vs_target"])
    _assert_same(d, targets=_targets(), weight="w", tests=["vs_journey"])


def test_one_rating_each_keeps_the_old_path():
    # no respondent with two rows and no cluster: scores makes each row its own cluster
    d = _survey(seed=9, missing=0.0, n_tp=1)
    _assert_same(d, targets={"t0": 3.8}, weight="w", wide=False)


def test_fpc_and_singleton_rules_keep_the_old_path():
    d = _survey(seed=10)
    d["N"] = 5000.0
    _assert_same(d, targets=_targets(), weight="w", strata="region", fpc="N", wide=False)
    _assert_same(
        d,
        targets=_targets(),
        weight="w",
        strata="region",
        cluster="site",
        singleton="center",
        wide=False,
    )


@pytest.fixture(scope="module")
def sample_parts(sample_study):
    """The internal tables of ``test_survey`` on the sample study."""
    ev = pr.prepare(sample_study)
    inp = sv._inputs(ev, None, None, "default", None, None, "respondent_id")
    frame, dsg = sv._clean_frame(
        inp.data, None, inp.respondent, "persona", inp.weight, inp.strata, inp.cluster, None
    )
    ratings = pd.DataFrame(
        {tp: pd.to_numeric(inp.data[c]).astype(float).to_numpy() for tp, c in inp.columns.items()},
        index=inp.data.index,
    )
    targets = {str(k): float(v) for k, v in inp.targets.items()}
    blocks = sv._reference_blocks(ratings, targets, True, True)
    return frame, dsg, blocks, sv._long_blocks(frame, blocks)


def test_sample_study_domain_scores_equal_the_old_code(sample_parts):
    frame, dsg, blocks, long = sample_parts
    wide = sv._wide_blocks(frame, blocks, long, dsg)
    assert wide is not None
    new = sv._domain_scores(long, dsg, True, 0.95, wide)
    old = _domain_scores_ref(long, dsg, True, 0.95)
    cols = ["touchpoint", "persona", sv._BY, "estimate", "se", "df", "n", "sd", "ref_level"]
    pd.testing.assert_frame_equal(new[cols], old[cols], check_exact=True, check_dtype=False)
    assert new["n"].dtype == old["n"].dtype
    assert str(new["df"].dtype) == str(old["df"].dtype) == "Int64"


def test_sample_study_table_is_unchanged(sample_study):
    _assert_same(sample_study)
