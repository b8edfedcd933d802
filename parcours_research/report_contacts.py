"""Report section: contact pressure and channel fit (:func:`parcours_research.traces.contact_pressure`,
:func:`parcours_research.satisfaction.channel_fit`).

``s_contacts`` is registered in :data:`parcours_research.report.SECTIONS`. Without an event log,
a survey linked to it, or ``purpose:`` on the touchpoints, it says so in a note instead of
failing. It computes no statistic: every number comes from :mod:`parcours_research.contact`.
"""

from __future__ import annotations

from ._present import fmt_number, fmt_pvalue
from .errors import AnalysisError, StudyError
from .report_sections import _left_out_sentence, _missing, _text

__all__ = ["s_contacts"]

_T = {
    "fr": {
        "title": "Pression de contact et canal adapté",
        "no_data": "Pas de journal d'événements relié à une enquête de satisfaction : la pression de "
        "contact n'est pas mesurée.",
        "text": "Trop ou trop peu de contacts ? Pour chaque persona et chaque canal, les répondants sont "
        "groupés selon leur nombre de contacts dans les traces nettoyées (un point de contact par "
        "session compte pour un contact) et leur satisfaction globale moyenne est estimée dans chaque "
        "tranche (poids de l'étude, intervalles à {conf}). Une zone « trop » (les nombres de contacts "
        "les plus élevés) ou « trop peu » (les plus faibles) est signalée quand sa satisfaction est "
        "nettement inférieure à celle du reste (meilleure coupure, correction de Bonferroni sur les "
        "coupures puis de Holm sur toutes les cases).",
        "found": "{side} de contacts {channel} pour « {persona} » : {zone} contacts, satisfaction "
        "{diff} point(s) sous le reste (p corrigée {p}).",
        "none": "Aucun nombre de contacts ne se distingue par une satisfaction plus basse, dans aucun "
        "canal ni persona.",
        "sides": {"too few": "Trop peu", "too many": "Trop"},
        "figure": "Satisfaction globale selon le nombre de contacts, zones signalées",
        "zones": "Zones « trop » et « trop peu » par persona et canal",
        "fit_text": "Un objectif par interaction, le bon canal pour chacun : pour chaque objectif "
        "(purpose) servi par plusieurs canaux, la satisfaction des points de contact de chaque canal est "
        "comparée à celle du meilleur canal (comparaison au meilleur, répondants en grappes, correction "
        "de Holm).",
        "fit_found": "« {purpose} » ({persona}) : le canal {channel} est en dessous du meilleur canal "
        "de {diff} point(s) (p corrigée {p}).",
        "fit_none": "Aucun canal n'est nettement en dessous du meilleur canal de son objectif.",
        "no_purpose": "Les points de contact n'ont pas d'objectif (purpose:) dans study.yml : "
        "l'adéquation canal × objectif n'est pas mesurée.",
        "fit_table": "Satisfaction par objectif et canal",
        "left_out": "{left} répondant(s) sur {n} hors du modèle : {reasons}.",
        "reasons": {
            "not in the event log": "{k} absent(s) du journal d'événements",
            "no outcome": "{k} sans réponse à la question",
            "no positive weight": "{k} sans poids positif",
            "no group": "{k} sans persona",
        },
    },
    "en": {
        "title": "Contact pressure and channel fit",
        "no_data": "No event log linked to a satisfaction survey: contact pressure is not measured.",
        "text": "Too many or too few contacts? For each persona and channel, respondents are grouped by "
        "their number of contacts in the cleaned traces (a touchpoint met in a session counts as one "
        "contact) and their mean overall satisfaction is estimated in each band (the study's weights, "
        "{conf} intervals). A “too many” zone (the highest counts) or “too few” zone (the lowest) is "
        "flagged when its satisfaction is clearly below the rest's (best cut, Bonferroni over the "
        "cuts, then Holm over every cell).",
        "found": "{side} {channel} contacts for “{persona}”: {zone} contacts, satisfaction {diff} "
        "point(s) below the rest (adjusted p {p}).",
        "none": "No number of contacts stands out with a lower satisfaction, in any channel or persona.",
        "sides": {"too few": "Too few", "too many": "Too many"},
        "figure": "Overall satisfaction by number of contacts, flagged zones",
        "zones": "“Too many” and “too few” zones per persona and channel",
        "fit_text": "One purpose per interaction, the right channel for each: for every purpose served "
        "by several channels, the satisfaction of each channel's touchpoints is compared with the best "
        "channel's (comparison with the best, respondents as clusters, Holm correction).",
        "fit_found": "“{purpose}” ({persona}): the {channel} channel is {diff} point(s) below the best "
        "channel (adjusted p {p}).",
        "fit_none": "No channel is clearly below the best channel of its purpose.",
        "no_purpose": "The touchpoints have no purpose (purpose:) in study.yml: channel fit is not "
        "measured.",
        "fit_table": "Satisfaction per purpose and channel",
        "left_out": "{left} of {n} respondents are left out of the model: {reasons}.",
        "reasons": {
            "not in the event log": "{k} not in the event log",
            "no outcome": "{k} without an answer to the question",
            "no positive weight": "{k} without a positive weight",
            "no group": "{k} without a persona",
        },
    },
}
_HEADERS = {
    "side": ("Zone", "Zone"),
    "zone": ("Contacts", "Contacts"),
    "respondents": ("Répondants (nb)", "Respondents (n)"),
    "ratings": ("Notes (nb)", "Ratings (n)"),
    "touchpoints": ("Points de contact", "Touchpoints"),
    "purpose": ("Objectif", "Purpose"),
    "sat": ("Satisfaction (1–5)", "Satisfaction (1–5)"),
    "sat_zone": ("Satisfaction dans la zone", "Satisfaction in the zone"),
    "sat_rest": ("Satisfaction hors zone", "Satisfaction outside"),
    "diff": ("Écart (points)", "Difference (points)"),
    "diff_low": ("Écart, borne basse", "Difference, lower bound"),
    "diff_high": ("Écart, borne haute", "Difference, upper bound"),
    "diff_best": ("Écart au meilleur canal", "Difference to the best channel"),
    "flagged": ("Signalée", "Flagged"),
    "verdict": ("Verdict", "Verdict"),
}
_VALUES = {
    "persona": {"all": ("tous les répondants", "all respondents")},
    "side": {"too few": ("trop peu", "too few"), "too many": ("trop", "too many")},
    "verdict": {
        "best": ("meilleur canal", "best channel"),
        "ok": ("pas d'écart net", "no clear gap"),
        "worse": ("moins bien", "worse"),
    },
}
_KINDS = {
    "flagged": "bool",
    "respondents": "count",
    "ratings": "count",
    "sat": "number",
    "sat_zone": "number",
    "sat_rest": "number",
    "diff": "number",
    "diff_low": "number",
    "diff_high": "number",
    "diff_best": "number",
}
_DISPLAY = {"headers": _HEADERS, "values": _VALUES, "kinds": _KINDS}
_ZONES = [
    "persona",
    "channel",
    "side",
    "zone",
    "respondents",
    "sat_zone",
    "sat_rest",
    "diff",
    "diff_low",
    "diff_high",
    "p_adj",
    "flagged",
]


