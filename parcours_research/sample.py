"""The seeded synthetic sample study, with planted and documented effects.

``make_sample(out, seed=0)`` (or ``parcours sample OUT --seed 0``) writes a complete study folder:

- ``study.yml``: the six-stage lifecycle journey, 16 touchpoints, four personas assigned by
  declarative rules over profile answers, targets, population margins, traces and qual sections;
- ``crm/customers.csv``: the customer base (profile answers; the real persona and region mix);
- ``survey/responses.csv``: answers to the standard touchpoint questionnaire by customers who
  also appear in the event log; the sample over-represents some personas, so weighting matters;
- ``traces/events.csv.gz`` and ``traces/identity.csv``: a raw web/app event log with bots (by
  user agent and by behaviour), exact and near duplicates, events outside the study period,
  unparseable timestamps, customers on several devices and a few shared devices;
- ``qual/excerpts.csv``: coded interview excerpts with emotion valence, partly double-coded,
  holding some names, e-mail addresses and phone numbers (to test scrubbing);
- ``truth.json``: what was planted, for tests and notebooks to check against.

Planted effects (keys of ``truth.json``): friction points, each for one persona only
(``friction``, with details in ``frictions``: lower satisfaction, more drop-off at the
touchpoint's trace step, negative interview excerpts), a touchpoint with no effect at all
(``no_effect_touchpoints``, rated exactly at its target for every persona), drivers of overall
satisfaction that matter (``drivers``) and ones that do not (``non_drivers``), and the exact
share of bot events (``bot_share``). They are drawn from the seed (:func:`draw_effects`,
:data:`DRAW_RULES`); seed 0, the bundled sample's, plants the bundled configuration:
``id_verification`` for ``senior`` (between ``kyc_upload`` and ``kyc_done``), ``loyalty_sms``
without effect, ``claim`` and ``app_usage`` as drivers, 8% bots. ``friction=`` fixes the
frictions (``--friction TOUCHPOINT:PERSONA[:SIZE]``), ``effects="null"`` plants none
(``--null``), and ``from_study=`` simulates a researcher's own study.yml instead
(:mod:`parcours_research._simulate_study`). The same seed gives the same files, byte for byte.

The seeds' effects (:mod:`parcours_research._seed_plants`) each have their own truth.json key:
``to_be_deviation`` (:mod:`parcours_research._plant_to_be`: a share of one persona's customers
repeats a designed step of the journey drawn under ``to_be:``, and is less satisfied overall;
bundled: ``explorateur`` runs the ``simulator`` again, 40%, -0.8 rating points);
``undeclared_moment_of_truth`` (:mod:`parcours_research._plant_moments`: for one persona, a
touchpoint study.yml does not declare a moment of truth drives overall satisfaction, and so
NPS, with ``coefficient`` rating points per latent rating point; bundled: ``billing`` for
``prudent``, 0.65);
``churn_effect`` (:mod:`parcours_research._plant_outcomes`: every customer gets ``churned`` (0/1)
and ``revenue`` in ``crm/customers.csv``, declared under ``outcomes:``; the customers of one
persona who started one touchpoint's trace step without completing it churn ``difference``
more, 0.20 at a drawn friction, 0.35 at the identity check's ordinary failures; bundled:
``id_verification`` for ``senior``, 0.20; study.yml also gets ``plan: costs:``);
``contact_pressure`` (:mod:`parcours_research._plant_contacts`: every customer receives 0 to 8
contacts on one channel, after their identity check (before their journey when they stop
earlier), written as events of the channel's touchpoint (optional and repeatable in ``to_be:``,
so no deviation); above ``threshold``
contacts, one persona's latent overall satisfaction drops by ``sat_shift``; bundled: ``sms``
(``loyalty_sms``'s ``sms_click``) for ``connecte``, above 4 contacts, -1.2 rating points; the
touchpoint ratings are untouched). Every sample's touchpoints also name their ``purpose:``
(labels under ``purposes:``), planted or not.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.stats import norm

from . import _plant_contacts, _plant_to_be
from ._seed_plants import Plants, draw_plants
from .errors import StudyError

__all__ = ["make_sample", "SAMPLE_DEFAULTS", "expected_rating", "draw_effects", "parse_friction", "Friction", "Effects"]

SAMPLE_DEFAULTS = {"n_customers": 2000, "n_prospects": 1200, "n_respondents": 800, "n_participants": 24,
                   "days": 84, "bot_share": 0.08}

PERSONAS = [
    ("connecte", "Connecté pressé", "Busy digital", "Gère tout depuis son téléphone, veut aller vite."),
    ("prudent", "Prudent", "Cautious", "Compare, lit tout, utilise plusieurs canaux avant de s'engager."),
    ("senior", "Senior attentif", "Attentive senior", "55 ans et plus, préfère le contact humain et le papier."),
    ("explorateur", "Explorateur", "Explorer", "Nouveau client, compare les prix et teste les offres."),
]
POP_PERSONA = {"connecte": 0.35, "prudent": 0.30, "senior": 0.20, "explorateur": 0.15}
RESPONSE_PROPENSITY = {"connecte": 1.6, "prudent": 1.0, "senior": 0.55, "explorateur": 1.0}
REGIONS = {"idf": 0.22, "north": 0.18, "south": 0.25, "west": 0.20, "east": 0.15}

# id, fr, en, stage, channel, moment of truth, events, P(experienced), mu offset.
# The offsets give the curve some relief but sum to zero (and their coverage-weighted mean is
# ~0.004), so that the no-effect touchpoint (offset 0) sits at the journey's own level too.
TOUCHPOINTS = [
    ("social_ad", "Publicité réseaux sociaux", "Social media ad", "sensibiliser", "social", False, ["ad_click"], 0.80, 0.0),
    ("website_visit", "Visite du site", "Website visit", "sensibiliser", "web", False, ["home_view"], 0.95, 0.1),
    ("product_page", "Page produit", "Product page", "acquerir", "web", False, ["product_view"], 0.95, 0.05),
    ("simulator", "Simulateur de devis", "Quote simulator", "acquerir", "web", False, ["quote_start", "quote_done"], 0.85, -0.1),
    ("store_advice", "Conseil en agence", "In-branch advice", "acquerir", "store", False, [], 0.40, 0.0),
    ("signup", "Souscription en ligne", "Online sign-up", "acquerir", "web", True, ["signup_start", "signup_done"], 0.97, 0.0),
    ("welcome_email", "E-mail de bienvenue", "Welcome e-mail", "integrer", "email", False, ["email_open"], 0.85, 0.05),
    ("app_onboarding", "Premiers pas dans l'appli", "App onboarding", "integrer", "app", False, ["app_first_login"], 0.85, -0.05),
    ("id_verification", "Vérification d'identité", "Identity check", "integrer", "web", True, ["kyc_upload", "kyc_done"], 0.95, 0.0),
    ("app_usage", "Usage de l'appli", "App use", "engager", "app", False, ["app_session"], 0.85, 0.1),
    ("call_centre", "Service client téléphonique", "Call centre", "engager", "call_centre", False, [], 0.50, -0.1),
    ("billing", "Facturation", "Billing", "engager", "email", False, ["invoice_view"], 0.90, -0.05),
    ("claim", "Déclaration de sinistre", "Claim handling", "fideliser", "web", True, ["claim_start", "claim_done"], 0.75, 0.0),
    ("loyalty_sms", "SMS de fidélité", "Loyalty SMS", "fideliser", "sms", False, ["sms_click"], 0.85, 0.0),
    ("review", "Avis en ligne", "Online review", "promouvoir", "web", False, ["review_post"], 0.45, 0.05),
    ("referral", "Parrainage", "Referral", "promouvoir", "email", False, ["referral_sent"], 0.35, -0.05),
]
STAGE_TARGET_CONVERSION = {"sensibiliser": 0.45, "acquerir": 0.35, "integrer": 0.85, "engager": 0.8,
                           "fideliser": 0.6, "promouvoir": 0.25}
FRICTION = {"touchpoint": "id_verification", "persona": "senior", "satisfaction_shift": -1.5,
            "trace_step": ["kyc_upload", "kyc_done"], "completion_others": 0.92, "completion_persona": 0.60,
            "negative_excerpt_share_persona": 0.85}
NO_EFFECT = ["loyalty_sms"]
DRIVERS = {"claim": 0.55, "app_usage": 0.45}
NON_DRIVERS = ["social_ad", "loyalty_sms"]
#: The seed of the bundled sample (``data/sample``): its draw is the bundled configuration above.
BUNDLED_SEED = 0
#: The random stream of the interviews (``default_rng([seed, QUAL_STREAM])``).
QUAL_STREAM = 1900
#: Size of the bundled friction: the drop of the persona's mean latent rating, in rating points.
DEFAULT_SIZE = 1.5
#: Touchpoints with a step in the event log (a start and an end event, or the end of a funnel
#: step): a friction there also lowers the step's completion for the persona. Value: the
#: step (start, end) and the completion of the other personas.
TRACE_STEPS = {"product_page": (("home_view", "product_view"), 1.0),
               "simulator": (("quote_start", "quote_done"), 1.0),
               "signup": (("signup_start", "signup_done"), 1.0),
               "id_verification": (("kyc_upload", "kyc_done"), 0.92),
               "claim": (("claim_start", "claim_done"), 1.0)}
#: Where drawn frictions go: the trace steps every customer goes through (a claim is rarer: its
#: step has too few users for a friction to be found reliably, so it is planted only on request).
DRAW_TOUCHPOINTS = ("product_page", "simulator", "signup", "id_verification")
CES_TOUCHPOINT = "id_verification"  # the effort score follows this touchpoint's experience
EFFECTS = ("seed", "bundled", "null")
_BASE_VALENCE = [0.07, 0.15, 0.28, 0.32, 0.18]  # P(valence = -2..2) of an ordinary excerpt
_FRICTION_VALENCE = [0.55, 0.3, 0.15, 0.0, 0.0]  # ... of an excerpt on a friction (bundled size)


@dataclass(frozen=True)
class Friction:
    """A planted friction point: ``persona`` rates ``touchpoint`` ``size`` points lower (latent
    rating), completes its trace step less often and tells of it more negatively."""

    touchpoint: str
    persona: str
    size: float = DEFAULT_SIZE

    @property
    def weight(self) -> float:
        """Strength relative to the bundled friction (1.0 at ``DEFAULT_SIZE``)."""
        return self.size / DEFAULT_SIZE

    def details(self) -> dict:
        """What is planted in each source (the ``truth.json`` record)."""
        step, others = TRACE_STEPS.get(self.touchpoint, (None, None))
        lam = min(self.weight, 1.0)
        d = {"touchpoint": self.touchpoint, "persona": self.persona, "satisfaction_shift": -self.size,
             "trace_step": list(step) if step else None, "completion_others": others,
             "completion_persona": round(max(others - 0.32 * self.weight, 0.05), 4) if step else None,
             "negative_excerpt_share_persona": round(0.22 + 0.63 * lam, 4)}
        d["size"] = self.size
        d["sources"] = (["traces"] if step else []) + ["survey", "qual"]
        return d


@dataclass(frozen=True)
class Effects:
    """Every planted effect of a sample study (``truth.json`` documents them)."""

    frictions: tuple = ()
    drivers: tuple = tuple(DRIVERS.items())  # (touchpoint, coefficient) pairs
    non_drivers: tuple = tuple(NON_DRIVERS)
    no_effect: tuple = tuple(NO_EFFECT)
    bot_share: float = SAMPLE_DEFAULTS["bot_share"]
    origin: str = "bundled"  # bundled, drawn, fixed (frictions given) or null

    def friction_at(self, touchpoint: str) -> dict[str, Friction]:
        """The frictions planted at ``touchpoint``, by persona."""
        return {f.persona: f for f in self.frictions if f.touchpoint == touchpoint}

    def completion(self, touchpoint: str, persona: str) -> float:
        """Probability that a customer of ``persona`` completes the trace step of ``touchpoint``."""
        f = self.friction_at(touchpoint).get(persona)
        if f is None:
            return TRACE_STEPS[touchpoint][1]
        return f.details()["completion_persona"]


BUNDLED = Effects(frictions=(Friction(FRICTION["touchpoint"], FRICTION["persona"]),))
DRAW_RULES = (
    "Drawn from the seed (numpy SeedSequence(seed).spawn(1)[0]), apart from the data: 0, 1, 2 or 3 "
    "frictions (probabilities 0.1, 0.5, 0.3, 0.1) at distinct touchpoints among the trace steps every "
    f"customer goes through ({', '.join(DRAW_TOUCHPOINTS)}), each for a persona drawn uniformly, size "
    "uniform in [1.2, 1.8] rating "
    "points (rounded to 0.1); 2 drivers of overall satisfaction among the touchpoints most customers "
    "experience (P >= 0.75), coefficients uniform in [0.35, 0.6]; 2 non-drivers among the rest of "
    "those; 1 no-effect touchpoint among the touchpoints without relief, friction or driver; bot share "
    f"uniform in [0.03, 0.15]. Seed {BUNDLED_SEED} (the bundled sample) plants the bundled configuration."
)


def _covered() -> list[str]:
    return [t[0] for t in TOUCHPOINTS if t[7] >= 0.75]


def _draw(seed: int) -> Effects:
    """The effects drawn from ``seed`` (a stream of its own: the data's stream is untouched)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    persona_ids = [p[0] for p in PERSONAS]
    k = int(rng.choice([0, 1, 2, 3], p=[0.1, 0.5, 0.3, 0.1]))
    tps = rng.choice(list(DRAW_TOUCHPOINTS), size=k, replace=False).tolist()
    frictions = tuple(Friction(str(t), str(rng.choice(persona_ids)), round(float(rng.uniform(1.2, 1.8)), 1))
                      for t in tps)
    covered = _covered()
    drivers = rng.choice(covered, size=2, replace=False).tolist()
    coefs = [round(float(c), 2) for c in rng.uniform(0.35, 0.6, size=2)]
    rest = [t for t in covered if t not in drivers]
    non_drivers = rng.choice(rest, size=2, replace=False).tolist()
    calm = [t[0] for t in TOUCHPOINTS if t[8] == 0.0 and t[0] not in tps and t[0] not in drivers]
    no_effect = [str(rng.choice(calm))]
    return Effects(frictions=frictions, drivers=tuple(zip(map(str, drivers), coefs, strict=True)),
                   non_drivers=tuple(map(str, non_drivers)), no_effect=tuple(no_effect),
                   bot_share=round(float(rng.uniform(0.03, 0.15)), 3), origin="drawn")


def parse_friction(spec: str | Friction) -> Friction:
    """``"TOUCHPOINT:PERSONA[:SIZE]"`` (the ``--friction`` option) as a :class:`Friction`."""
    if isinstance(spec, Friction):
        f = spec
    else:
        parts = str(spec).split(":")
        if len(parts) not in (2, 3):
            raise StudyError(f"--friction {spec!r}: write TOUCHPOINT:PERSONA or TOUCHPOINT:PERSONA:SIZE "
                             "(e.g. signup:prudent:1.2).")
        try:
            size = float(parts[2]) if len(parts) == 3 else DEFAULT_SIZE
        except ValueError:
            raise StudyError(f"--friction {spec!r}: SIZE {parts[2]!r} is not a number (rating points, "
                             f"e.g. {DEFAULT_SIZE}).") from None
        f = Friction(parts[0], parts[1], size)
    tps, personas = [t[0] for t in TOUCHPOINTS], [p[0] for p in PERSONAS]
    if f.touchpoint not in tps:
        raise StudyError(f"--friction {spec!r}: unknown touchpoint {f.touchpoint!r}; one of {', '.join(tps)}.")
    if f.persona not in personas:
        raise StudyError(f"--friction {spec!r}: unknown persona {f.persona!r}; one of {', '.join(personas)}.")
    if not 0 < f.size <= 3:
        raise StudyError(f"--friction {spec!r}: size {f.size} must be in (0, 3] rating points.")
    return f


def draw_effects(seed: int = BUNDLED_SEED, *, effects: str = "seed",
                 friction: Iterable[str | Friction] | None = None) -> Effects:
    """The planted effects of ``make_sample(seed=...)``.

    Parameters
    ----------
    seed : int
        With ``effects="seed"``, the effects are drawn from it (see :data:`DRAW_RULES`); the
        bundled seed (0) draws the bundled configuration.
    effects : {"seed", "bundled", "null"}
        ``"bundled"``: the bundled configuration whatever the seed; ``"null"``: no friction, no
        driver, no bot.
    friction : iterable of str or Friction, optional
        Fixed frictions (``"TOUCHPOINT:PERSONA[:SIZE]"``), replacing the drawn ones.

    Returns
    -------
    Effects
    """
    if effects not in EFFECTS:
        raise StudyError(f"effects={effects!r} must be one of {', '.join(EFFECTS)}.")
    fixed = tuple(parse_friction(f) for f in friction or ())
    if effects == "null":
        if fixed:
            raise StudyError("A null study plants no friction: drop --null or --friction.")
        return Effects(frictions=(), drivers=(), non_drivers=tuple(t[0] for t in TOUCHPOINTS),
                       no_effect=tuple(t[0] for t in TOUCHPOINTS if t[8] == 0.0),
                       bot_share=SAMPLE_DEFAULTS["bot_share"], origin="null")  # bots are noise, kept
    base = BUNDLED if effects == "bundled" or seed == BUNDLED_SEED else _draw(seed)
    if len({(f.touchpoint, f.persona) for f in fixed}) < len(fixed):
        raise StudyError("--friction names the same touchpoint and persona twice; give each pair once.")
    if not fixed:
        return base
    no_effect = tuple(t for t in base.no_effect if t not in {f.touchpoint for f in fixed})
    return Effects(frictions=fixed, drivers=base.drivers, non_drivers=base.non_drivers, no_effect=no_effect,
                   bot_share=base.bot_share, origin="fixed")
MU = 4.0         # latent mean rating
MOOD_SD = 0.55   # respondent-level random effect (ratings of one person are correlated)
NOISE_SD = 0.85  # touchpoint-level noise
TARGET_MARGIN = 0.10  # targets sit this far below the expected rating, except the no-effect touchpoint
PERIOD = ("2026-01-05", "2026-03-29")
TZ = "Europe/Paris"

BOT_AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "python-requests/2.32.3",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0 Safari/537.36",
]
HUMAN_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
    "ParcoursApp/4.2 (iOS 18.1; iPhone15,3)",
    "ParcoursApp/4.2 (Android 15; SM-S921B)",
]


