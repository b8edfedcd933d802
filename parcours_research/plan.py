"""Plan a study before fielding it: the power and false-alarm rate of its design.

:func:`power` simulates many studies like a given one (same touchpoints, personas and persona
mix, trace steps, survey and interview sizes), without any effect and with a friction of a given
size planted in one touchpoint × persona at a time, runs every study through the same friction
tests and triangulation a researcher runs (:func:`parcours_research.friction.test_traces`,
``test_survey``, ``test_qual``, ``triangulate``), and counts:

* **power**: the share of studies with a friction planted in a cell where that cell is
  confirmed;
* **false-alarm rate**: the share of null studies where the cell is confirmed anyway (and, for
  the whole study, where any cell is).

Each share comes with a Monte Carlo interval (Wilson score, from statsmodels), so that the
number of simulations is part of the answer.

>>> import parcours_research as pr
>>> res = pr.plan.power("data/sample", effect=1.5, cells=[("signup", "senior")],
...                     n_sim=100, scale=(0.5, 1, 2), n_jobs=2)          # doctest: +SKIP
>>> res.summary                                                          # doctest: +SKIP
>>> pr.plot.power(res)                                                   # doctest: +SKIP

:func:`next_wave` (module :mod:`parcours_research.next_wave`) plans the next wave from closed
forms instead: today's minimum detectable effect per touchpoint × persona × source, and the
survey respondents and interviews per persona that reach a wanted effect within a budget.

What is simulated
-----------------
The studies are drawn at the level of what the tests read (step counts per persona and period,
survey ratings with missing answers and unequal weights, coded excerpts clustered by
participant) by :mod:`parcours_research.friction._simulate`, not as raw event logs: a study
takes about a second instead of ten, and the tests see the same numbers. The null is exact: each
touchpoint's ratings have the same distribution for every persona, whose mean is the target; every step converts
at the same rate for every persona and period; every excerpt is negative with the same
probability (with participant-to-participant variation). The design of a study
(:func:`design_of`) comes from ``study.yml`` and, when present, its data: touchpoints with a trace
step (a start and an end event, or the end
of a funnel step) and each step's conversion in the study's event log, when it has one (else
0.8), the share of respondents who rate each touchpoint and its mean rating's offset from the
journey's (the curve's relief), interview participants per
persona, excerpts per participant and the touchpoints every interview covers; the respondents'
persona mix comes from the responses when there are some (non-response changes it), the
customers' from the margins. Sizes come from
the arguments, else ``plan:`` in study.yml (``respondents``, ``customers``, ``participants``),
else the data.

Seeds: one :class:`numpy.random.SeedSequence` per call, spawned into one child per simulated
study, so that the result depends on ``seed`` only, never on ``n_jobs``.
"""

from __future__ import annotations

import html
import math
import multiprocessing as mp
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AnalysisError, Problem
from .friction._simulate import SimDesign, run_cells

__all__ = ["Effect", "Power", "design_of", "power", "SUMMARY_COLUMNS", "next_wave", "NextWave"]

#: Columns of :attr:`Power.summary`.
SUMMARY_COLUMNS = [
    "scale",
    "n_respondents",
    "n_users",
    "n_participants",
    "touchpoint",
    "persona",
    "n_sim",
    "power",
    "power_ci_low",
    "power_ci_high",
    "false_alarm",
    "false_alarm_ci_low",
    "false_alarm_ci_high",
    "traces_power",
    "survey_power",
    "qual_power",
    "other_confirmed",
]
_SIZE_BUNDLED = 1.5


@dataclass(frozen=True)
class Effect:
    """The friction planted in one touchpoint × persona.

    Parameters
    ----------
    rating_shift : float
        Change of the persona's mean latent rating (rating points; negative is worse).
    conversion_drop : float
        Drop of the persona's conversion at the touchpoint's trace step (a proportion).
    negative_share : float
        Share of the persona's excerpts about the touchpoint that are negative.
    """

    rating_shift: float = -0.6
    conversion_drop: float = 0.12
    negative_share: float = 0.8

    @classmethod
    def of_size(cls, size: float) -> Effect:
        """The effect of ``parcours sample --friction TP:PERSONA:SIZE``: the rating drops by
        ``size`` points, the step's conversion by ``0.32 * size / 1.5`` and the share of
        negative excerpts rises to ``0.22 + 0.63 * min(size / 1.5, 1)``."""
        w = float(size) / _SIZE_BUNDLED
        return cls(-float(size), round(0.32 * w, 4), round(0.22 + 0.63 * min(w, 1.0), 4))

    def text(self) -> str:
        return (
            f"rating {self.rating_shift:+.2f}, conversion -{self.conversion_drop:.2f}, "
            f"negative excerpts {self.negative_share:.2f}"
        )


