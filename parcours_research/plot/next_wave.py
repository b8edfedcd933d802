"""Figures of the next wave's plan (:func:`parcours_research.plan.next_wave`) and of the cost
of the frictions (:func:`parcours_research.outcomes.at_stake`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..errors import AnalysisError, Problem
from ._style import FRICTION_COLOR, check_lang, check_table, group_colors, style

__all__ = ["next_wave", "at_stake"]

_TEXT = {
    "fr": {
        "mde_title": "Effet minimal détectable aujourd'hui ({source}) / effet voulu",
        "wave_title": "Prochaine vague : répondants par persona",
        "today": "aujourd'hui",
        "needed": "nécessaires",
        "planned": "prévus (budget)",
        "interviews": "{n} entretiens",
        "interview": "{n} entretien",
        "singular": (0, 1),
        "respondents": "Répondants",
        "stake_title": "Écart de {outcome} des clients ayant rencontré la friction",
        "stake_x": "Écart ajusté (rencontré − autres), intervalle bootstrap",
        "flagged": "signalé après correction",
        "not_flagged": "non signalé",
        "points": " (points de %)",
    },
    "en": {
        "mde_title": "Today's minimum detectable effect ({source}) / wanted effect",
        "wave_title": "Next wave: respondents per persona",
        "today": "today",
        "needed": "needed",
        "planned": "planned (budget)",
        "interviews": "{n} interviews",
        "interview": "{n} interview",
        "singular": (1,),
        "respondents": "Respondents",
        "stake_title": "{outcome} difference of the customers who met the friction",
        "stake_x": "Adjusted difference (met − others), bootstrap interval",
        "flagged": "flagged after correction",
        "not_flagged": "not flagged",
        "points": " (percentage points)",
    },
}
_MATRIX = ["touchpoint", "persona", "source", "mde", "mde_wanted"]
_SUMMARY = ["persona", "respondents_today", "respondents_needed", "respondents", "interviews"]
_STAKE = ["touchpoint", "persona", "estimate", "ci_low", "ci_high", "p_value", "flagged"]


def _mde_panel(ax, matrix, source: str, t: dict) -> None:
    m = matrix[matrix["source"] == source]
    tps = list(dict.fromkeys(m["touchpoint"]))
    personas = list(dict.fromkeys(m["persona"]))
    ratio = (m["mde"] / m["mde_wanted"]).to_numpy(float).reshape(len(tps), len(personas))
    im = ax.imshow(np.clip(ratio, 0, 3), cmap="RdYlGn_r", vmin=0, vmax=2, aspect="auto")
    for i in range(len(tps)):
        for j in range(len(personas)):
            v = ratio[i, j]
            ax.text(
                j,
                i,
                "–" if not np.isfinite(v) else f"{v:.1f}",
                ha="center",
                va="center",
                fontsize=8,
            )
    ax.set_xticks(range(len(personas)), personas, rotation=30, ha="right")
    ax.set_yticks(range(len(tps)), tps)
    ax.set_title(t["mde_title"].format(source=source), fontsize="medium")
    plt.colorbar(im, ax=ax, shrink=0.7)


def _wave_panel(ax, summary, t: dict, journey) -> None:
    personas = list(summary["persona"])
    colors = group_colors(personas, journey)
    x = np.arange(len(personas))
    w = 0.27
    ax.bar(x - w, summary["respondents_today"], w, color="#BBBBBB", label=t["today"])
    ax.bar(
        x,
        summary["respondents_needed"],
        w,
        color="none",
        edgecolor="#333333",
        hatch="//",
        label=t["needed"],
    )
    ax.bar(
        x + w, summary["respondents"], w, color=[colors[p] for p in personas], label=t["planned"]
    )
    for i, r in enumerate(summary.itertuples()):
        ax.annotate(
            t["interview" if r.interviews in t["singular"] else "interviews"].format(
                n=r.interviews
            ),
            (x[i] + w, r.respondents),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.set_xticks(x, personas, rotation=30, ha="right")
    ax.set_ylabel(t["respondents"])
    ax.set_title(t["wave_title"], fontsize="medium")
    ax.legend(fontsize="small")


def next_wave(
    result,
    *,
    source: str = "survey",
    lang: str = "fr",
    journey=None,
    title: str | None = None,
    figsize: tuple[float, float] = (13, 7),
):
    """Draw the plan of the next wave: today's MDE over the wanted one per touchpoint × persona
    (one source; green: reached, red: not), and per persona the respondents today, needed and
    planned within the budget, with the planned interviews.

    Parameters
    ----------
    result : NextWave
        The result of :func:`parcours_research.plan.next_wave`.
    source : {"survey", "traces", "qual"}, default "survey"
        The source of the matrix panel.
    lang : {"fr", "en"}
    journey : Study or JourneyMap, optional
        Gives each persona its colour of every figure of the kit.
    title : str, optional
    figsize : tuple

    Returns
    -------
    Figure
    """
    check_lang(lang)
    if not (hasattr(result, "matrix") and hasattr(result, "summary")):
        raise AnalysisError(
            "pr.plot.next_wave draws the result of pr.plan.next_wave(...).",
            [Problem(f"got {type(result).__name__}", fix="pass the NextWave object")],
        )
    matrix = check_table(
        result.matrix, _MATRIX, "pr.plot.next_wave", "pr.plan.next_wave(...).matrix"
    )
    summary = check_table(
        result.summary, _SUMMARY, "pr.plot.next_wave", "pr.plan.next_wave(...).summary"
    )
    if not (matrix["source"] == source).any():
        raise AnalysisError(
            f"pr.plot.next_wave: no {source!r} rows in the matrix.",
            [Problem("source absent", fix=f"one of {sorted(set(matrix['source']))}")],
        )
    from ._style import journey_of

    t = _TEXT[lang]
    with style():
        fig, (a1, a2) = plt.subplots(1, 2, figsize=figsize, gridspec_kw={"width_ratios": [1.2, 1]})
        _mde_panel(a1, matrix, source, t)
        _wave_panel(a2, summary, t, journey_of(journey))
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def at_stake(
    result,
    *,
    top: int = 20,
    lang: str = "fr",
    journey=None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
):
    """Draw the outcome difference of the customers who met each friction (a forest plot): the
    tested touchpoint × persona cells with the smallest p-values, their adjusted difference and
    bootstrap interval, the flagged ones in the friction colour.

    Parameters
    ----------
    result : AtStake or DataFrame
        The result of :func:`parcours_research.outcomes.at_stake` (or its ``summary``).
    top : int, default 20
        How many cells to draw (the smallest p-values; every flagged cell is drawn).
    lang : {"fr", "en"}
    journey : Study or JourneyMap, optional
    title : str, optional
    figsize : tuple, optional

    Returns
    -------
    Figure
    """
    check_lang(lang)
    table = result.summary if hasattr(result, "summary") else result
    table = check_table(table, _STAKE, "pr.plot.at_stake", "pr.outcomes.at_stake(...).summary")
    shown = table[table["p_value"].notna()]
    if shown.empty:
        raise AnalysisError(
            "pr.plot.at_stake: no tested cell to draw.",
            [Problem("every cell has too few customers", fix="lower min_n= of at_stake")],
        )
    shown = shown.sort_values("p_value").head(max(int(top), int(shown["flagged"].sum())))
    shown = shown.sort_values("estimate").reset_index(drop=True)
    binary = getattr(result, "kind", "binary") == "binary"
    k = 100.0 if binary else 1.0
    from ._style import journey_of

    t = _TEXT[lang]
    colors = group_colors(list(dict.fromkeys(shown["persona"])), journey_of(journey))
    with style():
        fig, ax = plt.subplots(figsize=figsize or (9, 1.2 + 0.35 * len(shown)))
        for i, r in shown.iterrows():
            c = FRICTION_COLOR if r["flagged"] else "#777777"
            ax.plot(
                [k * r["ci_low"], k * r["ci_high"]],
                [i, i],
                color=c,
                linewidth=2 if r["flagged"] else 1,
            )
            ax.plot(
                k * r["estimate"],
                i,
                "o",
                color=colors[r["persona"]],
                markeredgecolor=c,
                markersize=7,
            )
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(
            range(len(shown)),
            [f"{a} / {b}" for a, b in zip(shown["touchpoint"], shown["persona"], strict=True)],
        )
        outcome = getattr(result, "outcome", "outcome")
        ax.set_xlabel(t["stake_x"] + (t["points"] if binary else ""))
        ax.set_title(title or t["stake_title"].format(outcome=outcome))
        ax.plot([], [], color=FRICTION_COLOR, linewidth=2, label=t["flagged"])
        ax.plot([], [], color="#777777", linewidth=1, label=t["not_flagged"])
        ax.legend(loc="lower right", fontsize="small")
        fig.tight_layout()
    return fig
