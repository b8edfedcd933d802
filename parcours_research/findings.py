"""The study's findings in sentences: the executive summary of the report.

:func:`findings` reads the tables the analyses already produce — the triangulation of the
friction tests, the persona journey curves, the conversion pyramid, the driver importance, the
importance–performance matrix, the cleaning log of the traces — and writes one sentence per
finding, in French or English, each with the number it states, its interval and the anchor of
the report section that shows the evidence. It computes no statistic of its own: every number in
a sentence is a cell of one of those tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._present import fmt_count, fmt_interval, fmt_number, fmt_percent
from .errors import AnalysisError, check_one_of

__all__ = ["findings", "FINDING_KINDS"]

#: Kinds of findings, in the order of the summary.
FINDING_KINDS = ("friction", "priority", "below_target", "pyramid", "driver", "data_quality")
COLUMNS = ["kind", "sentence", "anchor", "value", "ci_low", "ci_high"]

_SRC = {
    "fr": {"traces": "les traces", "survey": "l'enquête", "qual": "les entretiens"},
    "en": {"traces": "the traces", "survey": "the survey", "qual": "the interviews"},
}
_RULES = {
    "fr": {"rake": "calage sur les marges", "design": "poids de plan", "none": "sans pondération"},
    "en": {"rake": "raked to the margins", "design": "design weights", "none": "unweighted"},
}
_QUADRANT = {
    "fr": {"low priority": "Priorité basse", "possible overkill": "Effort peut-être excessif"},
    "en": {"low priority": "Low priority", "possible overkill": "Possible overkill"},
}


def _and(items: list[str], lang: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + (" et " if lang == "fr" else " and ") + items[-1]


def _row(kind, sentence, anchor, value=np.nan, lo=np.nan, hi=np.nan) -> dict:
    return {
        "kind": kind,
        "sentence": sentence,
        "anchor": anchor,
        "value": value,
        "ci_low": lo,
        "ci_high": hi,
    }


def findings(
    evidence,
    *,
    lang: str = "fr",
    friction=None,
    curves: pd.DataFrame | None = None,
    pyramid: pd.DataFrame | None = None,
    drivers=None,
    ipa: pd.DataFrame | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """The findings of a study, one sentence each, generated from its result tables.

    Parameters
    ----------
    evidence : Evidence or Study
        The prepared evidence (:func:`parcours_research.prepare`); gives the journey (labels),
        the cleaning log and identity conflicts, and computes any table not given.
    lang : {"fr", "en"}, default "fr"
    friction : Triangulation or DataFrame, optional
        :func:`parcours_research.friction.triangulate` (or its ``summary``).
    curves : DataFrame, optional
        :func:`parcours_research.curves.journey_curves` (touchpoint grain; simultaneous band).
    pyramid : DataFrame, optional
        :func:`parcours_research.traces.pyramid` by persona.
    drivers : DriverResult or DataFrame, optional
        :func:`parcours_research.satisfaction.drivers` (or its ``summary``).
    ipa : DataFrame, optional
        :func:`parcours_research.satisfaction.importance_performance`.
    n_boot, seed : int
        For the tables computed here (curves' simultaneous band, driver intervals).

    Returns
    -------
    DataFrame
        One row per finding, in the order of :data:`FINDING_KINDS`: ``kind`` (one of
        ``friction, priority, below_target, pyramid, driver, data_quality``), ``sentence`` (plain
        text in ``lang``), ``anchor`` (id of the report section with the evidence: ``friction``,
        ``importance``, ``curves``, ``pyramid``, ``drivers``, ``traces``, ``weighting``),
        ``value`` (the number the sentence states: gap to target in satisfaction points, rate,
        importance, share, count), ``ci_low, ci_high`` (its interval; NaN when it has none).
        With no confirmed friction, the first row says so plainly.
    """
    from .evidence import evidence_of

    check_one_of("lang", lang, ("fr", "en"))
    ev = evidence_of(evidence)
    if ev is None:
        raise AnalysisError(
            f"findings() reads a Study or its prepared evidence (pr.prepare(study)), not "
            f"{type(evidence).__name__}."
        )
    tables = _tables(ev, friction, curves, pyramid, drivers, ipa, lang, n_boot, seed)
    j = ev.study.journey
    rows = (
        _friction_rows(tables, j, lang)
        + _priority_rows(tables, j, lang)
        + _below_target_rows(tables, j, lang)
        + _pyramid_rows(tables, j, lang)
        + _driver_rows(tables, j, lang)
        + _quality_rows(ev, lang)
    )
    return pd.DataFrame(rows, columns=COLUMNS)


def _tables(ev, friction, curves, pyramid, drivers, ipa, lang, n_boot, seed) -> dict:
    """The tables the sentences read: the ones given, the others computed from the evidence."""
    st = ev.study
    if friction is None:
        from .friction import triangulate

        friction = triangulate(ev)
    summary = getattr(friction, "summary", friction)
    if curves is None and st.responses is not None:
        from .curves import journey_curves

        curves = journey_curves(ev, band="simultaneous", n_boot=n_boot, seed=seed, lang=lang)
    if (
        pyramid is None
        and st.traces is not None
        and any(s.target_conversion is not None for s in st.journey.stages)
    ):
        from .traces import pyramid as _pyramid

        pyramid = _pyramid(ev, by=ev.traces.by)
    if drivers is None and st.responses is not None and st.instrument.first("overall"):
        from .satisfaction import drivers as _drivers

        drivers = _drivers(
            ev.responses,
            outcome=st.instrument.first("overall"),
            drivers=st.touchpoint_columns,
            weight="weight",
            n_boot=n_boot,
            seed=seed,
        )
    if ipa is None and drivers is not None:
        from .satisfaction import importance_performance, scores

        overall = scores(ev.ratings, "score", by=None, weight="weight", cluster="respondent_id")
        ipa = importance_performance(
            drivers, overall, targets={t.id: t.target_satisfaction for t in st.journey.touchpoints}
        )
    return {
        "friction": summary,
        "curves": curves,
        "pyramid": pyramid,
        "drivers": getattr(drivers, "summary", drivers),
        "r2": getattr(drivers, "r2", None),
        "ipa": ipa,
    }


def _curve_row(curves, touchpoint, persona):
    if curves is None:
        return None
    c = curves[(curves["touchpoint"] == touchpoint) & (curves["persona"] == persona)]
    return None if c.empty else c.iloc[0]


def _friction_rows(t, j, lang) -> list[dict]:
    summary = t["friction"]
    conf = summary[summary["confirmed"].fillna(False).astype(bool)]
    if conf.empty:
        single = int((summary["n_friction"] > 0).sum())
        if lang == "fr":
            s = (
                "Aucun point de friction n'est confirmé : aucun point de contact n'est significativement moins "
                "bien vécu par un persona dans deux sources indépendantes (traces, enquête, entretiens), après "
                "correction pour tests multiples."
            )
            if single:
                s += f" {fmt_count(single, lang)} signal(s) d'une seule source, non confirmé(s), figurent dans la section."
        else:
            s = (
                "No friction point is confirmed: no touchpoint is significantly worse for a persona in two "
                "independent sources (traces, survey, interviews), after correction for multiple tests."
            )
            if single:
                s += f" {fmt_count(single, lang)} single-source signal(s), unconfirmed, are listed in the section."
        return [_row("friction", s, "friction", 0.0)]
    rows = []
    for r in conf.itertuples():
        tp, pe = j.label(r.touchpoint, lang), j.label(r.persona, lang)
        srcs = _and(
            [
                _SRC[lang][s]
                for s in ("traces", "survey", "qual")
                if getattr(r, f"{s}_evidence", None) == "friction"
            ],
            lang,
        )
        c = _curve_row(t["curves"], r.touchpoint, r.persona)
        if c is None or pd.isna(c["gap"]):
            s = (
                f"{tp} est un point de friction confirmé pour le persona {pe}, signalé par {srcs}."
                if lang == "fr"
                else f"{tp} is a confirmed friction point for the {pe} persona, flagged by {srcs}."
            )
            rows.append(_row("friction", s, "friction"))
            continue
        gap, lo, hi = c["gap"], c["ci_low"] - c["target"], c["ci_high"] - c["target"]
        band = fmt_interval(lo, hi, lang, lambda v, lg: fmt_number(v, lg, 2, sign=True))
        if lang == "fr":
            s = (
                f"{tp} est un point de friction confirmé pour le persona {pe} : satisfaction de "
                f"{fmt_number(c['estimate'], lang)} sur 5 pour une cible de {fmt_number(c['target'], lang)}, soit "
                f"un écart de {fmt_number(gap, lang, sign=True)} point (bande simultanée à 95 % {band}), "
                f"signalé par {srcs}."
            )
        else:
            s = (
                f"{tp} is a confirmed friction point for the {pe} persona: satisfaction "
                f"{fmt_number(c['estimate'], lang)} out of 5 against a target of {fmt_number(c['target'], lang)}, "
                f"a gap of {fmt_number(gap, lang, sign=True)} points (95% simultaneous band {band}), "
                f"flagged by {srcs}."
            )
        rows.append(_row("friction", s, "friction", gap, lo, hi))
    return rows


def _priority_rows(t, j, lang) -> list[dict]:
    """A confirmed friction in a low-importance quadrant: why it still matters."""
    ipa, summary = t["ipa"], t["friction"]
    if ipa is None or "quadrant" not in ipa:
        return []
    conf = summary[summary["confirmed"].fillna(False).astype(bool)]
    rows = []
    for tp_id, grp in conf.groupby("touchpoint", sort=False):
        q = ipa[ipa["touchpoint"] == tp_id]
        if q.empty or q.iloc[0]["quadrant"] not in _QUADRANT["en"]:
            continue
        q = q.iloc[0]
        tp, quad = j.label(tp_id, lang), _QUADRANT[lang][q["quadrant"]]
        who = _and([j.label(p, lang) for p in grp["persona"]], lang)
        imp = fmt_number(q["importance"], lang, 3)
        if lang == "fr":
            s = (
                f"{tp} se trouve dans le quadrant « {quad} » de la matrice importance–performance : sur "
                f"l'ensemble des clients, il pèse peu dans la satisfaction globale (importance {imp}) ; mais "
                f"l'écart est significatif pour {who}. À traiter pour ce persona malgré ce quadrant."
            )
        else:
            s = (
                f"{tp} sits in the “{quad}” quadrant of the importance–performance matrix: across all customers "
                f"it weighs little in overall satisfaction (importance {imp}); but the gap is significant for "
                f"{who}. Worth fixing for that persona despite the quadrant."
            )
        lo, hi = q.get("importance_low", np.nan), q.get("importance_high", np.nan)
        rows.append(_row("priority", s, "importance", q["importance"], lo, hi))
    return rows


def _below_target_rows(t, j, lang) -> list[dict]:
    """Whole simultaneous band under the target, where the triangulation did not confirm it."""
    curves, summary = t["curves"], t["friction"]
    if curves is None or "below_target" not in curves:
        return []
    conf = set(
        zip(
            *[
                summary.loc[summary["confirmed"].fillna(False).astype(bool), c]
                for c in ("touchpoint", "persona")
            ]
        )
    )
    rows = []
    for _, c in curves[curves["below_target"].fillna(False).astype(bool)].iterrows():
        if (c["touchpoint"], c["persona"]) in conf:
            continue
        tp, pe = j.label(c["touchpoint"], lang), j.label(c["persona"], lang)
        lo, hi = c["ci_low"] - c["target"], c["ci_high"] - c["target"]
        band = fmt_interval(lo, hi, lang, lambda v, lg: fmt_number(v, lg, 2, sign=True))
        s = (
            f"La satisfaction du persona {pe} pour {tp} est sous la cible sur toute sa bande : écart "
            f"{fmt_number(c['gap'], lang, sign=True)} point {band}, sans confirmation par une seconde source."
            if lang == "fr"
            else f"Satisfaction of the {pe} persona with {tp} is below target across its whole band: gap "
            f"{fmt_number(c['gap'], lang, sign=True)} points {band}, not confirmed by a second source."
        )
        rows.append(_row("below_target", s, "curves", c["gap"], lo, hi))
    return rows


def _pyramid_rows(t, j, lang) -> list[dict]:
    """Stages whose conversion is below target (whole interval under it), per persona."""
    pyr = t["pyramid"]
    if pyr is None or pyr.empty:
        return []
    has_persona = "persona" in pyr
    p = pyr[pyr["persona"].notna()] if has_persona else pyr  # no persona: visitors never identified
    below = p[(p["ci_high"] < p["target"]) & p["target"].notna()]
    rows = []
    order = {s.id: i for i, s in enumerate(j.stages)}
    for stage, g in sorted(below.groupby("stage"), key=lambda kv: order.get(kv[0], 99)):
        g = g.sort_values("rate")
        parts = [
            f"{j.label(r.persona, lang) if has_persona else ''} {fmt_percent(r.rate, lang)} "
            f"{fmt_interval(r.ci_low, r.ci_high, lang, fmt_percent)}".strip()
            for r in g.itertuples()
        ]
        target = fmt_percent(g["target"].iloc[0], lang, 0)
        n_all = p["persona"].nunique() if has_persona else 1
        everyone = (
            (" (tous les personas)" if lang == "fr" else " (every persona)")
            if len(g) == n_all > 1
            else ""
        )
        s = (
            f"L'étape {j.label(stage, lang)} convertit sous sa cible de {target}{everyone} : "
            f"{_and(parts, lang)} (IC à 95 %)."
            if lang == "fr"
            else f"The {j.label(stage, lang)} stage converts below its {target} target{everyone}: "
            f"{_and(parts, lang)} (95% CI)."
        )
        worst = g.iloc[0]
        rows.append(_row("pyramid", s, "pyramid", worst["rate"], worst["ci_low"], worst["ci_high"]))
    return rows


def _driver_rows(t, j, lang, most: int = 3) -> list[dict]:
    """The touchpoints that weigh more than an equal share of R², interval included (the lower
    end of their importance interval above R² / number of touchpoints), at most ``most``; the
    first one when none does."""
    d = t["drivers"]
    if d is None or d.empty:
        return []
    d = d.sort_values("rank")
    r2 = t["r2"] if t["r2"] is not None else d["importance"].sum()
    strong = d[d["ci_low"] > r2 / len(d)]
    if strong.empty:
        r = d.iloc[0]
        name = j.label(r["driver"], lang) if r["driver"] in j.touchpoint_ids else r["driver"]
        ci = fmt_interval(r["ci_low"], r["ci_high"], lang, lambda v, lg: fmt_number(v, lg, 3))
        s = (
            f"Aucun point de contact ne se détache dans la satisfaction globale (les points de contact expliquent "
            f"ensemble R² = {fmt_number(r2, lang)}) : le plus important, {name} (importance "
            f"{fmt_number(r['importance'], lang, 3)} {ci}), ne dépasse pas nettement une part égale."
            if lang == "fr"
            else f"No touchpoint stands out as a driver of overall satisfaction (together the touchpoints explain R² = "
            f"{fmt_number(r2, lang)}): the largest, {name} (importance {fmt_number(r['importance'], lang, 3)} "
            f"{ci}), is not clearly above an equal share."
        )
        return [_row("driver", s, "drivers", r["importance"], r["ci_low"], r["ci_high"])]
    d = strong.head(most)
    rows = []
    for i, r in enumerate(d.itertuples()):
        name = j.label(r.driver, lang) if r.driver in j.touchpoint_ids else r.driver
        ci = fmt_interval(r.ci_low, r.ci_high, lang, lambda v, lg: fmt_number(v, lg, 3))
        share, imp = fmt_percent(r.share, lang, 0), fmt_number(r.importance, lang, 3)
        if i == 0:
            tail = (
                f" (les points de contact expliquent ensemble R² = {fmt_number(r2, lang)})"
                if lang == "fr"
                else f" (together the touchpoints explain R² = {fmt_number(r2, lang)})"
            )
            s = (
                f"{name} est le point de contact qui pèse le plus dans la satisfaction globale : {share} de la "
                f"variance expliquée{tail}, importance {imp} {ci}."
                if lang == "fr"
                else f"{name} is the touchpoint that drives overall satisfaction most: {share} of the explained "
                f"variance{tail}, importance {imp} {ci}."
            )
        else:
            s = (
                f"Vient ensuite {name} : {share} de la variance expliquée, importance {imp} {ci}."
                if lang == "fr"
                else f"Next comes {name}: {share} of the explained variance, importance {imp} {ci}."
            )
        rows.append(_row("driver", s, "drivers", r.importance, r.ci_low, r.ci_high))
    return rows


def _quality_rows(ev, lang) -> list[dict]:
    rows = []
    st = ev.study
    if st.traces is not None:
        tr = ev.traces
        log = tr.cleaning
        if log is not None:
            kept = f"{fmt_count(log.n_kept, lang)} / {fmt_count(log.n_input, lang)}"
            bots = int(
                log.summary.loc[log.summary["reason"].astype(str).str.startswith("bot"), "n"].sum()
            )
            s = (
                f"Qualité des traces : {kept} événements bruts gardés ; les robots en représentaient "
                f"{fmt_percent(log.bot_share, lang)} ({fmt_count(bots, lang)} événements retirés), chaque "
                f"événement retiré est compté par motif."
                if lang == "fr"
                else f"Trace quality: {kept} raw events kept; robots made up {fmt_percent(log.bot_share, lang)} of them "
                f"({fmt_count(bots, lang)} events removed), every removed event counted by reason."
            )
            rows.append(_row("data_quality", s, "traces", log.bot_share))
        n_dev = int(tr.conflicts["device_id"].nunique()) if len(tr.conflicts) else 0
        many = "s" if n_dev > 1 else ""
        s = (
            f"Identités : {fmt_count(n_dev, lang)} appareil{many} lié{many} à plusieurs clients, signalé{many} et "
            f"non rattaché{many}."
            if lang == "fr"
            else f"Identities: {fmt_count(n_dev, lang)} device{many} linked to more than one customer, reported and "
            "left unstitched."
        )
        rows.append(_row("data_quality", s, "traces", float(n_dev)))
        un = tr.unmapped
        if un is not None and len(un) and (un["role"] == "unmapped").any():
            u = un[un["role"] == "unmapped"].sort_values("n", ascending=False)
            names = ", ".join(u["event"].astype(str).head(3))
            share = float(u["share"].sum())
            s = (
                f"{fmt_count(u['n'].sum(), lang)} événements gardés ({fmt_percent(share, lang)}) ne "
                f"correspondent à aucun point de contact (surtout {names}) : ils ne comptent dans aucun résultat."
                if lang == "fr"
                else f"{fmt_count(u['n'].sum(), lang)} kept events ({fmt_percent(share, lang)}) map to no touchpoint "
                f"(mostly {names}): they count in no result."
            )
            rows.append(_row("data_quality", s, "traces", share))
    if st.responses is not None:
        rows += _weighting_row(ev, lang)
    return rows


def _weighting_row(ev, lang) -> list[dict]:
    sw = ev.weighting
    stats = dict(zip(sw.summary["statistic"], sw.summary["value"]))
    if "n_eff" not in stats or "n" not in stats:
        return []
    n, n_eff, deff = stats["n"], stats["n_eff"], stats.get("design_effect", np.nan)
    rule = _RULES[lang].get(sw.rule, sw.rule)
    s = (
        f"Enquête : {fmt_count(n, lang)} répondants, pondérés ({rule}) ; taille effective "
        f"{fmt_count(n_eff, lang)} après pondération (effet de plan {fmt_number(deff, lang)})."
        if lang == "fr"
        else f"Survey: {fmt_count(n, lang)} respondents, weighted ({rule}); effective size "
        f"{fmt_count(n_eff, lang)} after weighting (design effect {fmt_number(deff, lang)})."
    )
    return [_row("data_quality", s, "weighting", float(n_eff))]
