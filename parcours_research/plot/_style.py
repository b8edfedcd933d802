"""Shared look of the kit's figures: palette, fixed rcParams, texts in two languages, saving."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd

from .._compat import deprecated_args
from .._inputs import study_of
from ..errors import AnalysisError, Problem, check_one_of

__all__ = [
    "OKABE_ITO",
    "style",
    "save",
    "group_colors",
    "text",
    "number",
    "check_table",
    "journey_of",
]

#: The Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"), distinguishable with
#: the common colour-vision deficiencies. Black is kept for targets and annotations.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}
#: Order in which groups get colours (yellow last: weak on white).
GROUP_ORDER = (
    "blue",
    "orange",
    "bluish_green",
    "reddish_purple",
    "sky_blue",
    "vermillion",
    "yellow",
)
GROUP_COLORS = tuple(OKABE_ITO[k] for k in GROUP_ORDER)
MARKERS = ("o", "s", "D", "^", "v", "P", "X")
TARGET_COLOR = "#333333"
FRICTION_COLOR = OKABE_ITO["vermillion"]
STAGE_SHADE = "#EEEEEE"

#: rcParams fixed for every figure, so that a figure looks the same on every machine (and
#: image comparisons in the tests are stable).
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "axes.titlesize": 13,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.title_fontsize": 10,
    "figure.titlesize": 15,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "axes.prop_cycle": mpl.cycler(color=list(GROUP_COLORS)),
    "lines.linewidth": 2.0,
    "lines.markersize": 6,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.bbox": None,
    "svg.hashsalt": "parcours_research",
    "svg.fonttype": "path",
    "path.simplify": True,
    "text.usetex": False,
    "mathtext.default": "regular",
    "axes.formatter.use_locale": False,
    "axes.unicode_minus": True,
    "figure.constrained_layout.use": False,
}

#: Fixed texts of the figures, in French and English.
TEXTS = {
    "fr": {
        "satisfaction": "Satisfaction moyenne (1 à 5)",
        "target": "Cible (le parcours tel qu'il devrait être)",
        "measured": "Mesuré (le parcours tel qu'il est)",
        "moment_of_truth": "Moment de vérité",
        "friction": "Friction significative",
        "below_target": "Bande entière sous la cible",
        "band_pointwise": "IC {level:.0f} % (ponctuel)",
        "band_simultaneous": "Bande {level:.0f} % simultanée (sup-t)",
        "band_bonferroni": "Bande {level:.0f} % simultanée (Bonferroni)",
        "persona": "Persona",
        "curves_title": "Courbes de satisfaction par persona",
        "all": "Ensemble",
        "stage": "Étape",
        "valence": "Valence moyenne des entretiens (−2 à +2)",
        "survey": "Enquête",
        "interviews": "Entretiens",
        "valence_title": "Ce que disent les clients, à côté de ce qu'ils notent",
        "excerpts": "extraits",
        "funnel_title": "Entonnoir de conversion par persona",
        "funnel_y": "Part des entrants de la première étape",
        "funnel_step": "Étape de l'entonnoir",
        "ipa_title": "Importance et performance des points de contact",
        "ipa_x": "Écart à la cible (satisfaction − cible, points)",
        "ipa_x_noref": "Satisfaction moyenne",
        "ipa_y": "Importance (part de R²)",
        "fix first": "À corriger d'abord",
        "keep up": "À maintenir",
        "possible overkill": "Effort peut-être excessif",
        "low priority": "Priorité basse",
        "paths_title": "Principaux enchaînements entre points de contact",
        "paths_note": "Épaisseur proportionnelle au nombre de passages",
        "forward": "Vers l'avant",
        "backward": "Retour en arrière",
        "start": "Début",
        "end": "Fin",
        "gap_vs_target": "{gap} {unit} vs cible",
        "interval": "[{low} ; {high}]",
        "no_target": "{value} (sans cible)",
        "friction_at": "friction : {name}",
        "unit_points": "pt",
        "unit_share": "pp",
        "percent": "{value} %",
    },
    "en": {
        "satisfaction": "Mean satisfaction (1 to 5)",
        "target": "Target (the journey as it should be)",
        "measured": "Measured (the journey as it is)",
        "moment_of_truth": "Moment of truth",
        "friction": "Significant friction",
        "below_target": "Whole band below target",
        "band_pointwise": "{level:.0f}% CI (pointwise)",
        "band_simultaneous": "{level:.0f}% simultaneous band (sup-t)",
        "band_bonferroni": "{level:.0f}% simultaneous band (Bonferroni)",
        "persona": "Persona",
        "curves_title": "Satisfaction curves by persona",
        "all": "Everyone",
        "stage": "Stage",
        "valence": "Mean valence in interviews (−2 to +2)",
        "survey": "Survey",
        "interviews": "Interviews",
        "valence_title": "What customers say, beside what they rate",
        "excerpts": "excerpts",
        "funnel_title": "Conversion funnel by persona",
        "funnel_y": "Share of first-step entrants",
        "funnel_step": "Funnel step",
        "ipa_title": "Importance and performance of touchpoints",
        "ipa_x": "Gap to target (satisfaction − target, points)",
        "ipa_x_noref": "Mean satisfaction",
        "ipa_y": "Importance (share of R²)",
        "fix first": "Fix first",
        "keep up": "Keep up",
        "possible overkill": "Possible overkill",
        "low priority": "Low priority",
        "paths_title": "Main transitions between touchpoints",
        "paths_note": "Width proportional to the number of transitions",
        "forward": "Forward",
        "backward": "Backward",
        "start": "Start",
        "end": "End",
        "gap_vs_target": "{gap} {unit} vs target",
        "interval": "[{low}, {high}]",
        "no_target": "{value} (no target)",
        "friction_at": "friction: {name}",
        "unit_points": "pt",
        "unit_share": "pp",
        "percent": "{value}%",
    },
}


@contextmanager
def style():
    """Context in which the kit's figures are drawn: fixed fonts (DejaVu Sans, bundled with
    matplotlib), sizes readable on a 13.33 x 7.5 in slide, the Okabe–Ito colour cycle.

    >>> with pr.plot.style():                     # doctest: +SKIP
    ...     fig, ax = plt.subplots()
    """
    # In Jupyter the first figure loads the inline backend, which turns interactive mode on;
    # leaving the rc_context would switch it off again, and every later figure of the notebook
    # would silently never be shown. Interactive mode is kept as it is at the end.
    # Text drawn in this context is shown as written: a `$` is a dollar sign, never the start
    # of a formula (labels come from study files; a "$\\frac$" label would crash the figure).
    from matplotlib._pylab_helpers import Gcf

    from ._labels import plain_figure

    before = {m.num for m in Gcf.get_all_fig_managers()}
    with mpl.rc_context(RC):
        yield
        interactive = mpl.is_interactive()
        for m in Gcf.get_all_fig_managers():
            if m.num not in before:
                plain_figure(m.canvas.figure)
    mpl.interactive(interactive)


def text(key: str, lang: str, **fmt) -> str:
    """A fixed text of the figures in ``lang`` (``fr`` or ``en``)."""
    s = TEXTS[lang][key]
    return s.format(**fmt) if fmt else s


def localize(s: str, lang: str) -> str:
    """A number written by Python (``-1.31``) as the figure's language writes it: a true minus
    sign (−) and, in French, a decimal comma (``−1,31``)."""
    s = s.replace("-", "−")
    return s.replace(".", ",") if lang == "fr" else s


def number(value: float, lang: str, decimals: int = 2, *, sign: bool = False) -> str:
    """``value`` rounded to ``decimals`` for a figure in ``lang``; ``sign`` writes ``+`` before
    a positive value (a rounded zero is written without a minus sign)."""
    value = float(value)
    if round(value, decimals) == 0:
        value = 0.0
    return localize(f"{value:{'+' if sign else ''}.{decimals}f}", lang)


def pvalue(p: float, lang: str) -> str:
    """A p-value as a reader reads it: ``< 0.001`` below a thousandth, else three decimals
    (``0.012``); ``–`` when missing. Decimal comma in French."""
    if p is None or not np.isfinite(p):
        return "–"
    return localize("< 0.001", lang) if p < 0.001 else localize(f"{p:.3f}", lang)


def check_lang(lang: str) -> None:
    check_one_of("lang", lang, ("fr", "en"))


def _group_order(groups: Sequence, journey=None) -> dict:
    """Position of each group in the palette: a persona's place in the study's persona list (so
    a persona keeps its colour in every figure, whichever personas are shown), then the other
    groups in the order given."""
    order = list(getattr(journey, "persona_ids", None) or [])
    order += [g for g in groups if g not in order]
    return {g: order.index(g) for g in groups}


def group_colors(groups: Sequence, journey=None) -> dict:
    """Colour of each group, in the Okabe–Ito order; with ``journey``, each persona has the
    colour of its place in the study's persona list in every figure of the kit."""
    pos = _group_order(groups, journey)
    return {g: GROUP_COLORS[pos[g] % len(GROUP_COLORS)] for g in groups}