def expected_rating(mu: float, sd: float = float(np.hypot(MOOD_SD, NOISE_SD)), lo: int = 1, hi: int = 5) -> float:
    """Expected value of ``clip(round(mu + sd * Z), lo, hi)`` for standard normal Z (closed form)."""
    ks = np.arange(lo, hi + 1)
    upper = np.where(ks == hi, np.inf, ks + 0.5)
    lower = np.where(ks == lo, -np.inf, ks - 0.5)
    p = norm.cdf((upper - mu) / sd) - norm.cdf((lower - mu) / sd)
    return float((ks * p).sum())


def _rating(latent: np.ndarray, lo: int = 1, hi: int = 5) -> np.ndarray:
    return np.clip(np.round(latent), lo, hi)


# ---------------------------------------------------------------------------------------------
def _customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    personas = rng.choice(list(POP_PERSONA), size=n, p=list(POP_PERSONA.values()))
    region = rng.choice(list(REGIONS), size=n, p=list(REGIONS.values()))
    age = np.empty(n, dtype=object)
    chan = np.empty(n, dtype=object)
    tenure = np.zeros(n, dtype=int)
    for i, p in enumerate(personas):
        if p == "senior":
            age[i] = "55+"
            chan[i] = rng.choice(["physical", "mixed", "digital"], p=[0.6, 0.3, 0.1])
            tenure[i] = rng.integers(0, 30)
        elif p == "connecte":
            age[i] = rng.choice(["18-34", "35-54"], p=[0.6, 0.4])
            chan[i] = "digital"
            tenure[i] = rng.integers(0, 12)
        elif p == "explorateur":
            age[i] = rng.choice(["18-34", "35-54"], p=[0.7, 0.3])
            chan[i] = rng.choice(["mixed", "physical"], p=[0.8, 0.2])
            tenure[i] = rng.integers(0, 2)
        else:
            age[i] = rng.choice(["18-34", "35-54"], p=[0.35, 0.65])
            chan[i] = rng.choice(["mixed", "physical"], p=[0.7, 0.3])
            tenure[i] = rng.integers(2, 25)
    return pd.DataFrame({
        "customer_id": [f"C{i:06d}" for i in range(1, n + 1)],
        "age_band": age, "channel_pref": chan, "tenure_years": tenure, "region": region,
        "_persona": personas,
    })


