"""Report section: designed journeys against lived journeys (:func:`parcours_research.journey.conformance`).

``s_conformance`` is registered in :data:`parcours_research.report.SECTIONS`. It says in a note,
instead of failing, what the study lacks (``to_be:`` in study.yml, an event log). It computes
no statistic: the numbers come from :func:`parcours_research.conformance.conformance`.
"""

from __future__ import annotations

from ._present import fmt_count, fmt_number, fmt_percent
from .errors import AnalysisError, StudyError
from .report_sections import _missing, _text

__all__ = ["s_conformance"]

_T = {
    "fr": {
        "title": "Parcours conçu, parcours vécu",
        "no_to_be": "Pas de parcours conçu dans study.yml (to_be: {default: {steps: [...], optional: [...], "
        "repeatable: [...]}}) : les parcours vécus ne sont pas comparés au parcours voulu.",
        "no_traces": "Pas de journal d'événements : les parcours vécus ne sont pas connus.",
        "text": "Pour chaque client, ses visites des points de contact dans les traces (nettoyées, "
        "réconciliées), comparées au parcours conçu pour son persona : étape sautée, arrêt avant une "
        "étape, point de contact ajouté, ordre changé, étape répétée. Pour chaque écart, la satisfaction "
        "globale et le NPS des clients interrogés qui le vivent comparés à ceux des autres clients "
        "interrogés du persona (moyennes pondérées par la règle de l'étude, intervalles à {conf}, "
        "correction {corr} pour les nombreux écarts testés).",
        "conform": "{persona} : {share} des {n} clients suivent le parcours conçu.",
        "flag": "{persona} : {dev} ({share} des clients) ; satisfaction globale {diff} point "
        "[{lo} ; {hi}] chez ceux qui le vivent.",
        "none": "Aucun écart au parcours conçu n'est associé à une satisfaction différente après correction.",
        "figure": "Parcours conçu (en haut) et parcours vécus les plus fréquents de chaque persona",
        "groups": "Clients qui suivent le parcours conçu",
        "table": "Écarts au parcours conçu et différence de satisfaction globale et de NPS",
        "kinds": {
            "skipped": "étape sautée",
            "stopped": "arrêt avant",
            "added": "ajout",
            "out_of_order": "ordre changé",
            "repeated": "étape répétée",
        },
    },
    "en": {
        "title": "Designed journey, lived journey",
        "no_to_be": "No designed journey in study.yml (to_be: {default: {steps: [...], optional: [...], "
        "repeatable: [...]}}): lived journeys are not compared with the intended one.",
        "no_traces": "No event log: lived journeys are unknown.",
        "text": "For each customer, their touchpoint visits in the (cleaned, stitched) traces, compared "
        "with the journey designed for their persona: a step skipped, a stop before a step, a "
        "touchpoint added, the order changed, a step repeated. For each deviation, the overall "
        "satisfaction and NPS of the surveyed customers who live it against the persona's other "
        "surveyed customers (means weighted by the study's rule, {conf} intervals, {corr} correction "
        "for the many deviations tested).",
        "conform": "{persona}: {share} of {n} customers follow the designed journey.",
        "flag": "{persona}: {dev} ({share} of customers); overall satisfaction {diff} points "
        "[{lo}; {hi}] among those who live it.",
        "none": "No deviation from the designed journey goes with a different satisfaction after correction.",
        "figure": "Designed journey (top) and most frequent lived journeys of each persona",
        "groups": "Customers following the designed journey",
        "table": "Deviations from the designed journey and differences in overall satisfaction and NPS",
        "kinds": {
            "skipped": "step skipped",
            "stopped": "stopped before",
            "added": "added",
            "out_of_order": "out of order",
            "repeated": "step repeated",
        },
    },
}
_CORRECTION = {"holm": "de Holm", "bh": "de Benjamini–Hochberg"}
_COLUMNS = [
    "persona",
    "kind",
    "touchpoint",
    "customers",
    "share",
    "n_with",
    "n_without",
    "sat_diff",
    "ci_low",
    "ci_high",
    "p_adj",
    "nps_diff",
    "nps_p_adj",
]
_HEADERS = {
    "kind": ("Écart", "Deviation"),
    "customers": ("Clients (nb)", "Customers (n)"),
    "share": ("Part des clients (%)", "Share of customers (%)"),
    "n_with": ("Interrogés avec (nb)", "Surveyed with (n)"),
    "n_without": ("Interrogés sans (nb)", "Surveyed without (n)"),
    "sat_diff": (
        "Écart de satisfaction globale (points)",
        "Overall satisfaction difference (points)",
    ),
    "ci_low": ("IC 95 %", "95% CI"),
    "nps_diff": ("Écart de NPS (points)", "NPS difference (points)"),
    "nps_p_adj": ("p corrigée (NPS)", "adjusted p (NPS)"),
    "conforming": ("Conformes (nb)", "Conforming (n)"),
    "share_conforming": ("Part conforme (%)", "Share conforming (%)"),
    "respondents": ("Interrogés (nb)", "Surveyed (n)"),
}
_KINDS = {
    "ci_low": "number",
    "share": "percent",
    "share_conforming": "percent",
    "customers": "count",
    "n_with": "count",
    "n_without": "count",
    "conforming": "count",
    "respondents": "count",
    "sat_diff": "number",
    "nps_diff": "number",
}


