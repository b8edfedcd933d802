"""Planted effect of the sample study: contact pressure (truth.json key ``contact_pressure``).

Every customer receives a number of contacts on one channel (a campaign: ``contacts`` uniform
on ``0 .. max_contacts``): after their identity check, each at a time uniform between a day
later and the end of the period; a customer who stops earlier (at a friction) receives them
before their journey starts, so that their journey still ends where they stopped. Each contact
is written to the event log as one event ``event`` of the channel's touchpoint, on the
customer's phone, logged in (it reaches the prepared traces as one contact; events the
generator's noise moves outside the period or duplicates are cleaned like any other). The
touchpoints chosen (``loyalty_sms``, ``billing``) are optional and repeatable in the sample's
designed journeys (``to_be:``), so the contacts are no deviation from them. Whatever their
persona, customers get the same number of contacts; only the planted persona minds: above
``threshold`` contacts ("too many"), the persona's latent overall satisfaction drops by
``sat_shift`` rating points (a step: one contact too many and the customer is annoyed). Other
personas and other channels are controls (no effect).

The truth.json entry::

    {"persona": ..., "touchpoint": ..., "channel": ..., "event": ..., "threshold": ...,
     "sat_shift": ..., "threshold_in_traces": [low, high], "shift_rule": ...,
     "max_contacts": ..., "contacts_rule": ..., "outcome": "overall_sat"}

``sat_shift`` is negative: the shift of the latent overall satisfaction of a customer of the
persona with more than ``threshold`` contacts (``n > threshold``). The contacts counted in the
traces also include the channel's ordinary events (for SMS, the loyalty SMS click about half of
the customers make; for e-mail, the welcome e-mail most customers open), so the measured count
is the planted one plus a few: in the traces, satisfaction drops from between ``threshold + 1``
and ``threshold + 1 + NATURAL_MAX[channel]`` contacts (``threshold_in_traces``).

Choice (``draw``):

- ``mode="bundled"`` (seed 0, ``data/sample``): ``connecte`` (the busy digital customer) and
  ``sms`` (touchpoint ``loyalty_sms``, event ``sms_click``), threshold 4, sat_shift -1.2;
- ``mode="seed"``: persona ``connecte`` (the persona with the most respondents to split by
  contact count), or ``prudent`` when ``connecte`` has a planted friction or the designed-journey
  deviation and ``prudent`` has not (:func:`candidates`), channel uniform among ``sms``
  (``loyalty_sms``/``sms_click``) and ``email`` (``billing``/``invoice_view``: invoices and
  reminders by e-mail), threshold uniform on 2, 3, 4, sat_shift uniform in [-1.4, -1.1]
  (rounded to 0.01), from the stream
  ``numpy.random.default_rng([seed, STREAM])``.

Only the overall rating (and NPS, which follows it) moves: touchpoint ratings, including the
no-effect touchpoint's (``loyalty_sms`` in the bundled sample), stay as they are, so the other
planted effects keep their values. The per-customer draws (counts and times) come from this
effect's own stream; the extra events change the log's size (truth.json ``events`` counts them).

The sample's study.yml names the ``purpose:`` of every touchpoint (:data:`PURPOSES`, labels
under ``purposes:``), planted or not (it is the journey's design, not an effect), so that
satisfaction can be read per purpose and channel.
"""

from __future__ import annotations

import numpy as np

KEY = "contact_pressure"
STREAM = 1903
#: channel -> (touchpoint, event) that carries the planted contacts
CHANNELS = {"sms": ("loyalty_sms", "sms_click"), "email": ("billing", "invoice_view")}
#: the most contacts a customer makes on the channel without the plant (sms: the loyalty SMS
#: click; email: the welcome e-mail, invoices, a referral)
NATURAL_MAX = {"sms": 1, "email": 3}
#: The bundled sample's contact pressure.
BUNDLED = {"persona": "connecte", "channel": "sms", "threshold": 4, "sat_shift": -1.2}
#: Personas the pressure goes to in seed mode, in order of preference (the others have too few
#: respondents per contact count).
PERSONAS = ("connecte", "prudent")
THRESHOLDS = (2, 3, 4)
SHIFT_RANGE = (-1.4, -1.1)
MAX_CONTACTS = 8
#: Hidden customer columns read by the sample's trace writer.
TIMES, EVENT = "_contacts", "_contact_event"

