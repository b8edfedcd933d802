"""The next wave's plan (pr.plan.next_wave): today's minimum detectable effects and the wave
that reaches the wanted ones within a budget.

References: the survey and trace MDEs against statsmodels.stats.power (NormalIndPower,
TTestPower, used only here); the interview rule against the binomial distribution (scipy);
the budget allocation, and the second pass that spends the rest, against a brute-force search
over every allocation of small cases.
"""

from __future__ import annotations

import itertools
import math

import pytest

import parcours_research as pr
from parcours_research.next_wave import (
    allocate,
    interviews_needed,
    qual_mde,
    survey_mde,
    trace_mde,
)

power_mod = pytest.importorskip("statsmodels.stats.power")


# ---------------------------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "sd", "deff"), [(50, 1.0, 1.0), (120, 0.9, 1.3), (400, 1.2, 2.0)])
def test_survey_mde_matches_statsmodels_normal_power(n, sd, deff):
    """One-sample normal test on n/deff effective ratings: NormalIndPower with ratio=0."""
    d = power_mod.NormalIndPower().solve_power(
        nobs1=n / deff, alpha=0.05, power=0.8, ratio=0, alternative="two-sided"
    )
    assert survey_mde(n, sd, deff) == pytest.approx(d * sd, rel=1e-4)  # far tail neglected


def test_survey_mde_close_to_the_t_test_for_large_n():
    """The one-sample t test's MDE (TTestPower) converges to the normal closed form."""
    d = power_mod.TTestPower().solve_power(nobs=400, alpha=0.05, power=0.8, alternative="two-sided")
    assert survey_mde(400, 1.0) == pytest.approx(d, rel=0.005)


@pytest.mark.parametrize(("n", "n_o", "p"), [(400, 1600, 0.9), (120, 900, 0.8), (60, 60, 0.5)])
def test_trace_mde_matches_statsmodels_in_cohens_h(n, n_o, p):
    """NormalIndPower's effect size is Cohen's h: the MDE is the drop d with
    2 asin sqrt(p) - 2 asin sqrt(p - d) = h."""
    h = power_mod.NormalIndPower().solve_power(
        nobs1=n, ratio=n_o / n, alpha=0.05, power=0.8, alternative="two-sided"
    )
    d = float(trace_mde(n, n_o, p))
    assert 2 * math.asin(math.sqrt(p)) - 2 * math.asin(math.sqrt(p - d)) == pytest.approx(
        h, rel=1e-4
    )


def test_interview_rule_against_the_binomial():
    """P(theme heard at least once) = binom.sf(0, n, q) >= power at n, < power at n - 1."""
    from scipy.stats import binom

    for q in (0.1, 0.15, 0.2, 0.3, 0.5):
        n = interviews_needed(q, power=0.8)
        assert (
            binom.sf(0, n, q) >= 0.8 > binom.sf(0, n - 1, q) if n > 1 else binom.sf(0, n, q) >= 0.8
        )
        assert binom.sf(0, n, float(qual_mde(n, power=0.8))) == pytest.approx(0.8)
    assert interviews_needed(0.2) == 8 and interviews_needed(0.15) == 10


# ---------------------------------------------------------------------------------------------
# the allocation
# ---------------------------------------------------------------------------------------------
def _brute(needs, prevalence, power, c_r, c_i, budget, n_max, m_max):
    """The smallest worst ratio over every allocation within the budget."""
    best = math.inf
    m_full = interviews_needed(prevalence, power=power)
    for ns in itertools.product(range(2, n_max + 1), repeat=len(needs)):
        cost_s = c_r * sum(ns)
        if cost_s > budget:
            continue
        r_s = max(math.sqrt(N / n) for N, n in zip(needs, ns, strict=True))
        for m in range(1, m_max + 1):
            if cost_s + c_i * m * len(needs) > budget:
                break
            r_q = float(qual_mde(m, power=power)) / prevalence if m < m_full else 1.0
            best = min(best, max(r_s, r_q, 1.0))
    return best


