"""Satisfaction per purpose × channel (:func:`channel_fit`): a channel significantly worse than
the best channel serving the same purpose (:mod:`parcours_research.contact` describes the test).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._contact_counts import ALL, _study_channels
from ._contact_stats import _adjust, compare_with_best
from .errors import AnalysisError, Problem

__all__ = ["channel_fit", "ChannelFit", "FIT_COLUMNS"]


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
            purpose=_map_each(ratings["touchpoint"], st.purposes),
            channel=_map_each(ratings["touchpoint"], chan),
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


def _map_each(values: pd.Series, mapping: dict) -> pd.Series:
    """``values.map(mapping)``, each distinct value mapped once (a rating per respondent and
    touchpoint repeats a few touchpoints many times)."""
    codes, uniques = pd.factorize(values)
    if len(codes) and codes.min() < 0:  # a missing value: as pandas maps it
        return values.map(mapping)
    mapped = pd.Series(uniques, dtype=values.dtype).map(mapping)
    return mapped.take(codes).set_axis(values.index).rename(values.name)


def _purpose_rows(part, grp, purpose, min_n, confidence) -> pd.DataFrame:
    """The channels of one purpose (and persona), compared with the best when there are two."""
    info = _channel_info(part)
    ok = info.index[info["respondents"] >= min_n].tolist()
    base = info.reset_index().assign(__by=grp, purpose=purpose)
    if len(ok) < 2:
        base["verdict"] = np.where(
            base["respondents"] >= min_n, "single channel", "too few respondents"
        )
        return base
    at = pd.Index(ok).get_indexer(part["channel"])  # each rating's channel among ``ok``
    sub = part[at >= 0]
    res = compare_with_best(
        sub["y"],
        sub["w"],
        at[at >= 0],
        cluster=sub["respondent_id"],
        confidence=confidence,
    )
    res["channel"] = ok
    res = res.drop(columns=["group", "n"]).rename(columns={"estimate": "sat"})
    out = base.merge(res, on="channel", how="left")
    out["verdict"] = np.where(out["channel"].isin(ok), None, "too few respondents")
    return out


def _channel_info(part: pd.DataFrame) -> pd.DataFrame:
    """Per channel (sorted): ``respondents`` (distinct), ``ratings``, ``touchpoints`` (their
    sorted names joined by ", "): the named aggregation's table, without its machinery."""
    g = part.groupby("channel", sort=True)
    return pd.concat(
        [
            g["respondent_id"].nunique().rename("respondents"),
            g["y"].size().rename("ratings"),
            g["touchpoint"]
            .agg(lambda t: ", ".join(sorted(set(map(str, t.unique())))))
            .rename("touchpoints"),
        ],
        axis=1,
    )


def _purpose_table(frame: pd.DataFrame, labels: dict) -> pd.DataFrame:
    g = frame.groupby("purpose", sort=True)
    return pd.DataFrame(
        {
            "purpose": list(g.groups),
            "label": [labels.get(p, p) for p in g.groups],
            "channels": [", ".join(sorted(set(map(str, x.unique())))) for _, x in g["channel"]],
            "touchpoints": [
                ", ".join(sorted(set(map(str, x.unique())))) for _, x in g["touchpoint"]
            ],
        }
    )
