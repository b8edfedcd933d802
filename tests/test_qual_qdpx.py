"""REFI-QDA (.qdpx) import and export.

Reference: the REFI-QDA project schema (Project.xsd, QDA-XML namespace
``urn:QDA-XML:project:1.0``, REFI-QDA standard 1.5, www.qdasoftware.org). The project read
here is written by hand from that schema, not by ``write_qdpx``; the file ``write_qdpx``
produces is validated with lxml against ``tests/data/refi_project_subset.xsd``, a subset of
that schema written from its published structure.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qual_fixtures import (
    ALICE_TEXT,
    BOB_TEXT,
    C_VAL,
    hand_qdpx,
    project_qde,
    small_journey,
    span,
    write_zip,
)

import parcours_research as pr
from parcours_research.errors import ParcoursWarning, QualDataError
from parcours_research.qual import EXCERPT_COLUMNS, read_qdpx, write_qdpx

XSD = Path(__file__).parent / "data" / "refi_project_subset.xsd"


def _rows(df: pd.DataFrame) -> set[tuple]:
    cols = [
        "participant",
        "source",
        "code",
        "coder",
        "valence",
        "touchpoint",
        "stage",
        "persona",
        "customer_id",
        "text",
    ]
    out = set()
    for rec in df[cols].astype(object).itertuples(index=False):
        out.add(tuple(None if pd.isna(v) else v for v in rec))
    return out


def test_reads_hand_written_project(tmp_path):
    path = hand_qdpx(tmp_path / "study.qdpx")
    j = small_journey()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParcoursWarning)  # Bob has no persona
        df = read_qdpx(path, journey=j)
    assert list(df.columns) == list(EXCERPT_COLUMNS)
    s1 = "L'étape d'identité 🙄 a pris trois semaines !"
    s2 = "J'ai adoré l'inscription."
    b1, b2 = "Le conseiller était top.", "Le prix, en revanche…"
    A, B = "Entretien Alice", "Entretien Bob"
    expected = {
        # participant, source, code, coder, valence, touchpoint, stage, persona, customer, text
        ("Alice", A, "Attente", "Anne", -2.0, "id_verification", "integrer", "senior", "C001", s1),
        ("Alice", A, "Attente", "Bruno", -1.0, "id_verification", "integrer", "senior", "C001", s1),
        ("Alice", A, "signup", "Anne", 1.0, "signup", "acquerir", "senior", "C001", s2),
        ("Alice", A, "Méthodologie", "Anne", 1.0, None, None, "senior", "C001", s2),
        ("Bob", B, None, "Bruno", 1.0, None, None, None, "C002", b1),
        ("Bob", B, "Prix", "Bruno", None, None, "acquerir", None, "C002", b2),
    }
    assert _rows(df) == expected
    assert len(df) == len(expected)
    # offsets are character offsets (code points) into the text, end excluded, BOM dropped
    first = df[df["coder"] == "Anne"].iloc[0]
    assert (first["start"], first["end"]) == span(ALICE_TEXT, s1)
    assert ALICE_TEXT[first["start"] : first["end"]] == first["text"]
    # the double-coded selection shares its excerpt id (the selection guid)
    ids = df.loc[df["code"] == "Attente", "excerpt_id"].unique()
    assert list(ids) == ["66666666-0000-0000-0000-000000000001"]
    assert BOB_TEXT.endswith(b2)


def test_persona_from_survey_lookup(tmp_path):
    path = hand_qdpx(tmp_path / "study.qdpx")
    responses = pd.DataFrame({"customer_id": ["C002", "C009"], "persona": ["connecte", "senior"]})
    df = read_qdpx(path, journey=small_journey(), personas=responses)
    assert set(df.loc[df["participant"] == "Bob", "persona"]) == {"connecte"}
    # the case variable wins over the lookup
    assert set(df.loc[df["participant"] == "Alice", "persona"]) == {"senior"}


def test_missing_persona_warns(tmp_path):
    path = hand_qdpx(tmp_path / "study.qdpx")
    with pytest.warns(ParcoursWarning, match="no persona found for 1 participant"):
        read_qdpx(path, journey=small_journey(), personas={"C777": "senior"})


def test_code_map_overrides_journey(tmp_path):
    path = hand_qdpx(tmp_path / "study.qdpx")
    cm = pd.DataFrame({"code": ["Prix", "Méthodologie"], "touchpoint": ["store_advice", None]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParcoursWarning)
        df = read_qdpx(path, cm, journey=small_journey())
    prix = df[df["code"] == "Prix"].iloc[0]
    assert (prix["touchpoint"], prix["stage"]) == ("store_advice", "acquerir")


def test_valence_variable_and_participant_variable(tmp_path):
    qde = (
        project_qde()
        .replace(
            '<Variable guid="33333333-0000-0000-0000-000000000002" name="customer_id" typeOfVariable="Text"/>',
            '<Variable guid="33333333-0000-0000-0000-000000000002" name="customer_id" typeOfVariable="Text"/>'
            '<Variable guid="33333333-0000-0000-0000-000000000003" name="humeur" typeOfVariable="Integer"/>',
        )
        .replace(
            '<SourceRef targetGUID="44444444-0000-0000-0000-000000000002"/>',
            '<VariableValue><VariableRef targetGUID="33333333-0000-0000-0000-000000000003"/>'
            "<IntegerValue>-2</IntegerValue></VariableValue>"
            '<SourceRef targetGUID="44444444-0000-0000-0000-000000000002"/>',
        )
    )
    path = write_zip(tmp_path / "v.qdpx", {"project.qde": qde, "sources/alice.txt": ALICE_TEXT})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParcoursWarning)
        df = read_qdpx(
            path,
            journey=small_journey(),
            valence_variable="humeur",
            participant_variable="customer_id",
        )
    prix = df[df["code"] == "Prix"].iloc[0]
    assert prix["valence"] == -2.0  # from the case variable: the excerpt has no valence code
    assert prix["participant"] == "C002"
    # a valence code wins over the variable
    assert df[df["text"] == "Le conseiller était top."]["valence"].iloc[0] == 1.0


def test_bare_qde_with_inline_text(tmp_path):
    qde = (
        project_qde()
        .replace('plainTextPath="internal://alice.txt"', "")
        .replace(
            '<TextSource guid="44444444-0000-0000-0000-000000000001" name="Entretien Alice"  creatingUser',
            '<TextSource guid="44444444-0000-0000-0000-000000000001" name="Entretien Alice" creatingUser',
        )
    )
    qde = qde.replace(
        'creatingUser="11111111-0000-0000-0000-000000000001">\n      <PlainTextSelection',
        f'creatingUser="11111111-0000-0000-0000-000000000001">\n      '
        f"<PlainTextContent>{ALICE_TEXT.replace(chr(13), '&#13;')}</PlainTextContent>\n"
        "      <PlainTextSelection",
        1,
    )
    p = tmp_path / "project.qde"
    p.write_text(qde, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParcoursWarning)
        df = read_qdpx(p, journey=small_journey())
    assert len(df) == 6
    assert "L'étape d'identité 🙄 a pris trois semaines !" in set(df["text"])


def test_every_problem_is_listed(tmp_path):
    bad_sel = """
      <PlainTextSelection guid="66666666-0000-0000-0000-00000000000a" startPosition="5" endPosition="9999">
        <Coding guid="77777777-0000-0000-0000-00000000000a"><CodeRef targetGUID="22222222-0000-0000-0000-000000000001"/></Coding>
      </PlainTextSelection>
      <PlainTextSelection guid="66666666-0000-0000-0000-00000000000b" startPosition="0" endPosition="3">
        <Coding guid="77777777-0000-0000-0000-00000000000b"><CodeRef targetGUID="99999999-0000-0000-0000-000000000000"/></Coding>
        <Coding guid="77777777-0000-0000-0000-00000000000c"><CodeRef targetGUID="{C_VAL}"/></Coding>
      </PlainTextSelection>
      <PlainTextSelection guid="66666666-0000-0000-0000-00000000000c" startPosition="x" endPosition="3"/>""".replace(
        "{C_VAL}", C_VAL
    )
    extra_code = (
        '\n      <Code guid="22222222-0000-0000-0000-0000000000ff" name="Émotion" isCodable="false">'
        '<Code guid="22222222-0000-0000-0000-0000000000fe" name="mitigé" isCodable="true"/></Code>'
    )
    path = hand_qdpx(tmp_path / "bad.qdpx", extra_selection=bad_sel, extra_codes=extra_code)
    with pytest.raises(QualDataError) as ei:
        read_qdpx(path, journey=small_journey())
    msg = str(ei.value)
    assert "bad.qdpx: project.qde" in msg
    assert "outside the text" in msg and "9999" in msg
    assert "unknown code 99999999-0000-0000-0000-000000000000" in msg
    assert "valence family 'Valence' itself" in msg
    assert "startPosition='x' is not an integer" in msg
    assert len(ei.value.problems) == 4
    # each problem is located down to the selection
    assert all("PlainTextSelection" in (p.column or "") for p in ei.value.problems)


def test_missing_and_external_sources(tmp_path):
    path = write_zip(tmp_path / "nosrc.qdpx", {"project.qde": project_qde()})
    with pytest.raises(QualDataError, match="missing from the archive's sources/ folder"):
        read_qdpx(path)
    path = write_zip(
        tmp_path / "ext.qdpx", {"project.qde": project_qde(alice_path="file:///etc/passwd")}
    )
    with pytest.raises(QualDataError, match="external files are not opened"):
        read_qdpx(path)
    path = write_zip(
        tmp_path / "rel.qdpx", {"project.qde": project_qde(alice_path="../../secret.txt")}
    )
    with pytest.raises(QualDataError, match="outside the archive"):
        read_qdpx(path)


def test_unknown_persona_variable(tmp_path):
    qde = project_qde().replace("<TextValue>senior</TextValue>", "<TextValue>retraité</TextValue>")
    path = write_zip(tmp_path / "p.qdpx", {"project.qde": qde, "sources/alice.txt": ALICE_TEXT})
    with pytest.raises(QualDataError, match="unknown persona 'retraité'") as ei:
        read_qdpx(path, journey=small_journey())
    assert len(ei.value.problems) == 1  # reported once, not once per selection


def test_not_a_project(tmp_path):
    path = write_zip(
        tmp_path / "x.qdpx",
        {"project.qde": '<?xml version="1.0"?><CodeBook xmlns="urn:QDA-XML:codebook:1.0"/>'},
    )
    with pytest.raises(QualDataError, match="root element is <CodeBook>"):
        read_qdpx(path)
    path = write_zip(tmp_path / "y.qdpx", {"readme.txt": "hello"})
    with pytest.raises(QualDataError, match="no project.qde"):
        read_qdpx(path)
    with pytest.raises(QualDataError, match="file not found"):
        read_qdpx(tmp_path / "missing.qdpx")


def test_non_text_sources_are_reported(tmp_path):
    qde = project_qde().replace(
        "</Sources>",
        """
    <PictureSource guid="88888888-0000-0000-0000-000000000001" name="photo" path="internal://p.png">
      <PictureSelection guid="88888888-0000-0000-0000-000000000002" firstX="0" firstY="0" secondX="5" secondY="5">
        <Coding guid="88888888-0000-0000-0000-000000000003"><CodeRef targetGUID="22222222-0000-0000-0000-000000000030"/></Coding>
      </PictureSelection>
    </PictureSource>
  </Sources>""",
    )
    path = write_zip(tmp_path / "pic.qdpx", {"project.qde": qde, "sources/alice.txt": ALICE_TEXT})
    with pytest.warns(ParcoursWarning, match="1 picture selections"):
        df = read_qdpx(path, journey=small_journey(), personas={"C002": "connecte"})
    assert len(df) == 6


# ---------------------------------------------------------------------------- writing
def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "excerpt_id": ["e1", "e1", "e2", "e3", "e3", "e4"],
            "participant": ["Alice", "Alice", "Alice", "Bob", "Bob", "Bob"],
            "persona": ["senior", "senior", "senior", "connecte", "connecte", "connecte"],
            "customer_id": ["C1", "C1", "C1", "C2", "C2", "C2"],
            "touchpoint": [
                "id_verification",
                "id_verification",
                "signup",
                None,
                None,
                "store_advice",
            ],
            "code": ["Attente", "Attente", "signup", "Méthodologie", "Prix", "store_advice"],
            "valence": [-2, -1, 1, None, 0.5, 2],
            "coder": ["Anne", "Bruno", "Anne", "Anne", "Anne", None],
            "text": [
                "C'était long… 🙄",
                "C'était long… 🙄",
                "Simple & rapide <3",
                "Bof",
                "Bof",
                "Top !",
            ],
        }
    )


def test_round_trip_keeps_every_coding(tmp_path):
    src = _frame()
    path = write_qdpx(src, tmp_path / "out.qdpx")
    back = read_qdpx(path, journey=small_journey(), excerpt_id="name")
    key = [
        "excerpt_id",
        "participant",
        "persona",
        "customer_id",
        "touchpoint",
        "code",
        "valence",
        "coder",
        "text",
    ]
    a = src[key].astype(object).where(src[key].notna(), None)
    b = back[key].astype(object).where(back[key].notna(), None)
    as_set = lambda f: sorted(map(tuple, f.to_numpy().tolist()), key=repr)  # noqa: E731
    assert as_set(a) == as_set(b)
    # spans point at the text inside the participant's document
    with zipfile.ZipFile(path) as z:
        docs = [n for n in z.namelist() if n.startswith("sources/")]
        assert len(docs) == 2
        texts = {z.read(n).decode("utf-8") for n in docs}
    for r in back.itertuples():
        assert any(t[r.start : r.end] == r.text for t in texts)


def test_written_file_validates_against_schema(tmp_path):
    lxml = pytest.importorskip("lxml.etree")
    path = write_qdpx(_frame(), tmp_path / "out.qdpx")
    schema = lxml.XMLSchema(lxml.parse(str(XSD)))
    with zipfile.ZipFile(path) as z:
        doc = lxml.fromstring(z.read("project.qde"))
    assert schema.validate(doc), schema.error_log
    assert doc.tag == "{urn:QDA-XML:project:1.0}Project"


def test_writer_is_deterministic(tmp_path):
    a = write_qdpx(_frame(), tmp_path / "a.qdpx")
    b = write_qdpx(_frame(), tmp_path / "b.qdpx")
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        assert za.read("project.qde") == zb.read("project.qde")


def test_writer_splits_conflicting_valences(tmp_path):
    # one coder gives two valences to the same excerpt under two codes: still round-trips
    df = pd.DataFrame(
        {
            "excerpt_id": ["e1", "e1"],
            "participant": ["P1", "P1"],
            "code": ["a", "b"],
            "valence": [-2, 1],
            "coder": ["Anne", "Anne"],
            "text": ["même texte"] * 2,
        }
    )
    back = read_qdpx(write_qdpx(df, tmp_path / "c.qdpx"), excerpt_id="name")
    got = sorted(zip(back["code"], back["valence"]))
    assert got == [("a", -2.0), ("b", 1.0)]


def test_writer_validates(tmp_path):
    with pytest.raises(QualDataError, match="column"):
        write_qdpx(pd.DataFrame({"participant": ["a"]}), tmp_path / "x.qdpx")
    df = _frame()
    df.loc[0, "persona"] = "connecte"
    with pytest.raises(QualDataError, match="several values of 'persona'"):
        write_qdpx(df, tmp_path / "x.qdpx")


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)
texts = texts.filter(lambda t: t.strip() != "")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["P1", "P2", "Zoé"]),
            st.sampled_from(["a", "b", "Prix élevé", "id_verification"]),
            st.sampled_from([None, -2.0, -1.0, 0.0, 1.0, 2.0]),
            st.sampled_from(["Anne", "Bruno", None]),
            texts,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_round_trip_property(tmp_path, rows):
    df = pd.DataFrame(rows, columns=["participant", "code", "valence", "coder", "text"])
    df["excerpt_id"] = [f"x{i}" for i in range(len(df))]
    df["touchpoint"] = np.where(df["code"] == "id_verification", "id_verification", None)
    path = write_qdpx(df, tmp_path / "prop.qdpx")
    back = read_qdpx(path, journey=small_journey(), excerpt_id="name")
    key = ["excerpt_id", "participant", "code", "valence", "coder", "text", "touchpoint"]

    def norm(f):
        f = f[key].astype(object)
        return sorted(
            (tuple(None if pd.isna(v) else v for v in r) for r in f.to_numpy().tolist()), key=repr
        )

    assert norm(back) == norm(df)


def test_read_excerpts_delegates_to_qdpx(tmp_path):
    path = hand_qdpx(tmp_path / "study.qdpx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParcoursWarning)
        a = pr.qual.read_excerpts(path, journey=small_journey())
        b = read_qdpx(path, journey=small_journey())
    pd.testing.assert_frame_equal(a, b)
