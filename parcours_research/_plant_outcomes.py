"""Planted effect of the sample study: the cost of a friction (truth.json key ``churn_effect``).

Every customer of ``crm/customers.csv`` gets two outcome columns, declared in study.yml as
``outcomes: {churned: binary, revenue: amount}``:

``churned`` (0/1)
    Drawn with probability ``base + difference * met``, where ``base`` depends on the persona
    and the tenure (:func:`base_churn`: ``0.05 + PERSONA_CHURN[persona] + 0.10 * exp(-tenure / 3)``;
    new customers leave more often, so an analysis must adjust for tenure and persona) and
    ``met`` is 1 for the customers of the planted persona who started the planted touchpoint's
    trace step without completing it (``log.met`` of the generator), 0 for everyone else.
``revenue`` (currency units, over the year)
    ``premium * (1 - 0.5 * churned)``, the premium log-normal around ``PREMIUM[persona]``
    (sd of the log 0.3): a churned customer pays half a year. The friction lowers revenue only
    through churn.

Every other customer (other personas, other touchpoints, customers who did not meet the
friction) has ``difference = 0``: the control cells have no effect.

The truth.json entry::

    {"persona", "touchpoint", "outcome": "churned", "difference", "churn_met", "churn_others",
     "churn_met_observed", "churn_others_observed", "n_met", "n_others", "revenue_per_churner",
     "met": "started the trace step without completing it"}

``difference`` is the planted churn difference (probability points, exact: the effect is
additive); ``churn_met`` and ``churn_others`` are the expected churn rates (mean probability)
of the persona's customers who met the friction and of the persona's other customers, and
``churn_met_observed``, ``churn_others_observed`` the rates drawn, ``n_met``, ``n_others``
their numbers; ``revenue_per_churner`` the persona's mean revenue lost
per churner (half the premium).

Choice (``draw``), on the stream ``numpy.random.default_rng([seed, STREAM])``:

- ``mode="bundled"`` (seed 0, ``data/sample``): ``id_verification`` for ``senior``, where the
  bundled friction lowers the completion to 0.60 (0.92 for the others); difference
  :data:`DIFFERENCE_FRICTION`;
- ``mode="seed"``: one of the drawn frictions with a trace step (uniformly), difference
  :data:`DIFFERENCE_FRICTION`; without one, ``id_verification`` (every persona fails it 8% of
  the time) for a persona drawn uniformly, difference :data:`DIFFERENCE_STEP` (fewer customers
  meet it, so the effect is larger to stay detectable).

``study_yml`` also declares the costs of the next wave (``plan: costs:``) read by
:func:`parcours_research.plan.next_wave`: :data:`COSTS`. With ``--null`` nothing is planted
(truth.json key null) but the outcome columns and their declaration are still written, with no
effect anywhere (``NULL_HOOKS``).
"""

from __future__ import annotations

import numpy as np

KEY = "churn_effect"
STREAM = 1904
#: Hooks called even when nothing is planted (``spec`` None): the columns exist, without effect.
NULL_HOOKS = ("outcome_columns", "study_yml")
#: Churn difference at a drawn friction (probability points).
DIFFERENCE_FRICTION = 0.20
#: Churn difference at the identity check's ordinary 8% failures (no drawn friction).
DIFFERENCE_STEP = 0.35
#: Persona term of the base churn probability.
PERSONA_CHURN = {"connecte": 0.03, "prudent": 0.0, "senior": 0.01, "explorateur": 0.06}
#: Median yearly premium per persona (currency units).
PREMIUM = {"connecte": 380.0, "prudent": 460.0, "senior": 520.0, "explorateur": 340.0}
#: The declared study costs (``plan: costs:`` of study.yml).
COSTS = {"respondent": 12, "interview": 350, "currency": "EUR"}
OUTCOMES = {"churned": "binary", "revenue": "amount"}
_MET = "started the trace step without completing it"


