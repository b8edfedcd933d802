"""The seeds' planted effects of the sample study: designed vs lived journeys, an undeclared
moment of truth, contact pressure and the cost of a friction.

Each effect lives in its own module (``_plant_to_be``, ``_plant_moments``, ``_plant_contacts``,
``_plant_outcomes``) and is documented in ``truth.json`` under its own key (:data:`KEYS`), a
mapping with at least ``persona`` and ``touchpoint`` (and ``channel`` for contact pressure) and
the size of the effect, or ``null`` when nothing is planted (``--null``).

Every effect draws on a random stream of its own, ``numpy.random.default_rng([seed, STREAM])``,
for both the choice of persona and touchpoint and the per-customer draws: the data's stream and
the other effects' streams are untouched when one effect changes.

A plant module defines (every hook optional except ``KEY``, ``STREAM`` and ``draw``):

``draw(seed, mode, effects) -> dict | None``
    The ``truth.json`` entry (``mode`` is ``"seed"``, ``"bundled"`` or ``"null"``; ``effects``
    the :class:`~parcours_research.sample.Effects` already drawn, so a plant can avoid their
    touchpoints). ``None`` plants nothing.
``customer_columns(spec, rng, customers) -> dict[str, numpy.ndarray]``
    Hidden per-customer columns (names start with ``_``; never written to the customer file)
    read by the trace and survey hooks.
``overall_shift(spec, respondents, latent_z) -> numpy.ndarray``
    A shift of each respondent's latent overall satisfaction (NPS follows it);
    ``respondents`` holds the customer columns, ``latent_z`` the latent rating minus its mean by
    touchpoint id.
``study_yml(spec, study) -> None``
    Adds its keys to the study.yml mapping (``to_be:``, ``purpose:``, costs ...).
``outcome_columns(spec, rng, customers, met) -> dict[str, numpy.ndarray]``
    Columns added to the customer file (``churned``, ``revenue`` ...); ``met`` maps customer id
    to the set of touchpoints whose trace step the customer started without completing.

A module's ``NULL_HOOKS`` (a tuple of hook names) are called even when it plants nothing
(``spec`` is then None): e.g. outcome columns that exist, without effect, in a null study.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: truth.json key -> module of the plant
MODULES = {
    "to_be_deviation": "_plant_to_be",
    "undeclared_moment_of_truth": "_plant_moments",
    "contact_pressure": "_plant_contacts",
    "churn_effect": "_plant_outcomes",
}
KEYS = tuple(MODULES)


def _module(key: str):
    try:
        return importlib.import_module(f"parcours_research.{MODULES[key]}")
    except ModuleNotFoundError as exc:  # a plant not written yet plants nothing
        if exc.name == f"parcours_research.{MODULES[key]}":
            return None
        raise


@dataclass
class Plants:
    """The seeds' effects of one sample: the truth.json entries and their random streams."""

    seed: int
    specs: dict = field(default_factory=dict)  # key -> truth.json entry (None: not planted)

    def rng(self, key: str) -> np.random.Generator:
        """The random stream of the effect ``key`` (its own, whatever the others do)."""
        return np.random.default_rng([self.seed, _module(key).STREAM])

    def _hooks(self, name: str):
        for key, spec in self.specs.items():
            mod = _module(key)
            if mod is None or not hasattr(mod, name):
                continue
            # a module may ask for some hooks even when it plants nothing (NULL_HOOKS: e.g.
            # outcome columns that exist, without effect, in a null study)
            if spec is not None or name in getattr(mod, "NULL_HOOKS", ()):
                yield key, spec, getattr(mod, name)

    def customer_columns(self, customers: pd.DataFrame) -> pd.DataFrame:
        """``customers`` with every plant's hidden columns added."""
        out = customers.copy()
        for key, spec, hook in self._hooks("customer_columns"):
            for col, values in hook(spec, self.rng(key), out).items():
                if not col.startswith("_"):
                    raise ValueError(f"plant {key}: hidden column {col!r} must start with '_'")
                out[col] = values
        return out

    def overall_shift(self, respondents: pd.DataFrame, latent_z: dict) -> np.ndarray:
        """The sum of the plants' shifts of the latent overall satisfaction, per respondent."""
        total = np.zeros(len(respondents))
        for _key, spec, hook in self._hooks("overall_shift"):
            total = total + np.asarray(hook(spec, respondents, latent_z), dtype=float)
        return total

    def study_yml(self, study: dict) -> dict:
        for _key, spec, hook in self._hooks("study_yml"):
            hook(spec, study)
        return study

    def outcome_columns(self, customers: pd.DataFrame, met: dict) -> pd.DataFrame:
        """``customers`` with the outcome columns of the plants added."""
        out = customers.copy()
        for key, spec, hook in self._hooks("outcome_columns"):
            for col, values in hook(spec, self.rng(key), out, met).items():
                out[col] = values
        return out

    def truth(self) -> dict:
        """The truth.json entries, one key per effect (``None`` when not planted)."""
        return {key: self.specs.get(key) for key in KEYS}


def draw_plants(seed: int, mode: str, effects) -> Plants:
    """Draw the seeds' effects of a sample (``mode``: ``"seed"``, ``"bundled"`` or ``"null"``)."""
    plants = Plants(seed)
    for key in KEYS:
        mod = _module(key)
        plants.specs[key] = None if mod is None or mode == "null" else mod.draw(seed, mode, effects)
    return plants
