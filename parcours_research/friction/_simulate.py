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

__all__ = ["SimDesign", "expected_rounded", "simulate_sources", "run_one", "run_cells"]


@dataclass(frozen=True)
class SimDesign:
    """Sizes and effects of one simulated study.

    ``rating_shift`` (latent rating points), ``conversion_drop`` (proportion) and
    ``negative_share`` (share of negative excerpts) apply to ``touchpoint`` × ``persona``
    when ``planted`` (an index or a name).

    A design made from a study (:func:`parcours_research.plan.design_of`) names its
    ``touchpoint_ids``, the touchpoints with a trace step (``step_touchpoints``; default all),
    each touchpoint's ``coverage`` (share of respondents who rate it; default ``1 - p_missing``),
    the touchpoints every interview covers (``probed``), the persona mix of the trace users
    when it differs from the respondents' (``user_shares``) and each step's own conversion
    (``conversions``), and each touchpoint's offset from the journey's mean rating (``offsets``);
    the targets are then each touchpoint's own expected rating.
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
    touchpoint_ids: tuple = ()
    step_touchpoints: tuple | None = None
    coverage: tuple = ()
    probed: tuple = ()
    user_shares: tuple = ()  # persona mix of the trace users (default ``shares``)
    conversions: tuple = ()  # (touchpoint, conversion) pairs: a step's own rate (default ``conversion``)
    offsets: tuple = ()  # each touchpoint's latent mean minus ``mu`` (the curve's relief; default 0)

    @property
    def tps(self) -> list[str]:
        """The touchpoint ids."""
        return list(self.touchpoint_ids) or [f"t{i}" for i in range(self.n_touchpoints)]

    @property
    def planted_cell(self) -> tuple[int, int]:
        """Indices of the planted touchpoint and persona."""
        tp = (
            self.tps.index(self.touchpoint)
            if isinstance(self.touchpoint, str)
            else int(self.touchpoint)
        )
        p = (
            list(self.personas).index(self.persona)
            if isinstance(self.persona, str)
            else int(self.persona)
        )
        return tp, p


def expected_rounded(mu: float, sd: float, lo: int = 1, hi: int = 5) -> float:
    """``E[clip(round(mu + sd Z), lo, hi)]`` for a standard normal Z (closed form)."""
    ks = np.arange(lo, hi + 1)
    upper = np.where(ks == hi, np.inf, ks + 0.5)
    lower = np.where(ks == lo, -np.inf, ks - 0.5)
    p = stats.norm.cdf((upper - mu) / sd) - stats.norm.cdf((lower - mu) / sd)
    return float((ks * p).sum())


def _survey(
    d: SimDesign, rng: np.random.Generator, tps: list, personas: list, cell
) -> pd.DataFrame:
    n, T = d.n_respondents, len(tps)
    pidx = rng.choice(len(personas), size=n, p=list(d.shares))
    latent = d.mu + rng.normal(0, d.mood_sd, (n, 1)) + rng.normal(0, d.noise_sd, (n, T))
    if d.offsets:
        latent += np.asarray(d.offsets, float)
    if d.planted:
        latent[pidx == cell[1], cell[0]] += d.rating_shift
    ratings = np.clip(np.round(latent), 1, 5)
    missing = 1 - np.asarray(d.coverage, float) if d.coverage else d.p_missing
    ratings[rng.random((n, T)) < missing] = np.nan
    resp = pd.DataFrame(ratings, columns=[f"sat_{t}" for t in tps])
    resp.insert(0, "respondent_id", [f"r{i}" for i in range(n)])
    resp["persona"] = np.asarray(personas, dtype=object)[pidx]
    resp["weight"] = np.exp(rng.normal(0, d.weight_sd, n))
    return resp


def _counts(
    d: SimDesign, rng: np.random.Generator, tps: list, personas: list, cell
) -> pd.DataFrame:
    """Step counts: one step per touchpoint with a step, two periods."""
    rows = []
    n_pp = rng.multinomial(d.n_users, d.user_shares or d.shares)
    steps = tps if d.step_touchpoints is None else [t for t in tps if t in d.step_touchpoints]
    base_of = dict(d.conversions)
    for tp in steps:
        j = tps.index(tp)
        for i, p in enumerate(personas):
            base = base_of.get(tp, d.conversion)
            rate = max(base - (d.conversion_drop if d.planted and (j, i) == cell else 0.0), 0.0)
            n_before = rng.binomial(n_pp[i], 0.5)
            for per, m in (("before", n_before), ("after", n_pp[i] - n_before)):
                rows.append((f"s{j}", tp, p, per, m, rng.binomial(m, rate), base))
    counts = pd.DataFrame(
        rows, columns=["step", "touchpoint", "persona", "period", "n", "k", "target"]
    )
    if not rows:
        return counts
    counts["period"] = pd.Categorical(
        counts["period"], categories=["before", "after"], ordered=True
    )
    tot = (
        counts.groupby(["step", "touchpoint", "period"], observed=True, sort=False)[["n", "k"]]
        .sum()
        .reset_index()
    )
    tot["target"] = tot["touchpoint"].map(lambda t: base_of.get(t, d.conversion)).astype(float)
    return pd.concat([counts, tot.assign(persona="all")], ignore_index=True)


def _excerpts(
    d: SimDesign, rng: np.random.Generator, tps: list, personas: list, cell
) -> pd.DataFrame:
    """Coded interview excerpts, negative with a participant's own probability."""
    T = len(tps)
    a = d.negative * d.negative_concentration
    b = (1 - d.negative) * d.negative_concentration
    probed = [tps.index(t) for t in d.probed]
    others = [t for t in range(T) if t not in probed]
    rows = []
    k = 0
    for i, p in enumerate(personas):
        for j in range(d.n_participants_per_persona):
            part = f"P{i}{j}"
            p_neg = rng.beta(a, b)
            if probed:
                extra = max(0, min(d.excerpts_per_participant - len(probed), len(others)))
                picks = probed + rng.choice(others, size=extra, replace=False).tolist()
            else:
                picks = rng.choice(T, size=min(d.excerpts_per_participant, T), replace=False)
            for t in picks:
                pn = d.negative_share if d.planted and (t, i) == cell else p_neg
                k += 1
                rows.append((f"E{k}", part, p, tps[t], -1.0 if rng.random() < pn else 1.0))
    return pd.DataFrame(
        rows, columns=["excerpt_id", "participant", "persona", "touchpoint", "valence"]
    )


