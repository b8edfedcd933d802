"""Contact pressure and channel fit: "too much or too little" contact, the right channel (seed 002).

* :func:`contact_counts`: contacts per customer, channel and period from the event log. A
  *contact* is one touchpoint met in one session: the events of a touchpoint inside one session
  count once (``quote_start`` and ``quote_done`` are one visit of the simulator); each event is a
  contact when the log has no sessions. Every customer of the population is counted, with zero
  contacts on a channel they never used, in every period.
* :func:`contact_pressure` (also ``pr.traces.contact_pressure``): the counts, and overall
  satisfaction of the survey respondents as a function of their number of contacts per channel
  and persona, locating "too few" and "too many": the zones of lowest or highest contact counts
  where satisfaction is significantly below the rest.
* :func:`channel_fit` (also ``pr.satisfaction.channel_fit``): satisfaction per purpose ×
  channel (``purpose:`` of the touchpoints in study.yml), flagging a channel significantly
  worse than the best channel serving the same purpose.

The model
---------
Per persona and channel, respondents are grouped in *contact bands*: whole numbers of contacts
per period (``0``, ``1``, ``2`` ...), adjacent counts pooled from the lowest up until a band holds
``min_n`` respondents (the last band, ``k+``, takes the remainder). The band means of the outcome
are the coefficients of a weighted least-squares regression on band indicators
(``statsmodels`` WLS with the study's weights, no intercept), with a heteroskedasticity-robust
(HC1) covariance, or clustered by the survey's primary sampling units when the design has them:
the sandwich is the design-based (Taylor) variance of weighted means, not the frequency-weight
variance statsmodels would give without it. Strata are ignored (conservative as a rule).

"Too many" is a zone of the highest counts whose satisfaction is significantly below that of the
lower counts, "too few" a zone of the lowest counts below that of the higher ones. For every cut
between two bands, the difference between the weighted means of the bands above and below it (a
linear combination of the band means, its variance from their covariance) is tested one-sided;
per side, the cut with the smallest p-value locates the zone and its p-value is multiplied by the
number of cuts scanned (Bonferroni). The p-values of every persona, channel and side are then
corrected together (Holm by default). A single cut pools the respondents of several bands, which
gives the test its power; the bands' own means and intervals are shown beside it (``summary``),
with each band's difference to the best band.

Channel fit compares each channel with the best channel of its purpose: Hsu's multiple
comparisons with the best, Bonferroni form — channel *j*'s p-value is
``min(1, (K - 1) * min_k p_jk)`` with ``p_jk`` the one-sided p-value of "channel *k* is better
than *j*", a test of "*j* is the best" that needs no knowledge of which channel is — on the long
touchpoint ratings: per purpose (and persona), the mean rating of each channel's touchpoints,
respondents as clusters (one respondent rates several touchpoints), Holm over the table.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtr

from .errors import AnalysisError, Problem, check_one_of

__all__ = [
    "contact_counts",
    "contact_pressure",
    "channel_fit",
    "ContactPressure",
    "ChannelFit",
    "PERIODS",
    "VERDICTS",
]

#: ``period=`` names and the pandas period frequency they stand for.
PERIODS = {"study": None, "day": "D", "week": "W-SUN", "month": "M", "quarter": "Q"}
#: Verdicts of a contact band.
VERDICTS = ("best", "ok", "too few", "too many")  # of a contact band (ContactPressure.summary)
ALL = "all"


# ---------------------------------------------------------------------------------------------
# counting
# ---------------------------------------------------------------------------------------------
def contact_counts(
    events,
    *,
    channels: Mapping[str, str] | None = None,
    period: str = "study",
    customers: pd.DataFrame | None = None,
    by: str | None = None,
    start=None,
    end=None,
) -> pd.DataFrame:
    """Contacts per customer, channel and period.

    Parameters
    ----------
    events : Study, Evidence, EventLog or DataFrame
        A study (its prepared, cleaned event log) or events with ``user_id, timestamp,
        touchpoint`` (and ``session_id``: without it, each event is a contact).
    channels : mapping, optional
        ``{touchpoint: channel}`` (default for a study: the channel of each touchpoint in
        study.yml; for a table: a ``channel`` column, else each touchpoint is its own channel).
    period : {"study", "day", "week", "month", "quarter"} or pandas frequency, default "study"
        Count per calendar period (in the log's time zone), or over the whole study period.
    customers : DataFrame, optional
        The population, ``customer_id`` (and the ``by`` column): customers with no contact get
        zeros. Default for a study: its customer file; else every user of the log.
    by : str, optional
        Column of ``customers`` (or of the log) to carry, e.g. ``"persona"``.
    start, end : timestamp-like, optional
        The periods counted (default the study's ``period:``, else the log's first and last
        contact); contacts outside them are left out.

    Returns
    -------
    DataFrame
        One row per customer, channel and period: ``customer_id, [by], channel, period,
        contacts`` (``period`` is ``"study"`` or the period's label, e.g. ``2026-01``).
        Channels with no contact at all in the log (a call centre the log does not record)
        are left out: zero there is not evidence.
    """
    freq = _frequency(period)
    frame, tz, study = _contact_frame(events, channels)
    if customers is None:
        customers = _population(events, study, frame, by)
    customers = _check_population(customers, by)
    start, end = _bounds(study, frame, start, end, tz)
    frame = frame[(frame["t"] >= start) & (frame["t"] <= end)]
    labels = _period_labels(start, end, freq)
    frame = frame.assign(period=_period_of(frame["t"], freq))
    counted = frame.groupby(["customer_id", "channel", "period"], observed=True).size()
    chans = sorted(set(frame["channel"]))  # a channel the log never records is left out
    grid = pd.MultiIndex.from_product(
        [customers["customer_id"].astype(str).unique(), chans, labels],
        names=["customer_id", "channel", "period"],
    )
    out = counted.reindex(grid, fill_value=0).rename("contacts").reset_index()
    if by is not None:
        out.insert(
            1,
            by,
            out["customer_id"].map(
                customers.drop_duplicates("customer_id").set_index("customer_id")[by]
            ),
        )
    out["contacts"] = out["contacts"].astype("int64")
    return out


def _frequency(period: str) -> str | None:
    if isinstance(period, str) and period in PERIODS:
        return PERIODS[period]
    try:
        pd.Period("2026-01-05", freq=period)
    except (ValueError, TypeError):
        raise AnalysisError(
            f"period={period!r} is not a period.",
            [
                Problem(
                    "unknown period",
                    column="period",
                    fix=f"use one of {', '.join(PERIODS)} or a pandas frequency such as '2W'",
                )
            ],
        ) from None
    return str(period)


def _study_channels(study) -> dict[str, str]:
    return {t.id: t.channel for t in study.journey.touchpoints}


def _contact_frame(events, channels) -> tuple[pd.DataFrame, str, object]:
    """``customer_id, touchpoint, channel, t`` (one row per contact), the time zone, the study."""
    from ._inputs import study_of
    from .evidence import evidence_of

    study = study_of(events)
    if study is not None:
        log = evidence_of(events).traces.log
        channels = {**_study_channels(study), **dict(channels or {})}
    else:
        from .traces.eventlog import as_log

        log, _ = as_log(events)
    missing = [c for c in ("user_id", "timestamp", "touchpoint") if not log.has(c)]
    if missing:
        raise AnalysisError(
            "contact_counts: the events cannot be counted.",
            [
                Problem(
                    f"missing column {c!r}",
                    column=c,
                    fix="map events to touchpoints first (pr.traces.map_touchpoints) or pass a study",
                )
                for c in missing
            ],
        )
    frame = _fetch_contacts(log, with_channel=study is None and channels is None)
    if "channel" not in frame.columns:
        mapped = frame["touchpoint"].astype(str).map(dict(channels or {}))
        frame["channel"] = mapped.where(mapped.notna(), frame["touchpoint"].astype(str)).astype(str)
    frame["t"] = pd.to_datetime(frame["t"], utc=True).dt.tz_convert(log.timezone)
    return frame, log.timezone, study


def _fetch_contacts(log, with_channel: bool) -> pd.DataFrame:
    """One row per contact: the touchpoint's first event in each session (each event without
    sessions), from the engine."""
    eng = log.engine
    chan = ", min(channel) AS channel" if with_channel and log.has("channel") else ""
    where = "touchpoint IS NOT NULL AND user_id IS NOT NULL AND timestamp IS NOT NULL"
    if log.has("session_id"):
        sql = (
            f"SELECT user_id AS customer_id, touchpoint, min(timestamp) AS t{chan} FROM {log.ref} "
            f"WHERE {where} GROUP BY user_id, touchpoint, session_id"
        )
    else:
        chan = ", channel" if chan else ""
        sql = f"SELECT user_id AS customer_id, touchpoint, timestamp AS t{chan} FROM {log.ref} WHERE {where}"
    frame = eng.fetch(sql)
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame


def _population(events, study, frame: pd.DataFrame, by: str | None) -> pd.DataFrame:
    """The customers counted: the study's customer file, else every user of the log."""
    if study is not None and study.customers is not None:
        cols = ["customer_id"] + ([by] if by and by in study.customers.columns else [])
        return study.customers[cols]
    users = _log_users(events, study, by)
    return (
        users if users is not None else pd.DataFrame({"customer_id": frame["customer_id"].unique()})
    )


def _log_users(events, study, by) -> pd.DataFrame | None:
    from .evidence import evidence_of
    from .traces.eventlog import as_log

    log = evidence_of(events).traces.log if study is not None else as_log(events)[0]
    cols = "user_id AS customer_id" + (
        f", min({log.engine.q(by)}) AS {log.engine.q(by)}" if by and log.has(by) else ""
    )
    out = log.engine.fetch(
        f"SELECT {cols} FROM {log.ref} WHERE user_id IS NOT NULL GROUP BY user_id"
    )
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def _check_population(customers, by) -> pd.DataFrame:
    if not isinstance(customers, pd.DataFrame) or "customer_id" not in customers.columns:
        raise AnalysisError("contact_counts: customers= must be a DataFrame with customer_id.")
    if by is not None and by not in customers.columns:
        raise AnalysisError(
            f"contact_counts: no column {by!r} to group by.",
            [
                Problem(
                    f"missing column {by!r}",
                    column=by,
                    fix=f"give customers= a {by!r} column, or by=None",
                )
            ],
        )
    out = customers.copy()
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def _bounds(study, frame, start, end, tz):
    """The counted period: arguments, else the study's ``period:``, else the log's span (an
    end given as a date counts that whole day)."""
    cfg = getattr(study, "traces", None)
    period = getattr(cfg, "period", (None, None)) if cfg is not None else (None, None)
    start = start if start is not None else period[0]
    end = end if end is not None else period[1]
    first = frame["t"].min() if len(frame) else pd.Timestamp("1970-01-01", tz=tz)
    start = _stamp(start, tz) if start is not None else first
    if end is None:
        return start, frame["t"].max() if len(frame) else start
    end = _stamp(end, tz)
    if end == end.normalize():
        end = end + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return start, end


def _stamp(value, tz) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)