def s_conformance(ctx, sec) -> None:
    """Designed against lived journeys (a note when the study has no ``to_be:`` or no traces)."""
    from .conformance import conformance
    from .plot import lived_vs_designed

    lang, t, st = ctx.lang, _T[ctx.lang], ctx.study
    sec.title = t["title"]
    if not st.journey.to_be:
        return _missing(sec, t["no_to_be"])
    if st.traces is None:
        return _missing(sec, t["no_traces"])
    try:
        res = ctx.conformance = conformance(ctx.evidence)
    except (AnalysisError, StudyError) as e:
        return _missing(sec, str(e).splitlines()[0])
    corr = (
        _CORRECTION.get(res.correction, res.correction) if lang == "fr" else res.correction.title()
    )
    sec.blocks.append(
        _text("text", t["text"].format(conf=fmt_percent(res.confidence, lang, 0), corr=corr))
    )
    for sentence in _sentences(res, st.journey, lang):
        sec.blocks.append(_text("key", sentence))
    fig = lived_vs_designed(res, journey=st, lang=lang)
    sec.blocks.append(ctx.figure("conformance", fig, t["figure"]))
    show = {"kinds": _KINDS, "headers": _HEADERS}
    sec.blocks.append(ctx.table("conformance_groups", res.groups, t["groups"], display=show))
    table = res.summary.sort_values(
        ["significant", "customers"], ascending=[False, False], kind="stable"
    )
    table = table.assign(kind=table["kind"].map(t["kinds"]))
    sec.blocks.append(
        ctx.table("conformance", table[_COLUMNS], t["table"], display={"columns": _COLUMNS, **show})
    )


def _sentences(res, journey, lang: str) -> list[str]:
    """One sentence per persona (share following the design), one per flagged deviation."""
    t = _T[lang]
    out = [
        t["conform"].format(
            persona=journey.label(r.persona, lang),
            n=fmt_count(r.customers, lang),
            share=fmt_percent(r.share_conforming, lang, 0),
        )
        for r in res.groups.itertuples(index=False)
    ]
    flagged = res.flagged
    for r in flagged.itertuples(index=False):
        dev = (
            f"{t['kinds'][r.kind]} « {journey.label(r.touchpoint, lang)} »"
            if lang == "fr"
            else f"{t['kinds'][r.kind]} “{journey.label(r.touchpoint, lang)}”"
        )
        out.append(
            t["flag"].format(
                persona=journey.label(r.persona, lang),
                dev=dev,
                share=fmt_percent(r.share, lang, 0),
                diff=fmt_number(r.sat_diff, lang, 2, sign=True),
                lo=fmt_number(r.ci_low, lang, 2),
                hi=fmt_number(r.ci_high, lang, 2),
            )
        )
    if flagged.empty:
        out.append(t["none"])
    return out
