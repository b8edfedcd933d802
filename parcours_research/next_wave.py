"""Plan the next wave: what each source can detect today, and what the next wave should buy.

The seeds ask, stage by stage, what data we *have*, what we *need* and what we *want*, and warn
that serious quali/quanti studies are the costly part of a journey study.
:func:`next_wave` answers with two tables:

* the **evidence matrix** (``.matrix``), touchpoint × persona × source, with today's ``n`` and
  today's minimum detectable effect (MDE) at ``alpha`` (two-sided) and ``power``;
* the **next wave** (``.summary``): per persona, the survey respondents (with today's design
  effect) and the interviews that reach the wanted effects, their cost, and, when the budget
  cannot reach them, the best allocation within it and the effects it reaches.

>>> import parcours_research as pr
>>> plan = pr.plan.next_wave("data/sample", mde=0.3, budget=25_000)   # doctest: +SKIP
>>> plan.summary, plan.matrix                                         # doctest: +SKIP
>>> pr.plot.next_wave(plan)                                           # doctest: +SKIP

Today's minimum detectable effects (``z = z_{1-alpha/2} + z_{power}``)
-----------------------------------------------------------------------
``survey`` (rating points)
    A persona's mean rating of a touchpoint against a fixed value (its target):
    ``MDE = z · sd · sqrt(deff / n)``, ``n`` the persona's respondents who rated it, ``sd`` the
    touchpoint's rating standard deviation, ``deff`` Kish's design effect of the persona's
    weights under the study's weighting rule (Kish 1965, eq. 11.7.6; the closed form of Cohen
    1988, ch. 2, with ``n`` replaced by the effective ``n / deff``). A wanted ``mde`` needs
    ``n = deff · (z · sd / mde)²`` ratings.
``traces`` (completion, proportion points)
    A persona's completion of the touchpoint's trace step against the other personas': the
    two-proportion MDE in Cohen's ``h = z · sqrt(1/n + 1/n_others)`` (Cohen 1988, eq. 6.3.1),
    turned into the drop of completion below the others' ``p`` (``2 asin √(p − d) = 2 asin √p −
    h``). The event log is a census: more data means more days, not more money (``n_needed``
    is the persona's starts needed at the same mix).
``qual`` (theme prevalence)
    Interviews do not estimate, they find. A theme (a friction) held by a share ``q`` of the
    persona's customers is heard at least once in ``n`` interviews with probability ``1 − (1 −
    q)^n`` (the binomial model of problem discovery, Nielsen & Landauer 1993; as a sample-size
    rule for thematic analysis, Fugard & Potts 2015, *Int. J. Soc. Res. Methodol.* 18:669).
    Today's MDE is the smallest prevalence found with probability ``power``: ``1 − (1 −
    power)^(1/n)``; a wanted prevalence ``q`` needs ``n = ln(1 − power) / ln(1 − q)``
    interviews per persona (11 for 15%, 8 for 20% at power 0.8).

The next wave
-------------
The wave is a new sample analysed on its own, with today's design effect and today's share of
respondents who experience each touchpoint (``coverage``). A persona needs ``N_p = max_t deff_p
(z · sd_t / mde)² / coverage_{t,p}`` respondents over the touchpoints ``t`` in scope
(``touchpoints=``; by default every touchpoint at least ``min_coverage`` of the persona's
respondents rate: rarer experiences need a targeted sample) and ``M`` interviews. Costs per
respondent and per interview come from ``plan: costs:`` in study.yml (``costs=`` overrides).

When the budget cannot pay for it all, every source falls short by the same factor: the
allocation minimises ``R``, the largest ratio of a reached effect to the wanted one (survey
MDE / ``mde``, qual prevalence / ``prevalence``) over personas and sources, among allocations
within the budget. The candidate values of ``R`` are the ratios each persona's survey size and
interview count can reach; the smallest affordable one is found by bisection over them (cost
falls as ``R`` grows), so the answer is exact, not a continuous approximation.

That allocation can leave money unspent: interviews come one per persona at a time, so the next
step down in ``R`` may not fit. A second pass spends the rest on respondents, one at a time,
each for the persona whose survey effect falls shortest of the wanted one (the largest
``N_p / n_p``), until no respondent fits or every persona has its ``N_p``. The worst ratio stays
``R`` (no allocation within the budget does better); the other personas come closer to the
wanted effect. Among the allocations that add respondents to the first pass's within the
budget, the greedy pass reaches the smallest possible largest survey shortfall ratio over the
personas (each respondent goes where that largest ratio is, and the ratios fall with ``n_p``).
"""

