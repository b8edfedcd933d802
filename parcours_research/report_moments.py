"""Report section: moments of truth from the data (:func:`parcours_research.satisfaction.moments_of_truth`).

``s_moments`` is registered in :data:`parcours_research.report.SECTIONS`. Without a survey (or
an overall satisfaction question) it says so in a note instead of failing. It computes no
statistic: every number comes from :func:`parcours_research.moments.moments_of_truth`.
"""

from __future__ import annotations

from ._present import fmt_number, fmt_percent, fmt_pvalue
from .errors import AnalysisError, StudyError
from .report_sections import _missing, _text

__all__ = ["s_moments", "MIN_BOOT"]

#: Fewest bootstrap replicates used here: the test's smallest p-value is 1/(n_boot + 1), and
#: with fewer replicates no cell can pass the multiple-comparison correction.
MIN_BOOT = 400

_T = {
    "fr": {
        "title": "Moments de vérité : déclarés et constatés",
        "no_survey": "Pas d'enquête avec une question de satisfaction globale : les moments de vérité "
        "déclarés dans study.yml ne sont pas confrontés aux données.",
        "text": "Un moment de vérité est celui dont le client se souvient et qui fait son jugement "
        "d'ensemble. Pour chaque persona, la part de chaque point de contact dans la variance expliquée "
        "de la satisfaction globale (valeurs de Shapley, pondération de l'étude, intervalles bootstrap à "
        "{conf}) ; un point de contact est un moteur quand sa part dépasse nettement la part moyenne "
        "(p-value bootstrap unilatérale, correction de Benjamini–Hochberg sur toutes les cases). Le "
        "verdict confronte ce constat à la déclaration de study.yml. La recommandation (NPS) est "
        "donnée à côté.",
        "found": "{verdict} : {tp} pour « {persona} » ({share} de la variance expliquée, p corrigée {p}).",
        "none": "Aucun point de contact ne se détache comme moteur de la satisfaction globale après "
        "correction.",
        "peak": "Pic–fin ({persona}) : la pire note ({worst}) et la dernière ({last}) expliquent la "
        "satisfaction globale au-delà de la note moyenne (p corrigée {p}).",
        "no_peak": "Pic–fin : au-delà de la note moyenne, ni la pire note ni celle du dernier point de "
        "contact n'expliquent la satisfaction globale, dans aucun persona (test de Wald, plan de "
        "sondage).",
        "figure": "Moments de vérité déclarés (★) et constatés par persona ; test pic–fin",
        "table": "Importance de chaque point de contact par persona, et verdict",
        "pe_table": "Test pic–fin : satisfaction globale ~ note moyenne + pire note + dernière note",
        "verdicts": {
            "confirmed": "Moment de vérité confirmé",
            "undeclared driver": "Moteur non déclaré",
            "declared, not a driver": "Déclaré, pas un moteur",
        },
    },
    "en": {
        "title": "Moments of truth: declared and found",
        "no_survey": "No survey with an overall satisfaction question: the moments of truth declared "
        "in study.yml are not checked against the data.",
        "text": "A moment of truth is the one customers remember and judge the whole experience by. "
        "For each persona, each touchpoint's share of the explained variance of overall satisfaction "
        "(Shapley values, the study's weights, {conf} bootstrap intervals); a touchpoint is a driver "
        "when its share clearly exceeds the mean share (one-sided bootstrap p-value, Benjamini–Hochberg "
        "correction over every cell). The verdict sets this against study.yml's declaration. "
        "Recommendation (NPS) is shown beside.",
        "found": "{verdict}: {tp} for “{persona}” ({share} of the explained variance, adjusted p {p}).",
        "none": "No touchpoint stands out as a driver of overall satisfaction after correction.",
        "peak": "Peak–end ({persona}): the worst rating ({worst}) and the last one ({last}) explain "
        "overall satisfaction beyond the mean rating (adjusted p {p}).",
        "no_peak": "Peak–end: beyond the mean rating, neither the worst rating nor the last "
        "touchpoint's explains overall satisfaction, in any persona (design-based Wald test).",
        "figure": "Moments of truth declared (★) and found per persona; peak–end test",
        "table": "Importance of each touchpoint per persona, and verdict",
        "pe_table": "Peak–end test: overall satisfaction ~ mean rating + worst rating + last rating",
        "verdicts": {
            "confirmed": "Confirmed moment of truth",
            "undeclared driver": "Undeclared driver",
            "declared, not a driver": "Declared, not a driver",
        },
    },
}
_TABLE = [
    "persona",
    "touchpoint",
    "declared",
    "n",
    "importance",
    "ci_low",
    "ci_high",
    "share",
    "p_adj",
    "nps_importance",
    "nps_p_adj",
    "verdict",
]
_HEADERS = {
    "declared": ("Déclaré moment de vérité", "Declared moment of truth"),
    "n": ("Notes (nb)", "Ratings (n)"),
    "share": ("Part du R² (%)", "Share of R² (%)"),
    "nps_importance": ("Importance pour le NPS (R²)", "Importance for NPS (R²)"),
    "nps_p_adj": ("p corrigée (NPS)", "Adjusted p (NPS)"),
    "verdict": ("Verdict", "Verdict"),
    "coef_mean": ("Effet de la note moyenne", "Effect of the mean rating"),
    "worst": ("Effet de la pire note", "Effect of the worst rating"),
    "last": ("Effet de la dernière note", "Effect of the last rating"),
    "r2_mean": ("R² (moyenne seule)", "R² (mean only)"),
    "r2_full": ("R² (moyenne, pire, dernière)", "R² (mean, worst, last)"),
    "f_stat": ("F", "F"),
    "df_num": ("ddl (num.)", "df (num.)"),
    "df_den": ("ddl (dén.)", "df (den.)"),
    "peak_end": ("Effet pic–fin", "Peak–end effect"),
}
_VALUES = {
    "persona": {"all": ("tous les répondants", "all respondents")},
    "verdict": {
        "confirmed": ("confirmé", "confirmed"),
        "declared, not a driver": ("déclaré, pas un moteur", "declared, not a driver"),
        "undeclared driver": ("moteur non déclaré", "undeclared driver"),
        "not a driver": ("pas un moteur", "not a driver"),
        "too few ratings": ("trop peu de notes", "too few ratings"),
    },
}
_KINDS = {
    "importance": "number",
    "ci_low": "number",
    "nps_importance": "number",
    "share": "percent",
    "declared": "bool",
    "coef_mean": "number",
    "worst": "number",
    "worst_ci_low": "number",
    "last": "number",
    "last_ci_low": "number",
    "r2_mean": "number",
    "r2_full": "number",
    "f_stat": "number",
    "df_num": "count",
    "df_den": "count",
    "peak_end": "bool",
}
_DISPLAY = {"headers": _HEADERS, "values": _VALUES, "kinds": _KINDS}
_PE_DISPLAY = {**_DISPLAY, "headers": {**_HEADERS, "n": ("Répondants (nb)", "Respondents (n)")}}


