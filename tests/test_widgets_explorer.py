"""The journey explorer driven through its widget state and observers (no browser)."""

from __future__ import annotations

import html

import pytest

from parcours_research.ratings import RatingLog
from parcours_research.widgets import JourneyExplorer


@pytest.fixture(scope="module")
def explorer(sample_study, tmp_path_factory):
    path = tmp_path_factory.mktemp("workshop") / "ratings.sqlite"
    log = RatingLog(path, journey=sample_study.journey)
    for i, (persona, score) in enumerate([("senior", 1), ("senior", 2), ("connecte", 5), ("connecte", 4)]):
        log.add(f"P{i}", "id_verification", score, persona=persona)
        log.add(f"P{i}", "claim", 4, persona=persona)
    return JourneyExplorer(sample_study, ratings_path=path, n_boot=50, seed=0, live=False)


def test_starts_with_every_persona_and_a_curve(explorer, sample_study):
    assert explorer.personas.value == tuple(sample_study.journey.persona_ids)
    assert explorer.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(explorer.selection()["persona"]) == set(sample_study.journey.persona_ids)


def test_selecting_a_persona_updates_curve_caption_and_table(explorer, sample_study):
    before = explorer.image.value
    explorer.personas.value = ("senior",)  # the observer redraws
    try:
        assert "data-personas='senior'" in explorer.caption.value
        assert explorer.image.value != before
        assert set(explorer.selection()["persona"]) == {"senior"}
        # the planted friction of this persona, by its label, with readable p-values
        assert "Vérification d'identité" in html.unescape(explorer.friction.value)
        assert "e-" not in explorer.friction.value
        explorer.personas.value = ("connecte",)
        assert "Vérification d'identité" not in html.unescape(explorer.friction.value)
    finally:
        explorer.personas.value = tuple(sample_study.journey.persona_ids)


def test_stage_filter_keeps_only_its_touchpoints(explorer, sample_study):
    explorer.stage.value = "integrer"
    try:
        stage_tps = {t.id for t in sample_study.journey.touchpoints if t.stage == "integrer"}
        assert set(explorer.selection()["touchpoint"]) == stage_tps
    finally:
        explorer.stage.value = ""


def test_weighting_switch_changes_the_estimates(explorer):
    weighted = explorer.curves().set_index(["persona", "touchpoint"])["estimate"]
    explorer.weighted.value = False
    try:
        unweighted = explorer.curves().set_index(["persona", "touchpoint"])["estimate"]
        assert not weighted.equals(unweighted)
        # within one persona the raking weights still vary (region margins), but only a little
        assert (weighted - unweighted).abs().max() < 0.5
    finally:
        explorer.weighted.value = True


def test_interviews_and_workshop_sources(explorer):
    explorer.source.value = "interviews"
    try:
        t = explorer.curves()
        assert {"persona", "touchpoint", "estimate"} <= set(t.columns)
        assert "Entretiens" in explorer.caption.value
        explorer.source.value = "workshop"
        w = explorer.curves().set_index(["persona", "touchpoint"])
        assert w.loc[("senior", "id_verification"), "estimate"] == pytest.approx(1.5)
        assert w.loc[("connecte", "id_verification"), "estimate"] == pytest.approx(4.5)
        # a rating by another participant shows at the next poll (live=False: poll by hand)
        RatingLog(explorer.ratings_path).add("P9", "id_verification", 3, persona="senior")
        assert explorer.poller.check()
        w = explorer.curves().set_index(["persona", "touchpoint"])
        assert w.loc[("senior", "id_verification"), "estimate"] == pytest.approx(2.0)
    finally:
        explorer.source.value = "survey"


def test_quotes_are_scrubbed_and_follow_the_touchpoint(explorer):
    explorer.quote_touchpoint.value = "id_verification"
    text = explorer.quotes.value
    assert "<blockquote>" in text
    assert "@" not in text and "06 12 34 56 78" not in text
