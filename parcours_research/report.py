"""The study report: one self-contained HTML file, with its figures (PNG, SVG) and tables (CSV).

``parcours report STUDY -o OUT`` (or :func:`build_report`) runs the whole study — journey map,
cleaning log of the traces, funnels and paths, weighting diagnostics, touchpoint scores, drivers,
friction points with quotes, persona curves — and writes::

    OUT/report.html        self-contained (figures embedded), opens without a server
    OUT/figures/*.png|svg  every figure, for slides
    OUT/tables/*.csv       every table, unrounded, for further work

The report holds no statistics of its own: every number comes from the package's analyses.
A section whose evidence source is absent from the study (no event log, no interviews) says so;
an analysis that fails stops the report with its error rather than printing a partial result.
"""

from __future__ import annotations

import base64
import gc
import html
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pandas as pd

from . import (
    __version__,
    report_conformance,
    report_contacts,
    report_moments,
    report_next_wave,
    report_sections,
)
from ._report_figures import FigureWriter
from .errors import StudyError
from .study import Study

__all__ = ["build_report", "ReportResult", "add_cli"]

_T = {
    "fr": {
        "title": "Rapport d'étude de parcours client", "generated": "Généré le {date}",
        "journey": "Le parcours", "data": "Données chargées", "traces": "Traces numériques",
        "weighting": "Pondération de l'échantillon", "scores": "Satisfaction par point de contact",
        "drivers": "Importance des points de contact", "friction": "Points de friction",
        "curves": "Courbes de satisfaction par persona", "privacy": "Données personnelles (RGPD)", "no_traces": "Pas de journal d'événements dans study.yml.",
        "no_survey": "Pas d'enquête dans study.yml.", "no_qual": "Pas d'extraits codés dans study.yml.",
        "footer": "Chiffres non arrondis dans tables/*.csv. Identifiants pseudonymisés, citations nettoyées des noms, "
                  "e-mails, numéros de téléphone, IBAN, NIR, cartes et adresses (voir la section Données personnelles).",
    },
    "en": {
        "title": "Customer journey study report", "generated": "Generated on {date}",
        "journey": "The journey", "data": "Data loaded", "traces": "Digital traces",
        "weighting": "Sample weighting", "scores": "Satisfaction per touchpoint",
        "drivers": "Touchpoint importance", "friction": "Friction points",
        "curves": "Satisfaction curves per persona", "privacy": "Personal data (GDPR record)", "no_traces": "No event log in study.yml.",
        "no_survey": "No survey in study.yml.", "no_qual": "No coded excerpts in study.yml.",
        "footer": "Unrounded figures in tables/*.csv. Ids pseudonymised; quotes scrubbed of names, e-mails, "
                  "phone numbers, IBANs, NIRs, cards and addresses (see the Personal data section).",
    },
}


@dataclass
class _Block:
    kind: str
    html: str = ""
    caption: str = ""
    files: str = ""
    png64: str = ""
    items: list = field(default_factory=list)
    anchor: str = ""
    png: Path | None = None  # the figure's PNG, embedded as ``png64`` once written


@dataclass
class _Section:
    id: str
    title: str
    status: str = "ok"
    note: str = ""
    blocks: list[_Block] = field(default_factory=list)


@dataclass
class ReportResult:
    """What :func:`build_report` wrote.

    Attributes
    ----------
    path : Path
        The HTML report.
    figures, tables : list of Path
        Every figure (PNG and SVG) and table (CSV) written.
    timings : DataFrame
        ``section, seconds``: where the time went.
    pdf : Path or None
        ``report.pdf`` when ``pdf=True`` and chromium printed it.
    pdf_message : str
        What became of the PDF (written, or why not).
    missing : list of str
        Sections left out because their evidence source is absent.
    """

    path: Path
    figures: list[Path]
    tables: list[Path]
    timings: pd.DataFrame
    missing: list[str]
    pdf: Path | None = None
    pdf_message: str = ""

    def __repr__(self) -> str:
        return (f"ReportResult({self.path.name!r}, {len(self.figures)} figure files, {len(self.tables)} tables, "
                f"missing={self.missing})")


