"""The journey explorer: pick personas, a stage, weighting and a source; the curve, the friction
table and the quotes update together.

State lives in the widgets; every number comes from the package (:mod:`parcours_research.curves`,
:mod:`parcours_research.friction`, :mod:`parcours_research.qual`), computed once per choice of
weighting and source and cached, so that a click in a workshop answers at once.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import ipywidgets as w
import pandas as pd

from ..errors import StudyError
from ..plot._style import number, pvalue
from ..study import Study
from ._live import Poller

__all__ = ["JourneyExplorer", "SOURCES"]

#: Evidence sources the explorer can draw the curve from.
SOURCES = ("survey", "interviews", "workshop")
_LABELS = {
    "fr": {"survey": "Enquête", "interviews": "Entretiens", "workshop": "Atelier", "all": "Toutes les étapes",
           "weighted": "Pondérer (règle de l'étude)", "personas": "Personas", "stage": "Étape",
           "source": "Source", "quotes_for": "Citations pour", "no_friction": "Aucun point de friction confirmé ici.",
           "no_quotes": "Pas de citation pour ce point de contact.", "no_data": "Pas de données pour cette source."},
    "en": {"survey": "Survey", "interviews": "Interviews", "workshop": "Workshop", "all": "All stages",
           "weighted": "Weight (the study's rule)", "personas": "Personas", "stage": "Stage",
           "source": "Source", "quotes_for": "Quotes for", "no_friction": "No confirmed friction point here.",
           "no_quotes": "No quote for this touchpoint.", "no_data": "No data for this source."},
}

_COLUMNS = {
    "fr": {"touchpoint": "Point de contact", "persona": "Persona", "n_friction": "Signaux",
           "n_sources": "Sources", "agree": "Concordent", "survey_effect": "Enquête (effet)",
           "survey_p_adj": "Enquête p ajusté", "traces_effect": "Traces (effet)",
           "traces_p_adj": "Traces p ajusté", "qual_effect": "Entretiens (effet)", "qual_p_adj": "Entretiens p ajusté"},
    "en": {"touchpoint": "Touchpoint", "persona": "Persona", "n_friction": "Signals", "n_sources": "Sources",
           "agree": "Agree", "survey_effect": "Survey (effect)", "survey_p_adj": "Survey adj. p",
           "traces_effect": "Traces (effect)", "traces_p_adj": "Traces adj. p",
           "qual_effect": "Interviews (effect)", "qual_p_adj": "Interviews adj. p"},
}


class JourneyExplorer:
    """Explore the persona journey curves with a workshop group.

    Parameters
    ----------
    study : Study
    ratings_path : str or Path, optional
        The shared workshop rating store (see :class:`~parcours_research.widgets.board.RatingBoard`),
        for the ``workshop`` source; default the study's (``<study>/workshop/ratings.sqlite``).
    lang : {"fr", "en"}
    n_boot : int
        Bootstrap replicates of the curve bands.
    seed : int
        Seed of the bootstrap.
    live : bool, default True
        Poll the rating store every second and redraw the workshop curve when anyone rates.

    Attributes
    ----------
    personas, stage, weighted, source, quote_touchpoint : ipywidgets controls
    image : ipywidgets.Image
        The curve (PNG).
    caption : ipywidgets.HTML
        Says what the curve shows (personas, source, weighting); its text changes with the curve.
    friction, quotes : ipywidgets.HTML
    widget : ipywidgets.VBox
    """

    def __init__(self, study: Study, ratings_path: str | Path | None = None, lang: str = "fr",
                 n_boot: int = 200, seed: int = 0, *, live: bool = True):
        from ..ratings import RatingLog, workshop_store

        self.study, self.lang, self.n_boot, self.seed = study, lang, n_boot, seed
        self.ratings_path = Path(ratings_path) if ratings_path else workshop_store(study)
        self._store = RatingLog(self.ratings_path)
        self._workshop: tuple[int, pd.DataFrame] | None = None  # (store version, curves)
        self._curves: dict[tuple, pd.DataFrame] = {}
        self._friction: pd.DataFrame | None = None
        self._excerpts: pd.DataFrame | None = None
        L = _LABELS[lang]
        j = study.journey
        self.personas = w.SelectMultiple(options=[(p.label.get(lang), p.id) for p in j.personas],
                                         value=tuple(j.persona_ids), description=L["personas"], rows=len(j.personas))
        self.stage = w.Dropdown(options=[(L["all"], "")] + [(s.label.get(lang), s.id) for s in j.stages],
                                description=L["stage"])
        from ..evidence import prepare

        # the study's one weighting rule decides whether there is anything to weight
        weighted = study.responses is not None and prepare(study).weighting.rule != "none"
        self.weighted = w.Checkbox(value=weighted, description=L["weighted"], disabled=not weighted)
        sources = [s for s in SOURCES if s != "interviews" or study.qual is not None]
        self.source = w.ToggleButtons(options=[(L[s], s) for s in sources], value="survey", description=L["source"])
        self.quote_touchpoint = w.Dropdown(options=[(t.label.get(lang), t.id) for t in j.touchpoints],
                                           description=L["quotes_for"])
        self.image = w.Image(format="png", layout=w.Layout(width="100%"))
        self.caption = w.HTML()
        self.friction = w.HTML()
        self.quotes = w.HTML()
        for ctl in (self.personas, self.stage, self.weighted, self.source):
            ctl.observe(self._on_change, names="value")
        self.quote_touchpoint.observe(lambda _c: self._update_quotes(), names="value")
        self.widget = w.VBox([
            w.HBox([self.personas, w.VBox([self.stage, self.weighted, self.source])]),
            self.caption, self.image, self.friction, self.quote_touchpoint, self.quotes,
        ])
        self.update()
        self.poller = Poller(self._store.version, self._on_new_rating)
        if live:
            self.poller.start()

    def _on_new_rating(self) -> None:
        if self.source.value == "workshop":
            self.update()

    # ---- data (computed by the package, cached) -----------------------------------------------
    def curves(self) -> pd.DataFrame:
        """The curve table for the current weighting and source (all personas)."""
        from ..curves import journey_curves

        key = (self.source.value, bool(self.weighted.value))
        if self.source.value == "workshop":  # live: recomputed when anyone has rated since
            return self._workshop_curves()
        if key not in self._curves:
            weight = "default" if self.weighted.value else None  # the study's one rule, or none
            if self.source.value in ("survey", "interviews"):
                # the survey curve carries the interviews' valence per persona and touchpoint
                # (``valence``, ``n_excerpts``); the interviews view draws it beside the survey curve
                key_survey = ("survey", bool(self.weighted.value))
                if key_survey not in self._curves:
                    # the report's curves: the same weights, band, replicates and seed
                    self._curves[key_survey] = journey_curves(self.study, weight=weight, band="simultaneous",
                                                              n_boot=self.n_boot, seed=self.seed, lang=self.lang)
                t = self._curves[key_survey]
            self._curves[key] = t
        return self._curves[key]

    def _workshop_curves(self) -> pd.DataFrame:
        from ..curves import journey_curves
        from ..ratings import ratings_long

        version = self._store.version()
        if self._workshop is None or self._workshop[0] != version:
            long = ratings_long(self._store.read(), self.study.journey).dropna(subset=["persona"])
            t = pd.DataFrame() if long.empty else journey_curves(
                long, journey=self.study.journey, band="pointwise", n_boot=0, lang=self.lang)
            self._workshop = (version, t)
        return self._workshop[1]

    def friction_table(self) -> pd.DataFrame:
        """The triangulated friction table of the study (computed once)."""
        if self._friction is None:
            from ..evidence import prepare
            from ..friction import triangulate

            self._friction = triangulate(prepare(self.study)).summary
        return self._friction

    def excerpts(self) -> pd.DataFrame:
        if self._excerpts is None:
            from ..evidence import prepare

            self._excerpts = prepare(self.study).excerpts  # scrubbed and pseudonymised once
        return self._excerpts

    # ---- views ------------------------------------------------------------------------------------
    def selection(self) -> pd.DataFrame:
        """Rows of the current curve table for the selected personas and stage."""
        t = self.curves()
        if t.empty:
            return t
        t = t[t["persona"].isin(self.personas.value)]
        if self.stage.value:
            t = t[t["stage"] == self.stage.value]
        return t

    def _on_change(self, _change) -> None:
        self.update()

    def update(self) -> None:
        """Redraw the curve, the friction table and the quotes for the current choices."""
        L = _LABELS[self.lang]
        sel = self.selection()
        names = ", ".join(self.study.journey.label(p, self.lang) for p in self.personas.value)
        src = L[self.source.value]
        weighted = " · " + L["weighted"].split(" (")[0] if self.weighted.value else ""
        self.caption.value = (f"<p class='parcours-curve-caption' data-personas='{' '.join(self.personas.value)}'>"
                              f"{html.escape(src)}{html.escape(weighted)} — {html.escape(names) or '—'}</p>")
        self.image.value = self._png(sel) if not sel.empty else b""
        if sel.empty:
            self.caption.value += f"<p>{L['no_data']}</p>"
        self._update_friction()
        self._update_quotes()

    def _png(self, sel: pd.DataFrame) -> bytes:
        import matplotlib.pyplot as plt

        from .. import plot

        if self.source.value == "interviews":
            fig = plot.valence_curve(sel, journey=self.study.journey, lang=self.lang)
        else:
            fric = None
            try:
                fric = self.friction_table()
            except StudyError:
                fric = None
            fig = plot.journey_curves(sel, journey=self.study.journey, friction=fric, lang=self.lang,
                                      facet=len(self.personas.value) > 1)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        return buf.getvalue()

    def _update_friction(self) -> None:
        L = _LABELS[self.lang]
        try:
            t = self.friction_table()
        except StudyError as e:
            self.friction.value = f"<p>{html.escape(e.summary)}</p>"
            return
        t = t[t["persona"].isin(self.personas.value)]
        if self.stage.value:
            stage_of = {tp.id: tp.stage for tp in self.study.journey.touchpoints}
            t = t[t["touchpoint"].map(stage_of) == self.stage.value]
        conf = t[t["confirmed"]]
        if conf.empty:
            self.friction.value = f"<p>{L['no_friction']}</p>"
            return
        cols = [c for c in ("touchpoint", "persona", "n_friction", "n_sources", "agree", "survey_effect",
                            "survey_p_adj", "traces_effect", "traces_p_adj", "qual_effect", "qual_p_adj")
                if c in conf.columns]
        shown = conf[cols].copy()
        for c in cols:
            if c.endswith("_p_adj"):
                shown[c] = shown[c].map(lambda p: pvalue(p, self.lang))
            elif c.endswith("_effect"):
                shown[c] = shown[c].map(lambda v: number(v, self.lang, 3) if pd.notna(v) else "–")
        shown["touchpoint"] = shown["touchpoint"].map(lambda t: self.study.journey.label(t, self.lang))
        shown["persona"] = shown["persona"].map(lambda t: self.study.journey.label(t, self.lang))
        shown = shown.rename(columns=_COLUMNS[self.lang])
        self.friction.value = shown.to_html(index=False, border=0, classes="parcours-friction")

    def _update_quotes(self) -> None:
        L = _LABELS[self.lang]
        if self.study.qual is None:
            self.quotes.value = ""
            return
        from ..qual import quotes

        personas = list(self.personas.value)
        q = quotes(self.excerpts(), touchpoint=self.quote_touchpoint.value, persona=personas, n=3,
                   valence="negative")
        if q.empty:
            self.quotes.value = f"<p>{L['no_quotes']}</p>"
            return
        items = "".join(f"<blockquote>{html.escape(str(r.text))} <small>— {html.escape(str(r.participant))}"
                        f"{', ' + html.escape(str(r.persona)) if 'persona' in q.columns else ''}</small></blockquote>"
                        for r in q.itertuples())
        self.quotes.value = items

    def _ipython_display_(self):  # pragma: no cover - display hook
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return f"JourneyExplorer({self.study.name!r}, personas={list(self.personas.value)}, source={self.source.value!r})"
