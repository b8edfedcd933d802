"""Survey and tabular files that lose nothing silently (issue 15, part "tabular").

Every case writes its input the way the tool at fault writes it (a CSV with an unclosed quote,
a file saved in two encodings, an SPSS file whose "NSP" code is not declared missing, ...) into
``tmp_path``, reads it with the kit, and asserts the exact outcome: the error (its summary,
file, row, column and message) or the loaded table. Where an expected number is not obvious, the
comment says where it comes from (counted independently from the written input).
"""

from __future__ import annotations

import csv
import io
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml

import parcours_research as pr
from parcours_research._text_files import decode_bytes, mojibake, quote_problems
from parcours_research.errors import (
    DataQualityWarning,
    StudyError,
    SurveyDataError,
    TraceDataError,
)
from parcours_research.survey.io import read_responses, read_table
from parcours_research.traces import clean, map_touchpoints, unmapped_events
from parcours_research.traces.coverage import unmapped_message

N = 40  # respondents written in most cases (the first 40 of the sample study)
NSP = {
    1: "Pas du tout satisfait",
    2: "Peu satisfait",
    3: "Moyennement satisfait",
    4: "Satisfait",
    5: "Très satisfait",
    98: "NSP",
    99: "Refus",
}


# ---- inputs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inst(sample_study):
    return sample_study.instrument


@pytest.fixture(scope="module")
def answers(sample_dir) -> pd.DataFrame:
    """The sample study's 800 responses as text (blank = not answered), comments blank."""
    df = pd.read_csv(sample_dir / "survey" / "responses.csv", dtype=str, keep_default_na=False)
    for c in df.columns:  # whole numbers without ".0", as survey tools write them
        df[c] = df[c].str.replace(r"^(\d+)\.0$", r"\1", regex=True)
    df["comment"] = ""
    return df


def csv_lines(df: pd.DataFrame, sep: str = ",") -> list[str]:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\n").writerows(
        [list(df.columns), *df.to_numpy().tolist()]
    )
    return buf.getvalue().split("\n")  # the last item is "" (the final newline)


def stats_frame(df: pd.DataFrame, inst) -> pd.DataFrame:
    """Answers as SPSS/Stata hold them: numeric questions as numbers, the rest as text."""
    out = pd.DataFrame(index=df.index)
    qs = {q.id: q for q in inst.questions}
    for c in df.columns:
        if c in qs and qs[c].numeric:
            out[c] = pd.to_numeric(df[c].replace("", np.nan)).astype(float)
        else:
            out[c] = df[c].astype(object)
    return out


def one_problem(exc: pytest.ExceptionInfo):
    assert len(exc.value.problems) == 1, exc.value
    return exc.value.problems[0]


# ---- the cases: each writes its input into tmp_path and asserts the exact outcome -----------


@dataclass
class Case:
    name: str
    run: Callable  # (tmp_path, answers, inst) -> None; asserts the exact outcome itself


def _unclosed_quote_swallows_700_rows(tmp, answers, inst):
    # the issue's file: 800 respondents; respondent 100's comment opens a quote that is never
    # closed, so the 700 following lines are one cell (its length counted on the written text)
    lines = csv_lines(answers)
    lines[100] += '"Très bien, mais'
    (tmp / "r.csv").write_text("\n".join(lines), encoding="utf-8")
    cell_len = len("\n".join(lines[100:])) - len(lines[100]) + len("Très bien, mais")
    with pytest.raises(SurveyDataError) as exc:
        read_responses(tmp / "r.csv", inst)
    p = one_problem(exc)
    assert exc.value.summary == "Cannot read r.csv"
    assert (p.file, p.row, p.column) == ("r.csv", 101, "comment")
    assert p.message == (
        "a quote opens on line 101 and is not closed until line 801: 700 lines that look like "
        f"rows of the file were read as text inside one {cell_len:,}-character cell"
    )
    assert p.fix.startswith("close the quote on line 101 (a quote inside a cell is written twice")


def _quote_closed_one_row_later(tmp, answers, inst):
    # a stray quote on the next row closes it: one respondent is swallowed, same id shape
    lines = csv_lines(answers.head(N))
    lines[5] += '"Très bien'
    lines[6] += 'il dit "ok" merci'
    (tmp / "r.csv").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(SurveyDataError) as exc:
        read_responses(tmp / "r.csv", inst)
    p = one_problem(exc)
    assert (p.row, p.column) == (6, "comment")
    assert p.message.startswith(
        "a quote opens on line 6 and is not closed until line 7: 1 line that looks like a row "
        "of the file was read as text inside one "
    )