class _Context:
    """One report run: the study's prepared evidence, the output folder, and the results one
    section hands to a later one (the touchpoint scores to the importance–performance matrix,
    the triangulation to the curves)."""

    def __init__(self, study: Study, out: Path, lang: str, seed: int, n_boot: int):
        from .evidence import prepare

        self.study, self.out, self.lang, self.seed, self.n_boot = study, out, lang, seed, n_boot
        self.evidence = prepare(study)
        self.figures: list[Path] = []
        self.tables: list[Path] = []
        self.writer = FigureWriter()  # figures written by child processes beside the sections
        self.scores_overall: pd.DataFrame | None = None
        self.triangulation = None
        (out / "figures").mkdir(parents=True, exist_ok=True)
        (out / "tables").mkdir(parents=True, exist_ok=True)

    # ---- output helpers ---------------------------------------------------------------------
    def table(self, name: str, df: pd.DataFrame, caption: str = "", max_rows: int = 15, digits: int = 3,
              display: dict | None = None) -> _Block:
        from ._safe_csv import write_csv
        from .privacy import pseudonymise_ids

        df = pseudonymise_ids(df, self.study.privacy_salt)  # no raw id leaves the evidence
        path = self.out / "tables" / f"{name}.csv"
        write_csv(df, path)
        self.tables.append(path)
        from ._present import TABLES, html_table  # the one formatting of every table of the page

        spec = {**TABLES.get(name, {}), **(display or {})}
        body = html_table(df, lang=self.lang, journey=self.study.journey, csv=f"tables/{name}.csv",
                          max_rows=max_rows, **spec)
        return _Block("table", html=body, caption=caption, files=f"tables/{name}.csv")

    def figure(self, name: str, fig, caption: str) -> _Block:
        """A figure block; the figure is written (PNG, SVG) while the next sections run, and
        its PNG embedded by :meth:`embed_figures`."""
        paths = self.writer.submit(fig, self.out / "figures" / name)
        self.figures.extend(paths)
        png = next(p for p in paths if p.suffix == ".png")
        return _Block("figure", caption=caption, files=", ".join(f"figures/{p.name}" for p in paths),
                      png=png)

    def embed_figures(self, sections: list[_Section]) -> None:
        """Wait for the figures under way, then embed each PNG in its block."""
        self.writer.wait()
        for sec in sections:
            for block in sec.blocks:
                if block.kind == "figure" and block.png is not None and not block.png64:
                    block.png64 = base64.b64encode(block.png.read_bytes()).decode("ascii")


# ---------------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------------
def _s_journey(ctx: _Context, sec: _Section) -> None:
    j = ctx.study.journey
    st = j.stages_frame(ctx.lang)
    tp = j.touchpoints_frame(ctx.lang).drop(columns=["events"]).assign(
        events=[", ".join(t.events) for t in j.touchpoints])
    n_mot = len(j.moments_of_truth)
    sec.blocks.append(_Block("text", html.escape(
        f"{len(j.stages)} stages, {len(j.touchpoints)} touchpoints ({n_mot} moments of truth), "
        f"{len(j.personas)} personas." if ctx.lang == "en" else
        f"{len(j.stages)} étapes, {len(j.touchpoints)} points de contact (dont {n_mot} moments de vérité), "
        f"{len(j.personas)} personas.")))
    sec.blocks.append(ctx.table("journey_stages", st, "Stages and target conversion" if ctx.lang == "en"
                                else "Étapes et conversion cible"))
    sec.blocks.append(ctx.table("journey_touchpoints", tp, "Touchpoints and targets" if ctx.lang == "en"
                                else "Points de contact et cibles"))
    sec.blocks.append(ctx.table("personas", j.personas_frame(ctx.lang)))


def _s_data(ctx: _Context, sec: _Section) -> None:
    sec.blocks.append(ctx.table("study_summary", ctx.study.summary()))


def _s_traces(ctx: _Context, sec: _Section) -> None:
    st = ctx.study
    if st.traces is None:
        sec.status, sec.note = "missing", _T[ctx.lang]["no_traces"]
        return
    en = ctx.lang == "en"
    prepared = ctx.evidence.traces
    log = prepared.cleaning
    sec.blocks.append(_Block("key", html.escape(report_sections.cleaning_key(log, ctx.lang))))
    sec.blocks.append(ctx.table("cleaning_log", log.summary, "Cleaning log" if en else "Journal de nettoyage"))
    for message in prepared.warnings:  # data quality: filters removing most rows, unmapped events
        sec.blocks.append(_Block("key", html.escape(("Data quality: " if en else "Qualité des données : ")
                                                    + message)))
    conflicts = prepared.conflicts
    n_dev = conflicts["device_id"].nunique() if len(conflicts) else 0
    sec.blocks.append(_Block("text", html.escape(
        f"{n_dev} devices linked to more than one customer: reported, left unstitched." if en else
        f"{n_dev} appareils liés à plusieurs clients : signalés, non rattachés.")))
    if len(conflicts):
        sec.blocks.append(ctx.table("identity_conflicts", conflicts, max_rows=10))
    _funnel_blocks(ctx, sec, prepared)
    _path_blocks(ctx, sec, prepared)