# ---------------------------------------------------------------------------------------------
# the design of a study
# ---------------------------------------------------------------------------------------------
def _plan_sizes(study) -> dict:
    """``plan:`` of study.yml (sizes for simulations), when the study has one."""
    import yaml

    try:
        raw = yaml.safe_load((Path(study.root) / "study.yml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    plan = raw.get("plan") if isinstance(raw, dict) else None
    return dict(plan) if isinstance(plan, dict) else {}


def _persona_shares(study, personas: list[str], source: str) -> tuple:
    """Persona shares of the respondents (``source="responses"``: the responses, else the
    margins) or of the customers (``"margins"``: the margins, else the responses); else equal."""
    m = study.margins.get("persona") if study.margins else None
    r = (
        study.responses["persona"]
        if study.responses is not None and "persona" in study.responses
        else None
    )
    if r is not None and (source == "responses" or not m):
        s = r.value_counts().reindex(personas, fill_value=0).astype(float)
    elif m:
        s = pd.Series({p: float(m.get(p, 0.0)) for p in personas})
    else:
        s = pd.Series(1.0, index=personas)
    if s.sum() <= 0:
        s = pd.Series(1.0, index=personas)
    return tuple((s / s.sum()).round(6).tolist())


def _step_touchpoints(study) -> tuple:
    """Touchpoints with a trace step: a start and an end event, or the end of a funnel step."""
    if study.traces is None:
        return ()
    owner = {e: t.id for t in study.journey.touchpoints for e in t.events}
    ends = {owner[e] for e in list(study.traces.funnel)[1:] if e in owner}
    return tuple(t.id for t in study.journey.touchpoints if len(t.events) >= 2 or t.id in ends)


def _step_conversions(study, steps: tuple) -> tuple:
    """Each trace step's conversion over the study's personas, when it has an event log (the
    touchpoint's own step, else its funnel step)."""
    if not steps:
        return ()
    from .friction import ALL, trace_counts

    try:
        c = trace_counts(study)
    except (ValueError, OSError):
        return ()
    c = c[c["persona"] != ALL]
    out = []
    for tp in steps:
        sub = c[c["touchpoint"] == tp]
        if "kind" in sub and (sub["kind"] == "touchpoint").any():
            sub = sub[sub["kind"] == "touchpoint"]
        n, k = float(sub["n"].sum()), float(sub["k"].sum())
        if n > 0:
            out.append((tp, round(k / n, 4)))
    return tuple(out)


def _survey_design(study, tps: list[str]) -> dict:
    """Coverage of each touchpoint and the latent mean, from the responses when there are some."""
    r = study.responses
    cols = study.touchpoint_columns
    if r is None or not cols:
        return {}
    cov = tuple(float(r[cols[t]].notna().mean()) if cols.get(t) in r else 0.85 for t in tps)
    vals = pd.concat(
        [pd.to_numeric(r[c], errors="coerce") for c in cols.values() if c in r]
    ).dropna()
    mu = float(np.clip(vals.mean(), 2.0, 4.5)) if len(vals) else 3.9
    means = [
        pd.to_numeric(r[cols[t]], errors="coerce").mean() if cols.get(t) in r else np.nan
        for t in tps
    ]
    offsets = tuple(round(float(m - mu), 3) if np.isfinite(m) else 0.0 for m in means)
    return {
        "coverage": tuple(round(max(c, 0.05), 4) for c in cov),
        "mu": round(mu, 3),
        "offsets": offsets,
        "n": len(r),
    }


def _qual_design(study, personas: list[str], tps: list[str]) -> dict:
    """Participants per persona, excerpts per participant and the touchpoints every interview
    covers, from the excerpts when there are some."""
    if study.qual is None:
        return {"n_participants_per_persona": 0}
    try:
        from .qual import read_excerpts

        ex = read_excerpts(study)  # counts only: no need for the scrubbed copy
    except (ValueError, OSError):
        return {}
    if ex is None or not len(ex) or "participant" not in ex:
        return {}
    ex = ex.drop_duplicates("excerpt_id") if "excerpt_id" in ex else ex
    n_part = ex["participant"].nunique()
    per_tp = ex.groupby("touchpoint")["participant"].nunique()
    probed = tuple(t for t in tps if per_tp.get(t, 0) == n_part)
    return {
        "n_participants_per_persona": max(1, round(n_part / len(personas))),
        "excerpts_per_participant": max(1, round(len(ex) / n_part)),
        "probed": probed,
    }


def _sizes(study, respondents, customers, participants, survey: dict, qual: dict) -> dict:
    plan = _plan_sizes(study)
    n_resp = respondents or plan.get("respondents") or survey.get("n")
    n_users = (
        customers
        or plan.get("customers")
        or (len(study.customers) if study.customers is not None else None)
    )
    if not n_resp:
        raise AnalysisError(
            "design_of: how many respondents? The study has no responses yet.",
            [
                Problem(
                    "no sample size",
                    where="study.yml",
                    fix="pass respondents= (--respondents) or write "
                    "plan: {respondents: 800, customers: 2000, participants: 24} in study.yml",
                )
            ],
        )
    out = {"n_respondents": int(n_resp), "n_users": int(n_users or 4 * n_resp)}
    part = participants or plan.get("participants")
    if part and qual.get("n_participants_per_persona", 1):
        out["n_participants_per_persona"] = max(
            1, round(int(part) / len(study.journey.persona_ids))
        )
    return out


def design_of(
    study,
    *,
    respondents: int | None = None,
    customers: int | None = None,
    participants: int | None = None,
) -> SimDesign:
    """The simulation design of a study (see the module documentation).

    Parameters
    ----------
    study : Study or path
    respondents, customers, participants : int, optional
        Survey respondents, customers in the event log, interview participants (default:
        ``plan:`` in study.yml, else the study's data).

    Returns
    -------
    SimDesign
    """
    study = _as_study(study)
    tps = [t.id for t in study.journey.touchpoints]
    personas = list(study.journey.persona_ids)
    survey = _survey_design(study, tps)
    qual = _qual_design(study, personas, tps)
    kw = {k: v for k, v in {**survey, **qual}.items() if k != "n"}
    kw.update(_sizes(study, respondents, customers, participants, survey, qual))
    steps = _step_touchpoints(study)
    if study.traces is not None:
        kw["conversions"] = _step_conversions(study, steps)
    return SimDesign(
        n_touchpoints=len(tps),
        touchpoint_ids=tuple(tps),
        personas=tuple(personas),
        shares=_persona_shares(study, personas, "responses"),
        user_shares=_persona_shares(study, personas, "margins"),
        step_touchpoints=steps,
        weight_sd=0.35 if study.margins else 0.0,
        **kw,
    )


def _as_study(study):
    if isinstance(study, str | os.PathLike):
        from .study import load_study

        return load_study(study)
    if not hasattr(study, "journey"):
        raise AnalysisError(
            f"Expected a Study, a study folder or a SimDesign; got {type(study).__name__}."
        )
    return study


# ---------------------------------------------------------------------------------------------
# the simulations
# ---------------------------------------------------------------------------------------------
def _scaled(d: SimDesign, s: float) -> SimDesign:
    return replace(
        d,
        n_respondents=max(2, round(d.n_respondents * s)),
        n_users=max(2, round(d.n_users * s)),
        n_participants_per_persona=round(d.n_participants_per_persona * s)
        if d.n_participants_per_persona
        else 0,
    )


def _planted(d: SimDesign, cell: tuple[str, str], effect: Effect) -> SimDesign:
    return replace(
        d,
        planted=True,
        touchpoint=cell[0],
        persona=cell[1],
        rating_shift=effect.rating_shift,
        conversion_drop=effect.conversion_drop,
        negative_share=effect.negative_share,
    )


def _jobs(design: SimDesign, cells, effect, scale, n_sim, seed) -> list[tuple]:
    """Every simulated study: ``(scale index, cell index or -1 for null, design, SeedSequence)``."""
    jobs = []
    for si, (s, ss) in enumerate(
        zip(scale, np.random.SeedSequence(seed).spawn(len(scale)), strict=True)
    ):
        d = _scaled(design, s)
        kids = ss.spawn(1 + len(cells))
        variants = [(-1, d)] + [(ci, _planted(d, c, effect)) for ci, c in enumerate(cells)]
        for (ci, dd), k in zip(variants, kids, strict=True):
            jobs.extend((si, ci, dd, child) for child in k.spawn(n_sim))
    return jobs


def _work(batch: list[tuple]) -> list[dict]:
    """Run a batch of simulated studies (in a worker process)."""
    return [run_cells(d, ss, alpha=alpha, rule=rule) for d, ss, alpha, rule in batch]


def _run(jobs: list[tuple], n_jobs: int, alpha: float, rule) -> list[dict]:
    """The results of ``jobs``, in order, on ``n_jobs`` processes."""
    items = [(d, ss, alpha, rule) for _si, _ci, d, ss in jobs]
    if n_jobs <= 1 or len(items) < 2:
        return _work(items)
    size = max(1, math.ceil(len(items) / (4 * n_jobs)))
    batches = [items[i : i + size] for i in range(0, len(items), size)]
    for var in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # one thread per worker: the processes use the cores
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=mp.get_context("spawn")) as ex:
        return [r for part in ex.map(_work, batches) for r in part]


def _wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return (np.nan, np.nan)
    lo, hi = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    p = k / n  # the interval holds the estimate (not so by rounding error at k = 0 or n)
    return float(np.clip(lo, 0.0, p)), float(np.clip(hi, p, 1.0))


def _cell_row(cell, null_conf: list[set], runs: list[dict] | None, confidence: float) -> dict:
    """Power and false alarms of one cell at one sample size."""
    n0 = len(null_conf)
    k0 = sum(cell in c for c in null_conf)
    row = {"touchpoint": cell[0], "persona": cell[1], "false_alarm": k0 / n0 if n0 else np.nan}
    row["false_alarm_ci_low"], row["false_alarm_ci_high"] = _wilson(k0, n0, confidence)
    row.update(
        dict.fromkeys(
            [
                "n_sim",
                "power",
                "power_ci_low",
                "power_ci_high",
                "traces_power",
                "survey_power",
                "qual_power",
                "other_confirmed",
            ],
            np.nan,
        )
    )
    if runs:
        n = len(runs)
        conf = [set(r["confirmed"]) for r in runs]
        k = sum(cell in c for c in conf)
        row.update(n_sim=n, power=k / n, other_confirmed=sum(bool(c - {cell}) for c in conf) / n)
        row["power_ci_low"], row["power_ci_high"] = _wilson(k, n, confidence)
        for s in ("traces", "survey", "qual"):
            flags = [r["sources"][s] for r in runs if s in r["sources"]]
            row[f"{s}_power"] = float(np.mean(flags)) if flags else np.nan
    return row


def _aggregate(
    jobs, results, design, cells, scale, confidence
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary (one row per sample size and cell) and the study-level false alarms."""
    grid = [(t, p) for t in design.tps for p in design.personas]
    rows, fa = [], []
    for si, s in enumerate(scale):
        d = _scaled(design, s)
        sizes = {
            "scale": float(s),
            "n_respondents": d.n_respondents,
            "n_users": d.n_users,
            "n_participants": d.n_participants_per_persona * len(d.personas),
        }
        null = [
            set(r["confirmed"])
            for j, r in zip(jobs, results, strict=True)
            if j[0] == si and j[1] == -1
        ]
        k = sum(bool(c) for c in null)
        lo, hi = _wilson(k, len(null), confidence)
        fa.append(
            {
                **sizes,
                "n_sim": len(null),
                "any_confirmed": k / len(null),
                "ci_low": lo,
                "ci_high": hi,
            }
        )
        for cell in grid:
            ci = cells.index(cell) if cell in cells else None
            runs = (
                None
                if ci is None
                else [r for j, r in zip(jobs, results, strict=True) if j[0] == si and j[1] == ci]
            )
            rows.append({**sizes, **_cell_row(cell, null, runs, confidence)})
    summary = pd.DataFrame(rows)
    summary["n_sim"] = summary["n_sim"].fillna(len(null)).astype(int)
    return summary[SUMMARY_COLUMNS], pd.DataFrame(fa)


@dataclass(frozen=True, repr=False)
class Power:
    """Power and false-alarm rates of a study design, from simulations.

    Attributes
    ----------
    summary : DataFrame
        One row per sample size and touchpoint × persona: ``scale`` (multiple of the design's
        sizes), ``n_respondents, n_users, n_participants``, ``touchpoint, persona``, ``n_sim``
        (simulated studies behind ``power``, else behind ``false_alarm``), ``power`` (share of
        studies with the effect planted in this cell where the cell is confirmed; missing for
        cells not simulated), ``power_ci_low, power_ci_high`` (Wilson interval at
        ``confidence``), ``false_alarm`` (share of null studies where the cell is confirmed),
        ``false_alarm_ci_low, false_alarm_ci_high``, ``traces_power, survey_power, qual_power``
        (share where each source shows friction at the planted cell), ``other_confirmed``
        (share where another cell is confirmed too).
    false_alarm : DataFrame
        Per sample size: ``scale, n_respondents, n_users, n_participants, n_sim,
        any_confirmed`` (share of null studies with at least one confirmed cell), ``ci_low,
        ci_high``.
    design : SimDesign
    effect : Effect
    n_sim, seed : int
    alpha, confidence : float
    rule : str
    """

    summary: pd.DataFrame
    false_alarm: pd.DataFrame
    design: SimDesign
    effect: Effect
    n_sim: int
    seed: int
    alpha: float
    confidence: float
    rule: str

    @property
    def planted(self) -> pd.DataFrame:
        """The rows of ``summary`` whose power was simulated."""
        return self.summary[self.summary["power"].notna()].reset_index(drop=True)

    def _lines(self) -> list[str]:
        d = self.design
        lines = [
            f"Power of a design: {len(d.tps)} touchpoints x {len(d.personas)} personas, {self.n_sim} simulated "
            f"studies per variant (seed {self.seed}); effect {self.effect.text()}; rule {self.rule}, "
            f"alpha {self.alpha:g}; Wilson {self.confidence:.0%} intervals",
        ]
        for f in self.false_alarm.itertuples():
            lines.append(
                f"n_respondents {f.n_respondents}, n_users {f.n_users}, n_participants {f.n_participants}: "
                f"null studies with a confirmed cell {f.any_confirmed:.2f} [{f.ci_low:.2f}, {f.ci_high:.2f}]"
            )
            for r in self.planted[self.planted["scale"] == f.scale].itertuples():
                lines.append(
                    f"  - {r.touchpoint} / {r.persona}: power {r.power:.2f} "
                    f"[{r.power_ci_low:.2f}, {r.power_ci_high:.2f}]"
                )
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        head = "<br>".join(html.escape(x) for x in self._lines())
        shown = self.planted if len(self.planted) else self.summary
        return f"<p>{head}</p>" + shown.round(3).to_html(index=False, na_rep="")


def _check(n_sim, n_jobs, scale, alpha, confidence, effect) -> Effect:
    """Check the arguments of :func:`power`; returns the effect."""
    if not isinstance(n_sim, int | np.integer) or n_sim < 1:
        raise AnalysisError(
            f"n_sim={n_sim!r} must be a positive integer (simulated studies per variant)."
        )
    if not isinstance(n_jobs, int | np.integer) or n_jobs == 0 or n_jobs < -1:
        raise AnalysisError(f"n_jobs={n_jobs!r} must be a positive integer, or -1 for every core.")
    if not len(scale) or any(not (isinstance(s, int | float) and s > 0) for s in scale):
        raise AnalysisError(
            f"scale={scale!r} must be positive multiples of the design's sample sizes."
        )
    for name, v in (("alpha", alpha), ("confidence", confidence)):
        if not 0 < v < 1:
            raise AnalysisError(f"{name}={v!r} must be between 0 and 1.")
    if effect is None:
        return Effect()
    if isinstance(effect, Effect):
        return effect
    if isinstance(effect, int | float) and effect > 0:
        return Effect.of_size(effect)
    if isinstance(effect, dict):
        return Effect(**effect)
    raise AnalysisError(
        f"effect={effect!r}: give a size in rating points (e.g. 1.5), a dict or a pr.plan.Effect."
    )


def _cells(design: SimDesign, cells) -> list[tuple[str, str]]:
    """The cells to plant in: given ones (checked), else every touchpoint × persona."""
    grid = [(t, p) for t in design.tps for p in design.personas]
    if cells is None:
        return grid
    out = []
    for c in cells:
        c = tuple(c.split(":")) if isinstance(c, str) else tuple(c)
        if c not in grid:
            raise AnalysisError(
                f"cells: {c!r} is not a touchpoint × persona of the study.",
                [
                    Problem(
                        f"unknown cell {':'.join(map(str, c))}",
                        fix=f"touchpoints {', '.join(design.tps)}; "
                        f"personas {', '.join(design.personas)}",
                    )
                ],
            )
        out.append(c)
    return list(dict.fromkeys(out))


def power(
    study,
    *,
    effect: Effect | float | dict | None = None,
    cells: Sequence | None = None,
    n_sim: int = 200,
    scale: Sequence[float] = (1.0,),
    n_jobs: int = 1,
    seed: int = 0,
    alpha: float = 0.05,
    confidence: float = 0.95,
    rule: str = "two_sources",
    respondents: int | None = None,
    customers: int | None = None,
    participants: int | None = None,
) -> Power:
    """Power and false-alarm rate of a study design, per touchpoint × persona, by simulation.

    Parameters
    ----------
    study : Study, path or SimDesign
        The study (its ``study.yml`` and, when present, its data) or a design.
    effect : Effect, float or dict, optional
        The friction planted: an :class:`Effect`, a size in rating points
        (:meth:`Effect.of_size`; 1.5 is the bundled sample's friction), or the Effect's fields.
        Default ``Effect()``: rating -0.6, conversion -0.12, negative excerpts 0.8.
    cells : sequence of (touchpoint, persona) or "TOUCHPOINT:PERSONA", optional
        Where to plant it, one cell per simulated study (default every cell: ``n_sim`` studies
        each, which takes a while). False alarms are counted for every cell regardless.
    n_sim : int, default 200
        Simulated studies per variant (the null, and each planted cell) and sample size.
    scale : sequence of float, default (1.0,)
        Sample sizes to try, as multiples of the design's (respondents, customers, participants).
    n_jobs : int, default 1
        Worker processes (-1: every core), started with ``spawn``; the result does not depend
        on it. In a script, call ``power`` under ``if __name__ == "__main__":``.
    seed : int, default 0
    alpha : float, default 0.05
        Level of the tests (Benjamini–Hochberg within each source, as in ``triangulate``).
    confidence : float, default 0.95
        Level of the Monte Carlo (Wilson) intervals.
    rule : {"two_sources", "one_source_uncontradicted"}, default "two_sources"
        Triangulation's confirmation rule.
    respondents, customers, participants : int, optional
        Sample sizes of the design (see :func:`design_of`).

    Returns
    -------
    Power
        ``.summary`` (columns :data:`SUMMARY_COLUMNS`), ``.false_alarm``, ``.planted``.
    """
    from .errors import check_one_of
    from .friction import RULES

    eff = _check(n_sim, n_jobs, tuple(scale), alpha, confidence, effect)
    check_one_of("rule", rule, RULES)
    design = (
        study
        if isinstance(study, SimDesign)
        else design_of(
            study, respondents=respondents, customers=customers, participants=participants
        )
    )
    design = replace(design, planted=False)
    chosen = _cells(design, cells)
    jobs = _jobs(design, chosen, eff, tuple(scale), int(n_sim), seed)
    workers = (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)
    results = _run(jobs, workers, alpha, rule)
    summary, fa = _aggregate(jobs, results, design, chosen, tuple(scale), confidence)
    return Power(
        summary=summary,
        false_alarm=fa,
        design=design,
        effect=eff,
        n_sim=int(n_sim),
        seed=seed,
        alpha=alpha,
        confidence=confidence,
        rule=rule,
    )


# the next wave's plan (evidence matrix, sample sizes within a budget) lives in its own module
from .next_wave import NextWave, next_wave  # noqa: E402
