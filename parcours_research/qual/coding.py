"""Analyse coded excerpts: code frequencies, the valence curve, the most telling quotes.

All functions take the excerpts table of :func:`~parcours_research.qual.read_excerpts` (one
row per coder x code x excerpt) and return tidy tables. Excerpts coded by two coders count
once: frequencies count distinct excerpts, and the valence of a double-coded excerpt is the
mean of its coders' valences.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from .._compat import deprecated_args
from ..errors import AnalysisError, ParcoursWarning, check_one_of
from ..privacy import Scrubber, pseudonymise

__all__ = ["code_frequencies", "mean_valence", "quotes", "cluster_mean"]


def _need(data: pd.DataFrame, cols: Iterable[str], what: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(
            f"{what} takes the excerpts DataFrame (pr.qual.read_excerpts), not {type(data).__name__}."
        )
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise AnalysisError(
            f"{what}: column(s) {missing} are not in the data; it has {list(data.columns)}."
        )


def _by(by) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _journey_order(frame: pd.DataFrame, journey, cols: Sequence[str]) -> pd.DataFrame:
    """Sort ``frame`` by ``cols``, following the journey order for stage/touchpoint/persona."""
    if frame.empty or not cols:
        return frame.reset_index(drop=True)
    keys = {}
    for c in cols:
        order = None
        if journey is not None and c == "touchpoint":
            order = journey.touchpoint_ids
        elif journey is not None and c == "stage":
            order = journey.stage_ids
        elif journey is not None and c == "persona":
            order = journey.persona_ids
        if order is not None:
            pos = {v: i for i, v in enumerate(order)}
            keys[c] = frame[c].map(
                lambda v, pos=pos: pos.get(v, len(pos)) if not pd.isna(v) else len(pos) + 1
            )
        else:
            keys[c] = frame[c]
    tmp = frame.assign(**{f"_k{i}": keys[c] for i, c in enumerate(cols)})
    tmp = tmp.sort_values([f"_k{i}" for i in range(len(cols))], kind="stable", na_position="last")
    return tmp.drop(columns=[f"_k{i}" for i in range(len(cols))]).reset_index(drop=True)


# ============================================================================ frequencies
@deprecated_args(positional=("by",))
def code_frequencies(
    data: pd.DataFrame, *, by: str | Sequence[str] | None = "touchpoint", journey=None
) -> pd.DataFrame:
    """How often each code was applied, per touchpoint, stage, persona (or any column).

    Parameters
    ----------
    data : DataFrame
        Excerpts (:func:`read_excerpts`).
    by : str or list of str, default "touchpoint"
        Grouping columns (e.g. ``["stage"]``, ``["touchpoint", "persona"]``); ``None`` for the
        whole table. Missing values form their own group (nothing is dropped).
    journey : JourneyMap, optional
        Order stages, touchpoints and personas as in the journey.

    Returns
    -------
    DataFrame
        Columns ``<by>..., code, n_excerpts`` (distinct excerpts with the code; a double-coded
        excerpt counts once), ``n_participants``, ``share`` (of the group's distinct
        excerpts), ``participant_share`` (of the group's participants), most frequent first
        within each group.
    """
    by_cols = _by(by)
    _need(data, ["excerpt_id", "participant", "code", *by_cols], "code_frequencies")
    d = data.drop_duplicates(subset=[*by_cols, "excerpt_id", "code"])
    keys = [*by_cols, "code"]
    grouped = d.groupby(keys, dropna=False, sort=False)
    out = grouped.agg(
        n_excerpts=("excerpt_id", "nunique"), n_participants=("participant", "nunique")
    ).reset_index()
    if by_cols:
        tot = (
            data.groupby(by_cols, dropna=False, sort=False)
            .agg(_ex=("excerpt_id", "nunique"), _pa=("participant", "nunique"))
            .reset_index()
        )
        out = out.merge(tot, on=by_cols, how="left")
    else:
        out["_ex"] = data["excerpt_id"].nunique()
        out["_pa"] = data["participant"].nunique()
    out["share"] = out["n_excerpts"] / out["_ex"]
    out["participant_share"] = out["n_participants"] / out["_pa"]
    out = out.drop(columns=["_ex", "_pa"])
    out = out.sort_values(
        ["n_excerpts", "code"], ascending=[False, True], kind="stable", na_position="last"
    )
    out = _journey_order(out, journey, by_cols)
    return out[[*keys, "n_excerpts", "n_participants", "share", "participant_share"]]


# ============================================================================ valence
@deprecated_args(positional=("confidence",))
def cluster_mean(y, clusters, *, confidence: float = 0.95) -> dict:
    """Mean of ``y`` with a cluster-robust standard error and a t interval.

    ``se^2 = G / (G - 1) * sum_g (sum_{i in g} (y_i - ybar))^2 / n^2`` (the CR1 sandwich of a
    regression on a constant, as Stata's ``regress y, vce(cluster g)``), with ``G - 1``
    degrees of freedom for the interval.

    Returns
    -------
    dict
        ``n, n_clusters, estimate, se, ci_low, ci_high`` (``se`` and the interval are ``NaN``
        with fewer than two clusters).
    """
    y = np.asarray(y, dtype=float)
    g = pd.factorize(pd.Series(clusters).astype("string"), use_na_sentinel=False)[0]
    n = len(y)
    if n == 0:
        return {
            "n": 0,
            "n_clusters": 0,
            "estimate": np.nan,
            "se": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
        }
    G = int(len(np.unique(g)))
    est = float(y.mean())
    if G < 2:
        return {
            "n": n,
            "n_clusters": G,
            "estimate": est,
            "se": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
        }
    totals = np.bincount(g, weights=y - est)
    se = float(np.sqrt(G / (G - 1) * np.sum(totals**2)) / n)
    t = _t_quantile(confidence, G - 1)
    return {
        "n": n,
        "n_clusters": G,
        "estimate": est,
        "se": se,
        "ci_low": est - t * se,
        "ci_high": est + t * se,
    }


def _t_quantile(confidence: float, df: int) -> float:
    """Student's t quantile of a two-sided ``confidence`` interval (scipy.stats is imported
    here, not with the module: reading excerpts, as ``validate`` does, does not need it)."""
    from scipy import stats

    return stats.t.ppf(0.5 + confidence / 2, df)


def _participant_mean(y, clusters, *, confidence: float) -> dict:
    df = pd.DataFrame(
        {"y": np.asarray(y, dtype=float), "g": pd.Series(clusters).astype("string").to_numpy()}
    )
    means = df.groupby("g", dropna=False)["y"].mean().to_numpy()
    G = len(means)
    est = float(means.mean()) if G else np.nan
    if G < 2:
        return {
            "n": len(df),
            "n_clusters": G,
            "estimate": est,
            "se": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
        }
    se = float(means.std(ddof=1) / np.sqrt(G))
    t = _t_quantile(confidence, G - 1)
    return {
        "n": len(df),
        "n_clusters": G,
        "estimate": est,
        "se": se,
        "ci_low": est - t * se,
        "ci_high": est + t * se,
    }


@deprecated_args(positional=("by",))
def mean_valence(
    data: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = "touchpoint",
    cluster: str = "participant",
    weight: str = "excerpt",
    confidence: float = 0.95,
    journey=None,
) -> pd.DataFrame:
    """Mean emotional valence per touchpoint (the qualitative curve), with an interval.

    Excerpts of one participant are not independent, so the interval treats the participant
    (``cluster``) as the sampling unit.

    Parameters
    ----------
    data : DataFrame
        Excerpts with a ``valence`` column; rows without valence are left out.
    by : str or list of str, default "touchpoint"
        E.g. ``["touchpoint", "persona"]`` for persona curves.
    cluster : str, default "participant"
    weight : {"excerpt", "participant"}, default "excerpt"
        ``"excerpt"``: mean over excerpts, cluster-robust standard error (see
        :func:`cluster_mean`). ``"participant"``: mean of the participants' means (each
        participant counts once), standard error of that mean over participants.
    confidence : float, default 0.95
    journey : JourneyMap, optional
        Order rows as the journey, and add the ``stage`` of each touchpoint.

    Returns
    -------
    DataFrame
        Columns ``<by>..., n`` (excerpts), ``n_participants, estimate, se, ci_low, ci_high,
        negative_share, positive_share`` (shares of excerpts with valence < 0 and > 0).
        A double-coded excerpt counts once with its coders' mean valence. Groups with fewer
        than two participants have no interval (``NaN``) and raise a warning.
    """
    check_one_of("weight", weight, ("excerpt", "participant"))
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence={confidence!r} must be between 0 and 1.")
    by_cols = _by(by)
    _need(data, ["excerpt_id", "valence", cluster, *by_cols], "mean_valence")
    d = _excerpt_valence(data, by_cols, cluster)
    groups = d.groupby(by_cols, dropna=False, sort=False) if by_cols else [((), d)]
    fn = cluster_mean if weight == "excerpt" else _participant_mean
    rows = [
        {
            **dict(zip(by_cols, key if isinstance(key, tuple) else (key,))),
            **_valence_row(fn(g["valence"].to_numpy(), g[cluster], confidence=confidence), g),
        }
        for key, g in groups
    ]
    out = pd.DataFrame(rows, columns=[*by_cols, *_VALENCE_COLUMNS])
    thin = out[out["n_participants"] < 2]
    if len(thin):
        warnings.warn(
            f"mean_valence: {len(thin)} group(s) rest on a single participant; no interval for them.",
            ParcoursWarning,
            stacklevel=3,
        )
    if journey is not None and "touchpoint" in by_cols and "stage" not in by_cols:
        stage_of = {t.id: t.stage for t in journey.touchpoints}
        out.insert(
            by_cols.index("touchpoint"), "stage", out["touchpoint"].map(stage_of).astype("string")
        )
    return _journey_order(out, journey, by_cols)


_VALENCE_COLUMNS = [
    "n",
    "n_participants",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "negative_share",
    "positive_share",
]


def _excerpt_valence(data: pd.DataFrame, by_cols: list[str], cluster: str) -> pd.DataFrame:
    """One valence per excerpt within each group: the mean over its coders (and codes)."""
    d = data.dropna(subset=["valence"])
    d = d.assign(valence=pd.to_numeric(d["valence"]).astype(float))
    return (
        d.groupby([*by_cols, "excerpt_id", cluster], dropna=False, sort=False)["valence"]
        .mean()
        .reset_index()
    )


def _valence_row(res: dict, g: pd.DataFrame) -> dict:
    """The columns of one group of :func:`mean_valence` from its mean ``res``."""
    y = g["valence"].to_numpy()
    return {
        "n": res["n"],
        "n_participants": res["n_clusters"],
        "estimate": res["estimate"],
        "se": res["se"],
        "ci_low": res["ci_low"],
        "ci_high": res["ci_high"],
        "negative_share": float(np.mean(y < 0)),
        "positive_share": float(np.mean(y > 0)),
    }


# ============================================================================ quotes
_NAME_LIKE = re.compile(r"^[^\W\d_][\w'’\-]*\.?$")


def _looks_like_name(label: str) -> bool:
    """A participant label written as a person's name ("Marie D.", "Jean Dupont"), not an id."""
    tokens = label.split()
    return bool(tokens) and all(
        _NAME_LIKE.match(t) and t[0].isupper() and not any(c.isdigit() for c in t) for t in tokens
    )