def _funnel_blocks(ctx: _Context, sec: _Section, prepared) -> None:
    """The main funnel (steps, no targets) and the conversion pyramid (stages, targets)."""
    from . import traces as tr
    from .plot import funnel as plot_funnel

    st, en = ctx.study, ctx.lang == "en"
    if st.traces.funnel:
        funnel = tr.funnel(prepared.log, by=prepared.by)
        sec.blocks.append(_Block("heading", "Funnel" if en else "Tunnel de conversion"))
        fig = plot_funnel(funnel, by=prepared.by, journey=st.journey, lang=ctx.lang)
        sec.blocks.append(ctx.figure("funnel", fig, "Conversion from the first step, per persona" if en else
                                     "Conversion depuis la première étape, par persona"))
        sec.blocks.append(ctx.table("funnel", funnel, max_rows=40))
        report_sections.no_persona_note(ctx, sec, funnel)
    if any(s.target_conversion is not None for s in st.journey.stages):
        from .plot import pyramid as plot_pyramid

        pyr = ctx.pyramid = tr.pyramid(ctx.evidence, by=prepared.by)
        sec.blocks.append(_Block("heading", "Conversion pyramid" if en else "Pyramide de conversion",
                                 anchor="pyramid"))
        fig = plot_pyramid(pyr, journey=st.journey, lang=ctx.lang)
        sec.blocks.append(ctx.figure("pyramid", fig, "Stage-to-stage conversion against the stage targets" if en
                                     else "Conversion d'une étape à la suivante face aux cibles par étape"))
        sec.blocks.append(ctx.table("pyramid", pyr, max_rows=40))
        report_sections.no_persona_note(ctx, sec, pyr)


def _path_blocks(ctx: _Context, sec: _Section, prepared) -> None:
    from . import traces as tr
    from .plot import transitions as plot_transitions

    st, en = ctx.study, ctx.lang == "en"
    trans = tr.transitions(prepared.log, node="touchpoint", within="user")
    sec.blocks.append(_Block("heading", "Paths" if en else "Chemins"))
    fig = plot_transitions(trans, top=15, journey=st.journey, lang=ctx.lang)
    sec.blocks.append(ctx.figure("transitions", fig, "Main transitions between touchpoints, per customer" if en else
                                 "Principales transitions entre points de contact, par client"))
    report_sections.transition_figure(ctx, sec, trans)
    sec.blocks.append(ctx.table("transitions", trans.sort_values("n", ascending=False), max_rows=20))
    sec.blocks.append(ctx.table("variants", tr.variants(prepared.log, top=10), "Top 10 path variants" if en else
                                "Les 10 chemins les plus fréquents"))


def _s_weighting(ctx: _Context, sec: _Section) -> None:
    st = ctx.study
    if st.responses is None:
        sec.status, sec.note = "missing", _T[ctx.lang]["no_survey"]
        return
    sw = ctx.evidence.weighting
    sec.blocks.append(_Block("key", html.escape(
        f"Weights used by every analysis of this report: {sw.description}" if ctx.lang == "en" else
        f"Pondération utilisée par toutes les analyses de ce rapport : {report_sections.rule_fr(sw)}")))
    if sw.rake is not None:
        sec.blocks.append(_Block("text", html.escape(report_sections.weighting_sentence(sw, ctx.lang))))
        sec.blocks.append(ctx.table("weighting_margins", sw.rake.summary))
    sec.blocks.append(ctx.table("weighting_weights", sw.summary))


