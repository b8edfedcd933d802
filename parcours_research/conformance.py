"""Designed journeys against lived journeys: who deviates from ``to_be:``, and what it costs.

``study.yml`` may draw, per persona, the journey *as it should be* (``to_be:``, read into
:class:`~parcours_research.journey.DesignedJourney`): the touchpoints in their designed order,
those that are optional and those that may be met more than once. The traces tell the journey
*as it is*: each customer's touchpoint visits in time order, from the study's prepared
evidence (cleaned, stitched event log, :func:`parcours_research.prepare`).

A *visit* is a run of events of one touchpoint within one session (``quote_start,
quote_done`` is one visit of the simulator; coming back to it in another session is a second
visit). Only touchpoints with trace events can be seen: designed steps without events are
*unobservable* and left out of the comparison (listed in ``Conformance.unobservable``).

Deviations of a lived journey from its designed one (:func:`journey_deviations`):

``skipped``
    a required step never visited although a later designed step was (the customer went past
    it);
``stopped``
    the first required step not visited when no later designed step was (the journey stops
    before it: drop-out, or a journey still under way);
``added``
    a touchpoint visited that the design neither requires nor tolerates;
``out_of_order``
    a designed touchpoint first visited after a touchpoint designed to come later: those
    outside the longest run of first visits in designed order (on a tie, the touchpoints
    visited later are the ones out of order);
``repeated``
    a designed touchpoint visited more than once, unless it is ``repeatable``.

:func:`conformance` counts each deviation per persona and compares the overall satisfaction
and the NPS of the surveyed customers with the deviation against those of the persona's other
surveyed customers with a lived journey: a design-based difference of domain means with the
study's one weighting rule and declared design (the kit's path tests' estimator,
:func:`parcours_research.friction.survey.group_differences`: Taylor linearisation, Wald t on
the design degrees of freedom), corrected for the many deviations tested with Holm's
step-down method by default (family-wise error per outcome; ``correction="bh"`` for
Benjamini–Hochberg), through :func:`parcours_research.friction.correction.adjust_pvalues`.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import AnalysisError, Problem, check_one_of
from .journey import DesignedJourney

__all__ = [
    "conformance",
    "journey_deviations",
    "lived_journeys",
    "lived_path",
    "Conformance",
    "KINDS",
]

#: Kinds of deviation, in the order tables list them.
KINDS = ("skipped", "stopped", "added", "out_of_order", "repeated")
#: How a kind reads in the ``deviation`` column.
_KIND_TEXT = {
    "skipped": "skipped",
    "stopped": "stopped before",
    "added": "added",
    "out_of_order": "out of order",
    "repeated": "repeated",
}
_ALL = "all"
_SEP = " > "
_SUMMARY = [
    "persona",
    "deviation",
    "kind",
    "touchpoint",
    "customers",
    "share",
    "n_with",
    "n_without",
    "sat_with",
    "sat_without",
    "sat_diff",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adj",
    "nps_diff",
    "nps_ci_low",
    "nps_ci_high",
    "nps_p_value",
    "nps_p_adj",
    "significant",
]


# ---------------------------------------------------------------------------------------------
# one customer
# ---------------------------------------------------------------------------------------------
def journey_deviations(
    visits: Sequence[str], design: DesignedJourney, *, observable=None
) -> list[tuple[str, str]]:
    """The deviations of one lived journey from its designed journey.

    Parameters
    ----------
    visits : sequence of str
        The customer's touchpoint visits in time order (a touchpoint appears once per visit).
    design : DesignedJourney
        The persona's designed journey.
    observable : collection of str, optional
        The touchpoints the traces can show; designed steps outside it are left out (default:
        every touchpoint).

    Returns
    -------
    list of (kind, touchpoint)
        In the order of :data:`KINDS`, then of the design (added ones in visit order). An
        empty journey has no deviation (nothing was lived).
    """
    visits = [str(v) for v in visits]
    if not visits:
        return []
    keep = (lambda t: True) if observable is None else (lambda t: t in observable)
    steps = [s for s in design.steps if keep(s)]
    pos = {s: i for i, s in enumerate(steps)}
    counts = Counter(visits)
    met = [t for t in dict.fromkeys(visits) if t in pos]
    reach = max((pos[t] for t in met), default=-1)
    missing = [s for s in steps if s not in counts and s not in design.optional]
    out = [("skipped", s) for s in missing if pos[s] < reach]
    out += [("stopped", s) for s in missing if pos[s] > reach][:1]
    allowed = design.allowed
    out += [("added", t) for t in dict.fromkeys(visits) if t not in allowed]
    in_order = set(_ordered_run([pos[t] for t in met]))
    out += [
        ("out_of_order", t)
        for i, t in sorted(enumerate(met), key=lambda x: pos[x[1]])
        if i not in in_order
    ]
    out += [
        ("repeated", s)
        for s in _design_order(design, counts)
        if counts[s] > 1 and s not in design.repeatable
    ]
    return out


def _design_order(design: DesignedJourney, counts: Counter) -> list[str]:
    """The designed touchpoints met, steps first (in order), then the optional others."""
    return [t for t in dict.fromkeys([*design.steps, *design.optional]) if counts[t]]


def _ordered_run(ranks: list[int]) -> list[int]:
    """Indices of a longest strictly increasing subsequence of ``ranks``; among the longest,
    the one with the earliest indices (so that later visits are the ones out of order)."""
    n = len(ranks)
    longest = [1] * n  # longest increasing run starting at i
    for i in range(n - 2, -1, -1):
        longest[i] = 1 + max(
            (longest[j] for j in range(i + 1, n) if ranks[j] > ranks[i]), default=0
        )
    out, need, last = [], max(longest, default=0), -1
    for i in range(n):
        if need and longest[i] == need and (last < 0 or ranks[i] > ranks[last]):
            out.append(i)
            need, last = need - 1, i
    return out


# ---------------------------------------------------------------------------------------------
# every customer
# ---------------------------------------------------------------------------------------------
def lived_journeys(study) -> pd.DataFrame:
    """Each identified customer's lived journey, from the study's prepared event log.

    Parameters
    ----------
    study : Study or Evidence

    Returns
    -------
    DataFrame
        ``customer_id, persona, path, n_visits``: ``path`` the touchpoint visits in time order
        joined by ``" > "`` (a visit is a run of one touchpoint's events within a session),
        ``persona`` from the customer file (else the survey's, else missing). Customers with
        no touchpoint event are not rows. Sorted by ``customer_id``.
    """
    return _lived(study)[0]


def _lived(study) -> tuple:
    """``(lived_journeys, Visits)``: the table and its visits as codes
    (:mod:`parcours_research._conformance_visits`), from the log's sorted arrays when it has
    them, else from one grouped query."""
    from . import _conformance_visits as cv
    from .evidence import evidence_of

    ev = evidence_of(study)
    if ev is None:
        raise AnalysisError("lived_journeys needs a loaded study (pr.load_study(folder)).")
    log = ev.traces.log
    found = cv.from_arrays(log)
    out, visits = found if found is not None else (log.engine.fetch(_journeys_sql(log)), None)
    out = out.sort_values("customer_id", kind="stable")
    visits = visits.take(out.index.to_numpy()) if visits is not None else None
    out = out.reset_index(drop=True)
    out["n_visits"] = out["n_visits"].astype("int64")
    if not log.has("persona"):
        out["persona"] = _survey_personas(ev.study, out["customer_id"])
    out = out[["customer_id", "persona", "path", "n_visits"]]
    out = out.astype({"customer_id": "string", "persona": "string", "path": "string"})
    if visits is None:
        visits = cv.from_paths(out["path"].to_numpy(dtype=object))
    return out, visits


def _journeys_sql(log) -> str:
    """Grouped SQL of :func:`lived_journeys`: one row per customer, ``customer_id, persona,
    path, n_visits`` (``persona`` missing when the log has none). A visit starts at the
    customer's first touchpoint event and wherever the session or the touchpoint changes from
    the previous event (time order, ties by position in the log)."""
    eng = log.engine
    where = "touchpoint IS NOT NULL AND user_id IS NOT NULL AND timestamp IS NOT NULL"
    if log.has("identified"):
        where += " AND identified"
    over = "OVER (PARTITION BY user_id ORDER BY timestamp, row_id)"
    persona = f", first_value(persona) {over} AS _p" if log.has("persona") else ""
    starts = (
        f"row_number() {over} = 1 OR lag(touchpoint) {over} <> touchpoint "
        f"OR lag(session_id) {over} IS DISTINCT FROM session_id"
    )
    events = (
        f"SELECT {eng.cast_str('user_id')} AS customer_id, {eng.cast_str('touchpoint')} AS tp, "
        f"timestamp AS _t, row_id{persona}, ({starts}) AS _start FROM {log.ref} WHERE {where}"
    )
    path = eng.ordered_concat("tp", ["_t", "row_id"], _SEP)
    persona = f"{eng.cast_str('min(_p)')} AS persona, " if persona else ""
    return (
        f"SELECT customer_id, {persona}{path} AS path, count(*) AS n_visits "
        f"FROM ({events}) AS e WHERE _start GROUP BY customer_id"
    )


def _survey_personas(study, ids: pd.Series) -> np.ndarray:
    """The survey's persona of each customer id (missing without a survey)."""
    resp = getattr(study, "responses", None)
    cid = getattr(getattr(study, "survey", None), "customer_id", None) or "customer_id"
    if resp is None or cid not in resp.columns:
        return pd.array([pd.NA] * len(ids), dtype="string")
    m = resp.drop_duplicates(cid).set_index(resp[cid].drop_duplicates().astype(str))["persona"]
    return m.reindex(ids.astype(str)).astype("string").to_numpy()


def _designs(journeys: pd.DataFrame, journey) -> np.ndarray:
    """The designed journey of each customer's persona (None without one), looked up once per
    persona."""
    persona = journeys["persona"].astype(object).to_numpy()
    codes, personas = pd.factorize(persona, use_na_sentinel=False)
    found = [journey.designed_journey(None if pd.isna(p) else p) for p in personas]
    out = np.empty(len(found), dtype=object)
    out[:] = found
    return out[codes] if len(persona) else np.empty(0, dtype=object)


def _deviations(path: str, design: DesignedJourney, observable, cache: dict) -> list:
    """:func:`journey_deviations` of a path (visits joined by ``" > "``), computed once per
    design and *reduced* path: the touchpoints in order of first visit, then those visited
    more than once. The deviations depend on nothing else (which touchpoints were met, the
    order of their first visits, which were repeated), so the reduced path has the same ones."""
    visits = path.split(_SEP)
    first = dict.fromkeys(visits)
    again: set = set()
    if len(first) < len(visits):
        seen: set = set()
        for v in visits:
            if v in seen:
                again.add(v)
            seen.add(v)
    key = (design.persona, tuple(first), tuple(sorted(again)))
    if key not in cache:
        cache[key] = journey_deviations([*key[1], *key[2]], design, observable=observable)
    return cache[key]


def _design_keys(designs: np.ndarray) -> np.ndarray:
    """The designs as numbers (by their ``to_be:`` entry; -1 for none)."""
    names = [None if d is None else d.persona for d in designs]
    return pd.factorize(np.array(names, dtype=object))[0].astype(np.int64)


def _customer_deviations(journeys: pd.DataFrame, designs, visits, observable) -> pd.DataFrame:
    """``customer_id, persona, kind, touchpoint``: one row per customer and deviation (the
    same reduced journey of the same design is compared once, see :func:`_deviations`)."""
    from ._conformance_visits import reduced

    cols = ["customer_id", "persona", "kind", "touchpoint"]
    if not len(journeys):
        return pd.DataFrame(columns=cols).astype("string")
    codes, first, reduced_journeys = reduced(visits, _design_keys(designs))
    found = [
        []
        if designs[i] is None
        else journey_deviations(reduced_journeys[j], designs[i], observable=observable)
        for j, i in enumerate(first)
    ]
    size = np.array([len(f) for f in found], dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    kinds = np.array([k for f in found for k, _ in f] or [""], dtype=object)
    tps = np.array([t for f in found for _, t in f] or [""], dtype=object)
    n = size[codes]
    row = np.repeat(np.arange(len(codes)), n)
    at = start[codes][row] + np.arange(len(row)) - np.repeat(np.cumsum(n) - n, n)
    out = pd.DataFrame(
        {
            "customer_id": journeys["customer_id"].to_numpy()[row],
            "persona": journeys["persona"].to_numpy()[row],
            "kind": kinds[at],
            "touchpoint": tps[at],
        }
    )
    return out.astype("string")


# ---------------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------------
@dataclass(repr=False)
class Conformance:
    """Designed against lived journeys (:func:`conformance`).

    Attributes
    ----------
    summary : DataFrame
        One row per group (persona) and deviation met by at least one customer:
        ``persona, deviation, kind, touchpoint, customers, share, n_with, n_without,
        sat_with, sat_without, sat_diff, ci_low, ci_high, p_value, p_adj, nps_diff,
        nps_ci_low, nps_ci_high, nps_p_value, nps_p_adj, significant``. ``customers``: the
        group's customers with a lived journey who show the deviation; ``share``: their share
        of the group's customers with a lived journey; ``n_with``, ``n_without``: surveyed
        customers with and without it; ``sat_with``, ``sat_without``: their weighted mean
        overall satisfaction; ``sat_diff`` (with minus without) with its interval and p-value
        (design-based Wald t), ``p_adj`` corrected over the table; ``nps_*`` the same in NPS
        points (the mean of +100 promoters, 0 passives, −100 detractors); ``significant``:
        ``p_adj`` or ``nps_p_adj`` below ``1 - confidence``. Differences are missing when a
        side has fewer than ``min_n`` respondents.
    groups : DataFrame
        ``persona, customers, conforming, share_conforming, respondents``: customers with a
        lived journey, how many follow the design exactly, and the surveyed ones.
    paths : DataFrame
        ``persona, path, customers, share, conforms, deviations``: the lived paths of each
        group (:func:`lived_path`: designed steps and added touchpoints in visit order), most
        frequent first; ``conforms``: none of its customers deviates; ``deviations``: the
        path's deviations as ``"kind:touchpoint"`` texts.
    designs : DataFrame
        ``persona, design, position, touchpoint, required, repeatable, observable``: the
        designed journey of each persona (``design``: the ``to_be:`` entry it comes from, the
        persona's own or ``default``; ``position`` missing for optional touchpoints tolerated
        at any point).
    customers : DataFrame
        ``customer_id, persona, kind, touchpoint``: each customer's deviations.
    journeys : DataFrame
        :func:`lived_journeys` with ``n_deviations``.
    unobservable : tuple of str
        Designed touchpoints without trace events (left out of the comparison).
    """

    summary: pd.DataFrame
    groups: pd.DataFrame
    paths: pd.DataFrame
    designs: pd.DataFrame
    customers: pd.DataFrame
    journeys: pd.DataFrame
    unobservable: tuple = ()
    by: str | None = "persona"
    confidence: float = 0.95
    correction: str = "holm"
    outcomes: tuple = ()
    notes: list = field(default_factory=list)

    @property
    def flagged(self) -> pd.DataFrame:
        """The rows of :attr:`summary` whose satisfaction or NPS differs after correction."""
        return self.summary[self.summary["significant"]].reset_index(drop=True)

    def _lines(self) -> list[str]:
        s = self.summary
        head = (
            f"Conformance({len(self.groups)} {'personas' if self.by else 'group'}, "
            f"{int(self.groups['customers'].sum()):,} customers with a lived journey, "
            f"{len(s)} deviations, {int(s['significant'].sum())} flagged at "
            f"{self.confidence:.0%} ({self.correction}))"
        )
        return [head] + [f"  note: {n}" for n in self.notes]

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        shown = self.summary.sort_values("customers", ascending=False, kind="stable").head(30)
        return (
            "<p><b>"
            + html.escape(self._lines()[0])
            + "</b></p>"
            + "".join(f"<p><i>{html.escape(n)}</i></p>" for n in self.notes)
            + self.groups.to_html(index=False, float_format=lambda x: f"{x:.3f}")
            + shown.to_html(index=False, float_format=lambda x: f"{x:.3f}", na_rep="")
        )


# ---------------------------------------------------------------------------------------------
# the analysis
# ---------------------------------------------------------------------------------------------
def conformance(
    study,
    *,
    by: str | None = "persona",
    confidence: float = 0.95,
    correction: str = "holm",
    min_n: int = 20,
) -> Conformance:
    """Designed against lived journeys, per persona, with the satisfaction cost of each
    deviation.

    Parameters
    ----------
    study : Study or Evidence
        A loaded study with ``to_be:`` in its study.yml and an event log; with survey
        responses that carry customer ids, the deviations' satisfaction and NPS differences.
    by : {"persona", None}, default "persona"
        Count and test deviations per persona, or over every customer (``"all"``). Each
        customer is always compared with their own persona's designed journey.
    confidence : float, default 0.95
        Level of the intervals; ``significant`` means ``p_adj < 1 - confidence``.
    correction : {"holm", "bh", ...}, default "holm"
        Correction for the many deviations tested, within each outcome (overall
        satisfaction, NPS): Holm's step-down (family-wise error) or Benjamini–Hochberg
        (``"bh"``, false discovery rate), or any name of
        :data:`parcours_research.friction.correction.CORRECTIONS`.
    min_n : int, default 20
        Smallest number of respondents on each side (with and without the deviation) for a
        difference to be estimated (as :func:`parcours_research.friction.test_paths`).

    Returns
    -------
    Conformance
        ``.summary`` (one row per persona and deviation, see :class:`Conformance`),
        ``.groups``, ``.paths``, ``.designs``, ``.customers``, ``.journeys``, ``.flagged``.

    Raises
    ------
    AnalysisError
        When the study has no ``to_be:``, no event log, or an argument is not valid.
    """
    study_ = _check_args(study, by, confidence, correction, min_n)
    journey = study_.journey
    observable = {t.id for t in journey.touchpoints if t.events}
    journeys, visits = _lived(study)
    designs = _designs(journeys, journey)
    devs = _customer_deviations(journeys, designs, visits, observable)
    designed = pd.Series([d is not None for d in designs], index=journeys.index, dtype=bool)
    notes = _notes(journey, journeys, designed, observable)
    kept = np.flatnonzero(designed.to_numpy())
    journeys, designs, visits = (
        journeys.iloc[kept].reset_index(drop=True),
        designs[kept],
        visits.take(kept),
    )
    n_dev = devs.groupby("customer_id").size()
    journeys["n_deviations"] = (
        n_dev.reindex(journeys["customer_id"]).fillna(0).astype(int).to_numpy()
    )
    group = _groups_of(journeys, by)
    counts = _deviation_counts(devs, journeys, group)
    from ._conformance_stats import outcome_tests

    tests, respondents, more = outcome_tests(
        study, journeys, devs, group, counts, confidence=confidence, min_n=min_n
    )
    summary = _summary(counts, tests, confidence, correction, journey)
    order = {p: i for i, p in enumerate([*journey.persona_ids, _ALL])}
    return Conformance(
        summary=summary,
        groups=_group_table(journeys, group, respondents, order),
        paths=_path_table(journeys, group, (designs, visits), order, observable),
        designs=_design_table(journey, observable),
        customers=devs,
        journeys=journeys,
        unobservable=tuple(sorted({s for d in journey.to_be for s in d.steps} - observable)),
        by=by,
        confidence=confidence,
        correction=correction,
        outcomes=tuple(more.get("outcomes", ())),
        notes=notes + more.get("notes", []),
    )


def _check_args(study, by, confidence, correction, min_n):
    """The study behind ``study``, once the arguments are checked."""
    from ._inputs import study_of
    from .friction.correction import CORRECTIONS

    st = study_of(study)
    if st is None:
        raise AnalysisError(
            "conformance needs a loaded study, not "
            f"{type(study).__name__}; use pr.load_study(folder)."
        )
    check_one_of("by", by, ("persona", None))
    check_one_of("correction", correction, list(CORRECTIONS))
    if not (isinstance(confidence, float | int) and 0 < confidence < 1):
        raise AnalysisError(f"confidence={confidence!r} must be between 0 and 1 (e.g. 0.95).")
    if not (isinstance(min_n, int | np.integer) and min_n >= 2):
        raise AnalysisError(f"min_n={min_n!r} must be an integer of at least 2.")
    problems = []
    if not st.journey.to_be:
        problems.append(
            Problem(
                "no designed journey",
                "study.yml",
                column="to_be",
                fix="add `to_be: {default: {steps: [touchpoint, ...]}}` "
                "(see pr.journey.DesignedJourney)",
            )
        )
    if st.traces is None:
        problems.append(
            Problem(
                "no event log",
                "study.yml",
                column="traces",
                fix="add `traces: {events: ...}`: lived journeys come from traces",
            )
        )
    if problems:
        raise AnalysisError(
            f"The study {st.name!r} cannot compare designed and lived journeys.", problems
        )
    return st


def _notes(journey, journeys, designed, observable) -> list[str]:
    notes = []
    hidden = sorted({s for d in journey.to_be for s in d.steps} - observable)
    if hidden:
        notes.append(f"designed steps without trace events, left out: {', '.join(hidden)}")
    n_out = int((~designed).sum())
    if n_out:
        notes.append(
            f"{n_out:,} customers whose persona has no designed journey (and no "
            "`default`) are left out"
        )
    return notes


def _groups_of(journeys: pd.DataFrame, by) -> pd.Series:
    if by is None:
        return pd.Series(_ALL, index=journeys.index, dtype="string")
    return journeys["persona"].fillna("(none)").astype("string")


def _deviation_counts(devs, journeys, group) -> pd.DataFrame:
    """``persona, kind, touchpoint, customers, share`` (share of the group's customers)."""
    gmap = pd.Series(group.to_numpy(), index=journeys["customer_id"].to_numpy())
    d = devs.assign(persona=gmap.reindex(devs["customer_id"]).to_numpy())
    d = d[d["persona"].notna()]
    out = (
        d.groupby(["persona", "kind", "touchpoint"], sort=False)["customer_id"]
        .nunique()
        .rename("customers")
        .reset_index()
    )
    sizes = group.value_counts()
    out["share"] = out["customers"] / sizes.reindex(out["persona"]).to_numpy()
    return out


def _summary(counts, tests, confidence, correction, journey) -> pd.DataFrame:
    """The summary table: counts, differences, corrected p-values, in a stable order."""
    from .friction.correction import adjust_pvalues

    out = (
        counts.merge(tests, on=["persona", "kind", "touchpoint"], how="left")
        if len(tests)
        else counts
    )
    for c in _SUMMARY:
        if c not in out.columns:
            out[c] = np.nan
    for p, adj in (("p_value", "p_adj"), ("nps_p_value", "nps_p_adj")):
        out[adj] = adjust_pvalues(out[p].to_numpy(), correction)
    alpha = 1 - confidence
    out["significant"] = (out["p_adj"] < alpha) | (out["nps_p_adj"] < alpha)
    out["deviation"] = out["kind"].map(_KIND_TEXT) + " " + out["touchpoint"]
    rank_p = {p: i for i, p in enumerate([*journey.persona_ids, _ALL])}
    rank_t = {t: i for i, t in enumerate(journey.touchpoint_ids)}
    key = pd.DataFrame(
        {
            "p": out["persona"].map(rank_p).fillna(99),
            "k": out["kind"].map(KINDS.index),
            "t": out["touchpoint"].map(rank_t),
        }
    )
    out = out.iloc[np.lexsort([key["t"], key["k"], key["p"]])].reset_index(drop=True)
    out = out[_SUMMARY]
    for c in ("persona", "deviation", "kind", "touchpoint"):
        out[c] = out[c].astype("string")
    for c in ("customers", "n_with", "n_without"):
        out[c] = pd.to_numeric(out[c]).fillna(0).astype(int)
    return out.astype({"significant": bool})


def _group_table(journeys, group, respondents, order) -> pd.DataFrame:
    g = journeys.assign(persona=group.to_numpy(), _ok=journeys["n_deviations"] == 0)
    out = g.groupby("persona", sort=False).agg(
        customers=("customer_id", "size"), conforming=("_ok", "sum")
    )
    out = out.reset_index()
    out["share_conforming"] = out["conforming"] / out["customers"]
    out["respondents"] = out["persona"].map(respondents).fillna(0).astype(int)
    out = out.iloc[
        np.argsort(out["persona"].map(order).fillna(len(order)).to_numpy(), kind="stable")
    ]
    return out.reset_index(drop=True).astype({"persona": "string"})


def lived_path(visits: Sequence[str], design: DesignedJourney) -> list[str]:
    """The part of a lived journey a map shows beside its design: the designed steps and the
    added touchpoints in visit order (touchpoints the design tolerates anywhere are left out),
    consecutive visits of a repeatable touchpoint counted once."""
    out: list[str] = []
    for v in visits:
        if v in design.optional and v not in design.steps:
            continue
        if out and out[-1] == v and v in design.repeatable:
            continue
        out.append(v)
    return out


def _path_table(journeys, group, lived, order, observable) -> pd.DataFrame:
    """``persona, path, customers, share, conforms, deviations``: lived paths
    (:func:`lived_path`) per group, most frequent first; ``lived``: the customers' designs and
    visits."""
    from ._conformance_visits import shown_paths

    designs, visits = lived
    g = pd.DataFrame(
        {
            "persona": group.to_numpy(),
            "path": shown_paths(visits, designs),
            "_d": designs,
            "_ok": (journeys["n_deviations"] == 0).to_numpy(),
        }
    )
    out = (
        g.groupby(["persona", "path"], sort=False)
        .agg(customers=("_ok", "size"), conforms=("_ok", "all"), _d=("_d", "first"))
        .reset_index()
    )
    out["share"] = out["customers"] / out.groupby("persona")["customers"].transform("sum")
    cache: dict = {}
    out["deviations"] = [
        tuple(f"{k}:{t}" for k, t in _deviations(p, d, observable, cache))
        for p, d in zip(out["path"], out["_d"])
    ]
    out["_r"] = out["persona"].map(order).fillna(len(order))
    out = out.sort_values(["_r", "customers", "path"], ascending=[True, False, True], kind="stable")
    out = out[["persona", "path", "customers", "share", "conforms", "deviations"]].reset_index(
        drop=True
    )
    return out.astype({"persona": "string", "path": "string"})


def _design_table(journey, observable) -> pd.DataFrame:
    """The designed journey of every persona that has one (its own or the default)."""
    rows = []
    for p in journey.persona_ids:
        d = journey.designed_journey(p)
        if d is None:
            continue
        for i, s in enumerate(d.steps, 1):
            rows.append(
                (p, d.persona, i, s, s not in d.optional, s in d.repeatable, s in observable)
            )
        for s in d.optional:
            if s not in d.steps:
                rows.append((p, d.persona, pd.NA, s, False, s in d.repeatable, s in observable))
    out = pd.DataFrame(
        rows,
        columns=[
            "persona",
            "design",
            "position",
            "touchpoint",
            "required",
            "repeatable",
            "observable",
        ],
    )
    return out.astype(
        {"persona": "string", "design": "string", "position": "Int64", "touchpoint": "string"}
    )