from __future__ import annotations

import heapq
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .errors import AnalysisError, Problem

__all__ = [
    "next_wave",
    "NextWave",
    "evidence_matrix",
    "allocate",
    "survey_mde",
    "trace_mde",
    "qual_mde",
    "interviews_needed",
    "MATRIX_COLUMNS",
    "SUMMARY_COLUMNS",
    "DEFAULT_MDE",
]

#: Wanted effects by source when ``mde=`` does not give them.
DEFAULT_MDE = {"survey": 0.3, "traces": 0.05, "qual": 0.2}
#: Columns of :attr:`NextWave.matrix`.
MATRIX_COLUMNS = [
    "touchpoint",
    "persona",
    "source",
    "n",
    "deff",
    "n_eff",
    "coverage",
    "sd",
    "reference",
    "mde",
    "unit",
    "mde_wanted",
    "reached",
    "n_needed",
]
#: Columns of :attr:`NextWave.summary`.
SUMMARY_COLUMNS = [
    "persona",
    "deff",
    "respondents_today",
    "respondents_needed",
    "respondents",
    "binding_touchpoint",
    "survey_mde",
    "interviews_today",
    "interviews_needed",
    "interviews",
    "qual_prevalence",
    "cost_survey",
    "cost_interviews",
    "cost",
]
_UNITS = {"survey": "rating points", "traces": "completion", "qual": "prevalence"}


