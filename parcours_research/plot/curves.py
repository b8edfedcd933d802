"""Persona journey curves, measured against the target, and the interviews' valence curve."""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from .._compat import deprecated_args
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
    localize,
    nice_limits,
    number,
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
        _check_by(table, by)
        gcol = by or _group_col(table)
        if gcol is None:
            table = table.assign(_group="all")
            gcol = "_group"
        self.gcol = gcol
        self.groups = _selected_groups(table, gcol, groups)
        self.data = table[table[gcol].isin(self.groups)]
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
        self.labels = _point_labels(pts, self.level, j, lang)
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
        self.stages = _stage_spans(pts, j, lang)
        self.colors = group_colors(self.groups, j)
        self.markers = group_markers(self.groups, j)
        self.group_labels = _group_labels(self.groups, group_labels, gcol, j, lang)

    def series(self, group, column: str) -> np.ndarray:
        rows = self.__dict__.setdefault("_rows", {})  # each group's rows, selected once
        if group not in rows:
            rows[group] = self.data[self.data[self.gcol] == group]
        d = rows[group]
        s = pd.Series(
            pd.to_numeric(d[column], errors="coerce").to_numpy(dtype=float),
            index=d["order"].to_numpy(),
        )
        s = s[~s.index.duplicated()]
        return s.reindex(self.points["order"].to_numpy()).to_numpy(dtype=float)


def _check_by(table: pd.DataFrame, by) -> None:
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


def _selected_groups(table: pd.DataFrame, gcol: str, groups) -> list:
    """The groups to draw: ``groups`` (each must have rows), else all, in the table's order."""
    present = list(pd.unique(table[gcol].dropna()))
    if groups is None:
        return present
    unknown = [g for g in groups if g not in present]
    if unknown:
        raise AnalysisError(
            "plot.journey_curves: some groups= are not in the table.",
            [
                Problem(f"{gcol}={g!r} has no row", column=gcol, fix=f"choose among {present}")
                for g in unknown
            ],
        )
    return [g for g in groups]


def _point_labels(pts: pd.DataFrame, level: str, j, lang: str) -> list[str]:
    """Labels of the points: the journey's (touchpoints or stages) in ``lang``, else the
    table's."""
    ids = pts["touchpoint"] if level == "touchpoint" and "touchpoint" in pts else pts.get("stage")
    if j is not None and ids is not None:
        return [j.label(str(i), lang) for i in ids]
    return [str(v) for v in pts["label"]]


def _stage_spans(pts: pd.DataFrame, j, lang: str) -> list[tuple]:
    """``(stage, label, first point, last point)`` for each run of consecutive points of one
    stage."""
    spans = []
    if "stage" not in pts or not pts["stage"].notna().any():
        return spans
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
                spans.append((cur, lab, start, i - 1))
            cur, start = s, i
    return spans


def _group_labels(groups: list, group_labels, gcol: str, j, lang: str) -> dict:
    """Display names of the groups: ``group_labels``, else the journey's persona labels."""
    labels = dict(group_labels or {})
    out = {}
    for g in groups:
        if g in labels:
            out[g] = str(labels[g])
        elif g == "all":
            out[g] = text("all", lang)
        elif j is not None and gcol == "persona":
            out[g] = j.label(str(g), lang)
        else:
            out[g] = str(g)
    return out


def _flagged_rows(friction) -> pd.DataFrame:
    """The rows of a friction table (or triangulation) to mark, most significant first.

    Which rows: ``confirmed`` (a triangulation), else ``friction`` (significant and in the
    worse direction), else ``significant``. Raises when the table cannot say which."""
    if hasattr(friction, "summary") and isinstance(friction.summary, pd.DataFrame):
        friction = friction.summary
    if not isinstance(friction, pd.DataFrame):
        raise AnalysisError(
            "friction= must be a friction table or a triangulation (pr.friction), not "
            f"{type(friction).__name__}."
        )
    flag = next((c for c in ("confirmed", "friction", "significant") if c in friction), None)
    need = [] if "touchpoint" in friction else ["touchpoint"]
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
                    fix="pass a table from pr.friction (touchpoint, persona, significant) "
                    "or pr.friction.triangulate(...)",
                )
                for c in need
            ],
        )
    f = friction[friction[flag].fillna(False).astype(bool)]
    if "p_adj" in f:  # at stage level, the stage's most significant touchpoint is named
        f = f.assign(_p=pd.to_numeric(f["p_adj"], errors="coerce")).sort_values("_p", kind="stable")
    return f