def _multiline_comment_with_commas_loads(tmp, answers, inst):
    # a real comment over three lines, one with as many commas as a row has: not a lost row
    df = answers.head(N).copy()
    df.loc[4, "comment"] = "Bien\nlent, cher, compliqué, bref, nul, " + "x, " * 30 + "\nfin"
    (tmp / "r.csv").write_text("\n".join(csv_lines(df)), encoding="utf-8")
    got = read_responses(tmp / "r.csv", inst)
    assert len(got) == N and got.loc[4, "comment"] == df.loc[4, "comment"]


def _mixed_mostly_utf8(tmp, answers, inst):
    # UTF-8 file, respondents 3 and 7 pasted from a Windows-1252 file
    df = answers.head(N).copy()
    df["comment"] = "Très bon accueil"
    lines = csv_lines(df)
    raw = b"\n".join(
        ln.encode("cp1252") if k in (3, 7) else ln.encode("utf-8") for k, ln in enumerate(lines)
    )
    (tmp / "r.csv").write_bytes(raw)
    with pytest.raises(SurveyDataError) as exc:
        read_responses(tmp / "r.csv", inst)
    p = one_problem(exc)
    assert p.file == "r.csv" and p.row is None
    assert p.message == (
        "the file mixes encodings: 38 lines with accents are UTF-8 but 2 are not (lines 4, 8; "
        "line 4 reads '" + lines[3][:60] + "' in Windows-1252); decoding it whole either way "
        "would garble one group of lines"
    )
    assert "declare `encoding:` under `survey:` in study.yml" in p.fix


def _mixed_mostly_cp1252(tmp, answers, inst):
    # the reverse: a Windows-1252 file with two lines re-typed in a UTF-8 editor
    df = answers.head(N).copy()
    df["comment"] = "Très bon accueil"
    lines = csv_lines(df)
    raw = b"\n".join(
        ln.encode("utf-8") if k in (10, 20) else ln.encode("cp1252") for k, ln in enumerate(lines)
    )
    (tmp / "r.csv").write_bytes(raw)
    with pytest.raises(SurveyDataError) as exc:
        read_responses(tmp / "r.csv", inst)
    msg = one_problem(exc).message
    assert msg.startswith(
        "the file mixes encodings: 2 lines with accents are UTF-8 but 38 are not (lines 2, 3, "
        "4, 5, 6, 7, 8, 9, 10, 12 and 28 more; line 2 reads"
    )


def _utf16_with_bom_loads(tmp, answers, inst):
    # Excel's "Unicode text": UTF-16 LE with BOM, tab-separated
    df = answers.head(N).copy()
    df.loc[0, "comment"] = "Très bon accueil"
    (tmp / "r.txt").write_bytes("\n".join(csv_lines(df, "\t")).encode("utf-16"))
    (tmp / "r.csv").write_text("\n".join(csv_lines(df)), encoding="utf-8")
    got, ref = read_responses(tmp / "r.txt", inst), read_responses(tmp / "r.csv", inst)
    assert got.attrs["read"]["encoding"] == "utf-16"
    got.attrs = ref.attrs = {}
    pd.testing.assert_frame_equal(got, ref)


def _declared_encoding_honoured(tmp, answers, inst):
    # latin-1 declared: the file is read with it (no detection), accents intact
    df = answers.head(N).copy()
    df["comment"] = "Très bon accueil"
    (tmp / "r.csv").write_bytes("\n".join(csv_lines(df)).encode("latin-1"))
    got = read_responses(tmp / "r.csv", inst, encoding="latin-1")
    assert got.attrs["read"]["encoding"] == "iso8859-1"
    assert set(got["comment"]) == {"Très bon accueil"}


def _declared_encoding_wrong(tmp, answers, inst):
    # declared UTF-8 but line 12 was saved in Windows-1252: the error names the line
    df = answers.head(N).copy()
    lines = csv_lines(df)
    lines[11] = lines[11] + "é"
    raw = b"\n".join(ln.encode("cp1252") if k == 11 else ln.encode() for k, ln in enumerate(lines))
    (tmp / "r.csv").write_bytes(raw)
    with pytest.raises(SurveyDataError) as exc:
        read_responses(tmp / "r.csv", inst, encoding="utf-8")
    assert one_problem(exc).message == (
        "line 12 is not utf-8 (byte 0xE9), the encoding declared in study.yml"
    )