def _shift(persona: np.ndarray, touchpoint: str, effects: Effects):
    """The latent rating shift of each respondent at ``touchpoint`` (0.0 without a friction)."""
    at = effects.friction_at(touchpoint)
    if not at:
        return 0.0
    return np.select([persona == p for p in at], [-f.size for f in at.values()], 0.0)


def _comments(rng: np.random.Generator, out: pd.DataFrame, persona: np.ndarray, effects: Effects) -> np.ndarray:
    """Open comments: some respondents who rated a friction point 2 or less say why (with a phone
    number now and then), a few others say something ordinary."""
    n = len(out)
    labels = {t[0]: t[1] for t in TOUCHPOINTS}
    comments = np.full(n, "", dtype=object)
    for j in range(n):
        hurt = [f.touchpoint for f in effects.frictions if f.persona == persona[j]
                and not np.isnan(out.at[j, f"sat_{f.touchpoint}"]) and out.at[j, f"sat_{f.touchpoint}"] <= 2]
        if hurt and rng.random() < 0.3:
            if hurt[0] == "id_verification":
                comments[j] = rng.choice(["La vérification d'identité en ligne est trop compliquée.",
                                          "Impossible d'envoyer ma pièce d'identité, j'ai abandonné deux fois.",
                                          "Rappelez-moi au 06 12 34 56 78, le site refuse mes documents."])
            else:
                lab = labels[hurt[0]]
                comments[j] = rng.choice([f"{lab} : beaucoup trop compliqué.", f"{lab} : j'ai abandonné en route.",
                                          f"Rappelez-moi au 06 12 34 56 78, {lab.lower()} ne marche pas."])
        elif rng.random() < 0.08:
            comments[j] = rng.choice(["Très bon accueil en agence.", "L'appli est pratique.",
                                      "Le SMS de fidélité ne m'apporte pas grand-chose.",
                                      "Remboursement rapide après mon sinistre, merci !"])
    return comments


