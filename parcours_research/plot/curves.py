"""Persona journey curves, measured against the target, and the interviews' valence curve."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from ..errors import AnalysisError, Problem
from ._style import (
    FRICTION_COLOR,
    STAGE_SHADE,
    TARGET_COLOR,
    check_lang,
    check_table,
    group_colors,
    group_markers,
    journey_of,
    nice_limits,
    style,
    text,
)

__all__ = ["journey_curves", "valence_curve"]

_NEEDED = ("estimate", "ci_low", "ci_high", "order", "label")
_PRODUCER = "pr.curves.journey_curves"


# ---------------------------------------------------------------------------------------------
# preparing the table
# ---------------------------------------------------------------------------------------------
def _group_col(table: pd.DataFrame) -> str | None:
    by = table.attrs.get("by")
    if by and by in table.columns:
        return by
    return "persona" if "persona" in table.columns else None


class _Curves:
    """The table in drawing order: points (x positions), groups, labels."""

    def __init__(self, table: pd.DataFrame, journey, lang: str, groups, group_labels, by=None):
        self.table = table
        self.lang = lang
        if by is not None and by not in table.columns:
            raise AnalysisError(
                f"plot: by={by!r} is not a column of the table.",
                [
                    Problem(
                        "unknown grouping column",
                        column=str(by),
                        fix="pass the table's group column",
                    )
                ],
            )
        gcol = by or _group_col(table)
        if gcol is None:
            table = table.assign(_group="all")
            gcol = "_group"
        self.gcol = gcol
        present = list(pd.unique(table[gcol].dropna()))
        if groups is not None:
            unknown = [g for g in groups if g not in present]
            if unknown:
                raise AnalysisError(
                    "plot.journey_curves: some groups= are not in the table.",
                    [
                        Problem(
                            f"{gcol}={g!r} has no row", column=gcol, fix=f"choose among {present}"
                        )
                        for g in unknown
                    ],
                )
            present = [g for g in groups]
        self.groups = present
        self.data = table[table[gcol].isin(present)]
        pts = (
            self.data.sort_values("order", kind="stable")
            .drop_duplicates("order")
            .reset_index(drop=True)
        )
        self.points = pts
        self.x_of = {o: i for i, o in enumerate(pts["order"])}
        self.x = np.arange(len(pts), dtype=float)
        self.level = (
            "stage" if "touchpoint" in pts and pts["touchpoint"].isna().all() else "touchpoint"
        )
        j = journey_of(journey)
        self.journey = j
        ids = (
            pts["touchpoint"]
            if self.level == "touchpoint" and "touchpoint" in pts
            else pts.get("stage")
        )
        if j is not None and ids is not None:
            self.labels = [j.label(str(i), lang) for i in ids]
        else:
            self.labels = [str(v) for v in pts["label"]]
        self.mot = (
            pts["moment_of_truth"].fillna(False).astype(bool).to_numpy()
            if "moment_of_truth" in pts
            else np.zeros(len(pts), bool)
        )
        self.target = (
            pd.to_numeric(pts["target"], errors="coerce").to_numpy(dtype=float)
            if "target" in pts
            else np.full(len(pts), np.nan)
        )
        # stages: spans of consecutive points
        self.stages = []
        if "stage" in pts and pts["stage"].notna().any():
            cur, start = None, 0
            for i, s in enumerate(list(pts["stage"]) + [object()]):
                if i == len(pts) or s != cur:
                    if cur is not None:
                        lab = (
                            j.label(str(cur), lang)
                            if j is not None
                            else str(pts.loc[start, "stage_label"])
                            if "stage_label" in pts
                            else str(cur)
                        )
                        self.stages.append((cur, lab, start, i - 1))
                    cur, start = s, i
        colors = group_colors(self.groups)
        markers = group_markers(self.groups)
        self.colors, self.markers = colors, markers
        labels = dict(group_labels or {})
        self.group_labels = {}
        for g in self.groups:
            if g in labels:
                self.group_labels[g] = str(labels[g])
            elif g == "all":
                self.group_labels[g] = text("all", lang)
            elif j is not None and gcol == "persona":
                self.group_labels[g] = j.label(str(g), lang)
            else:
                self.group_labels[g] = str(g)

    def series(self, group, column: str) -> np.ndarray:
        d = self.data[self.data[self.gcol] == group]
        s = pd.Series(
            pd.to_numeric(d[column], errors="coerce").to_numpy(dtype=float),
            index=d["order"].to_numpy(),
        )
        s = s[~s.index.duplicated()]
        return s.reindex(self.points["order"].to_numpy()).to_numpy(dtype=float)


def _friction_points(friction, cur: _Curves) -> list[tuple]:
    """(group, x, effect, unit, row) for each friction point to mark on the curves.

    Which rows: ``confirmed`` (a triangulation), else ``friction`` (significant and in the
    worse direction), else ``significant``. Which effect: ``effect_size`` (preferring survey
    rows, whose effect is in the curve's units, then the smallest ``p_adj``), else a
    triangulation's ``survey_effect`` / ``traces_effect`` / ``qual_effect``."""
    if friction is None:
        return []
    if hasattr(friction, "summary") and isinstance(friction.summary, pd.DataFrame):
        friction = friction.summary
    if not isinstance(friction, pd.DataFrame):
        raise AnalysisError(
            "friction= must be a friction table or a triangulation (pr.friction), not "
            f"{type(friction).__name__}."
        )
    flag = next((c for c in ("confirmed", "friction", "significant") if c in friction), None)
    effect_cols = [
        c for c in ("effect_size", "survey_effect", "traces_effect", "qual_effect") if c in friction
    ]
    need = [] if "touchpoint" in friction else ["touchpoint"]
    if not effect_cols:
        need.append("effect_size")
    if flag is None:
        need.append("significant")
    if need:
        raise AnalysisError(
            "plot.journey_curves: the friction table lacks column(s) "
            + ", ".join(map(repr, need))
            + ".",
            [
                Problem(
                    f"column {c!r} is missing",
                    column=c,
                    fix="pass a table from pr.friction (touchpoint, persona, effect_size, significant) "
                    "or pr.friction.triangulate(...)",
                )
                for c in need
            ],
        )
    f = friction[friction[flag].fillna(False).astype(bool)].copy()
    if f.empty:
        return []
    if "source" in f and (f["source"] == "survey").any():
        # the survey's effect is in the curve's own units: prefer it where there is one
        f["_pref"] = (f["source"] != "survey").astype(int)
    else:
        f["_pref"] = 0
    if "test" in f:  # against the target first: the comparison the figure shows
        f["_pref"] = 2 * f["_pref"] + (f["test"] != "vs_target").astype(int)
    f["_p"] = pd.to_numeric(f["p_adj"], errors="coerce") if "p_adj" in f else 0.0
    f = f.sort_values(["_pref", "_p"], kind="stable")

    def effect_of(row) -> tuple[float, str]:
        for c in effect_cols:
            v = pd.to_numeric(pd.Series([row[c]]), errors="coerce").iloc[0]
            if pd.notna(v):
                measure = str(row.get("effect_measure", "") or "")
                share = c in ("traces_effect", "qual_effect") or (
                    c == "effect_size" and ("conversion" in measure or "share" in measure)
                )
                if c == "effect_size" and "source" in row and row["source"] in ("traces", "qual"):
                    share = True
                return float(v), "share" if share else "points"
        return float("nan"), "points"

    if cur.level == "touchpoint":
        pos = {tp: cur.x[i] for i, tp in enumerate(cur.points["touchpoint"])}
        key = f["touchpoint"]
    else:
        stage_of = (
            {t.id: t.stage for t in cur.journey.touchpoints} if cur.journey is not None else {}
        )
        pos = {s: cur.x[i] for i, s in enumerate(cur.points["stage"])}
        key = f["stage"] if "stage" in f else f["touchpoint"].map(stage_of)
    out, seen = [], set()
    for (_, row), k in zip(f.iterrows(), key):
        if k not in pos:
            continue
        persona = row.get("persona") if "persona" in f else None
        targets = cur.groups if persona is None or pd.isna(persona) else [persona]
        effect, unit = effect_of(row)
        for g in targets:
            if g in cur.groups and (g, k) not in seen:
                seen.add((g, k))
                out.append((g, pos[k], effect, unit, row))
    return out


# ---------------------------------------------------------------------------------------------
# drawing
# ---------------------------------------------------------------------------------------------
def _stage_bands(
    ax, cur: _Curves, top_labels: bool, fontsize: float = 10, axes_width: float = 9.0
) -> None:
    """Alternating shaded spans for the stages, with the stage names above the axes.

    Names that would not fit their span (estimated from ``axes_width`` in inches) are
    staggered on two lines so that neighbours never overlap."""
    for k, (_, _lab, a, b) in enumerate(cur.stages):
        if k % 2 == 0:
            ax.axvspan(a - 0.5, b + 0.5, color=STAGE_SHADE, zorder=0, lw=0)
        if k > 0:
            ax.axvline(a - 0.5, color="#BBBBBB", lw=0.8, zorder=0.5)
    if top_labels and cur.stages and cur.level == "touchpoint":
        sec = ax.secondary_xaxis("top")
        centres = [(a + b) / 2 for _, _, a, b in cur.stages]
        slot = axes_width / max(len(cur.x), 1)
        char = fontsize * 0.62 / 72
        crowded = any(len(lab) * char > (b - a + 1) * slot * 0.95 for _, lab, a, b in cur.stages)
        labels = [
            f"{lab}\n" if crowded and k % 2 == 1 else lab
            for k, (_, lab, _a, _b) in enumerate(cur.stages)
        ]
        sec.set_xticks(centres)
        sec.set_xticklabels(labels, fontsize=fontsize, color="#444444")
        sec.tick_params(axis="x", length=0, pad=2)
        sec.spines["top"].set_visible(False)
        sec.set_gid("stage_labels")


def _wrap(label: str, width: int) -> str:
    """Break a label on spaces into lines of at most ``width`` characters."""
    words, lines, cur = str(label).split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    if cur:
        lines.append(cur)
    return "\n".join(lines)


def _x_axis(ax, cur: _Curves, show_labels: bool, rotation: float) -> None:
    if cur.level == "stage":
        rotation = 0
    ax.set_xticks(cur.x)
    ax.set_xlim(-0.5, len(cur.x) - 0.5)
    ax.grid(False, axis="x")
    if show_labels:
        ax.set_xticklabels(
            cur.labels,
            rotation=rotation,
            ha="right" if rotation else "center",
            rotation_mode="anchor",
        )
        for tick, mot in zip(ax.get_xticklabels(), cur.mot):
            if mot:
                tick.set_fontweight("bold")
    else:
        ax.tick_params(axis="x", labelbottom=False)
    if cur.mot.any():
        trans = blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(
            cur.x[cur.mot],
            np.zeros(int(cur.mot.sum())),
            ls="none",
            marker="*",
            ms=15,
            color="#000000",
            mec="white",
            mew=0.8,
            transform=trans,
            clip_on=False,
            zorder=6,
            gid="moments_of_truth",
        )


def _draw_target(ax, cur: _Curves, lang: str):
    if np.isfinite(cur.target).any():
        ax.plot(
            cur.x,
            cur.target,
            ls=(0, (5, 3)),
            color=TARGET_COLOR,
            lw=1.8,
            marker="_",
            ms=12,
            zorder=3,
            gid="target",
            label=text("target", lang),
        )


def _draw_group(ax, cur: _Curves, g, bands: bool, alpha: float, below: bool):
    c, m = cur.colors[g], cur.markers[g]
    est = cur.series(g, "estimate")
    if bands:
        lo, hi = cur.series(g, "ci_low"), cur.series(g, "ci_high")
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.fill_between(
            cur.x,
            lo,
            hi,
            where=ok,
            color=c,
            alpha=alpha,
            lw=0,
            zorder=1,
            interpolate=False,
            gid=f"band:{g}",
        )
    ax.plot(
        cur.x,
        est,
        color=c,
        marker=m,
        ms=6.5,
        mec="white",
        mew=0.8,
        zorder=4,
        gid=f"curve:{g}",
        label=cur.group_labels[g],
    )
    if below and "below_target" in cur.data:
        flag = cur.series(g, "below_target") > 0
        if flag.any():
            ax.plot(
                cur.x[flag],
                est[flag],
                ls="none",
                marker="o",
                ms=15,
                mfc="none",
                mec="#000000",
                mew=1.6,
                zorder=5,
                gid=f"below_target:{g}",
            )


def _annotate_friction(ax, cur: _Curves, items, lang: str, fmt: str | None, draw_group: set):
    for g, x, effect, unit, row in items:
        if g not in draw_group:
            continue
        est = cur.series(g, "estimate")
        i = int(round(x))
        y = est[i] if i < len(est) else np.nan
        if not np.isfinite(y):
            continue
        if fmt is None:
            label = (
                f"friction {effect:+.2f} pt"
                if unit == "points"
                else f"friction {100 * effect:+.0f} pp"
            )
        else:
            label = fmt.format(effect=effect, effect_size=effect)
        label = label.replace("-", "−")
        tp = row.get("touchpoint")
        if cur.level == "stage" and isinstance(tp, str):
            name = cur.journey.label(tp, lang) if cur.journey is not None else tp
            label = f"{name}{' : ' if lang == 'fr' else ': '}{label}"
        if lang == "fr":
            label = label.replace(".", ",")
        right = x < len(cur.x) * 0.7
        ax.plot(
            [x],
            [y],
            ls="none",
            marker="v",
            ms=11,
            color=FRICTION_COLOR,
            mec="white",
            mew=0.8,
            zorder=6,
            gid=f"friction:{g}",
        )
        ax.annotate(
            label,
            xy=(x, y),
            xytext=(28 if right else -28, -6),
            textcoords="offset points",
            ha="left" if right else "right",
            va="center",
            fontsize=10,
            color=FRICTION_COLOR,
            fontweight="bold",
            zorder=7,
            gid=f"friction_label:{g}",
            bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": FRICTION_COLOR, "lw": 1},
            arrowprops={"arrowstyle": "-", "color": FRICTION_COLOR, "lw": 1.2},
        )


def _legend(
    fig,
    cur: _Curves,
    handles_groups: bool,
    lang: str,
    band: str | None,
    level: float,
    has_target: bool,
    has_below: bool,
    has_friction: bool,
    extra=(),
):
    handles = []
    if handles_groups:
        for g in cur.groups:
            handles.append(
                Line2D(
                    [],
                    [],
                    color=cur.colors[g],
                    marker=cur.markers[g],
                    mec="white",
                    label=cur.group_labels[g],
                )
            )
    if has_target:
        handles.append(
            Line2D([], [], color=TARGET_COLOR, ls=(0, (5, 3)), lw=1.8, label=text("target", lang))
        )
    if band is not None:
        key = {
            "pointwise": "band_pointwise",
            "simultaneous": "band_simultaneous",
            "bonferroni": "band_bonferroni",
        }.get(band, "band_pointwise")
        handles.append(
            Patch(color="#888888", alpha=0.35, lw=0, label=text(key, lang, level=100 * level))
        )
    if cur.mot.any():
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="*",
                ms=14,
                color="#000000",
                label=text("moment_of_truth", lang),
            )
        )
    if has_below:
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="o",
                ms=13,
                mfc="none",
                mec="#000000",
                mew=1.6,
                label=text("below_target", lang),
            )
        )
    if has_friction:
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="v",
                ms=11,
                color=FRICTION_COLOR,
                label=text("friction", lang),
            )
        )
    handles.extend(extra)
    return fig.legend(
        handles=handles,
        loc="outside right upper",
        frameon=False,
        title=text("persona", lang) if handles_groups else None,
        alignment="left",
    )


