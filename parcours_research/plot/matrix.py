"""The importance–performance matrix of touchpoints."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ._labels import place_labels
from ._style import OKABE_ITO, check_lang, check_table, journey_of, nice_limits, style, text

__all__ = ["importance_performance", "QUADRANT_COLORS"]

#: Colour of each quadrant of :func:`parcours_research.satisfaction.importance_performance`.
QUADRANT_COLORS = {
    "fix first": OKABE_ITO["vermillion"],
    "keep up": OKABE_ITO["bluish_green"],
    "possible overkill": OKABE_ITO["sky_blue"],
    "low priority": "#888888",
}
_PRODUCER = "pr.satisfaction.importance_performance"


def importance_performance(
    table: pd.DataFrame,
    *,
    journey=None,
    lang: str = "fr",
    by: str | None = None,
    cut: str | float = "mean",
    intervals: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] = (13.33, 7.5),
    ncols: int | None = None,
):
    """Draw the importance–performance matrix: where each touchpoint stands against its target.

    Parameters
    ----------
    table : DataFrame
        The output of :func:`parcours_research.satisfaction.importance_performance`
        (``touchpoint, importance, performance`` and, when present, ``reference`` (the target,
        or the mean performance), ``importance_low/high, performance_low/high, quadrant``).
    journey : Study or JourneyMap, optional
        Touchpoint labels in ``lang``.
    lang : {"fr", "en"}
    by : str, optional
        A grouping column of the table (e.g. ``"persona"``): one panel per group.
    cut : "mean", "median" or float, default "mean"
        Where importance is "high": the horizontal line (as in the table's computation).
    intervals : bool, default True
        Draw the intervals of importance and performance as error bars.
    title, figsize, ncols
        Title (default in ``lang``; ``""`` for none), size in inches, panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        x: gap to the reference (``performance - reference``), so every touchpoint is read
        against its own target (the vertical line at 0); y: importance. Points are coloured
        by quadrant and labelled without overlaps. Artists carry ``gid`` values
        ``ipa_points``, ``point_label``, ``importance_cut``, ``target_line``.
    """
    check_lang(lang)
    check_table(
        table, ("touchpoint", "importance", "performance"), "plot.importance_performance", _PRODUCER
    )
    if by is not None:
        check_table(table, (by,), "plot.importance_performance", _PRODUCER)
    j = journey_of(journey)
    groups = list(pd.unique(table[by])) if by else [None]
    has_ref = (
        "reference" in table and pd.to_numeric(table["reference"], errors="coerce").notna().any()
    )
    with style():
        n = len(groups)
        nc = ncols or min(n, 2)
        nr = math.ceil(n / nc)
        fig, axes = plt.subplots(nr, nc, figsize=figsize, squeeze=False, layout="constrained")
        flat = list(axes.ravel())
        pending = []
        for k, g in enumerate(groups):
            ax = flat[k]
            d = table if g is None else table[table[by] == g]
            pending.append((ax, *_panel(ax, d, j, lang, cut, intervals, has_ref)))
            if g is not None:
                lab = j.label(str(g), lang) if (j is not None and by == "persona") else str(g)
                ax.set_title(lab, loc="left", fontweight="bold")
        for ax in flat[n:]:
            ax.set_visible(False)
        quads = [
            q for q in QUADRANT_COLORS if "quadrant" in table and (table["quadrant"] == q).any()
        ]
        handles = [
            Line2D(
                [], [], ls="none", marker="o", ms=9, color=QUADRANT_COLORS[q], label=text(q, lang)
            )
            for q in quads
        ]
        if handles:
            fig.legend(handles=handles, loc="outside right upper", frameon=False)
        if title is None:
            title = text("ipa_title", lang)
        if title:
            fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
        # labels are placed once the layout is final, then the layout is frozen
        fig.draw_without_rendering()
        for ax, xs, ys, labels in pending:
            place_labels(ax, xs, ys, labels, fontsize=9)
        fig.set_layout_engine("none")
    return fig


def _panel(ax, d: pd.DataFrame, j, lang, cut, intervals, has_ref):
    imp = _numbers(d["importance"])
    perf = _numbers(d["performance"])
    ref = _numbers(d["reference"]) if has_ref else np.zeros(len(d))
    x = perf - ref if has_ref else perf
    colors = (
        [QUADRANT_COLORS.get(q, "#444444") for q in d["quadrant"]]
        if "quadrant" in d
        else ["#444444"] * len(d)
    )
    if intervals:
        _draw_intervals(ax, d, x, imp, ref if has_ref else 0, colors)
    ax.scatter(x, imp, s=70, c=colors, edgecolor="white", lw=1, zorder=4, gid="ipa_points")
    c = _importance_cut(imp, cut)
    ax.axhline(c, color="#555555", lw=1, ls=(0, (4, 3)), zorder=1, gid="importance_cut")
    x0 = 0.0 if has_ref else float(np.nanmean(perf))
    ax.axvline(x0, color="#555555", lw=1, ls=(0, (4, 3)), zorder=1, gid="target_line")
    xl = nice_limits(list(x) + [x0], pad=0.25)
    yl = nice_limits(list(imp) + [c], pad=0.2)
    span = max(abs(xl[0] - x0), abs(xl[1] - x0))
    ax.set_xlim(x0 - span, x0 + span)
    ax.set_ylim(min(yl[0], 0) if np.nanmin(imp) >= 0 else yl[0], yl[1])
    ax.grid(True, axis="both")
    ax.set_xlabel(text("ipa_x" if has_ref else "ipa_x_noref", lang))
    ax.set_ylabel(text("ipa_y", lang))
    _quadrant_names(ax, lang)
    labels = [j.label(str(t), lang) if j is not None else str(t) for t in d["touchpoint"]]
    ok = np.isfinite(x) & np.isfinite(imp)
    return x[ok], imp[ok], [lab for lab, o in zip(labels, ok) if o]


def _numbers(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)


def _importance_cut(imp: np.ndarray, cut) -> float:
    """Where importance is "high": the mean, the median or a given value."""
    if cut == "mean":
        return float(np.nanmean(imp))
    if cut == "median":
        return float(np.nanmedian(imp))
    return float(cut)


def _draw_intervals(ax, d: pd.DataFrame, x: np.ndarray, imp: np.ndarray, shift, colors) -> None:
    """The performance intervals (shifted by the reference) as horizontal bars and the
    importance intervals as vertical bars, where the table has them."""
    colors = np.array(colors, dtype=object)
    if "performance_low" in d and "performance_high" in d:
        lo = _numbers(d["performance_low"]) - shift
        hi = _numbers(d["performance_high"]) - shift
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.hlines(imp[ok], lo[ok], hi[ok], colors=colors[ok], lw=1.2, alpha=0.5, zorder=2)
    if "importance_low" in d and "importance_high" in d:
        lo = _numbers(d["importance_low"])
        hi = _numbers(d["importance_high"])
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.vlines(x[ok], lo[ok], hi[ok], colors=colors[ok], lw=1.2, alpha=0.5, zorder=2)


def _quadrant_names(ax, lang: str) -> None:
    """The quadrants' names in the corners of the panel."""
    for q, (qx, qy, ha, va) in {
        "fix first": (0.02, 0.98, "left", "top"),
        "keep up": (0.98, 0.98, "right", "top"),
        "possible overkill": (0.98, 0.02, "right", "bottom"),
        "low priority": (0.02, 0.02, "left", "bottom"),
    }.items():
        ax.text(
            qx,
            qy,
            text(q, lang),
            transform=ax.transAxes,
            ha=ha,
            va=va,
            fontsize=11,
            fontweight="bold",
            color=QUADRANT_COLORS[q],
            alpha=0.85,
            zorder=1,
        )