def _survey(rng: np.random.Generator, customers: pd.DataFrame, n_resp: int,
            effects: Effects = BUNDLED, plants: Plants | None = None) -> tuple[pd.DataFrame, dict]:
    prop = customers["_persona"].map(RESPONSE_PROPENSITY).to_numpy(float)
    idx = rng.choice(len(customers), size=n_resp, replace=False, p=prop / prop.sum())
    idx.sort()
    resp = customers.iloc[idx].reset_index(drop=True)
    n = len(resp)
    mood = rng.normal(0, MOOD_SD, n)
    persona = resp["_persona"].to_numpy()
    out = pd.DataFrame({"respondent_id": [f"R{i:05d}" for i in range(1, n + 1)], "customer_id": resp["customer_id"]})
    latent_z = {}
    targets = {}
    for tid, *_rest in TOUCHPOINTS:
        p_exp, offset = _rest[6], _rest[7]
        mu = MU + offset
        shift = _shift(persona, tid, effects)
        latent = mu + shift + mood + rng.normal(0, NOISE_SD, n)
        exp_r = expected_rating(mu)
        targets[tid] = round(exp_r if tid in effects.no_effect else exp_r - TARGET_MARGIN, 2)
        latent_z[tid] = latent - mu
        experienced = rng.random(n) < p_exp
        if tid == "store_advice":
            experienced = rng.random(n) < np.where(resp["channel_pref"] == "digital", 0.1, 0.6)
        out[f"sat_{tid}"] = np.where(experienced, _rating(latent), np.nan)
    # overall satisfaction: drivers matter, non-drivers do not, the rest a little
    drivers = dict(effects.drivers)
    others = [t for t, *_ in TOUCHPOINTS if t not in drivers and t not in effects.non_drivers]
    overall_latent = (MU + sum(b * latent_z[t] for t, b in drivers.items())
                      + 0.04 * sum(latent_z[t] for t in others) + rng.normal(0, 0.45, n))
    if plants is not None:  # the seeds' effects (their own random streams)
        overall_latent = overall_latent + plants.overall_shift(resp, latent_z)
    out["overall_sat"] = _rating(overall_latent)
    out["nps"] = np.clip(np.round(7.6 + 1.6 * (overall_latent - MU) + rng.normal(0, 1.1, n)), 0, 10)
    out["ces"] = np.clip(np.round(5.3 + 0.6 * latent_z[CES_TOUCHPOINT] + rng.normal(0, 0.9, n)), 1, 7)
    for col in ("age_band", "channel_pref", "tenure_years", "region"):
        out[col] = resp[col].to_numpy()
    # Kano pairs for the moments of truth: claim must-be, signup one-dimensional, id check indifferent
    kano_cat = {"signup": [("O", 0.6), ("A", 0.15), ("M", 0.15), ("I", 0.1)],
                "id_verification": [("I", 0.5), ("M", 0.3), ("O", 0.1), ("R", 0.1)],
                "claim": [("M", 0.6), ("O", 0.25), ("I", 0.1), ("A", 0.05)]}
    answers = {"A": [(1, 3), (1, 4)], "O": [(1, 5)], "M": [(2, 5), (3, 5), (4, 5)], "I": [(3, 3), (2, 3), (3, 4), (4, 4)],
               "R": [(5, 1), (4, 1)]}
    for tid, cats in kano_cat.items():
        c = rng.choice([k for k, _ in cats], size=n, p=[p for _, p in cats])
        f = np.empty(n)
        d = np.empty(n)
        for j, cat in enumerate(c):
            pair = answers[cat][rng.integers(len(answers[cat]))]
            f[j], d[j] = pair
        out[f"kano_f_{tid}"] = f
        out[f"kano_d_{tid}"] = d
    out["comment"] = _comments(rng, out, persona, effects)
    return out, {"targets": targets, "kano": {t: dict(c) for t, c in kano_cat.items()}, "persona_true": resp["_persona"].tolist()}


# ---------------------------------------------------------------------------------------------
_STEPS = ["home_view", "product_view", "quote_start", "quote_done", "signup_start", "signup_done", "kyc_upload",
          "kyc_done", "email_open", "app_first_login", "app_session", "invoice_view", "claim_start", "claim_done",
          "sms_click", "review_post", "referral_sent"]
_PAGES = {"home_view": "/", "product_view": "/assurance-habitation", "quote_start": "/devis", "quote_done": "/devis/resultat",
          "signup_start": "/souscription", "signup_done": "/souscription/merci", "kyc_upload": "/identite",
          "kyc_done": "/identite/validee", "login": "/connexion", "ad_click": "/?utm_source=social",
          "claim_start": "/sinistre", "claim_done": "/sinistre/confirmation", "invoice_view": "/factures",
          "review_post": "/avis", "referral_sent": "/parrainage"}