def _period_labels(start, end, freq) -> list[str]:
    if freq is None:
        return ["study"]
    rng = pd.period_range(start.tz_localize(None), end.tz_localize(None), freq=freq)
    return [str(p) for p in rng]


def _period_of(t: pd.Series, freq) -> pd.Series:
    if freq is None:
        return pd.Series("study", index=t.index)
    return t.dt.tz_localize(None).dt.to_period(freq).astype(str)


# ---------------------------------------------------------------------------------------------
# comparison with the best (shared by contact bands and channels)
# ---------------------------------------------------------------------------------------------
def compare_with_best(y, w, group, *, cluster=None, confidence: float = 0.95) -> pd.DataFrame:
    """Weighted group means (WLS on group indicators, robust covariance) and each group's
    multiple comparison with the best (Bonferroni form of Hsu's MCB).

    Parameters
    ----------
    y, w : array-like
        Outcome and survey weights (one per row).
    group : array-like of int
        Group index of each row, 0 .. K-1 (every group present).
    cluster : array-like, optional
        Primary sampling unit (or respondent) of each row: cluster-robust covariance; else HC1.
    confidence : float

    Returns
    -------
    DataFrame
        One row per group: ``group, n, n_eff, estimate, se, ci_low, ci_high, diff_best,
        diff_low, diff_high, p_value`` (``p_value``: "this group is the best" rejected).
    """
    y, w, group = np.asarray(y, float), np.asarray(w, float), np.asarray(group, int)
    mean, cov = group_fit(y, w, group, cluster=cluster)
    k = len(mean)
    z = stats.norm.ppf(0.5 + confidence / 2)
    se = np.sqrt(np.diag(cov))
    best = int(np.argmax(mean))
    rows = []
    for j in range(k):
        in_j = group == j
        sd = np.sqrt(max(cov[j, j] + cov[best, best] - 2 * cov[j, best], 0.0))
        d = mean[j] - mean[best]
        rows.append(
            {
                "group": j,
                "n": int(in_j.sum()),
                "n_eff": _kish(w[in_j]),
                "estimate": mean[j],
                "se": se[j],
                "ci_low": mean[j] - z * se[j],
                "ci_high": mean[j] + z * se[j],
                "diff_best": d,
                "diff_low": d - z * sd if j != best else 0.0,
                "diff_high": d + z * sd if j != best else 0.0,
                "p_value": _mcb_p(mean, cov, j),
            }
        )
    return pd.DataFrame(rows)


