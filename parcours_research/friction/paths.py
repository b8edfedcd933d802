"""Satisfaction by actual path: do respondents who took a path, or made a move, rate lower?

Survey respondents are customers; their traces say which path they really took. Joining the
two (on ``customer_id``), :func:`test_paths` compares, for every path variant and every
transition taken by enough respondents, the outcome (overall satisfaction, NPS, ...) of the
respondents who took it with that of the other respondents who have traces (design-based
difference of means, Wald t with the design SE; NPS as the mean of +100 promoters, 0
passives, −100 detractors, i.e. in NPS points).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._compat import deprecated_args
from .._design import check_columns, svy_sample
from .._inputs import study_of
from ..errors import AnalysisError, Problem, check_one_of
from ._table import ALL, BY, check_common, finish
from .survey import _GROUP, _REST, Design, group_differences, survey_design

__all__ = ["test_paths", "customer_paths", "PATH_COLUMNS"]

#: Columns of a paths table: one row per customer and path feature.
PATH_COLUMNS = ["customer_id", "kind", "value"]


def customer_paths(data, journey=None, *, customers=None) -> pd.DataFrame:
    """Each customer's path through the touchpoints, and the moves they made.

    Parameters
    ----------
    data : Study, Evidence or DataFrame
        A loaded study or its prepared evidence (its prepared event log,
        :func:`parcours_research.prepare`, read once and shared; only the customers'
        variants and moves are computed on its engine: one row per customer and feature
        comes back, never the events) or events with ``user_id, timestamp, event``.
    journey : JourneyMap, optional
        Maps events to touchpoints (default the study's).
    customers : iterable, optional
        Keep only these user ids (default for a study: the survey's customer ids).

    Returns
    -------
    DataFrame
        ``customer_id, kind, value, touchpoint``: one ``variant`` row per customer (the
        touchpoints in time order, repeats in a row collapsed, joined by ``" > "``) and one
        ``transition`` row per distinct move ``"a → b"`` (``touchpoint`` is ``b``).
    """
    from ..evidence import evidence_of

    prepared = evidence_of(data)
    if prepared is not None:
        study = prepared.study
        if customers is None:
            customers = _survey_customers(study)
        return _paths_on_engine(prepared.traces.log, journey, customers)
    return _paths_table(_frame_touchpoint_events(data, journey, customers))


def _survey_customers(study):
    """The survey's customer ids (None when the responses have none)."""
    if study.responses is None:
        return None
    cid = getattr(study.survey, "customer_id", None) or "customer_id"
    if cid not in study.responses.columns:
        return None
    return study.responses[cid].dropna().astype(str).unique()


def _paths_on_engine(log, journey, customers) -> pd.DataFrame:
    """The paths table of a prepared log's touchpoint events (of ``customers`` only when
    given), computed on the log's engine: one row per customer and variant or move comes
    back, never the events."""
    from ..traces.sessions import map_touchpoints

    if journey is not None:  # another journey than the study's: map the events anew
        log = map_touchpoints(log, journey)
    eng = log.engine
    where = "touchpoint IS NOT NULL AND user_id IS NOT NULL"
    if customers is not None:
        ids = eng.register(
            pd.DataFrame({"_id": pd.Series(list(map(str, customers)), dtype="string")}), "customers"
        )
        where += f" AND user_id IN (SELECT _id FROM {eng.q(ids)})"
    try:
        variants, moves = (eng.fetch(sql) for sql in _paths_sql(log, where))
    finally:
        if customers is not None:
            eng.drop(ids)
    variants = variants.sort_values("customer_id", kind="stable")
    moves = moves.sort_values(["customer_id", "_first"], kind="stable").drop(columns="_first")
    out = pd.concat(
        [variants.assign(kind="variant", touchpoint=pd.NA), moves.assign(kind="transition")]
    )
    return (
        out[["customer_id", "kind", "value", "touchpoint"]]
        .reset_index(drop=True)
        .astype(
            {"customer_id": "string", "kind": "string", "value": "string", "touchpoint": "string"}
        )
    )


def _paths_sql(log, where: str) -> tuple[str, str]:
    """SQL of the variants (``customer_id, value``) and of the distinct moves
    (``customer_id, value, touchpoint, _first``) of the touchpoint events kept by ``where``:
    events in time order (ties by position in the log), repeats in a row collapsed."""
    eng = log.engine
    order = f"ORDER BY {eng.us('timestamp')}, row_id"
    events = (
        f"SELECT user_id, touchpoint, {eng.us('timestamp')} AS _t, row_id, lag(touchpoint) OVER "
        f"(PARTITION BY user_id {order}) AS _prev FROM {log.ref} WHERE {where}"
    )
    kept = f"SELECT user_id, touchpoint, _t, row_id FROM ({events}) AS e WHERE _prev IS NULL OR _prev <> touchpoint"
    seq = " > "
    variants = (
        f"SELECT user_id AS customer_id, {eng.ordered_concat('touchpoint', ['_t', 'row_id'], seq)} "
        f"AS value FROM ({kept}) AS k GROUP BY user_id"
    )
    steps = (
        f"SELECT user_id, touchpoint, lag(touchpoint) OVER (PARTITION BY user_id ORDER BY _t, row_id) "
        f"AS _src, row_number() OVER (PARTITION BY user_id ORDER BY _t, row_id) AS _pos FROM ({kept}) AS k"
    )
    moves = (
        f"SELECT user_id AS customer_id, concat(_src, {eng.lit(' → ')}, touchpoint) AS value, "
        f"touchpoint, min(_pos) AS _first FROM ({steps}) AS s WHERE _src IS NOT NULL "
        f"GROUP BY user_id, _src, touchpoint"
    )
    return variants, moves


def _frame_touchpoint_events(events: pd.DataFrame, journey, customers) -> pd.DataFrame:
    """``user_id, timestamp, touchpoint`` of a DataFrame's touchpoint events."""
    from ..traces.sessions import touchpoint_mapping

    mapping = touchpoint_mapping(journey) if journey is not None else {}
    ev = events[["user_id", "timestamp", "event"]].copy()
    ev["touchpoint"] = ev["event"].astype("string").map(mapping)
    ev = ev[ev["touchpoint"].notna() & ev["user_id"].notna()]
    ev["user_id"] = ev["user_id"].astype("string")
    if customers is not None:
        ev = ev[ev["user_id"].isin(set(map(str, customers)))]
    return ev.sort_values(["user_id", "timestamp"], kind="stable")


def _paths_table(ev: pd.DataFrame) -> pd.DataFrame:
    """The variants and moves of touchpoint events sorted by user and time."""
    same = (ev["user_id"] == ev["user_id"].shift()) & (ev["touchpoint"] == ev["touchpoint"].shift())
    ev = ev[~same.fillna(False).to_numpy()]
    variants = ev.groupby("user_id", sort=True)["touchpoint"].agg(
        lambda s: " > ".join(s.astype(str))
    )
    prev = ev["touchpoint"].shift()
    moves = ev.assign(source=prev)[
        (ev["user_id"] == ev["user_id"].shift()).fillna(False).to_numpy()
    ]
    moves = moves.assign(
        value=moves["source"].astype(str) + " → " + moves["touchpoint"].astype(str)
    )
    moves = moves.drop_duplicates(["user_id", "value"])
    out = pd.concat(
        [
            pd.DataFrame(
                {
                    "customer_id": variants.index,
                    "kind": "variant",
                    "value": variants.to_numpy(),
                    "touchpoint": pd.NA,
                }
            ),
            pd.DataFrame(
                {
                    "customer_id": moves["user_id"].to_numpy(),
                    "kind": "transition",
                    "value": moves["value"].to_numpy(),
                    "touchpoint": moves["touchpoint"].to_numpy(),
                }
            ),
        ],
        ignore_index=True,
    )
    return out.astype(
        {"customer_id": "string", "kind": "string", "value": "string", "touchpoint": "string"}
    )


def _nps_points(v: pd.Series) -> np.ndarray:
    x = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(x), np.nan, np.where(x >= 9, 100.0, np.where(x <= 6, -100.0, 0.0)))


@deprecated_args(renamed={"conf": "confidence"})
def test_paths(
    data,
    paths: pd.DataFrame | None = None,
    *,
    outcomes: Sequence[str] = ("overall_sat", "nps"),
    nps: Sequence[str] = ("nps",),
    customer_id: str = "customer_id",
    touchpoints: Mapping[str, str] | None = None,
    weight: str | None = "default",
    strata: str | None = None,
    cluster: str | None = None,
    min_n: int = 20,
    alternative: str = "two-sided",
    confidence: float = 0.95,
    alpha: float = 0.05,
    power: float = 0.8,
    correction: str = "bh",
    family: str = "test",
    singleton: str | None = None,
) -> pd.DataFrame:
    """Test whether satisfaction or NPS differs by the path respondents actually took.

    Parameters
    ----------
    data : Study or DataFrame
        A loaded study (its responses weighted by the study's rule,
        :func:`parcours_research.weighting.study_weights`, and its survey design) or survey
        responses with ``customer_id`` and the outcomes.
    paths : DataFrame, optional
        Default for a study: :func:`customer_paths` of its event log.
        What each customer did, one row per customer and feature: ``customer_id, kind,
        value`` with ``kind`` ``"variant"`` (the customer's path, e.g. ``"signup >
        id_verification"``: one per customer) or ``"transition"`` (a move made, e.g.
        ``"signup → id_verification"``: as many as made), and optionally ``touchpoint`` (the
        touchpoint the feature points at, e.g. the transition's destination).
    outcomes : sequence of str, default ("overall_sat", "nps")
        Outcome columns of the responses.
    nps : sequence of str, default ("nps",)
        Outcomes on 0-10 recoded to NPS points (+100 promoter 9-10, 0 passive, −100
        detractor 0-6), so that the mean is the NPS.
    customer_id : str, default "customer_id"
    touchpoints : dict, optional
        ``{value: touchpoint}`` for the ``touchpoint`` column when ``paths`` has none.
    weight, strata, cluster, singleton
        Survey design (as in :func:`test_survey`).
    min_n : int, default 20
        Paths and transitions taken by fewer respondents (or with fewer others) are not tested.
    alternative : {"two-sided", "worse"}, default "two-sided"
        A path may be better or worse; ``"worse"`` tests one-sided for a lower outcome.
    confidence, alpha, power, correction, family
        As in :func:`test_traces`; families are ``paths:<kind>:<outcome>`` with
        ``family="test"``.

    Returns
    -------
    DataFrame
        The test table (see :func:`test_traces`), source ``paths``, test ``<kind>:<outcome>``,
        ``group`` the variant or transition, ``touchpoint`` the touchpoint it points at,
        persona ``"all"``, ``estimate`` and ``reference`` the outcome means of the
        respondents with and without it, ``effect_size`` their difference (points of the
        outcome; NPS points) with its design-based interval, ``std_effect`` the standardised
        difference.
    """
    conf = confidence  # the internal name
    check_common(alternative, conf, alpha, power, correction, family)
    data, paths, weight, strata, cluster, customer_id = _inputs(
        data, paths, weight, strata, cluster, customer_id
    )
    outcomes = [outcomes] if isinstance(outcomes, str) else list(outcomes)
    cols = {"weight": weight, "strata": strata, "cluster": cluster}
    key = _check_inputs(data, paths, outcomes, customer_id, cols)
    p = _clean_paths(paths, key, touchpoints)
    frame, ycols, cid, with_path = _outcome_frame(data, p, outcomes, nps, customer_id, cols)
    flags = _feature_flags(frame, p, cid, with_path, min_n)
    out = None
    if flags:
        design = Design(
            weight="__w" if weight is not None else None,
            strata="__s" if strata is not None else None,
            cluster="__c" if cluster is not None else None,
            singleton=singleton,
            user_strata=strata is not None,
        )
        stats_ = dict(min_n=min_n, conf=conf, alpha=alpha, power=power, alternative=alternative)
        out = _path_rows(frame, ycols, flags, outcomes, nps, design, **stats_)
    return finish(
        out,
        worse_sign=-1,
        alternative=alternative,
        correction=correction,
        alpha=alpha,
        family=family,
    )


def _inputs(data, paths, weight, strata, cluster, customer_id):
    """For a study: its weighted responses, design, customer id column and paths (unless
    given); for a DataFrame, the arguments (a study weighting rule meaning no weights)."""
    study = study_of(data)
    if study is not None:
        if paths is None:
            paths = customer_paths(data)
        data, design = survey_design(data, weight)
        weight = design["weight"]
        strata = strata if strata is not None else design["strata"]
        cluster = cluster if cluster is not None else design["cluster"]
        customer_id = getattr(study.survey, "customer_id", None) or customer_id
    elif weight in ("auto", "default", "rake", "design"):
        weight = None
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError("test_paths: data must be a Study or a DataFrame of responses.")
    return data, paths, weight, strata, cluster, customer_id


def _check_inputs(data, paths, outcomes, customer_id, design_cols: dict) -> str:
    """Check the columns of the responses and the paths table; the paths' customer column."""
    problems = check_columns(
        data,
        {"outcomes": outcomes, "customer_id": customer_id, **design_cols},
        "test_paths",
    )
    key = None
    if not isinstance(paths, pd.DataFrame):
        problems.append(
            Problem(
                "paths must be a DataFrame with customer_id, kind, value",
                fix="build it from the traces (variants and transitions per customer)",
            )
        )
    else:
        key = "customer_id" if "customer_id" in paths.columns else "user_id"
        miss = [c for c in ("kind", "value") if c not in paths.columns]
        if key not in paths.columns or miss:
            problems.append(
                Problem(
                    f"paths lacks column(s) {miss or [key]}",
                    column="paths",
                    fix="paths has columns customer_id (or user_id), kind, value",
                )
            )
    if problems:
        raise AnalysisError("Cannot test satisfaction by path.", problems)
    for k in pd.unique(paths["kind"].dropna()):
        check_one_of("paths kind", k, ("variant", "transition"))
    return key


def _clean_paths(paths: pd.DataFrame, key: str, touchpoints) -> pd.DataFrame:
    """The paths with a text ``customer_id``, a value, and a ``touchpoint`` column."""
    p = paths.rename(columns={key: "customer_id"})
    p = p[p["customer_id"].notna() & p["value"].notna()].copy()
    p["customer_id"] = p["customer_id"].astype("string")
    if "touchpoint" not in p.columns:
        p["touchpoint"] = p["value"].map(dict(touchpoints or {})) if touchpoints else pd.NA
    return p


def _outcome_frame(data, p, outcomes, nps, customer_id, design_cols: dict):
    """The internal frame: outcomes (NPS in points; missing for respondents without a path)
    and design columns; with the outcome columns, the customer ids and who has a path."""
    frame = pd.DataFrame(index=data.index)
    frame[BY] = ""
    cid = data[customer_id].astype("string")
    with_path = cid.isin(set(p["customer_id"])).to_numpy()
    ycols = []
    for i, o in enumerate(outcomes):
        col = f"__o{i}"
        frame[col] = (
            _nps_points(data[o])
            if o in nps
            else pd.to_numeric(data[o], errors="coerce").astype(float)
        )
        frame.loc[~with_path, col] = np.nan
        ycols.append(col)
    for k, name in (("__w", "weight"), ("__s", "strata"), ("__c", "cluster")):
        c = design_cols[name]
        if c is not None:
            frame[k] = (
                pd.to_numeric(data[c]).astype(float).to_numpy()
                if k == "__w"
                else data[c].astype("string").to_numpy()
            )
    return frame, ycols, cid, with_path


def _feature_flags(frame, p, cid, with_path, min_n) -> dict:
    """Add a group/rest flag column to ``frame`` for every path feature taken by at least
    ``min_n`` respondents (and not taken by as many); ``{flag column: feature}``."""
    feats = (
        p.groupby(["kind", "value"], sort=False)
        .agg(n=("customer_id", "nunique"), touchpoint=("touchpoint", "first"))
        .reset_index()
    )
    respondents = set(cid[with_path].dropna())
    flags = {}
    members = {k: set(v) for k, v in p.groupby(["kind", "value"], sort=False)["customer_id"]}
    n_resp = len(respondents)
    for j, f in enumerate(feats.itertuples()):
        who = members[(f.kind, f.value)] & respondents
        if len(who) < min_n or n_resp - len(who) < min_n:
            continue
        name = f"__f{j}"
        frame[name] = np.where(cid.isin(who).to_numpy(), _GROUP, np.where(with_path, _REST, None))
        flags[name] = f
    return flags


def _path_rows(
    frame, ycols, flags, outcomes, nps, design, *, min_n, conf, alpha, power, alternative
):
    """The test rows: each feature's respondents against the others, for every outcome."""
    sample = svy_sample(
        frame.drop(columns=[BY]),
        weight=design.weight,
        strata=design.strata,
        cluster=design.cluster,
        singleton=design.singleton,
    )
    w = frame["__w"].to_numpy() if design.weight is not None else np.ones(len(frame))
    rows = []
    for name, f in flags.items():
        res = group_differences(
            sample,
            frame,
            ycols,
            name,
            w,
            min_n,
            conf,
            alpha,
            power,
            alternative,
            what=f"{f.kind} {f.value!r}",
            design=design,
        )
        for r in res.drop(columns=[BY], errors="ignore").to_dict("records"):
            o = outcomes[ycols.index(r.pop("y"))]
            rows.append(
                {
                    "touchpoint": f.touchpoint,
                    "persona": ALL,
                    "test": f"{f.kind}:{o}",
                    "group": str(f.value),
                    **r,
                    "comparison": f"respondents without this {f.kind}",
                    "method": "design-based Wald t",
                    "effect_measure": "difference in NPS points"
                    if o in nps
                    else f"difference in {o}",
                    "std_measure": "smd",
                }
            )
    out = pd.DataFrame(rows)
    out["source"] = "paths"
    return out


test_paths.__test__ = False  # not a pytest test
