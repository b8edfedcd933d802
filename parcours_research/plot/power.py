"""Power of a study design against its sample size (from :func:`parcours_research.plan.power`)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from ..errors import AnalysisError, Problem
from ._style import check_lang, check_table, style

__all__ = ["power"]

_PRODUCER = "pr.plan.power(...).summary"
_COLUMNS = ["n_respondents", "touchpoint", "persona", "power", "power_ci_low", "power_ci_high"]
_TEXT = {
    "fr": {
        "x": "Répondants à l'enquête",
        "y": "Puissance (friction confirmée)",
        "target": "puissance 80 %",
        "alarm": "fausse alerte (étude nulle)",
        "title": "Puissance selon la taille d'échantillon",
    },
    "en": {
        "x": "Survey respondents",
        "y": "Power (friction confirmed)",
        "target": "80% power",
        "alarm": "false alarm (null study)",
        "title": "Power against sample size",
    },
}


def _tables(result) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    if hasattr(result, "summary") and hasattr(result, "false_alarm"):
        return result.summary, result.false_alarm
    return result, None


def power(
    result,
    *,
    cells: Sequence | None = None,
    lang: str = "fr",
    target: float | None = 0.8,
    false_alarm: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] = (10, 6),
):
    """Draw power against sample size, one line per planted touchpoint × persona.

    Parameters
    ----------
    result : Power or DataFrame
        The result of :func:`parcours_research.plan.power` (or its ``summary``): rows with
        ``n_respondents, touchpoint, persona, power, power_ci_low, power_ci_high``.
    cells : sequence of (touchpoint, persona), optional
        Which cells to draw (default: every cell whose power was simulated).
    lang : {"fr", "en"}
    target : float or None, default 0.8
        A dotted reference line at this power.
    false_alarm : bool, default True
        Also draw the share of null studies with a confirmed cell (from a Power result).
    title : str, optional
    figsize : tuple

    Returns
    -------
    Figure
        Error bars are the Monte Carlo intervals of the result.
    """
    check_lang(lang)
    summary, fa = _tables(result)
    summary = check_table(summary, _COLUMNS, "pr.plot.power", _PRODUCER)
    shown = summary[summary["power"].notna()]
    if cells is not None:
        keys = {tuple(c.split(":")) if isinstance(c, str) else tuple(c) for c in cells}
        shown = shown[
            [(t, p) in keys for t, p in zip(shown["touchpoint"], shown["persona"], strict=True)]
        ]
    if shown.empty:
        raise AnalysisError(
            "pr.plot.power: no simulated power to draw.",
            [Problem("no row with a power", fix="plant the effect in cells= of pr.plan.power")],
        )
    t = _TEXT[lang]
    with style():
        fig, ax = plt.subplots(figsize=figsize)
        for (tp, p), g in shown.groupby(["touchpoint", "persona"], sort=False):
            g = g.sort_values("n_respondents")
            err = np.clip(
                np.vstack([g["power"] - g["power_ci_low"], g["power_ci_high"] - g["power"]]),
                0,
                None,
            )
            ax.errorbar(
                g["n_respondents"], g["power"], yerr=err, marker="o", capsize=3, label=f"{tp} / {p}"
            )
        if false_alarm and fa is not None and len(fa):
            f = fa.sort_values("n_respondents")
            ax.errorbar(
                f["n_respondents"],
                f["any_confirmed"],
                yerr=np.clip(
                    np.vstack(
                        [f["any_confirmed"] - f["ci_low"], f["ci_high"] - f["any_confirmed"]]
                    ),
                    0,
                    None,
                ),
                color="#888888",
                linestyle="--",
                marker="s",
                capsize=3,
                label=t["alarm"],
            )
        if target is not None:
            ax.axhline(target, color="black", linestyle=":", linewidth=1, label=t["target"])
        ax.set_ylim(-0.02, 1.02)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel(t["x"])
        ax.set_ylabel(t["y"])
        ax.set_title(t["title"] if title is None else title)
        ax.legend(loc="best", fontsize="small")
        fig.tight_layout()
    return fig