def s_moments(ctx, sec) -> None:
    """Moments of truth declared against found (a note without a survey)."""
    from .moments import moments_of_truth
    from .plot import moments_of_truth as plot_moments

    lang, t, st = ctx.lang, _T[ctx.lang], ctx.study
    sec.title = t["title"]
    if st.responses is None or not st.instrument.first("overall"):
        return _missing(sec, t["no_survey"])
    try:
        res = ctx.moments = moments_of_truth(
            ctx.evidence, n_boot=max(ctx.n_boot, MIN_BOOT), seed=ctx.seed
        )
    except (AnalysisError, StudyError) as e:
        return _missing(sec, str(e).splitlines()[0])
    sec.blocks.append(_text("text", t["text"].format(conf=fmt_percent(res.confidence, lang, 0))))
    for sentence in _sentences(res, st.journey, lang):
        sec.blocks.append(_text("key", sentence))
    sec.blocks.append(
        ctx.figure("moments_of_truth", plot_moments(res, journey=st, lang=lang), t["figure"])
    )
    judged = res.summary[res.summary["verdict"] != "too few ratings"]
    table = judged.sort_values("p_adj", kind="stable")[_TABLE]
    show = {**_DISPLAY, "columns": _TABLE}
    sec.blocks.append(ctx.table("moments_of_truth", table, t["table"], max_rows=20, display=show))
    pe = res.peak_end.rename(columns={"coef_worst": "worst", "coef_last": "last"})
    sec.blocks.append(
        ctx.table("peak_end", pe.drop(columns="p_value"), t["pe_table"], display=_PE_DISPLAY)
    )


def _sentences(res, journey, lang: str) -> list[str]:
    """One sentence per confirmed, undeclared or unconfirmed moment of truth, then peak–end."""
    t = _T[lang]
    s = res.summary
    out = []
    for verdict in ("confirmed", "undeclared driver"):
        for r in s[s["verdict"] == verdict].itertuples(index=False):
            out.append(
                t["found"].format(
                    verdict=t["verdicts"][verdict],
                    tp=journey.label(r.touchpoint, lang),
                    persona=journey.label(r.persona, lang),
                    share=fmt_percent(r.share, lang, 0),
                    p=fmt_pvalue(r.p_adj, lang),
                )
            )
    if not s["driver"].any():
        out.append(t["none"])
    pe = res.peak_end[res.peak_end["peak_end"]]
    for r in pe.itertuples(index=False):
        name = (
            _VALUES["persona"]["all"][lang == "en"]
            if r.persona == "all"
            else journey.label(r.persona, lang)
        )
        out.append(
            t["peak"].format(
                persona=name,
                worst=fmt_number(r.coef_worst, lang, 2, sign=True),
                last=fmt_number(r.coef_last, lang, 2, sign=True),
                p=fmt_pvalue(r.p_adj, lang),
            )
        )
    if pe.empty:
        out.append(t["no_peak"])
    return out