def _mojibake_warned(tmp, answers, inst):
    # UTF-8 text that was once read as Windows-1252 and saved again: loads, warned with counts
    df = answers.head(N).copy()
    df.loc[2, "comment"] = "TrÃ¨s bon accueil"
    df.loc[9, "comment"] = "Câ€™est rapide, Ã©vident"
    (tmp / "r.csv").write_text("\n".join(csv_lines(df)), encoding="utf-8")
    with pytest.warns(DataQualityWarning) as rec:
        got = read_responses(tmp / "r.csv", inst)
    assert len(got) == N
    msg = str(rec[0].message)
    assert msg.startswith(
        "r.csv: 3 characters on 2 lines look like UTF-8 read as Windows-1252 (mojibake: "
        "'Ã¨' for 'è', 'â€™' for '’', 'Ã©' for 'é'; lines 4, 11)"
    )


def _spss_undeclared_codes_quote_labels(tmp, answers, inst):
    # 98 "NSP" and 99 "Refus" labelled but not declared missing: one problem per code, with the
    # label, the count (counted on the written frame) and the fix
    df = stats_frame(answers.head(N), inst)
    df.loc[[1, 4, 7], "overall_sat"] = 98.0
    df.loc[[2], "overall_sat"] = 99.0
    pyreadstat.write_sav(df, tmp / "r.sav", variable_value_labels={"overall_sat": NSP})
    with pytest.raises(SurveyDataError) as exc:
        read_responses(tmp / "r.sav", inst)
    probs = exc.value.problems
    assert [(p.row, p.column, p.message) for p in probs] == [
        (3, "overall_sat", "98 = 'NSP' is outside the scale 1..5: 3 answers (rows 3, 6, 9)"),
        (4, "overall_sat", "99 = 'Refus' is outside the scale 1..5: 1 answer (row 4)"),
    ]
    assert probs[0].fix.startswith(
        "if 'NSP' means not answered, declare the code as missing: "
        "`missing_codes: {overall_sat: [98]}` (or `default: [98]` for every question) under "
        "`survey:` in study.yml, or mark it user-missing in SPSS"
    )


def _spss_declared_user_missing_loads(tmp, answers, inst):
    # the same codes declared user-missing in SPSS: read as not answered (an optional question;
    # on a required one they are "required answer is missing")
    df = stats_frame(answers.head(N), inst)
    df["sat_signup"] = 4.0
    df.loc[[1, 4, 7], "sat_signup"] = 98.0
    pyreadstat.write_sav(
        df,
        tmp / "r.sav",
        variable_value_labels={"sat_signup": NSP},
        missing_ranges={"sat_signup": [98, 99]},
    )
    got = read_responses(tmp / "r.sav", inst)
    assert got["sat_signup"].isna().tolist() == [k in (1, 4, 7) for k in range(N)]


def _spss_missing_codes_argument(tmp, answers, inst):
    # undeclared in SPSS, declared with missing_codes (per column): loads, counted
    df = stats_frame(answers.head(N), inst)
    df["sat_signup"] = df["ces"] = 4.0
    df.loc[[1, 4, 7], "sat_signup"] = 98.0
    df.loc[[2], "ces"] = 99.0
    pyreadstat.write_sav(df, tmp / "r.sav", variable_value_labels={"sat_signup": NSP})
    got = read_responses(tmp / "r.sav", inst, missing_codes={"default": [99], "sat_signup": [98]})
    assert got["sat_signup"].isna().sum() == 3 and np.isnan(got.loc[2, "ces"])
    assert got.attrs["read"]["missing_codes"] == {"ces": {99: 1}, "sat_signup": {98: 3}}