_FIT = [
    "persona",
    "purpose",
    "channel",
    "touchpoints",
    "respondents",
    "ratings",
    "sat",
    "ci_low",
    "ci_high",
    "diff_best",
    "p_adj",
    "verdict",
]


def s_contacts(ctx, sec) -> None:
    """Contact pressure, then channel fit (notes when the study lacks what they need)."""
    from .contact import contact_pressure

    lang, t, st = ctx.lang, _T[ctx.lang], ctx.study
    sec.title = t["title"]
    linked = st.traces is not None and st.responses is not None and st.instrument is not None
    if not linked or not st.instrument.first("overall"):
        return _missing(sec, t["no_data"])
    try:
        res = ctx.contacts = contact_pressure(ctx.evidence)
    except (AnalysisError, StudyError) as e:
        return _missing(sec, str(e).splitlines()[0])
    sec.blocks.append(_text("text", t["text"].format(conf=f"{res.confidence:.0%}")))
    if (left_out := _left_out(res, lang)) is not None:
        sec.blocks.append(_text("text", left_out))
    for sentence in _sentences(res, st.journey, lang):
        sec.blocks.append(_text("key", sentence))
    _figure(ctx, sec, res, t)
    key = res.by or "persona"
    zones = res.zones.rename(columns={key: "persona"})
    shown = zones[zones["flagged"]] if zones["flagged"].any() else zones.nsmallest(6, "p_adj")
    sec.blocks.append(
        ctx.table("contact_pressure", shown[_ZONES], t["zones"], max_rows=20, display=_DISPLAY)
    )
    _channel_fit(ctx, sec, lang)