def _friction_points(friction, cur: _Curves) -> list[tuple]:
    """(group, x, row) for each curve point to mark with a friction marker: one per group and
    point, from the rows :func:`_flagged_rows` keeps. The label is read from the curve table
    (:func:`_friction_label`), never from the friction table's effect sizes."""
    if friction is None:
        return []
    f = _flagged_rows(friction)
    if f.empty:
        return []
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
        for g in targets:
            if g in cur.groups and (g, k) not in seen:
                seen.add((g, k))
                out.append((g, pos[k], row))
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


#: Metrics of a curve table drawn as shares (0 to 1): their gaps read in percentage points.
_SHARE_METRICS = ("top2", "csat")
#: Fields a ``friction_format`` may use (``effect``: the gap, as ``effect_format`` called it).
_LABEL_FIELDS = (
    "gap",
    "gap_low",
    "gap_high",
    "estimate",
    "ci_low",
    "ci_high",
    "target",
    "unit",
    "effect",
)


class _LocalFormatter(string.Formatter):
    """``str.format`` writing numbers as ``lang`` does (−, and a decimal comma in French)."""

    def __init__(self, lang: str):
        self.lang = lang

    def format_field(self, value, format_spec):
        s = super().format_field(value, format_spec)
        return localize(s, self.lang) if isinstance(value, float | np.floating) else s


def _label_format(fmt: str | None) -> str | None:
    """The format of the friction labels, checked."""
    if fmt is None:
        return None
    try:
        names = {
            f.split(".")[0].split("[")[0]
            for _, f, _, _ in string.Formatter().parse(fmt)
            if f is not None
        }
    except ValueError as e:
        raise AnalysisError(
            f"plot.journey_curves: friction_format={fmt!r} is malformed ({e}).",
            [Problem("not a str.format string", fix='e.g. friction_format="{gap:+.2f} {unit}"')],
        ) from None
    unknown = sorted(names - set(_LABEL_FIELDS))
    if unknown:
        raise AnalysisError(
            f"plot.journey_curves: friction_format={fmt!r} uses unknown field(s) {unknown}.",
            [
                Problem(
                    f"unknown field {u!r}",
                    column="friction_format",
                    fix=f"use among {list(_LABEL_FIELDS[:-1])}",
                )
                for u in unknown
            ],
        )
    return fmt


def _scale_of(table: pd.DataFrame) -> tuple[str, float, int]:
    """How the curve's numbers read: (kind, factor, decimals). Means (1 to 5, CES) in rating
    points with two decimals; shares (a ``metric`` column saying ``top2`` or ``csat``, drawn 0
    to 1) in percentage points; NPS (−100 to 100) in points without decimals."""
    metric = str(table["metric"].iloc[0]) if "metric" in table else "mean"
    if metric in _SHARE_METRICS:
        return "share", 100.0, 0
    return "points", 1.0, 0 if metric == "nps" else 2


def _point_values(cur: _Curves, g, i: int, factor: float) -> dict:
    """The curve point's numbers on the display scale, from the curve table: ``estimate,
    ci_low, ci_high, target`` and ``gap = estimate - target`` with its interval ``gap_low =
    ci_low - target``, ``gap_high = ci_high - target`` (NaN without a target)."""
    v = {c: float(cur.series(g, c)[i]) * factor for c in ("estimate", "ci_low", "ci_high")}
    v["target"] = float(cur.series(g, "target")[i]) * factor if "target" in cur.data else np.nan
    v["gap"] = v["estimate"] - v["target"]
    v["gap_low"] = v["ci_low"] - v["target"]
    v["gap_high"] = v["ci_high"] - v["target"]
    return v


