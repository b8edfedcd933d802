"""The conversion funnel per persona."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from ..errors import AnalysisError, Problem, check_one_of
from ._style import check_lang, check_table, group_colors, journey_of, style, text

__all__ = ["funnel"]

_PRODUCER = "pr.traces.funnel(..., by='persona')"


def funnel(
    table: pd.DataFrame,
    *,
    by: str | None = "persona",
    value: str = "rate_from_first",
    journey=None,
    lang: str = "fr",
    groups: Sequence[str] | None = None,
    group_labels: Mapping[str, str] | None = None,
    step_labels: Mapping[str, str] | None = None,
    annotate: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] = (13.33, 7.5),
    rotation: float = 0,
):
    """Draw the conversion funnel per persona: grouped bars, one group of bars per step.

    Parameters
    ----------
    table : DataFrame
        The output of :func:`parcours_research.traces.funnel` with ``by="persona"``: one row
        per step and persona with ``step, step_index, entered, converted, rate_from_first,
        rate_from_previous``.
    by : str or None, default "persona"
        The grouping column (``None`` or absent: one funnel).
    value : {"rate_from_first", "rate_from_previous"}
        Bar height: the share of the first step's converters who reach the step, or the
        step's own conversion.
    journey : Study or JourneyMap, optional
        Persona labels in ``lang``.
    lang : {"fr", "en"}
    groups, group_labels : optional
        Which personas to draw and their display names.
    step_labels : dict, optional
        Display names of the steps (default: the label of the touchpoint an event marks, when
        ``journey`` is given, with the event name; else the step names).
    annotate : bool, default True
        Write the percentage above every bar (when there are at most five groups).
    title, figsize, rotation
        Title (default in ``lang``; ``""`` for none), size in inches, step label rotation.

    Returns
    -------
    matplotlib.figure.Figure
        Bars carry ``gid`` values ``funnel:<group>``; percentage labels ``funnel_label``.
    """
    check_lang(lang)
    check_one_of("value", value, ("rate_from_first", "rate_from_previous"))
    check_table(table, ("step", value), "plot.funnel", _PRODUCER)
    j = journey_of(journey)
    if by is not None and by not in table.columns:
        by = None
    d = table.copy()
    if by is None:
        d["_g"] = "all"
        by_col = "_g"
    else:
        by_col = by
    steps = _steps(d)
    present = _groups(d, by, by_col, j, groups)
    _check_one_row_per_step(d, by, by_col)
    names = _group_names(present, group_labels, j, by, lang)
    slabels = _step_names(steps, step_labels, j, lang)
    with style():
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        x = np.arange(len(steps), dtype=float)
        colors = group_colors(present, j)
        for i, g in enumerate(present):
            v = pd.to_numeric(d[d[by_col] == g].set_index("step")[value], errors="coerce")
            v = v.reindex(steps).to_numpy(dtype=float)
            xs = _draw_bars(ax, x, i, len(present), v, g, colors[g], names[g])
            if annotate and len(present) <= 5:
                _annotate_bars(ax, xs, v, len(present), lang)
        _funnel_axes(fig, ax, x, slabels, value, by, lang, rotation)
        if title is None:
            title = text("funnel_title", lang)
        if title:
            fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    return fig


def _steps(d: pd.DataFrame) -> list:
    """The steps in funnel order."""
    if "step_index" in d:
        return d.sort_values("step_index", kind="stable")["step"].drop_duplicates().tolist()
    return d["step"].drop_duplicates().tolist()


def _groups(d: pd.DataFrame, by, by_col: str, j, groups) -> list:
    """The groups to draw: ``groups`` (each must have rows), else those of the table (in the
    journey's persona order for personas)."""
    present = list(pd.unique(d[by_col].dropna()))
    if j is not None and by == "persona":
        present = [p for p in j.persona_ids if p in present] + [
            p for p in present if p not in j.persona_ids
        ]
    if groups is None:
        return present
    unknown = [g for g in groups if g not in present]
    if unknown:
        raise AnalysisError(
            "plot.funnel: some groups= are not in the table.",
            [Problem(f"{by}={g!r} has no row", fix=f"choose among {present}") for g in unknown],
        )
    return list(groups)


def _check_one_row_per_step(d: pd.DataFrame, by, by_col: str) -> None:
    dup = d.duplicated([by_col, "step"])
    if dup.any():
        raise AnalysisError(
            "plot.funnel: the table has several rows per step and group.",
            [
                Problem(
                    f"{int(dup.sum())} repeated (step, {by or 'group'}) rows",
                    fix="pass a funnel broken down by one column (by='persona')",
                )
            ],
        )


def _group_names(present: list, group_labels, j, by, lang: str) -> dict:
    labels = dict(group_labels or {})
    return {
        g: labels.get(
            g,
            text("all", lang)
            if g == "all"
            else j.label(str(g), lang)
            if (j is not None and by == "persona")
            else str(g),
        )
        for g in present
    }


def _step_names(steps: list, step_labels, j, lang: str) -> list[str]:
    """Display names of the steps: ``step_labels``, else an event that marks a touchpoint shows
    the touchpoint, then the event; else the step name."""
    ev_tp = j.event_touchpoints() if j is not None else {}

    def step_name(s):
        if step_labels and s in step_labels:
            return str(step_labels[s])
        if s in ev_tp:
            return f"{j.label(ev_tp[s], lang)}\n({s})"
        return str(s)

    return [step_name(s) for s in steps]


def _draw_bars(ax, x: np.ndarray, i: int, k: int, v: np.ndarray, g, color, label: str):
    """The bars of group ``g`` (the ``i``-th of ``k``); returns their centres."""
    width = 0.8 / max(k, 1)
    xs = x - 0.4 + width * (i + 0.5)
    bars = ax.bar(
        xs,
        np.nan_to_num(v, nan=0.0),
        width=width * 0.92,
        color=color,
        label=label,
        gid=f"funnel:{g}",
        zorder=3,
    )
    for b in bars:
        b.set_gid(f"funnel:{g}")
    return xs


def _annotate_bars(ax, xs: np.ndarray, v: np.ndarray, k: int, lang: str) -> None:
    """The percentage above every bar with a value."""
    for xi, vi in zip(xs, v):
        if np.isfinite(vi):
            s = f"{100 * vi:.0f} %" if lang == "fr" else f"{100 * vi:.0f}%"
            ax.annotate(
                s,
                (xi, vi),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=9 if k <= 3 else 8,
                color="#333333",
                gid="funnel_label",
            )


def _funnel_axes(fig, ax, x: np.ndarray, slabels: list[str], value: str, by, lang, rotation):
    """Step labels, the percentage axis and the legend."""
    ax.set_xticks(x)
    ax.set_xticklabels(
        slabels, rotation=rotation, ha="right" if rotation else "center", rotation_mode="anchor"
    )
    ax.set_xlim(-0.6, len(slabels) - 0.4)
    ax.set_ylim(0, 1.08)
    ax.yaxis.set_major_formatter(
        PercentFormatter(1.0, decimals=0, symbol=" %" if lang == "fr" else "%")
    )
    ax.set_ylabel(text("funnel_y", lang) if value == "rate_from_first" else "")
    ax.set_xlabel(text("funnel_step", lang))
    ax.grid(False, axis="x")
    fig.legend(
        loc="outside right upper",
        frameon=False,
        title=text("persona", lang) if by == "persona" else by,
        alignment="left",
    )