_VALENCE_CHOICES = ("negative", "positive", "neutral", "any")


@deprecated_args(positional=("touchpoint", "persona", "n", "valence"))
def quotes(
    data: pd.DataFrame,
    *,
    touchpoint: str | Sequence[str] | None = None,
    persona: str | Sequence[str] | None = None,
    n: int = 5,
    valence: str | None = "negative",
    code: str | Sequence[str] | None = None,
    min_length: int = 40,
    max_length: int = 400,
    scrub: bool = True,
    names: Iterable[str] = (),
    salt: str | None = None,
) -> pd.DataFrame:
    """The most telling quotes for a touchpoint (and persona), ready to show.

    Ranking, in this order:

    1. **one per participant first**: every participant's best quote comes before anyone's
       second one, so a single talkative participant cannot fill the list;
    2. **strongest valence** in the direction asked (most negative for ``"negative"``,
       most positive for ``"positive"``, largest absolute value for ``"any"``; excerpts
       without valence last);
    3. **length within bounds**: quotes of ``min_length`` to ``max_length`` characters before
       the others, then longer (more context) before shorter;
    4. ``excerpt_id``, so that the order is stable.

    Parameters
    ----------
    data : DataFrame
        Excerpts (:func:`read_excerpts`).
    touchpoint, persona, code : str or list of str, optional
        Filters.
    n : int, default 5
        Number of quotes.
    valence : {"negative", "positive", "neutral", "any"}, default "negative"
    min_length, max_length : int
        Preferred quote length in characters.
    scrub : bool, default True
        Replace e-mails, phone numbers and names with placeholders
        (:func:`parcours_research.privacy.scrub`); the participant labels themselves and
        ``names`` are removed from the text.
    names : iterable of str
        More names to remove (interviewers, staff, the study's list).
    salt : str, optional
        Pseudonymise the ``participant`` column with this study salt
        (:func:`parcours_research.privacy.pseudonymise`).

    Returns
    -------
    DataFrame
        Columns ``rank, participant, persona, touchpoint, code, valence, text, excerpt_id,
        source, coder``; a double-coded excerpt appears once with the mean valence and its
        codes and coders joined by ``"; "``.
    """
    check_one_of("valence", "any" if valence is None else valence, _VALENCE_CHOICES)
    valence = valence or "any"
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise AnalysisError(f"n={n!r} must be a positive integer.")
    _need(data, ["excerpt_id", "participant", "text", "valence"], "quotes")
    d = _quotable(data, touchpoint=touchpoint, persona=persona, code=code)
    if d.empty:
        return pd.DataFrame(columns=["rank", *_QUOTE_COLUMNS])
    d = d.assign(valence=pd.to_numeric(d["valence"]).astype(float))
    agg = _rank_quotes(_per_excerpt(d), valence, min_length, max_length).head(int(n))
    # codes, touchpoints and coders of the chosen excerpts, joined (double coding)
    chosen = d[d["excerpt_id"].isin(agg["excerpt_id"])]
    for col in ("touchpoint", "code", "coder"):
        joined = chosen.groupby("excerpt_id", sort=False, dropna=False)[col].agg(_join)
        agg[col] = agg["excerpt_id"].map(joined)
    out = agg[_QUOTE_COLUMNS].reset_index(drop=True)
    if scrub:
        out["text"] = _scrub_quotes(out["text"], data["participant"], names)
    if salt is not None:
        out["participant"] = pseudonymise(out["participant"].astype("string"), salt)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def _scrub_quotes(text: pd.Series, participants: pd.Series, names: Iterable[str]) -> pd.Series:
    """The quotes without e-mails, phone numbers, names, ``names`` and the participant labels
    written as names."""
    known = [p for p in participants.dropna().astype(str).unique() if _looks_like_name(p)]
    return Scrubber(tuple(known) + tuple(names)).scrub_series(text.astype("string"))