# ---------------------------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------------------------
def _z(alpha: float, power: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def survey_mde(n, sd, deff=1.0, *, alpha: float = 0.05, power: float = 0.8):
    """``z · sd · sqrt(deff / n)``: the smallest shift of a mean rating detected (two-sided
    ``alpha``, ``power``) with ``n`` ratings of standard deviation ``sd`` and design effect
    ``deff``."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _z(alpha, power) * np.asarray(sd, float) * np.sqrt(np.asarray(deff, float) / n)


def trace_mde(n, n_others, p_others, *, alpha: float = 0.05, power: float = 0.8):
    """The smallest drop of completion below the others' ``p_others`` detected with ``n``
    starts against ``n_others`` (two-proportion test in Cohen's h; see the module notes)."""
    from .friction._stats import h_to_difference, mde_h

    h = mde_h(n, n_others, alpha=alpha, power=power, alternative="two-sided")
    return h_to_difference(p_others, h, -1)


def qual_mde(n, *, power: float = 0.8):
    """``1 − (1 − power)^(1/n)``: the smallest prevalence of a theme heard at least once in
    ``n`` interviews with probability ``power``."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(n > 0, 1 - (1 - power) ** (1 / np.maximum(n, 1e-12)), np.nan)


def interviews_needed(prevalence: float, *, power: float = 0.8) -> int:
    """``ceil(ln(1 − power) / ln(1 − prevalence))`` interviews find a theme of that prevalence
    at least once with probability ``power``."""
    if not 0 < prevalence < 1:
        raise AnalysisError(f"prevalence={prevalence!r} must be between 0 and 1.")
    return max(1, math.ceil(math.log(1 - power) / math.log(1 - prevalence) - 1e-9))


def _trace_n_needed(n, n_others, p_ref, wanted, z) -> float:
    """Starts needed at the same persona mix for the trace MDE to reach ``wanted``."""
    if not (n > 0 and n_others > 0 and 0 < p_ref and wanted < p_ref):
        return np.nan
    h = 2 * math.asin(math.sqrt(p_ref)) - 2 * math.asin(math.sqrt(p_ref - wanted))
    return math.ceil((z / h) ** 2 * (1 + n / n_others))


# ---------------------------------------------------------------------------------------------
# the evidence matrix
# ---------------------------------------------------------------------------------------------
def _survey_rows(study, wanted, alpha, power) -> list[dict]:
    from .evidence import prepare
    from .weighting import kish_design_effect

    if study.responses is None or study.instrument is None:
        return []
    ev = prepare(study)
    resp, ratings = ev.responses, ev.ratings
    personas, tps = list(study.journey.persona_ids), [t.id for t in study.journey.touchpoints]
    # touchpoints and personas as codes (-1: another or none), split once, not compared per cell
    tp_code = pd.Index(tps).get_indexer(ratings["touchpoint"].to_numpy(dtype=object))
    p_code = pd.Index(personas).get_indexer(ratings["persona"].to_numpy(dtype=object))
    ok = (tp_code >= 0) & (p_code >= 0)
    counts = np.bincount(
        tp_code[ok] * len(personas) + p_code[ok], minlength=len(tps) * len(personas)
    ).reshape(len(tps), len(personas))
    sds = []
    for i in range(len(tps)):
        all_t = ratings["score"].iloc[np.flatnonzero(tp_code == i)]
        sds.append(float(all_t.std(ddof=1)) if len(all_t) > 1 else np.nan)
    rows = []
    for j, p in enumerate(personas):
        mine = resp[resp["persona"] == p]
        deff = kish_design_effect(mine["weight"]) if len(mine) else np.nan
        for i, t in enumerate(study.journey.touchpoints):
            sd, n = sds[i], int(counts[i, j])
            mde = float(survey_mde(n, sd, deff, alpha=alpha, power=power)) if n else np.nan
            need = (
                math.ceil(deff * (_z(alpha, power) * sd / wanted) ** 2)
                if np.isfinite(sd)
                else np.nan
            )
            rows.append(
                {
                    "touchpoint": t.id,
                    "persona": p,
                    "source": "survey",
                    "n": n,
                    "deff": deff,
                    "n_eff": n / deff if deff else np.nan,
                    "coverage": n / len(mine) if len(mine) else np.nan,
                    "sd": sd,
                    "mde": mde,
                    "n_needed": need,
                }
            )
    return rows


def _trace_rows(study, wanted, alpha, power) -> list[dict]:
    from .friction import ALL, trace_counts

    if study.traces is None:
        return []
    c = trace_counts(study)
    c = c[c["persona"] != ALL]
    rows = []
    for tp, sub in c.groupby("touchpoint", sort=False):
        if "kind" in sub and (sub["kind"] == "touchpoint").any():
            sub = sub[sub["kind"] == "touchpoint"]
        sub = sub.groupby("persona")[["n", "k"]].sum()
        for p in study.journey.persona_ids:
            n = int(sub["n"].get(p, 0))
            n_o, k_o = int(sub["n"].sum() - n), int(sub["k"].sum() - sub["k"].get(p, 0))
            p_ref = k_o / n_o if n_o else np.nan
            mde = float(trace_mde(n, n_o, p_ref, alpha=alpha, power=power)) if n and n_o else np.nan
            rows.append(
                {
                    "touchpoint": tp,
                    "persona": p,
                    "source": "traces",
                    "n": n,
                    "reference": p_ref,
                    "mde": mde,
                    "n_needed": _trace_n_needed(n, n_o, p_ref, wanted, _z(alpha, power)),
                }
            )
    return rows


def _participants(study) -> pd.DataFrame | None:
    """``participant, touchpoint, persona`` of the interviews (raw ids: counts only)."""
    if study.qual is None:
        return None
    from .qual import read_excerpts

    try:
        ex = read_excerpts(study)
    except (ValueError, OSError):
        return None
    if ex is None or not len(ex) or "participant" not in ex:
        return None
    persona = None
    if "customer_id" in ex and study.customers is not None and "persona" in study.customers:
        persona = study.customers.set_index(study.customers["customer_id"].astype(str))["persona"]
        ex = ex.assign(persona=ex["customer_id"].astype(str).map(persona))
    if "persona" not in ex:
        return None
    return ex[["participant", "touchpoint", "persona"]].dropna().drop_duplicates()


def _qual_rows(study, wanted, power) -> list[dict]:
    part = _participants(study)
    if part is None:
        return []
    need = interviews_needed(wanted, power=power)
    seen = part.groupby(["persona", "touchpoint"], sort=False)["participant"].nunique()
    seen = dict(zip(seen.index.tolist(), seen.to_numpy().tolist(), strict=True))
    rows = []
    for p in study.journey.persona_ids:
        for t in study.journey.touchpoints:
            n = int(seen.get((p, t.id), 0))
            rows.append(
                {
                    "touchpoint": t.id,
                    "persona": p,
                    "source": "qual",
                    "n": n,
                    "mde": float(qual_mde(n, power=power)) if n else np.nan,
                    "n_needed": need,
                }
            )
    return rows


def evidence_matrix(
    study, *, mde: Mapping, alpha: float = 0.05, power: float = 0.8
) -> pd.DataFrame:
    """The evidence matrix of :func:`next_wave` (columns :data:`MATRIX_COLUMNS`)."""
    rows = (
        _survey_rows(study, mde["survey"], alpha, power)
        + _trace_rows(study, mde["traces"], alpha, power)
        + _qual_rows(study, mde["qual"], power)
    )
    m = pd.DataFrame(rows).reindex(columns=MATRIX_COLUMNS)
    m["unit"] = m["source"].map(_UNITS)
    m["mde_wanted"] = m["source"].map(mde).astype(float)
    m["reached"] = (m["mde"] <= m["mde_wanted"]).astype(bool)
    order = {t.id: i for i, t in enumerate(study.journey.touchpoints)}
    src = {"survey": 0, "traces": 1, "qual": 2}
    m = m.sort_values(
        ["touchpoint", "persona", "source"],
        key=lambda s: s.map(
            {**order, **src, **{p: i for i, p in enumerate(study.journey.persona_ids)}}
        ),
        kind="stable",
    )
    return m.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# the allocation
# ---------------------------------------------------------------------------------------------
def _interviews_at(ratio: float, prevalence: float, power: float, cap: int) -> int:
    q = min(ratio * prevalence, 0.999)
    return min(interviews_needed(q, power=power), cap)


def _cost_at(ratio, needs, m_full, prevalence, power, c_r, c_i) -> tuple:
    """The allocation at a shortfall ``ratio`` and its cost."""
    n = [max(2, math.ceil(N / ratio**2 - 1e-9)) for N in needs]
    m = (
        [_interviews_at(ratio, prevalence, power, m_full) for _ in needs]
        if c_i is not None
        else [0] * len(needs)
    )
    return n, m, c_r * sum(n) + (c_i or 0) * sum(m)


def allocate(
    needs: Sequence[float],
    *,
    prevalence: float | None,
    power: float,
    cost_respondent: float,
    cost_interview: float | None,
    budget: float | None,
) -> tuple[list, list, float]:
    """Respondents and interviews per persona within ``budget`` (see the module notes).

    Parameters
    ----------
    needs : sequence of float
        ``N_p``: respondents each persona needs for the wanted survey effect.
    prevalence : float or None
        Wanted qual prevalence (None: no interviews are planned).
    power : float
    cost_respondent, cost_interview : float
    budget : float or None
        None: no limit (the wanted effects are bought).

    Returns
    -------
    (respondents, interviews, ratio)
        Per persona, and the shortfall ratio ``R`` (1 when the wanted effects are reached).
    """
    c_i = cost_interview if prevalence is not None else None
    m_full = interviews_needed(prevalence, power=power) if prevalence is not None else 0
    n, m, cost = _cost_at(1.0, needs, m_full, prevalence, power, cost_respondent, c_i)
    if budget is None or cost <= budget:
        return n, m, 1.0
    cands = {math.sqrt(N / k) for N in needs for k in range(2, math.ceil(N) + 1) if N / k > 1}
    if c_i is not None:
        cands |= {float(qual_mde(k, power=power)) / prevalence for k in range(1, m_full)}
    cands = sorted(r for r in cands if r > 1)
    lo, hi = 0, len(cands) - 1
    if (
        not cands
        or _cost_at(cands[hi], needs, m_full, prevalence, power, cost_respondent, c_i)[2] > budget
    ):
        n, m, _ = _cost_at(
            cands[hi] if cands else 1.0, needs, m_full, prevalence, power, cost_respondent, c_i
        )
        return n, m, math.inf
    while lo < hi:  # the smallest affordable ratio (cost falls as the ratio grows)
        mid = (lo + hi) // 2
        if (
            _cost_at(cands[mid], needs, m_full, prevalence, power, cost_respondent, c_i)[2]
            <= budget
        ):
            hi = mid
        else:
            lo = mid + 1
    n, m, cost = _cost_at(cands[lo], needs, m_full, prevalence, power, cost_respondent, c_i)
    return _spend_rest(needs, n, budget - cost, cost_respondent), m, cands[lo]


def _spend_rest(needs: Sequence[float], n: list, left: float, c_r: float) -> list:
    """The second pass of :func:`allocate`: what the shortfall allocation leaves unspent
    (``left``) buys respondents one at a time, each for the persona whose survey effect falls
    shortest of the wanted one (largest ``N_p / n_p``; the first persona on ties), until no
    respondent fits or every persona has the ``N_p`` it needs."""
    n = list(n)
    full = [max(2, math.ceil(N - 1e-9)) for N in needs]
    heap = [(-N / k, i) for i, (N, k) in enumerate(zip(needs, n, strict=True)) if k < full[i]]
    heapq.heapify(heap)
    bought = 0
    while heap and c_r * (bought + 1) <= left + 1e-9:
        _, i = heapq.heappop(heap)
        n[i] += 1
        bought += 1
        if n[i] < full[i]:
            heapq.heappush(heap, (-needs[i] / n[i], i))
    return n


def _needs(matrix: pd.DataFrame, touchpoints, min_coverage: float) -> pd.DataFrame:
    """Per persona: ``N_p`` respondents and the touchpoint that sets it."""
    s = matrix[(matrix["source"] == "survey") & (matrix["coverage"] >= min_coverage)]
    if touchpoints is not None:
        s = s[s["touchpoint"].isin(list(touchpoints))]
    s = s.assign(need=s["n_needed"] / s["coverage"])
    rows = []
    for p, sub in s.groupby("persona", sort=False):
        if sub["need"].notna().any():
            top = sub.loc[sub["need"].idxmax()]
            rows.append(
                {
                    "persona": p,
                    "N": float(top["need"]),
                    "binding_touchpoint": top["touchpoint"],
                    "deff": top["deff"],
                    "worst": sub[["touchpoint", "sd", "coverage"]],
                }
            )
    return pd.DataFrame(rows)


def _summary(study, matrix, needs, n, m, mde, power, alpha, c_r, c_i) -> pd.DataFrame:
    """One row per persona (columns :data:`SUMMARY_COLUMNS`)."""
    resp = study.responses
    q_mat = matrix[matrix["source"] == "qual"]
    rows = []
    for i, r in enumerate(needs.itertuples()):
        w = r.worst
        achieved = survey_mde(
            n[i] * w["coverage"].to_numpy(), w["sd"].to_numpy(), r.deff, alpha=alpha, power=power
        )
        today_i = int(q_mat.loc[q_mat["persona"] == r.persona, "n"].max()) if len(q_mat) else 0
        rows.append(
            {
                "persona": r.persona,
                "deff": r.deff,
                "respondents_today": int((resp["persona"] == r.persona).sum())
                if resp is not None
                else 0,
                "respondents_needed": math.ceil(r.N - 1e-9),
                "respondents": n[i],
                "binding_touchpoint": r.binding_touchpoint,
                "survey_mde": float(np.nanmax(achieved)),
                "interviews_today": today_i,
                "interviews_needed": interviews_needed(mde["qual"], power=power) if c_i else 0,
                "interviews": m[i],
                "qual_prevalence": float(qual_mde(m[i], power=power)) if m[i] else np.nan,
                "cost_survey": c_r * n[i],
                "cost_interviews": (c_i or 0) * m[i],
            }
        )
        rows[-1]["cost"] = rows[-1]["cost_survey"] + rows[-1]["cost_interviews"]
    return pd.DataFrame(rows).reindex(columns=SUMMARY_COLUMNS)


# ---------------------------------------------------------------------------------------------
# the result and the function
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class NextWave:
    """The plan of the next wave: the result of :func:`next_wave`.

    Attributes
    ----------
    summary : DataFrame
        One row per persona: ``deff`` (today's Kish design effect of the persona's weights),
        ``respondents_today``, ``respondents_needed`` (for the wanted survey MDE at every
        touchpoint in scope), ``respondents`` (planned, within the budget),
        ``binding_touchpoint`` (the touchpoint that sets the need: high spread, low coverage),
        ``survey_mde`` (the largest MDE over the touchpoints in scope with the planned
        respondents, rating points), ``interviews_today``, ``interviews_needed``,
        ``interviews`` (planned), ``qual_prevalence`` (smallest prevalence the planned
        interviews find with probability ``power``), ``cost_survey, cost_interviews, cost``.
    matrix : DataFrame
        The evidence matrix, one row per touchpoint × persona × source: ``n`` (ratings, trace
        starts, interview participants who spoke of it), ``deff, n_eff, coverage, sd`` (survey),
        ``reference`` (traces: the other personas' completion), ``mde`` (today's), ``unit``,
        ``mde_wanted``, ``reached`` (today's MDE at most the wanted one), ``n_needed`` (ratings,
        starts or interviews for the wanted MDE).
    mde : dict
        Wanted effects by source.
    budget : float or None
    costs : dict
        ``respondent``, ``interview``, ``currency``.
    ratio : float
        Shortfall: the largest ratio of a reached effect to the wanted one (1: reached;
        ``inf``: the budget cannot pay for the smallest wave).
    alpha, power : float
    """

    summary: pd.DataFrame
    matrix: pd.DataFrame
    mde: dict
    budget: float | None
    costs: dict
    ratio: float
    alpha: float
    power: float

    @property
    def cost(self) -> float:
        return float(self.summary["cost"].sum())

    @property
    def feasible(self) -> bool:
        """Whether the planned wave reaches the wanted effects."""
        return self.ratio <= 1.0

    def _lines(self) -> list[str]:
        cur = self.costs.get("currency", "")
        m = self.mde
        head = (
            f"Next wave for MDE survey {m['survey']:g} rating points, traces {m['traces']:g}, qual prevalence "
            f"{m['qual']:g} (alpha {self.alpha:g}, power {self.power:g}); costs {self.costs.get('respondent')} "
            f"per respondent, {self.costs.get('interview')} per interview {cur}".rstrip()
        )
        budget = (
            "no budget limit"
            if self.budget is None
            else f"budget {self.budget:,.0f} {cur}".rstrip()
        )
        if self.feasible:
            verdict = f"reached for {self.cost:,.0f} {cur} ({budget})".rstrip()
        elif math.isinf(self.ratio):
            verdict = (
                f"NOT reachable: {budget} cannot pay for the smallest wave ({self.cost:,.0f} {cur})"
            )
        else:
            verdict = (
                f"NOT reachable within {budget}: the best allocation ({self.cost:,.0f} {cur}) reaches "
                f"effects {self.ratio:.2f} times the wanted ones"
            )
        lines = [head, verdict]
        for r in self.summary.itertuples():
            lines.append(
                f"  - {r.persona}: {_plural(r.respondents, 'respondent')} (deff {r.deff:.2f}, MDE "
                f"{r.survey_mde:.2f} at {r.binding_touchpoint}), {_plural(r.interviews, 'interview')}"
            )
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        head = "<br>".join(html.escape(x) for x in self._lines())
        return f"<p>{head}</p>" + self.summary.round(3).to_html(index=False, na_rep="")


def _plural(n: int, word: str, lang: str = "en") -> str:
    """``"1 interview"``, ``"2 interviews"``; in French 0 and 1 take the singular
    (``"0 entretien"``, ``"1 entretien"``, ``"2 entretiens"``)."""
    one = n == 1 or (lang == "fr" and n == 0)
    return f"{n} {word}" if one else f"{n} {word}s"


def _wanted(mde) -> dict:
    if isinstance(mde, int | float) and not isinstance(mde, bool):
        out = {**DEFAULT_MDE, "survey": float(mde)}
    elif isinstance(mde, Mapping):
        unknown = set(mde) - set(DEFAULT_MDE)
        if unknown:
            raise AnalysisError(
                f"mde: unknown source(s) {sorted(unknown)}; use survey, traces, qual."
            )
        out = {**DEFAULT_MDE, **{k: float(v) for k, v in mde.items()}}
    else:
        raise AnalysisError(
            f"mde={mde!r}: give the survey MDE in rating points (0.3) or a dict "
            "{'survey': 0.3, 'traces': 0.05, 'qual': 0.2}."
        )
    if out["survey"] <= 0 or not 0 < out["traces"] < 1 or not 0 < out["qual"] < 1:
        raise AnalysisError(
            f"mde={mde!r}: survey > 0 rating points; traces and qual between 0 and 1."
        )
    return out


def _costs(study, costs, budget) -> tuple[dict, float | None]:
    """Costs and budget: the arguments, else ``plan:`` of study.yml."""
    from .plan import _plan_sizes

    plan = _plan_sizes(study)
    out = {**(plan.get("costs") or {}), **(costs or {})}
    budget = plan.get("budget") if budget is None else budget
    if "respondent" not in out:
        raise AnalysisError(
            "next_wave: what does a respondent cost?",
            [
                Problem(
                    "no cost per respondent",
                    "study.yml",
                    column="plan.costs",
                    fix="write plan: {costs: {respondent: 12, interview: 350, currency: EUR}} in study.yml "
                    "or pass costs={'respondent': 12, 'interview': 350}",
                )
            ],
        )
    for k in ("respondent", "interview"):
        if k in out and not (isinstance(out[k], int | float) and out[k] >= 0):
            raise AnalysisError(f"costs: {k}={out[k]!r} must be a number >= 0.")
    if budget is not None and not (isinstance(budget, int | float) and budget > 0):
        raise AnalysisError(f"budget={budget!r} must be a positive amount.")
    return out, budget


def next_wave(
    study,
    *,
    mde: float | Mapping = 0.3,
    budget: float | None = None,
    costs: Mapping | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    touchpoints: Sequence[str] | None = None,
    min_coverage: float = 0.3,
) -> NextWave:
    """The evidence matrix of a study and the next wave that reaches the wanted effects.

    Parameters
    ----------
    study : Study, Evidence or path
    mde : float or dict, default 0.3
        Wanted minimum detectable effects: the survey's in rating points, or a dict by source
        (``survey`` rating points, ``traces`` completion drop, ``qual`` theme prevalence;
        defaults :data:`DEFAULT_MDE`).
    budget : float, optional
        Budget of the wave (default ``plan: budget:`` of study.yml, else no limit).
    costs : dict, optional
        ``respondent``, ``interview``, ``currency`` (default ``plan: costs:`` of study.yml).
        Without an interview cost, no interviews are planned.
    power : float, default 0.8
    alpha : float, default 0.05
        Two-sided level of the tests the MDEs are for.
    touchpoints : sequence of str, optional
        The touchpoints the survey must cover at the wanted MDE (default: those at least
        ``min_coverage`` of the persona's respondents rate).
    min_coverage : float, default 0.3

    Returns
    -------
    NextWave
        ``.summary`` (per persona), ``.matrix`` (touchpoint × persona × source), ``.ratio``,
        ``.feasible``, ``.cost``; see :class:`NextWave`.
    """
    from ._inputs import study_of
    from .plan import _as_study

    study = study_of(study) or _as_study(study)
    for name, v in (("power", power), ("alpha", alpha), ("min_coverage", min_coverage)):
        if not 0 < v < 1:
            raise AnalysisError(f"{name}={v!r} must be between 0 and 1.")
    wanted = _wanted(mde)
    cost, budget = _costs(study, costs, budget)
    matrix = evidence_matrix(study, mde=wanted, alpha=alpha, power=power)
    needs = _needs(matrix, touchpoints, min_coverage)
    if needs.empty:
        raise AnalysisError(
            "next_wave: no survey ratings to plan from.",
            [
                Problem(
                    "no touchpoint rated by enough respondents",
                    "survey",
                    fix="add `survey:` responses, or lower min_coverage / name touchpoints=",
                )
            ],
        )
    c_i = cost.get("interview")
    qual = wanted["qual"] if c_i is not None else None
    n, m, ratio = allocate(
        needs["N"].tolist(),
        prevalence=qual,
        power=power,
        cost_respondent=cost["respondent"],
        cost_interview=c_i,
        budget=budget,
    )
    summary = _summary(study, matrix, needs, n, m, wanted, power, alpha, cost["respondent"], c_i)
    return NextWave(
        summary=summary,
        matrix=matrix,
        mde=wanted,
        budget=budget,
        costs=cost,
        ratio=ratio,
        alpha=alpha,
        power=power,
    )