class _LogWriter:
    """The raw event log being written: its rows, the identity map, new device ids."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.effects = BUNDLED
        self.rows: list[tuple] = []  # device, customer (or ""), seconds from start, event, ua
        self.identity: list[tuple[str, str, str]] = []
        self.met: dict[str, set[str]] = {}  # customer -> touchpoints whose step they started, not completed
        self._dev_counter = iter(range(1, 10**9))

    def new_device(self) -> str:
        return f"d{next(self._dev_counter):07d}"

    def session(self, device, cust_id, t0, events, ua, logged_in) -> float:
        """Write ``events`` a few seconds apart from ``t0``; returns the time after the last."""
        t = t0
        for e in events:
            self.rows.append((device, cust_id if logged_in else "", t, e, ua))
            t += float(self.rng.exponential(45)) + 3
        return t


def _customer_devices(log: _LogWriter, c: pd.Series) -> list[tuple[str, str]]:
    """A customer's devices (a web one first), most of them known to the CRM's identity map."""
    rng = log.rng
    n_dev = 1 if c["_persona"] == "senior" else int(rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2]))
    devices = [(log.new_device(), HUMAN_AGENTS[int(rng.integers(0, 4))])]
    for _k in range(n_dev - 1):
        devices.append((log.new_device(), HUMAN_AGENTS[int(rng.integers(4, 6))]))
    for d, _ua in devices:
        if rng.random() < 0.8:
            log.identity.append((d, c["customer_id"], "crm"))
    return devices


def _passes(log: _LogWriter, touchpoint: str, persona: str, cust_id: str = "") -> bool:
    """Whether a customer completes the trace step of ``touchpoint``: always, unless a friction
    is planted there (then a draw, so that other configurations keep their random stream).
    A customer who does not is recorded in ``log.met`` (they met the friction)."""
    if not log.effects.friction_at(touchpoint):
        return True
    passed = bool(log.rng.random() < log.effects.completion(touchpoint, persona))
    if not passed and cust_id:
        log.met.setdefault(cust_id, set()).add(touchpoint)
    return passed


def _acquisition(log: _LogWriter, c: pd.Series, web: str, ua: str, t: float) -> float | None:
    """Ad, visit, quote and sign-up, anonymous until the sign-up's login; None when the customer
    gave up on the web at a friction point (the rest of their journey is not in the log)."""
    rng, cust_id, persona = log.rng, c["customer_id"], c["_persona"]
    pre = (["ad_click"] if rng.random() < 0.5 else []) + ["home_view"]
    if not _passes(log, "product_page", persona, cust_id):
        log.session(web, cust_id, t, pre, ua, False)
        return None
    t = log.session(web, cust_id, t, [*pre, "product_view"], ua, False) + float(rng.exponential(3600 * 20))
    t = _plant_to_be.repeat_step(log, c, "product_page", web, ua, t)  # designed vs lived, when planted
    if not _passes(log, "simulator", persona, cust_id):
        log.session(web, cust_id, t, ["quote_start"], ua, False)
        return None
    t = log.session(web, cust_id, t, ["quote_start", "quote_done"], ua, False) + float(rng.exponential(3600 * 30))
    t = _plant_to_be.repeat_step(log, c, "simulator", web, ua, t)
    if not _passes(log, "signup", persona, cust_id):
        log.session(web, cust_id, t, ["signup_start"], ua, False)
        return None
    t = log.session(web, cust_id, t, ["signup_start", "signup_done", "login"], ua, False)
    # after sign-up the customer is logged in on this device
    log.rows[-1] = (web, cust_id, log.rows[-1][2], "login", ua)
    return t + float(rng.exponential(3600 * 24))


def _identity_check(log: _LogWriter, c: pd.Series, web: str, ua: str, t: float) -> tuple[float, bool]:
    """The identity check (the planted friction: the persona completes it less often); returns
    the time after it and whether it was completed."""
    rng = log.rng
    done_p = log.effects.completion("id_verification", c["_persona"])
    kyc = ["kyc_upload"] + (["kyc_done"] if rng.random() < done_p else [])
    t = log.session(web, c["customer_id"], t, kyc, ua, True)
    if kyc[-1] != "kyc_done":
        log.met.setdefault(c["customer_id"], set()).add("id_verification")
        if rng.random() < 0.3:  # some retry later and still fail
            log.session(web, c["customer_id"], t + float(rng.exponential(3600 * 48)), ["kyc_upload"], ua, True)
        return t, False
    return t, True


def _customer_use(log: _LogWriter, cust_id, devices: list, t: float, period_s: float, persona: str = "") -> str:
    """Onboarding, app sessions and later web events of a customer; returns the app device."""
    rng = log.rng
    web, ua = devices[0]
    t += float(rng.exponential(3600 * 6))
    t = log.session(web, cust_id, t, ["email_open"], ua, True)
    app = devices[1] if len(devices) > 1 else devices[0]
    t += float(rng.exponential(3600 * 12))
    t = log.session(app[0], cust_id, t, ["login", "app_first_login"], app[1], True)
    for _s in range(int(rng.poisson(4))):
        t += float(rng.exponential(3600 * 72))
        if t > period_s:
            break
        log.session(app[0], cust_id, t, ["app_session"], app[1], True)
    for e, p in (("invoice_view", 0.8), ("claim_start", 0.3), ("sms_click", 0.5), ("review_post", 0.2), ("referral_sent", 0.12)):
        if rng.random() < p:
            t += float(rng.exponential(3600 * 96))
            ev = [e]
            if e == "claim_start":  # the claim's end, unless the customer gives up at a friction
                ev = ["claim_start"] + (["claim_done"] if _passes(log, "claim", persona, cust_id) else [])
            log.session(web, cust_id, t, ev, ua, True)
    return app[0]


def _customer_events(log: _LogWriter, c: pd.Series, period_s: float) -> str | None:
    """One customer's journey in the log; returns the app device when it is to be shared with
    another customer."""
    devices = _customer_devices(log, c)
    web, ua = devices[0]
    start = float(log.rng.uniform(0, period_s * 0.55))
    t = _acquisition(log, c, web, ua, start)
    passed = t is not None
    if passed:
        t, passed = _identity_check(log, c, web, ua, t)
    # contact pressure, when planted: after the identity check, or before the journey of a
    # customer who stops earlier (whose journey still ends where they stopped)
    window = (t + 86400.0, period_s - 3600.0) if passed else (0.0, start - 3600.0)
    _plant_contacts.write_contacts(log, c, devices[-1], window)
    if not passed:
        return None
    app_device = _customer_use(log, c["customer_id"], devices, t, period_s, c["_persona"])
    return app_device if log.rng.random() < 0.015 else None


def _shared_device_logins(log: _LogWriter, customers: pd.DataFrame, shared_devices: list[str], period_s: float) -> list[str]:
    """A second customer logs in on each shared device; returns the devices in conflict."""
    ids = customers["customer_id"].to_numpy()
    conflicts = []
    for d in shared_devices:
        other = str(log.rng.choice(ids))
        t = float(log.rng.uniform(0, period_s))
        log.rows.append((d, other, t, "login", HUMAN_AGENTS[4]))
        log.rows.append((d, other, t + 20, "app_session", HUMAN_AGENTS[4]))
        conflicts.append(d)
    return conflicts


def _prospects(log: _LogWriter, n_prospects: int, period_s: float) -> None:
    """Anonymous visitors who never sign up."""
    rng = log.rng
    for _ in range(n_prospects):
        d, ua = log.new_device(), HUMAN_AGENTS[int(rng.integers(0, 4))]
        t = float(rng.uniform(0, period_s))
        k = int(rng.choice([1, 2, 3, 4, 5], p=[0.3, 0.3, 0.2, 0.15, 0.05]))
        log.session(d, "", t, ["home_view", "product_view", "quote_start", "quote_done", "signup_start"][:k], ua, False)


def _duplicates(log: _LogWriter) -> tuple[int, int]:
    """Exact and near duplicates of the rows written so far; returns how many of each."""
    rng, rows = log.rng, log.rows
    human = len(rows)
    n_dup = int(0.02 * human)
    n_near = int(0.01 * human)
    dup_idx = rng.choice(human, size=n_dup, replace=False)
    near_idx = rng.choice(human, size=n_near, replace=False)
    for i in dup_idx:
        rows.append(rows[i])
    for i in near_idx:
        d, cu, t, e, ua = rows[i]
        rows.append((d, cu, t + float(rng.uniform(0.1, 0.8)), e, ua))
    return n_dup, n_near


def _bot_rows(log: _LogWriter, bot_share: float, period_s: float) -> list[tuple]:
    """Bot rows making ``bot_share`` of the final log: bots declared by their user agent, then
    behavioural bots (a human user agent, metronomic clicks)."""
    rng = log.rng
    n_bot = int(round(bot_share * len(log.rows) / (1 - bot_share)))
    bot_rows = []
    n_ua_bot = int(0.6 * n_bot)
    while len(bot_rows) < n_ua_bot:
        d, ua = log.new_device(), str(rng.choice(BOT_AGENTS))
        t = float(rng.uniform(0, period_s - 3600))
        for _k in range(min(int(rng.integers(20, 80)), n_ua_bot - len(bot_rows))):
            bot_rows.append((d, "", t, str(rng.choice(["home_view", "product_view", "quote_start"])), ua))
            t += float(rng.uniform(0.5, 3))
    while len(bot_rows) < n_bot:
        d, ua = log.new_device(), HUMAN_AGENTS[0]
        t = float(rng.uniform(0, period_s - 3600))
        step = float(rng.choice([1.0, 2.0, 5.0]))
        for _k in range(min(int(rng.integers(60, 200)), n_bot - len(bot_rows))):
            bot_rows.append((d, "", t, str(rng.choice(["home_view", "product_view"])), ua))
            t += step
    return bot_rows


def _move_outside_period(df: pd.DataFrame, rng: np.random.Generator, period_s: float) -> int:
    """Move 1% of the human rows just before or after the study period; returns how many."""
    n_out = int(0.01 * len(df))
    out_idx = rng.choice(np.flatnonzero(~df["_bot"].to_numpy() & ~df["_keep"].to_numpy()), size=n_out, replace=False)
    df.loc[out_idx, "_t"] = np.where(rng.random(n_out) < 0.5, -rng.uniform(3600, 86400 * 5, n_out),
                                     period_s + rng.uniform(3600 * 24, 86400 * 5, n_out))
    return n_out


def _timestamp_text(df: pd.DataFrame, rng: np.random.Generator, start: pd.Timestamp) -> int:
    """Write the ``ts`` column as exporters do (local offsets, some UTC with a Z, a few
    unparseable); returns how many are unparseable."""
    ts = (start + pd.to_timedelta(np.round(df["_t"].to_numpy() * 1000), unit="ms"))
    text = pd.Series(ts).dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + pd.Series(ts).dt.strftime("%z").str.replace(
        r"(\d\d)(\d\d)$", r"\1:\2", regex=True)
    utc_mask = rng.random(len(df)) < 0.15  # some exporters write UTC with a Z
    utc_text = pd.Series(ts).dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    text = text.where(~utc_mask, utc_text)
    n_bad = max(3, int(0.001 * len(df)))
    bad_idx = rng.choice(np.flatnonzero(~df["_bot"].to_numpy() & ~df["_keep"].to_numpy()), size=n_bad, replace=False)
    text.iloc[bad_idx] = rng.choice(["not-a-date", "31/02/2026 25:61", "", "2026-13-45T99:00:00"], size=n_bad)
    df["ts"] = text.to_numpy()
    return n_bad


def _traces(rng: np.random.Generator, customers: pd.DataFrame, n_prospects: int, days: int, bot_share: float,
            effects: Effects = BUNDLED):
    start = pd.Timestamp(PERIOD[0], tz=TZ)
    period_s = days * 86400
    log = _LogWriter(rng)
    log.effects = effects
    shared_devices = []
    for _, c in customers.iterrows():
        device = _customer_events(log, c, period_s)
        if device is not None:
            shared_devices.append(device)
    first_shared = len(log.rows)
    conflicts = _shared_device_logins(log, customers, shared_devices, period_s)
    shared_rows = np.arange(first_shared, len(log.rows))  # the planted conflicts' evidence
    _prospects(log, n_prospects, period_s)
    n_dup, n_near = _duplicates(log)
    bot_rows = _bot_rows(log, bot_share, period_s)
    df = pd.DataFrame(log.rows + bot_rows, columns=["device_id", "customer_id", "_t", "event_name", "user_agent"])
    df["_bot"] = False
    df.loc[len(df) - len(bot_rows):, "_bot"] = True
    df["_keep"] = False  # rows no later defect may touch: a conflict planted must stay observable
    df.loc[shared_rows, "_keep"] = True
    n_out = _move_outside_period(df, rng, period_s)
    n_bad = _timestamp_text(df, rng, start)
    df["page"] = df["event_name"].map(_PAGES).fillna("/app")
    # shuffle rows a little: exports are not perfectly sorted
    order = np.argsort(df["_t"].to_numpy() + rng.normal(0, 30, len(df)), kind="stable")
    df = df.iloc[order].reset_index(drop=True)
    info = {"n_rows": len(df), "n_bot_rows": int(df["_bot"].sum()), "n_exact_duplicates": n_dup,
            "n_near_duplicates": n_near, "n_outside_period": n_out, "n_unparseable": n_bad,
            "shared_devices": sorted(conflicts), "met": log.met}
    ident = pd.DataFrame(log.identity, columns=["device_id", "customer_id", "source"]).drop(columns="source")
    return df[["device_id", "customer_id", "ts", "event_name", "user_agent", "page"]], ident, info


# ---------------------------------------------------------------------------------------------
_QUOTES = {
    -2: ["{tp} : c'est un vrai parcours du combattant, j'ai failli tout arrêter.",
         "Honnêtement, {tp}, c'était catastrophique. J'ai dû appeler trois fois.",
         "Pour {tp_low}, on m'a demandé les mêmes papiers encore et encore, j'étais furieuse."],
    -1: ["{tp} : pas très clair, j'ai perdu du temps.",
         "Bof, {tp_low} aurait pu être plus simple.",
         "J'ai hésité au moment de {tp_low}, je ne savais pas quoi faire."],
    0: ["{tp} : rien de particulier à dire.", "Pour {tp_low}, ça s'est passé normalement."],
    1: ["{tp} : plutôt bien, c'était rapide.", "J'ai apprécié {tp_low}, c'est pratique."],
    2: ["{tp} : vraiment excellent, je le dis à tout le monde !", "Super expérience pour {tp_low}, rien à redire."],
}
_PII = ["Mon conseiller, M. Martin, m'a rappelée le lendemain.",
        "Vous pouvez m'écrire à claire.dubois@example.fr si besoin.",
        "Mon numéro c'est le 06 12 34 56 78, ils ne m'ont jamais rappelé.",
        "Je m'appelle Jeanne Leroy et j'ai tout fait depuis ma tablette."]


def _valence(rng: np.random.Generator, tp: str, persona: str, effects: Effects) -> int:
    """The valence of one excerpt: mostly negative on a friction point (in proportion to its size,
    up to the bundled size), else the ordinary mix."""
    f = effects.friction_at(tp).get(persona)
    if f is None:
        return int(rng.choice([-2, -1, 0, 1, 2], p=_BASE_VALENCE))
    if f.weight >= 1:
        return int(rng.choice([-2, -1, 0], p=_FRICTION_VALENCE[:3]))
    p = f.weight * np.asarray(_FRICTION_VALENCE) + (1 - f.weight) * np.asarray(_BASE_VALENCE)
    return int(rng.choice([-2, -1, 0, 1, 2], p=p / p.sum()))


def _qual(rng: np.random.Generator, survey: pd.DataFrame, persona_true: list[str], n_participants: int,
          effects: Effects = BUNDLED) -> pd.DataFrame:
    per = max(1, n_participants // len(POP_PERSONA))
    chosen = []
    pers = np.asarray(persona_true)
    for p in POP_PERSONA:
        idx = np.flatnonzero(pers == p)
        chosen.extend(rng.choice(idx, size=min(per, len(idx)), replace=False).tolist())
    chosen.sort()
    rows = []
    labels = {t[0]: t[1] for t in TOUCHPOINTS}
    k = 0
    for j, ridx in enumerate(chosen, 1):
        persona = pers[ridx]
        pid = f"P{j:02d}"
        tps = [t[0] for t in TOUCHPOINTS]
        # the interview guide probes the friction points and the no-effect touchpoints
        must = list(dict.fromkeys([f.touchpoint for f in effects.frictions] + list(effects.no_effect)))
        picks = must + rng.choice([t for t in tps if t not in must], size=int(rng.integers(4, 8)), replace=False).tolist()
        for tp in picks:
            val = _valence(rng, tp, persona, effects)
            text = str(rng.choice(_QUOTES[val])).format(tp=labels[tp], tp_low=labels[tp].lower())
            if rng.random() < 0.12:
                text = text + " " + str(rng.choice(_PII))
            k += 1
            rows.append({"excerpt_id": f"E{k:04d}", "participant": pid, "customer_id": survey.at[ridx, "customer_id"],
                         "touchpoint": tp, "code": labels[tp], "valence": val, "text": text, "coder": "coder_a"})
    ex = pd.DataFrame(rows)
    # a second coder double-codes 30% of excerpts; agrees most of the time
    dbl = ex.sample(frac=0.3, random_state=int(rng.integers(0, 2**31 - 1))).copy()
    shift = rng.choice([0, 0, 0, 0, 0, 0, 0, -1, 1], size=len(dbl))
    dbl["valence"] = np.clip(dbl["valence"].to_numpy() + shift, -2, 2)
    dbl["coder"] = "coder_b"
    return pd.concat([ex, dbl]).sort_values(["excerpt_id", "coder"]).reset_index(drop=True)


def _study_yml(targets: dict[str, float], customers: pd.DataFrame, seed: int) -> dict:
    pop = customers["_persona"].value_counts(normalize=True)
    reg = customers["region"].value_counts(normalize=True)
    # shares rounded to 4 decimals, adjusted to sum to exactly 1
    def shares(s: pd.Series, order) -> dict:
        vals = {k: round(float(s.get(k, 0.0)), 4) for k in order}
        last = list(vals)[-1]
        vals[last] = round(1 - sum(v for k, v in vals.items() if k != last), 4)
        return vals

    return {
        "name": "Assurance habitation — étude exemple",
        "description": f"Synthetic sample study written by parcours_research (seed {seed}); effects planted in truth.json.",
        "language": "fr",
        "journey": {"template": "lifecycle6"},
        "targets": {"conversion": STAGE_TARGET_CONVERSION},
        "touchpoints": [
            {"id": t[0], "label": {"fr": t[1], "en": t[2]}, "stage": t[3], "channel": t[4], "moment_of_truth": t[5],
             "events": t[6], "target_satisfaction": targets[t[0]], "purpose": _plant_contacts.PURPOSES[t[0]]}
            for t in TOUCHPOINTS
        ],
        "purposes": _plant_contacts.PURPOSE_LABELS,  # one purpose per interaction (seed 002)
        "personas": [{"id": p[0], "label": {"fr": p[1], "en": p[2]}, "description": p[3]} for p in PERSONAS],
        "persona_assignment": {
            "rules": [
                {"persona": "senior", "when": {"age_band": ["55+"]}},
                {"persona": "connecte", "when": {"channel_pref": ["digital"]}},
                {"persona": "explorateur", "when": {"tenure_years": {"max": 1}}},
            ],
            "default": "prudent",
        },
        "to_be": _plant_to_be.designed_journeys(),  # the journey as it should be (not an effect)
        "survey": {"instrument": "standard_touchpoint", "responses": "survey/responses.csv", "customer_id": "customer_id"},
        "margins": {"persona": shares(pop, POP_PERSONA), "region": shares(reg, REGIONS)},
        "customers": "crm/customers.csv",
        "traces": {
            "events": "traces/events.csv.gz",
            "format": "csv",
            "columns": {"user_id": "customer_id", "device_id": "device_id", "timestamp": "ts", "event": "event_name",
                        "user_agent": "user_agent"},
            "timezone": TZ,
            "period": {"start": PERIOD[0], "end": PERIOD[1]},
            "identity_map": "traces/identity.csv",
            "login_events": ["login"],
            "session_gap": "30min",
            "funnel": ["home_view", "product_view", "quote_done", "signup_done", "kyc_done"],
            "funnel_window": "30D",
        },
        "qual": {"excerpts": "qual/excerpts.csv", "valence": "valence"},
        "privacy": {"salt": f"sample-{seed}"},
    }


def _write_csv(df: pd.DataFrame, path: Path, gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = df.to_csv(index=False, lineterminator="\n").encode("utf-8")
    if gz:
        with path.open("wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gzf:
            gzf.write(data)
    else:
        path.write_bytes(data)


def _check_sizes(n_customers, n_respondents, n_participants, days, bot_share) -> None:
    """Raise when the sizes or the bot share cannot make a study."""
    if bot_share is not None and not 0 <= bot_share < 0.9:
        raise StudyError(f"bot_share={bot_share} must be in [0, 0.9).")
    if n_respondents > n_customers:
        raise StudyError(f"n_respondents ({n_respondents}) cannot exceed n_customers ({n_customers}).")
    if min(n_customers, n_respondents, n_participants, days) < 1:
        raise StudyError("Sizes and days must be positive.")


def _prepare_folder(out: Path, overwrite: bool) -> set[str]:
    """Refuse a non-empty folder (or, with overwrite, one that is not a sample the kit wrote);
    delete only the kit's files; return the other files left there."""
    from ._outputs import clear_sample_folder

    return clear_sample_folder(out, overwrite=overwrite)


