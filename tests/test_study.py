"""The study model: ``load_study`` on the sample study, the corpus of broken study folders
(``tests/broken/``, each with its own expected error), and persona assignment by rules."""

from __future__ import annotations

import builtins
import copy
import csv
import dataclasses
import importlib.util
import math
import re
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parcours_research as pr
from parcours_research import errors
from parcours_research.journey import Condition, PersonaAssignment, PersonaRule, assign_personas
from parcours_research.study import load_study, stage_templates

BROKEN = Path(__file__).resolve().parent / "broken"
SAMPLE_TOUCHPOINTS = [
    "social_ad",
    "website_visit",
    "product_page",
    "simulator",
    "store_advice",
    "signup",
    "welcome_email",
    "app_onboarding",
    "id_verification",
    "app_usage",
    "call_centre",
    "billing",
    "claim",
    "loyalty_sms",
    "review",
    "referral",
]
LIFECYCLE6 = ["sensibiliser", "acquerir", "integrer", "engager", "fideliser", "promouvoir"]


def _corpus_module():
    spec = importlib.util.spec_from_file_location("make_corpus", BROKEN / "make_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CORPUS = _corpus_module()
CASES = sorted(p.parent.name for p in BROKEN.glob("*/expected.yml"))


def write_study(folder: Path, study: dict | None = None, responses: str | None = None) -> Path:
    """A tiny study folder: the corpus base study (or ``study``) and its responses."""
    folder.mkdir(parents=True, exist_ok=True)
    study = copy.deepcopy(CORPUS.BASE_STUDY) if study is None else study
    (folder / "study.yml").write_text(
        yaml.safe_dump(study, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    (folder / "survey").mkdir(exist_ok=True)
    text = responses if responses is not None else CORPUS.csv_text(CORPUS.HEADER, CORPUS.BASE_ROWS)
    (folder / "survey" / "responses.csv").write_text(text, encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------------------------
# the corpus of broken study folders and response files
# ---------------------------------------------------------------------------------------------
def test_corpus_is_large_and_every_case_has_its_own_error():
    expected = {
        c: yaml.safe_load((BROKEN / c / "expected.yml").read_text(encoding="utf-8")) for c in CASES
    }
    failing = {c: e for c, e in expected.items() if e["error"]}
    assert len(failing) >= 20
    # every case shows a different problem: no two cases expect the same first message
    firsts = [
        (e["problems"][0]["file"], e["problems"][0]["message"])
        for e in failing.values()
        if e["n_problems"] == 1
    ]
    assert len(firsts) == len(set(firsts))
    # the cases the issue names are all there
    for name in [
        "missing_study_yml",
        "invalid_yaml",
        "unknown_top_key",
        "unknown_template",
        "stage_listed_twice",
        "touchpoint_unknown_stage",
        "unknown_channel",
        "duplicate_touchpoint_id",
        "event_two_touchpoints",
        "bad_id_characters",
        "rule_unknown_persona",
        "rule_unknown_operator",
        "margins_not_summing",
        "margin_share_out_of_range",
        "path_leaves_folder",
        "missing_responses_file",
        "unknown_instrument",
        "unknown_column",
        "out_of_scale",
        "non_numeric_answer",
        "duplicate_respondent",
        "missing_required_answer",
        "blank_respondent_id",
        "option_not_in_list",
        "binary_as_csv",
        "empty_file",
        "cp1252_loads",
        "several_problems_study",
        "several_problems_responses",
    ]:
        assert name in expected, name


def test_corpus_is_what_the_generator_writes(tmp_path):
    """The committed folders are current: regenerate them and compare byte for byte."""
    names = CORPUS.write_corpus(tmp_path)
    assert sorted(names) == CASES
    for name in names:
        fresh = {
            p.relative_to(tmp_path / name): p.read_bytes()
            for p in (tmp_path / name).rglob("*")
            if p.is_file()
        }
        committed = {
            p.relative_to(BROKEN / name): p.read_bytes()
            for p in (BROKEN / name).rglob("*")
            if p.is_file()
        }
        assert fresh == committed, (
            f"tests/broken/{name} is stale: run python tests/broken/make_corpus.py"
        )


def _matches(problem: errors.Problem, want: dict) -> bool:
    return (
        problem.file == want["file"]
        and ("column" not in want or problem.column == want["column"])
        and ("row" not in want or problem.row == want["row"])
        and want["message"].lower() in problem.message.lower()
        and ("fix" not in want or want["fix"].lower() in (problem.fix or "").lower())
    )


@pytest.mark.parametrize("case", CASES)
def test_broken_case(case):
    folder = BROKEN / case
    expect = yaml.safe_load((folder / "expected.yml").read_text(encoding="utf-8"))
    if expect["error"] is None:  # hard but valid files: they load, nothing lost
        study = load_study(folder)
        assert len(study.responses) == expect["n_rows"]
        for col, values in expect["values"].items():
            got = [None if pd.isna(v) else v for v in study.responses[col]]
            assert got == values
        return
    cls = getattr(errors, expect["error"])
    with pytest.raises(cls) as info:
        load_study(folder)
    err = info.value
    assert isinstance(err, ValueError)
    problems = err.problems
    shown = "\n".join(map(str, problems))
    assert len(problems) == expect["n_problems"], shown
    for want in expect["problems"]:
        assert any(_matches(p, want) for p in problems), f"{want} not in\n{shown}"
    for p in problems:  # what, where and what to do, every time
        assert p.message and p.file and p.fix, p
    # the message lists every problem, numbered, with its location
    text = str(err)
    for i, p in enumerate(problems, 1):
        assert f"  {i}. {p}" in text
    assert err.to_frame().shape == (len(problems), 5)


# ---------------------------------------------------------------------------------------------
# the sample study
# ---------------------------------------------------------------------------------------------
def test_sample_journey(sample_study):
    j = sample_study.journey
    assert j.stage_ids == LIFECYCLE6
    assert [s.order for s in j.stages] == [1, 2, 3, 4, 5, 6]
    assert sorted(j.touchpoint_ids) == sorted(SAMPLE_TOUCHPOINTS)
    assert j.persona_ids == ["connecte", "prudent", "senior", "explorateur"]
    assert set(j.moments_of_truth) == {"signup", "id_verification", "claim"}
    assert j.touchpoint("store_advice").nature == "tangible"  # a store is tangible by default
    assert j.touchpoint("app_usage").nature == "digital"
    assert j.event_touchpoints()["kyc_upload"] == "id_verification"
    assert j.stage("acquerir").target_conversion == pytest.approx(0.35)
    assert j.stage("acquerir").label.get("fr") == "Acquérir"
    assert j.stage("acquerir").label.get("en") == "Acquisition"
    assert sample_study.margins["persona"].keys() == {
        "connecte",
        "prudent",
        "senior",
        "explorateur",
    }
    assert sum(sample_study.margins["region"].values()) == pytest.approx(1)


def test_touchpoints_frame_is_in_journey_order(sample_study):
    tf = sample_study.journey.touchpoints_frame()
    assert list(tf.columns) == [
        "touchpoint",
        "label",
        "stage",
        "stage_label",
        "stage_order",
        "order",
        "channel",
        "nature",
        "moment_of_truth",
        "events",
        "target_satisfaction",
    ]
    assert tf["order"].tolist() == list(range(1, 17))
    assert tf["stage_order"].is_monotonic_increasing
    raw = yaml.safe_load((sample_study.root / "study.yml").read_text(encoding="utf-8"))
    targets = {t["id"]: t["target_satisfaction"] for t in raw["touchpoints"]}
    assert dict(zip(tf["touchpoint"], tf["target_satisfaction"])) == targets
    sf = sample_study.journey.stages_frame()
    assert sf["n_touchpoints"].sum() == 16
    assert sample_study.journey.personas_frame("en")["label"].tolist()[2] == "Attentive senior"


def test_model_objects_are_frozen(sample_study):
    j = sample_study.journey
    for obj, attr in [
        (j, "name"),
        (j.stages[0], "order"),
        (j.touchpoints[0], "stage"),
        (j.personas[0], "id"),
    ]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, attr, "x")


def test_sample_responses_nothing_dropped(sample_study, sample_dir):
    path = sample_dir / "survey" / "responses.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    r = sample_study.responses
    assert len(r) == len(body) == 800  # row counts in == rows out
    assert set(r.columns) == set(header) | {"persona"}  # every column kept, one added
    assert r["respondent_id"].tolist() == [b[0] for b in body]  # same order
    # every non-blank cell is still there, with the same value
    for col in ["overall_sat", "sat_id_verification", "tenure_years"]:
        k = header.index(col)
        raw = pd.to_numeric(pd.Series([b[k] for b in body]).replace("", np.nan))
        assert r[col].isna().sum() == raw.isna().sum()
        np.testing.assert_array_equal(r[col].to_numpy(float), raw.to_numpy(float))
    assert r["persona"].notna().all()
    assert r["overall_sat"].dtype == np.float64
    assert pd.api.types.is_string_dtype(r["age_band"])


def test_ratings_long_counts_every_answer(sample_study, sample_dir):
    long = sample_study.ratings_long()
    raw = pd.read_csv(sample_dir / "survey" / "responses.csv")
    n_answers = int(raw.filter(regex="^sat_").notna().sum().sum())
    assert len(long) == n_answers
    assert list(long.columns[:2]) == ["respondent_id", "persona"]
    assert long["score"].between(1, 5).all()


def test_summary_and_reprs(sample_study):
    s = sample_study.summary()
    assert list(s.columns) == ["item", "value"]
    assert dict(zip(s["item"], s["value"]))["respondents"] == "800"
    for text in (repr(sample_study), repr(sample_study.journey), repr(sample_study.instrument)):
        assert not re.search(r"0x[0-9a-f]{6,}", text)
    assert "800 respondents" in repr(sample_study)
    assert "<table" in sample_study._repr_html_()


def test_load_from_the_yml_file_and_without_responses(sample_dir):
    s = load_study(sample_dir / "study.yml", read_responses=False)
    assert s.responses is None and s.instrument is not None
    assert s.root == sample_dir


def test_stage_templates_have_both_languages():
    t = stage_templates()
    assert [s["id"] for s in t["lifecycle6"]["stages"]] == LIFECYCLE6
    assert [s["id"] for s in t["purchase4"]["stages"]] == [
        "recherche",
        "achat",
        "usage",
        "souvenir",
    ]
    for tpl in t.values():
        for s in tpl["stages"]:
            assert s["label"]["fr"] and s["label"]["en"]


def test_tiny_study_loads(tmp_path):
    study = load_study(write_study(tmp_path / "s"))
    assert study.journey.stage_ids == ["recherche", "achat", "usage", "souvenir"]
    assert (
        study.journey.touchpoint("checkout").target_satisfaction == 4.0
    )  # targets.satisfaction.default
    assert study.responses["persona"].tolist() == ["digital", "classic", "classic"]
    assert study.traces is None and study.qual is None


def test_persona_from_a_column(tmp_path):
    base = copy.deepcopy(CORPUS.BASE_STUDY)
    base["persona_assignment"] = {"column": "segment"}
    base["survey"]["extra_columns"] = ["segment"]
    rows = [[*r, s] for r, s in zip(CORPUS.BASE_ROWS, ["digital", "classic", "digital"])]
    study = load_study(
        write_study(tmp_path / "ok", base, CORPUS.csv_text([*CORPUS.HEADER, "segment"], rows))
    )
    assert study.responses["persona"].tolist() == ["digital", "classic", "digital"]
    rows[1][-1] = "hybride"
    with pytest.raises(errors.StudyError, match="unknown persona"):
        load_study(
            write_study(tmp_path / "bad", base, CORPUS.csv_text([*CORPUS.HEADER, "segment"], rows))
        )


def test_study_without_survey(tmp_path):
    base = copy.deepcopy(CORPUS.BASE_STUDY)
    del base["survey"], base["margins"]
    study = load_study(write_study(tmp_path / "s", base))
    assert study.responses is None and study.instrument is None
    assert study.touchpoint_columns == {}
    with pytest.raises(errors.StudyError, match="no survey responses"):
        study.ratings_long()


def test_a_numeric_rule_value_matches_answers_read_as_floats(sample_study):
    """``tenure_years: [0, 1]`` (listed values) means the same as ``{max: 1}`` on whole years, although
    the column is read as floats (1.0): values are compared as numbers, not as text."""
    r = sample_study.responses
    listed = Condition("tenure_years", "in", (0, 1)).mask(r)
    bound = Condition("tenure_years", "max", (1,)).mask(r)
    assert listed.sum() > 0
    np.testing.assert_array_equal(listed, bound)
    np.testing.assert_array_equal(
        Condition("tenure_years", "not_in", (0, 1)).mask(r), ~bound & r["tenure_years"].notna()
    )


# ---------------------------------------------------------------------------------------------
# persona rules: data, never code (hypothesis)
# ---------------------------------------------------------------------------------------------
TEXTS = [
    "x",
    "y",
    "55+",
    "digital",
    "__import__('os').system('echo pwned')",
    "1; DROP TABLE r",
    "{{7*7}}",
    "eval('1+1')",
    "lambda: 0",
    "None",
    "True",
    "1",
    "1.0",
    "",
]
PERSONAS = ["p0", "p1", "p2"]


@st.composite
def condition(draw):
    col = draw(st.sampled_from(["a", "b", "n"]))
    if col == "n":
        op = draw(st.sampled_from(["min", "max", "in", "not_in", "missing"]))
        if op in ("min", "max"):
            return Condition(col, op, (draw(st.integers(0, 5)),))
        if op == "missing":
            return Condition(col, op, (draw(st.booleans()),))
        return Condition(col, op, tuple(draw(st.lists(st.integers(0, 5), min_size=1, max_size=3))))
    op = draw(st.sampled_from(["in", "not_in", "missing"]))
    if op == "missing":
        return Condition(col, op, (draw(st.booleans()),))
    return Condition(col, op, tuple(draw(st.lists(st.sampled_from(TEXTS), min_size=1, max_size=3))))


rules_strategy = st.lists(
    st.builds(
        PersonaRule,
        st.sampled_from(PERSONAS),
        st.lists(condition(), min_size=1, max_size=3).map(tuple),
    ),
    min_size=1,
    max_size=4,
)
frame_strategy = st.integers(1, 25).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "a": st.lists(st.one_of(st.none(), st.sampled_from(TEXTS)), min_size=n, max_size=n),
            "b": st.lists(st.one_of(st.none(), st.sampled_from(TEXTS)), min_size=n, max_size=n),
            "n": st.lists(
                st.one_of(st.none(), st.integers(0, 5).map(float)), min_size=n, max_size=n
            ),
        }
    )
)