def _friction_label(v: dict, scale: tuple, lang: str, fmt: str | None) -> str:
    """``−1,31 pt vs cible`` over ``[−1,54 ; −1,09]``: the signed gap to the target, its
    interval on a second line. Without a target: ``2,51 (sans cible)`` over the estimate's
    interval ``[2,28 ; 2,73]``."""
    kind, _, dec = scale
    unit = text("unit_share" if kind == "share" else "unit_points", lang)
    if fmt is not None:
        return _LocalFormatter(lang).format(fmt, **v, unit=unit, effect=v["gap"])
    has_target = bool(np.isfinite(v["target"]))
    if has_target:
        label = text("gap_vs_target", lang, gap=number(v["gap"], lang, dec, sign=True), unit=unit)
        lo, hi = v["gap_low"], v["gap_high"]
    else:
        value = number(v["estimate"], lang, dec)
        value = text("percent", lang, value=value) if kind == "share" else value
        label = text("no_target", lang, value=value)
        lo, hi = v["ci_low"], v["ci_high"]
    if np.isfinite(lo) and np.isfinite(hi):
        low, high = (number(b, lang, dec, sign=has_target) for b in (lo, hi))
        label += "\n" + text("interval", lang, low=low, high=high)
    return label


_LABEL_OFFSET = 28  # points between a friction marker and its label


def _label_on_right(label: str, x: float, n: int, axes_width: float) -> bool:
    """Whether a friction label goes right of point ``x`` (of ``n``): where it fits on axes
    about ``axes_width`` inches wide (its width estimated from its longest line in bold 10
    pt), the right first; else on the side with more room."""
    width = (max(map(len, label.split("\n"))) * 10 * 0.65 + _LABEL_OFFSET + 6) / 72
    slot = axes_width / max(n, 1)
    room_right, room_left = (n - 0.5 - x) * slot, (x + 0.5) * slot
    if width <= room_right:
        return True
    if width <= room_left:
        return False
    return room_right >= room_left


def _annotate_friction(
    ax,
    cur: _Curves,
    items,
    lang: str,
    fmt: str | None,
    draw_group: set,
    scale: tuple,
    axes_width: float,
):
    for g, x, row in items:
        if g not in draw_group:
            continue
        i = int(round(x))
        v = _point_values(cur, g, i, scale[1])
        if not np.isfinite(v["estimate"]):
            continue
        y = float(cur.series(g, "estimate")[i])
        label = _friction_label(v, scale, lang, fmt)
        tp = row.get("touchpoint")
        if cur.level == "stage" and isinstance(tp, str):  # the gap is the stage's: say which
            name = cur.journey.label(tp, lang) if cur.journey is not None else tp
            label += "\n" + text("friction_at", lang, name=name)
        right = _label_on_right(label, x, len(cur.x), axes_width)
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
            xytext=(_LABEL_OFFSET if right else -_LABEL_OFFSET, -6),
            textcoords="offset points",
            ha="left" if right else "right",
            va="center",
            multialignment="left",
            fontsize=10,
            color=FRICTION_COLOR,
            fontweight="bold",
            zorder=7,
            gid=f"friction_label:{g}",
            bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": FRICTION_COLOR, "lw": 1},
            arrowprops={"arrowstyle": "-", "color": FRICTION_COLOR, "lw": 1.2},
        )


def _key(marker: str, ms: float, label: str, **look) -> Line2D:
    """A legend entry that is a marker alone."""
    return Line2D([], [], ls="none", marker=marker, ms=ms, **look, label=label)


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
        handles.append(_key("*", 14, text("moment_of_truth", lang), color="#000000"))
    if has_below:
        handles.append(
            _key("o", 13, text("below_target", lang), mfc="none", mec="#000000", mew=1.6)
        )
    if has_friction:
        handles.append(_key("v", 11, text("friction", lang), color=FRICTION_COLOR))
    handles.extend(extra)
    return fig.legend(
        handles=handles,
        loc="outside right upper",
        frameon=False,
        title=text("persona", lang) if handles_groups else None,
        alignment="left",
    )


