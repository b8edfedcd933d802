"""Response loaders on files written the way real tools write them.

The same 40 respondents (taken from the sample study) are written as a plain UTF-8 CSV, a
French Excel export, a UTF-8 file with BOM, an SPSS ``.sav`` and a Stata ``.dta`` (both through
pyreadstat, single-choice answers stored as labelled numeric codes), and a Qualtrics export.
Every one must load to exactly the typed table the plain CSV gives.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from parcours_research.errors import ParcoursWarning, SurveyDataError
from parcours_research.survey.instrument import load_instrument
from parcours_research.survey.io import QUALTRICS_PERSONAL, read_responses, read_table

N = 40


@pytest.fixture(scope="module")
def inst(sample_study):
    return sample_study.instrument


@pytest.fixture(scope="module")
def ref(sample_dir):
    """The answers as text, as a survey tool holds them (blank = not answered)."""
    df = (
        pd.read_csv(sample_dir / "survey" / "responses.csv", dtype=str, keep_default_na=False)
        .head(N)
        .copy()
    )
    for c in df.columns:  # whole numbers without ".0", as every tool but pandas writes them
        df[c] = df[c].str.replace(r"^(\d+)\.0$", r"\1", regex=True)
    df.loc[0, "comment"] = 'Très bien; rapide, 10 € de moins "vraiment"'
    df.loc[1, "comment"] = "Sur deux\nlignes, œuvre à l'âge"
    df["poids"] = ["1.25", "0.8", "2.5", "1"] * (N // 4)
    return df


def _write_csv(df: pd.DataFrame, path, *, sep=",", encoding="utf-8", newline="\n", decimal="."):
    out = df.copy()
    if decimal != ".":
        out["poids"] = out["poids"].str.replace(".", decimal, regex=False)
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator=newline).writerows(
        [list(out.columns), *out.to_numpy().tolist()]
    )
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


@pytest.fixture(scope="module")
def plain(ref, inst, tmp_path_factory):
    path = _write_csv(ref, tmp_path_factory.mktemp("plain") / "responses.csv")
    return read_responses(path, inst, weight="poids")


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same columns, rows, dtypes and values (ignoring how the file was read)."""
    a = a.copy()
    b = b.copy()
    a.attrs = b.attrs = {}
    pd.testing.assert_frame_equal(a, b)


def test_plain_csv_types(plain, ref, inst):
    assert len(plain) == N == len(ref)  # nothing dropped
    assert plain["overall_sat"].dtype == np.float64
    assert plain["poids"].tolist()[:4] == [1.25, 0.8, 2.5, 1.0]
    assert pd.api.types.is_string_dtype(plain["age_band"]) and pd.api.types.is_string_dtype(
        plain["respondent_id"]
    )
    assert plain.loc[1, "comment"] == "Sur deux\nlignes, œuvre à l'âge"
    blank = ref["sat_store_advice"] == ""
    assert plain["sat_store_advice"].isna().tolist() == blank.tolist()
    assert plain.attrs["read"]["format"] == "csv"


def test_french_excel_csv(ref, inst, plain, tmp_path):
    """Excel's "CSV (séparateur: point-virgule)": `;`, decimal comma, Windows-1252, CRLF."""
    path = _write_csv(
        ref, tmp_path / "export excel.csv", sep=";", encoding="cp1252", newline="\r\n", decimal=","
    )
    raw = path.read_bytes()
    assert b"\r\n" in raw and b";" in raw and "€".encode("cp1252") in raw and b"1,25" in raw
    got = read_responses(path, inst, weight="poids")
    info = got.attrs["read"]
    assert (info["separator"], info["decimal"], info["encoding"]) == (";", ",", "cp1252")
    _same(got, plain)


def test_french_csv_with_thousands_and_decimal_comma_everywhere(inst, tmp_path):
    """A weight with a decimal comma on every row, thousands with a (no-break) space."""
    text = "respondent_id;overall_sat;nps;age_band;channel_pref;poids\r\n"
    text += "A;4;9;18-34;digital;1 234,5\r\nB;5;10;55+;mixed;0,75\r\nC;3;7;35-54;physical;1\u00a0000,25\r\n"
    got = read_responses(_bytes(tmp_path / "r.csv", text.encode("cp1252")), inst, weight="poids")
    assert got["poids"].tolist() == [1234.5, 0.75, 1000.25]


def _bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def test_utf8_with_bom(ref, inst, plain, tmp_path):
    path = _write_csv(ref, tmp_path / "bom.csv", encoding="utf-8-sig")
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    got = read_responses(path, inst, weight="poids")
    assert got.attrs["read"]["encoding"] == "utf-8-sig"
    assert got.columns[0] == "respondent_id"  # the BOM is not glued to the first name
    _same(got, plain)


