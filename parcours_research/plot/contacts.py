"""Satisfaction by number of contacts (from :func:`parcours_research.traces.contact_pressure`)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..errors import AnalysisError, Problem
from ._style import check_lang, check_table, group_colors, journey_of, style

__all__ = ["contact_pressure"]

_PRODUCER = "pr.traces.contact_pressure(study)"
_COLUMNS = ["channel", "contacts", "contacts_low", "sat", "ci_low", "ci_high"]
_ZONE_COLOURS = {"too few": "#E69F00", "too many": "#D55E00"}
_TEXT = {
    "fr": {
        "x": "Contacts par client ({period})",
        "y": "Satisfaction globale (moyenne pondérée)",
        "title": "Pression de contact : canal {channel}",
        "too few": "trop peu",
        "too many": "trop",
        "study": "sur la période",
    },
    "en": {
        "x": "Contacts per customer ({period})",
        "y": "Overall satisfaction (weighted mean)",
        "title": "Contact pressure: {channel} channel",
        "too few": "too few",
        "too many": "too many",
        "study": "over the period",
    },
}


def _tables(result) -> tuple[pd.DataFrame, pd.DataFrame | None, str, str]:
    if hasattr(result, "summary") and hasattr(result, "zones"):
        return result.summary, result.zones, result.by or "persona", result.period
    return result, None, "persona", "study"


def contact_pressure(
    result,
    *,
    channels: Sequence[str] | None = None,
    personas: Sequence[str] | None = None,
    study=None,
    lang: str = "fr",
    figsize: tuple[float, float] | None = None,
):
    """Draw overall satisfaction by number of contacts, one panel per channel, one line per
    persona, with the flagged "too few" and "too many" zones shaded.

    Parameters
    ----------
    result : ContactPressure or DataFrame
        :func:`parcours_research.traces.contact_pressure`'s result (or its ``summary``).
    channels : sequence of str, optional
        Panels to draw (default: the channels with a flagged zone, else every channel).
    personas : sequence of str, optional
        Lines to draw (default every persona).
    study : Study, optional
        Gives the personas their colours of the kit's other figures.
    lang : {"fr", "en"}
    figsize : tuple, optional

    Returns
    -------
    Figure
        Points are the contact bands' weighted means at the band's middle count (a band
        ``6+`` at its lowest and highest observed counts' middle), error bars their intervals;
        a shaded zone is a flagged side of a persona (its label says which).
    """
    check_lang(lang)
    summary, zones, key, period = _tables(result)
    summary = check_table(summary, [key, *_COLUMNS], "pr.plot.contact_pressure", _PRODUCER)
    flagged = zones[zones["flagged"]] if zones is not None else None
    chans = _channels(summary, flagged, channels)
    if personas is not None:
        summary = summary[summary[key].isin(list(personas))]
    t = _TEXT[lang]
    colours = group_colors(list(pd.unique(summary[key])), journey_of(study))
    with style():
        fig, axes = plt.subplots(
            1, len(chans), figsize=figsize or (6.5 * len(chans), 5.5), squeeze=False, sharey=True
        )
        for ax, chan in zip(axes[0], chans, strict=True):
            part = summary[summary["channel"] == chan]
            _draw_channel(ax, part, flagged, key, chan, colours, t)
            ax.set_title(t["title"].format(channel=chan))
            ax.set_xlabel(t["x"].format(period=t["study"] if period == "study" else period))
        axes[0][0].set_ylabel(t["y"])
        fig.tight_layout()
    return fig


def _channels(summary, flagged, channels) -> list[str]:
    if channels is not None:
        chans = [c for c in channels if c in set(summary["channel"])]
    elif flagged is not None and len(flagged):
        chans = list(pd.unique(flagged["channel"]))
    else:
        chans = list(pd.unique(summary["channel"]))
    if not chans:
        raise AnalysisError(
            "pr.plot.contact_pressure: no channel to draw.",
            [Problem("no channel", fix=f"channels= among {sorted(set(summary['channel']))}")],
        )
    return chans


def _draw_channel(ax, part, flagged, key, chan, colours, t) -> None:
    """One panel: each persona's band means at the bands' middle counts, with their intervals;
    its flagged zones shaded."""
    n = len(colours)
    for i, (grp, g) in enumerate(part.groupby(key, sort=False)):
        g = g.sort_values("contacts_low")
        lo, hi = g["contacts_low"].to_numpy(float), g["contacts_high"].to_numpy(float)
        x = (lo + hi) / 2 + (i - (n - 1) / 2) * 0.06
        err = np.clip(np.vstack([g["sat"] - g["ci_low"], g["ci_high"] - g["sat"]]), 0, None)
        ax.errorbar(x, g["sat"], yerr=err, marker="o", capsize=3, color=colours[grp], label=grp)
        if flagged is None:
            continue
        for z in flagged[(flagged[key] == grp) & (flagged["channel"] == chan)].to_dict("records"):
            inside = lo >= z["cut"] if z["side"] == "too many" else lo < z["cut"]
            if not inside.any():
                continue
            x0, x1 = lo[inside].min() - 0.5, hi[inside].max() + 0.5
            ax.axvspan(x0, x1, color=_ZONE_COLOURS[z["side"]], alpha=0.15)
            ax.text(
                (x0 + x1) / 2,
                0.02,
                f"{t[z['side']]} ({grp})",
                ha="center",
                transform=ax.get_xaxis_transform(),
                color=_ZONE_COLOURS[z["side"]],
            )
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="lower left", frameon=False)