def _reference_condition(c: Condition, value) -> bool:
    """Independent, plain-Python reading of one condition on one answer."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if c.op == "missing":
        return missing == c.values[0]
    if missing:
        return False
    if c.op in ("min", "max"):
        return value >= c.values[0] if c.op == "min" else value <= c.values[0]
    if isinstance(value, float):
        hit = value in [float(v) for v in c.values]
    else:
        hit = value in [str(v) for v in c.values]
    return hit if c.op == "in" else not hit


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=rules_strategy,
    data=frame_strategy,
    default=st.one_of(st.none(), st.sampled_from(PERSONAS)),
)
def test_persona_rules_first_match_and_never_evaluate_text(rules, data, default):
    df = pd.DataFrame(
        {
            "a": pd.array(data["a"], dtype="string"),
            "b": pd.array(data["b"], dtype="string"),
            "n": pd.array([np.nan if v is None else v for v in data["n"]], dtype="float64"),
        }
    )
    assignment = PersonaAssignment(rules=tuple(rules), default=default)
    boom = AssertionError("persona rules must never evaluate text")
    with (
        mock.patch.object(builtins, "eval", side_effect=boom),
        mock.patch.object(builtins, "exec", side_effect=boom),
    ):
        got = assign_personas(df, assignment)
    assert len(got) == len(df) and got.index.equals(df.index)
    for i, row in enumerate(zip(data["a"], data["b"], data["n"])):
        values = dict(zip("abn", row))
        want = next(
            (
                r.persona
                for r in rules
                if all(_reference_condition(c, values[c.column]) for c in r.conditions)
            ),
            default,
        )
        assert (None if pd.isna(got.iloc[i]) else got.iloc[i]) == want, (i, values)
    assert not hasattr(builtins, "pwned")


def test_persona_rules_need_their_columns():
    rule = PersonaRule("p0", (Condition("age", "in", ("55+",)),))
    with pytest.raises(errors.StudyError, match="age"):
        assign_personas(pd.DataFrame({"x": [1]}), PersonaAssignment(rules=(rule,)))


def test_lazy_top_level_names():
    assert pr.load_study is load_study
    assert issubclass(pr.StudyError, ValueError)


def test_broken_truth_json_is_a_clean_error(tmp_path):
    folder = write_study(tmp_path / "s")
    (folder / "truth.json").write_text('{"friction": [}', encoding="utf-8")
    with pytest.raises(errors.StudyError) as info:
        load_study(folder)
    (p,) = info.value.problems
    assert (p.file, p.column) == ("truth.json", "line 1") and "not valid JSON" in p.message


def test_survey_touchpoints_may_be_a_single_name(tmp_path):
    base = copy.deepcopy(CORPUS.BASE_STUDY)
    base["survey"]["touchpoints"] = "checkout"
    header = [c for c in CORPUS.HEADER if c != "sat_delivery"]
    rows = [[v for c, v in zip(CORPUS.HEADER, r) if c != "sat_delivery"] for r in CORPUS.BASE_ROWS]
    study = load_study(write_study(tmp_path / "s", base, CORPUS.csv_text(header, rows)))
    assert study.touchpoint_columns == {"checkout": "sat_checkout"}