@pytest.mark.parametrize("budget", [90, 140, 200, 260, 400])
def test_allocation_matches_brute_force(budget):
    needs, prevalence, power, c_r, c_i = [9.3, 14.2], 0.35, 0.8, 3, 10
    n, m, ratio = allocate(
        needs,
        prevalence=prevalence,
        power=power,
        cost_respondent=c_r,
        cost_interview=c_i,
        budget=budget,
    )
    best = _brute(needs, prevalence, power, c_r, c_i, budget, n_max=16, m_max=5)
    assert ratio == pytest.approx(best)
    assert c_r * sum(n) + c_i * sum(m) <= budget
    # the allocation reaches the ratio it announces
    reached = max(
        max(math.sqrt(N / k) for N, k in zip(needs, n, strict=True)),
        float(qual_mde(m[0], power=power)) / prevalence
        if m[0] < interviews_needed(prevalence)
        else 1.0,
    )
    assert max(reached, 1.0) == pytest.approx(ratio)


def _worst_survey_ratio(needs, ns):
    """The largest survey shortfall ratio over the personas (1 once a persona has its need)."""
    return round(max(max(math.sqrt(N / k), 1.0) for N, k in zip(needs, ns, strict=True)), 12)


@pytest.mark.parametrize(
    "needs, c_r, c_i, budget",
    [
        ([9.3, 14.2], 3, 10, 130),
        ([9.3, 14.2], 3, 40, 140),
        ([20.0, 7.5, 12.2], 2, 25, 110),
        ([20.0, 7.5, 12.2], 2, 25, 200),
        ([20.0, 7.5, 12.2], 2, 25, 290),
        ([30.4, 30.4], 1, 40, 110),
    ],
)
def test_rest_of_the_budget_buys_respondents_as_brute_force(needs, c_r, c_i, budget):
    """The second pass (what the shortfall allocation leaves) against a brute-force search over
    every allocation that adds respondents to the first pass's, same interviews, within the
    budget: the same largest survey shortfall ratio, and nothing left that buys a useful
    respondent."""
    from parcours_research.next_wave import _cost_at

    prevalence, power = 0.35, 0.8
    n, m, ratio = allocate(
        needs,
        prevalence=prevalence,
        power=power,
        cost_respondent=c_r,
        cost_interview=c_i,
        budget=budget,
    )
    assert 1 < ratio < math.inf
    n0, m0, _ = _cost_at(ratio, needs, interviews_needed(prevalence), prevalence, power, c_r, c_i)
    assert m == m0 and all(k >= k0 for k, k0 in zip(n, n0, strict=True))
    spent = c_r * sum(n) + c_i * sum(m)
    assert spent <= budget
    full = [math.ceil(N) for N in needs]
    assert budget - spent < c_r or n == [max(k, f) for k, f in zip(n, full, strict=True)]
    rest = budget - c_i * sum(m)
    ranges = [range(k0, max(k0, f) + 1) for k0, f in zip(n0, full, strict=True)]
    best = min(
        _worst_survey_ratio(needs, ns) for ns in itertools.product(*ranges) if c_r * sum(ns) <= rest
    )
    assert _worst_survey_ratio(needs, n) == best


def test_plan_3000_spends_the_rest_and_counts_in_words(sample_study):
    """The case of the 0.4.0 closing note: 2,108 of 3,000 EUR were spent; "1 interviews"."""
    from parcours_research.next_wave import _plural

    res = pr.plan.next_wave(sample_study, mde=0.3, budget=3000)
    assert 3000 - res.costs["respondent"] < res.cost <= 3000
    text = repr(res)
    assert "1 interview" in text and "1 interviews" not in text
    assert [_plural(k, "interview") for k in (0, 1, 2)] == [
        "0 interviews",
        "1 interview",
        "2 interviews",
    ]
    assert [_plural(k, "entretien", "fr") for k in (0, 1, 2)] == [
        "0 entretien",
        "1 entretien",
        "2 entretiens",
    ]


def test_allocation_without_limit_buys_the_wanted_effects():
    n, m, ratio = allocate(
        [100.2, 40.0],
        prevalence=0.2,
        power=0.8,
        cost_respondent=12,
        cost_interview=350,
        budget=None,
    )
    assert n == [101, 40] and m == [8, 8] and ratio == 1.0


def test_allocation_too_small_a_budget():
    n, m, ratio = allocate(
        [100.0], prevalence=0.2, power=0.8, cost_respondent=12, cost_interview=350, budget=100
    )
    assert math.isinf(ratio) and n == [2] and m == [1]


