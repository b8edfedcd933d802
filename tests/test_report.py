"""The study report: what it writes, that it stands alone, and how it handles absent sources."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

import parcours_research as pr
from parcours_research.cli import main
from parcours_research.report import SECTIONS, build_report


@pytest.fixture(scope="module")
def small_study(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small") / "study"
    return pr.sample.make_sample(out, seed=3, n_customers=400, n_prospects=200, n_respondents=300,
                                 n_participants=12)


@pytest.fixture(scope="module")
def report(small_study, tmp_path_factory):
    return build_report(small_study, tmp_path_factory.mktemp("rep"), n_boot=200, progress=False)


def test_every_section_figure_and_table_is_written(report):
    html = report.path.read_text(encoding="utf-8")
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}">' in html
    assert report.missing == []
    stems = {p.stem for p in report.figures}
    assert {"journey_curves", "funnel", "transitions", "importance_performance"} <= stems
    for stem in stems:  # every figure as PNG and SVG
        assert {p.suffix for p in report.figures if p.stem == stem} == {".png", ".svg"}
    names = {p.stem for p in report.tables}
    assert {"cleaning_log", "weighting_margins", "scores_touchpoint", "drivers", "friction_summary",
            "journey_curves"} <= names
    assert list(report.timings["section"]) == [s for s, _ in SECTIONS]


def test_page_keeps_the_sections_order_whatever_order_they_ran_in(report):
    # the survey's sections run first (the event log is prepared meanwhile); the page shows
    # the summary first, then every other section in SECTIONS' order
    html = report.path.read_text(encoding="utf-8")
    where = {sid: html.index(f'<section id="{sid}">') for sid, _ in SECTIONS}
    shown = sorted(where, key=where.get)
    assert shown == ["summary"] + [sid for sid, _ in SECTIONS if sid != "summary"]


def test_report_is_self_contained(report):
    html = report.path.read_text(encoding="utf-8")
    # no external resource: every image is embedded, no script or stylesheet is fetched
    srcs = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert all(s.startswith("data:") for s in srcs), [s for s in srcs if not s.startswith("data:")]
    assert html.count("data:image/png;base64,") == len([p for p in report.figures if p.suffix == ".png"])


def test_tables_are_unrounded_copies_of_the_analyses(report, small_study):
    log = pd.read_csv(report.path.parent / "tables" / "cleaning_log.csv")
    events = pr.traces.read_events(pr.load_study(small_study))
    assert log["n"].sum() == events.count()  # the cleaning log adds up to the raw rows
    margins = pd.read_csv(report.path.parent / "tables" / "weighting_margins.csv")
    assert (margins["weighted_share"] - margins["target_share"]).abs().max() < 1e-8


def test_confirmed_friction_and_quotes_in_the_page(report, small_study):
    html = report.path.read_text(encoding="utf-8")
    study = pr.load_study(small_study)
    tri = pd.read_csv(report.path.parent / "tables" / "friction_summary.csv")
    confirmed = tri[tri["confirmed"]]
    for r in confirmed.itertuples():
        assert study.journey.label(r.touchpoint) in html
    assert "@" not in html.split('id="friction"')[1].split("</section>")[0]  # quotes are scrubbed


def test_absent_sources_are_said_not_hidden(small_study, tmp_path):
    folder = tmp_path / "study"
    import shutil

    shutil.copytree(small_study, folder)
    cfg = yaml.safe_load((folder / "study.yml").read_text(encoding="utf-8"))
    for key in ("traces", "qual"):
        cfg.pop(key)
    (folder / "study.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    res = build_report(folder, tmp_path / "out", lang="en", n_boot=200, progress=False)
    assert res.missing == ["traces"]
    html = res.path.read_text(encoding="utf-8")
    assert "No event log in study.yml." in html
    assert '<html lang="en">' in html


def test_cli_report(small_study, tmp_path, capsys):
    rc = main(["report", str(small_study), "-o", str(tmp_path / "r"), "--quiet", "--lang", "en"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "Report written to" in out
    assert (tmp_path / "r" / "report.html").exists()
    assert main(["report", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x"), "--quiet"]) == 1
    assert "does not exist" in capsys.readouterr().err
