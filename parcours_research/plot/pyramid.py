"""The conversion pyramid per persona: each stage's conversion with its interval and target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from ..errors import AnalysisError, Problem
from ._style import TARGET_COLOR, check_lang, check_table, group_colors, journey_of, style, text

__all__ = ["pyramid"]

_PRODUCER = "pr.traces.pyramid(..., by='persona')"
_NEEDED = ("stage", "rate", "ci_low", "ci_high", "target")
_TEXTS = {
    "fr": {
        "title": "Pyramide de conversion par persona",
        "y": "Part des entrants qui atteignent l'étape",
        "target": "Objectif de conversion de l'étape",
        "ci": "IC {level:.0f} % (Clopper–Pearson)",
        "not_traced": "hors traces",
        "no_group": "Sans {by}",
        "caption": "Entrants : personnes ayant atteint l'étape précédente, dans une fenêtre de {w}.",
    },
    "en": {
        "title": "Conversion pyramid by persona",
        "y": "Share of entrants who reach the stage",
        "target": "Stage conversion target",
        "ci": "{level:.0f}% CI (Clopper–Pearson)",
        "not_traced": "not in traces",
        "no_group": "No {by}",
        "caption": "Entrants: persons who reached the previous stage, within a {w} window.",
    },
}


def pyramid(
    table: pd.DataFrame,
    *,
    by: str | None = "persona",
    journey=None,
    lang: str | None = None,
    groups: Sequence | None = None,
    group_labels: Mapping[str, str] | None = None,
    annotate: bool | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (13.33, 7.5),
):
    """Draw the conversion pyramid: per stage, each group's conversion from the previous
    stage (bars), its confidence interval (whiskers) and the stage's target (a black line).

    Parameters
    ----------
    table : DataFrame
        The output of :func:`parcours_research.traces.pyramid`: one row per group and stage
        with ``stage, rate, ci_low, ci_high, target`` (and ``stage_order, label, traced,
        window, confidence``, used when present).
    by : str or None, default "persona"
        The group column (``None`` or absent from the table: one pyramid).
    journey : Study or JourneyMap, optional
        Stage and persona labels in ``lang``.
    lang : {"fr", "en"}, optional
        Default: the journey's language, else French.
    groups, group_labels : optional
        Which groups to draw (default: every group but the persons without one, in the
        table's order; add ``None`` to ``groups`` to draw those) and their display names.
    annotate : bool, optional
        Write each rate above its whisker (default: when there are at most three groups).
    title, figsize
        Title (default in ``lang``; ``""`` for none) and size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Bars carry ``gid`` ``pyramid:<group>``, whiskers ``pyramid_ci:<group>``, the target
        of a stage ``pyramid_target:<stage>`` (one per stage with a target), the mark of a
        stage the traces cannot see ``pyramid_untraced:<stage>``, rate labels
        ``pyramid_label``.
    """
    j = journey_of(journey)
    lang = lang or (j.language if j is not None else "fr")
    check_lang(lang)
    check_table(table, _NEEDED, "plot.pyramid", _PRODUCER)
    d, by_col, present = _prepare(table, by, groups)
    stages = _stages(d)
    names = _group_names(present, by if by_col != "_g" else None, j, lang, group_labels)
    with style():
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        x = np.arange(len(stages), dtype=float)
        width = 0.8 / max(len(present), 1)
        show = annotate if annotate is not None else len(present) <= 3
        _draw_groups(ax, d, by_col, present, names, stages, x, width, show, lang, j)
        _draw_stage_marks(ax, d, stages, x, lang)
        labels = _stage_labels(d, stages, j, lang)
        ax.set_xticks(x)
        ax.set_xticklabels(labels)
        ax.set_xlim(-0.6, len(stages) - 0.4)
        ax.set_ylim(0, 1.1)
        ax.yaxis.set_major_formatter(
            PercentFormatter(1.0, decimals=0, symbol=" %" if lang == "fr" else "%")
        )
        ax.set_ylabel(_TEXTS[lang]["y"])
        ax.set_xlabel(text("stage", lang))
        ax.grid(False, axis="x")
        _legend(fig, ax, d, by if by_col != "_g" else None, lang)
        if title is None:
            title = _TEXTS[lang]["title"]
        if title:
            fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
        if "window" in d and d["window"].notna().any():
            w = str(d["window"].dropna().iloc[0])
            fig.text(0.01, 0.005, _TEXTS[lang]["caption"].format(w=w), fontsize=9, color="#555555")
    return fig


def _prepare(table: pd.DataFrame, by, groups):
    """The table with a group column (``_g`` when there is none), and the groups to draw."""
    d = table.copy()
    if by is None or by not in d.columns:
        d["_g"] = "all"
        by_col = "_g"
    else:
        by_col = by
    d["_key"] = d[by_col].astype(object).where(d[by_col].notna(), None)
    keys = list(dict.fromkeys(d["_key"]))
    present = [g for g in keys if g is not None]  # persons without a group: on request only
    if groups is not None:
        unknown = [g for g in groups if g not in keys]
        if unknown:
            raise AnalysisError(
                "plot.pyramid: some groups= are not in the table.",
                [Problem(f"{by}={g!r} has no row", fix=f"choose among {present}") for g in unknown],
            )
        present = list(groups)
    if d.duplicated(["_key", "stage"]).any():
        raise AnalysisError(
            "plot.pyramid: the table has several rows per stage and group.",
            [Problem("repeated (stage, group) rows", fix="pass a pyramid grouped by one column")],
        )
    return d, by_col, present


def _stages(d: pd.DataFrame) -> list[str]:
    if "stage_order" in d:
        d = d.sort_values("stage_order", kind="stable")
    return d["stage"].drop_duplicates().tolist()


def _group_names(present, by, j, lang, group_labels) -> dict:
    labels = dict(group_labels or {})
    out = {}
    for g in present:
        if g in labels:
            out[g] = str(labels[g])
        elif g is None:
            out[g] = _TEXTS[lang]["no_group"].format(by=by or "")
        elif g == "all" and by is None:
            out[g] = text("all", lang)
        elif j is not None and by == "persona":
            out[g] = j.label(str(g), lang)
        else:
            out[g] = str(g)
    return out


def _stage_labels(d, stages, j, lang) -> list[str]:
    first = d.drop_duplicates("stage").set_index("stage")
    out = []
    for s in stages:
        if j is not None and s in j.stage_ids:
            out.append(j.label(s, lang))
        elif "label" in first and pd.notna(first.loc[s, "label"]):
            out.append(str(first.loc[s, "label"]))
        else:
            out.append(str(s))
    return out


def _draw_groups(ax, d, by_col, present, names, stages, x, width, annotate, lang, j=None) -> None:
    colors = group_colors(present, j)
    for i, g in enumerate(present):
        sub = d[d["_key"].isna()] if g is None else d[d["_key"] == g]
        sub = sub.set_index("stage").reindex(stages)
        v = pd.to_numeric(sub["rate"], errors="coerce").to_numpy(dtype=float)
        lo = pd.to_numeric(sub["ci_low"], errors="coerce").to_numpy(dtype=float)
        hi = pd.to_numeric(sub["ci_high"], errors="coerce").to_numpy(dtype=float)
        xs = x - 0.4 + width * (i + 0.5)
        ok = np.isfinite(v)
        bars = ax.bar(
            xs[ok],
            v[ok],
            width=width * 0.9,
            color=colors[g],
            label=names[g],
            zorder=3,
        )
        for b in bars:
            b.set_gid(f"pyramid:{g}")
        ci = np.isfinite(lo) & np.isfinite(hi) & ok
        err = ax.errorbar(
            xs[ci],
            v[ci],
            yerr=np.vstack([v[ci] - lo[ci], hi[ci] - v[ci]]),
            fmt="none",
            ecolor="#444444",
            elinewidth=1.0,
            capsize=2.5,
            zorder=4,
        )
        for art in err.get_children():
            art.set_gid(f"pyramid_ci:{g}")
        if annotate:
            for xi, vi, hii in zip(xs[ok], v[ok], np.where(ci, hi, v)[ok]):
                ax.annotate(
                    f"{100 * vi:.0f} %" if lang == "fr" else f"{100 * vi:.0f}%",
                    (xi, hii),
                    xytext=(0, 3),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=9,
                    color="#333333",
                    gid="pyramid_label",
                )


def _draw_stage_marks(ax, d, stages, x, lang) -> None:
    """One target line per stage with a target; a note on stages the traces cannot see."""
    per_stage = d.drop_duplicates("stage").set_index("stage")
    for xi, s in zip(x, stages):
        t = pd.to_numeric(pd.Series([per_stage.loc[s, "target"]]), errors="coerce").iloc[0]
        if pd.notna(t):
            ax.hlines(
                float(t),
                xi - 0.44,
                xi + 0.44,
                colors=TARGET_COLOR,
                linewidth=2.2,
                zorder=5,
                gid=f"pyramid_target:{s}",
            )
        traced = d.loc[d["stage"] == s, "traced"] if "traced" in d else pd.Series([True])
        if not traced.astype(bool).any():
            ax.text(
                xi,
                0.04,
                _TEXTS[lang]["not_traced"],
                ha="center",
                va="bottom",
                fontsize=10,
                style="italic",
                color="#666666",
                gid=f"pyramid_untraced:{s}",
            )


def _legend(fig, ax, d, by, lang) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if pd.to_numeric(d["target"], errors="coerce").notna().any():
        handles.append(Line2D([], [], color=TARGET_COLOR, linewidth=2.2))
        labels.append(_TEXTS[lang]["target"])
    level = None
    if "confidence" in d and d["confidence"].notna().any():
        level = 100 * float(d["confidence"].dropna().iloc[0])
    handles.append(Line2D([], [], color="#444444", linewidth=1.0, marker="_", markersize=6))
    labels.append(
        _TEXTS[lang]["ci"].format(level=level) if level else "IC" if lang == "fr" else "CI"
    )
    fig.legend(
        handles,
        labels,
        loc="outside right upper",
        frameon=False,
        title=text("persona", lang) if by == "persona" else by,
        alignment="left",
    )