def base_churn(persona, tenure) -> np.ndarray:
    """Churn probability without the friction: ``0.05 + PERSONA_CHURN + 0.10 exp(-tenure/3)``."""
    persona = np.asarray(persona, dtype=object)
    tenure = np.asarray(tenure, dtype=float)
    term = np.array([PERSONA_CHURN.get(str(p), 0.0) for p in persona], dtype=float)
    return 0.05 + term + 0.10 * np.exp(-tenure / 3.0)


def draw(seed: int, mode: str, effects) -> dict | None:
    """The truth.json entry (sizes filled by :func:`outcome_columns`)."""
    from .sample import PERSONAS, TRACE_STEPS

    if mode == "bundled":
        spec = {
            "persona": "senior",
            "touchpoint": "id_verification",
            "difference": DIFFERENCE_FRICTION,
        }
    else:
        rng = np.random.default_rng([seed, STREAM])
        steps = [f for f in effects.frictions if f.touchpoint in TRACE_STEPS]
        if steps:
            f = steps[int(rng.integers(len(steps)))]
            spec = {
                "persona": f.persona,
                "touchpoint": f.touchpoint,
                "difference": DIFFERENCE_FRICTION,
            }
        else:
            persona = str(rng.choice([p[0] for p in PERSONAS]))
            spec = {
                "persona": persona,
                "touchpoint": "id_verification",
                "difference": DIFFERENCE_STEP,
            }
    return {**spec, "outcome": "churned", "met": _MET}


def outcome_columns(spec, rng, customers, met) -> dict:
    """``churned`` and ``revenue`` for every customer (see the module documentation); fills the
    sizes of ``spec`` (``churn_met``, ``churn_others``, ``n_met``, ``n_others``)."""
    persona = customers["_persona"].to_numpy()
    ids = customers["customer_id"].astype(str).to_numpy()
    base = base_churn(persona, customers["tenure_years"].to_numpy())
    u = rng.random(len(customers))
    premium = np.array([PREMIUM.get(str(p), 400.0) for p in persona]) * np.exp(
        rng.normal(0, 0.3, len(customers))
    )
    hit = np.zeros(len(customers), dtype=bool)
    if spec is not None:
        mine = persona == spec["persona"]
        hit = mine & np.array([spec["touchpoint"] in met.get(c, ()) for c in ids])
    p = np.clip(base + (spec["difference"] if spec is not None else 0.0) * hit, 0.0, 1.0)
    churned = (u < p).astype(int)
    revenue = np.round(premium * (1 - 0.5 * churned), 2)
    if spec is not None:
        spec["_churned"] = churned
        _sizes(spec, customers, hit, p, premium)
    return {"churned": churned, "revenue": revenue}


def _sizes(spec: dict, customers, hit: np.ndarray, p: np.ndarray, premium: np.ndarray) -> None:
    """Expected churn (mean probability) of the persona's customers who met the friction and of
    the persona's other customers."""
    mine = customers["_persona"].to_numpy() == spec["persona"]
    others = mine & ~hit
    spec["churn_met"] = round(float(p[hit].mean()), 4) if hit.any() else None
    spec["churn_others"] = round(float(p[others].mean()), 4) if others.any() else None
    churned = np.asarray(spec.pop("_churned"))
    spec["churn_met_observed"] = round(float(churned[hit].mean()), 4) if hit.any() else None
    spec["churn_others_observed"] = (
        round(float(churned[others].mean()), 4) if others.any() else None
    )
    spec["n_met"] = int(hit.sum())
    spec["n_others"] = int(others.sum())
    spec["revenue_per_churner"] = round(float(0.5 * premium[mine].mean()), 2)


def study_yml(spec, study: dict) -> None:
    """Declare the outcome columns (``outcomes:``) and the costs of a wave (``plan: costs:``)."""
    study["outcomes"] = dict(OUTCOMES)
    plan = study.setdefault("plan", {})
    plan["costs"] = dict(COSTS)