def _figure(ctx, sec, res, t) -> None:
    from .plot import contact_pressure as plot_contacts

    fig = plot_contacts(res, study=ctx.study, lang=ctx.lang)
    sec.blocks.append(ctx.figure("contact_pressure", fig, t["figure"]))


def _left_out(res, lang: str) -> str | None:
    """The respondents left out of the model and why (:attr:`ContactPressure.respondents`);
    None when every respondent is in it."""
    t = _T[lang]
    return _left_out_sentence(res.respondents, lang, t["left_out"],
                              lambda r, k: t["reasons"][r].format(k=k))


def _sentences(res, journey, lang: str) -> list[str]:
    t = _T[lang]
    key = res.by or "persona"
    out = []
    for r in res.flagged().to_dict("records"):
        out.append(
            t["found"].format(
                side=t["sides"][r["side"]],
                channel=r["channel"],
                zone=r["zone"].replace(">=", "≥"),
                persona=journey.label(r[key], lang) if r[key] != "all" else r[key],
                diff=fmt_number(-r["diff"], lang, 2),
                p=fmt_pvalue(r["p_adj"], lang),
            )
        )
    return out or [t["none"]]


def _channel_fit(ctx, sec, lang: str) -> None:
    from .contact import channel_fit

    t, st = _T[lang], ctx.study
    if not st.purposes:
        return _missing(sec, t["no_purpose"])
    try:
        fit = ctx.channel_fit = channel_fit(ctx.evidence)
    except (AnalysisError, StudyError) as e:
        return _missing(sec, str(e).splitlines()[0])
    sec.blocks.append(_text("text", t["fit_text"]))
    labels = dict(zip(fit.purposes["purpose"], fit.purposes["label"], strict=True))
    key = fit.by or "persona"
    worse = fit.flagged()
    for r in worse.to_dict("records"):
        persona = st.journey.label(r[key], lang) if r[key] != "all" else r[key]
        sec.blocks.append(
            _text(
                "key",
                t["fit_found"].format(
                    purpose=labels.get(r["purpose"], r["purpose"]),
                    persona=persona,
                    channel=r["channel"],
                    diff=fmt_number(-r["diff_best"], lang, 2),
                    p=fmt_pvalue(r["p_adj"], lang),
                ),
            )
        )
    if worse.empty:
        sec.blocks.append(_text("key", t["fit_none"]))
    tested = fit.summary[fit.summary["p_value"].notna()].sort_values("p_adj", kind="stable")
    tested = tested.rename(columns={key: "persona"})[_FIT]
    purposes = {k: (v.get("fr"), v.get("en")) for k, v in st.purpose_labels.items()}
    display = {**_DISPLAY, "values": {**_VALUES, "purpose": purposes}}
    sec.blocks.append(
        ctx.table("channel_fit", tested, t["fit_table"], max_rows=20, display=display)
    )
