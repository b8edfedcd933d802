"""A small, fast generator of friction-test inputs for simulation studies (private).

Used by the simulation test (false alarms under the null, power under a planted effect) and
by ``benchmarks/friction_simulation.py``. Much smaller than :func:`parcours_research.sample.
make_sample`: it draws the three tables the tests read (step counts, survey responses, coded
excerpts) directly, vectorised, in a few milliseconds.

The null is exact: every touchpoint has the same rating distribution, whose mean is the
target (closed form); every step converts at its target for every persona and period;
every excerpt is negative with the same probability for every touchpoint and persona (with
participant-to-participant variation, so that clustering matters). A planted effect moves one
touchpoint for one persona in every source at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["SimDesign", "expected_rounded", "simulate_sources", "run_one"]


@dataclass(frozen=True)
class SimDesign:
    """Sizes and effects of one simulated study.

    ``rating_shift`` (latent rating points), ``conversion_drop`` (proportion) and
    ``negative_share`` (share of negative excerpts) apply to ``touchpoint`` × ``persona``
    when ``planted``.
    """

    n_touchpoints: int = 4
    personas: tuple = ("p0", "p1", "p2")
    shares: tuple = (0.5, 0.3, 0.2)
    n_respondents: int = 400
    n_users: int = 1200
    n_participants_per_persona: int = 6
    excerpts_per_participant: int = 4
    mu: float = 3.9
    mood_sd: float = 0.6
    noise_sd: float = 0.8
    p_missing: float = 0.15
    weight_sd: float = 0.35
    conversion: float = 0.8
    negative: float = 0.3
    negative_concentration: float = 10.0  # Beta(a, b) with a + b = this: participant variation
    planted: bool = False
    touchpoint: int = 2
    persona: int = 2
    rating_shift: float = -0.6
    conversion_drop: float = 0.12
    negative_share: float = 0.8


def expected_rounded(mu: float, sd: float, lo: int = 1, hi: int = 5) -> float:
    """``E[clip(round(mu + sd Z), lo, hi)]`` for a standard normal Z (closed form)."""
    ks = np.arange(lo, hi + 1)
    upper = np.where(ks == hi, np.inf, ks + 0.5)
    lower = np.where(ks == lo, -np.inf, ks - 0.5)
    p = stats.norm.cdf((upper - mu) / sd) - stats.norm.cdf((lower - mu) / sd)
    return float((ks * p).sum())


def simulate_sources(design: SimDesign, rng: np.random.Generator):
    """Draw ``(counts, responses, excerpts, targets)`` for one study."""
    d = design
    T = d.n_touchpoints
    tps = [f"t{i}" for i in range(T)]
    personas = list(d.personas)
    # survey
    n = d.n_respondents
    pidx = rng.choice(len(personas), size=n, p=list(d.shares))
    latent = d.mu + rng.normal(0, d.mood_sd, (n, 1)) + rng.normal(0, d.noise_sd, (n, T))
    if d.planted:
        latent[pidx == d.persona, d.touchpoint] += d.rating_shift
    ratings = np.clip(np.round(latent), 1, 5)
    ratings[rng.random((n, T)) < d.p_missing] = np.nan
    resp = pd.DataFrame(ratings, columns=[f"sat_{t}" for t in tps])
    resp.insert(0, "respondent_id", [f"r{i}" for i in range(n)])
    resp["persona"] = np.asarray(personas, dtype=object)[pidx]
    resp["weight"] = np.exp(rng.normal(0, d.weight_sd, n))
    target = expected_rounded(d.mu, float(np.hypot(d.mood_sd, d.noise_sd)))
    targets = {t: target for t in tps}
    # traces: one step per touchpoint, two periods
    rows = []
    n_pp = rng.multinomial(d.n_users, d.shares)
    for j, tp in enumerate(tps):
        for i, p in enumerate(personas):
            rate = d.conversion - (
                d.conversion_drop if d.planted and i == d.persona and j == d.touchpoint else 0.0
            )
            n_before = rng.binomial(n_pp[i], 0.5)
            for per, m in (("before", n_before), ("after", n_pp[i] - n_before)):
                rows.append((f"s{j}", tp, p, per, m, rng.binomial(m, rate), d.conversion))
    counts = pd.DataFrame(
        rows, columns=["step", "touchpoint", "persona", "period", "n", "k", "target"]
    )
    counts["period"] = pd.Categorical(
        counts["period"], categories=["before", "after"], ordered=True
    )
    tot = (
        counts.groupby(["step", "touchpoint", "period"], observed=True, sort=False)[["n", "k"]]
        .sum()
        .reset_index()
    )
    counts = pd.concat([counts, tot.assign(persona="all", target=d.conversion)], ignore_index=True)
    # interviews
    a = d.negative * d.negative_concentration
    b = (1 - d.negative) * d.negative_concentration
    ex_rows = []
    k = 0
    for i, p in enumerate(personas):
        for j in range(d.n_participants_per_persona):
            part = f"P{i}{j}"
            p_neg = rng.beta(a, b)
            picks = rng.choice(T, size=min(d.excerpts_per_participant, T), replace=False)
            for t in picks:
                pn = (
                    d.negative_share
                    if d.planted and i == d.persona and t == d.touchpoint
                    else p_neg
                )
                k += 1
                ex_rows.append((f"E{k}", part, p, tps[t], -1.0 if rng.random() < pn else 1.0))
    excerpts = pd.DataFrame(
        ex_rows, columns=["excerpt_id", "participant", "persona", "touchpoint", "valence"]
    )
    return counts, resp, excerpts, targets


def run_one(design: SimDesign, seed: int, *, alpha: float = 0.05, correction: str = "bh") -> dict:
    """Simulate one study, run every source's tests and the triangulation.

    Returns, per source, whether any test was significant (a false alarm under the null),
    whether the planted cell showed friction, and whether it was confirmed.
    """
    from . import test_qual, test_survey, test_traces, triangulate

    rng = np.random.default_rng(seed)
    counts, resp, excerpts, targets = simulate_sources(design, rng)
    opts = {"alpha": alpha, "correction": correction, "family": "source"}
    tables = {
        "traces": test_traces(counts, odds_ratio="woolf", **opts),
        "survey": test_survey(resp, targets=targets, weight="weight", **opts),
        "qual": test_qual(excerpts, odds_ratio="woolf", **opts),
    }
    tri = triangulate(tables=tables, alpha=alpha, correction=correction, n_quotes=0)
    tp, p = f"t{design.touchpoint}", design.personas[design.persona]
    out = {"seed": seed}
    for s, t in tables.items():
        out[f"{s}_m"] = int(t["p_value"].notna().sum())
        out[f"{s}_any"] = bool(t["significant"].any())
        out[f"{s}_friction_any"] = bool(t["friction"].any())
        cell = t[(t["touchpoint"] == tp) & (t["persona"] == p)]
        out[f"{s}_planted"] = bool(cell["friction"].any())
    summ = tri.summary
    out["confirmed_any"] = bool(summ["confirmed"].any())
    cell = summ[(summ["touchpoint"] == tp) & (summ["persona"] == p)]
    out["confirmed_planted"] = bool(cell["confirmed"].any())
    out["confirmed_other"] = bool(summ.loc[~summ.index.isin(cell.index), "confirmed"].any())
    return out
