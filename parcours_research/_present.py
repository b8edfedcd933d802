"""Tables as a reader reads them: one function formats every table of the report.

:func:`present` turns an analysis table (raw, unrounded, snake_case) into strings in one
language: translated column headers with their unit, journey ids replaced by their labels,
categories translated ("keep up" → "Maintenir"), numbers formatted by kind (share as a percent,
score, p-value as "< 0,001", count, duration as "3 j 4 h"), intervals merged into one column,
and no ``nan``, ``<NA>`` or ``inf``. :func:`html_table` writes it as an HTML table inside a
scrolling wrapper, with at most 15 rows inline. The CSV files keep the raw values: only what a
person reads is formatted.
"""

from __future__ import annotations

import html
import math
import re

import numpy as np
import pandas as pd

__all__ = [
    "present",
    "html_table",
    "fmt_number",
    "fmt_percent",
    "fmt_pvalue",
    "fmt_duration",
    "fmt_count",
    "fmt_interval",
    "MAX_ROWS",
]

#: Rows shown inline; the rest is in the CSV file.
MAX_ROWS = 15

DASH = "–"
NO_PERSONA = {"fr": "Sans persona", "en": "No persona"}

# ---------------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------------
_NBSP = "\u202f"  # narrow no-break space: the French thousands separator


def _missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _infinite(v) -> str | None:
    if isinstance(v, (float, np.floating)) and math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return None


def _localize(s: str, lang: str) -> str:
    s = s.replace("-", "−")
    if lang == "fr":
        s = s.replace(",", _NBSP).replace(".", ",")
    return s


def fmt_number(v, lang: str, decimals: int = 2, *, sign: bool = False) -> str:
    """``0.4712`` → ``"0,47"`` (fr) / ``"0.47"`` (en); true minus sign; ``–`` when missing."""
    if _missing(v):
        return DASH
    if (inf := _infinite(v)) is not None:
        return inf
    v = float(v)
    if round(v, decimals) == 0:
        v = 0.0
    return _localize(f"{v:{'+' if sign else ''},.{decimals}f}", lang)


def fmt_count(v, lang: str) -> str:
    """``37070`` → ``"37 070"`` (fr, narrow space) / ``"37,070"`` (en)."""
    if _missing(v):
        return DASH
    if (inf := _infinite(v)) is not None:
        return inf
    return _localize(f"{round(float(v)):,d}", lang)


def fmt_percent(v, lang: str, decimals: int = 1, *, sign: bool = False) -> str:
    """A share ``0.473`` → ``"47,3 %"`` (fr) / ``"47.3%"`` (en)."""
    if _missing(v):
        return DASH
    s = fmt_number(float(v) * 100, lang, decimals, sign=sign)
    return f"{s}\u00a0%" if lang == "fr" else f"{s}%"


def fmt_pvalue(p, lang: str) -> str:
    """``< 0,001`` below a thousandth, else three decimals; ``–`` when missing."""
    from .plot._style import pvalue

    if _missing(p):
        return DASH
    return pvalue(float(p), lang)


_UNITS = {"fr": ("j", "h", "min", "s"), "en": ("d", "h", "min", "s")}
_TD_TEXT = re.compile(r"^-?\d+ days? [0-9:.]+$")