def group_fit(y, w, group, *, cluster=None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted group means and their robust covariance: statsmodels WLS of ``y`` on the group
    indicators (no intercept) with weights ``w``, HC1 or clustered on ``cluster``."""
    import statsmodels.api as sm

    y, w, group = np.asarray(y, float), np.asarray(w, float), np.asarray(group, int)
    x = np.eye(int(group.max()) + 1)[group]
    model = sm.WLS(y, x, weights=w)
    if cluster is not None:
        codes = pd.factorize(pd.Series(np.asarray(cluster)).astype(str))[0]
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": codes})
    else:
        fit = model.fit(cov_type="HC1")
    return np.asarray(fit.params), np.asarray(fit.cov_params())


def step_tests(mean, cov, totals, *, confidence: float = 0.95) -> pd.DataFrame:
    """The best step of each side: is satisfaction lower above a cut ("too many") or below it
    ("too few")?

    For each cut ``c`` between ordered groups (1 .. K-1), the difference between the weighted
    mean of the groups from ``c`` on and that of the groups before it (a linear combination of
    the group means, weights ``totals``: the groups' sums of weights) with its variance from
    ``cov``; one-sided p-values. Per side, the cut with the smallest p-value is kept and its
    p-value multiplied by the K-1 cuts scanned (Bonferroni).

    Returns
    -------
    DataFrame
        Two rows, ``side`` ``"too few"`` and ``"too many"``: ``side, cut`` (first group of the
        upper part), ``diff`` (mean of the zone minus mean of the rest), ``diff_low,
        diff_high``, ``p_value``.
    """
    mean, cov, totals = np.asarray(mean, float), np.asarray(cov, float), np.asarray(totals, float)
    k = len(mean)
    z = stats.norm.ppf(0.5 + confidence / 2)
    rows = []
    for cut in range(1, k):
        a = np.zeros(k)
        a[cut:] = totals[cut:] / totals[cut:].sum()
        a[:cut] = -totals[:cut] / totals[:cut].sum()
        d, sd = float(a @ mean), float(np.sqrt(max(a @ cov @ a, 1e-300)))
        # too many: the upper part is worse (d < 0); too few: the lower part is (d > 0)
        rows.append(("too many", cut, d, sd, ndtr(d / sd)))
        rows.append(("too few", cut, -d, sd, ndtr(-d / sd)))
    out = []
    for side in ("too few", "too many"):
        side_rows = [r for r in rows if r[0] == side]
        if not side_rows:
            out.append(
                {
                    "side": side,
                    "cut": np.nan,
                    "diff": np.nan,
                    "diff_low": np.nan,
                    "diff_high": np.nan,
                    "p_value": np.nan,
                }
            )
            continue
        _, cut, d, sd, p = min(side_rows, key=lambda r: r[4])
        out.append(
            {
                "side": side,
                "cut": cut,
                "diff": d,
                "diff_low": d - z * sd,
                "diff_high": d + z * sd,
                "p_value": min(1.0, (k - 1) * p),
            }
        )
    return pd.DataFrame(out)


def _mcb_p(mean, cov, j: int) -> float:
    """p-value of "group j is the best": Bonferroni over the one-sided comparisons with every
    other group (small when some group is significantly better than j)."""
    k = len(mean)
    ps = []
    for other in range(k):
        if other == j:
            continue
        sd = np.sqrt(max(cov[j, j] + cov[other, other] - 2 * cov[j, other], 1e-300))
        ps.append(ndtr((mean[j] - mean[other]) / sd))
    return float(min(1.0, (k - 1) * min(ps))) if ps else 1.0


def _kish(w) -> float:
    w = np.asarray(w, float)
    return float(w.sum() ** 2 / (w**2).sum()) if len(w) and (w**2).sum() > 0 else 0.0


def _adjust(p: pd.Series, correction: str) -> np.ndarray:
    from .friction.correction import adjust_pvalues

    return adjust_pvalues(p.to_numpy(), correction)


# ---------------------------------------------------------------------------------------------
# contact bands
# ---------------------------------------------------------------------------------------------
def contact_bands(contacts, min_n: int) -> list[tuple[int, int]]:
    """Bands of whole contact counts, ``[(low, high), ...]``: counts pooled from the lowest up
    until a band holds ``min_n`` values (the last band takes what is left)."""
    v = np.floor(np.asarray(contacts, float)).astype(int)
    values, counts = np.unique(v, return_counts=True)
    bands, cur, n = [], [], 0
    for val, c in zip(values.tolist(), counts.tolist(), strict=True):
        cur.append(val)
        n += c
        if n >= min_n:
            bands.append(cur)
            cur, n = [], 0
    if cur:
        if bands:
            bands[-1].extend(cur)
        else:
            bands.append(cur)
    return [(b[0], b[-1]) for b in bands]


def band_of(contacts, bands) -> np.ndarray:
    """Index of the band of each contact count (counts below the first band go to it)."""
    lows = np.array([lo for lo, _ in bands])
    v = np.floor(np.asarray(contacts, float)).astype(int)
    return np.clip(np.searchsorted(lows, v, side="right") - 1, 0, len(bands) - 1)


def band_label(band: tuple[int, int], last: bool) -> str:
    lo, hi = band
    if last and hi > lo:
        return f"{lo}+"
    return str(lo) if lo == hi else f"{lo}-{hi}"


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
        return (
            f"ContactPressure(outcome={self.outcome!r}, period={self.period!r}, "
            f"{cells} {key} x channel cells, {len(self.summary)} bands, "
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
        out (no trace, no count).
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
    frame = _respondent_contacts(ev, per_customer, outcome, by)
    bands, zones = [], []
    for (grp, chan), cell in frame.groupby(["__by", "channel"], sort=True):
        b, z = _cell_rows(cell, grp, chan, per_customer, by, min_n, confidence)
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


def _respondent_contacts(ev, per_customer, outcome, by) -> pd.DataFrame:
    """Respondents found in the log, with their outcome, weight, group, cluster and contacts
    per period on each channel (one row per respondent and channel)."""
    st, resp, design = ev.study, ev.responses, ev.design
    rate = (
        per_customer.groupby(["customer_id", "channel"], sort=False)["contacts"]
        .mean()
        .reset_index()
    )
    in_log = set(_log_users(ev, st, None)["customer_id"])
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
    keep = r["customer_id"].isin(in_log) & r["y"].notna() & (r["w"] > 0) & r["__by"].notna()
    return r[keep.to_numpy()].merge(rate, on="customer_id", how="inner")


def _cell_rows(cell, grp, chan, per_customer, by, min_n, confidence):
    """The bands of one persona × channel (means, comparison with the best) and its two
    zones (too few, too many)."""
    bands = contact_bands(cell["contacts"], min_n)
    g = band_of(cell["contacts"], bands)
    cluster = cell["__cluster"] if "__cluster" in cell.columns else None
    res = compare_with_best(cell["y"], cell["w"], g, cluster=cluster, confidence=confidence)
    pop = per_customer[per_customer["channel"] == chan]
    if by:
        pop = pop[pop[by].astype("string") == grp]
    rate = pop.groupby("customer_id")["contacts"].mean()
    res["customers"] = np.bincount(band_of(rate, bands), minlength=len(bands)) if len(rate) else 0
    res["__by"], res["channel"] = grp, chan
    res["contacts"] = [band_label(b, i == len(bands) - 1) for i, b in enumerate(bands)]
    res["contacts_low"] = [lo for lo, _ in bands]
    res["contacts_high"] = [hi for _, hi in bands]
    res = res.rename(columns={"n": "respondents", "estimate": "sat"})
    mean, cov = group_fit(cell["y"], cell["w"], g, cluster=cluster)
    totals = np.bincount(g, weights=cell["w"].to_numpy(float), minlength=len(bands))
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


# ---------------------------------------------------------------------------------------------
# channel fit
# ---------------------------------------------------------------------------------------------
FIT_COLUMNS = [
    "purpose",
    "channel",
    "touchpoints",
    "respondents",
    "ratings",
    "n_eff",
    "sat",
    "se",
    "ci_low",
    "ci_high",
    "diff_best",
    "diff_low",
    "diff_high",
    "p_value",
    "p_adj",
    "verdict",
]


@dataclass(repr=False)
class ChannelFit:
    """Satisfaction per purpose × channel (:func:`channel_fit`).

    Attributes
    ----------
    summary : DataFrame
        One row per persona (``by``), purpose and channel: ``persona, purpose, channel,
        touchpoints`` (the touchpoint ids, ``", "``-joined), ``respondents, ratings, n_eff``,
        ``sat`` (weighted mean rating) with ``se, ci_low, ci_high``, ``diff_best`` (sat minus
        the purpose's best channel's) with ``diff_low, diff_high``, ``p_value`` (multiple
        comparison with the best), ``p_adj`` (corrected over the table), ``verdict``:
        ``best``, ``ok``, ``worse`` (significantly below the best channel of the purpose),
        ``single channel`` (the purpose has one channel), ``too few respondents``.
    purposes : DataFrame
        ``purpose, label, channels, touchpoints``: what serves each purpose.
    """

    summary: pd.DataFrame
    purposes: pd.DataFrame
    by: str | None = "persona"
    confidence: float = 0.95
    alpha: float = 0.05
    correction: str = "holm"

    def flagged(self) -> pd.DataFrame:
        """The channels significantly worse than the best channel of their purpose."""
        return self.summary[self.summary["verdict"] == "worse"].reset_index(drop=True)

    def __repr__(self) -> str:
        f = self.flagged()
        where = [
            f"{getattr(r, self.by) + ' ' if self.by else ''}{r.purpose}/{r.channel}"
            for r in f.itertuples()
        ]
        return (
            f"ChannelFit({len(self.purposes)} purposes, {len(self.summary)} rows, worse: "
            f"{', '.join(where) if where else 'none'})"
        )

    def _repr_html_(self) -> str:
        return (
            f"<p><b>{html.escape(repr(self))}</b></p>"
            + self.purposes.to_html(index=False)
            + self.summary.round(3).to_html(index=False)
        )


def channel_fit(
    data,
    *,
    by: str | None = "persona",
    weight="default",
    min_n: int = 30,
    confidence: float = 0.95,
    alpha: float = 0.05,
    correction: str = "holm",
) -> ChannelFit:
    """Satisfaction per purpose × channel: is one channel serving a purpose significantly worse?

    One purpose per interaction, the right channel for each (seed 002): the touchpoints'
    ``purpose:`` in study.yml groups them; within a purpose (and persona), the mean rating of
    each channel's touchpoints is compared with the best channel's (multiple comparisons with
    the best, respondents as clusters; see the module docstring), and the p-values of the whole
    table are corrected together.

    Parameters
    ----------
    data : Study, Evidence or DataFrame
        A study whose touchpoints name their ``purpose:`` (its long ratings under the study's
        weighting rule), or long ratings with ``respondent_id, purpose, channel, score`` (and
        ``touchpoint``, the ``by`` column and the ``weight`` column when named).
    by : str or None, default "persona"
        Compare within each persona (None: everyone together).
    weight : {"default", "rake", "design", None} or str
        A study's weighting rule; for a table, a weight column (or None).
    min_n : int, default 30
        Respondents a channel needs to be compared.
    confidence, alpha, correction
        As in :func:`contact_pressure`.

    Returns
    -------
    ChannelFit
        ``.summary`` and ``.purposes`` (see :class:`ChannelFit`).
    """
    frame, labels = _fit_inputs(data, by, weight)
    rows = []
    for (grp, purpose), part in frame.groupby(["__by", "purpose"], sort=True):
        rows.append(_purpose_rows(part, grp, purpose, min_n, confidence))
    s = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["__by", *FIT_COLUMNS])
    s["p_adj"] = _adjust(s["p_value"], correction)
    tested = s["verdict"].isna()
    s.loc[tested, "verdict"] = np.where(
        s.loc[tested, "diff_best"].eq(0),
        "best",
        np.where(s.loc[tested, "p_adj"].lt(alpha), "worse", "ok"),
    )
    s = s[["__by", *FIT_COLUMNS]].rename(columns={"__by": by or "persona"})
    return ChannelFit(s, _purpose_table(frame, labels), by, confidence, alpha, correction)


def _fit_inputs(data, by, weight) -> tuple[pd.DataFrame, dict]:
    """``respondent_id, __by, purpose, channel, touchpoint, y, w`` and the purposes' labels."""
    from ._inputs import study_of
    from .evidence import prepare

    st = study_of(data)
    if st is not None:
        if not st.purposes:
            raise AnalysisError(
                "channel_fit: no touchpoint of this study names its purpose.",
                [
                    Problem(
                        "no purpose",
                        "study.yml",
                        column="touchpoints[].purpose",
                        fix="add `purpose: inform` (or transact, support...) to the touchpoints",
                    )
                ],
            )
        ratings = prepare(data, weight=weight).ratings
        lang = st.journey.language
        labels = {k: v.get(lang) for k, v in st.purpose_labels.items()}
        chan = _study_channels(st)
        long = ratings.assign(
            purpose=ratings["touchpoint"].map(st.purposes), channel=ratings["touchpoint"].map(chan)
        )
        wcol = "weight"
    else:
        if not isinstance(data, pd.DataFrame):
            raise AnalysisError(
                f"channel_fit needs a study or a DataFrame, not {type(data).__name__}."
            )
        long, labels = data, {}
        wcol = weight if weight not in ("default", "rake", "design") else None
    need = (
        ["respondent_id", "purpose", "channel", "score"]
        + ([by] if by else [])
        + ([wcol] if wcol else [])
    )
    miss = [c for c in need if c not in long.columns]
    if miss:
        raise AnalysisError(
            "channel_fit: the ratings lack columns.",
            [
                Problem(
                    f"missing column {c!r}",
                    column=c,
                    fix="long ratings: respondent_id, purpose, channel, score",
                )
                for c in miss
            ],
        )
    out = pd.DataFrame(
        {
            "respondent_id": long["respondent_id"].astype(str).to_numpy(),
            "__by": long[by].astype("string").to_numpy() if by else ALL,
            "purpose": long["purpose"].to_numpy(),
            "channel": long["channel"].to_numpy(),
            "touchpoint": long["touchpoint"].to_numpy() if "touchpoint" in long.columns else "",
            "y": pd.to_numeric(long["score"], errors="coerce").to_numpy(float),
            "w": pd.to_numeric(long[wcol], errors="coerce").to_numpy(float) if wcol else 1.0,
        }
    )
    keep = (
        out["purpose"].notna()
        & out["channel"].notna()
        & out["y"].notna()
        & (out["w"] > 0)
        & out["__by"].notna()
    )
    return out[keep.to_numpy()].reset_index(drop=True), labels


def _purpose_rows(part, grp, purpose, min_n, confidence) -> pd.DataFrame:
    """The channels of one purpose (and persona), compared with the best when there are two."""
    info = part.groupby("channel", sort=True).agg(
        respondents=("respondent_id", "nunique"),
        ratings=("y", "size"),
        touchpoints=("touchpoint", lambda t: ", ".join(sorted(set(map(str, t))))),
    )
    ok = info.index[info["respondents"] >= min_n].tolist()
    base = info.reset_index().assign(__by=grp, purpose=purpose)
    if len(ok) < 2:
        base["verdict"] = np.where(
            base["respondents"] >= min_n, "single channel", "too few respondents"
        )
        return base
    sub = part[part["channel"].isin(ok)]
    codes = {c: i for i, c in enumerate(ok)}
    res = compare_with_best(
        sub["y"],
        sub["w"],
        sub["channel"].map(codes),
        cluster=sub["respondent_id"],
        confidence=confidence,
    )
    res["channel"] = ok
    res = res.drop(columns=["group", "n"]).rename(columns={"estimate": "sat"})
    out = base.merge(res, on="channel", how="left")
    out["verdict"] = np.where(out["channel"].isin(ok), None, "too few respondents")
    return out


def _purpose_table(frame: pd.DataFrame, labels: dict) -> pd.DataFrame:
    g = frame.groupby("purpose", sort=True)
    return pd.DataFrame(
        {
            "purpose": list(g.groups),
            "label": [labels.get(p, p) for p in g.groups],
            "channels": [", ".join(sorted(set(map(str, x)))) for _, x in g["channel"]],
            "touchpoints": [", ".join(sorted(set(map(str, x)))) for _, x in g["touchpoint"]],
        }
    )
