"""The report as a story a manager can be handed: executive summary first, one language per
report, tables formatted for reading (the CSVs keep raw values), short tables inline, sections for
the interviews, Kano, importance–performance and methods, and an optional PDF.

The sample's report is built once per language (``n_boot=50``: the intervals' precision does not
matter here, their formatting does); the numbers checked in the page are read from the report's
own CSV files, never typed in.
"""

from __future__ import annotations

import html as htmllib
import re

import pandas as pd
import pytest

from parcours_research import _present
from parcours_research._present import fmt_duration, fmt_number, fmt_percent, fmt_pvalue, present
from parcours_research.cli import main
from parcours_research.report import SECTIONS, build_report
from parcours_research.report_sections import print_pdf


@pytest.fixture(scope="module")
def reports(sample_study, tmp_path_factory):
    out = {}
    for lang in ("en", "fr"):
        res = build_report(
            sample_study,
            tmp_path_factory.mktemp(f"story-{lang}"),
            lang=lang,
            n_boot=50,
            progress=False,
        )
        out[lang] = (res, res.path.read_text(encoding="utf-8"))
    return out


def _visible_text(page: str) -> str:
    page = re.sub(r'src="data:[^"]*"', "", page)
    page = re.sub(r"<style.*?</style>", "", page, flags=re.S)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", page))


def _section(page: str, sid: str) -> str:
    return page.split(f'<section id="{sid}">')[1].split("</section>")[0]


# ---------------------------------------------------------------------------------------------
# formatting, one function for every table
# ---------------------------------------------------------------------------------------------
def test_numbers_durations_and_p_values_in_each_language():
    assert fmt_number(0.4712, "fr") == "0,47" and fmt_number(0.4712, "en") == "0.47"
    assert fmt_number(-1.31, "fr", sign=True) == "−1,31"
    assert fmt_percent(0.473, "fr") == "47,3\u00a0%" and fmt_percent(0.473, "en") == "47.3%"
    assert fmt_pvalue(9.84e-67, "fr") == "< 0,001" and fmt_pvalue(0.0123, "en") == "0.012"
    assert fmt_duration(pd.Timedelta(days=3, hours=4, minutes=7), "fr") == "3\u00a0j 4\u00a0h"
    assert fmt_duration("2 days 00:14:37.626500", "en") == "2\u00a0d"  # two largest units: 2 d 0 h
    assert fmt_duration("0 days 10:01:34.3", "fr") == "10\u00a0h 1\u00a0min"
    assert fmt_duration(pd.Timedelta(seconds=34), "en") == "34\u00a0s"
    assert _present.fmt_count(37070, "fr") == "37\u202f070"
    for missing in (float("nan"), None, pd.NA):
        assert fmt_number(missing, "fr") == "–" and fmt_pvalue(missing, "en") == "–"
    assert fmt_number(float("inf"), "en") == "∞"


def test_present_translates_headers_categories_and_blank_persona(sample_study):
    df = pd.DataFrame(
        {
            "touchpoint": ["id_verification", "claim"],
            "persona": ["senior", pd.NA],
            "quadrant": ["low priority", "keep up"],
            "importance": [0.0307, 0.1843],
            "importance_low": [0.015, 0.143],
            "importance_high": [0.05, 0.224],
            "statistic": [float("inf"), 2.0],
            "p_value": [9.84e-67, 0.2],
            "median_duration": ["2 days 00:14:37.6", "0 days 00:00:33.9"],
        }
    )
    fr = present(df, lang="fr", journey=sample_study.journey)
    assert list(fr.columns[:3]) == ["Point de contact", "Persona", "Quadrant"]
    assert fr.iloc[0, 0] == "Vérification d'identité" and fr.iloc[1, 1] == "Sans persona"
    assert list(fr["Quadrant"]) == ["Priorité basse", "Maintenir"]
    assert fr["Importance (R²) — IC 95 %"].iloc[0] == "[0,015 ; 0,050]"
    assert fr["p"].iloc[0] == "< 0,001" and fr["Durée médiane"].iloc[1] == "34\u00a0s"
    assert "inf" not in fr.to_string() and "nan" not in fr.to_string().lower()
    en = present(df, lang="en", journey=sample_study.journey)
    assert en.iloc[1, 1] == "No persona" and list(en["Quadrant"]) == ["Low priority", "Keep up"]


# ---------------------------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------------------------
def test_executive_summary_comes_first_and_links_to_its_evidence(reports):
    for res, page in reports.values():
        sections = re.findall(r'<section id="([^"]+)">', page)
        assert sections[0] == "summary" and set(sections) == {s for s, _ in SECTIONS}
        findings = pd.read_csv(res.path.parent / "tables" / "findings.csv")
        summary = _section(page, "summary")
        ids = set(re.findall(r'id="([^"]+)"', page))
        for r in findings.itertuples():
            assert r.sentence in _visible_text(summary)
            assert f'href="#{r.anchor}"' in summary and r.anchor in ids
        assert findings["kind"].iloc[0] == "friction"


def test_confirmed_friction_sentence_holds_the_curve_gap(reports):
    res, page = reports["fr"]
    tables = res.path.parent / "tables"
    tri = pd.read_csv(tables / "friction_summary.csv")
    curves = pd.read_csv(tables / "journey_curves.csv")
    summary = _visible_text(_section(page, "summary"))
    for r in tri[tri["confirmed"]].itertuples():
        c = curves[(curves["touchpoint"] == r.touchpoint) & (curves["persona"] == r.persona)].iloc[
            0
        ]
        assert fmt_number(c["gap"], "fr", sign=True) in summary
        assert fmt_number(c["ci_low"] - c["target"], "fr", sign=True) in summary