def _s_scores(ctx: _Context, sec: _Section) -> None:
    from .satisfaction import scores, study_scores

    st = ctx.study
    if st.responses is None:
        sec.status, sec.note = "missing", _T[ctx.lang]["no_survey"]
        return
    overall = study_scores(ctx.evidence)  # one definition: notebooks and workshop show the same
    per = study_scores(ctx.evidence, by="persona")
    ctx.scores_overall = overall
    labels = st.journey.touchpoints_frame(ctx.lang).set_index("touchpoint")
    ov = overall.merge(labels[["label", "target_satisfaction", "order"]], left_on="touchpoint", right_index=True)
    ov = ov.sort_values("order").drop(columns="order")
    sec.blocks.append(_Block("text", html.escape(
        "Weighted mean satisfaction (1-5) per touchpoint, design-based 95% intervals (the study's design; "
        "without a declared cluster, the respondent as cluster)."
        if ctx.lang == "en" else
        "Satisfaction moyenne pondérée (1-5) par point de contact, intervalles à 95 % fondés sur le plan de "
        "l'étude (sans grappe déclarée, le répondant comme grappe).")))
    sec.blocks.append(ctx.table("scores_touchpoint", ov))
    sec.blocks.append(ctx.table("scores_touchpoint_persona", per, max_rows=80))
    report_sections.rating_figure(ctx, sec)
    r = ctx.evidence.responses
    kpis = []
    for col, metric in ((st.instrument.first("overall"), "mean"), (st.instrument.first("nps"), "nps"),
                        (st.instrument.first("effort"), "mean")):
        if col and col in r.columns:
            t = scores(r, col, touchpoint=None, by=None, metric=metric, weight="weight")
            kpis.append(t.assign(question=col))
    if kpis:
        sec.blocks.append(ctx.table("scores_kpis", pd.concat(kpis, ignore_index=True),
                                    display=report_sections.kpi_display(st)))


def _s_drivers(ctx: _Context, sec: _Section) -> None:
    from .satisfaction import drivers

    st = ctx.study
    if st.responses is None or not st.instrument.first("overall"):
        sec.status, sec.note = "missing", _T[ctx.lang]["no_survey"]
        return
    res = drivers(ctx.evidence.responses, outcome=st.instrument.first("overall"), drivers=st.touchpoint_columns,
                  weight="weight", n_boot=ctx.n_boot, seed=ctx.seed)
    ctx.drivers = res  # the importance–performance section and the summary read it
    sec.blocks.append(_Block("text", html.escape(report_sections.drivers_sentence(res, st.journey, ctx.lang))))
    sec.blocks.append(ctx.table("drivers", res.summary, max_rows=16))


def _s_friction(ctx: _Context, sec: _Section) -> None:
    from .friction import triangulate

    st = ctx.study
    en = ctx.lang == "en"
    tri = ctx.triangulation = triangulate(ctx.evidence)
    conf = tri.confirmed
    rule = ("confirmed = significant friction (after Benjamini–Hochberg correction within each source) in at least "
            "two independent sources, none contradicting" if en else
            "confirmé = friction significative (après correction de Benjamini–Hochberg dans chaque source) dans au "
            "moins deux sources indépendantes, aucune ne la contredisant")
    if conf.empty:
        sec.blocks.append(_Block("key", html.escape(("No confirmed friction point; " if en else
                                                     "Aucun point de friction confirmé ; ") + rule + ".")))
    else:
        names = ", ".join(f"{st.journey.label(r.touchpoint, ctx.lang)} ({st.journey.label(r.persona, ctx.lang)})"
                          for r in conf.itertuples())
        sec.blocks.append(_Block("key", html.escape(("Confirmed friction points: " if en else
                                                     "Points de friction confirmés : ") + names + f". ({rule}.)")))
        if ctx.evidence.excerpts is not None:
            sec.blocks.append(_Block("text", html.escape("What customers say about it: see the quotes in the "
                                                         "Interviews section." if en else "Ce qu'en disent les "
                                                         "clients : voir les citations de la section Entretiens.")))
    shown = ["touchpoint", "persona"]
    for src in ("traces", "survey", "qual"):
        shown += [f"{src}_evidence", f"{src}_effect", f"{src}_p_adj", f"{src}_mde"]
    shown += ["n_sources", "n_friction", "agree", "confirmed"]
    flagged = tri.summary[tri.summary["n_friction"] > 0][[c for c in shown if c in tri.summary.columns]]
    sec.blocks.append(ctx.table("friction_flagged", flagged, "Touchpoints and personas flagged by at least one "
                                "source" if en else "Points de contact et personas signalés par au moins une source",
                                max_rows=40))
    ctx.table("friction_summary", tri.summary)
    sec.blocks.append(ctx.table("friction_tests", tri.tests.sort_values("p_value"), "Every test, with its family, "
                                "corrected p-value, effect size and minimum detectable effect" if en else
                                "Tous les tests, avec leur famille, p-value corrigée, taille d'effet et effet minimal "
                                "détectable", max_rows=25))


