"""Reading coded excerpts from CSV files and DataFrames."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from qual_fixtures import small_journey

from parcours_research.errors import ParcoursWarning, QualDataError, StudyError
from parcours_research.qual import EXCERPT_COLUMNS, read_excerpts
from parcours_research.qual.schema import CodeMapper, normalise_key, parse_valence

CSV = """excerpt_id,participant,customer_id,touchpoint,code,valence,text,coder,interview_date
E1,P01,C1,id_verification,Attente,-2,"Trois semaines, c'est long.",anne,2024-03-01
E1,P01,C1,id_verification,Attente,-1,"Trois semaines, c'est long.",bruno,2024-03-01
E2,P02,C2,,Souscription en ligne,+1,Simple.,anne,2024-03-02
E3,P02,C2,,Acquérir,0,Rien à dire.,anne,2024-03-02
E4,P03,C3,,Méthodologie,,Hors sujet.,anne,
"""


def test_reads_csv(tmp_path):
    p = tmp_path / "ex.csv"
    p.write_text(CSV, encoding="utf-8")
    j = small_journey()
    personas = pd.DataFrame(
        {"customer_id": ["C1", "C2", "C3"], "persona": ["senior", "connecte", "senior"]}
    )
    df = read_excerpts(p, journey=j, personas=personas)
    assert list(df.columns) == [*EXCERPT_COLUMNS, "interview_date"]
    assert df["touchpoint"].tolist()[:3] == ["id_verification", "id_verification", "signup"]
    assert pd.isna(df.loc[3, "touchpoint"]) and df.loc[3, "stage"] == "acquerir"  # a stage label
    assert pd.isna(df.loc[4, "touchpoint"]) and pd.isna(df.loc[4, "stage"])
    assert df["stage"].tolist()[:3] == ["integrer", "integrer", "acquerir"]
    assert df["valence"].tolist()[:4] == [-2.0, -1.0, 1.0, 0.0] and pd.isna(df.loc[4, "valence"])
    assert df["persona"].tolist() == ["senior", "senior", "connecte", "connecte", "senior"]
    assert df["source"].unique().tolist() == ["ex.csv"]
    assert str(df["valence"].dtype) == "Float64" and str(df["start"].dtype) == "Int64"
    assert all(str(df[c].dtype).startswith("string") for c in ("participant", "code", "text"))


def test_french_excel_export(tmp_path):
    text = (
        "Participant;Point de contact;Verbatim;Tonalité;Codeur\n"
        "Zoé;Vérification d'identité;C'était très pénible;très négatif;Anne\n"
        "Léo;signup;Facile;positif;Anne\n"
    )
    p = tmp_path / "export.csv"
    p.write_bytes(text.encode("cp1252"))
    df = read_excerpts(p, journey=small_journey())
    assert df["participant"].tolist() == ["Zoé", "Léo"]
    assert df["touchpoint"].tolist() == ["id_verification", "signup"]
    assert df["code"].tolist() == ["id_verification", "signup"]  # no code column: the touchpoint
    assert df["valence"].tolist() == [-2.0, 1.0]
    assert df["coder"].tolist() == ["Anne", "Anne"]
    assert df["excerpt_id"].tolist() == ["export.csv:2", "export.csv:3"]


def test_column_mapping_and_dataframe_input():
    raw = pd.DataFrame({"who": ["P1"], "quote": ["ok"], "tag": ["store_advice"], "score": [2]})
    df = read_excerpts(
        raw,
        columns={"participant": "who", "text": "quote", "code": "tag", "valence": "score"},
        journey=small_journey(),
    )
    assert df.loc[0, "touchpoint"] == "store_advice" and df.loc[0, "valence"] == 2.0
    with pytest.raises(QualDataError) as ei:
        read_excerpts(raw, columns={"participant": "nobody", "speaker": "who"})
    assert len(ei.value.problems) == 2


def test_every_problem_is_listed(tmp_path):
    text = (
        "participant,code,touchpoint,valence,text,persona\n"
        ",Attente,,-1,ok,senior\n"
        "P2,,,1,,senior\n"
        "P3,x,nowhere,bof,texte,senior\n"
        "P4,x,,5,texte,martien\n"
    )
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(QualDataError) as ei:
        read_excerpts(p, journey=small_journey())
    e = ei.value
    got = {(pr.row, pr.column) for pr in e.problems}
    assert got == {
        (2, "participant"),
        (3, "text"),
        (3, "code"),
        (4, "touchpoint"),
        (4, "valence"),
        (5, "valence"),
        (5, "persona"),
    }
    msg = str(e)
    assert "bad.csv, row 4, column 'touchpoint': unknown touchpoint 'nowhere'" in msg
    assert "outside the scale -2..2" in msg and "unknown persona 'martien'" in msg
    assert "7 problems found" in msg
    assert set(e.to_frame().columns) == {"file", "row", "column", "message", "fix"}


def test_missing_columns(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("who,what\na,b\n")
    with pytest.raises(QualDataError) as ei:
        read_excerpts(p)
    cols = {pr.column for pr in ei.value.problems}
    assert cols == {"participant", "text", "code or touchpoint"}
    with pytest.raises(QualDataError, match="file not found"):
        read_excerpts(tmp_path / "none.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(QualDataError, match="empty"):
        read_excerpts(tmp_path / "empty.csv")


def test_code_map(tmp_path):
    raw = pd.DataFrame(
        {"participant": ["P1", "P2"], "code": ["Attente guichet", "Autre"], "text": ["a", "b"]}
    )
    cm = tmp_path / "codes.csv"
    cm.write_text("code;touchpoint\nAttente guichet;Conseil en agence\n", encoding="utf-8")
    df = read_excerpts(raw, cm, journey=small_journey())
    assert df["touchpoint"].tolist()[0] == "store_advice" and pd.isna(df["touchpoint"].iloc[1])
    df = read_excerpts(raw, {"attente guichet": "signup"}, journey=small_journey())
    assert df["touchpoint"].iloc[0] == "signup"  # matched without case
    with pytest.raises(QualDataError, match="unknown touchpoint 'nulle_part'"):
        read_excerpts(raw, {"Autre": "nulle_part"}, journey=small_journey())
    with pytest.raises(QualDataError, match="needs columns code and touchpoint"):
        read_excerpts(raw, pd.DataFrame({"code": ["x"]}))


def test_persona_lookup_by_participant_and_ambiguity():
    raw = pd.DataFrame(
        {"participant": ["P1", "P2", "P3"], "code": ["signup"] * 3, "text": ["a", "b", "c"]}
    )
    lookup = pd.DataFrame(
        {"participant": ["P1", "P2", "P2"], "persona": ["senior", "senior", "connecte"]}
    )
    with pytest.warns(ParcoursWarning, match="no persona found for 2 participant"):
        df = read_excerpts(raw, personas=lookup)
    assert df["persona"].tolist()[0] == "senior" and df["persona"].isna().sum() == 2


def test_without_journey_ids_pass_through():
    raw = pd.DataFrame({"participant": ["P1"], "touchpoint": ["anything"], "text": ["t"]})
    df = read_excerpts(raw)
    assert df.loc[0, "touchpoint"] == "anything" and pd.isna(df.loc[0, "stage"])


def test_unexpected_option():
    with pytest.raises(StudyError, match="unexpected argument"):
        read_excerpts(
            pd.DataFrame({"participant": ["a"], "code": ["b"], "text": ["c"]}), excerpt_id="name"
        )


@pytest.mark.parametrize(
    "value, expected",
    [
        ("-2", -2.0),
        ("+1", 1.0),
        ("−1", -1.0),
        ("0,5", 0.5),
        (2, 2.0),
        ("très négatif", -2.0),
        ("Very Positive", 2.0),
        ("neutre", 0.0),
        ("++", 2.0),
        ("-", -1.0),
        ("", None),
        (None, None),
    ],
)
def test_parse_valence(value, expected):
    assert parse_valence(value) == (expected, True)


def test_parse_valence_unknown_and_custom():
    assert parse_valence("mitigé") == (None, False)
    assert parse_valence("Frustration", {"frustration": -2}) == (-2.0, True)


def test_normalise_key():
    assert normalise_key("Vérification d'identité") == "verification_d_identite"
    assert normalise_key("  SMS de Fidélité ") == "sms_de_fidelite"
    assert normalise_key("++") == "++"


def test_mapper_prefers_code_then_nearest_family():
    m = CodeMapper(small_journey())
    assert m.map("Attente", ("Vérification d'identité",)) == ("id_verification", "integrer")
    assert m.map("signup", ("Vérification d'identité",)) == ("signup", "acquerir")
    assert m.map("Prix", ("Acquire",)) == (None, "acquerir")  # English stage label
    assert m.map("Prix", ("Sous-famille", "ID check")) == ("id_verification", "integrer")
    assert m.map("Prix") == (None, None)


def test_no_warning_when_personas_complete(tmp_path):
    raw = pd.DataFrame(
        {"participant": ["P1"], "customer_id": ["C1"], "code": ["signup"], "text": ["a"]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ParcoursWarning)
        df = read_excerpts(raw, personas={"C1": "senior"})
    assert df.loc[0, "persona"] == "senior"
