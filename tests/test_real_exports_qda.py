"""Coded excerpts exported by the QDA tools researchers use, loaded from study.yml alone.

Every input is written in tmp_path the way the tool writes it:

- Taguette: ``taguette/export.py`` (``highlights_csv``: ``csv.writer`` with the header
  ``id, document, tag, content``, one row per highlight and tag, ``\\r\\n`` line ends, UTF-8;
  ``highlights_xslx``: sheet ``highlights``, same header) and ``codebook_xml`` (a flat
  ``<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="Taguette ...">`` whose code names are
  tag paths), read at https://github.com/remram44/taguette commit 8415bbc; the codebook below is
  the one Taguette's own ``tests.py`` expects.
- MAXQDA: the *Overview of coded segments* export (``Color, Document group, Document name, Code,
  Beginning, End, Weight score, Segment, Comment, ...``), sub-codes written ``Parent > Child``.
- ATLAS.ti: the Quotation Manager export (``ID, Quotation Name, Document, Quotation Content,
  Codes, Reference, Density, ...``), several codes per cell on separate lines.
- NVivo: coding references with ``Hierarchical Name`` (``Codes\\Parent\\Child``), ``File``
  (``Files\\...``) and ``Coded Text``; Windows text exports in UTF-16 with byte-order mark and
  tabs, and UTF-8 CSV with a byte-order mark.
"""

from __future__ import annotations

import csv
import io
import warnings

import pandas as pd
import pytest

from parcours_research import load_study
from parcours_research.errors import ParcoursWarning, QualDataError, StudyError, UnsafeFileError
from parcours_research.journey import JourneyMap, Label, Stage, Touchpoint
from parcours_research.qual import EXCERPT_COLUMNS, read_excerpts
from parcours_research.qual.codebook import read_codebook
from parcours_research.qual.codepaths import split_code
from parcours_research.qual.exports import detect_format

openpyxl = pytest.importorskip("openpyxl")

STUDY_YML = """\
name: Étude QDA
language: fr
journey:
  stages:
  - {id: acquerir, label: {fr: Acquérir, en: Acquisition}}
  - {id: integrer, label: {fr: Intégrer, en: Onboarding}}
  - {id: engager, label: {fr: Engager, en: Engagement}}
touchpoints:
- {id: signup, label: {fr: Souscription en ligne, en: Online sign-up}, stage: acquerir, channel: web}
- {id: id_verification, label: {fr: "Vérification d'identité", en: Identity check},
   stage: integrer, channel: app, moment_of_truth: true}
- {id: call_centre, label: {fr: Service client, en: Call centre}, stage: engager,
   channel: call_centre}
personas:
- {id: senior, label: Senior}
qual:
"""

T1 = "Trois semaines pour valider mon identité, « incroyable » !"
T2 = "La souscription en ligne était simple,\nvraiment."
T3 = "Personne ne décroche; j'ai attendu 40 minutes."

# The same coding in every tool: (document, text, [code paths]) per coded segment.
SEGMENTS = [
    ("Entretien Paul", T1, [("Intégrer", "Vérification d'identité"), ("Valence", "-2")]),
    ("Entretien Zoé", T2, [("Acquérir", "Souscription en ligne"), ("Valence", "+1")]),
    (
        "Entretien Zoé",
        T3,
        [("Engager", "Service client"), ("Engager", "Attente"), ("Valence", "-1")],
    ),
]
# ... read into the same tidy excerpts table
EXPECTED = pd.DataFrame(
    {
        "source": ["Entretien Paul", "Entretien Zoé", "Entretien Zoé", "Entretien Zoé"],
        "participant": ["Entretien Paul", "Entretien Zoé", "Entretien Zoé", "Entretien Zoé"],
        "stage": ["integrer", "acquerir", "engager", "engager"],
        "touchpoint": ["id_verification", "signup", "call_centre", None],
        "code": [
            "Intégrer > Vérification d'identité",
            "Acquérir > Souscription en ligne",
            "Engager > Service client",
            "Engager > Attente",
        ],
        "valence": [-2.0, 1.0, -1.0, -1.0],
        "text": [T1, T2, T3, T3],
    }
)
COMPARED = list(EXPECTED.columns)


