"""Designed against lived journeys: each persona's designed map above its most frequent lived
paths, deviations coloured by their satisfaction cost."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import NullLocator

from ..errors import AnalysisError, Problem
from ._style import check_lang, group_colors, journey_of, number, style

__all__ = ["lived_vs_designed"]

_PRODUCER = "pr.journey.conformance(study)"
_PLAIN = "#E8E8E8"  # a visit that follows the design
_UNTESTED = "#BDBDBD"  # a deviation without a satisfaction estimate (hatched)
_CMAP = "RdBu"
_TEXT = {
    "fr": {
        "designed": "Conçu",
        "lived": "vécu",
        "title": "Parcours conçu et parcours vécus",
        "cbar": "Écart de satisfaction globale (avec − sans l'écart)",
        "untested": "écart non estimé",
        "follows": "conforme au parcours conçu",
        "all": "Tous les clients",
        "significant": "significatif après correction",
        "optional": "facultatif",
        "anywhere": "tolérés partout : ",
        "skipped": "sauté",
        "stopped": "arrêt avant",
        "added": "ajouté",
        "out_of_order": "dans le désordre",
        "repeated": "répété",
    },
    "en": {
        "designed": "Designed",
        "lived": "lived",
        "title": "Designed and lived journeys",
        "cbar": "Difference in overall satisfaction (with − without the deviation)",
        "untested": "deviation not estimated",
        "optional": "optional",
        "anywhere": "tolerated anywhere: ",
        "follows": "follows the design",
        "all": "All customers",
        "significant": "significant after correction",
        "skipped": "skipped",
        "stopped": "stopped before",
        "added": "added",
        "out_of_order": "out of order",
        "repeated": "repeated",
    },
}


def _check(result) -> None:
    need = ("summary", "paths", "designs")
    if not all(isinstance(getattr(result, a, None), pd.DataFrame) for a in need):
        raise AnalysisError(
            "lived_vs_designed needs the result of pr.journey.conformance.",
            [Problem(f"got {type(result).__name__}", fix=f"pass {_PRODUCER}")],
        )


def _costs(summary: pd.DataFrame) -> dict:
    """``{(persona, kind, touchpoint): (sat_diff, significant)}``."""
    return {
        (r.persona, r.kind, r.touchpoint): (r.sat_diff, bool(r.significant))
        for r in summary.itertuples(index=False)
    }


def _colour(cost, norm, cmap) -> str:
    if cost is None or not np.isfinite(cost[0]):
        return _UNTESTED
    return mcolors.to_hex(cmap(norm(cost[0])))


def _node(ax, x, y, label, face, *, dashed=False, bold=False) -> None:
    _add_box(
        ax,
        FancyBboxPatch(
            (x - 0.44, y - 0.34),
            0.88,
            0.68,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=face,
            edgecolor="#222222" if bold else "#777777",
            linewidth=2.2 if bold else 0.8,
            linestyle="--" if dashed else "-",
            hatch="///" if face == _UNTESTED else None,
        ),
    )
    dark = np.mean(mcolors.to_rgb(face)) < 0.45
    ax.text(
        x,
        y,
        "\n".join(textwrap.wrap(label, 13)[:2]),
        ha="center",
        va="center",
        fontsize=7,
        color="white" if dark else "black",
    )


def _add_box(ax, patch) -> None:
    """``ax.add_patch(patch)`` without updating the data limits from the patch's path: the
    panels set their limits themselves (:func:`_persona_panel`), so the limits, the drawing
    and the files are the same, and measuring each rounded box's path (most of the figure's
    drawing time) is left out. ``ax.relim()`` still counts the boxes."""
    ax.add_artist(patch)
    patch._set_in_autoscale(True)


def _visit_costs(steps: list[str], devs: Sequence[str], persona, costs) -> list:
    """The cost shown on each visit of a lived path (None: the visit follows the design)."""
    kinds = {}
    for d in devs:
        k, t = d.split(":", 1)
        kinds.setdefault(t, set()).add(k)
    out, seen = [], set()
    for t in steps:
        ks = kinds.get(t, set())
        k = (
            "added"
            if "added" in ks
            else "repeated"
            if "repeated" in ks and t in seen
            else "out_of_order"
            if "out_of_order" in ks and t not in seen
            else None
        )
        out.append(None if k is None else (k, costs.get((persona, k, t), (np.nan, False))))
        seen.add(t)
    return out


def _designed_row(ax, y, persona, designs, costs, norm, cmap, label, t) -> None:
    d = designs[designs["persona"] == persona]
    if d.empty:  # a group that is not a persona (by=None): the default design
        d = designs[designs["design"] == "default"].drop_duplicates(["position", "touchpoint"])
    steps = d[d["position"].notna()].sort_values("position")
    for x, r in enumerate(steps.itertuples(index=False)):
        miss = [costs.get((persona, k, r.touchpoint)) for k in ("skipped", "stopped")]
        miss = [c for c in miss if c is not None and np.isfinite(c[0])]
        worst = min(miss, key=lambda c: c[0]) if miss else None
        face = "white" if worst is None else _colour(worst, norm, cmap)
        _node(
            ax,
            x,
            y,
            label(r.touchpoint),
            face,
            dashed=not r.required,
            bold=bool(worst and worst[1]),
        )
    anywhere = d[d["position"].isna()]["touchpoint"].tolist()
    if anywhere:
        ax.text(
            -0.5,
            y - 0.55,
            t["anywhere"] + ", ".join(label(a) for a in anywhere),
            fontsize=7,
            color="#555555",
            va="top",
        )


def _row_note(devs, persona, costs, label, lang) -> str:
    """The deviations of a lived path, with their estimated differences (``*``: significant)."""
    parts = []
    for d in devs:
        k, tp = d.split(":", 1)
        c = costs.get((persona, k, tp), (np.nan, False))
        text = f"{_TEXT[lang][k]} {label(tp)}"
        if np.isfinite(c[0]):
            colon = " : " if lang == "fr" else ": "
            text += f"{colon}Δ {number(c[0], lang, 2, sign=True)}{'*' if c[1] else ''}"
        parts.append(text)
    return " · ".join(parts)


def _lived_rows(ax, y0, persona, paths, costs, norm, cmap, label, lang, top) -> int:
    rows = paths[paths["persona"] == persona].head(top)
    for i, r in enumerate(rows.itertuples(index=False)):
        y = y0 - i
        steps = str(r.path).split(" > ")
        for x, (tp, c) in enumerate(zip(steps, _visit_costs(steps, r.deviations, persona, costs))):
            face = _PLAIN if c is None else _colour(c[1], norm, cmap)
            _node(ax, x, y, label(tp), face, bold=c is not None and c[1][1])
        ax.text(
            len(steps) - 0.4,
            y,
            _row_note(r.deviations, persona, costs, label, lang),
            fontsize=7,
            va="center",
            color="#444444",
        )
        ax.text(-0.6, y, f"{number(100 * r.share, lang, 0)} %", ha="right", va="center", fontsize=9)
    return len(rows)


def lived_vs_designed(
    result,
    *,
    personas: Sequence[str] | None = None,
    top: int = 4,
    journey=None,
    lang: str = "fr",
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
):
    """Draw each persona's designed journey above its most frequent lived paths.

    The designed map (``to_be:``) is a row of touchpoints in designed order (dashed: optional;
    filled: a required step some customers skip, coloured by what skipping it costs); each
    lived path below it (:attr:`Conformance.paths`, with its share of the persona's
    customers) shows its visits, grey when they follow the design, coloured by the
    deviation's difference in overall satisfaction (``sat_diff``: red lower, blue higher;
    dark grey when not estimated) when they deviate, with a thick outline when the deviation
    is significant after correction. Steps a path misses are named at its end.

    Parameters
    ----------
    result : Conformance
        The result of :func:`parcours_research.journey.conformance`.
    personas : list of str, optional
        Which personas, in order (default: all of the result's).
    top : int, default 4
        Lived paths shown per persona.
    journey : Study or JourneyMap, optional
        For touchpoint and persona labels and persona colours.
    lang : {"fr", "en"}, default "fr"
    title : str, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check(result)
    check_lang(lang)
    jm = journey_of(journey)
    label = (lambda i: jm.label(i, lang)) if jm is not None else str
    personas = list(personas or result.groups["persona"].astype(str))
    costs = _costs(result.summary)
    finite = result.summary["sat_diff"].abs().replace([np.inf], np.nan).dropna()
    lim = max(0.5, float(finite.max()) if len(finite) else 0.5)
    norm, cmap = mcolors.TwoSlopeNorm(0.0, -lim, lim), plt.get_cmap(_CMAP)
    n_rows = [1 + min(top, int((result.paths["persona"] == p).sum())) for p in personas]
    width = max([len(str(p).split(" > ")) for p in result.paths["path"]] + [8]) + 3
    with style():
        fig, axes = plt.subplots(
            len(personas),
            1,
            squeeze=False,
            gridspec_kw={"height_ratios": n_rows},
            layout="constrained",
            figsize=figsize or (13.33, 1.1 + 0.62 * sum(n_rows) + 0.5 * len(personas)),
        )
        pcol = group_colors(personas, jm)
        for ax, p, n in zip(axes[:, 0], personas, n_rows):
            _persona_panel(ax, p, n, result, costs, norm, cmap, label, lang, top, width, pcol[p])
        _colorbar(fig, axes, norm, cmap, lang)
        fig.suptitle(title or _TEXT[lang]["title"])
    return fig


def _persona_panel(ax, p, n, result, costs, norm, cmap, label, lang, top, width, colour) -> None:
    t = _TEXT[lang]
    _designed_row(ax, 0, p, result.designs, costs, norm, cmap, label, t)
    ax.text(-0.6, 0, t["designed"], ha="right", va="center", fontsize=9, fontweight="bold")
    _lived_rows(ax, -1.3, p, result.paths, costs, norm, cmap, label, lang, top)
    ax.set_xlim(-1.6, width)
    ax.set_ylim(-1.3 - (n - 2) - 0.6, 0.6)
    ax.axis("off")
    for axis in (ax.xaxis, ax.yaxis):  # a map, not a chart: no ticks to make (never drawn)
        axis.set_major_locator(NullLocator())
    ax.set_title(
        t["all"] if p == "all" else label(p),
        loc="left",
        color=colour,
        fontsize=12,
        fontweight="bold",
    )


def _colorbar(fig, axes, norm, cmap, lang) -> None:
    from matplotlib.patches import Patch

    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    cb = fig.colorbar(
        sm,
        ax=axes[:, 0].tolist(),
        orientation="horizontal",
        fraction=0.03,
        pad=0.01,
        aspect=50,
        shrink=0.6,
    )
    cb.set_label(_TEXT[lang]["cbar"] + " · * " + _TEXT[lang]["significant"], fontsize=9)
    cb.ax.tick_params(labelsize=8)
    handles = [
        Patch(facecolor=_PLAIN, edgecolor="#777777", label=_TEXT[lang]["follows"]),
        Patch(
            facecolor="white", edgecolor="#777777", linestyle="--", label=_TEXT[lang]["optional"]
        ),
        Patch(facecolor=_UNTESTED, edgecolor="#777777", hatch="///", label=_TEXT[lang]["untested"]),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
