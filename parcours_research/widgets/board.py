"""The live rating board: workshop participants, staff and customers, rate touchpoints and leave
comments; everyone's board shows everyone's ratings as they arrive.

State lives in the widgets; every rating goes through :class:`parcours_research.ratings.RatingLog`
(the study's shared SQLite store), the running means and the staff-against-customers comparison
come from the package.
"""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as w
import pandas as pd

from ..errors import StudyError
from ..plot._style import number, pvalue
from ..ratings import ROLES, RatingLog, running_means, workshop_store
from ..study import Study
from ._live import Poller

__all__ = ["RatingBoard"]

_WIDE = {"description_width": "initial"}
_LABELS = {
    "fr": {"participant": "Participant", "placeholder": "initiales ou code", "role": "Je suis",
           "staff": "Personnel", "customer": "Client", "persona": "Persona", "touchpoint": "Point de contact",
           "score": "Note", "comment": "Commentaire", "save": "Enregistrer", "means": "Notes de l'atelier",
           "compare": "Personnel, clients et enquête", "label": "Point de contact", "n": "Notes",
           "mean": "Moyenne", "staff_mean": "Personnel", "customer_mean": "Clients (atelier)",
           "survey": "Enquête [IC 95 %]", "gap_customers": "Écart personnel − clients",
           "p_customers_adj": "p (Holm)", "gap_survey": "Écart personnel − enquête", "p_survey_adj": "p (Holm) "},
    "en": {"participant": "Participant", "placeholder": "initials or a code", "role": "I am",
           "staff": "Staff", "customer": "Customer", "persona": "Persona", "touchpoint": "Touchpoint",
           "score": "Score", "comment": "Comment", "save": "Save", "means": "Workshop ratings",
           "compare": "Staff, customers and survey", "label": "Touchpoint", "n": "Ratings",
           "mean": "Mean", "staff_mean": "Staff", "customer_mean": "Customers (workshop)",
           "survey": "Survey [95% CI]", "gap_customers": "Gap staff − customers",
           "p_customers_adj": "p (Holm)", "gap_survey": "Gap staff − survey", "p_survey_adj": "p (Holm) "},
}