@dataclass(frozen=True)
class _Look:
    """What every panel of :func:`journey_curves` draws, decided once."""

    lang: str
    bands: bool
    below_target: bool
    has_target: bool
    has_below: bool
    band: str | None
    level: float
    items: list
    fmt: str | None
    scale: tuple
    ylim: tuple
    rotation: float
    figsize: tuple


def _look(
    table, cur: _Curves, friction, lang, target, bands, below_target, ylim, fmt, rotation, figsize
) -> _Look:
    band = table["band"].iloc[0] if "band" in table else table.attrs.get("band", "pointwise")
    conf = next((c for c in ("confidence", "level_ci") if c in table), None)
    level = float(table[conf].iloc[0]) if conf else float(table.attrs.get("level_ci", 0.95))
    has_below = (
        below_target
        and "below_target" in cur.data
        and bool(cur.data["below_target"].fillna(False).any())
    )
    has_target = bool(target and np.isfinite(cur.target).any())
    if ylim is None:
        vals = list(cur.data["estimate"])
        if bands:
            vals += list(cur.data["ci_low"]) + list(cur.data["ci_high"])
        if has_target:
            vals += list(cur.target)
        ylim = nice_limits(vals, pad=0.1)
    return _Look(
        lang=lang,
        bands=bands,
        below_target=below_target,
        has_target=has_target,
        has_below=has_below,
        band=band if bands else None,
        level=level,
        items=_friction_points(friction, cur),
        fmt=fmt,
        scale=_scale_of(table),
        ylim=tuple(ylim),
        rotation=rotation,
        figsize=tuple(figsize),
    )


def _legend_of(fig, cur: _Curves, look: _Look, groups: bool):
    return _legend(
        fig,
        cur,
        groups,
        look.lang,
        look.band,
        look.level,
        look.has_target,
        look.has_below,
        bool(look.items),
    )


def _draw_facets(cur: _Curves, look: _Look, ncols: int | None):
    """One panel per group, sharing the axes; stage names above the top row."""
    n = len(cur.groups)
    nc = max(1, min(ncols or (2 if n <= 4 else 3), n))
    nr = math.ceil(n / nc)
    fig, axes = plt.subplots(
        nr, nc, figsize=look.figsize, sharex=True, sharey=True, squeeze=False, layout="constrained"
    )
    flat = list(axes.ravel())
    for k, g in enumerate(cur.groups):
        ax, row, last_row = flat[k], k // nc, (k + nc) >= n
        width = 0.78 * look.figsize[0] / nc
        _stage_bands(ax, cur, top_labels=(row == 0), fontsize=9, axes_width=width)
        if look.has_target:
            _draw_target(ax, cur, look.lang)
        _draw_group(ax, cur, g, look.bands, 0.25, look.below_target)
        _annotate_friction(ax, cur, look.items, look.lang, look.fmt, {g}, look.scale, width)
        ax.set_ylim(*look.ylim)
        _x_axis(ax, cur, show_labels=last_row, rotation=look.rotation)
        if last_row and not (row == nr - 1):
            ax.tick_params(axis="x", labelbottom=True)
        ax.set_title(
            cur.group_labels[g], loc="left", fontsize=12, fontweight="bold", color=cur.colors[g]
        )
        if k % nc == 0:
            ax.set_ylabel(text("satisfaction", look.lang))
    for ax in flat[n:]:
        ax.set_visible(False)
    _legend_of(fig, cur, look, groups=False)
    return fig


def _draw_overlay(cur: _Curves, look: _Look):
    """All the groups' curves on one panel."""
    fig, ax = plt.subplots(figsize=look.figsize, layout="constrained")
    width = 0.72 * look.figsize[0]
    _stage_bands(ax, cur, top_labels=True, axes_width=width)
    if look.has_target:
        _draw_target(ax, cur, look.lang)
    alpha = 0.22 if len(cur.groups) <= 2 else 0.14
    for g in cur.groups:
        _draw_group(ax, cur, g, look.bands, alpha, look.below_target)
    _annotate_friction(ax, cur, look.items, look.lang, look.fmt, set(cur.groups), look.scale, width)
    ax.set_ylim(*look.ylim)
    _x_axis(ax, cur, show_labels=True, rotation=look.rotation)
    ax.set_ylabel(text("satisfaction", look.lang))
    _legend_of(fig, cur, look, groups=True)
    return fig