# ------------------------------------------------------------------ how each tool writes
def _csv_text(header, rows, delimiter=",", lineterminator="\r\n") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator=lineterminator)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def taguette_rows():
    """``highlights_csv``: one row per highlight and tag, tag = the tag's path (``.``)."""
    rows = []
    for hid, (doc, text, codes) in enumerate(SEGMENTS, start=1):
        rows += [[str(hid), doc, ".".join(code), text] for code in codes]
    return ["id", "document", "tag", "content"], rows


def maxqda_rows():
    """One row per coded segment (segment and code); sub-codes ``Parent > Child``."""
    header = [
        "Color",
        "Document group",
        "Document name",
        "Code",
        "Beginning",
        "End",
        "Weight score",
        "Segment",
        "Comment",
        "Area",
        "Coverage %",
        "Author",
        "Created",
    ]
    rows = []
    for k, (doc, text, codes) in enumerate(SEGMENTS, start=1):
        for code in codes:
            rows.append(
                ["#ff0000", "Entretiens", doc, " > ".join(code), str(k), str(k), "0", text]
                + ["", "0", "1,05", "anne", "06/12/2026 09:15"]
            )
    return header, rows


def atlas_rows():
    """One row per quotation; its codes in one cell, one per line; ``Category: code``."""
    header = [
        "ID",
        "Quotation Name",
        "Document",
        "Quotation Content",
        "Codes",
        "Reference",
        "Density",
        "Comment",
        "Created by",
        "Modified by",
        "Created",
        "Modified",
    ]
    docs = {"Entretien Paul": 1, "Entretien Zoé": 2}
    rows = []
    for q, (doc, text, codes) in enumerate(SEGMENTS, start=1):
        d = docs[doc]
        cell = "\n".join(": ".join(c) for c in codes)
        rows.append(
            [f"{d}:{q}", text[:20], f"D{d}: {doc}", text, cell, f"{q} - {q}", "0", ""]
            + ["anne", "anne", "06/12/2026", "06/12/2026"]
        )
    return header, rows


def nvivo_rows():
    """One row per coding reference; ``Codes\\Parent\\Child``, ``Files\\name``."""
    header = ["Hierarchical Name", "File", "Reference Number", "Coverage", "Coded Text", "Coded By"]
    rows = []
    for doc, text, codes in SEGMENTS:
        for code in codes:
            rows.append(["Codes\\" + "\\".join(code), "Files\\" + doc, "1", "0,12%", text, "AB"])
    return header, rows


def write_xlsx(path, header, rows, sheet="Sheet1"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)


def make_export(folder, tool: str, kind: str):
    """Write ``tool``'s export as ``kind`` under ``folder/qual``; return its relative path."""
    header, rows = {
        "taguette": taguette_rows,
        "maxqda": maxqda_rows,
        "atlasti": atlas_rows,
        "nvivo": nvivo_rows,
    }[tool]()
    qual = folder / "qual"
    qual.mkdir(parents=True, exist_ok=True)
    if kind == "xlsx":
        name = f"{tool}.xlsx"
        write_xlsx(qual / name, header, rows, "highlights" if tool == "taguette" else "Sheet1")
    elif kind == "csv":  # the tool's CSV: Taguette UTF-8 without BOM, others Excel's UTF-8 BOM
        name = f"{tool}.csv"
        bom = "" if tool == "taguette" else "\ufeff"
        (qual / name).write_bytes((bom + _csv_text(header, rows)).encode("utf-8"))
    elif kind == "utf16":  # NVivo's "Unicode text": UTF-16 LE with BOM, tab-separated
        name = f"{tool}.txt"
        (qual / name).write_bytes(_csv_text(header, rows, "\t").encode("utf-16"))
    else:  # pragma: no cover
        raise ValueError(kind)
    return f"qual/{name}"