def test_utf16_tab_separated_unicode_text(ref, inst, plain, tmp_path):
    """Excel's "Texte Unicode": UTF-16 with BOM, tabs, decimal commas."""
    path = _write_csv(
        ref, tmp_path / "unicode.txt", sep="\t", encoding="utf-16", newline="\r\n", decimal=","
    )
    got = read_responses(path, inst, weight="poids")
    assert (got.attrs["read"]["separator"], got.attrs["read"]["decimal"]) == ("\t", ",")
    _same(got, plain)


def _stats_frame(ref: pd.DataFrame, inst) -> tuple[pd.DataFrame, dict, dict]:
    """The answers as a statistics package holds them: numbers as numbers, single choices as
    labelled integer codes, texts as strings; plus value labels and variable labels."""
    codes, out = {}, pd.DataFrame(index=ref.index)
    questions = {q.id: q for q in inst.questions}
    for c in ref.columns:
        q = questions.get(c)
        if q is not None and q.type == "single":
            codes[c] = {i: o for i, o in enumerate(q.options, 1)}
            inverse = {o: float(i) for i, o in codes[c].items()}
            out[c] = ref[c].map(lambda v, inv=inverse: inv.get(v, np.nan)).astype(float)
        elif (q is not None and q.numeric) or c == "poids":
            out[c] = pd.to_numeric(ref[c].replace("", np.nan)).astype(float)
        else:
            out[c] = ref[c].astype(object)
    labels = {c: questions[c].text.fr[:200] for c in ref.columns if c in questions}
    return out, codes, labels


def test_spss_sav_with_value_labels(ref, inst, plain, tmp_path):
    df, codes, labels = _stats_frame(ref, inst)
    assert df["age_band"].dtype == np.float64  # stored as codes 1, 2, 3
    path = tmp_path / "responses.sav"
    pyreadstat.write_sav(df, path, column_labels=labels, variable_value_labels=codes)
    table, info = read_table(path)
    assert info["format"] == "spss"
    assert info["value_labels"]["age_band"] == {1.0: "18-34", 2.0: "35-54", 3.0: "55+"}
    _, meta = pyreadstat.read_sav(path, metadataonly=True)
    assert (
        meta.column_names_to_labels["overall_sat"] == labels["overall_sat"]
    )  # variable labels were written
    got = read_responses(path, inst, weight="poids")
    _same(got, plain)


def test_stata_dta_with_value_labels(ref, inst, plain, tmp_path):
    df, codes, labels = _stats_frame(ref, inst)
    path = tmp_path / "responses.dta"
    pyreadstat.write_dta(
        df, path, column_labels={k: v[:80] for k, v in labels.items()}, variable_value_labels=codes
    )
    table, info = read_table(path)
    assert info["format"] == "stata" and info["value_labels"]["channel_pref"]
    got = read_responses(path, inst, weight="poids")
    _same(got, plain)


def test_spss_code_without_label_is_reported(ref, inst, tmp_path):
    df, codes, labels = _stats_frame(ref.head(4), inst)
    df.loc[2, "channel_pref"] = 9.0
    path = tmp_path / "r.sav"
    pyreadstat.write_sav(df, path, variable_value_labels=codes)
    with pytest.raises(SurveyDataError) as info:
        read_responses(path, inst, weight="poids")
    (p,) = info.value.problems
    assert (p.row, p.column, p.message) == (4, "channel_pref", "'9' is not an option")


def test_unreadable_sav(inst, tmp_path):
    with pytest.raises(SurveyDataError, match="not a readable SPSS file"):
        read_responses(_bytes(tmp_path / "r.sav", b"$FL2 this is not really SPSS"), inst)


QUALTRICS_META = {  # column: (question text row, ImportId)
    "StartDate": ("Start Date", "startDate"),
    "EndDate": ("End Date", "endDate"),
    "Status": ("Response Type", "status"),
    "IPAddress": ("IP Address", "ipAddress"),
    "Progress": ("Progress", "progress"),
    "Duration (in seconds)": ("Duration (in seconds)", "duration"),
    "Finished": ("Finished", "finished"),
    "RecordedDate": ("Recorded Date", "recordedDate"),
    "ResponseId": ("Response ID", "_recordId"),
    "RecipientLastName": ("Recipient Last Name", "recipientLastName"),
    "RecipientFirstName": ("Recipient First Name", "recipientFirstName"),
    "RecipientEmail": ("Recipient Email", "recipientEmail"),
    "ExternalReference": ("External Data Reference", "externalDataReference"),
    "LocationLatitude": ("Location Latitude", "locationLatitude"),
    "LocationLongitude": ("Location Longitude", "locationLongitude"),
    "DistributionChannel": ("Distribution Channel", "distributionChannel"),
    "UserLanguage": ("User Language", "userLanguage"),
}


