"""Write the labelled privacy corpus: tests/data/privacy/corpus.jsonl.

Sentences written like interview excerpts and free-text survey answers, in French and English,
with personal data planted by Faker's ``fr_FR`` and ``en_GB`` providers (names, e-mails,
phones, IBANs, NIRs, card numbers, SIRETs, postal addresses) and sentences with none (with
dates, amounts, references, product and place names that must be left alone). Every planted
value is recorded as a span ``{start, end, entity}``.

Run (needs ``pip install faker``; the corpus is committed, so tests do not need Faker)::

    python benchmarks/privacy_corpus.py            # seed 16, 360 sentences
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "privacy" / "corpus.jsonl"

FR = [
    "Ma conseillère {NAME} m'a rappelée le lendemain, très professionnelle.",
    "Je suis {NAME}, cliente depuis 2012, et je n'ai jamais eu de souci avant.",
    "J'ai eu {NAME} au téléphone, il a tout réglé en dix minutes.",
    "{NAME} à l'agence m'a expliqué le contrat ligne par ligne.",
    "Franchement, {NAME} a été top, rien à redire.",
    "Le conseiller {NAME} ne m'a jamais rappelé malgré trois messages.",
    "Mon mari {NAME} s'occupe des papiers, moi je n'y comprends rien.",
    "Vous pouvez me joindre au {PHONE} après 18h.",
    "Rappelez-moi au {PHONE}, c'est mon portable.",
    "Mon numéro a changé, c'est le {PHONE} maintenant.",
    "Écrivez-moi à {EMAIL}, je ne lis plus l'ancienne adresse.",
    "J'ai envoyé les pièces depuis {EMAIL} et personne n'a répondu.",
    "Mon adresse mail est {EMAIL} si besoin.",
    "Ils m'ont demandé mon IBAN, je l'ai tapé deux fois : {IBAN}.",
    "Le prélèvement devait partir sur {IBAN} mais il a été rejeté.",
    "J'ai dû recopier mon RIB {IBAN} dans l'appli, c'est pénible.",
    "On m'a demandé mon numéro de sécu, {NIR}, par téléphone, ça m'a gênée.",
    "Mon numéro de sécurité sociale {NIR} était mal saisi sur le dossier.",
    "J'ai payé avec la carte {CARD} et le paiement a été refusé.",
    "Ma carte {CARD} a été débitée deux fois.",
    "Le courrier est parti au {ADDRESS} alors que j'ai déménagé.",
    "J'habite {ADDRESS}, l'expert n'a jamais trouvé la maison.",
    "Mon ancienne adresse, {ADDRESS}, est encore sur les factures.",
    "Pour l'entreprise, le SIRET {SIRET} n'était pas reconnu par le formulaire.",
    "Je suis {NAME} et j'appelle pour le sinistre, vous pouvez me rappeler au {PHONE} ?",
    "Bonjour, {NAME} ({EMAIL}), je n'ai toujours pas reçu l'attestation.",
    "Mme {NAME_LAST} m'a dit que le dossier était complet.",
    "Monsieur {NAME_LAST} a été d'une grande patience.",
    "C'est ma fille {NAME_FIRST} qui m'a installé l'application.",
    "Mon interlocutrice, {NAME}, ne connaissait pas le produit.",
    "Signé : {NAME}, {ADDRESS}.",
]
FR_CLEAN = [
    "L'application plante quand je scanne mon passeport.",
    "Le devis en ligne était clair, j'ai signé le 12.03.2024 à 14h30.",
    "On m'a remboursé 1 250 euros au bout de trois semaines.",
    "Le simulateur de devis est bien fait mais trop long.",
    "J'ai attendu 45 minutes au téléphone avant d'avoir quelqu'un.",
    "L'agence de Lyon est fermée le samedi, c'est dommage.",
    "Dossier n° 123456, toujours en attente depuis mars.",
    "Le SMS de fidélité arrive toujours au mauvais moment.",
    "Version 2.4.1 de l'appli : la photo de la pièce d'identité ne passe pas.",
    "Crédit Agricole ou Caisse d'Épargne, c'est pareil pour moi.",
    "En 2023, j'ai déclaré deux sinistres et tout s'est bien passé.",
    "La vérification d'identité m'a pris une heure, j'ai failli abandonner.",
    "Le conseiller était aimable mais ne connaissait pas les garanties.",
    "Je recommande, surtout pour le prix : 32,50 € par mois.",
    "Le code postal 75011 n'était pas accepté par le formulaire.",
    "Trop de mails, je me suis désabonnée de la newsletter.",
    "Service client injoignable le vendredi après-midi.",
    "J'ai comparé avec trois autres assureurs sur Internet avant de choisir.",
    "La Banque Postale m'a proposé moins cher, mais je suis restée.",
    "Paris, Marseille, Bordeaux : partout la même attente en agence.",
    # capitalised words that are not people (sentence starts, products, brands, places)
    "Page produit : rien de particulier à dire.",
    "Vérification d'identité : c'est un vrai parcours du combattant.",
    "Honnêtement, Service client téléphonique, c'était catastrophique.",
    "Mon conseiller Orange m'a conseillé de passer par l'agence.",
    "Je suis Parisienne et l'agence du Marais est toujours pleine.",
    "Déclaration de sinistre faite sur l'Appli Mobile en cinq minutes.",
    "Le Pass Navigo n'était pas accepté comme justificatif.",
    "Assurance Habitation Essentielle : trop chère pour ce qu'elle couvre.",
]
EN = [
    "My adviser {NAME} called me back the next morning.",
    "I'm {NAME}, I've been a customer since 2015.",
    "I spoke to {NAME} on the phone and she sorted it out.",
    "{NAME} at the branch walked me through the whole policy.",
    "Honestly, {NAME} was brilliant from start to finish.",
    "My husband {NAME} handles the paperwork.",
    "You can reach me on {PHONE} after six.",
    "Please call me back on {PHONE}, that's my mobile.",
    "My new number is {PHONE}.",
    "Email me at {EMAIL}, I no longer use the old address.",
    "I sent the documents from {EMAIL} and nobody replied.",
    "They asked for my IBAN and I typed it twice: {IBAN}.",
    "The direct debit to {IBAN} bounced.",
    "I paid with card {CARD} and it was declined.",
    "My card {CARD} was charged twice.",
    "The letter went to {ADDRESS} although I moved last year.",
    "I live at {ADDRESS} and the assessor could not find the house.",
    "Hi, this is {NAME} ({EMAIL}), I still have not received my certificate.",
    "Mrs {NAME_LAST} told me the claim was complete.",
    "Mr {NAME_LAST} was extremely patient with me.",
    "My daughter {NAME_FIRST} set up the app for me.",
    "Regards, {NAME}, {ADDRESS}.",
    "My name is {NAME} and you can call me on {PHONE}.",
]
EN_CLEAN = [
    "The app crashes when I scan my passport.",
    "The online quote was clear, I signed on 12/03/2024.",
    "I was refunded 1,250 pounds after three weeks.",
    "I waited 45 minutes on the phone before anyone answered.",
    "The Leeds branch is closed on Saturdays, which is a shame.",
    "Reference 123456, still pending since March.",
    "The loyalty text always arrives at the wrong time.",
    "Version 2.4.1 of the app: the ID photo upload fails.",
    "I compared three other insurers online before choosing.",
    "Too many emails, I unsubscribed from the newsletter.",
    "Customer service is unreachable on Friday afternoons.",
    "Great price: 32.50 a month for the full cover.",
    "The identity check took an hour and I nearly gave up.",
    "London or Manchester, the branches are just as slow.",
    "Product page: nothing special to say.",
    "Identity check: a real obstacle course.",
    "My adviser at Lloyds told me to go to the branch.",
    "I am Scottish and the Glasgow branch is always full.",
    "Claims Online worked fine on the Mobile App.",
    "Home Insurance Plus is too expensive for what it covers.",
]


def _iban(fake, rng) -> str:
    raw = fake.iban()
    if rng.random() < 0.6:  # as people write it: groups of four
        return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))
    return raw


def _nir(fake, rng) -> str:
    raw = fake.ssn()
    if rng.random() < 0.5:
        return f"{raw[0]} {raw[1:3]} {raw[3:5]} {raw[5:7]} {raw[7:10]} {raw[10:13]} {raw[13:]}"
    return raw


def _card(fake, rng) -> str:
    raw = fake.credit_card_number()
    if rng.random() < 0.5 and len(raw) == 16:
        return " ".join(raw[i : i + 4] for i in range(0, 16, 4))
    return raw


def _address(fake, rng, lang) -> str:
    if lang == "fr":
        street = fake.street_address()
        return street if rng.random() < 0.4 else f"{street}, {fake.postcode()} {fake.city()}"
    street = fake.street_address().replace("\n", ", ")
    return street if rng.random() < 0.4 else f"{street}, {fake.city()}, {fake.postcode()}"


def _value(kind: str, fake, rng, lang: str) -> tuple[str, str]:
    if kind == "NAME":
        return "NAME", f"{fake.first_name()} {fake.last_name()}"
    if kind == "NAME_FIRST":
        return "NAME", fake.first_name()
    if kind == "NAME_LAST":
        return "NAME", fake.last_name()
    if kind == "EMAIL":
        return "EMAIL", fake.email()
    if kind == "PHONE":
        return "PHONE", fake.phone_number()
    if kind == "IBAN":
        return "IBAN", _iban(fake, rng)
    if kind == "NIR":
        return "NIR", _nir(fake, rng)
    if kind == "CARD":
        return "CARD", _card(fake, rng)
    if kind == "SIRET":
        return "SIRET", fake.siret()
    if kind == "ADDRESS":
        return "ADDRESS", _address(fake, rng, lang)
    raise ValueError(kind)


def fill(template: str, fake, rng, lang: str) -> dict:
    """One sentence from a template, with the spans of what was planted."""
    text, spans, pos = "", [], 0
    for m in re.finditer(r"\{([A-Z_]+)\}", template):
        text += template[pos : m.start()]
        entity, value = _value(m.group(1), fake, rng, lang)
        spans.append({"start": len(text), "end": len(text) + len(value), "entity": entity})
        text += value
        pos = m.end()
    text += template[pos:]
    return {"language": lang, "text": text, "spans": spans}


def build(seed: int = 16, n: int = 360) -> list[dict]:
    from faker import Faker

    rng = random.Random(seed)
    fakes = {"fr": Faker("fr_FR"), "en": Faker("en_GB")}
    for i, f in enumerate(fakes.values()):
        f.seed_instance(seed + i)
    records = []
    for i in range(n):
        lang = "fr" if i % 5 < 3 else "en"  # 60 % French, as in the kit's studies
        clean = rng.random() < 0.3
        pool = {"fr": (FR, FR_CLEAN), "en": (EN, EN_CLEAN)}[lang][1 if clean else 0]
        rec = fill(rng.choice(pool), fakes[lang], rng, lang)
        records.append({"id": f"s{i:04d}", **rec})
    return records


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("-n", type=int, default=360)
    p.add_argument("-o", "--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    records = build(args.seed, args.n)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    n_spans = sum(len(r["spans"]) for r in records)
    print(f"{len(records)} sentences, {n_spans} planted values -> {args.out}")


if __name__ == "__main__":
    main()
