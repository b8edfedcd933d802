"""The main transitions between touchpoints, as an arc diagram along the journey."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from ..errors import AnalysisError, Problem
from ._style import OKABE_ITO, STAGE_SHADE, check_lang, check_table, journey_of, style, text

__all__ = ["transitions"]

_PRODUCER = "pr.traces.transitions(..., node='touchpoint')"
_FORWARD = OKABE_ITO["blue"]
_BACKWARD = OKABE_ITO["vermillion"]
_HEIGHT = {True: 0.38, False: 0.24}  # apex height of an arc over one step (forward, backward)


def _apex(dx: float, forward: bool) -> float:
    """Height of the arc between nodes ``dx`` apart: grows slower than the chord so that long
    jumps stay in the frame and short ones stay visible."""
    return _HEIGHT[forward] * abs(dx) ** 0.7


def _arc(
    xa: float, xb: float, forward: bool, t0: float = 0.0, t1: float = 1.0, n: int = 60
) -> np.ndarray:
    """Points of the quadratic Bézier arc from node ``xa`` to node ``xb`` for t in [t0, t1]."""
    h = _apex(xb - xa, forward)
    p0, c, p2 = np.array([xa, 0.0]), np.array([(xa + xb) / 2, 2 * h]), np.array([xb, 0.0])
    t = np.linspace(t0, t1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t**2 * p2


def transitions(
    table: pd.DataFrame,
    *,
    count: str | None = None,
    top: int = 20,
    min_share: float = 0.0,
    self_loops: bool = False,
    order: Sequence[str] | None = None,
    journey=None,
    lang: str = "fr",
    labels: Mapping[str, str] | None = None,
    label_top: int = 8,
    title: str | None = None,
    figsize: tuple[float, float] = (13.33, 7.5),
    rotation: float = 40,
):
    """Draw the main paths: the most frequent transitions as arcs along the journey.

    Nodes sit on a line in journey order (touchpoints of a study), or in ``order``; forward
    transitions are blue arcs, backward ones (returns to an earlier touchpoint) flatter
    vermilion arcs. Arc width grows with the number of transitions. The layout is fixed by the order, so
    the same table always gives the same figure.

    Parameters
    ----------
    table : DataFrame
        The output of :func:`parcours_research.traces.transitions` (``source, target, n``).
    count : str, optional
        The count column (default ``n``, else ``count``).
    top : int, default 20
        Draw the ``top`` most frequent transitions.
    min_share : float, default 0
        Leave out transitions under this share of all transitions.
    self_loops : bool, default False
        Keep repeats of the same node (they are not drawn as arcs, only counted in node size).
    order : list, optional
        Node order on the line (default: the journey's touchpoint order, then the other nodes
        by decreasing net outflow).
    journey : Study or JourneyMap, optional
        Order, labels and stage bands.
    lang : {"fr", "en"}
    labels : dict, optional
        Display names of nodes.
    label_top : int, default 8
        Write the count on the ``label_top`` widest arcs.
    title, figsize, rotation
        Title (default in ``lang``; ``""`` for none), size in inches, node label rotation.

    Returns
    -------
    matplotlib.figure.Figure
        Arcs are lines with ``gid`` ``"arc:<source>-><target>"`` and an arrow head
        (``FancyArrowPatch``, ``"arrow:<source>-><target>"``); nodes ``nodes``; count labels
        ``arc_label``.
    """
    count = _check_options(table, count, top, lang)
    j = journey_of(journey)
    d = _counts(table, count)
    through = (
        pd.concat([d.groupby("source")["n"].sum(), d.groupby("target")["n"].sum()], axis=1)
        .fillna(0)
        .max(axis=1)
    )
    d = _select(d, self_loops, min_share, top)
    seq = _node_order(d, order, j)
    pos = {n: i for i, n in enumerate(seq)}
    names = dict(labels or {})
    with style():
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        span = max((abs(pos[t] - pos[s]) for s, t in zip(d["source"], d["target"])), default=1)
        ax.set_xlim(-0.6, len(seq) - 0.4)
        ax.set_ylim(-0.3, _apex(span, True) + 0.35)
        if j is not None:
            _stage_bands(ax, seq, j, lang)
        ax.axhline(0, color="#BBBBBB", lw=1, zorder=1)
        _draw_arcs(ax, d, pos)
        _arc_labels(ax, d, pos, label_top, lang)
        _draw_nodes(ax, seq, through)
        _node_axis(ax, [_node_name(n, names, j, lang) for n in seq], rotation)
        handles = [
            Line2D([], [], color=_FORWARD, lw=4, alpha=0.6, label=text("forward", lang)),
            Line2D([], [], color=_BACKWARD, lw=4, alpha=0.6, label=text("backward", lang)),
        ]
        fig.legend(handles=handles, loc="outside right upper", frameon=False)
        if title is None:
            title = text("paths_title", lang)
        if title:
            fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
        ax.set_xlabel(text("paths_note", lang), fontsize=9, color="#555555")
    return fig


# ---------------------------------------------------------------------------------------------
# checking and preparing the table
# ---------------------------------------------------------------------------------------------
def _check_options(table, count: str | None, top, lang: str) -> str:
    """Check the language, the table and ``top``; returns the count column."""
    check_lang(lang)
    if count is None:
        count = "n" if isinstance(table, pd.DataFrame) and "n" in table.columns else "count"
    check_table(table, ("source", "target", count), "plot.transitions", _PRODUCER)
    if not isinstance(top, int | np.integer) or top < 1:
        raise AnalysisError(f"top={top!r} must be a positive integer.")
    return count


def _counts(table: pd.DataFrame, count: str) -> pd.DataFrame:
    """``source, target, n``: one row per transition, counts checked and summed."""
    d = pd.DataFrame(
        {
            "source": table["source"].astype("string"),
            "target": table["target"].astype("string"),
            "n": pd.to_numeric(table[count], errors="coerce"),
        }
    )
    bad = d["n"].isna() | (d["n"] < 0)
    if bad.any():
        raise AnalysisError(
            "plot.transitions: counts must be non-negative numbers.",
            [Problem(f"{int(bad.sum())} row(s) have no valid count", column=count)],
        )
    d = d.dropna(subset=["source", "target"])
    return d.groupby(["source", "target"], as_index=False, sort=False)["n"].sum()


def _select(d: pd.DataFrame, self_loops: bool, min_share: float, top) -> pd.DataFrame:
    """The transitions to draw, most frequent first; raises when none is left."""
    total = float(d["n"].sum())
    if not self_loops:
        d = d[d["source"] != d["target"]]
    if min_share > 0 and total > 0:
        d = d[d["n"] / total >= min_share]
    d = d.sort_values(["n", "source", "target"], ascending=[False, True, True], kind="stable").head(
        int(top)
    )
    if d.empty:
        raise AnalysisError(
            "plot.transitions: no transition is left to draw.",
            [Problem("every transition was filtered out", fix="lower min_share or raise top")],
        )
    return d


def _node_order(d: pd.DataFrame, order, j) -> list:
    """Nodes on the line: ``order``, else the journey's touchpoint order, then the other nodes
    by decreasing net outflow."""
    nodes = pd.unique(pd.concat([d["source"], d["target"]])).tolist()
    if order is not None:
        missing = [n for n in nodes if n not in list(order)]
        return [n for n in order if n in nodes] + sorted(missing)
    known = j.touchpoint_ids if j is not None else []
    seq = [n for n in known if n in nodes]
    rest = [n for n in nodes if n not in seq]
    out_n = d.groupby("source")["n"].sum()
    in_n = d.groupby("target")["n"].sum()
    net = {n: float(out_n.get(n, 0) - in_n.get(n, 0)) for n in rest}
    rest.sort(key=lambda n: (-net[n], n))
    return seq + rest


def _node_name(n, names: Mapping, j, lang: str) -> str:
    if n in names:
        return str(names[n])
    if j is not None and n in j.touchpoint_ids:
        return j.label(n, lang)
    return {"start": text("start", lang), "end": text("end", lang)}.get(str(n), str(n))


# ---------------------------------------------------------------------------------------------
# drawing
# ---------------------------------------------------------------------------------------------
def _stage_bands(ax, seq: list, j, lang: str) -> None:
    """Alternating shaded spans over runs of nodes of the same stage, named above the axes."""
    stage_of = {t.id: t.stage for t in j.touchpoints}
    runs, cur, start = [], None, 0
    for i, n in enumerate([*seq, None]):
        st = stage_of.get(n) if n is not None else object()
        if i == len(seq) or st != cur:
            if cur is not None:
                runs.append((cur, start, i - 1))
            cur, start = st, i
    for k, (st, a, b) in enumerate(runs):
        if st is None:
            continue
        if k % 2 == 0:
            ax.axvspan(a - 0.5, b + 0.5, color=STAGE_SHADE, zorder=0, lw=0)
        ax.text(
            (a + b) / 2,
            1.0,
            j.label(st, lang),
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=10,
            color="#444444",
        )


def _draw_arcs(ax, d: pd.DataFrame, pos: Mapping) -> None:
    """One arc per transition, its width growing with the count, with an arrow head."""
    widths = 1.0 + 6.0 * d["n"].to_numpy(dtype=float) / float(d["n"].max())
    for (s, t), lw in zip(d[["source", "target"]].itertuples(index=False), widths):
        xa, xb = pos[s], pos[t]
        forward = xb > xa
        color = _FORWARD if forward else _BACKWARD
        pts = _arc(xa, xb, forward)
        ax.plot(
            pts[:, 0],
            pts[:, 1],
            color=color,
            lw=lw,
            alpha=0.55,
            zorder=2,
            solid_capstyle="butt",
            gid=f"arc:{s}->{t}",
        )
        head = _arc(xa, xb, forward, 0.70, 0.74, 2)  # the direction, shown on the way down
        ax.add_patch(
            FancyArrowPatch(
                tuple(head[0]),
                tuple(head[1]),
                arrowstyle="-|>",
                lw=0,
                mutation_scale=10 + 2.2 * lw,
                color=color,
                alpha=0.9,
                zorder=3,
                shrinkA=0,
                shrinkB=0,
                gid=f"arrow:{s}->{t}",
            )
        )


def _arc_labels(ax, d: pd.DataFrame, pos: Mapping, label_top: int, lang: str) -> None:
    """The count at the apex of the ``label_top`` widest arcs."""
    for k, (s, t, n) in enumerate(d[["source", "target", "n"]].itertuples(index=False)):
        if k >= label_top:
            break
        xa, xb = pos[s], pos[t]
        apex = _apex(xb - xa, xb > xa)
        ax.text(
            (xa + xb) / 2,
            apex,
            f"{int(n):,}".replace(",", "\u202f" if lang == "fr" else ","),
            ha="center",
            va="center",
            fontsize=9,
            color="#222222",
            zorder=5,
            gid="arc_label",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
        )


def _draw_nodes(ax, seq: list, through: pd.Series) -> None:
    """The nodes, their area growing with the transitions through them."""
    size = np.array([float(through.get(n, 0.0)) for n in seq])
    size = 40 + 260 * (size / size.max() if size.max() > 0 else size)
    ax.scatter(
        np.arange(len(seq)),
        np.zeros(len(seq)),
        s=size,
        color="#333333",
        edgecolor="white",
        lw=1.2,
        zorder=4,
        gid="nodes",
    )


def _node_axis(ax, labels: list[str], rotation: float) -> None:
    """Node names as tick labels; no y axis, no frame."""
    ax.set_xticks(np.arange(len(labels)))
    ax.set_xticklabels(
        labels,
        rotation=rotation,
        ha="right" if rotation else "center",
        rotation_mode="anchor",
    )
    ax.set_yticks([])
    ax.tick_params(axis="x", length=0)
    for side in ("left", "right", "top", "bottom"):
        ax.spines[side].set_visible(False)
    ax.grid(False)
