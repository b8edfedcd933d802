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

    out = make_sample(args.out, seed=args.seed, n_customers=args.customers, n_prospects=args.prospects,
                      n_respondents=args.respondents, n_participants=args.participants, days=args.days,
                      bot_share=args.bot_share, overwrite=args.overwrite)
    print(f"Sample study written to {out} (seed {args.seed}); planted effects in {out / 'truth.json'}.")
    print(f"Next: parcours validate {out}")
    return 0


def _count_events(study) -> str:
    cfg = study.traces
    try:
        import duckdb

        con = duckdb.connect()
        path = str(cfg.events).replace("'", "''")
        reader = {"csv": f"read_csv('{path}', all_varchar=true)", "parquet": f"read_parquet('{path}')",
                  "jsonl": f"read_json('{path}', format='newline_delimited')", "ga4": f"read_parquet('{path}')"}[cfg.format]
        n = con.execute(f"SELECT count(*) FROM {reader}").fetchone()[0]
        con.close()
        return f"{n:,} raw rows ({cfg.format}; not cleaned yet)"
    except Exception as e:  # noqa: BLE001 - shown to the user, not hidden
        return f"could not be counted: {e}"


def _count_excerpts(study) -> str:
    cfg = study.qual
    try:
        if cfg.format == "qdpx":
            from .qual import read_qdpx

            ex = read_qdpx(cfg.excerpts)
        else:
            import pandas as pd

            ex = pd.read_csv(cfg.excerpts, dtype=str)
        n_part = ex["participant"].nunique() if "participant" in ex.columns else "?"
        return f"{len(ex):,} coded excerpts from {n_part} participants"
    except Exception as e:  # noqa: BLE001
        return f"could not be read: {e}"


def _cmd_validate(args: argparse.Namespace) -> int:
    from .study import load_study

    study = load_study(args.study)
    j = study.journey
    print(f"Study: {study.name}  ({Path(args.study).resolve()})")
    print(f"  stages ({len(j.stages)}): " + " > ".join(s.label.get(j.language) for s in j.stages))
    print(f"  touchpoints: {len(j.touchpoints)} ({sum(t.nature == 'digital' for t in j.touchpoints)} digital, "
          f"{sum(t.nature == 'tangible' for t in j.touchpoints)} tangible), moments of truth: "
          + (", ".join(j.moments_of_truth) or "none"))
    for s in j.stages:
        tps = [t.id for t in j.touchpoints if t.stage == s.id]
        print(f"    {s.id:<14} {', '.join(tps)}")
    print(f"  personas ({len(j.personas)}): " + ", ".join(f"{p.id} ({p.label.get(j.language)})" for p in j.personas))
    if study.responses is not None:
        counts = study.responses["persona"].value_counts()
        per = ", ".join(f"{p} {int(counts.get(p, 0))}" for p in j.persona_ids)
        print(f"  respondents: {len(study.responses):,} ({per}); instrument {study.instrument.id!r}, "
              f"{len(study.instrument.questions)} questions")
        unassigned = int(study.responses["persona"].isna().sum())
        if unassigned:
            print(f"    warning: {unassigned} respondents match no persona rule and have no default")
    else:
        print("  respondents: no survey")
    if study.customers is not None:
        print(f"  customers: {len(study.customers):,} in the customer file")
    print("  margins: " + ("; ".join(f"{c} ({len(v)} levels)" for c, v in study.margins.items()) or "none"))
    print("  events: " + (_count_events(study) if study.traces else "no event log"))
    print("  excerpts: " + (_count_excerpts(study) if study.qual else "no qualitative file"))
    if study.truth:
        fr = ", ".join(f"{f['touchpoint']} for {f['persona']}" for f in study.truth.get("friction", []))
        print(f"  truth.json: planted friction {fr}; bot share {study.truth.get('bot_share')}")
    print("OK: the study is valid.")
    return 0


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
    cb = inst.codebook(lang=args.lang)
    csv_path = out / f"codebook_{inst.id}.csv"
    md_path = out / f"codebook_{inst.id}.md"
    cb.to_csv(csv_path, index=False)
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
    s.add_argument("--customers", type=int, default=2000, help="customers in the CRM and event log (default 2000)")
    s.add_argument("--prospects", type=int, default=1200, help="anonymous prospects in the event log (default 1200)")
    s.add_argument("--respondents", type=int, default=800, help="survey respondents (default 800)")
    s.add_argument("--participants", type=int, default=24, help="interview participants (default 24)")
    s.add_argument("--days", type=int, default=84, help="length of the study period in days (default 84)")
    s.add_argument("--bot-share", type=float, default=0.08, help="share of bot events (default 0.08)")
    s.add_argument("--overwrite", action="store_true", help="replace the folder if it exists")
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

    _add_later_verbs(sub)
    return p


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