_QUOTE_COLUMNS = [
    "participant",
    "persona",
    "touchpoint",
    "code",
    "valence",
    "text",
    "excerpt_id",
    "source",
    "coder",
]


def _join(s: pd.Series):
    vals = sorted({str(v) for v in s.dropna()})
    return "; ".join(vals) if vals else pd.NA


def _quotable(data: pd.DataFrame, **filters) -> pd.DataFrame:
    """A copy of the excerpts with every column :func:`quotes` shows, keeping the rows whose
    touchpoint, persona and code are among those asked (``None``: any)."""
    d = data.copy()
    for col in ("persona", "touchpoint", "code", "source", "coder"):
        if col not in d.columns:
            d[col] = pd.NA
    for col in ("touchpoint", "persona", "code"):
        want = filters[col]
        if want is not None:
            wanted = [want] if isinstance(want, str) else list(want)
            d = d[d[col].isin(wanted)]
    return d


def _per_excerpt(d: pd.DataFrame) -> pd.DataFrame:
    """One row per excerpt, with the mean valence of its coders."""
    return (
        d.groupby("excerpt_id", sort=False, dropna=False)
        .agg(
            participant=("participant", "first"),
            persona=("persona", "first"),
            valence=("valence", "mean"),
            text=("text", "first"),
            source=("source", "first"),
        )
        .reset_index()
    )


def _rank_quotes(agg: pd.DataFrame, valence: str, min_length: int, max_length: int):
    """The excerpts in the direction asked, in the order of :func:`quotes`' ranking."""
    v = pd.to_numeric(agg["valence"]).astype(float)
    if valence == "negative":
        agg, v = agg[v < 0], v[v < 0]
        strength = -v
    elif valence == "positive":
        agg, v = agg[v > 0], v[v > 0]
        strength = v
    elif valence == "neutral":
        agg, v = agg[v == 0], v[v == 0]
        strength = v * 0
    else:
        strength = v.abs()
    length = agg["text"].astype("string").str.len().astype(float)
    agg = agg.assign(
        _strength=strength.fillna(-np.inf).to_numpy(),
        _in=((length >= min_length) & (length <= max_length)).astype(int).to_numpy(),
        _len=length.to_numpy(),
    )
    agg = agg.sort_values(
        ["_strength", "_in", "_len", "excerpt_id"],
        ascending=[False, False, False, True],
        kind="stable",
    )
    agg["_turn"] = agg.groupby("participant", dropna=False, sort=False).cumcount()
    return agg.sort_values("_turn", kind="stable")
