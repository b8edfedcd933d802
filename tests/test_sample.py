"""The seeded sample study: reproducible byte for byte, the committed copy current, and the
planted effects present in the raw data (checked with plain pandas, not with the kit)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from parcours_research import sample
from parcours_research.errors import StudyError
from parcours_research.journey import assign_personas
from parcours_research.study import load_study

SMALL = {
    "n_customers": 120,
    "n_prospects": 40,
    "n_respondents": 60,
    "n_participants": 8,
    "days": 21,
}


def hashes(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(tmp_path):
    a = sample.make_sample(tmp_path / "a", seed=7, **SMALL)
    b = sample.make_sample(tmp_path / "b", seed=7, **SMALL)
    ha, hb = hashes(a), hashes(b)
    assert set(ha) >= {
        "study.yml",
        "truth.json",
        "survey/responses.csv",
        "traces/events.csv.gz",
        "traces/identity.csv",
        "qual/excerpts.csv",
        "crm/customers.csv",
    }
    assert ha == hb


def test_different_seed_different_data(tmp_path):
    a = hashes(sample.make_sample(tmp_path / "a", seed=1, **SMALL))
    b = hashes(sample.make_sample(tmp_path / "b", seed=2, **SMALL))
    for f in [
        "survey/responses.csv",
        "traces/events.csv.gz",
        "qual/excerpts.csv",
        "crm/customers.csv",
    ]:
        assert a[f] != b[f], f


def test_small_sample_is_a_valid_study(tmp_path):
    study = load_study(sample.make_sample(tmp_path / "s", seed=3, **SMALL))
    assert len(study.responses) == SMALL["n_respondents"]
    assert len(study.customers) == SMALL["n_customers"]


def test_committed_sample_is_current_and_small(sample_dir, tmp_path):
    """data/sample is exactly what `parcours sample data/sample --seed 0` writes today."""
    size = sum(p.stat().st_size for p in sample_dir.rglob("*") if p.is_file())
    assert size < 2_000_000  # "well under 5 MB"
    fresh = sample.make_sample(tmp_path / "fresh", seed=0)
    assert hashes(fresh) == hashes(sample_dir), (
        "regenerate: parcours sample data/sample --seed 0 --overwrite"
    )


def test_refuses_to_overwrite_and_bad_arguments(tmp_path):
    out = sample.make_sample(tmp_path / "s", seed=0, **SMALL)
    with pytest.raises(StudyError, match="not empty"):
        sample.make_sample(out, seed=0, **SMALL)
    with pytest.raises(StudyError, match="bot_share"):
        sample.make_sample(tmp_path / "t", bot_share=0.95)
    with pytest.raises(StudyError, match="cannot exceed"):
        sample.make_sample(tmp_path / "u", n_customers=10, n_respondents=20)


def test_truth_json(sample_dir, sample_study):
    truth = json.loads((sample_dir / "truth.json").read_text(encoding="utf-8"))
    assert truth["friction"] == [{"touchpoint": "id_verification", "persona": "senior"}]
    for item in truth["friction"]:
        assert set(item) == {"touchpoint", "persona"}
        assert item["touchpoint"] in sample_study.journey.touchpoint_ids
        assert item["persona"] in sample_study.journey.persona_ids
    tps = set(sample_study.journey.touchpoint_ids)
    for key in ("no_effect_touchpoints", "drivers", "non_drivers"):
        assert isinstance(truth[key], list) and truth[key] and set(truth[key]) <= tps, key
    assert not set(truth["drivers"]) & set(truth["non_drivers"])
    assert 0 < truth["bot_share"] < 0.5
    assert sample_study.truth == truth


def test_bot_share_is_the_share_of_bot_rows(sample_dir):
    truth = json.loads((sample_dir / "truth.json").read_text(encoding="utf-8"))
    events = pd.read_csv(sample_dir / "traces" / "events.csv.gz", dtype=str)
    assert len(events) == truth["events"]["n_rows"]
    assert truth["bot_share"] == pytest.approx(
        truth["events"]["n_bot_rows"] / len(events), abs=1e-6
    )
    assert truth["bot_share"] == pytest.approx(sample.SAMPLE_DEFAULTS["bot_share"], abs=0.002)
    # at least the user-agent bots are plainly visible in the raw log
    ua_bots = events["user_agent"].str.contains("bot|python-requests|Headless", case=False).mean()
    assert 0.3 * truth["bot_share"] < ua_bots <= truth["bot_share"]


def test_persona_rules_recover_the_generator_personas(sample_study):
    """The rules in study.yml give every simulated customer the persona the generator drew."""
    customers = sample._customers(np.random.default_rng(123), 3000)
    got = assign_personas(customers, sample_study.journey.persona_assignment)
    assert (got.to_numpy() == customers["_persona"].to_numpy()).all()


def test_margins_match_the_customer_base(sample_study):
    """Margins were written from the generator's true personas; the rules applied to the CRM file
    give the same shares (to the 4 decimals written)."""
    shares = sample_study.customers["persona"].value_counts(normalize=True)
    for persona, share in sample_study.margins["persona"].items():
        assert shares[persona] == pytest.approx(share, abs=1.5e-4)


def test_planted_friction_is_visible_in_raw_means(sample_study):
    r = sample_study.responses
    col = "sat_id_verification"
    senior = r.loc[r["persona"] == "senior", col].mean()
    others = r.loc[r["persona"] != "senior", col].mean()
    assert others - senior > 0.8
    # and only there: elsewhere seniors rate like the others
    gaps = r.groupby(r["persona"] == "senior")[
        [c for c in r.columns if c.startswith("sat_")]
    ].mean()
    gap = gaps.loc[False] - gaps.loc[True]
    assert gap.drop(col).abs().max() < 0.4


def test_no_effect_touchpoint_is_rated_at_its_target(sample_study):
    tp = "loyalty_sms"
    target = sample_study.journey.touchpoint(tp).target_satisfaction
    means = sample_study.responses.groupby("persona")[f"sat_{tp}"].mean()
    assert (means - target).abs().max() < 0.35
    assert target == pytest.approx(sample.expected_rating(sample.MU), abs=0.01)


def test_expected_rating_closed_form():
    """E[clip(round(mu + sd Z), 1, 5)] by simulation (an independent check of the closed form)."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal(400_000)
    sd = float(np.hypot(sample.MOOD_SD, sample.NOISE_SD))
    for mu in (2.5, 4.0, 4.6):
        sim = np.clip(np.round(mu + sd * z), 1, 5).mean()
        assert sample.expected_rating(mu) == pytest.approx(sim, abs=0.01)


def test_expected_rating_matches_simulation():
    """The closed form behind the sample's targets (E[clip(round(mu + sd Z), 1, 5)]) against a
    large Monte Carlo draw (independent of the formula)."""
    import numpy as np

    from parcours_research.sample import expected_rating

    rng = np.random.default_rng(123)
    z = rng.standard_normal(2_000_000)
    for mu, sd in [(4.0, 1.0), (3.1, 0.7), (4.6, 1.3), (1.2, 0.5)]:
        mc = np.clip(np.round(mu + sd * z), 1, 5).mean()
        # Monte Carlo standard error is below sd / sqrt(n) ~ 0.001
        assert abs(expected_rating(mu, sd) - mc) < 0.004, (mu, sd)