def simulate_sources(design: SimDesign, rng: np.random.Generator):
    """Draw ``(counts, responses, excerpts, targets)`` for one study."""
    d = design
    tps, personas = d.tps, list(d.personas)
    cell = d.planted_cell
    resp = _survey(d, rng, tps, personas, cell)
    sd = float(np.hypot(d.mood_sd, d.noise_sd))
    offsets = d.offsets or (0.0,) * len(tps)
    targets = {t: expected_rounded(d.mu + o, sd) for t, o in zip(tps, offsets, strict=True)}
    counts = _counts(d, rng, tps, personas, cell)
    excerpts = _excerpts(d, rng, tps, personas, cell)
    return counts, resp, excerpts, targets


def _tables(design: SimDesign, seed, alpha: float, correction: str):
    """One simulated study's test tables by source."""
    from . import test_qual, test_survey, test_traces

    rng = np.random.default_rng(seed)
    counts, resp, excerpts, targets = simulate_sources(design, rng)
    opts = {"alpha": alpha, "correction": correction, "family": "source"}
    tables = {"survey": test_survey(resp, targets=targets, weight="weight", **opts)}
    if len(counts):
        tables["traces"] = test_traces(counts, odds_ratio="woolf", **opts)
    if design.n_participants_per_persona > 0:
        tables["qual"] = test_qual(excerpts, odds_ratio="woolf", **opts)
    return {s: tables[s] for s in ("traces", "survey", "qual") if s in tables}


def run_cells(
    design: SimDesign, seed, *, alpha: float = 0.05, correction: str = "bh", rule="two_sources"
) -> dict:
    """Simulate one study and triangulate it; returns the confirmed cells and, for the planted
    cell, which sources showed friction.

    Returns
    -------
    dict
        ``confirmed``: list of ``(touchpoint, persona)`` confirmed; ``sources``: ``{source:
        bool}`` friction at the planted cell (when ``design.planted``).
    """
    from . import triangulate

    tables = _tables(design, seed, alpha, correction)
    tri = triangulate(tables=tables, alpha=alpha, correction=correction, n_quotes=0, rule=rule)
    summ = tri.summary
    conf = summ.loc[summ["confirmed"], ["touchpoint", "persona"]]
    out = {"confirmed": [tuple(map(str, r)) for r in conf.itertuples(index=False)], "sources": {}}
    if design.planted:
        ti, pi = design.planted_cell
        tp, p = design.tps[ti], design.personas[pi]
        for s, t in tables.items():
            out["sources"][s] = bool(
                t.loc[(t["touchpoint"] == tp) & (t["persona"] == p), "friction"].any()
            )
    return out


def run_one(design: SimDesign, seed: int, *, alpha: float = 0.05, correction: str = "bh") -> dict:
    """Simulate one study, run every source's tests and the triangulation.

    Returns, per source, whether any test was significant (a false alarm under the null),
    whether the planted cell showed friction, and whether it was confirmed.
    """
    from . import triangulate

    tables = _tables(design, seed, alpha, correction)
    tri = triangulate(tables=tables, alpha=alpha, correction=correction, n_quotes=0)
    ti, pi = design.planted_cell
    tp, p = design.tps[ti], design.personas[pi]
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
