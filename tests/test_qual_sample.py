"""The sample study's excerpts flow into a table keyed by the study's touchpoint and persona ids.

The sample plants a friction at id_verification for persona senior (truth.json), which the
interviews echo: senior participants speak of it negatively far more often.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

import parcours_research as pr
from parcours_research.errors import ParcoursWarning

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
pytestmark = pytest.mark.skipif(
    not (SAMPLE / "study.yml").exists(), reason="data/sample not generated"
)


@pytest.fixture(scope="module")
def study():
    return pr.load_study(SAMPLE)


@pytest.fixture(scope="module")
def excerpts(study):
    return pr.qual.read_excerpts(study)


def test_keyed_by_study_ids(study, excerpts):
    j = study.journey
    assert list(excerpts.columns[:13]) == list(pr.qual.EXCERPT_COLUMNS)
    assert set(excerpts["touchpoint"].dropna()) <= set(j.touchpoint_ids)
    assert excerpts["touchpoint"].notna().all()
    assert set(excerpts["persona"].dropna()) <= set(j.persona_ids)
    assert excerpts["persona"].notna().all()  # every participant found in the survey
    stage_of = {t.id: t.stage for t in j.touchpoints}
    assert (excerpts["stage"] == excerpts["touchpoint"].map(stage_of)).all()
    # the persona is the respondent's, through the customer id
    resp = study.responses.set_index(study.survey.customer_id)["persona"]
    assert (excerpts["persona"] == excerpts["customer_id"].map(resp)).all()
    # nothing lost: one row per CSV row
    raw = pd.read_csv(study.qual.excerpts)
    assert len(excerpts) == len(raw)


def test_friction_shows_in_the_interviews(study, excerpts):
    truth = study.truth["friction"][0]
    tp, persona = truth["touchpoint"], truth["persona"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParcoursWarning)
        mv = pr.qual.mean_valence(excerpts, by=["touchpoint", "persona"], journey=study.journey)
    cell = mv[(mv["touchpoint"] == tp) & (mv["persona"] == persona)].iloc[0]
    at_tp = mv[mv["touchpoint"] == tp].set_index("persona")["negative_share"]
    assert at_tp.idxmax() == persona  # the most negative persona at that touchpoint
    told = mv[(mv["persona"] == persona) & (mv["n"] >= 5)]  # a single excerpt is not a finding
    assert told.set_index("touchpoint")["negative_share"].idxmax() == tp  # that persona's most negative touchpoint
    solid = mv[mv["n"] >= 5]  # cells resting on at least five excerpts
    assert solid.loc[solid["negative_share"].idxmax(), ["touchpoint", "persona"]].tolist() == [
        tp,
        persona,
    ]
    assert cell["ci_high"] < 0  # the interval excludes a neutral experience


def test_coders_agree(excerpts):
    res = pr.qual.agreement(excerpts, value="valence", scale_level="interval")
    assert res.summary["n_units"].iloc[0] > 20
    assert res.alpha > 0.8


def test_quotes_are_scrubbed(study, excerpts):
    q = pr.qual.quotes(excerpts, n=len(excerpts), valence="any", salt=study.privacy_salt)
    joined = " ".join(q["text"])
    for leak in ("claire.dubois@example.fr", "06 12 34 56 78", "Jeanne", "Leroy", "M. Martin"):
        assert leak not in joined
    assert "[EMAIL]" in joined and "[PHONE]" in joined and "[NAME]" in joined
    assert q["participant"].str.startswith("P-").all()
    assert len(q) == excerpts["excerpt_id"].nunique()


def test_sample_round_trips_through_qdpx(study, excerpts, tmp_path):
    path = pr.qual.write_qdpx(excerpts, tmp_path / "sample.qdpx")
    back = pr.qual.read_qdpx(path, journey=study.journey, excerpt_id="name")
    key = [
        "excerpt_id",
        "participant",
        "customer_id",
        "persona",
        "touchpoint",
        "stage",
        "code",
        "valence",
        "coder",
        "text",
    ]
    a = excerpts[key].sort_values(["excerpt_id", "coder"]).reset_index(drop=True)
    b = back[key].sort_values(["excerpt_id", "coder"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
