"""Report sections of the next wave's plan and of the cost of the frictions.

``s_next_wave`` (:func:`parcours_research.plan.next_wave`) and ``s_at_stake``
(:func:`parcours_research.outcomes.at_stake`), registered in
:data:`parcours_research.report.SECTIONS`. Each says in a note, instead of failing, what the
study lacks (costs under ``plan:``, outcome columns under ``outcomes:``).
"""

from __future__ import annotations

from ._present import fmt_count, fmt_number, fmt_percent
from .errors import AnalysisError, StudyError
from .report_sections import _left_out_sentence, _missing, _text

__all__ = ["s_next_wave", "s_at_stake"]

_T = {
    "fr": {
        "next_wave": "Prochaine vague : ce qu'on a, ce qu'il faut",
        "at_stake": "Ce que coûte une friction",
        "no_costs": "Pas de coûts dans study.yml (plan: costs: {respondent: 12, interview: 350, "
        "currency: EUR}) : la prochaine vague n'est pas chiffrée.",
        "no_outcomes": "Pas de colonne de résultat client dans study.yml (outcomes: {churned: binary, "
        "revenue: amount}) : le coût des frictions n'est pas estimé.",
        "nw_text": "Pour chaque point de contact, persona et source, l'effet minimal détectable "
        "aujourd'hui (enquête : points de note avec l'effet de plan des poids ; traces : baisse "
        "de complétion ; entretiens : la part de clients qu'un thème doit toucher pour être "
        "entendu au moins une fois), puis la vague qui atteint l'effet voulu ({survey} point "
        "de note, thème touchant {qual} des clients) au moindre coût.",
        "nw_matrix": "Matrice des preuves : effet minimal détectable par source",
        "nw_summary": "Prochaine vague par persona",
        "st_text": "Pour chaque point de contact et persona, l'écart de {outcome} entre les clients qui "
        "ont rencontré la friction (commencé l'étape sans la terminer dans les traces, ou noté 2 "
        "ou moins quand l'étape n'a pas de trace) et les autres, ajusté sur l'ancienneté ; "
        "intervalles bootstrap, correction pour comparaisons multiples.",
        "st_table": "Écart ajusté et clients en jeu si le point de contact atteignait sa cible",
        "st_none": "Aucun écart signalé après correction.",
        "st_key": "{tp} / {persona} : {d} de {outcome} chez ceux qui ont rencontré la friction, "
        "environ {k} clients et {v} de {value} en jeu.",
        "st_left_out": "{left} client(s) du fichier sur {n} hors de l'analyse : {reasons}.",
        "st_reason": "{k} sans {what}",
    },
    "en": {
        "next_wave": "Next wave: what we have, what we need",
        "at_stake": "What a friction costs",
        "no_costs": "No costs in study.yml (plan: costs: {respondent: 12, interview: 350, "
        "currency: EUR}): the next wave is not costed.",
        "no_outcomes": "No customer outcome column in study.yml (outcomes: {churned: binary, "
        "revenue: amount}): the cost of the frictions is not estimated.",
        "nw_text": "For each touchpoint, persona and source, today's minimum detectable effect "
        "(survey: rating points with the weights' design effect; traces: completion drop; "
        "interviews: the share of customers a theme must touch to be heard at least once), then "
        "the wave that reaches the wanted effect ({survey} rating point, a theme touching "
        "{qual} of customers) at the least cost.",
        "nw_matrix": "Evidence matrix: minimum detectable effect by source",
        "nw_summary": "Next wave per persona",
        "st_text": "For each touchpoint and persona, the {outcome} difference between the customers "
        "who met the friction (started the step without completing it in the traces, or rated it "
        "2 or less where the step has no trace) and the others, adjusted for tenure; bootstrap "
        "intervals, multiple-comparison correction.",
        "st_table": "Adjusted difference and customers at stake if the touchpoint reached its target",
        "st_none": "No difference flagged after correction.",
        "st_key": "{tp} / {persona}: {d} {outcome} among those who met the friction, about {k} "
        "customers and {v} {value} at stake.",
        "st_left_out": "{left} of the customer file's {n} customers are left out: {reasons}.",
        "st_reason": "{k} without {what}",
    },
}