# ---------------------------------------------------------------------------------------------
# the sample study
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plan(sample_study):
    return pr.plan.next_wave(sample_study, mde=0.3)


def test_matrix_and_summary(plan, sample_study):
    m = plan.matrix
    assert list(m.columns) == pr.next_wave.MATRIX_COLUMNS
    assert set(m["source"]) == {"survey", "traces", "qual"}
    survey = m[m["source"] == "survey"]
    assert len(survey) == 16 * 4
    row = survey.iloc[0]
    assert row["mde"] == pytest.approx(float(survey_mde(row["n"], row["sd"], row["deff"])))
    assert list(plan.summary.columns) == pr.next_wave.SUMMARY_COLUMNS
    assert list(plan.summary["persona"]) == list(sample_study.journey.persona_ids)
    assert plan.feasible and plan.ratio == 1.0
    assert (plan.summary["survey_mde"] <= 0.3 + 1e-9).all()
    assert (plan.summary["interviews"] == interviews_needed(0.2)).all()
    assert plan.costs == {"respondent": 12, "interview": 350, "currency": "EUR"}
    assert plan.cost == pytest.approx(
        12 * plan.summary["respondents"].sum() + 350 * plan.summary["interviews"].sum()
    )
    assert "0x" not in repr(plan) and "reached for" in repr(plan)
    assert "<table" in plan._repr_html_()


def test_budget_too_small_says_so(sample_study, plan):
    tight = pr.plan.next_wave(sample_study, mde=0.3, budget=0.6 * plan.cost)
    assert not tight.feasible and 1 < tight.ratio < math.inf
    assert tight.cost <= 0.6 * plan.cost
    assert "NOT reachable" in repr(tight)
    assert (tight.summary["survey_mde"] <= 0.3 * tight.ratio + 1e-9).all()
    assert (tight.summary["survey_mde"] > 0.3).any()


def test_cost_overrides_and_errors(sample_study):
    cheap = pr.plan.next_wave(
        sample_study, mde={"survey": 0.4, "qual": 0.3}, costs={"respondent": 1}
    )
    assert cheap.costs["respondent"] == 1 and cheap.mde["qual"] == 0.3
    with pytest.raises(pr.errors.AnalysisError, match="unknown source"):
        pr.plan.next_wave(sample_study, mde={"surveys": 0.3})
    with pytest.raises(pr.errors.AnalysisError, match="budget"):
        pr.plan.next_wave(sample_study, budget=-5)


def test_trace_starts_needed_reach_the_wanted_mde():
    """At the same persona mix, n_needed starts give an MDE at most the wanted one, one fewer
    does not."""
    from scipy.stats import norm

    from parcours_research.next_wave import _trace_n_needed

    z = float(norm.ppf(0.975) + norm.ppf(0.8))
    for n, n_o, p, wanted in [(300, 1200, 0.9, 0.05), (80, 400, 0.8, 0.1)]:
        k = _trace_n_needed(n, n_o, p, wanted, z)
        assert float(trace_mde(k, k * n_o / n, p)) <= wanted + 1e-12
        assert float(trace_mde(k - 1, (k - 1) * n_o / n, p)) > wanted


def test_cli_plan(sample_dir, tmp_path, capsys):
    from parcours_research.cli import main

    out = tmp_path / "plan.csv"
    assert main(["plan", str(sample_dir), "--budget", "15000", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "NOT reachable within budget 15,000" in text and out.exists()


def test_without_costs_says_what_to_write(sample_study, monkeypatch):
    import parcours_research.plan as plan_mod

    monkeypatch.setattr(plan_mod, "_plan_sizes", lambda study: {})
    with pytest.raises(pr.errors.AnalysisError, match="respondent") as err:
        pr.plan.next_wave(sample_study)
    assert "plan: {costs:" in str(err.value)

    from types import SimpleNamespace

    from parcours_research.report_next_wave import s_next_wave

    sec = SimpleNamespace(title="", blocks=[])
    s_next_wave(SimpleNamespace(study=sample_study, lang="fr", n_boot=50, seed=0), sec)
    assert [b.kind for b in sec.blocks] == ["missing"] and "plan: costs:" in sec.blocks[0].html