def _s_curves(ctx: _Context, sec: _Section) -> None:
    from .curves import journey_curves
    from .plot import journey_curves as plot_curves

    st = ctx.study
    if st.responses is None:
        sec.status, sec.note = "missing", _T[ctx.lang]["no_survey"]
        return
    table = ctx.curves = journey_curves(ctx.evidence, band="simultaneous", n_boot=ctx.n_boot, seed=ctx.seed,
                                        lang=ctx.lang)
    fig = plot_curves(table, journey=st.journey, friction=ctx.triangulation, lang=ctx.lang, facet=True)
    sec.blocks.append(ctx.figure("journey_curves", fig, "Persona curves (as it is) against the target "
                                 "(as it should be), simultaneous 95% bands" if ctx.lang == "en" else
                                 "Courbes par persona (tel quel) face à la cible (tel qu'il devrait être), bandes "
                                 "simultanées à 95 %"))
    report_sections.gap_figure(ctx, sec, table)
    sec.blocks.append(ctx.table("journey_curves", table, max_rows=70))


def _s_privacy(ctx: _Context, sec: _Section) -> None:
    """The privacy summary (RGPD record): personal fields, treatment, detectors, findings."""
    from .privacy_record import privacy_summary

    res = privacy_summary(ctx.study)
    en = ctx.lang == "en"
    for w in res.warnings:
        sec.blocks.append(_Block("key", html.escape(("Warning: " if en else "Attention : ") + w)))
    sec.blocks.append(ctx.table("privacy_fields", res.summary, "Personal fields of each source and what every "
                                "output does with them" if en else "Données personnelles de chaque source et leur "
                                "traitement dans toutes les sorties", max_rows=60))
    sec.blocks.append(ctx.table("privacy_detectors", res.detectors, "Detectors of the scrubber" if en else
                                "Détecteurs du nettoyage des textes"))
    sec.blocks.append(ctx.table("privacy_found", res.findings, "Found and removed in free text (counts)" if en
                                else "Trouvé et retiré dans les textes libres (comptes)"))


SECTIONS: list[tuple[str, Callable[[_Context, _Section], None]]] = [
    ("journey", _s_journey),
    ("data", _s_data),
    ("traces", _s_traces),
    ("weighting", _s_weighting),
    ("scores", _s_scores),
    ("drivers", _s_drivers),
    ("friction", _s_friction),
    ("importance", report_sections.s_importance),
    ("kano", report_sections.s_kano),
    ("curves", _s_curves),
    ("interviews", report_sections.s_interviews),
    ("next_wave", report_next_wave.s_next_wave),
    ("at_stake", report_next_wave.s_at_stake),
    ("conformance", report_conformance.s_conformance),
    ("moments", report_moments.s_moments),
    ("contacts", report_contacts.s_contacts),
    ("privacy", _s_privacy),
    ("methods", report_sections.s_methods),
    ("summary", report_sections.s_summary),  # written last (it reads every result), shown first
]


@contextmanager
def _few_full_collections():
    """No full garbage collection while the report runs (young generations as usual).

    A full collection scans every object of the process: about 0.4 s each once a study is
    loaded, two or three per report, for almost nothing to free (the report's objects are
    freed by reference counting; its short-lived cycles by the young collections). The
    collector's thresholds are restored afterwards; a function, so also a decorator."""
    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], max(before[2], 1_000_000))
    try:
        yield
    finally:
        gc.set_threshold(*before)