def write_study(folder, qual_yaml: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.yml").write_text(STUDY_YML + qual_yaml, encoding="utf-8")
    return folder


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    out = df[COMPARED].astype(object).where(df[COMPARED].notna(), None)
    out = out.sort_values(["text", "code"]).reset_index(drop=True)
    out["valence"] = out["valence"].astype(float)
    return out


# ------------------------------------------------------------------ each tool, study.yml alone
@pytest.mark.parametrize(
    ("tool", "kind"),
    [
        ("taguette", "csv"),
        ("taguette", "xlsx"),
        ("maxqda", "xlsx"),
        ("maxqda", "csv"),
        ("atlasti", "xlsx"),
        ("atlasti", "csv"),
        ("nvivo", "utf16"),
        ("nvivo", "xlsx"),
        ("nvivo", "csv"),
    ],
)
def test_each_tool_export_loads_from_study_yml_alone(tmp_path, tool, kind):
    rel = make_export(tmp_path, tool, kind)
    study = load_study(write_study(tmp_path, f"  excerpts: {rel}\n"))
    assert study.qual.format == "auto"
    df = read_excerpts(study)
    assert list(df.columns[: len(EXCERPT_COLUMNS)]) == list(EXCERPT_COLUMNS)
    pd.testing.assert_frame_equal(tidy(df), tidy(EXPECTED))
    assert df["excerpt_id"].notna().all()
    assert not [c for c in df.columns if c.startswith("_")]  # no helper column left


def test_tool_is_recognised_from_the_header():
    assert detect_format(taguette_rows()[0]).name == "taguette"
    assert detect_format(maxqda_rows()[0]).name == "maxqda"
    assert detect_format(atlas_rows()[0]).name == "atlasti"
    assert detect_format(nvivo_rows()[0]).name == "nvivo"
    german = ["Farbe", "Dokumentgruppe", "Dokumentname", "Code", "Anfang", "Ende", "Segment"]
    assert detect_format(german).name == "maxqda"
    assert detect_format(["participant", "code", "text"]) is None  # the kit's own columns


def test_taguette_csv_bytes_as_taguette_writes_them(tmp_path):
    """Taguette's tests.py expects exactly this CSV (CRLF, no BOM) for a highlights export."""
    p = tmp_path / "all_tags.csv"
    p.write_bytes(
        b"id,document,tag,content\r\n"
        b"2,otherdoc,interesting\\places,diff\r\n"
        b"3,otherdoc,interesting,tent\r\n"
        b"3,otherdoc,people,tent\r\n"
    )
    df = read_excerpts(p)
    assert df["excerpt_id"].tolist() == ["2", "3", "3"]
    assert df["code"].tolist() == ["interesting > places", "interesting", "people"]
    assert df["participant"].tolist() == ["otherdoc"] * 3
    assert df["text"].tolist() == ["diff", "tent", "tent"]


def test_taguette_highlight_without_tag_is_counted_not_lost_silently(tmp_path):
    p = tmp_path / "h.csv"
    p.write_bytes(b"id,document,tag,content\r\n1,doc,Attente,ok\r\n2,doc,,untagged\r\n")
    with pytest.warns(ParcoursWarning, match=r"1 segment\(s\) without a code were not read"):
        df = read_excerpts(p)
    assert df["text"].tolist() == ["ok"]


# ------------------------------------------------------------------ columns mapping, format
def test_columns_mapping_in_study_yml(tmp_path):
    qual = tmp_path / "qual"
    qual.mkdir(parents=True)
    (qual / "codage.csv").write_bytes(
        (
            "Interviewé;Passage;Thème;Ressenti\r\n"
            "Paul;Trois semaines !;Intégrer/Vérification d'identité;-2\r\n"
            "Zoé;Simple.;Souscription en ligne;1\r\n"
        ).encode("cp1252")
    )
    yml = (
        "  excerpts: qual/codage.csv\n"
        "  columns:\n"
        "    participant: Interviewé\n"
        "    text: Passage\n"
        "    code: Thème\n"
        "    valence: Ressenti\n"
    )
    df = read_excerpts(load_study(write_study(tmp_path, yml)))
    assert df["participant"].tolist() == ["Paul", "Zoé"]
    assert df["touchpoint"].tolist() == ["id_verification", "signup"]
    assert df["valence"].tolist() == [-2.0, 1.0]


def test_columns_mapping_overrides_a_tool_column(tmp_path):
    rel = make_export(tmp_path, "maxqda", "xlsx")
    yml = f"  excerpts: {rel}\n  columns:\n    participant: Document group\n"
    df = read_excerpts(load_study(write_study(tmp_path, yml)))
    assert set(df["participant"]) == {"Entretiens"}
    assert set(df["source"]) == {"Entretien Paul", "Entretien Zoé"}


def test_unknown_columns_key_and_format_are_study_errors(tmp_path):
    rel = make_export(tmp_path, "taguette", "csv")
    yml = f"  excerpts: {rel}\n  format: dedoose\n  columns:\n    verbatim_text: content\n"
    with pytest.raises(StudyError) as ei:
        load_study(write_study(tmp_path, yml))
    keys = {p.column for p in ei.value.problems}
    assert {"qual.format", "qual.columns"} <= keys


def test_forced_format_names_the_real_header_and_the_tool(tmp_path):
    rel = make_export(tmp_path, "taguette", "csv")
    study = load_study(write_study(tmp_path, f"  excerpts: {rel}\n  format: maxqda\n"))
    with pytest.raises(QualDataError) as ei:
        read_excerpts(study)
    msg = str(ei.value)
    assert "['id', 'document', 'tag', 'content']" in msg
    assert "format 'maxqda' was asked, but the header is that of a Taguette highlights" in msg
    assert "write `format: taguette`" in msg
    # a header of no known tool, forced: the mapping to write, in the tool's own terms
    (tmp_path / rel).write_text("Dokument,Kode,Text\na,b,c\n", encoding="utf-8")
    with pytest.raises(QualDataError) as ei:
        read_excerpts(study)
    msg = str(ei.value)
    assert "['Dokument', 'Kode', 'Text']; it looks like a MAXQDA coded-segments export" in msg
    assert "participant: <column naming who speaks>" in msg and "columns:" in msg
    assert {p.column for p in ei.value.problems} == {"participant", "text", "code"}


# ------------------------------------------------------------------ wrong header
def test_wrong_header_error_quotes_the_real_header_and_the_mapping(tmp_path):
    p = tmp_path / "segments.csv"
    # a MAXQDA export whose "Segment" column was hidden and another renamed
    p.write_bytes("\ufeffDocument group,Document name,Code,Texte codé\r\nG,Paul,A,b\r\n".encode())
    with pytest.raises(QualDataError) as ei:
        read_excerpts(p)
    msg = str(ei.value)
    assert "['Document group', 'Document name', 'Code', 'Texte codé']" in msg
    assert "looks like a MAXQDA coded-segments export" in msg
    assert "participant: Document name" in msg and "code: Code" in msg
    assert "text: <column of coded text>" in msg
    assert "'excerpt_id'" not in msg  # never the kit's renamed columns
    assert [p.column for p in ei.value.problems] == ["text"]


def test_unknown_header_lists_the_known_tools(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("Doc,Bout,Etiquette\na,b,c\n", encoding="utf-8")
    with pytest.raises(QualDataError) as ei:
        read_excerpts(p)
    msg = str(ei.value)
    assert "['Doc', 'Bout', 'Etiquette']" in msg and "matches no QDA export known" in msg
    assert "id, document, tag, content" in msg  # what Taguette would have written


# ------------------------------------------------------------------ REFI-QDA codebooks
NESTED_QDC = """<?xml version="1.0" encoding="utf-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="MAXQDA 2024">
  <Codes>
    <Code guid="A0000000-0000-0000-0000-000000000001" name="Intégrer" isCodable="false">
      <Description>Étape d'intégration</Description>
      <Code guid="A0000000-0000-0000-0000-000000000002" name="Vérification d'identité"
            isCodable="true" color="#FF0000">
        <Code guid="A0000000-0000-0000-0000-000000000003" name="Attente" isCodable="true"/>
      </Code>
    </Code>
    <Code guid="A0000000-0000-0000-0000-000000000004" name="Service client" isCodable="true"/>
  </Codes>
  <Sets/>
</CodeBook>
"""
# What Taguette's tests.py expects from /project/2/export/codebook.qdc (one flat Code per tag).
TAGUETTE_QDC = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="Taguette 1.4.1"><Codes>'
    '<Code guid="0D62985D-B147-5D01-A9B5-CAE5DCD98342" name="interesting" isCodable="true"/>'
    '<Code guid="DFE5C38E-9449-5959-A1F7-E3D895CFA87F" name="people" isCodable="true"/>'
    '<Code guid="55BB6892-6F30-5129-8CB8-557A1B12137B" name="interesting\\places" '
    'isCodable="true"/></Codes><Sets/></CodeBook>'
)


def test_read_codebook_hierarchy(tmp_path):
    p = tmp_path / "codebook.qdc"
    p.write_text(NESTED_QDC, encoding="utf-8")
    cb = read_codebook(p)
    codes = cb.codes
    assert codes["name"].tolist() == [
        "Intégrer",
        "Vérification d'identité",
        "Attente",
        "Service client",
    ]
    assert codes["path"].tolist()[2] == "Intégrer > Vérification d'identité > Attente"
    assert codes["depth"].tolist() == [0, 1, 2, 0]
    assert pd.isna(codes.loc[0, "parent"])
    assert codes["parent"].tolist()[1:3] == ["Intégrer", "Vérification d'identité"]
    assert codes["codable"].tolist() == [False, True, True, True]
    assert codes.loc[0, "description"] == "Étape d'intégration"
    assert cb.origin == "MAXQDA 2024"
    assert repr(cb) == "Codebook('codebook.qdc', origin='MAXQDA 2024', 4 codes, 3 level(s))"
    assert "<table" in cb._repr_html_()


def test_taguette_flat_codebook_hierarchy_from_names(tmp_path):
    p = tmp_path / "codebook.qdc"
    p.write_text(TAGUETTE_QDC, encoding="utf-8")
    cb = read_codebook(p)
    assert cb.codes["depth"].tolist() == [0, 0, 0] and cb.origin == "Taguette 1.4.1"
    assert cb.paths() == [("interesting",), ("people",), ("interesting", "places")]


def test_read_codebook_of_a_qdpx_project(tmp_path):
    from qual_fixtures import hand_qdpx

    cb = read_codebook(hand_qdpx(tmp_path / "p.qdpx"))
    paths = dict(zip(cb.codes["name"], cb.codes["path"]))
    assert paths["Attente"] == "Vérification d'identité > Attente"
    assert paths["Prix"] == "Acquérir > Prix"


def test_qdc_given_as_excerpts_is_recognised(tmp_path):
    p = tmp_path / "codebook.qdc"
    p.write_text(NESTED_QDC, encoding="utf-8")
    with pytest.raises(QualDataError, match=r"is a REFI-QDA codebook \(4 codes from MAXQDA"):
        read_excerpts(p)
    renamed = tmp_path / "export.csv"  # even under another name: recognised from its content
    renamed.write_text(NESTED_QDC, encoding="utf-8")
    with pytest.raises(QualDataError, match="not coded excerpts"):
        read_excerpts(renamed)
    (tmp_path / "qual").mkdir()
    (tmp_path / "qual" / "codebook.qdc").write_text(NESTED_QDC, encoding="utf-8")
    with pytest.raises(StudyError, match="codebook: qual/codebook.qdc"):
        load_study(write_study(tmp_path, "  excerpts: qual/codebook.qdc\n"))


def test_codebook_with_entities_is_refused(tmp_path):
    p = tmp_path / "bomb.qdc"
    p.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE CodeBook [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
        '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
        '<Code guid="1" name="&b;" isCodable="true"/></Codes></CodeBook>',
        encoding="utf-8",
    )
    with pytest.raises(UnsafeFileError, match="entity"):
        read_codebook(p)


def test_codebook_gives_flat_codes_their_parents(tmp_path):
    rel_cb = "qual/codebook.qdc"
    (tmp_path / "qual").mkdir(parents=True)
    (tmp_path / rel_cb).write_text(NESTED_QDC, encoding="utf-8")
    # an export that writes leaf names only ("Attente"): the codebook knows its parents
    (tmp_path / "qual" / "tags.csv").write_bytes(
        b"id,document,tag,content\r\n1,Paul,Attente,Trois semaines\r\n"
    )
    yml = "  excerpts: qual/tags.csv\n  codebook: qual/codebook.qdc\n"
    df = read_excerpts(load_study(write_study(tmp_path, yml)))
    assert df.loc[0, "touchpoint"] == "id_verification"  # by its nearest parent
    assert df.loc[0, "code"] == "Attente"


# ------------------------------------------------------------------ hierarchical codes
def two_waits_journey() -> JourneyMap:
    stages = (
        Stage("acquerir", Label("Souscription", "Sign-up"), 1),
        Stage("integrer", Label("Intégrer", "Onboard"), 2),
    )
    tps = (
        Touchpoint("signup", Label("Souscription en ligne", "Online"), "acquerir", "web", order=1),
        Touchpoint("store_wait", Label("Attente", "Wait"), "acquerir", "store", order=2),
        Touchpoint(
            "id_verification", Label("Vérification d'identité", "ID"), "integrer", "app", order=3
        ),
        Touchpoint("app_wait", Label("Attente", "Wait"), "integrer", "app", order=4),
    )
    return JourneyMap("t", stages, tps, ())


def test_hierarchical_codes_matched_by_leaf(tmp_path):
    p = tmp_path / "ex.csv"
    p.write_text(
        "participant,code,text\n"
        "P1,Souscription.Vérification d'identité,a\n"
        "P1,Souscription/Vérification d'identité,b\n"
        "P1,Souscription > Vérification d'identité,c\n"
        "P1,Codes\\Souscription\\Vérification d'identité,d\n"
        "P1,Vérification d'identité > Délai,e\n"  # leaf unknown: its family
        "P1,v2.0 du parcours,f\n"
        "P1,Souscription > Attente,g\n",  # leaf names two touchpoints: the stage picks one
        encoding="utf-8",
    )
    df = read_excerpts(p, journey=two_waits_journey())
    assert df["touchpoint"].tolist()[:5] == ["id_verification"] * 5
    assert pd.isna(df.loc[5, "touchpoint"])
    assert df.loc[6, "touchpoint"] == "store_wait" and df.loc[6, "stage"] == "acquerir"
    assert df["code"].tolist()[0] == "Souscription.Vérification d'identité"  # as written


def test_ambiguous_leaf_is_reported(tmp_path):
    p = tmp_path / "ex.csv"
    p.write_text(
        "participant,code,text\nP1,Parcours > Attente,trop long\nP2,Attente,encore\n",
        encoding="utf-8",
    )
    with pytest.raises(QualDataError) as ei:
        read_excerpts(p, journey=two_waits_journey())
    probs = ei.value.problems
    assert [(pr.row, pr.column) for pr in probs] == [(2, "code"), (3, "code")]
    assert "names touchpoints ['app_wait', 'store_wait']" in probs[0].message
    assert "code_map" in probs[0].fix and "'Parcours > Attente'" in probs[0].fix
    # the full path in the code map settles it
    df = read_excerpts(
        p,
        {"Parcours > Attente": "app_wait", "Attente": "store_wait"},
        journey=two_waits_journey(),
    )
    assert df["touchpoint"].tolist() == ["app_wait", "store_wait"]


def test_leaf_and_parent_naming_different_touchpoints_is_reported(tmp_path):
    p = tmp_path / "ex.csv"
    p.write_text("participant,code,text\nP1,Souscription en ligne > Vérification d'identité,x\n")
    with pytest.raises(QualDataError, match="its parent 'Souscription en ligne' names 'signup'"):
        read_excerpts(p, journey=two_waits_journey())


def test_split_code():
    assert split_code("Souscription.Vérification d'identité") == (
        "Souscription",
        "Vérification d'identité",
    )
    assert split_code("Codes\\\\A\\B") == ("A", "B")
    assert split_code("A > B > C") == ("A", "B", "C")
    assert split_code("Appli v2.0") == ("Appli v2.0",)
    assert split_code("Service 24/7") == ("Service 24/7",)
    assert split_code("M. Dupont") == ("M. Dupont",)
    assert split_code("Prix.") == ("Prix",)
    assert split_code(None) == ()


def test_valence_codes_fold_into_the_segment(tmp_path):
    p = tmp_path / "h.csv"
    p.write_bytes(
        "id,document,tag,content\r\n"
        "1,Paul,Souscription en ligne,ok\r\n1,Paul,Émotion.très négatif,ok\r\n"
        "2,Paul,Valence.bof,seul\r\n".encode()
    )
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        df = read_excerpts(p)
    assert any("'Valence > bof'" in str(w.message) for w in rec)
    assert df["code"].tolist() == ["Souscription en ligne", "Valence > bof"]
    assert df.loc[0, "valence"] == -2.0 and pd.isna(df.loc[1, "valence"])


def test_xlsx_that_is_not_a_workbook(tmp_path):
    import zipfile

    p = tmp_path / "x.xlsx"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("project.qde", "<Project/>")
    with pytest.raises(QualDataError, match="not an Excel workbook"):
        read_excerpts(p)


def test_row_problems_name_the_files_rows_and_columns(tmp_path):
    header, rows = atlas_rows()
    rows[2][4] = "Engager: Service client\nValence: +9"  # out of the scale, on the 4th line
    p = tmp_path / "quotations.xlsx"
    write_xlsx(p, header, rows)
    with pytest.raises(QualDataError) as ei:
        read_excerpts(p)
    (pr,) = ei.value.problems
    assert (pr.row, pr.column) == (4, "valence") and "outside the scale" in pr.message
    rows[2][4] = "Engager: Attente"
    rows[2][3] = ""  # no quotation content
    write_xlsx(p, header, rows)
    with pytest.raises(QualDataError) as ei:
        read_excerpts(p)
    assert [(q.row, q.column) for q in ei.value.problems] == [(4, "Quotation Content")]
