"""Figures of a journey study, drawn with matplotlib (and seaborn where it does better).

* :func:`journey_curves`: persona satisfaction curves against the target, with bands, moments
  of truth, friction points and stages;
* :func:`valence_curve`: the interviews' valence curve under the survey curve;
* :func:`funnel`: the conversion funnel per persona;
* :func:`pyramid`: the conversion pyramid per persona (stage conversion against target);
* :func:`importance_performance`: the importance–performance matrix;
* :func:`transitions`: the main transitions between touchpoints (an arc diagram);
* :func:`lived_vs_designed`: each persona's designed journey above its most frequent lived
  paths, deviations coloured by their satisfaction cost (:func:`parcours_research.journey.conformance`);
* :func:`next_wave`: today's minimum detectable effects and the next wave's sample per persona
  (:func:`parcours_research.plan.next_wave`); :func:`at_stake`: the outcome difference of the
  customers who met each friction (:func:`parcours_research.outcomes.at_stake`);
* :func:`moments_of_truth`: the verdict grid of the moments of truth (declared against found) and
  the peak–end test (:func:`parcours_research.satisfaction.moments_of_truth`);
* :func:`contact_pressure`: satisfaction by number of contacts per channel and persona, the
  too-few and too-many zones shaded (:func:`parcours_research.traces.contact_pressure`);
* :func:`power`: power of a study design against its sample size (:func:`parcours_research.plan.power`);
* :func:`gap_heatmap`, :func:`transition_matrix`, :func:`rating_distributions` (seaborn): the gap
  to target per persona × touchpoint, the transition matrix, the weighted rating shares per persona;
* :func:`save`: write a figure as PNG and SVG; :func:`style`: the fixed look (fonts, sizes,
  Okabe–Ito palette) as a context manager.

Every function takes a tidy table produced by the analyses and returns a matplotlib
``Figure``; none computes statistics.
"""

from __future__ import annotations

from ._style import OKABE_ITO, save, savefig, style
from .conformance import lived_vs_designed
from .contacts import contact_pressure
from .curves import journey_curves, valence_curve
from .funnel import funnel
from .grids import gap_heatmap, rating_distributions, transition_matrix
from .matrix import importance_performance
from .moments import moments_of_truth
from .next_wave import at_stake, next_wave
from .paths import transitions
from .power import power
from .pyramid import pyramid

__all__ = [
    "OKABE_ITO",
    "contact_pressure",
    "at_stake",
    "funnel",
    "gap_heatmap",
    "importance_performance",
    "journey_curves",
    "lived_vs_designed",
    "moments_of_truth",
    "next_wave",
    "power",
    "pyramid",
    "rating_distributions",
    "save",
    "savefig",
    "style",
    "transition_matrix",
    "transitions",
    "valence_curve",
]
