"""Scrubbing names, e-mails and phone numbers; pseudonymising ids with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parcours_research.errors import StudyError
from parcours_research.privacy import Scrubber, make_salt, pseudonymise, scrub, scrub_frame


# ------------------------------------------------------------------------------- e-mails
@pytest.mark.parametrize(
    "email",
    [
        "claire.dubois@example.fr",
        "j.p-martin+cx@sub.mail.example.co.uk",
        "X_Y@gmail.com",
        "hélène@exemple.fr",
    ],
)
def test_emails(email):
    assert scrub(f"Écrivez-moi à {email}, merci.") == "Écrivez-moi à [EMAIL], merci."


# ------------------------------------------------------------------------------- phones
@pytest.mark.parametrize(
    "phone",
    [
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "0612345678",
        "01 23 45 67 89",
        "01.23.45.67.89",
        "09\u00a012\u00a034\u00a056\u00a078",
        "+33 6 12 34 56 78",
        "+33612345678",
        "+33 (0)6 12 34 56 78",
        "0033 6 12 34 56 78",
        "+33 1 23 45 67 89",
        "+44 20 7946 0958",
        "+1 (555) 123-4567",
        "+49 30 12345678",
        "0044 20 7946 0958",
        "(555) 123-4567",
        "555-123-4567",
    ],
)
def test_phones(phone):
    assert scrub(f"Mon numéro : {phone}.") == "Mon numéro : [PHONE]."


@pytest.mark.parametrize(
    "text",
    [
        "Le 12.03.2024 à 14h30.",
        "Un prêt de 1 250 000 euros.",
        "En 2023, 45 % des clients.",
        "Code postal 75011, dossier n° 123456.",
        "Version 1.2.3 de l'appli.",
        "Il a 67 ans.",
        "Référence 2024-03-12.",
    ],
)
def test_not_phones(text):
    assert scrub(text) == text


# ------------------------------------------------------------------------------- names
def test_known_names_and_parts():
    s = Scrubber(names=["Marie Dubois", "Jean-Pierre Le Gall"])
    assert s("Marie Dubois a appelé.") == "[NAME] a appelé."
    assert s("Marie a appelé, puis madame DUBOIS.") == "[NAME] a appelé, puis madame [NAME]."
    assert s("Jean-Pierre Le Gall et Jean-Pierre.") == "[NAME] et [NAME]."
    # whole words only, so "Mariette" and "Marielle" stay
    assert s("Mariette et Marielle") == "Mariette et Marielle"


def test_names_without_accents_match():
    s = Scrubber(names=["Héloïse Bénard"])
    assert s("heloise et BENARD, puis Héloïse") == "[NAME] et [NAME], puis [NAME]"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mon conseiller, M. Martin, m'a rappelée.", "Mon conseiller, M. [NAME], m'a rappelée."),
        ("J'ai vu Mme Lefèvre hier.", "J'ai vu Mme [NAME] hier."),
        ("Madame Nguyen-Tran était là.", "Madame [NAME] était là."),
        ("Je m'appelle Jeanne Leroy et j'ai 70 ans.", "Je m'appelle [NAME] et j'ai 70 ans."),
        ("je m’appelle Paul.", "je m’appelle [NAME]."),
        ("Moi c'est Karim, client depuis 2010.", "Moi c'est [NAME], client depuis 2010."),
        ("Hi, my name is John Smith.", "Hi, my name is [NAME]."),
        ("Dr Durand m'a conseillé.", "Dr [NAME] m'a conseillé."),
        ("Mr. O'Brien called.", "Mr. [NAME] called."),
    ],
)
def test_name_heuristics(text, expected):
    assert scrub(text) == expected


def test_heuristics_leave_ordinary_text():
    text = "Je m'appelle souvent le service client. Madame, monsieur : merci. M. le directeur."
    assert scrub(text) == text


def test_everything_together():
    text = (
        "Bonjour, je m'appelle Claire Dubois, écrivez à claire.dubois@example.fr "
        "ou au +33 6 12 34 56 78. M. Martin n'a jamais rappelé Claire."
    )
    assert scrub(text, names=["Claire Dubois"]) == (
        "Bonjour, je m'appelle [NAME], écrivez à [EMAIL] ou au [PHONE]. M. [NAME] n'a jamais rappelé [NAME]."
    )


def test_series_list_and_missing():
    s = pd.Series(["appelez le 0612345678", None, "rien"], index=[10, 11, 12], dtype="string")
    out = scrub(s)
    assert out.index.tolist() == [10, 11, 12]
    assert out.iloc[0] == "appelez le [PHONE]" and pd.isna(out.iloc[1]) and out.iloc[2] == "rien"
    assert scrub(["a@b.fr", "x"]) == ["[EMAIL]", "x"]
    assert scrub(None) is None


def test_scrub_frame():
    df = pd.DataFrame({"text": ["Mme Durand, 06 12 34 56 78"], "note": ["a@b.fr"], "n": [1]})
    out = scrub_frame(df, ["text", "note"])
    assert out.loc[0, "text"] == "Mme [NAME], [PHONE]" and out.loc[0, "note"] == "[EMAIL]"
    assert df.loc[0, "note"] == "a@b.fr"  # the input is not modified
    with pytest.raises(StudyError, match="not in the data"):
        scrub_frame(df, ["comment"])


def _french_number(draw):
    digits = [draw(st.integers(1, 9))] + [draw(st.integers(0, 9)) for _ in range(8)]
    sep = draw(st.sampled_from(["", " ", ".", "-"]))
    national = (
        "0"
        + str(digits[0])
        + "".join((sep + "".join(map(str, digits[i : i + 2]))) for i in range(1, 9, 2))
    )
    intl = (
        draw(st.sampled_from(["+33", "0033", "+33 "]))
        + str(digits[0])
        + "".join((sep + "".join(map(str, digits[i : i + 2]))) for i in range(1, 9, 2))
    )
    return draw(st.sampled_from([national, intl]))


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    before=st.sampled_from(["Appelez le ", "tel: ", "(", "Numéro ", ""]),
    after=st.sampled_from([".", ", merci", ")", "", " ou par mail."]),
)
def test_any_french_number_is_scrubbed(data, before, after):
    number = _french_number(data.draw)
    out = scrub(before + number + after)
    assert out == before + "[PHONE]" + after


words = st.sampled_from(
    [
        "bonjour",
        "Marie",
        "06 12 34 56 78",
        "a.b@c.fr",
        "Mme Durand",
        "le",
        "2024",
        "M. Martin",
        "je m'appelle Paul",
        "+44 20 7946 0958",
        "Dubois",
        "!",
        "1 250",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(words, max_size=12))
def test_scrub_is_idempotent_and_removes_listed_names(parts):
    text = " ".join(parts)
    s = Scrubber(names=["Marie Dubois"])
    once = s(text)
    assert s(once) == once
    assert "Marie" not in once and "Dubois" not in once and "@" not in once and "06 12" not in once


# ------------------------------------------------------------------------------- pseudonyms
def test_pseudonymise_matches_rfc4231():
    # RFC 4231, test case 2: HMAC-SHA-256 with key "Jefe"
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert pseudonymise("what do ya want for nothing?", "Jefe", length=64, prefix="") == expected


def test_pseudonymise_types_and_stability():
    ids = pd.Series(["P01", None, "P02", "P01"], index=list("abcd"), name="participant")
    out = pseudonymise(ids, "study-salt")
    assert out.index.tolist() == list("abcd") and out.name == "participant"
    assert out["a"] == out["d"] != out["c"] and pd.isna(out["b"])
    assert out["a"].startswith("P-") and len(out["a"]) == 2 + 12
    assert pseudonymise("P01", "study-salt") == out["a"]
    assert pseudonymise(["P01"], "study-salt") == [out["a"]]
    assert pseudonymise("P01", b"study-salt") == out["a"]
    assert pseudonymise("P01", "other-salt") != out["a"]
    assert pseudonymise(1, "s") == pseudonymise("1", "s")
    idx = pseudonymise(pd.Index(["P01"], name="p"), "study-salt")
    assert idx.name == "p" and idx[0] == out["a"]
    # reference computed with the standard library
    ref = hmac.new(b"study-salt", b"P01", hashlib.sha256).hexdigest()[:12]
    assert out["a"] == "P-" + ref


@pytest.mark.parametrize("salt", [None, "", b""])
def test_pseudonymise_needs_a_salt(salt):
    with pytest.raises(StudyError, match="study-specific salt"):
        pseudonymise("P01", salt)


def test_pseudonymise_length_checked():
    with pytest.raises(StudyError, match="from 8 to 64"):
        pseudonymise("P01", "s", length=4)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=50, unique=True),
    st.text(min_size=1),
)
def test_pseudonyms_are_distinct_and_stable(ids, salt):
    a = pseudonymise(ids, salt, length=16)
    assert len(set(a)) == len(ids)
    assert pseudonymise(ids, salt, length=16) == a


def test_make_salt():
    a, b = make_salt(), make_salt()
    assert a != b and len(a) == 32