def test_no_raw_values_or_reprs_anywhere(reports):
    bad = [
        r"\bnan\b",
        r"\bNaN\b",
        r"\binf\b",
        r"<NA>",
        r"\bNone\b",
        r"Result\b",
        r"\d+ days? \d\d:",
        r"\d(\.\d+)?e-\d",
        r"\bTrue\b",
        r"\bFalse\b",
    ]
    for lang, (_, page) in reports.items():
        text = _visible_text(page)
        for pat in bad:
            found = re.findall(r".{0,40}" + pat + r".{0,20}", text)
            assert not found, (lang, pat, found[:3])


def test_one_language_per_report(reports):
    _, fr = reports["fr"]
    text = _visible_text(fr)
    for english in (
        "keep up",
        "low priority",
        "possible overkill",
        "Keep up",
        "Low priority",
        "Executive summary",
        "Touchpoint",
        "raw events",
    ):
        assert english not in text, english
    for french in (
        "Synthèse",
        "Point de contact",
        "Priorité basse",
        "< 0,001",
        "Sans persona",
        "IC 95",
        "Annexe",
    ):
        assert french in text, french
    assert re.search(r"\d,\d\d", text)  # decimal commas
    _, en = reports["en"]
    text = _visible_text(en)
    assert "Keep up" in text and "No persona" in text and "Point de contact" not in text
    assert '<html lang="en">' in en and '<html lang="fr">' in fr


def test_short_tables_inline_the_rest_in_the_csv(reports):
    res, page = reports["en"]
    for body in re.findall(r"<tbody>(.*?)</tbody>", page, flags=re.S):
        assert body.count("<tr>") <= 15
    assert '<div class="table-wrap">' in page
    more = re.findall(
        r"<tbody>((?:(?!<tbody>).)*?)</tbody></table></div><p class=\"more\">… ([\d,]+) more rows? "
        r"in <code>(tables/\w+\.csv)</code>",
        page,
        flags=re.S,
    )
    assert len(more) >= 3
    for body, n, csv in more:
        assert len(pd.read_csv(res.path.parent / csv)) == body.count("<tr>") + int(
            n.replace(",", "")
        )


def test_csv_tables_keep_raw_values(reports):
    res, _ = reports["fr"]
    tables = res.path.parent / "tables"
    ipa = pd.read_csv(tables / "importance_performance.csv")
    assert set(ipa["quadrant"]) <= {"fix first", "keep up", "possible overkill", "low priority"}
    tests = pd.read_csv(tables / "friction_tests.csv")
    assert pd.api.types.is_float_dtype(tests["p_value"]) and tests["p_value"].min() < 1e-3
    assert {"findings", "kano", "code_frequencies"} <= {p.stem for p in res.tables}


def test_story_sections(reports):
    res, page = reports["en"]
    assert {
        "rating_distributions",
        "transition_matrix",
        "gap_heatmap",
        "valence_curve",
        "importance_performance",
    } <= {p.stem for p in res.figures}
    tri = pd.read_csv(res.path.parent / "tables" / "friction_summary.csv")
    ipa = pd.read_csv(res.path.parent / "tables" / "importance_performance.csv")
    low = ipa[
        ipa["touchpoint"].isin(tri.loc[tri["confirmed"], "touchpoint"])
        & (ipa["quadrant"] == "low priority")
    ]
    importance = _visible_text(_section(page, "importance"))
    assert len(low) == 0 or "“Low priority” quadrant" in importance
    interviews = _section(page, "interviews")
    assert "<blockquote>" in interviews and "@" not in interviews
    assert "Kano" in _section(page, "kano") and "Must-be" in _visible_text(_section(page, "kano"))
    methods = _visible_text(_section(page, "methods"))
    for words in (
        "Benjamini–Hochberg",
        "raked to the margins",
        "raw events",
        "robots (user agent)",
    ):
        assert words in methods, words
    assert "No persona" in _visible_text(_section(page, "traces"))


def test_pdf_without_chromium_says_so(tmp_path, monkeypatch):
    import parcours_research.report_sections as rs

    monkeypatch.setattr(rs.shutil, "which", lambda name: None)
    page = tmp_path / "report.html"
    page.write_text("<html><body>x</body></html>", encoding="utf-8")
    pdf, message = print_pdf(page)
    assert pdf is None and "chromium is not installed" in message


@pytest.mark.browser
def test_pdf_with_chromium(tmp_path):
    import shutil

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    page = tmp_path / "report.html"
    page.write_text("<html><body><h1>Rapport</h1></body></html>", encoding="utf-8")
    pdf, message = print_pdf(page)
    assert pdf is not None and pdf.read_bytes()[:4] == b"%PDF", message


def test_cli_has_pdf_and_lang_options(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    out = capsys.readouterr().out
    assert "--pdf" in out and "--lang" in out


def test_cli_pdf_without_chromium_is_a_clear_error(monkeypatch, tmp_path, capsys):
    import parcours_research.report as report

    def fake(*args, pdf=False, **kwargs):
        assert pdf is True
        return report.ReportResult(
            tmp_path / "report.html",
            [],
            [],
            pd.DataFrame(),
            [],
            pdf=None,
            pdf_message="No PDF: chromium is not installed.",
        )

    monkeypatch.setattr(report, "build_report", fake)
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "r"), "--pdf", "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "Report written to" in captured.out and "chromium is not installed" in captured.err
