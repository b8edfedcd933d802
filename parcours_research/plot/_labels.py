"""Placing point labels without overlaps (a small deterministic greedy search), and labels
from study files made safe to draw (:func:`plain`)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np
from matplotlib.text import Text

__all__ = ["place_labels", "plain", "plain_journey", "plain_figure"]

_DOLLAR = re.compile(r"(?<!\\)\$")


def plain(text) -> str:
    """``text`` drawn as written: every ``$`` not already escaped becomes ``\\$``.

    Matplotlib reads text between two ``$`` as a formula (mathtext); a label such as
    ``"Offre $5$ / mois"`` or ``"$\\frac"`` would be typeset or crash the figure. Labels come
    from study files, so none is a formula. Idempotent (an escaped ``$`` stays as it is).
    """
    return _DOLLAR.sub(r"\\$", str(text))


def plain_journey(journey):
    """A copy of a :class:`~parcours_research.journey.JourneyMap` whose stage, touchpoint and
    persona labels are :func:`plain` (the journey itself when no label holds a ``$``)."""
    groups = ("stages", "touchpoints", "personas")
    items = [it for g in groups for it in getattr(journey, g)]
    if not any("$" in it.label.fr or "$" in it.label.en for it in items):
        return journey

    def esc(it):
        lab = dataclasses.replace(it.label, fr=plain(it.label.fr), en=plain(it.label.en))
        return dataclasses.replace(it, label=lab)

    return dataclasses.replace(
        journey, **{g: tuple(esc(it) for it in getattr(journey, g)) for g in groups}
    )


#: Candidate offsets in points (dx, dy, ha, va), tried in this order.
_CANDIDATES = [
    (7, 5, "left", "bottom"),
    (7, -5, "left", "top"),
    (-7, 5, "right", "bottom"),
    (-7, -5, "right", "top"),
    (0, 9, "center", "bottom"),
    (0, -9, "center", "top"),
    (14, 14, "left", "bottom"),
    (14, -14, "left", "top"),
    (-14, 14, "right", "bottom"),
    (-14, -14, "right", "top"),
    (0, 20, "center", "bottom"),
    (0, -20, "center", "top"),
    (24, 0, "left", "center"),
    (-24, 0, "right", "center"),
]
# farther positions, reached by a thin leader line: rings of 8 directions
for _r in (30, 45, 62, 80, 100):
    for _a in (30, -30, 150, -150, 90, -90, 0, 180):
        _dx, _dy = _r * np.cos(np.radians(_a)), _r * np.sin(np.radians(_a))
        _ha = "left" if _dx > 1 else "right" if _dx < -1 else "center"
        _va = "bottom" if _dy > 1 else "top" if _dy < -1 else "center"
        _CANDIDATES.append((round(float(_dx), 1), round(float(_dy), 1), _ha, _va))
_LEADER = 26  # offsets farther than this (points) get a leader line


def plain_figure(fig) -> None:
    """Show every text of ``fig`` as written (:func:`plain`): titles, legends, annotations and
    tick labels, including those the axis formats again at each draw."""
    from matplotlib.axes import Axes
    from matplotlib.category import StrCategoryFormatter
    from matplotlib.ticker import FixedFormatter, FuncFormatter

    for t in fig.findobj(Text):
        if "$" in t.get_text():
            t.set_text(plain(t.get_text()))
    for ax in fig.findobj(Axes):
        for axis in ax._axis_map.values():
            for get, put in (
                (axis.get_major_formatter, axis.set_major_formatter),
                (axis.get_minor_formatter, axis.set_minor_formatter),
            ):
                fmt = get()
                if isinstance(fmt, FixedFormatter):
                    fmt.seq = [plain(v) for v in fmt.seq]
                elif isinstance(fmt, StrCategoryFormatter | FuncFormatter) and not getattr(
                    fmt, "_plain", False
                ):  # labels made from data at each draw (numbers' formatters are left alone)
                    wrapped = FuncFormatter(lambda x, pos=None, f=fmt: plain(f(x, pos)))
                    wrapped._plain = True
                    put(wrapped)


def _overlaps(box, boxes) -> bool:
    for b in boxes:
        if box.x0 < b.x1 and box.x1 > b.x0 and box.y0 < b.y1 and box.y1 > b.y0:
            return True
    return False


def place_labels(
    ax,
    x: Sequence[float],
    y: Sequence[float],
    labels: Sequence[str],
    *,
    fontsize: float = 9,
    color="#222222",
    point_radius: float = 6.0,
    gid: str = "point_label",
):
    """Annotate points ``(x, y)`` with ``labels``, each at the first candidate offset whose
    box overlaps no other label, no point and stays inside the axes. Falls back to the first
    candidate. Returns the list of annotation artists."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    pts = ax.transData.transform(np.column_stack([x, y]))
    r = point_radius * fig.dpi / 72
    from matplotlib.transforms import Bbox

    point_boxes = [Bbox([[px - r, py - r], [px + r, py + r]]) for px, py in pts]
    axes_box = ax.get_window_extent(renderer)
    placed_boxes: list = []
    out = []
    for i in np.argsort(-pts[:, 1], kind="stable"):
        others = [b for j, b in enumerate(point_boxes) if j != i]
        chosen = None
        for dx, dy, ha, va in _CANDIDATES:
            leader = (dx * dx + dy * dy) ** 0.5 > _LEADER
            t = _annotate(
                ax, labels[i], (x[i], y[i]), (dx, dy, ha, va), fontsize, color, gid, leader
            )
            t.update_positions(renderer)
            box = Text.get_window_extent(t, renderer).expanded(
                1.04, 1.08
            )  # the text, not its leader
            inside = (
                box.x0 >= axes_box.x0
                and box.x1 <= axes_box.x1
                and box.y0 >= axes_box.y0
                and box.y1 <= axes_box.y1
            )
            if inside and not _overlaps(box, placed_boxes) and not _overlaps(box, others):
                chosen = (t, box)
                break
            t.remove()
        if chosen is None:
            t = _annotate(ax, labels[i], (x[i], y[i]), _CANDIDATES[0], fontsize, color, gid, False)
            t.update_positions(renderer)
            chosen = (t, Text.get_window_extent(t, renderer))
        placed_boxes.append(chosen[1])
        out.append(chosen[0])
    return out


def _annotate(ax, label: str, xy, candidate, fontsize, color, gid: str, leader: bool):
    """The label at one candidate offset, with a thin leader line when it is far."""
    dx, dy, ha, va = candidate
    return ax.annotate(
        plain(label),
        xy,
        xytext=(dx, dy),
        textcoords="offset points",
        ha=ha,
        va=va,
        fontsize=fontsize,
        color=color,
        gid=gid,
        zorder=6,
        arrowprops={
            "arrowstyle": "-",
            "color": "#999999",
            "lw": 0.7,
            "shrinkA": 1,
            "shrinkB": 4,
        }
        if leader
        else None,
    )