def _qualtrics(ref: pd.DataFrame, inst, path):
    """A Qualtrics "CSV" export: names, question texts, ImportId JSON, then one row per response;
    metadata columns first; no column named like the instrument's respondent id."""
    n = len(ref)
    meta = {
        "StartDate": "2026-02-01 10:00:00",
        "EndDate": "2026-02-01 10:07:12",
        "Status": "IP Address",
        "IPAddress": "192.0.2.17",
        "Progress": "100",
        "Duration (in seconds)": "432",
        "Finished": "True",
        "RecordedDate": "2026-02-01 10:07:13",
        "RecipientLastName": "Dupont",
        "RecipientFirstName": "Marie",
        "RecipientEmail": "marie.dupont@example.fr",
        "ExternalReference": "",
        "LocationLatitude": "48.8566",
        "LocationLongitude": "2.3522",
        "DistributionChannel": "email",
        "UserLanguage": "FR",
    }
    df = pd.DataFrame({c: [meta.get(c, "")] * n for c in QUALTRICS_META})
    df["ResponseId"] = ref["respondent_id"].to_numpy()
    answers = ref.drop(columns="respondent_id").reset_index(drop=True)
    df = pd.concat([df, answers], axis=1)
    texts, ids = [], []
    for k, c in enumerate(df.columns):
        if c in QUALTRICS_META:
            texts.append(QUALTRICS_META[c][0])
            tz = {"timeZone": "Europe/Paris"} if c.endswith("Date") else {}
            ids.append(json.dumps({"ImportId": QUALTRICS_META[c][1], **tz}, separators=(",", ":")))
        else:
            q = next((q for q in inst.questions if q.id == c), None)
            texts.append(q.text.fr if q else c)
            ids.append(json.dumps({"ImportId": f"QID{k}"}, separators=(",", ":")))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerows([list(df.columns), texts, ids, *df.to_numpy().tolist()])
    path.write_bytes(buf.getvalue().encode("utf-8-sig"))
    return path


def test_qualtrics_export(ref, inst, plain, tmp_path):
    qref = ref.copy()
    qref["respondent_id"] = [f"R_{i:03d}aBcDeFgHiJkLm" for i in range(N)]
    path = _qualtrics(qref, inst, tmp_path / "qualtrics.csv")
    with pytest.warns(ParcoursWarning, match="IPAddress") as rec:
        got = read_responses(path, inst, weight="poids")
    assert "RecipientEmail" in str(rec[0].message)
    assert got.attrs["read"]["format"] == "qualtrics" and got.attrs["read"]["header_rows"] == 3
    for c in QUALTRICS_PERSONAL:  # people's identities are not loaded
        assert c not in got.columns
    assert got["respondent_id"].tolist() == qref["respondent_id"].tolist()  # ResponseId is the id
    assert got["Duration (in seconds)"].tolist() == ["432"] * N  # harmless metadata kept
    expected = plain.copy()
    expected["respondent_id"] = pd.array(qref["respondent_id"], dtype="string")
    _same(got[list(plain.columns)], expected)


def test_qualtrics_rows_are_numbered_as_in_the_file(ref, inst, tmp_path):
    qref = ref.head(5).copy()
    qref.loc[0, "nps"] = "11"  # first response = row 4 of the file (3 header rows)
    path = _qualtrics(qref, inst, tmp_path / "q.csv")
    with pytest.raises(SurveyDataError) as info:
        read_responses(path, inst, weight="poids")
    (p,) = info.value.problems
    assert (p.row, p.column) == (4, "nps")


def test_rows_are_numbered_as_a_spreadsheet_shows_them(ref, inst, tmp_path):
    """A comment spread over two lines is one row; a blank line is a row; the header is row 1."""
    df = ref.head(6).copy()
    df.loc[4, "overall_sat"] = "0"
    text = _write_csv(df, tmp_path / "a.csv").read_text(encoding="utf-8").split("\n")
    # the multi-line comment of respondent 2 spans two text lines; add a blank line after it
    k = next(i for i, line in enumerate(text) if line.startswith("lignes"))
    text.insert(k + 1, "")
    path = tmp_path / "b.csv"
    path.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(SurveyDataError) as info:
        read_responses(path, inst, weight="poids")
    (p,) = info.value.problems
    assert (p.row, p.column) == (7, "overall_sat")  # header 1, five rows, one blank line


