"""Simulation: false alarms under the null and power under a planted effect.

The generator (``parcours_research.friction._simulate``) draws step counts, survey responses
and coded excerpts directly (no event log), so that one study takes a fraction of a second;
the studies run in parallel processes. Every study goes through the same public functions a
researcher calls (``test_traces``, ``test_survey``, ``test_qual``, ``triangulate``), with the
p-values of each source corrected together (Benjamini–Hochberg, family = source).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from parcours_research.friction import _simulate as sim

pytestmark = pytest.mark.slow

ALPHA = 0.05
N_NULL = 200
N_POWER = 60
NULL = sim.SimDesign()
PLANTED = sim.SimDesign(planted=True)  # effect sizes stated in SimDesign's defaults


def _run(args):
    design, seed = args
    return sim.run_one(design, seed, alpha=ALPHA)


def _simulate(design, n, entropy):
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(entropy).spawn(n)]
    workers = max(1, min(4, os.cpu_count() or 1))
    # one thread per worker process: the processes already use every core
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if workers == 1:
        rows = [_run((design, s)) for s in seeds]
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            rows = list(
                ex.map(_run, [(design, s) for s in seeds], chunksize=max(1, n // (4 * workers)))
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def null_runs():
    return _simulate(NULL, N_NULL, 20260501)


@pytest.fixture(scope="module")
def planted_runs():
    return _simulate(PLANTED, N_POWER, 20260502)


def _mc_upper(p: float, n: int, z: float = 2.0) -> float:
    """Nominal level plus z Monte Carlo standard errors."""
    return p + z * math.sqrt(p * (1 - p) / n)


def test_false_alarms_after_correction_stay_at_the_nominal_level(null_runs):
    # Under the complete null, Benjamini–Hochberg's false discovery rate equals its family-wise
    # error rate, so the share of studies with any significant test in a source must be at
    # most alpha (Benjamini & Hochberg 1995, theorem 1), up to Monte Carlo error.
    n = len(null_runs)
    assert n >= 200
    bound = _mc_upper(ALPHA, n)
    shares = {s: float(null_runs[f"{s}_any"].mean()) for s in ("traces", "survey", "qual")}
    print(
        f"\nfalse-alarm share over {n} null studies (any significant test per source, BH within "
        f"source, alpha={ALPHA}): "
        + ", ".join(f"{k} {v:.3f}" for k, v in shares.items())
        + f"; bound alpha + 2 MC se = {bound:.3f}"
    )
    for s, v in shares.items():
        assert v <= bound, f"{s}: {v:.3f} > {bound:.3f}"
    confirmed = float(null_runs["confirmed_any"].mean())
    print(f"confirmed friction points in null studies: share {confirmed:.3f}")
    assert confirmed <= ALPHA


def _analytic_floor(design: sim.SimDesign, null_runs) -> float:
    """A lower bound on the power to confirm the planted cell.

    Confirmation needs friction in two sources. The trace test of the planted step against
    the other personas and the survey test of the planted persona's mean against the others
    are each at least as powerful as the same one-sided test at the Bonferroni level
    alpha / m (m = the number of tests in the source's family, from the null runs); with
    Benjamini–Hochberg they only gain. The two sources are independent, so their powers
    multiply.
    """
    from statsmodels.stats.power import NormalIndPower, TTestIndPower

    from parcours_research.friction._stats import cohens_h

    m_tr, m_sv = int(null_runs["traces_m"].median()), int(null_runs["survey_m"].median())
    share = design.shares[design.persona]
    n1 = design.n_users * share
    n2 = design.n_users - n1
    h = float(cohens_h(design.conversion - design.conversion_drop, design.conversion))
    p_tr = NormalIndPower().power(
        effect_size=h, nobs1=n1, ratio=n2 / n1, alpha=ALPHA / m_tr, alternative="smaller"
    )
    # survey: the rating is a rounded latent normal; effect on the observed mean, in SD units
    sd_lat = float(np.hypot(design.mood_sd, design.noise_sd))
    e0 = sim.expected_rounded(design.mu, sd_lat)
    e1 = sim.expected_rounded(design.mu + design.rating_shift, sd_lat)
    ks = np.arange(1, 6)
    up = np.where(ks == 5, np.inf, ks + 0.5)
    lo = np.where(ks == 1, -np.inf, ks - 0.5)
    pk = stats.norm.cdf((up - design.mu) / sd_lat) - stats.norm.cdf((lo - design.mu) / sd_lat)
    sd_obs = float(np.sqrt((pk * (ks - e0) ** 2).sum()))
    deff = float(np.exp(design.weight_sd**2))  # Kish: 1 + cv^2 of lognormal weights
    n_r = design.n_respondents * (1 - design.p_missing) / deff
    p_sv = TTestIndPower().power(
        effect_size=(e1 - e0) / sd_obs,
        nobs1=n_r * share,
        ratio=(1 - share) / share,
        alpha=ALPHA / m_sv,
        alternative="smaller",
    )
    return p_tr * p_sv


def test_power_with_a_planted_effect(planted_runs, null_runs):
    n = len(planted_runs)
    power = {s: float(planted_runs[f"{s}_planted"].mean()) for s in ("traces", "survey", "qual")}
    confirmed = float(planted_runs["confirmed_planted"].mean())
    floor = _analytic_floor(PLANTED, null_runs)
    se = math.sqrt(max(floor * (1 - floor), 0.01) / n)
    print(
        f"\npower over {n} studies with a planted friction point (step conversion "
        f"{PLANTED.conversion:.2f} -> {PLANTED.conversion - PLANTED.conversion_drop:.2f}, latent rating "
        f"{PLANTED.rating_shift:+.1f}, negative excerpts {PLANTED.negative:.2f} -> {PLANTED.negative_share:.2f}, "
        f"persona share {PLANTED.shares[PLANTED.persona]:.0%}): "
        + ", ".join(f"{k} {v:.2f}" for k, v in power.items())
        + f"; confirmed {confirmed:.2f} (analytic Bonferroni floor {floor:.2f})"
    )
    assert confirmed >= floor - 3 * se
    # the planted cell is the only one confirmed, nearly always
    assert float(planted_runs["confirmed_other"].mean()) <= _mc_upper(ALPHA, n)
