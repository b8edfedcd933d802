"""Figure of the moments of truth found in the data (:func:`parcours_research.satisfaction.moments_of_truth`):
a touchpoint × persona grid of verdicts with each cell's share of R², and the peak–end test.

Draws the result's tables; computes no statistic.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from ._style import OKABE_ITO, check_lang, check_table, group_colors, journey_of, localize, style

__all__ = ["moments_of_truth"]

#: verdict -> (fill colour, hatch)
VERDICT_STYLE = {
    "confirmed": (OKABE_ITO["bluish_green"], ""),
    "undeclared driver": (OKABE_ITO["orange"], ""),
    "declared, not a driver": ("#D9D9D9", "//"),
    "not a driver": ("#FFFFFF", ""),
    "too few ratings": ("#F2F2F2", ".."),
}
_TEXTS = {
    "fr": {
        "title": "Moments de vérité : déclarés dans study.yml, et ce que disent les données",
        "confirmed": "confirmé",
        "undeclared driver": "moteur non déclaré",
        "declared, not a driver": "déclaré, pas un moteur",
        "not a driver": "pas un moteur",
        "too few ratings": "trop peu de notes",
        "persona": "Persona",
        "cell": "Part du R² de la satisfaction globale dans la case ; ★ déclaré moment de vérité",
        "pe_title": "Pic–fin : au-delà de la note moyenne",
        "worst": "pire note",
        "last": "dernier point de contact",
        "coef": "Effet sur la satisfaction globale\n(points par point de note)",
        "all": "tous",
    },
    "en": {
        "title": "Moments of truth: declared in study.yml, and what the data say",
        "confirmed": "confirmed",
        "undeclared driver": "undeclared driver",
        "declared, not a driver": "declared, not a driver",
        "not a driver": "not a driver",
        "too few ratings": "too few ratings",
        "persona": "Persona",
        "cell": "Share of overall satisfaction's R² in the cell; ★ declared a moment of truth",
        "pe_title": "Peak–end: beyond the mean rating",
        "worst": "worst rating",
        "last": "last touchpoint",
        "coef": "Effect on overall satisfaction\n(points per rating point)",
        "all": "all",
    },
}


def moments_of_truth(
    result, *, journey=None, lang: str | None = None, figsize: tuple[float, float] = (13, 7)
):
    """The verdict grid (touchpoints in journey order × personas) and the peak–end panel.

    Parameters
    ----------
    result : MomentsResult or DataFrame
        :func:`parcours_research.satisfaction.moments_of_truth`, or its ``.summary`` (then
        without the peak–end panel).
    journey : Study or JourneyMap, optional
        Labels, persona colours and the language.
    lang : {"fr", "en"}, optional
    figsize : (float, float)

    Returns
    -------
    matplotlib.figure.Figure
    """
    summary = getattr(result, "summary", result)
    peak = getattr(result, "peak_end", None)
    group = getattr(result, "group", "persona")  # ``by=`` another column: drawn the same way
    summary = summary.rename(columns={group: "persona"})
    peak = None if peak is None else peak.rename(columns={group: "persona"})
    check_table(
        summary,
        ("persona", "touchpoint", "declared", "share", "verdict"),
        "plot.moments_of_truth",
        "pr.satisfaction.moments_of_truth(study)",
    )
    j = journey_of(journey)
    lang = lang or (j.language if j is not None else "fr")
    check_lang(lang)
    T = _TEXTS[lang]
    with style():
        if peak is not None and len(peak):
            fig, (ax, ax2) = plt.subplots(
                1, 2, figsize=figsize, layout="constrained", gridspec_kw={"width_ratios": [2.2, 1]}
            )
            _peak_end_panel(ax2, peak, j, T, lang)
        else:
            fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        _grid(ax, summary, j, T, lang)
        fig.suptitle(T["title"], x=0.01, ha="left", fontweight="bold")
    return fig


def _order(values, known) -> list:
    out = [v for v in known if v in set(values)]
    return out + [v for v in pd.unique(values) if v not in out]


def _percent(v: float, lang: str) -> str:
    """``0.33`` as ``33 %`` (fr, narrow no-break space) or ``33%`` (en)."""
    return localize(f"{v:.0%}", lang).replace("%", "\u202f%" if lang == "fr" else "%")


def _grid(ax, s: pd.DataFrame, j, T: dict, lang: str) -> None:
    label = (lambda x: j.label(x, lang)) if j is not None else str
    personas = _order(s["persona"], j.persona_ids if j is not None else [])
    tps = _order(s["touchpoint"], j.touchpoint_ids if j is not None else [])
    cells = s.set_index(["touchpoint", "persona"])
    for r, tp in enumerate(tps):
        for c, p in enumerate(personas):
            if (tp, p) not in cells.index:
                continue
            row = cells.loc[(tp, p)]
            fill, hatch = VERDICT_STYLE.get(row["verdict"], ("#FFFFFF", ""))
            ax.add_patch(
                plt.Rectangle(
                    (c, r), 1, 1, facecolor=fill, hatch=hatch, edgecolor="#999999", lw=0.6
                )
            )
            if pd.notna(row["share"]):
                ax.text(
                    c + 0.5,
                    r + 0.5,
                    _percent(row["share"], lang),
                    ha="center",
                    va="center",
                    fontsize=8,
                    fontweight="bold"
                    if row["verdict"] in ("confirmed", "undeclared driver")
                    else "normal",
                )
    declared = s.groupby("touchpoint")["declared"].any()
    ax.set_xlim(0, len(personas))
    ax.set_ylim(len(tps), 0)
    ax.set_xticks(
        np.arange(len(personas)) + 0.5, [label(p) for p in personas], rotation=20, ha="right"
    )
    ax.set_yticks(
        np.arange(len(tps)) + 0.5,
        [("★ " if declared.get(t, False) else "") + label(t) for t in tps],
    )
    ax.tick_params(length=0)
    ax.grid(False)
    ax.set_xlabel(T["persona"])
    ax.set_title(T["cell"], fontsize=9, loc="left")
    handles = [
        Patch(facecolor=f, hatch=h, edgecolor="#999999", label=T[v])
        for v, (f, h) in VERDICT_STYLE.items()
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=3,
        fontsize=8,
        frameon=False,
    )


def _peak_end_panel(ax, pe: pd.DataFrame, j, T: dict, lang: str) -> None:
    label = (lambda x: T["all"] if x == "all" else j.label(x, lang)) if j is not None else str
    groups = list(pe["persona"])
    colors = {**group_colors([g for g in groups if g != "all"], j), "all": "#333333"}
    for i, row in enumerate(pe.itertuples()):
        for k, (what, marker) in enumerate((("worst", "o"), ("last", "s"))):
            y = i + (k - 0.5) * 0.3
            est = getattr(row, f"coef_{what}")
            lo, hi = getattr(row, f"{what}_ci_low"), getattr(row, f"{what}_ci_high")
            ax.errorbar(
                est,
                y,
                xerr=[[est - lo], [hi - est]],
                fmt=marker,
                color=colors[row.persona],
                mfc=colors[row.persona] if row.peak_end else "white",
                capsize=3,
            )
    ax.axvline(0, color="#666666", lw=0.8)
    ax.set_yticks(range(len(groups)), [label(g) for g in groups])
    ax.set_ylim(len(groups) - 0.5, -0.5)
    ax.set_xlabel(T["coef"])
    ax.set_title(T["pe_title"], fontsize=10, loc="left")
    ax.legend(
        handles=[
            plt.Line2D([], [], marker="o", ls="", color="#333333", label=T["worst"]),
            plt.Line2D([], [], marker="s", ls="", color="#333333", label=T["last"]),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=2,
        fontsize=8,
        frameon=False,
    )