def group_markers(groups: Sequence, journey=None) -> dict:
    pos = _group_order(groups, journey)
    return {g: MARKERS[pos[g] % len(MARKERS)] for g in groups}


def journey_of(obj):
    """The JourneyMap of a Study (or its prepared evidence), or the JourneyMap itself, or None."""
    from ..journey import JourneyMap
    from ._labels import plain_journey  # labels drawn as written, never as mathtext

    if obj is None:
        return obj
    if isinstance(obj, JourneyMap):
        return plain_journey(obj)
    study = study_of(obj)
    if study is not None:
        return plain_journey(study.journey)
    raise AnalysisError(f"journey= must be a Study or a JourneyMap, not {type(obj).__name__}.")


def check_table(table, columns: Iterable[str], where: str, produced_by: str) -> pd.DataFrame:
    """Raise one clear error when ``table`` is not a DataFrame with ``columns``."""
    if not isinstance(table, pd.DataFrame):
        raise AnalysisError(
            f"{where} draws a DataFrame ({produced_by}), not {type(table).__name__}.",
            [Problem("wrong input", fix=f"pass the table returned by {produced_by}")],
        )
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise AnalysisError(
            f"{where}: the table lacks column(s) {missing}.",
            [
                Problem(
                    f"column {c!r} is missing",
                    column=c,
                    fix=f"pass the table returned by {produced_by} (it has {list(table.columns)[:12]})",
                )
                for c in missing
            ],
        )
    if table.empty:
        raise AnalysisError(f"{where}: the table is empty; there is nothing to draw.")
    return table