class RatingBoard:
    """A workshop rating board shared by every participant.

    Parameters
    ----------
    study : Study
        The study whose touchpoints and personas are rated.
    path : str or Path, optional
        The shared rating store; default the study's (:func:`~parcours_research.ratings.workshop_store`,
        ``<study>/workshop/ratings.sqlite``), which every participant's kernel opens.
    session : str
        Label of the workshop session written on every row.
    lang : {"fr", "en"}
        Language of labels.
    live : bool, default True
        Poll the store every second and refresh the tables when anyone adds a rating.

    Attributes
    ----------
    log : RatingLog
    widget : ipywidgets.VBox
        The board; display it with ``display(board.widget)`` or just ``board`` in a notebook.
    """

    def __init__(self, study: Study, path: str | Path | None = None, session: str = "workshop",
                 lang: str = "fr", *, live: bool = True):
        self.study, self.lang = study, lang
        self.log = RatingLog(Path(path) if path else workshop_store(study), journey=study.journey,
                             session=session)
        self._build_form(study.journey)
        self.status, self.table, self.comparison = w.HTML(), w.HTML(), w.HTML()
        self.submit.on_click(self._on_submit)
        self.widget = w.VBox([
            w.HBox([self.participant, self.role]), self.persona, self.touchpoint, self.score, self.comment,
            w.HBox([self.submit, self.status]), self.table, self.comparison,
        ])
        self.refresh()
        self.poller = Poller(self.log.version, self.refresh)
        if live:
            self.poller.start()

    def _build_form(self, j) -> None:
        L, lang = _LABELS[self.lang], self.lang
        full = w.Layout(width="auto", min_width="24em")
        self.participant = w.Text(description=L["participant"], placeholder=L["placeholder"], style=_WIDE)
        self.role = w.ToggleButtons(options=[(L[r], r) for r in ROLES], value=None, description=L["role"],
                                    style=_WIDE)
        self.persona = w.Dropdown(options=[("—", "")] + [(p.label.get(lang), p.id) for p in j.personas],
                                  description=L["persona"], style=_WIDE, layout=full)
        self.touchpoint = w.Dropdown(options=[(f"{t.order}. {t.label.get(lang)}", t.id) for t in j.touchpoints],
                                     description=L["touchpoint"], style=_WIDE, layout=full)
        self.score = w.ToggleButtons(options=[1, 2, 3, 4, 5], value=None, description=L["score"], style=_WIDE)
        self.comment = w.Textarea(description=L["comment"], rows=2, style=_WIDE, layout=full)
        self.submit = w.Button(description=L["save"], button_style="primary")

    def _on_submit(self, _button=None) -> None:
        try:
            row = self.log.add(self.participant.value, self.touchpoint.value, self.score.value,
                               comment=self.comment.value, persona=self.persona.value or None,
                               role=self.role.value)
        except StudyError as e:
            self.status.value = ("<span style='color:#b00'>"
                                 + html.escape("; ".join(p.message for p in e.problems)) + "</span>")
            return
        label = self.study.journey.label(row["touchpoint"], self.lang)
        self.status.value = f"<span style='color:#070'>✓ {html.escape(label)} = {row['score']}</span>"
        self.score.value = None
        self.comment.value = ""
        self.poller.check()  # refresh now, not at the next poll

    def rate(self, participant: str, touchpoint: str, score: int, comment: str = "", persona: str = "",
             role: str | None = None) -> None:
        """Fill the form and press the button (what a participant does; used in tests and scripts)."""
        self.participant.value = participant
        self.role.value = role
        self.persona.value = persona
        self.touchpoint.value = touchpoint
        self.score.value = score
        self.comment.value = comment
        self._on_submit()

    def ratings(self) -> pd.DataFrame:
        """Every rating recorded in the shared store so far, by every participant."""
        return self.log.read()

    def refresh(self) -> None:
        """Redraw the running means and the staff-against-customers table from the store."""
        L = _LABELS[self.lang]
        ratings = self.log.read()
        means = running_means(ratings, self.study.journey, self.lang)[["label", "n", "mean"]]
        means["mean"] = [number(v, self.lang) if pd.notna(v) else "–" for v in means["mean"]]
        means = means.rename(columns={"label": L["label"], "n": L["n"], "mean": L["mean"]})
        self.table.value = f"<h4>{L['means']}</h4>" + means.to_html(index=False, border=0, escape=True)
        self.comparison.value = self._comparison_html(ratings)

    def _comparison_html(self, ratings: pd.DataFrame) -> str:
        if self.study.responses is None or ratings.empty or ratings["role"].isna().all():
            return ""
        from ..workshop import staff_vs_customers

        L, lang = _LABELS[self.lang], self.lang
        t = staff_vs_customers(self.study, ratings, lang=lang)
        t = t[t["n_staff"] > 0]
        if t.empty:
            return ""
        num = lambda v: number(v, lang) if pd.notna(v) else "–"  # noqa: E731
        shown = pd.DataFrame({
            L["label"]: t["label"], L["staff_mean"]: t["staff_mean"].map(num),
            L["customer_mean"]: t["customer_mean"].map(num),
            L["survey"]: [f"{num(e)} [{num(lo)} ; {num(hi)}]" for e, lo, hi in
                          zip(t["survey_estimate"], t["survey_ci_low"], t["survey_ci_high"])],
            L["gap_customers"]: t["gap_customers"].map(num),
            L["p_customers_adj"]: t["p_customers_adj"].map(lambda p: pvalue(p, lang)),
            L["gap_survey"]: t["gap_survey"].map(num),
            L["p_survey_adj"]: t["p_survey_adj"].map(lambda p: pvalue(p, lang)),
        })
        return f"<h4>{L['compare']}</h4>" + shown.to_html(index=False, border=0, escape=True)

    def _ipython_display_(self):  # pragma: no cover - display hook
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return f"RatingBoard({self.study.name!r}, store={self.log.path.name!r})"
