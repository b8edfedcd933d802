"""The ``parcours`` command.

``parcours --help`` lists every verb; ``parcours VERB --help`` describes one. Errors in the
study are printed as a numbered list (file, row or key, what to do) and the command exits 1;
a wrong command line exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import StudyError

__all__ = ["main", "build_parser"]


def _cmd_sample(args: argparse.Namespace) -> int:
    from .sample import make_sample

    effects = "null" if args.null else args.effects
    out = make_sample(args.out, seed=args.seed, n_customers=args.customers, n_prospects=args.prospects,
                      n_respondents=args.respondents, n_participants=args.participants, days=args.days,
                      bot_share=args.bot_share, effects=effects, friction=args.friction,
                      from_study=args.from_study, overwrite=args.overwrite)
    print(f"Sample study written to {out} (seed {args.seed}); planted effects in {out / 'truth.json'}.")
    print(f"Next: parcours validate {out}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    """Print the study's summary and ``OK``, or every problem found (stderr) and exit 1.

    The checks are :func:`parcours_research.checks.validate`'s: every source the report reads.
    """
    from .checks import validate

    v = validate(args.study)
    if not v.ok:
        err = StudyError(f"The study in {args.study} has problems", v.problems())
        print(f"error: {err}", file=sys.stderr)
        return 1
    _print_summary(v.study, args.study, dict(zip(v.sources["source"], v.sources["detail"])))
    if v.n_warnings:
        print(f"Readable, with {v.n_warnings} warning{'s' if v.n_warnings != 1 else ''} to read:")
        for i, p in enumerate(v.problems("warning"), 1):
            print(f"  {i}. {p}")
        print("Not OK until each warning above is understood: the numbers it names are not in the results.")
        return 0
    print("OK: the study is valid.")
    return 0


def _print_summary(study, folder, detail: dict) -> None:
    j = study.journey
    print(f"Study: {study.name}  ({Path(folder).resolve()})")
    print(f"  stages ({len(j.stages)}): " + " > ".join(s.label.get(j.language) for s in j.stages))
    print(f"  touchpoints: {len(j.touchpoints)} ({sum(t.nature == 'digital' for t in j.touchpoints)} digital, "
          f"{sum(t.nature == 'tangible' for t in j.touchpoints)} tangible), moments of truth: "
          + (", ".join(j.moments_of_truth) or "none"))
    for s in j.stages:
        tps = [t.id for t in j.touchpoints if t.stage == s.id]
        print(f"    {s.id:<14} {', '.join(tps)}")
    print(f"  personas ({len(j.personas)}): " + ", ".join(f"{p.id} ({p.label.get(j.language)})" for p in j.personas))
    _print_survey(study)
    if study.customers is not None:
        print(f"  customers: {len(study.customers):,} in the customer file")
    print("  margins: " + ("; ".join(f"{c} ({len(v)} levels)" for c, v in study.margins.items()) or "none"))
    print("  events: " + (detail.get("events") or "no event log"))
    if detail.get("identity_map"):
        print("  identity map: " + detail["identity_map"])
    print("  excerpts: " + (detail.get("excerpts") or "no qualitative file"))
    if study.truth:
        fr = ", ".join(f"{f['touchpoint']} for {f['persona']}" for f in study.truth.get("friction", []))
        print(f"  truth.json: planted friction {fr}; bot share {study.truth.get('bot_share')}")


def _print_survey(study) -> None:
    j = study.journey
    if study.responses is None:
        print("  respondents: no survey")
        return
    counts = study.responses["persona"].value_counts()
    per = ", ".join(f"{p} {int(counts.get(p, 0))}" for p in j.persona_ids)
    print(f"  respondents: {len(study.responses):,} ({per}); instrument {study.instrument.id!r}, "
          f"{len(study.instrument.questions)} questions")


def _cmd_codebook(args: argparse.Namespace) -> int:
    from .survey.instrument import load_instrument

    target = Path(args.source)
    if (target / "study.yml").exists() or target.name == "study.yml":
        from .study import load_study

        study = load_study(target, read_responses=False)
        inst = study.instrument
        if inst is None:
            raise StudyError(f"The study in {target} has no `survey:` section, so no instrument.")
    else:
        inst = load_instrument(args.source)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from ._safe_csv import write_csv

    cb = inst.codebook(lang=args.lang)
    csv_path = out / f"codebook_{inst.id}.csv"
    md_path = out / f"codebook_{inst.id}.md"
    write_csv(cb, csv_path)
    md_path.write_text(_codebook_markdown(inst, cb, args.lang), encoding="utf-8")
    print(f"Codebook of {inst.id!r} ({len(cb)} columns) written to {md_path} and {csv_path}.")
    return 0


def _codebook_markdown(inst, cb, lang: str) -> str:
    def cell(v) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return ""
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = "# " + inst.title.get(lang) + f"\n\nInstrument `{inst.id}`, version {inst.version}. "
    head += ("One row per column of the response file.\n\n" if lang == "en"
             else "Une ligne par colonne du fichier de réponses.\n\n")
    cols = ["column", "type", "role", "required", "touchpoint", "min", "max", "options", "value_labels", "text"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in cb[cols].itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return head + "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="parcours",
        description="parcours_research: customer-journey studies from traces, surveys and interviews.",
    )
    p.add_argument("--version", action="version", version=f"parcours_research {__version__}")
    sub = p.add_subparsers(dest="verb", metavar="VERB")

    s = sub.add_parser("sample", help="write the seeded synthetic sample study (with truth.json)",
                       description="Write a complete synthetic study with planted, documented effects.")
    s.add_argument("out", help="folder to create")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same files")
    s.add_argument("--customers", type=int, default=None, help="customers in the CRM and event log (default 2000)")
    s.add_argument("--prospects", type=int, default=None, help="anonymous prospects in the event log (default 1200)")
    s.add_argument("--respondents", type=int, default=None, help="survey respondents (default 800)")
    s.add_argument("--participants", type=int, default=None, help="interview participants (default 24)")
    s.add_argument("--days", type=int, default=None, help="length of the study period in days (default 84)")
    s.add_argument("--bot-share", type=float, default=None,
                   help="share of bot events (default: drawn from the seed; 0.08 for seed 0)")
    s.add_argument("--friction", action="append", metavar="TOUCHPOINT:PERSONA[:SIZE]",
                   help="plant this friction instead of the drawn ones (repeatable); SIZE: drop of the mean "
                        "latent rating in points (default 1.5)")
    s.add_argument("--effects", choices=["seed", "bundled", "null"], default="seed",
                   help="draw the planted effects from the seed (default; seed 0 gives the bundled ones), "
                        "plant the bundled ones, or none")
    s.add_argument("--null", action="store_true", help="plant no effect at all (same as --effects null)")
    s.add_argument("--from", dest="from_study", metavar="STUDY", default=None,
                   help="simulate data for this study.yml (or study folder): its journey, personas, margins, "
                        "trace events, funnel and questionnaire; sizes from the options, else plan: in "
                        "study.yml, else the defaults of `parcours sample`")
    s.add_argument("--overwrite", action="store_true",
                   help="replace a sample study written there before (only its files are deleted; "
                        "a folder the kit did not write is refused)")
    s.set_defaults(func=_cmd_sample)

    v = sub.add_parser("validate", help="load a study folder and summarise it, or list every problem",
                       description="Load STUDY, check every file it names, and print a summary or the problems.")
    v.add_argument("study", help="study folder (holding study.yml)")
    v.set_defaults(func=_cmd_validate)

    c = sub.add_parser("codebook", help="write the codebook of a questionnaire (Markdown and CSV)",
                       description="Write the codebook of a study's questionnaire (expanded over its touchpoints) "
                                   "or of a bundled/YAML instrument.")
    c.add_argument("source", nargs="?", default="standard_touchpoint",
                   help="a study folder, an instrument YAML file, or a bundled instrument name (default standard_touchpoint)")
    c.add_argument("-o", "--out", default=".", help="output folder (default: current folder)")
    c.add_argument("--lang", choices=["fr", "en"], default="fr", help="language of the texts (default fr)")
    c.set_defaults(func=_cmd_codebook)

    _add_power(sub)
    _add_plan(sub)
    pv = sub.add_parser("privacy", help="list the personal fields of a study and what every output does with them",
                        description="The study's privacy summary for its data-protection record (RGPD): personal "
                                    "fields per source, what is pseudonymised, what is scrubbed and by which detector.")
    pv.add_argument("study", help="study folder (holding study.yml)")
    pv.add_argument("--no-scan", action="store_true", help="do not count what the scrubber finds in free text")
    pv.add_argument("--csv", default=None, help="also write the summary table to this CSV file")
    pv.set_defaults(func=_cmd_privacy)

    _add_later_verbs(sub)
    return p


def _cmd_privacy(args: argparse.Namespace) -> int:
    from .privacy_record import privacy_summary

    res = privacy_summary(args.study, scan=not args.no_scan)
    print(res.to_text())
    if args.csv:
        from ._safe_csv import write_csv

        print(f"Summary written to {write_csv(res.summary, args.csv)}.")
    return 0


def _add_power(sub) -> None:
    w = sub.add_parser("power", help="power and false-alarm rate of a study design, by simulation",
                       description="Simulate many studies like STUDY, with and without a friction planted in each "
                                   "touchpoint x persona, run the friction tests and triangulation, and print the "
                                   "power and false-alarm rates with Monte Carlo intervals.")
    w.add_argument("study", help="study folder (holding study.yml)")
    w.add_argument("--effect", type=float, default=None,
                   help="friction size in rating points (1.5: the bundled sample's; default: rating -0.6, "
                        "conversion -0.12, 80%% negative excerpts)")
    w.add_argument("--cell", action="append", metavar="TOUCHPOINT:PERSONA",
                   help="where to plant it (repeatable; default every touchpoint x persona)")
    w.add_argument("--n-sim", type=int, default=200, help="simulated studies per variant (default 200)")
    w.add_argument("--scale", type=float, nargs="+", default=[1.0],
                   help="sample sizes as multiples of the design's (default 1)")
    w.add_argument("--jobs", type=int, default=1, help="worker processes, -1 for every core (default 1)")
    w.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    w.add_argument("--alpha", type=float, default=0.05, help="level of the tests (default 0.05)")
    for name in ("respondents", "customers", "participants"):
        w.add_argument(f"--{name}", type=int, default=None, help=f"{name} of the design (default: plan: or the data)")
    w.add_argument("--out", default=None, help="write the summary table to this CSV file")
    w.add_argument("--figure", default=None, help="write the figure of power against sample size (PNG/SVG)")
    w.set_defaults(func=_cmd_power)


def _cmd_power(args: argparse.Namespace) -> int:
    from . import plan

    res = plan.power(args.study, effect=args.effect, cells=args.cell, n_sim=args.n_sim, scale=args.scale,
                     n_jobs=args.jobs, seed=args.seed, alpha=args.alpha, respondents=args.respondents,
                     customers=args.customers, participants=args.participants)
    print(repr(res))
    if args.out:
        from ._safe_csv import write_csv

        write_csv(res.summary, args.out)
        print(f"Summary written to {args.out}")
    if args.figure:
        from .plot import power as plot_power

        plot_power(res).savefig(args.figure, bbox_inches="tight")
        print(f"Figure written to {args.figure}")
    return 0


def _add_plan(sub) -> None:
    w = sub.add_parser("plan", help="the next wave: today's minimum detectable effects and the sample that reaches "
                       "a wanted one within a budget",
                       description="Print today's minimum detectable effect per touchpoint x persona x source and "
                                   "the survey respondents and interviews per persona that reach the wanted effects "
                                   "(costs from plan: costs: in study.yml).")
    w.add_argument("study", help="study folder (holding study.yml)")
    w.add_argument("--mde", type=float, default=0.3, help="wanted survey MDE in rating points (default 0.3)")
    w.add_argument("--prevalence", type=float, default=0.2,
                   help="smallest share of a persona's customers a theme must touch to be heard (default 0.2)")
    w.add_argument("--budget", type=float, default=None, help="budget of the wave (default: plan: budget:, or none)")
    w.add_argument("--out", default=None, help="write the plan per persona to this CSV file")
    w.add_argument("--matrix", default=None, help="write the evidence matrix to this CSV file")
    w.add_argument("--figure", default=None, help="write the figure of the plan (PNG/SVG)")
    w.set_defaults(func=_cmd_plan)


def _cmd_plan(args: argparse.Namespace) -> int:
    from . import plan
    from ._safe_csv import write_csv

    res = plan.next_wave(args.study, mde={"survey": args.mde, "qual": args.prevalence}, budget=args.budget)
    print(repr(res))
    for path, table in ((args.out, res.summary), (args.matrix, res.matrix)):
        if path:
            print(f"Table written to {write_csv(table, path)}")
    if args.figure:
        from .plot import next_wave as plot_next_wave

        plot_next_wave(res).savefig(args.figure, bbox_inches="tight")
        print(f"Figure written to {args.figure}")
    return 0


def _add_later_verbs(sub) -> None:
    """Verbs provided by the analysis modules (report, ...), when they are installed."""
    try:
        from .report import add_cli  # type: ignore[attr-defined]
    except ImportError:
        return
    add_cli(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except StudyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