def _stata_dta_codes(tmp, answers, inst):
    # Stata: 98 labelled "NSP" undeclared -> quoted; declared extended missing .a -> blank
    df = stats_frame(answers.head(N), inst)
    df["ces"] = 5.0
    df.loc[[0, 5], "ces"] = 98.0
    df["sat_signup"] = pd.Series([4.0] * N, dtype=object)
    df.loc[3, "sat_signup"] = "a"  # Stata's extended missing value .a
    labels = {"ces": {98: "NSP"}}
    pyreadstat.write_dta(
        df, tmp / "r.dta", variable_value_labels=labels, missing_user_values={"sat_signup": ["a"]}
    )
    with pytest.raises(SurveyDataError) as exc:
        read_responses(tmp / "r.dta", inst)
    p = one_problem(exc)
    assert (p.row, p.column, p.message) == (
        2,
        "ces",
        "98 = 'NSP' is outside the scale 1..7: 2 answers (rows 2, 7)",
    )
    got = read_responses(tmp / "r.dta", inst, missing_codes=[98])
    assert got["ces"].isna().sum() == 2 and got["sat_signup"].isna().tolist() == [
        k == 3 for k in range(N)
    ]


def _qualtrics_three_header_rows(tmp, answers, inst):
    # Qualtrics: row 2 question texts, row 3 ImportId JSON; an error in the first respondent is
    # on spreadsheet row 4
    df = answers.head(N).copy()
    df.loc[0, "overall_sat"] = "6"
    lines = csv_lines(df)
    texts = ",".join(f'"Question {c}\nsur deux lignes"' for c in df.columns)
    ids = ",".join(f'"{{""ImportId"":""QID{k}""}}"' for k in range(len(df.columns)))
    (tmp / "r.csv").write_text("\n".join([lines[0], texts, ids, *lines[1:]]), encoding="utf-8")
    table, info = read_table(tmp / "r.csv")
    assert (info["format"], info["header_rows"], len(table)) == ("qualtrics", 3, N)
    with pytest.raises(SurveyDataError) as exc:
        read_responses(tmp / "r.csv", inst)
    p = one_problem(exc)
    assert (p.row, p.column, p.message) == (4, "overall_sat", "6 is outside the scale 1..5")


def _empty_file(tmp, answers, inst):
    (tmp / "r.csv").write_bytes(b"")
    with pytest.raises(SurveyDataError) as exc:
        read_responses(tmp / "r.csv", inst)
    assert one_problem(exc).message == "the file is empty"


def _header_only(tmp, answers, inst):
    (tmp / "r.csv").write_text(",".join(answers.columns) + "\n", encoding="utf-8")
    with pytest.raises(SurveyDataError) as exc:
        read_responses(tmp / "r.csv", inst)
    assert [p.message for p in exc.value.problems] == ["the file has a header but no responses"]


