"""Sections of the report that tell the study as a story: the executive summary, the
importance–performance matrix, Kano, the interviews and the methods appendix, plus the
sentences and seaborn figures the other sections of :mod:`parcours_research.report` add.

Every function takes the report's context (``ctx``: the prepared evidence, the language, the
results earlier sections left) and a section to fill. None computes a statistic: the numbers
come from the package's analyses, the sentences from :mod:`parcours_research.findings`, the
table formatting from :mod:`parcours_research._present`.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path

import pandas as pd

from ._present import fmt_count, fmt_number, fmt_percent

T = {
    "fr": {
        "summary": "Synthèse",
        "importance": "Importance et performance",
        "kano": "Modèle de Kano",
        "interviews": "Entretiens",
        "methods": "Annexe : méthodes",
        "see": "voir",
        "no_kano": "Pas de paires de questions de Kano dans le questionnaire.",
        "no_drivers": "Pas de question de satisfaction globale : importance non estimée.",
        "no_qual": "Pas d'extraits codés dans study.yml.",
        "summary_intro": "Ce que l'étude établit, phrase par phrase ; chaque constat renvoie à la section qui "
        "en montre les preuves. Intervalles à 95 %.",
    },
    "en": {
        "summary": "Executive summary",
        "importance": "Importance and performance",
        "kano": "Kano model",
        "interviews": "Interviews",
        "methods": "Appendix: methods",
        "see": "see",
        "no_kano": "No Kano question pairs in the questionnaire.",
        "no_drivers": "No overall satisfaction question: importance not estimated.",
        "no_qual": "No coded excerpts in study.yml.",
        "summary_intro": "What the study establishes, one sentence per finding; each links to the section "
        "showing its evidence. Intervals at 95%.",
    },
}


def _block(kind: str, text: str = "", **kw):
    from .report import _Block

    return _Block(kind, html=text, **kw)


def _text(kind: str, text: str):
    return _block(kind, html.escape(text))


def _left_out_sentence(table, lang: str, sentence: str, reason) -> str | None:
    """How many units an analysis left out, and why, from its accounting table
    (:func:`parcours_research._accounting.accounting`); None when it left none out or has no
    table. ``sentence`` holds ``{left}``, ``{n}`` and ``{reasons}``; ``reason(step, count)``
    words one reason, its count already formatted."""
    from ._accounting import left_out

    if table is None:  # a result built by hand, without its accounting
        return None
    reasons = left_out(table)
    if not reasons.sum():
        return None
    said = [reason(r, fmt_count(k, lang)) for r, k in reasons.items() if k]
    return sentence.format(left=fmt_count(reasons.sum(), lang),
                           n=fmt_count(table.iloc[0, 1], lang), reasons=", ".join(said))


def _missing(sec, note: str) -> None:
    """Say in the section that its evidence is absent. The section stays in the report (its
    status is left "ok"): ``ReportResult.missing`` keeps naming the evidence sources the study
    lacks (traces), not every section that reads one of them."""
    sec.blocks.append(_block("missing", html.escape(note)))


# ---------------------------------------------------------------------------------------------
# executive summary
# ---------------------------------------------------------------------------------------------
def s_summary(ctx, sec) -> None:
    """The findings, one sentence each, linked to their sections (rendered first)."""
    from .findings import findings

    lang = ctx.lang
    sec.title = T[lang]["summary"]
    f = findings(
        ctx.evidence,
        lang=lang,
        friction=ctx.triangulation,
        curves=getattr(ctx, "curves", None),
        pyramid=getattr(ctx, "pyramid", None),
        drivers=getattr(ctx, "drivers", None),
        ipa=getattr(ctx, "ipa", None),
        n_boot=ctx.n_boot,
        seed=ctx.seed,
    )
    ctx.findings = f
    ctx.table("findings", f)  # the CSV only: the page shows the sentences
    sec.blocks.append(_text("text", T[lang]["summary_intro"]))
    from .report import _T

    titles = {
        **{k: v for k, v in _T[lang].items()},
        **T[lang],
        "pyramid": "Pyramide de conversion" if lang == "fr" else "Conversion pyramid",
    }
    items = [
        {
            "text": r.sentence,
            "anchor": r.anchor,
            "kind": r.kind,
            "link": f"{T[lang]['see']} : {titles.get(r.anchor, r.anchor)}"
            if lang == "fr"
            else f"{T[lang]['see']}: {titles.get(r.anchor, r.anchor)}",
        }
        for r in f.itertuples()
    ]
    sec.blocks.append(_block("findings", items=items))


# ---------------------------------------------------------------------------------------------
# sentences replacing result reprs
# ---------------------------------------------------------------------------------------------
def weighting_sentence(sw, lang: str) -> str:
    """The weighting rule and its diagnostics in one sentence (from the weights' summary)."""
    stats = dict(zip(sw.summary["statistic"], sw.summary["value"]))
    rake = sw.rake
    cols = ", ".join(dict.fromkeys(rake.summary["column"])) if rake is not None else ""
    n = fmt_count(stats.get("n"), lang)
    lo, hi = fmt_number(stats.get("min"), lang), fmt_number(stats.get("max"), lang)
    deff, neff = fmt_number(stats.get("design_effect"), lang), fmt_count(stats.get("n_eff"), lang)
    if lang == "fr":
        head = (
            f"{n} répondants calés sur les marges ({cols}), "
            + (f"convergence en {rake.n_iter} itérations" if rake.converged else "SANS convergence")
            + "; "
            if rake is not None
            else f"{n} répondants ; "
        )
        return (
            head + f"poids de {lo} à {hi}, effet de plan de Kish {deff}, taille effective {neff}."
        )
    head = (
        f"{n} respondents raked to the margins ({cols}), "
        + (f"converged in {rake.n_iter} iterations" if rake.converged else "NOT converged")
        + "; "
        if rake is not None
        else f"{n} respondents; "
    )
    return head + f"weights from {lo} to {hi}, Kish design effect {deff}, effective size {neff}."


def cleaning_key(log, lang: str) -> str:
    """The cleaning log's headline: raw events, one reason each, robots' share."""
    total, bots = fmt_count(log.n_input, lang), fmt_percent(log.bot_share, lang)
    if lang == "fr":
        return (
            f"{total} événements bruts ; chacun est gardé ou retiré pour un seul motif (part des robots "
            f"{bots})."
        )
    return f"{total} raw events; every one is kept or removed for one reason (bot share {bots})."


def rule_fr(sw) -> str:
    """The weighting rule in French (the weights' own description is in English)."""
    cols = ", ".join(dict.fromkeys(sw.rake.summary["column"])) if sw.rake is not None else ""
    return {
        "rake": f"calage sur les marges de l'étude ({cols}).",
        "design": "poids de plan déclarés dans study.yml, tels quels.",
        "none": "aucune (ni marges ni poids de plan déclarés).",
    }.get(sw.rule, sw.description)


_ROLES = {
    "overall": ("Satisfaction globale", "Overall satisfaction"),
    "nps": ("Recommandation (NPS)", "Recommendation (NPS)"),
    "effort": ("Effort client (CES)", "Customer effort (CES)"),
}


def kpi_display(study) -> dict:
    """Words for the study's headline questions in the KPI table (their columns are ids)."""
    words = {
        study.instrument.first(role): names
        for role, names in _ROLES.items()
        if study.instrument.first(role)
    }
    return {"values": {"question": words}}


def drivers_sentence(res, journey, lang: str) -> str:
    """What the driver analysis is, in one sentence (its numbers are in the table)."""
    lo, hi = (fmt_number(v, lang) for v in res.r2_ci)
    n = fmt_count(res.n, lang)
    if lang == "fr":
        return (
            f"Importance de chaque point de contact dans la satisfaction globale (Shapley/LMG : part du R² "
            f"qui lui revient). Ensemble, les {len(res.summary)} points de contact expliquent R² = "
            f"{fmt_number(res.r2, lang)} [{lo} ; {hi}] ; {n} répondants, intervalles par {res.n_boot} "
            f"rééchantillonnages bootstrap."
        )
    return (
        f"Importance of each touchpoint in overall satisfaction (Shapley/LMG: its share of R²). Together the "
        f"{len(res.summary)} touchpoints explain R² = {fmt_number(res.r2, lang)} [{lo}, {hi}]; {n} respondents, "
        f"intervals from {res.n_boot} bootstrap replicates."
    )


# ---------------------------------------------------------------------------------------------
# seaborn figures added to the existing sections
# ---------------------------------------------------------------------------------------------
def rating_figure(ctx, sec) -> None:
    """Weighted distribution of the ratings per persona at the moments of truth."""
    from . import plot
    from .satisfaction import answer_shares

    j = ctx.study.journey
    tps = list(j.moments_of_truth)[:4] or j.touchpoint_ids[:4]
    shares = answer_shares(ctx.evidence.ratings)
    shares = shares[shares["touchpoint"].isin(tps)]
    if shares.empty:
        return
    fig = plot.rating_distributions(shares, journey=j, touchpoints=tps, lang=ctx.lang)
    sec.blocks.append(
        ctx.figure(
            "rating_distributions",
            fig,
            "Répartition pondérée des notes par persona, aux moments de vérité"
            if ctx.lang == "fr"
            else "Weighted distribution of ratings per persona, at the moments of truth",
        )
    )


def transition_figure(ctx, sec, transitions: pd.DataFrame) -> None:
    from . import plot

    fig = plot.transition_matrix(transitions, journey=ctx.study.journey, lang=ctx.lang)
    sec.blocks.append(
        ctx.figure(
            "transition_matrix",
            fig,
            "Matrice des transitions : part des sorties de chaque point de contact"
            if ctx.lang == "fr"
            else "Transition matrix: share of each touchpoint's exits",
        )
    )


def gap_figure(ctx, sec, curves: pd.DataFrame) -> None:
    from . import plot

    fig = plot.gap_heatmap(curves, journey=ctx.study.journey, lang=ctx.lang)
    sec.blocks.append(
        ctx.figure(
            "gap_heatmap",
            fig,
            "Écart à la cible par persona et point de contact ; cases encadrées : bande "
            "entière sous la cible"
            if ctx.lang == "fr"
            else "Gap to target per persona and touchpoint; outlined cells: whole band below "
            "target",
        )
    )


def no_persona_note(ctx, sec, table: pd.DataFrame) -> None:
    """Explain the "No persona" rows of a funnel or pyramid table."""
    if "persona" not in table or not table["persona"].isna().any():
        return
    sec.blocks.append(
        _text(
            "text",
            "« Sans persona » : visiteurs jamais rattachés au fichier clients (prospects "
            "anonymes) ; les étapes qui suivent l'inscription ne peuvent pas être observées pour eux."
            if ctx.lang == "fr"
            else "“No persona”: visitors never linked to the customer file (anonymous prospects); the "
            "stages after sign-up cannot be observed for them.",
        )
    )


# ---------------------------------------------------------------------------------------------
# importance–performance
# ---------------------------------------------------------------------------------------------
def s_importance(ctx, sec) -> None:
    from .plot import importance_performance as plot_ipa
    from .satisfaction import importance_performance

    lang = ctx.lang
    sec.title = T[lang]["importance"]
    res = getattr(ctx, "drivers", None)
    if res is None or ctx.scores_overall is None:
        return _missing(sec, T[lang]["no_drivers"])
    st = ctx.study
    ipa = ctx.ipa = importance_performance(
        res,
        ctx.scores_overall,
        targets={t.id: t.target_satisfaction for t in st.journey.touchpoints},
    )
    sec.blocks.append(
        _text(
            "text",
            "Chaque point de contact placé selon son importance dans la satisfaction "
            "globale (haute au-dessus de la moyenne) et son écart à la cible : « À corriger d'abord » "
            "(important, sous la cible), « Maintenir » (important, au-dessus), « Effort peut-être "
            "excessif » (peu important, au-dessus), « Priorité basse » (peu important, sous la cible)."
            if lang == "fr"
            else "Each touchpoint placed by its importance in overall satisfaction (high: above the mean) "
            "and its gap to target: “Fix first” (important, below target), “Keep up” (important, "
            "above), “Possible overkill” (less important, above), “Low priority” (less important, "
            "below target).",
        )
    )
    from .findings import _priority_rows

    tables = {"ipa": ipa, "friction": ctx.triangulation.summary}
    for row in _priority_rows(tables, st.journey, lang):
        sec.blocks.append(_text("key", row["sentence"]))
    fig = plot_ipa(ipa, journey=st.journey, lang=lang)
    sec.blocks.append(
        ctx.figure(
            "importance_performance",
            fig,
            "Importance–performance" if lang == "en" else "Importance–performance",
        )
    )
    sec.blocks.append(
        ctx.table(
            "importance_performance",
            ipa,
            "Importance (part du R²) et satisfaction de chaque point de contact"
            if lang == "fr"
            else "Importance (share of R²) and satisfaction of each touchpoint",
            max_rows=16,
        )
    )


# ---------------------------------------------------------------------------------------------
# Kano
# ---------------------------------------------------------------------------------------------
_KANO = {
    "fr": {
        "must_be": "obligatoire (son absence déçoit, sa présence ne réjouit pas)",
        "one_dimensional": "proportionnelle (plus elle est réussie, plus les clients sont satisfaits)",
        "attractive": "attractive (sa présence réjouit, son absence ne déçoit pas)",
        "indifferent": "indifférente (ni sa présence ni son absence ne comptent beaucoup)",
        "reverse": "inverse (une partie des clients préférerait son absence)",
        "questionable": "douteuse (réponses contradictoires)",
    },
    "en": {
        "must_be": "a must-be (its absence disappoints, its presence does not delight)",
        "one_dimensional": "one-dimensional (the better it is done, the more satisfied customers are)",
        "attractive": "attractive (its presence delights, its absence does not disappoint)",
        "indifferent": "indifferent (neither its presence nor its absence matters much)",
        "reverse": "reverse (some customers would rather do without)",
        "questionable": "questionable (contradictory answers)",
    },
}


def s_kano(ctx, sec) -> None:
    from .satisfaction import kano

    lang, st = ctx.lang, ctx.study
    sec.title = T[lang]["kano"]
    pairs = st.instrument.kano_pairs() if st.responses is not None else []
    if not pairs:
        return _missing(sec, T[lang]["no_kano"])
    table = kano(ctx.evidence.responses, pairs, weight="weight")
    j = st.journey
    for r in table.itertuples():
        name = j.label(r.touchpoint, lang)
        s = (
            f"{name} est {_KANO[lang].get(r.category, r.category)} : coefficient de satisfaction "
            f"{fmt_number(r.cs_plus, lang)}, d'insatisfaction {fmt_number(r.cs_minus, lang)}."
            if lang == "fr"
            else f"{name} is {_KANO[lang].get(r.category, r.category)}: satisfaction coefficient "
            f"{fmt_number(r.cs_plus, lang)}, dissatisfaction coefficient {fmt_number(r.cs_minus, lang)}."
        )
        sec.blocks.append(_text("text", s))
    sec.blocks.append(
        ctx.table(
            "kano",
            table,
            "Parts pondérées des catégories de Kano (Berger et al.)"
            if lang == "fr"
            else "Weighted shares of the Kano categories (Berger et al.)",
        )
    )


# ---------------------------------------------------------------------------------------------
# interviews
# ---------------------------------------------------------------------------------------------
def s_interviews(ctx, sec) -> None:
    from . import plot
    from .qual import code_frequencies

    lang, st = ctx.lang, ctx.study
    sec.title = T[lang]["interviews"]
    ex = ctx.evidence.excerpts
    if ex is None or ex.empty:
        return _missing(sec, T[lang]["no_qual"])
    n_part = ex["participant"].nunique()
    sec.blocks.append(
        _text(
            "text",
            f"{fmt_count(len(ex), lang)} extraits codés de {fmt_count(n_part, lang)} "
            "participants ; citations nettoyées des données personnelles."
            if lang == "fr"
            else f"{fmt_count(len(ex), lang)} coded excerpts from {fmt_count(n_part, lang)} participants; "
            "quotes scrubbed of personal data.",
        )
    )
    freq = code_frequencies(ex, by=None, journey=st.journey)
    sec.blocks.append(
        ctx.table(
            "code_frequencies",
            freq,
            "Fréquence des codes (extraits distincts)"
            if lang == "fr"
            else "Code frequencies (distinct excerpts)",
        )
    )
    curves = getattr(ctx, "curves", None)
    if curves is not None and "valence" in curves and curves["valence"].notna().any():
        fig = plot.valence_curve(curves, journey=st.journey, lang=lang)
        sec.blocks.append(
            ctx.figure(
                "valence_curve",
                fig,
                "Ce que disent les clients (valence des entretiens, −2 à +2) sous ce qu'ils notent"
                if lang == "fr"
                else "What customers say (interview valence, −2 to +2) under what they rate",
            )
        )
    _quote_blocks(ctx, sec)


def _quote_blocks(ctx, sec) -> None:
    """Scrubbed quotes (from the prepared evidence's excerpts) for each confirmed friction."""
    tri, lang, j = ctx.triangulation, ctx.lang, ctx.study.journey
    if tri is None:
        return
    conf = tri.confirmed
    if conf.empty:
        sec.blocks.append(
            _text(
                "text",
                "Aucun point de friction confirmé : pas de citations à mettre en regard."
                if lang == "fr"
                else "No confirmed friction point: no quotes to set beside one.",
            )
        )
        return
    for r in conf.itertuples():
        q = tri.quotes[
            (tri.quotes["touchpoint"] == r.touchpoint) & (tri.quotes["persona"] == r.persona)
        ]
        title = f"{j.label(r.touchpoint, lang)} — {j.label(r.persona, lang)}"
        sec.blocks.append(_block("heading", title))
        if q.empty:
            sec.blocks.append(
                _text(
                    "text",
                    "Aucun extrait pour ce point de contact et ce persona."
                    if lang == "fr"
                    else "No excerpt for this touchpoint and persona.",
                )
            )
            continue
        sec.blocks.append(
            _block(
                "quotes", items=[{"text": t, "who": p} for t, p in zip(q["text"], q["participant"])]
            )
        )


# ---------------------------------------------------------------------------------------------
# methods appendix
# ---------------------------------------------------------------------------------------------
def s_methods(ctx, sec) -> None:
    lang, st, ev = ctx.lang, ctx.study, ctx.evidence
    sec.title = T[lang]["methods"]
    fr = lang == "fr"
    add = sec.blocks.append
    add(_block("heading", "Plan d'étude" if fr else "Design"))
    add(_text("text", _design_sentence(ctx)))
    if st.responses is not None:
        add(_block("heading", "Pondération" if fr else "Weighting"))
        add(
            _text(
                "text",
                (
                    f"Règle : {rule_fr(ev.weighting)} "
                    if fr
                    else f"Rule: {ev.weighting.description} "
                )
                + weighting_sentence(ev.weighting, lang),
            )
        )
        add(
            _text(
                "text",
                "Intervalles fondés sur le plan (linéarisation de Taylor, le répondant comme grappe) ; "
                f"bandes simultanées des courbes (sup-t) et intervalles d'importance par {ctx.n_boot} "
                f"rééchantillonnages bootstrap, graine {ctx.seed}."
                if fr
                else "Design-based intervals (Taylor linearisation, respondent as cluster); simultaneous bands of the "
                f"curves (sup-t) and importance intervals from {ctx.n_boot} bootstrap replicates, seed {ctx.seed}.",
            )
        )
    tri = ctx.triangulation
    if tri is not None:
        add(_block("heading", "Tests et corrections" if fr else "Tests and corrections"))
        add(
            _text(
                "text",
                (
                    f"{fmt_count(len(tri.tests), lang)} tests ; p-values corrigées par la méthode "
                    f"{_correction(tri.correction)} au sein de chaque source, seuil {fmt_number(tri.alpha, lang)} ; "
                    f"une friction est confirmée quand au moins {tri.min_sources} sources indépendantes la "
                    "signalent et qu'aucune ne la contredit."
                )
                if fr
                else (
                    f"{fmt_count(len(tri.tests), lang)} tests; p-values corrected by the {_correction(tri.correction)} "
                    f"method within each source, threshold {fmt_number(tri.alpha, lang)}; a friction is confirmed when "
                    f"at least {tri.min_sources} independent sources flag it and none contradicts it."
                ),
            )
        )
    if st.traces is not None and ev.traces.cleaning is not None:
        add(_block("heading", "Nettoyage des traces" if fr else "Cleaning of the traces"))
        add(_text("text", _cleaning_sentence(ev.traces.cleaning, lang)))


def _correction(name: str) -> str:
    return {
        "fdr_bh": "Benjamini–Hochberg",
        "bh": "Benjamini–Hochberg",
        "by": "Benjamini–Yekutieli",
        "bonferroni": "Bonferroni",
        "holm": "Holm",
    }.get(str(name), str(name))


def _design_sentence(ctx) -> str:
    st, ev, lang = ctx.study, ctx.evidence, ctx.lang
    parts = []
    if st.responses is not None:
        parts.append(
            f"enquête : {fmt_count(len(st.responses), lang)} répondants"
            if lang == "fr"
            else f"survey: {fmt_count(len(st.responses), lang)} respondents"
        )
    if st.traces is not None and ev.traces.cleaning is not None:
        parts.append(
            f"traces : {fmt_count(ev.traces.cleaning.n_input, lang)} événements bruts"
            if lang == "fr"
            else f"traces: {fmt_count(ev.traces.cleaning.n_input, lang)} raw events"
        )
    if ev.excerpts is not None:
        parts.append(
            f"entretiens : {fmt_count(len(ev.excerpts), lang)} extraits codés"
            if lang == "fr"
            else f"interviews: {fmt_count(len(ev.excerpts), lang)} coded excerpts"
        )
    j = st.journey
    head = (
        f"Parcours de {len(j.stages)} étapes et {len(j.touchpoints)} points de contact, {len(j.personas)} "
        f"personas. Sources : "
        if lang == "fr"
        else f"Journey of {len(j.stages)} stages and {len(j.touchpoints)} touchpoints, {len(j.personas)} personas. "
        "Sources: "
    )
    return (
        head
        + (" ; " if lang == "fr" else "; ").join(parts)
        + ". "
        + (
            "Les trois sources sont reliées par les mêmes identifiants de points de "
            "contact et de personas."
            if lang == "fr"
            else "The three sources share the same touchpoint and persona ids."
        )
    )


def _cleaning_sentence(log, lang: str) -> str:
    from ._present import category

    rows = log.summary[log.summary["reason"] != "kept"]
    parts = [
        f"{category(r.reason, 'reason', lang).lower()} {fmt_count(r.n, lang)} ({fmt_percent(r.share, lang)})"
        for r in rows.itertuples()
        if r.n
    ]
    kept = fmt_count(log.n_kept, lang)
    total = fmt_count(log.n_input, lang)
    if lang == "fr":
        return (
            f"Chaque événement brut est gardé ou retiré pour un seul motif, dans cet ordre ; {kept} gardés sur "
            f"{total}. Retirés : " + " ; ".join(parts) + "."
        )
    return (
        f"Every raw event is kept or removed for one reason, in this order; {kept} kept of {total}. Removed: "
        + "; ".join(parts)
        + "."
    )


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------
def print_pdf(
    html_path: Path, pdf_path: Path | None = None, *, timeout: float = 180
) -> tuple[Path | None, str]:
    """Print ``report.html`` to PDF with the system's chromium (headless).

    Returns ``(path, message)``: the PDF written, or None and why not (no chromium on the
    machine, or chromium failed).
    """
    exe = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if exe is None:
        return None, (
            "No PDF: chromium is not installed (e.g. `apt-get install chromium`); the HTML report is "
            "complete without it, and prints from any browser."
        )
    html_path = Path(html_path).resolve()
    pdf_path = Path(pdf_path or html_path.with_suffix(".pdf")).resolve()
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--no-pdf-header-footer",
        f"--print-to-pdf={pdf_path}",
        html_path.as_uri(),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"No PDF: chromium did not finish within {timeout:.0f} s."
    if proc.returncode != 0 or not pdf_path.exists():
        return None, f"No PDF: chromium failed ({proc.returncode}): {proc.stderr.strip()[-300:]}"
    return pdf_path, f"PDF written to {pdf_path}"