@deprecated_args(positional=("formats", "dpi"))
def save(
    fig, path_stem, *, formats: Sequence[str] = ("png", "svg"), dpi: float = 150
) -> list[Path]:
    """Write ``fig`` as ``<path_stem>.png`` and ``<path_stem>.svg`` (or ``formats``).

    Parameters
    ----------
    fig : matplotlib Figure
    path_stem : str or Path
        File path without extension (an extension, if given, is replaced); folders are
        created.
    formats : sequence of str, default ("png", "svg")
    dpi : float, default 150
        Resolution of raster formats (150 dpi on a 13.33 x 7.5 in figure = 2000 x 1125 px).

    Returns
    -------
    list of Path
        The files written.
    """
    stem = Path(path_stem)
    if stem.suffix.lower() in {".png", ".svg", ".pdf", ".jpg", ".jpeg"}:
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    formats = [fmt.lower().lstrip(".") for fmt in formats]
    for fmt in formats:
        check_one_of("format", fmt, ("png", "svg", "pdf"))
    out = []
    engine = fig.get_layout_engine()
    try:
        with style():
            for k, fmt in enumerate(formats):
                path = stem.with_name(f"{stem.name}.{fmt}")
                meta = {
                    "png": {"Software": None},
                    "svg": {"Date": None},
                    "pdf": {"CreationDate": None},
                }[fmt]
                fig.savefig(path, format=fmt, dpi=dpi, metadata=meta)
                out.append(path)
                if k == 0 and engine is not None and len(formats) > 1:
                    # laid out once (constrained or tight layout measures every text twice):
                    # the other formats draw at the positions the first one found
                    _without_layout(fig)
    finally:
        if engine is not None and fig.get_layout_engine() is not engine:
            fig.set_layout_engine(engine)  # a figure shown after saving lays itself out again
    return out


savefig = save


def _without_layout(fig) -> None:
    """Remove ``fig``'s layout engine: no engine at all, where ``set_layout_engine("none")``
    leaves a placeholder, for which ``savefig`` still draws the whole figure once before
    drawing it to the file (about a fifth of an SVG's time: every text measured for nothing).
    The rc settings that would put a layout back (``figure.autolayout``,
    ``figure.constrained_layout.use``) are set aside for the call."""
    with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)


def nice_limits(
    values: Iterable[float], pad: float = 0.08, lo_bound=None, hi_bound=None
) -> tuple[float, float]:
    """Axis limits around the finite ``values`` with a relative padding."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo or max(abs(hi), 1.0)
    lo, hi = lo - pad * span, hi + pad * span
    if lo_bound is not None:
        lo = max(lo, lo_bound)
    if hi_bound is not None:
        hi = min(hi, hi_bound)
    return lo, hi
