"""Figures drawn with seaborn, for what it does well: persona × touchpoint heatmaps of the gap to
target, the transition matrix, and the distribution of ratings per persona.

Like every figure of the kit, each takes a tidy table of the analyses and returns a matplotlib
``Figure`` in the kit's style (fonts, persona colours); none computes an estimate: the heatmaps
show the analyses' numbers, and the rating distributions draw the weighted shares of
:func:`parcours_research.satisfaction.answer_shares`.
"""

from __future__ import annotations

from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ._style import check_lang, check_table, group_colors, journey_of, localize, style

__all__ = ["gap_heatmap", "transition_matrix", "rating_distributions"]

_TEXTS = {
    "fr": {"gap_title": "Écart à la cible par persona et point de contact (points de satisfaction)",
           "gap_cbar": "Satisfaction − cible", "persona": "Persona", "touchpoint": "Point de contact",
           "tm_title": "Transitions entre points de contact (part des sorties de chaque ligne)",
           "from": "Depuis", "to": "Vers", "dist_title": "Répartition des notes par persona",
           "score": "Note", "share": "Part pondérée des répondants", "n": "Transitions"},
    "en": {"gap_title": "Gap to target by persona and touchpoint (satisfaction points)",
           "gap_cbar": "Satisfaction − target", "persona": "Persona", "touchpoint": "Touchpoint",
           "tm_title": "Transitions between touchpoints (share of each row's exits)",
           "from": "From", "to": "To", "dist_title": "Distribution of ratings by persona",
           "score": "Score", "share": "Weighted share of respondents", "n": "Transitions"},
}


@contextmanager
def _layout_instead_of_draw(fig):
    """Within this block, drawing ``fig`` only lays it out.

    seaborn's ``heatmap`` draws the whole figure once, to see whether its tick labels overlap
    (it turns them if so). The kit sets the labels and their rotation itself right after, so
    the one lasting effect of that draw is the constrained layout it runs, from which the
    saved figure's layout starts. This runs the same steps of ``Figure.draw`` up to the layout
    (the axes' aspect, then the layout engine) and renders nothing: the files written are
    byte for byte those of the full draw (``tests/test_tracesec_speed.py``), for half the
    figure's time."""

    def layout(*_):
        renderer = fig.canvas.get_renderer()
        artists = getattr(fig, "_get_draw_artists", None)
        if artists is not None:
            artists(renderer)  # as ``Figure.draw``: the axes' aspect first
        engine = fig.get_layout_engine()
        if fig.axes and engine is not None:
            try:
                engine.execute(fig)
            except ValueError:  # as ``Figure.draw``
                pass
        fig.stale = False

    fig.canvas.draw = layout  # what seaborn calls; ``fig.draw`` is then not stale
    try:
        yield
    finally:
        del fig.canvas.draw


def _lang(journey, lang):
    j = journey_of(journey)
    lang = lang or (j.language if j is not None else "fr")
    check_lang(lang)
    return j, lang


def gap_heatmap(curves: pd.DataFrame, *, journey=None, lang: str | None = None,
                figsize: tuple[float, float] = (11, 4.5)):
    """Heatmap of the gap to target (``estimate − target``) per persona (rows) and touchpoint
    (columns, in journey order), diverging around zero; cells of confirmed shortfalls
    (``below_target``) are outlined.

    Parameters
    ----------
    curves : DataFrame
        :func:`parcours_research.curves.journey_curves` at the touchpoint grain (columns
        ``persona, touchpoint, order, gap``; ``below_target`` optional).
    journey : Study or JourneyMap, optional
        For labels and the language.
    """
    import seaborn as sns

    j, lang = _lang(journey, lang)
    check_table(curves, ("persona", "touchpoint", "order", "gap"), "plot.gap_heatmap",
                "pr.curves.journey_curves(study)")
    T = _TEXTS[lang]
    cols = curves.sort_values("order")["touchpoint"].drop_duplicates().tolist()
    rows = [p for p in (j.persona_ids if j is not None else []) if p in set(curves["persona"])]
    rows += [p for p in curves["persona"].drop_duplicates() if p not in rows]
    grid = curves.pivot_table(index="persona", columns="touchpoint", values="gap", aggfunc="first")
    grid = grid.reindex(index=rows, columns=cols)
    label = (lambda x: j.label(x, lang)) if j is not None else str
    lim = float(np.nanmax(np.abs(grid.to_numpy()))) if grid.notna().any().any() else 1.0
    with style():
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        with _layout_instead_of_draw(fig):
            # limits symmetric about 0 centre the diverging map already (seaborn's center=0
            # gives the same pixels, through matplotlib's deprecated Colormap.set_bad)
            sns.heatmap(grid, ax=ax, cmap="RdBu", vmin=-lim, vmax=lim, linewidths=0.5,
                        annot=grid.map(lambda v: "" if pd.isna(v) else localize(f"{v:+.2f}", lang)),
                        fmt="", annot_kws={"fontsize": 7}, cbar_kws={"label": T["gap_cbar"]})
        if "below_target" in curves:
            below = curves.pivot_table(index="persona", columns="touchpoint", values="below_target",
                                       aggfunc="first").reindex(index=rows, columns=cols)
            for r, c in zip(*np.nonzero(below.fillna(False).astype(bool).to_numpy())):
                ax.add_patch(plt.Rectangle((c, r), 1, 1, fill=False, edgecolor="black", lw=2))
        ax.set_xticklabels([label(c) for c in cols], rotation=45, ha="right")
        ax.set_yticklabels([label(r) for r in rows], rotation=0)
        ax.set_xlabel(T["touchpoint"])
        ax.set_ylabel(T["persona"])
        fig.suptitle(T["gap_title"], x=0.01, ha="left", fontweight="bold")
    return fig