@_few_full_collections()
def build_report(
    study: Study | str | Path,
    out: str | Path,
    *,
    lang: str | None = None,
    n_boot: int = 200,
    seed: int = 0,
    progress: bool = True,
    overwrite: bool = False,
    pdf: bool = False,
) -> ReportResult:
    """Run the whole study and write the report.

    Parameters
    ----------
    study : Study or path
        A loaded study or its folder.
    out : str or Path
        Output folder: new, empty, or an earlier report of the kit (its marker file
        ``.parcours-report.json`` lists what it wrote; those files are replaced and the
        stale ones removed). The report is built in a temporary sibling folder and moved in
        when complete, so a failed run leaves the previous report whole.
    lang : {"fr", "en"}, optional
        Language of the report (default: the study's).
    n_boot : int, default 200
        Bootstrap replicates for driver intervals and simultaneous curve bands.
    seed : int, default 0
        Seed of every random draw: the same inputs give the same report tables.
    progress : bool, default True
        Show a progress bar on standard error.
    overwrite : bool, default False
        Write into a non-empty folder that is not an earlier report: only the report's files
        are replaced, no other file is deleted.
    pdf : bool, default False
        Also print ``report.pdf`` with the system's chromium (headless), when installed; the
        result's ``pdf_message`` says what became of it.

    Returns
    -------
    ReportResult
    """
    from ._outputs import staged_output

    checked = None
    if not isinstance(study, Study):
        checked = _validation(study)
        study = checked.study
    try:
        lang = lang or study.journey.language
        if lang not in _T:
            raise StudyError(f"lang={lang!r} is not valid: it must be 'fr' or 'en'.")
        out = Path(out)
        with staged_output(out, "report", overwrite=overwrite, what="report",
                           info={"study": study.name, "version": __version__}) as tmp:
            ctx, page, sections, timings = _write_report(study, tmp, lang, seed, n_boot, progress,
                                                         checked)
            printed, pdf_message = (report_sections.print_pdf(tmp / "report.html") if pdf
                                    else (None, ""))
    except Exception:
        if checked is not None:  # the study's problems first, as when validate ran before all
            checked.result().raise_for_errors()
        raise
    moved = [out / p.relative_to(tmp) for p in ctx.figures], [out / p.relative_to(tmp) for p in ctx.tables]
    return ReportResult(out / "report.html", *moved, pd.DataFrame(timings),
                        [s.id for s in sections if s.status != "ok"],
                        pdf=out / "report.pdf" if printed else None, pdf_message=pdf_message)


def _validation(study_dir):
    """What ``parcours validate`` reads and reports, in the same words
    (:class:`~parcours_research.checks.PendingValidation`): raised at once when a source has
    an error; else the event log's pass over its rows is left to the thread that prepares it
    (:func:`_prepare_traces_soon`), and its problems are raised before the first section that
    reads the log."""
    from .checks import PendingValidation

    checked = PendingValidation(study_dir, loaded=_preload_names)
    if checked.study is None or checked.errors_so_far:
        checked.result().raise_for_errors()
    return checked


