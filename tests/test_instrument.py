"""Survey instruments: the bundled standard questionnaire, its expansion over a journey, the
codebook, and errors in instrument files."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from parcours_research.errors import StudyError
from parcours_research.survey.instrument import (
    QUESTION_TYPES,
    ROLES,
    bundled_instruments,
    load_instrument,
)

CODEBOOK_COLUMNS = [
    "column",
    "type",
    "role",
    "required",
    "touchpoint",
    "min",
    "max",
    "options",
    "value_labels",
    "text",
]


def test_bundled_instruments():
    assert "standard_touchpoint" in bundled_instruments()


def test_standard_questionnaire_alone():
    inst = load_instrument("standard_touchpoint")
    assert inst.id == "standard_touchpoint" and inst.respondent_id == "respondent_id"
    assert inst.touchpoint_columns() == {}  # no journey, no per-touchpoint question
    assert (inst.first("overall"), inst.first("nps"), inst.first("effort")) == (
        "overall_sat",
        "nps",
        "ces",
    )
    scales = {q.id: (q.min, q.max) for q in inst.questions if q.numeric}
    assert scales["overall_sat"] == (1, 5) and scales["nps"] == (0, 10) and scales["ces"] == (1, 7)
    required = {q.id for q in inst.questions if q.required}
    assert required == {"overall_sat", "nps", "age_band", "channel_pref"}
    assert {q.id for q in inst.by_role("profile")} >= {
        "age_band",
        "channel_pref",
        "tenure_years",
        "region",
    }
    assert inst.by_role("comment")[0].type == "text"
    assert inst.question("age_band").options == ("18-34", "35-54", "55+")
    assert inst.question("overall_sat").value_labels[5].get("en") == "Very satisfied"
    with pytest.raises(StudyError, match="no question 'nope'"):
        inst.question("nope")
    with pytest.raises(dataclasses.FrozenInstanceError):
        inst.id = "x"


def test_expanded_over_the_sample_journey(sample_study):
    inst = sample_study.instrument
    tps = sample_study.journey.touchpoint_ids
    assert inst.touchpoint_columns() == {t: f"sat_{t}" for t in tps}
    assert inst.kano_pairs() == [
        (t, f"kano_f_{t}", f"kano_d_{t}") for t in sample_study.journey.moments_of_truth
    ]
    q = inst.question("sat_id_verification")
    assert q.touchpoint == "id_verification" and (q.min, q.max) == (1, 5)
    assert q.text.fr == "Votre satisfaction : Vérification d'identité"
    assert q.text.en == "Your satisfaction: Identity check"
    assert inst.question("kano_d_claim").role == "kano_dysfunctional"
    # the sample's response file has exactly the instrument's columns
    header = pd.read_csv(sample_study.root / "survey" / "responses.csv", nrows=0).columns
    assert set(header) == set(inst.columns)
    assert len(inst.columns) == len(set(inst.columns))


def test_restricted_to_some_touchpoints(sample_study):
    inst = load_instrument("standard_touchpoint", sample_study.journey, ["signup", "billing"])
    assert inst.touchpoint_columns() == {"signup": "sat_signup", "billing": "sat_billing"}
    assert [t for t, _, _ in inst.kano_pairs()] == ["signup"]  # the moments of truth among them


def test_codebook(sample_study):
    inst = sample_study.instrument
    cb = inst.codebook()
    assert list(cb.columns) == CODEBOOK_COLUMNS
    assert cb["column"].tolist() == inst.columns  # one row per column, in file order
    row = cb.set_index("column").loc["nps"]
    assert (row["type"], row["role"], row["min"], row["max"]) == ("nps", "nps", 0, 10)
    assert "10 = Extrêmement probable" in row["value_labels"]
    assert cb.set_index("column").loc["channel_pref", "options"] == "digital; mixed; physical"
    en = inst.codebook(lang="en").set_index("column")
    assert en.loc["sat_claim", "text"] == "Your satisfaction: Claim handling"
    assert set(cb["type"]) <= {*QUESTION_TYPES, "id"}
    assert set(cb["role"]) <= {*ROLES, "respondent_id", "id"}


def test_an_invalid_instrument_lists_every_problem(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(
        """
id: bad
scales:
  five: {min: 1, max: 5}
questions:
  - {id: q1, type: slider}
  - {id: q2, type: rating, role: mood}
  - {id: q3, type: rating, scale: seven}
  - {id: q4, type: single}
  - {id: q5, type: rating, scale: five}
  - {id: q5, type: number}
  - {type: text}
""",
        encoding="utf-8",
    )
    with pytest.raises(StudyError) as info:
        load_instrument(path)
    problems = info.value.problems
    by_column = {p.column: p for p in problems}
    assert "unknown question type 'slider'" in by_column["questions[0].type"].message
    assert "unknown role 'mood'" in by_column["questions[1].role"].message
    assert "unknown scale 'seven'" in by_column["questions[2].scale"].message
    assert "lists no `options`" in by_column["questions[3]"].message
    assert "defined more than once" in by_column["q5"].message
    assert "needs an `id`" in by_column["questions[6]"].message
    assert len(problems) == 6
    assert all(p.file == str(path) for p in problems)
    assert by_column["questions[0].type"].fix.startswith("use one of")


def test_kano_touchpoints_must_be_in_the_journey(tmp_path, sample_study):
    path = tmp_path / "k.yml"
    path.write_text(
        "id: k\nquestions:\n  - {id: overall_sat, type: rating, role: overall}\n"
        "kano:\n  touchpoints: [claim, teleportation]\n  functional: {id: 'kf_{touchpoint}'}\n"
        "  dysfunctional: {id: 'kd_{touchpoint}'}\n",
        encoding="utf-8",
    )
    with pytest.raises(StudyError, match="teleportation"):
        load_instrument(path, sample_study.journey)


def test_unknown_names_and_paths(tmp_path):
    with pytest.raises(StudyError, match="No bundled instrument named 'nope'"):
        load_instrument("nope")
    with pytest.raises(StudyError, match="does not exist"):
        load_instrument(tmp_path / "missing.yml")
    (tmp_path / "list.yml").write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(StudyError, match="must hold a mapping"):
        load_instrument(tmp_path / "list.yml")
    (tmp_path / "broken.yml").write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(StudyError, match="not valid YAML"):
        load_instrument(tmp_path / "broken.yml")