def transition_matrix(transitions: pd.DataFrame, *, journey=None, lang: str | None = None,
                      value: str = "share", figsize: tuple[float, float] = (9, 7.5)):
    """The transition matrix: one row per origin, one column per destination, coloured by
    ``value`` (default ``share``: the share of the origin's exits), nodes in journey order.

    Parameters
    ----------
    transitions : DataFrame
        :func:`parcours_research.traces.transitions` (columns ``source, target`` and ``value``).
    """
    import seaborn as sns

    j, lang = _lang(journey, lang)
    check_table(transitions, ("source", "target", value), "plot.transition_matrix",
                "pr.traces.transitions(log, node='touchpoint')")
    T = _TEXTS[lang]
    nodes = pd.unique(pd.concat([transitions["source"], transitions["target"]]).astype(str))
    if j is not None:
        order = {t: i for i, t in enumerate(j.touchpoint_ids)}
        nodes = sorted(nodes, key=lambda n: (order.get(n, len(order)), n))
    grid = transitions.astype({"source": str, "target": str}).pivot_table(
        index="source", columns="target", values=value, aggfunc="sum").reindex(index=nodes, columns=nodes)
    label = (lambda x: j.label(x, lang)) if j is not None else str
    with style():
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        with _layout_instead_of_draw(fig):
            sns.heatmap(grid, ax=ax, cmap="Blues", vmin=0, linewidths=0.3, linecolor="#eeeeee",
                        cbar_kws={"label": T.get(value, value)})
        ax.set_xticklabels([label(n) for n in nodes], rotation=45, ha="right")
        ax.set_yticklabels([label(n) for n in nodes], rotation=0)
        ax.set_xlabel(T["to"])
        ax.set_ylabel(T["from"])
        fig.suptitle(T["tm_title"], x=0.01, ha="left", fontweight="bold")
    return fig


def rating_distributions(shares: pd.DataFrame, *, journey=None, touchpoints=None, lang: str | None = None,
                         figsize: tuple[float, float] = (11, 6)):
    """Weighted distribution of the ratings per persona, one panel per touchpoint (seaborn's
    dodged bars, persona colours of the kit).

    Parameters
    ----------
    shares : DataFrame
        :func:`parcours_research.satisfaction.answer_shares` (``touchpoint, persona, score,
        share``).
    touchpoints : list of str, optional
        The touchpoints to show (default: all, in the table's order; keep it to a few).
    """
    import seaborn as sns

    j, lang = _lang(journey, lang)
    check_table(shares, ("persona", "touchpoint", "score", "share"), "plot.rating_distributions",
                "pr.satisfaction.answer_shares(pr.prepare(study).ratings)")
    T = _TEXTS[lang]
    d = shares if touchpoints is None else shares[shares["touchpoint"].isin(touchpoints)]
    label = (lambda x: j.label(x, lang)) if j is not None else str
    personas = [p for p in (j.persona_ids if j is not None else []) if p in set(d["persona"])]
    personas += [p for p in d["persona"].drop_duplicates() if p not in personas]
    panels = list(d["touchpoint"].drop_duplicates())
    colors = group_colors(personas, j)
    scores = sorted(d["score"].unique())
    ncol = min(4, max(len(panels), 1))
    nrow = -(-len(panels) // ncol) or 1
    with style():
        fig, axes = plt.subplots(nrow, ncol, figsize=figsize, sharey=True, squeeze=False,
                                 layout="constrained")
        for ax, tp in zip(axes.flat, panels):
            sns.barplot(d[d["touchpoint"] == tp], x="score", y="share", hue="persona", order=scores,
                        hue_order=personas, palette=colors, saturation=1, ax=ax, legend=ax is axes.flat[0])
            ax.set_title(label(tp))
            ax.set_xticks(range(len(scores)), [localize(f"{v:g}", lang) for v in scores])
            ax.set_xlabel(T["score"])
            ax.set_ylabel(T["share"])
        for ax in list(axes.flat)[len(panels):]:
            ax.set_visible(False)
        first = axes.flat[0]
        if first.get_legend() is not None:
            handles, names = first.get_legend_handles_labels()
            first.get_legend().remove()
            fig.legend(handles, [label(n) for n in names], title=T["persona"], loc="outside right center")
        fig.suptitle(T["dist_title"], x=0.01, ha="left", fontweight="bold")
    return fig