def _write_report(study: Study, out: Path, lang: str, seed: int, n_boot: int, progress: bool,
                  checked=None):
    """Run every section and write ``out/report.html`` (``out``: the temporary folder).
    ``checked``: the study's pending validation (:func:`_validation`), or None."""
    from jinja2 import Environment, select_autoescape
    from tqdm.auto import tqdm

    _preload_names(study)  # (started already when the report was given the study's folder)
    ctx = _Context(study, out, lang, seed, n_boot)
    done: dict[str, tuple[_Section, float]] = {}
    fns = dict(SECTIONS)
    bar = tqdm(_run_order(study), desc="report", unit="section", disable=not progress, leave=False)
    pending = None
    try:
        pending = _prepare_traces_soon(ctx, checked)
        for sid in bar:
            if pending is not None and sid not in _SURVEY_FIRST:
                pending.settle()  # the log is prepared (or failed: its first reader says why)
                pending = None
            if checked is not None and sid not in _SURVEY_FIRST:
                checked.result().raise_for_errors()  # the event log's problems, if any
                checked = None
            bar.set_postfix_str(sid)
            sec = _Section(sid, _T[lang].get(sid, sid))
            t0 = time.perf_counter()
            fns[sid](ctx, sec)
            done[sid] = sec, time.perf_counter() - t0
            ctx.writer.poll()  # queued figures go to a child as soon as one is free
    finally:
        if pending is not None:  # a survey section failed: no thread left on the engine
            pending.settle()
        ctx.writer.wait()  # no figure left half-written in a folder a failed report removes
    bar.close()
    sections = [done[sid][0] for sid, _ in SECTIONS]  # shown in the page's order
    timings = [{"section": sid, "seconds": done[sid][1]} for sid, _ in SECTIONS]
    ctx.embed_figures(sections)
    env = Environment(autoescape=select_autoescape(["html", "j2"]))
    template = env.from_string(
        (resources.files("parcours_research.templates") / "report.html.j2").read_text(encoding="utf-8"))
    page = template.render(
        lang=lang, title=f"{_T[lang]['title']} — {study.name}", description=study.description,
        generated_label=_T[lang]["generated"].format(date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        version=__version__, sections=sections, footer=_T[lang]["footer"],
    )
    (out / "report.html").write_text(page, encoding="utf-8")
    return ctx, page, sections, timings


#: sections that read the survey alone (no event log): run before the trace sections while the
#: event log is prepared in the background (:func:`_prepare_traces_soon`); the page keeps
#: :data:`SECTIONS`' order
_SURVEY_FIRST = ("journey", "data", "weighting", "scores", "drivers", "kano")


def _run_order(study: Study) -> list[str]:
    """The order the sections run in: the survey's first when the study has an event log
    (its preparation, mostly the engine's work outside the interpreter lock, then overlaps
    them), else :data:`SECTIONS`' order. ``summary`` runs last in both."""
    ids = [sid for sid, _ in SECTIONS]
    if study.traces is None:
        return ids
    first = [sid for sid in _SURVEY_FIRST if sid in ids]
    return [*first, *(sid for sid in ids if sid not in first)]


def _prepare_traces_soon(ctx: _Context, checked=None):
    """Start preparing the study's event log (``ctx.evidence.traces``) in a thread
    (:mod:`._background`), or None without one; first, the pass of the study's pending
    validation over the log (``checked``, see :func:`_validation`). The trace sections read
    the same prepared evidence; the loop settles the thread before the first of them. If the
    work fails in the thread, the validation, or the first section that reads the evidence,
    does it again and reports the error in its usual words."""
    if ctx.study.traces is None:
        return None
    from ._background import start

    def work():
        if checked is not None:
            checked.count_events()
        return ctx.evidence.traces

    return start(work, "parcours-traces")


def _has_free_text(study: Study) -> bool:
    """Whether the report scrubs text (interview excerpts, open survey answers): known from
    study.yml alone (the responses need not be read yet)."""
    if study.qual is not None:
        return True
    if study.survey is None and study.responses is None:
        return False
    return any(q.type == "text" for q in getattr(study.instrument, "questions", ()))


def _preload_names(study: Study) -> None:
    """Start loading the name model (a worker process, :func:`.privacy_scrub.preload`) when the
    report will scrub text: it loads on the other core while the study is validated and the
    traces prepared. Called as soon as study.yml is read."""
    if _has_free_text(study):
        from .privacy_scrub import preload

        preload(study.journey.language)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def _cmd_report(args) -> int:
    t0 = time.perf_counter()
    res = build_report(args.study, args.out, lang=args.lang, n_boot=args.n_boot, seed=args.seed,
                       progress=not args.quiet, overwrite=args.overwrite, pdf=getattr(args, "pdf", False))
    print(f"Report written to {res.path} ({len(res.figures)} figure files, {len(res.tables)} tables) "
          f"in {time.perf_counter() - t0:.1f} s.")
    if res.missing:
        print("Sections without data: " + ", ".join(res.missing))
    if res.pdf_message:
        print(res.pdf_message, file=None if res.pdf else sys.stderr)
        return 0 if res.pdf else 1
    return 0


def add_cli(sub) -> None:
    """Add the ``report`` verb to the ``parcours`` command."""
    r = sub.add_parser("report", help="write the HTML report of a study (figures PNG/SVG, tables CSV)",
                       description="Run the whole study and write OUT/report.html, OUT/figures/, OUT/tables/.")
    r.add_argument("study", help="study folder (holding study.yml)")
    r.add_argument("-o", "--out", default="parcours-report", help="output folder (default parcours-report)")
    r.add_argument("--lang", choices=["fr", "en"], default=None, help="language (default: the study's)")
    r.add_argument("--n-boot", type=int, default=200, help="bootstrap replicates (default 200)")
    r.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--pdf", action="store_true",
                   help="also print OUT/report.pdf with the system's chromium (headless), when installed")
    r.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty folder that is not an earlier report (only the report's "
                        "files are replaced; no other file is deleted)")
    r.set_defaults(func=_cmd_report)