#: Purpose of each sample touchpoint (one purpose per interaction, seed 002), and labels.
PURPOSES = {
    "social_ad": "inform",
    "website_visit": "inform",
    "product_page": "inform",
    "simulator": "advise",
    "store_advice": "advise",
    "signup": "transact",
    "welcome_email": "inform",
    "app_onboarding": "advise",
    "id_verification": "transact",
    "app_usage": "transact",
    "call_centre": "support",
    "billing": "transact",
    "claim": "support",
    "loyalty_sms": "retain",
    "review": "retain",
    "referral": "retain",
}
PURPOSE_LABELS = {
    "inform": {"fr": "Informer", "en": "Inform"},
    "advise": {"fr": "Conseiller", "en": "Advise"},
    "transact": {"fr": "Réaliser une opération", "en": "Transact"},
    "support": {"fr": "Aider, résoudre", "en": "Support"},
    "retain": {"fr": "Fidéliser", "en": "Retain"},
}


def candidates(seed: int, mode: str, effects) -> list[str]:
    """Personas the pressure may be planted on: among :data:`PERSONAS`, none with a planted
    friction (its customers who stop at the friction receive no contact) nor the designed-journey
    deviation's persona (its repeat visits and satisfaction shift would blur the contacts'); the
    first of these rules alone when no persona is left, else every one of :data:`PERSONAS`."""
    hurt = {f.persona for f in getattr(effects, "frictions", ())}
    try:
        from . import _plant_to_be

        deviating = (_plant_to_be.draw(seed, mode, effects) or {}).get("persona")
    except ImportError:  # the deviation is not planted
        deviating = None
    for rule in (hurt | {deviating}, hurt):
        free = [p for p in PERSONAS if p not in rule]
        if free:
            return free
    return list(PERSONAS)


def draw(seed: int, mode: str, effects) -> dict | None:
    """The truth.json entry of the contact pressure (see the module docstring)."""
    if mode == "bundled":
        spec = dict(BUNDLED)
    else:
        rng = np.random.default_rng([seed, STREAM])
        spec = {
            "persona": candidates(seed, mode, effects)[0],
            "channel": str(rng.choice(sorted(CHANNELS))),
            "threshold": int(rng.choice(THRESHOLDS)),
            "sat_shift": round(float(rng.uniform(*SHIFT_RANGE)), 2),
        }
    touchpoint, event = CHANNELS[spec["channel"]]
    return {
        "persona": spec["persona"],
        "touchpoint": touchpoint,
        "channel": spec["channel"],
        "event": event,
        "threshold": spec["threshold"],
        "sat_shift": spec["sat_shift"],
        "threshold_in_traces": [
            spec["threshold"] + 1,
            spec["threshold"] + 1 + NATURAL_MAX[spec["channel"]],
        ],
        "shift_rule": "sat_shift on the latent overall satisfaction when contacts > threshold",
        "max_contacts": MAX_CONTACTS,
        "contacts_rule": f"uniform on 0..{MAX_CONTACTS} for every customer",
        "outcome": "overall_sat",
    }


def customer_columns(spec: dict, rng: np.random.Generator, customers) -> dict:
    """Each customer's contacts: their times as fractions of the study period (sorted), and
    the event that writes them."""
    n = rng.integers(0, spec["max_contacts"] + 1, size=len(customers))
    times = [tuple(sorted(np.round(rng.uniform(0.01, 0.99, size=k), 6).tolist())) for k in n]
    return {TIMES: times, EVENT: [spec["event"]] * len(customers)}


def contacts(respondents) -> np.ndarray:
    """The planted number of contacts of each row (hidden columns of the customer rows)."""
    return np.array([len(t) for t in respondents[TIMES]], dtype=float)


def overall_shift(spec: dict, respondents, latent_z: dict) -> np.ndarray:
    """``sat_shift`` for the persona's respondents with more than ``threshold`` contacts, else 0."""
    mine = respondents["_persona"].to_numpy() == spec["persona"]
    above = contacts(respondents) > spec["threshold"]
    return np.where(mine & above, spec["sat_shift"], 0.0)


def write_contacts(log, c, device: tuple[str, str], window: tuple[float, float]) -> None:
    """Write customer ``c``'s planted contacts to the sample's event log, at times spread over
    ``window`` (seconds from the start of the period; no draw from the data's random stream):
    one logged-in event per contact on ``device`` (id, user agent)."""
    times = c.get(TIMES, ())
    start, end = window
    if times is None or not len(times) or start >= end:
        return
    for frac in times:
        at = start + float(frac) * (end - start)
        log.rows.append((device[0], c["customer_id"], at, c[EVENT], device[1]))
