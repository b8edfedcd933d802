"""The live rating board: workshop participants rate touchpoints and leave comments.

State lives in the widgets; every rating goes through :class:`parcours_research.ratings.RatingLog`
(append-only, flushed to disk at once) and the running means come from the package.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as w
import pandas as pd

from ..errors import StudyError
from ..ratings import RatingLog, running_means
from ..study import Study

__all__ = ["RatingBoard"]


class RatingBoard:
    """A workshop rating board.

    Parameters
    ----------
    study : Study
        The study whose touchpoints and personas are rated.
    path : str or Path
        The append-only CSV where ratings are kept (created if missing; reopened as is).
    session : str
        Label of the workshop session written on every row.
    lang : {"fr", "en"}
        Language of labels.

    Attributes
    ----------
    log : RatingLog
    widget : ipywidgets.VBox
        The board; display it with ``display(board.widget)`` or just ``board`` in a notebook.
    """

    def __init__(self, study: Study, path: str | Path, session: str = "workshop", lang: str = "fr"):
        self.study = study
        self.lang = lang
        self.log = RatingLog(Path(path), journey=study.journey, session=session)
        j = study.journey
        self.participant = w.Text(description="Participant", placeholder="initiales ou code")
        self.persona = w.Dropdown(options=[("—", "")] + [(p.label.get(lang), p.id) for p in j.personas],
                                  description="Persona")
        self.touchpoint = w.Dropdown(options=[(f"{t.order}. {t.label.get(lang)}", t.id) for t in j.touchpoints],
                                     description="Point de contact" if lang == "fr" else "Touchpoint")
        self.score = w.ToggleButtons(options=[1, 2, 3, 4, 5], value=None, description="Note" if lang == "fr" else "Score")
        self.comment = w.Textarea(description="Commentaire" if lang == "fr" else "Comment", rows=2)
        self.submit = w.Button(description="Enregistrer" if lang == "fr" else "Save", button_style="primary",
                               icon="check")
        self.status = w.HTML()
        self.table = w.HTML()
        self.submit.on_click(self._on_submit)
        self.widget = w.VBox([
            w.HBox([self.participant, self.persona]), self.touchpoint, self.score, self.comment,
            w.HBox([self.submit, self.status]), self.table,
        ])
        self.refresh()

    def _on_submit(self, _button=None) -> None:
        try:
            row = self.log.add(self.participant.value, self.touchpoint.value, self.score.value,
                               comment=self.comment.value, persona=self.persona.value or None)
        except StudyError as e:
            self.status.value = "<span style='color:#b00'>" + "; ".join(p.message for p in e.problems) + "</span>"
            return
        self.status.value = f"<span style='color:#070'>✓ {row['touchpoint']} = {row['score']}</span>"
        self.score.value = None
        self.comment.value = ""
        self.refresh()

    def rate(self, participant: str, touchpoint: str, score: int, comment: str = "", persona: str = "") -> None:
        """Fill the form and press the button (what a participant does; used in tests and scripts)."""
        self.participant.value = participant
        self.persona.value = persona
        self.touchpoint.value = touchpoint
        self.score.value = score
        self.comment.value = comment
        self._on_submit()

    def ratings(self) -> pd.DataFrame:
        """Every rating recorded in the file so far."""
        return self.log.read()

    def refresh(self) -> None:
        means = running_means(self.log.read(), self.study.journey, self.lang)[["label", "n", "mean"]]
        self.table.value = means.to_html(index=False, float_format=lambda x: f"{x:.2f}", na_rep="–")

    def _ipython_display_(self):  # pragma: no cover - display hook
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return f"RatingBoard({self.study.name!r}, file={self.log.path.name!r})"
