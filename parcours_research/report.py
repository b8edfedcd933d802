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
import html
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pandas as pd

from . import __version__
from .errors import StudyError
from .study import Study, load_study

__all__ = ["build_report", "ReportResult", "add_cli"]

_T = {
    "fr": {
        "title": "Rapport d'étude de parcours client", "generated": "Généré le {date}",
        "journey": "Le parcours", "data": "Données chargées", "traces": "Traces numériques",
        "weighting": "Pondération de l'échantillon", "scores": "Satisfaction par point de contact",
        "drivers": "Importance des points de contact", "friction": "Points de friction",
        "curves": "Courbes de satisfaction par persona", "no_traces": "Pas de journal d'événements dans study.yml.",
        "no_survey": "Pas d'enquête dans study.yml.", "no_qual": "Pas d'extraits codés dans study.yml.",
        "footer": "Chiffres non arrondis dans tables/*.csv. Identifiants pseudonymisés, citations nettoyées des noms, "
                  "e-mails et numéros de téléphone.",
    },
    "en": {
        "title": "Customer journey study report", "generated": "Generated on {date}",
        "journey": "The journey", "data": "Data loaded", "traces": "Digital traces",
        "weighting": "Sample weighting", "scores": "Satisfaction per touchpoint",
        "drivers": "Touchpoint importance", "friction": "Friction points",
        "curves": "Satisfaction curves per persona", "no_traces": "No event log in study.yml.",
        "no_survey": "No survey in study.yml.", "no_qual": "No coded excerpts in study.yml.",
        "footer": "Unrounded figures in tables/*.csv. Ids pseudonymised; quotes scrubbed of names, e-mails "
                  "and phone numbers.",
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
    missing : list of str
        Sections left out because their evidence source is absent.
    """

    path: Path
    figures: list[Path]
    tables: list[Path]
    timings: pd.DataFrame
    missing: list[str]

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
        self.scores_overall: pd.DataFrame | None = None
        self.triangulation = None
        (out / "figures").mkdir(parents=True, exist_ok=True)
        (out / "tables").mkdir(parents=True, exist_ok=True)

    # ---- output helpers ---------------------------------------------------------------------
    def table(self, name: str, df: pd.DataFrame, caption: str = "", max_rows: int = 40, digits: int = 3) -> _Block:
        path = self.out / "tables" / f"{name}.csv"
        df.to_csv(path, index=False)
        self.tables.append(path)
        shown = df.head(max_rows)
        fmt = {c: (lambda x, d=digits: "" if pd.isna(x) else f"{x:,.{d}f}") for c in shown.columns
               if pd.api.types.is_float_dtype(shown[c])}
        body = shown.to_html(index=False, formatters=fmt, na_rep="", escape=True, border=0)
        if len(df) > max_rows:
            caption = (caption + " " if caption else "") + f"({max_rows} of {len(df)} rows shown)"
        return _Block("table", html=body, caption=caption, files=f"tables/{name}.csv")

    def figure(self, name: str, fig, caption: str) -> _Block:
        import matplotlib.pyplot as plt

        from .plot import save

        paths = save(fig, self.out / "figures" / name)
        plt.close(fig)
        self.figures.extend(paths)
        png = next(p for p in paths if p.suffix == ".png")
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        return _Block("figure", caption=caption, files=", ".join(f"figures/{p.name}" for p in paths),
                      png64=data)


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
    sec.blocks.append(_Block("key", html.escape(
        f"{int(log.summary['n'].sum()):,} raw events; every one is kept or removed for one reason "
         f"(bot share {log.bot_share:.1%})." if en else
         f"{int(log.summary['n'].sum()):,} événements bruts ; chacun est gardé ou retiré pour une seule raison "
         f"(part des robots {log.bot_share:.1%}).")))
    sec.blocks.append(ctx.table("cleaning_log", log.summary, "Cleaning log" if en else "Journal de nettoyage"))
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
    if any(s.target_conversion is not None for s in st.journey.stages):
        from .plot import pyramid as plot_pyramid

        pyr = tr.pyramid(ctx.evidence, by=prepared.by)
        sec.blocks.append(_Block("heading", "Conversion pyramid" if en else "Pyramide de conversion"))
        fig = plot_pyramid(pyr, journey=st.journey, lang=ctx.lang)
        sec.blocks.append(ctx.figure("pyramid", fig, "Stage-to-stage conversion against the stage targets" if en
                                     else "Conversion d'une étape à la suivante face aux cibles par étape"))
        sec.blocks.append(ctx.table("pyramid", pyr, max_rows=40))


def _path_blocks(ctx: _Context, sec: _Section, prepared) -> None:
    from . import traces as tr
    from .plot import transitions as plot_transitions

    st, en = ctx.study, ctx.lang == "en"
    trans = tr.transitions(prepared.log, node="touchpoint", within="user")
    sec.blocks.append(_Block("heading", "Paths" if en else "Chemins"))
    fig = plot_transitions(trans, top=15, journey=st.journey, lang=ctx.lang)
    sec.blocks.append(ctx.figure("transitions", fig, "Main transitions between touchpoints, per customer" if en else
                                 "Principales transitions entre points de contact, par client"))
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
        f"Pondération utilisée par toutes les analyses de ce rapport : {sw.description}")))
    if sw.rake is not None:
        sec.blocks.append(_Block("text", html.escape(repr(sw.rake)).replace("\n", "<br>")))
        sec.blocks.append(ctx.table("weighting_margins", sw.rake.summary))
    sec.blocks.append(ctx.table("weighting_weights", sw.summary))


def _s_scores(ctx: _Context, sec: _Section) -> None:
    from .satisfaction import scores

    st = ctx.study
    if st.responses is None:
        sec.status, sec.note = "missing", _T[ctx.lang]["no_survey"]
        return
    long = ctx.evidence.ratings
    overall = scores(long, "score", by=None, weight="weight", cluster="respondent_id")
    per = scores(long, "score", by="persona", weight="weight", cluster="respondent_id")
    ctx.scores_overall = overall
    labels = st.journey.touchpoints_frame(ctx.lang).set_index("touchpoint")
    ov = overall.merge(labels[["label", "target_satisfaction", "order"]], left_on="touchpoint", right_index=True)
    ov = ov.sort_values("order").drop(columns="order")
    sec.blocks.append(_Block("text", html.escape(
        "Weighted mean satisfaction (1-5) per touchpoint, design-based 95% intervals (respondent as cluster)."
        if ctx.lang == "en" else
        "Satisfaction moyenne pondérée (1-5) par point de contact, intervalles à 95 % fondés sur le plan "
        "(le répondant comme grappe).")))
    sec.blocks.append(ctx.table("scores_touchpoint", ov))
    sec.blocks.append(ctx.table("scores_touchpoint_persona", per, max_rows=80))
    r = ctx.evidence.responses
    kpis = []
    for col, metric in ((st.instrument.first("overall"), "mean"), (st.instrument.first("nps"), "nps"),
                        (st.instrument.first("effort"), "mean")):
        if col and col in r.columns:
            t = scores(r, col, touchpoint=None, by=None, metric=metric, weight="weight")
            kpis.append(t.assign(question=col))
    if kpis:
        sec.blocks.append(ctx.table("scores_kpis", pd.concat(kpis, ignore_index=True)))


def _s_drivers(ctx: _Context, sec: _Section) -> None:
    from .satisfaction import drivers, importance_performance

    st = ctx.study
    if st.responses is None or not st.instrument.first("overall"):
        sec.status, sec.note = "missing", _T[ctx.lang]["no_survey"]
        return
    res = drivers(ctx.evidence.responses, outcome=st.instrument.first("overall"), drivers=st.touchpoint_columns,
                  weight="weight", n_boot=ctx.n_boot, seed=ctx.seed)
    sec.blocks.append(_Block("key", html.escape(repr(res)).replace("\n", "<br>")))
    sec.blocks.append(ctx.table("drivers", res.summary))
    if ctx.scores_overall is not None:
        targets = {t.id: t.target_satisfaction for t in st.journey.touchpoints}
        ipa = importance_performance(res, ctx.scores_overall, targets=targets)
        sec.blocks.append(ctx.table("importance_performance", ipa))
        from .plot import importance_performance as plot_ipa

        fig = plot_ipa(ipa, journey=st.journey, lang=ctx.lang)
        sec.blocks.append(ctx.figure("importance_performance", fig, "Importance–performance"))


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
        for r in conf.itertuples():
            q = tri.quotes[(tri.quotes["touchpoint"] == r.touchpoint) & (tri.quotes["persona"] == r.persona)]
            if len(q):
                sec.blocks.append(_Block("quotes", items=[{"text": t, "who": p} for t, p in
                                                           zip(q["text"], q["participant"])]))
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
    table = journey_curves(ctx.evidence, band="simultaneous", n_boot=ctx.n_boot, seed=ctx.seed, lang=ctx.lang)
    fig = plot_curves(table, journey=st.journey, friction=ctx.triangulation, lang=ctx.lang, facet=True)
    sec.blocks.append(ctx.figure("journey_curves", fig, "Persona curves (as it is) against the target "
                                 "(as it should be), simultaneous 95% bands" if ctx.lang == "en" else
                                 "Courbes par persona (tel quel) face à la cible (tel qu'il devrait être), bandes "
                                 "simultanées à 95 %"))
    sec.blocks.append(ctx.table("journey_curves", table, max_rows=70))


SECTIONS: list[tuple[str, Callable[[_Context, _Section], None]]] = [
    ("journey", _s_journey),
    ("data", _s_data),
    ("traces", _s_traces),
    ("weighting", _s_weighting),
    ("scores", _s_scores),
    ("drivers", _s_drivers),
    ("friction", _s_friction),
    ("curves", _s_curves),
]


def build_report(
    study: Study | str | Path,
    out: str | Path,
    *,
    lang: str | None = None,
    n_boot: int = 200,
    seed: int = 0,
    progress: bool = True,
) -> ReportResult:
    """Run the whole study and write the report.

    Parameters
    ----------
    study : Study or path
        A loaded study or its folder.
    out : str or Path
        Output folder (created; existing report files in it are replaced).
    lang : {"fr", "en"}, optional
        Language of the report (default: the study's).
    n_boot : int, default 200
        Bootstrap replicates for driver intervals and simultaneous curve bands.
    seed : int, default 0
        Seed of every random draw: the same inputs give the same report tables.
    progress : bool, default True
        Show a progress bar on standard error.

    Returns
    -------
    ReportResult
    """
    from jinja2 import Environment, select_autoescape
    from tqdm.auto import tqdm

    if not isinstance(study, Study):
        study = load_study(study)
    lang = lang or study.journey.language
    if lang not in _T:
        raise StudyError(f"lang={lang!r} is not valid: it must be 'fr' or 'en'.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = _Context(study, out, lang, seed, n_boot)
    sections, timings = [], []
    bar = tqdm(SECTIONS, desc="report", unit="section", disable=not progress, leave=False)
    for sid, fn in bar:
        bar.set_postfix_str(sid)
        sec = _Section(sid, _T[lang].get(sid, sid))
        t0 = time.perf_counter()
        fn(ctx, sec)
        timings.append({"section": sid, "seconds": time.perf_counter() - t0})
        sections.append(sec)
    bar.close()
    env = Environment(autoescape=select_autoescape(["html", "j2"]))
    template = env.from_string(
        (resources.files("parcours_research.templates") / "report.html.j2").read_text(encoding="utf-8"))
    page = template.render(
        lang=lang, title=f"{_T[lang]['title']} — {study.name}", description=study.description,
        generated_label=_T[lang]["generated"].format(date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        version=__version__, sections=sections, footer=_T[lang]["footer"],
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return ReportResult(path, ctx.figures, ctx.tables, pd.DataFrame(timings),
                        [s.id for s in sections if s.status != "ok"])


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def _cmd_report(args) -> int:
    t0 = time.perf_counter()
    res = build_report(args.study, args.out, lang=args.lang, n_boot=args.n_boot, seed=args.seed,
                       progress=not args.quiet)
    print(f"Report written to {res.path} ({len(res.figures)} figure files, {len(res.tables)} tables) "
          f"in {time.perf_counter() - t0:.1f} s.")
    if res.missing:
        print("Sections without data: " + ", ".join(res.missing))
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
    r.set_defaults(func=_cmd_report)