# ---------------------------------------------------------------------------------------------
# public
# ---------------------------------------------------------------------------------------------
def journey_curves(
    table: pd.DataFrame,
    *,
    facet: bool = False,
    friction: pd.DataFrame | None = None,
    journey=None,
    lang: str = "fr",
    by: str | None = None,
    groups: Sequence[str] | None = None,
    group_labels: Mapping[str, str] | None = None,
    target: bool = True,
    bands: bool = True,
    below_target: bool = True,
    title: str | None = None,
    ylim: tuple[float, float] | None = None,
    figsize: tuple[float, float] = (13.33, 7.5),
    ncols: int | None = None,
    effect_format: str | None = None,
    rotation: float = 40,
):
    """Draw persona journey curves: measured ("as it is") against the target ("as it should be").

    Parameters
    ----------
    table : DataFrame
        The output of :func:`parcours_research.curves.journey_curves` (``persona`` or the
        ``by`` column, ``order, label, estimate, ci_low, ci_high`` and, when present, ``stage,
        stage_label, touchpoint, moment_of_truth, target, below_target``).
    facet : bool, default False
        One panel per persona (sharing axes), or all curves overlaid on one panel.
    friction : DataFrame or Triangulation, optional
        A friction test table (:mod:`parcours_research.friction`: ``touchpoint, persona,
        effect_size`` and ``friction`` or ``significant``) or the result of
        :func:`parcours_research.friction.triangulate` (its ``confirmed`` rows). The points
        are marked on the persona's curve with their effect size (a survey effect against
        the target first). A missing persona marks every curve; ``"all"`` marks a curve of
        everybody only.
    journey : Study or JourneyMap, optional
        Labels of touchpoints, stages and personas in ``lang`` (default: the table's labels
        and the persona ids).
    lang : {"fr", "en"}, default "fr"
        Language of the figure's texts.
    by : str, optional
        The group column (default: the ``by`` the table was computed with, else
        ``persona``).
    groups : list, optional
        Personas to draw (default: all in the table, in its order).
    group_labels : dict, optional
        Display names of the groups (override the journey's persona labels).
    target, bands, below_target : bool
        Draw the target curve, the confidence bands, and a ring around points whose whole
        band lies below the target.
    title : str, optional
        Figure title; default "Courbes de satisfaction par persona" (or English); ``""`` for
        none.
    ylim : (low, high), optional
        Satisfaction axis limits (default: around the bands and the target).
    figsize : (width, height), default (13.33, 7.5)
        Inches; the default is a 16:9 slide.
    ncols : int, optional
        Panels per row when ``facet`` (default 2 up to four personas, else 3).
    effect_format : str, optional
        Text of a friction annotation, formatted with ``effect``; default ``"friction -1.31
        pt"`` for a difference in rating points, ``"friction -32 pp"`` for a difference in
        conversion or share (percentage points).
    rotation : float, default 40
        Rotation of the touchpoint labels.

    Returns
    -------
    matplotlib.figure.Figure
        Artists carry ``gid`` values for inspection: ``curve:<group>``, ``band:<group>``,
        ``target``, ``moments_of_truth``, ``below_target:<group>``, ``friction:<group>``,
        ``friction_label:<group>``. Save it with :func:`parcours_research.plot.save`.
    """
    check_lang(lang)
    check_table(table, _NEEDED, "plot.journey_curves", _PRODUCER)
    cur = _Curves(table, journey, lang, groups, group_labels, by)
    band = table["band"].iloc[0] if "band" in table else table.attrs.get("band", "pointwise")
    level = (
        float(table["level_ci"].iloc[0])
        if "level_ci" in table
        else float(table.attrs.get("level_ci", 0.95))
    )
    items = _friction_points(friction, cur)
    fmt = effect_format
    has_below = (
        below_target
        and "below_target" in cur.data
        and bool(cur.data["below_target"].fillna(False).any())
    )
    has_target = target and np.isfinite(cur.target).any()

    if ylim is None:
        vals = list(cur.data["estimate"])
        if bands:
            vals += list(cur.data["ci_low"]) + list(cur.data["ci_high"])
        if has_target:
            vals += list(cur.target)
        ylim = nice_limits(vals, pad=0.1)

    with style():
        if facet:
            n = len(cur.groups)
            nc = ncols or (2 if n <= 4 else 3)
            nc = max(1, min(nc, n))
            nr = math.ceil(n / nc)
            fig, axes = plt.subplots(
                nr,
                nc,
                figsize=figsize,
                sharex=True,
                sharey=True,
                squeeze=False,
                layout="constrained",
            )
            flat = list(axes.ravel())
            for k, g in enumerate(cur.groups):
                ax = flat[k]
                row = k // nc
                last_row = (k + nc) >= n
                _stage_bands(
                    ax, cur, top_labels=(row == 0), fontsize=9, axes_width=0.78 * figsize[0] / nc
                )
                if has_target:
                    _draw_target(ax, cur, lang)
                _draw_group(ax, cur, g, bands, 0.25, below_target)
                _annotate_friction(ax, cur, items, lang, fmt, {g})
                ax.set_ylim(*ylim)
                _x_axis(ax, cur, show_labels=last_row, rotation=rotation)
                if last_row and not (row == nr - 1):
                    ax.tick_params(axis="x", labelbottom=True)
                ax.set_title(
                    cur.group_labels[g],
                    loc="left",
                    fontsize=12,
                    fontweight="bold",
                    color=cur.colors[g],
                )
                if k % nc == 0:
                    ax.set_ylabel(text("satisfaction", lang))
            for ax in flat[n:]:
                ax.set_visible(False)
            _legend(
                fig,
                cur,
                False,
                lang,
                band if bands else None,
                level,
                has_target,
                has_below,
                bool(items),
            )
        else:
            fig, ax = plt.subplots(figsize=figsize, layout="constrained")
            _stage_bands(ax, cur, top_labels=True, axes_width=0.72 * figsize[0])
            if has_target:
                _draw_target(ax, cur, lang)
            alpha = 0.22 if len(cur.groups) <= 2 else 0.14
            for g in cur.groups:
                _draw_group(ax, cur, g, bands, alpha, below_target)
            _annotate_friction(ax, cur, items, lang, fmt, set(cur.groups))
            ax.set_ylim(*ylim)
            _x_axis(ax, cur, show_labels=True, rotation=rotation)
            ax.set_ylabel(text("satisfaction", lang))
            _legend(
                fig,
                cur,
                True,
                lang,
                band if bands else None,
                level,
                has_target,
                has_below,
                bool(items),
            )
        if title is None:
            title = text("curves_title", lang)
        if title:
            fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    return fig


