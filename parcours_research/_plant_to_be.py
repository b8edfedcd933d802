"""Planted effect of the sample study: a deviation from the designed journey (truth.json key
``to_be_deviation``).

The sample's study.yml draws the journey as it should be (``to_be:``, :data:`DESIGN`): a
default designed journey, and one for ``senior`` where the app is optional. For one persona,
a share of the customers lives another journey: they come back to one designed step in a
session of their own before going on (they run the quote simulator again, or return to the
product page), a ``repeated`` deviation, since the design does not make the step repeatable.
Those customers' latent overall satisfaction is lower by ``sat_shift`` rating points (NPS
follows it in the generator: about ``1.6 * sat_shift`` points of the 0-10 scale). Every other
customer, and every other touchpoint, is a control (no effect).

The truth.json entry::

    {"persona": ..., "touchpoint": ..., "deviation": "repeated", "share": ...,
     "sat_shift": ..., "nps_shift_0_10": ..., "events": [...], "outcome": "overall_sat"}

``share`` is the probability that a customer of the persona repeats the step (drawn per
customer); ``sat_shift`` the shift of their latent overall satisfaction (negative).

Choice (``draw``):

- ``mode="bundled"`` (seed 0, ``data/sample``): ``explorateur`` (who compares prices) repeats
  the ``simulator``, share 0.4, sat_shift -0.8. The bundled friction (``id_verification``
  for ``senior``), the contact pressure (``connecte``) and the undeclared moment of truth
  (``prudent``) are elsewhere;
- ``mode="seed"``: persona uniform among :data:`PERSONAS` (those with a step free of friction),
  touchpoint uniform among :data:`STEPS` (``product_page``, ``simulator``: steps every
  customer goes through before signing up) where the persona has no friction at that step or
  before it, share uniform in
  [0.35, 0.5] and sat_shift uniform in [-1.1, -0.9] (rounded to 0.05), from the stream
  ``numpy.random.default_rng([seed, STREAM])``.

The repeat is written to the event log without a draw from the data's random stream (times
from this effect's own stream, held in hidden customer columns); it leaves the funnel, the
step completions and the touchpoint ratings as they are, so the other planted effects keep
their values.
"""

from __future__ import annotations

import numpy as np

KEY = "to_be_deviation"
STREAM = 1901
#: Steps that may be repeated, with the events of a repeat visit, in journey order.
STEPS = {"product_page": ("product_view",), "simulator": ("quote_start", "quote_done")}
#: The bundled sample's deviation.
BUNDLED = {"persona": "explorateur", "touchpoint": "simulator", "share": 0.4, "sat_shift": -0.8}
SHARE_RANGE = (0.35, 0.5)
SHIFT_RANGE = (-1.1, -0.9)
#: Personas drawn in seed mode: ``senior`` answers the survey too rarely (response propensity
#: 0.55: about 80 respondents with a lived journey) for a share of them to be compared with
#: the others reliably.
PERSONAS = ("connecte", "prudent", "explorateur")
#: Hidden customer columns: the repeated touchpoint ("" for none) and the two delays (hours):
#: from the end of the step to the repeat, and from the repeat to the next step.
REPEAT, DELAYS = "_to_be_repeat", "_to_be_delays"
#: The sample's designed journeys (``to_be:`` of its study.yml).
DESIGN = {
    "default": {
        "steps": [
            "website_visit",
            "product_page",
            "simulator",
            "signup",
            "id_verification",
            "welcome_email",
            "app_onboarding",
        ],
        "optional": [
            "social_ad",
            "app_usage",
            "billing",
            "claim",
            "loyalty_sms",
            "review",
            "referral",
        ],
        "repeatable": ["welcome_email", "app_usage", "billing", "claim", "loyalty_sms"],
    },
    "senior": {
        "steps": [
            "website_visit",
            "product_page",
            "simulator",
            "signup",
            "id_verification",
            "welcome_email",
        ],
        "optional": [
            "social_ad",
            "app_onboarding",
            "app_usage",
            "billing",
            "claim",
            "loyalty_sms",
            "review",
            "referral",
        ],
        "repeatable": ["welcome_email", "app_usage", "billing", "claim", "loyalty_sms"],
    },
}


def candidates(persona: str, effects) -> list[str]:
    """The steps of :data:`STEPS` ``persona`` may repeat: no friction of the persona there or
    at an earlier step (every planted customer then reaches the step)."""
    out = []
    for tp in STEPS:
        if persona in effects.friction_at(tp):
            break
        out.append(tp)
    return out


def draw(seed: int, mode: str, effects) -> dict | None:
    """The truth.json entry (see the module docstring); None when no step is free."""
    if mode == "bundled" and BUNDLED["touchpoint"] in candidates(BUNDLED["persona"], effects):
        spec = dict(BUNDLED)
    else:
        rng = np.random.default_rng([seed, STREAM])
        personas = [p for p in PERSONAS if candidates(p, effects)]
        if not personas:
            return None
        persona = str(rng.choice(personas))
        spec = {
            "persona": persona,
            "touchpoint": str(rng.choice(candidates(persona, effects))),
            "share": round(float(rng.uniform(*SHARE_RANGE)), 2),
            "sat_shift": round(float(np.round(rng.uniform(*SHIFT_RANGE) / 0.05) * 0.05), 2),
        }
    return {
        **spec,
        "deviation": "repeated",
        "kind": "repeated",
        "nps_shift_0_10": round(1.6 * spec["sat_shift"], 2),
        "events": list(STEPS[spec["touchpoint"]]),
        "outcome": "overall_sat",
        "rule": "the customer visits the step again in a session of its own before the next "
        "step; latent overall satisfaction + sat_shift",
    }


def customer_columns(spec: dict, rng: np.random.Generator, customers) -> dict:
    """Who repeats the step (``share`` of the persona's customers) and the delays in hours
    (1-12 h to the repeat, 2-24 h from it to the next step: a session of its own)."""
    n = len(customers)
    mine = customers["_persona"].to_numpy() == spec["persona"]
    repeat = mine & (rng.random(n) < spec["share"])
    delays = np.column_stack([rng.uniform(1, 12, n), rng.uniform(2, 24, n)])
    return {
        REPEAT: np.where(repeat, spec["touchpoint"], ""),
        DELAYS: [tuple(np.round(d, 4)) for d in delays],
    }


def overall_shift(spec: dict, respondents, latent_z: dict) -> np.ndarray:
    """``sat_shift`` for the respondents who repeat the step, 0 for the others."""
    return np.where(respondents[REPEAT].to_numpy() == spec["touchpoint"], spec["sat_shift"], 0.0)


def designed_journeys() -> dict:
    """The sample's designed journeys (``to_be:`` of its study.yml, written whatever is
    planted: the design is not an effect)."""
    return {k: {kk: list(vv) for kk, vv in v.items()} for k, v in DESIGN.items()}


def repeat_step(log, c, touchpoint: str, device: str, ua: str, t: float) -> float:
    """Write customer ``c``'s repeat visit of ``touchpoint`` (when planted) at ``t`` plus the
    first delay, anonymous like the rest of the acquisition; returns when the journey goes on.
    No draw from the data's random stream. The rest of the journey comes later by both delays,
    so more deviating customers run past the end of the study period (their journey "stops"
    before a later step more often than the persona's other customers)."""
    if c.get(REPEAT, "") != touchpoint:
        return t
    to_repeat, to_next = c[DELAYS]
    start = t + 3600 * float(to_repeat)
    for k, event in enumerate(STEPS[touchpoint]):
        log.rows.append((device, "", start + 40.0 * k, event, ua))
    return start + 3600 * float(to_next)