# ---------------------------------------------------------------------------------------------
# public
# ---------------------------------------------------------------------------------------------
@deprecated_args(renamed={"effect_format": "friction_format"})
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
    friction_format: str | None = None,
    rotation: float = 40,
):
    """Draw persona journey curves: measured ("as it is") against the target ("as it should be").

    Parameters
    ----------
    table : DataFrame
        The output of :func:`parcours_research.curves.journey_curves` (``persona`` or the
        ``by`` column, ``order, label, estimate, ci_low, ci_high`` and, when present, ``stage,
        stage_label, touchpoint, moment_of_truth, target, below_target``; a ``metric`` column
        saying ``top2`` or ``csat`` marks a curve of shares, drawn 0 to 1).
    facet : bool, default False
        One panel per persona (sharing axes), or all curves overlaid on one panel.
    friction : DataFrame or Triangulation, optional
        Which points to mark: a friction test table (:mod:`parcours_research.friction`:
        ``touchpoint, persona`` and ``friction`` or ``significant``; its rows flagged) or the
        result of :func:`parcours_research.friction.triangulate` (its ``confirmed`` rows). A
        missing persona marks every curve; ``"all"`` marks a curve of everybody only. The
        label of a marker is read from ``table``, on the curve's own scale: the point's signed
        gap to its target (``estimate - target``) with the point's interval shifted by the
        target (``ci_low - target``, ``ci_high - target``), e.g. "−1,31 pt vs cible [−1,54 ;
        −1,09]" (rating points; percentage points, "pp", for a curve of shares); without a
        target, the estimate with its interval and "sans cible" / "no target". The friction
        tests' effect sizes (a share of low ratings, a conversion...) are on other scales and
        are not drawn. At stage level, a second line names the friction touchpoint.
    journey : Study or JourneyMap, optional
        Labels of touchpoints, stages and personas in ``lang`` (default: the table's labels
        and the persona ids).
    lang : {"fr", "en"}, default "fr"
        Language of the figure's texts (and of its numbers: a decimal comma in French).
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
    friction_format : str, optional
        Text of a friction label instead of the default, a :meth:`str.format` string over the
        point's numbers on the display scale (shares times 100): ``gap, gap_low, gap_high,
        estimate, ci_low, ci_high, target`` (NaN where missing) and ``unit`` ("pt" or "pp");
        numbers are written as ``lang`` writes them. E.g. ``"{gap:+.1f} {unit}"``. Its former
        name ``effect_format=`` is deprecated; its ``{effect}`` is now the gap too (it was the
        friction test's effect size).
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
    fmt = _label_format(friction_format)
    cur = _Curves(table, journey, lang, groups, group_labels, by)
    look = _look(
        table, cur, friction, lang, target, bands, below_target, ylim, fmt, rotation, figsize
    )
    with style():
        fig = _draw_facets(cur, look, ncols) if facet else _draw_overlay(cur, look)
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
        _draw_valence(bottom, cur, valence)
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


def _draw_valence(ax, cur: _Curves, valence: pd.DataFrame | None) -> None:
    """Each group's mean valence per point (marker area growing with the number of excerpts),
    groups side by side, with intervals when ``valence`` has them."""
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
        ax.plot(xs[ok], v[ok], color=c, lw=1.2, alpha=0.6, zorder=2)
        if np.isfinite(lo).any():
            e = np.isfinite(lo) & np.isfinite(hi) & ok
            ax.vlines(xs[e], lo[e], hi[e], color=c, lw=1.4, alpha=0.7, zorder=2)
        sizes = 20 + 14 * np.sqrt(np.nan_to_num(n[ok], nan=0.0))
        ax.scatter(
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