def valence_curve(
    table: pd.DataFrame,
    valence: pd.DataFrame | None = None,
    *,
    journey=None,
    lang: str = "fr",
    by: str | None = None,
    groups: Sequence[str] | None = None,
    group_labels: Mapping[str, str] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (13.33, 7.5),
    rotation: float = 40,
):
    """The interviews' valence curve under the survey curve, on the same journey axis.

    Parameters
    ----------
    table : DataFrame
        :func:`parcours_research.curves.journey_curves` output (its ``valence`` and
        ``n_excerpts`` columns give the lower panel unless ``valence`` is given).
    valence : DataFrame, optional
        A :func:`parcours_research.qual.mean_valence` table by ``["touchpoint", "persona"]``
        (``estimate, ci_low, ci_high, n``): draws intervals on the valence points.
    journey, lang, by, groups, group_labels, title, figsize, rotation
        As in :func:`journey_curves`.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels sharing the x axis: survey satisfaction with its bands and the target
        (top), mean valence of the excerpts with marker area growing with their number
        (bottom). Artists carry ``gid`` values ``curve:<group>``, ``band:<group>``,
        ``valence:<group>``.
    """
    check_lang(lang)
    check_table(table, _NEEDED, "plot.valence_curve", _PRODUCER)
    cur = _Curves(table, journey, lang, groups, group_labels, by)
    if valence is not None:
        check_table(valence, ("estimate",), "plot.valence_curve", "pr.qual.mean_valence")
    band = table["band"].iloc[0] if "band" in table else "pointwise"
    level = float(table["level_ci"].iloc[0]) if "level_ci" in table else 0.95
    has_target = np.isfinite(cur.target).any()
    with style():
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=figsize, sharex=True, layout="constrained", height_ratios=[1.25, 1]
        )
        _stage_bands(top, cur, top_labels=True, axes_width=0.72 * figsize[0])
        _stage_bands(bottom, cur, top_labels=False)
        if has_target:
            _draw_target(top, cur, lang)
        alpha = 0.22 if len(cur.groups) <= 2 else 0.14
        for g in cur.groups:
            _draw_group(top, cur, g, True, alpha, False)
        vals = (
            list(cur.data["estimate"])
            + list(cur.data["ci_low"])
            + list(cur.data["ci_high"])
            + list(cur.target)
        )
        top.set_ylim(*nice_limits(vals, pad=0.1))
        top.set_ylabel(_wrap(text("satisfaction", lang), 22))
        top.set_title(text("survey", lang), loc="left", fontsize=12, fontweight="bold")
        _x_axis(top, cur, show_labels=False, rotation=rotation)
        bottom.axhline(0, color="#888888", lw=1, zorder=1)
        offsets = np.linspace(-0.12, 0.12, len(cur.groups)) if len(cur.groups) > 1 else [0.0]
        for off, g in zip(offsets, cur.groups):
            c, m = cur.colors[g], cur.markers[g]
            if valence is not None:
                v, lo, hi, n = _valence_from_table(valence, cur, g)
            else:
                v = cur.series(g, "valence")
                lo = hi = np.full(len(v), np.nan)
                n = (
                    cur.series(g, "n_excerpts")
                    if "n_excerpts" in cur.data
                    else np.where(np.isfinite(v), 3, 0)
                )
            ok = np.isfinite(v)
            xs = cur.x + off
            bottom.plot(xs[ok], v[ok], color=c, lw=1.2, alpha=0.6, zorder=2)
            if np.isfinite(lo).any():
                e = np.isfinite(lo) & np.isfinite(hi) & ok
                bottom.vlines(xs[e], lo[e], hi[e], color=c, lw=1.4, alpha=0.7, zorder=2)
            sizes = 20 + 14 * np.sqrt(np.nan_to_num(n[ok], nan=0.0))
            bottom.scatter(
                xs[ok],
                v[ok],
                s=sizes,
                color=c,
                marker=m,
                edgecolor="white",
                lw=0.8,
                zorder=4,
                gid=f"valence:{g}",
            )
        bottom.set_ylim(-2.2, 2.2)
        bottom.set_yticks([-2, -1, 0, 1, 2])
        bottom.set_ylabel(_wrap(text("valence", lang), 22))
        bottom.set_title(text("interviews", lang), loc="left", fontsize=12, fontweight="bold")
        _x_axis(bottom, cur, show_labels=True, rotation=rotation)
        _legend(fig, cur, True, lang, band, level, has_target, False, False)
        if title is None:
            title = text("valence_title", lang)
        if title:
            fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    return fig


def _valence_from_table(valence: pd.DataFrame, cur: _Curves, g):
    v = valence
    if cur.gcol in v.columns:
        v = v[v[cur.gcol] == g]
    key = "touchpoint" if cur.level == "touchpoint" else "stage"
    if key not in v.columns:
        raise AnalysisError(f"plot.valence_curve: the valence table needs a {key!r} column.")
    ids = cur.points[key].to_numpy()
    v = v.drop_duplicates(key).set_index(key)

    def col(name, default=np.nan):
        if name not in v.columns:
            return np.full(len(ids), default)
        return pd.to_numeric(v[name], errors="coerce").reindex(ids).to_numpy(dtype=float)

    return col("estimate"), col("ci_low"), col("ci_high"), col("n", 3.0)
