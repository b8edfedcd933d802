"""Satisfaction by number of contacts per channel and persona (:func:`contact_pressure`):
"too few" and "too many" zones (:mod:`parcours_research.contact` describes the model).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._accounting import accounting
from ._contact_counts import ALL, _log_users, contact_counts
from ._contact_stats import (
    _adjust,
    _best_table,
    band_label,
    band_of,
    contact_bands,
    group_fit,
    step_tests,
)
from .errors import AnalysisError, Problem, check_one_of

__all__ = ["contact_pressure", "ContactPressure", "VERDICTS", "SUMMARY_COLUMNS", "ZONE_COLUMNS"]

#: Verdicts of a contact band.
VERDICTS = ("best", "ok", "too few", "too many")  # of a contact band (ContactPressure.summary)


# ---------------------------------------------------------------------------------------------
# contact pressure
# ---------------------------------------------------------------------------------------------
SUMMARY_COLUMNS = [
    "channel",
    "contacts",
    "contacts_low",
    "contacts_high",
    "customers",
    "respondents",
    "n_eff",
    "sat",
    "se",
    "ci_low",
    "ci_high",
    "diff_best",
    "diff_low",
    "diff_high",
    "verdict",
]
ZONE_COLUMNS = [
    "channel",
    "side",
    "zone",
    "cut",
    "respondents",
    "sat_zone",
    "sat_rest",
    "diff",
    "diff_low",
    "diff_high",
    "p_value",
    "p_adj",
    "flagged",
]


@dataclass(repr=False)
class ContactPressure:
    """Contacts per customer and satisfaction by number of contacts (:func:`contact_pressure`).

    Attributes
    ----------
    summary : DataFrame
        One row per persona (``by``), channel and contact band: ``persona, channel, contacts``
        (the band's label, e.g. ``2-3`` or ``6+``), ``contacts_low, contacts_high`` (whole
        contacts per period), ``customers`` (customers of the population in the band),
        ``respondents`` and ``n_eff`` (in the model), ``sat`` (weighted mean of the outcome)
        with ``se, ci_low, ci_high``, ``diff_best`` (sat minus the best band's) with
        ``diff_low, diff_high`` (unadjusted), ``verdict``: ``best`` (the band with the highest
        sat), ``too few`` / ``too many`` (inside a flagged zone), ``ok``.
    zones : DataFrame
        Two rows per persona and channel, ``side`` ``too few`` and ``too many``: ``zone``
        (e.g. ``>= 6`` or ``< 2`` contacts), ``cut`` (its first or last count), ``respondents``
        in the zone, ``sat_zone, sat_rest``, ``diff`` (zone minus rest) with ``diff_low,
        diff_high``, ``p_value`` (best cut, Bonferroni over the cuts), ``p_adj`` (corrected
        over every persona, channel and side), ``flagged``.
    counts : DataFrame
        Distribution of contacts per customer: ``persona, channel, period, contacts,
        customers, share`` (share of the persona's customers in that period).
    per_customer : DataFrame
        :func:`contact_counts`'s table (one row per customer, channel and period).
    respondents : DataFrame
        Where the survey's respondents went, one row per step: ``step`` (``survey``, then
        each reason for leaving a respondent out, in the order they are checked: ``not in the
        event log``, ``no outcome``, ``no positive weight``, ``no group``; then ``in the
        model``) and ``respondents``. The left-out rows and ``in the model`` add up to
        ``survey``; a respondent is counted under the first reason that applies.
    """

    summary: pd.DataFrame
    zones: pd.DataFrame
    counts: pd.DataFrame
    per_customer: pd.DataFrame = field(default=None)
    by: str | None = "persona"
    outcome: str = "overall_sat"
    period: str = "study"
    confidence: float = 0.95
    alpha: float = 0.05
    correction: str = "holm"
    respondents: pd.DataFrame = field(default=None)

    def flagged(self) -> pd.DataFrame:
        """The flagged zones: too few or too many contacts."""
        return self.zones[self.zones["flagged"]].reset_index(drop=True)

    def verdict(self) -> pd.DataFrame:
        """One row per persona and channel: ``persona, channel, verdict`` (``too few``, ``too
        many``, ``too few and too many``, ``no effect``, ``one band``), ``too_few_below``,
        ``too_many_from`` (contacts; NaN when not flagged)."""
        return _cell_verdicts(self.zones, self.summary, self.by or "persona")

    def __repr__(self) -> str:
        key = self.by or "persona"
        found = [
            f"{getattr(r, key)}/{r.channel} {r.side} ({r.zone})"
            for r in self.flagged().itertuples()
        ]
        cells = self.summary.groupby([key, "channel"]).ngroups if len(self.summary) else 0
        used = ""
        if self.respondents is not None and len(self.respondents):
            n = self.respondents.set_index("step")["respondents"]
            used = f"{n['in the model']:,} of {n['survey']:,} respondents, "
        return (
            f"ContactPressure(outcome={self.outcome!r}, period={self.period!r}, "
            f"{used}{cells} {key} x channel cells, {len(self.summary)} bands, "
            f"flagged: {', '.join(found) if found else 'none'})"
        )

    def _repr_html_(self) -> str:
        return (
            f"<p><b>{html.escape(repr(self))}</b></p>"
            + self.zones.round(3).to_html(index=False)
            + self.summary.round(3).to_html(index=False)
        )


def contact_pressure(
    study,
    *,
    by: str | None = "persona",
    period: str = "study",
    channels=None,
    outcome: str | None = None,
    weight="default",
    min_n: int = 30,
    confidence: float = 0.95,
    alpha: float = 0.05,
    correction: str = "holm",
) -> ContactPressure:
    """Contacts per customer and period per channel, and satisfaction by number of contacts.

    Per persona and channel, survey respondents are grouped in contact bands and the weighted
    mean of the outcome is estimated in each (see the module docstring); "too many" is a zone
    of the highest counts whose satisfaction is significantly below that of the lower counts,
    "too few" a zone of the lowest counts below that of the higher ones: the best cut of each
    side is kept, its p-value Bonferroni-corrected for the cuts scanned, and the p-values of
    every persona, channel and side corrected together (``correction``).

    Parameters
    ----------
    study : Study or Evidence
        A loaded study with an event log, a customer file (personas) and survey responses
        with a customer id (``survey: customer_id``). Respondents absent from the log are left
        out (no trace, no count), and counted with every other respondent left out in
        :attr:`ContactPressure.respondents`.
    by : str or None, default "persona"
        Read each persona on its own (None: everyone together).
    period : {"study", "day", "week", "month", "quarter"} or pandas frequency
        Contacts are counted per period; the model uses each customer's contacts per period
        (the mean over the study's periods: the total with ``"study"``).
    channels : list of str, optional
        The channels analysed (default every channel the log records).
    outcome : str, optional
        Survey column (default the instrument's overall satisfaction question).
    weight : {"default", "rake", "design", None} or str
        The study's weighting rule (:func:`parcours_research.weighting.study_weights`).
    min_n : int, default 30
        Respondents per contact band (adjacent counts are pooled to reach it).
    confidence, alpha : float
        Level of the intervals; level of the corrected tests.
    correction : str, default "holm"
        :data:`parcours_research.friction.correction.CORRECTIONS`.

    Returns
    -------
    ContactPressure
        ``.summary`` (per band), ``.zones`` (per persona × channel × side), ``.counts``
        (distribution of contacts per customer), ``.verdict()``; see :class:`ContactPressure`.
    """
    ev, outcome = _pressure_inputs(study, outcome, weight, min_n, confidence, alpha)
    _check_correction(correction)
    per_customer = contact_counts(ev, period=period, by=by if by else None)
    if channels is not None:
        per_customer = per_customer[per_customer["channel"].isin(list(channels))]
    frame, accounted = _respondent_contacts(ev, per_customer, outcome, by)
    rates = _rates(per_customer, by)
    bands, zones = [], []
    for (grp, chan), cell in frame.groupby(["__by", "channel"], sort=True):
        rate = rates.get((grp, chan), _NO_RATE)
        b, z = _cell_rows(cell, grp, chan, rate, min_n, confidence)
        bands.append(b)
        zones.append(z)
    summary, zones = _finish(bands, zones, alpha, correction)
    key = by or "persona"
    return ContactPressure(
        summary.rename(columns={"__by": key}),
        zones.rename(columns={"__by": key}),
        _distribution(per_customer, by),
        per_customer,
        by,
        outcome,
        str(period),
        confidence,
        alpha,
        correction,
        accounted,
    )


def _check_correction(correction: str) -> None:
    from .friction.correction import CORRECTIONS

    check_one_of("correction", correction, tuple(CORRECTIONS))


def _pressure_inputs(study, outcome, weight, min_n, confidence, alpha):
    """The prepared evidence and the outcome column; one error listing what is missing."""
    from ._inputs import study_of
    from .evidence import prepare

    st = study_of(study)
    if st is None:
        raise AnalysisError(
            f"contact_pressure needs a loaded study, not {type(study).__name__}.",
            [
                Problem(
                    "not a study",
                    fix="pr.load_study(folder); for an event table use contact_counts",
                )
            ],
        )
    problems = _study_problems(st, outcome)
    if not (0 < confidence < 1) or not (0 < alpha < 1):
        problems.append(
            Problem(
                f"confidence={confidence}, alpha={alpha} must be in (0, 1)",
                column="confidence",
                fix="e.g. confidence=0.95, alpha=0.05",
            )
        )
    if not isinstance(min_n, int | np.integer) or min_n < 2:
        problems.append(
            Problem(
                f"min_n={min_n!r} must be a whole number >= 2",
                column="min_n",
                fix="e.g. min_n=30 respondents per contact band",
            )
        )
    if problems:
        raise AnalysisError("Cannot relate contacts to satisfaction in this study.", problems)
    outcome = outcome or st.instrument.first("overall")
    return prepare(study, weight=weight), outcome


def _study_problems(st, outcome) -> list[Problem]:
    problems = []
    if st.traces is None:
        problems.append(
            Problem(
                "no event log",
                "study.yml",
                column="traces",
                fix="add `traces: {events: ...}` to study.yml",
            )
        )
    if st.responses is None or st.instrument is None:
        return problems + [
            Problem(
                "no survey responses",
                "study.yml",
                column="survey",
                fix="add `survey: {instrument: ..., responses: ...}`",
            )
        ]
    col = outcome or st.instrument.first("overall")
    if col is None or col not in st.responses.columns:
        problems.append(
            Problem(
                f"no outcome column {col!r} in the responses",
                column="outcome",
                fix="name the overall satisfaction column: outcome='...'",
            )
        )
    cid = getattr(st.survey, "customer_id", None)
    if not cid or cid not in st.responses.columns:
        problems.append(
            Problem(
                "the responses have no customer id",
                "study.yml",
                column="survey.customer_id",
                fix="name the column that links respondents to the traces",
            )
        )
    return problems


def _respondent_contacts(ev, per_customer, outcome, by) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Respondents found in the log, with their outcome, weight, group, cluster and contacts
    per period on each channel (one row per respondent and channel), and where every
    respondent went (:func:`parcours_research._accounting.accounting`)."""
    st, resp, design = ev.study, ev.responses, ev.design
    r = pd.DataFrame(
        {
            "customer_id": resp[st.survey.customer_id].astype(str).to_numpy(),
            "y": pd.to_numeric(resp[outcome], errors="coerce").to_numpy(float),
            "w": pd.to_numeric(resp[design["weight"]], errors="coerce").to_numpy(float),
            "__by": resp[by].astype("string").to_numpy() if by else ALL,
        }
    )
    if design.get("cluster"):
        r["__cluster"] = resp[design["cluster"]].astype(str).to_numpy()
    found = _in_log(ev, r["customer_id"].to_numpy(object))
    checks = {
        "not in the event log": np.asarray(found, dtype=bool),
        "no outcome": r["y"].notna().to_numpy(),
        "no positive weight": (r["w"] > 0).to_numpy(),
        "no group": r["__by"].notna().to_numpy(dtype=bool),
    }
    accounted, keep = accounting(checks, len(r), read="survey", unit="respondents")
    r = r[keep]
    # the respondents' contacts only: the same means, in the same order, for the same join
    mine = per_customer[_is_in(per_customer["customer_id"], r["customer_id"].unique())]
    rate = mine.groupby(["customer_id", "channel"], sort=False)["contacts"].mean().reset_index()
    return r.merge(rate, on="customer_id", how="inner"), accounted


def _in_log(ev, ids: np.ndarray) -> np.ndarray:
    """Whether each customer id (text) is a user of the log. The log's distinct user ids are
    compared as Arrow text when the log holds text ids, else as :func:`_log_users` writes
    them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    log = ev.traces.log
    users = log.engine.arrow(
        f"SELECT user_id FROM {log.ref} WHERE user_id IS NOT NULL GROUP BY user_id"
    ).column(0)
    if users.type not in (pa.string(), pa.large_string()):
        seen = pd.Index(
            pd.unique(_log_users(ev, ev.study, None)["customer_id"].to_numpy(object)), dtype=object
        )
        return seen.get_indexer(ids) >= 0
    hit = pc.is_in(pa.array(ids, pa.string()), value_set=users.combine_chunks())
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)


def _is_in(column: pd.Series, values: np.ndarray) -> np.ndarray:
    """``column.isin(values)`` for text (Arrow's set look-up; pandas builds one Arrow scalar
    per value)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    hit = pc.is_in(pa.array(column.array), value_set=pa.array(values, pa.string()))
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)


_NO_RATE = pd.Series(dtype=float)


def _rates(per_customer: pd.DataFrame, by) -> dict:
    """``{(group, channel): contacts per period of each customer of the population}``, one
    pass over the counts (the group ``"all"`` without ``by``). Only the values are read
    (:func:`band_of`, counted): with one period, each customer's rate is their count (the
    mean of one value), split by group and channel without grouping by customer."""
    if per_customer["period"].nunique(dropna=False) <= 1:
        return _one_period_rates(per_customer, by)
    keys = [per_customer[by].astype("string") if by else pd.Series(ALL, index=per_customer.index)]
    keys += [per_customer["channel"], per_customer["customer_id"]]
    mean = per_customer["contacts"].groupby(keys, sort=True).mean()
    if mean.empty:
        return {}
    return {k: part.droplevel([0, 1]) for k, part in mean.groupby(level=[0, 1], sort=False)}


def _one_period_rates(per_customer: pd.DataFrame, by) -> dict:
    """:func:`_rates` of counts over one period (a customer once per channel): the counts as
    floats per (group, channel), customers without a group left out, as the grouping does."""
    n = len(per_customer)
    if by:
        g, groups = pd.factorize(per_customer[by].astype("string"), sort=True)
    else:
        g, groups = np.zeros(n, dtype=np.int64), [ALL]
    c, chans = pd.factorize(per_customer["channel"], sort=True)
    key = g.astype(np.int64) * max(len(chans), 1) + c
    rows = np.flatnonzero((g >= 0) & (c >= 0))
    rows = rows[np.argsort(key[rows], kind="stable")]
    values = per_customer["contacts"].to_numpy(float)[rows]
    cells, starts = np.unique(key[rows], return_index=True)
    parts = np.split(values, starts[1:])
    k = max(len(chans), 1)
    return {(groups[i // k], chans[i % k]): part for i, part in zip(cells, parts, strict=True)}


def _cell_rows(cell, grp, chan, rate, min_n, confidence):
    """The bands of one persona × channel (means, comparison with the best) and its two
    zones (too few, too many); ``rate``: the contacts per period of the cell's population."""
    bands = contact_bands(cell["contacts"], min_n)
    g = band_of(cell["contacts"], bands)
    cluster = cell["__cluster"] if "__cluster" in cell.columns else None
    w = cell["w"].to_numpy(float)
    mean, cov = group_fit(cell["y"], w, g, cluster=cluster)
    best = _best_table(mean, cov, w, np.asarray(g, int), confidence)
    names = {"n": "respondents", "estimate": "sat"}
    res = pd.DataFrame(  # the table's columns, then the cell's: one frame built at once
        {
            **{names.get(c, c): best[c].to_numpy() for c in best.columns},
            "customers": np.bincount(band_of(rate, bands), minlength=len(bands))
            if len(rate)
            else np.zeros(len(bands), dtype=np.int64),
            "__by": pd.array([grp] * len(bands), dtype=pd.Series([grp]).dtype),
            "channel": pd.array([chan] * len(bands), dtype=pd.Series([chan]).dtype),
            "contacts": pd.array(
                [band_label(b, i == len(bands) - 1) for i, b in enumerate(bands)],
                dtype=pd.Series(["x"]).dtype,
            ),
            "contacts_low": np.array([lo for lo, _ in bands], dtype=np.int64),
            "contacts_high": np.array([hi for _, hi in bands], dtype=np.int64),
        }
    )
    totals = np.bincount(g, weights=w, minlength=len(bands))
    zones = step_tests(mean, cov, totals, confidence=confidence)
    return res, _zone_rows(zones, res, totals, mean, grp, chan)


def _zone_rows(zones, res, totals, mean, grp, chan) -> pd.DataFrame:
    """The step tests with their zones named in contacts and their satisfaction."""
    rows = []
    for z in zones.to_dict("records"):
        cut = z["cut"]
        if np.isnan(cut):
            rows.append(
                {**z, "zone": None, "respondents": 0, "sat_zone": np.nan, "sat_rest": np.nan}
            )
            continue
        cut = int(cut)
        upper = np.arange(len(mean)) >= cut
        inside = upper if z["side"] == "too many" else ~upper
        first = int(res["contacts_low"].iloc[cut])
        zone = f">= {first}" if z["side"] == "too many" else f"< {first}"
        rows.append(
            {
                **z,
                "cut": first,
                "zone": zone,
                "respondents": int(res.loc[inside, "respondents"].sum()),
                "sat_zone": float(np.average(mean[inside], weights=totals[inside])),
                "sat_rest": float(np.average(mean[~inside], weights=totals[~inside])),
            }
        )
    return pd.DataFrame(rows).assign(__by=grp, channel=chan)


def _finish(bands, zones, alpha, correction):
    """The tables with ``p_adj``, flags and the bands' verdicts."""
    if not bands:
        return (
            pd.DataFrame(columns=["__by", *SUMMARY_COLUMNS]),
            pd.DataFrame(columns=["__by", *ZONE_COLUMNS]),
        )
    s, z = pd.concat(bands, ignore_index=True), pd.concat(zones, ignore_index=True)
    z["p_adj"] = _adjust(z["p_value"], correction)
    z["flagged"] = z["p_adj"].lt(alpha)
    s["verdict"] = np.where(s["diff_best"].eq(0), "best", "ok")
    for r in z[z["flagged"]].to_dict("records"):
        here = (s["__by"] == r["__by"]) & (s["channel"] == r["channel"])
        low = s["contacts_low"]
        inside = low.ge(r["cut"]) if r["side"] == "too many" else low.lt(r["cut"])
        s.loc[here & inside & s["verdict"].ne("best"), "verdict"] = r["side"]
    return s[["__by", *SUMMARY_COLUMNS]], z[["__by", *ZONE_COLUMNS]]


def _cell_verdicts(zones: pd.DataFrame, summary: pd.DataFrame, key: str) -> pd.DataFrame:
    rows = []
    for (grp, chan), cell in summary.groupby([key, "channel"], sort=True):
        z = zones[(zones[key] == grp) & (zones["channel"] == chan) & zones["flagged"]]
        few, many = z[z["side"] == "too few"], z[z["side"] == "too many"]
        verdict = (
            "too few and too many"
            if len(few) and len(many)
            else "too many"
            if len(many)
            else "too few"
            if len(few)
            else "no effect"
            if len(cell) > 1
            else "one band"
        )
        rows.append(
            {
                key: grp,
                "channel": chan,
                "verdict": verdict,
                "too_few_below": float(few["cut"].iloc[0]) if len(few) else np.nan,
                "too_many_from": float(many["cut"].iloc[0]) if len(many) else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=[key, "channel", "verdict", "too_few_below", "too_many_from"])


def _distribution(per_customer: pd.DataFrame, by) -> pd.DataFrame:
    keys = ([by] if by else []) + ["channel", "period"]
    out = (
        per_customer.groupby([*keys, "contacts"], sort=True)
        .size()
        .rename("customers")
        .reset_index()
    )
    out["share"] = out["customers"] / out.groupby(keys)["customers"].transform("sum")
    return out