CASES = [
    Case("unclosed_quote_swallows_700_rows", _unclosed_quote_swallows_700_rows),
    Case("quote_closed_one_row_later", _quote_closed_one_row_later),
    Case("multiline_comment_with_commas_loads", _multiline_comment_with_commas_loads),
    Case("mixed_encodings_mostly_utf8", _mixed_mostly_utf8),
    Case("mixed_encodings_mostly_cp1252", _mixed_mostly_cp1252),
    Case("utf16_with_bom_loads", _utf16_with_bom_loads),
    Case("declared_encoding_honoured", _declared_encoding_honoured),
    Case("declared_encoding_wrong_names_line", _declared_encoding_wrong),
    Case("mojibake_warned_with_counts", _mojibake_warned),
    Case("spss_undeclared_codes_quote_labels", _spss_undeclared_codes_quote_labels),
    Case("spss_declared_user_missing_loads", _spss_declared_user_missing_loads),
    Case("spss_missing_codes_argument", _spss_missing_codes_argument),
    Case("stata_dta_codes", _stata_dta_codes),
    Case("qualtrics_three_header_rows", _qualtrics_three_header_rows),
    Case("empty_file", _empty_file),
    Case("header_only", _header_only),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_survey_file_case(case, tmp_path, answers, inst):
    case.run(tmp_path, answers, inst)


# ---- study.yml: missing_codes, encoding, the customer file and the identity map -------------


def _study(tmp, sample_dir, answers, edit=None, n=N):
    """A copy of the sample study with ``n`` respondents and without traces and interviews."""
    raw = yaml.safe_load((sample_dir / "study.yml").read_text(encoding="utf-8"))
    raw.pop("traces")
    raw.pop("qual")
    (tmp / "survey").mkdir()
    (tmp / "crm").mkdir()
    shutil.copy(sample_dir / "crm" / "customers.csv", tmp / "crm" / "customers.csv")
    (tmp / "survey" / "responses.csv").write_text(
        "\n".join(csv_lines(answers.head(n))), encoding="utf-8"
    )
    if edit:
        edit(raw)
    (tmp / "study.yml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return tmp


def test_missing_codes_in_study_yml(tmp_path, sample_dir, answers):
    df = answers.head(N).copy()
    df.loc[[0, 1], "sat_signup"] = "98"
    df.loc[[2], "ces"] = "99"
    root = _study(
        tmp_path, sample_dir, df, lambda r: r["survey"].update(missing_codes={"default": [98, 99]})
    )
    st = pr.load_study(root)
    assert st.survey.missing_codes == {"default": (98, 99)}
    assert st.responses["sat_signup"].isna().sum() == df["sat_signup"].isin(["", "98"]).sum()
    assert st.responses.attrs["read"]["missing_codes"] == {"sat_signup": {98: 2}, "ces": {99: 1}}


def test_missing_code_that_is_a_valid_answer_is_refused(tmp_path, sample_dir, answers):
    # 9 is an answer of nps (0..10) and of tenure_years (0..80): refused with the column named
    root = _study(
        tmp_path,
        sample_dir,
        answers,
        lambda r: r["survey"].update(missing_codes={"default": [9], "ovreall_sat": [7]}),
    )
    with pytest.raises(StudyError) as exc:
        pr.load_study(root)
    got = [(p.column, p.message) for p in exc.value.problems]
    assert got == [
        ("survey.missing_codes.ovreall_sat", "unknown question 'ovreall_sat'"),
        (
            "survey.missing_codes.default",
            "the default missing code 9 is a valid answer of question 'nps'",
        ),
        (
            "survey.missing_codes.default",
            "the default missing code 9 is a valid answer of question 'tenure_years'",
        ),
    ]
    assert exc.value.problems[0].fix.startswith("did you mean 'overall_sat'?")


def test_encoding_declared_in_study_yml(tmp_path, sample_dir, answers):
    df = answers.head(N).copy()
    df["comment"] = "Très bon accueil"
    root = _study(tmp_path, sample_dir, df, lambda r: r["survey"].update(encoding="cp1252"))
    (root / "survey" / "responses.csv").write_bytes("\n".join(csv_lines(df)).encode("cp1252"))
    st = pr.load_study(root)
    assert st.survey.encoding == "cp1252" and set(st.responses["comment"]) == {"Très bon accueil"}


def test_customer_file_with_unclosed_quote(tmp_path, sample_dir, answers):
    root = _study(tmp_path, sample_dir, answers)
    lines = (root / "crm" / "customers.csv").read_text(encoding="utf-8").split("\n")
    cells = lines[10].split(",")
    k = lines[0].split(",").index("region")
    cells[k] = '"' + cells[k]  # line 11 opens a quote in `region`, never closed
    lines[10] = ",".join(cells)
    (root / "crm" / "customers.csv").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(StudyError) as exc:
        pr.load_study(root)
    p = one_problem(exc)
    n_lines = len(lines) - 1 if lines[-1] == "" else len(lines)
    assert (p.file, p.row, p.column) == ("crm/customers.csv", 11, "region")
    assert p.message.startswith(
        f"a quote opens on line 11 and is not closed until line {n_lines}: {n_lines - 11} lines "
        "that look like rows of the file were read as text inside one"
    )


def test_identity_map_in_mixed_encodings(tmp_path):
    path = tmp_path / "identity.csv"
    path.write_bytes("device_id,customer_id\nd1,Cé1\n".encode() + "d2,Cé2\n".encode("cp1252"))
    with pytest.raises(TraceDataError) as exc:
        pr.traces.read_identity_map(str(path))
    assert one_problem(exc).message.startswith(
        "the file mixes encodings: 1 line with accents is UTF-8 but 1 is not (line 3;"
    )


# ---- the bottom layer, directly ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoding", "text"),
    [
        ("Très".encode("utf-8-sig"), "utf-8-sig", "Très"),
        ("Très".encode("utf-16"), "utf-16", "Très"),
        ("Très".encode("utf-32"), "utf-32", "Très"),
        ("Très".encode("cp1252"), "cp1252", "Très"),  # no line is UTF-8 with accents
        (b"plain ascii", "utf-8", "plain ascii"),
    ],
    ids=["utf8_bom", "utf16_bom", "utf32_bom", "cp1252_whole", "ascii"],
)
def test_decoding_rule(raw, encoding, text):
    got = decode_bytes(raw, "f.csv")
    assert (got.text, got.encoding, got.notes) == (text, encoding, ())


def test_mojibake_counts_each_garbled_character():
    # independent count: each mojibake pair written on purpose below
    text = "TrÃ¨s\nbien\nÃ©tÃ© â€œokâ€™"
    n, lines, examples = mojibake(text)
    assert (n, lines) == (5, [1, 3])
    assert examples == [("Ã¨", "è"), ("Ã©", "é"), ("â€œ", "“")]
    assert mojibake("Très bien, l'été « ok » — 10 €")[0] == 0  # clean French text


def test_quote_problems_ignore_header_rows():
    # Qualtrics question texts span lines in row 2; they are not swallowed rows
    text = 'a,b,c\n"x\n1,2,3\n4,5,6\n7,8,9",y,z\n1,2,3\n'
    assert quote_problems(text, ",", "f.csv", header_rows=2) == []
    assert len(quote_problems(text, ",", "f.csv", header_rows=1)) == 1


# ---- traces: events mapped to no touchpoint, filters removing most rows ------------------------


def _events(names: list[str]) -> pd.DataFrame:
    t0 = pd.Timestamp("2026-01-05 10:00", tz="UTC")
    return pd.DataFrame(
        {
            "user_id": [f"u{k % 7}" for k in range(len(names))],
            "device_id": [f"d{k % 7}" for k in range(len(names))],
            "timestamp": [t0 + pd.Timedelta(minutes=3 * k) for k in range(len(names))],
            "event": names,
            "user_agent": ["Mozilla/5.0"] * len(names),
        }
    )


def test_unmapped_events_counted_by_name():
    names = ["home"] * 5 + ["scrol"] * 4 + ["login"] * 2 + ["pay"] * 3 + ["xx"]
    log = map_touchpoints(_events(names), {"home": "website", "pay": "payment"})
    got = unmapped_events(log, identity_events=["login"])
    assert got[["event", "n", "role"]].values.tolist() == [
        ["scrol", 4, "unmapped"],
        ["login", 2, "identity"],
        ["xx", 1, "unmapped"],
    ]
    assert got["share"].tolist() == pytest.approx([4 / 15, 2 / 15, 1 / 15])
    assert unmapped_message(got, with_fix=False) == (
        "5 kept events (33.3%) map to no touchpoint: 'scrol' (4), 'xx' (1)"
    )


def test_prepared_evidence_reports_unmapped_events(tmp_path, sample_dir, answers):
    # a small study whose log holds 6 `scrol` and 2 `zoom` events no touchpoint lists (counted on
    # the list written below; the 7 users' gaps of 3 minutes keep every row through cleaning)
    names = ["ad_click", "home_view"] * 10 + ["scrol"] * 6 + ["zoom"] * 2

    def edit(raw):
        raw["traces"] = {"events": "events.csv", "timezone": "Europe/Paris"}

    root = _study(tmp_path, sample_dir, answers, edit)
    ev_df = _events(names)
    ev_df["timestamp"] = ev_df["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    ev_df.to_csv(root / "events.csv", index=False)
    ev = pr.prepare(pr.load_study(root))
    with pytest.warns(DataQualityWarning) as rec:
        traces = ev.traces
    assert traces.cleaning.n_kept == len(names)
    assert traces.unmapped[["event", "n", "role"]].values.tolist() == [
        ["scrol", 6, "unmapped"],
        ["zoom", 2, "unmapped"],
    ]
    expected = (
        "8 kept events (28.6%) map to no touchpoint: 'scrol' (6), 'zoom' (2) -> list "
        "them under a touchpoint's `events:` in study.yml if they belong to one (check "
        "the spelling); the others are left out of every touchpoint analysis"
    )
    assert [str(w.message) for w in rec if w.category is DataQualityWarning] == [expected]
    assert traces.warnings == [expected]
    summary = dict(zip(ev.summary["item"], ev.summary["value"]))
    assert (summary["events kept"], summary["events mapped to no touchpoint"]) == ("28 of 28", "8")


def test_filter_removing_most_rows_is_warned():
    # 6 of 10 rows come from a crawler: the user-agent filter removes 60 % > 50 %
    ev = _events(["home"] * 10)
    ev.loc[:5, "user_agent"] = "Googlebot/2.1"
    ev.loc[:5, "device_id"] = "bot"
    with pytest.warns(DataQualityWarning) as rec:
        _, log = clean(ev, bots_behaviour=False)
    assert [str(w.message) for w in rec if w.category is DataQualityWarning] == [
        "the cleaning filter 'bot_user_agent' (robot user agent) removed 6 of 10 rows (60.0%, "
        "more than 50%): check the input (time stamps, column mapping, period in study.yml) or "
        "the filter's settings before reading any result"
    ]
    with warnings.catch_warnings():  # 5 of 10 is not more than half: no warning
        warnings.simplefilter("error", DataQualityWarning)
        ev.loc[5, "user_agent"] = "Mozilla/5.0"
        clean(ev, bots_behaviour=False)


# ---- Excel workbooks ------------------------------------------------------------------------


def _workbook(df: pd.DataFrame, path, *, title_rows: int = 0, as_text: bool = False, edit=None):
    """``df`` written with openpyxl into sheet 'Réponses', numbers as numbers (or as text)."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Réponses"
    if title_rows:
        ws.cell(1, 1, "Enquête satisfaction 2026")
    for j, c in enumerate(df.columns, 1):
        ws.cell(title_rows + 1, j, c)
    for i, row in enumerate(df.itertuples(index=False), title_rows + 2):
        for j, v in enumerate(row, 1):
            if v == "":
                continue
            try:
                num = float(v)
            except ValueError:
                num = None
            ws.cell(i, j, v if as_text or num is None else num)
    if edit:
        edit(ws)
    wb.save(path)
    return path


def test_xlsx_with_title_above_header_and_numbers_as_text(tmp_path, answers, inst):
    # the same answers as numbers (header on row 3 under a title) and as text (Excel's "number
    # stored as text"): both load to the CSV's table; an error names the sheet's row
    df = answers.head(N).copy()
    (tmp_path / "r.csv").write_text("\n".join(csv_lines(df)), encoding="utf-8")
    ref = read_responses(tmp_path / "r.csv", inst)
    for kw in ({"title_rows": 2}, {"as_text": True}):
        got = read_responses(_workbook(df, tmp_path / "r.xlsx", **kw), inst)
        assert got.attrs["read"]["format"] == "xlsx"
        got.attrs = {}
        pd.testing.assert_frame_equal(got, _no_attrs(ref))
    df.loc[0, "overall_sat"] = "6"
    with pytest.raises(SurveyDataError) as exc:
        read_responses(_workbook(df, tmp_path / "r.xlsx", title_rows=2), inst)
    p = one_problem(exc)
    assert (p.row, p.column, p.message) == (4, "overall_sat", "6 is outside the scale 1..5")


def _no_attrs(df):
    out = df.copy()
    out.attrs = {}
    return out


def test_xlsx_merged_cells_and_unsaved_formulas(tmp_path, answers, inst):
    df = answers.head(N).copy()

    def merge(ws):
        ws.merge_cells("C5:C7")  # one value for three respondents
        ws["D9"] = "=1+2"  # openpyxl saves no result for a formula

    with pytest.raises(SurveyDataError) as exc:
        read_responses(_workbook(df, tmp_path / "r.xlsx", edit=merge), inst)
    assert [(p.row, p.message) for p in exc.value.problems] == [
        (
            5,
            "cells C5:C7 of sheet 'Réponses' are merged in the answers: only C5 holds a value, "
            "the other cells would be read as blank",
        ),
        (9, "cell D9 of sheet 'Réponses' holds a formula (=1+2) whose result was never saved"),
    ]
    assert exc.value.problems[0].fix.startswith("unmerge them")


def test_xlsx_value_outside_the_header_and_old_xls(tmp_path, answers, inst):
    df = answers.head(N).copy()
    width = len(df.columns)

    def stray(ws):
        ws.cell(6, width + 2, "oublié")  # two columns right of the last named one, row 6

    with pytest.raises(SurveyDataError) as exc:
        read_responses(_workbook(df, tmp_path / "r.xlsx", edit=stray), inst)
    p = one_problem(exc)
    from openpyxl.utils import get_column_letter

    assert (p.row, p.message) == (
        6,
        f"cell {get_column_letter(width + 2)}6 of sheet 'Réponses' has a value but its column "
        "has no name in the header",
    )
    (tmp_path / "r.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    with pytest.raises(SurveyDataError) as exc:
        read_responses(tmp_path / "r.xls", inst)
    assert one_problem(exc).message == "old Excel 97-2003 workbooks (.xls) are not read"