def fmt_duration(v, lang: str) -> str:
    """A duration in its two largest units: ``"3 j 4 h"``, ``"12 min 5 s"``, ``"34 s"``."""
    if _missing(v):
        return DASH
    try:
        td = pd.Timedelta(v)
    except (TypeError, ValueError):
        return html.unescape(str(v))
    if td is pd.NaT:
        return DASH
    secs = td.total_seconds()
    neg, secs = secs < 0, abs(secs)
    d, rem = divmod(int(round(secs)), 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    u = _UNITS[lang]
    parts = [(d, u[0]), (h, u[1]), (m, u[2]), (s, u[3])]
    first = next((i for i, (n, _) in enumerate(parts) if n), 3)
    shown = [
        f"{n}\u00a0{unit}"
        for n, unit in parts[first : first + 2]
        if n or unit == u[3] and first == 3
    ]
    if not shown:
        shown = [f"{parts[first][0]}\u00a0{parts[first][1]}"]
    return ("−" if neg else "") + " ".join(shown)


def fmt_interval(lo, hi, lang: str, fmt=fmt_number) -> str:
    """``[0,41 ; 0,53]`` (fr) / ``[0.41, 0.53]`` (en); ``–`` when both ends are missing."""
    if _missing(lo) and _missing(hi):
        return DASH
    a, b = fmt(lo, lang), fmt(hi, lang)
    return f"[{a} ; {b}]" if lang == "fr" else f"[{a}, {b}]"


# ---------------------------------------------------------------------------------------------
# words
# ---------------------------------------------------------------------------------------------
#: Column headers (with units). A column not listed is shown with its name spelt out.
HEADERS = {
    "touchpoint": ("Point de contact", "Touchpoint"),
    "persona": ("Persona", "Persona"),
    "stage": ("Étape", "Stage"),
    "stage_label": ("Étape", "Stage"),
    "from_stage": ("Depuis l'étape", "From stage"),
    "label": ("Libellé", "Label"),
    "description": ("Description", "Description"),
    "order": ("Ordre", "Order"),
    "stage_order": ("Ordre de l'étape", "Stage order"),
    "channel": ("Canal", "Channel"),
    "nature": ("Nature", "Nature"),
    "events": ("Événements", "Events"),
    "moment_of_truth": ("Moment de vérité", "Moment of truth"),
    "target_satisfaction": ("Cible de satisfaction (1–5)", "Target satisfaction (1–5)"),
    "target_conversion": ("Conversion cible (%)", "Target conversion (%)"),
    "n_touchpoints": ("Points de contact (nb)", "Touchpoints (n)"),
    "item": ("Élément", "Item"),
    "value": ("Valeur", "Value"),
    "reason": ("Motif", "Reason"),
    "n": ("Effectif", "n"),
    "share": ("Part (%)", "Share (%)"),
    "enabled": ("Actif", "Enabled"),
    "device_id": ("Appareil (pseudonyme)", "Device (pseudonym)"),
    "user_id": ("Client (pseudonyme)", "Customer (pseudonym)"),
    "source": ("Source", "Source"),
    "target": ("Cible", "Target"),
    "n_events": ("Événements (nb)", "Events (n)"),
    "n_customers": ("Clients (nb)", "Customers (n)"),
    "step": ("Étape du tunnel", "Funnel step"),
    "step_index": ("Rang", "Rank"),
    "optional": ("Facultative", "Optional"),
    "entered": ("Entrés (nb)", "Entered (n)"),
    "converted": ("Convertis (nb)", "Converted (n)"),
    "reached": ("Arrivés (nb)", "Reached (n)"),
    "rate": ("Taux (%)", "Rate (%)"),
    "rate_from_first": ("Depuis la 1re étape (%)", "From first step (%)"),
    "rate_from_previous": ("Depuis l'étape précédente (%)", "From previous step (%)"),
    "drop_off": ("Abandons (nb)", "Drop-offs (n)"),
    "median_duration": ("Durée médiane", "Median duration"),
    "variant": ("Chemin", "Path"),
    "n_steps": ("Étapes (nb)", "Steps (n)"),
    "column": ("Variable", "Variable"),
    "level": ("Modalité", "Level"),
    "sample_share": ("Part dans l'échantillon (%)", "Sample share (%)"),
    "target_share": ("Part cible (%)", "Target share (%)"),
    "weighted_share": ("Part pondérée (%)", "Weighted share (%)"),
    "statistic": ("Statistique", "Statistic"),
    "metric": ("Indicateur", "Metric"),
    "estimate": ("Estimation", "Estimate"),
    "se": ("Erreur type", "Std. error"),
    "ci": ("IC 95 %", "95% CI"),
    "df": ("ddl", "df"),
    "n_eff": ("n effectif", "Effective n"),
    "question": ("Question", "Question"),
    "driver": ("Point de contact", "Touchpoint"),
    "importance": ("Importance (R²)", "Importance (R²)"),
    "rank": ("Rang", "Rank"),
    "performance": ("Satisfaction (1–5)", "Satisfaction (1–5)"),
    "reference": ("Référence (1–5)", "Reference (1–5)"),
    "gap": ("Écart à la cible (points)", "Gap to target (points)"),
    "high_importance": ("Importance élevée", "High importance"),
    "below_target": ("Sous la cible", "Below target"),
    "quadrant": ("Quadrant", "Quadrant"),
    "p_value": ("p", "p"),
    "p_adj": ("p corrigée", "Adjusted p"),
    "test": ("Test", "Test"),
    "family": ("Famille", "Family"),
    "effect_size": ("Effet", "Effect"),
    "effect": ("Effet", "Effect"),
    "effect_measure": ("Mesure de l'effet", "Effect measure"),
    "mde": ("Effet min. détectable", "Min. detectable effect"),
    "direction": ("Sens", "Direction"),
    "friction": ("Friction", "Friction"),
    "significant": ("Significatif", "Significant"),
    "comparison": ("Comparé à", "Compared with"),
    "evidence": ("Constat", "Finding"),
    "n_sources": ("Sources (nb)", "Sources (n)"),
    "n_friction": ("Sources signalant une friction", "Sources flagging friction"),
    "agree": ("Concordantes", "Agree"),
    "confirmed": ("Confirmée", "Confirmed"),
    "valence": ("Valence (−2 à +2)", "Valence (−2 to +2)"),
    "n_excerpts": ("Extraits (nb)", "Excerpts (n)"),
    "n_participants": ("Participants (nb)", "Participants (n)"),
    "participant_share": ("Part des participants (%)", "Share of participants (%)"),
    "code": ("Code", "Code"),
    "category": ("Catégorie de Kano", "Kano category"),
    "must_be": ("Obligatoire (%)", "Must-be (%)"),
    "one_dimensional": ("Proportionnelle (%)", "One-dimensional (%)"),
    "attractive": ("Attractive (%)", "Attractive (%)"),
    "indifferent": ("Indifférente (%)", "Indifferent (%)"),
    "reverse": ("Inverse (%)", "Reverse (%)"),
    "questionable": ("Douteuse (%)", "Questionable (%)"),
    "cs_plus": ("Coefficient de satisfaction", "Satisfaction coefficient"),
    "cs_minus": ("Coefficient d'insatisfaction", "Dissatisfaction coefficient"),
    "kind": ("Type", "Kind"),
    "field": ("Champ", "Field"),
    "file": ("Fichier", "File"),
    "treatment": ("Traitement", "Treatment"),
    "detector": ("Détecteur", "Detector"),
    "note": ("Note", "Note"),
    "entity": ("Entité", "Entity"),
    "placeholder": ("Remplacé par", "Replaced by"),
    "active": ("Actif", "Active"),
    "traced": ("Tracée", "Traced"),
    "window": ("Fenêtre", "Window"),
    "sentence": ("Constat", "Finding"),
}
_SOURCES = {
    "traces": ("Traces", "Traces"),
    "survey": ("Enquête", "Survey"),
    "qual": ("Entretiens", "Interviews"),
}

#: Categorical values, per column (``None``: any column).
CATEGORIES: dict[str | None, dict[str, tuple[str, str]]] = {
    "quadrant": {
        "fix first": ("À corriger d'abord", "Fix first"),
        "keep up": ("Maintenir", "Keep up"),
        "possible overkill": ("Effort peut-être excessif", "Possible overkill"),
        "low priority": ("Priorité basse", "Low priority"),
    },
    "category": {
        "must_be": ("Obligatoire", "Must-be"),
        "one_dimensional": ("Proportionnelle", "One-dimensional"),
        "attractive": ("Attractive", "Attractive"),
        "indifferent": ("Indifférente", "Indifferent"),
        "reverse": ("Inverse", "Reverse"),
        "questionable": ("Douteuse", "Questionable"),
    },
    "reason": {
        "kept": ("Gardés pour l'analyse", "Kept for analysis"),
        "unparseable": (
            "Illisibles (date, événement ou identité)",
            "Unreadable (time, event or identity)",
        ),
        "outside_period": ("Hors de la période d'étude", "Outside the study period"),
        "bot_user_agent": ("Robots (agent utilisateur)", "Robots (user agent)"),
        "bot_behaviour": ("Robots (rythme ou régularité)", "Robots (rate or regularity)"),
        "exact_duplicate": ("Doublons exacts", "Exact duplicates"),
        "near_duplicate": (
            "Quasi-doublons (même événement répété)",
            "Near duplicates (same event repeated)",
        ),
    },
    "metric": {
        "mean": ("Moyenne", "Mean"),
        "nps": ("NPS", "NPS"),
        "csat": ("CSAT", "CSAT"),
        "top2": ("Top-2", "Top-2"),
        "ces": ("CES", "CES"),
    },
    "statistic": {
        "n": ("Répondants", "Respondents"),
        "sum": ("Somme des poids", "Sum of weights"),
        "min": ("Poids minimal", "Smallest weight"),
        "max": ("Poids maximal", "Largest weight"),
        "mean": ("Poids moyen", "Mean weight"),
        "cv": ("Coefficient de variation", "Coefficient of variation"),
        "deff": ("Effet de plan (Kish)", "Design effect (Kish)"),
        "n_eff": ("Taille effective", "Effective sample size"),
        "ratio": ("Rapport max/min", "Max/min ratio"),
        "max / min": ("Rapport max/min", "Max/min ratio"),
        "min g": ("Facteur d'ajustement minimal", "Smallest adjustment factor"),
        "max g": ("Facteur d'ajustement maximal", "Largest adjustment factor"),
        "design_effect": ("Effet de plan (Kish)", "Design effect (Kish)"),
    },
    "persona": {"all": ("Ensemble", "Everyone")},
    "source": {
        "both": ("Journal et table d'identités", "Event log and identity map"),
        "events": ("Journal d'événements", "Event log"),
        "identity_map": ("Table d'identités", "Identity map"),
    },
    "direction": {"worse": ("Moins bien", "Worse"), "better": ("Mieux", "Better")},
    "test": {
        "persona_distribution": (
            "Répartition des notes vs autres personas",
            "Rating distribution vs other personas",
        ),
        "persona_means": ("Note moyenne vs autres personas", "Mean rating vs other personas"),
        "vs_personas": ("Conversion vs autres personas", "Conversion vs other personas"),
        "vs_journey": ("Vs son propre parcours (apparié)", "Vs own journey (paired)"),
        "vs_target": ("Vs cible", "Vs target"),
        "vs_baseline": ("Vs référence de l'étude", "Vs study baseline"),
    },
    "comparison": {
        "other personas": ("Autres personas", "Other personas"),
        "own journey level (paired)": (
            "Son propre niveau sur le parcours (apparié)",
            "Own journey level (paired)",
        ),
        "target satisfaction": ("Satisfaction cible", "Target satisfaction"),
        "study baseline": ("Référence de l'étude", "Study baseline"),
    },
    "effect_measure": {
        "difference in share rating <= 2": (
            "Écart de part des notes ≤ 2 (points de %)",
            "Difference in share rating ≤ 2 (pp)",
        ),
        "difference in conversion": (
            "Écart de conversion (points de %)",
            "Difference in conversion (pp)",
        ),
        "difference in rating points": ("Écart de note (points)", "Difference in rating (points)"),
        "difference in negative share": (
            "Écart de part négative (points de %)",
            "Difference in negative share (pp)",
        ),
    },
    "channel": {
        "social": ("Réseaux sociaux", "Social media"),
        "web": ("Site web", "Website"),
        "store": ("Agence", "Branch"),
        "email": ("E-mail", "E-mail"),
        "app": ("Application", "App"),
        "call_centre": ("Centre d'appels", "Call centre"),
        "sms": ("SMS", "SMS"),
        "mail": ("Courrier", "Mail"),
        "phone": ("Téléphone", "Phone"),
    },
    "nature": {"digital": ("Numérique", "Digital"), "tangible": ("Physique", "Physical")},
    None: {
        "friction": ("Friction", "Friction"),
        "none": ("Pas de friction", "No friction"),
        "contradicts": ("Contredit", "Contradicts"),
        "no_data": ("Pas de données", "No data"),
        "traces": ("Traces", "Traces"),
        "survey": ("Enquête", "Survey"),
        "qual": ("Entretiens", "Interviews"),
        "other personas": ("Autres personas", "Other personas"),
        "excerpts": ("Extraits d'entretiens", "Interview excerpts"),
        "event log": ("Journal d'événements", "Event log"),
        "customer file": ("Fichier clients", "Customer file"),
        "identity map": ("Table d'identités", "Identity map"),
    },
}
_STUDY_ITEMS = {
    "study": "étude",
    "stages": "étapes",
    "touchpoints": "points de contact",
    "moments of truth": "moments de vérité",
    "personas": "personas",
    "respondents": "répondants",
    "margins": "marges de pondération",
    "event log": "journal d'événements",
    "excerpts file": "fichier d'extraits",
    "events kept": "événements gardés",
    "events mapped to no touchpoint": "événements sans point de contact",
    "warning": "attention",
}

#: Kinds of numeric columns: how each is formatted.
PERCENT = {
    "share",
    "rate",
    "rate_from_first",
    "rate_from_previous",
    "target_conversion",
    "sample_share",
    "target_share",
    "weighted_share",
    "participant_share",
    "must_be",
    "one_dimensional",
    "attractive",
    "indifferent",
    "reverse",
    "questionable",
}
PVALUE = {"p_value", "p_adj"}
COUNT = {
    "n",
    "entered",
    "converted",
    "reached",
    "drop_off",
    "n_events",
    "n_customers",
    "n_excerpts",
    "n_participants",
    "rank",
    "n_steps",
    "step_index",
    "order",
    "stage_order",
    "n_touchpoints",
    "n_sources",
    "n_friction",
    "n_contradict",
    "df",
    "n_eff",
    "n_ref",
}
#: Scores on the rating scale and their differences: two decimals.
SCORE = {"estimate", "target", "target_satisfaction", "performance", "reference", "gap", "valence"}
#: Columns hidden in the page when they hold one value (run settings, kept in the CSV).
SETTINGS = {
    "band",
    "level_ci",
    "crit",
    "grain",
    "weighting",
    "window",
    "confidence",
    "method",
    "correction",
    "alternative",
    "metric",
    "enabled",
    "traced",
}


def header(col: str, lang: str) -> str:
    """The header of ``col`` in ``lang`` (with its unit)."""
    i = 0 if lang == "fr" else 1
    if col in HEADERS:
        return HEADERS[col][i]
    for src, names in _SOURCES.items():
        if col.startswith(src + "_") and col[len(src) + 1 :] in HEADERS:
            return (
                f"{names[i]} : {header(col[len(src) + 1 :], lang)}"
                if lang == "fr"
                else f"{names[i]}: {header(col[len(src) + 1 :], lang)}"
            )
    return col.replace("_", " ").capitalize()


def category(value, col: str | None, lang: str) -> str:
    i = 0 if lang == "fr" else 1
    for table in (CATEGORIES.get(col, {}), CATEGORIES[None]):
        if value in table:
            return table[value][i]
    return str(value)


def _kind(col: str, s: pd.Series, kinds: dict) -> str:
    base = col.split("_", 1)[1] if col.split("_", 1)[0] in _SOURCES and "_" in col else col
    if col in kinds:
        return kinds[col]
    if pd.api.types.is_bool_dtype(s):
        return "bool"
    if pd.api.types.is_timedelta64_dtype(s) or col.endswith("duration"):
        return "duration"
    if base in PVALUE or col.endswith("p_adj"):
        return "pvalue"
    if base in PERCENT:
        return "percent"
    if base in SCORE and pd.api.types.is_numeric_dtype(s):
        return "score"
    if base in COUNT or col.startswith("n_") and pd.api.types.is_numeric_dtype(s):
        return "count"
    if pd.api.types.is_numeric_dtype(s):
        return "number"
    return "text"


def _cell(v, kind: str, col: str, lang: str, journey) -> str:
    if kind == "percent":
        return fmt_percent(v, lang)
    if kind == "pvalue":
        return fmt_pvalue(v, lang)
    if kind == "count":
        return fmt_count(v, lang)
    if kind == "duration":
        return fmt_duration(v, lang)
    if kind == "score":
        return fmt_number(v, lang, 2)
    if kind == "number":
        return _auto_number(v, lang)
    if kind == "bool":
        if _missing(v):
            return DASH
        return ("Oui" if v else "Non") if lang == "fr" else ("Yes" if v else "No")
    if _missing(v) or isinstance(v, str) and not v.strip():
        return NO_PERSONA[lang] if col == "persona" else DASH
    if kind == "id" and journey is not None:
        return _label(journey, str(v), lang)
    if col == "item" and lang == "fr":
        text = str(v)
        if text.startswith("persona "):
            return "persona " + _label(journey, text[8:], lang) if journey is not None else text
        return _STUDY_ITEMS.get(text, text)
    return category(v, col, lang)


def _auto_number(v, lang: str) -> str:
    """Three decimals below 1 in absolute value (importance 0.184), else two (score 3.87)."""
    if _missing(v) or _infinite(v):
        return fmt_number(v, lang)
    if float(v).is_integer() and abs(float(v)) >= 1:
        return fmt_count(v, lang)  # 800.0 respondents: 800
    return fmt_number(v, lang, 3 if abs(float(v)) < 1 else 2)


def _label(journey, key: str, lang: str) -> str:
    try:
        return journey.label(key, lang)
    except (KeyError, ValueError, AttributeError):
        return key


_IDS = {"touchpoint", "persona", "stage", "from_stage", "driver", "source", "target"}


def present(
    df: pd.DataFrame,
    *,
    lang: str,
    journey=None,
    columns=None,
    kinds: dict | None = None,
    headers: dict | None = None,
    values: dict | None = None,
) -> pd.DataFrame:
    """A table as a reader reads it: every cell a string in ``lang``.

    Parameters
    ----------
    df : DataFrame
        Any table of the analyses (raw values).
    lang : {"fr", "en"}
    journey : JourneyMap, optional
        Replaces touchpoint, persona and stage ids by their labels.
    columns : list of str, optional
        Columns to show, in this order (default: all but run settings holding one value and
        columns with no value).
    kinds : dict, optional
        ``{column: kind}`` overriding the kind read from the name: ``percent``, ``score``,
        ``number``, ``pvalue``, ``count``, ``duration``, ``bool``, ``id``, ``text``.
    headers : dict, optional
        ``{column: (french, english)}`` overriding :data:`HEADERS` for this table.
    values : dict, optional
        ``{column: {raw value: (french, english)}}``: words for this table's values (e.g. the
        questions of the study's instrument).

    Returns
    -------
    DataFrame
        Same rows; translated headers; an interval ``x_low, x_high`` (or ``ci_low, ci_high``)
        merged into one column ``[low ; high]`` formatted like its estimate.
    """
    return _formatted(
        df, lang=lang, journey=journey, columns=columns, kinds=kinds, headers=headers, values=values
    )[0]


_TEXT_KINDS = {"text", "id", "bool"}


def _formatted(
    df, *, lang, journey, columns, kinds, headers, values=None
) -> tuple[pd.DataFrame, list[bool]]:
    """:func:`present`'s table and, per column, whether it holds numbers (right-aligned)."""
    kinds = dict(kinds or {})
    extra = headers or {}

    def head_of(c):
        return extra[c][0 if lang == "fr" else 1] if c in extra else header(c, lang)

    cols = (
        list(columns)
        if columns is not None
        else [
            c
            for c in df.columns
            if not df[c].isna().all() and not (c in SETTINGS and df[c].astype(str).nunique() <= 1)
        ]
    )
    data = df[[c for c in cols if c in df.columns]]
    out, done, numeric = {}, set(), []
    for c in data.columns:
        if c in done:
            continue
        s = data[c]
        kind = _kind(c, s, kinds)
        if (
            kind == "text"
            and c in _IDS
            and journey is not None
            and s.dropna().map(lambda v: _label(journey, str(v), lang) != str(v)).any()
        ):
            kind = "id"
        pair = _interval_partner(c, data.columns)
        if pair is not None:
            lo, hi = c, pair
            k = kinds.get(lo) or _interval_kind(lo, data, kinds)
            fmt = {"percent": fmt_percent, "count": fmt_count, "number": _auto_number}.get(
                k, fmt_number
            )
            base = lo[:-7] if lo.endswith("_ci_low") else lo[:-4]
            if lo == "ci_low":
                head = head_of("ci_low") if "ci_low" in extra else header("ci", lang)
            else:
                head = f"{head_of(base)} — {header('ci', lang)}"
            out[head] = [fmt_interval(a, b, lang, fmt) for a, b in zip(s, data[hi])]
            done |= {lo, hi}
            numeric.append(True)
            continue
        words = (values or {}).get(c, {})
        out[head_of(c)] = [
            words[v][0 if lang == "fr" else 1]
            if isinstance(v, str) and v in words
            else _cell(v, kind, c, lang, journey)
            for v in s
        ]
        numeric.append(kind not in _TEXT_KINDS)
        done.add(c)
    return pd.DataFrame(out, index=range(len(data))), numeric


def _interval_partner(col: str, columns) -> str | None:
    if col.endswith("_low") and col[:-4] + "_high" in columns:
        return col[:-4] + "_high"
    return None


def _interval_kind(lo: str, data: pd.DataFrame, kinds: dict) -> str:
    """An interval is formatted like its estimate: ``ci_low`` like ``estimate``/``rate``,
    ``importance_low`` like ``importance``."""
    base = lo[:-7] if lo.endswith("_ci_low") else lo[:-4]
    for cand in [base] if lo != "ci_low" else ["estimate", "rate", "effect_size", "share"]:
        if cand in data.columns:
            return kinds.get(cand) or _kind(cand, data[cand], kinds)
    return "number"


def html_table(
    df: pd.DataFrame,
    *,
    lang: str,
    journey=None,
    csv: str = "",
    columns=None,
    kinds: dict | None = None,
    headers: dict | None = None,
    values: dict | None = None,
    max_rows: int = MAX_ROWS,
) -> str:
    """``df`` formatted by :func:`present` as an HTML table in a horizontally scrolling wrapper;
    at most ``max_rows`` (≤ 15) rows inline, then a line naming the CSV file with the rest."""
    max_rows = min(max_rows, MAX_ROWS)
    shown, numeric = _formatted(
        df.head(max_rows),
        lang=lang,
        journey=journey,
        columns=columns,
        kinds=kinds,
        headers=headers,
        values=values,
    )
    cls = [' class="num"' if n else "" for n in numeric]
    head = "".join(
        f'<th scope="col"{c}>{_unbreakable(html.escape(h))}</th>'
        for h, c in zip(shown.columns, cls)
    )
    rows = "".join(
        "<tr>" + "".join(f"<td{c}>{html.escape(v)}</td>" for v, c in zip(row, cls)) + "</tr>"
        for row in shown.itertuples(index=False)
    )
    body = f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    more = ""
    if len(df) > max_rows:
        n = len(df) - max_rows
        more = (
            f'<p class="more">… {fmt_count(n, lang)} {"autres lignes" if n > 1 else "autre ligne"} dans '
            f"<code>{html.escape(csv)}</code></p>"
            if lang == "fr"
            else f'<p class="more">… {fmt_count(n, lang)} more row{"s" if n > 1 else ""} in '
            f"<code>{html.escape(csv)}</code></p>"
        )
    return f'<div class="table-wrap">{body}</div>{more}'


def _unbreakable(text: str) -> str:
    """Keep ``(1–5)`` and ``95 %`` on one line in a header."""
    return re.sub(r"(\d)–(\d)", "\\1\u2060–\u2060\\2", text).replace(" %", "\u00a0%")


_SCORE = {"estimate": ("Satisfaction (1–5)", "Satisfaction (1–5)")}
#: What the page shows of each table of the report (the CSV keeps every column).
TABLES = {
    "journey_stages": {"columns": ["stage", "target_conversion", "n_touchpoints"]},
    "journey_touchpoints": {
        "columns": [
            "touchpoint",
            "stage",
            "channel",
            "nature",
            "moment_of_truth",
            "target_satisfaction",
            "events",
        ]
    },
    "personas": {"columns": ["persona", "description"]},
    "cleaning_log": {"columns": ["reason", "n", "share"]},
    "funnel": {
        "columns": [
            "persona",
            "step",
            "entered",
            "converted",
            "rate_from_first",
            "rate_from_previous",
            "drop_off",
        ]
    },
    "pyramid": {
        "columns": [
            "persona",
            "stage",
            "entered",
            "reached",
            "rate",
            "ci_low",
            "ci_high",
            "target",
            "p_value",
        ],
        "kinds": {"target": "percent"},
        "headers": {"target": ("Conversion cible (%)", "Target (%)")},
    },
    "transitions": {
        "headers": {
            "source": ("Depuis", "From"),
            "target": ("Vers", "To"),
            "share": ("Part des sorties (%)", "Share of exits (%)"),
        }
    },
    "weighting_margins": {
        "columns": ["column", "level", "n", "sample_share", "target_share", "weighted_share"],
        "kinds": {"level": "id"},
    },
    "weighting_weights": {"kinds": {"value": "number"}},
    "scores_touchpoint": {
        "columns": [
            "touchpoint",
            "estimate",
            "ci_low",
            "ci_high",
            "target_satisfaction",
            "n",
            "n_eff",
        ],
        "headers": _SCORE,
    },
    "scores_touchpoint_persona": {
        "columns": ["touchpoint", "persona", "estimate", "ci_low", "ci_high", "n", "n_eff"],
        "headers": _SCORE,
    },
    "scores_kpis": {
        "columns": ["question", "metric", "estimate", "ci_low", "ci_high", "n", "n_eff"]
    },
    "drivers": {
        "columns": ["driver", "importance", "ci_low", "ci_high", "share", "rank", "n"],
        "kinds": {"ci_low": "number"},
        "headers": {"share": ("Part du R² (%)", "Share of R² (%)")},
    },
    "importance_performance": {
        "columns": [
            "touchpoint",
            "quadrant",
            "importance",
            "importance_low",
            "importance_high",
            "performance",
            "performance_low",
            "performance_high",
            "target",
            "gap",
        ],
        "headers": {"target": ("Cible (1–5)", "Target (1–5)")},
    },
    "friction_flagged": {
        "columns": [
            "touchpoint",
            "persona",
            "traces_evidence",
            "traces_p_adj",
            "survey_evidence",
            "survey_p_adj",
            "qual_evidence",
            "qual_p_adj",
            "n_friction",
            "confirmed",
        ]
    },
    "friction_tests": {
        "columns": [
            "touchpoint",
            "persona",
            "source",
            "test",
            "comparison",
            "effect_measure",
            "effect_size",
            "ci_low",
            "ci_high",
            "p_value",
            "p_adj",
            "n",
            "friction",
        ],
        "kinds": {"ci_low": "number"},
    },
    "journey_curves": {
        "columns": [
            "persona",
            "touchpoint",
            "estimate",
            "ci_low",
            "ci_high",
            "target",
            "gap",
            "below_target",
            "valence",
            "n_excerpts",
            "n",
        ],
        "headers": {
            **_SCORE,
            "target": ("Cible (1–5)", "Target (1–5)"),
            "ci_low": ("Bande simultanée 95 %", "95% simultaneous band"),
        },
    },
}