def test_excel_trailing_empty_columns_are_ignored(inst, tmp_path):
    text = "respondent_id;overall_sat;nps;age_band;channel_pref;;\r\nA;4;9;18-34;digital;;\r\nB;5;10;55+;mixed;;\r\n"
    got = read_responses(_bytes(tmp_path / "r.csv", text.encode("cp1252")), inst)
    assert len(got) == 2 and list(got.columns)[:3] == ["respondent_id", "overall_sat", "nps"]
    assert got.attrs["read"]["unnamed_empty_columns"] == 2
    bad = text.replace("B;5;10;55+;mixed;;", "B;5;10;55+;mixed;;oups")
    with pytest.raises(SurveyDataError, match="column 7 has answers but no name"):
        read_responses(_bytes(tmp_path / "s.csv", bad.encode("cp1252")), inst)


def test_not_text_in_any_known_encoding(inst, tmp_path):
    data = b"respondent_id,overall_sat\nA,4\n" + b"\x81\x8d\xff\xfe\n"
    with pytest.raises(SurveyDataError, match="neither UTF-8 nor Windows-1252") as info:
        read_responses(_bytes(tmp_path / "r.csv", data), inst)
    assert "CSV UTF-8" in info.value.problems[0].fix


def test_long_lists_are_capped_but_counted(inst, tmp_path):
    rows = "".join(f"R{i},9,5,18-34,digital\n" for i in range(30))
    with pytest.raises(SurveyDataError) as info:
        read_responses(
            _bytes(
                tmp_path / "r.csv",
                ("respondent_id,overall_sat,nps,age_band,channel_pref\n" + rows).encode(),
            ),
            inst,
        )
    problems = info.value.problems
    assert len(problems) == 21
    assert problems[-1].message == "... and 10 more out-of-scale values"
    assert [p.row for p in problems[:20]] == list(range(2, 22))


def test_invalid_weights_are_reported(inst, tmp_path):
    text = "respondent_id,overall_sat,nps,age_band,channel_pref,w\nA,4,9,18-34,digital,1.5\nB,4,9,18-34,digital,0\n"
    with pytest.raises(SurveyDataError) as info:
        read_responses(_bytes(tmp_path / "r.csv", text.encode()), inst, weight="w")
    (p,) = info.value.problems
    assert (p.row, p.column) == (3, "w") and "positive" in p.message


def test_an_option_spelled_like_a_missing_value_is_an_answer(tmp_path):
    """`none` is an option here: it must not be read as "not answered" (and flagged as missing)."""
    (tmp_path / "inst.yml").write_text(
        "id: mini\nquestions:\n"
        "  - {id: pets, type: single, required: true, options: [none, cat, dog]}\n"
        "  - {id: note, type: text}\n",
        encoding="utf-8",
    )
    inst = load_instrument(tmp_path / "inst.yml")
    got = read_responses(
        _bytes(tmp_path / "r.csv", b"respondent_id,pets,note\nA,none,None\nB,cat,ok\n"), inst
    )
    assert got["pets"].tolist() == ["none", "cat"]
    assert pd.isna(got.loc[0, "note"])  # in a text answer, "None" is the usual "no answer"


def test_multi_choice(tmp_path):
    (tmp_path / "inst.yml").write_text(
        "id: mini\nquestions:\n  - {id: chans, type: multi, options: [web, app, store]}\n",
        encoding="utf-8",
    )
    inst = load_instrument(tmp_path / "inst.yml")
    ok = read_responses(
        _bytes(tmp_path / "r.csv", b'respondent_id,chans\nA,"web;app"\nB,\nC,store\n'), inst
    )
    assert ok["chans"].tolist()[0] == "web;app" and pd.isna(ok["chans"].iloc[1])
    with pytest.raises(SurveyDataError, match="'web;fax' is not an option"):
        read_responses(_bytes(tmp_path / "s.csv", b'respondent_id,chans\nA,"web;fax"\n'), inst)


def test_missing_file(inst, tmp_path):
    with pytest.raises(SurveyDataError, match="does not exist"):
        read_responses(tmp_path / "nope.csv", inst)


def test_table_cells_stay_text(tmp_path):
    path = _bytes(tmp_path / "r.csv", b"respondent_id,x\n007,0012\n")
    table, info = read_table(path)
    assert (
        table.loc[0, "respondent_id"] == "007" and table.loc[0, "x"] == "0012"
    )  # no number guessing
    assert info["rows"].tolist() == [2]