def _truth(seed: int, sizes: dict, effects: Effects, tinfo: dict, kano: dict) -> dict:
    """The ``truth.json`` record: the keys read by tests and notebooks, then the draw."""
    keys = list(FRICTION)
    return {
        "seed": seed,
        "sizes": sizes,
        "friction": [{"touchpoint": f.touchpoint, "persona": f.persona} for f in effects.frictions],
        "friction_details": ({k: effects.frictions[0].details()[k] for k in keys} if effects.frictions else None),
        "no_effect_touchpoints": list(effects.no_effect),
        "drivers": [t for t, _ in effects.drivers],
        "driver_coefficients": dict(effects.drivers),
        "non_drivers": list(effects.non_drivers),
        "bot_share": round(tinfo["n_bot_rows"] / tinfo["n_rows"], 6),
        "events": {k: v for k, v in tinfo.items()},
        "population_persona_shares": POP_PERSONA,
        "response_propensity": RESPONSE_PROPENSITY,
        "targets_rule": "target = E[rating] - 0.10 for every touchpoint, except no-effect touchpoints where target = E[rating]",
        "kano_categories": kano,
        "effects": {"origin": effects.origin, "null": effects.origin == "null", "bot_share_planned": effects.bot_share,
                    "draw_rules": DRAW_RULES},
        "frictions": [f.details() for f in effects.frictions],
    }