#: Column headers of the sections' tables (French, English).
HEADERS = {
    "deff": ("Effet de plan", "Design effect"),
    "respondents_today": ("Répondants aujourd'hui", "Respondents today"),
    "respondents_needed": ("Répondants nécessaires", "Respondents needed"),
    "respondents": ("Répondants prévus", "Respondents planned"),
    "binding_touchpoint": ("Point de contact limitant", "Binding touchpoint"),
    "survey_mde": ("Effet min. enquête (points)", "Survey MDE (points)"),
    "interviews_today": ("Entretiens aujourd'hui", "Interviews today"),
    "interviews_needed": ("Entretiens nécessaires", "Interviews needed"),
    "interviews": ("Entretiens prévus", "Interviews planned"),
    "qual_prevalence": ("Thème trouvé dès (part)", "Theme found from (share)"),
    "cost_survey": ("Coût enquête", "Survey cost"),
    "cost_interviews": ("Coût entretiens", "Interview cost"),
    "cost": ("Coût", "Cost"),
    "survey": ("Enquête (points)", "Survey (points)"),
    "traces": ("Traces (complétion)", "Traces (completion)"),
    "qual": ("Entretiens (part)", "Interviews (share)"),
    "rule": ("Source", "Source"),
    "n_met": ("Ont rencontré la friction", "Met the friction"),
    "flagged": ("Signalé", "Flagged"),
    "customers_at_stake": ("Clients en jeu", "Customers at stake"),
    "value_at_stake": ("Valeur en jeu", "Value at stake"),
}
_DISPLAY = {"headers": HEADERS}


def _verdict(res, lang: str) -> str:
    """One sentence: the wanted effects are reached for a cost, or not within the budget."""
    cur = res.costs.get("currency", "")
    cost = f"{fmt_count(res.cost, lang)} {cur}".strip()
    budget = None if res.budget is None else f"{fmt_count(res.budget, lang)} {cur}".strip()
    ratio = fmt_number(res.ratio, lang)
    fr = lang == "fr"
    if res.feasible:
        head = "Effets voulus atteints pour " if fr else "Wanted effects reached for "
        return head + cost + (f" (budget {budget})." if budget else ".")
    if res.ratio == float("inf"):
        return (
            f"Effets voulus hors de portée : le budget de {budget} ne paie pas la plus petite vague."
            if fr
            else f"Wanted effects out of reach: a budget of {budget} does not pay for the "
            "smallest wave."
        )
    return (
        f"Effets voulus hors de portée avec un budget de {budget} : la meilleure répartition ({cost}) "
        f"atteint des effets {ratio} fois plus grands."
        if fr
        else f"Wanted effects out of reach within a budget of {budget}: the best allocation ({cost}) "
        f"reaches effects {ratio} times the wanted ones."
    )


def s_next_wave(ctx, sec) -> None:
    """The evidence matrix and the next wave (a note when the study has no costs)."""
    from .plan import next_wave
    from .plot import next_wave as plot_next_wave

    lang, t = ctx.lang, _T[ctx.lang]
    sec.title = t["next_wave"]
    try:
        res = next_wave(ctx.study)
    except (AnalysisError, StudyError) as e:
        return _missing(sec, t["no_costs"] if "cost" in str(e) else str(e).splitlines()[0])
    wanted = {
        "survey": fmt_number(res.mde["survey"], lang, 1),
        "qual": fmt_percent(res.mde["qual"], lang, 0),
    }
    sec.blocks.append(_text("text", t["nw_text"].format(**wanted)))
    sec.blocks.append(_text("key", _verdict(res, lang)))
    fig = plot_next_wave(res, journey=ctx.study, lang=lang)
    sec.blocks.append(ctx.figure("next_wave", fig, t["nw_summary"]))
    label = ctx.study.journey.label
    plan = res.summary.assign(
        binding_touchpoint=[label(x, lang) for x in res.summary["binding_touchpoint"]]
    )
    sec.blocks.append(ctx.table("next_wave", plan, t["nw_summary"], display=_DISPLAY))
    wide = res.matrix.pivot_table(
        index=["touchpoint", "persona"], columns="source", values="mde", sort=False
    ).reset_index()
    sec.blocks.append(
        ctx.table("evidence_matrix", wide, t["nw_matrix"], max_rows=20, display=_DISPLAY)
    )


