"""Contact pressure and channel fit: "too much or too little" contact, the right channel (seed 002).

* :func:`contact_counts`: contacts per customer, channel and period from the event log. A
  *contact* is one touchpoint met in one session: the events of a touchpoint inside one session
  count once (``quote_start`` and ``quote_done`` are one visit of the simulator); each event is a
  contact when the log has no sessions. Every customer of the population is counted, with zero
  contacts on a channel they never used, in every period.
* :func:`contact_pressure` (also ``pr.traces.contact_pressure``): the counts, and overall
  satisfaction of the survey respondents as a function of their number of contacts per channel
  and persona, locating "too few" and "too many": the zones of lowest or highest contact counts
  where satisfaction is significantly below the rest.
* :func:`channel_fit` (also ``pr.satisfaction.channel_fit``): satisfaction per purpose ×
  channel (``purpose:`` of the touchpoints in study.yml), flagging a channel significantly
  worse than the best channel serving the same purpose.

The model
---------
Per persona and channel, respondents are grouped in *contact bands*: whole numbers of contacts
per period (``0``, ``1``, ``2`` ...), adjacent counts pooled from the lowest up until a band holds
``min_n`` respondents (the last band, ``k+``, takes the remainder). The band means of the outcome
are the coefficients of a weighted least-squares regression on band indicators
(``statsmodels`` WLS with the study's weights, no intercept), with a heteroskedasticity-robust
(HC1) covariance, or clustered by the survey's primary sampling units when the design has them:
the sandwich is the design-based (Taylor) variance of weighted means, not the frequency-weight
variance statsmodels would give without it. Strata are ignored (conservative as a rule).

"Too many" is a zone of the highest counts whose satisfaction is significantly below that of the
lower counts, "too few" a zone of the lowest counts below that of the higher ones. For every cut
between two bands, the difference between the weighted means of the bands above and below it (a
linear combination of the band means, its variance from their covariance) is tested one-sided;
per side, the cut with the smallest p-value locates the zone and its p-value is multiplied by the
number of cuts scanned (Bonferroni). The p-values of every persona, channel and side are then
corrected together (Holm by default). A single cut pools the respondents of several bands, which
gives the test its power; the bands' own means and intervals are shown beside it (``summary``),
with each band's difference to the best band.

Channel fit compares each channel with the best channel of its purpose: Hsu's multiple
comparisons with the best, Bonferroni form — channel *j*'s p-value is
``min(1, (K - 1) * min_k p_jk)`` with ``p_jk`` the one-sided p-value of "channel *k* is better
than *j*", a test of "*j* is the best" that needs no knowledge of which channel is — on the long
touchpoint ratings: per purpose (and persona), the mean rating of each channel's touchpoints,
respondents as clusters (one respondent rates several touchpoints), Holm over the table.

Layout
------
This module gathers the public names of four small modules: :mod:`._contact_counts`
(counting), :mod:`._contact_stats` (group means, comparison with the best, step tests, bands),
:mod:`._contact_pressure` and :mod:`._channel_fit` (the two analyses and their results).
"""

from __future__ import annotations

from ._channel_fit import FIT_COLUMNS, ChannelFit, channel_fit
from ._contact_counts import ALL, PERIODS, contact_counts
from ._contact_pressure import (
    SUMMARY_COLUMNS,
    VERDICTS,
    ZONE_COLUMNS,
    ContactPressure,
    contact_pressure,
)
from ._contact_stats import (
    _mcb_p,  # noqa: F401 (the tests import it from here)
    band_label,
    band_of,
    compare_with_best,
    contact_bands,
    group_fit,
    step_tests,
)

__all__ = [
    "contact_counts",
    "contact_pressure",
    "channel_fit",
    "ContactPressure",
    "ChannelFit",
    "PERIODS",
    "VERDICTS",
]
__all__ += [  # also importable from here, as in 0.4.0
    "ALL",
    "FIT_COLUMNS",
    "SUMMARY_COLUMNS",
    "ZONE_COLUMNS",
    "band_label",
    "band_of",
    "compare_with_best",
    "contact_bands",
    "group_fit",
    "step_tests",
]
