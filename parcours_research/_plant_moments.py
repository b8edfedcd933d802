"""Planted effect of the sample study: an undeclared moment of truth (truth.json key
``undeclared_moment_of_truth``).

For one persona, a touchpoint that study.yml does NOT declare a moment of truth drives the
persona's overall satisfaction: each respondent of that persona gets ``coefficient`` times the
latent deviation of their rating of the touchpoint (``latent_z``, in rating points) added to
their latent overall satisfaction. The likelihood to recommend (NPS) follows the latent overall
satisfaction in the generator, so the touchpoint drives the persona's recommendation too. The
other personas are untouched: for them the touchpoint keeps its small common weight (0.04).

The truth.json entry::

    {"persona": ..., "touchpoint": ..., "coefficient": ..., "outcome": "overall_sat",
     "declared": false}

Choice (``draw``):

- the touchpoint is one most customers experience (P(experienced) >= 0.75, so the persona's
  ratings are numerous enough), not declared a moment of truth, and none of the sample's other
  planted touchpoints: drivers, non-drivers, no-effect touchpoints, friction touchpoints;
- the persona is one the survey samples enough for a persona-level key-driver analysis of a
  dozen touchpoints: at least :data:`MIN_RESPONDENTS` expected respondents at the default
  sizes (population share x response propensity), i.e. ``connecte`` or ``prudent``; with the
  ~80-110 respondents of ``senior`` and ``explorateur`` an effect of this size is found about
  half the time (see the notebook on moments of truth);
- ``mode="seed"``: persona uniform among those, touchpoint uniform among the candidates,
  coefficient uniform in [0.55, 0.75] (rounded to 0.01), from the stream
  ``numpy.random.default_rng([seed, STREAM])``;
- ``mode="bundled"`` (seed 0, ``data/sample``): ``billing`` for ``prudent``, coefficient 0.65
  (the cautious customer reads every invoice: billing is their moment of truth, undeclared).

Pure shift of the overall rating: the touchpoint ratings, the event log and the interviews are
unchanged, so the other planted effects (frictions, drivers, non-drivers, no-effect
touchpoints) keep their values.
"""

from __future__ import annotations

import numpy as np

KEY = "undeclared_moment_of_truth"
STREAM = 1902
#: The bundled sample's undeclared moment of truth.
BUNDLED = {"persona": "prudent", "touchpoint": "billing", "coefficient": 0.65}
#: Range of the drawn coefficient (rating points of overall satisfaction per rating point).
COEFFICIENT_RANGE = (0.55, 0.75)
#: The touchpoint must be experienced by at least this share of customers.
MIN_EXPERIENCED = 0.75
#: The persona must have at least this many expected respondents at the default sizes.
MIN_RESPONDENTS = 150


def personas() -> list[str]:
    """Personas that may hold the undeclared moment of truth (enough expected respondents)."""
    from .sample import PERSONAS, POP_PERSONA, RESPONSE_PROPENSITY, SAMPLE_DEFAULTS

    mass = {p: POP_PERSONA[p] * RESPONSE_PROPENSITY[p] for p in POP_PERSONA}
    total = sum(mass.values())
    n = SAMPLE_DEFAULTS["n_respondents"]
    return [p[0] for p in PERSONAS if mass[p[0]] / total * n >= MIN_RESPONDENTS]


def candidates(effects) -> list[str]:
    """Touchpoints that may become the undeclared moment of truth, in journey order."""
    from .sample import TOUCHPOINTS

    taken = {t for t, _ in effects.drivers} | set(effects.non_drivers) | set(effects.no_effect)
    taken |= {f.touchpoint for f in effects.frictions}
    return [
        t[0]
        for t in TOUCHPOINTS
        if not t[5] and t[7] >= MIN_EXPERIENCED and t[0] != "store_advice" and t[0] not in taken
    ]


def draw(seed: int, mode: str, effects) -> dict | None:
    """The truth.json entry (None when no touchpoint is free)."""
    free = candidates(effects)
    if mode == "bundled" and BUNDLED["touchpoint"] in free:
        spec = dict(BUNDLED)
    elif not free:
        return None
    else:
        rng = np.random.default_rng([seed, STREAM])
        persona = str(rng.choice(personas()))
        touchpoint = str(rng.choice(free))
        coefficient = round(float(rng.uniform(*COEFFICIENT_RANGE)), 2)
        spec = {"persona": persona, "touchpoint": touchpoint, "coefficient": coefficient}
    return {**spec, "outcome": "overall_sat", "declared": False}


def overall_shift(spec: dict, respondents, latent_z: dict) -> np.ndarray:
    """``coefficient * latent_z[touchpoint]`` for the persona's respondents, 0 for the others."""
    mine = respondents["_persona"].to_numpy() == spec["persona"]
    return np.where(
        mine, spec["coefficient"] * np.asarray(latent_z[spec["touchpoint"]], dtype=float), 0.0
    )