def _key_sentence(res, r, st, lang: str, t: dict) -> str:
    if res.kind == "binary":
        d = f"{fmt_number(100 * r.estimate, lang, 1, sign=True)} pts"
    else:
        d = fmt_number(r.estimate, lang, 0, sign=True)
    return t["st_key"].format(
        tp=st.journey.label(r.touchpoint, lang),
        persona=st.journey.label(r.persona, lang),
        d=d,
        outcome=res.outcome,
        k=fmt_count(r.customers_at_stake, lang),
        v=fmt_count(r.value_at_stake, lang),
        value=res.value or "",
    )


def _left_out(res, lang: str) -> str | None:
    """The customers left out of :func:`at_stake` and why (``res.customers``); None when every
    customer of the file is in it. A reason ``no <column>`` names the column (``no outcome``
    the outcome's, ``no persona`` the persona)."""
    t = _T[lang]
    what = {"no outcome": f"« {res.outcome} »" if lang == "fr" else f"“{res.outcome}”",
            "no persona": "persona"}
    return _left_out_sentence(
        res.customers, lang, t["st_left_out"],
        lambda r, k: t["st_reason"].format(k=k, what=what.get(r, r.removeprefix("no "))),
    )


def s_at_stake(ctx, sec) -> None:
    """The outcome difference of the customers who met each friction (a note without outcomes)."""
    from .outcomes import at_stake
    from .plot import at_stake as plot_at_stake

    lang, t = ctx.lang, _T[ctx.lang]
    sec.title = t["at_stake"]
    st = ctx.study
    if st.customers is None or not st.outcomes:
        return _missing(sec, t["no_outcomes"])
    binary = [c for c, k in st.outcomes.items() if k == "binary"]
    outcome = "churned" if "churned" in st.outcomes else (binary or list(st.outcomes))[0]
    try:
        res = at_stake(st, outcome=outcome, n_boot=max(int(ctx.n_boot), 50), seed=ctx.seed)
    except (AnalysisError, StudyError) as e:
        return _missing(sec, str(e).splitlines()[0])
    sec.blocks.append(_text("text", t["st_text"].format(outcome=outcome)))
    if (left := _left_out(res, lang)) is not None:
        sec.blocks.append(_text("text", left))
    if res.flagged.empty:
        sec.blocks.append(_text("key", t["st_none"]))
    for r in res.flagged.itertuples():
        sec.blocks.append(_text("key", _key_sentence(res, r, st, lang, t)))
    if res.summary["p_value"].notna().any():
        fig = plot_at_stake(res, journey=st, lang=lang)
        sec.blocks.append(ctx.figure("at_stake", fig, t["at_stake"]))
    cols = [
        "touchpoint",
        "persona",
        "rule",
        "n",
        "n_met",
        "estimate",
        "ci_low",
        "ci_high",
        "p_adj",
        "flagged",
        "customers_at_stake",
        "value_at_stake",
    ]
    shown = res.summary[res.summary["p_value"].notna()].sort_values("p_value")[cols]
    sec.blocks.append(ctx.table("at_stake", shown, t["st_table"], display=_DISPLAY))
