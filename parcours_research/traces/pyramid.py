"""The conversion pyramid: how many persons reach each stage of the journey, stage after stage.

Definitions
-----------
A person *reaches* a stage when the traces hold an event of one of the stage's touchpoints
(the ``touchpoint`` column that :func:`~.sessions.map_touchpoints` adds), after reaching every
earlier stage, in journey order, and within the study's funnel window (``traces:
funnel_window`` in ``study.yml``, default ``"7D"``) measured from the first stage's event. This
is, exactly, the funnel of :func:`~.funnel.funnel` (ClickHouse ``windowFunnel`` semantics) with
one step per stage, the step being any of the stage's touchpoints::

    pr.traces.funnel(log, steps=[[touchpoints of stage 1], [touchpoints of stage 2], ...],
                     on="touchpoint", window=window, by=by)

There is one funnel definition in the kit; the pyramid does not write another.

For each stage, ``entered`` counts the persons who reached the previous stage (for the first
stage: every person of the group with at least one usable event), ``reached`` those who
reached the stage, and ``rate = reached / entered``: the stage's conversion among those who
reached the previous stage. The stage's target (``targets: conversion:`` in ``study.yml``,
i.e. :attr:`~parcours_research.journey.Stage.target_conversion`) is the target of this rate.

Stages that the traces cannot see
---------------------------------
A stage none of whose touchpoints lists trace events (``events: []``: a branch visit, a phone
call) cannot be reached in the traces. It is left out of the funnel and kept in the table as a
row with ``traced=False``, missing counts and a ``note``; the next traced stage's ``entered``
then counts those who reached the last traced stage before it (``from_stage`` names it). A
stage whose touchpoints list events that never occur is traced: its ``reached`` is 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import AnalysisError, Problem, StudyError
from .eventlog import EventLog, as_log, to_us
from .funnel import funnel

__all__ = ["pyramid", "clopper_pearson", "COLUMNS", "METHOD"]

#: Columns of :func:`pyramid`'s table after the group column(s), in order.
COLUMNS = (
    "stage",
    "entered",
    "reached",
    "rate",
    "ci_low",
    "ci_high",
    "target",
    "p_value",
    "stage_order",
    "label",
    "from_stage",
    "rate_from_first",
    "n_touchpoints",
    "traced",
    "window",
    "confidence",
    "method",
    "note",
)
#: How ``ci_low``/``ci_high`` and ``p_value`` are computed (the ``method`` column).
METHOD = "clopper_pearson; exact binomial test"
NOT_TRACED = (
    "not in the traces: none of this stage's touchpoints lists trace events (offline or "
    "tangible touchpoints only), so no one can be seen reaching it"
)


@dataclass(frozen=True)
class _StagePlan:
    id: str
    label: str
    order: int
    touchpoints: tuple[str, ...]  # the stage's touchpoints that list trace events
    target: float | None


@dataclass(frozen=True)
class _Inputs:
    log: EventLog
    stages: tuple[_StagePlan, ...]
    by: tuple[str, ...]
    window: str
    confidence: float
    persona_order: tuple[str, ...]


def pyramid(
    data,
    *,
    by="persona",
    journey=None,
    targets: Mapping[str, float | None] | None = None,
    window=None,
    confidence: float = 0.95,
    ci: str = "clopper-pearson",
) -> pd.DataFrame:
    """The conversion pyramid: per group and stage, who entered, who reached it, against target.

    Parameters
    ----------
    data : Study, Evidence, EventLog or DataFrame
        A loaded study or its prepared evidence (its prepared traces are used: cleaned,
        stitched, sessionized, with ``touchpoint`` and, when the customer file gives them,
        ``persona``, on the study's engine: the funnel is counted there and one row per group
        and stage comes back), or events with a
        ``touchpoint`` column (see :func:`~.sessions.map_touchpoints`) and the ``by`` column(s).
    by : str, list of str or None, default "persona"
        Group column(s); a person's group is the value on the person's earliest event (as in
        :func:`~.funnel.funnel`). ``None``: one pyramid, no group column.
    journey : JourneyMap or Study, optional
        The stages, their touchpoints and targets. Default: the study's journey (or the one
        an event log read from a study carries). Required for a DataFrame.
    targets : dict, optional
        ``{stage: share}`` overriding the journey's stage targets (``None`` removes one).
    window : duration, optional
        Funnel window, from the first stage's event. Default: the study's ``funnel_window``
        (``"7D"`` when none).
    confidence : float, default 0.95
        Confidence level of the intervals.
    ci : {"clopper-pearson", "wilson", "agresti-coull", "jeffreys"}, default "clopper-pearson"
        Interval of the rates: exact Clopper–Pearson (never below the nominal level), Wilson's
        score interval, Agresti–Coull (Wald on ``k + z²/2`` out of ``n + z²``) or Jeffreys
        (beta(1/2, 1/2) posterior quantiles); the last three from statsmodels'
        ``proportion_confint`` (methods ``wilson``, ``agresti_coull``, ``jeffreys``).

    Returns
    -------
    DataFrame
        One row per group and stage, stages in journey order; persons without a group value
        form their own group (missing ``by`` value), as in the funnel. Columns: the ``by``
        column(s), then

        * ``stage``: stage id;
        * ``entered``: persons who reached the previous traced stage (for the first stage,
          every person of the group with at least one usable event);
        * ``reached``: persons who reached this stage (``Int64``, like ``entered``);
        * ``rate``: ``reached / entered``, NaN when nobody entered;
        * ``ci_low, ci_high``: interval of ``rate`` at ``confidence`` (by default exact
          Clopper–Pearson: beta quantiles, 0 and 1 at the edges; see ``ci``);
        * ``target``: the stage's target conversion, NaN when it has none;
        * ``p_value``: exact two-sided binomial test of ``reached`` out of ``entered`` against
          ``target`` (scipy's ``binomtest``: the probability of outcomes no likelier than the
          one observed); NaN without target or when ``entered`` is 0;
        * ``stage_order``, ``label`` (in the journey's language);
        * ``from_stage``: the stage whose reachers are ``entered`` (missing for the first);
        * ``rate_from_first``: ``reached`` over the first traced stage's ``reached``;
        * ``n_touchpoints``: the stage's touchpoints with trace events;
        * ``traced``: False when the traces cannot see the stage (counts missing, see
          ``note``);
        * ``window``, ``confidence``, ``method``: how the row was computed;
        * ``note``: why a row has no counts (None otherwise).

    Raises
    ------
    AnalysisError
        When the input cannot give a pyramid; the error lists every problem and its fix.

    Examples
    --------
    >>> table = pr.traces.pyramid(study, by="persona")           # doctest: +SKIP
    >>> fig = pr.plot.pyramid(table, journey=study)              # doctest: +SKIP
    """
    from ..errors import check_one_of

    check_one_of("ci", ci, RATE_INTERVALS)
    inp = _validate(data, by, journey, targets, window, confidence)
    traced = [s for s in inp.stages if s.touchpoints]
    counts = funnel(
        inp.log,
        steps=[list(s.touchpoints) for s in traced],
        on="touchpoint",
        window=inp.window,
        by=list(inp.by) or None,
    )
    return _rate_intervals(_table(counts, inp), ci, confidence)


#: The interval methods of :func:`pyramid` (``ci=``).
RATE_INTERVALS = ("clopper-pearson", "wilson", "agresti-coull", "jeffreys")


def _rate_intervals(out: pd.DataFrame, ci: str, confidence: float) -> pd.DataFrame:
    """Replace the Clopper–Pearson limits by another method's (statsmodels)."""
    if ci == "clopper-pearson":
        return out
    from statsmodels.stats.proportion import proportion_confint

    ok = out["entered"].notna() & (out["entered"].fillna(0) > 0)
    k = out.loc[ok, "reached"].to_numpy(dtype=float)
    n = out.loc[ok, "entered"].to_numpy(dtype=float)
    lo, hi = proportion_confint(k, n, alpha=1 - confidence, method=ci.replace("-", "_"))
    out.loc[ok, "ci_low"] = np.clip(lo, 0.0, 1.0)
    out.loc[ok, "ci_high"] = np.clip(hi, 0.0, 1.0)
    out["method"] = METHOD.replace("clopper_pearson", ci.replace("-", "_"))
    return out


# -- validation ------------------------------------------------------------------------------
def _study_log(evidence) -> EventLog:
    """The study's prepared event log (cleaned, stitched, sessionized, with touchpoints)."""
    return evidence.traces.log


def _validate(data, by, journey, targets, window, confidence) -> _Inputs:
    """Check every input, collect the problems, raise one AnalysisError; return the inputs."""
    problems: list[Problem] = []
    by_cols = _check_by(by, problems)
    _check_confidence(confidence, problems)
    from ..evidence import evidence_of

    evidence = evidence_of(data)
    if evidence is not None:
        study = evidence.study
        if study.traces is None:
            raise AnalysisError(
                "pyramid: this study has no traces.",
                [
                    Problem(
                        "no `traces:` section", file="study.yml", fix="add one naming the event log"
                    )
                ],
            )
        jmap = _journey_of(journey, problems) if journey is not None else study.journey
        window = study.traces.funnel_window if window is None else window
        log = _study_log(evidence)
    else:
        log = _log_of(data)
        jmap = _journey_of(journey if journey is not None else log.meta.get("journey"), problems)
        window = (log.meta.get("funnel_window") or "7D") if window is None else window
    try:
        to_us(window, "window")
    except StudyError:
        problems.append(
            Problem(f"window={window!r} is not a duration", fix="write it like '7D' or '30min'")
        )
    _check_columns(log, by_cols, problems)
    stages = _plan(jmap, targets, problems) if jmap is not None else ()
    if problems:
        raise AnalysisError("pyramid cannot run on these inputs", problems)
    return _Inputs(
        log,
        stages,
        by_cols,
        str(window),
        float(confidence),
        tuple(jmap.persona_ids),
    )


def _check_by(by, problems: list[Problem]) -> tuple[str, ...]:
    if by is None:
        return ()
    cols = [by] if isinstance(by, str) else by
    if not isinstance(cols, Sequence) or not all(isinstance(c, str) for c in cols):
        problems.append(Problem(f"by={by!r} is not a column name", fix="pass by='persona' or None"))
        return ()
    clash = [c for c in cols if c in COLUMNS]
    if clash:
        problems.append(
            Problem(
                f"by={clash} would clash with the pyramid's own columns",
                fix="rename the group column in the events",
            )
        )
    return tuple(cols)


def _check_confidence(confidence, problems: list[Problem]) -> None:
    ok = isinstance(confidence, int | float | np.floating) and not isinstance(confidence, bool)
    if not ok or not 0 < float(confidence) < 1:
        problems.append(
            Problem(
                f"confidence={confidence!r} is not a level strictly between 0 and 1",
                fix="pass e.g. confidence=0.95",
            )
        )


def _log_of(data) -> EventLog:
    if not isinstance(data, EventLog | pd.DataFrame):
        raise AnalysisError(
            f"pyramid takes a Study, an EventLog or a DataFrame of events, not "
            f"{type(data).__name__}.",
            [
                Problem(
                    "wrong input",
                    fix="pass pr.load_study(...) or the events with a touchpoint column",
                )
            ],
        )
    try:
        return as_log(data)[0]
    except StudyError as exc:
        raise AnalysisError(
            "pyramid: these events cannot be analysed as given", exc.problems
        ) from exc


def _journey_of(obj, problems: list[Problem]):
    if obj is None:
        problems.append(
            Problem(
                "no journey: the stages and their touchpoints are unknown",
                fix="pass journey=study.journey (or the Study as data)",
            )
        )
        return None
    j = getattr(obj, "journey", obj)
    if not (hasattr(j, "stages") and hasattr(j, "touchpoints") and hasattr(j, "persona_ids")):
        problems.append(
            Problem(
                f"journey= is a {type(obj).__name__}, not a JourneyMap",
                fix="pass journey=study.journey",
            )
        )
        return None
    return j


def _check_columns(log: EventLog, by: tuple[str, ...], problems: list[Problem]) -> None:
    cols = log.columns
    if "touchpoint" not in cols:
        problems.append(
            Problem(
                "the events have no touchpoint column",
                column="touchpoint",
                fix="call pr.traces.map_touchpoints(events, study) first",
            )
        )
    for c in by:
        if c not in cols:
            fix = (
                "attach the personas: pr.traces.attach(events, study.customers[['customer_id', "
                "'persona']], on='user_id', key='customer_id') (for a study: give it a customer "
                "file with personas, `customers:` in study.yml), or pass by=None"
                if c == "persona"
                else "add the column (pr.traces.attach) or change by="
            )
            problems.append(
                Problem(f"the events have no column {c!r} to group by", column=c, fix=fix)
            )


def _plan(jmap, targets, problems: list[Problem]) -> tuple[_StagePlan, ...]:
    """Stages in journey order with their traced touchpoints and targets."""
    goal = {s.id: s.target_conversion for s in jmap.stages}
    if targets is not None:
        if not isinstance(targets, Mapping):
            problems.append(
                Problem("targets= must be a dict {stage: share}", fix="e.g. {'acquerir': 0.35}")
            )
            targets = {}
        for sid, v in targets.items():
            if sid not in goal:
                problems.append(
                    Problem(
                        f"targets names an unknown stage {sid!r}", fix=f"use one of {list(goal)}"
                    )
                )
            elif v is not None and not (
                isinstance(v, int | float | np.number) and not isinstance(v, bool) and 0 <= v <= 1
            ):
                problems.append(
                    Problem(
                        f"the target of {sid!r} is {v!r}, not a share between 0 and 1",
                        fix="e.g. 0.35",
                    )
                )
            else:
                goal[sid] = None if v is None else float(v)
    out = []
    for s in sorted(jmap.stages, key=lambda s: s.order):
        tps = tuple(t.id for t in jmap.touchpoints if t.stage == s.id and t.events)
        t = goal[s.id]
        out.append(_StagePlan(s.id, s.label.get(jmap.language), s.order, tps, t))
    if out and not any(s.touchpoints for s in out):
        problems.append(
            Problem(
                "no stage has a touchpoint with trace events, so no stage can be reached in traces",
                file="study.yml",
                column="touchpoints[*].events",
                fix="list the trace events that mark each digital touchpoint",
            )
        )
    return tuple(out)


# -- computation ---------------------------------------------------------------------------
def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval of a proportion ``k / n``: the beta quantiles
    ``B(a/2; k, n-k+1)`` and ``B(1-a/2; k+1, n-k)``, with ``a = 1 - confidence``, 0 and 1 at
    the edges. ``(nan, nan)`` when ``n`` is 0."""
    if n <= 0:
        return (np.nan, np.nan)
    a = 1.0 - confidence
    from scipy import stats  # lazily: importing pr.traces must not load scipy.linalg

    lo = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return (lo, hi)


def _p_value(k: int, n: int, target: float | None) -> float:
    if target is None or n <= 0:
        return np.nan
    from scipy import stats

    return float(stats.binomtest(k, n, target, alternative="two-sided").pvalue)


def _table(counts: pd.DataFrame, inp: _Inputs) -> pd.DataFrame:
    """Turn the funnel's table (one row per step and group) into the pyramid's rows."""
    by = list(inp.by)
    traced = [s for s in inp.stages if s.touchpoints]
    index = {s.id: k for k, s in enumerate(traced, 1)}
    groups = counts[by].drop_duplicates() if by else pd.DataFrame(index=[0])
    rows = []
    for _, g in groups.iterrows():
        sub = counts
        for c in by:
            sub = sub[sub[c].isna()] if pd.isna(g[c]) else sub[sub[c] == g[c]]
        step = sub.set_index("step_index")
        prev = None
        for s in inp.stages:
            row = {c: g[c] for c in by}
            row.update(_stage_row(s, step.loc[index[s.id]] if s.id in index else None, prev, inp))
            if s.touchpoints:
                prev = s.id
            rows.append(row)
    out = pd.DataFrame(rows, columns=[*by, *COLUMNS])
    for c in ("entered", "reached"):
        out[c] = out[c].astype("Int64")
    for c in ("rate", "ci_low", "ci_high", "target", "p_value", "rate_from_first"):
        out[c] = out[c].astype(float)
    out["stage_order"] = out["stage_order"].astype("int64")
    out["n_touchpoints"] = out["n_touchpoints"].astype("int64")
    out["traced"] = out["traced"].astype(bool)
    return _sort(out, by, inp.persona_order)


def _stage_row(s: _StagePlan, f, prev: str | None, inp: _Inputs) -> dict:
    target = np.nan if s.target is None else s.target
    base = {
        "stage": s.id,
        "target": target,
        "stage_order": s.order,
        "label": s.label,
        "n_touchpoints": len(s.touchpoints),
        "window": inp.window,
        "confidence": inp.confidence,
        "method": METHOD,
    }
    if f is None:  # a stage the traces cannot see
        return base | {
            "entered": pd.NA,
            "reached": pd.NA,
            "rate": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "p_value": np.nan,
            "from_stage": None,
            "rate_from_first": np.nan,
            "traced": False,
            "note": NOT_TRACED,
        }
    n, k = int(f["entered"]), int(f["converted"])
    lo, hi = clopper_pearson(k, n, inp.confidence)
    return base | {
        "entered": n,
        "reached": k,
        "rate": k / n if n else np.nan,
        "ci_low": lo,
        "ci_high": hi,
        "p_value": _p_value(k, n, s.target),
        "from_stage": prev,
        "rate_from_first": float(f["rate_from_first"]),
        "traced": True,
        "note": None,
    }


def _sort(out: pd.DataFrame, by: list[str], personas: tuple[str, ...]) -> pd.DataFrame:
    """Groups in persona order (the journey's, then others sorted, missing last), stages in
    journey order."""
    if not by:
        return out.reset_index(drop=True)
    keys = [_group_key(out[c], personas if c == "persona" else ()) for c in by]
    tmp = out.assign(**{f"_k{i}": k for i, k in enumerate(keys)})
    names = [f"_k{i}" for i in range(len(keys))]
    tmp = tmp.sort_values([*names, "stage_order"], kind="stable", na_position="last")
    return tmp.drop(columns=names).reset_index(drop=True)


def _group_key(values: pd.Series, first: tuple[str, ...]) -> pd.Series:
    """A sort key: the values in ``first`` in that order, then the others sorted as text."""
    present = sorted({str(v) for v in values if pd.notna(v)} - set(first))
    rank = {v: i for i, v in enumerate([*first, *present])}
    return pd.Series(
        [rank[str(v)] if pd.notna(v) else np.nan for v in values], index=values.index, dtype=float
    )