def make_sample(
    out: str | Path,
    seed: int = BUNDLED_SEED,
    *,
    n_customers: int | None = None,
    n_prospects: int | None = None,
    n_respondents: int | None = None,
    n_participants: int | None = None,
    days: int | None = None,
    bot_share: float | None = None,
    effects: str = "seed",
    friction: Iterable[str | Friction] | None = None,
    from_study: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the synthetic sample study to ``out``.

    Parameters
    ----------
    out : str or Path
        Folder to create (it must not exist, or be empty, unless ``overwrite``).
    seed : int
        Seed of every random draw; the same seed and sizes give the same files. The planted
        effects are drawn from it too (see :func:`draw_effects`); seed 0 plants the bundled
        configuration (friction at ``id_verification`` for ``senior``).
    n_customers, n_prospects, n_respondents, n_participants : int, optional
        Customers in the CRM and the event log, anonymous prospects in the log, survey
        respondents (drawn among customers), interview participants (drawn among respondents);
        default :data:`SAMPLE_DEFAULTS` (with ``from_study``: ``plan:`` in its study.yml, else
        its data, else these defaults).
    days : int, optional
        Length of the study period (from 2026-01-05; default 84).
    bot_share : float, optional
        Share of the event log written by bots (default: the drawn share; 0.08 when bundled).
    effects : {"seed", "bundled", "null"}, default "seed"
        Draw the effects from the seed, plant the bundled ones, or none (no friction, no driver).
    friction : iterable of str or Friction, optional
        Frictions to plant instead of the drawn ones, ``"TOUCHPOINT:PERSONA[:SIZE]"`` (SIZE: the
        drop of the persona's mean latent rating, default 1.5; the trace step's completion and
        the share of negative excerpts move in proportion).
    from_study : str or Path, optional
        Simulate data for this study (a study.yml or its folder) instead of the bundled journey
        (see :func:`parcours_research._simulate_study.simulate_study`).
    overwrite : bool
        Replace an existing folder.

    Returns
    -------
    Path
        The study folder; ``truth.json`` lists what was planted.
    """
    out = Path(out)
    sizes = {"n_customers": n_customers, "n_prospects": n_prospects, "n_respondents": n_respondents,
             "n_participants": n_participants, "days": days}
    if from_study is not None:
        from ._simulate_study import simulate_study

        return simulate_study(from_study, out, seed=seed, sizes=sizes, bot_share=bot_share, effects=effects,
                              friction=friction, overwrite=overwrite)
    sizes = {k: SAMPLE_DEFAULTS[k] if v is None else v for k, v in sizes.items()}
    n_customers, n_prospects, n_respondents, n_participants, days = sizes.values()
    _check_sizes(n_customers, n_respondents, n_participants, days, bot_share)
    eff = draw_effects(seed, effects=effects, friction=friction)
    if bot_share is None:
        bot_share = eff.bot_share
    else:
        eff = Effects(eff.frictions, eff.drivers, eff.non_drivers, eff.no_effect, bot_share, eff.origin)
    kept = _prepare_folder(out, overwrite)
    rng = np.random.default_rng(seed)
    customers = _customers(rng, n_customers)
    plants = draw_plants(seed, "bundled" if effects == "bundled" or seed == BUNDLED_SEED else effects, eff)
    customers = plants.customer_columns(customers)
    survey, info = _survey(rng, customers, n_respondents, eff, plants)
    events, identity, tinfo = _traces(rng, customers, n_prospects, days, bot_share, eff)
    customers = plants.outcome_columns(customers, tinfo.pop("met"))
    # the interviews draw on a stream of their own: changes upstream (a new planted effect) leave them as they are
    excerpts = _qual(np.random.default_rng([seed, QUAL_STREAM]), survey, info["persona_true"], n_participants, eff)
    out.mkdir(parents=True, exist_ok=True)
    study = plants.study_yml(_study_yml(info["targets"], customers, seed))
    (out / "study.yml").write_text(
        "# Sample study written by `parcours sample`; see truth.json for the planted effects.\n"
        + yaml.safe_dump(study, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
    _write_csv(customers.drop(columns=[c for c in customers if c.startswith("_")]), out / "crm" / "customers.csv")
    _write_csv(survey, out / "survey" / "responses.csv")
    _write_csv(events, out / "traces" / "events.csv.gz", gz=True)
    _write_csv(identity, out / "traces" / "identity.csv")
    _write_csv(excerpts, out / "qual" / "excerpts.csv")
    sizes = {"customers": n_customers, "prospects": n_prospects, "respondents": n_respondents,
             "participants": n_participants, "days": days}
    truth = _truth(seed, sizes, eff, tinfo, info["kano"])
    truth.update(plants.truth())
    (out / "truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    from ._outputs import mark_sample_folder

    mark_sample_folder(out, kept, seed=seed)  # what --overwrite may delete next time
    return out
