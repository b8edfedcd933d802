"""The satisfaction and NPS cost of each deviation from the designed journey (private).

For every group (persona) and deviation, the surveyed customers with the deviation are
compared with the group's other surveyed customers who have a lived journey, on overall
satisfaction and on NPS points: the kit's design-based difference of domain means
(:func:`parcours_research.friction.survey.group_differences`, as the path tests use it), with
the study's one weighting rule and declared design (strata, clusters; each respondent is a
primary unit otherwise).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["outcome_tests", "TEST_COLUMNS"]

TEST_COLUMNS = [
    "persona",
    "kind",
    "touchpoint",
    "n_with",
    "n_without",
    "sat_with",
    "sat_without",
    "sat_diff",
    "ci_low",
    "ci_high",
    "p_value",
    "nps_diff",
    "nps_ci_low",
    "nps_ci_high",
    "nps_p_value",
]
_PREFIX = {0: "", 1: "nps_"}


def _outcomes(study) -> tuple[list[str], list[str]]:
    """The overall satisfaction and NPS columns of the instrument (``[]`` when absent)."""
    inst = study.instrument
    found = [inst.first("overall"), inst.first("nps")] if inst is not None else [None, None]
    return [c for c in found if c], ["overall", "nps"]


def outcome_tests(study, journeys, devs, group, counts, *, confidence, min_n):
    """``(tests, respondents per group, {"outcomes": ..., "notes": [...]})``; ``tests`` has
    :data:`TEST_COLUMNS` (missing differences when a side has fewer than ``min_n``)."""
    from ._inputs import study_of

    st = study_of(study)
    resp = st.responses
    cid = getattr(st.survey, "customer_id", None) or "customer_id"
    if resp is None or st.instrument is None or cid not in resp.columns:
        why = "no survey responses" if resp is None else f"no {cid!r} column in the responses"
        return _empty(), {}, {"notes": [f"{why}: satisfaction differences not estimated"]}
    overall, nps = [st.instrument.first(r) for r in ("overall", "nps")]
    if not overall and not nps:
        return (
            _empty(),
            {},
            {"notes": ["no overall satisfaction or NPS question: differences not estimated"]},
        )
    frame, design, rgroup, rcid = _frame(study, journeys, group, cid, overall, nps)
    respondents = rgroup[frame["__o"].notna().to_numpy()].value_counts().to_dict()
    flags = _flags(frame, rgroup, rcid, devs, counts, min_n)
    tests = _differences(frame, design, flags, confidence, min_n) if flags else _empty()
    more = {"outcomes": tuple(c for c in (overall, nps) if c)}
    if not overall:
        more["notes"] = ["no overall satisfaction question: only NPS differences"]
    return tests, respondents, more


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float") for c in TEST_COLUMNS})


def _frame(study, journeys, group, cid, overall, nps):
    """The internal frame (outcomes, design columns), the design, each respondent's group
    (missing for respondents without a lived journey) and customer id."""
    from ._inputs import is_evidence
    from .friction._table import BY
    from .friction.paths import _nps_points
    from .friction.survey import Design, survey_design

    # the weighting rule of the evidence given, else the study's default rule
    data, dsg = survey_design(study, study.options.weight if is_evidence(study) else "default")
    gmap = pd.Series(group.to_numpy(), index=journeys["customer_id"].astype(str).to_numpy())
    rcid = data[cid].astype(str).to_numpy()
    rgroup = pd.Series(gmap.reindex(rcid).to_numpy(), index=data.index)
    lived = rgroup.notna().to_numpy()
    frame = pd.DataFrame(index=data.index)
    frame[BY] = ""
    nan = np.full(len(data), np.nan)
    y0 = pd.to_numeric(data[overall], errors="coerce").to_numpy(float) if overall else nan
    y1 = _nps_points(data[nps]) if nps else nan
    frame["__y0"], frame["__y1"] = np.where(lived, y0, np.nan), np.where(lived, y1, np.nan)
    frame["__o"] = np.where(np.isfinite(frame["__y0"]) | np.isfinite(frame["__y1"]), 1.0, np.nan)
    frame["__w"] = pd.to_numeric(data[dsg["weight"]]).astype(float).to_numpy()
    for k, name in (("__s", "strata"), ("__c", "cluster")):
        if dsg[name]:
            frame[k] = data[dsg[name]].astype("string").to_numpy()
    design = Design(
        weight="__w",
        strata="__s" if dsg["strata"] else None,
        cluster="__c" if dsg["cluster"] else None,
        user_strata=bool(dsg["strata"]),
    )
    return frame, design, rgroup, rcid


def _flags(frame, rgroup, rcid, devs, counts, min_n) -> dict:
    """A group/rest column in ``frame`` per deviation with ``min_n`` respondents on each side;
    ``{column: (persona, kind, touchpoint)}``."""
    from .friction.survey import _GROUP, _REST

    answered = frame["__o"].notna().to_numpy()
    # respondents' and deviating customers' ids numbered together: "has the deviation" is a
    # look-up of the respondents' numbers among the deviation's customers' numbers
    ids = np.concatenate(
        [np.asarray(rcid, dtype=object), devs["customer_id"].astype(str).to_numpy(object)]
    )
    codes = pd.factorize(ids)[0]
    rcode, dcode = codes[: len(rcid)], codes[len(rcid) :]
    who = (
        pd.Series(dcode)
        .groupby([devs["kind"].to_numpy(object), devs["touchpoint"].to_numpy(object)], sort=False)
        .indices
    )
    groups = {p: (rgroup == p).to_numpy() & answered for p in counts["persona"].unique()}
    flags, cols = {}, {}
    for j, (p, k, t) in enumerate(
        counts[["persona", "kind", "touchpoint"]].itertuples(index=False)
    ):
        in_p = groups[p]
        mark = np.zeros(len(ids), dtype=bool)
        mark[dcode[who[(k, t)]]] = True
        has = mark[rcode] & in_p
        if has.sum() < min_n or (in_p & ~has).sum() < min_n:
            continue
        cols[f"__f{j}"] = np.where(has, _GROUP, np.where(in_p, _REST, None))
        flags[f"__f{j}"] = (p, k, t)
    for name, values in cols.items():
        frame[name] = values
    return flags


def _differences(frame, design, flags, confidence, min_n) -> pd.DataFrame:
    """One row per flag: the two outcomes' differences (with minus without)."""
    from ._design import svy_sample
    from .friction._table import BY
    from .friction.survey import group_differences

    ycols = ["__y0", "__y1"]
    sample = svy_sample(
        frame.drop(columns=[BY, "__o"]),
        weight=design.weight,
        strata=design.strata,
        cluster=design.cluster,
    )
    w = frame["__w"].to_numpy()
    rows = []
    for name, (p, k, t) in flags.items():
        res = group_differences(
            sample,
            frame,
            ycols,
            name,
            w,
            min_n,
            confidence,
            1 - confidence,
            0.8,
            "two-sided",
            what=f"{k} {t} ({p})",
            design=design,
        )
        row = {"persona": p, "kind": k, "touchpoint": t}
        for r in res.to_dict("records"):
            pre = _PREFIX[ycols.index(r["y"])]
            if pre == "":
                row.update(
                    n_with=r["n"],
                    n_without=r["n_ref"],
                    sat_with=r["estimate"],
                    sat_without=r["reference"],
                )
            row.update(
                {
                    f"{pre or 'sat_'}diff": r["effect_size"],
                    f"{pre}ci_low": r["ci_low"],
                    f"{pre}ci_high": r["ci_high"],
                    f"{pre}p_value": r["p_value"],
                }
            )
            row.setdefault("n_with", r["n"])
            row.setdefault("n_without", r["n_ref"])
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in TEST_COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    return out[TEST_COLUMNS]
